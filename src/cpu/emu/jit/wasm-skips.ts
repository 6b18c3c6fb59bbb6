/**
 * Forward branches inside a block (an `if` without an `else`): a conditional branch whose target is a later
 * instruction of its own block goes there as a wasm branch (`block` ... `br` ... `end` at the target) instead of
 * leaving the block as a side exit and entering another block that starts at the target.
 *
 * Exactness, against the run loop running block by block (where a taken side exit ends the block and the block at
 * the target runs next):
 * - It branches only when the run loop would run the block at the target next: no poll due there (its index below
 *   the poll room, as a side exit checks; in a self-loop's later passes never due, as passes are limited to room /
 *   count) and nothing an import did asked the chained run to stop (Slot.ChainStop, wasm-host.ts chainCheck: a
 *   moved poll point, a stop, a CPL or paging change...). Otherwise it leaves as the side exit it was. Outside a
 *   chained run (the plain wrapper) ChainStop is 1: never.
 * - The block at the target ends where this one does: the block ended at an instruction that ends blocks or at its
 *   page's end (not `Block.openEnd`), so the interpreter's block boundaries, and the polls at them, are the same.
 * - What it branched over did not retire: each taken branch adds its instructions and branches to Slot.Skip, which
 *   the chain driver (Lk.Skip), the wrappers and execBlock (EmuCpu.skipN, skipB) take off the block's counts, and
 *   leaves the target's index in Slot.SkipAt: the deterministic clock's basic block starts there (wasm-host.ts).
 * - At the join the flags record holds what either path left (deferred records are written before it); what the
 *   compiler knows of the flags stays only if every branch there knew the same. Registers get locals between the
 *   branch and its target as in straight-line code; at the join only what held on every way in is kept
 *   (wasm-regs.ts openSkip).
 */
import type { Insn } from '../insn.js';
import { Slot } from './wasm-arena.js';
import { T, W } from './wasm-encoder.js';
import type { BlockBody } from './wasm-regs.js';
import { NONE, type Known } from './wasm-alu.js';
import { P_ROOM, P_SLOT } from './wasm-block-abi.js';
import { emitting } from './wasm-emit-state.js';
import { materialize } from './wasm-flags-record.js';
import type { WForm } from './wasm-inline-forms.js';

export interface SkipPlan {
  /** Per instruction: the index its forward branch goes to inside the block, else -1; the branches it goes over. */
  readonly to: Int32Array;
  readonly overBr: Int32Array;
  /** Per index: where the wasm block that ends at it opens (the index of a branch, before it), else -1. */
  readonly openAt: Int32Array;
  /** Per index: the nesting level its wasm block was opened at, and the segments' flags then (while emitting). */
  readonly level: Int32Array;
  readonly segFlag: Int32Array[];
  /** The same for the exact FS/GS bases' locals (wasm-mem-access.ts fsgsBase). */
  readonly baseLocal: Int32Array[];
  /** Per index: what was known of the flags at the branches to it (null: not the same at all of them). */
  readonly known: (Known | null | undefined)[];
}

/**
 * Which conditional branches of the block go to a later instruction of it as wasm branches, and where their wasm
 * blocks open; null when none does. A self-loop's head is never crossed: a branch before it goes at most to it.
 */
export function planSkips(ins: readonly Insn[], forms: readonly WForm[], head: number, openEnd: boolean): SkipPlan | null {
  if (openEnd) return null;
  const n = ins.length;
  let to: Int32Array | null = null;
  let openAt: Int32Array | null = null;
  let overBr: Int32Array | null = null;
  for (let j = 0; j < n - 1; j++) {
    const x = ins[j]!;
    // (a 16-bit operand size cuts the target to 16 bits: left to the side exit)
    if (forms[j] !== 'jcc' || x.osz === 2) continue;
    const off = x.end + x.imm;
    if (off <= x.end) continue;
    let t = -1;
    for (let k = j + 2; k < n && ins[k]!.start <= off; k++) if (ins[k]!.start === off) t = k;
    if (t < 0 || (head >= 0 && j < head && t > head)) continue;
    if (to === null || openAt === null || overBr === null) {
      to = new Int32Array(n).fill(-1);
      openAt = new Int32Array(n).fill(-1);
      overBr = new Int32Array(n);
    }
    to[j] = t;
    overBr[j] = ins[t - 1]!.brThrough - x.brThrough;
    if (openAt[t]! < 0) openAt[t] = j;
  }
  if (to === null || openAt === null || overBr === null) return null;
  // Wasm blocks nest: one that ends later but opens inside one that ends earlier opens where that one does.
  for (let changed = true; changed; ) {
    changed = false;
    for (let t = 0; t < n; t++) {
      const o = openAt[t]!;
      if (o < 0) continue;
      for (let u = o + 1; u < t; u++) {
        const p = openAt[u]!;
        if (p >= 0 && p < openAt[t]!) {
          openAt[t] = p;
          changed = true;
        }
      }
    }
  }
  return { to, overBr, openAt, level: new Int32Array(n), segFlag: new Array<Int32Array>(n), baseLocal: new Array<Int32Array>(n), known: new Array<Known | null | undefined>(n) };
}

/** Before instruction k (a branch, its flags records written): opens the wasm blocks that open there, the outermost first. */
export function openSkips(b: BlockBody, p: SkipPlan, k: number): void {
  for (let t = p.openAt.length - 1; t > k; t--) {
    if (p.openAt[t] !== k) continue;
    p.level[t] = b.openSkip();
    p.segFlag[t] = emitting.segFlag.slice();
    p.baseLocal[t] = emitting.baseLocal.slice();
  }
}

/** Drops the per-segment locals of `now` that differ from what they were where the skip opened (`at`). */
function forgetFormedInside(now: Int32Array, at: Int32Array): void {
  for (let i = 0; i < now.length; i++) if (now[i] !== at[i]) now[i] = -1;
}

/** Before instruction k: closes the wasm block the branches to k end at, if any; returns what is known of the flags there. */
export function joinSkips(b: BlockBody, p: SkipPlan, k: number, known: Known): Known {
  if (p.openAt[k]! < 0) return known;
  // The fall-through path writes its deferred records before the join (every branch here wrote them before it).
  materialize();
  b.closeSkip();
  // A segment's flag (or FS/GS base) first computed inside is not computed on the taken way.
  forgetFormedInside(emitting.segFlag, p.segFlag[k]!);
  forgetFormedInside(emitting.baseLocal, p.baseLocal[k]!);
  emitting.dirtyAt = -1;
  return p.known[k] === known ? known : NONE;
}

/**
 * Inside a taken Jcc at k going to t: branches there unless the run loop would do anything but run the block at t
 * next; otherwise falls through to the side exit after this.
 */
export function emitSkip(b: BlockBody, p: SkipPlan, k: number, known: Known): void {
  const t = p.to[k]!;
  const seen = p.known[t];
  p.known[t] = seen === undefined || seen === known ? known : null;
  b.get(P_SLOT).mem(W.I32Load, Slot.ChainStop, 2);
  b.i32(k + 1).op(W.F64ConvertI32S).get(P_ROOM).op(W.F64Ge, W.I32Or, W.I32Eqz);
  b.op(W.If, T.Void);
  const skipped = t - k - 1;
  const br = p.overBr[k]!;
  b.get(P_SLOT).get(P_SLOT).mem(W.I64Load, Slot.Skip, 3).i64((BigInt(br) << 32n) | BigInt(skipped)).op(W.I64Add).mem(W.I64Store, Slot.Skip, 3);
  b.get(P_SLOT);
  const head = emitting.loopHead;
  if (head >= 0 && k >= head) b.get(emitting.passes).i32(emitting.blockLen - head).op(W.I32Mul).i32(t).op(W.I32Add);
  else b.i32(t);
  b.mem(W.I32Store, Slot.SkipAt, 2);
  b.skipBranch(p.level[t]!);
  b.op(W.Br, b.level - p.level[t]!);
  b.op(W.End);
}

/** At the function's start: nothing branched over yet (Slot.Skip and Slot.SkipAt are the vCPU's, shared by all blocks). */
export function clearSkips(b: BlockBody): void {
  b.get(P_SLOT).i64(0).mem(W.I64Store, Slot.Skip, 3);
  b.get(P_SLOT).i32(0).mem(W.I32Store, Slot.SkipAt, 2);
}
