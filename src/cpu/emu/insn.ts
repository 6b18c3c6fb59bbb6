/**
 * A decoded instruction: a small monomorphic record created once at decode time and
 * executed many times from its block. `fn` is the handler; every other field is an
 * operand description the handler reads. A later block compiler can read the same
 * records to emit JavaScript.
 */
import type { EmuCpu } from './cpu.js';
import { special, type Row } from './table/row.js';
import { VLin } from './x86-defs.js';

export type Handler = (c: EmuCpu, i: Insn) => void;

/** Address computation kinds (how ea() combines base/index/disp/segment); a const enum for the hot paths. */
export const enum Ea {
  A16 = 0,
  A32 = 1,
  /** 32-bit address size in long mode (67h prefix): zero-extended, no 4 GiB wrap with the FS/GS base. */
  A32L = 2,
  A64 = 3,
}
export const EA_16 = Ea.A16;
export const EA_32 = Ea.A32;
export const EA_32L = Ea.A32L;
export const EA_64 = Ea.A64;

export class Insn {
  // Fields in the order the run loop and the handlers touch them (V8 lays them out in this order):
  // the dispatch kind and handler, then the operands, then what only branches, faults and tools read,
  // so that an instruction costs fewer cache lines on first touch.
  /** Inline-dispatch kind (EmuCpu K_*), 0 when the run loop calls fn. */
  k = 0;
  fn: Handler;
  /**
   * The next instruction of its block (null: the last). The run loop walks a block through these rather than
   * Block.insns: in code that runs warm (each block now and then, thousands in rotation) each object on the
   * way is a likely host cache miss, and the array is two of them (the JSArray and its backing store).
   */
  nx: Insn | null = null;
  /** Operand size in bytes (1, 2, 4, 8) and address kind (EA_*). */
  osz = 4;
  /** ModRM: mod 3 = register operand `rm`; otherwise memory from base/index/scale/disp. */
  mod = 3;
  reg = 0;
  rm = 0;
  /** Handler-specific sub-operation (ALU kind, condition code, ModRM.reg of a group). */
  op = 0;
  ak = EA_32;
  base = -1;
  index = -1;
  /** Segment of the memory operand (0-5 = ES..GS, 8 = flat, base 0). */
  seg = 3;
  disp = 0;
  ripRel = false;
  /** The memory operand is written (segment write checks) and its size in bytes. */
  mw = false;
  scale = 0;
  /** Byte offsets of this instruction and of the next one from the block's first byte. */
  end = 0;
  imm = 0;
  immHi = 0;
  msz = 1;
  imm2 = 0;
  start = 0;
  /** Index of this instruction in its block. */
  idx = 0;
  /** Branch instructions of its block up to and including this one (what retires when the block ends after it). */
  brThrough = 0;
  /** The table row this instruction decoded to (flags, branch kind, ...; see table/row.ts). */
  row: Row;
  /** Opcode: 0x00-0xff, 0x0f00-0x0fff for two-byte, 0x0f3800+ for three-byte. */
  opc = 0;
  /** The ModRM byte as encoded (the x87 records it in its last-opcode register). */
  modrm = 0;
  /** 0 none, 1 REP/REPE (F3), 2 REPNE (F2). */
  rep = 0;
  lock = false;

  constructor(fn: Handler, row: Row = detachedRow()) {
    this.fn = fn;
    this.row = row;
  }
}

let detached: Row | null = null;
/** The row of an Insn made outside the decoder (a handler's scratch record). */
function detachedRow(): Row {
  detached ??= special('(detached)', null, false);
  return detached;
}

/** Where a chainable compiled block's link record is (jit/wasm-chain.ts): the arena's views and the record's byte offset. */
export interface ChainLink {
  readonly m: Int32Array;
  readonly f: Float64Array;
  readonly at: number;
}

/**
 * A compiled region (jit/region-compiler.ts): one function for the hot blocks of one code page,
 * entered at any of them with the linear address of its first byte.
 */
export interface JitRegion {
  readonly fn: (c: EmuCpu, lin: number) => void;
}

/** A run of decoded instructions from one page, ending at a control transfer or the page end. */
export class Block {
  // Fields in the order the run loop touches them (V8 lays them out in this order): the validity
  // checks of the jump cache and the chain first, then what execBlock reads, then the rest.
  /**
   * The linear address (as int32 halves, `lin | 0` and the rest / 2^32: a double field would be a
   * separate heap box, one more memory access per check), CPL and jump-cache epochs under which a vCPU
   * last found this block through a translation (run-loop.ts jcValid): it runs from there without a
   * lookup while the vCPU's epoch (bumped by CR3 writes) is still `vEp`, or its global epoch (bumped by
   * full flushes) is still `vEpG` (the block lies on a global page). Epochs are unique across the
   * vCPUs of a VM (CodeCache.newEpoch). vHi = VLin.None: found nowhere now.
   */
  vLo = 0;
  vHi = VLin.None;
  valid = true;
  readonly mode: number;
  vCpl = -1;
  vEp = -1;
  vEpG = -1;
  /** The first instruction (Insn.nx links the rest) and how many there are: insns without touching the array. */
  first: Insn | null = null;
  count = 0;
  /** Byte length: rip after falling through the last instruction is start + len. */
  len = 0;
  /** Number of instructions that are branches (taken or not), for the PMU's branch counter (= the last one's brThrough). */
  branches = 0;
  /** Seam for a block compiler: when set, runs the whole block instead of the per-instruction loop. */
  exec: ((c: EmuCpu) => void) | null = null;
  /** The compiled region (jit/) this block is an entry of, or null. */
  region: JitRegion | null = null;
  /** The block's link record when a chained wasm run may enter it (jit/wasm-chain.ts), else null. */
  wl: ChainLink | null = null;
  /** Blocks that ran after this one (chaining: tried before the jump cache, validated as its entries are). */
  next0: Block | null = null;
  next1: Block | null = null;
  /** How often the block ran (a compiler picks hot blocks by this). */
  hits = 0;
  /**
   * Its one instruction crosses into the next page (phys2 >= 0): compiled by the wasm tier only; or it runs at a
   * RIP beyond +-2^53 (run-loop.ts lookupFar, mode 3): never compiled. A boolean beside `hits` for the
   * run loop's compile check: phys2 is a double field, read through a box of its own (one more cache miss a run).
   */
  crosses = false;
  /** The instructions in order (add() appends one; the run loop walks first/Insn.nx). */
  insns: Insn[] = [];
  /**
   * The compiled function loops on itself (it reads EmuCpu.loopLimit): its last instruction branches
   * back to the block's start or to a later instruction of it; each extra pass (EmuCpu.loops)
   * runs the last `loopLen` instructions.
   */
  selfLoop = false;
  loopLen = 0;
  /** Branches among those last `loopLen` instructions (retired once per extra pass). */
  loopBranches = 0;
  /** Guest-physical address of the first byte (and `mode`, the decode mode key). */
  readonly phys: number;
  /**
   * For a block whose one instruction crosses into the next page: the guest-physical base of that page
   * (the block is found only while the next linear page still maps there); -1 otherwise.
   */
  phys2 = -1;
  /**
   * Conditional branches inside the block (side exits, Insn.k = K.Side): the block goes on past them
   * when they are not taken and leaves there when they are (or when the run loop must poll).
   */
  sideExits = 0;
  /**
   * The block stopped at its instruction limit or before an instruction that counts the PMU (decoder.ts), not at
   * an instruction that ends blocks or its page's end: a block decoded from one of its later instructions may go
   * on past its end (the wasm tier then branches to no instruction inside it: wasm-skips.ts).
   */
  openEnd = false;

  constructor(phys: number, mode: number) {
    this.mode = mode;
    this.phys = phys;
  }

  /** Appends instruction `x` (to insns and to the first/nx chain). */
  add(x: Insn): void {
    const n = this.insns.length;
    if (n === 0) this.first = x;
    else this.insns[n - 1]!.nx = x;
    this.insns.push(x);
    this.count = n + 1;
  }
}
