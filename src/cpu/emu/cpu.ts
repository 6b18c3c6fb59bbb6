/**
 * EmuCpu: the state of one x86-64 vCPU of the emu backend, its constructor and reset, the
 * mode bookkeeping (CPL, code/stack size, decode mode, segment-check flags) and the standalone
 * API. The behaviour lives in free functions taking the cpu, one module per concern:
 * lazy-flags.ts, gpr.ts, mem-access.ts (linear memory through the TLB), tlb.ts, paging.ts,
 * segmentation.ts, stack.ts, exceptions.ts (delivery), task-switch.ts, control-regs.ts,
 * msr.ts (MSRs, TSC, CPUID), port-io.ts, register-catalog.ts and run-loop.ts. Those import
 * this module for its types only; constants live in x86-defs.ts, which imports nothing.
 *
 * Standalone API for unit and differential tests (stable):
 *
 *   const cpu = new EmuCpu({ memory, pio, mmio });        // apic/clock/cache optional
 *   cpu.setRegisters([[REG.rip, 0x1000n], ...]);           // the register catalog of ../registers.ts
 *   cpu.setFlat32();  / cpu.setLong64(cr3); / cpu.reset()  // convenience modes (reset = real mode at f000:fff0)
 *   cpu.setGpr(0, 5n); cpu.getGpr(0); cpu.setRip(n); cpu.getRip(); cpu.getRflags(); cpu.setRflags(n)
 *   const r = cpu.run(maxInstructions);                   // 'hlt' | 'budget' | 'shutdown' | 'stop'
 *   cpu.runUntilHalt(max)                                  // same as run, throws if the budget ran out
 *   cpu.getRegisters(ids) -> bigint[]                      // all catalog registers incl. segments/CRs/MSRs
 *   cpu.instructions                                       // instructions retired (REP = 1, faults = 0)
 *   cpu.exceptionLog                                       // last 64 delivered exceptions: {vector, code, rip}
 *   cpu.shutdownReason                                     // set on triple fault
 *
 * Registers are two Int32 halves per GPR, side by side (gpr: register n's low half at 2n, its high half at
 * 2n + 1). Linear addresses are JS numbers:
 * legacy modes use 0..2^32-1, long mode uses the signed canonical value (exact in a double).
 */
import type { Bus } from '../bus.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { SEG_ATTR_UNUSABLE, type RegId, type RegisterBatch } from '../registers.js';
import type { EmuClock, LocalApicPort, MsrValue } from './chips/chip-types.js';
import { VmmError } from '../../util/errors.js';
import { Lazy, Bit } from './flags.js';
import type { Block, Insn } from './insn.js';
import type { PcidContext } from './pcid.js';
import { CodeCache } from './code-cache.js';
import { X87State } from './fpu/fpu-state.js';
import { XmmFile } from './fpu/simd-file.js';
import { XCR0_SUPPORTED } from './fpu/sse-state.js';
import type { Dispatch } from './table/dispatch.js';
import { CR0_EM, CR0_ET, CR0_NE, CR0_PE, CR0_TS, CR4_IMPLEMENTED, CR4_OSFXSR, CR0_PG, CR0_WP, CR4_LA57, CR4_PAE, EFER_IMPLEMENTED, EFER_LMA, EFER_LME, EFER_NXE, EFER_SCE, JC_SIZE, type RunResult, Tlb, Seg, Pow, BigAd, Gp } from './x86-defs.js';
import { ripFromU64, ripU64 } from './address.js';
import { getFlags, setFlagsRaw } from './lazy-flags.js';
import { rebuildRam, type RamRegion } from './mem-access.js';
import * as tlb from './tlb.js';
import * as runLoop from './run-loop.js';
import * as registerCatalog from './register-catalog.js';
import { flushTlb } from './tlb.js';
import { refreshDebug, type HostDebug } from './debug-regs.js';
import { batchOf, envJitMode, lateThresholdOf, thresholdOf, usesRegions, usesWasm } from './jit/jit-mode.js';
import { arenaOf, Slot, type WasmArena } from './jit/wasm-arena.js';
import type { JitStats } from './jit/jit-stats.js';
import { preferDoubleFields } from '../../util/v8-fields.js';

/** TSVMM_JIT, read once. */
const jitMode = envJitMode();

export class EmuError extends VmmError {
  constructor(message: string) {
    super('emu', message);
  }
}

/**
 * What the core needs from a PMU (structurally the counting/MSR surface of
 * pmu/virtual-pmu.ts VirtualPmu, so one can be assigned to EmuCpu.pmu directly).
 * Counting happens at block boundaries; a block never runs past the next overflow.
 */
export interface EmuPmuHook {
  /** False while no counter counts: the core then skips every other call. */
  readonly active: boolean;
  /**
   * Optional: true when counting is order-free (no EDGE counter), so countBlock(a, b) then
   * countBlock(c, d) at one CPL may be merged into countBlock(a + c, b + d) as long as the
   * merged total stays below instructionsUntilOverflow(). Asked at run() start and after
   * RDMSR/WRMSR/RDPMC. Absent means per-block counting.
   */
  readonly orderFree?: boolean;
  /** `plain` non-branch instructions then `branches` branches retired at `cpl`. */
  countBlock(plain: number, branches: number, cpl: number): void;
  /** Instructions that may retire at `cpl` before a counter can overflow (>= 1). */
  instructionsUntilOverflow(cpl: number): number;
  isPmuMsr(index: number): boolean;
  readMsr(index: number, out: MsrValue): boolean;
  writeMsr(index: number, lo: number, hi: number): boolean;
  rdpmc(ecx: number, cpl: number, cr4Pce: boolean, out: MsrValue): boolean;
}

export interface EmuCpuOptions {
  memory: GuestMemory;
  pio: Bus;
  mmio: Bus;
  index?: number;
  cpus?: number;
  apic?: LocalApicPort;
  clock?: EmuClock;
  /** Shared decoded-block cache (one per VM); created when absent. */
  cache?: CodeCache;
  /** FERR#: x87 error reporting with CR0.NE = 0 (IRQ 13 through the 8259 on a PC). */
  ferr?: (level: boolean) => void;
}

/** A do-nothing clock for standalone use: time = instructions (1 ns each). */
class InsnClock implements EmuClock {
  readonly tscHz = 1e9;
  constructor(private readonly cpu: { instructions: number }) {}
  nowNs(): number {
    return this.cpu.instructions;
  }
}

export type { RunResult };

/** EmuCpu.sseGate's value for CR0 and CR4: 1 when SSE instructions raise neither #UD nor #NM. */
function sseGateOf(cr0: number, cr4: number): number {
  return (cr0 & (CR0_EM | CR0_TS)) === 0 && (cr4 & CR4_OSFXSR) !== 0 ? 1 : 0;
}

/**
 * The vCPU's number fields that hold values past the Smi range (addresses, 64-bit MSRs, instruction
 * counts, values read back from the wasm tier's Float64Arrays): double fields from construction
 * (util/v8-fields.ts). Found with node --trace-generalization on a Linux boot.
 */
export const DOUBLE_FIELDS = [
  'rip', 'bip', 'lastEa', 'walkAddr', 'gdtBase', 'idtBase', 'cr2', 'cr3', 'lstar', 'cstar', 'fmask', 'kernelGsBase',
  'sysenterEsp', 'sysenterEip', 'tscAux', 'tscOffset', 'apicBasePhys', 'hostStopAddr', 'instructions', 'faultMark',
  'chainLimit', 'wxRip', 'jitEnd', 'pollAt', 'sliceEnd', 'stopAt', 'stopWork', 'blockRest', 'restSeg', 'segOff',
  'pmuLeft', 'pmuPendPlain', 'pmuPendBranches',
] as const;

export class EmuCpu {
  readonly index: number;
  readonly cpus: number;
  readonly memory: GuestMemory;
  readonly pio: Bus;
  readonly mmio: Bus;
  readonly apic: LocalApicPort | undefined;
  clock: EmuClock;
  readonly cache: CodeCache;

  // ---- architectural state ----
  // The register file, segment bases/checks and TLB tags are views on the wasm tier's memory in that
  // mode (jit/wasm-arena.ts), plain arrays otherwise; the constructor makes them.
  /**
   * The general registers, two int32 halves each: register n's low half at [2n], its high half at [2n + 1] (the
   * little-endian i64 at byte 8n, which is how compiled wasm code reads and writes a 64-bit register at once).
   */
  readonly gpr: Int32Array;
  /** RIP (see the file comment for the number representation). */
  rip = 0;
  /**
   * RFLAGS without the arithmetic bits when fop !== F_EAGER. Writers keep `dfSlot` in step (setFlagsRaw,
   * putFlags, CLD/STD: the only ones that can change DF).
   */
  flags = 2;
  /** Int32: 1 while RFLAGS.DF is set (compiled string instructions read it in the wasm slot: Slot.Df). */
  readonly dfSlot: Int32Array;
  fop = Lazy.Eager;
  fsz = 4;
  fres = 0;
  fdst = 0;
  fsrc = 0;
  fresH = 0;
  fdstH = 0;
  fsrcH = 0;
  /** Carry-in of ADC/SBB or the preserved CF of INC/DEC. */
  fcin = 0;
  readonly segSel: Int32Array;
  readonly segBase: Float64Array;
  readonly segLimit: Float64Array;
  readonly segAttr = new Int32Array(10);
  /** Per segment: 1 when accesses need limit/type/null checks (anything but a flat writable data segment, or real mode). */
  readonly segChk: Uint8Array;
  gdtBase = 0;
  gdtLimit = 0xffff;
  idtBase = 0;
  idtLimit = 0xffff;
  /** CR0 and CR4 are accessors: every write (guest, snapshot, tests) keeps `sseGate` in step. */
  private cr0v = 0x60000010;
  private cr4v = 0;
  get cr0(): number {
    return this.cr0v;
  }
  set cr0(v: number) {
    this.cr0v = v;
    this.sseGate[0] = sseGateOf(v, this.cr4v);
  }
  get cr4(): number {
    return this.cr4v;
  }
  set cr4(v: number) {
    this.cr4v = v;
    this.sseGate[0] = sseGateOf(this.cr0v, v);
  }
  /**
   * 1 while SSE instructions raise no #UD/#NM (CR0.EM = 0, CR0.TS = 0, CR4.OSFXSR = 1), else 0: the wasm tier's
   * compiled SSE forms read it in the vCPU's slot (jit/wasm-arena.ts Slot.SseGate) and call the handler when 0.
   */
  readonly sseGate: Int32Array;
  cr2 = 0;
  cr3 = 0;
  efer = 0;
  cr8 = 0;
  /**
   * Canonical bound of a long-mode linear address: -canonLim <= lin < canonLim (2^47, or 2^56 with
   * CR4.LA57), and the same bound on its high 32 bits (canonHi: 2^15 or 2^24). updateMode() and CR4
   * writes keep them in step with CR4.
   */
  canonLim: number = Pow.Two47;
  canonHi = 0x8000;
  /** The CPU model offers 5-level paging (CPUID.7.0:ECX.LA57, CR4.LA57 writable). */
  la57 = false;
  /**
   * Exact int32 halves (lo, hi) of the address registers whose double is beyond +-2^53 (5-level paging),
   * indexed by BigAd (address.ts regHalves/regValue): their double is then rounded and these hold the value.
   */
  readonly bigAd: Int32Array;
  /** Accesses beyond +-2^53 that found no TLB entry and walked (big-lin.ts); a measure for tests and profiles. */
  bigWalks = 0;
  /** Compiled code's calls to the host with an address beyond +-2^53 (ea, or a TLB miss: big-lin.ts). */
  bigCallouts = 0;
  /** Slot.Lin (int32 lo, hi): an exact linear address passed to or from compiled code (big-lin.ts). */
  readonly linSlot: Int32Array;
  /** Slot.CanonSh (int32 lo, hi): 64 minus the linear-address width, for compiled code's canonical checks. */
  readonly canonSh: Int32Array;
  /**
   * What the VM's CPUID offers of what emu implements (cpu-model-gates.ts; emu's own model offers all of
   * it): the CR4 bits MOV to CR4 may set (LA57 aside), the EFER bits WRMSR may set, the XCR0 bits XSETBV
   * may set, 1 GiB pages (PDPTE.PS reserved without), and the decoder's dispatch arrays when the CPUID
   * hides instruction features (null: emu's own).
   */
  cr4Writable = CR4_IMPLEMENTED;
  eferWritable = EFER_IMPLEMENTED;
  xcr0Writable = XCR0_SUPPORTED;
  gbPages = true;
  dispatch: Dispatch | null = null;
  readonly dr = new Float64Array(8);
  /**
   * Debug features armed: TF or RF set, a DR7 breakpoint enabled, or a host debug client's breakpoint,
   * watchpoint or step (debug-regs.ts). While true the run loop takes the debug path
   * (debug-step.ts: checks before and after each instruction) and runs compiled blocks only while
   * debug-regs.ts compiledWhileArmed allows it; a faster tier must check this flag.
   */
  debugArmed = false;
  /** A compiled block runs while debug features are armed: its inline accesses to guarded pages stop it (debug-regs.ts guardedInline). */
  watchRun = false;
  /** debug-step.ts found no instruction breakpoint (DR or host) in the block it runs now: it may run compiled. */
  bpClear = false;
  /** DR0-DR3 decoded from DR7 (debug-regs.ts refreshDebug): kind (BpKind), linear address or port, length. */
  readonly bpKind = new Int8Array(4).fill(-1);
  readonly bpAddr = new Float64Array(4);
  readonly bpLen = new Float64Array(4);
  /** The same linear addresses exactly, as 4 KiB page number and offset, for accesses beyond +-2^53 (dataAccessBig). */
  readonly bpPage = new Float64Array(4);
  readonly bpOff = new Int32Array(4);
  /** Instruction breakpoints armed (DR and host), I/O breakpoints armed. */
  bpExecCount = 0;
  bpIoCount = 0;
  /** DR0-DR3 breakpoints the guest armed (any kind): the run without a debug client takes the debug path too. */
  guestBps = 0;
  /** Linear pages (4 KiB aligned) holding data breakpoints or watchpoints: they get no read/write TLB entries. */
  watchPages = new Set<number>();
  /** DR6 B0-B3 of data/I-O breakpoints the current instruction hit; traps held back by a MOV SS shadow. */
  dbHits = 0;
  dbPending = 0;
  /** The host debug client's requests (gdb stub), null when none is attached. */
  hostDebug: HostDebug | null = null;
  /** Why this vCPU stopped for the host debug client (HostStop), the address and kind of a watchpoint hit. */
  hostStop = 0;
  hostStopAddr = 0;
  hostStopWatch: 'write' | 'read' | 'access' = 'write';
  /** The exact address of that watchpoint where hostStopAddr (a double) cannot hold it (HostWatch.addr). */
  hostStopWatchAddr: bigint | undefined = undefined;
  /** Set by the stub when resuming (the linear RIP it resumes at, NaN: none): that first instruction runs past a host breakpoint there. */
  hostResumeAt = NaN;
  /** This vCPU formed a code handle (a RIP beyond +-2^53, address.ts ripOf): recycling the code windows re-forms its own. */
  codeHandles = false;
  /**
   * The vCPU stopped for the host debug client where the run without it goes straight on: in front of
   * the instruction at RIP it was about to run, or with a trap of the last instruction held back. The
   * slice goes on there without an interrupt check (debug-step.ts).
   */
  hostCont = false;
  /** debugExec cut the block for the host debug client: execBlock records what of it is left (blockRest). */
  hostCut = false;
  /** A host watchpoint alone ended the block (debug-regs.ts dataAccess): what of it is left stays in blockRest. */
  watchCut = false;
  /** Events delivered through the IDT/IVT (deliver()): an instruction that delivered one (INT n, a fault) takes no single-step trap. */
  deliveries = 0;
  /** The fault being delivered is fault-class: its frame gets RFLAGS.RF = 1 (deliverPendingFault). */
  rfInFrame = false;
  cpl = 0;
  /** Default operand/address size of the code segment: 2, 4, or 8 (64-bit mode). */
  codeSize = 2;
  stackSize = 2;
  /** Decode mode key: 0 16-bit, 1 32-bit, 2 64-bit. */
  modeKey = 0;
  halted = false;
  /** Waiting for SIPI (APs after INIT). */
  waitSipi = false;
  /** Interrupt shadow after STI / MOV SS / POP SS. */
  shadow = false;
  nmiBlocked = false;
  // MSRs
  star = [0, 0];
  lstar = 0;
  cstar = 0;
  fmask = 0;
  kernelGsBase = 0;
  sysenterCs = 0;
  sysenterEsp = 0;
  sysenterEip = 0;
  tscAux = 0;
  /** IA32_SPEC_CTRL (0x48): IBRS (bit 0) and BHI_DIS_S (bit 10), kept for the guest, with no effect on execution. */
  specCtrl = 0;
  tscOffset = 0;
  readonly msrStore = new Map<number, [number, number]>();
  /** The x87 FPU (fpu/fpu-state.ts; instructions in ops-x87.ts). */
  readonly x87 = new X87State();
  /** FERR# (CR0.NE = 0 error reporting): the chipset's IRQ 13, null when there is none. */
  ferr: ((level: boolean) => void) | null;
  mxcsr = 0x1f80;
  /** XMM0-XMM15 and the SSE handlers' scratch registers (fpu/simd-file.ts; in the vCPU's wasm slot in that tier). */
  readonly simd: XmmFile;
  /** XMM0-XMM15 as 64 dwords (a view of `simd`). */
  readonly xmm: Int32Array;
  /** XCR0 (XSAVE-managed state enabled): x87 only after reset. */
  xcr0 = 1;
  readonly fxArea = new Uint8Array(512);

  // ---- execution bookkeeping ----
  /** Instructions retired. */
  instructions = 0;
  /** Retired instructions / branches by privilege: [kernel (CPL<3), user]. */
  readonly retired = new Float64Array(2);
  readonly branchesRetired = new Float64Array(2);
  pmu: EmuPmuHook | null = null;
  /** CPUID leaf 0xA (EAX, EBX, ECX, EDX) of the attached PMU; all zero without one. */
  pmuCpuid0a: readonly [number, number, number, number] | null = null;
  /** CPUID.01H:ECX.PDCM (IA32_PERF_CAPABILITIES present), set with a PMU. */
  pdcm = false;
  /** A CPU model's CPUID (--cpu-model): rewrites CPUID's answer in place after the model's own. */
  cpuidFilter: ((leaf: number, subleaf: number, out: Int32Array) => void) | null = null;
  /** Set by the VM (requestStop) or devices to make run() return at the next block boundary. */
  breakRun = false;
  shutdownReason = '';
  /** The shutdown is emu's own limit, not the guest's fault (exceptions.ts unrepresentable()). */
  emulationLimit = false;
  /** Exits/events by kind for exitCounts(). */
  readonly counts = { io: 0, mmio: 0, hlt: 0, interrupts: 0, exceptions: 0, nmi: 0, init: 0, sipi: 0 };
  readonly exceptionsByVector = new Float64Array(32);
  readonly exceptionLog: { vector: number; code: number; rip: number }[] = [];
  /** Start RIP of the current block (handlers compute next-RIP as bip + insn.end). */
  bip = 0;
  /** High half of the last 64-bit read (rd64/getRM64). */
  hi = 0;
  /** Linear address of the last memory operand (for read-modify-write). */
  lastEa = 0;
  excVec = 0;
  excCode = -1;
  /** Ports of the I/O permission check cache etc. */
  readonly cpuidOut = new Int32Array(4);
  readonly msrOut: MsrValue = { lo: 0, hi: 0 };
  /**
   * The block the run loop is running (null between blocks): the slow store paths stop it when a store changes
   * its code. Kept as `runBlock`, stored only when another block runs, and `blockOn` (0 between blocks): a block
   * stored at every run was a write barrier each time, a stub call while the block was young.
   */
  runBlock: Block | null = null;
  blockOn = 0;
  get curBlock(): Block | null {
    return this.blockOn !== 0 ? this.runBlock : null;
  }
  set curBlock(b: Block | null) {
    if (b === null) this.blockOn = 0;
    else {
      if (this.runBlock !== b) this.runBlock = b;
      this.blockOn = 1;
    }
  }

  // ---- TLB ----
  readonly tlbTagR = new Float64Array(Tlb.Size * 2).fill(-1);
  readonly tlbTagW = new Float64Array(Tlb.Size * 2).fill(-1);
  /** Per TLB entry: the wasm address of the page's RAM (wasm tier; an int32, so above 2 GiB negative), or -1. */
  readonly tlbAddr = new Int32Array(Tlb.Size * 2).fill(-1);
  /**
   * The TLB as compiled code reads it (wasm tier; Slot.WTlb, 8 int32 an entry), else null: derived from the tags and
   * tlbAddr above by tlb-wasm.ts wherever those change.
   */
  readonly wtlb: Int32Array | null;
  readonly tlbTagX = new Float64Array(Tlb.Size * 2).fill(-1);
  readonly tlbOff = new Float64Array(Tlb.Size * 2);
  readonly tlbPhys = new Float64Array(Tlb.Size * 2).fill(-1);
  readonly tlbGlobal = new Uint8Array(Tlb.Size * 2);
  /**
   * The entries filled with non-global translations since the last flush (the first tlbLocalN, each once:
   * tlbListed), so that a CR3 write drops those instead of scanning all 2 048 (tlb.ts flushTlb).
   */
  readonly tlbLocal = new Int16Array(Tlb.Size * 2);
  readonly tlbListed = new Uint8Array(Tlb.Size * 2);
  tlbLocalN = 0;
  readonly tlbView: DataView[] = new Array<DataView>(Tlb.Size * 2);
  /** 0 for supervisor accesses, TLB_SIZE for CPL 3. */
  tlbUser = 0;
  /**
   * The large pages TLB entries came from since the last full flush and the INVLPG of each: linear start -> size.
   * An INVLPG inside one drops every entry of it; elsewhere only the 4 KiB page's (tlb.ts invlpg).
   */
  readonly largePages = new Map<number, number>();
  /** The jump cache (linear RIP -> block), supervisor half then user half (jcSlot in run-loop.ts). */
  readonly jcTag = new Float64Array(2 * JC_SIZE).fill(-1);
  readonly jcBlock: (Block | undefined)[] = new Array<Block | undefined>(2 * JC_SIZE).fill(undefined);
  /**
   * Jump-cache epochs (Block.vEp/vEpG, run-loop.ts jcValid): a CR3 write takes a new `jcEpoch` (blocks on
   * non-global pages are found through a translation again), a full flush new ones of both. `jcTag` stays
   * the linear address of each slot's block, for INVLPG.
   */
  jcEpoch = 0;
  jcEpochG = 0;
  /** The TLB entries and jump-cache epochs of PCIDs that are not current (pcid.ts), at most 8. */
  readonly pcidCtx: PcidContext[] = [];
  /** Counts context saves (PcidContext.stamp). */
  pcidClock = 0;
  /** Bumped whenever write entries are dropped (a page became code, the dirty log was read): saved ones are stale then. */
  wGen = 0;
  ram: RamRegion[] = [];
  lastRam: RamRegion | undefined;
  readonly dummyView = new DataView(new ArrayBuffer(8));
  /** Translation side results: the leaf was global; the size of the large page it maps (0: a 4 KiB page). */
  xlGlobal = 0;
  xlSpan = 0;
  apicBasePhys = 0xfee00000;
  /** The xAPIC MMIO page answers only while the APIC is globally enabled and not in x2APIC mode. */
  apicMmio = true;

  // ---- run loop ----
  /** Set when the current block was overwritten (self-modifying code): it ends after this instruction. */
  smc = false;
  /** Fault storm detection (exceptions.ts): instruction count at the last fault, faults since, and the slice end it asked for. */
  faultMark = -1;
  faultRun = 0;
  faultStorm = false;
  /** Instruction index inside a compiled block (see block-compiler.ts). */
  ci = 0;
  /** REP string iterations executed (they cost time but a REP retires as one instruction). */
  stringIters = 0;
  /**
   * Instructions of the running block before its current basic block (after the last not-taken side
   * exit; 0 outside a block): the deterministic clock adds them to `instructions`, so a device reads
   * the time it read when every basic block was a block of its own.
   */
  segOff = 0;
  /** Set by an instruction that ran but does not retire yet (a paused REP). */
  notRetired = 0;
  /**
   * Instructions and branches a compiled wasm block went over by its forward branches inside it (jit/wasm-skips.ts):
   * they did not retire; execBlock takes them off the block's counts (and zeroes these).
   */
  skipN = 0;
  skipB = 0;
  /** Extra iterations of a self-looping compiled block, and the most it may run. */
  loops = 0;
  loopLimit = 1;
  /**
   * Chained wasm runs (jit/wasm-chain.ts): the block a chained run ended in (execBlock counts it), the
   * instructions execBlock allows the run, and the last compiled exit (the block's table index, 1 = fall-through
   * or 2 = taken/tail, 3 = a side exit with its instruction count and branches, the RIP it left to) that a link may be
   * recorded for.
   */
  chainLast: Block | null = null;
  /**
   * The instructions of chainLast as it was compiled: a write to its own page during the run drops the block
   * (code-cache.ts release empties Block.insns), and execBlock still counts and places the run by them.
   */
  chainIns: readonly Insn[] = [];
  chainLimit = 0;
  wxIdx = 0;
  wxKind = 0;
  wxRip = 0;
  wxCi = 0;
  wxBr = 0;
  /** Whether hot blocks are compiled to JavaScript functions (TSVMM_JIT=off: no). */
  compile = jitMode !== 'off';
  /** Runs of a block before it is compiled (TSVMM_JIT=eager: 1); the wasm tier's threshold for self-looping blocks. */
  jitThreshold = thresholdOf(jitMode);
  /** Runs before the wasm tier compiles a block that does not loop on itself (jit-mode.ts WASM_LATE_FACTOR). */
  jitLate = lateThresholdOf(jitMode);
  /** Whether hot pages are compiled as regions (jit/, TSVMM_JIT=regions); otherwise hot blocks are compiled one by one. */
  regions = usesRegions(jitMode);
  /** Hot blocks the wasm tier compiles into one module (TSVMM_JIT_BATCH; 1 for wasm-eager). */
  jitBatch = batchOf(jitMode);
  /** The wasm tier's memory and this vCPU's slot in it (TSVMM_JIT=wasm), or null / 0. */
  readonly wasm: WasmArena | null;
  readonly wslot: number;
  /** Instruction + REP-iteration count a running region must not pass (jit/exec-region.ts). */
  jitEnd = 0;
  /** The instructions of the block a region is running (its Block may be released meanwhile). */
  jitInsns: readonly Insn[] = [];
  /** Instruction count at which run() next polls the APIC (0 = at the next block boundary). */
  pollAt = 0;
  /** Work count (instructions + REP iterations) at which the current slice ends. */
  sliceEnd = 0;
  /**
   * Stop point: run() returns 'paused' once exactly this many instructions have retired (-1: none);
   * stopWork is the work count the run loop is heading for meanwhile.
   */
  stopAt = -1;
  stopWork = 0;
  /** Instructions of the block in flight a stop point cut off: the slice runs them first when it goes on. */
  blockRest = 0;
  /** The most a cut-off block's rest may run (runRest); Infinity otherwise. */
  restCap = Infinity;
  /**
   * Instructions of the cut basic block that ran before the cut: the rest is timed from that basic block's
   * start (c.segOff = -restSeg), as the deterministic clock times an uncut block (EmuVm's VmClock).
   */
  restSeg = 0;
  /** Instructions of the current block already given to the PMU, and the CPL the block started at. */
  pmuCounted = 0;
  blockCpl = 0;
  /**
   * A lower bound on the instructions that can retire at `pmuLeftCpl` before a counter overflows:
   * instructionsUntilOverflow() minus what countPmu counted since it was asked; <= 0 = ask again.
   */
  pmuLeft = 0;
  pmuLeftCpl = -1;
  /** countPmu merges blocks (the PMU is order-free; decided with pmuLeft); counts merged but not yet given, at pmuLeftCpl. */
  pmuMerge = false;
  pmuPendPlain = 0;
  pmuPendBranches = 0;

  // ---- scratch of the page walk, descriptor loads and port I/O ----
  walkAddr = 0;
  walkNx = false;
  /** The last descriptor read (readDescriptor): low and high words. */
  dlo = 0;
  dhi = 0;
  readonly io1 = new Uint8Array(1);
  readonly io2 = new Uint8Array(2);
  readonly io4 = new Uint8Array(4);
  /** #UDs raised for unimplemented instructions (or unimplemented cases of one), by name (for `tsvmm stat`). */
  readonly unimplementedCounts = new Map<string, number>();
  /** Guest RDMSR/WRMSR of an MSR emu refuses (#GP in the guest), for diagnostics; null: nobody listens. */
  msrRefused: ((write: boolean, index: number, lo: number, hi: number) => void) | null = null;

  constructor(opts: EmuCpuOptions) {
    this.index = opts.index ?? 0;
    this.cpus = opts.cpus ?? 1;
    this.memory = opts.memory;
    this.pio = opts.pio;
    this.mmio = opts.mmio;
    this.apic = opts.apic;
    this.clock = opts.clock ?? new InsnClock(this);
    this.cache = opts.cache ?? new CodeCache();
    if (usesWasm(jitMode)) {
      const a = arenaOf(this.cache);
      const s = a.takeSlot();
      const buf = a.memory.buffer;
      this.wasm = a;
      this.wslot = s;
      this.gpr = new Int32Array(buf, s + Slot.Gpr, 32);
      this.segBase = new Float64Array(buf, s + Slot.SegBase, 10);
      this.segChk = new Uint8Array(buf, s + Slot.SegChk, 10);
      this.segSel = new Int32Array(buf, s + Slot.SegSel, 10);
      this.segLimit = new Float64Array(buf, s + Slot.SegLimit, 10);
      this.bigAd = new Int32Array(buf, s + Slot.BigAd, 2 * BigAd.Count);
      this.linSlot = new Int32Array(buf, s + Slot.Lin, 2);
      this.canonSh = new Int32Array(buf, s + Slot.CanonSh, 2);
      this.wtlb = new Int32Array(buf, s + Slot.WTlb, Tlb.Size * 2 * 8).fill(-1);
      this.simd = new XmmFile(buf, s + Slot.Xmm);
      this.sseGate = new Int32Array(buf, s + Slot.SseGate, 1);
      this.dfSlot = new Int32Array(buf, s + Slot.Df, 1);
    } else {
      this.wasm = null;
      this.wslot = 0;
      this.gpr = new Int32Array(32);
      this.segBase = new Float64Array(10);
      this.segChk = new Uint8Array(10);
      this.segSel = new Int32Array(10);
      this.segLimit = new Float64Array(10);
      this.bigAd = new Int32Array(2 * BigAd.Count);
      this.linSlot = new Int32Array(2);
      this.canonSh = new Int32Array(2);
      this.wtlb = null;
      this.simd = new XmmFile();
      this.sseGate = new Int32Array(1);
      this.dfSlot = new Int32Array(1);
    }
    this.xmm = this.simd.arch;
    this.canonSh[0] = 16;
    this.sseGate[0] = sseGateOf(this.cr0v, this.cr4v);
    this.ferr = opts.ferr ?? null;
    this.cache.attach(this);
    this.jcEpoch = this.cache.newEpoch();
    this.jcEpochG = this.cache.newEpoch();
    this.tlbView.fill(this.dummyView);
    rebuildRam(this);
    opts.memory.onMapChange(() => {
      // New backing memory: decoded blocks and translations may point at the old regions.
      rebuildRam(this);
      this.cache.clear();
      flushTlb(this, true);
    });
    opts.memory.onDirtyReset(() => tlb.dropAllWriteEntries(this));
    preferDoubleFields(this, DOUBLE_FIELDS);
    this.reset();
  }

  // =====================================================================
  // Reset and convenience modes
  // =====================================================================

  /** Power-on / INIT state: real mode at F000:FFF0 (CS base 0xffff0000). */
  reset(): void {
    this.gpr.fill(0);
    this.gpr[Gp.DxLo] = 0x600 | 0xf1; // EDX = signature-ish after reset
    setFlagsRaw(this, 2);
    for (let s = 0; s < 6; s++) this.setSegRaw(s, 0, 0, 0xffff, 0x93);
    this.setSegRaw(Seg.CS, 0xf000, 0xffff0000, 0xffff, 0x9b);
    this.setSegRaw(Seg.LDTR, 0, 0, 0xffff, 0x82);
    this.setSegRaw(Seg.TR, 0, 0, 0xffff, 0x8b);
    this.setSegRaw(Seg.Flat, 0, 0, 0xffffffff, 0x93);
    this.setSegRaw(Seg.FlatSS, 0, 0, 0xffffffff, 0x93);
    this.rip = 0xfff0;
    this.gdtBase = 0;
    this.gdtLimit = 0xffff;
    this.idtBase = 0;
    this.idtLimit = 0xffff;
    this.cr0 = 0x60000010;
    this.cr2 = 0;
    this.cr3 = 0;
    this.cr4 = 0;
    this.efer = 0;
    this.dr.fill(0);
    this.dr[6] = 0xffff0ff0;
    this.dr[7] = 0x400;
    this.dbPending = 0;
    this.halted = false;
    this.shadow = false;
    this.nmiBlocked = false;
    this.x87.powerOn();
    this.mxcsr = 0x1f80;
    this.xcr0 = 1;
    this.specCtrl = 0; // 0 at power-on; INIT (this same path) clears it too
    this.updateMode();
    flushTlb(this, true);
    refreshDebug(this);
  }

  /** 32-bit flat protected mode, paging off, CPL 0 (what a multiboot loader hands over). */
  setFlat32(): void {
    this.cr0 = CR0_PE | CR0_ET | CR0_NE;
    this.cr4 = 0;
    this.efer = 0;
    this.setSegRaw(Seg.CS, 0x08, 0, 0xffffffff, 0xc09b);
    for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) this.setSegRaw(s, 0x10, 0, 0xffffffff, 0xc093);
    setFlagsRaw(this, 2);
    this.updateMode();
    flushTlb(this, true);
  }

  /** 64-bit mode, CPL 0, with 4-level paging rooted at `cr3` (which the caller fills). */
  setLong64(cr3: number): void {
    this.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG | CR0_WP;
    this.cr4 = CR4_PAE;
    this.cr3 = cr3;
    this.efer = EFER_LME | EFER_LMA | EFER_SCE | EFER_NXE;
    this.setSegRaw(Seg.CS, 0x08, 0, 0xffffffff, 0xa09b);
    for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) this.setSegRaw(s, 0x10, 0, 0xffffffff, 0xc093);
    setFlagsRaw(this, 2);
    this.updateMode();
    flushTlb(this, true);
  }

  setSegRaw(s: number, sel: number, base: number, limit: number, attrs: number): void {
    this.segSel[s] = sel & 0xffff;
    this.segBase[s] = base;
    this.segLimit[s] = limit >>> 0;
    this.segAttr[s] = attrs;
    if (s === Seg.CS || s === Seg.SS) this.updateMode();
    else this.segChanged();
  }

  /** Recomputes code/stack size, CPL and the decode mode key from CR0/EFER/CS/SS. */
  updateMode(): void {
    const csa = this.segAttr[Seg.CS]!;
    const pe = (this.cr0 & CR0_PE) !== 0;
    if ((this.efer & EFER_LMA) !== 0 && (csa & (1 << 13)) !== 0) {
      this.codeSize = 8;
      this.stackSize = 8;
      this.modeKey = 2;
    } else {
      this.codeSize = (csa & (1 << 14)) !== 0 ? 4 : 2;
      this.stackSize = (this.segAttr[Seg.SS]! & (1 << 14)) !== 0 ? 4 : 2;
      this.modeKey = this.codeSize === 4 ? 1 : 0;
    }
    if (!pe) this.cpl = 0;
    else if ((this.flags & Bit.VM) !== 0) this.cpl = 3;
    else this.cpl = (csa >>> 5) & 3;
    this.tlbUser = this.cpl === 3 ? Tlb.Size : 0;
    const la57 = (this.cr4 & CR4_LA57) !== 0;
    this.canonLim = la57 ? Pow.Two56 : Pow.Two47;
    this.canonHi = la57 ? 0x1000000 : 0x8000;
    this.canonSh[0] = la57 ? 7 : 16;
    this.segChanged();
  }

  /** Recomputes segChk after any segment register or mode change. */
  segChanged(): void {
    const chk = this.segChk;
    const long = this.codeSize === 8;
    for (let s = 0; s < 6; s++) {
      const a = this.segAttr[s]!;
      let c = 0;
      if (!long) {
        if (this.segLimit[s] !== 0xffffffff) c = 1;
        else if ((this.cr0 & CR0_PE) !== 0 && (this.flags & Bit.VM) === 0) {
          if ((a & SEG_ATTR_UNUSABLE) !== 0) c = 1;
          else if ((a & 8) !== 0) c = 1; // code: not writable, maybe not readable
          else if ((a & 2) === 0 || (a & 4) !== 0) c = 1; // read-only or expand-down data
        }
      }
      chk[s] = c;
    }
  }

  get long64(): boolean {
    return this.codeSize === 8;
  }

  getGpr(n: number): bigint {
    return (BigInt(this.gpr[(n << 1) | 1]! >>> 0) << 32n) | BigInt(this.gpr[n << 1]! >>> 0);
  }
  setGpr(n: number, v: bigint): void {
    this.gpr[n << 1] = Number(v & 0xffffffffn) | 0;
    this.gpr[(n << 1) | 1] = Number((v >> 32n) & 0xffffffffn) | 0;
  }
  /** RIP as an unsigned 64-bit value, exact beyond +-2^53 too (a code handle, address.ts ripOf). */
  getRip(): bigint {
    return ripU64(this.rip);
  }
  setRip(v: bigint): void {
    this.rip = ripFromU64(v, this);
  }

  /** Drops write-TLB entries for physical page `ppage` (it now holds decoded code). */
  dropWriteEntries(ppage: number): void {
    return tlb.dropWriteEntries(this, ppage);
  }


  /** Called by the code cache when a write dropped the blocks of page `pp`: the running block stops if it is one. */
  pageInvalidated(pp: number): void {
    const b = this.curBlock;
    if (b !== null && b.phys - (b.phys % 4096) === pp) {
      this.smc = true;
      this.watchCut = false; // the block ends here in any run
    }
  }

  /** Called by the code cache when a store changed code bytes [pa, pa+len): the running block stops if it holds any. */
  codeWritten(pa: number, len: number): boolean {
    const b = this.curBlock;
    if (b === null || b.phys >= pa + len || pa >= b.phys + b.len) return false;
    this.smc = true;
    this.watchCut = false; // the block ends here in any run
    return true;
  }

  /** Called by the code cache when it emptied itself: the jump cache must not keep the old blocks alive. */
  cacheFlushed(): void {
    this.jcBlock.fill(undefined);
    this.jcTag.fill(-1);
  }

  /** The JIT's counters (shared by the vCPUs of a VM through the code cache). */
  get jitStats(): JitStats {
    return this.cache.jit;
  }

  /** Handles INIT/SIPI from the local APIC; returns true when the vCPU can run. */
  serviceInitSipi(): boolean {
    return runLoop.serviceInitSipi(this);
  }

  /** True when an event would wake a HLTed vCPU now. */
  wakeable(): boolean {
    return runLoop.wakeable(this);
  }

  /**
   * Runs up to `budget` instructions. Returns why it stopped. Instructions retired are
   * added to `instructions`.
   */
  run(budget: number): RunResult {
    return runLoop.run(this, budget);
  }

  /** Goes on with the slice that run() left 'paused' at the stop point (stopAt). */
  runMore(): RunResult {
    return runLoop.runMore(this);
  }

  /** Runs until HLT (or shutdown); throws when `max` instructions pass without halting. */
  runUntilHalt(max = 10_000_000): RunResult {
    const r = runLoop.run(this, max);
    if (r === 'budget') throw new EmuError(`guest did not halt within ${max} instructions (rip 0x${this.getRip().toString(16)})`);
    return r;
  }

  // =====================================================================
  // Register catalog access (Vcpu API)
  // =====================================================================

  getRegisters(ids: readonly RegId[]): bigint[] {
    return registerCatalog.getRegisters(this, ids);
  }

  setRegisters(batch: RegisterBatch): void {
    return registerCatalog.setRegisters(this, batch);
  }

  getRflags(): number {
    return getFlags(this);
  }
  setRflags(v: number): void {
    setFlagsRaw(this, v);
    this.updateMode();
  }
}
