/**
 * 8254 programmable interval timer (Intel 82C54 datasheet) at ports 0x40-0x43, clocked at
 * 1.193182 MHz, plus the PC's port 0x61 (bit 0 GATE2, bit 1 speaker data, bit 4 refresh
 * toggle, bit 5 OUT2). Counter values and OUT levels are functions of virtual time
 * (EmuClock), never of how often the guest polls. Channel 0's OUT drives ISA IRQ0; the
 * rising edges are delivered from advance() at the deadline nextDeadlineNs() reports.
 *
 * Model choices:
 * - A count is loaded at the moment it is written (the datasheet's extra "load" CLK pulse
 *   is not modelled, as in KVM's PIT), so in mode 0 OUT rises N ticks after the write.
 * - OUT edges missed between two advance() calls are coalesced into one rising edge (the
 *   PIC/IOAPIC latch one request anyway).
 * - Null count (status bit 6) is set by a control word or a count write and clears when the
 *   count reaches the counting element: at once, or for modes 1/5 at the gate trigger.
 */
import type { BusDevice } from '../../bus.js';
import type { EmuClock } from './chip-types.js';
import { field, type FieldsOf } from '../../../util/persist.js';

export const PIT_HZ = 1193182;
export const PIT_BASE = 0x40;
export const PIT_PORT61 = 0x61;
const NS_PER_TICK = 1e9 / PIT_HZ;
/** The DRAM refresh-request bit of port 0x61 toggles every 18 PIT clocks (15.085 us). */
const REFRESH_TICKS = 18;

const RW_LATCH = 0;
const RW_LSB = 1;
const RW_MSB = 2;
const RW_LOHI = 3;

export const PORT61_GATE2 = 0x01;
export const PORT61_SPEAKER = 0x02;
export const PORT61_REFRESH = 0x10;
export const PORT61_OUT2 = 0x20;

function toBcd(v: number): number {
  return (v % 10) | (Math.floor(v / 10) % 10 << 4) | (Math.floor(v / 100) % 10 << 8) | (Math.floor(v / 1000) % 10 << 12);
}
function fromBcd(v: number): number {
  return (v & 0xf) + ((v >> 4) & 0xf) * 10 + ((v >> 8) & 0xf) * 100 + ((v >> 12) & 0xf) * 1000;
}

class PitChannel {
  mode = 0;
  /** Bits 5:0 of the last control word, exactly as written (the status byte reports them). */
  ctrlBits = 0;
  rw = RW_LOHI;
  bcd = false;
  /** Reload value in ticks (1..65536, or 1..10000 in BCD). */
  count = 0x10000;
  hasCount = false;
  /** Modes 1/5: a gate trigger started the count. Other modes: counting. */
  running = false;
  loadNs = 0;
  /** Ticks at which counting is frozen (gate low in modes 0/4, or mode 0 between the two bytes of a count), or -1. */
  frozenD = -1;
  gate: boolean;
  nullCount = true;
  // Modes 2/3: a count written while counting takes effect at the end of the current period.
  pendingCount = -1;
  pendingAtNs = 0;
  // Read/write state.
  private writeMsbNext = false;
  private writeLsb = 0;
  private readMsbNext = false;
  private latched = -1;
  private latchMsbNext = false;
  private status = -1;
  // Edge tracking for the OUT listener.
  processedD = 0;
  outLevel = false;
  outListener: ((level: boolean) => void) | undefined;

  constructor(gate: boolean) {
    this.gate = gate;
  }

  private modulus(): number {
    return this.bcd ? 10000 : 0x10000;
  }

  private ticks(now: number): number {
    if (this.frozenD >= 0) return this.frozenD;
    return Math.floor((now - this.loadNs) / NS_PER_TICK + 1e-7);
  }

  /** Applies a count queued for the end of the period, processing edges up to that point. */
  private settle(now: number): void {
    if (this.pendingCount < 0 || now < this.pendingAtNs) return;
    this.emitEdgesUntil(this.pendingAtNs);
    this.count = this.pendingCount;
    this.pendingCount = -1;
    this.loadNs = this.pendingAtNs;
    this.processedD = 0;
  }

  private periodic(): boolean {
    return this.mode === 2 || this.mode === 3;
  }

  private counting(): boolean {
    if (!this.hasCount || !this.running) return false;
    if (this.periodic() && !this.gate) return false;
    return true;
  }

  /** Counter value at `d` ticks after the load (binary). */
  private valueAt(d: number): number {
    const n = this.count;
    const mod = this.modulus();
    switch (this.mode) {
      case 2:
        return n - (d % n);
      case 3: {
        const p = d % n;
        if ((n & 1) === 0) {
          const h = n >> 1;
          return n - 2 * (p < h ? p : p - h);
        }
        // Odd: high for (n+1)/2 clocks (first step -1), low for (n-1)/2 (first step -3).
        const h = (n + 1) >> 1;
        if (p < h) return p === 0 ? n : n - 1 - 2 * (p - 1);
        const q = p - h;
        return q === 0 ? n : n - 3 - 2 * (q - 1);
      }
      default:
        return (((n - d) % mod) + mod) % mod;
    }
  }

  private outAtD(d: number): boolean {
    const n = this.count;
    switch (this.mode) {
      case 0:
      case 1:
        return d >= n;
      case 2:
        return d % n !== n - 1;
      case 3:
        return d % n < (n + 1) >> 1;
      default:
        return d !== n; // 4, 5: one-clock strobe when the count reaches 0
    }
  }

  out(now: number): boolean {
    this.settle(now);
    if (!this.hasCount) return this.mode !== 0;
    if (!this.running) return true; // modes 1/5 waiting for a gate trigger
    if (this.periodic() && !this.gate) return true;
    if (this.mode === 0 && this.frozenD >= 0 && this.writeMsbNext) return false;
    return this.outAtD(this.ticks(now));
  }

  currentValue(now: number): number {
    this.settle(now);
    if (!this.hasCount) return this.count & 0xffff;
    if (!this.running) return this.count % this.modulus();
    return this.valueAt(this.ticks(now)) % this.modulus();
  }

  // ---- rising edges of OUT --------------------------------------------------------------

  /** Tick of the first rising edge after processedD, or -1. */
  private nextEdgeD(): number {
    const n = this.count;
    const a = this.processedD;
    switch (this.mode) {
      case 2:
      case 3:
        return (Math.floor(a / n) + 1) * n;
      case 0:
      case 1:
        return a < n ? n : -1;
      default:
        return a < n + 1 ? n + 1 : -1;
    }
  }

  /** Next time advance() has work for this channel (an OUT rising edge or a queued count), or Infinity; only channels with a listener. */
  nextEdgeNs(): number {
    if (!this.outListener) return Infinity;
    if (!this.counting() || this.frozenD >= 0) return this.pendingCount >= 0 ? this.pendingAtNs : Infinity;
    const e = this.nextEdgeD();
    const t = e < 0 ? Infinity : this.loadNs + e * NS_PER_TICK;
    return this.pendingCount >= 0 ? Math.min(t, this.pendingAtNs) : t;
  }

  private emitEdgesUntil(now: number): void {
    if (!this.counting() || this.frozenD >= 0) return;
    const d = this.ticks(now);
    if (d <= this.processedD) return;
    const e = this.nextEdgeD();
    const rising = e >= 0 && e <= d;
    this.processedD = d;
    const level = this.outAtD(d);
    if (rising) {
      if (this.outLevel) this.drive(false);
      this.drive(true);
    }
    if (level !== this.outLevel) this.drive(level);
  }

  private drive(level: boolean): void {
    this.outLevel = level;
    this.outListener?.(level);
  }

  /** Brings the OUT line up to date with `now`. */
  advance(now: number): void {
    this.settle(now);
    this.emitEdgesUntil(now);
    const level = this.out(now);
    if (level !== this.outLevel) this.drive(level);
  }

  // ---- programming --------------------------------------------------------------------------

  control(v: number): void {
    this.ctrlBits = v & 0x3f;
    this.rw = (v >> 4) & 3;
    this.mode = (v >> 1) & 7;
    if (this.mode > 5) this.mode -= 4; // 6, 7 are modes 2, 3
    this.bcd = (v & 1) !== 0;
    this.hasCount = false;
    this.running = false;
    this.frozenD = -1;
    this.pendingCount = -1;
    this.nullCount = true;
    this.writeMsbNext = false;
    this.readMsbNext = false;
    this.latched = -1;
    this.status = -1;
    // OUT goes to its initial state: low in mode 0, high otherwise.
    const level = this.mode !== 0;
    if (level !== this.outLevel) this.drive(level);
  }

  latchCount(now: number): void {
    if (this.latched >= 0) return; // a second latch before the read is ignored
    const v = this.currentValue(now);
    this.latched = this.bcd ? toBcd(v) : v & 0xffff;
    this.latchMsbNext = this.rw === RW_MSB;
  }

  latchStatus(now: number): void {
    if (this.status >= 0) return;
    this.status = (this.out(now) ? 0x80 : 0) | (this.nullCount ? 0x40 : 0) | this.ctrlBits;
  }

  read(now: number): number {
    if (this.status >= 0) {
      const s = this.status;
      this.status = -1;
      return s;
    }
    if (this.latched >= 0) {
      const v = this.latched;
      if (this.rw === RW_LOHI && !this.latchMsbNext) {
        this.latchMsbNext = true;
        return v & 0xff;
      }
      this.latched = -1;
      return this.rw === RW_LSB ? v & 0xff : (v >> 8) & 0xff;
    }
    let v = this.currentValue(now);
    if (this.bcd) v = toBcd(v);
    switch (this.rw) {
      case RW_LSB:
        return v & 0xff;
      case RW_MSB:
        return (v >> 8) & 0xff;
      default: {
        const msb = this.readMsbNext;
        this.readMsbNext = !msb;
        return msb ? (v >> 8) & 0xff : v & 0xff;
      }
    }
  }

  write(now: number, b: number): void {
    let raw: number;
    if (this.rw === RW_LSB) raw = b;
    else if (this.rw === RW_MSB) raw = b << 8;
    else if (this.rw === RW_LOHI) {
      if (!this.writeMsbNext) {
        this.writeMsbNext = true;
        this.writeLsb = b;
        // Mode 0: writing the first byte stops the count and drives OUT low.
        if (this.mode === 0 && this.hasCount) {
          this.settle(now);
          this.emitEdgesUntil(now);
          this.frozenD = this.running ? this.ticks(now) : -1;
          if (this.outLevel) this.drive(false);
        }
        return;
      }
      this.writeMsbNext = false;
      raw = this.writeLsb | (b << 8);
    } else return;
    let n = this.bcd ? fromBcd(raw) : raw;
    if (n === 0) n = this.modulus();
    this.loadCount(now, n);
  }

  private loadCount(now: number, n: number): void {
    this.settle(now);
    this.nullCount = true;
    if (this.periodic() && this.hasCount && this.running && this.gate) {
      // Modes 2/3: the new count is used from the next period on.
      const d = this.ticks(now);
      const boundary = (Math.floor(d / this.count) + 1) * this.count;
      this.emitEdgesUntil(now);
      this.pendingCount = n;
      this.pendingAtNs = this.loadNs + boundary * NS_PER_TICK;
      this.nullCount = false;
      return;
    }
    this.count = n;
    this.hasCount = true;
    this.frozenD = -1;
    if (this.mode === 1 || this.mode === 5) return; // waits for a gate trigger
    this.start(now);
    if (this.mode === 0 && this.outLevel) this.drive(false);
  }

  private start(now: number): void {
    this.running = true;
    this.nullCount = false;
    this.loadNs = now;
    this.processedD = 0;
    this.frozenD = -1;
    if (!this.gate && (this.mode === 0 || this.mode === 4)) this.frozenD = 0;
  }

  setGate(now: number, gate: boolean): void {
    if (gate === this.gate) return;
    this.settle(now);
    this.emitEdgesUntil(now);
    if (gate) {
      this.gate = true;
      switch (this.mode) {
        case 1:
        case 5:
        case 2:
        case 3:
          // Rising gate: trigger (1, 5) or restart the period (2, 3).
          if (this.hasCount) this.start(now);
          break;
        default:
          if (this.frozenD >= 0 && this.running) {
            this.loadNs = now - this.frozenD * NS_PER_TICK;
            this.frozenD = -1;
          }
      }
    } else {
      // Gate low: modes 0/4 suspend counting; 2/3 stop and force OUT high.
      if ((this.mode === 0 || this.mode === 4) && this.running && this.frozenD < 0) this.frozenD = this.ticks(now);
      this.gate = false;
    }
    const level = this.out(now);
    if (level !== this.outLevel) this.drive(level);
  }

  save(): FieldsOf<typeof PIT_CHANNEL_FIELDS> {
    return {
      mode: this.mode, ctrlBits: this.ctrlBits, rw: this.rw, bcd: this.bcd, count: this.count, hasCount: this.hasCount, running: this.running, loadNs: this.loadNs, frozenD: this.frozenD,
      gate: this.gate, nullCount: this.nullCount, pendingCount: this.pendingCount, pendingAtNs: this.pendingAtNs, writeMsbNext: this.writeMsbNext, writeLsb: this.writeLsb,
      readMsbNext: this.readMsbNext, latched: this.latched, latchMsbNext: this.latchMsbNext, status: this.status, processedD: this.processedD, outLevel: this.outLevel,
    };
  }

  load(s: FieldsOf<typeof PIT_CHANNEL_FIELDS>): void {
    this.mode = s.mode;
    this.ctrlBits = s.ctrlBits;
    this.rw = s.rw;
    this.bcd = s.bcd;
    this.count = s.count;
    this.hasCount = s.hasCount;
    this.running = s.running;
    this.loadNs = s.loadNs;
    this.frozenD = s.frozenD;
    this.gate = s.gate;
    this.nullCount = s.nullCount;
    this.pendingCount = s.pendingCount;
    this.pendingAtNs = s.pendingAtNs;
    this.writeMsbNext = s.writeMsbNext;
    this.writeLsb = s.writeLsb;
    this.readMsbNext = s.readMsbNext;
    this.latched = s.latched;
    this.latchMsbNext = s.latchMsbNext;
    this.status = s.status;
    this.processedD = s.processedD;
    this.outLevel = s.outLevel;
  }
}

export class Pit8254 implements BusDevice {
  private readonly channels: PitChannel[];
  private port61Bits = 0;
  /** Port 0x61 device (register at 0x61, length 1). */
  readonly port61: BusDevice;

  constructor(private readonly clock: EmuClock) {
    this.channels = [new PitChannel(true), new PitChannel(true), new PitChannel(false)];
    this.port61 = {
      read: (_offset, data) => {
        data.fill(0);
        if (data.length > 0) data[0] = this.readPort61();
      },
      write: (_offset, data) => this.writePort61(data[0] ?? 0),
    };
  }

  /** Wires channel `ch`'s OUT to a listener (channel 0 -> ISA IRQ0). */
  setOutListener(ch: number, listener: ((level: boolean) => void) | undefined): void {
    const c = this.channels[ch];
    if (c) c.outListener = listener;
  }

  /** OUT level of a channel now. */
  out(ch: number): boolean {
    return this.channels[ch]?.out(this.clock.nowNs()) ?? false;
  }

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (data.length === 0) return;
    const c = this.channels[offset];
    data[0] = c ? c.read(this.clock.nowNs()) : 0xff; // the control port is write-only
  }

  write(offset: number, data: Uint8Array): void {
    const v = data[0] ?? 0;
    const now = this.clock.nowNs();
    if (offset < 3) {
      this.channels[offset]!.write(now, v);
      return;
    }
    if (offset !== 3) return;
    const sc = v >> 6;
    if (sc === 3) {
      // Read-back: bit 5 = 0 latches counts, bit 4 = 0 latches status, bits 3:1 select CNT2..CNT0.
      for (let i = 0; i < 3; i++) {
        if ((v & (2 << i)) === 0) continue;
        const c = this.channels[i]!;
        if ((v & 0x10) === 0) c.latchStatus(now);
        if ((v & 0x20) === 0) c.latchCount(now);
      }
      return;
    }
    const c = this.channels[sc]!;
    if (((v >> 4) & 3) === RW_LATCH) c.latchCount(now);
    else c.control(v);
  }

  private readPort61(): number {
    const now = this.clock.nowNs();
    const refresh = Math.floor(now / (NS_PER_TICK * REFRESH_TICKS)) & 1 ? PORT61_REFRESH : 0;
    return (this.port61Bits & 0x0f) | refresh | (this.channels[2]!.out(now) ? PORT61_OUT2 : 0);
  }

  private writePort61(v: number): void {
    this.port61Bits = v & 0x0f;
    this.channels[2]!.setGate(this.clock.nowNs(), (v & PORT61_GATE2) !== 0);
  }

  nextDeadlineNs(): number {
    let t = Infinity;
    for (const c of this.channels) t = Math.min(t, c.nextEdgeNs());
    return t;
  }

  advance(): void {
    const now = this.clock.nowNs();
    for (const c of this.channels) if (c.outListener) c.advance(now);
  }

  readonly persistSchema = PIT_SCHEMA;

  /** The three channels with their times in VM time, and port 0x61. */
  saveState(): FieldsOf<typeof PIT_SCHEMA.fields> {
    return { channels: this.channels.map((c) => c.save()), port61Bits: this.port61Bits };
  }

  restoreState(s: FieldsOf<typeof PIT_SCHEMA.fields>): void {
    if (s.channels.length !== 3) throw new RangeError(`pit: ${s.channels.length} channels saved, the 8254 has 3`);
    s.channels.forEach((c, i) => this.channels[i]!.load(c));
    this.port61Bits = s.port61Bits;
  }
}

const PIT_CHANNEL_FIELDS = {
  mode: field.int(0, 7), ctrlBits: field.u8(), rw: field.int(0, 3), bcd: field.bool(), count: field.int(0, 0x10000), hasCount: field.bool(), running: field.bool(), loadNs: field.number(),
  frozenD: field.number(), gate: field.bool(), nullCount: field.bool(), pendingCount: field.int(-1, 0x10000), pendingAtNs: field.number(), writeMsbNext: field.bool(), writeLsb: field.u8(),
  readMsbNext: field.bool(), latched: field.int(-1, 0x10000), latchMsbNext: field.bool(), status: field.int(-1, 0xff), processedD: field.number(), outLevel: field.bool(),
} as const;
export const PIT_SCHEMA = {
  kind: 'emu-pit-8254',
  version: 1,
  fields: { channels: field.array(field.record(PIT_CHANNEL_FIELDS), 3), port61Bits: field.u8() },
} as const;
