/**
 * I/O APIC (Intel 82093AA datasheet) at 0xFEC00000: IOREGSEL (offset 0x00) selects a
 * register that IOWIN (offset 0x10) reads and writes. Registers: 0x00 IOAPICID, 0x01
 * IOAPICVER (version 0x11, max redirection entry 23), 0x02 IOAPICARB, 0x10-0x3F the 24
 * 64-bit redirection entries (low dword at 0x10 + 2n, high dword at 0x11 + 2n).
 *
 * Inputs are logical assertion levels (`setIrq(pin, true)` = asserted): polarity (bit 13)
 * is stored for the guest but not applied, because the platform wiring already presents
 * asserted lines, as KVM's and QEMU's IOAPICs do. Edge-triggered pins deliver on the rising
 * edge (lost while masked); level-triggered pins deliver while asserted and remote IRR is
 * clear, set remote IRR when a local APIC accepts the message, and re-deliver after the EOI
 * message if the line is still asserted.
 */
import type { BusDevice } from '../../bus.js';
import { APIC_DM_EXTINT, APIC_DM_FIXED, APIC_DM_INIT, APIC_DM_LOWEST, APIC_DM_NMI, APIC_SH_NONE, type ApicBus, type ApicMessage } from './apic-bus.js';
import { bytesOf, field, loadBytes, type FieldsOf } from '../../../util/persist.js';

export const IOAPIC_DEFAULT_BASE = 0xfec00000;
/** Size of the decoded window (as KVM's in-kernel IOAPIC). */
export const IOAPIC_MMIO_SIZE = 0x100;
export const IOAPIC_IOREGSEL = 0x00;
export const IOAPIC_IOWIN = 0x10;
export const IOAPIC_REG_ID = 0x00;
export const IOAPIC_REG_VER = 0x01;
export const IOAPIC_REG_ARB = 0x02;
export const IOAPIC_REG_REDTBL = 0x10;
export const IOAPIC_PINS = 24;
export const IOAPIC_VERSION = 0x11;
/** IOAPICVER: bits 23:16 max redirection entry (23), bits 7:0 version. */
export const IOAPIC_VER_VALUE = ((IOAPIC_PINS - 1) << 16) | IOAPIC_VERSION;

export const IOREDTBL_MASK = 1 << 16;
export const IOREDTBL_TRIGGER_LEVEL = 1 << 15;
export const IOREDTBL_REMOTE_IRR = 1 << 14;
export const IOREDTBL_POLARITY_LOW = 1 << 13;
export const IOREDTBL_DELIVERY_STATUS = 1 << 12;
export const IOREDTBL_DEST_LOGICAL = 1 << 11;
/** Guest-writable bits of the low dword (delivery status and remote IRR are read-only). */
const REDTBL_LO_WRITABLE = 0x0001afff;

export class IoApic implements BusDevice {
  private regsel = 0;
  private id = 0;
  private arb = 0;
  private readonly lo = new Uint32Array(IOAPIC_PINS);
  private readonly hi = new Uint32Array(IOAPIC_PINS);
  private readonly levels = new Uint8Array(IOAPIC_PINS);
  private readonly msg: ApicMessage = {
    vector: 0,
    deliveryMode: 0,
    logical: false,
    dest: 0,
    x2Format: false,
    levelTrigger: false,
    assert: true,
    shorthand: APIC_SH_NONE,
  };

  constructor(private readonly bus: ApicBus, id = 0) {
    this.id = (id & 0xf) << 24;
    this.arb = this.id;
    this.lo.fill(IOREDTBL_MASK);
  }

  // ---- MMIO (BusDevice) -----------------------------------------------------------------

  read(offset: number, data: Uint8Array): void {
    let v = 0;
    if (offset >= IOAPIC_IOREGSEL && offset < IOAPIC_IOREGSEL + 4) v = this.regsel >>> ((offset - IOAPIC_IOREGSEL) * 8);
    else if (offset >= IOAPIC_IOWIN && offset < IOAPIC_IOWIN + 4) v = this.readReg(this.regsel) >>> ((offset - IOAPIC_IOWIN) * 8);
    for (let i = 0; i < data.length; i++) data[i] = i < 4 ? (v >>> (i * 8)) & 0xff : 0;
  }

  write(offset: number, data: Uint8Array): void {
    let v = 0;
    for (let i = 0; i < data.length && i < 4; i++) v |= data[i]! << (i * 8);
    v >>>= 0;
    if (offset === IOAPIC_IOREGSEL) this.regsel = v & 0xff;
    else if (offset === IOAPIC_IOWIN && data.length === 4) this.writeReg(this.regsel, v); // IOWIN is dword-only
  }

  private readReg(r: number): number {
    if (r === IOAPIC_REG_ID) return this.id;
    if (r === IOAPIC_REG_VER) return IOAPIC_VER_VALUE;
    if (r === IOAPIC_REG_ARB) return this.arb;
    if (r >= IOAPIC_REG_REDTBL && r < IOAPIC_REG_REDTBL + 2 * IOAPIC_PINS) {
      const pin = (r - IOAPIC_REG_REDTBL) >> 1;
      return (r & 1) === 0 ? this.lo[pin]! : this.hi[pin]!;
    }
    return 0;
  }

  private writeReg(r: number, v: number): void {
    if (r === IOAPIC_REG_ID) {
      this.id = v & 0x0f000000;
      this.arb = this.id; // the arbitration ID is loaded from the ID
      return;
    }
    if (r < IOAPIC_REG_REDTBL || r >= IOAPIC_REG_REDTBL + 2 * IOAPIC_PINS) return; // VER, ARB read-only
    const pin = (r - IOAPIC_REG_REDTBL) >> 1;
    if ((r & 1) === 1) {
      this.hi[pin] = v & 0xff000000;
      return;
    }
    const old = this.lo[pin]!;
    let nv = (v & REDTBL_LO_WRITABLE) | (old & IOREDTBL_REMOTE_IRR);
    if ((nv & IOREDTBL_TRIGGER_LEVEL) === 0) nv &= ~IOREDTBL_REMOTE_IRR; // remote IRR is meaningless for edge
    this.lo[pin] = nv >>> 0;
    // Unmasking a level-triggered pin whose line is asserted delivers it now.
    if ((nv & (IOREDTBL_TRIGGER_LEVEL | IOREDTBL_MASK)) === IOREDTBL_TRIGGER_LEVEL && this.levels[pin]) this.service(pin);
  }

  // ---- pins -------------------------------------------------------------------------------

  /** Drives input pin `pin` (0..23) to an asserted (true) or deasserted level. */
  setIrq(pin: number, level: boolean): void {
    if (pin < 0 || pin >= IOAPIC_PINS) return;
    const was = this.levels[pin] === 1;
    this.levels[pin] = level ? 1 : 0;
    const e = this.lo[pin]!;
    if ((e & IOREDTBL_TRIGGER_LEVEL) !== 0) {
      if (level) this.service(pin);
    } else if (level && !was) {
      this.service(pin);
    }
  }

  /** Input line level as last driven (tests, diagnostics). */
  lineLevel(pin: number): boolean {
    return this.levels[pin] === 1;
  }

  /** Whether some redirection entry is unmasked (a device could interrupt through it). */
  anyUnmasked(): boolean {
    for (let i = 0; i < this.lo.length; i++) if ((this.lo[i]! & IOREDTBL_MASK) === 0) return true;
    return false;
  }

  /** Raw redirection entry halves (tests, diagnostics). */
  entry(pin: number): { lo: number; hi: number } {
    return { lo: this.lo[pin] ?? 0, hi: this.hi[pin] ?? 0 };
  }

  private service(pin: number): void {
    const e = this.lo[pin]!;
    if ((e & IOREDTBL_MASK) !== 0) return;
    const level = (e & IOREDTBL_TRIGGER_LEVEL) !== 0;
    if (level && (e & IOREDTBL_REMOTE_IRR) !== 0) return; // waits for the EOI
    const m = this.msg;
    m.vector = e & 0xff;
    m.deliveryMode = (e >> 8) & 7;
    m.logical = (e & IOREDTBL_DEST_LOGICAL) !== 0;
    m.dest = this.hi[pin]! >>> 24;
    m.x2Format = false;
    m.levelTrigger = level;
    m.assert = true;
    m.shorthand = APIC_SH_NONE;
    switch (m.deliveryMode) {
      case APIC_DM_FIXED:
      case APIC_DM_LOWEST:
      case APIC_DM_NMI:
      case APIC_DM_INIT:
      case APIC_DM_EXTINT:
        break;
      default:
        return; // SMI and reserved modes are not delivered
    }
    const accepted = this.bus.deliver(m, undefined);
    // Remote IRR: set once a local APIC accepted the level-triggered interrupt (fixed/lowest).
    if (level && accepted > 0 && (m.deliveryMode === APIC_DM_FIXED || m.deliveryMode === APIC_DM_LOWEST)) {
      this.lo[pin] = (e | IOREDTBL_REMOTE_IRR) >>> 0;
    }
  }

  /** EOI message from a local APIC: clears remote IRR of level entries with this vector and re-delivers asserted lines. */
  eoi(vector: number): void {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const e = this.lo[pin]!;
      if ((e & 0xff) !== vector || (e & IOREDTBL_REMOTE_IRR) === 0) continue;
      this.lo[pin] = (e & ~IOREDTBL_REMOTE_IRR) >>> 0;
      if ((e & IOREDTBL_TRIGGER_LEVEL) !== 0 && this.levels[pin]) this.service(pin);
    }
  }
 
  readonly persistSchema = IOAPIC_SCHEMA;

  /** Registers, the redirection table (remote IRR and delivery status included) and the input levels. */
  saveState(): FieldsOf<typeof IOAPIC_SCHEMA.fields> {
    return { regsel: this.regsel >>> 0, id: this.id >>> 0, arb: this.arb >>> 0, lo: bytesOf(this.lo), hi: bytesOf(this.hi), levels: bytesOf(this.levels) };
  }

  restoreState(s: FieldsOf<typeof IOAPIC_SCHEMA.fields>): void {
    this.regsel = s.regsel;
    this.id = s.id;
    this.arb = s.arb;
    loadBytes(this.lo, s.lo, 'ioapic.lo');
    loadBytes(this.hi, s.hi, 'ioapic.hi');
    loadBytes(this.levels, s.levels, 'ioapic.levels');
  }
}

export const IOAPIC_SCHEMA = {
  kind: 'emu-ioapic',
  version: 1,
  fields: { regsel: field.u32(), id: field.u32(), arb: field.u32(), lo: field.bytes(IOAPIC_PINS * 4), hi: field.bytes(IOAPIC_PINS * 4), levels: field.bytes(IOAPIC_PINS) },
} as const;
