/**
 * The emitter's inline forms of 8-, 16- and 32-bit integer instructions (ALU, INC/DEC, NEG, NOT, shifts, MOV and
 * its loads and stores, LEA, SETcc, CMOVcc, MOVSX, TEST and CMP with memory, MOV with moffs) and of PUSH/POP at both
 * stack sizes. Each emits one instruction and returns what is known of the flags after it; ALU_CTX lends these
 * helpers to the forms of wasm-alu.ts.
 */
import type { Insn } from '../insn.js';
import { hasImm } from '../block-compiler.js';
import { aluEI, aluGE, movEG, movGE, movRI, testEG, testEI } from '../ops-alu.js';
import { pushI } from '../ops-flow.js';
import { Alu } from '../sem-alu.js';
import { Sh } from '../sem-shift.js';
import { Lazy } from '../flags.js';
import { Dg, Fr } from './wasm-arena.js';
import { T, W } from './wasm-encoder.js';
import type { BlockBody } from './wasm-regs.js';
import { readForWrite, writeBack, emitShift32Flags, shift32Inline, NONE, type AluCtx, type Known } from './wasm-alu.js';
import { Im, P_SLOT, P_USER } from './wasm-block-abi.js';
import { emitting } from './wasm-emit-state.js';
import { handler, smcExit } from './wasm-flow.js';
import type { WForm } from './wasm-inline-forms.js';
import { carry, condition, narrowLogic, parity, recConst, recDirty, recField, recField64, recLocal, record32, recordAddSub, recordIncDec, recLogic } from './wasm-flags-record.js';
import { linArg, load, load8, off32, segNotFlat, stackLin32, stackSlotsHit, store, tlbHit, tlbHitRw } from './wasm-mem-access.js';

/** The wasm operations of ROL/ROR/SHL/SHR/SAL/SAR r32 by a constant, by x.op. */
export const SHIFT_OP: readonly number[] = [W.I32Rotl, W.I32Rotr, 0, 0, W.I32Shl, W.I32ShrU, W.I32Shl, W.I32ShrS];

/** Pushes a byte/word/dword register as GETREG reads it (8-bit codes 16-19 are AH..BH). */
export function getReg(b: BlockBody, size: number, r: number): void {
  if (size === 1) {
    if (r < 16) b.load32(r);
    else {
      b.load32(r - 16);
      b.i32(8).op(W.I32ShrU);
    }
    b.i32(0xff).op(W.I32And);
  } else if (size === 2) {
    b.load32(r);
    b.i32(0xffff).op(W.I32And);
  } else b.load32(r);
}

/** Writes the low byte of i32 local `v` to byte register code r (16-19: AH..BH), as setReg(1) does. */
export function setReg8(b: BlockBody, r: number, v: number): void {
  const q = r < 16 ? r : r - 16;
  b.storeLow32(q, () => {
    b.load32(q);
    if (r < 16) b.i32(~0xff).op(W.I32And).get(v).i32(0xff).op(W.I32And, W.I32Or);
    else b.i32(~0xff00).op(W.I32And).get(v).i32(0xff).op(W.I32And).i32(8).op(W.I32Shl, W.I32Or);
  });
}

/** Writes the low 16 bits of i32 local `v` into register r, keeping its other bits. */
export function setReg16(b: BlockBody, r: number, v: number): void {
  b.storeLow32(r, () => {
    b.load32(r);
    b.i32(~0xffff).op(W.I32And).get(v).i32(0xffff).op(W.I32And, W.I32Or);
  });
}

/**
 * An 8- or 32-bit CMP of the i32 locals d and s (the memory forms): the SUB's result in a new local and, when its
 * flags are live, the flags record of that SUB; returns what is known of the flags then.
 */
function cmpSub(b: BlockBody, size: number, d: number, s: number, fl: boolean, known: Known): Known {
  const r = b.local(T.I32);
  b.get(d).get(s).op(W.I32Sub);
  if (size === 1) b.i32(0xff).op(W.I32And);
  b.set(r);
  return fl ? recordAddSub(b, false, size, d, s, r) : known;
}

export function formAlu32(b: BlockBody, x: Insn, f: WForm, k: number, lin: number, fl: boolean, known: Known): Known {
  const A = x.rm;
  const B = x.reg;
  const d = b.local(T.I32);
  const s = b.local(T.I32);
  const r = b.local(T.I32);
  const dst = f === 'alu-load' ? B : A;
  b.load32(dst);
  b.set(d);
  if (f === 'alu-rr') b.load32(B);
  else if (f === 'alu-ri') b.i32(x.imm | 0);
  else load(b, k, lin, 4);
  b.set(s);
  aluOp32(b, x.op, d, s, r);
  if (x.op !== Alu.Cmp) b.store32(dst, r);
  if (fl) known = record32(b, x.op, d, s, r);
  return known;
}

export function formCmpMi(b: BlockBody, x: Insn, f: WForm, k: number, lin: number, fl: boolean, known: Known): Known {
  const size = f === 'cmp-mi' ? 4 : 1;
  const d = b.local(T.I32);
  const s = b.local(T.I32);
  load(b, k, lin, size);
  b.set(d);
  b.i32(x.imm | 0).set(s);
  known = cmpSub(b, size, d, s, fl, known);
  return known;
}

export function formTest(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const A = x.rm;
  const B = x.reg;
  const r = b.local(T.I32);
  b.load32(A);
  if (hasImm(x.row)) b.i32(x.imm | 0);
  else b.load32(B);
  b.op(W.I32And).set(r);
  if (fl) {
    recLogic(b, r);
    known = { kind: 'logic', w64: false, d: -1, s: -1, r };
  }
  return known;
}

export function formIncdec(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const A = x.rm;
  const d = b.local(T.I32);
  const r = b.local(T.I32);
  const dec = x.op === 1;
  b.load32(A);
  b.tee(d).i32(1).op(dec ? W.I32Sub : W.I32Add).set(r);
  if (fl) known = recordIncDec(b, dec, 4, d, r, known);
  b.store32(A, r);
  return known;
}

export function formNeg(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const A = x.rm;
  const d = b.local(T.I32);
  const s = b.local(T.I32);
  const r = b.local(T.I32);
  b.i32(0).set(d);
  b.load32(A);
  b.set(s);
  b.i32(0).get(s).op(W.I32Sub).set(r);
  b.store32(A, r);
  if (fl) known = record32(b, Alu.Sub, d, s, r);
  return known;
}

export function formNot(b: BlockBody, x: Insn): void {
  const A = x.rm;
  const r = b.local(T.I32);
  b.load32(A);
  b.i32(-1).op(W.I32Xor).set(r);
  b.store32(A, r);
}

export function formMovRr(b: BlockBody, x: Insn): void {
  const A = x.rm;
  const B = x.reg;
  const r = b.local(T.I32);
  b.load32(B);
  b.set(r);
  b.store32(A, r);
}

export function formLoad32(b: BlockBody, x: Insn, f: WForm, k: number, lin: number): void {
  const B = x.reg;
  const r = b.local(T.I32);
  load(b, k, lin, f === 'load' ? 4 : x.imm2);
  b.set(r);
  b.store32(B, r);
}

/** INC/DEC r8/r16 (byte and word counters): incdec() at the operand size, the rest of the register kept, CF as the carry-in. */
export function formIncdec8(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const size = x.osz;
  const A = x.rm;
  const dec = x.op === 1;
  const d = b.local(T.I32);
  const r = b.local(T.I32);
  getReg(b, size, A);
  b.set(d);
  b.get(d).i32(1).op(dec ? W.I32Sub : W.I32Add).i32(size === 1 ? 0xff : 0xffff).op(W.I32And).set(r);
  if (fl) known = recordIncDec(b, dec, size, d, r, known);
  if (size === 1) setReg8(b, A, r);
  else setReg16(b, A, r);
  return known;
}

/** Records the flags of an 8- or 16-bit ALU result (local r of d op s) and returns what is known of them after it. */
export function recordNarrowAlu(b: BlockBody, op: number, logic: boolean, size: number, d: number, s: number, r: number): Known {
  recConst(b, Fr.Op, logic ? Lazy.Logic : op === Alu.Add ? Lazy.Add : Lazy.Sub);
  recConst(b, Fr.Sz, size);
  if (!logic) {
    recLocal(b, Fr.Dst, d);
    recLocal(b, Fr.Src, s);
  }
  recLocal(b, Fr.Res, r);
  recDirty(b, logic ? Dg.OpRes | Dg.Sz : Dg.OpRes | Dg.Sz | Dg.DstSrc);
  return logic ? narrowLogic(b, size, r) : { kind: op === Alu.Add ? 'add' : 'sub', w64: false, d, s, r, narrow: size === 1 ? 1 : 2 };
}

/**
 * SHL/SAL/SHR/SAR r8/r16 by a constant 1-31 (shiftE's narrow cases): the low byte or word replaced, the flags
 * eager as shiftE leaves them. Counts past the width shift everything out (SHL's CF 0, SAR's the sign).
 */
export function formShift8(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const size = x.osz;
  const bits = size * 8;
  const n = x.imm & 31;
  const op = x.op;
  const shl = op === Sh.Shl || op === Sh.Sal;
  const d = b.local(T.I32);
  const r = b.local(T.I32);
  getReg(b, size, x.rm);
  b.set(d);
  // SAR shifts the operand sign-extended to 32 bits.
  let v = d;
  if (op === Sh.Sar) {
    v = b.local(T.I32);
    b.get(d).op(size === 1 ? W.I32Extend8S : W.I32Extend16S).set(v);
  }
  b.get(v).i32(n).op(shl ? W.I32Shl : op === Sh.Shr ? W.I32ShrU : W.I32ShrS).i32(size === 1 ? 0xff : 0xffff).op(W.I32And).set(r);
  if (size === 1) setReg8(b, x.rm, r);
  else setReg16(b, x.rm, r);
  if (!fl) return known;
  // CF: the last bit shifted out; OF: SHL the result's sign ^ CF, SHR the operand's sign, SAR 0.
  const cf = b.local(T.I32);
  if (shl && n > bits) b.i32(0);
  else b.get(v).i32(shl ? bits - n : n - 1).op(W.I32ShrU).i32(1).op(W.I32And);
  b.set(cf);
  recConst(b, Fr.Op, Lazy.Eager);
  recField(b, Fr.Res, () => {
    b.get(cf);
    if (shl) b.get(r).i32(bits - 1).op(W.I32ShrU).get(cf).op(W.I32Xor).i32(11).op(W.I32Shl, W.I32Or);
    else if (op === Sh.Shr) b.get(d).i32(bits - 1).op(W.I32ShrU).i32(11).op(W.I32Shl, W.I32Or);
    parity(b, r, false);
    b.i32(2).op(W.I32Shl, W.I32Or);
    b.get(r).op(W.I32Eqz).i32(6).op(W.I32Shl, W.I32Or);
    b.get(r).i32(bits - 1).op(W.I32ShrU).i32(7).op(W.I32Shl, W.I32Or);
  });
  recDirty(b, Dg.OpRes);
  return { kind: 'zf', w64: false, d: -1, s: -1, r };
}

export function formIncdecm(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  // INC/DEC m8/m16/m32 (the kernel's counters, LOCK ones included: vCPUs run one at a time): read for writing
  // inline when the TLB maps the page for both, as rdw, then recorded and written as the handler does.
  const size = x.osz;
  const dec = x.op === 1;
  const d = b.local(T.I32);
  const r = b.local(T.I32);
  const addr = b.local(T.I32);
  const hit = b.local(T.I32);
  readForWrite(b, ALU_CTX, k, lin, size, addr, hit);
  b.tee(d).i32(1).op(dec ? W.I32Sub : W.I32Add);
  if (size !== 4) b.i32(size === 1 ? 0xff : 0xffff).op(W.I32And);
  b.set(r);
  if (fl) known = recordIncDec(b, dec, size, d, r, known);
  writeBack(b, ALU_CTX, k, lin, size, addr, hit, r, smcExit(k));
  return known;
}

export function formLoadn(b: BlockBody, x: Insn, k: number, lin: number): void {
  const B = x.reg;
  // MOV r8/r16, m: the low byte or word (AH..BH: the second byte) replaced, the rest of the register kept.
  const r = b.local(T.I32);
  load(b, k, lin, x.osz);
  b.set(r);
  if (x.osz === 1) setReg8(b, B, r);
  else setReg16(b, B, r);
}

export function formStore(b: BlockBody, x: Insn, k: number, lin: number): void {
  const B = x.reg;
  const v = b.local(T.I32);
  if (hasImm(x.row)) b.i32(x.imm | 0);
  else getReg(b, x.osz, B);
  b.set(v);
  store(b, k, lin, x.osz, v, smcExit(k));
}

export function formMovri(b: BlockBody, x: Insn): void {
  const A = x.rm;
  const r = b.local(T.I32);
  b.i32(x.imm | 0).set(r);
  b.store32(A, r);
}

export function formLea(b: BlockBody, x: Insn): void {
  const B = x.reg;
  const r = b.local(T.I32);
  off32(b, x);
  b.set(r);
  b.store32(B, r);
}

export function formMovzx(b: BlockBody, x: Insn): void {
  const A = x.rm;
  const B = x.reg;
  const r = b.local(T.I32);
  getReg(b, x.imm2, A);
  b.set(r);
  b.store32(B, r);
}

export function formShift(b: BlockBody, x: Insn, k: number, fl: boolean, known: Known): Known {
  const A = x.rm;
  if (fl && shift32Inline(x)) {
    known = emitShift32Flags(b, ALU_CTX, x, fl);
    return known;
  }
  const r = b.local(T.I32);
  if (fl) {
    b.i32(k);
    b.load32(A);
    b.call(Im.Shift).set(r);
    emitting.dirtyAt = 0;
    known = x.op === Sh.Rol || x.op === Sh.Ror ? NONE : { kind: 'zf', w64: false, d: -1, s: -1, r };
  } else {
    b.load32(A);
    b.i32(x.imm & 31).op(SHIFT_OP[x.op]!).set(r);
  }
  b.store32(A, r);
  return known;
}

export function formAlu8(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const A = x.rm;
  const B = x.reg;
  // 8- and 16-bit register ALU/TEST, as alu() and aluAnd() compute and record it (logic results unmasked).
  const size = x.osz;
  const test = x.fn === testEG || x.fn === testEI;
  const op = test ? Alu.And : x.op;
  const ge = x.fn === aluGE;
  const dst = ge ? B : A;
  const d = b.local(T.I32);
  const s = b.local(T.I32);
  const r = b.local(T.I32);
  getReg(b, size, dst);
  b.set(d);
  if (x.fn === aluEI || x.fn === testEI) b.i32(x.imm | 0);
  else getReg(b, size, ge ? A : B);
  b.set(s);
  aluOp32(b, op, d, s, r);
  const logic = op === Alu.And || op === Alu.Or || op === Alu.Xor;
  if (!logic) b.get(r).i32(size === 1 ? 0xff : 0xffff).op(W.I32And).set(r);
  if (!test && op !== Alu.Cmp) {
    if (size === 1) setReg8(b, dst, r);
    else setReg16(b, dst, r);
  }
  return fl ? recordNarrowAlu(b, op, logic, size, d, s, r) : known;
}

export function formAluc(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  const A = x.rm;
  const B = x.reg;
  // ADC/SBB r32 and ADC/SBB r32, m32: the carry-in from what is known, recorded as Adc/Sbb when it is 1 (sem-alu.ts).
  const ge = x.fn === aluGE;
  const dst = ge ? B : A;
  const d = b.local(T.I32);
  const s = b.local(T.I32);
  const r = b.local(T.I32);
  const cin = b.local(T.I32);
  carry(b, known);
  b.set(cin);
  b.load32(dst);
  b.set(d);
  if (x.fn === aluEI) b.i32(x.imm | 0);
  else if (x.mod !== 3) load(b, k, lin, 4);
  else b.load32(ge ? A : B);
  b.set(s);
  const adc = x.op === Alu.Adc;
  b.get(d).get(s).op(adc ? W.I32Add : W.I32Sub).get(cin).op(adc ? W.I32Add : W.I32Sub).set(r);
  b.store32(dst, r);
  if (fl) {
    recField(b, Fr.Op, () => b.i32(adc ? Lazy.Add : Lazy.Sub).get(cin).op(W.I32Add));
    recConst(b, Fr.Sz, 4);
    recLocal(b, Fr.Dst, d);
    recLocal(b, Fr.Src, s);
    recLocal(b, Fr.Res, r);
    recDirty(b, Dg.OpRes | Dg.Sz | Dg.DstSrc);
    known = { kind: 'zf', w64: false, d: -1, s: -1, r };
  }
  return known;
}

/**
 * MOV AL/AX/EAX, moffs and MOV moffs, AL/AX/EAX (32-bit addressing outside 64-bit mode): with a flat segment the
 * offset is the linear address (movMoffs adds the base and checks no limit), loaded or stored inline on a TLB hit and
 * through the rd/wr imports on a miss; with any other segment the handler.
 */
export function formMoffs(b: BlockBody, x: Insn, k: number): void {
  const size = x.osz;
  const lin = b.local(T.I64);
  segNotFlat(b, x.seg);
  b.op(W.If, T.Void);
  handler(b, k, smcExit(k));
  b.op(W.Else);
  b.i64(x.imm >>> 0).set(lin);
  const v = b.local(T.I32);
  if (x.op === 0) {
    load(b, k, lin, size);
    b.set(v);
    if (size === 4) b.store32(0, v);
    else if (size === 2) setReg16(b, 0, v);
    else setReg8(b, 0, v);
  } else {
    getReg(b, size, 0);
    b.set(v);
    store(b, k, lin, size, v, smcExit(k));
  }
  b.op(W.End);
}

export function formPushPop(b: BlockBody, x: Insn, f: WForm, k: number): void {
  const A = x.rm;
  // Inline for a 32-bit stack (any SS base) or a 64-bit one at a canonical address, when the stack slot is
  // a TLB hit on RAM; else the handler does it all (faults, MMIO, a write to code), nothing changed before.
  const l = b.local(T.I64);
  const w = x.osz;
  const push = f === 'push';
  // PUSH imm (68, 6A): the immediate, sign-extended to the operand size by the decoder.
  const imm = x.fn === pushI;
  const addr = b.local(T.I32);
  const idx = b.local(T.I32);
  if (w === 4) {
    stackLin32(b, push ? -4 : 0, l);
    tlbHit(b, l, 4, push, addr, idx);
    b.get(P_USER).i32(16).op(W.I32ShrU).i32(4).op(W.I32Eq, W.I32And);
    b.op(W.If, T.Void);
    if (push) {
      b.get(addr);
      if (imm) b.i32(x.imm | 0);
      else b.load32(A);
      b.mem(W.I32Store, 0, 0);
    } else {
      const v = b.local(T.I32);
      b.get(addr).mem(W.I32Load, 0, 0).set(v);
      b.storeLow32(4, () => {
        b.load32(4);
        b.i32(4).op(W.I32Add);
      });
      b.store32(A, v);
    }
    if (push)
      b.storeLow32(4, () => {
        b.load32(4);
        b.i32(-4).op(W.I32Add);
      });
  } else {
    // Cached before the branch, so that the stack pointer stays in a local across the block's pushes and pops.
    b.ensure(4);
    if (push && !imm) b.ensure(A);
    const sp = b.local(T.I64);
    b.load64(4);
    b.set(sp);
    b.get(sp);
    if (push) b.i64(-8).op(W.I64Add);
    b.set(l);
    stackSlotsHit(b, l, 8, push, addr, idx);
    b.op(W.If, T.Void);
    if (push) {
      b.get(addr);
      if (imm) b.i64((BigInt(x.immHi | 0) << 32n) | BigInt(x.imm >>> 0));
      else b.load64(A);
      b.mem(W.I64Store, 0, 0);
      b.store64(4, l);
    } else {
      const v = b.local(T.I64);
      b.get(addr).mem(W.I64Load, 0, 0).set(v);
      b.get(sp).i64(8).op(W.I64Add).set(sp);
      b.store64(4, sp);
      b.store64(A, v);
    }
  }
  b.op(W.Else);
  handler(b, k, smcExit(k));
  b.op(W.End);
  // The handler may have run (and changed the cpu's flags fields): what Fr.Dirty holds is not known.
  emitting.dirtyAt = -1;
}

export function formSetcc(b: BlockBody, x: Insn, known: Known): void {
  const A = x.rm;
  const v = b.local(T.I32);
  condition(b, x.op, known);
  b.set(v);
  setReg8(b, A, v);
}

export function formSetccm(b: BlockBody, x: Insn, k: number, lin: number, known: Known): void {
  const v = b.local(T.I32);
  condition(b, x.op, known);
  b.set(v);
  store(b, k, lin, 1, v, smcExit(k));
}

export function formCmov(b: BlockBody, x: Insn, known: Known): void {
  const A = x.rm;
  const B = x.reg;
  if (x.osz === 8) b.ensure(A);
  condition(b, x.op, known);
  b.op(W.If, T.Void);
  if (x.osz === 8) {
    const v = b.local(T.I64);
    b.load64(A);
    b.set(v);
    b.store64(B, v);
  } else {
    const v = b.local(T.I32);
    b.load32(A);
    b.set(v);
    b.store32(B, v);
  }
  if (x.osz === 4) {
    b.op(W.Else);
    b.zeroHigh(B);
  }
  b.op(W.End);
}

export function formMovsx(b: BlockBody, x: Insn, k: number, lin: number): void {
  const A = x.rm;
  const B = x.reg;
  // MOVSX/MOVSXD (ops-alu.ts movsx): the source sign-extended to 32 bits, then to 64 for a 64-bit destination.
  const size = x.imm2;
  const v = b.local(T.I32);
  if (lin >= 0) load(b, k, lin, size);
  else getReg(b, size, A);
  if (size === 1) b.op(W.I32Extend8S);
  else if (size === 2) b.op(W.I32Extend16S);
  b.set(v);
  if (x.osz === 8) {
    const w = b.local(T.I64);
    b.get(v).op(W.I64ExtendI32S).set(w);
    b.store64(B, w);
  } else b.store32(B, v);
}

export function formTestm(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  const B = x.reg;
  // TEST m8/m16/m32, r or imm (aluAnd: op, size and result).
  const size = x.osz;
  const d = b.local(T.I32);
  const s = b.local(T.I32);
  const r = b.local(T.I32);
  load(b, k, lin, size);
  b.set(d);
  if (x.fn === testEI) b.i32(x.imm | 0);
  else getReg(b, size, B);
  b.set(s);
  b.get(d).get(s).op(W.I32And).set(r);
  if (fl) {
    recConst(b, Fr.Op, Lazy.Logic);
    recConst(b, Fr.Sz, size);
    recLocal(b, Fr.Res, r);
    recDirty(b, Dg.OpRes | Dg.Sz);
    known = size === 4 ? { kind: 'logic', w64: false, d, s, r } : narrowLogic(b, size, r);
  }
  return known;
}

export function formCmpm(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  const B = x.reg;
  // CMP r8, m8 (G,E) and CMP m8/m32, r (E,G): aluSub at the operand size.
  const size = x.osz;
  const d = b.local(T.I32);
  const s = b.local(T.I32);
  const ge = x.fn === aluGE;
  if (ge) getReg(b, size, B);
  else load(b, k, lin, size);
  b.set(d);
  if (ge) load(b, k, lin, size);
  else getReg(b, size, B);
  b.set(s);
  known = cmpSub(b, size, d, s, fl, known);
  return known;
}

export function formMov8(b: BlockBody, x: Insn): void {
  // Flags untouched. 88 writes E (rm) from G (reg), 8A writes G from E, B0+r writes the register in rm.
  const v = b.local(T.I32);
  if (x.fn === movRI) b.i32(x.imm & 0xff);
  else getReg(b, 1, x.fn === movEG ? x.reg : x.rm);
  b.set(v);
  setReg8(b, x.fn === movGE ? x.reg : x.rm, v);
}

/** What the integer forms of wasm-alu.ts use of the emitter. */
export const ALU_CTX: AluCtx = {
  slot: P_SLOT,
  carry,
  recField,
  recField64,
  recDirty,
  dirtyUnknown: () => {
    emitting.dirtyAt = -1;
  },
  parity,
  record32,
  load8,
  load4: (b, k, lin) => {
    load(b, k, lin, 4);
  },
  tlbHitRw,
  rdwCall: (b, k, size, lin) => {
    b.i32(k).i32(size);
    linArg(b, lin);
    b.call(Im.Rdw);
  },
  wrCall: (b, k, size, lin, v, smcExit) => {
    b.i32(k).i32(size);
    linArg(b, lin);
    b.get(v).call(Im.Wr);
    b.op(W.If, T.Void).i32(smcExit).op(W.Return, W.End);
  },
};

function aluOp32(b: BlockBody, op: number, d: number, s: number, r: number): void {
  const w = op === Alu.Add ? W.I32Add : op === Alu.Sub || op === Alu.Cmp ? W.I32Sub : op === Alu.And ? W.I32And : op === Alu.Or ? W.I32Or : W.I32Xor;
  b.get(d).get(s).op(w).set(r);
}
