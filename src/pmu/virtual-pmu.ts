/**
 * One vCPU's architectural PMU (Intel SDM vol. 3B "Performance Monitoring", versions 1-5):
 * the guest-visible MSRs and RDPMC with their #GP rules, plus the counting interface the emulator
 * core drives. Pure TypeScript, no node:* imports, no allocation on the MSR, RDPMC or counting
 * paths. Counter values are exact integers held in doubles (width <= 48 bits).
 *
 * Cycle model (see README.md "Counting model"): the core reports runs of unhalted core cycles,
 * each of one CycleKind: PLAIN (retires one non-branch instruction), BRANCH (retires one branch
 * instruction) or STALL (retires nothing). Instructions = PLAIN + BRANCH, branches = BRANCH, core
 * cycles = all three. Reference cycles count at the TSC's rate, not the core's: the PMU reads the
 * reference clock (`refClock`) while the vCPU runs and counts its ticks as REF_TICK cycles.
 */
import type { PmuConfig } from './pmu-config.js';
import { anyThreadAllowed } from './pmu-config.js';
import { ArchEvent, archEventOf, FIXED_COUNTER_EVENTS } from './arch-events.js';
import type { PmuEventFilter } from './event-filter.js';
import { pmuFilterAllowsFixed, pmuFilterAllowsGp } from './event-filter.js';
import {
  EVTSEL_ANY,
  EVTSEL_CMASK_SHIFT,
  EVTSEL_EDGE,
  EVTSEL_EN,
  EVTSEL_EVENT_MASK,
  EVTSEL_INT,
  EVTSEL_INV,
  EVTSEL_OS,
  EVTSEL_UMASK_SHIFT,
  EVTSEL_USR,
  FIXED_CTRL_ANY,
  FIXED_CTRL_OS,
  FIXED_CTRL_PMI,
  FIXED_CTRL_USR,
  INUSE_HI_PMI,
  MAX_GP_COUNTERS,
  MAX_FIXED_COUNTERS,
  ARCH_FIXED_COUNTER_SLOTS,
  MSR_IA32_A_PMC0,
  MSR_IA32_FIXED_CTR0,
  MSR_IA32_FIXED_CTR_CTRL,
  MSR_IA32_PERFEVTSEL0,
  MSR_IA32_PERF_CAPABILITIES,
  MSR_IA32_PERF_GLOBAL_CTRL,
  MSR_IA32_PERF_GLOBAL_INUSE,
  MSR_IA32_PERF_GLOBAL_OVF_CTRL,
  MSR_IA32_PERF_GLOBAL_STATUS,
  MSR_IA32_PERF_GLOBAL_STATUS_SET,
  MSR_IA32_PMC0,
  PERF_CAP_FW_WRITE,
  RDPMC_FAST,
  STATUS_HI_COND_CHGD,
  STATUS_HI_CTR_FRZ,
  STATUS_HI_LBR_FRZ,
  STATUS_HI_OVF_BUF,
  STATUS_HI_OVF_UNCORE,
} from './pmu-msr.js';

/** 64-bit MSR/RDPMC result as two unsigned 32-bit halves (same shape as the emulator's MsrValue). */
export interface MsrOut {
  lo: number;
  hi: number;
}

/** What one unhalted core cycle did, in the PMU's cycle model. */
export const CycleKind = {
  /** Retired one instruction that is not a branch. */
  PLAIN: 0,
  /** Retired one branch instruction (counts for Branch Instruction Retired, 0xC4/00). */
  BRANCH: 1,
  /** Retired nothing (cycles the core charges beyond one per instruction). */
  STALL: 2,
  /** One tick of the reference clock (the TSC) while the vCPU runs unhalted: counts only for Reference Cycles. */
  REF_TICK: 3,
} as const;
export type CycleKind = (typeof CycleKind)[keyof typeof CycleKind];

/** "No counter can overflow": returned by the *UntilOverflow queries. */
export const NO_OVERFLOW_LIMIT = Number.MAX_SAFE_INTEGER;

const KINDS = 4;
const RINGS = 2;
/** Counter slots: general-purpose 0-7, fixed 8-10. */
const FIXED_SLOT = MAX_GP_COUNTERS;
const SLOTS = MAX_GP_COUNTERS + MAX_FIXED_COUNTERS;
const TWO_32 = 0x1_0000_0000;

/** Per-cycle increment of each architectural event for each CycleKind (index event * 3 + kind). */
const INCREMENT: readonly number[] = (() => {
  const t = new Array<number>(4 * KINDS).fill(0);
  const set = (e: ArchEvent, plain: number, branch: number, stall: number, refTick: number): void => {
    t[e * KINDS + CycleKind.PLAIN] = plain;
    t[e * KINDS + CycleKind.BRANCH] = branch;
    t[e * KINDS + CycleKind.STALL] = stall;
    t[e * KINDS + CycleKind.REF_TICK] = refTick;
  };
  set(ArchEvent.INSTRUCTIONS, 1, 1, 0, 0);
  set(ArchEvent.BRANCHES, 0, 1, 0, 0);
  set(ArchEvent.CORE_CYCLES, 1, 1, 1, 0);
  set(ArchEvent.REF_CYCLES, 0, 0, 0, 1);
  return t;
})();

/** Saved PMU state (versioned, named fields; 64-bit values as decimal strings). */
export interface PmuState {
  readonly format: 'tsvmm-pmu-state';
  readonly version: 1;
  readonly gpCounters: string[];
  readonly eventSelects: number[];
  readonly fixedCounters: string[];
  readonly fixedCtrCtrl: number;
  readonly globalCtrl: string;
  readonly globalStatus: string;
}

export interface VirtualPmuOptions {
  /** Called when a counter with INT (or its fixed PMI bit) overflows; wire to LocalApicPort.raisePmi(). */
  onPmi?: () => void;
  filter?: PmuEventFilter | null;
  /**
   * The reference clock in ticks (the TSC's rate, not moved by guest TSC writes), read while the vCPU
   * runs (between runStart() and runEnd()). Without it Reference Cycles count nothing.
   */
  refClock?: () => number;
}

export class VirtualPmu {
  readonly config: PmuConfig;
  /**
   * True when at least one counter can count in some ring. The core tests this once per block:
   * while false it never calls count() and pays nothing per instruction.
   */
  active = false;
  /**
   * Counting is order-free (no EDGE counter enabled): countBlock(a, b) then countBlock(c, d) at one
   * CPL equals countBlock(a + c, b + d), so the emulator may merge blocks below the overflow bound.
   */
  get orderFree(): boolean {
    return this.edgeLen === 0;
  }
  /** Bit 0: something counts at CPL 0; bit 1: at CPL > 0. */
  activeRings = 0;

  private onPmi: () => void;
  private filter: PmuEventFilter | null;
  private readonly refClock: (() => number) | null;
  /** Reference-clock reading up to which ticks are counted; -1 while the vCPU is not running. */
  private refMark = -1;
  /** The vCPU was halted at the last runEnd(). */
  private refHalted = false;
  /** CPL of the last counted cycles: ticks since the last reading are charged to it. */
  private refCpl = 0;
  /** Some counter counts REF_TICK cycles. */
  private refCounting = false;

  // Guest-visible state.
  private readonly ctr = new Float64Array(SLOTS);
  private readonly evtsel = new Uint32Array(MAX_GP_COUNTERS);
  private fixedCtrl = 0;
  private globalCtrlLo = 0;
  private globalCtrlHi = 0;
  private statusLo = 0;
  private statusHi = 0;

  // Derived from the configuration.
  private readonly span: number;
  private readonly hiLimit: number;
  private readonly gpMask: number;
  private readonly fixedMask: number;
  private readonly evtselReservedLo: number;
  private readonly fixedCtrlValid: number;
  private readonly statusDefinedHi: number;
  private readonly clearableHi: number;
  private readonly settableHi: number;

  // Derived from the control MSRs and the filter (rebuilt by recompute()).
  /** Non-edge counters incrementing by one per cycle of (kind, ring): runList[(kind*2+ring)*SLOTS + k]. */
  private readonly runList = new Uint8Array(KINDS * RINGS * SLOTS);
  private readonly runLen = new Uint8Array(KINDS * RINGS);
  /** Enabled EDGE counters and their per-(kind, ring) asserted condition. */
  private readonly edgeList = new Uint8Array(SLOTS);
  private edgeLen = 0;
  private readonly edgeCond = new Uint8Array(SLOTS * KINDS * RINGS);
  private readonly edgePrev = new Uint8Array(SLOTS);
  private readonly pmiOnOverflow = new Uint8Array(SLOTS);
  /** Cycles reported but not yet applied to the counters, per (kind, ring). */
  private readonly acc = new Float64Array(KINDS * RINGS);
  private budget0 = NO_OVERFLOW_LIMIT;
  private budget1 = NO_OVERFLOW_LIMIT;
  /** Some counter counts at CPL 0 and at CPL > 0 (or is an EDGE counter): cycles in either ring charge both budgets. */
  private sharedBudget = false;

  constructor(config: PmuConfig, options: VirtualPmuOptions = {}) {
    this.config = config;
    this.onPmi = options.onPmi ?? (() => {});
    this.filter = options.filter ?? null;
    this.refClock = options.refClock ?? null;
    const v = config.version;
    const w = v === 0 ? 32 : config.counterWidth;
    this.span = 2 ** w;
    this.hiLimit = 2 ** (w - 32);
    this.gpMask = v === 0 ? 0 : (2 ** config.gpCounters - 1) >>> 0;
    this.fixedMask = v >= 2 ? (1 << config.fixedCounters) - 1 : 0;
    const any = anyThreadAllowed(config);
    this.evtselReservedLo = any ? 0 : EVTSEL_ANY;
    let fc = 0;
    for (let i = 0; i < (v >= 2 ? config.fixedCounters : 0); i++) {
      fc |= (FIXED_CTRL_OS | FIXED_CTRL_USR | FIXED_CTRL_PMI | (any ? FIXED_CTRL_ANY : 0)) << (4 * i);
    }
    this.fixedCtrlValid = fc >>> 0;
    // Status bits that exist per version (SDM MSR table: OvfBuf/CondChgd v1+, Ovf_Uncore v3+,
    // LBR_Frz/CTR_Frz v4+; Trace_ToPA_PMI and ASCI need PT/SGX, which tsvmm does not offer).
    let defined = this.fixedMask | STATUS_HI_OVF_BUF | STATUS_HI_COND_CHGD;
    if (v >= 3) defined |= STATUS_HI_OVF_UNCORE;
    if (v >= 4) defined |= STATUS_HI_LBR_FRZ | STATUS_HI_CTR_FRZ;
    this.statusDefinedHi = defined >>> 0;
    this.clearableHi = this.statusDefinedHi;
    // STATUS_SET has no CondChgd bit.
    this.settableHi = (this.statusDefinedHi & ~STATUS_HI_COND_CHGD) >>> 0;
    this.reset();
  }

  /** Power-up / RESET state: counters, selects, status zero; GLOBAL_CTRL enables every GP counter (so v1-style software counts). INIT leaves the PMU alone. */
  reset(): void {
    this.acc.fill(0);
    this.ctr.fill(0);
    this.evtsel.fill(0);
    this.edgePrev.fill(0);
    this.fixedCtrl = 0;
    this.globalCtrlLo = this.config.version >= 2 ? this.gpMask : 0;
    this.globalCtrlHi = 0;
    this.statusLo = 0;
    this.statusHi = 0;
    this.recompute();
  }

  setPmiHandler(fn: () => void): void {
    this.onPmi = fn;
  }

  /** Installs (or with null removes) the event filter; takes effect for the next counted cycle. */
  setFilter(filter: PmuEventFilter | null): void {
    this.filter = filter;
    this.recompute();
  }

  // ---------------------------------------------------------------- MSRs

  /** True for every architectural PMU MSR index, whatever the configuration: route those here (readMsr/writeMsr decide on #GP). */
  isPmuMsr(index: number): boolean {
    return (
      (index >= MSR_IA32_PMC0 && index < MSR_IA32_PMC0 + MAX_GP_COUNTERS) ||
      (index >= MSR_IA32_A_PMC0 && index < MSR_IA32_A_PMC0 + MAX_GP_COUNTERS) ||
      (index >= MSR_IA32_PERFEVTSEL0 && index < MSR_IA32_PERFEVTSEL0 + MAX_GP_COUNTERS) ||
      (index >= MSR_IA32_FIXED_CTR0 && index < MSR_IA32_FIXED_CTR0 + ARCH_FIXED_COUNTER_SLOTS) ||
      index === MSR_IA32_PERF_CAPABILITIES ||
      (index >= MSR_IA32_FIXED_CTR_CTRL && index <= MSR_IA32_PERF_GLOBAL_INUSE)
    );
  }

  /** RDMSR. Returns false for #GP(0) (MSR absent in this configuration). */
  readMsr(index: number, out: MsrOut): boolean {
    const c = this.config;
    const v = c.version;
    if (v === 0) return false;
    let i = index - MSR_IA32_PMC0;
    if (i >= 0 && i < c.gpCounters) return this.readCounter(i, out);
    i = index - MSR_IA32_A_PMC0;
    if (i >= 0 && i < c.gpCounters) return c.fullWidthWrites && this.readCounter(i, out);
    i = index - MSR_IA32_PERFEVTSEL0;
    if (i >= 0 && i < c.gpCounters) {
      out.lo = this.evtsel[i]!;
      out.hi = 0;
      return true;
    }
    if (index === MSR_IA32_PERF_CAPABILITIES) {
      out.lo = c.fullWidthWrites ? PERF_CAP_FW_WRITE : 0;
      out.hi = 0;
      return true;
    }
    if (v < 2) return false;
    i = index - MSR_IA32_FIXED_CTR0;
    if (i >= 0 && i < c.fixedCounters) return this.readCounter(FIXED_SLOT + i, out);
    switch (index) {
      case MSR_IA32_FIXED_CTR_CTRL:
        out.lo = this.fixedCtrl;
        out.hi = 0;
        return true;
      case MSR_IA32_PERF_GLOBAL_STATUS:
        out.lo = this.statusLo;
        out.hi = this.statusHi;
        return true;
      case MSR_IA32_PERF_GLOBAL_CTRL:
        out.lo = this.globalCtrlLo;
        out.hi = this.globalCtrlHi;
        return true;
      case MSR_IA32_PERF_GLOBAL_OVF_CTRL: // write-1-to-clear: reads as 0
        out.lo = 0;
        out.hi = 0;
        return true;
    }
    if (v < 4) return false;
    if (index === MSR_IA32_PERF_GLOBAL_STATUS_SET) {
      out.lo = 0;
      out.hi = 0;
      return true;
    }
    if (index === MSR_IA32_PERF_GLOBAL_INUSE) {
      this.readInUse(out);
      return true;
    }
    return false;
  }

  /** WRMSR with EDX:EAX = hi:lo. Returns false for #GP(0): absent MSR, reserved bit set, or read-only MSR. */
  writeMsr(index: number, lo: number, hi: number): boolean {
    const c = this.config;
    const v = c.version;
    if (v === 0) return false;
    lo >>>= 0;
    hi >>>= 0;
    let i = index - MSR_IA32_PMC0;
    if (i >= 0 && i < c.gpCounters) {
      // Legacy alias: the counter gets EAX sign-extended from bit 31 to the counter width; EDX is ignored.
      this.flush();
      this.ctr[i] = lo >= 0x8000_0000 ? this.span - TWO_32 + lo : lo;
      this.updateBudget();
      return true;
    }
    i = index - MSR_IA32_A_PMC0;
    if (i >= 0 && i < c.gpCounters) return c.fullWidthWrites && this.writeFullWidth(i, lo, hi);
    i = index - MSR_IA32_PERFEVTSEL0;
    if (i >= 0 && i < c.gpCounters) {
      if (hi !== 0 || (lo & this.evtselReservedLo) !== 0) return false;
      this.evtsel[i] = lo;
      this.edgePrev[i] = 0;
      this.recompute();
      return true;
    }
    if (index === MSR_IA32_PERF_CAPABILITIES) return false; // read-only to the guest
    if (v < 2) return false;
    i = index - MSR_IA32_FIXED_CTR0;
    if (i >= 0 && i < c.fixedCounters) return this.writeFullWidth(FIXED_SLOT + i, lo, hi);
    switch (index) {
      case MSR_IA32_FIXED_CTR_CTRL:
        if (hi !== 0 || (lo & ~this.fixedCtrlValid) !== 0) return false;
        this.fixedCtrl = lo;
        this.recompute();
        return true;
      case MSR_IA32_PERF_GLOBAL_STATUS:
        return false; // read-only
      case MSR_IA32_PERF_GLOBAL_CTRL:
        if ((lo & ~this.gpMask) !== 0 || (hi & ~this.fixedMask) !== 0) return false;
        this.globalCtrlLo = lo;
        this.globalCtrlHi = hi;
        this.recompute();
        return true;
      case MSR_IA32_PERF_GLOBAL_OVF_CTRL: // GLOBAL_STATUS_RESET from version 4: same address, more bits
        if ((lo & ~this.gpMask) !== 0 || (hi & ~this.clearableHi) !== 0) return false;
        this.statusLo = (this.statusLo & ~lo) >>> 0;
        this.statusHi = (this.statusHi & ~hi) >>> 0;
        this.recompute(); // CTR_Frz may have cleared
        return true;
    }
    if (v < 4) return false;
    if (index === MSR_IA32_PERF_GLOBAL_STATUS_SET) {
      // Sets status bits without a PMI (the VMM-virtualisation interface of version 4).
      if ((lo & ~this.gpMask) !== 0 || (hi & ~this.settableHi) !== 0) return false;
      this.statusLo = (this.statusLo | lo) >>> 0;
      this.statusHi = (this.statusHi | hi) >>> 0;
      this.recompute(); // CTR_Frz may have been set
      return true;
    }
    if (index === MSR_IA32_PERF_GLOBAL_INUSE) return false; // read-only
    return false;
  }

  /**
   * RDPMC. ECX[31:16] is the counter type (0 general-purpose, 4000H fixed) and ECX[15:0] the index;
   * with config.rdpmcFastRead, ECX[31] asks for a 32-bit read (EAX = bits 31:0, EDX = 0).
   * Returns false for #GP(0): no PMU, unknown type or index, or CPL > 0 with CR4.PCE = 0 (real mode
   * is CPL 0 for this purpose).
   */
  rdpmc(ecx: number, cpl: number, cr4Pce: boolean, out: MsrOut): boolean {
    const c = this.config;
    if (c.version === 0) return false;
    if (cpl !== 0 && !cr4Pce) return false;
    ecx >>>= 0;
    let fast = false;
    if (c.rdpmcFastRead && ecx >= RDPMC_FAST) {
      fast = true;
      ecx -= RDPMC_FAST;
    }
    const type = ecx >>> 16;
    const index = ecx & 0xffff;
    let slot: number;
    if (type === 0 && index < c.gpCounters) slot = index;
    else if (type === 0x4000 && c.version >= 2 && index < c.fixedCounters) slot = FIXED_SLOT + index;
    else return false;
    this.readCounter(slot, out);
    if (fast) out.hi = 0;
    return true;
  }

  // ---------------------------------------------------------------- counting

  /**
   * Accounts `n` consecutive unhalted cycles of one kind at privilege level `cpl` (0-3), in program
   * order. Counting is lazy: the cycles go to a per-(kind, ring) accumulator and reach the counters
   * when a counter could overflow (the budget runs out), when the guest reads a counter, or before
   * any control change, so values, GLOBAL_STATUS and PMIs are exactly as if counted eagerly. A
   * counter that overflows wraps, sets its GLOBAL_STATUS bit and, with INT / the fixed PMI bit,
   * onPmi() is called (once per call). No allocation.
   */
  count(kind: CycleKind, n: number, cpl: number): void {
    if (!this.active || n <= 0) return;
    if (cpl !== this.refCpl) this.cplChanged(cpl);
    const ring = cpl === 0 ? 0 : 1;
    const li = kind * RINGS + ring;
    this.acc[li] = this.acc[li]! + n;
    if (this.edgeLen !== 0) {
      // Edge counters depend on the order of cycles: count eagerly while any is enabled.
      let pmi = this.applyPending();
      pmi = this.countEdges(kind, ring) || pmi;
      this.updateBudget();
      if (pmi) this.onPmi();
      return;
    }
    if (this.spend(ring, n)) this.flush();
  }

  /**
   * A basic block in one call: `plain` non-branch instructions followed by `branches` branch
   * instructions (normally 0 or 1, the block's last instruction), one cycle each, at `cpl`.
   * Same as count(PLAIN, plain, cpl) then count(BRANCH, branches, cpl).
   */
  countBlock(plain: number, branches: number, cpl: number): void {
    if (!this.active) return;
    if (cpl !== this.refCpl) this.cplChanged(cpl);
    if (this.edgeLen !== 0) {
      if (plain > 0) this.count(CycleKind.PLAIN, plain, cpl);
      if (branches > 0) this.count(CycleKind.BRANCH, branches, cpl);
      return;
    }
    const ring = cpl === 0 ? 0 : 1;
    const acc = this.acc;
    acc[ring] = acc[ring]! + plain; // CycleKind.PLAIN * RINGS + ring
    acc[RINGS + ring] = acc[RINGS + ring]! + branches; // CycleKind.BRANCH * RINGS + ring
    if (this.spend(ring, plain + branches)) this.flush();
  }

  /**
   * A lower bound on how many instructions (PLAIN or BRANCH cycles, in any mix; STALL cycles
   * count against it too) can retire at `cpl` before a counter overflows; the overflow can happen
   * on the last of them at the earliest. The core runs at most this many instructions, counts
   * them, and asks again, so a PMI is raised right after the instruction whose retirement
   * overflowed the counter. Always >= 1; NO_OVERFLOW_LIMIT when nothing counts at that CPL.
   * O(1): it is the counting budget (every cycle adds at most 1 to any counter).
   */
  instructionsUntilOverflow(cpl: number): number {
    if (!this.active || ((this.activeRings >>> (cpl === 0 ? 0 : 1)) & 1) === 0) return NO_OVERFLOW_LIMIT;
    if (this.sharedBudget) return this.budget0 < this.budget1 ? this.budget0 : this.budget1;
    return cpl === 0 ? this.budget0 : this.budget1;
  }

  /**
   * Exactly how many cycles of `kind` at `cpl` can be counted before the first counter overflows:
   * the overflow happens on the cycle with this number. NO_OVERFLOW_LIMIT when none can.
   */
  eventsUntilOverflow(kind: CycleKind, cpl: number): number {
    if (!this.active) return NO_OVERFLOW_LIMIT;
    this.flush();
    const ring = cpl === 0 ? 0 : 1;
    const li = kind * RINGS + ring;
    let best = NO_OVERFLOW_LIMIT;
    const len = this.runLen[li]!;
    for (let k = 0; k < len; k++) {
      const r = this.span - this.ctr[this.runList[li * SLOTS + k]!]!;
      if (r < best) best = r;
    }
    for (let k = 0; k < this.edgeLen; k++) {
      const slot = this.edgeList[k]!;
      // A run of one kind asserts its condition at most once, on its first cycle.
      if (this.span - this.ctr[slot]! === 1 && this.edgePrev[slot] === 0 && this.edgeCond[slot * KINDS * RINGS + li] === 1) best = 1;
    }
    return best;
  }

  // ---------------------------------------------------------------- the reference clock

  /** The reference-tick bookkeeping between runs: a snapshot of a deterministic run carries it, so ticks go on exactly. */
  refState(): { mark: number; halted: boolean; cpl: number } {
    return { mark: this.refMark, halted: this.refHalted, cpl: this.refCpl };
  }

  setRefState(s: { readonly mark: number; readonly halted: boolean; readonly cpl: number }): void {
    this.refMark = s.mark;
    this.refHalted = s.halted;
    this.refCpl = s.cpl;
  }

  /**
   * The run loop hands the vCPU the host CPU. Reference ticks count from the last runEnd() unless the
   * vCPU was halted then (or this is the first run): the time between runs, while another vCPU or the
   * host's event loop had the thread, is time this vCPU was unhalted, as on hardware where every vCPU
   * runs at once.
   */
  runStart(): void {
    if (this.refClock === null) return;
    if (this.refMark < 0 || this.refHalted) this.refMark = this.refClock();
  }

  /**
   * The run loop takes the thread back. `halted`: the vCPU is halted now (HLT, wait-for-SIPI), so
   * ticks stop until the next runStart(); `ran`: it executed something in this run (a vCPU that stayed
   * halted counts nothing for it). Ticks go to the CPL the run ended at.
   */
  runEnd(cpl: number, halted: boolean, ran: boolean): void {
    if (this.refMark < 0) return;
    if (ran || !this.refHalted) this.syncRef(cpl);
    else if (this.refClock !== null) this.refMark = this.refClock();
    this.refHalted = halted;
  }

  /** Counts the reference ticks since the last reading at `cpl` (the CPL they ran at). */
  private syncRef(cpl: number): void {
    if (this.refMark < 0 || this.refClock === null) return;
    const t = this.refClock();
    const n = t - this.refMark;
    this.refMark = t;
    if (n <= 0 || !this.refCounting || !this.active) return;
    const ring = cpl === 0 ? 0 : 1;
    const li = CycleKind.REF_TICK * RINGS + ring;
    this.acc[li] = this.acc[li]! + n;
    this.flush();
  }

  /** The first cycles at a new CPL: the ticks so far ran at the old one. */
  private cplChanged(cpl: number): void {
    if (this.refMark >= 0) this.syncRef(this.refCpl);
    this.refCpl = cpl;
  }

  // ---------------------------------------------------------------- host-side views

  /** Current value of GP counter i (exact integer). */
  gpCounterValue(i: number): number {
    this.flush();
    return this.ctr[i] ?? 0;
  }
  fixedCounterValue(i: number): number {
    this.flush();
    return this.ctr[FIXED_SLOT + i] ?? 0;
  }

  saveState(): PmuState {
    this.flush();
    const u64 = (lo: number, hi: number): string => (BigInt(hi >>> 0) * 0x1_0000_0000n + BigInt(lo >>> 0)).toString();
    return {
      format: 'tsvmm-pmu-state',
      version: 1,
      gpCounters: Array.from(this.ctr.subarray(0, this.config.gpCounters), (v) => v.toString()),
      eventSelects: Array.from(this.evtsel.subarray(0, this.config.gpCounters)),
      fixedCounters: Array.from(this.ctr.subarray(FIXED_SLOT, FIXED_SLOT + this.config.fixedCounters), (v) => v.toString()),
      fixedCtrCtrl: this.fixedCtrl,
      globalCtrl: u64(this.globalCtrlLo, this.globalCtrlHi),
      globalStatus: u64(this.statusLo, this.statusHi),
    };
  }

  /** Restores saveState() output taken with the same configuration. Throws RangeError on a mismatch. */
  restoreState(s: PmuState): void {
    if (s.format !== 'tsvmm-pmu-state' || s.version !== 1) throw new RangeError(`unsupported PMU state ${s.format} v${s.version}`);
    if (s.gpCounters.length !== this.config.gpCounters || s.fixedCounters.length !== this.config.fixedCounters) {
      throw new RangeError(`PMU state has ${s.gpCounters.length} GP / ${s.fixedCounters.length} fixed counters, this PMU ${this.config.gpCounters} / ${this.config.fixedCounters}`);
    }
    const num = (t: string): number => {
      const v = Number(t);
      if (!Number.isInteger(v) || v < 0 || v >= this.span) throw new RangeError(`PMU state counter value ${t} out of range`);
      return v;
    };
    this.acc.fill(0);
    s.gpCounters.forEach((t, i) => (this.ctr[i] = num(t)));
    s.fixedCounters.forEach((t, i) => (this.ctr[FIXED_SLOT + i] = num(t)));
    s.eventSelects.forEach((v, i) => (this.evtsel[i] = v >>> 0));
    this.fixedCtrl = s.fixedCtrCtrl >>> 0;
    const split = (t: string): [number, number] => {
      const b = BigInt(t);
      return [Number(b & 0xffff_ffffn), Number((b >> 32n) & 0xffff_ffffn)];
    };
    [this.globalCtrlLo, this.globalCtrlHi] = split(s.globalCtrl);
    [this.statusLo, this.statusHi] = split(s.globalStatus);
    this.edgePrev.fill(0);
    this.recompute();
  }

  // ---------------------------------------------------------------- internals

  /**
   * Charges n cycles at `ring` against the budgets; true when one ran out (flush needed). A counter
   * that counts in both rings is bounded by both budgets, so then every cycle charges both.
   */
  private spend(ring: number, n: number): boolean {
    if (ring === 0) {
      this.budget0 -= n;
      if (this.sharedBudget) this.budget1 -= n;
    } else {
      this.budget1 -= n;
      if (this.sharedBudget) this.budget0 -= n;
    }
    return this.budget0 <= 0 || this.budget1 <= 0;
  }

  /** Applies the accumulated cycles to the counters, recomputes the budget, raises a PMI if due. */
  private flush(): void {
    const pmi = this.applyPending();
    this.updateBudget();
    if (pmi) this.onPmi();
  }

  /** Applies the accumulated cycles to the counters; true when an overflowing counter wants a PMI. */
  private applyPending(): boolean {
    const acc = this.acc;
    const ctr = this.ctr;
    const span = this.span;
    let pmi = false;
    for (let li = 0; li < KINDS * RINGS; li++) {
      const n = acc[li]!;
      if (n === 0) continue;
      acc[li] = 0;
      const len = this.runLen[li]!;
      const base = li * SLOTS;
      for (let k = 0; k < len; k++) {
        const slot = this.runList[base + k]!;
        const v = ctr[slot]! + n;
        if (v >= span) pmi = this.overflow(slot, v) || pmi;
        else ctr[slot] = v;
      }
    }
    return pmi;
  }

  /** One run of cycles for the EDGE counters: at most one rising edge per run. */
  private countEdges(kind: number, ring: number): boolean {
    const ctr = this.ctr;
    const ci = kind * RINGS + ring;
    let pmi = false;
    for (let k = 0; k < this.edgeLen; k++) {
      const slot = this.edgeList[k]!;
      if (this.edgeCond[slot * KINDS * RINGS + ci] === 1) {
        if (this.edgePrev[slot] === 0) {
          this.edgePrev[slot] = 1;
          const v = ctr[slot]! + 1;
          if (v >= this.span) pmi = this.overflow(slot, v) || pmi;
          else ctr[slot] = v;
        }
      } else this.edgePrev[slot] = 0;
    }
    return pmi;
  }

  /**
   * budget0/budget1: cycles at CPL 0 / CPL > 0 that can be accumulated before some counter
   * counting in that ring could reach overflow (each cycle adds at most 1 to any counter).
   */
  private updateBudget(): void {
    let b0 = NO_OVERFLOW_LIMIT;
    let b1 = NO_OVERFLOW_LIMIT;
    // REF_TICK cycles are counted at once when read (syncRef), never accumulated: they bound nothing.
    for (let li = 0; li < CycleKind.REF_TICK * RINGS; li++) {
      const len = this.runLen[li]!;
      for (let k = 0; k < len; k++) {
        const r = this.span - this.ctr[this.runList[li * SLOTS + k]!]!;
        if ((li & 1) === 0) {
          if (r < b0) b0 = r;
        } else if (r < b1) b1 = r;
      }
    }
    for (let k = 0; k < this.edgeLen; k++) {
      const r = this.span - this.ctr[this.edgeList[k]!]!;
      if (r < b0) b0 = r;
      if (r < b1) b1 = r;
    }
    this.budget0 = b0;
    this.budget1 = b1;
  }

  private readCounter(slot: number, out: MsrOut): boolean {
    this.syncRef(this.refCpl);
    this.flush();
    const v = this.ctr[slot]!;
    const hi = Math.floor(v / TWO_32);
    out.hi = hi;
    out.lo = v - hi * TWO_32;
    return true;
  }

  /** Full-width write (IA32_A_PMCx, IA32_FIXED_CTRx): bits at or above the counter width are reserved. */
  private writeFullWidth(slot: number, lo: number, hi: number): boolean {
    if (hi >= this.hiLimit) return false;
    this.flush();
    this.ctr[slot] = hi * TWO_32 + lo;
    this.updateBudget();
    return true;
  }

  private overflow(slot: number, v: number): boolean {
    this.ctr[slot] = v % this.span;
    if (slot < FIXED_SLOT) this.statusLo = (this.statusLo | (1 << slot)) >>> 0;
    else this.statusHi = (this.statusHi | (1 << (slot - FIXED_SLOT))) >>> 0;
    return this.pmiOnOverflow[slot] === 1;
  }

  private readInUse(out: MsrOut): void {
    let lo = 0;
    let pmi = false;
    for (let i = 0; i < this.config.gpCounters; i++) {
      const sel = this.evtsel[i]!;
      if ((sel & EVTSEL_EVENT_MASK) !== 0) lo |= 1 << i;
      if (sel & EVTSEL_INT) pmi = true;
    }
    let hi = 0;
    for (let i = 0; i < this.config.fixedCounters; i++) {
      const nib = (this.fixedCtrl >>> (4 * i)) & 0xf;
      if (nib & (FIXED_CTRL_OS | FIXED_CTRL_USR)) hi |= 1 << i;
      if (nib & FIXED_CTRL_PMI) pmi = true;
    }
    out.lo = lo >>> 0;
    out.hi = (hi | (pmi ? INUSE_HI_PMI : 0)) >>> 0;
  }

  /** Rebuilds the per-(kind, ring) counter lists after any control change. */
  private recompute(): void {
    this.syncRef(this.refCpl); // ticks so far belong to the old controls
    this.flush(); // counts so far belong to the old controls
    const c = this.config;
    this.runLen.fill(0);
    this.edgeLen = 0;
    this.edgeCond.fill(0);
    this.pmiOnOverflow.fill(0);
    let rings = 0;
    let shared = false;
    const frozen = c.version >= 4 && (this.statusHi & STATUS_HI_CTR_FRZ) !== 0;
    if (c.version === 0 || frozen) {
      this.active = false;
      this.activeRings = 0;
      this.updateBudget();
      return;
    }
    for (let i = 0; i < c.gpCounters; i++) {
      const sel = this.evtsel[i]!;
      if ((sel & EVTSEL_EN) === 0) continue;
      if (c.version >= 2 && ((this.globalCtrlLo >>> i) & 1) === 0) continue;
      const ringMask = (sel & EVTSEL_OS ? 1 : 0) | (sel & EVTSEL_USR ? 2 : 0);
      if (ringMask === 0) continue;
      const eventSelect = sel & EVTSEL_EVENT_MASK;
      const umask = (sel >>> EVTSEL_UMASK_SHIFT) & 0xff;
      const event = archEventOf(eventSelect, umask, c.eventsUnavailable);
      if (event === -1) continue; // not modelled or reported unavailable: counts nothing
      if (this.filter && !pmuFilterAllowsGp(this.filter, eventSelect, umask)) continue;
      this.pmiOnOverflow[i] = sel & EVTSEL_INT ? 1 : 0;
      const cmask = sel >>> EVTSEL_CMASK_SHIFT;
      const inv = (sel & EVTSEL_INV) !== 0;
      const edge = (sel & EVTSEL_EDGE) !== 0;
      if (edge) this.edgeList[this.edgeLen++] = i;
      for (let kind = 0; kind < KINDS; kind++) {
        // Reference cycles are the reference clock's ticks and nothing else; core events never see those ticks.
        if ((kind === CycleKind.REF_TICK) !== (event === ArchEvent.REF_CYCLES)) continue;
        const inc = INCREMENT[event * KINDS + kind]!;
        // CMASK = 0: count the increments (INV is ignored). Otherwise count the cycle when
        // inc >= CMASK, or inc < CMASK with INV. EDGE counts rising edges of that condition.
        const cond = cmask === 0 ? inc > 0 : inv ? inc < cmask : inc >= cmask;
        if (!cond) continue;
        for (let ring = 0; ring < RINGS; ring++) {
          if (((ringMask >>> ring) & 1) === 0) continue;
          if (edge) this.edgeCond[i * KINDS * RINGS + kind * RINGS + ring] = 1;
          else this.addRun(kind, ring, i);
        }
      }
      rings |= edge ? 3 : ringMask; // edge counters must also see deasserting cycles
      if (edge || ringMask === 3) shared = true;
    }
    for (let j = 0; j < c.fixedCounters; j++) {
      const nib = (this.fixedCtrl >>> (4 * j)) & 0xf;
      const ringMask = nib & (FIXED_CTRL_OS | FIXED_CTRL_USR); // bit 0 = ring 0, bit 1 = ring > 0
      if (ringMask === 0) continue;
      if (((this.globalCtrlHi >>> j) & 1) === 0) continue;
      if (this.filter && !pmuFilterAllowsFixed(this.filter, j)) continue;
      const slot = FIXED_SLOT + j;
      this.pmiOnOverflow[slot] = nib & FIXED_CTRL_PMI ? 1 : 0;
      const event = FIXED_COUNTER_EVENTS[j]!;
      for (let kind = 0; kind < KINDS; kind++) {
        if (INCREMENT[event * KINDS + kind] === 0) continue;
        for (let ring = 0; ring < RINGS; ring++) if ((ringMask >>> ring) & 1) this.addRun(kind, ring, slot);
      }
      rings |= ringMask;
      if (ringMask === 3) shared = true;
    }
    this.sharedBudget = shared;
    this.activeRings = rings;
    this.active = rings !== 0;
    this.refCounting = this.runLen[CycleKind.REF_TICK * RINGS]! + this.runLen[CycleKind.REF_TICK * RINGS + 1]! > 0;
    this.updateBudget();
  }

  private addRun(kind: number, ring: number, slot: number): void {
    const li = kind * RINGS + ring;
    const len = this.runLen[li]!;
    this.runList[li * SLOTS + len] = slot;
    this.runLen[li] = len + 1;
  }
}
