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

/*
 * Bit fields of the packed Insn words (see Insn). Widths hold every value the decoder and the handlers store:
 * base/index -1..15 (stored + 1), segments 0-9 (Seg.FlatSS), memory operands up to 255 bytes (x87 FSAVE: 108),
 * up to 64 instructions a block (decoder.ts MAX_BLOCK).
 */
const enum Pm {
  Base = 0,
  Index = 5,
  Scale = 10,
  Seg = 12,
  Ak = 16,
  RipRel = 18,
  Mw = 19,
  Msz = 20,
  Rep = 28,
  Lock = 30,
}
const enum Px {
  Modrm = 0,
  Idx = 8,
  BrThrough = 15,
  Opc = 22,
}
/** pm of a new Insn: no base or index, DS, 32-bit addresses, a 1-byte memory operand. */
const PM_INIT = (3 << Pm.Seg) | (Ea.A32 << Pm.Ak) | (1 << Pm.Msz);

export class Insn {
  // 160 bytes (17 fields and V8's 3-word header), not 256: the boot's interpreted code is cold, each of an
  // instruction's host cache lines a likely miss, and decoding allocated ~190 MB of them. What every handler
  // reads (sizes, registers, sub-operation, immediates) are plain fields; the memory operand's description
  // (read by operands.ts ea(), always optimized) is bit fields of `pm`, and what only faults, the PMU and tools
  // read is bit fields of `px`, both behind accessors of the old names (V8 inlines them in optimized code).
  // Fields in the order the run loop and the handlers touch them (V8 lays them out in this order).
  /** Inline-dispatch kind (EmuCpu K_*), 0 when the run loop calls fn. */
  k = 0;
  fn: Handler;
  /**
   * The next instruction of its block (null: the last). The run loop walks a block through these rather than
   * Block.insns: in code that runs warm (each block now and then, thousands in rotation) each object on the
   * way is a likely host cache miss, and the array is two of them (the JSArray and its backing store).
   */
  nx: Insn | null = null;
  /** Operand size in bytes (1, 2, 4, 8). */
  osz = 4;
  /** ModRM: mod 3 = register operand `rm`; otherwise memory from base/index/scale/disp. */
  mod = 3;
  reg = 0;
  rm = 0;
  /** Handler-specific sub-operation (ALU kind, condition code, ModRM.reg of a group). */
  op = 0;
  /** base, index, scale, seg, ak, ripRel, mw, msz, rep, lock (Pm shifts). */
  pm = PM_INIT;
  disp = 0;
  imm = 0;
  /** Byte offsets of the next instruction and of this one from the block's first byte. */
  end = 0;
  immHi = 0;
  imm2 = 0;
  /** The table row this instruction decoded to (flags, branch kind, ...; see table/row.ts). */
  row: Row;
  start = 0;
  /** modrm, idx, brThrough, opc (Px shifts). */
  px = 0;

  constructor(fn: Handler, row: Row = detachedRow()) {
    this.fn = fn;
    this.row = row;
  }

  /** Base register of the memory operand, -1 none. */
  get base(): number {
    return (this.pm & 31) - 1;
  }
  set base(v: number) {
    this.pm = (this.pm & ~31) | ((v + 1) & 31);
  }
  /** Index register of the memory operand, -1 none. */
  get index(): number {
    return ((this.pm >> Pm.Index) & 31) - 1;
  }
  set index(v: number) {
    this.pm = (this.pm & ~(31 << Pm.Index)) | (((v + 1) & 31) << Pm.Index);
  }
  get scale(): number {
    return (this.pm >> Pm.Scale) & 3;
  }
  set scale(v: number) {
    this.pm = (this.pm & ~(3 << Pm.Scale)) | ((v & 3) << Pm.Scale);
  }
  /** Segment of the memory operand (0-5 = ES..GS, 8 = flat, base 0). */
  get seg(): number {
    return (this.pm >> Pm.Seg) & 15;
  }
  set seg(v: number) {
    this.pm = (this.pm & ~(15 << Pm.Seg)) | ((v & 15) << Pm.Seg);
  }
  /** Address kind (EA_*). */
  get ak(): number {
    return (this.pm >> Pm.Ak) & 3;
  }
  set ak(v: number) {
    this.pm = (this.pm & ~(3 << Pm.Ak)) | ((v & 3) << Pm.Ak);
  }
  get ripRel(): boolean {
    return (this.pm & (1 << Pm.RipRel)) !== 0;
  }
  set ripRel(v: boolean) {
    this.pm = v ? this.pm | (1 << Pm.RipRel) : this.pm & ~(1 << Pm.RipRel);
  }
  /** The memory operand is written (segment write checks). */
  get mw(): boolean {
    return (this.pm & (1 << Pm.Mw)) !== 0;
  }
  set mw(v: boolean) {
    this.pm = v ? this.pm | (1 << Pm.Mw) : this.pm & ~(1 << Pm.Mw);
  }
  /** Size in bytes of the memory operand (segment limit checks). */
  get msz(): number {
    return (this.pm >> Pm.Msz) & 255;
  }
  set msz(v: number) {
    this.pm = (this.pm & ~(255 << Pm.Msz)) | ((v & 255) << Pm.Msz);
  }
  /** 0 none, 1 REP/REPE (F3), 2 REPNE (F2). */
  get rep(): number {
    return (this.pm >> Pm.Rep) & 3;
  }
  set rep(v: number) {
    this.pm = (this.pm & ~(3 << Pm.Rep)) | ((v & 3) << Pm.Rep);
  }
  get lock(): boolean {
    return (this.pm & (1 << Pm.Lock)) !== 0;
  }
  set lock(v: boolean) {
    this.pm = v ? this.pm | (1 << Pm.Lock) : this.pm & ~(1 << Pm.Lock);
  }
  /** The ModRM byte as encoded (the x87 records it in its last-opcode register). */
  get modrm(): number {
    return this.px & 255;
  }
  set modrm(v: number) {
    this.px = (this.px & ~255) | (v & 255);
  }
  /** Index of this instruction in its block. */
  get idx(): number {
    return (this.px >> Px.Idx) & 127;
  }
  set idx(v: number) {
    this.px = (this.px & ~(127 << Px.Idx)) | ((v & 127) << Px.Idx);
  }
  /** Branch instructions of its block up to and including this one (what retires when the block ends after it). */
  get brThrough(): number {
    return (this.px >> Px.BrThrough) & 127;
  }
  set brThrough(v: number) {
    this.px = (this.px & ~(127 << Px.BrThrough)) | ((v & 127) << Px.BrThrough);
  }
  /** Opcode: 0x00-0xff, 0x0f00-0x0fff for two-byte, 0x0f3800+ for three-byte (stored as map * 256 + byte). */
  get opc(): number {
    const v = this.px >>> Px.Opc;
    const m = v >> 8;
    const b = v & 255;
    return m === 0 ? b : m === 1 ? 0x0f00 | b : m === 2 ? 0x0f3800 | b : 0x0f3a00 | b;
  }
  set opc(v: number) {
    const m = v < 0x100 ? 0 : v < 0x1000 ? 1 : v < 0x0f3a00 ? 2 : 3;
    this.px = (this.px & ~(1023 << Px.Opc)) | (((m << 8) | (v & 255)) << Px.Opc);
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
   * Its one instruction crosses into the next page (phys2 >= 0): never compiled. A boolean beside `hits` for the
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
