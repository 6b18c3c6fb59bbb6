import { field, type FieldsOf, type Persist, type PersistSchema } from '../../util/persist.js';
import type { BusDevice } from '../../cpu/bus.js';
import type { IrqLine } from '../../cpu/irq.js';
import { PCI_HOLE_START } from '../../memory/guest-memory.js';

/*
 * Motorola MC146818A-compatible CMOS RTC + 128 bytes of NVRAM at ports 0x70 (index,
 * bit 7 = NMI disable) and 0x71 (data).
 *
 * The time is the injected clock (default Date.now, UTC) plus an offset the guest
 * changes by writing the time registers. Reads of the time registers encode the
 * current time in BCD or binary (register B DM) and 12/24-hour mode (register B bit 1).
 * While B.SET is 1 the clock is frozen and the time registers hold whatever the guest
 * writes; clearing SET starts the clock from them.
 *
 * Register C flags (PF, AF, UF) are computed from the clock when read, so polling
 * guests see them without timers; with an IRQ line, a timer raises IRQ 8 at the next
 * enabled event (host timers cannot go below ~1 ms, so periodic rates above 1 kHz
 * are delivered at most once per millisecond; timers on the VM's virtual clock, as in a
 * deterministic emu run, keep every rate exactly).
 */

export const CMOS_INDEX_PORT = 0x70;
export const CMOS_DATA_PORT = 0x71;
export const RTC_IRQ = 8;
export const CMOS_NMI_DISABLE = 0x80;
export const CMOS_SIZE = 128;

// RTC registers.
export const RTC_SECONDS = 0x00;
export const RTC_SECONDS_ALARM = 0x01;
export const RTC_MINUTES = 0x02;
export const RTC_MINUTES_ALARM = 0x03;
export const RTC_HOURS = 0x04;
export const RTC_HOURS_ALARM = 0x05;
export const RTC_DAY_OF_WEEK = 0x06;
export const RTC_DAY_OF_MONTH = 0x07;
export const RTC_MONTH = 0x08;
export const RTC_YEAR = 0x09;
export const RTC_REG_A = 0x0a;
export const RTC_REG_B = 0x0b;
export const RTC_REG_C = 0x0c;
export const RTC_REG_D = 0x0d;
/** IBM PC/AT century byte. */
export const RTC_CENTURY = 0x32;

// Register A.
export const RTC_A_UIP = 0x80;
export const RTC_A_DV_32KHZ = 0x20; // DV2:0 = 010, the normal 32.768 kHz time base
export const RTC_A_RS_MASK = 0x0f;
// Register B.
export const RTC_B_SET = 0x80;
export const RTC_B_PIE = 0x40;
export const RTC_B_AIE = 0x20;
export const RTC_B_UIE = 0x10;
export const RTC_B_SQWE = 0x08;
export const RTC_B_DM_BINARY = 0x04;
export const RTC_B_24H = 0x02;
export const RTC_B_DSE = 0x01;
// Register C.
export const RTC_C_IRQF = 0x80;
export const RTC_C_PF = 0x40;
export const RTC_C_AF = 0x20;
export const RTC_C_UF = 0x10;
// Register D.
export const RTC_D_VRT = 0x80;
/** Alarm bytes with the two high bits set match any value. */
export const RTC_ALARM_DONT_CARE = 0xc0;

// IBM PC/AT CMOS layout.
export const CMOS_EQUIPMENT = 0x14; // bit 1 = math coprocessor present; no floppy, EGA/VGA-or-none display
export const CMOS_EQUIPMENT_FPU = 0x02;
export const CMOS_BASE_MEM_LO = 0x15; // KiB of conventional memory (640)
export const CMOS_BASE_MEM_HI = 0x16;
export const CMOS_EXT_MEM_LO = 0x17; // KiB above 1 MiB, at most 65535
export const CMOS_EXT_MEM_HI = 0x18;
export const CMOS_CHECKSUM_HI = 0x2e; // sum of 0x10-0x2d, big-endian
export const CMOS_CHECKSUM_LO = 0x2f;
export const CMOS_EXT_MEM_POST_LO = 0x30; // same value as 0x17/0x18, as POST found it
export const CMOS_EXT_MEM_POST_HI = 0x31;
export const CMOS_MEM_ABOVE_16M_LO = 0x34; // 64 KiB blocks between 16 MiB and 4 GiB
export const CMOS_MEM_ABOVE_16M_HI = 0x35;
export const CMOS_MEM_ABOVE_4G_0 = 0x5b; // 64 KiB blocks above 4 GiB, 3 bytes little-endian
export const CMOS_MEM_ABOVE_4G_1 = 0x5c;
export const CMOS_MEM_ABOVE_4G_2 = 0x5d;
/** Bochs/QEMU BIOS convention: number of CPUs minus one. */
export const CMOS_NB_CPUS_MINUS_1 = 0x5f;

/** Length of the update-in-progress window before each second boundary (ms); the chip's is 244 µs + 1984 µs. */
export const RTC_UIP_WINDOW_MS = 2;

const KIB = 1024;
const MIB = 1024 * KIB;

/** Timer functions the RTC uses for IRQ 8 (default: the global setTimeout, unref'd). */
export interface RtcTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Timers on a virtual clock take fractional delays; host timers get whole milliseconds. */
  readonly exactMs?: boolean;
}

export interface CmosRtcOptions {
  /** Guest RAM in bytes (fills the memory-size bytes as a PC BIOS reports them). */
  readonly memBytes: number;
  /** vCPU count, stored at 0x5f as count - 1 (Bochs/QEMU BIOS convention); default 1. */
  readonly cpus?: number;
  /** Wall clock in ms since the Unix epoch; default Date.now. Read as UTC. */
  readonly clock?: () => number;
  /** IRQ 8; without it the flags in register C still work for polling guests. */
  readonly irq?: IrqLine;
  readonly timers?: RtcTimers;
}

const CMOS_FIELDS = {
  ram: field.array(field.u8(), CMOS_SIZE),
  index: field.int(0, 0x7f),
  nmiDisabled: field.bool(),
  /** The RTC's running time at the save, in ms since the epoch (the guest's clock, whatever it was set to). */
  timeMs: field.number(),
  /** The time SET holds the registers at, while it does. */
  frozenMs: field.number(),
  regC: field.u8(),
} as const;

/**
 * The persisted fields (src/util/persist.ts). The clock is saved in VM time: the time the guest's RTC
 * showed at the save, so a restored guest's RTC goes on from that moment (no time passes for it while
 * the VM is saved, as for the rest of the VM), keeping whatever time or time zone the guest set.
 */
export const CMOS_PERSIST: PersistSchema<typeof CMOS_FIELDS> = { kind: 'cmos-rtc', version: 1, fields: CMOS_FIELDS };

/** Saved RTC/NVRAM state: named fields under CMOS_PERSIST. */
export type CmosRtcState = FieldsOf<typeof CMOS_FIELDS>;

function toBcd(v: number): number {
  return ((Math.floor(v / 10) % 10) << 4) | v % 10;
}
function fromBcd(v: number): number {
  return (v >> 4) * 10 + (v & 0x0f);
}

const globalTimers: RtcTimers = {
  setTimeout: (fn, ms) => {
    const h = globalThis.setTimeout(fn, ms) as unknown as { unref?: () => void };
    // The RTC must not keep the host process alive.
    h.unref?.();
    return h;
  },
  clearTimeout: (h) => globalThis.clearTimeout(h as Parameters<typeof globalThis.clearTimeout>[0]),
};

/** The register-B-dependent encodings of a UTC time, keyed by register index. */
interface TimeFields {
  sec: number;
  min: number;
  hour: number;
  dow: number;
  day: number;
  month: number;
  year: number; // full year
}

export class CmosRtc implements BusDevice, Persist<typeof CMOS_FIELDS> {
  readonly persistSchema = CMOS_PERSIST;
  private readonly ram = new Uint8Array(CMOS_SIZE);
  private index = 0;
  /** NMI disabled by bit 7 of the last index write (the backends do not model NMI masking). */
  nmiDisabled = false;
  private offsetMs = 0;
  /** Time when SET was raised; the clock stands still until SET clears. */
  private frozenMs = 0;
  private regC = 0;
  /** RTC time (ms) up to which register C events have been accounted. */
  private eventsUpTo: number;
  /** Host time (ms) up to which periodic events have been accounted (the divider runs from the crystal). */
  private periodicUpTo: number;
  private irqLevel = false;
  private timer: unknown;
  private readonly clock: () => number;
  private readonly irq: IrqLine | undefined;
  private readonly timers: RtcTimers;

  constructor(options: CmosRtcOptions) {
    this.clock = options.clock ?? Date.now;
    this.irq = options.irq;
    this.timers = options.timers ?? globalTimers;
    this.ram[RTC_REG_A] = RTC_A_DV_32KHZ | 0x06; // 1024 Hz periodic rate, as PC BIOSes leave it
    this.ram[RTC_REG_B] = RTC_B_24H;
    this.ram[RTC_REG_D] = RTC_D_VRT;
    if (!Number.isFinite(options.memBytes) || options.memBytes < 0) throw new RangeError(`CMOS memory size ${options.memBytes} is not a byte count`);
    this.ram[CMOS_EQUIPMENT] = CMOS_EQUIPMENT_FPU;
    this.setMemorySize(options.memBytes);
    this.ram[CMOS_NB_CPUS_MINUS_1] = Math.max(0, Math.min(255, (options.cpus ?? 1) - 1));
    const now = this.clock();
    this.eventsUpTo = now;
    this.periodicUpTo = now;
  }

  /** Fills 0x15-0x18, 0x30-0x31, 0x34-0x35, 0x5b-0x5d and the 0x2e checksum for `memBytes` of RAM. */
  private setMemorySize(memBytes: number): void {
    // RAM below 4 GiB stops at the PCI hole (same split as pcRamLayout), the rest is above 4 GiB.
    const below4g = Math.min(memBytes, PCI_HOLE_START);
    const above4g = memBytes - below4g;
    const base = Math.min(below4g / KIB, 640);
    const ext = Math.min(below4g > MIB ? Math.floor((below4g - MIB) / KIB) : 0, 0xffff);
    const above16 = Math.min(below4g > 16 * MIB ? Math.floor((below4g - 16 * MIB) / (64 * KIB)) : 0, 0xffff);
    const high = Math.min(Math.floor(above4g / (64 * KIB)), 0xffffff);
    const put16 = (lo: number, v: number) => {
      this.ram[lo] = v & 0xff;
      this.ram[lo + 1] = (v >> 8) & 0xff;
    };
    put16(CMOS_BASE_MEM_LO, base);
    put16(CMOS_EXT_MEM_LO, ext);
    put16(CMOS_EXT_MEM_POST_LO, ext);
    put16(CMOS_MEM_ABOVE_16M_LO, above16);
    this.ram[CMOS_MEM_ABOVE_4G_0] = high & 0xff;
    this.ram[CMOS_MEM_ABOVE_4G_1] = (high >> 8) & 0xff;
    this.ram[CMOS_MEM_ABOVE_4G_2] = (high >> 16) & 0xff;
    this.updateChecksum();
  }

  /** Recomputes the standard checksum of bytes 0x10-0x2d into 0x2e (high) / 0x2f (low). */
  updateChecksum(): void {
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += this.ram[i]!;
    this.ram[CMOS_CHECKSUM_HI] = (sum >> 8) & 0xff;
    this.ram[CMOS_CHECKSUM_LO] = sum & 0xff;
  }

  // ---- bus side ----------------------------------------------------------------------

  /** Offsets relative to 0x70: 0 = index (write-only, reads all-ones), 1 = data. */
  read(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) data[i] = offset + i === 1 ? this.readData() : 0xff;
  }

  write(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (offset + i === 0) {
        this.index = v & 0x7f;
        this.nmiDisabled = (v & CMOS_NMI_DISABLE) !== 0;
      } else if (offset + i === 1) {
        this.writeData(v);
      }
    }
  }

  /** Reads CMOS byte `reg` (0-127) as the guest would through port 0x71. */
  readRegister(reg: number): number {
    this.index = reg & 0x7f;
    return this.readData();
  }

  writeRegister(reg: number, v: number): void {
    this.index = reg & 0x7f;
    this.writeData(v & 0xff);
  }

  private get regB(): number {
    return this.ram[RTC_REG_B]!;
  }

  private readData(): number {
    const reg = this.index;
    switch (reg) {
      case RTC_SECONDS:
      case RTC_MINUTES:
      case RTC_HOURS:
      case RTC_DAY_OF_WEEK:
      case RTC_DAY_OF_MONTH:
      case RTC_MONTH:
      case RTC_YEAR:
      case RTC_CENTURY:
        if (this.regB & RTC_B_SET) return this.ram[reg]!;
        return this.encodeField(reg, this.fieldsAt(this.nowMs()));
      case RTC_REG_A: {
        let a = this.ram[RTC_REG_A]! & 0x7f;
        if (!(this.regB & RTC_B_SET)) {
          const frac = ((this.nowMs() % 1000) + 1000) % 1000;
          if (frac >= 1000 - RTC_UIP_WINDOW_MS) a |= RTC_A_UIP;
        }
        return a;
      }
      case RTC_REG_C: {
        this.accountEvents();
        const c = this.regC;
        this.regC = 0;
        this.updateIrq();
        this.schedule();
        return c;
      }
      case RTC_REG_D:
        return RTC_D_VRT;
      default:
        return this.ram[reg]!;
    }
  }

  private writeData(v: number): void {
    const reg = this.index;
    switch (reg) {
      case RTC_SECONDS:
      case RTC_MINUTES:
      case RTC_HOURS:
      case RTC_DAY_OF_WEEK:
      case RTC_DAY_OF_MONTH:
      case RTC_MONTH:
      case RTC_YEAR:
      case RTC_CENTURY:
        if (this.regB & RTC_B_SET) {
          this.ram[reg] = v;
        } else {
          // Without SET the clock keeps running: take the time, change one field, run on from there.
          this.accountEvents();
          this.latchTime(this.nowMs());
          this.ram[reg] = v;
          this.startFromRegisters();
        }
        return;
      case RTC_REG_A:
        this.accountEvents();
        this.ram[RTC_REG_A] = v & 0x7f; // UIP is read-only
        this.schedule();
        return;
      case RTC_REG_B: {
        this.accountEvents();
        const old = this.regB;
        if (v & RTC_B_SET) v &= ~RTC_B_UIE; // setting SET clears UIE
        if (v & RTC_B_SET && !(old & RTC_B_SET)) {
          this.frozenMs = this.nowMs();
          this.ram[RTC_REG_B] = v;
          this.latchTime(this.frozenMs);
        } else if (!(v & RTC_B_SET) && old & RTC_B_SET) {
          // The registers were written in the old format; decode them in it, then switch.
          const epoch = this.registersToEpoch();
          this.ram[RTC_REG_B] = v;
          this.setTime(epoch);
        } else {
          this.ram[RTC_REG_B] = v;
        }
        this.updateIrq();
        this.schedule();
        return;
      }
      case RTC_REG_C:
      case RTC_REG_D:
        return; // read-only
      default:
        this.ram[reg] = v;
    }
  }

  // ---- time ----------------------------------------------------------------------------

  /** Current RTC time in ms since the epoch (UTC). */
  nowMs(): number {
    return this.regB & RTC_B_SET ? this.frozenMs : this.clock() + this.offsetMs;
  }

  /** Sets the RTC to `epochMs` (host side, e.g. `--rtc-base`). */
  setTime(epochMs: number): void {
    if (this.regB & RTC_B_SET) {
      this.frozenMs = epochMs;
      this.latchTime(epochMs);
      return;
    }
    this.offsetMs = epochMs - this.clock();
    // A time jump is not a stream of update/alarm events.
    this.eventsUpTo = epochMs;
  }

  private fieldsAt(ms: number): TimeFields {
    const d = new Date(ms);
    return {
      sec: d.getUTCSeconds(),
      min: d.getUTCMinutes(),
      hour: d.getUTCHours(),
      dow: d.getUTCDay() + 1, // Sunday = 1
      day: d.getUTCDate(),
      month: d.getUTCMonth() + 1,
      year: d.getUTCFullYear(),
    };
  }

  private encodeValue(v: number): number {
    return this.regB & RTC_B_DM_BINARY ? v : toBcd(v);
  }

  private decodeValue(v: number): number {
    return this.regB & RTC_B_DM_BINARY ? v : fromBcd(v);
  }

  private encodeHour(h: number): number {
    if (this.regB & RTC_B_24H) return this.encodeValue(h);
    const pm = h >= 12;
    const h12 = h % 12 === 0 ? 12 : h % 12;
    return this.encodeValue(h12) | (pm ? 0x80 : 0);
  }

  private decodeHour(v: number): number {
    if (this.regB & RTC_B_24H) return this.decodeValue(v);
    const h12 = this.decodeValue(v & 0x7f) % 12;
    return v & 0x80 ? h12 + 12 : h12;
  }

  private encodeField(reg: number, f: TimeFields): number {
    switch (reg) {
      case RTC_SECONDS:
        return this.encodeValue(f.sec);
      case RTC_MINUTES:
        return this.encodeValue(f.min);
      case RTC_HOURS:
        return this.encodeHour(f.hour);
      case RTC_DAY_OF_WEEK:
        return this.encodeValue(f.dow);
      case RTC_DAY_OF_MONTH:
        return this.encodeValue(f.day);
      case RTC_MONTH:
        return this.encodeValue(f.month);
      case RTC_YEAR:
        return this.encodeValue(f.year % 100);
      default:
        return this.encodeValue(Math.floor(f.year / 100) % 100);
    }
  }

  /** Copies the time at `ms` into the time registers (used while SET is 1). */
  private latchTime(ms: number): void {
    const f = this.fieldsAt(ms);
    for (const reg of [RTC_SECONDS, RTC_MINUTES, RTC_HOURS, RTC_DAY_OF_WEEK, RTC_DAY_OF_MONTH, RTC_MONTH, RTC_YEAR, RTC_CENTURY]) {
      this.ram[reg] = this.encodeField(reg, f);
    }
  }

  /** The time the registers hold (day of week is ignored: it follows from the date). */
  private registersToEpoch(): number {
    const r = (reg: number) => this.decodeValue(this.ram[reg]!);
    const year = r(RTC_CENTURY) * 100 + r(RTC_YEAR);
    return Date.UTC(year, r(RTC_MONTH) - 1, r(RTC_DAY_OF_MONTH), this.decodeHour(this.ram[RTC_HOURS]!), r(RTC_MINUTES), r(RTC_SECONDS));
  }

  private startFromRegisters(): void {
    const epoch = this.registersToEpoch();
    if (Number.isFinite(epoch)) this.setTime(epoch);
  }

  // ---- interrupts ----------------------------------------------------------------------

  /** Periodic interrupt period in ms for register A's rate select, or 0 when off. */
  get periodicMs(): number {
    const rs = this.ram[RTC_REG_A]! & RTC_A_RS_MASK;
    if (rs === 0) return 0;
    // RS 1 and 2 repeat the 256 Hz and 128 Hz taps of the 32.768 kHz divider.
    const shift = rs <= 2 ? rs + 7 : rs - 1;
    return (1000 * (1 << shift)) / 32768;
  }

  private alarmMatches(f: TimeFields): boolean {
    const match = (alarm: number, value: number) => (alarm & RTC_ALARM_DONT_CARE) === RTC_ALARM_DONT_CARE || alarm === value;
    return (
      match(this.ram[RTC_SECONDS_ALARM]!, this.encodeValue(f.sec)) &&
      match(this.ram[RTC_MINUTES_ALARM]!, this.encodeValue(f.min)) &&
      match(this.ram[RTC_HOURS_ALARM]!, this.encodeHour(f.hour))
    );
  }

  /** Sets PF/UF/AF for everything that happened since the last call. */
  private accountEvents(): void {
    const hostNow = this.clock();
    const p = this.periodicMs;
    if (p > 0 && Math.floor(hostNow / p) > Math.floor(this.periodicUpTo / p)) this.regC |= RTC_C_PF;
    this.periodicUpTo = hostNow;
    if (!(this.regB & RTC_B_SET)) {
      const now = this.nowMs();
      const firstSec = Math.floor(this.eventsUpTo / 1000) + 1;
      const lastSec = Math.floor(now / 1000);
      if (lastSec >= firstSec) {
        this.regC |= RTC_C_UF;
        // One day of seconds covers every alarm pattern; older updates cannot change the result.
        for (let s = Math.max(firstSec, lastSec - 86399); s <= lastSec; s++) {
          if (this.alarmMatches(this.fieldsAt(s * 1000))) {
            this.regC |= RTC_C_AF;
            break;
          }
        }
      }
      this.eventsUpTo = now;
    }
    const b = this.regB;
    const enabled = (b & RTC_B_PIE ? RTC_C_PF : 0) | (b & RTC_B_AIE ? RTC_C_AF : 0) | (b & RTC_B_UIE ? RTC_C_UF : 0);
    if (this.regC & enabled) this.regC |= RTC_C_IRQF;
  }

  private updateIrq(): void {
    const level = (this.regC & RTC_C_IRQF) !== 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq?.set(level);
    }
  }

  /** Arms a host timer for the next enabled event while IRQF is clear. */
  private schedule(): void {
    if (this.timer !== undefined) {
      this.timers.clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.irq || this.regC & RTC_C_IRQF) return;
    const b = this.regB;
    let delay = Infinity;
    const p = this.periodicMs;
    if (b & RTC_B_PIE && p > 0) {
      const host = this.clock();
      delay = (Math.floor(host / p) + 1) * p - host;
    }
    if (b & (RTC_B_UIE | RTC_B_AIE) && !(b & RTC_B_SET)) {
      const now = this.nowMs();
      delay = Math.min(delay, (Math.floor(now / 1000) + 1) * 1000 - now);
    }
    if (delay === Infinity) return;
    this.timer = this.timers.setTimeout(() => this.onTimer(), this.timers.exactMs === true ? delay : Math.max(1, Math.ceil(delay)));
  }

  private onTimer(): void {
    this.timer = undefined;
    this.accountEvents();
    this.updateIrq();
    this.schedule();
  }

  saveState(): CmosRtcState {
    this.accountEvents();
    return {
      ram: [...this.ram],
      index: this.index,
      nmiDisabled: this.nmiDisabled,
      timeMs: this.clock() + this.offsetMs,
      frozenMs: this.frozenMs,
      regC: this.regC,
    };
  }

  restoreState(s: CmosRtcState): void {
    if (s.ram.length !== CMOS_SIZE) throw new RangeError(`CMOS state has ${s.ram.length} bytes (expected ${CMOS_SIZE})`);
    this.ram.set(s.ram);
    this.index = s.index & 0x7f;
    this.nmiDisabled = s.nmiDisabled;
    this.offsetMs = s.timeMs - this.clock();
    this.frozenMs = s.frozenMs;
    this.regC = s.regC & 0xf0;
    const host = this.clock();
    this.eventsUpTo = this.nowMs();
    this.periodicUpTo = host;
    this.updateIrq();
    this.schedule();
  }

  /** Stops the host timer (VM teardown). */
  destroy(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
