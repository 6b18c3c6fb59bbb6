import { VmmError } from '../util/errors.js';

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;

/** One contiguous guest-physical range backed by host bytes (an ArrayBuffer, or mmap'd memory under KVM). */
export interface MemoryRegion {
  readonly name: string;
  readonly gpa: number;
  readonly size: number;
  /** Host bytes; length === size. Under KVM this is a zero-copy view of the mmap'd slot. */
  readonly bytes: Uint8Array;
  readonly readonly?: boolean;
  /** Whether guest writes to this region are tracked in the dirty log. */
  readonly trackDirty?: boolean;
}

export class MemoryError extends VmmError {
  constructor(message: string) {
    super('memory', message);
  }
}

/**
 * The guest-physical memory map. The whole map is replaced atomically with `setMap`
 * (the next-generation API: no window where a slot is half-removed), lookups are a
 * binary search over sorted regions with a one-entry cache.
 */
export class GuestMemory {
  private map: readonly MemoryRegion[] = [];
  private lastHit: MemoryRegion | undefined;
  private dirty = new Map<MemoryRegion, Uint8Array>();
  /** Bumped on every setMap so backends can rebuild derived state (KVM slots, emu TLBs). */
  generation = 0;
  private listeners: ((old: readonly MemoryRegion[], next: readonly MemoryRegion[]) => void)[] = [];
  private hostWriteListeners: ((gpa: number, len: number) => void)[] = [];
  private resetListeners: (() => void)[] = [];
  /** Pages ever written (by the guest or the host) per region, never cleared: what a full snapshot needs to save. */
  private touched = new Map<MemoryRegion, Uint8Array>();
  /**
   * Set by a backend that reports every guest write through markDirty (emu: at each write
   * translation). Then `touchedBitmap` is exact and a full snapshot reads only written pages;
   * otherwise (KVM) a snapshot has to look at every page.
   */
  guestWritesMarked = false;
  /** Write trackers (writeTracker()): per tracker, per region, the pages written since its last take. */
  private trackers: Map<MemoryRegion, Uint8Array>[] = [];

  constructor(regions: readonly MemoryRegion[] = []) {
    this.setMap(regions);
  }

  get regions(): readonly MemoryRegion[] {
    return this.map;
  }

  /** Replaces the whole map at once. Overlapping or misaligned regions are rejected and the old map stays. */
  setMap(regions: readonly MemoryRegion[]): void {
    const sorted = [...regions].sort((a, b) => a.gpa - b.gpa);
    for (let i = 0; i < sorted.length; i++) {
      const r = sorted[i]!;
      if (r.gpa % PAGE_SIZE !== 0 || r.size % PAGE_SIZE !== 0 || r.size <= 0) {
        throw new MemoryError(`memory region "${r.name}" at 0x${r.gpa.toString(16)} size 0x${r.size.toString(16)} is not page aligned`);
      }
      if (r.bytes.length !== r.size) throw new MemoryError(`memory region "${r.name}" has ${r.bytes.length} bytes of backing for size ${r.size}`);
      const prev = sorted[i - 1];
      if (prev && prev.gpa + prev.size > r.gpa) {
        throw new MemoryError(`memory regions "${prev.name}" and "${r.name}" overlap at 0x${r.gpa.toString(16)}`);
      }
    }
    const old = this.map;
    // Listeners (the KVM slot table) apply the map first: if one refuses, nothing is committed.
    for (const l of this.listeners) l(old, sorted);
    const nextDirty = new Map<MemoryRegion, Uint8Array>();
    for (const r of sorted) {
      const prevDirty = old.find((o) => o.bytes === r.bytes && o.trackDirty);
      if (r.trackDirty) nextDirty.set(r, (prevDirty && this.dirty.get(prevDirty)) ?? this.dirty.get(r) ?? new Uint8Array(Math.ceil(r.size / PAGE_SIZE / 8)));
    }
    const nextTouched = new Map<MemoryRegion, Uint8Array>();
    for (const r of sorted) {
      // A region re-made from an old one (same backing bytes) keeps its record.
      const prev = old.find((o) => o.bytes === r.bytes);
      nextTouched.set(r, (prev && this.touched.get(prev)) ?? new Uint8Array(Math.ceil(r.size / PAGE_SIZE / 8)));
    }
    for (const t of this.trackers) {
      const was = new Map(t);
      t.clear();
      for (const r of sorted) {
        const prev = [...was.keys()].find((o) => o.bytes === r.bytes);
        t.set(r, (prev && was.get(prev)) ?? new Uint8Array(Math.ceil(r.size / PAGE_SIZE / 8)));
      }
    }
    this.map = sorted;
    this.dirty = nextDirty;
    this.touched = nextTouched;
    this.lastHit = undefined;
    this.generation++;
  }

  onMapChange(fn: (old: readonly MemoryRegion[], next: readonly MemoryRegion[]) => void): void {
    this.listeners.push(fn);
  }

  /**
   * Registers an observer of host-side writes (loaders, device DMA): the emulator drops decoded code
   * on the pages written, which a guest store would have done through its own write path.
   */
  onHostWrite(fn: (gpa: number, len: number) => void): void {
    this.hostWriteListeners.push(fn);
  }

  /** Records a host-side write of [gpa, gpa+len): the dirty log and the host-write observers. */
  hostWrote(gpa: number, len: number): void {
    this.markDirty(gpa, len);
    const ls = this.hostWriteListeners;
    for (let i = 0; i < ls.length; i++) ls[i]!(gpa, len);
  }

  /**
   * Tracks guest writes to every region from now on (diff snapshots, live migration), starting
   * with every page clean. Backends see the change through onMapChange (KVM sets
   * KVM_MEM_LOG_DIRTY_PAGES on its slots; emu drops its write translations, whose refills mark).
   */
  startDirtyLog(): void {
    if (this.map.every((r) => r.trackDirty === true)) {
      for (const bits of this.dirty.values()) bits.fill(0);
      this.notifyDirtyReset();
      return;
    }
    this.setMap(this.map.map((r) => ({ ...r, trackDirty: true })));
    for (const bits of this.dirty.values()) bits.fill(0);
  }

  /** Stops tracking guest writes (the bitmaps go). */
  stopDirtyLog(): void {
    if (this.map.some((r) => r.trackDirty === true)) this.setMap(this.map.map((r) => ({ ...r, trackDirty: false })));
  }

  /** True while every region's writes are tracked. */
  get dirtyLogging(): boolean {
    return this.map.length > 0 && this.map.every((r) => r.trackDirty === true);
  }

  /**
   * Called after dirty bits were cleared (collectDirty, startDirtyLog): a backend that marks pages
   * when it creates a write translation (emu's TLB) must drop those, so the next write marks again.
   */
  onDirtyReset(fn: () => void): void {
    this.resetListeners.push(fn);
  }

  private notifyDirtyReset(): void {
    for (const l of this.resetListeners) l();
  }

  /** The region containing `gpa`, or undefined for a hole (MMIO or unmapped). */
  find(gpa: number): MemoryRegion | undefined {
    const hit = this.lastHit;
    if (hit && gpa >= hit.gpa && gpa < hit.gpa + hit.size) return hit;
    const m = this.map;
    let lo = 0;
    let hi = m.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = m[mid]!;
      if (gpa < r.gpa) hi = mid - 1;
      else if (gpa >= r.gpa + r.size) lo = mid + 1;
      else {
        this.lastHit = r;
        return r;
      }
    }
    return undefined;
  }

  /** A zero-copy view of [gpa, gpa+len) that must lie inside one region; throws otherwise. */
  view(gpa: number, len: number): Uint8Array {
    const r = this.find(gpa);
    if (!r || gpa + len > r.gpa + r.size) {
      throw new MemoryError(`guest-physical range 0x${gpa.toString(16)}+0x${len.toString(16)} is not backed by RAM`);
    }
    const off = gpa - r.gpa;
    return r.bytes.subarray(off, off + len);
  }

  /** Copies bytes into guest memory (host-side write, e.g. a loader); marks pages dirty. */
  write(gpa: number, data: Uint8Array): void {
    this.view(gpa, data.length).set(data);
    this.hostWrote(gpa, data.length);
  }

  read(gpa: number, len: number): Uint8Array {
    return this.view(gpa, len).slice();
  }

  readU32(gpa: number): number {
    const b = this.view(gpa, 4);
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  }

  writeU32(gpa: number, v: number): void {
    const b = this.view(gpa, 4);
    b[0] = v;
    b[1] = v >>> 8;
    b[2] = v >>> 16;
    b[3] = v >>> 24;
    this.hostWrote(gpa, 4);
  }

  readU64(gpa: number): bigint {
    const b = this.view(gpa, 8);
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
  }

  writeU64(gpa: number, v: bigint): void {
    const b = this.view(gpa, 8);
    new DataView(b.buffer, b.byteOffset, 8).setBigUint64(0, v, true);
    this.hostWrote(gpa, 8);
  }

  /** Records that [gpa, gpa+len) was written (called by the emulator and host-side writers). */
  markDirty(gpa: number, len: number): void {
    const r = this.find(gpa);
    if (!r) return;
    const first = (gpa - r.gpa) >>> PAGE_SHIFT;
    const last = (Math.min(gpa + len, r.gpa + r.size) - 1 - r.gpa) >>> PAGE_SHIFT;
    const touched = this.touched.get(r);
    if (touched) for (let p = first; p <= last; p++) touched[p >>> 3]! |= 1 << (p & 7);
    for (const t of this.trackers) {
      const tb = t.get(r);
      if (tb) for (let p = first; p <= last; p++) tb[p >>> 3]! |= 1 << (p & 7);
    }
    const bits = this.dirty.get(r);
    if (!bits) return;
    for (let p = first; p <= last; p++) bits[p >>> 3]! |= 1 << (p & 7);
  }

  /**
   * A record of the pages written from now on, beside the dirty log and independent of it (the gdb
   * stub's checkpoints): `take()` returns, per region, the pages written since the last take (a bit
   * per page) and starts again. Only where every guest write is reported (guestWritesMarked: emu);
   * undefined elsewhere.
   */
  writeTracker(): { take(): Map<MemoryRegion, Uint8Array> } | undefined {
    if (!this.guestWritesMarked) return undefined;
    const t = new Map<MemoryRegion, Uint8Array>();
    for (const r of this.map) t.set(r, new Uint8Array(Math.ceil(r.size / PAGE_SIZE / 8)));
    this.trackers.push(t);
    // Write translations made before now would not report the next writes through them.
    this.notifyDirtyReset();
    return {
      take: () => {
        const out = new Map<MemoryRegion, Uint8Array>();
        for (const [r, bits] of t) {
          out.set(r, bits.slice());
          bits.fill(0);
        }
        this.notifyDirtyReset();
        return out;
      },
    };
  }

  /** Pages of `region` ever written (bit per page), or undefined when the backend does not report every write (guestWritesMarked false). */
  touchedBitmap(region: MemoryRegion): Uint8Array | undefined {
    return this.guestWritesMarked ? this.touched.get(region) : undefined;
  }

  /**
   * Range- and work-bounded dirty log: the guest-physical addresses of dirty pages in
   * [gpa, gpa+len), at most `maxPages` of them, in address order. Returned pages are
   * cleared; pages past the bound stay dirty for the next call.
   */
  collectDirty(gpa: number, len: number, maxPages: number): number[] {
    const out: number[] = [];
    try {
      this.collectInto(out, gpa, len, maxPages);
    } finally {
      if (out.length > 0) this.notifyDirtyReset();
    }
    return out;
  }

  private collectInto(out: number[], gpa: number, len: number, maxPages: number): number[] {
    const end = gpa + len;
    for (const r of this.map) {
      const bits = this.dirty.get(r);
      if (!bits || r.gpa + r.size <= gpa || r.gpa >= end) continue;
      const from = Math.max(gpa, r.gpa);
      const to = Math.min(end, r.gpa + r.size);
      // Arithmetic, not `&`: guest addresses go past 2^31 and JS bit operators are 32-bit signed.
      for (let a = from - (from % PAGE_SIZE); a < to; a += PAGE_SIZE) {
        const p = (a - r.gpa) >>> PAGE_SHIFT;
        const byte = bits[p >>> 3]!;
        if (byte & (1 << (p & 7))) {
          if (out.length >= maxPages) return out;
          bits[p >>> 3] = byte & ~(1 << (p & 7));
          out.push(a);
        }
      }
    }
    return out;
  }

  /** Merges an externally gathered dirty bitmap (KVM_GET_DIRTY_LOG) for one region. */
  mergeDirtyBitmap(region: MemoryRegion, bitmap: Uint8Array): void {
    const bits = this.dirty.get(region);
    if (!bits) return;
    for (let i = 0; i < bits.length && i < bitmap.length; i++) bits[i]! |= bitmap[i]!;
  }
}

/** Standard x86 PC layout: RAM below the 3 GiB PCI/APIC hole, the rest above 4 GiB. */
export const PCI_HOLE_START = 0xc000_0000;
export const HIGH_RAM_START = 0x1_0000_0000;

export interface RamLayout {
  readonly name: string;
  readonly gpa: number;
  readonly size: number;
}

export function pcRamLayout(ramBytes: number): RamLayout[] {
  const low = Math.min(ramBytes, PCI_HOLE_START);
  const out: RamLayout[] = [{ name: 'ram-low', gpa: 0, size: low }];
  if (ramBytes > low) out.push({ name: 'ram-high', gpa: HIGH_RAM_START, size: ramBytes - low });
  return out;
}
