/**
 * The PC's cascaded 8259A pair (Intel 8259A datasheet): master at 0x20/0x21, slave at
 * 0xA0/0xA1 on the master's IR2, plus the PIIX edge/level control registers (ELCR) at
 * 0x4D0/0x4D1. ICW1-ICW4 initialisation, OCW1 mask, OCW2 EOI/rotation/priority, OCW3
 * read-register/poll/special-mask, auto-EOI, special fully nested mode, the INTA cycle
 * (vector out, spurious IR7/IR15 when the request went away) and the master's INTR output.
 *
 * Model choices:
 * - 8086 mode only (ICW4 bit 0 is stored, the MCS-80/85 call format is not produced).
 * - Edge-triggered requests latch in IRR on the rising edge and stay until acknowledged even
 *   if the line falls first (as KVM's and QEMU's PICs do); the datasheet's "default IR7" for a
 *   withdrawn edge request is therefore only seen for level-triggered lines and masks.
 * - The cascade input IR2 follows the slave's INT output as a level.
 */
import type { BusDevice } from '../../bus.js';
import type { ExtIntSource } from './local-apic.js';
import { field, type FieldsOf } from '../../../util/persist.js';

export const PIC_MASTER_BASE = 0x20;
export const PIC_SLAVE_BASE = 0xa0;
export const ELCR_BASE = 0x4d0;
/** ELCR bits that must stay 0 on PIIX: IRQ0, 1, 2 (master) and IRQ8, 13 (slave). */
export const ELCR_MASTER_MASK = 0xf8;
export const ELCR_SLAVE_MASK = 0xde;
export const PIC_CASCADE_IRQ = 2;

const ICW1_IC4 = 0x01;
const ICW1_SNGL = 0x02;
const ICW1_LTIM = 0x08;
const ICW4_AEOI = 0x02;
const ICW4_SFNM = 0x10;
const OCW3_RIS = 0x01;
const OCW3_RR = 0x02;
const OCW3_P = 0x04;
const OCW3_SMM = 0x20;
const OCW3_ESMM = 0x40;

/** One 8259A. */
class Pic8259 {
  irr = 0;
  isr = 0;
  imr = 0;
  elcr = 0;
  lines = 0; // last input levels
  vectorBase = 0;
  /** The IR with the lowest priority (7 after init); highest is (lowest + 1) & 7. */
  lowest = 7;
  private initStep = 0; // 0 ready, 2 expects ICW2, 3 ICW3, 4 ICW4
  private icw1 = 0;
  icw3 = 0;
  icw4 = 0;
  readIsr = false;
  poll = false;
  specialMask = false;
  rotateOnAeoi = false;

  constructor(readonly isMaster: boolean, readonly elcrMask: number) {}

  private isLevel(bit: number): boolean {
    return (this.icw1 & ICW1_LTIM) !== 0 || (this.elcr & bit) !== 0;
  }

  setInput(irq: number, level: boolean): void {
    const bit = 1 << irq;
    const was = (this.lines & bit) !== 0;
    if (level) this.lines |= bit;
    else this.lines &= ~bit;
    if (this.isLevel(bit)) {
      if (level) this.irr |= bit;
      else this.irr &= ~bit;
    } else if (level && !was) {
      this.irr |= bit;
    }
  }

  /** The cascade input (IR2 of the master) follows the slave's INT output as a level. */
  setCascade(level: boolean): void {
    const bit = 1 << PIC_CASCADE_IRQ;
    if (level) {
      this.lines |= bit;
      this.irr |= bit;
    } else {
      this.lines &= ~bit;
      this.irr &= ~bit;
    }
  }

  /** Highest-priority set bit of `bits` in rotation order, or -1. */
  private first(bits: number): number {
    if (bits === 0) return -1;
    for (let p = 0; p < 8; p++) {
      const irq = (this.lowest + 1 + p) & 7;
      if ((bits & (1 << irq)) !== 0) return irq;
    }
    return -1;
  }

  private priorityOf(irq: number): number {
    return (irq - this.lowest - 1) & 7; // 0 = highest
  }

  /** The request that would be acknowledged now (unmasked, above everything in service), or -1. */
  pending(): number {
    const req = this.first(this.irr & ~this.imr);
    if (req < 0) return -1;
    let inService = this.isr;
    if (this.specialMask) inService &= ~this.imr;
    // Special fully nested mode: the master lets the cascade line through while it is in service.
    if (this.isMaster && (this.icw4 & ICW4_SFNM) !== 0) inService &= ~(1 << PIC_CASCADE_IRQ);
    const isv = this.first(inService);
    if (isv >= 0 && this.priorityOf(isv) <= this.priorityOf(req)) return -1;
    return req;
  }

  /** INTA (or poll): returns the IR acknowledged, or -1 when nothing is pending (spurious). */
  ack(): number {
    const irq = this.pending();
    if (irq < 0) return -1;
    const bit = 1 << irq;
    if (!this.isLevel(bit)) this.irr &= ~bit;
    if ((this.icw4 & ICW4_AEOI) !== 0) {
      if (this.rotateOnAeoi) this.lowest = irq;
    } else {
      this.isr |= bit;
    }
    return irq;
  }

  writeCommand(v: number): void {
    if ((v & 0x10) !== 0) {
      // ICW1: starts the initialisation sequence.
      this.icw1 = v;
      this.initStep = 2;
      this.imr = 0;
      this.isr = 0;
      this.lowest = 7;
      this.icw3 = 0;
      this.readIsr = false;
      this.poll = false;
      this.specialMask = false;
      this.rotateOnAeoi = false;
      if ((v & ICW1_IC4) === 0) this.icw4 = 0;
      // Edge-sense latches reset: edge requests need a fresh rising edge; level lines keep requesting.
      this.irr = 0;
      for (let i = 0; i < 8; i++) if (this.isLevel(1 << i)) this.irr |= this.lines & (1 << i);
      return;
    }
    if ((v & 0x08) === 0) {
      // OCW2
      const cmd = v >> 5;
      const l = v & 7;
      switch (cmd) {
        case 0b001: // non-specific EOI
        case 0b101: {
          // (rotate on) non-specific EOI
          const irq = this.first(this.isr);
          if (irq >= 0) {
            this.isr &= ~(1 << irq);
            if (cmd === 0b101) this.lowest = irq;
          }
          break;
        }
        case 0b011: // specific EOI
          this.isr &= ~(1 << l);
          break;
        case 0b111: // rotate on specific EOI
          this.isr &= ~(1 << l);
          this.lowest = l;
          break;
        case 0b110: // set priority
          this.lowest = l;
          break;
        case 0b100:
          this.rotateOnAeoi = true;
          break;
        case 0b000:
          this.rotateOnAeoi = false;
          break;
        default:
          break; // 010: no operation
      }
      return;
    }
    // OCW3
    if ((v & OCW3_P) !== 0) this.poll = true;
    if ((v & OCW3_RR) !== 0) this.readIsr = (v & OCW3_RIS) !== 0;
    if ((v & OCW3_ESMM) !== 0) this.specialMask = (v & OCW3_SMM) !== 0;
  }

  writeData(v: number): void {
    switch (this.initStep) {
      case 2:
        this.vectorBase = v & 0xf8;
        this.initStep = (this.icw1 & ICW1_SNGL) === 0 ? 3 : (this.icw1 & ICW1_IC4) !== 0 ? 4 : 0;
        return;
      case 3:
        this.icw3 = v;
        this.initStep = (this.icw1 & ICW1_IC4) !== 0 ? 4 : 0;
        return;
      case 4:
        this.icw4 = v & 0x1f;
        this.initStep = 0;
        return;
      default:
        this.imr = v; // OCW1
    }
  }

  readCommand(): number {
    if (this.poll) {
      // Poll: the read acts as INTA; bit 7 says whether an interrupt was pending.
      this.poll = false;
      const irq = this.ack();
      return irq < 0 ? 0x07 : 0x80 | irq;
    }
    return this.readIsr ? this.isr : this.irr;
  }

  writeElcr(v: number): void {
    this.elcr = v & this.elcrMask;
    // Level lines request while high; edge lines keep whatever they latched.
    for (let i = 0; i < 8; i++) {
      const bit = 1 << i;
      if (this.isLevel(bit)) this.irr = (this.irr & ~bit) | (this.lines & bit);
    }
  }

  save(): FieldsOf<typeof PIC_CHIP_FIELDS> {
    return {
      irr: this.irr, isr: this.isr, imr: this.imr, elcr: this.elcr, lines: this.lines, vectorBase: this.vectorBase, lowest: this.lowest, initStep: this.initStep,
      icw1: this.icw1, icw3: this.icw3, icw4: this.icw4, readIsr: this.readIsr, poll: this.poll, specialMask: this.specialMask, rotateOnAeoi: this.rotateOnAeoi,
    };
  }

  load(s: FieldsOf<typeof PIC_CHIP_FIELDS>): void {
    this.irr = s.irr;
    this.isr = s.isr;
    this.imr = s.imr;
    this.elcr = s.elcr;
    this.lines = s.lines;
    this.vectorBase = s.vectorBase;
    this.lowest = s.lowest;
    this.initStep = s.initStep;
    this.icw1 = s.icw1;
    this.icw3 = s.icw3;
    this.icw4 = s.icw4;
    this.readIsr = s.readIsr;
    this.poll = s.poll;
    this.specialMask = s.specialMask;
    this.rotateOnAeoi = s.rotateOnAeoi;
  }
}

/** Port device for one chip (2 ports: command at +0, data at +1). */
class PicPorts implements BusDevice {
  constructor(private readonly pair: PicPair, private readonly chip: Pic8259) {}
  read(offset: number, data: Uint8Array): void {
    const v = offset === 0 ? this.chip.readCommand() : this.chip.imr;
    data.fill(0);
    if (data.length > 0) data[0] = v;
    this.pair.update();
  }
  write(offset: number, data: Uint8Array): void {
    const v = data[0] ?? 0;
    if (offset === 0) this.chip.writeCommand(v);
    else this.chip.writeData(v);
    this.pair.update();
  }
}

class ElcrPorts implements BusDevice {
  constructor(private readonly pair: PicPair) {}
  read(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const port = offset + i;
      data[i] = port === 0 ? this.pair.masterChip.elcr : port === 1 ? this.pair.slaveChip.elcr : 0xff;
    }
  }
  write(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const port = offset + i;
      if (port === 0) this.pair.masterChip.writeElcr(data[i]!);
      else if (port === 1) this.pair.slaveChip.writeElcr(data[i]!);
    }
    this.pair.update();
  }
}

export class PicPair implements ExtIntSource {
  readonly masterChip = new Pic8259(true, ELCR_MASTER_MASK);
  readonly slaveChip = new Pic8259(false, ELCR_SLAVE_MASK);
  /** Port devices to register at 0x20 (len 2), 0xA0 (len 2) and 0x4D0 (len 2). */
  readonly master: BusDevice = new PicPorts(this, this.masterChip);
  readonly slave: BusDevice = new PicPorts(this, this.slaveChip);
  readonly elcr: BusDevice = new ElcrPorts(this);
  /** Called when the master's INTR output changes (wired to the BSP's LINT0). */
  outputListener: ((level: boolean) => void) | undefined;
  private out = false;

  /** INTR output of the master. */
  get output(): boolean {
    return this.out;
  }

  /** Drives ISA IRQ 0-15 (IRQ2 is the cascade and is ignored). */
  setIrq(irq: number, level: boolean): void {
    if (irq < 0 || irq > 15 || irq === PIC_CASCADE_IRQ) return;
    if (irq < 8) this.masterChip.setInput(irq, level);
    else this.slaveChip.setInput(irq - 8, level);
    this.update();
  }

  /** Recomputes the cascade line and the INTR output. */
  update(): void {
    const s = this.slaveChip.pending() >= 0;
    this.masterChip.setCascade(s);
    const out = this.masterChip.pending() >= 0;
    if (out !== this.out) {
      this.out = out;
      this.outputListener?.(out);
    }
  }

  /** Whether some input could still raise INTR: an unmasked line on the master, or through an unmasked cascade on the slave. */
  mayRaise(): boolean {
    const m = ~this.masterChip.imr & 0xff;
    if ((m & ~(1 << PIC_CASCADE_IRQ)) !== 0 || this.out) return true;
    return (m & (1 << PIC_CASCADE_IRQ)) !== 0 && (~this.slaveChip.imr & 0xff) !== 0;
  }

  /** The INTA cycle: returns the vector; a spurious request yields the IR7 vector of the chip that found nothing. */
  acknowledge(): number {
    const m = this.masterChip;
    const irq = m.ack();
    let vector: number;
    if (irq < 0) vector = m.vectorBase | 7;
    else if (irq === PIC_CASCADE_IRQ) {
      const s = this.slaveChip.ack();
      vector = this.slaveChip.vectorBase | (s < 0 ? 7 : s);
    } else vector = m.vectorBase | irq;
    this.update();
    return vector;
  }

  readonly persistSchema = PIC_SCHEMA;

  saveState(): FieldsOf<typeof PIC_SCHEMA.fields> {
    return { master: this.masterChip.save(), slave: this.slaveChip.save(), out: this.out };
  }

  /** Loads both chips; the INTR output is set without calling the listener (the APICs restore their LINT0 level themselves). */
  restoreState(s: FieldsOf<typeof PIC_SCHEMA.fields>): void {
    this.masterChip.load(s.master);
    this.slaveChip.load(s.slave);
    this.out = s.out;
  }
}

const u8 = field.u8();
const PIC_CHIP_FIELDS = {
  irr: u8, isr: u8, imr: u8, elcr: u8, lines: u8, vectorBase: u8, lowest: field.int(0, 7), initStep: field.int(0, 4),
  icw1: u8, icw3: u8, icw4: u8, readIsr: field.bool(), poll: field.bool(), specialMask: field.bool(), rotateOnAeoi: field.bool(),
} as const;
export const PIC_SCHEMA = {
  kind: 'emu-pic-8259-pair',
  version: 1,
  fields: { master: field.record(PIC_CHIP_FIELDS), slave: field.record(PIC_CHIP_FIELDS), out: field.bool() },
} as const;
