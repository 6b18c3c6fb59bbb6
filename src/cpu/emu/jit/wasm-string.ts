/**
 * The wasm tier's string forms: MOVS, STOS and LODS without a REP prefix ('str'), with a 32-bit address size outside
 * 64-bit mode or a 32- or 64-bit one in it. gcc -m32 -O2 copies with single MOVSB/MOVSD in loops of its own
 * (movsb; cmp edi, eax; jne): without REP a string instruction goes on in its block (its row says `endsOnlyWithRep`), so
 * such a loop is one compiled block that loops on itself.
 *
 * Inline when both segments are flat (base 0, no checks: the linear address is the offset, as ops-string.ts lin
 * computes it) and every operand is a TLB hit on RAM (a write hit is a page without code, so there is no
 * self-modifying code to check; a TLB tag is never a non-canonical address); else the handler does it all,
 * nothing changed before. RSI/RDI move by the operand size, backwards while DF is set (Slot.Df, kept by the
 * cpu's flag writers).
 */
import type { Insn } from '../insn.js';
import { Seg } from '../x86-defs.js';
import { Slot } from './wasm-arena.js';
import { T, W } from './wasm-encoder.js';
import type { BlockBody } from './wasm-regs.js';
import { stringOp } from '../ops-string.js';

/** What the string forms use of the emitter (wasm-emit.ts). */
export interface StrCtx {
  /** The block function's parameter holding the vCPU's slot address. */
  readonly slot: number;
  /** Pushes whether the TLB maps `lin` to RAM for `size` bytes within the page; the host address in `addr`. */
  tlbHit(b: BlockBody, lin: number, size: number, write: boolean, addr: number, idx: number): void;
  /** Calls instruction k's handler through the import, returning exit code `smcExit` if it wrote the block's code. */
  handler(b: BlockBody, k: number, smcExit: number): void;
}

const MOVS = 0;
const STOS = 2;
const LODS = 3;
const RAX = 0;
const RSI = 6;
const RDI = 7;

/** Whether x is a string instruction with an inline form (the address size is checked against the mode when emitted). */
export function strForm(x: Insn): boolean {
  return x.fn === stringOp && x.rep === 0 && (x.op === MOVS || x.op === STOS || x.op === LODS) && (x.imm2 === 4 || x.imm2 === 8);
}

/** Whether the string form x writes memory (MOVS, STOS). */
export function strStores(x: Insn): boolean {
  return x.op !== LODS;
}

/** Whether x's form is emitted for a block of decode mode `long` (64-bit) or not: a 64-bit address size only there. */
export function strFits(x: Insn, long: boolean): boolean {
  return long || x.imm2 === 4;
}

/** Pushes whether segment `seg`'s base is 0 and (outside 64-bit mode) it needs no checks. */
function flat(b: BlockBody, cx: StrCtx, seg: number, long: boolean): void {
  b.get(cx.slot).mem(W.I64Load, Slot.SegBase + seg * 8, 3).op(W.I64Eqz);
  if (!long) b.get(cx.slot).mem(W.I32Load8U, Slot.SegChk + seg, 0).op(W.I32Eqz, W.I32And);
}

/** Leaves index register r's offset (the address size's) in i64 local `lin`. */
function offset(b: BlockBody, r: number, asz: number, lin: number): void {
  if (asz === 8) b.load64(r);
  else {
    b.load32(r);
    b.op(W.I64ExtendI32U);
  }
  b.set(lin);
}

/** Index register r += i32 local `step` at the address size (ops-string.ts adv: outside 64-bit mode the high half is kept). */
function advance(b: BlockBody, r: number, asz: number, step: number, long: boolean): void {
  if (asz === 8) {
    const v = b.local(T.I64);
    b.load64(r);
    b.get(step).op(W.I64ExtendI32S, W.I64Add).set(v);
    b.store64(r, v);
  } else if (long) {
    const v = b.local(T.I32);
    b.load32(r);
    b.get(step).op(W.I32Add).set(v);
    b.store32(r, v);
  } else
    b.storeLow32(r, () => {
      b.load32(r);
      b.get(step).op(W.I32Add);
    });
}

const LOAD: Record<number, W> = { 1: W.I32Load8U, 2: W.I32Load16U, 4: W.I32Load, 8: W.I64Load };
const STORE: Record<number, W> = { 1: W.I32Store8, 2: W.I32Store16, 4: W.I32Store, 8: W.I64Store };

/** MOVS/STOS/LODS at instruction k of a block in 64-bit mode (`long`) or not; `smcExit` as for handler(). */
export function emitStr(b: BlockBody, cx: StrCtx, x: Insn, k: number, long: boolean, smcExit: number): void {
  const size = x.osz;
  const asz = x.imm2;
  const op = x.op;
  const wide = size === 8;
  const step = b.local(T.I32);
  // size, or -size while DF is set
  b.i32(size).get(cx.slot).mem(W.I32Load, Slot.Df, 2).i32(2 * size).op(W.I32Mul, W.I32Sub).set(step);
  if (asz === 8) {
    // Cached before the branch, so that they stay in locals across the block's accesses.
    if (op !== STOS) b.ensure(RSI);
    if (op !== LODS) b.ensure(RDI);
    if (op === STOS && wide) b.ensure(RAX);
  }
  const src = b.local(T.I64);
  const dst = b.local(T.I64);
  const sAddr = b.local(T.I32);
  const dAddr = b.local(T.I32);
  const idx = b.local(T.I32);
  const ok = b.local(T.I32);
  // Outside 64-bit mode the destination is ES; in it the flat segment (ops-string.ts), whose base is 0.
  if (op !== STOS) {
    offset(b, RSI, asz, src);
    cx.tlbHit(b, src, size, false, sAddr, idx);
    if (x.seg !== 8) {
      flat(b, cx, x.seg, long);
      b.op(W.I32And);
    }
    b.set(ok);
  }
  if (op !== LODS) {
    offset(b, RDI, asz, dst);
    cx.tlbHit(b, dst, size, true, dAddr, idx);
    if (!long) {
      flat(b, cx, Seg.ES, false);
      b.op(W.I32And);
    }
    if (op === MOVS) b.get(ok).op(W.I32And);
    b.set(ok);
  }
  b.get(ok).op(W.If, T.Void);
  const v = b.local(wide ? T.I64 : T.I32);
  if (op === STOS) {
    if (wide) b.load64(RAX);
    else b.load32(RAX);
  } else b.get(sAddr).mem(LOAD[size]!, 0, 0);
  b.set(v);
  if (op === LODS) {
    if (size === 8) b.store64(RAX, v);
    else if (size === 4) b.store32(RAX, v);
    else {
      const keep = size === 1 ? ~0xff : ~0xffff;
      b.storeLow32(RAX, () => {
        b.load32(RAX);
        b.i32(keep).op(W.I32And).get(v).op(W.I32Or);
      });
    }
    advance(b, RSI, asz, step, long);
  } else {
    b.get(dAddr).get(v).mem(STORE[size]!, 0, 0);
    if (op === MOVS) advance(b, RSI, asz, step, long);
    advance(b, RDI, asz, step, long);
  }
  b.op(W.Else);
  cx.handler(b, k, smcExit);
  b.op(W.End);
}
