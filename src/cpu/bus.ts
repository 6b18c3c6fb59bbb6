import { VmmError } from '../util/errors.js';

/**
 * A device on a bus. Offsets are relative to the device's base; `data` holds the
 * access (its length is the access size). Reads fill `data`, writes consume it.
 * Devices never know which backend runs them.
 */
export interface BusDevice {
  read(offset: number, data: Uint8Array): void;
  write(offset: number, data: Uint8Array): void;
}

/**
 * What sits between a bus and its devices when a VM has in-process event channels (emu's I/O events
 * and coalesced ring, src/cpu/bus-events.ts): it may take a write (a doorbell, a buffered write) and
 * sees every access first, so buffered writes reach the devices before any other access.
 */
export interface BusHooks {
  /** Called before every read. */
  read(bus: Bus, addr: number): void;
  /** Called before every write; true when the hooks took it (the device does not see it now). */
  write(bus: Bus, addr: number, data: Uint8Array): boolean;
}

export class BusError extends VmmError {
  constructor(message: string) {
    super('bus', message);
  }
}

interface Mapping {
  readonly base: number;
  readonly len: number;
  readonly device: BusDevice;
  readonly name: string;
}

export interface BusStats {
  /** Accesses that hit no device: reads returned all-ones, writes were dropped. */
  unclaimedReads: number;
  unclaimedWrites: number;
  /** Addresses of unclaimed accesses (first 64 distinct), for diagnostics. */
  readonly unclaimedAddresses: Set<number>;
}

/**
 * Port-I/O or MMIO bus. Registration happens only in the device manager and overlaps
 * throw. Port I/O uses a 64 Ki-entry lookup table (one array load per access); MMIO
 * uses a sorted list with binary search and a last-hit cache.
 */
export class Bus {
  readonly stats: BusStats = { unclaimedReads: 0, unclaimedWrites: 0, unclaimedAddresses: new Set() };
  private mappings: Mapping[] = [];
  private readonly table: (Mapping | undefined)[] | undefined;
  private last: Mapping | undefined;
  /** Event-channel hooks (emu's I/O events and coalesced zones); undefined on most VMs. */
  hooks: BusHooks | undefined = undefined;

  constructor(readonly kind: 'pio' | 'mmio') {
    this.table = kind === 'pio' ? new Array<Mapping | undefined>(0x10000).fill(undefined) : undefined;
  }

  register(base: number, len: number, device: BusDevice, name: string): void {
    if (len <= 0 || base < 0 || (this.kind === 'pio' && base + len > 0x10000)) {
      throw new RangeError(`${this.kind} range for "${name}" at 0x${base.toString(16)} length ${len} is invalid`);
    }
    for (const m of this.mappings) {
      if (base < m.base + m.len && m.base < base + len) {
        throw new BusError(
          `${this.kind} range 0x${base.toString(16)}+${len} for "${name}" overlaps "${m.name}" at 0x${m.base.toString(16)}+${m.len}`,
        );
      }
    }
    const m: Mapping = { base, len, device, name };
    this.mappings.push(m);
    this.mappings.sort((a, b) => a.base - b.base);
    if (this.table) for (let p = base; p < base + len; p++) this.table[p] = m;
  }

  /** Removes the mapping of `device` at `base` (a PCI BAR that moves or stops decoding); false if there is none. */
  unregister(base: number, device: BusDevice): boolean {
    const i = this.mappings.findIndex((m) => m.base === base && m.device === device);
    if (i < 0) return false;
    const m = this.mappings[i]!;
    this.mappings.splice(i, 1);
    if (this.table) for (let p = m.base; p < m.base + m.len; p++) this.table[p] = undefined;
    if (this.last === m) this.last = undefined;
    return true;
  }

  /**
   * Moves the mapping of `device` at `base` to `newBase` (a PCI BAR the OS reassigned), keeping its
   * length and name. Throws, leaving the old mapping in place, when the new range overlaps another
   * device or leaves the bus; false when there is no such mapping.
   */
  move(base: number, device: BusDevice, newBase: number): boolean {
    const m = this.mappings.find((x) => x.base === base && x.device === device);
    if (!m) return false;
    if (newBase === base) return true;
    this.unregister(base, device);
    try {
      this.register(newBase, m.len, device, m.name);
    } catch (e) {
      this.register(m.base, m.len, device, m.name);
      throw e;
    }
    return true;
  }

  /** The devices on this bus, in address order (for `info` and tests). */
  list(): readonly { base: number; len: number; name: string }[] {
    return this.mappings.map(({ base, len, name }) => ({ base, len, name }));
  }

  private lookup(addr: number): Mapping | undefined {
    if (this.table) return this.table[addr & 0xffff];
    const l = this.last;
    if (l && addr >= l.base && addr < l.base + l.len) return l;
    const ms = this.mappings;
    let lo = 0;
    let hi = ms.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = ms[mid]!;
      if (addr < m.base) hi = mid - 1;
      else if (addr >= m.base + m.len) lo = mid + 1;
      else return (this.last = m);
    }
    return undefined;
  }

  /** True when some device claims `addr` (MMIO callers use this to tell device holes from RAM holes). */
  claims(addr: number): boolean {
    return this.lookup(addr) !== undefined;
  }

  read(addr: number, data: Uint8Array): void {
    if (this.hooks !== undefined) this.hooks.read(this, addr);
    const m = this.lookup(addr);
    if (m) return m.device.read(addr - m.base, data);
    this.stats.unclaimedReads++;
    this.noteUnclaimed(addr);
    data.fill(0xff);
  }

  write(addr: number, data: Uint8Array): void {
    if (this.hooks !== undefined && this.hooks.write(this, addr, data)) return;
    this.deliver(addr, data);
  }

  /** A write straight to the device, past the hooks (a buffered write being flushed). */
  deliver(addr: number, data: Uint8Array): void {
    const m = this.lookup(addr);
    if (m) return m.device.write(addr - m.base, data);
    this.stats.unclaimedWrites++;
    this.noteUnclaimed(addr);
  }

  private noteUnclaimed(addr: number): void {
    if (this.stats.unclaimedAddresses.size < 64) this.stats.unclaimedAddresses.add(addr);
  }

  // Scalar helpers for callers that want numbers (the emulator, tests). They reuse one buffer.
  private readonly scratch = new Uint8Array(8);

  readValue(addr: number, size: 1 | 2 | 4): number {
    const d = size === 1 ? this.scratch.subarray(0, 1) : size === 2 ? this.scratch.subarray(0, 2) : this.scratch.subarray(0, 4);
    this.read(addr, d);
    return size === 1 ? d[0]! : size === 2 ? d[0]! | (d[1]! << 8) : (d[0]! | (d[1]! << 8) | (d[2]! << 16) | (d[3]! << 24)) >>> 0;
  }

  writeValue(addr: number, size: 1 | 2 | 4, value: number): void {
    const d = size === 1 ? this.scratch.subarray(0, 1) : size === 2 ? this.scratch.subarray(0, 2) : this.scratch.subarray(0, 4);
    d[0] = value;
    if (size >= 2) d[1] = value >>> 8;
    if (size === 4) {
      d[2] = value >>> 16;
      d[3] = value >>> 24;
    }
    this.write(addr, d);
  }
}
