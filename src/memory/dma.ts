/**
 * Device DMA into guest RAM. Devices (virtqueues, fw_cfg, ...) read and write guest-physical memory
 * only through this, so every write a device makes
 * - marks the pages dirty in the memory's dirty log (snapshots and migration see device writes, which
 *   KVM's own dirty log never does: the host wrote them, not the guest), and
 * - reaches the host-write observers, through which the emulator drops decoded code on those pages
 *   (a driver may DMA new code into a page the guest already ran, e.g. a block read into the page cache).
 * Accesses may span regions only where RAM is contiguous; anything not backed by RAM throws a
 * `DmaError`, which a device turns into its own error status (never a host exception to the guest).
 */
import { MemoryError, type GuestMemory, type MemoryRegion } from './guest-memory.js';

export class DmaError extends MemoryError {}

export class GuestDma {
  constructor(readonly memory: GuestMemory) {}

  /** The region holding [gpa, gpa+len) whole, or undefined. */
  private regionOf(gpa: number, len: number): MemoryRegion | undefined {
    const r = this.memory.find(gpa);
    return r !== undefined && gpa + len <= r.gpa + r.size ? r : undefined;
  }

  /** Runs `fn` on each RAM piece of [gpa, gpa+len): (host bytes, offset into the caller's buffer). */
  private pieces(gpa: number, len: number, what: string, fn: (bytes: Uint8Array, at: number) => void): void {
    if (!Number.isSafeInteger(gpa) || gpa < 0 || !Number.isSafeInteger(len) || len < 0) throw new DmaError(`DMA ${what} at ${gpa}+${len}: not a guest-physical range`);
    let at = 0;
    while (at < len) {
      const a = gpa + at;
      const r = this.memory.find(a);
      if (r === undefined) throw new DmaError(`DMA ${what} at 0x${a.toString(16)} (of 0x${gpa.toString(16)}+0x${len.toString(16)}) is not guest RAM`);
      const off = a - r.gpa;
      const n = Math.min(len - at, r.size - off);
      fn(r.bytes.subarray(off, off + n), at);
      at += n;
    }
  }

  /** Copies guest bytes at `gpa` into `dst`. */
  read(gpa: number, dst: Uint8Array): void {
    const r = this.regionOf(gpa, dst.length);
    if (r !== undefined) {
      const off = gpa - r.gpa;
      dst.set(r.bytes.subarray(off, off + dst.length));
      return;
    }
    this.pieces(gpa, dst.length, 'read', (b, at) => dst.set(b, at));
  }

  /** Copies `src` into guest memory at `gpa`: marks the pages dirty and tells the observers. */
  write(gpa: number, src: Uint8Array): void {
    const r = this.regionOf(gpa, src.length);
    if (r !== undefined) {
      const off = gpa - r.gpa;
      r.bytes.set(src, off);
    } else {
      this.pieces(gpa, src.length, 'write', (b, at) => b.set(src.subarray(at, at + b.length)));
    }
    if (src.length > 0) this.memory.hostWrote(gpa, src.length);
  }

  /** Writes `len` zero bytes at `gpa`. */
  zero(gpa: number, len: number): void {
    this.pieces(gpa, len, 'write', (b) => b.fill(0));
    if (len > 0) this.memory.hostWrote(gpa, len);
  }

  /**
   * A zero-copy view of [gpa, gpa+len) when it lies in one region (for reads only, or for writes the
   * caller reports with `wrote`); undefined otherwise, and the caller falls back to read/write.
   */
  view(gpa: number, len: number): Uint8Array | undefined {
    const r = this.regionOf(gpa, len);
    if (r === undefined) return undefined;
    const off = gpa - r.gpa;
    return r.bytes.subarray(off, off + len);
  }

  /** Reports a write made through `view`. */
  wrote(gpa: number, len: number): void {
    if (len > 0) this.memory.hostWrote(gpa, len);
  }

  readU8(gpa: number): number {
    const r = this.regionOf(gpa, 1);
    if (r === undefined) throw new DmaError(`DMA read at 0x${gpa.toString(16)} is not guest RAM`);
    return r.bytes[gpa - r.gpa]!;
  }

  readU16(gpa: number): number {
    const r = this.regionOf(gpa, 2);
    if (r === undefined) throw new DmaError(`DMA read at 0x${gpa.toString(16)}+2 is not guest RAM`);
    const o = gpa - r.gpa;
    const b = r.bytes;
    return b[o]! | (b[o + 1]! << 8);
  }

  readU32(gpa: number): number {
    const r = this.regionOf(gpa, 4);
    if (r === undefined) throw new DmaError(`DMA read at 0x${gpa.toString(16)}+4 is not guest RAM`);
    const o = gpa - r.gpa;
    const b = r.bytes;
    return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
  }

  /** A little-endian u64 as a number (guest addresses and lengths stay below 2^53). */
  readU64(gpa: number): number {
    return this.readU32(gpa) + this.readU32(gpa + 4) * 0x1_0000_0000;
  }

  writeU16(gpa: number, v: number): void {
    const r = this.regionOf(gpa, 2);
    if (r === undefined) throw new DmaError(`DMA write at 0x${gpa.toString(16)}+2 is not guest RAM`);
    const o = gpa - r.gpa;
    r.bytes[o] = v;
    r.bytes[o + 1] = v >>> 8;
    this.memory.hostWrote(gpa, 2);
  }

  writeU32(gpa: number, v: number): void {
    const r = this.regionOf(gpa, 4);
    if (r === undefined) throw new DmaError(`DMA write at 0x${gpa.toString(16)}+4 is not guest RAM`);
    const o = gpa - r.gpa;
    const b = r.bytes;
    b[o] = v;
    b[o + 1] = v >>> 8;
    b[o + 2] = v >>> 16;
    b[o + 3] = v >>> 24;
    this.memory.hostWrote(gpa, 4);
  }
}
