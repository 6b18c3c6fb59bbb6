/**
 * EmuCpu: one x86-64 vCPU of the emu backend (state, memory access with a TLB,
 * paging, segmentation, exceptions and interrupts, the block run loop).
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
 * Registers are two Int32 halves per GPR (rl/rh). Linear addresses are JS numbers:
 * legacy modes use 0..2^32-1, long mode uses the signed canonical value (exact in a double).
 */
import type { Bus } from '../bus.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { RegSet, regNumber, regSet, type RegId, type RegisterBatch, MSR, SPECIAL_RIP, SPECIAL_RFLAGS, EVENT_HALTED, EVENT_INTERRUPT_SHADOW, SEG_ATTR_UNUSABLE } from '../registers.js';
import type { EmuClock, LocalApicPort, MsrValue } from './chips/chip-types.js';
import { warnOnce } from '../../util/log.js';
import { VmmError } from '../../util/errors.js';
import { emuCpuid } from '../../features/emu-cpu-model.js';
import {
  AC, AF, ARITH_MASK, CF, DF, F_ADC, F_ADD, F_DEC, F_EAGER, F_INC, F_LOGIC, F_SBB, F_SUB, FLAGS_WRITABLE, ID, IF, IOPL, NT, OF, PARITY, PF, RF, SF, TF, VM, ZF, signBit,
} from './flags.js';
import { Block, Insn } from './insn.js';
import { CodeCache } from './code-cache.js';
import { decodeBlock } from './decoder.js';
import { compileBlock, COMPILE_THRESHOLD } from './block-compiler.js';

export class EmuError extends VmmError {
  constructor(message: string) {
    super('emu', message);
  }
}

// Segment register indices (x86 encoding order, matching SEG_NAMES of the register catalog).
export const ES = 0;
export const CS = 1;
export const SS = 2;
export const DS = 3;
export const FS = 4;
export const GS = 5;
export const LDTR = 6;
export const TR = 7;
/** Pseudo segment with base 0 and no checks (64-bit mode memory operands without FS/GS). */
export const SEG_FLAT = 8;
/** Like SEG_FLAT for stack-relative operands (RSP/RBP base) in 64-bit mode: non-canonical is #SS, not #GP. */
export const SEG_FLAT_SS = 9;

export const CR0_PE = 1 << 0;
export const CR0_MP = 1 << 1;
export const CR0_EM = 1 << 2;
export const CR0_TS = 1 << 3;
export const CR0_ET = 1 << 4;
export const CR0_NE = 1 << 5;
export const CR0_WP = 1 << 16;
export const CR0_AM = 1 << 18;
export const CR0_NW = 1 << 29;
export const CR0_CD = 1 << 30;
export const CR0_PG = 1 << 31;
export const CR4_PSE = 1 << 4;
export const CR4_PAE = 1 << 5;
export const CR4_PGE = 1 << 7;
export const CR4_OSFXSR = 1 << 9;
export const CR4_OSXMMEXCPT = 1 << 10;
/** CR4 bits the model lets software set (VME/PVI/TSD/DE/PSE/PAE/MCE/PGE/PCE/OSFXSR/OSXMMEXCPT). */
export const CR4_SUPPORTED = 0x7ff & ~(1 << 6) /* MCE not modelled but harmless */ | (1 << 6);
export const EFER_SCE = 1 << 0;
export const EFER_LME = 1 << 8;
export const EFER_LMA = 1 << 10;
export const EFER_NXE = 1 << 11;

export const VEC_DE = 0;
export const VEC_DB = 1;
export const VEC_NMI = 2;
export const VEC_BP = 3;
export const VEC_OF = 4;
export const VEC_BR = 5;
export const VEC_UD = 6;
export const VEC_NM = 7;
export const VEC_DF = 8;
export const VEC_TS = 10;
export const VEC_NP = 11;
export const VEC_SS = 12;
export const VEC_GP = 13;
export const VEC_PF = 14;
export const VEC_MF = 16;
export const VEC_AC = 17;

/** Thrown (a preallocated sentinel, never an Error) to unwind a faulting instruction. */
export const FAULT = { fault: true } as const;
/** Thrown to leave the current block early (self-modifying code); rip is already set. */
export const BLOCK_EXIT = { exit: true } as const;

const TLB_BITS = 10;
/** Instructions between checks for pending interrupts (handlers that may unmask one force a check). */
const POLL_INTERVAL = 2048;
const TLB_SIZE = 1 << TLB_BITS;
const TLB_MASK = TLB_SIZE - 1;
const JC_SIZE = 4096;
const TWO32 = 4294967296;
const TWO47 = 140737488355328;
const TWO48 = 281474976710656;
const TWO63 = 9223372036854775808;
const TWO64 = 18446744073709551616;

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
}

interface RamRegion {
  gpa: number;
  size: number;
  view: DataView;
  bytes: Uint8Array;
}

const isContributory = (v: number): boolean => v === 0 || (v >= 10 && v <= 13);
const hasErrorCode = (v: number): boolean => v === 8 || (v >= 10 && v <= 14) || v === 17 || v === 21;

/** A do-nothing clock for standalone use: time = instructions (1 ns each). */
class InsnClock implements EmuClock {
  readonly tscHz = 1e9;
  constructor(private readonly cpu: { instructions: number }) {}
  nowNs(): number {
    return this.cpu.instructions;
  }
}

export type RunResult = 'hlt' | 'budget' | 'shutdown' | 'stop';

// Inline-dispatch kinds of hot instructions (Insn.k); 0 = call Insn.fn.
export const K_CALL = 0;
export const K_ADD_RR = 1;
export const K_SUB_RR = 2;
export const K_CMP_RR = 3;
export const K_LOGIC_RR = 4;
export const K_ADD_RI = 5;
export const K_SUB_RI = 6;
export const K_CMP_RI = 7;
export const K_LOGIC_RI = 8;
export const K_INCDEC_R = 9;
export const K_MOV_RR = 10;
export const K_JNZ = 11;
export const K_JZ = 12;

/** Whether `pmu` counts order-free (EmuPmuHook.orderFree); a hook that does not say counts per block, always exact. */
function pmuOrderFree(pmu: EmuPmuHook): boolean {
  return pmu.orderFree === true;
}

/** Target of a relative branch (see ops-flow relTarget; duplicated here for the inline path). */
function jccTarget(c: EmuCpu, i: Insn): number {
  const t = c.bip + i.end + i.imm;
  if (i.osz === 4) return t >>> 0;
  if (i.osz === 2) return t & 0xffff;
  if (t >= -TWO47 && t < TWO47) return t;
  return c.gp(0);
}

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
  readonly rl = new Int32Array(16);
  readonly rh = new Int32Array(16);
  /** RIP (see the file comment for the number representation). */
  rip = 0;
  /** RFLAGS without the arithmetic bits when fop !== F_EAGER. */
  flags = 2;
  fop = F_EAGER;
  fsz = 4;
  fres = 0;
  fdst = 0;
  fsrc = 0;
  fresH = 0;
  fdstH = 0;
  fsrcH = 0;
  /** Carry-in of ADC/SBB or the preserved CF of INC/DEC. */
  fcin = 0;
  readonly segSel = new Int32Array(10);
  readonly segBase = new Float64Array(10);
  readonly segLimit = new Float64Array(10);
  readonly segAttr = new Int32Array(10);
  /** Per segment: 1 when accesses need limit/type/null checks (anything but a flat writable data segment, or real mode). */
  readonly segChk = new Uint8Array(10);
  gdtBase = 0;
  gdtLimit = 0xffff;
  idtBase = 0;
  idtLimit = 0xffff;
  cr0 = 0x60000010;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  efer = 0;
  cr8 = 0;
  readonly dr = new Float64Array(8);
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
  tscOffset = 0;
  readonly msrStore = new Map<number, [number, number]>();
  /** x87/SSE control state kept for FNSTCW/FNSTSW/FXSAVE images. */
  fpuCw = 0x37f;
  fpuSw = 0;
  fpuTw = 0;
  mxcsr = 0x1f80;
  readonly xmm = new Int32Array(64);
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
  /** Set by the VM (requestStop) or devices to make run() return at the next block boundary. */
  breakRun = false;
  shutdownReason = '';
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
  private curBlock: Block | null = null;

  // ---- TLB ----
  private readonly tlbTagR = new Float64Array(TLB_SIZE * 2).fill(-1);
  private readonly tlbTagW = new Float64Array(TLB_SIZE * 2).fill(-1);
  private readonly tlbTagX = new Float64Array(TLB_SIZE * 2).fill(-1);
  private readonly tlbOff = new Float64Array(TLB_SIZE * 2);
  private readonly tlbPhys = new Float64Array(TLB_SIZE * 2).fill(-1);
  private readonly tlbGlobal = new Uint8Array(TLB_SIZE * 2);
  private readonly tlbView: DataView[] = new Array<DataView>(TLB_SIZE * 2);
  /** 0 for supervisor accesses, TLB_SIZE for CPL 3. */
  tlbUser = 0;
  private largePages = false;
  private readonly jcTag = new Float64Array(JC_SIZE).fill(-1);
  private readonly jcBlock: (Block | undefined)[] = new Array<Block | undefined>(JC_SIZE).fill(undefined);
  private ram: RamRegion[] = [];
  private lastRam: RamRegion | undefined;
  private readonly dummyView = new DataView(new ArrayBuffer(8));
  /** Translation side results. */
  private xlGlobal = 0;
  private apicBasePhys = 0xfee00000;

  constructor(opts: EmuCpuOptions) {
    this.index = opts.index ?? 0;
    this.cpus = opts.cpus ?? 1;
    this.memory = opts.memory;
    this.pio = opts.pio;
    this.mmio = opts.mmio;
    this.apic = opts.apic;
    this.clock = opts.clock ?? new InsnClock(this);
    this.cache = opts.cache ?? new CodeCache();
    this.cache.attach(this);
    this.tlbView.fill(this.dummyView);
    this.rebuildRam();
    opts.memory.onMapChange(() => {
      // New backing memory: decoded blocks and translations may point at the old regions.
      this.rebuildRam();
      this.cache.clear();
      this.flushTlb(true);
    });
    this.reset();
  }

  private rebuildRam(): void {
    this.ram = this.memory.regions
      .filter((r) => !r.readonly)
      .map((r) => ({ gpa: r.gpa, size: r.size, bytes: r.bytes, view: new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength) }));
    this.lastRam = undefined;
  }

  /** RAM region containing physical address `pa`, or undefined (MMIO / hole). */
  ramAt(pa: number): RamRegion | undefined {
    const l = this.lastRam;
    if (l !== undefined && pa >= l.gpa && pa < l.gpa + l.size) return l;
    for (const r of this.ram) {
      if (pa >= r.gpa && pa < r.gpa + r.size) {
        this.lastRam = r;
        return r;
      }
    }
    return undefined;
  }

  // =====================================================================
  // Reset and convenience modes
  // =====================================================================

  /** Power-on / INIT state: real mode at F000:FFF0 (CS base 0xffff0000). */
  reset(): void {
    this.rl.fill(0);
    this.rh.fill(0);
    this.rl[2] = 0x600 | 0xf1; // EDX = signature-ish after reset
    this.setFlagsRaw(2);
    for (let s = 0; s < 6; s++) this.setSegRaw(s, 0, 0, 0xffff, 0x93);
    this.setSegRaw(CS, 0xf000, 0xffff0000, 0xffff, 0x9b);
    this.setSegRaw(LDTR, 0, 0, 0xffff, 0x82);
    this.setSegRaw(TR, 0, 0, 0xffff, 0x8b);
    this.setSegRaw(SEG_FLAT, 0, 0, 0xffffffff, 0x93);
    this.setSegRaw(SEG_FLAT_SS, 0, 0, 0xffffffff, 0x93);
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
    this.halted = false;
    this.shadow = false;
    this.nmiBlocked = false;
    this.fpuCw = 0x37f;
    this.mxcsr = 0x1f80;
    this.updateMode();
    this.flushTlb(true);
  }

  /** 32-bit flat protected mode, paging off, CPL 0 (what a multiboot loader hands over). */
  setFlat32(): void {
    this.cr0 = CR0_PE | CR0_ET | CR0_NE;
    this.cr4 = 0;
    this.efer = 0;
    this.setSegRaw(CS, 0x08, 0, 0xffffffff, 0xc09b);
    for (const s of [DS, ES, SS, FS, GS]) this.setSegRaw(s, 0x10, 0, 0xffffffff, 0xc093);
    this.setFlagsRaw(2);
    this.updateMode();
    this.flushTlb(true);
  }

  /** 64-bit mode, CPL 0, with 4-level paging rooted at `cr3` (which the caller fills). */
  setLong64(cr3: number): void {
    this.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG | CR0_WP;
    this.cr4 = CR4_PAE;
    this.cr3 = cr3;
    this.efer = EFER_LME | EFER_LMA | EFER_SCE | EFER_NXE;
    this.setSegRaw(CS, 0x08, 0, 0xffffffff, 0xa09b);
    for (const s of [DS, ES, SS, FS, GS]) this.setSegRaw(s, 0x10, 0, 0xffffffff, 0xc093);
    this.setFlagsRaw(2);
    this.updateMode();
    this.flushTlb(true);
  }

  setSegRaw(s: number, sel: number, base: number, limit: number, attrs: number): void {
    this.segSel[s] = sel & 0xffff;
    this.segBase[s] = base;
    this.segLimit[s] = limit >>> 0;
    this.segAttr[s] = attrs;
    if (s === CS || s === SS) this.updateMode();
    else this.segChanged();
  }

  /** Recomputes code/stack size, CPL and the decode mode key from CR0/EFER/CS/SS. */
  updateMode(): void {
    const csa = this.segAttr[CS]!;
    const pe = (this.cr0 & CR0_PE) !== 0;
    if ((this.efer & EFER_LMA) !== 0 && (csa & (1 << 13)) !== 0) {
      this.codeSize = 8;
      this.stackSize = 8;
      this.modeKey = 2;
    } else {
      this.codeSize = (csa & (1 << 14)) !== 0 ? 4 : 2;
      this.stackSize = (this.segAttr[SS]! & (1 << 14)) !== 0 ? 4 : 2;
      this.modeKey = this.codeSize === 4 ? 1 : 0;
    }
    if (!pe) this.cpl = 0;
    else if ((this.flags & VM) !== 0) this.cpl = 3;
    else this.cpl = (csa >>> 5) & 3;
    this.tlbUser = this.cpl === 3 ? TLB_SIZE : 0;
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
        else if ((this.cr0 & CR0_PE) !== 0 && (this.flags & VM) === 0) {
          if ((a & SEG_ATTR_UNUSABLE) !== 0) c = 1;
          else if ((a & 8) !== 0) c = 1; // code: not writable, maybe not readable
          else if ((a & 2) === 0 || (a & 4) !== 0) c = 1; // read-only or expand-down data
        }
      }
      chk[s] = c;
    }
  }

  /** Limit, type and null checks of an access of `size` bytes at offset `off` of segment `s` (#GP, or #SS for SS). */
  checkSeg(s: number, off: number, size: number, write: boolean): void {
    const a = this.segAttr[s]!;
    const vec = s === SS ? VEC_SS : VEC_GP;
    const pm = (this.cr0 & CR0_PE) !== 0 && (this.flags & VM) === 0;
    if (pm) {
      if ((a & SEG_ATTR_UNUSABLE) !== 0) return this.raise(vec, 0);
      if ((a & 8) !== 0) {
        if (write || (a & 2) === 0) return this.raise(vec, 0);
      } else if (write && (a & 2) === 0) return this.raise(vec, 0);
    }
    const limit = this.segLimit[s]!;
    const last = off + size - 1;
    if (pm && (a & 0xc) === 4) {
      const upper = (a & (1 << 14)) !== 0 ? 0xffffffff : 0xffff;
      if (off <= limit || last > upper) return this.raise(vec, 0);
    } else if (last > limit) return this.raise(vec, 0);
  }

  get long64(): boolean {
    return this.codeSize === 8;
  }

  // =====================================================================
  // GPR helpers
  // =====================================================================

  /** 64-bit register as a signed double (for addresses). */
  r64(n: number): number {
    return this.rh[n]! * TWO32 + (this.rl[n]! >>> 0);
  }

  getGpr(n: number): bigint {
    return (BigInt(this.rh[n]! >>> 0) << 32n) | BigInt(this.rl[n]! >>> 0);
  }
  setGpr(n: number, v: bigint): void {
    this.rl[n] = Number(v & 0xffffffffn) | 0;
    this.rh[n] = Number((v >> 32n) & 0xffffffffn) | 0;
  }
  getRip(): bigint {
    return this.rip < 0 ? BigInt(this.rip) + (1n << 64n) : BigInt(this.rip);
  }
  setRip(v: bigint): void {
    this.rip = u64ToAddr(v);
  }

  /** Reads a register of `size` bytes: 1 uses byte-register codes (0-15 low bytes, 16-19 AH..BH). */
  getReg(size: number, r: number): number {
    switch (size) {
      case 1:
        return r < 16 ? this.rl[r]! & 0xff : (this.rl[r - 16]! >> 8) & 0xff;
      case 2:
        return this.rl[r]! & 0xffff;
      case 8:
        this.hi = this.rh[r]!;
        return this.rl[r]!;
      default:
        return this.rl[r]!;
    }
  }
  /** Writes a register; 32-bit writes zero the upper half, 8/16-bit writes merge. */
  setReg(size: number, r: number, v: number, vhi = 0): void {
    switch (size) {
      case 1:
        if (r < 16) this.rl[r] = (this.rl[r]! & ~0xff) | (v & 0xff);
        else this.rl[r - 16] = (this.rl[r - 16]! & ~0xff00) | ((v & 0xff) << 8);
        return;
      case 2:
        this.rl[r] = (this.rl[r]! & ~0xffff) | (v & 0xffff);
        return;
      case 8:
        this.rl[r] = v;
        this.rh[r] = vhi;
        return;
      default:
        this.rl[r] = v;
        this.rh[r] = 0;
    }
  }

  // =====================================================================
  // Lazy flags
  // =====================================================================

  setFlagsRaw(v: number): void {
    this.flags = (v & ~ARITH_MASK) | 2;
    this.fop = F_EAGER;
    this.fres = v & ARITH_MASK;
  }

  /** CF PF AF ZF SF OF computed from the last operation. */
  arith(): number {
    const op = this.fop;
    if (op === F_EAGER) return this.fres;
    if (op === F_LOGIC) return this.szp(this.fsz, this.fres, this.fresH);
    if (this.fsz === 4) {
      // 32-bit fast path.
      const r = this.fres;
      const d = this.fdst;
      const s = this.fsrc;
      let f = PARITY[r & 0xff]! | (r === 0 ? ZF : 0) | (r < 0 ? SF : 0) | ((r ^ d ^ s) & AF);
      switch (op) {
        case F_ADD:
          return f | ((r >>> 0) < (d >>> 0) ? CF : 0) | ((d ^ r) & (s ^ r) & 0x80000000 ? OF : 0);
        case F_ADC:
          return f | ((r >>> 0) <= (d >>> 0) ? CF : 0) | ((d ^ r) & (s ^ r) & 0x80000000 ? OF : 0);
        case F_SUB:
          return f | ((d >>> 0) < (s >>> 0) ? CF : 0) | ((d ^ s) & (d ^ r) & 0x80000000 ? OF : 0);
        case F_SBB:
          return f | ((d >>> 0) <= (s >>> 0) ? CF : 0) | ((d ^ s) & (d ^ r) & 0x80000000 ? OF : 0);
        case F_INC:
          f |= this.fcin;
          return f | (r === (0x80000000 | 0) ? OF : 0);
        default:
          f |= this.fcin;
          return f | (r === 0x7fffffff ? OF : 0);
      }
    }
    return this.getCF() | this.szp(this.fsz, this.fres, this.fresH) | this.getAF() | this.getOF();
  }

  getFlags(): number {
    return (this.flags & ~ARITH_MASK) | this.arith();
  }

  /** Writes RFLAGS bits in `mask` (arith bits included), keeping the others. */
  putFlags(v: number, mask: number): void {
    const cur = this.getFlags();
    const nv = ((cur & ~mask) | (v & mask)) & (FLAGS_WRITABLE | VM) | 2;
    const vmChanged = ((nv ^ this.flags) & VM) !== 0;
    if ((nv & (IF | TF)) !== 0) this.pollAt = 0;
    this.flags = nv & ~ARITH_MASK;
    this.fop = F_EAGER;
    this.fres = nv & ARITH_MASK;
    if (vmChanged) this.updateMode();
  }

  setEager(arith: number): void {
    this.fop = F_EAGER;
    this.fres = arith;
  }

  getCF(): number {
    switch (this.fop) {
      case F_EAGER:
        return this.fres & CF;
      case F_ADD:
        return this.fsz === 8 ? (ltU64(this.fresH, this.fres, this.fdstH, this.fdst) ? 1 : 0) : (this.fres >>> 0) < (this.fdst >>> 0) ? 1 : 0;
      case F_ADC:
        return this.fsz === 8 ? (leU64(this.fresH, this.fres, this.fdstH, this.fdst) ? 1 : 0) : (this.fres >>> 0) <= (this.fdst >>> 0) ? 1 : 0;
      case F_SUB:
        return this.fsz === 8 ? (ltU64(this.fdstH, this.fdst, this.fsrcH, this.fsrc) ? 1 : 0) : (this.fdst >>> 0) < (this.fsrc >>> 0) ? 1 : 0;
      case F_SBB:
        return this.fsz === 8 ? (leU64(this.fdstH, this.fdst, this.fsrcH, this.fsrc) ? 1 : 0) : (this.fdst >>> 0) <= (this.fsrc >>> 0) ? 1 : 0;
      case F_LOGIC:
        return 0;
      default:
        return this.fcin;
    }
  }
  getZF(): number {
    if (this.fop === F_EAGER) return this.fres & ZF;
    if (this.fsz === 8) return (this.fres | this.fresH) === 0 ? ZF : 0;
    return this.fres === 0 ? ZF : 0;
  }
  getSF(): number {
    if (this.fop === F_EAGER) return this.fres & SF;
    if (this.fsz === 8) return this.fresH < 0 ? SF : 0;
    return (this.fres & signBit(this.fsz)) !== 0 ? SF : 0;
  }
  getPF(): number {
    if (this.fop === F_EAGER) return this.fres & PF;
    return PARITY[this.fres & 0xff]!;
  }
  getAF(): number {
    switch (this.fop) {
      case F_EAGER:
        return this.fres & AF;
      case F_LOGIC:
        return 0;
      default:
        return (this.fres ^ this.fdst ^ this.fsrc) & AF;
    }
  }
  getOF(): number {
    const op = this.fop;
    if (op === F_EAGER) return this.fres & OF;
    if (op === F_LOGIC) return 0;
    let d = this.fdst;
    let s = this.fsrc;
    let r = this.fres;
    let sb = signBit(this.fsz);
    if (this.fsz === 8) {
      d = this.fdstH;
      s = this.fsrcH;
      r = this.fresH;
      sb = 0x80000000 | 0;
    }
    if (op === F_ADD || op === F_ADC || op === F_INC) return ((d ^ r) & (s ^ r) & sb) !== 0 ? OF : 0;
    return ((d ^ s) & (d ^ r) & sb) !== 0 ? OF : 0;
  }

  /** Evaluates condition code `cc` (0-15, the Jcc/SETcc/CMOVcc encoding). */
  cond(cc: number): boolean {
    let r: boolean;
    switch (cc >> 1) {
      case 0:
        r = this.getOF() !== 0;
        break;
      case 1:
        r = this.getCF() !== 0;
        break;
      case 2:
        r = this.getZF() !== 0;
        break;
      case 3:
        r = this.getCF() !== 0 || this.getZF() !== 0;
        break;
      case 4:
        r = this.getSF() !== 0;
        break;
      case 5:
        r = this.getPF() !== 0;
        break;
      case 6:
        r = (this.getSF() !== 0) !== (this.getOF() !== 0);
        break;
      default:
        r = this.getZF() !== 0 || (this.getSF() !== 0) !== (this.getOF() !== 0);
    }
    return (cc & 1) !== 0 ? !r : r;
  }

  /** ALU op 0-7 (ADD OR ADC SBB AND SUB XOR CMP) on `size` 1/2/4 operands; returns the masked result. */
  alu(op: number, size: number, d: number, s: number): number {
    let r: number;
    switch (op) {
      case 0:
        r = d + s;
        this.fop = F_ADD;
        break;
      case 1:
        r = d | s;
        this.fop = F_LOGIC;
        break;
      case 2: {
        const c = this.getCF();
        r = d + s + c;
        this.fop = c ? F_ADC : F_ADD;
        break;
      }
      case 3: {
        const c = this.getCF();
        r = d - s - c;
        this.fop = c ? F_SBB : F_SUB;
        break;
      }
      case 4:
        r = d & s;
        this.fop = F_LOGIC;
        break;
      case 6:
        r = d ^ s;
        this.fop = F_LOGIC;
        break;
      default:
        r = d - s;
        this.fop = F_SUB;
    }
    r = size === 4 ? r | 0 : size === 1 ? r & 0xff : r & 0xffff;
    this.fsz = size;
    this.fdst = d;
    this.fsrc = s;
    this.fres = r;
    return r;
  }

  /** 64-bit ALU op; returns the low half, high half in this.hi. */
  alu64(op: number, dl: number, dh: number, sl: number, sh: number): number {
    let rl: number;
    let rh: number;
    switch (op) {
      case 0:
      case 2: {
        const c = op === 2 ? this.getCF() : 0;
        const lo = (dl >>> 0) + (sl >>> 0) + c;
        rl = lo | 0;
        rh = (dh + sh + (lo > 0xffffffff ? 1 : 0)) | 0;
        this.fop = c ? F_ADC : F_ADD;
        break;
      }
      case 3:
      case 5:
      case 7: {
        const c = op === 3 ? this.getCF() : 0;
        const lo = (dl >>> 0) - (sl >>> 0) - c;
        rl = lo | 0;
        rh = (dh - sh - (lo < 0 ? 1 : 0)) | 0;
        this.fop = c ? F_SBB : F_SUB;
        break;
      }
      case 1:
        rl = dl | sl;
        rh = dh | sh;
        this.fop = F_LOGIC;
        break;
      case 4:
        rl = dl & sl;
        rh = dh & sh;
        this.fop = F_LOGIC;
        break;
      default:
        rl = dl ^ sl;
        rh = dh ^ sh;
        this.fop = F_LOGIC;
    }
    this.fsz = 8;
    this.fdst = dl;
    this.fdstH = dh;
    this.fsrc = sl;
    this.fsrcH = sh;
    this.fres = rl;
    this.fresH = rh;
    this.hi = rh;
    return rl;
  }

  /** INC (dec=false) / DEC of a 1/2/4-byte value, preserving CF. */
  incdec(size: number, d: number, dec: boolean): number {
    const c = this.getCF();
    let r = dec ? d - 1 : d + 1;
    r = size === 4 ? r | 0 : size === 1 ? r & 0xff : r & 0xffff;
    this.fcin = c;
    this.fop = dec ? F_DEC : F_INC;
    this.fsz = size;
    this.fdst = d;
    this.fsrc = 1;
    this.fres = r;
    return r;
  }
  incdec64(dl: number, dh: number, dec: boolean): number {
    const c = this.getCF();
    let rl: number;
    let rh: number;
    if (dec) {
      rl = (dl - 1) | 0;
      rh = dl === 0 ? (dh - 1) | 0 : dh;
    } else {
      rl = (dl + 1) | 0;
      rh = rl === 0 ? (dh + 1) | 0 : dh;
    }
    this.fcin = c;
    this.fop = dec ? F_DEC : F_INC;
    this.fsz = 8;
    this.fdst = dl;
    this.fdstH = dh;
    this.fsrc = 1;
    this.fsrcH = 0;
    this.fres = rl;
    this.fresH = rh;
    this.hi = rh;
    return rl;
  }

  /** ZF/SF/PF bits of a result of `size` bytes (hi used for 8). */
  szp(size: number, r: number, rhi = 0): number {
    let f = PARITY[r & 0xff]!;
    if (size === 8) {
      if ((r | rhi) === 0) f |= ZF;
      if (rhi < 0) f |= SF;
    } else {
      if (r === 0) f |= ZF;
      if ((r & signBit(size)) !== 0) f |= SF;
    }
    return f;
  }

  // =====================================================================
  // Exceptions
  // =====================================================================

  raise(vector: number, code = -1): never {
    this.excVec = vector;
    this.excCode = code;
    throw FAULT;
  }
  gp(code = 0): never {
    return this.raise(VEC_GP, code);
  }
  ud(): never {
    return this.raise(VEC_UD);
  }

  /** #UD for an opcode the interpreter does not implement, with a one-time host warning. */
  unimplemented(what: string): never {
    warnOnce(`emu-ud-${what}`, `emu: unimplemented instruction ${what} at rip 0x${this.bip.toString(16)}: raising #UD in the guest`);
    return this.raise(VEC_UD);
  }

  // =====================================================================
  // Paging and the TLB
  // =====================================================================

  flushTlb(global: boolean): void {
    if (global) {
      this.tlbTagR.fill(-1);
      this.tlbTagW.fill(-1);
      this.tlbTagX.fill(-1);
      this.tlbPhys.fill(-1);
      this.largePages = false;
    } else {
      const g = this.tlbGlobal;
      for (let i = 0; i < g.length; i++) {
        if (g[i] === 0) {
          this.tlbTagR[i] = -1;
          this.tlbTagW[i] = -1;
          this.tlbTagX[i] = -1;
          this.tlbPhys[i] = -1;
        }
      }
    }
    this.jcTag.fill(-1);
  }

  invlpg(lin: number): void {
    if (this.largePages) {
      this.flushTlb(true);
      return;
    }
    const i = (lin >>> 12) & TLB_MASK;
    for (const j of [i, i + TLB_SIZE]) {
      this.tlbTagR[j] = -1;
      this.tlbTagW[j] = -1;
      this.tlbTagX[j] = -1;
      this.tlbPhys[j] = -1;
    }
    this.jcTag.fill(-1);
  }

  /** Drops write-TLB entries for physical page `ppage` (it now holds decoded code). */
  dropWriteEntries(ppage: number): void {
    const pb = ppage * 4096;
    const ph = this.tlbPhys;
    for (let i = 0; i < ph.length; i++) if (ph[i] === pb) this.tlbTagW[i] = -1;
  }

  physRd32(pa: number): number {
    const r = this.ramAt(pa);
    if (r === undefined || pa + 4 > r.gpa + r.size) return 0;
    return r.view.getInt32(pa - r.gpa, true);
  }
  physWr32(pa: number, v: number): void {
    const r = this.ramAt(pa);
    if (r === undefined || pa + 4 > r.gpa + r.size) return;
    r.view.setInt32(pa - r.gpa, v, true);
  }

  private pageFault(lin: number, acc: number, user: boolean, present: boolean, rsvd: boolean): never {
    this.cr2 = lin;
    let code = (present ? 1 : 0) | (acc === 1 ? 2 : 0) | (user ? 4 : 0) | (rsvd ? 8 : 0);
    if (acc === 2 && (this.efer & EFER_NXE) !== 0 && (this.cr4 & CR4_PAE) !== 0) code |= 16;
    return this.raise(VEC_PF, code);
  }

  /**
   * Translates linear `lin` for access `acc` (0 read, 1 write, 2 fetch) at the current
   * privilege (user when tlbUser !== 0). Sets accessed/dirty bits; raises #PF/#GP.
   */
  translate(lin: number, acc: number): number {
    const user = this.tlbUser !== 0;
    this.xlGlobal = 0;
    if ((this.cr0 & CR0_PG) === 0) return this.long64 ? lin : lin >>> 0;
    const nxe = (this.efer & EFER_NXE) !== 0;
    const wp = (this.cr0 & CR0_WP) !== 0;
    let rw = 2;
    let us = 4;
    let nx = false;
    let phys: number;
    let leafAddr: number;
    let leafLo: number;
    if ((this.cr4 & CR4_PAE) === 0) {
      const l = lin >>> 0;
      const pdeA = (this.cr3 & 0xfffff000) + ((l >>> 22) << 2);
      const pde = this.physRd32(pdeA);
      if ((pde & 1) === 0) return this.pageFault(lin, acc, user, false, false);
      rw &= pde;
      us &= pde;
      if ((pde & 0x80) !== 0 && (this.cr4 & CR4_PSE) !== 0) {
        if ((pde & 0x200000) !== 0) return this.pageFault(lin, acc, user, true, true);
        phys = ((pde & 0xffc00000) >>> 0) + ((pde >>> 13) & 0xff) * TWO32 + (l & 0x3fffff);
        leafAddr = pdeA;
        leafLo = pde;
        this.largePages = true;
      } else {
        if ((pde & 0x20) === 0) this.physWr32(pdeA, pde | 0x20);
        const pteA = ((pde & 0xfffff000) >>> 0) + (((l >>> 12) & 0x3ff) << 2);
        const pte = this.physRd32(pteA);
        if ((pte & 1) === 0) return this.pageFault(lin, acc, user, false, false);
        rw &= pte;
        us &= pte;
        phys = ((pte & 0xfffff000) >>> 0) + (l & 0xfff);
        leafAddr = pteA;
        leafLo = pte;
      }
    } else {
      const lo = lin >>> 0;
      let tableA: number;
      let levels: number;
      if ((this.efer & EFER_LMA) !== 0) {
        if (lin < -TWO47 || lin >= TWO47) return this.gp(0);
        const hi16 = Math.floor(lin / TWO32) & 0xffff;
        levels = 4;
        tableA = floorPage(this.cr3) + ((hi16 >>> 7) & 0x1ff) * 8;
        // PML4E
        const e = this.walkEntry(tableA, lin, acc, user, nxe);
        if ((e & 0x80) !== 0) return this.pageFault(lin, acc, user, true, true);
        rw &= e;
        us &= e;
        nx = nx || this.walkNx;
        tableA = this.walkAddr + (((hi16 & 0x7f) << 2) | (lo >>> 30)) * 8;
      } else {
        levels = 3;
        const pdpteA = (this.cr3 & 0xffffffe0) + ((lo >>> 30) & 3) * 8;
        const p = this.physRd32(pdpteA);
        if ((p & 1) === 0) return this.pageFault(lin, acc, user, false, false);
        tableA = pdptAddr(p, this.physRd32(pdpteA + 4)) + ((lo >>> 21) & 0x1ff) * 8;
      }
      if (levels === 4) {
        // PDPTE (may map a 1 GiB page)
        const e = this.walkEntry(tableA, lin, acc, user, nxe);
        rw &= e;
        us &= e;
        nx = nx || this.walkNx;
        if ((e & 0x80) !== 0) {
          if ((e & 0x3fffe000) !== 0) return this.pageFault(lin, acc, user, true, true);
          phys = this.walkAddr - (this.walkAddr % 0x40000000) + (lo & 0x3fffffff);
          leafAddr = tableA;
          leafLo = e;
          this.largePages = true;
          return this.finishWalk(lin, acc, user, rw, us, nx, nxe, wp, phys, leafAddr, leafLo);
        }
        tableA = this.walkAddr + ((lo >>> 21) & 0x1ff) * 8;
      }
      // PDE
      const pde = this.walkEntry(tableA, lin, acc, user, nxe);
      rw &= pde;
      us &= pde;
      nx = nx || this.walkNx;
      if ((pde & 0x80) !== 0) {
        if ((pde & 0x1fe000) !== 0) return this.pageFault(lin, acc, user, true, true);
        phys = this.walkAddr - (this.walkAddr % 0x200000) + (lo & 0x1fffff);
        leafAddr = tableA;
        leafLo = pde;
        this.largePages = true;
      } else {
        const pteA = this.walkAddr + ((lo >>> 12) & 0x1ff) * 8;
        const pte = this.walkEntry(pteA, lin, acc, user, nxe);
        rw &= pte;
        us &= pte;
        nx = nx || this.walkNx;
        phys = this.walkAddr + (lo & 0xfff);
        leafAddr = pteA;
        leafLo = pte;
      }
    }
    return this.finishWalk(lin, acc, user, rw, us, nx, nxe, wp, phys, leafAddr, leafLo);
  }

  private walkAddr = 0;
  private walkNx = false;
  /** Reads a PAE/4-level entry at `a`; faults when not present or reserved; sets A on non-leaf entries. */
  private walkEntry(a: number, lin: number, acc: number, user: boolean, nxe: boolean): number {
    const lo = this.physRd32(a);
    const hi = this.physRd32(a + 4);
    if ((lo & 1) === 0) return this.pageFault(lin, acc, user, false, false);
    // Reserved: address bits above MAXPHYADDR (40), NX without EFER.NXE.
    if ((hi & 0x000fff00) !== 0 || (!nxe && hi < 0)) return this.pageFault(lin, acc, user, true, true);
    this.walkNx = hi < 0;
    if ((lo & 0x20) === 0) this.physWr32(a, lo | 0x20);
    this.walkAddr = (hi & 0xff) * TWO32 + ((lo & 0xfffff000) >>> 0);
    return lo;
  }

  private finishWalk(lin: number, acc: number, user: boolean, rw: number, us: number, nx: boolean, nxe: boolean, wp: boolean, phys: number, leafAddr: number, leafLo: number): number {
    if (user && us === 0) return this.pageFault(lin, acc, user, true, false);
    if (acc === 1 && rw === 0 && (user || wp)) return this.pageFault(lin, acc, user, true, false);
    if (acc === 2 && nx && nxe) return this.pageFault(lin, acc, user, true, false);
    let nl = leafLo | 0x20;
    if (acc === 1) nl |= 0x40;
    if (nl !== leafLo) this.physWr32(leafAddr, nl);
    // Accessed bits of the upper levels (set even if they were set: cheap and architecturally allowed).
    this.xlGlobal = (leafLo & 0x100) !== 0 && (this.cr4 & CR4_PGE) !== 0 ? 1 : 0;
    return phys;
  }

  /** Fills the TLB entry for `lin` after a successful translation to RAM `phys`. */
  private fill(lin: number, phys: number, acc: number, r: RamRegion): void {
    const page = lin - (lin & 0xfff);
    const i = ((lin >>> 12) & TLB_MASK) | this.tlbUser;
    const pp = phys - (phys & 0xfff);
    if (this.tlbPhys[i] !== pp || this.tlbTagR[i] !== page) {
      this.tlbTagR[i] = -1;
      this.tlbTagW[i] = -1;
      this.tlbTagX[i] = -1;
    }
    this.tlbPhys[i] = pp;
    this.tlbOff[i] = pp - r.gpa;
    this.tlbView[i] = r.view;
    this.tlbGlobal[i] = this.xlGlobal;
    this.tlbTagR[i] = page;
    if (acc === 2) this.tlbTagX[i] = page;
    if (acc === 1 && !this.cache.isCode(pp)) this.tlbTagW[i] = page;
  }

  // =====================================================================
  // Memory access (linear addresses)
  // =====================================================================

  rd8(lin: number): number {
    const i = ((lin >>> 12) & TLB_MASK) | this.tlbUser;
    const off = lin & 0xfff;
    if (this.tlbTagR[i] === lin - off) return this.tlbView[i]!.getUint8(this.tlbOff[i]! + off);
    return this.rdSlow(lin, 1);
  }
  rd16(lin: number): number {
    const i = ((lin >>> 12) & TLB_MASK) | this.tlbUser;
    const off = lin & 0xfff;
    if (this.tlbTagR[i] === lin - off && off <= 0xffe) return this.tlbView[i]!.getUint16(this.tlbOff[i]! + off, true);
    return this.rdSlow(lin, 2);
  }
  rd32(lin: number): number {
    const i = ((lin >>> 12) & TLB_MASK) | this.tlbUser;
    const off = lin & 0xfff;
    if (this.tlbTagR[i] === lin - off && off <= 0xffc) return this.tlbView[i]!.getInt32(this.tlbOff[i]! + off, true);
    return this.rdSlow(lin, 4);
  }
  /** 64-bit read: low half returned, high half in this.hi. */
  rd64(lin: number): number {
    const i = ((lin >>> 12) & TLB_MASK) | this.tlbUser;
    const off = lin & 0xfff;
    if (this.tlbTagR[i] === lin - off && off <= 0xff8) {
      const v = this.tlbView[i]!;
      const o = this.tlbOff[i]! + off;
      this.hi = v.getInt32(o + 4, true);
      return v.getInt32(o, true);
    }
    const lo = this.rd32(lin);
    this.hi = this.rd32(addLin(lin, 4, this.long64));
    return lo;
  }
  rd(size: number, lin: number): number {
    switch (size) {
      case 1:
        return this.rd8(lin);
      case 2:
        return this.rd16(lin);
      case 4:
        return this.rd32(lin);
      default:
        return this.rd64(lin);
    }
  }
  wr8(lin: number, v: number): void {
    const i = ((lin >>> 12) & TLB_MASK) | this.tlbUser;
    const off = lin & 0xfff;
    if (this.tlbTagW[i] === lin - off) this.tlbView[i]!.setUint8(this.tlbOff[i]! + off, v);
    else this.wrSlow(lin, 1, v);
  }
  wr16(lin: number, v: number): void {
    const i = ((lin >>> 12) & TLB_MASK) | this.tlbUser;
    const off = lin & 0xfff;
    if (this.tlbTagW[i] === lin - off && off <= 0xffe) this.tlbView[i]!.setUint16(this.tlbOff[i]! + off, v, true);
    else this.wrSlow(lin, 2, v);
  }
  wr32(lin: number, v: number): void {
    const i = ((lin >>> 12) & TLB_MASK) | this.tlbUser;
    const off = lin & 0xfff;
    if (this.tlbTagW[i] === lin - off && off <= 0xffc) this.tlbView[i]!.setInt32(this.tlbOff[i]! + off, v, true);
    else this.wrSlow(lin, 4, v);
  }
  wr64(lin: number, lo: number, hi: number): void {
    const i = ((lin >>> 12) & TLB_MASK) | this.tlbUser;
    const off = lin & 0xfff;
    if (this.tlbTagW[i] === lin - off && off <= 0xff8) {
      const v = this.tlbView[i]!;
      const o = this.tlbOff[i]! + off;
      v.setInt32(o, lo, true);
      v.setInt32(o + 4, hi, true);
      return;
    }
    // Probe both halves for write before changing memory.
    this.probeWrite(lin, 8);
    this.wr32(lin, lo);
    this.wr32(addLin(lin, 4, this.long64), hi);
  }
  wr(size: number, lin: number, v: number, vhi = 0): void {
    switch (size) {
      case 1:
        return this.wr8(lin, v);
      case 2:
        return this.wr16(lin, v);
      case 4:
        return this.wr32(lin, v);
      default:
        return this.wr64(lin, v, vhi);
    }
  }

  /**
   * Read of a read-modify-write operand: faults as a write (error code W=1, CR2 of the first
   * byte that cannot be written) before anything changes, then reads.
   */
  rdw(size: number, lin: number): number {
    const i = ((lin >>> 12) & TLB_MASK) | this.tlbUser;
    const off = lin & 0xfff;
    if (this.tlbTagW[i] !== lin - off || off > 4096 - size) this.probeWrite(lin, size);
    return this.rd(size, lin);
  }

  /** Faults now if a write of `size` bytes at `lin` would fault (used before multi-part writes). */
  probeWrite(lin: number, size: number): void {
    this.translate(lin, 1);
    const last = addLin(lin, size - 1, this.long64);
    // The second page is checked at its first byte (that is the CR2 a fault reports).
    if ((last - (last & 0xfff)) !== (lin - (lin & 0xfff))) this.translate(last - (last & 0xfff), 1);
  }

  private rdSlow(lin: number, size: number): number {
    const off = lin & 0xfff;
    if (off + size > 4096) {
      let v = 0;
      for (let k = 0; k < size; k++) v |= this.rd8(addLin(lin, k, this.long64)) << (8 * k);
      return size === 4 ? v | 0 : v;
    }
    if (this.long64 && (lin < -TWO47 || lin >= TWO47)) return this.gp(0);
    const pa = this.translate(lin, 0);
    if (pa - (pa & 0xfff) === this.apicBasePhys && this.apic !== undefined && this.apicEnabled()) {
      this.counts.mmio++;
      const v = this.apic.mmioRead(pa & 0xfff, size);
      return size === 4 ? v | 0 : v;
    }
    const r = this.ramAt(pa);
    if (r !== undefined) {
      this.fill(lin, pa, 0, r);
      const o = pa - r.gpa;
      return size === 1 ? r.view.getUint8(o) : size === 2 ? r.view.getUint16(o, true) : r.view.getInt32(o, true);
    }
    this.counts.mmio++;
    const v = this.mmio.readValue(pa, size as 1 | 2 | 4);
    return size === 4 ? v | 0 : v;
  }

  private wrSlow(lin: number, size: number, v: number): void {
    const off = lin & 0xfff;
    if (off + size > 4096) {
      this.probeWrite(lin, size);
      for (let k = 0; k < size; k++) this.wr8(addLin(lin, k, this.long64), v >>> (8 * k));
      return;
    }
    if (this.long64 && (lin < -TWO47 || lin >= TWO47)) return this.gp(0);
    const pa = this.translate(lin, 1);
    if (pa - (pa & 0xfff) === this.apicBasePhys && this.apic !== undefined && this.apicEnabled()) {
      this.counts.mmio++;
      this.pollAt = 0;
      this.apic.mmioWrite(pa & 0xfff, size, v);
      return;
    }
    const r = this.ramAt(pa);
    if (r !== undefined) {
      const pp = pa - (pa & 0xfff);
      if (this.cache.isCode(pp)) this.cache.invalidatePage(pp, this);
      this.fill(lin, pa, 1, r);
      const o = pa - r.gpa;
      if (size === 1) r.view.setUint8(o, v);
      else if (size === 2) r.view.setUint16(o, v, true);
      else r.view.setInt32(o, v, true);
      return;
    }
    this.counts.mmio++;
    this.pollAt = 0;
    this.mmio.writeValue(pa, size as 1 | 2 | 4, size === 4 ? v >>> 0 : v);
  }

  /** The xAPIC MMIO page answers only while the APIC is globally enabled and not in x2APIC mode. */
  private apicEnabled(): boolean {
    return this.apicMmio;
  }
  private apicMmio = true;

  /** Translates the instruction pointer page for decoding; returns the physical address of `lin`. */
  fetchPhys(lin: number): number {
    const i = ((lin >>> 12) & TLB_MASK) | this.tlbUser;
    const off = lin & 0xfff;
    if (this.tlbTagX[i] === lin - off) return this.tlbPhys[i]! + off;
    if (this.long64 && (lin < -TWO47 || lin >= TWO47)) return this.gp(0);
    const pa = this.translate(lin, 2);
    const r = this.ramAt(pa);
    if (r !== undefined) this.fill(lin, pa, 2, r);
    return pa;
  }

  /** Called by the code cache when `lin`'s block of the current run was invalidated by a write. */
  blockInvalidated(b: Block): void {
    if (b === this.curBlock) this.smc = true;
  }
  smc = false;
  /** Instruction index inside a compiled block (see block-compiler.ts). */
  ci = 0;
  /** REP string iterations executed (they cost time but a REP retires as one instruction). */
  stringIters = 0;
  /** Set by an instruction that ran but does not retire yet (a paused REP). */
  notRetired = 0;
  /** Extra iterations of a self-looping compiled block, and the most it may run. */
  loops = 0;
  loopLimit = 1;
  /** Whether hot blocks are compiled to JavaScript functions. */
  compile = true;
  /** Instruction count at which run() next polls the APIC (0 = at the next block boundary). */
  pollAt = 0;

  // =====================================================================
  // Stack
  // =====================================================================

  /** Linear address of SS:[rsp + delta] for the current stack size. */
  stackLin(delta: number): number {
    if (this.stackSize === 8) {
      const a = this.r64(4) + delta;
      if (a < -TWO47 || a >= TWO47) return this.raise(VEC_SS, 0);
      return a;
    }
    const a = this.segBase[SS]! + (this.stackSize === 4 ? (this.rl[4]! + delta) >>> 0 : (this.rl[4]! + delta) & 0xffff);
    return a >= TWO32 ? a - TWO32 : a;
  }
  addRsp(delta: number): void {
    if (this.stackSize === 8) {
      const lo = (this.rl[4]! >>> 0) + delta;
      this.rl[4] = lo | 0;
      if (lo > 0xffffffff) this.rh[4] = (this.rh[4]! + 1) | 0;
      else if (lo < 0) this.rh[4] = (this.rh[4]! - 1) | 0;
    } else if (this.stackSize === 4) this.rl[4] = (this.rl[4]! + delta) | 0;
    else this.rl[4] = (this.rl[4]! & ~0xffff) | ((this.rl[4]! + delta) & 0xffff);
  }
  push(size: number, v: number, vhi = 0): void {
    this.wr(size, this.stackLin(-size), v, vhi);
    this.addRsp(-size);
  }
  /** Pops `size` bytes (high half of 8-byte pops in this.hi). */
  pop(size: number): number {
    const v = this.rd(size, this.stackLin(0));
    const h = this.hi;
    this.addRsp(size);
    this.hi = h;
    return v;
  }

  // =====================================================================
  // Segmentation
  // =====================================================================

  private dlo = 0;
  private dhi = 0;

  /** Reads descriptor `sel` from the GDT/LDT into dlo/dhi; #GP(sel) if outside the table. */
  readDescriptor(sel: number, vec = VEC_GP): number {
    const ldt = (sel & 4) !== 0;
    const base = ldt ? this.segBase[LDTR]! : this.gdtBase;
    const limit = ldt ? this.segLimit[LDTR]! : this.gdtLimit;
    const idx = sel & 0xfff8;
    if (idx + 7 > limit || (ldt && (this.segAttr[LDTR]! & SEG_ATTR_UNUSABLE) !== 0)) return this.raise(vec, sel & 0xfffc);
    const save = this.tlbUser;
    this.tlbUser = 0;
    try {
      this.dlo = this.rd32(this.sysLin(base + idx));
      this.dhi = this.rd32(this.sysLin(base + idx + 4));
    } finally {
      this.tlbUser = save;
    }
    return base + idx;
  }

  private sysLin(a: number): number {
    return (this.efer & EFER_LMA) !== 0 ? a : a % TWO32;
  }

  private setAccessed(addr: number): void {
    if ((this.dhi & 0x100) === 0 && (this.dhi & 0x1000) !== 0) {
      this.dhi |= 0x100;
      const save = this.tlbUser;
      this.tlbUser = 0;
      try {
        this.wr32(this.sysLin(addr + 4), this.dhi);
      } finally {
        this.tlbUser = save;
      }
    }
  }

  /** Loads segment register `s` from descriptor words dlo/dhi. */
  private loadFromDesc(s: number, sel: number): void {
    const lo = this.dlo;
    const hi = this.dhi;
    const base = ((hi & 0xff000000) | ((hi & 0xff) << 16) | (lo >>> 16)) >>> 0;
    const raw = (lo & 0xffff) | (hi & 0xf0000);
    const attrs = ((hi >>> 8) & 0xff) | (((hi >>> 20) & 0xf) << 12);
    const limit = (attrs & 0x8000) !== 0 ? ((raw << 12) | 0xfff) >>> 0 : raw;
    this.segSel[s] = sel;
    this.segBase[s] = base;
    this.segLimit[s] = limit;
    this.segAttr[s] = attrs;
    this.segChanged();
  }

  /** MOV/POP to a data segment register or SS (protected-mode checks per SDM vol. 2 MOV). */
  loadSeg(s: number, sel: number): void {
    sel &= 0xffff;
    if ((this.cr0 & CR0_PE) === 0 || (this.flags & VM) !== 0) {
      this.segSel[s] = sel;
      this.segBase[s] = sel << 4;
      if ((this.flags & VM) !== 0) {
        this.segLimit[s] = 0xffff;
        this.segAttr[s] = s === CS ? 0xf3 : 0xf3;
      }
      if (s === CS || s === SS) this.updateMode();
      else this.segChanged();
      return;
    }
    const rpl = sel & 3;
    if ((sel & 0xfffc) === 0) {
      if (s === SS && !(this.long64 && this.cpl !== 3 && rpl === this.cpl)) return this.gp(0);
      this.segSel[s] = sel;
      this.segBase[s] = 0;
      this.segLimit[s] = 0;
      this.segAttr[s] = SEG_ATTR_UNUSABLE | (s === SS ? this.cpl << 5 : 0);
      if (s === SS) this.updateMode();
      else this.segChanged();
      return;
    }
    const addr = this.readDescriptor(sel);
    const hi = this.dhi;
    const type = (hi >>> 8) & 0xf;
    const dpl = (hi >>> 13) & 3;
    const code = (type & 8) !== 0;
    if ((hi & 0x1000) === 0) return this.gp(sel & 0xfffc);
    if (s === SS) {
      if (code || (type & 2) === 0 || rpl !== this.cpl || dpl !== this.cpl) return this.gp(sel & 0xfffc);
      if ((hi & 0x8000) === 0) return this.raise(VEC_SS, sel & 0xfffc);
    } else {
      if (code && (type & 2) === 0) return this.gp(sel & 0xfffc);
      // Data or non-conforming code: DPL >= max(CPL, RPL).
      if ((!code || (type & 4) === 0) && dpl < Math.max(this.cpl, rpl)) return this.gp(sel & 0xfffc);
      if ((hi & 0x8000) === 0) return this.raise(VEC_NP, sel & 0xfffc);
    }
    this.setAccessed(addr);
    this.loadFromDesc(s, sel);
    if (s === SS) this.updateMode();
  }

  /**
   * Loads CS for a far JMP/CALL/RET/IRET/interrupt to `sel` at privilege `newCpl`
   * (checks the descriptor is present code of the right privilege).
   */
  loadCs(sel: number, newCpl: number, checkDpl: 'jmp' | 'ret' | 'int'): void {
    sel &= 0xffff;
    if ((this.cr0 & CR0_PE) === 0 || (this.flags & VM) !== 0) {
      this.segSel[CS] = sel;
      this.segBase[CS] = sel << 4;
      this.updateMode();
      return;
    }
    if ((sel & 0xfffc) === 0) return this.gp(0);
    const addr = this.readDescriptor(sel);
    const hi = this.dhi;
    const type = (hi >>> 8) & 0xf;
    const dpl = (hi >>> 13) & 3;
    if ((hi & 0x1000) === 0 || (type & 8) === 0) {
      if (checkDpl === 'jmp' && (hi & 0x1000) === 0 && (type === 0x5 || type === 0x9 || type === 0x1)) this.unimplemented(`far transfer through system descriptor type ${type}`);
      return this.gp(sel & 0xfffc);
    }
    const conforming = (type & 4) !== 0;
    if (checkDpl === 'jmp') {
      if (conforming ? dpl > this.cpl : (sel & 3) > this.cpl || dpl !== this.cpl) return this.gp(sel & 0xfffc);
    } else if (checkDpl === 'ret') {
      if (conforming ? dpl > newCpl : dpl !== newCpl) return this.gp(sel & 0xfffc);
    } else if (dpl > this.cpl) return this.gp(sel & 0xfffc);
    if ((hi & 0x8000) === 0) return this.raise(VEC_NP, sel & 0xfffc);
    if ((this.efer & EFER_LMA) !== 0 && (hi & (1 << 21)) !== 0 && (hi & (1 << 22)) !== 0) return this.gp(sel & 0xfffc);
    this.setAccessed(addr);
    this.loadFromDesc(CS, (sel & 0xfffc) | newCpl);
    this.segAttr[CS] = (this.segAttr[CS]! & ~0x60) | (conforming ? this.segAttr[CS]! & 0x60 : newCpl << 5);
    // CPL follows the new CS (for conforming segments CPL is unchanged)
    this.segAttr[CS] = (this.segAttr[CS]! & ~0x60) | (newCpl << 5);
    this.updateMode();
  }

  // =====================================================================
  // Interrupt and exception delivery
  // =====================================================================

  private logException(vec: number, code: number): void {
    this.counts.exceptions++;
    this.exceptionsByVector[vec & 31]!++;
    if (this.exceptionLog.length >= 64) this.exceptionLog.shift();
    this.exceptionLog.push({ vector: vec, code, rip: this.rip });
  }

  /**
   * Delivers a fault/trap/interrupt through the IDT (or IVT in real mode). `rip` must
   * already be the value to push. Handles #DF and triple faults.
   */
  deliver(vector: number, code: number, soft: boolean, ext: boolean, faultRip = this.rip): void {
    let v = vector;
    let c = code;
    let s = soft;
    const startRip = faultRip;
    for (;;) {
      try {
        if (!s && v < 32 && !ext) this.logException(v, c);
        this.deliverOnce(v, c, s, ext);
        return;
      } catch (e) {
        if (e !== FAULT) throw e;
        this.rip = startRip;
        const nv = this.excVec;
        const nc = this.excCode;
        if (v === VEC_DF) {
          this.shutdownReason = `triple fault (vector ${nv} while delivering #DF)`;
          this.breakRun = true;
          return;
        }
        if (!s && ((isContributory(v) && isContributory(nv)) || (v === VEC_PF && (isContributory(nv) || nv === VEC_PF)))) {
          this.logException(nv, nc);
          v = VEC_DF;
          c = 0;
        } else {
          v = nv;
          c = nc;
        }
        s = false;
        ext = false;
      }
    }
  }

  private deliverOnce(vec: number, code: number, soft: boolean, ext: boolean): void {
    const pushCode = !soft && code >= 0 && vec < 32 && hasErrorCode(vec);
    if ((this.cr0 & CR0_PE) === 0) {
      // Real mode: IVT entry of 4 bytes, push FLAGS, CS, IP.
      if (vec * 4 + 3 > this.idtLimit) return this.gp(0);
      const ent = this.rd32((this.idtBase + vec * 4) >>> 0);
      const fl = this.getFlags();
      this.push(2, fl & 0xffff);
      this.push(2, this.segSel[CS]!);
      this.push(2, this.rip & 0xffff);
      this.putFlags(0, IF | TF | AC | RF);
      this.segSel[CS] = ent >>> 16;
      this.segBase[CS] = (ent >>> 16) << 4;
      this.rip = ent & 0xffff;
      this.updateMode();
      return;
    }
    const extBit = ext || !soft ? 1 : 0;
    const idtErr = vec * 8 + 2 + (soft ? 0 : 1) * 0 + extBit;
    const lma = (this.efer & EFER_LMA) !== 0;
    const gsz = lma ? 16 : 8;
    if (vec * gsz + gsz - 1 > this.idtLimit) return this.gp(idtErr);
    const save = this.tlbUser;
    this.tlbUser = 0;
    let lo: number;
    let hi: number;
    let w2 = 0;
    try {
      const ga = this.sysLin(this.idtBase + vec * gsz);
      lo = this.rd32(ga);
      hi = this.rd32(this.sysLin(ga + 4));
      if (lma) w2 = this.rd32(this.sysLin(ga + 8));
    } finally {
      this.tlbUser = save;
    }
    const type = (hi >>> 8) & 0x1f;
    const gdpl = (hi >>> 13) & 3;
    if (!lma && type === 0x5) {
      // Task gate: a hardware task switch to the TSS it names (error code pushed on the new task's stack).
      if (soft && gdpl < this.cpl) return this.gp(vec * 8 + 2);
      if ((hi & 0x8000) === 0) return this.raise(VEC_NP, idtErr);
      this.taskSwitch(lo >>> 16, 'call', this.rip);
      if (pushCode) this.push((this.segAttr[CS]! & (1 << 14)) !== 0 ? 4 : 2, code);
      return;
    }
    if (lma ? type !== 0xe && type !== 0xf : type !== 0xe && type !== 0xf && type !== 0x6 && type !== 0x7) {
      return this.gp(idtErr);
    }
    if (soft && gdpl < this.cpl) return this.gp(vec * 8 + 2);
    if ((hi & 0x8000) === 0) return this.raise(VEC_NP, idtErr);
    const sel = lo >>> 16;
    const target = lma ? w2 * TWO32 + (((hi & 0xffff0000) | (lo & 0xffff)) >>> 0) : (type & 8) !== 0 ? ((hi & 0xffff0000) | (lo & 0xffff)) >>> 0 : lo & 0xffff;
    const gate32 = (type & 8) !== 0;
    const trap = (type & 1) !== 0;
    if ((sel & 0xfffc) === 0) return this.gp(extBit);
    // Target code segment
    this.readDescriptor(sel, VEC_GP);
    const dh = this.dhi;
    const dl = this.dlo;
    const dtype = (dh >>> 8) & 0xf;
    const ddpl = (dh >>> 13) & 3;
    if ((dh & 0x1000) === 0 || (dtype & 8) === 0 || ddpl > this.cpl) return this.gp((sel & 0xfffc) + extBit);
    if ((dh & 0x8000) === 0) return this.raise(VEC_NP, (sel & 0xfffc) + extBit);
    if (lma && ((dh & (1 << 21)) === 0 || (dh & (1 << 22)) !== 0)) return this.gp((sel & 0xfffc) + extBit);
    const conforming = (dtype & 4) !== 0;
    const newCpl = conforming ? this.cpl : ddpl;
    const oldFlags = this.getFlags();
    const oldCs = this.segSel[CS]!;
    const oldSs = this.segSel[SS]!;
    const oldRipV = this.rip;
    if (lma) {
      const ist = hi & 7;
      let rsp: number;
      let rspHi = 0;
      let rspLo = 0;
      const oldRspLo = this.rl[4]!;
      const oldRspHi = this.rh[4]!;
      if (newCpl < this.cpl || ist !== 0) {
        const off = ist !== 0 ? 0x24 + (ist - 1) * 8 : 4 + newCpl * 8;
        this.tlbUser = 0;
        try {
          rspLo = this.rd32(this.segBase[TR]! + off);
          rspHi = this.rd32(this.segBase[TR]! + off + 4);
        } finally {
          this.tlbUser = save;
        }
        rsp = rspHi * TWO32 + (rspLo >>> 0);
      } else {
        rsp = this.r64(4);
      }
      rsp -= rsp % 16 < 0 ? 16 + (rsp % 16) : rsp % 16;
      const cplChange = newCpl !== this.cpl;
      // Push with the new privilege (supervisor) access rights.
      this.tlbUser = newCpl === 3 ? TLB_SIZE : 0;
      try {
        let sp = rsp;
        const q = (lo: number, hi2: number): void => {
          sp -= 8;
          this.wr64(sp, lo, hi2);
        };
        q(oldSs, 0);
        q(oldRspLo, oldRspHi);
        q(oldFlags, 0);
        q(oldCs, 0);
        q(oldRipV >>> 0, Math.floor(oldRipV / TWO32) | 0);
        if (pushCode) q(code, 0);
        rsp = sp;
      } catch (e) {
        this.tlbUser = save;
        throw e;
      }
      this.dlo = dl;
      this.dhi = dh;
      this.loadFromDesc(CS, (sel & 0xfffc) | newCpl);
      this.segAttr[CS] = (this.segAttr[CS]! & ~0x60) | (newCpl << 5);
      if (cplChange) {
        this.segSel[SS] = newCpl;
        this.segBase[SS] = 0;
        this.segLimit[SS] = 0;
        this.segAttr[SS] = SEG_ATTR_UNUSABLE | (newCpl << 5);
      }
      this.rl[4] = rsp | 0;
      this.rh[4] = Math.floor(rsp / TWO32) | 0;
      this.rip = target >= TWO63 ? target - TWO64 : target;
    } else {
      let newSsSel = oldSs;
      let espNew = this.rl[4]!;
      const oldEsp = this.rl[4]!;
      let ssChange = false;
      if (newCpl < this.cpl) {
        const tssBase = this.segBase[TR]!;
        const tss32 = (this.segAttr[TR]! & 8) !== 0;
        this.tlbUser = 0;
        try {
          if (tss32) {
            espNew = this.rd32((tssBase + 4 + newCpl * 8) % TWO32);
            newSsSel = this.rd16((tssBase + 8 + newCpl * 8) % TWO32);
          } else {
            espNew = this.rd16((tssBase + 2 + newCpl * 4) % TWO32);
            newSsSel = this.rd16((tssBase + 4 + newCpl * 4) % TWO32);
          }
        } finally {
          this.tlbUser = save;
        }
        ssChange = true;
      }
      const cplSave = this.cpl;
      const ssSave = [this.segSel[SS]!, this.segBase[SS]!, this.segLimit[SS]!, this.segAttr[SS]!] as const;
      if (ssChange) {
        this.cpl = newCpl;
        try {
          this.loadSeg(SS, newSsSel);
        } catch (e) {
          this.cpl = cplSave;
          if (e === FAULT) this.excVec = VEC_TS;
          throw e;
        }
        this.rl[4] = espNew;
      }
      this.tlbUser = newCpl === 3 ? TLB_SIZE : 0;
      const ss32 = (this.segAttr[SS]! & (1 << 14)) !== 0;
      this.stackSize = ss32 ? 4 : 2;
      const w = gate32 ? 4 : 2;
      try {
        if (ssChange) {
          this.push(w, oldSs);
          this.push(w, oldEsp);
        }
        this.push(w, oldFlags);
        this.push(w, oldCs);
        this.push(w, oldRipV);
        if (pushCode) this.push(w, code);
      } catch (e) {
        this.cpl = cplSave;
        this.tlbUser = save;
        this.segSel[SS] = ssSave[0];
        this.segBase[SS] = ssSave[1];
        this.segLimit[SS] = ssSave[2];
        this.segAttr[SS] = ssSave[3];
        this.rl[4] = oldEsp;
        this.updateMode();
        throw e;
      }
      this.dlo = dl;
      this.dhi = dh;
      this.loadFromDesc(CS, (sel & 0xfffc) | newCpl);
      this.segAttr[CS] = (this.segAttr[CS]! & ~0x60) | (newCpl << 5);
      this.rip = target;
    }
    let clear = TF | NT | RF | VM;
    if (!trap) clear |= IF;
    this.putFlags(0, clear);
    this.updateMode();
  }

  /**
   * INT n / INT3 / INTO / INT1 from the instruction at `insnRip` (rip is already the
   * next instruction). A fault during delivery is reported at the INT instruction.
   */
  deliverSoft(vector: number, int1: boolean, insnRip: number): void {
    this.deliver(vector, -1, !int1, int1, insnRip);
  }

  /** The descriptor words of the last readDescriptor(). */
  descWords(): { lo: number; hi: number } {
    return { lo: this.dlo, hi: this.dhi };
  }
  /** Loads system segment `s` (LDTR/TR) from the last descriptor read. */
  loadDescInto(s: number, sel: number): void {
    this.loadFromDesc(s, sel);
  }

  /**
   * Hardware task switch to the 32-bit TSS selected by `sel` (SDM vol. 3 7.3): `kind` 'jmp' and
   * 'iret' clear the old task's busy bit; 'call' (CALL, INT, exceptions) links back and sets NT.
   * `retIp` is the EIP saved in the old task. Legacy mode only (long mode has no task switching).
   */
  taskSwitch(sel: number, kind: 'jmp' | 'call' | 'iret', retIp: number): void {
    if ((this.efer & EFER_LMA) !== 0) return this.gp(sel & 0xfffc);
    if ((sel & 4) !== 0) return this.raise(VEC_TS, sel & 0xfffc);
    const nAddr = this.readDescriptor(sel, VEC_TS);
    const nlo = this.dlo;
    const nhi = this.dhi;
    const ntype = (nhi >>> 8) & 0x1f;
    if (ntype !== 0x9 && ntype !== 0xb) {
      if (ntype === 0x1 || ntype === 0x3) this.unimplemented('16-bit TSS task switch');
      return this.gp(sel & 0xfffc);
    }
    if (kind === 'iret' ? ntype !== 0xb : ntype !== 0x9) return this.gp(sel & 0xfffc);
    if ((nhi & 0x8000) === 0) return this.raise(VEC_NP, sel & 0xfffc);
    const limit = (nlo & 0xffff) | (nhi & 0xf0000);
    if (limit < 0x67) return this.raise(VEC_TS, sel & 0xfffc);
    const save = this.tlbUser;
    this.tlbUser = 0;
    try {
      // Save the outgoing task.
      const ot = this.segBase[TR]!;
      const w = (off: number, v: number): void => this.wr32((ot + off) % TWO32, v);
      let fl = this.getFlags();
      if (kind !== 'call') fl &= ~NT;
      w(0x20, retIp);
      w(0x24, fl);
      for (let r = 0; r < 8; r++) w(0x28 + r * 4, this.rl[r]!);
      for (let sr = 0; sr < 6; sr++) w(0x48 + sr * 4, this.segSel[sr]!);
      if (kind !== 'call') {
        // Clear the old task's busy bit.
        const oAddr = this.readDescriptor(this.segSel[TR]!);
        this.wr32((oAddr + 4) % TWO32, this.dhi & ~0x200);
      }
      // Read the incoming task.
      const nt = ((nhi & 0xff000000) | ((nhi & 0xff) << 16) | (nlo >>> 16)) >>> 0;
      const rd = (off: number): number => this.rd32((nt + off) % TWO32);
      const cr3 = rd(0x1c) >>> 0;
      const eip = rd(0x20) >>> 0;
      let nfl = rd(0x24);
      const gprs: number[] = [];
      for (let r = 0; r < 8; r++) gprs.push(rd(0x28 + r * 4));
      const sels: number[] = [];
      for (let sr = 0; sr < 6; sr++) sels.push(rd(0x48 + sr * 4) & 0xffff);
      const ldt = rd(0x60) & 0xffff;
      if (kind === 'call') {
        this.wr16(nt, this.segSel[TR]!);
        nfl |= NT;
      }
      if (kind !== 'iret') this.wr32((nAddr + 4) % TWO32, nhi | 0x200);
      // Switch: TR, CR3, registers, flags.
      this.dlo = nlo;
      this.dhi = nhi | 0x200;
      this.loadFromDesc(TR, sel);
      if ((this.cr0 & CR0_PG) !== 0) this.writeCr3(cr3);
      for (let r = 0; r < 8; r++) this.rl[r] = gprs[r]!;
      this.setFlagsRaw(nfl | 2);
      this.cr0 |= CR0_TS;
      this.rip = eip;
      // LDTR, then segments (CPL from the new CS RPL); a fault here is #TS in the new task.
      if ((ldt & 0xfffc) === 0) {
        this.segSel[LDTR] = ldt;
        this.segAttr[LDTR] = SEG_ATTR_UNUSABLE;
      } else {
        this.readDescriptor(ldt, VEC_TS);
        this.loadFromDesc(LDTR, ldt);
      }
      const cs = sels[CS]!;
      this.readDescriptor(cs, VEC_TS);
      this.loadFromDesc(CS, cs);
      this.updateMode();
      this.loadSeg(SS, sels[SS]!);
      for (const sr of [ES, DS, FS, GS]) this.loadSeg(sr, sels[sr]!);
    } finally {
      this.tlbUser = this.cpl === 3 ? TLB_SIZE : 0;
      void save;
    }
    this.flushTlb(false);
  }

  /** Raises the pending fault recorded by raise(): rip must point at the faulting instruction. */
  deliverPendingFault(): void {
    const v = this.excVec;
    const c = this.excCode;
    this.deliver(v, c, false, false);
  }

  // =====================================================================
  // Run loop
  // =====================================================================

  /** Linear address of RIP. */
  ipLin(): number {
    if (this.codeSize === 8) return this.rip;
    const a = this.segBase[CS]! + this.rip;
    return a >= TWO32 ? a - TWO32 : a;
  }

  private lookupBlock(): Block {
    const lin = this.ipLin();
    const j = lin & (JC_SIZE - 1);
    const b = this.jcBlock[j];
    if (this.jcTag[j] === lin && b !== undefined && b.valid && b.mode === this.modeKey) return b;
    return this.lookupSlow(lin, j);
  }

  private lookupSlow(lin: number, j: number): Block {
    const pa = this.fetchPhys(lin);
    let nb = this.cache.get(pa, this.modeKey);
    if (nb === undefined) {
      nb = decodeBlock(this, lin, pa);
      if (nb.valid) this.cache.put(nb, this);
    }
    if (nb.valid) {
      this.jcTag[j] = lin;
      this.jcBlock[j] = nb;
    }
    return nb;
  }

  /** Checks for a deliverable external interrupt / NMI between instructions. */
  private checkInterrupts(): boolean {
    const apic = this.apic;
    if (apic === undefined) return false;
    if (apic.takeNmi()) {
      this.counts.nmi++;
      this.halted = false;
      this.deliver(VEC_NMI, -1, false, true);
      return true;
    }
    if ((this.flags & IF) !== 0 && apic.hasInterrupt()) {
      const v = apic.acknowledge();
      if (v < 0) return false;
      this.counts.interrupts++;
      this.halted = false;
      this.deliver(v, -1, false, true);
      return true;
    }
    return false;
  }

  /** Handles INIT/SIPI from the local APIC; returns true when the vCPU can run. */
  serviceInitSipi(): boolean {
    const apic = this.apic;
    if (apic === undefined) return !this.waitSipi;
    if (apic.takeInit()) {
      this.counts.init++;
      this.reset();
      this.waitSipi = true;
      this.halted = false;
    }
    if (this.waitSipi) {
      const v = apic.takeSipi();
      if (v < 0) return false;
      this.counts.sipi++;
      this.waitSipi = false;
      this.setSegRaw(CS, v << 8, v << 12, 0xffff, 0x9b);
      this.rip = 0;
    }
    return true;
  }

  /** True when an event would wake a HLTed vCPU now. */
  wakeable(): boolean {
    const apic = this.apic;
    if (apic === undefined) return false;
    return ((this.flags & IF) !== 0 && apic.hasInterrupt()) || false;
  }

  /**
   * Runs up to `budget` instructions. Returns why it stopped. Instructions retired are
   * added to `instructions`.
   */
  run(budget: number): RunResult {
    const r = this.runSlice(budget);
    // Counts merged by countPmu reach the PMU before anyone outside the run can read it.
    if (this.pmuPendPlain + this.pmuPendBranches !== 0) this.pmuFlushPending();
    return r;
  }

  private runSlice(budget: number): RunResult {
    this.breakRun = false;
    // The budget counts instructions and REP iterations (work), so a long REP ends slices too.
    const end = this.instructions + this.stringIters + budget;
    if (!this.serviceInitSipi()) return 'hlt';
    this.pollAt = 0;
    this.pmuLeft = 0; // the host may have programmed the PMU or replaced it since the last run
    this.pmuMerge = false;
    while (this.instructions + this.stringIters < end) {
      if (this.breakRun) return this.shutdownReason !== '' ? 'shutdown' : 'stop';
      if (this.instructions >= this.pollAt || this.shadow || this.halted) {
        if (this.shadow) {
          // Interrupt shadow: one more instruction before interrupts are recognized.
          this.shadow = false;
          this.pollAt = 0;
          if (!this.halted) this.execBlock(1, null);
          continue;
        }
        this.pollAt = this.instructions + POLL_INTERVAL;
        if (this.apic !== undefined) {
          try {
            this.checkInterrupts();
          } catch (e) {
            if (e !== FAULT) throw e;
          }
          if (this.breakRun) continue;
        }
        if (this.halted) return 'hlt';
        if ((this.flags & TF) !== 0) {
          // Single-step: one instruction, then a #DB trap (DR6.BS) if TF is still set and it did not fault.
          this.pollAt = 0;
          const exc = this.counts.exceptions;
          this.execBlock(1, null);
          if ((this.flags & TF) !== 0 && this.counts.exceptions === exc && !this.breakRun && !this.halted) {
            this.dr[6] = (this.dr[6]! | 0x4000) >>> 0;
            try {
              this.deliver(VEC_DB, -1, false, false);
            } catch (e) {
              if (e !== FAULT) throw e;
            }
          }
          continue;
        }
      }
      // Jump cache lookup inline (the common case); misses and fetch faults go through execBlock.
      let lin = this.rip;
      if (this.codeSize !== 8) {
        lin += this.segBase[CS]!;
        if (lin >= TWO32) lin -= TWO32;
      }
      const j = lin & (JC_SIZE - 1);
      const b = this.jcBlock[j];
      const left = end - this.instructions - this.stringIters;
      if (this.jcTag[j] === lin && b !== undefined && b.valid && b.mode === this.modeKey) this.execBlock(left, b);
      else this.execBlock(left, null);
    }
    if (this.breakRun) return this.shutdownReason !== '' ? 'shutdown' : 'stop';
    return this.halted ? 'hlt' : 'budget';
  }

  /** Runs until HLT (or shutdown); throws when `max` instructions pass without halting. */
  runUntilHalt(max = 10_000_000): RunResult {
    const r = this.run(max);
    if (r === 'budget') throw new EmuError(`guest did not halt within ${max} instructions (rip 0x${this.rip.toString(16)})`);
    return r;
  }

  /** Executes (part of) one block: at most `limit` instructions. */
  private execBlock(limit: number, found: Block | null): void {
    const pmu = this.pmu;
    if (pmu !== null && pmu.active) {
      // The bound shrinks by exactly what countPmu counts at one CPL, so it is asked for again only
      // when it ran out, the CPL changed or the PMU was programmed (pmuSync, run() start).
      if (this.pmuLeft <= 0 || this.pmuLeftCpl !== this.cpl) {
        if (this.pmuPendPlain + this.pmuPendBranches !== 0) this.pmuFlushPending();
        this.pmuMerge = pmuOrderFree(pmu);
        this.pmuLeft = pmu.instructionsUntilOverflow(this.cpl);
        this.pmuLeftCpl = this.cpl;
      }
      if (this.pmuLeft < limit) limit = this.pmuLeft;
    } else this.pmuLeft = 0;
    const end0 = this.instructions + limit;
    let blk: Block;
    try {
      blk = found !== null ? found : this.lookupBlock();
    } catch (e) {
      if (e !== FAULT) throw e;
      this.bip = this.rip;
      this.deliverPendingFault();
      return;
    }
    const ins = blk.insns;
    const total = ins.length;
    const n = total > limit ? limit : total;
    const bip = this.rip;
    this.bip = bip;
    const cs = this.codeSize;
    let nr = bip + (n === total ? blk.len : ins[n - 1]!.end);
    if (cs === 4) {
      if (nr >= TWO32) nr -= TWO32;
    } else if (cs === 2) nr &= 0xffff;
    else nr = addIp(bip, nr - bip, 8);
    this.rip = nr;
    this.curBlock = blk;
    const userIdx = this.cpl === 3 ? 1 : 0;
    this.blockCpl = this.cpl;
    this.pmuCounted = 0;
    let i = 0;
    this.loops = 0;
    const compiled = blk.exec !== null && n === total;
    try {
      if (compiled) {
        this.ci = 0;
        if (blk.selfLoop) {
          const room = (this.pollAt < end0 ? this.pollAt : end0) - this.instructions;
          this.loopLimit = room > total ? Math.floor(room / total) : 1;
        }
        blk.exec!(this);
        i = this.ci;
        if (this.loops > 0) {
          this.instructions += this.loops * blk.loopLen;
          this.retired[userIdx]! += this.loops * blk.loopLen;
          this.branchesRetired[userIdx]! += this.loops * blk.branches;
        }
        if (i < n) this.rip = addIp(bip, ins[i - 1]!.end, this.codeSize);
        this.smc = false;
      } else {
        const rl = this.rl;
        const rh = this.rh;
        for (; i < n; i++) {
          const x = ins[i]!;
          // Hot register forms run inline (no call); everything else through its handler.
          switch (x.k) {
            case K_ADD_RR: {
              const d = rl[x.rm]!;
              const s = rl[x.reg]!;
              const r = (d + s) | 0;
              rl[x.rm] = r;
              rh[x.rm] = 0;
              this.fop = F_ADD;
              this.fsz = 4;
              this.fdst = d;
              this.fsrc = s;
              this.fres = r;
              break;
            }
            case K_SUB_RR: {
              const d = rl[x.rm]!;
              const s = rl[x.reg]!;
              const r = (d - s) | 0;
              rl[x.rm] = r;
              rh[x.rm] = 0;
              this.fop = F_SUB;
              this.fsz = 4;
              this.fdst = d;
              this.fsrc = s;
              this.fres = r;
              break;
            }
            case K_CMP_RR: {
              const d = rl[x.rm]!;
              const s = rl[x.reg]!;
              this.fop = F_SUB;
              this.fsz = 4;
              this.fdst = d;
              this.fsrc = s;
              this.fres = (d - s) | 0;
              break;
            }
            case K_LOGIC_RR: {
              const d = rl[x.rm]!;
              const s = rl[x.reg]!;
              const op = x.op;
              const r = op === 1 ? d | s : op === 4 ? d & s : d ^ s;
              rl[x.rm] = r;
              rh[x.rm] = 0;
              this.fop = F_LOGIC;
              this.fsz = 4;
              this.fres = r;
              break;
            }
            case K_ADD_RI: {
              const d = rl[x.rm]!;
              const s = x.imm;
              const r = (d + s) | 0;
              rl[x.rm] = r;
              rh[x.rm] = 0;
              this.fop = F_ADD;
              this.fsz = 4;
              this.fdst = d;
              this.fsrc = s;
              this.fres = r;
              break;
            }
            case K_SUB_RI: {
              const d = rl[x.rm]!;
              const s = x.imm;
              const r = (d - s) | 0;
              rl[x.rm] = r;
              rh[x.rm] = 0;
              this.fop = F_SUB;
              this.fsz = 4;
              this.fdst = d;
              this.fsrc = s;
              this.fres = r;
              break;
            }
            case K_CMP_RI: {
              const d = rl[x.rm]!;
              const s = x.imm;
              this.fop = F_SUB;
              this.fsz = 4;
              this.fdst = d;
              this.fsrc = s;
              this.fres = (d - s) | 0;
              break;
            }
            case K_LOGIC_RI: {
              const d = rl[x.rm]!;
              const s = x.imm;
              const op = x.op;
              const r = op === 1 ? d | s : op === 4 ? d & s : d ^ s;
              rl[x.rm] = r;
              rh[x.rm] = 0;
              this.fop = F_LOGIC;
              this.fsz = 4;
              this.fres = r;
              break;
            }
            case K_INCDEC_R: {
              const d = rl[x.rm]!;
              const r = (x.op === 0 ? d + 1 : d - 1) | 0;
              this.fcin = this.getCF();
              rl[x.rm] = r;
              rh[x.rm] = 0;
              this.fop = x.op === 0 ? F_INC : F_DEC;
              this.fsz = 4;
              this.fdst = d;
              this.fsrc = 1;
              this.fres = r;
              break;
            }
            case K_MOV_RR:
              rl[x.rm] = rl[x.reg]!;
              rh[x.rm] = 0;
              break;
            case K_JNZ:
              if ((this.fop === F_EAGER ? this.fres & ZF : this.getZF()) === 0) this.rip = jccTarget(this, x);
              break;
            case K_JZ:
              if ((this.fop === F_EAGER ? this.fres & ZF : this.getZF()) !== 0) this.rip = jccTarget(this, x);
              break;
            default:
              x.fn(this, x);
          }
          if (this.smc) {
            // The block was overwritten by its own instruction: stop after it.
            this.smc = false;
            i++;
            if (i < n) this.rip = addIp(bip, ins[i - 1]!.end, this.codeSize);
            break;
          }
        }
      }
    } catch (e) {
      this.curBlock = null;
      if (compiled) i = this.ci;
      if (e === BLOCK_EXIT) {
        this.instructions += i + 1;
        this.retired[userIdx]! += i + 1;
        return;
      }
      if (e !== FAULT) throw e;
      if (compiled && this.loops > 0) {
        // Completed iterations of a self-looping compiled block before the fault.
        const done = this.loops * blk.loopLen;
        this.instructions += done;
        this.retired[userIdx]! += done;
        this.branchesRetired[userIdx]! += this.loops * blk.branches;
        if (pmu !== null && pmu.active) this.countPmu(pmu, done - this.loops * blk.branches, this.loops * blk.branches);
      }
      this.instructions += i;
      this.retired[userIdx]! += i;
      if (pmu !== null && pmu.active && i > this.pmuCounted) this.countPmu(pmu, i - this.pmuCounted, 0);
      this.rip = addIp(bip, ins[i]!.start, this.codeSize);
      this.deliverPendingFault();
      return;
    }
    this.curBlock = null;
    if (this.notRetired !== 0) {
      // A REP string instruction paused mid-way: it retires once, when it completes.
      i -= this.notRetired;
      this.notRetired = 0;
    }
    this.instructions += i;
    this.retired[userIdx]! += i;
    if (i === total) this.branchesRetired[userIdx]! += blk.branches;
    if (!compiled && ++blk.hits === COMPILE_THRESHOLD && blk.valid && this.compile) blk.exec = compileBlock(blk);
    if (pmu !== null && pmu.active) {
      const br = i === total ? blk.branches * (1 + this.loops) : 0;
      this.countPmu(pmu, i + (compiled ? this.loops * blk.loopLen : 0) - br - this.pmuCounted, br);
    }
  }

  /** Counts at the CPL the block started at (a CPL-changing instruction retires at its own CPL). */
  private countPmu(pmu: EmuPmuHook, plain: number, branches: number): void {
    const n = plain + branches;
    if (this.pmuMerge && this.blockCpl === this.pmuLeftCpl) {
      // Order-free counting: merge blocks and hand them over when the bound runs out (below),
      // on a CPL change, at RDMSR/WRMSR/RDPMC and when run() returns. A countBlock call per
      // block was ~10% of the CPU time of branchy code.
      this.pmuPendPlain += plain;
      this.pmuPendBranches += branches;
      this.pmuLeft -= n;
      if (this.pmuLeft <= 0) {
        this.pmuFlushPending();
        this.pollAt = 0;
      }
      return;
    }
    if (this.pmuPendPlain + this.pmuPendBranches !== 0) this.pmuFlushPending();
    if (n > 0) pmu.countBlock(plain, branches, this.blockCpl);
    // An overflow raises a PMI through the APIC: take it before the next instruction. Fewer
    // instructions than instructionsUntilOverflow() cannot overflow, so polling is forced only
    // when the block reached that bound (an unconditional poll per block cost ~10% CPU).
    this.pmuLeft -= n;
    if (this.pmuLeft <= 0) this.pollAt = 0;
  }

  /**
   * Counts the instructions of the current block before `x` now: called by instructions that
   * read or program the PMU (RDMSR/WRMSR/RDPMC), so counting changes take effect exactly at them.
   */
  pmuSync(x: Insn): void {
    const pmu = this.pmu;
    if (pmu === null) return;
    if (this.pmuPendPlain + this.pmuPendBranches !== 0) this.pmuFlushPending();
    this.pmuMerge = false; // re-decided with the bound at the next block (pmuLeft = 0 below)
    const n = x.idx - this.pmuCounted;
    if (n > 0 && pmu.active) pmu.countBlock(n, 0, this.blockCpl);
    if (n > 0) this.pmuCounted = x.idx;
    this.pmuLeft = 0;
    this.pollAt = 0;
  }
  /**
   * Counts the instructions of the current block up to and including `x` now (a WRMSR: it is
   * counted under the PMU state before it executes). If `x` then faults it was counted anyway
   * (rare: a #GP WRMSR between enabled counters).
   */
  pmuSyncIncluding(x: Insn): void {
    const pmu = this.pmu;
    if (pmu === null) return;
    if (this.pmuPendPlain + this.pmuPendBranches !== 0) this.pmuFlushPending();
    // Re-decided with the bound at the next block (the WRMSR may enable an EDGE counter).
    this.pmuMerge = false;
    const n = x.idx + 1 - this.pmuCounted;
    if (n > 0 && pmu.active) pmu.countBlock(n, 0, this.blockCpl);
    if (n > 0) this.pmuCounted = x.idx + 1;
    this.pmuLeft = 0;
    this.pollAt = 0;
  }
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
  private pmuMerge = false;
  private pmuPendPlain = 0;
  private pmuPendBranches = 0;

  private pmuFlushPending(): void {
    const p = this.pmuPendPlain;
    const b = this.pmuPendBranches;
    this.pmuPendPlain = 0;
    this.pmuPendBranches = 0;
    if (this.pmu !== null) this.pmu.countBlock(p, b, this.pmuLeftCpl);
  }

  /** A 64-bit branch target, wrapped and checked for canonical form (#GP). */
  canonicalTarget(t: number): number {
    if (t >= TWO63) t -= TWO64;
    else if (t < -TWO63) t += TWO64;
    if (t < -TWO47 || t >= TWO47) return this.gp(0);
    return t;
  }

  /** Next-instruction RIP for handler `x` (bip + x.end, wrapped to the code size). */
  nextIp(x: Insn): number {
    return addIp(this.bip, x.end, this.codeSize);
  }
  /** Ends the current block after this instruction (rip already the next instruction). */
  endBlock(x: Insn): never {
    this.rip = this.nextIp(x);
    throw BLOCK_EXIT;
  }

  // =====================================================================
  // Port I/O
  // =====================================================================

  /** IOPL / TSS I/O bitmap check for `size` bytes at `port`. */
  checkIo(port: number, size: number): void {
    if ((this.cr0 & CR0_PE) === 0) return;
    if ((this.flags & VM) === 0 && this.cpl <= ((this.flags & IOPL) >>> 12)) return;
    const tr = this.segAttr[TR]!;
    if ((tr & 0xf) !== 0x9 && (tr & 0xf) !== 0xb) return this.gp(0);
    const limit = this.segLimit[TR]!;
    if (limit < 0x67) return this.gp(0);
    const save = this.tlbUser;
    this.tlbUser = 0;
    try {
      const bm = this.rd16(this.segBase[TR]! + 0x66);
      const byte = bm + (port >>> 3);
      if (byte + 1 > limit) return this.gp(0);
      const bits = this.rd16(this.segBase[TR]! + byte);
      if (((bits >>> (port & 7)) & ((1 << size) - 1)) !== 0) return this.gp(0);
    } finally {
      this.tlbUser = save;
    }
  }

  portIn(port: number, size: number): number {
    this.counts.io++;
    const b = size === 1 ? this.io1 : size === 2 ? this.io2 : this.io4;
    this.pio.read(port & 0xffff, b);
    return size === 1 ? b[0]! : size === 2 ? b[0]! | (b[1]! << 8) : b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24);
  }
  private readonly io1 = new Uint8Array(1);
  private readonly io2 = new Uint8Array(2);
  private readonly io4 = new Uint8Array(4);
  portOut(port: number, size: number, v: number): void {
    this.counts.io++;
    this.pollAt = 0;
    const b = size === 1 ? this.io1 : size === 2 ? this.io2 : this.io4;
    b[0] = v;
    if (size > 1) b[1] = v >>> 8;
    if (size > 2) {
      b[2] = v >>> 16;
      b[3] = v >>> 24;
    }
    this.pio.write(port & 0xffff, b);
  }

  // =====================================================================
  // Control registers and MSRs
  // =====================================================================

  writeCr0(v: number): void {
    v |= CR0_ET;
    if ((v & CR0_PG) !== 0 && (v & CR0_PE) === 0) return this.gp(0);
    if ((v & CR0_NW) !== 0 && (v & CR0_CD) === 0) return this.gp(0);
    const old = this.cr0;
    if ((v & CR0_PG) !== 0 && (old & CR0_PG) === 0 && (this.efer & EFER_LME) !== 0) {
      if ((this.cr4 & CR4_PAE) === 0) return this.gp(0);
      this.efer |= EFER_LMA;
    }
    if ((v & CR0_PG) === 0 && (old & CR0_PG) !== 0 && (this.efer & EFER_LMA) !== 0) {
      if (this.long64) return this.gp(0);
      this.efer &= ~EFER_LMA;
    }
    this.cr0 = v | 0;
    if (((old ^ v) & (CR0_PG | CR0_WP | CR0_PE)) !== 0) this.flushTlb(true);
    this.updateMode();
  }
  writeCr4(v: number): void {
    if ((v & ~0x3ff7ff & ~(1 << 16) & ~(1 << 18)) !== 0) return this.gp(0);
    if ((v & (1 << 11)) !== 0 || (v & (1 << 13)) !== 0 || (v & (1 << 14)) !== 0 || (v & (1 << 16)) !== 0 || (v & (1 << 17)) !== 0 || (v & (1 << 18)) !== 0 || (v & (1 << 12)) !== 0) return this.gp(0);
    if ((this.efer & EFER_LMA) !== 0 && (v & CR4_PAE) === 0) return this.gp(0);
    const old = this.cr4;
    this.cr4 = v;
    if (((old ^ v) & (CR4_PAE | CR4_PSE | CR4_PGE)) !== 0) this.flushTlb(true);
  }
  writeCr3(v: number): void {
    this.cr3 = v;
    this.flushTlb(false);
  }
  readCr8(): number {
    return this.apic !== undefined ? this.apic.getCr8() : this.cr8;
  }
  writeCr8(v: number): void {
    if (v > 15) return this.gp(0);
    this.pollAt = 0;
    if (this.apic !== undefined) this.apic.setCr8(v);
    else this.cr8 = v;
  }

  tscNow(): number {
    return Math.floor((this.clock.nowNs() * this.clock.tscHz) / 1e9) + this.tscOffset;
  }

  /** RDMSR: value into msrOut, false for #GP. */
  readMsr(idx: number): boolean {
    const o = this.msrOut;
    idx >>>= 0;
    const set = (lo: number, hi: number): boolean => {
      o.lo = lo | 0;
      o.hi = hi | 0;
      return true;
    };
    const setAddr = (a: number): boolean => set(a >>> 0, Math.floor(a / TWO32) | 0);
    switch (idx) {
      case MSR.IA32_TSC: {
        const t = this.tscNow();
        return setAddr(t);
      }
      case MSR.IA32_APIC_BASE:
        if (this.apic !== undefined) {
          this.apic.getApicBase(o);
          return true;
        }
        return set(0xfee00000 | 0x900, 0);
      case MSR.IA32_EFER:
        return set(this.efer, 0);
      case MSR.IA32_STAR:
        return set(this.star[0]!, this.star[1]!);
      case MSR.IA32_LSTAR:
        return setAddr(this.lstar);
      case MSR.IA32_CSTAR:
        return setAddr(this.cstar);
      case MSR.IA32_FMASK:
        return set(this.fmask, 0);
      case MSR.IA32_FS_BASE:
        return setAddr(this.segBase[FS]!);
      case MSR.IA32_GS_BASE:
        return setAddr(this.segBase[GS]!);
      case MSR.IA32_KERNEL_GS_BASE:
        return setAddr(this.kernelGsBase);
      case MSR.IA32_TSC_AUX:
        return set(this.tscAux, 0);
      case MSR.IA32_SYSENTER_CS:
        return set(this.sysenterCs, 0);
      case MSR.IA32_SYSENTER_ESP:
        return setAddr(this.sysenterEsp);
      case MSR.IA32_SYSENTER_EIP:
        return setAddr(this.sysenterEip);
      case MSR.IA32_TSC_DEADLINE:
        if (this.apic === undefined) return false;
        this.apic.getTscDeadline(o);
        return true;
      case 0xfe: // IA32_MTRRCAP: 8 variable ranges, fixed ranges, WC
        return set(0x508, 0);
      case MSR.IA32_FEATURE_CONTROL:
        return set(1, 0); // locked, VMX off
      case 0x8b: // IA32_BIOS_SIGN_ID: no microcode loaded, so the revision reads 0
        return set(0, 0);
      case 0x17: // IA32_PLATFORM_ID: read-only, platform id 0 (bits 52:50)
        return set(0, 0);
      default:
        break;
    }
    if (idx >= 0x800 && idx <= 0x8ff) return this.apic !== undefined && this.apic.readMsr(idx, o);
    if (this.pmu !== null && this.pmu.isPmuMsr(idx)) return this.pmu.readMsr(idx, o);
    const st = this.msrStore.get(idx);
    if (st !== undefined) return set(st[0], st[1]);
    if (knownStorageMsr(idx)) return set(idx === MSR.IA32_PAT ? 0x00070406 : idx === MSR.IA32_MISC_ENABLE ? 1 : 0, idx === MSR.IA32_PAT ? 0x00070406 : 0);
    return false;
  }

  /** WRMSR: false for #GP. */
  writeMsr(idx: number, lo: number, hi: number): boolean {
    idx >>>= 0;
    this.pollAt = 0;
    const addr = hi * TWO32 + (lo >>> 0);
    const canon = addr >= -TWO47 && addr < TWO47;
    switch (idx) {
      case MSR.IA32_TSC:
        this.tscOffset += (hi >>> 0) * TWO32 + (lo >>> 0) - this.tscNow();
        return true;
      case MSR.IA32_APIC_BASE:
        if (this.apic !== undefined) {
          if (!this.apic.setApicBase(lo, hi)) return false;
        }
        this.apicBasePhys = (hi & 0xff) * TWO32 + ((lo & 0xfffff000) >>> 0);
        this.apicMmio = (lo & (1 << 11)) !== 0 && (lo & (1 << 10)) === 0;
        this.flushTlb(true);
        return true;
      case MSR.IA32_EFER: {
        if ((lo & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)) !== 0 || hi !== 0) return false;
        const lma = this.efer & EFER_LMA;
        if ((this.cr0 & CR0_PG) !== 0 && ((lo ^ this.efer) & EFER_LME) !== 0) return false;
        this.efer = (lo & ~EFER_LMA) | lma;
        this.flushTlb(true);
        return true;
      }
      case MSR.IA32_STAR:
        this.star[0] = lo;
        this.star[1] = hi;
        return true;
      case MSR.IA32_LSTAR:
        if (!canon) return false;
        this.lstar = addr;
        return true;
      case MSR.IA32_CSTAR:
        if (!canon) return false;
        this.cstar = addr;
        return true;
      case MSR.IA32_FMASK:
        this.fmask = lo;
        return true;
      case MSR.IA32_FS_BASE:
        if (!canon) return false;
        this.segBase[FS] = addr;
        return true;
      case MSR.IA32_GS_BASE:
        if (!canon) return false;
        this.segBase[GS] = addr;
        return true;
      case MSR.IA32_KERNEL_GS_BASE:
        if (!canon) return false;
        this.kernelGsBase = addr;
        return true;
      case MSR.IA32_TSC_AUX:
        this.tscAux = lo;
        return true;
      case MSR.IA32_SYSENTER_CS:
        this.sysenterCs = lo & 0xffff;
        return true;
      case MSR.IA32_SYSENTER_ESP:
        if (!canon) return false;
        this.sysenterEsp = addr;
        return true;
      case MSR.IA32_SYSENTER_EIP:
        if (!canon) return false;
        this.sysenterEip = addr;
        return true;
      case 0x8b: // IA32_BIOS_SIGN_ID: software writes 0 before CPUID(1) to read the revision (SDM 9.11.7.1)
        return true;
      case MSR.IA32_TSC_DEADLINE:
        if (this.apic === undefined) return false;
        this.apic.setTscDeadline(lo, hi);
        return true;
      default:
        break;
    }
    if (idx >= 0x800 && idx <= 0x8ff) return this.apic !== undefined && this.apic.writeMsr(idx, lo, hi);
    if (this.pmu !== null && this.pmu.isPmuMsr(idx)) return this.pmu.writeMsr(idx, lo, hi);
    if (knownStorageMsr(idx)) {
      this.msrStore.set(idx, [lo, hi]);
      return true;
    }
    return false;
  }

  cpuid(): void {
    emuCpuid(this.rl[0]!, this.rl[1]!, this.apic?.apicId ?? this.index, this.cpus, this.cpuidOut);
    const o = this.cpuidOut;
    if (this.rl[0] === 1 && this.pdcm) o[2] = o[2]! | (1 << 15);
    if (this.rl[0] === 0xa && this.pmuCpuid0a !== null) {
      const p = this.pmuCpuid0a;
      o[0] = p[0];
      o[1] = p[1];
      o[2] = p[2];
      o[3] = p[3];
    }
    this.setReg(4, 0, o[0]!);
    this.setReg(4, 3, o[1]!);
    this.setReg(4, 1, o[2]!);
    this.setReg(4, 2, o[3]!);
  }

  // =====================================================================
  // Register catalog access (Vcpu API)
  // =====================================================================

  getRegisters(ids: readonly RegId[]): bigint[] {
    return ids.map((id) => this.getRegister(id));
  }

  getRegister(id: RegId): bigint {
    const set = regSet(id);
    const n = regNumber(id);
    const u = (a: number): bigint => (a < 0 ? BigInt(a) + (1n << 64n) : BigInt(a));
    switch (set) {
      case RegSet.GPR:
        return this.getGpr(n);
      case RegSet.SPECIAL:
        if (n === SPECIAL_RIP) return this.getRip();
        if (n === SPECIAL_RFLAGS) return BigInt(this.getFlags() >>> 0);
        break;
      case RegSet.SEGMENT: {
        const s = n >> 2;
        const f = n & 3;
        if (s > 7) break;
        if (f === 0) return BigInt(this.segSel[s]!);
        if (f === 1) return u(this.segBase[s]!);
        if (f === 2) return BigInt(this.segLimit[s]! >>> 0);
        return BigInt(this.segAttr[s]! >>> 0);
      }
      case RegSet.DTABLE:
        if (n === 0) return u(this.gdtBase);
        if (n === 1) return BigInt(this.gdtLimit);
        if (n === 2) return u(this.idtBase);
        if (n === 3) return BigInt(this.idtLimit);
        break;
      case RegSet.CONTROL:
        if (n === 0) return BigInt(this.cr0 >>> 0);
        if (n === 2) return u(this.cr2);
        if (n === 3) return u(this.cr3);
        if (n === 4) return BigInt(this.cr4 >>> 0);
        if (n === 8) return BigInt(this.readCr8());
        break;
      case RegSet.DEBUG:
        return u(this.dr[n & 7]!);
      case RegSet.EVENT:
        if (n === EVENT_INTERRUPT_SHADOW) return this.shadow ? 1n : 0n;
        if (n === EVENT_HALTED) return this.halted ? 1n : 0n;
        break;
      case RegSet.MSR:
        if (!this.readMsr(n)) throw new RangeError(`emu does not implement MSR 0x${n.toString(16)}`);
        return (BigInt(this.msrOut.hi >>> 0) << 32n) | BigInt(this.msrOut.lo >>> 0);
      default:
        break;
    }
    throw new RangeError(`register id ${id} is not supported by emu`);
  }

  setRegisters(batch: RegisterBatch): void {
    for (const [id, v] of batch) this.setRegister(id, v);
    this.updateMode();
    this.flushTlb(true);
  }

  setRegister(id: RegId, v: bigint): void {
    const set = regSet(id);
    const n = regNumber(id);
    const lo = Number(v & 0xffffffffn) | 0;
    const hi = Number((v >> 32n) & 0xffffffffn) | 0;
    switch (set) {
      case RegSet.GPR:
        this.rl[n] = lo;
        this.rh[n] = hi;
        return;
      case RegSet.SPECIAL:
        if (n === SPECIAL_RIP) this.rip = u64ToAddr(v);
        else if (n === SPECIAL_RFLAGS) {
          this.setFlagsRaw(lo);
          this.updateMode();
        }
        return;
      case RegSet.SEGMENT: {
        const s = n >> 2;
        const f = n & 3;
        if (s > 7) break;
        if (f === 0) this.segSel[s] = lo & 0xffff;
        else if (f === 1) this.segBase[s] = u64ToAddr(v);
        else if (f === 2) this.segLimit[s] = lo >>> 0;
        else this.segAttr[s] = lo;
        if (s === CS || s === SS) this.updateMode();
        else this.segChanged();
        return;
      }
      case RegSet.DTABLE:
        if (n === 0) this.gdtBase = u64ToAddr(v);
        else if (n === 1) this.gdtLimit = lo & 0xffff;
        else if (n === 2) this.idtBase = u64ToAddr(v);
        else if (n === 3) this.idtLimit = lo & 0xffff;
        return;
      case RegSet.CONTROL:
        if (n === 0) this.cr0 = lo;
        else if (n === 2) this.cr2 = u64ToAddr(v);
        else if (n === 3) this.cr3 = Number(v);
        else if (n === 4) this.cr4 = lo;
        else if (n === 8) this.writeCr8Host(lo);
        this.updateMode();
        this.flushTlb(true);
        return;
      case RegSet.DEBUG:
        this.dr[n & 7] = Number(v);
        return;
      case RegSet.EVENT:
        if (n === EVENT_INTERRUPT_SHADOW) this.shadow = v !== 0n;
        else if (n === EVENT_HALTED) this.halted = v !== 0n;
        return;
      case RegSet.MSR:
        if (n === MSR.IA32_EFER) {
          this.efer = lo;
          this.updateMode();
          this.flushTlb(true);
          return;
        }
        if (!this.writeMsr(n, lo, hi)) throw new RangeError(`emu rejects MSR 0x${n.toString(16)} = 0x${v.toString(16)}`);
        return;
      default:
        break;
    }
    throw new RangeError(`register id ${id} is not supported by emu`);
  }

  private writeCr8Host(v: number): void {
    if (this.apic !== undefined) this.apic.setCr8(v & 15);
    else this.cr8 = v & 15;
  }

  getRflags(): number {
    return this.getFlags();
  }
  setRflags(v: number): void {
    this.setFlagsRaw(v);
    this.updateMode();
  }
}

function knownStorageMsr(idx: number): boolean {
  return (
    idx === MSR.IA32_PAT ||
    idx === MSR.IA32_MISC_ENABLE ||
    idx === MSR.IA32_TSC_ADJUST ||
    (idx >= 0x200 && idx <= 0x20f) || // MTRR physbase/physmask 0-7
    idx === 0x250 ||
    idx === 0x258 ||
    idx === 0x259 ||
    (idx >= 0x268 && idx <= 0x26f) ||
    idx === 0x2ff || // MTRRdefType
    idx === 0x179 || // MCG_CAP
    idx === 0x17a
  );
}

/** a <u b for 64-bit values as (hi, lo) int32 halves. */
function ltU64(ah: number, al: number, bh: number, bl: number): boolean {
  return ah !== bh ? ah >>> 0 < bh >>> 0 : al >>> 0 < bl >>> 0;
}
function leU64(ah: number, al: number, bh: number, bl: number): boolean {
  return ah !== bh ? ah >>> 0 < bh >>> 0 : al >>> 0 <= bl >>> 0;
}

function floorPage(a: number): number {
  return a - (a % 4096) - 0;
}
function pdptAddr(lo: number, hi: number): number {
  return (hi & 0xff) * TWO32 + ((lo & 0xfffff000) >>> 0);
}

/** Converts an unsigned 64-bit value to the address representation (signed when >= 2^63). */
export function u64ToAddr(v: bigint): number {
  v &= (1n << 64n) - 1n;
  return v >= 1n << 63n ? Number(v - (1n << 64n)) : Number(v);
}

/** lin + k for multi-byte accesses (wraps at 4 GiB outside 64-bit mode). */
export function addLin(lin: number, k: number, long: boolean): number {
  // Addresses outside 0..2^32-1 are 64-bit (e.g. IA-32e event delivery from compatibility mode).
  if (long || lin >= TWO32 || lin < 0) return lin + k;
  const a = lin + k;
  return a >= TWO32 ? a - TWO32 : a;
}

/** rip + delta wrapped to the code size (2: 16-bit IP, 4: 32-bit EIP, 8: canonical RIP). */
export function addIp(rip: number, delta: number, codeSize: number): number {
  const r = rip + delta;
  if (codeSize === 4) return r >>> 0 === r ? r : r >>> 0;
  if (codeSize === 2) return r & 0xffff;
  if (r >= TWO63) return r - TWO64;
  if (r < -TWO63) return r + TWO64;
  return r;
}

export { TWO32, TWO47, TWO48, TWO63, TWO64, TLB_SIZE };
export { Insn, Block };
export { CF, PF, AF, ZF, SF, TF, IF, DF, OF, IOPL, NT, RF, VM, AC, ID, F_LOGIC, F_EAGER };
