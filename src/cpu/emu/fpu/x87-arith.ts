/**
 * x87 arithmetic: FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR in every operand form, FSQRT, FABS, FCHS,
 * FRNDINT, FSCALE, FXTRACT. Results are rounded to FCW.PC bits (FSCALE, FRNDINT and FXTRACT
 * ignore it) in the extended exponent range, in FCW.RC.
 */
import {
  CLS_INF, CLS_NAN, CLS_NORMAL, CLS_UNSUPPORTED, CLS_ZERO, F80, FLAG_DE, FLAG_IE, FLAG_ZE, RC_ZERO,
  roundPack, roundToInt, iBig, iHi, iLo, type Unpacked,
} from './softfloat.js';
import { sfAdd, sfDiv, sfMul, sfRoundIntegral, sfSqrt } from './arith.js';
import type { X87State } from './fpu-state.js';
import { SW_C1 } from './fpu-state.js';
import {
  OA, OB, RES, commit, flagExceptions, indefinite, loadSt, pcBits, pop, push, screen1, screen2,
  stackOverflow, stackUnderflow, stEmpty, suppressed, withDenormal, writeIndefinite, writeSt, writeStRaw,
} from './x87-core.js';

/** Computes a op b into RES: op 0 add, 1 mul, 4 a-b, 5 b-a, 6 a/b, 7 b/a. Returns the flags. */
function compute(op: number, a: Unpacked, b: Unpacked, cw: number): number {
  const sc = screen2(a, b);
  if (sc >= 0) return sc;
  const p = pcBits(cw);
  let f: number;
  switch (op) {
    case 0:
      f = sfAdd(RES, a, b, 0, p, F80, cw);
      break;
    case 1:
      f = sfMul(RES, a, b, p, F80, cw);
      break;
    case 4:
      f = sfAdd(RES, a, b, 1, p, F80, cw);
      break;
    case 5:
      f = sfAdd(RES, b, a, 1, p, F80, cw);
      break;
    case 6:
      f = sfDiv(RES, a, b, p, F80, cw);
      break;
    default:
      f = sfDiv(RES, b, a, p, F80, cw);
  }
  return withDenormal(f, a.denormal | b.denormal);
}

/**
 * ST(0) = ST(0) op m (D8/DC/DA/DE memory forms): `b` holds the memory operand already
 * unpacked from its format.
 */
export function arithMem(s: X87State, op: number, b: Unpacked): void {
  if (stEmpty(s, 0)) {
    if (stackUnderflow(s)) writeIndefinite(s, 0);
    return;
  }
  loadSt(s, 0, OA);
  const f = compute(op, OA, b, s.cw);
  commit(s, f, 0, false);
}

/**
 * Register forms. D8: ST(0) = ST(0) op ST(i). DC/DE (`toSti`): ST(i) = ST(i) op' ST(0), where
 * the reversed/plain sense of SUB and DIV is swapped as the opcode map has it; DE pops.
 */
export function arithReg(s: X87State, op: number, i: number, toSti: boolean, doPop: boolean): void {
  const dst = toSti ? i : 0;
  if (stEmpty(s, 0) || stEmpty(s, i)) {
    if (stackUnderflow(s)) {
      writeIndefinite(s, dst);
      if (doPop) pop(s);
    }
    return;
  }
  if (toSti) {
    loadSt(s, i, OA);
    loadSt(s, 0, OB);
    if (op >= 4) op ^= 1;
  } else {
    loadSt(s, 0, OA);
    loadSt(s, i, OB);
  }
  const f = compute(op, OA, OB, s.cw);
  commit(s, f, dst, doPop);
}

/** FSQRT. */
export function fsqrt(s: X87State): void {
  if (stEmpty(s, 0)) {
    if (stackUnderflow(s)) writeIndefinite(s, 0);
    return;
  }
  loadSt(s, 0, OA);
  let f = screen1(OA);
  if (f < 0) f = withDenormal(sfSqrt(RES, OA, pcBits(s.cw), F80, s.cw), OA.denormal);
  commit(s, f, 0, false);
}

/** FABS (neg = false) / FCHS (neg = true): sign bit only, no exceptions but stack underflow. */
export function fabsChs(s: X87State, neg: boolean): void {
  if (stEmpty(s, 0)) {
    if (stackUnderflow(s)) writeIndefinite(s, 0);
    return;
  }
  const p = s.top;
  const se = s.se[p]!;
  s.se[p] = neg ? se ^ 0x8000 : se & 0x7fff;
  s.sw &= ~SW_C1;
}

/** FRNDINT: round ST(0) to an integral value in FCW.RC (64-bit precision). */
export function frndint(s: X87State): void {
  if (stEmpty(s, 0)) {
    if (stackUnderflow(s)) writeIndefinite(s, 0);
    return;
  }
  loadSt(s, 0, OA);
  let f = screen1(OA);
  if (f < 0) f = withDenormal(sfRoundIntegral(RES, OA, (s.cw >>> 10) & 3, F80), OA.denormal);
  commit(s, f, 0, false);
}

/** FSCALE: ST(0) = ST(0) * 2^trunc(ST(1)). */
export function fscale(s: X87State): void {
  if (stEmpty(s, 0) || stEmpty(s, 1)) {
    if (stackUnderflow(s)) writeIndefinite(s, 0);
    return;
  }
  const a = loadSt(s, 0, OA);
  const b = loadSt(s, 1, OB);
  let f = screen2(a, b);
  if (f < 0) f = scale(a, b, s.cw);
  commit(s, f, 0, false);
}

function scale(a: Unpacked, b: Unpacked, cw: number): number {
  const den = a.denormal | b.denormal;
  if (b.cls === CLS_INF) {
    if (b.sign === 0) {
      if (a.cls === CLS_ZERO) {
        indefinite();
        return FLAG_IE;
      }
      setSpecial(a.cls === CLS_ZERO ? CLS_ZERO : CLS_INF, a.sign);
    } else {
      if (a.cls === CLS_INF) {
        indefinite();
        return FLAG_IE;
      }
      setSpecial(CLS_ZERO, a.sign);
    }
    return withDenormal(0, den);
  }
  if (a.cls !== CLS_NORMAL) {
    setSpecial(a.cls, a.sign);
    return withDenormal(0, den);
  }
  let n = 0;
  if (b.cls === CLS_NORMAL) {
    roundToInt(b.sign, b.exp, b.hi, b.lo, RC_ZERO);
    // Clamp: anything beyond 2^20 overflows or underflows completely, even bias-adjusted.
    n = iBig !== 0 || iHi !== 0 || iLo > 0x100000 ? 0x100000 : iLo;
    if (b.sign !== 0) n = -n;
  }
  return withDenormal(roundPack(RES, a.sign, a.exp + n, a.hi, a.lo, 0, 64, F80, cw), den);
}

function setSpecial(cls: number, sign: number): void {
  RES.sign = sign;
  if (cls === CLS_ZERO) {
    RES.bexp = 0;
    RES.hi = 0;
  } else {
    RES.bexp = 0x7fff;
    RES.hi = 0x80000000;
  }
  RES.lo = 0;
}

/** FXTRACT: ST(0) = exponent of x, then push the significand (exponent 0): ST(0) = sig, ST(1) = exp. */
export function fxtract(s: X87State): void {
  if (stEmpty(s, 0)) {
    if (stackUnderflow(s)) {
      writeIndefinite(s, 0);
      push(s);
      writeIndefinite(s, 0);
    }
    return;
  }
  if (!stEmpty(s, 7)) {
    if (stackOverflow(s)) {
      writeIndefinite(s, 0);
      push(s);
      writeIndefinite(s, 0);
    }
    return;
  }
  const a = loadSt(s, 0, OA);
  s.sw &= ~SW_C1;
  let f: number;
  // Exponent (ST(1) after the push) in expSe/Hi/Lo, significand in RES.
  let eSe: number;
  let eHi = 0x80000000;
  if (a.cls === CLS_UNSUPPORTED || a.cls === CLS_NAN) {
    f = screen1(a);
    eSe = (RES.sign << 15) | RES.bexp;
    eHi = RES.hi;
    const eLo = RES.lo;
    if (suppressed(s, f)) return flagExceptions(s, f);
    writeStRaw(s, 0, eSe, eHi, eLo);
    push(s);
    writeSt(s, 0, RES);
    flagExceptions(s, f);
    return;
  }
  if (a.cls === CLS_ZERO) {
    f = FLAG_ZE;
    if (suppressed(s, f)) return flagExceptions(s, f);
    writeStRaw(s, 0, 0xffff, 0x80000000, 0); // -inf
    push(s);
    writeStRaw(s, 0, a.sign << 15, 0, 0);
    flagExceptions(s, f);
    return;
  }
  if (a.cls === CLS_INF) {
    writeStRaw(s, 0, 0x7fff, 0x80000000, 0);
    push(s);
    writeStRaw(s, 0, (a.sign << 15) | 0x7fff, 0x80000000, 0);
    return;
  }
  f = a.denormal !== 0 ? FLAG_DE : 0;
  if (suppressed(s, f)) return flagExceptions(s, f);
  // The exponent as an extended value (exact: |e| < 2^15).
  const e = a.exp;
  if (e === 0) {
    eSe = 0;
    eHi = 0;
  } else {
    const m = e < 0 ? -e : e;
    const n = Math.clz32(m);
    eSe = ((e < 0 ? 1 : 0) << 15) | (31 - n + 16383);
    eHi = (m << n) >>> 0;
  }
  writeStRaw(s, 0, eSe, eHi, 0);
  push(s);
  writeStRaw(s, 0, (a.sign << 15) | 16383, a.hi, a.lo);
  flagExceptions(s, f);
}

