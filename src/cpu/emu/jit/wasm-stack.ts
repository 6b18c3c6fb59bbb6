/**
 * Runs of 64-bit PUSHes or POPs (a function's prologue and epilogue) with one stack check for the run.
 *
 * Each inline PUSH or POP checks its stack slot on its own: the stack size, a canonical address and a write (or
 * read) TLB hit, about 40 machine instructions before its one store or load. A run of m of them (register moves
 * not touching RSP may lie between, as compilers interleave them in prologues) touches the m slots below RSP (or
 * from RSP up) and nothing else: when those 8m bytes lie in one page that the TLB maps to RAM, every instruction of
 * the run would take its inline path, so the run does so with one check and one RSP write. Otherwise the run is
 * emitted as before, instruction by instruction (a run crossing a page, a miss, a fault: what each handler does).
 */
import type { Insn } from '../insn.js';
import { T, W } from './wasm-encoder.js';
import type { BlockBody } from './wasm-regs.js';
import { emitting } from './wasm-emit-state.js';
import { nonCanonical, stackSlotsHit } from './wasm-mem-access.js';
import { handler, smcExit } from './wasm-flow.js';
import { exitCode, P_SLOT } from './wasm-block-abi.js';
import { HOW_RET } from './wasm-chain.js';
import { Slot } from './wasm-arena.js';
import type { WForm } from './wasm-inline-forms.js';
import type { SkipPlan } from './wasm-skips.js';
import { pushI } from '../ops-flow.js';

/** Register forms that may lie inside a run: no memory, no call out, no flags; checked not to touch RSP. */
const BETWEEN: ReadonlySet<string> = new Set(['mov-rr', 'mov64', 'movri', 'movri64', 'nop']);

const RSP = 4;

/** Whether x is a 64-bit PUSH (push) or POP (pop) a run may hold: not of RSP itself. */
function member(x: Insn, f: WForm, push: boolean): boolean {
  return f === (push ? 'push' : 'pop') && x.osz === 8 && (x.fn === pushI || x.rm !== RSP);
}

function between(x: Insn, f: WForm): boolean {
  return BETWEEN.has(f) && (f === 'nop' || (x.rm !== RSP && ((f !== 'mov-rr' && f !== 'mov64') || x.reg !== RSP)));
}

/**
 * The last instruction of the run that starts at k (a 64-bit PUSH or POP) with at least two PUSHes (POPs), or with
 * POPs up to the block's last instruction, a RET (a function's epilogue): k when there is none. A run does not reach
 * past the self-loop's head (`head`), where the loop enters, nor past an instruction a forward branch goes to (`skips`).
 */
export function stackRunEnd(ins: readonly Insn[], forms: readonly WForm[], k: number, head: number, skips: SkipPlan | null = null): number {
  const x = ins[k]!;
  const f = forms[k]!;
  const push = f === 'push';
  if (!emitting.blockLong || !member(x, f, push)) return k;
  let last = k;
  let m = 1;
  for (let j = k + 1; j < ins.length && j !== head && (skips === null || skips.openAt[j]! < 0); j++) {
    const y = ins[j]!;
    const g = forms[j]!;
    if (member(y, g, push)) {
      last = j;
      m++;
    } else if (!push && g === 'ret' && j === ins.length - 1) return j;
    else if (!between(y, g)) break;
  }
  return m >= 2 ? last : k;
}

/**
 * Emits instructions k..e (a run, stackRunEnd) as one checked fast path, else as `one` emits each of them.
 */
export function emitStackRun(b: BlockBody, ins: readonly Insn[], forms: readonly WForm[], k: number, e: number, one: (j: number) => void): void {
  const push = forms[k] === 'push';
  // A run of POPs ending in the block's RET: its slot is the one above the POPs' (one check covers it), and both
  // paths end the block.
  const ret = forms[e] === 'ret';
  let m = 0;
  for (let j = k; j <= e; j++) if (forms[j] === forms[k]) m++;
  const bytes = 8 * (ret ? m + 1 : m);
  // RSP and the pushed registers in locals at this level, read by both paths below.
  b.ensure(RSP);
  for (let j = k; j <= e; j++) if (forms[j] === 'push' && ins[j]!.fn !== pushI) b.ensure(ins[j]!.rm);
  const sp = b.local(T.I64);
  const lo = b.local(T.I64);
  const addr = b.local(T.I32);
  const idx = b.local(T.I32);
  b.load64(RSP);
  b.set(sp);
  // The lowest address of the run's slots: RSP - 8m for PUSHes, RSP for POPs.
  b.get(sp);
  if (push) b.i64(-8 * m).op(W.I64Add);
  b.set(lo);
  stackSlotsHit(b, lo, bytes, push, addr, idx);
  b.op(W.If, T.Void);
  {
    let at = push ? 8 * m : 0;
    for (let j = k; j <= e; j++) {
      const x = ins[j]!;
      if (ret && j === e) break;
      if (forms[j] !== forms[k]) {
        one(j);
        continue;
      }
      if (push) {
        at -= 8;
        b.get(addr);
        if (x.fn === pushI) b.i64((BigInt(x.immHi | 0) << 32n) | BigInt(x.imm >>> 0));
        else b.load64(x.rm);
        b.mem(W.I64Store, at, 0);
      } else {
        const v = b.local(T.I64);
        b.get(addr).mem(W.I64Load, at, 0).set(v);
        at += 8;
        b.store64(x.rm, v);
      }
    }
    const nsp = b.local(T.I64);
    b.get(sp).i64(push ? -8 * m : 8 * m).op(W.I64Add).set(nsp);
    b.store64(RSP, nsp);
    if (ret) {
      // As emitRet64: a target that is not canonical leaves the RET to its handler, the POPs done.
      const t = b.local(T.I64);
      b.get(addr).mem(W.I64Load, at, 0).set(t);
      nonCanonical(b, t);
      b.op(W.If, T.Void).i32(exitCode(e, 3)).op(W.Return, W.End);
      const nsp2 = b.local(T.I64);
      b.get(nsp).i64(8).op(W.I64Add).set(nsp2);
      b.store64(RSP, nsp2);
      b.get(P_SLOT).get(t).op(W.F64ConvertI64S).mem(W.F64Store, Slot.ChainRip, 3);
      b.i32(exitCode(e + 1, HOW_RET)).op(W.Return);
    }
  }
  if (ret) {
    // Only the other path goes on here: the POPs by their handlers, then the RET as the block's tail (its handler).
    b.op(W.End);
    for (let j = k; j < e; j++) {
      if (forms[j] === forms[k]) handler(b, j, smcExit(j));
      else one(j);
    }
    b.i32(exitCode(e, 3)).op(W.Return);
    emitting.dirtyAt = -1;
    return;
  }
  b.op(W.Else);
  // Rare (a run across a page, a TLB miss, a fault): each PUSH or POP by its handler, which does it all.
  for (let j = k; j <= e; j++) {
    if (forms[j] === forms[k]) handler(b, j, smcExit(j));
    else one(j);
  }
  b.op(W.End);
  // The handlers of the path instruction by instruction may have run (and changed the cpu's flags fields).
  emitting.dirtyAt = -1;
}
