/**
 * The wasm tier's integer forms that were handler calls from compiled code in the Linux shell pipeline and boot
 * (wasm-emit.ts calls these), each leaving registers, memory and the lazy flags as its handler does:
 * - 'cbw': CBW/CWDE/CDQE and CWD/CDQ/CQO (no flags);
 * - 'bswap': BSWAP r32/r64 (no flags);
 * - 'aluc64': ADC/SBB r64, r64 / imm (the carry-in from what is known, recorded as Adc/Sbb when it is 1);
 * - 'alunm': ADD/OR/AND/SUB/XOR/CMP with an 8- or 16-bit memory operand (E,G; E,I; G,E), read-modify-write as
 *   'alu32m' (inline when the TLB maps the page for writing and reading, else through `rdw`);
 * - 'divide': DIV r/m32, r/m64 and IDIV r/m32, r/m64 when the quotient fits (64-bit: RDX the dividend's zero or
 *   sign extension), by wasm's divisions; anything else (a divisor of 0, an overflow: #DE; a 128-bit dividend)
 *   by the handler, which raises the fault as for any handler call. Flags untouched, as the handlers leave them;
 * - 'mul64': MUL r/m64 (RDX:RAX = RAX * r/m64, the high half from 32-bit partial products), mulE's eager record;
 * - 'cmpxchg64m': CMPXCHG m64, r64 as 'cmpxchg32m' at 64 bits;
 * - 'shld': SHLD/SHRD r32/r64, r, imm8 (a count not 0 once masked) or CL (a masked count of 0 changes nothing,
 *   flags included, so the liveness pass takes it to observe every flag), shldE's eager record.
 */
import type { Insn } from '../insn.js';
import { aluEI, aluGE } from '../ops-alu.js';
import { idivE } from '../ops-muldiv.js';
import { btEI } from '../ops-bit.js';
import { Bit } from '../flags.js';
import { Alu } from '../sem-alu.js';
import { Lazy } from '../flags.js';
import { Dg, Fr } from './wasm-arena.js';
import { T, W } from './wasm-encoder.js';
import type { BlockBody } from './wasm-regs.js';
import { orSzp, readForWrite, recordMul, writeBack, type Known } from './wasm-alu.js';
import { Im } from './wasm-block-abi.js';
import { emitting } from './wasm-emit-state.js';
import { handler, smcExit } from './wasm-flow.js';
import { carry, condition, recConst, recDirty, recField, recField64, recLocal, record32, record64 } from './wasm-flags-record.js';
import { linArg, load, load8, stackSlotsHit, tlbHitRw } from './wasm-mem-access.js';
import { ALU_CTX, getReg, recordNarrowAlu, setReg16, setReg8 } from './wasm-forms.js';

const MIN64 = -(2n ** 63n);

/** i64 constant of an instruction's (sign-extended) immediate. */
function imm64(x: Insn): bigint {
  return (BigInt(x.immHi | 0) << 32n) | BigInt(x.imm >>> 0);
}

/** Records an eager flags value (setEager: op and result, the other fields kept) from the i32 that `v` pushes. */
function recEager(b: BlockBody, v: () => void): void {
  recConst(b, Fr.Op, Lazy.Eager);
  recField(b, Fr.Res, v);
  recDirty(b, Dg.OpRes);
}

/** CBW/CWDE/CDQE (op 0: rAX from the lower half of itself, sign-extended) and CWD/CDQ/CQO (op 1: rDX = rAX's sign). */
export function formCbw(b: BlockBody, x: Insn): void {
  const size = x.osz;
  if (size === 8) {
    const v = b.local(T.I64);
    if (x.op === 0) {
      b.load32(0);
      b.op(W.I64ExtendI32S);
    } else {
      b.load64(0);
      b.i64(63).op(W.I64ShrS);
    }
    b.set(v);
    b.store64(x.op === 0 ? 0 : 2, v);
    return;
  }
  const v = b.local(T.I32);
  b.load32(0);
  if (x.op === 0) b.op(size === 4 ? W.I32Extend16S : W.I32Extend8S);
  else if (size === 4) b.i32(31).op(W.I32ShrS);
  else b.op(W.I32Extend16S).i32(15).op(W.I32ShrS);
  b.set(v);
  const dst = x.op === 0 ? 0 : 2;
  if (size === 4) b.store32(dst, v);
  else setReg16(b, dst, v);
}

/** BSWAP r32/r64. */
export function formBswap(b: BlockBody, x: Insn): void {
  const A = x.rm;
  if (x.osz === 4) {
    const d = b.local(T.I32);
    const r = b.local(T.I32);
    b.load32(A);
    b.tee(d).i32(8).op(W.I32Rotl).i32(0x00ff00ff).op(W.I32And);
    b.get(d).i32(8).op(W.I32Rotr).i32(0xff00ff00 | 0).op(W.I32And, W.I32Or).set(r);
    b.store32(A, r);
    return;
  }
  const t = b.local(T.I64);
  const r = b.local(T.I64);
  // Bytes swapped within each 16-bit unit, then the units within each 32-bit half, then the halves.
  b.load64(A);
  b.tee(t).i64(8).op(W.I64ShrU).i64(0x00ff00ff00ff00ffn).op(W.I64And);
  b.get(t).i64(0x00ff00ff00ff00ffn).op(W.I64And).i64(8).op(W.I64Shl, W.I64Or).set(t);
  b.get(t).i64(16).op(W.I64ShrU).i64(0x0000ffff0000ffffn).op(W.I64And);
  b.get(t).i64(0x0000ffff0000ffffn).op(W.I64And).i64(16).op(W.I64Shl, W.I64Or);
  b.i64(32).op(W.I64Rotl).set(r);
  b.store64(A, r);
}

/** ADC/SBB r64, r64 / imm: the carry-in from what is known, recorded as Adc/Sbb when it is 1 (aluAdd64/aluSub64). */
export function formAluc64(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const ge = x.fn === aluGE;
  const dst = ge ? x.reg : x.rm;
  const src = ge ? x.rm : x.reg;
  const adc = x.op === Alu.Adc;
  const cin = b.local(T.I32);
  const d = b.local(T.I64);
  const s = b.local(T.I64);
  const r = b.local(T.I64);
  carry(b, known);
  b.set(cin);
  b.load64(dst);
  b.set(d);
  if (x.fn === aluEI) b.i64(imm64(x));
  else b.load64(src);
  b.set(s);
  b.get(d).get(s).op(adc ? W.I64Add : W.I64Sub).get(cin).op(W.I64ExtendI32U, adc ? W.I64Add : W.I64Sub).set(r);
  b.store64(dst, r);
  if (!fl) return known;
  recField(b, Fr.Op, () => b.i32(adc ? Lazy.Add : Lazy.Sub).get(cin).op(W.I32Add));
  recConst(b, Fr.Sz, 8);
  recField64(b, Fr.Dst, () => b.get(d));
  recField64(b, Fr.Src, () => b.get(s));
  recField64(b, Fr.Res, () => b.get(r));
  recDirty(b, Dg.OpRes | Dg.Sz | Dg.DstSrc | Dg.High);
  return { kind: 'zf', w64: true, d: -1, s: -1, r };
}

const ALU_OP: Record<number, W> = { [Alu.Add]: W.I32Add, [Alu.Or]: W.I32Or, [Alu.And]: W.I32And, [Alu.Sub]: W.I32Sub, [Alu.Xor]: W.I32Xor, [Alu.Cmp]: W.I32Sub };

/**
 * ADD/OR/AND/SUB/XOR/CMP with an 8- or 16-bit memory operand: E op= G / imm (read for writing unless CMP), and
 * G op= E; computed and recorded as alu() does (add/sub results masked, logic ones not), the rest of a register kept.
 */
export function formAlunm(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  const size = x.osz;
  const op = x.op;
  const ge = x.fn === aluGE;
  const cmp = op === Alu.Cmp;
  const rmw = !ge && !cmp;
  const d = b.local(T.I32);
  const s = b.local(T.I32);
  const r = b.local(T.I32);
  const addr = b.local(T.I32);
  const hit = b.local(T.I32);
  if (rmw) readForWrite(b, ALU_CTX, k, lin, size, addr, hit);
  else if (ge) getReg(b, size, x.reg);
  else load(b, k, lin, size);
  b.set(d);
  if (ge) load(b, k, lin, size);
  else if (x.fn === aluEI) b.i32(x.imm | 0);
  else getReg(b, size, x.reg);
  b.set(s);
  b.get(d).get(s).op(ALU_OP[op]!);
  const logic = op === Alu.And || op === Alu.Or || op === Alu.Xor;
  if (!logic) b.i32(size === 1 ? 0xff : 0xffff).op(W.I32And);
  b.set(r);
  if (ge && !cmp) {
    if (size === 1) setReg8(b, x.reg, r);
    else setReg16(b, x.reg, r);
  }
  let after = known;
  if (fl) after = recordNarrowAlu(b, op, logic, size, d, s, r);
  if (rmw) writeBack(b, ALU_CTX, k, lin, size, addr, hit, r, smcExit(k));
  return after;
}

/**
 * DIV/IDIV r32/r64 (register operands only: the handler path reads the operand again), inline when the quotient
 * fits; else the handler, which divides a 128-bit dividend or raises #DE. Flags untouched on both paths.
 */
export function formDivide(b: BlockBody, x: Insn, k: number): void {
  const signed = x.fn === idivE;
  const q = b.local(T.I64);
  const dvd = b.local(T.I64);
  const dvs = b.local(T.I64);
  if (x.osz === 4) {
    const s = b.local(T.I32);
    b.load32(x.rm);
    b.set(s);
    b.get(s).op(signed ? W.I64ExtendI32S : W.I64ExtendI32U).set(dvs);
    b.load32(2);
    b.op(W.I64ExtendI32U).i64(32).op(W.I64Shl);
    b.load32(0);
    b.op(W.I64ExtendI32U, W.I64Or).set(dvd);
    if (signed) {
      // A divisor of 0, or -2^63 / -1 (which traps in wasm): #DE; else whether the quotient fits in 32 bits.
      b.get(s).op(W.I32Eqz).get(s).i32(-1).op(W.I32Eq).get(dvd).i64(MIN64).op(W.I64Eq, W.I32And, W.I32Or);
      b.op(W.If, T.I32).i32(1).op(W.Else);
      b.get(dvd).get(dvs).op(W.I64DivS).tee(q).get(q).op(W.I32WrapI64, W.I64ExtendI32S, W.I64Ne);
      b.op(W.End);
    } else {
      // EDX below the divisor: the quotient fits in 32 bits (and the divisor is not 0).
      b.load32(2);
      b.get(s).op(W.I32GeU);
    }
  } else {
    b.ensure(0);
    b.ensure(2);
    b.ensure(x.rm);
    b.load64(x.rm);
    b.set(dvs);
    b.load64(0);
    b.set(dvd);
    // RDX the dividend's extension, a divisor not 0, not -2^63 / -1.
    b.get(dvs).op(W.I64Eqz);
    b.load64(2);
    if (signed) b.get(dvd).i64(63).op(W.I64ShrS);
    else b.i64(0);
    b.op(W.I64Ne, W.I32Or);
    if (signed) b.get(dvs).i64(-1).op(W.I64Eq).get(dvd).i64(MIN64).op(W.I64Eq, W.I32And, W.I32Or);
  }
  b.op(W.If, T.Void);
  handler(b, k, smcExit(k));
  b.op(W.Else);
  const rq = b.local(x.osz === 4 ? T.I32 : T.I64);
  const rr = b.local(x.osz === 4 ? T.I32 : T.I64);
  if (!(signed && x.osz === 4)) b.get(dvd).get(dvs).op(signed ? W.I64DivS : W.I64DivU).set(q);
  b.get(q);
  if (x.osz === 4) b.op(W.I32WrapI64);
  b.set(rq);
  b.get(dvd).get(dvs).op(signed ? W.I64RemS : W.I64RemU);
  if (x.osz === 4) b.op(W.I32WrapI64);
  b.set(rr);
  if (x.osz === 4) {
    b.store32(0, rq);
    b.store32(2, rr);
  } else {
    b.store64(0, rq);
    b.store64(2, rr);
  }
  b.op(W.End);
  // The handler may have run (and copied the record into the cpu): what Fr.Dirty holds is not known.
  emitting.dirtyAt = -1;
}

/** MUL r/m64: RDX:RAX = RAX * r/m64 unsigned; with its flags live, mulE's eager record (CF = OF = RDX is not 0). */
export function formMul64(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  const a = b.local(T.I64);
  const s = b.local(T.I64);
  const lo = b.local(T.I64);
  const hi = b.local(T.I64);
  const p1 = b.local(T.I64);
  const p2 = b.local(T.I64);
  if (lin >= 0) load8(b, k, lin);
  else b.load64(x.rm);
  b.set(s);
  b.load64(0);
  b.set(a);
  b.get(a).get(s).op(W.I64Mul).set(lo);
  const lo32 = (v: number): void => {
    b.get(v).i64(0xffffffffn).op(W.I64And);
  };
  const hi32 = (v: number): void => {
    b.get(v).i64(32).op(W.I64ShrU);
  };
  // The high half from the 32-bit partial products: hi = aH*sH + (aL*sH >> 32) + (aH*sL >> 32) + (the middle's carry).
  lo32(a);
  hi32(s);
  b.op(W.I64Mul).set(p1);
  hi32(a);
  lo32(s);
  b.op(W.I64Mul).set(p2);
  hi32(a);
  hi32(s);
  b.op(W.I64Mul);
  b.get(p1).i64(32).op(W.I64ShrU, W.I64Add);
  b.get(p2).i64(32).op(W.I64ShrU, W.I64Add);
  lo32(a);
  lo32(s);
  b.op(W.I64Mul).i64(32).op(W.I64ShrU);
  b.get(p1).i64(0xffffffffn).op(W.I64And, W.I64Add);
  b.get(p2).i64(0xffffffffn).op(W.I64And, W.I64Add);
  b.i64(32).op(W.I64ShrU, W.I64Add).set(hi);
  b.store64(0, lo);
  b.store64(2, hi);
  if (!fl) return known;
  const ovf = b.local(T.I32);
  b.get(hi).op(W.I64Eqz, W.I32Eqz).set(ovf);
  return recordMul(b, ALU_CTX, ovf, lo, true);
}

/** Pushes the i64 read for writing of 8 bytes at `lin` (inline on a TLB hit for writing and reading, else rdw). */
function readForWrite8(b: BlockBody, k: number, lin: number, addr: number, hit: number): void {
  tlbHitRw(b, lin, 8, addr, hit);
  b.op(W.If, T.I64).get(addr).mem(W.I64Load, 0, 0).op(W.Else);
  b.i32(k).i32(8);
  linArg(b, lin);
  b.call(Im.Rdw).op(W.I64ExtendI32U);
  b.call(Im.Hi).op(W.I64ExtendI32S).i64(32).op(W.I64Shl, W.I64Or, W.End);
}

/** Writes i64 local `v` where readForWrite8 read (it cannot fault: the read faulted as a write first). */
function writeBack8(b: BlockBody, k: number, lin: number, addr: number, hit: number, v: number): void {
  b.get(hit).op(W.If, T.Void).get(addr).get(v).mem(W.I64Store, 0, 0).op(W.Else);
  b.i32(k);
  linArg(b, lin);
  b.get(v).op(W.I32WrapI64).get(v).i64(32).op(W.I64ShrU, W.I32WrapI64).call(Im.Wr8);
  b.op(W.If, T.Void).i32(smcExit(k)).op(W.Return, W.End);
  b.op(W.End);
}

/**
 * CMPXCHG m64, r64 (LOCK included; vCPUs run one at a time): read for writing, compared with RAX as CMP records
 * it; equal: r64 is written, else the value read is written back and loaded into RAX (cmpxchg).
 */
export function formCmpxchg64m(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  b.ensure(0);
  b.ensure(x.reg);
  const m = b.local(T.I64);
  const d = b.local(T.I64);
  const r = b.local(T.I64);
  const v = b.local(T.I64);
  const addr = b.local(T.I32);
  const hit = b.local(T.I32);
  readForWrite8(b, k, lin, addr, hit);
  b.set(m);
  b.load64(0);
  b.set(d);
  b.get(d).get(m).op(W.I64Sub).set(r);
  b.get(r).op(W.I64Eqz, W.If, T.I64);
  b.load64(x.reg);
  b.op(W.Else).get(m).op(W.End).set(v);
  const after = fl ? record64(b, Alu.Sub, d, m, r) : known;
  writeBack8(b, k, lin, addr, hit, v);
  b.get(r).op(W.I64Eqz, W.I32Eqz, W.If, T.Void);
  b.store64(0, m);
  b.op(W.End);
  return after;
}

/**
 * SHLD/SHRD r32/r64, r, imm8 / CL (shldE): a count of 0 once masked leaves everything (a 32-bit destination still
 * has its high half cleared); else the double shift and, with its flags live, the eager record: CF the last bit
 * shifted out of the destination, OF its sign changed, SF/ZF/PF of the result.
 */
export function formShld(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const w64 = x.osz === 8;
  const bits = w64 ? 64 : 32;
  const shl = x.op === 0;
  const byCl = x.imm2 !== 0;
  const ty = w64 ? T.I64 : T.I32;
  const d = b.local(ty);
  const s = b.local(ty);
  const r = b.local(ty);
  const n = b.local(T.I32);
  if (w64) {
    b.load64(x.rm);
    b.set(d);
    b.load64(x.reg);
    b.set(s);
  } else {
    b.load32(x.rm);
    b.set(d);
    b.load32(x.reg);
    b.set(s);
  }
  if (byCl) {
    b.load32(1);
    b.i32(bits - 1).op(W.I32And).tee(n).op(W.I32Eqz);
    b.op(W.If, T.Void);
    if (!w64) b.zeroHigh(x.rm);
    b.op(W.Else);
  } else b.i32(x.imm & (bits - 1)).set(n);
  const cnt = (v: () => void): void => {
    v();
    if (w64) b.op(W.I64ExtendI32U);
  };
  const sh = (o32: W, o64: W): void => {
    b.op(w64 ? o64 : o32);
  };
  b.get(d);
  cnt(() => b.get(n));
  sh(shl ? W.I32Shl : W.I32ShrU, shl ? W.I64Shl : W.I64ShrU);
  b.get(s);
  cnt(() => b.i32(bits).get(n).op(W.I32Sub));
  sh(shl ? W.I32ShrU : W.I32Shl, shl ? W.I64ShrU : W.I64Shl);
  sh(W.I32Or, W.I64Or);
  b.set(r);
  if (w64) b.store64(x.rm, r);
  else b.store32(x.rm, r);
  if (fl) {
    const f = b.local(T.I32);
    // CF: bit (bits - n) of d for SHLD, bit (n - 1) for SHRD.
    b.get(d);
    if (shl) cnt(() => b.i32(bits).get(n).op(W.I32Sub));
    else cnt(() => b.get(n).i32(1).op(W.I32Sub));
    sh(W.I32ShrU, W.I64ShrU);
    if (w64) b.op(W.I32WrapI64);
    b.i32(1).op(W.I32And);
    // OF: the sign changed.
    b.get(d).get(r);
    sh(W.I32Xor, W.I64Xor);
    if (w64) b.i64(0).op(W.I64LtS);
    else b.i32(0).op(W.I32LtS);
    b.i32(11).op(W.I32Shl, W.I32Or);
    orSzp(b, ALU_CTX, r, w64);
    b.set(f);
    recEager(b, () => b.get(f));
  }
  if (byCl) {
    b.op(W.End);
    // Marked on one path only.
    if (fl) emitting.dirtyAt = -1;
    return { kind: '', w64: false, d: -1, s: -1, r: -1 };
  }
  return fl ? { kind: 'zf', w64, d: -1, s: -1, r } : known;
}

/**
 * Pushes the arithmetic flags as they are before the instruction (the `fl` import: the record copied into the
 * cpu, getFlags), masked to `keep`. The forms calling it observe every flag, so the record is complete there.
 */
function oldFlags(b: BlockBody, keep: number): void {
  b.call(Im.Flags).i32(keep).op(W.I32And);
}

/**
 * BT/BTS/BTR/BTC r/m32, r/m64 with a register or an immediate bit offset (btEG/btEI): CF = the bit, the bit set,
 * cleared or complemented; a register offset addresses the bit string from a memory operand (64-bit addressing:
 * the caller takes 32-bit addressing, with its segment checks, to the handler). With its flags live, btApply's
 * eager record: CF, and OF/SF/ZF/AF/PF as they were (through `fl` only where a later point may see them).
 */
export function formBt(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, liveAfter: number, known: Known): Known {
  const w64 = x.osz === 8;
  const ty = w64 ? T.I64 : T.I32;
  const op = x.op;
  const mem = x.mod !== 3;
  const n = b.local(ty);
  const word = b.local(ty);
  const nw = b.local(ty);
  const cf = b.local(T.I32);
  const addr = b.local(T.I32);
  const hit = b.local(T.I32);
  if (x.fn === btEI) {
    if (w64) b.i64(x.imm & 63);
    else b.i32(x.imm & 31);
  } else {
    if (w64) b.load64(x.reg);
    else b.load32(x.reg);
    if (w64) b.i64(63).op(W.I64And);
    else b.i32(31).op(W.I32And);
  }
  b.set(n);
  if (mem && x.fn !== btEI) {
    // The operand at floor(offset / bits) operands from the address (a signed offset).
    b.get(lin);
    if (w64) b.load64(x.reg);
    else {
      b.load32(x.reg);
      b.op(W.I64ExtendI32S);
    }
    b.i64(w64 ? 6 : 5).op(W.I64ShrS).i64(w64 ? 3 : 2).op(W.I64Shl, W.I64Add).set(lin);
  }
  if (mem) {
    if (op === 0) {
      if (w64) load8(b, k, lin);
      else load(b, k, lin, 4);
    } else if (w64) readForWrite8(b, k, lin, addr, hit);
    else readForWrite(b, ALU_CTX, k, lin, 4, addr, hit);
  } else if (w64) b.load64(x.rm);
  else b.load32(x.rm);
  b.set(word);
  b.get(word).get(n);
  if (w64) b.op(W.I64ShrU, W.I32WrapI64);
  else b.op(W.I32ShrU);
  b.i32(1).op(W.I32And).set(cf);
  if (op !== 0) {
    b.get(word);
    if (w64) b.i64(1).get(n).op(W.I64Shl);
    else b.i32(1).get(n).op(W.I32Shl);
    if (op === 2) {
      if (w64) b.i64(-1).op(W.I64Xor, W.I64And);
      else b.i32(-1).op(W.I32Xor, W.I32And);
    } else b.op(op === 1 ? (w64 ? W.I64Or : W.I32Or) : w64 ? W.I64Xor : W.I32Xor);
    b.set(nw);
  }
  if (fl) {
    const f = b.local(T.I32);
    const keep = Bit.OF | Bit.SF | Bit.ZF | Bit.AF | Bit.PF;
    if ((liveAfter & keep) !== 0) {
      oldFlags(b, keep);
      b.get(cf).op(W.I32Or);
    } else b.get(cf);
    b.set(f);
    recEager(b, () => b.get(f));
  }
  if (op !== 0) {
    if (mem) {
      if (w64) writeBack8(b, k, lin, addr, hit, nw);
      else writeBack(b, ALU_CTX, k, lin, 4, addr, hit, nw, smcExit(k));
    } else if (w64) b.store64(x.rm, nw);
    else b.store32(x.rm, nw);
  }
  // Unrecorded, every flag it writes is dead and ZF (kept) is what it was.
  return fl ? { kind: '', w64: false, d: -1, s: -1, r: -1 } : known;
}

/**
 * BSF/BSR/TZCNT/LZCNT/POPCNT r32/r64, r/m (bitScan): wasm's ctz/clz/popcnt (of 0: the width, as TZCNT and LZCNT
 * give it); BSF and BSR of 0 leave the destination. With their flags live, bitScan's eager records: ZF (or CF
 * and ZF), the others as they were (through `fl` only where a later point may see them); POPCNT's ZF alone.
 */
export function formBitScan(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, liveAfter: number): Known {
  const w64 = x.osz === 8;
  const ty = w64 ? T.I64 : T.I32;
  const op = x.op;
  const v = b.local(ty);
  const r = b.local(ty);
  const zero = b.local(T.I32);
  if (lin >= 0) {
    if (w64) load8(b, k, lin);
    else load(b, k, lin, 4);
  } else if (w64) b.load64(x.rm);
  else b.load32(x.rm);
  b.tee(v).op(w64 ? W.I64Eqz : W.I32Eqz).set(zero);
  b.get(v);
  if (op === 0 || op === 2) b.op(w64 ? W.I64Ctz : W.I32Ctz);
  else if (op === 3) b.op(w64 ? W.I64Clz : W.I32Clz);
  else if (op === 4) b.op(w64 ? W.I64Popcnt : W.I32Popcnt);
  else {
    b.op(w64 ? W.I64Clz : W.I32Clz);
    b.set(r);
    if (w64) b.i64(63).get(r).op(W.I64Sub);
    else b.i32(31).get(r).op(W.I32Sub);
  }
  b.set(r);
  const write = (): void => {
    if (w64) b.store64(x.reg, r);
    else {
      const r32 = b.local(T.I32);
      b.get(r).set(r32);
      b.store32(x.reg, r32);
    }
  };
  if (op <= 1) {
    b.get(zero).op(W.I32Eqz, W.If, T.Void);
    write();
    b.op(W.End);
  } else write();
  if (!fl) return { kind: '', w64: false, d: -1, s: -1, r: -1 };
  const f = b.local(T.I32);
  if (op === 4) b.get(zero).i32(6).op(W.I32Shl);
  else {
    const keep = op <= 1 ? Bit.OF | Bit.SF | Bit.AF | Bit.PF | Bit.CF : Bit.OF | Bit.SF | Bit.AF | Bit.PF;
    if ((liveAfter & keep) !== 0) oldFlags(b, keep);
    else b.i32(0);
    if (op <= 1) b.get(zero).i32(6).op(W.I32Shl, W.I32Or);
    else {
      // CF: the source was 0; ZF: the result is 0.
      b.get(zero).op(W.I32Or);
      b.get(r).op(w64 ? W.I64Eqz : W.I32Eqz).i32(6).op(W.I32Shl, W.I32Or);
    }
  }
  b.set(f);
  recEager(b, () => b.get(f));
  return { kind: '', w64: false, d: -1, s: -1, r: -1 };
}

/**
 * Pushes i64 local `v` on a 64-bit stack when the slot is a TLB hit for writing (the stack size 8 and the address
 * canonical), else the handler does the whole instruction (`read`, if given, runs first on the inline path: an
 * operand read after the checks, so the handler never reads it a second time).
 */
function push64(b: BlockBody, k: number, v: number, read: (() => void) | null): void {
  b.ensure(4);
  const sp = b.local(T.I64);
  const l = b.local(T.I64);
  const addr = b.local(T.I32);
  const idx = b.local(T.I32);
  b.load64(4);
  b.tee(sp).i64(-8).op(W.I64Add).set(l);
  stackSlotsHit(b, l, 8, true, addr, idx);
  b.op(W.If, T.Void);
  if (read) read();
  b.get(addr).get(v).mem(W.I64Store, 0, 0);
  b.store64(4, l);
  b.op(W.Else);
  handler(b, k, smcExit(k));
  b.op(W.End);
  // The handler may have run (and copied the record into the cpu): what Fr.Dirty holds is not known.
  emitting.dirtyAt = -1;
}

/** PUSHFQ (64-bit mode: no VM flag to check): getFlags without VM and RF, through `fl`, pushed as push64 does. */
export function formPushf(b: BlockBody, k: number): void {
  const v = b.local(T.I64);
  b.call(Im.Flags).op(W.I64ExtendI32U).set(v);
  push64(b, k, v, null);
}

/** PUSH m64 (pushE): the operand read (a fault there changes nothing) and pushed as push64 does. */
export function formPushm(b: BlockBody, k: number, lin: number): void {
  const v = b.local(T.I64);
  push64(b, k, v, () => {
    load8(b, k, lin);
    b.set(v);
  });
}

/** LEAVE with a 64-bit operand and stack: RSP = RBP + 8, RBP = [RBP] when that is a TLB hit, else the handler. */
export function formLeave(b: BlockBody, k: number): void {
  b.ensure(5);
  const bp = b.local(T.I64);
  const v = b.local(T.I64);
  const sp = b.local(T.I64);
  const addr = b.local(T.I32);
  const idx = b.local(T.I32);
  b.load64(5);
  b.set(bp);
  stackSlotsHit(b, bp, 8, false, addr, idx);
  b.op(W.If, T.Void);
  b.get(addr).mem(W.I64Load, 0, 0).set(v);
  b.get(bp).i64(8).op(W.I64Add).set(sp);
  b.store64(4, sp);
  b.store64(5, v);
  b.op(W.Else);
  handler(b, k, smcExit(k));
  b.op(W.End);
  emitting.dirtyAt = -1;
}

/** XCHG m32/m64, r (xchgEG; LOCK implied): the operand read for writing, the register written to it, then loaded. */
export function formXchgm(b: BlockBody, x: Insn, k: number, lin: number): void {
  const addr = b.local(T.I32);
  const hit = b.local(T.I32);
  if (x.osz === 8) {
    const m = b.local(T.I64);
    const g = b.local(T.I64);
    readForWrite8(b, k, lin, addr, hit);
    b.set(m);
    b.load64(x.reg);
    b.set(g);
    writeBack8(b, k, lin, addr, hit, g);
    b.store64(x.reg, m);
    return;
  }
  const m = b.local(T.I32);
  const g = b.local(T.I32);
  readForWrite(b, ALU_CTX, k, lin, 4, addr, hit);
  b.set(m);
  b.load32(x.reg);
  b.set(g);
  writeBack(b, ALU_CTX, k, lin, 4, addr, hit, g, smcExit(k));
  b.store32(x.reg, m);
}

/** XADD m32/m64, r: the operand read for writing, the sum recorded as ADD and written, the register = the operand. */
export function formXaddm(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  const addr = b.local(T.I32);
  const hit = b.local(T.I32);
  if (x.osz === 8) {
    const d = b.local(T.I64);
    const s = b.local(T.I64);
    const r = b.local(T.I64);
    readForWrite8(b, k, lin, addr, hit);
    b.set(d);
    b.load64(x.reg);
    b.set(s);
    b.get(d).get(s).op(W.I64Add).set(r);
    const after = fl ? record64(b, Alu.Add, d, s, r) : known;
    b.store64(x.reg, d);
    writeBack8(b, k, lin, addr, hit, r);
    return after;
  }
  const d = b.local(T.I32);
  const s = b.local(T.I32);
  const r = b.local(T.I32);
  readForWrite(b, ALU_CTX, k, lin, 4, addr, hit);
  b.set(d);
  b.load32(x.reg);
  b.set(s);
  b.get(d).get(s).op(W.I32Add).set(r);
  const after = fl ? record32(b, Alu.Add, d, s, r) : known;
  b.store32(x.reg, d);
  writeBack(b, ALU_CTX, k, lin, 4, addr, hit, r, smcExit(k));
  return after;
}

/** Records INC/DEC r/m64's flags of i64 locals d into r (incdec64): the carry before it, from what is known, kept as Cin. */
function recordIncDec64(b: BlockBody, dec: boolean, d: number, r: number, known: Known): Known {
  const cin = b.local(T.I32);
  carry(b, known);
  b.set(cin);
  recLocal(b, Fr.Cin, cin);
  recConst(b, Fr.Op, dec ? Lazy.Dec : Lazy.Inc);
  recConst(b, Fr.Sz, 8);
  recField64(b, Fr.Dst, () => b.get(d));
  recField64(b, Fr.Src, () => b.i64(1));
  recField64(b, Fr.Res, () => b.get(r));
  recDirty(b, Dg.OpRes | Dg.Sz | Dg.DstSrc | Dg.High | Dg.Cin);
  return { kind: 'zf', w64: true, d: -1, s: -1, r };
}

/** INC/DEC m64 (the kernel's per-CPU counters): read for writing, incdec64's record (CF kept as the carry-in), written back. */
export function formIncdecm64(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  const dec = x.op === 1;
  const d = b.local(T.I64);
  const r = b.local(T.I64);
  const addr = b.local(T.I32);
  const hit = b.local(T.I32);
  readForWrite8(b, k, lin, addr, hit);
  b.tee(d).i64(1).op(dec ? W.I64Sub : W.I64Add).set(r);
  const after = fl ? recordIncDec64(b, dec, d, r, known) : known;
  writeBack8(b, k, lin, addr, hit, r);
  return after;
}

/** CMOVcc r32/r64, m (cmovcc): the operand read whatever the condition (it may fault), written when it holds; a 32-bit destination zero-extended either way. */
export function formCmovm(b: BlockBody, x: Insn, k: number, lin: number, known: Known): void {
  const w64 = x.osz === 8;
  const v = b.local(w64 ? T.I64 : T.I32);
  if (w64) load8(b, k, lin);
  else load(b, k, lin, 4);
  b.set(v);
  condition(b, x.op, known);
  b.op(W.If, T.Void);
  if (w64) b.store64(x.reg, v);
  else b.store32(x.reg, v);
  if (!w64) {
    b.op(W.Else);
    b.zeroHigh(x.reg);
  }
  b.op(W.End);
}
