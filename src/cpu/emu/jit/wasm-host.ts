/**
 * The host side of compiled blocks at run time: the functions they import (handlers, slow memory paths, ea(),
 * conditions), the wrappers execBlock calls, and the bookkeeping of chained runs (wasm-chain.ts drives them).
 *
 * Contract with run-loop.ts execBlock, as for the JS blocks: imports that may fault or call a handler set
 * `c.ci` to their instruction first (and `c.segOff` to the start of its basic block, for the deterministic
 * clock); the wrappers set `c.ci` and RIP from the block's exit code (wasm-block-abi.ts exitCode).
 *
 * The running block's state is this module's own `let`s, which every import reads: no indirection on those paths.
 */
import type { EmuCpu } from '../cpu.js';
import type { Block, Insn } from '../insn.js';
import { nearTarget, relTarget } from '../ops-flow.js';
import { rol32, ror32, sar32, shl32, shr32 } from '../sem-shift.js';
import { cond, getCF, getFlags } from '../lazy-flags.js';
import { rd, rdw, wr } from '../mem-access.js';
import { ea } from '../operands.js';
import { linFromSlot, linToSlot } from '../big-lin.js';
import { addIp } from '../address.js';
import { GUARDED, guardedInline } from '../debug-regs.js';
import { Bit } from '../flags.js';
import { Seg } from '../x86-defs.js';
import { Dg, Fr, JCW_ENTRIES, LINK_BYTES, Slot, type WasmArena } from './wasm-arena.js';
import { bookOf, indexCap, type CodeBook, type Imports } from './wasm-code-book.js';
import { tableOfHostFunctions, wasmApi, type WasmTable } from './wasm-encoder.js';
import { chainModuleBytes, HOW_RET, HOW_TAIL_DONE, Lk } from './wasm-chain.js';
import { IMPORTS, MAIN_TYPE, TYPES } from './wasm-block-abi.js';

/** The cpu running compiled wasm now (imports are bound per module, the cpu per call). */
let cur: EmuCpu;

/** The `sh` import's kernels by x.op (ROL/ROR r32, imm with live flags). */
const SHIFT_KERNEL = [rol32, ror32, null, null, shl32, shr32, shl32, sar32];

/** Copies the field groups of the flags record that compiled code wrote (Fr.Dirty) into the cpu's lazy-flags fields. */
function pull(c: EmuCpu, m: Int32Array, f: number): void {
  const d = m[f + Fr.Dirty]!;
  m[f + Fr.Dirty] = 0;
  if ((d & Dg.OpRes) !== 0) {
    c.fop = m[f + Fr.Op]!;
    c.fres = m[f + Fr.Res]!;
  }
  if ((d & Dg.Sz) !== 0) c.fsz = m[f + Fr.Sz]!;
  if ((d & Dg.DstSrc) !== 0) {
    c.fdst = m[f + Fr.Dst]!;
    c.fsrc = m[f + Fr.Src]!;
  }
  if ((d & Dg.High) !== 0) {
    c.fresH = m[f + Fr.ResH]!;
    c.fdstH = m[f + Fr.DstH]!;
    c.fsrcH = m[f + Fr.SrcH]!;
  }
  if ((d & Dg.Cin) !== 0) c.fcin = m[f + Fr.Cin]!;
}

/** The block running now (set by its wrapper; the imports, shared by all modules of an arena, read them). */
let curIns: readonly Insn[] = [];
let curSeg: Int32Array = new Int32Array(0);
let curM: Int32Array = new Int32Array(0);
let curLoop = false;
/** The running block's self-loop length (Block.loopLen), for the clock in its later passes. */
let curLoopLen = 0;
/** Whether the running block has forward branches to its own instructions (wasm-skips.ts). */
let curSkip = false;

/** Copies the flags record into the cpu if compiled code wrote it since the last copy. */
function sync(c: EmuCpu): void {
  const f = (c.wslot + Slot.Flags) >> 2;
  if (curM[f + Fr.Dirty] !== 0) pull(c, curM, f);
}

/** Sets what an instruction that may fault or call out needs first (run-loop.ts execBlock's contract). */
function enter(c: EmuCpu, k: number): Insn {
  if (chainOn) chainSync(c);
  sync(c);
  // Completed passes of a self-loop (run-loop.ts counts them when this instruction faults).
  const p = curLoop ? (c.loops = curM[(c.wslot + Slot.Loops) >> 2]!) : 0;
  c.ci = k;
  // In the block's first basic block c.segOff is what execBlock entered it with: 0, or for the rest of a block a
  // stop point cut, minus the instructions of its basic block before the cut (run-loop.ts runRest).
  const s = curSeg[k]!;
  if (curSkip) {
    skipped(c, s, p);
    return curIns[k]!;
  }
  // A later pass is a block run of its own to the deterministic clock (the interpreter's from the loop head on):
  // the passes before it have run, and its basic block starts at the head or at a side exit after it.
  if (p > 0) c.segOff = p * curLoopLen + Math.max(s, curIns.length - curLoopLen);
  else if (s !== 0) c.segOff = s;
  return curIns[k]!;
}

/**
 * For a block with forward branches inside it: what it branched over so far (execBlock does not retire it), and
 * the deterministic clock's basic block, which also starts where its last such branch went (Slot.SkipAt, in
 * instructions as if none were skipped: passes * loop length + index), counted in instructions that ran.
 */
function skipped(c: EmuCpu, s: number, p: number): void {
  const w = (c.wslot + Slot.Skip) >> 2;
  const n = curM[w]!;
  c.skipN = n;
  c.skipB = curM[w + 1]!;
  let at = p > 0 ? p * curLoopLen + Math.max(s, curIns.length - curLoopLen) : s;
  const to = curM[(c.wslot + Slot.SkipAt) >> 2]!;
  if (to > at) at = to;
  if (at !== 0) c.segOff = at - n;
}

/**
 * What a block module imports: the arena's memory and the table of the host functions below (the modules
 * call them through it: wasm-encoder.ts moduleBytes viaTable), made per generation of modules (V8 frees the
 * instances importing one table only together: wasm-code-book.ts).
 */
export function imports(arena: WasmArena): Imports {
  return { e: { m: arena.memory, u: tableOfHostFunctions(wasmApi!, TYPES, IMPORTS, hostFunctions()) } };
}

/** The functions compiled blocks call on the host, by import name (they work on `cur`, the running vCPU). */
function hostFunctions(): Record<string, unknown> {
  return {
    h: (k: number): number => {
      const c = cur;
      const x = enter(c, k);
      x.fn(c, x);
      if (chainOn) chainCheck(c);
      return c.smc ? 1 : 0;
    },
    rd: (k: number, size: number, lin: number): number => {
      const c = cur;
      enter(c, k);
      const a = linFromSlot(c, lin);
      if (c.watchRun && guardedInline(c, a, size)) throw GUARDED;
      const v = rd(c, size, a);
      if (chainOn) chainCheck(c);
      return v;
    },
    wr: (k: number, size: number, lin: number, v: number): number => {
      const c = cur;
      enter(c, k);
      const a = linFromSlot(c, lin);
      if (c.watchRun && guardedInline(c, a, size)) throw GUARDED;
      wr(c, size, a, v);
      if (chainOn) chainCheck(c);
      return c.smc ? 1 : 0;
    },
    rdw: (k: number, size: number, lin: number): number => {
      const c = cur;
      enter(c, k);
      const a = linFromSlot(c, lin);
      if (c.watchRun && guardedInline(c, a, size)) throw GUARDED;
      const v = rdw(c, size, a);
      if (chainOn) chainCheck(c);
      return v;
    },
    ea: (k: number): void => {
      const c = cur;
      linToSlot(c, ea(c, enter(c, k)));
    },
    cond: (cc: number): number => {
      cur.cache.jit.flagReads++;
      sync(cur);
      return cond(cur, cc) ? 1 : 0;
    },
    cf: (): number => {
      cur.cache.jit.flagReads++;
      sync(cur);
      return getCF(cur);
    },
    // RFLAGS as PUSHF pushes them (no VM, no RF): PUSHFQ, and the flags BT and BSF keep.
    fl: (): number => {
      cur.cache.jit.flagReads++;
      sync(cur);
      return getFlags(cur) & ~(Bit.VM | Bit.RF);
    },
    sh: (k: number, v: number): number => {
      if (chainOn) chainSync(cur);
      sync(cur);
      const x = curIns[k]!;
      return SHIFT_KERNEL[x.op]!(cur, v, x.imm & 31, true);
    },
    hi: (): number => cur.hi,
    wr8: (k: number, lin: number, lo: number, hi: number): number => {
      const c = cur;
      enter(c, k);
      const a = linFromSlot(c, lin);
      if (c.watchRun && guardedInline(c, a, 8)) throw GUARDED;
      wr(c, 8, a, lo, hi);
      if (chainOn) chainCheck(c);
      return c.smc ? 1 : 0;
    },
  };
}

/** The function execBlock calls for a compiled block: runs the wasm, then sets c.ci and RIP by its exit code. */
export function wrapper(arena: WasmArena, ins: readonly Insn[], segAt: Int32Array, loopLen: number, skips: boolean, run: (slot: number, user: number, bip: number, room: number, lim: number) => number): (c: EmuCpu) => void {
  const loops = loopLen > 0;
  const m = arena.i32;
  return (c: EmuCpu): void => {
    chainOn = false;
    cur = c;
    curIns = ins;
    curSeg = segAt;
    curM = m;
    curLoop = loops;
    curLoopLen = loopLen;
    curSkip = skips;
    // Without a chained run nothing tells the block that an import asked the run loop to stop: no forward branch
    // inside it is taken as a branch (each leaves as a side exit).
    if (skips) m[(c.wslot + Slot.ChainStop) >> 2] = 1;
    const r = run(c.wslot, c.tlbUser | (c.stackSize << 16), c.bip, c.pollAt - c.instructions, c.loopLimit);
    const f = (c.wslot + Slot.Flags) >> 2;
    if (m[f + Fr.Dirty] !== 0) pull(c, m, f);
    if (loops) c.loops = m[(c.wslot + Slot.Loops) >> 2]!;
    const ci = r & 0xffff;
    const how = r >>> 16;
    if (how === 1) {
      // A taken branch: its target may fault (CS limit, canonical), reported at the branch.
      c.ci = ci - 1;
      c.rip = takenTarget(c, arena.f64[(c.wslot + Slot.ChainRip) >> 3]!, ins, ci - 1);
    } else if (how === 2) c.rip = addIp(c.bip, ins[ci - 1]!.end, c.codeSize);
    else if (how === HOW_RET) c.rip = arena.f64[(c.wslot + Slot.ChainRip) >> 3]!;
    else if (how === 3) {
      // The last instruction has no inline form: its handler runs here rather than through an import.
      c.ci = ci;
      if (segAt[ci] !== 0) c.segOff = segAt[ci]!; // as enter() does
      const x = ins[ci]!;
      x.fn(c, x);
      c.ci = ci + 1;
      return;
    }
    c.ci = ci;
  };
}

/**
 * RIP after a taken branch that compiled code left by (exit code how = 1): the target it left in Slot.ChainRip
 * (exitRip, or a CALL's pushed-for target: bip + the branch's end + rel, not yet wrapped), checked as the handler
 * checks it. 2^60 there means a 16-bit operand size: from the branch's record then, as a target beyond +-2^53. Not read from the record
 * otherwise: compiled code never touched it, and that one cold load was ~4% of a shell pipeline's profile.
 */
function takenTarget(c: EmuCpu, raw: number, ins: readonly Insn[], k: number): number {
  // Beyond +-2^53 (2^60 included) the double may be rounded: the branch's record gives the exact target.
  return raw >= 2 ** 53 || raw <= -(2 ** 53) ? relTarget(c, ins[k]!) : nearTarget(c, raw, c.codeSize === 8 ? 8 : 4);
}

// ------------------------------------------------------------------ chained runs (wasm-chain.ts)

export interface ChainEntry {
  readonly blk: Block;
  readonly ins: readonly Insn[];
  readonly segAt: Int32Array;
  readonly idx: number;
  /** What EmuCpu.wxIdx holds for an exit of this block (the index and its reuse count: CodeBook.tags). */
  readonly tag: number;
  /** Whether it has forward branches to its own instructions (wasm-skips.ts). */
  readonly skips: boolean;
}

type DriveFn = (slot: number, user: number, bip: number, room: number, lim: number, idx: number, limit: number) => number;

export interface ChainState {
  readonly table: WasmTable;
  readonly drive: DriveFn;
  readonly entries: (ChainEntry | undefined)[];
  readonly f64: Float64Array;
  readonly book: CodeBook;
}

const chainOfArena = new WeakMap<WasmArena, ChainState | null>();

export function chainOf(arena: WasmArena): ChainState | null {
  let ch = chainOfArena.get(arena);
  if (ch !== undefined) return ch;
  ch = null;
  try {
    const table = new wasmApi!.Table({ element: 'anyfunc', initial: indexCap(arena) });
    const inst = new wasmApi!.Instance(new wasmApi!.Module(chainModuleBytes(TYPES[MAIN_TYPE]!, arena.jcwBase, JCW_ENTRIES, arena.linkBase, LINK_BYTES)), { e: { m: arena.memory, t: table, tl: chainTail } });
    const book = bookOf(arena);
    ch = { table, drive: inst.exports.drive as DriveFn, entries: [], f64: arena.f64, book };
    book.chain = ch;
  } catch {
    ch = null; // no tables or no compilation here: blocks return to the run loop
  }
  chainOfArena.set(arena, ch);
  return ch;
}

/** A chained run is on (imports bring the vCPU up to its running block and check for stops). */
let chainOn = false;
/** Whether a chained run is on (a compile then must not reuse released indices: CodeBook.reclaim). */
export function chainRunning(): boolean {
  return chainOn;
}
let chainSt: ChainState;
/** The entry the vCPU was last brought up to, and the chain count it was at. */
let curIdx = 0;
let curN = 0;
let chU = 0;
// What the run loop's checks depend on, at the chain's start (chainCheck).
let chCpl = 0;
let chMode = 0;
let chEp = 0;
let chEpG = 0;
let chSs = 0;
/**
 * The chain's counts and checked values that are not small integers (counts past 2^30, CS's limit): in a typed
 * array, as a module-level `let` would box each one in a new heap number at every chained run's start.
 */
const enum Ch {
  I0,
  R0,
  B0,
  Poll,
  Si,
  Csb,
  Csl,
}
const chAt = new Float64Array(7);

/** Brings the vCPU up to the block the driver runs now (what execBlock sets for a block). */
function chainSync(c: EmuCpu): void {
  const m = curM;
  const s = c.wslot >> 2;
  const idx = m[s + (Slot.ChainIdx >> 2)]!;
  const n = m[s + (Slot.ChainN >> 2)]!;
  if (idx === curIdx && n === curN) return;
  curIdx = idx;
  curN = n;
  const e = chainSt.entries[idx]!;
  curIns = e.ins;
  curSeg = e.segAt;
  c.segOff = 0; // a block after the first: no rest of a cut block
  curLoop = e.blk.selfLoop;
  curLoopLen = e.blk.loopLen;
  curSkip = e.skips;
  c.loops = 0; // enter() reads a self-loop's passes from the slot
  c.skipN = 0; // the driver took what the blocks before it branched over off its count
  c.skipB = 0;
  c.instructions = chAt[Ch.I0]! + n;
  c.retired[chU] = chAt[Ch.R0]! + n;
  c.branchesRetired[chU] = chAt[Ch.B0]! + m[s + (Slot.ChainNb >> 2)]!;
  const bip = chainSt.f64[(c.wslot + Slot.ChainBip) >> 3]!;
  c.bip = bip;
  c.rip = addIp(bip, e.blk.len, c.codeSize);
  c.curBlock = e.blk;
  c.chainLast = e.blk;
  c.chainIns = e.ins;
}

/** After an import that ran guest code or touched memory: whatever makes the run loop do something else than run the next block stops the chain. */
function chainCheck(c: EmuCpu): void {
  if (
    c.pollAt !== chAt[Ch.Poll] ||
    c.smc ||
    c.breakRun ||
    c.shadow ||
    c.halted ||
    c.notRetired !== 0 ||
    c.stringIters !== chAt[Ch.Si] ||
    (c.flags & (Bit.TF | Bit.RF)) !== 0 ||
    c.cpl !== chCpl ||
    c.modeKey !== chMode ||
    c.jcEpoch !== chEp ||
    c.jcEpochG !== chEpG ||
    c.stackSize !== chSs ||
    c.segBase[Seg.CS] !== chAt[Ch.Csb] ||
    c.segLimit[Seg.CS] !== chAt[Ch.Csl] ||
    c.debugArmed
  )
    curM[(c.wslot + Slot.ChainStop) >> 2] = 1;
}

/**
 * The driver's `tl` import: runs the running block's last instruction (its handler) and leaves RIP in the slot.
 * Returns the REP iterations it added to the work count (c.stringIters): the driver takes them off its limit,
 * as the run loop takes them off the next block's, and goes on (a REP ends its block, so most REPs run here).
 */
function chainTail(k: number): number {
  const c = cur;
  const x = enter(c, k);
  x.fn(c, x);
  c.ci = k + 1;
  const work = c.stringIters - chAt[Ch.Si]!;
  chAt[Ch.Si] = c.stringIters;
  chainCheck(c);
  chainSt.f64[(c.wslot + Slot.ChainRip) >> 3] = c.rip;
  return work;
}

/** execBlock's function for a chainable block: links the last compiled exit to it, runs the driver, then sets the vCPU as the wrapper does. */
export function chainWrapper(arena: WasmArena, ch: ChainState, e0: ChainEntry): (c: EmuCpu) => void {
  const m = arena.i32;
  const idx0 = e0.idx;
  const jcw = arena.jcwBase >> 2;
  return (c: EmuCpu): void => {
    const s = c.wslot >> 2;
    // The run loop found this block valid at its RIP: chained runs leaving by a return or a handler find it there.
    m[jcw + (c.bip & (JCW_ENTRIES - 1))] = idx0;
    const wx = c.wxIdx;
    if (wx !== 0) {
      // The last compiled block left to this block's RIP: a guess for its next run (the driver checks it). Its
      // index may have been released and reused since (the tag tells): then the record is another block's.
      if (c.wxRip === c.bip && ch.book.tags[wx & 0xffff] === wx) {
        const at = arena.linkBase + (wx & 0xffff) * LINK_BYTES;
        if (c.wxKind === 1) {
          m[(at + Lk.FallIdx) >> 2] = idx0;
          ch.f64[(at + Lk.FallBip) >> 3] = c.bip;
        } else if (c.wxKind === 3) {
          m[(at + Lk.SideIdx) >> 2] = idx0;
          m[(at + Lk.SideCi) >> 2] = c.wxCi;
          m[(at + Lk.SideBr) >> 2] = c.wxBr;
          ch.f64[(at + Lk.SideBip) >> 3] = c.bip;
        } else {
          m[(at + Lk.TakIdx) >> 2] = idx0;
          ch.f64[(at + Lk.TakBip) >> 3] = c.bip;
        }
      }
      c.wxIdx = 0;
    }
    // Chain only where the PMU counts order-free (execBlock counts the whole run at its end, as the run loop's
    // countPmu merges block counts then).
    const pmu = c.pmu;
    // Linear addresses are RIPs in 64-bit code and in 32-bit code with a CS base of 0 (the records hold linear ones).
    const chain = (c.codeSize === 8 || (c.codeSize === 4 && c.segBase[Seg.CS] === 0)) && (pmu === null || !pmu.active || c.pmuMerge) && !c.debugArmed;
    m[s + (Slot.ChainStop >> 2)] = chain ? 0 : 1;
    m[s + (Slot.ChainCpl >> 2)] = c.cpl;
    m[s + (Slot.ChainMode >> 2)] = c.modeKey;
    m[s + (Slot.ChainEp >> 2)] = c.jcEpoch;
    m[s + (Slot.ChainEpG >> 2)] = c.jcEpochG;
    cur = c;
    curM = m;
    chainSt = ch;
    curIns = e0.ins;
    curSeg = e0.segAt;
    curLoop = e0.blk.selfLoop;
    curLoopLen = e0.blk.loopLen;
    curSkip = e0.skips;
    curIdx = idx0;
    curN = 0;
    const u = c.cpl === 3 ? 1 : 0;
    chU = u;
    chAt[Ch.I0] = c.instructions;
    chAt[Ch.R0] = c.retired[u]!;
    chAt[Ch.B0] = c.branchesRetired[u]!;
    chAt[Ch.Poll] = c.pollAt;
    chAt[Ch.Si] = c.stringIters;
    chCpl = c.cpl;
    chMode = c.modeKey;
    chEp = c.jcEpoch;
    chEpG = c.jcEpochG;
    chSs = c.stackSize;
    chAt[Ch.Csb] = c.segBase[Seg.CS]!;
    chAt[Ch.Csl] = c.segLimit[Seg.CS]!;
    c.chainLast = null;
    chainOn = true;
    const r = ch.drive(c.wslot, c.tlbUser | (c.stackSize << 16), c.bip, c.pollAt - c.instructions, c.loopLimit, idx0, c.chainLimit);
    chainOn = false;
    const f = (c.wslot + Slot.Flags) >> 2;
    if (m[f + Fr.Dirty] !== 0) pull(c, m, f);
    // The block it ended in: the vCPU as execBlock would have set it for that block.
    const idx = m[s + (Slot.ChainIdx >> 2)]!;
    let e = e0;
    if (idx !== idx0 || m[s + (Slot.ChainN >> 2)] !== 0) {
      c.cache.jit.chains++;
      chainSync(c);
      e = ch.entries[idx]!;
      c.chainLast = e.blk;
      c.chainIns = e.ins;
    } else c.chainLast = null;
    // The passes of the block it ended in, when that loops on itself (execBlock counts them); the driver counted
    // those of the self-loops before it.
    c.loops = e.blk.selfLoop ? m[(c.wslot + Slot.Loops) >> 2]! : 0;
    if (e.skips) {
      // What it branched over (execBlock takes it off the block's count).
      c.skipN = m[(c.wslot + Slot.Skip) >> 2]!;
      c.skipB = m[((c.wslot + Slot.Skip) >> 2) + 1]!;
    }
    const ins = e.ins;
    const ci = r & 0xffff;
    const how = r >>> 16;
    const n = ins.length;
    c.wxIdx = 0;
    if (how === 1) {
      c.ci = ci - 1;
      c.rip = takenTarget(c, ch.f64[(c.wslot + Slot.ChainRip) >> 3]!, ins, ci - 1);
      c.wxIdx = e.tag;
      c.wxRip = c.rip;
      if (ci === n) c.wxKind = 2;
      else {
        c.wxKind = 3;
        c.wxCi = ci;
        c.wxBr = m[(c.wslot + Slot.ChainBr) >> 2]!; // the side exit's brThrough (formJcc)
      }
    } else if (how === 2) c.rip = addIp(c.bip, ins[ci - 1]!.end, c.codeSize);
    else if (how === HOW_RET) c.rip = ch.f64[(c.wslot + Slot.ChainRip) >> 3]!;
    // The driver ran the last instruction through tl (c.ci and RIP are set): it never returns how = 3.
    else if (how === HOW_TAIL_DONE) return;
    else if (ci === n) {
      c.wxIdx = e.tag;
      c.wxKind = 1;
      c.wxRip = c.rip;
    }
    c.ci = ci;
  };
}

