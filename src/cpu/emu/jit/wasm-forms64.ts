/**
 * The emitter's inline forms of 64-bit integer instructions: ALU (with memory operands too), MOV, LEA, NEG, NOT,
 * shifts by a constant and TEST, on the 64-bit register locals (wasm-regs.ts) and i64 operations. Each emits one
 * instruction and returns what is known of the flags after it.
 */
import type { Insn } from '../insn.js';
import { eFirst, hasImm } from '../block-compiler.js';
import { movEI, testEI, aluEI, aluGE } from '../ops-alu.js';
import { Alu } from '../sem-alu.js';
import { Sh } from '../sem-shift.js';
import { Lazy } from '../flags.js';
import { Dg, Fr } from './wasm-arena.js';
import { T, W } from './wasm-encoder.js';
import type { BlockBody } from './wasm-regs.js';
import type { Known } from './wasm-alu.js';
import { Im } from './wasm-block-abi.js';
import { smcExit } from './wasm-flow.js';
import { parity, recConst, recDirty, recField, record64 } from './wasm-flags-record.js';
import { linArg, load8, store8, sum64, tlbHitRw } from './wasm-mem-access.js';

export function formAlu64(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const A = x.rm;
  const B = x.reg;
  const dst = eFirst(x.row) ? A : B;
  const src = eFirst(x.row) ? B : A;
  const d = b.local(T.I64);
  const s = b.local(T.I64);
  const r = b.local(T.I64);
  b.load64(dst);
  b.set(d);
  if (hasImm(x.row)) b.i64((BigInt(x.immHi | 0) << 32n) | BigInt(x.imm >>> 0));
  else b.load64(src);
  b.set(s);
  const op = x.op;
  b.get(d).get(s).op(aluOp64(op)).set(r);
  if (op !== Alu.Cmp) b.store64(dst, r);
  if (fl) known = record64(b, op, d, s, r);
  return known;
}

export function formMov64(b: BlockBody, x: Insn): void {
  const A = x.rm;
  const B = x.reg;
  const [dst, src] = eFirst(x.row) ? [A, B] : [B, A];
  const v = b.local(T.I64);
  b.load64(src);
  b.set(v);
  b.store64(dst, v);
}

export function formLea64(b: BlockBody, x: Insn): void {
  const B = x.reg;
  const v = b.local(T.I64);
  sum64(b, x);
  b.set(v);
  if (x.osz === 8) b.store64(B, v);
  else {
    const r = b.local(T.I32);
    b.get(v).op(W.I32WrapI64).set(r);
    b.store32(B, r);
  }
}

export function formLoad64(b: BlockBody, x: Insn, k: number, lin: number): void {
  const B = x.reg;
  const v = b.local(T.I64);
  load8(b, k, lin);
  b.set(v);
  b.store64(B, v);
}

export function formStore64(b: BlockBody, x: Insn, k: number, lin: number): void {
  const B = x.reg;
  const v = b.local(T.I64);
  if (x.fn === movEI) b.i64((BigInt(x.immHi | 0) << 32n) | BigInt(x.imm >>> 0));
  else b.load64(B);
  b.set(v);
  store8(b, k, lin, v, smcExit(k));
}

export function formMovri64(b: BlockBody, x: Insn): void {
  const A = x.rm;
  const v = b.local(T.I64);
  b.i64((BigInt(x.immHi | 0) << 32n) | BigInt(x.imm >>> 0)).set(v);
  b.store64(A, v);
}

export function formNeg64(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const A = x.rm;
  const d = b.local(T.I64);
  const s = b.local(T.I64);
  const r = b.local(T.I64);
  b.i64(0).set(d);
  b.load64(A);
  b.set(s);
  b.i64(0).get(s).op(W.I64Sub).set(r);
  b.store64(A, r);
  if (fl) known = record64(b, Alu.Sub, d, s, r);
  return known;
}

export function formShift64(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const A = x.rm;
  // SHL/SAL/SHR/SAR r64 by a constant count 1-63, flags as ops-shift.ts shift64 leaves them (eager).
  const cnt = x.imm & 63;
  const op = x.op;
  const shl = op === Sh.Shl || op === Sh.Sal;
  const d = b.local(T.I64);
  const r = b.local(T.I64);
  b.load64(A);
  b.set(d);
  b.get(d).i64(cnt).op(shl ? W.I64Shl : op === Sh.Shr ? W.I64ShrU : W.I64ShrS).set(r);
  b.store64(A, r);
  if (fl) {
    // CF: the last bit shifted out; OF: SHL the result's sign ^ CF, SHR the operand's sign, SAR 0.
    const cf = b.local(T.I32);
    b.get(d).i64(shl ? 64 - cnt : cnt - 1).op(W.I64ShrU, W.I32WrapI64).i32(1).op(W.I32And).set(cf);
    recConst(b, Fr.Op, Lazy.Eager);
    recField(b, Fr.Res, () => {
      b.get(cf);
      if (shl) b.get(r).i64(0).op(W.I64LtS).get(cf).op(W.I32Xor).i32(11).op(W.I32Shl, W.I32Or);
      else if (op === Sh.Shr) b.get(d).i64(0).op(W.I64LtS).i32(11).op(W.I32Shl, W.I32Or);
      parity(b, r, true);
      b.i32(2).op(W.I32Shl, W.I32Or);
      b.get(r).op(W.I64Eqz).i32(6).op(W.I32Shl, W.I32Or);
      b.get(r).i64(0).op(W.I64LtS).i32(7).op(W.I32Shl, W.I32Or);
    });
    // setEager: the other fields stay as they are.
    recDirty(b, Dg.OpRes);
    known = { kind: 'zf', w64: true, d: -1, s: -1, r };
  }
  return known;
}

export function formTest64(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  const A = x.rm;
  const B = x.reg;
  // TEST r/m64, r64 / imm32 (sign-extended): aluLogic64 records both operands and the result.
  const d = b.local(T.I64);
  const s = b.local(T.I64);
  const r = b.local(T.I64);
  if (lin >= 0) load8(b, k, lin);
  else b.load64(A);
  b.set(d);
  if (x.fn === testEI) b.i64((BigInt(x.immHi | 0) << 32n) | BigInt(x.imm >>> 0));
  else b.load64(B);
  b.set(s);
  b.get(d).get(s).op(W.I64And).set(r);
  if (fl) known = record64(b, Alu.And, d, s, r);
  return known;
}

export function formAlu64m(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  const B = x.reg;
  // ADD/OR/AND/SUB/XOR/CMP r64, m64 (G,E) and m64, r64 / imm (E,G / E,I; all but CMP read-modify-write).
  const ge = x.fn === aluGE;
  const op = x.op;
  const rmw = !ge && op !== Alu.Cmp;
  const m = b.local(T.I64);
  const addr = b.local(T.I32);
  const hit = b.local(T.I32);
  if (rmw) {
    // As rdw: inline when the TLB maps the page for writing (and reading), else the read faults as a write.
    tlbHitRw(b, lin, 8, addr, hit);
    b.op(W.If, T.I64).get(addr).mem(W.I64Load, 0, 0).op(W.Else);
    b.i32(k).i32(8);
    linArg(b, lin);
    b.call(Im.Rdw).op(W.I64ExtendI32U);
    b.call(Im.Hi).op(W.I64ExtendI32S).i64(32).op(W.I64Shl, W.I64Or, W.End);
  } else load8(b, k, lin);
  b.set(m);
  const d = ge ? b.local(T.I64) : m;
  const s = ge ? m : b.local(T.I64);
  if (ge) {
    b.load64(B);
    b.set(d);
  } else {
    if (x.fn === aluEI) b.i64((BigInt(x.immHi | 0) << 32n) | BigInt(x.imm >>> 0));
    else b.load64(B);
    b.set(s);
  }
  const r = b.local(T.I64);
  b.get(d).get(s).op(aluOp64(op)).set(r);
  if (ge && op !== Alu.Cmp) b.store64(B, r);
  // The write cannot fault: the read faulted as a write first (rdw), as in the handler.
  if (fl) known = record64(b, op, d, s, r);
  if (rmw) {
    b.get(hit).op(W.If, T.Void).get(addr).get(r).mem(W.I64Store, 0, 0).op(W.Else);
    b.i32(k);
    linArg(b, lin);
    b.get(r).op(W.I32WrapI64).get(r).i64(32).op(W.I64ShrU, W.I32WrapI64).call(Im.Wr8);
    b.op(W.If, T.Void).i32(smcExit(k)).op(W.Return, W.End);
    b.op(W.End);
  }
  return known;
}

export function formNot64(b: BlockBody, x: Insn): void {
  const A = x.rm;
  const v = b.local(T.I64);
  b.load64(A);
  b.i64(-1).op(W.I64Xor).set(v);
  b.store64(A, v);
}

function aluOp64(op: number): W {
  return op === Alu.Add ? W.I64Add : op === Alu.Sub || op === Alu.Cmp ? W.I64Sub : op === Alu.And ? W.I64And : op === Alu.Or ? W.I64Or : W.I64Xor;
}
