/**
 * x87 transcendentals: FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1. Values are
 * computed to ~200 bits (`transcendental-math.ts`) and rounded once to 64 bits in FCW.RC (PC does
 * not apply), which is within the SDM's bound (< 1 ulp in round-to-nearest); hardware results
 * may differ from ours in the last bit. FSIN/FCOS/FSINCOS/FPTAN leave operands of magnitude
 * 2^63 or more unchanged and set C2.
 */
import {
  CLS_INF, CLS_NORMAL, CLS_ZERO, F80, FLAG_DE, FLAG_IE, FLAG_PE, FLAG_UE, FLAG_ZE, roundPack, type Unpacked,
} from './softfloat.js';
import { SW_C1, SW_C2, type X87State } from './fpu-state.js';
import {
  OA, OB, RES, commit, flagExceptions, indefinite, loadSt, pop, push, screen1, screen2, stackOverflow,
  stackUnderflow, stEmpty, suppressed, withDenormal, writeIndefinite, writeSt, writeStRaw,
} from './x87-core.js';
import {
  atanPos, bitLength, cosSmall, div, exp2m1, log2Big, log2p1Big, mul, piBig, reduceTrig, sinSmall, sub, type Big,
} from './transcendental-math.js';

function toBig(u: Unpacked): Big {
  return { s: u.sign, m: (BigInt(u.hi) << 32n) | BigInt(u.lo), e: u.exp - 63 };
}

/** Rounds v (nonzero) into RES at 64 bits; `inexact` jams a sticky bit. Returns the flags. */
function roundBig(v: Big, cw: number, inexact: boolean): number {
  if (v.m === 0n) {
    RES.sign = v.s;
    RES.bexp = 0;
    RES.hi = 0;
    RES.lo = 0;
    return 0;
  }
  const n = bitLength(v.m);
  let m96: bigint;
  let sticky = inexact;
  if (n > 96) {
    const sh = BigInt(n - 96);
    m96 = v.m >> sh;
    if ((m96 << sh) !== v.m) sticky = true;
  } else m96 = v.m << BigInt(96 - n);
  const hi = Number(m96 >> 64n);
  const lo = Number((m96 >> 32n) & 0xffffffffn);
  let x = Number(m96 & 0xffffffffn);
  if (sticky) x = (x | 1) >>> 0;
  return roundPack(RES, v.s, v.e + n - 1, hi, lo, x, 64, F80, cw);
}

function setZero(sign: number): void {
  RES.sign = sign;
  RES.bexp = 0;
  RES.hi = 0;
  RES.lo = 0;
}

function setInf(sign: number): void {
  RES.sign = sign;
  RES.bexp = 0x7fff;
  RES.hi = 0x80000000;
  RES.lo = 0;
}

function setOne(sign: number): void {
  RES.sign = sign;
  RES.bexp = 0x3fff;
  RES.hi = 0x80000000;
  RES.lo = 0;
}

/** True (and C2 set, nothing else changed) when |x| >= 2^63: the trig instructions give up. */
function outOfRange(s: X87State, a: Unpacked): boolean {
  if (a.cls !== CLS_NORMAL || a.exp < 63) return false;
  s.sw = (s.sw & ~SW_C1) | SW_C2;
  return true;
}

/** FSIN (cos = false) / FCOS (cos = true). */
function sinCos(s: X87State, cos: boolean): void {
  if (stEmpty(s, 0)) {
    s.sw &= ~SW_C2;
    if (stackUnderflow(s)) writeIndefinite(s, 0);
    return;
  }
  const a = loadSt(s, 0, OA);
  if (outOfRange(s, a)) return;
  let f = screen1(a);
  if (f < 0) {
    if (a.cls === CLS_INF) {
      indefinite();
      f = FLAG_IE;
    } else if (a.cls === CLS_ZERO) {
      if (cos) setOne(0);
      else setZero(a.sign);
      f = 0;
    } else {
      const { q, r } = reduceTrig(toBig(a));
      const useCos = cos ? (q & 1) === 0 : (q & 1) !== 0;
      let v = useCos ? cosSmall(r) : sinSmall(r);
      const negate = cos ? q === 1 || q === 2 : q >= 2;
      if (negate) v = { s: v.s ^ 1, m: v.m, e: v.e };
      f = withDenormal(roundBig(v, s.cw, true), a.denormal);
    }
  }
  s.sw &= ~SW_C2;
  commit(s, f, 0, false);
}

export function fsin(s: X87State): void {
  sinCos(s, false);
}

export function fcos(s: X87State): void {
  sinCos(s, true);
}

/** Writes two results: `first` into ST(0) then pushes `second` (FSINCOS, FPTAN). */
function twoResults(s: X87State, f: number, firstSe: number, firstHi: number, firstLo: number): void {
  s.sw &= ~(SW_C1 | SW_C2);
  if (suppressed(s, f)) {
    flagExceptions(s, f & (FLAG_IE | FLAG_DE | FLAG_ZE));
    return;
  }
  writeStRaw(s, 0, firstSe, firstHi, firstLo);
  push(s);
  writeSt(s, 0, RES);
  if ((f & 0x200) !== 0) s.sw |= SW_C1;
  flagExceptions(s, f & 0x3f);
}

/** Checks ST(0) present and ST(7) free for the two-result instructions; false to stop. */
function twoResultStack(s: X87State): boolean {
  if (stEmpty(s, 0) || !stEmpty(s, 7)) s.sw &= ~SW_C2;
  if (stEmpty(s, 0)) {
    if (stackUnderflow(s)) {
      writeIndefinite(s, 0);
      push(s);
      writeIndefinite(s, 0);
    }
    return false;
  }
  if (!stEmpty(s, 7)) {
    if (stackOverflow(s)) {
      writeIndefinite(s, 0);
      push(s);
      writeIndefinite(s, 0);
    }
    return false;
  }
  return true;
}

/** FSINCOS: ST(0) = sin x, then push cos x. */
export function fsincos(s: X87State): void {
  if (!twoResultStack(s)) return;
  const a = loadSt(s, 0, OA);
  if (outOfRange(s, a)) return;
  let f = screen1(a);
  let se: number;
  let hi: number;
  let lo: number;
  if (f >= 0 || a.cls === CLS_INF) {
    if (f < 0) {
      indefinite();
      f = FLAG_IE;
    }
    se = (RES.sign << 15) | RES.bexp;
    hi = RES.hi;
    lo = RES.lo;
  } else if (a.cls === CLS_ZERO) {
    se = a.sign << 15;
    hi = 0;
    lo = 0;
    setOne(0);
    f = 0;
  } else {
    const { q, r } = reduceTrig(toBig(a));
    let sv = (q & 1) === 0 ? sinSmall(r) : cosSmall(r);
    let cv = (q & 1) === 0 ? cosSmall(r) : sinSmall(r);
    if (q >= 2) sv = { s: sv.s ^ 1, m: sv.m, e: sv.e };
    if (q === 1 || q === 2) cv = { s: cv.s ^ 1, m: cv.m, e: cv.e };
    const fs = roundBig(sv, s.cw, true);
    se = (RES.sign << 15) | RES.bexp;
    hi = RES.hi;
    lo = RES.lo;
    f = roundBig(cv, s.cw, true);
    f = withDenormal(fs | (f & 0x3f), a.denormal);
  }
  twoResults(s, f, se, hi, lo);
}

/** FPTAN: ST(0) = tan x, then push 1.0. */
export function fptan(s: X87State): void {
  if (!twoResultStack(s)) return;
  const a = loadSt(s, 0, OA);
  if (outOfRange(s, a)) return;
  let f = screen1(a);
  if (f < 0) {
    if (a.cls === CLS_INF) {
      indefinite();
      f = FLAG_IE;
    } else if (a.cls === CLS_ZERO) {
      setZero(a.sign);
      f = 0;
    } else {
      const { q, r } = reduceTrig(toBig(a));
      const sv = sinSmall(r);
      const cv = cosSmall(r);
      const t = (q & 1) === 0 ? div(sv, cv) : div(cv, { s: sv.s ^ 1, m: sv.m, e: sv.e });
      f = withDenormal(roundBig(t, s.cw, true), a.denormal);
    }
  }
  const se = (RES.sign << 15) | RES.bexp;
  const hi = RES.hi;
  const lo = RES.lo;
  // A NaN result (NaN, unsupported or infinite operand) is pushed again in place of 1.0.
  if (RES.bexp !== 0x7fff) setOne(0);
  twoResults(s, f, se, hi, lo);
}

/** FPATAN: ST(1) = atan2(ST(1), ST(0)), pop. */
export function fpatan(s: X87State): void {
  if (stEmpty(s, 0) || stEmpty(s, 1)) {
    if (stackUnderflow(s)) {
      writeIndefinite(s, 1);
      pop(s);
    }
    return;
  }
  const x = loadSt(s, 0, OA);
  const y = loadSt(s, 1, OB);
  let f = screen2(y, x);
  if (f < 0) f = withDenormal(atan2(y, x, s.cw), x.denormal | y.denormal);
  commit(s, f, 1, true);
}

function atan2(y: Unpacked, x: Unpacked, cw: number): number {
  const xneg = x.sign !== 0;
  let v: Big;
  if (y.cls === CLS_ZERO || (x.cls === CLS_INF && y.cls !== CLS_INF)) {
    if (!xneg) {
      setZero(y.sign);
      return 0;
    }
    v = piBig();
  } else if (y.cls === CLS_INF) {
    if (x.cls === CLS_INF) v = xneg ? mul(piBig(), { s: 0, m: 3n, e: -2 }) : { s: 0, m: piBig().m, e: piBig().e - 2 };
    else v = { s: 0, m: piBig().m, e: piBig().e - 1 };
  } else if (x.cls === CLS_ZERO) {
    v = { s: 0, m: piBig().m, e: piBig().e - 1 };
  } else {
    const t = div({ s: 0, m: toBig(y).m, e: y.exp - 63 }, { s: 0, m: toBig(x).m, e: x.exp - 63 });
    v = atanPos(t);
    if (xneg) v = sub(piBig(), v);
  }
  v = { s: y.sign, m: v.m, e: v.e };
  return roundBig(v, cw, true);
}

/** F2XM1: ST(0) = 2^ST(0) - 1 (defined for -1 <= x <= 1). */
export function f2xm1(s: X87State): void {
  if (stEmpty(s, 0)) {
    if (stackUnderflow(s)) writeIndefinite(s, 0);
    return;
  }
  const a = loadSt(s, 0, OA);
  let f = screen1(a);
  if (f < 0) {
    if (a.cls === CLS_ZERO) {
      setZero(a.sign);
      f = 0;
    } else if (a.cls === CLS_INF) {
      if (a.sign === 0) setInf(0);
      else setOne(1);
      f = 0;
    } else if (a.exp === 0 && a.hi === 0x80000000 && a.lo === 0) {
      // x = +1 rounds as if 2^x - 1 were just below 1; x = -1 gives -1/2 exactly, both with PE
      // (as the hardware does).
      if (a.sign === 0) f = roundBig({ s: 0, m: (1n << 80n) - 1n, e: -80 }, s.cw, true);
      else {
        RES.sign = 1;
        RES.bexp = 0x3ffe;
        RES.hi = 0x80000000;
        RES.lo = 0;
        f = FLAG_PE;
      }
    } else if (a.exp >= 0) {
      // Outside -1..+1 the result is undefined; current CPUs return the operand (inexact).
      RES.sign = a.sign;
      RES.bexp = a.exp + 16383;
      RES.hi = a.hi;
      RES.lo = a.lo;
      f = withDenormal(FLAG_PE, a.denormal);
    } else {
      f = withDenormal(roundBig(exp2m1(toBig(a)), s.cw, true), a.denormal);
    }
  }
  commit(s, f, 0, false);
}

/** FYL2X: ST(1) = ST(1) * log2(ST(0)), pop. */
export function fyl2x(s: X87State): void {
  if (stEmpty(s, 0) || stEmpty(s, 1)) {
    if (stackUnderflow(s)) {
      writeIndefinite(s, 1);
      pop(s);
    }
    return;
  }
  const x = loadSt(s, 0, OA);
  const y = loadSt(s, 1, OB);
  let f = screen2(y, x);
  if (f < 0) f = ylog2x(y, x, s.cw);
  commit(s, f, 1, true);
}

function ylog2x(y: Unpacked, x: Unpacked, cw: number): number {
  const den = x.denormal | y.denormal;
  if (x.sign !== 0 && x.cls !== CLS_ZERO) {
    indefinite();
    return FLAG_IE;
  }
  if (x.cls === CLS_ZERO) {
    if (y.cls === CLS_ZERO) {
      indefinite();
      return FLAG_IE;
    }
    setInf(y.sign ^ 1);
    return y.cls === CLS_INF ? withDenormal(0, den) : withDenormal(FLAG_ZE, den);
  }
  if (x.cls === CLS_INF) {
    if (y.cls === CLS_ZERO) {
      indefinite();
      return FLAG_IE;
    }
    setInf(y.sign);
    return withDenormal(0, den);
  }
  // x finite positive: log2(x) with its sign (x = 1 gives exactly +0).
  const l = log2Big(toBig(x));
  const isOne = l.m === 0n;
  if (y.cls === CLS_INF) {
    if (isOne) {
      indefinite();
      return FLAG_IE;
    }
    setInf(y.sign ^ l.s);
    return withDenormal(0, den);
  }
  if (y.cls === CLS_ZERO || isOne) {
    setZero(y.sign ^ (isOne ? 0 : l.s));
    return withDenormal(0, den);
  }
  // Exact when x is a power of two (log2 is then an integer); reported as inexact all the same
  // (PE, and UE for a tiny result).
  const exact = isPow2(x);
  const v = mul(toBig(y), l);
  let f = roundBig(v, cw, !exact) | FLAG_PE;
  if (RES.bexp === 0 && (RES.hi | RES.lo) !== 0 && (cw & FLAG_UE) !== 0) f |= FLAG_UE;
  return withDenormal(f, den);
}

function isPow2(x: Unpacked): boolean {
  return x.hi === 0x80000000 && x.lo === 0;
}

/** FYL2XP1: ST(1) = ST(1) * log2(ST(0) + 1), pop (defined for |x| < 1 - sqrt(2)/2). */
export function fyl2xp1(s: X87State): void {
  if (stEmpty(s, 0) || stEmpty(s, 1)) {
    if (stackUnderflow(s)) {
      writeIndefinite(s, 1);
      pop(s);
    }
    return;
  }
  const x = loadSt(s, 0, OA);
  const y = loadSt(s, 1, OB);
  let f = screen2(y, x);
  if (f < 0) f = ylog2xp1(y, x, s.cw);
  commit(s, f, 1, true);
}

function ylog2xp1(y: Unpacked, x: Unpacked, cw: number): number {
  const den = x.denormal | y.denormal;
  if (x.cls === CLS_ZERO) {
    if (y.cls === CLS_INF) {
      indefinite();
      return FLAG_IE;
    }
    setZero(x.sign ^ y.sign);
    return withDenormal(0, den);
  }
  if (x.cls === CLS_INF || (x.sign !== 0 && x.exp >= 0)) {
    // Outside the domain of log2(1 + x) or of the instruction: treat as FYL2X would x + 1.
    if (x.sign !== 0) {
      indefinite();
      return FLAG_IE;
    }
    if (y.cls === CLS_ZERO) {
      indefinite();
      return FLAG_IE;
    }
    setInf(y.sign);
    return withDenormal(0, den);
  }
  if (y.cls === CLS_ZERO) {
    setZero(y.sign ^ x.sign);
    return withDenormal(0, den);
  }
  if (y.cls === CLS_INF) {
    setInf(y.sign ^ x.sign);
    return withDenormal(0, den);
  }
  const l = log2p1Big(toBig(x));
  return withDenormal(roundBig(mul(toBig(y), l), cw, true), den);
}

