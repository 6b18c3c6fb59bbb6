/**
 * The wasm tier's integer forms that used to call their handler from compiled code in the Linux boot's hot
 * blocks (wasm-emit.ts calls these):
 * - 'imul64': IMUL r64, r/m64 (0F AF) and IMUL r64, r/m64, imm (69/6B), i64.mul; CF = OF = the signed product
 *   does not fit in 64 bits, SF/ZF/PF of the result, as ops-muldiv.ts imulInto leaves them (eager);
 * - 'alu32m': ADD/OR/AND/SUB/XOR m32, r32 / imm (read-modify-write, inline when the TLB maps the page for writing
 *   and reading, else the read goes through `rdw`, which faults as a write before anything changes);
 * - 'shiftcl': SHL/SAL/SHR/SAR r32/r64 by CL: a count of 0 once masked changes nothing, flags included (a 32-bit
 *   destination still has its high half cleared), so the liveness pass takes the form to observe every flag;
 * - the flags of SHL/SHR/SAR r32 by a constant ('shift' with live flags) inline (sem-shift.ts shl32/shr32/sar32),
 *   where they went through the `sh` import;
 * - 'cmpxchg32m': CMPXCHG m32, r32; 'incdec64': INC/DEC r64; 'movsreg': MOV r16/r32/r64, Sreg (the selectors in the
 *   vCPU's slot);
 * - 'imul32': IMUL r32, r/m32 [, imm] and 'mul32': MUL r/m32 (EDX:EAX = EAX * r/m32), through i64.mul, with the
 *   eager records of imulInto / mulE (CF = OF = the product does not fit in 32 bits, signed or unsigned).
 */
import type { Insn } from '../insn.js';
import { hasImm } from '../block-compiler.js';
import { Alu } from '../sem-alu.js';
import { Sh } from '../sem-shift.js';
import { Lazy } from '../flags.js';
import { Dg, Fr, Slot } from './wasm-arena.js';
import { Body, T, W } from './wasm-encoder.js';
import type { BlockBody } from './wasm-regs.js';

/** What the compiler knows of the lazy flags: the producer's operand locals (i32 or i64). */
export interface Known {
  kind: '' | 'sub' | 'add' | 'logic' | 'zf';
  w64: boolean;
  d: number;
  s: number;
  r: number;
  /**
   * 1 or 2: an 8- or 16-bit ADD/SUB/CMP, whose operands and result only count by their low 8 or 16 bits (the
   * conditions compare them shifted to the top of an i32); absent: the full width.
   */
  narrow?: 1 | 2;
}
export const NONE: Known = { kind: '', w64: false, d: -1, s: -1, r: -1 };

/** What the forms here use of the emitter (wasm-forms.ts ALU_CTX). */
export interface AluCtx {
  /** The block function's parameter holding the vCPU's slot address. */
  readonly slot: number;
  /** Pushes CF (i32 0/1) from what is known, calling out when nothing is. */
  carry(b: BlockBody, k: Known): void;
  /** Writes the flags record field `i` from the i32 that `v` pushes. */
  recField(b: BlockBody, i: number, v: () => void): void;
  /** Writes a 64-bit value (the i64 `v` pushes) to the record's field `i` and its high half (Fr) in one store. */
  recField64(b: BlockBody, i: number, v: () => void): void;
  /** Marks the record's field groups `g` written. */
  recDirty(b: BlockBody, g: number): void;
  /** Forgets what Fr.Dirty holds (after code that marks groups on one path only). */
  dirtyUnknown(): void;
  /** Pushes PF's condition (even parity of the low byte) of local r. */
  parity(b: BlockBody, r: number, w64: boolean): void;
  /** Records the flags of a 32-bit ADD/SUB/logic operation of i32 locals d, s into r; returns what is known then. */
  record32(b: BlockBody, op: number, d: number, s: number, r: number): Known;
  /** Pushes the i64 read of 8 bytes at i64 local `lin` (inline on a TLB hit, else rd()). */
  load8(b: BlockBody, k: number, lin: number): void;
  /** Pushes the i32 read of 4 bytes at i64 local `lin` (inline on a TLB hit, else rd()). */
  load4(b: BlockBody, k: number, lin: number): void;
  /** Leaves in `hit` (and pushes) whether the TLB maps `lin` for writing and reading; the host address in `addr`. */
  tlbHitRw(b: BlockBody, lin: number, size: number, addr: number, hit: number): void;
  /** Pushes the i32 read for writing of `size` bytes at `lin` through the rdw import (faults as a write). */
  rdwCall(b: BlockBody, k: number, size: number, lin: number): void;
  /** Writes i32 local `v` (`size` bytes) at `lin` through the wr import, ending the block with `smcExit` if it wrote the block's code. */
  wrCall(b: BlockBody, k: number, size: number, lin: number, v: number, smcExit: number): void;
}

/** i64 constant of an instruction's (sign-extended) immediate. */
function imm64(x: Insn): bigint {
  return (BigInt(x.immHi | 0) << 32n) | BigInt(x.imm >>> 0);
}

/** Records an eager flags value (setEager: op and result, the other fields kept) from the i32 that `v` pushes. */
function recEager(b: BlockBody, cx: AluCtx, v: () => void): void {
  cx.recField(b, Fr.Op, () => b.i32(Lazy.Eager));
  cx.recField(b, Fr.Res, v);
  cx.recDirty(b, Dg.OpRes);
}

/** Ors PF, ZF and SF of local r (i32 or i64) into the i32 on the stack (szp). */
export function orSzp(b: BlockBody, cx: AluCtx, r: number, w64: boolean): void {
  cx.parity(b, r, w64);
  b.i32(2).op(W.I32Shl, W.I32Or);
  b.get(r).op(w64 ? W.I64Eqz : W.I32Eqz).i32(6).op(W.I32Shl, W.I32Or);
  b.get(r);
  if (w64) b.i64(0).op(W.I64LtS);
  else b.i32(0).op(W.I32LtS);
  b.i32(7).op(W.I32Shl, W.I32Or);
}

/**
 * IMUL r64, r/m64 [, imm]: register `x.reg` = the low 64 bits of the product; with its flags live, the eager
 * record of imulInto. `lin` is the memory operand's address local (-1 for a register operand).
 */
export function emitImul64(b: BlockBody, cx: AluCtx, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  const a = b.local(T.I64);
  const s = b.local(T.I64);
  const r = b.local(T.I64);
  const three = x.row.ops.length === 3;
  // 0F AF: G * E; 69/6B: E * imm.
  if (lin >= 0) cx.load8(b, k, lin);
  else b.load64(x.rm);
  b.set(three ? a : s);
  if (three) b.i64(imm64(x)).set(s);
  else {
    b.load64(x.reg);
    b.set(a);
  }
  b.get(a).get(s).op(W.I64Mul).set(r);
  b.store64(x.reg, r);
  if (!fl) return known;
  // Overflow: the signed 128-bit product is not the 64-bit one sign-extended. Never when both operands fit in 32
  // bits; else a * s overflowed exactly when r / a is not s (a = -1: only s = -2^63, whose division traps).
  const ovf = b.local(T.I32);
  b.get(a).get(a).op(W.I32WrapI64, W.I64ExtendI32S, W.I64Ne);
  b.get(s).get(s).op(W.I32WrapI64, W.I64ExtendI32S, W.I64Ne, W.I32Or);
  b.op(W.If, T.I32);
  b.get(a).i64(-1).op(W.I64Eq);
  b.op(W.If, T.I32).get(s).i64(-(2n ** 63n)).op(W.I64Eq, W.Else);
  b.get(a).op(W.I64Eqz);
  b.op(W.If, T.I32).i32(0).op(W.Else).get(r).get(a).op(W.I64DivS).get(s).op(W.I64Ne, W.End);
  b.op(W.End, W.Else).i32(0).op(W.End).set(ovf);
  return recordMul(b, cx, ovf, r, true);
}

/**
 * The eager record a multiply leaves (ops-muldiv.ts setMulFlags): CF = OF = i32 local `ovf` (0 or 1), SF/ZF/PF of
 * local `r` (i64 when `w64`, else i32); returns what is known of the flags then.
 */
export function recordMul(b: BlockBody, cx: AluCtx, ovf: number, r: number, w64: boolean): Known {
  recEager(b, cx, () => {
    // CF (bit 0) | OF (bit 11)
    b.get(ovf).get(ovf).i32(11).op(W.I32Shl, W.I32Or);
    orSzp(b, cx, r, w64);
  });
  return { kind: 'zf', w64, d: -1, s: -1, r };
}

/**
 * IMUL r32, r/m32 [, imm]: register `x.reg` = the low 32 bits of the product (its high half cleared, as any 32-bit
 * write); with its flags live, the eager record of imulInto: CF = OF = the signed product is not its low half
 * sign-extended, SF/ZF/PF of the low half.
 */
export function emitImul32(b: BlockBody, cx: AluCtx, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  const p = b.local(T.I64);
  const r = b.local(T.I32);
  const three = x.row.ops.length === 3;
  // 0F AF: G * E; 69/6B: E * imm (sign-extended by the decoder).
  if (lin >= 0) cx.load4(b, k, lin);
  else b.load32(x.rm);
  b.op(W.I64ExtendI32S);
  if (three) b.i64(x.imm | 0);
  else {
    b.load32(x.reg);
    b.op(W.I64ExtendI32S);
  }
  b.op(W.I64Mul).set(p);
  b.get(p).op(W.I32WrapI64).set(r);
  b.store32(x.reg, r);
  if (!fl) return known;
  const ovf = b.local(T.I32);
  b.get(r).op(W.I64ExtendI32S).get(p).op(W.I64Ne).set(ovf);
  return recordMul(b, cx, ovf, r, false);
}

/**
 * MUL r/m32: EDX:EAX = EAX * r/m32 (unsigned; both high halves cleared); with its flags live, mulE's eager record:
 * CF = OF = EDX is not 0, SF/ZF/PF of EAX.
 */
export function emitMul32(b: BlockBody, cx: AluCtx, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  const p = b.local(T.I64);
  const lo = b.local(T.I32);
  const hi = b.local(T.I32);
  if (lin >= 0) cx.load4(b, k, lin);
  else b.load32(x.rm);
  b.op(W.I64ExtendI32U);
  b.load32(0);
  b.op(W.I64ExtendI32U, W.I64Mul).set(p);
  b.get(p).op(W.I32WrapI64).set(lo);
  b.get(p).i64(32).op(W.I64ShrU, W.I32WrapI64).set(hi);
  b.store32(0, lo);
  b.store32(2, hi);
  if (!fl) return known;
  b.get(hi).i32(0).op(W.I32Ne).set(hi);
  return recordMul(b, cx, hi, lo, false);
}

/**
 * Pushes the i32 read for writing of the m32 operand at i64 local `lin`: inline when the TLB maps the page for
 * writing and reading, else through rdw (which faults as a write). `addr` and `hit` keep what writeBack32 needs.
 */
export function readForWrite32(b: BlockBody, cx: AluCtx, k: number, lin: number, addr: number, hit: number): void {
  readForWrite(b, cx, k, lin, 4, addr, hit);
}

/** Writes i32 local `v` where readForWrite32 read. It cannot fault: the read faulted as a write first (rdw), as in the handlers. */
export function writeBack32(b: BlockBody, cx: AluCtx, k: number, lin: number, addr: number, hit: number, v: number, smcExit: number): void {
  writeBack(b, cx, k, lin, 4, addr, hit, v, smcExit);
}

const LOAD_N: Record<number, W> = { 1: W.I32Load8U, 2: W.I32Load16U, 4: W.I32Load };
const STORE_N: Record<number, W> = { 1: W.I32Store8, 2: W.I32Store16, 4: W.I32Store };

/** readForWrite32 for an operand of `size` bytes (1, 2 or 4), zero-extended. */
export function readForWrite(b: BlockBody, cx: AluCtx, k: number, lin: number, size: number, addr: number, hit: number): void {
  cx.tlbHitRw(b, lin, size, addr, hit);
  b.op(W.If, T.I32).get(addr).mem(LOAD_N[size]!, 0, 0).op(W.Else);
  cx.rdwCall(b, k, size, lin);
  b.op(W.End);
}

/** writeBack32 for an operand of `size` bytes (1, 2 or 4). */
export function writeBack(b: BlockBody, cx: AluCtx, k: number, lin: number, size: number, addr: number, hit: number, v: number, smcExit: number): void {
  b.get(hit).op(W.If, T.Void).get(addr).get(v).mem(STORE_N[size]!, 0, 0).op(W.Else);
  cx.wrCall(b, k, size, lin, v, smcExit);
  b.op(W.End);
}

const ALU32: Record<number, W> = { [Alu.Add]: W.I32Add, [Alu.Or]: W.I32Or, [Alu.And]: W.I32And, [Alu.Sub]: W.I32Sub, [Alu.Xor]: W.I32Xor };

/** ADD/OR/AND/SUB/XOR m32, r32 / imm: read for writing, the operation and its record, written back (aluEG/aluEI). */
export function emitAlu32m(b: BlockBody, cx: AluCtx, x: Insn, k: number, lin: number, fl: boolean, known: Known, smcExit: number): Known {
  const d = b.local(T.I32);
  const s = b.local(T.I32);
  const r = b.local(T.I32);
  const addr = b.local(T.I32);
  const hit = b.local(T.I32);
  readForWrite32(b, cx, k, lin, addr, hit);
  b.set(d);
  if (hasImm(x.row)) b.i32(x.imm | 0);
  else b.load32(x.reg);
  b.set(s);
  b.get(d).get(s).op(ALU32[x.op]!).set(r);
  const after = fl ? cx.record32(b, x.op, d, s, r) : known;
  writeBack32(b, cx, k, lin, addr, hit, r, smcExit);
  return after;
}

/** Pushes the eager flags value of SHL/SHR/SAR (count `n`, an i32 local or constant 1-31/63) of `d` into `r`. */
function shiftFlags(b: BlockBody, cx: AluCtx, op: number, w64: boolean, d: number, r: number, n: () => void): void {
  const shl = op === Sh.Shl || op === Sh.Sal;
  const cf = b.local(T.I32);
  // CF: the last bit shifted out (bit width - n of d for SHL, bit n - 1 for SHR/SAR: SAR's sign copies agree).
  b.get(d);
  if (shl) {
    b.i32(w64 ? 64 : 32);
    n();
    b.op(W.I32Sub);
  } else {
    n();
    b.i32(1).op(W.I32Sub);
  }
  if (w64) b.op(W.I64ExtendI32U, W.I64ShrU, W.I32WrapI64);
  else b.op(W.I32ShrU);
  b.i32(1).op(W.I32And).set(cf);
  const neg = (v: number): void => {
    b.get(v);
    if (w64) b.i64(0).op(W.I64LtS);
    else b.i32(0).op(W.I32LtS);
  };
  b.get(cf);
  // OF: SHL the result's sign ^ CF, SHR the operand's sign, SAR 0.
  if (shl) {
    neg(r);
    b.get(cf).op(W.I32Xor).i32(11).op(W.I32Shl, W.I32Or);
  } else if (op === Sh.Shr) {
    neg(d);
    b.i32(11).op(W.I32Shl, W.I32Or);
  }
  orSzp(b, cx, r, w64);
}

/** Records the eager flags of SHL/SHR/SAR (shiftFlags' value) through a local: what every shift form does with live flags. */
function recordShiftFlags(b: BlockBody, cx: AluCtx, op: number, w64: boolean, d: number, r: number, n: () => void): void {
  const f = b.local(T.I32);
  shiftFlags(b, cx, op, w64, d, r, n);
  b.set(f);
  recEager(b, cx, () => b.get(f));
}

/** SHL/SHR/SAR r32 by a constant 1-31 with its flags live: shl32/shr32/sar32 with f = true. */
export function emitShift32Flags(b: BlockBody, cx: AluCtx, x: Insn, fl: boolean): Known {
  const n = x.imm & 31;
  const d = b.local(T.I32);
  const r = b.local(T.I32);
  b.load32(x.rm);
  b.tee(d).i32(n).op(x.op === Sh.Shr ? W.I32ShrU : x.op === Sh.Sar ? W.I32ShrS : W.I32Shl).set(r);
  b.store32(x.rm, r);
  if (!fl) return NONE;
  recordShiftFlags(b, cx, x.op, false, d, r, () => b.i32(n));
  return { kind: 'zf', w64: false, d: -1, s: -1, r };
}

/** Whether the 32-bit 'shift' form's flags are inline (SHL/SAL/SHR/SAR; ROL/ROR keep the `sh` import). */
export function shift32Inline(x: Insn): boolean {
  return x.op >= Sh.Shl;
}

/**
 * SHL/SAL/SHR/SAR r32/r64 by CL (shiftE with imm2 = 1): a masked count of 0 leaves everything (a 32-bit register
 * still has its high half cleared); else the shift and, when its flags are live, the eager record. What is known of
 * the flags afterwards depends on the count: nothing.
 */
export function emitShiftCl(b: BlockBody, cx: AluCtx, x: Insn, fl: boolean): Known {
  const w64 = x.osz === 8;
  const op = x.op;
  const sop = op === Sh.Shr ? (w64 ? W.I64ShrU : W.I32ShrU) : op === Sh.Sar ? (w64 ? W.I64ShrS : W.I32ShrS) : w64 ? W.I64Shl : W.I32Shl;
  const n = b.local(T.I32);
  const d = b.local(w64 ? T.I64 : T.I32);
  const r = b.local(w64 ? T.I64 : T.I32);
  if (w64) b.ensure(x.rm);
  b.load32(1);
  b.i32(w64 ? 63 : 31).op(W.I32And).tee(n).op(W.I32Eqz);
  b.op(W.If, T.Void);
  if (!w64) b.zeroHigh(x.rm);
  b.op(W.Else);
  if (w64) b.load64(x.rm);
  else b.load32(x.rm);
  b.tee(d).get(n);
  if (w64) b.op(W.I64ExtendI32U);
  b.op(sop).set(r);
  if (w64) b.store64(x.rm, r);
  else b.store32(x.rm, r);
  if (fl) recordShiftFlags(b, cx, op, w64, d, r, () => b.get(n));
  b.op(W.End);
  // Marked on one path only.
  if (fl) cx.dirtyUnknown();
  return NONE;
}

/**
 * SHL/SAL/SHR/SAR m32 by CL, as shiftE does it: the operand read for writing (faulting as a write, rdE's read of a
 * read-modify-write operand); a count that is 0 once masked stops there (no write, flags kept); else the shift, its
 * eager flags when they are live, and the write back (which cannot fault then).
 */
export function emitShiftClm(b: BlockBody, cx: AluCtx, x: Insn, k: number, lin: number, fl: boolean, smcExit: number): Known {
  const op = x.op;
  const sop = op === Sh.Shr ? W.I32ShrU : op === Sh.Sar ? W.I32ShrS : W.I32Shl;
  const n = b.local(T.I32);
  const d = b.local(T.I32);
  const r = b.local(T.I32);
  const addr = b.local(T.I32);
  const hit = b.local(T.I32);
  readForWrite32(b, cx, k, lin, addr, hit);
  b.set(d);
  b.load32(1);
  b.i32(31).op(W.I32And).tee(n).op(W.I32Eqz, W.I32Eqz);
  b.op(W.If, T.Void);
  b.get(d).get(n).op(sop).set(r);
  if (fl) recordShiftFlags(b, cx, op, false, d, r, () => b.get(n));
  writeBack32(b, cx, k, lin, addr, hit, r, smcExit);
  b.op(W.End);
  // Marked on one path only.
  if (fl) cx.dirtyUnknown();
  return NONE;
}

/**
 * CMPXCHG m32, r32 (LOCK included; vCPUs run one at a time): read for writing, compared with EAX as CMP records
 * it; equal: r32 is written, else the value read is written back and zero-extended into RAX (cmpxchg).
 */
export function emitCmpxchg32m(b: BlockBody, cx: AluCtx, x: Insn, k: number, lin: number, fl: boolean, known: Known, smcExit: number): Known {
  const d = b.local(T.I32);
  const m = b.local(T.I32);
  const r = b.local(T.I32);
  const v = b.local(T.I32);
  const addr = b.local(T.I32);
  const hit = b.local(T.I32);
  readForWrite32(b, cx, k, lin, addr, hit);
  b.set(m);
  b.load32(0);
  b.tee(d).get(m).op(W.I32Sub).tee(r);
  b.op(W.I32Eqz, W.If, T.I32);
  b.load32(x.reg);
  b.op(W.Else).get(m).op(W.End).set(v);
  const after = fl ? cx.record32(b, Alu.Sub, d, m, r) : known;
  writeBack32(b, cx, k, lin, addr, hit, v, smcExit);
  b.get(r).op(W.If, T.Void);
  b.store32(0, m);
  b.op(W.End);
  return after;
}

/** INC/DEC r64 (incdec64): CF kept, the carry before it (from what is known) recorded as the carry-in. */
export function emitIncDec64(b: BlockBody, cx: AluCtx, x: Insn, fl: boolean, known: Known): Known {
  const dec = x.op === 1;
  const d = b.local(T.I64);
  const r = b.local(T.I64);
  const cin = b.local(T.I32);
  if (fl) {
    cx.carry(b, known);
    b.set(cin);
  }
  b.load64(x.rm);
  b.tee(d).i64(1).op(dec ? W.I64Sub : W.I64Add).set(r);
  b.store64(x.rm, r);
  if (!fl) return known;
  cx.recField(b, Fr.Cin, () => b.get(cin));
  cx.recField(b, Fr.Op, () => b.i32(dec ? Lazy.Dec : Lazy.Inc));
  cx.recField(b, Fr.Sz, () => b.i32(8));
  cx.recField64(b, Fr.Dst, () => b.get(d));
  cx.recField64(b, Fr.Src, () => b.i64(1));
  cx.recField64(b, Fr.Res, () => b.get(r));
  cx.recDirty(b, Dg.OpRes | Dg.Sz | Dg.DstSrc | Dg.High | Dg.Cin);
  return { kind: 'zf', w64: true, d: -1, s: -1, r };
}

/** MOV r16/r32/r64, Sreg (movESeg): the selector from the slot (Slot.SegSel), zero-extended; a 16-bit register keeps its other bits. */
export function emitMovSreg(b: BlockBody, cx: AluCtx, x: Insn): void {
  const v = b.local(T.I32);
  b.get(cx.slot).mem(W.I32Load, Slot.SegSel + x.op * 4, 2).set(v);
  if (x.osz === 2)
    b.storeLow32(x.rm, () => {
      b.load32(x.rm);
      b.i32(~0xffff).op(W.I32And).get(v).op(W.I32Or);
    });
  else b.store32(x.rm, v);
}

/**
 * The body of the modules' carry helper, f(slot) -> CF (0/1): CF from the vCPU's flags record where compiled
 * code wrote the fields getCF (lazy-flags.ts) reads of the recorded kind (Fr.Dirty: the EmuCpu fields are stale
 * for exactly those), else through the `cf` import (import index `cfImport`), which copies the record into the
 * EmuCpu and asks getCF. A block calls it for a carry-in it does not know (INC/DEC, ADC/SBB after a block start,
 * a handler or a loop head): mostly the last producer of the block before in a chained run.
 */
export function carryHelper(cfImport: number): Body {
  const b = new Body(1);
  const dd = b.local(T.I32);
  const op = b.local(T.I32);
  const fld = (i: number): void => {
    b.get(0).mem(W.I32Load, Slot.Flags + i * 4, 2);
  };
  // A 64-bit value: its low half, then its high half (Fr).
  const u64 = (lo: number): void => {
    b.get(0).mem(W.I64Load, Slot.Flags + lo * 4, 3);
  };
  fld(Fr.Dirty);
  b.tee(dd).i32(Dg.OpRes).op(W.I32And, W.I32Eqz);
  b.op(W.If, T.Void).call(cfImport).op(W.Return, W.End);
  fld(Fr.Op);
  b.tee(op).op(W.I32Eqz);
  b.op(W.If, T.Void);
  fld(Fr.Res);
  b.i32(1).op(W.I32And, W.Return, W.End);
  b.get(op).i32(Lazy.Logic).op(W.I32Eq);
  b.op(W.If, T.Void).i32(0).op(W.Return, W.End);
  // INC/DEC: the carry-in they kept.
  // (Dg.Cin is bit 4: the test makes it 0/1 before the And with the op test, which is 0/1.)
  b.get(op).i32(Lazy.Inc).op(W.I32Eq).get(op).i32(Lazy.Dec).op(W.I32Eq, W.I32Or).get(dd).i32(Dg.Cin).op(W.I32And).i32(0).op(W.I32Ne, W.I32And);
  b.op(W.If, T.Void);
  fld(Fr.Cin);
  b.op(W.Return, W.End);
  // ADD and SUB/CMP with their size and operands written.
  b.get(op).i32(Lazy.Add).op(W.I32Eq).get(op).i32(Lazy.Sub).op(W.I32Eq, W.I32Or).get(dd).i32(Dg.Sz | Dg.DstSrc).op(W.I32And).i32(Dg.Sz | Dg.DstSrc).op(W.I32Eq, W.I32And);
  b.op(W.If, T.Void);
  fld(Fr.Sz);
  b.i32(8).op(W.I32Ne);
  b.op(W.If, T.Void);
  b.get(op).i32(Lazy.Add).op(W.I32Eq);
  b.op(W.If, T.I32);
  fld(Fr.Res);
  fld(Fr.Dst);
  b.op(W.I32LtU, W.Else);
  fld(Fr.Dst);
  fld(Fr.Src);
  b.op(W.I32LtU, W.End, W.Return, W.End);
  b.get(dd).i32(Dg.High).op(W.I32And);
  b.op(W.If, T.Void);
  b.get(op).i32(Lazy.Add).op(W.I32Eq);
  b.op(W.If, T.I32);
  u64(Fr.Res);
  u64(Fr.Dst);
  b.op(W.I64LtU, W.Else);
  u64(Fr.Dst);
  u64(Fr.Src);
  b.op(W.I64LtU, W.End, W.Return, W.End);
  b.op(W.End);
  b.call(cfImport);
  return b;
}
