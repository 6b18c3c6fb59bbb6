/**
 * Local APIC of one vCPU (Intel SDM vol. 3A ch. 10 "Advanced Programmable Interrupt
 * Controller"): xAPIC MMIO page, x2APIC MSRs 0x800-0x8ff, IA32_APIC_BASE mode transitions,
 * task/processor/arbitration priority, IRR/ISR/TMR, EOI (with the EOI message to the IOAPIC
 * for level-triggered vectors), the LVT, the timer (one-shot, periodic, TSC-deadline) on
 * virtual time, and IPIs through the ApicBus.
 *
 * Model choices (documented because the SDM leaves them to the implementation):
 * - Version register 0x00050014: version 0x14 (integrated APIC), 6 LVT entries (timer,
 *   thermal, PMC, LINT0, LINT1, error; no LVT CMCI, so 0x2F0/MSR 0x82F are reserved), no
 *   EOI-broadcast suppression (bit 24 = 0, SVR bit 12 reserved).
 * - The timer counts at `busHz` (default 1 GHz, as KVM: one tick per ns) divided by the DCR.
 * - Delivery is synchronous: delivery-status bits (ICR bit 12, LVT bit 12) always read 0.
 * - Lowest-priority messages are arbitrated on the bus by lowest PPR (see ApicBus).
 * - SMI messages are ignored (no SMM).
 * - A fixed interrupt that arrives while the APIC is software-disabled is dropped; INIT,
 *   NMI and SIPI are still accepted (SDM 10.4.7.2).
 * - An xAPIC-format (8-bit) logical destination never matches an x2APIC-mode APIC except
 *   for the 0xFF broadcast.
 */
import type { EmuClock, LocalApicPort, MsrValue } from './chip-types.js';
import { PersistError, bytesOf, field, loadBytes, loadDeadline, saveDeadline, type FieldsOf } from '../../../util/persist.js';
import {
  APIC_DM_EXTINT,
  APIC_DM_FIXED,
  APIC_DM_INIT,
  APIC_DM_LOWEST,
  APIC_DM_NMI,
  APIC_DM_STARTUP,
  APIC_SH_NONE,
  type ApicBus,
  type ApicBusTarget,
  type ApicMessage,
} from './apic-bus.js';

export const APIC_DEFAULT_BASE = 0xfee00000;
export const MSR_IA32_APIC_BASE = 0x1b;
export const MSR_IA32_TSC_DEADLINE = 0x6e0;

/** IA32_APIC_BASE flags. */
export const APIC_BASE_BSP = 1 << 8;
export const APIC_BASE_EXTD = 1 << 10;
export const APIC_BASE_EN = 1 << 11;

/** xAPIC register offsets (the x2APIC MSR is 0x800 + offset / 16). */
export const APIC_ID = 0x020;
export const APIC_LVR = 0x030;
export const APIC_TPR = 0x080;
export const APIC_APR = 0x090;
export const APIC_PPR = 0x0a0;
export const APIC_EOI = 0x0b0;
export const APIC_RRD = 0x0c0;
export const APIC_LDR = 0x0d0;
export const APIC_DFR = 0x0e0;
export const APIC_SVR = 0x0f0;
export const APIC_ISR = 0x100;
export const APIC_TMR = 0x180;
export const APIC_IRR = 0x200;
export const APIC_ESR = 0x280;
export const APIC_ICR_LO = 0x300;
export const APIC_ICR_HI = 0x310;
export const APIC_LVT_TIMER = 0x320;
export const APIC_LVT_THERMAL = 0x330;
export const APIC_LVT_PMC = 0x340;
export const APIC_LVT_LINT0 = 0x350;
export const APIC_LVT_LINT1 = 0x360;
export const APIC_LVT_ERROR = 0x370;
export const APIC_TIMER_ICR = 0x380;
export const APIC_TIMER_CCR = 0x390;
export const APIC_TIMER_DCR = 0x3e0;
export const APIC_SELF_IPI = 0x3f0;

/** Version 0x14, max LVT entry 5 (six LVT entries). */
export const APIC_VERSION_VALUE = 0x00050014;

export const APIC_SVR_ENABLE = 1 << 8;
export const APIC_LVT_MASKED = 1 << 16;
export const APIC_LVT_TIMER_PERIODIC = 1 << 17;
export const APIC_LVT_TIMER_TSC_DEADLINE = 2 << 17;

/** ESR bits. */
export const APIC_ESR_SEND_ILLEGAL_VECTOR = 1 << 5;
export const APIC_ESR_RECV_ILLEGAL_VECTOR = 1 << 6;
export const APIC_ESR_ILLEGAL_REGISTER = 1 << 7;

/** Writable bits per register. */
const LVT_TIMER_BITS = 0x000600ff | APIC_LVT_MASKED; // vector, mask, mode 18:17
const LVT_DM_BITS = 0x000107ff; // vector, delivery mode, mask (thermal, PMC)
const LVT_LINT_BITS = 0x0001a7ff; // + polarity (13), trigger (15)
const LVT_ERROR_BITS = 0x000100ff;
const ICR_LO_BITS = 0x000ccfff; // vector, DM, dest mode, level, trigger, shorthand
const SVR_BITS = 0x3ff; // vector, software enable, focus-processor checking
const DCR_BITS = 0xb;

const TIMER_PERIODIC = 1;
const TIMER_TSC_DEADLINE = 2;

const enum Mode {
  Disabled = 0,
  XApic = 1,
  X2Apic = 2,
}

/** The 8259A pair as seen from LINT0 (virtual wire) in ExtINT mode. */
export interface ExtIntSource {
  /** INTR output of the master PIC. */
  readonly output: boolean;
  /** The INTA cycle: returns the vector (spurious IRQ7/15 vector when nothing is pending). */
  acknowledge(): number;
}

export interface LocalApicOptions {
  /** Initial APIC ID (also the x2APIC ID). */
  apicId: number;
  bsp: boolean;
  clock: EmuClock;
  bus: ApicBus;
  /** Timer input frequency before the divider (default 1e9). */
  busHz?: number;
  /** MAXPHYADDR for IA32_APIC_BASE reserved-bit checks (default 40). */
  physAddrBits?: number;
  /** Offer x2APIC mode (default true); when false IA32_APIC_BASE bit 10 is reserved. */
  x2apic?: boolean;
}

export class LocalApic implements LocalApicPort, ApicBusTarget {
  readonly apicId: number;
  private readonly clock: EmuClock;
  private readonly bus: ApicBus;
  private readonly busHz: number;
  private readonly physAddrBits: number;
  private x2apicSupported: boolean;
  /** The LVT timer bits a write keeps (mode bit 18, TSC-deadline, only where the CPU model offers it). */
  private lvtTimerBits = LVT_TIMER_BITS;

  /** Called whenever something arrives that may wake a halted vCPU (interrupt, NMI, INIT, SIPI). */
  wakeListener: (() => void) | undefined;
  /** The PIC pair behind LINT0 (only the BSP's is wired). */
  extIntSource: ExtIntSource | undefined;

  // IA32_APIC_BASE as two halves.
  private baseLo: number;
  private baseHi = 0;
  private mode: Mode = Mode.XApic;

  private id = 0; // xAPIC ID register (bits 31:24 hold the ID)
  private tpr = 0;
  private ldr = 0;
  private dfr = 0xffffffff;
  private svr = 0xff;
  private readonly isr = new Uint32Array(8);
  private readonly tmr = new Uint32Array(8);
  private readonly irr = new Uint32Array(8);
  private esr = 0;
  private esrPending = 0;
  private icrLo = 0;
  private icrHi = 0;
  private lvtTimer = APIC_LVT_MASKED;
  private lvtThermal = APIC_LVT_MASKED;
  private lvtPmc = APIC_LVT_MASKED;
  private lvtLint0 = APIC_LVT_MASKED;
  private bsp = false;
  private lvtLint1 = APIC_LVT_MASKED;
  private lvtError = APIC_LVT_MASKED;
  private timerInitial = 0;
  private dcr = 0;

  // Timer state: counting started at tStartNs with tStartCount ticks left in the current period.
  private timerArmed = false;
  private tStartNs = 0;
  private tStartCount = 0;
  private tickNs = 2; // ns per timer tick at the current divider
  private tscDeadlineLo = 0;
  private tscDeadlineHi = 0;
  private tscDeadlineNs = Infinity;

  private nmiPending = false;
  private initPending = false;
  private sipiVector = -1;
  private waitSipi: boolean;
  private extIntPending = false; // ExtINT message from the IOAPIC
  private lint0Level = false;
  private lint1Level = false;

  constructor(opts: LocalApicOptions) {
    if (!Number.isInteger(opts.apicId) || opts.apicId < 0 || opts.apicId >= 0xffffffff) {
      throw new RangeError(`APIC ID ${opts.apicId} is invalid (use 0..0xfffffffe)`);
    }
    this.apicId = opts.apicId;
    this.clock = opts.clock;
    this.bus = opts.bus;
    this.busHz = opts.busHz ?? 1e9;
    this.physAddrBits = opts.physAddrBits ?? 40;
    this.x2apicSupported = opts.x2apic ?? true;
    this.baseLo = (APIC_DEFAULT_BASE | APIC_BASE_EN | (opts.bsp ? APIC_BASE_BSP : 0)) >>> 0;
    this.waitSipi = !opts.bsp;
    this.bsp = opts.bsp;
    this.resetRegisters();
    opts.bus.attach(this);
  }

  /** Power-up / INIT values of the registers (SDM 10.4.7.1); the APIC base MSR is kept. */
  private resetRegisters(): void {
    this.id = ((this.apicId & 0xff) << 24) >>> 0;
    this.tpr = 0;
    this.ldr = this.mode === Mode.X2Apic ? this.x2apicLdr() : 0;
    this.dfr = 0xffffffff;
    this.svr = 0xff;
    this.isr.fill(0);
    this.tmr.fill(0);
    this.irr.fill(0);
    this.esr = 0;
    this.esrPending = 0;
    this.icrLo = 0;
    this.icrHi = 0;
    this.lvtTimer = this.lvtThermal = this.lvtPmc = APIC_LVT_MASKED;
    this.lvtLint0 = this.lvtLint1 = this.lvtError = APIC_LVT_MASKED;
    if (this.bsp) {
      // The BSP comes up in virtual-wire mode (PIC through LINT0, NMI on LINT1), as KVM's
      // in-kernel APIC and PC firmware leave it, so multiboot guests can use the 8259 directly.
      this.lvtLint0 = (APIC_DM_EXTINT << 8) >>> 0;
      this.lvtLint1 = (APIC_DM_NMI << 8) >>> 0;
    }
    this.timerInitial = 0;
    this.dcr = 0;
    this.tickNs = (2 * 1e9) / this.busHz;
    this.timerArmed = false;
    this.tscDeadlineLo = this.tscDeadlineHi = 0;
    this.tscDeadlineNs = Infinity;
    this.extIntPending = false;
  }

  private x2apicLdr(): number {
    return (((this.apicId >>> 4) << 16) | (1 << (this.apicId & 0xf))) >>> 0;
  }

  // ---- state queries ----------------------------------------------------------------

  /** Globally enabled (IA32_APIC_BASE bit 11): present on the APIC bus. */
  get onBus(): boolean {
    return this.mode !== Mode.Disabled;
  }
  get x2apicMode(): boolean {
    return this.mode === Mode.X2Apic;
  }
  /** The xAPIC MMIO page is decoded (xAPIC mode); otherwise the core should treat the page as ordinary memory/unclaimed. */
  get mmioActive(): boolean {
    return this.mode === Mode.XApic;
  }
  /** Guest-physical base of the MMIO page. */
  get mmioBase(): number {
    return ((this.baseLo & 0xfffff000) >>> 0) + this.baseHi * 0x1_0000_0000;
  }
  get softwareEnabled(): boolean {
    return (this.svr & APIC_SVR_ENABLE) !== 0;
  }
  /** The vCPU waits for a SIPI (AP after power-up or INIT). */
  get waitingForSipi(): boolean {
    return this.waitSipi;
  }

  // ---- priorities ---------------------------------------------------------------------

  private static highest(bits: Uint32Array): number {
    for (let i = 7; i >= 0; i--) {
      const w = bits[i]!;
      if (w !== 0) return i * 32 + 31 - Math.clz32(w);
    }
    return -1;
  }

  /** PPR (SDM 10.8.3.1): TPR if TPR[7:4] >= ISRV[7:4], else ISRV[7:4]:0. */
  processorPriority(): number {
    const isrv = LocalApic.highest(this.isr);
    const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
    return (this.tpr & 0xf0) >= isrClass ? this.tpr : isrClass;
  }

  /** APR (SDM 10.8.3.1 / P6 "arbitration priority"). */
  private arbitrationPriority(): number {
    const irrv = LocalApic.highest(this.irr);
    const isrv = LocalApic.highest(this.isr);
    const irrClass = irrv < 0 ? 0 : irrv >> 4;
    const isrClass = isrv < 0 ? 0 : isrv >> 4;
    const tprClass = this.tpr >> 4;
    if (tprClass >= irrClass && tprClass > isrClass) return this.tpr;
    return Math.max(tprClass & isrClass, irrClass) << 4;
  }

  // ---- the core's side --------------------------------------------------------------

  private picRequest(): boolean {
    const src = this.extIntSource;
    if (!src || !src.output) return false;
    if (this.mode === Mode.Disabled) return true; // LINT0 is the INTR pin
    return (this.lvtLint0 & APIC_LVT_MASKED) === 0 && ((this.lvtLint0 >> 8) & 7) === APIC_DM_EXTINT;
  }

  hasInterrupt(): boolean {
    if (this.extIntPending || this.picRequest()) return true;
    if (this.mode === Mode.Disabled) return false;
    const v = LocalApic.highest(this.irr);
    return v >= 0 && (v & 0xf0) > (this.processorPriority() & 0xf0);
  }

  /**
   * Whether an interrupt, NMI, INIT or SIPI may still reach this APIC's vCPU while every vCPU stands still
   * (hang detection): one pending, the APIC software-enabled (an MSI may arrive), the timer armed and
   * unmasked, the performance-counter LVT unmasked (a counter of a spinning vCPU may overflow), or LINT0
   * unmasked with a PIC that may raise INTR (`picMayRaise`). IPIs from other vCPUs are the caller's business.
   */
  mayInterrupt(picMayRaise: boolean): boolean {
    if (this.nmiPending || this.initPending || this.sipiVector >= 0 || this.extIntPending || this.hasInterrupt()) return true;
    if (this.mode === Mode.Disabled) return picMayRaise; // LINT0 is the INTR pin
    // A software-enabled APIC accepts MSIs, which any PCI device (virtio's MSI-X) may send at any time.
    if (this.softwareEnabled) return true;
    const timer = (this.lvtTimer & APIC_LVT_MASKED) === 0 && (this.timerArmed || this.tscDeadlineNs !== Infinity);
    if (timer || (this.lvtPmc & APIC_LVT_MASKED) === 0) return true;
    return (this.lvtLint0 & APIC_LVT_MASKED) === 0 && picMayRaise;
  }

  acknowledge(): number {
    if (this.extIntPending || this.picRequest()) {
      this.extIntPending = false;
      const src = this.extIntSource;
      if (src) return src.acknowledge();
    }
    if (this.mode === Mode.Disabled) return this.svr & 0xff;
    const v = LocalApic.highest(this.irr);
    if (v < 0 || (v & 0xf0) <= (this.processorPriority() & 0xf0)) return this.svr & 0xff; // spurious
    this.irr[v >> 5]! &= ~(1 << (v & 31));
    this.isr[v >> 5]! |= 1 << (v & 31);
    return v;
  }

  hasNmi(): boolean {
    return this.nmiPending;
  }

  takeNmi(): boolean {
    const n = this.nmiPending;
    this.nmiPending = false;
    return n;
  }

  takeInit(): boolean {
    const i = this.initPending;
    this.initPending = false;
    return i;
  }

  /**
   * INIT: resets the APIC at once, except its ID, arbitration ID and IA32_APIC_BASE
   * (SDM 10.4.7.3), and puts an AP into wait-for-SIPI (a SIPI may then arrive before the
   * core has taken the INIT; both are kept).
   */
  private receiveInit(): void {
    const id = this.id;
    this.resetRegisters();
    if (this.mode === Mode.XApic) this.id = id;
    this.nmiPending = false;
    this.sipiVector = -1;
    this.waitSipi = (this.baseLo & APIC_BASE_BSP) === 0;
    this.initPending = true;
    this.wakeListener?.();
  }

  takeSipi(): number {
    const v = this.sipiVector;
    this.sipiVector = -1;
    return v;
  }

  getCr8(): number {
    return this.tpr >> 4;
  }
  setCr8(value: number): void {
    this.tpr = (value & 0xf) << 4;
  }

  // ---- IA32_APIC_BASE -------------------------------------------------------------------

  getApicBase(out: MsrValue): void {
    out.lo = this.baseLo;
    out.hi = this.baseHi;
  }

  offerModel(x2apic: boolean, tscDeadline: boolean): void {
    this.x2apicSupported &&= x2apic;
    if (!tscDeadline) this.lvtTimerBits = LVT_TIMER_BITS & ~(1 << 18);
  }

  setApicBase(lo: number, hi: number): boolean {
    lo >>>= 0;
    hi >>>= 0;
    const reservedLo = 0x2ff | (this.x2apicSupported ? 0 : APIC_BASE_EXTD);
    const reservedHi = this.physAddrBits >= 64 ? 0 : ~((2 ** (this.physAddrBits - 32) - 1) >>> 0) >>> 0;
    if ((lo & reservedLo) !== 0 || (hi & reservedHi) !== 0) return false;
    const en = (lo & APIC_BASE_EN) !== 0;
    const extd = (lo & APIC_BASE_EXTD) !== 0;
    if (!en && extd) return false; // invalid state
    const next = !en ? Mode.Disabled : extd ? Mode.X2Apic : Mode.XApic;
    const prev = this.mode;
    // SDM 10.12.5: x2APIC -> xAPIC and disabled -> x2APIC are illegal transitions.
    if (prev === Mode.X2Apic && next === Mode.XApic) return false;
    if (prev === Mode.Disabled && next === Mode.X2Apic) return false;
    this.baseLo = lo;
    this.baseHi = hi;
    if (next === prev) return true;
    this.mode = next;
    if (next === Mode.Disabled) {
      // Globally disabling resets the APIC to its power-up state (ID kept).
      this.resetRegisters();
    } else if (next === Mode.X2Apic) {
      // Entering x2APIC: the ID becomes the x2APIC ID and the LDR is derived from it.
      this.ldr = this.x2apicLdr();
    }
    return true;
  }

  // ---- xAPIC MMIO ---------------------------------------------------------------------

  mmioRead(offset: number, size: number): number {
    if (this.mode !== Mode.XApic) return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    const reg = offset & 0xff0;
    const within = offset & 0xf;
    if (within + size > 4) return 0; // bytes 4..15 of each 16-byte slot are not decoded
    const v = this.readRegister(reg);
    if (v === undefined) {
      this.signalError(APIC_ESR_ILLEGAL_REGISTER);
      return 0;
    }
    const shifted = v >>> (within * 8);
    return size === 4 ? shifted >>> 0 : shifted & ((1 << (size * 8)) - 1);
  }

  mmioWrite(offset: number, size: number, value: number): void {
    if (this.mode !== Mode.XApic) return;
    // Registers are written with aligned 32-bit stores only; others are dropped.
    if (size !== 4 || (offset & 0xf) !== 0) return;
    if (!this.writeRegister(offset & 0xff0, value >>> 0, false)) this.signalError(APIC_ESR_ILLEGAL_REGISTER);
  }

  /** Register read by xAPIC offset; undefined for reserved offsets. */
  private readRegister(reg: number): number | undefined {
    switch (reg) {
      case APIC_ID:
        return this.mode === Mode.X2Apic ? this.apicId : this.id;
      case APIC_LVR:
        return APIC_VERSION_VALUE;
      case APIC_TPR:
        return this.tpr;
      case APIC_APR:
        return this.arbitrationPriority();
      case APIC_PPR:
        return this.processorPriority();
      case APIC_EOI:
        return 0;
      case APIC_RRD:
        return 0;
      case APIC_LDR:
        return this.ldr;
      case APIC_DFR:
        return this.dfr;
      case APIC_SVR:
        return this.svr;
      case APIC_ESR:
        return this.esr;
      case APIC_ICR_LO:
        return this.icrLo;
      case APIC_ICR_HI:
        return this.icrHi;
      case APIC_LVT_TIMER:
        return this.lvtTimer;
      case APIC_LVT_THERMAL:
        return this.lvtThermal;
      case APIC_LVT_PMC:
        return this.lvtPmc;
      case APIC_LVT_LINT0:
        return this.lvtLint0;
      case APIC_LVT_LINT1:
        return this.lvtLint1;
      case APIC_LVT_ERROR:
        return this.lvtError;
      case APIC_TIMER_ICR:
        return this.timerInitial;
      case APIC_TIMER_CCR:
        return this.currentCount();
      case APIC_TIMER_DCR:
        return this.dcr;
      default:
        if (reg >= APIC_ISR && reg < APIC_ISR + 0x80) return this.isr[(reg - APIC_ISR) >> 4]!;
        if (reg >= APIC_TMR && reg < APIC_TMR + 0x80) return this.tmr[(reg - APIC_TMR) >> 4]!;
        if (reg >= APIC_IRR && reg < APIC_IRR + 0x80) return this.irr[(reg - APIC_IRR) >> 4]!;
        return undefined;
    }
  }

  /**
   * Register write by xAPIC offset (shared by MMIO and MSRs; x2 selects x2APIC rules).
   * Returns false for a reserved/read-only register (MMIO: ESR illegal register; MSR: #GP).
   */
  private writeRegister(reg: number, v: number, x2: boolean): boolean {
    switch (reg) {
      case APIC_ID:
        if (x2) return false;
        this.id = (v & 0xff000000) >>> 0;
        return true;
      case APIC_TPR:
        this.tpr = v & 0xff;
        return true;
      case APIC_EOI:
        this.eoi();
        return true;
      case APIC_LDR:
        if (x2) return false;
        this.ldr = (v & 0xff000000) >>> 0;
        return true;
      case APIC_DFR:
        if (x2) return false;
        this.dfr = (v | 0x0fffffff) >>> 0;
        return true;
      case APIC_SVR:
        this.svr = v & SVR_BITS;
        if (!this.softwareEnabled) this.maskAllLvt();
        return true;
      case APIC_ESR:
        // A write latches the errors detected since the last write and clears them.
        this.esr = this.esrPending;
        this.esrPending = 0;
        return true;
      case APIC_ICR_LO:
        this.icrLo = (v & ICR_LO_BITS) >>> 0;
        this.sendIpi();
        return true;
      case APIC_ICR_HI:
        if (x2) return false;
        this.icrHi = (v & 0xff000000) >>> 0;
        return true;
      case APIC_LVT_TIMER: {
        const old = this.lvtTimer;
        this.lvtTimer = this.lvtValue(v, this.lvtTimerBits);
        if (((old >> 17) & 3) !== ((this.lvtTimer >> 17) & 3)) this.disarmTimer();
        return true;
      }
      case APIC_LVT_THERMAL:
        this.lvtThermal = this.lvtValue(v, LVT_DM_BITS);
        return true;
      case APIC_LVT_PMC:
        this.lvtPmc = this.lvtValue(v, LVT_DM_BITS);
        return true;
      case APIC_LVT_LINT0:
        this.lvtLint0 = this.lvtValue(v, LVT_LINT_BITS);
        return true;
      case APIC_LVT_LINT1:
        this.lvtLint1 = this.lvtValue(v, LVT_LINT_BITS);
        return true;
      case APIC_LVT_ERROR:
        this.lvtError = this.lvtValue(v, LVT_ERROR_BITS);
        return true;
      case APIC_TIMER_ICR:
        if (this.timerMode() === TIMER_TSC_DEADLINE) return true; // ignored in TSC-deadline mode
        this.timerInitial = v;
        if (v === 0) this.timerArmed = false;
        else this.startTimer(this.clock.nowNs(), v);
        return true;
      case APIC_TIMER_DCR:
        this.setDivider(v & DCR_BITS);
        return true;
      case APIC_SELF_IPI:
        if (!x2) return false;
        this.selfIpi(v & 0xff);
        return true;
      case APIC_LVR:
      case APIC_APR:
      case APIC_PPR:
      case APIC_RRD:
      case APIC_TIMER_CCR:
        return !x2; // read-only: ignored on MMIO, #GP on MSR
      default:
        if (reg >= APIC_ISR && reg < APIC_IRR + 0x80) return !x2;
        return false;
    }
  }

  private lvtValue(v: number, bits: number): number {
    let r = v & bits;
    if (!this.softwareEnabled) r |= APIC_LVT_MASKED; // the mask can't be cleared while software-disabled
    return r >>> 0;
  }

  private maskAllLvt(): void {
    this.lvtTimer |= APIC_LVT_MASKED;
    this.lvtThermal |= APIC_LVT_MASKED;
    this.lvtPmc |= APIC_LVT_MASKED;
    this.lvtLint0 |= APIC_LVT_MASKED;
    this.lvtLint1 |= APIC_LVT_MASKED;
    this.lvtError |= APIC_LVT_MASKED;
  }

  // ---- x2APIC MSRs ----------------------------------------------------------------------

  readMsr(index: number, out: MsrValue): boolean {
    if (this.mode !== Mode.X2Apic || index < 0x800 || index > 0x8ff) return false;
    const reg = (index - 0x800) << 4;
    out.hi = 0;
    switch (reg) {
      case APIC_APR: // not in x2APIC
      case APIC_EOI: // write-only
      case APIC_RRD:
      case APIC_DFR: // no DFR in x2APIC
      case APIC_ICR_HI: // ICR is one 64-bit MSR
      case APIC_SELF_IPI: // write-only
        return false;
      case APIC_ICR_LO:
        out.lo = this.icrLo;
        out.hi = this.icrHi;
        return true;
    }
    const v = this.readRegister(reg);
    if (v === undefined) return false;
    out.lo = v >>> 0;
    return true;
  }

  writeMsr(index: number, lo: number, hi: number): boolean {
    if (this.mode !== Mode.X2Apic || index < 0x800 || index > 0x8ff) return false;
    const reg = (index - 0x800) << 4;
    lo >>>= 0;
    hi >>>= 0;
    if (reg === APIC_ICR_LO) {
      if ((lo & ~ICR_LO_BITS) !== 0) return false;
      this.icrHi = hi;
      this.icrLo = lo;
      this.sendIpi();
      return true;
    }
    if (hi !== 0) return false; // bits 63:32 of every other x2APIC MSR are reserved
    // Reserved-bit checks (SDM 10.12.1.3): non-zero writes to reserved bits #GP.
    let bits: number;
    switch (reg) {
      case APIC_TPR:
      case APIC_SELF_IPI:
        bits = 0xff;
        break;
      case APIC_EOI:
      case APIC_ESR:
        bits = 0; // WRMSR of a non-zero value #GPs
        break;
      case APIC_SVR:
        bits = SVR_BITS;
        break;
      case APIC_LVT_TIMER:
        bits = LVT_TIMER_BITS;
        break;
      case APIC_LVT_THERMAL:
      case APIC_LVT_PMC:
        bits = LVT_DM_BITS;
        break;
      case APIC_LVT_LINT0:
      case APIC_LVT_LINT1:
        bits = LVT_LINT_BITS;
        break;
      case APIC_LVT_ERROR:
        bits = LVT_ERROR_BITS;
        break;
      case APIC_TIMER_ICR:
        bits = 0xffffffff;
        break;
      case APIC_TIMER_DCR:
        bits = DCR_BITS;
        break;
      default:
        return false; // read-only or reserved
    }
    if ((lo & ~bits) !== 0) return false;
    return this.writeRegister(reg, lo, true);
  }

  // ---- EOI, errors, acceptance ------------------------------------------------------------

  private eoi(): void {
    const v = LocalApic.highest(this.isr);
    if (v < 0) return;
    const bit = 1 << (v & 31);
    this.isr[v >> 5]! &= ~bit;
    if ((this.tmr[v >> 5]! & bit) !== 0) this.bus.broadcastEoi(v);
  }

  private signalError(bits: number): void {
    this.esrPending |= bits;
    if ((this.lvtError & APIC_LVT_MASKED) === 0) this.setIrr(this.lvtError & 0xff, false, true);
  }

  /** Logs a fixed interrupt into IRR (TMR records its trigger mode); false for an illegal vector. */
  private setIrr(vector: number, level: boolean, fromError = false): boolean {
    if (vector < 16) {
      // Illegal vector: not delivered, only the ESR bit is set (once for an error-LVT loop).
      if (!fromError) this.signalError(APIC_ESR_RECV_ILLEGAL_VECTOR);
      else this.esrPending |= APIC_ESR_RECV_ILLEGAL_VECTOR;
      return false;
    }
    const w = vector >> 5;
    const bit = 1 << (vector & 31);
    this.irr[w]! |= bit;
    if (level) this.tmr[w]! |= bit;
    else this.tmr[w]! &= ~bit;
    this.wakeListener?.();
    return true;
  }

  accept(deliveryMode: number, vector: number, levelTrigger: boolean, assert: boolean): boolean {
    switch (deliveryMode) {
      case APIC_DM_FIXED:
      case APIC_DM_LOWEST:
        if (!this.softwareEnabled) return false;
        return this.setIrr(vector & 0xff, levelTrigger);
      case APIC_DM_NMI:
        this.nmiPending = true;
        this.wakeListener?.();
        return true;
      case APIC_DM_INIT:
        if (levelTrigger && !assert) return true; // INIT level de-assert: arbitration-ID sync only
        this.receiveInit();
        return true;
      case APIC_DM_STARTUP:
        // Only a processor in wait-for-SIPI responds; later SIPIs are ignored.
        if (this.waitSipi) {
          this.waitSipi = false;
          this.sipiVector = vector & 0xff;
          this.wakeListener?.();
        }
        return true;
      case APIC_DM_EXTINT:
        this.extIntPending = true;
        this.wakeListener?.();
        return true;
      default:
        return false; // SMI and reserved modes: ignored
    }
  }

  matchesDestination(dest: number, logical: boolean, x2Format: boolean): boolean {
    const broadcast = x2Format ? dest === 0xffffffff : (dest & 0xff) === 0xff;
    if (broadcast) return true;
    if (this.mode === Mode.X2Apic) {
      if (!logical) return x2Format ? dest >>> 0 === this.apicId : (dest & 0xff) === this.apicId;
      if (!x2Format) return false;
      return dest >>> 16 === this.ldr >>> 16 && (dest & this.ldr & 0xffff) !== 0;
    }
    if (!logical) return (x2Format ? dest >>> 0 : dest & 0xff) === this.id >>> 24;
    const mda = dest & 0xff;
    const lid = this.ldr >>> 24;
    if (this.dfr >>> 28 === 0xf) return (mda & lid) !== 0; // flat model
    // Cluster model: cluster in bits 7:4 (15 = all clusters), member bitmap in 3:0.
    const cluster = mda >> 4;
    return (cluster === 0xf || cluster === lid >> 4) && (mda & lid & 0xf) !== 0;
  }

  // ---- IPIs -------------------------------------------------------------------------------

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

  private sendIpi(): void {
    const lo = this.icrLo;
    const m = this.msg;
    m.vector = lo & 0xff;
    m.deliveryMode = (lo >> 8) & 7;
    m.logical = (lo & (1 << 11)) !== 0;
    m.assert = (lo & (1 << 14)) !== 0;
    m.levelTrigger = (lo & (1 << 15)) !== 0;
    m.shorthand = (lo >> 18) & 3;
    m.x2Format = this.mode === Mode.X2Apic;
    m.dest = m.x2Format ? this.icrHi >>> 0 : this.icrHi >>> 24;
    if ((m.deliveryMode === APIC_DM_FIXED || m.deliveryMode === APIC_DM_LOWEST) && m.vector < 16) {
      this.signalError(APIC_ESR_SEND_ILLEGAL_VECTOR);
      return;
    }
    this.bus.deliver(m, this);
  }

  private selfIpi(vector: number): void {
    if (vector < 16) {
      this.signalError(APIC_ESR_SEND_ILLEGAL_VECTOR);
      return;
    }
    this.accept(APIC_DM_FIXED, vector, false, true);
  }

  // ---- local interrupt pins and PMI ------------------------------------------------------

  /** Delivers a local (LVT) interrupt per its delivery mode. */
  private deliverLvt(lvt: number): void {
    if ((lvt & APIC_LVT_MASKED) !== 0) return;
    switch ((lvt >> 8) & 7) {
      case APIC_DM_FIXED:
        this.setIrr(lvt & 0xff, false);
        return;
      case APIC_DM_NMI:
        this.nmiPending = true;
        this.wakeListener?.();
        return;
      case APIC_DM_INIT:
        this.receiveInit();
        return;
      default:
        return; // ExtINT is polled (see picRequest); SMI ignored
    }
  }

  /** LINT0 pin (the PIC's INTR). ExtINT mode is polled; fixed/NMI modes act on the rising edge. */
  setLint0(level: boolean): void {
    const rising = level && !this.lint0Level;
    this.lint0Level = level;
    if (level) this.wakeListener?.();
    if (rising && this.mode !== Mode.Disabled && ((this.lvtLint0 >> 8) & 7) !== APIC_DM_EXTINT) this.deliverLvt(this.lvtLint0);
  }

  /** LINT1 pin (the platform NMI): NMI on the rising edge; the NMI pin itself while globally disabled. */
  setLint1(level: boolean): void {
    const rising = level && !this.lint1Level;
    this.lint1Level = level;
    if (!rising) return;
    if (this.mode === Mode.Disabled) {
      this.nmiPending = true;
      this.wakeListener?.();
    } else this.deliverLvt(this.lvtLint1);
  }

  raisePmi(): void {
    if (this.mode === Mode.Disabled) return;
    if ((this.lvtPmc & APIC_LVT_MASKED) !== 0) return;
    this.deliverLvt(this.lvtPmc);
    this.lvtPmc |= APIC_LVT_MASKED; // hardware masks LVTPC after each PMI
  }

  /** Thermal-sensor interrupt through LVT thermal (for completeness; nothing raises it yet). */
  raiseThermal(): void {
    if (this.mode !== Mode.Disabled) this.deliverLvt(this.lvtThermal);
  }

  // ---- timer ------------------------------------------------------------------------------

  private timerMode(): number {
    return (this.lvtTimer >> 17) & 3;
  }

  /** DCR bits 3,1:0 -> divide by 2, 4, 8, 16, 32, 64, 128, 1. */
  static divisor(dcr: number): number {
    const v = (dcr & 3) | ((dcr >> 1) & 4);
    return v === 7 ? 1 : 2 << v;
  }

  private startTimer(now: number, count: number): void {
    this.timerArmed = true;
    this.tStartNs = now;
    this.tStartCount = count;
  }

  private disarmTimer(): void {
    this.timerArmed = false;
    this.tscDeadlineLo = this.tscDeadlineHi = 0;
    this.tscDeadlineNs = Infinity;
  }

  /** Whole ticks elapsed since tStartNs (epsilon so a deadline computed from ticks maps back to them). */
  private ticksSince(now: number): number {
    return Math.floor((now - this.tStartNs) / this.tickNs + 1e-7);
  }

  private setDivider(dcr: number): void {
    const now = this.clock.nowNs();
    const cur = this.timerArmed && this.timerMode() !== TIMER_TSC_DEADLINE ? this.countAt(now) : 0;
    this.dcr = dcr;
    this.tickNs = (LocalApic.divisor(dcr) * 1e9) / this.busHz;
    // Keep counting from the current value at the new rate.
    if (this.timerArmed && cur > 0) this.startTimer(now, cur);
  }

  private countAt(now: number): number {
    if (!this.timerArmed) return 0;
    const t = this.ticksSince(now);
    if (t < this.tStartCount) return this.tStartCount - t;
    if (this.timerMode() !== TIMER_PERIODIC) return 0;
    const n = this.timerInitial;
    return n - ((t - this.tStartCount) % n);
  }

  private currentCount(): number {
    if (this.timerMode() === TIMER_TSC_DEADLINE) return 0;
    return this.countAt(this.clock.nowNs());
  }

  getTscDeadline(out: MsrValue): void {
    if (this.timerMode() !== TIMER_TSC_DEADLINE) {
      out.lo = out.hi = 0;
      return;
    }
    out.lo = this.tscDeadlineLo;
    out.hi = this.tscDeadlineHi;
  }

  /**
   * IA32_TSC_DEADLINE write. The deadline is a value of the vCPU's TSC, which reads the clock's ticks plus
   * `tscOffset` (moved by IA32_TSC writes and by a restore from another machine's TSC): it fires when the
   * clock's ticks reach the deadline less that offset.
   */
  setTscDeadline(lo: number, hi: number, tscOffset = 0): void {
    if (this.timerMode() !== TIMER_TSC_DEADLINE) return; // writes ignored in other modes
    this.tscDeadlineLo = lo >>> 0;
    this.tscDeadlineHi = hi >>> 0;
    const tsc = this.tscDeadlineHi * 0x1_0000_0000 + this.tscDeadlineLo;
    this.tscDeadlineNs = tsc === 0 ? Infinity : ((tsc - tscOffset) * 1e9) / this.clock.tscHz;
  }

  nextDeadlineNs(): number {
    if (this.mode === Mode.Disabled) return Infinity;
    if (this.timerMode() === TIMER_TSC_DEADLINE) return this.tscDeadlineNs;
    if (!this.timerArmed) return Infinity;
    return this.tStartNs + this.tStartCount * this.tickNs;
  }

  advance(): void {
    if (this.mode === Mode.Disabled) return;
    const now = this.clock.nowNs();
    if (this.timerMode() === TIMER_TSC_DEADLINE) {
      if (now + 1e-6 >= this.tscDeadlineNs) {
        this.tscDeadlineLo = this.tscDeadlineHi = 0;
        this.tscDeadlineNs = Infinity;
        this.deliverLvt(this.lvtTimer);
      }
      return;
    }
    if (!this.timerArmed) return;
    const t = this.ticksSince(now);
    if (t < this.tStartCount) return;
    // Expired: one interrupt however many periods passed (IRR holds one).
    this.deliverLvt(this.lvtTimer);
    if (this.timerMode() === TIMER_PERIODIC && this.timerInitial > 0) {
      const n = this.timerInitial;
      const periods = Math.floor((t - this.tStartCount) / n) + 1;
      this.tStartNs += (this.tStartCount + (periods - 1) * n) * this.tickNs;
      this.tStartCount = n;
    } else {
      this.timerArmed = false;
    }
  }

  // ---- persistence (snapshots, migration) ----------------------------------------------

  readonly persistSchema = LAPIC_SCHEMA;

  /** Every register and the timer in VM time (the clock is restored with the VM, so deadlines carry over). */
  saveState(): FieldsOf<typeof LAPIC_SCHEMA.fields> {
    return {
      apicId: this.apicId, baseLo: this.baseLo >>> 0, baseHi: this.baseHi >>> 0, mode: this.mode, id: this.id >>> 0, tpr: this.tpr, ldr: this.ldr >>> 0, dfr: this.dfr >>> 0, svr: this.svr >>> 0,
      isr: bytesOf(this.isr), tmr: bytesOf(this.tmr), irr: bytesOf(this.irr), esr: this.esr >>> 0, esrPending: this.esrPending >>> 0, icrLo: this.icrLo >>> 0, icrHi: this.icrHi >>> 0,
      lvtTimer: this.lvtTimer >>> 0, lvtThermal: this.lvtThermal >>> 0, lvtPmc: this.lvtPmc >>> 0, lvtLint0: this.lvtLint0 >>> 0, lvtLint1: this.lvtLint1 >>> 0, lvtError: this.lvtError >>> 0,
      bsp: this.bsp, timerInitial: this.timerInitial >>> 0, dcr: this.dcr >>> 0, timerArmed: this.timerArmed, tStartNs: this.tStartNs, tStartCount: this.tStartCount, tickNs: this.tickNs,
      tscDeadlineLo: this.tscDeadlineLo >>> 0, tscDeadlineHi: this.tscDeadlineHi >>> 0, tscDeadlineNs: saveDeadline(this.tscDeadlineNs),
      nmiPending: this.nmiPending, initPending: this.initPending, sipiVector: this.sipiVector, waitSipi: this.waitSipi, extIntPending: this.extIntPending, lint0Level: this.lint0Level, lint1Level: this.lint1Level,
    };
  }

  restoreState(s: FieldsOf<typeof LAPIC_SCHEMA.fields>): void {
    if (s.apicId !== this.apicId) throw new PersistError('persist-invalid', 'lapic.apicId', `the saved local APIC has ID ${s.apicId}, this one ${this.apicId} (vCPUs in another order?)`);
    this.baseLo = s.baseLo; this.baseHi = s.baseHi; this.mode = s.mode as Mode; this.id = s.id; this.tpr = s.tpr; this.ldr = s.ldr; this.dfr = s.dfr; this.svr = s.svr;
    loadBytes(this.isr, s.isr, 'lapic.isr'); loadBytes(this.tmr, s.tmr, 'lapic.tmr'); loadBytes(this.irr, s.irr, 'lapic.irr');
    this.esr = s.esr; this.esrPending = s.esrPending; this.icrLo = s.icrLo; this.icrHi = s.icrHi;
    this.lvtTimer = s.lvtTimer; this.lvtThermal = s.lvtThermal; this.lvtPmc = s.lvtPmc; this.lvtLint0 = s.lvtLint0; this.lvtLint1 = s.lvtLint1; this.lvtError = s.lvtError;
    this.bsp = s.bsp; this.timerInitial = s.timerInitial; this.dcr = s.dcr; this.timerArmed = s.timerArmed; this.tStartNs = s.tStartNs; this.tStartCount = s.tStartCount; this.tickNs = s.tickNs;
    this.tscDeadlineLo = s.tscDeadlineLo; this.tscDeadlineHi = s.tscDeadlineHi; this.tscDeadlineNs = loadDeadline(s.tscDeadlineNs);
    this.nmiPending = s.nmiPending; this.initPending = s.initPending; this.sipiVector = s.sipiVector; this.waitSipi = s.waitSipi; this.extIntPending = s.extIntPending; this.lint0Level = s.lint0Level; this.lint1Level = s.lint1Level;
  }
}

const u32 = field.u32();
export const LAPIC_SCHEMA = {
  kind: 'emu-local-apic',
  version: 1,
  fields: {
    apicId: u32, baseLo: u32, baseHi: u32, mode: field.int(0, 2), id: u32, tpr: u32, ldr: u32, dfr: u32, svr: u32,
    isr: field.bytes(32), tmr: field.bytes(32), irr: field.bytes(32), esr: u32, esrPending: u32, icrLo: u32, icrHi: u32,
    lvtTimer: u32, lvtThermal: u32, lvtPmc: u32, lvtLint0: u32, lvtLint1: u32, lvtError: u32,
    bsp: field.bool(), timerInitial: u32, dcr: u32, timerArmed: field.bool(), tStartNs: field.number(), tStartCount: field.number(), tickNs: field.number(),
    tscDeadlineLo: u32, tscDeadlineHi: u32, tscDeadlineNs: field.number(),
    nmiPending: field.bool(), initPending: field.bool(), sipiVector: field.int(-1, 255), waitSipi: field.bool(), extIntPending: field.bool(), lint0Level: field.bool(), lint1Level: field.bool(),
  },
} as const;
