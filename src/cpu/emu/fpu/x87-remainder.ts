/**
 * FPREM (quotient truncated, 8087 style) and FPREM1 (IEEE, quotient rounded to nearest even).
 * With an exponent difference D < 64 the remainder is complete (C2 = 0) and C0, C3, C1 receive
 * quotient bits 2, 1, 0; otherwise one partial step reduces the exponent by N = 32 + (D mod 32)
 * (measured on current CPUs; the SDM allows any N in 32..63) and sets C2. Remainders are exact.
 */
import {
  CLS_INF, CLS_ZERO, F80, FLAG_DE, FLAG_IE, FLAG_ZE, clz64, indefiniteResult, roundPack, type Unpacked,
} from './softfloat.js';
import { SW_C0, SW_C1, SW_C2, SW_C3, type X87State } from './fpu-state.js';
import {
  OA, OB, RES, flagExceptions, loadSt, screen2, stackUnderflow, stEmpty, suppressed, withDenormal, writeIndefinite, writeSt,
} from './x87-core.js';

const TWO32 = 4294967296;

// Long division results: remainder (remHi:remLo) and the low three quotient bits.
let remHi = 0;
let remLo = 0;
let q3 = 0;

/** r = (ma * 2^k) mod mb for normalized 64-bit significands, 0 <= k <= 63; q3 = low 3 bits of the quotient. */
function remCore(maHi: number, maLo: number, mbHi: number, mbLo: number, k: number): void {
  let top = 0;
  let h = maHi;
  let l = maLo;
  let q = 0;
  for (let i = 0; ; i++) {
    let bit = 0;
    if (top !== 0 || h > mbHi || (h === mbHi && l >= mbLo)) {
      let nl = l - mbLo;
      let borrow = 0;
      if (nl < 0) {
        nl += TWO32;
        borrow = 1;
      }
      let nh = h - mbHi - borrow;
      if (nh < 0) nh += TWO32;
      h = nh;
      l = nl;
      top = 0;
      bit = 1;
    }
    q = ((q << 1) | bit) & 7;
    if (i === k) break;
    top = h >>> 31;
    h = ((h << 1) | (l >>> 31)) >>> 0;
    l = (l << 1) >>> 0;
  }
  remHi = h;
  remLo = l;
  q3 = q;
}

/** FPREM (ieee = false) / FPREM1 (ieee = true). */
export function fprem(s: X87State, ieee: boolean): void {
  if (stEmpty(s, 0) || stEmpty(s, 1)) {
    s.sw &= ~SW_C2;
    if (stackUnderflow(s)) writeIndefinite(s, 0);
    return;
  }
  const a = loadSt(s, 0, OA);
  const b = loadSt(s, 1, OB);
  let cc = 0;
  let keep = 0; // condition codes left alone when no remainder is computed (NaN, invalid)
  let f = screen2(a, b);
  if (f >= 0) keep = SW_C0 | SW_C3;
  else {
    const den = a.denormal | b.denormal;
    if (a.cls === CLS_INF || b.cls === CLS_ZERO) {
      indefiniteResult(RES, F80);
      f = FLAG_IE;
      keep = SW_C0 | SW_C3;
    } else if (a.cls === CLS_ZERO || b.cls === CLS_INF) {
      f = withDenormal(copy(a, s.cw), den);
    } else {
      f = remainder(a, b, ieee, s.cw);
      cc = ccOut;
      f = withDenormal(f, den);
    }
  }
  if (suppressed(s, f)) {
    s.sw &= ~(SW_C1 | SW_C2);
    flagExceptions(s, f & (FLAG_IE | FLAG_DE | FLAG_ZE));
    return;
  }
  s.sw &= ~(SW_C0 | SW_C1 | SW_C2 | SW_C3) | keep;
  writeSt(s, 0, RES);
  s.sw |= cc;
  flagExceptions(s, f & 0x3f);
}

/** The remainder is ST(0) itself (quotient 0): exact, but a denormal is still tiny (UE when unmasked). */
function copy(a: Unpacked, cw: number): number {
  RES.sign = a.sign;
  if (a.cls === CLS_ZERO) {
    RES.bexp = 0;
    RES.hi = 0;
    RES.lo = 0;
    return 0;
  }
  return roundPack(RES, a.sign, a.exp, a.hi, a.lo, 0, 64, F80, cw);
}

let ccOut = 0;

function remainder(a: Unpacked, b: Unpacked, ieee: boolean, cw: number): number {
  const d = a.exp - b.exp;
  ccOut = 0;
  if (d >= 64) {
    const n = 32 + (d % 32);
    remCore(a.hi, a.lo, b.hi, b.lo, n);
    ccOut = SW_C2;
    return packRem(a.sign, a.exp - n, cw);
  }
  let sign = a.sign;
  if (d < 0) {
    // |a| < |b|: quotient 0, unless FPREM1 rounds |a| > |b|/2 up to one.
    if (ieee && d === -1 && (a.hi > b.hi || (a.hi === b.hi && a.lo > b.lo))) {
      // |b| - |a| = (2*mb - ma) * 2^(ea-63)
      let l = b.lo * 2 - a.lo;
      let h = b.hi * 2 - a.hi;
      if (l < 0) {
        l += TWO32;
        h -= 1;
      } else if (l >= TWO32) {
        l -= TWO32;
        h += 1;
      }
      remHi = h;
      remLo = l;
      ccOut = SW_C1;
      return packRem(sign ^ 1, a.exp, cw);
    }
    remHi = a.hi;
    remLo = a.lo;
    return packRem(sign, a.exp, cw);
  }
  remCore(a.hi, a.lo, b.hi, b.lo, d);
  let q = q3;
  if (ieee) {
    // Round the quotient to nearest even: compare 2r with mb.
    const r2Top = remHi >>> 31;
    const r2Hi = ((remHi << 1) | (remLo >>> 31)) >>> 0;
    const r2Lo = (remLo << 1) >>> 0;
    let c: number;
    if (r2Top !== 0) c = 1;
    else if (r2Hi !== b.hi) c = r2Hi > b.hi ? 1 : -1;
    else if (r2Lo !== b.lo) c = r2Lo > b.lo ? 1 : -1;
    else c = 0;
    if (c > 0 || (c === 0 && (q & 1) !== 0)) {
      q = (q + 1) & 7;
      let l = b.lo - remLo;
      let h = b.hi - remHi;
      if (l < 0) {
        l += TWO32;
        h -= 1;
      }
      remHi = h;
      remLo = l;
      sign ^= 1;
    }
  }
  ccOut = ((q & 4) !== 0 ? SW_C0 : 0) | ((q & 2) !== 0 ? SW_C3 : 0) | ((q & 1) !== 0 ? SW_C1 : 0);
  return packRem(sign, b.exp, cw);
}

/** RES = remHi:remLo * 2^(e - 63) with the given sign (exact; a zero keeps the sign). */
function packRem(sign: number, e: number, cw: number): number {
  if (remHi === 0 && remLo === 0) {
    RES.sign = sign;
    RES.bexp = 0;
    RES.hi = 0;
    RES.lo = 0;
    return 0;
  }
  const n = clz64(remHi, remLo);
  let h = remHi;
  let l = remLo;
  if (n >= 32) {
    h = (l << (n - 32)) >>> 0;
    l = 0;
  } else if (n > 0) {
    h = ((h << n) | (l >>> (32 - n))) >>> 0;
    l = (l << n) >>> 0;
  }
  return roundPack(RES, sign, e - n, h, l, 0, 64, F80, cw);
}

