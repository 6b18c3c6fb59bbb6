/**
 * A PCI function's type 0 configuration space (PCI Local Bus Specification 3.0, chapter 6):
 * 256 bytes with per-byte masks for what the guest may write and what it clears by writing 1.
 * Everything a function's config space needs is expressed through it:
 * - identity (vendor, device, class, revision, subsystem) read-only;
 * - command register (I/O, memory, bus master, parity, SERR, INTx disable) and status (interrupt
 *   status, capability list, write-1-to-clear error bits);
 * - BARs declared with `addBar` (I/O, 32-bit or 64-bit memory, prefetchable): the size is
 *   expressed through the writable mask, so the sizing protocol (write all-ones, read back
 *   ~(size-1) | flags) works as on hardware; `barRange` decodes where a BAR currently points;
 * - INTx: interrupt pin (read-only) and interrupt line (scratch for the OS);
 * - a capability list (`addCapability`), linked from 0x34, for MSI, MSI-X or vendor capabilities.
 */

export const PCI_CONFIG_SIZE = 256;
export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_CLASS_DEVICE = 0x0a;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BAR0 = 0x10;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_CAPABILITY_LIST = 0x34;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;
/** First byte after the type 0 header: capabilities live from here up. */
export const PCI_HEADER_END = 0x40;
export const PCI_BAR_COUNT = 6;

export const PCI_COMMAND_IO = 1 << 0;
export const PCI_COMMAND_MEMORY = 1 << 1;
export const PCI_COMMAND_MASTER = 1 << 2;
export const PCI_COMMAND_PARITY = 1 << 6;
export const PCI_COMMAND_SERR = 1 << 8;
export const PCI_COMMAND_INTX_DISABLE = 1 << 10;
const COMMAND_WRITABLE = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE;

export const PCI_STATUS_INTERRUPT = 1 << 3;
export const PCI_STATUS_CAP_LIST = 1 << 4;
/** Error bits the guest clears by writing 1: master data parity, target/master aborts, SERR, parity. */
const STATUS_W1C = (1 << 8) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 15);

export const PCI_BAR_IO = 1 << 0;
export const PCI_BAR_MEM_TYPE_64 = 2 << 1;
export const PCI_BAR_MEM_PREFETCH = 1 << 3;

export type PciBarKind = 'io' | 'mem32' | 'mem64';

export interface PciBarSpec {
  readonly kind: PciBarKind;
  /** Bytes decoded: a power of two, at least 4 for I/O and 16 for memory. */
  readonly size: number;
  readonly prefetchable?: boolean;
}

export interface PciIdentity {
  readonly vendorId: number;
  readonly deviceId: number;
  /** 24-bit class code: base class << 16 | subclass << 8 | programming interface. */
  readonly classCode: number;
  readonly revision?: number;
  readonly subsystemVendorId?: number;
  readonly subsystemId?: number;
  /** INTx pin: 0 none, 1-4 INTA#-INTD#. */
  readonly interruptPin?: number;
  /** Header type bit 7: the device has functions other than 0. */
  readonly multiFunction?: boolean;
}

/** Where a BAR decodes now: its space, base and size. */
export interface PciBarRange {
  readonly space: 'io' | 'mem';
  readonly base: number;
  readonly size: number;
}

export class PciConfigSpace {
  readonly bytes = new Uint8Array(PCI_CONFIG_SIZE);
  private readonly view = new DataView(this.bytes.buffer);
  /** Bits the guest may write. */
  private readonly wmask = new Uint8Array(PCI_CONFIG_SIZE);
  /** Bits a guest write of 1 clears. */
  private readonly w1cmask = new Uint8Array(PCI_CONFIG_SIZE);
  private readonly bars: (PciBarSpec | undefined)[] = new Array<PciBarSpec | undefined>(PCI_BAR_COUNT).fill(undefined);
  /** End of the last capability (next free byte). */
  private capEnd = PCI_HEADER_END;
  private lastCap = 0;

  constructor(id: PciIdentity) {
    const v = this.view;
    v.setUint16(PCI_VENDOR_ID, id.vendorId, true);
    v.setUint16(PCI_DEVICE_ID, id.deviceId, true);
    this.bytes[PCI_REVISION_ID] = id.revision ?? 0;
    this.bytes[PCI_CLASS_PROG] = id.classCode & 0xff;
    v.setUint16(PCI_CLASS_DEVICE, (id.classCode >> 8) & 0xffff, true);
    this.bytes[PCI_HEADER_TYPE] = id.multiFunction ? 0x80 : 0;
    v.setUint16(PCI_SUBSYSTEM_VENDOR_ID, id.subsystemVendorId ?? 0, true);
    v.setUint16(PCI_SUBSYSTEM_ID, id.subsystemId ?? 0, true);
    const pin = id.interruptPin ?? 0;
    if (pin < 0 || pin > 4) throw new RangeError(`PCI interrupt pin ${pin} must be 0 (none) or 1-4 (INTA#-INTD#)`);
    this.bytes[PCI_INTERRUPT_PIN] = pin;
    this.setMask(PCI_COMMAND, 2, COMMAND_WRITABLE);
    this.setW1c(PCI_STATUS, 2, STATUS_W1C);
    this.bytes[PCI_INTERRUPT_LINE] = 0xff; // "unknown / not connected" until the OS writes it
    this.wmask[PCI_INTERRUPT_LINE] = 0xff;
  }

  private setMask(offset: number, len: number, mask: number): void {
    for (let i = 0; i < len; i++) this.wmask[offset + i] = (mask >>> (8 * i)) & 0xff;
  }

  private setW1c(offset: number, len: number, mask: number): void {
    for (let i = 0; i < len; i++) this.w1cmask[offset + i] = (mask >>> (8 * i)) & 0xff;
  }

  /** Declares BAR `index` (a 64-bit BAR takes `index` and `index + 1`). */
  addBar(index: number, spec: PciBarSpec): void {
    const slots = spec.kind === 'mem64' ? 2 : 1;
    if (!Number.isInteger(index) || index < 0 || index + slots > PCI_BAR_COUNT) throw new RangeError(`PCI BAR ${index} (${spec.kind}) does not fit in BARs 0-5`);
    for (let i = index; i < index + slots; i++) if (this.bars[i] !== undefined || this.isBarHigh(i)) throw new RangeError(`PCI BAR ${i} is already declared`);
    const min = spec.kind === 'io' ? 4 : 16;
    const max = spec.kind === 'io' ? 0x10000 : spec.kind === 'mem32' ? 0x8000_0000 : 2 ** 52;
    if (spec.size < min || spec.size > max || !Number.isInteger(Math.log2(spec.size))) {
      throw new RangeError(`PCI BAR ${index} size ${spec.size} must be a power of two from ${min} to ${max}`);
    }
    this.bars[index] = spec;
    const off = PCI_BAR0 + 4 * index;
    const flags = spec.kind === 'io' ? PCI_BAR_IO : (spec.kind === 'mem64' ? PCI_BAR_MEM_TYPE_64 : 0) | (spec.prefetchable ? PCI_BAR_MEM_PREFETCH : 0);
    this.view.setUint32(off, flags, true);
    const lowMask = spec.kind === 'io' ? 0x3 : 0xf;
    // Writable: the address bits above the size; for a 64-bit BAR the upper dword too (bits above 2^32).
    const lowSize = Math.min(spec.size, 2 ** 32);
    this.setMask(off, 4, (~(lowSize - 1) & ~lowMask) >>> 0);
    if (spec.kind === 'mem64') {
      const hiMask = spec.size > 2 ** 32 ? (~(spec.size / 2 ** 32 - 1) >>> 0) : 0xffff_ffff;
      this.setMask(off + 4, 4, hiMask);
      this.bars[index + 1] = undefined;
    }
  }

  private isBarHigh(i: number): boolean {
    return i > 0 && this.bars[i - 1]?.kind === 'mem64';
  }

  barSpec(index: number): PciBarSpec | undefined {
    return this.bars[index];
  }

  /** Where BAR `index` decodes now, or undefined (not declared, its space disabled in COMMAND, or unassigned). */
  barRange(index: number): PciBarRange | undefined {
    const spec = this.bars[index];
    if (!spec) return undefined;
    const cmd = this.view.getUint16(PCI_COMMAND, true);
    const off = PCI_BAR0 + 4 * index;
    const lo = this.view.getUint32(off, true);
    if (spec.kind === 'io') {
      if (!(cmd & PCI_COMMAND_IO)) return undefined;
      const base = lo & 0xfffc;
      // x86 ports are 16 bits: a BAR with upper bits set (e.g. all-ones while being sized) decodes nothing.
      if (base === 0 || lo >>> 16 !== 0 || base + spec.size > 0x10000) return undefined;
      return { space: 'io', base, size: spec.size };
    }
    if (!(cmd & PCI_COMMAND_MEMORY)) return undefined;
    let base = (lo & 0xfffffff0) >>> 0;
    if (spec.kind === 'mem64') base += this.view.getUint32(off + 4, true) * 2 ** 32;
    const top = spec.kind === 'mem64' ? 2 ** 64 : 2 ** 32;
    if (base === 0 || base + spec.size > top || base + spec.size > Number.MAX_SAFE_INTEGER) return undefined;
    if (base + spec.size === top) return undefined; // all-ones: being sized
    return { space: 'mem', base, size: spec.size };
  }

  /**
   * Adds a capability with `id` and `body` (the bytes after the ID and next pointer), with
   * `writable` masks for the body (same length, default read-only); returns its offset.
   */
  addCapability(id: number, body: Uint8Array, writable?: Uint8Array): number {
    const len = 2 + body.length;
    const at = (this.capEnd + 3) & ~3;
    if (at + len > PCI_CONFIG_SIZE) throw new RangeError(`PCI capability 0x${id.toString(16)} (${len} bytes) does not fit in the 256-byte config space`);
    if (writable && writable.length !== body.length) throw new RangeError('PCI capability write mask must be as long as its body');
    this.bytes[at] = id;
    this.bytes[at + 1] = 0;
    this.bytes.set(body, at + 2);
    if (writable) this.wmask.set(writable, at + 2);
    if (this.lastCap === 0) this.bytes[PCI_CAPABILITY_LIST] = at;
    else this.bytes[this.lastCap + 1] = at;
    this.lastCap = at;
    this.capEnd = at + len;
    this.bytes[PCI_STATUS] = this.bytes[PCI_STATUS]! | PCI_STATUS_CAP_LIST;
    return at;
  }

  /** Offsets of the capabilities, in list order (tests, devices looking for theirs). */
  capabilities(): number[] {
    const out: number[] = [];
    let at = this.bytes[PCI_CAPABILITY_LIST]! & 0xfc;
    while (at !== 0 && out.length < 48) {
      out.push(at);
      at = this.bytes[at + 1]! & 0xfc;
    }
    return out;
  }

  /** Device side: sets the INTx status bit (the function's line level) without the guest mask. */
  setInterruptStatus(asserted: boolean): void {
    const s = this.bytes[PCI_STATUS]!;
    this.bytes[PCI_STATUS] = asserted ? s | PCI_STATUS_INTERRUPT : s & ~PCI_STATUS_INTERRUPT;
  }

  get command(): number {
    return this.view.getUint16(PCI_COMMAND, true);
  }

  /** Reads `size` (1, 2 or 4) bytes at `offset` (naturally aligned by the caller). */
  read(offset: number, size: number): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | (offset + i < PCI_CONFIG_SIZE ? this.bytes[offset + i]! : 0);
    return v >>> 0;
  }

  /** Guest write: each byte keeps its read-only bits, takes the writable ones, and clears W1C bits written as 1. */
  write(offset: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) {
      const o = offset + i;
      if (o >= PCI_CONFIG_SIZE) break;
      const b = (value >>> (8 * i)) & 0xff;
      const wm = this.wmask[o]!;
      const w1c = this.w1cmask[o]!;
      let cur = this.bytes[o]!;
      cur = (cur & ~wm) | (b & wm);
      cur &= ~(b & w1c);
      this.bytes[o] = cur;
    }
  }
}
