/**
 * The emulator's "in-kernel irqchip": one local APIC per vCPU, the APIC bus, the IOAPIC,
 * the 8259 pair with ELCR, and the 8254 with port 0x61, wired like a PC:
 * - ISA IRQ n (0-15) -> PIC pin n and IOAPIC pin n, except IRQ0 -> IOAPIC pin 2 (the usual
 *   MADT interrupt source override); IRQ2 is the PIC cascade and is not driven from outside.
 *   GSI 16-23 -> IOAPIC pins 16-23.
 * - PIT channel 0 OUT -> IRQ0; the PIC's INTR -> LINT0 of every APIC (the BSP's is the
 *   virtual wire once programmed ExtINT; the PIC also answers ExtINT messages from the IOAPIC).
 * - EOIs of level-triggered vectors -> the IOAPIC (remote IRR).
 * The LAPIC MMIO page is not put on the MMIO bus: each vCPU routes its own APIC page.
 */
import { VmmError } from '../../../util/errors.js';
import type { Bus } from '../../bus.js';
import { ApicBus, type ApicMessage } from './apic-bus.js';
import { decodeMsi } from '../../irq.js';
import type { EmuChipSet, EmuClock, LocalApicPort } from './chip-types.js';
import { IoApic, IOAPIC_DEFAULT_BASE, IOAPIC_MMIO_SIZE, IOAPIC_PINS } from './ioapic.js';
import { LocalApic } from './local-apic.js';
import { ELCR_BASE, PIC_CASCADE_IRQ, PIC_MASTER_BASE, PIC_SLAVE_BASE, PicPair } from './pic-8259.js';
import { PIT_BASE, PIT_PORT61, Pit8254 } from './pit-8254.js';
import { VirtualTimers } from './virtual-timers.js';

export class EmuChipError extends VmmError {
  constructor(message: string) {
    super('emu-chips', message);
  }
}

/** xAPIC physical destinations are 8 bits and 0xFF is broadcast. */
export const EMU_MAX_CPUS = 255;

export interface EmuChipSetOptions {
  cpus: number;
  clock: EmuClock;
  pio: Bus;
  mmio: Bus;
  /** LAPIC timer input frequency (default 1 GHz). */
  apicBusHz?: number;
  /** MAXPHYADDR for IA32_APIC_BASE checks (default 40). */
  physAddrBits?: number;
  /** Offer x2APIC (default true). */
  x2apic?: boolean;
}

/** IOAPIC pin for an interrupt input (ISA IRQ or GSI), or -1. */
export function ioapicPinFor(gsi: number): number {
  if (gsi === 0) return 2;
  if (gsi === PIC_CASCADE_IRQ) return -1;
  return gsi >= 0 && gsi < IOAPIC_PINS ? gsi : -1;
}

/** ISA IRQ of FERR# and the port that clears it. */
export const FERR_IRQ = 13;
export const FERR_PORT = 0xf0;

export class EmuChips implements EmuChipSet {
  readonly apicBus = new ApicBus();
  readonly apics: LocalApic[] = [];
  readonly ioapic: IoApic;
  readonly pic = new PicPair();
  readonly pit: Pit8254;
  /** Device timers on the VM clock (the RTC's, in deterministic runs). */
  readonly timers: VirtualTimers;

  constructor(opts: EmuChipSetOptions) {
    const { cpus, clock } = opts;
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > EMU_MAX_CPUS) {
      throw new EmuChipError(`Cannot create ${cpus} vCPUs for the emulator: use 1..${EMU_MAX_CPUS} (xAPIC IDs are 8 bits)`);
    }
    for (let i = 0; i < cpus; i++) {
      this.apics.push(
        new LocalApic({
          apicId: i,
          bsp: i === 0,
          clock,
          bus: this.apicBus,
          ...(opts.apicBusHz !== undefined ? { busHz: opts.apicBusHz } : {}),
          ...(opts.physAddrBits !== undefined ? { physAddrBits: opts.physAddrBits } : {}),
          ...(opts.x2apic !== undefined ? { x2apic: opts.x2apic } : {}),
        }),
      );
    }
    this.ioapic = new IoApic(this.apicBus, 0);
    this.pit = new Pit8254(clock);
    this.timers = new VirtualTimers(clock);

    // The PIC's INTR reaches LINT0 of every APIC, as the MP specification wires a PC (and as
    // KVM accepts PIC interrupts on any vCPU whose LINT0 is unmasked ExtINT); firmware and
    // OSes program ExtINT on the BSP only and leave the APs' LINT0 masked.
    for (const a of this.apics) a.extIntSource = this.pic;
    this.pic.outputListener = (level) => {
      for (const a of this.apics) a.setLint0(level);
    };
    this.apicBus.eoiListener = (vector) => this.ioapic.eoi(vector);
    this.pit.setOutListener(0, (level) => this.setIrq(0, level));

    opts.pio.register(PIC_MASTER_BASE, 2, this.pic.master, 'pic-master');
    opts.pio.register(PIC_SLAVE_BASE, 2, this.pic.slave, 'pic-slave');
    opts.pio.register(ELCR_BASE, 2, this.pic.elcr, 'elcr');
    opts.pio.register(PIT_BASE, 4, this.pit, 'pit');
    opts.pio.register(PIT_PORT61, 1, this.pit.port61, 'port61');
    // The FPU error latch of a PC: FERR# (x87 errors with CR0.NE = 0) holds IRQ 13 until a write to F0h.
    opts.pio.register(FERR_PORT, 1, { read: (_o, d) => d.fill(0xff), write: () => this.setIrq(FERR_IRQ, false) }, 'fpu-error');
    opts.mmio.register(IOAPIC_DEFAULT_BASE, IOAPIC_MMIO_SIZE, this.ioapic, 'ioapic');
  }

  localApic(index: number): LocalApicPort {
    const a = this.apics[index];
    if (!a) throw new RangeError(`vCPU index ${index} is out of range (0..${this.apics.length - 1})`);
    return a;
  }

  setIrq(gsi: number, level: boolean): void {
    if (gsi < 16) this.pic.setIrq(gsi, level);
    const pin = ioapicPinFor(gsi);
    if (pin >= 0) this.ioapic.setIrq(pin, level);
  }

  /**
   * An MSI write: the message goes on the APIC bus as the IOAPIC's do (8-bit destination, physical or
   * logical, the data's delivery mode and trigger). SMI and reserved delivery modes are dropped, as
   * the IOAPIC drops them; an address outside 0xFEExxxxx is not an interrupt.
   */
  deliverMsi(address: number, data: number): boolean {
    const f = decodeMsi(address, data);
    if (f === undefined) {
      this.msiDropped++;
      return false;
    }
    const dm = f.deliveryMode;
    if (dm === 2 || dm === 3 || dm === 6) {
      this.msiDropped++;
      return false;
    }
    const m = this.msiMsg;
    m.vector = f.vector;
    m.deliveryMode = dm;
    m.logical = f.logical;
    m.dest = f.dest;
    m.levelTrigger = f.levelTrigger;
    const n = this.apicBus.deliver(m, undefined);
    if (n === 0) this.msiDropped++;
    return n > 0;
  }

  /** MSIs that reached no APIC (bad address or mode, or no destination matched). */
  msiDropped = 0;
  private readonly msiMsg: ApicMessage = { vector: 0, deliveryMode: 0, logical: false, dest: 0, x2Format: false, levelTrigger: false, assert: true, shorthand: 0 };

  /** Platform NMI (LINT1 of every APIC, as the PC wires it). */
  setNmi(level: boolean): void {
    for (const a of this.apics) a.setLint1(level);
  }

  mayInterrupt(index: number): boolean {
    const a = this.apics[index];
    if (a === undefined) return false;
    // Platform NMI (setNmi) has no source in tsvmm, so LINT1 cannot fire by itself.
    return a.mayInterrupt(this.pic.mayRaise()) || this.ioapic.anyUnmasked();
  }

  nextDeadlineNs(): number {
    let t = this.pit.nextDeadlineNs();
    const v = this.timers.nextDeadlineNs();
    if (v < t) t = v;
    for (const a of this.apics) {
      const d = a.nextDeadlineNs();
      if (d < t) t = d;
    }
    return t;
  }

  advance(): void {
    this.pit.advance();
    for (const a of this.apics) a.advance();
    this.timers.advance();
  }
}

export function createEmuChipSet(opts: EmuChipSetOptions): EmuChipSet & EmuChips {
  return new EmuChips(opts);
}
