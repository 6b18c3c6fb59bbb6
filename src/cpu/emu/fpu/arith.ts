/**
 * The IEEE operations over unpacked operands, shared by the x87 and SSE layers: add, subtract,
 * multiply, divide, square root, round to integral, conversions to integers. Operands are
 * zero, normal (denormals arrive normalized) or infinite: NaNs, unsupported encodings, DAZ and
 * the denormal-operand flag are the caller's business, since the x87 and SSE differ there.
 * Each returns the flags (IE for invalid operations, ZE, and those of `roundPack`) and leaves
 * the result in `out`.
 */
import {
  CLS_INF, CLS_NORMAL, CLS_ZERO, FLAG_IE, FLAG_PE, FLAG_ZE, FLAG_C1, RC_DOWN,
  type Format, type Rounded, type Unpacked,
  addCore, divCore, indefiniteResult, mulCore, roundPack, specialResult, sqrtCore, roundToInt,
  zExp, zHi, zLo, zSign, zX, zZero, iBig, iHi, iInexact, iLo, iUp,
} from './softfloat.js';

/** a + b (negB = 0) or a - b (negB = 1), rounded to p bits in fmt. */
export function sfAdd(out: Rounded, a: Unpacked, b: Unpacked, negB: number, p: number, fmt: Format, ctl: number): number {
  const bs = b.sign ^ negB;
  if (a.cls === CLS_INF) {
    if (b.cls === CLS_INF && a.sign !== bs) {
      indefiniteResult(out, fmt);
      return FLAG_IE;
    }
    specialResult(out, CLS_INF, a.sign, fmt);
    return 0;
  }
  if (b.cls === CLS_INF) {
    specialResult(out, CLS_INF, bs, fmt);
    return 0;
  }
  if (a.cls === CLS_ZERO) {
    if (b.cls === CLS_ZERO) {
      const s = a.sign === bs ? a.sign : ((ctl >>> 10) & 3) === RC_DOWN ? 1 : 0;
      specialResult(out, CLS_ZERO, s, fmt);
      return 0;
    }
    return roundPack(out, bs, b.exp, b.hi, b.lo, 0, p, fmt, ctl);
  }
  if (b.cls === CLS_ZERO) return roundPack(out, a.sign, a.exp, a.hi, a.lo, 0, p, fmt, ctl);
  addCore(a.sign, a.exp, a.hi, a.lo, bs, b.exp, b.hi, b.lo);
  if (zZero !== 0) {
    specialResult(out, CLS_ZERO, ((ctl >>> 10) & 3) === RC_DOWN ? 1 : 0, fmt);
    return 0;
  }
  return roundPack(out, zSign, zExp, zHi, zLo, zX, p, fmt, ctl);
}

/** a * b rounded to p bits in fmt. */
export function sfMul(out: Rounded, a: Unpacked, b: Unpacked, p: number, fmt: Format, ctl: number): number {
  const s = a.sign ^ b.sign;
  if (a.cls === CLS_INF || b.cls === CLS_INF) {
    if (a.cls === CLS_ZERO || b.cls === CLS_ZERO) {
      indefiniteResult(out, fmt);
      return FLAG_IE;
    }
    specialResult(out, CLS_INF, s, fmt);
    return 0;
  }
  if (a.cls === CLS_ZERO || b.cls === CLS_ZERO) {
    specialResult(out, CLS_ZERO, s, fmt);
    return 0;
  }
  mulCore(s, a.exp, a.hi, a.lo, b.exp, b.hi, b.lo);
  return roundPack(out, zSign, zExp, zHi, zLo, zX, p, fmt, ctl);
}

/** a / b rounded to p bits in fmt. */
export function sfDiv(out: Rounded, a: Unpacked, b: Unpacked, p: number, fmt: Format, ctl: number): number {
  const s = a.sign ^ b.sign;
  if (a.cls === CLS_INF) {
    if (b.cls === CLS_INF) {
      indefiniteResult(out, fmt);
      return FLAG_IE;
    }
    specialResult(out, CLS_INF, s, fmt);
    return 0;
  }
  if (b.cls === CLS_INF) {
    specialResult(out, CLS_ZERO, s, fmt);
    return 0;
  }
  if (b.cls === CLS_ZERO) {
    if (a.cls === CLS_ZERO) {
      indefiniteResult(out, fmt);
      return FLAG_IE;
    }
    specialResult(out, CLS_INF, s, fmt);
    return FLAG_ZE;
  }
  if (a.cls === CLS_ZERO) {
    specialResult(out, CLS_ZERO, s, fmt);
    return 0;
  }
  divCore(s, a.exp, a.hi, a.lo, b.exp, b.hi, b.lo);
  return roundPack(out, zSign, zExp, zHi, zLo, zX, p, fmt, ctl);
}

/** sqrt(a) rounded to p bits in fmt. */
export function sfSqrt(out: Rounded, a: Unpacked, p: number, fmt: Format, ctl: number): number {
  if (a.cls === CLS_ZERO) {
    specialResult(out, CLS_ZERO, a.sign, fmt);
    return 0;
  }
  if (a.sign !== 0) {
    indefiniteResult(out, fmt);
    return FLAG_IE;
  }
  if (a.cls === CLS_INF) {
    specialResult(out, CLS_INF, 0, fmt);
    return 0;
  }
  sqrtCore(a.exp, a.hi, a.lo);
  return roundPack(out, 0, zExp, zHi, zLo, zX, p, fmt, ctl);
}

/**
 * Rounds a finite value to an integral value in the same format (x87 FRNDINT, SSE4.1 ROUNDSD):
 * exact, so only PE (and C1 for an incremented magnitude).
 */
export function sfRoundIntegral(out: Rounded, a: Unpacked, rc: number, fmt: Format): number {
  if (a.cls !== CLS_NORMAL) {
    specialResult(out, a.cls, a.sign, fmt);
    return 0;
  }
  if (a.exp >= 63) {
    out.sign = a.sign;
    out.bexp = a.exp + fmt.bias;
    out.hi = a.hi;
    out.lo = a.lo;
    return 0;
  }
  roundToInt(a.sign, a.exp, a.hi, a.lo, rc);
  const f = (iInexact !== 0 ? FLAG_PE : 0) | (iUp !== 0 ? FLAG_C1 : 0);
  out.sign = a.sign;
  if (iBig !== 0) {
    // 2^64 (only from a carry at exp 63, excluded above): kept for completeness.
    out.bexp = 64 + fmt.bias;
    out.hi = 0x80000000;
    out.lo = 0;
    return f;
  }
  if (iHi === 0 && iLo === 0) {
    out.bexp = 0;
    out.hi = 0;
    out.lo = 0;
    return f;
  }
  const n = iHi !== 0 ? Math.clz32(iHi) : 32 + Math.clz32(iLo);
  // Normalize the integer: left shift by n.
  let hi: number;
  let lo: number;
  if (n === 0) {
    hi = iHi;
    lo = iLo;
  } else if (n < 32) {
    hi = ((iHi << n) | (iLo >>> (32 - n))) >>> 0;
    lo = (iLo << n) >>> 0;
  } else {
    hi = (iLo << (n - 32)) >>> 0;
    lo = 0;
  }
  out.bexp = 63 - n + fmt.bias;
  out.hi = hi;
  out.lo = lo;
  return f;
}

// Result of sfToInt: two's complement in toIntLo/toIntHi.
export let toIntLo = 0;
export let toIntHi = 0;

/**
 * Converts a zero/normal/infinite value to a signed integer of `bits` (16, 32 or 64) in rounding
 * mode rc. Out of range (or infinite) gives IE and the integer indefinite (only the sign bit set).
 */
export function sfToInt(a: Unpacked, rc: number, bits: number): number {
  if (a.cls === CLS_ZERO) {
    toIntLo = 0;
    toIntHi = 0;
    return 0;
  }
  if (a.cls === CLS_INF) return intIndefinite(bits);
  roundToInt(a.sign, a.exp, a.hi, a.lo, rc);
  if (iBig !== 0) return intIndefinite(bits);
  // Range: magnitude <= 2^(bits-1) - 1, or exactly 2^(bits-1) when negative.
  let fits: boolean;
  if (bits === 64) fits = iHi < 0x80000000 || (a.sign !== 0 && iHi === 0x80000000 && iLo === 0);
  else {
    const lim = 2 ** (bits - 1);
    fits = iHi === 0 && (iLo < lim || (a.sign !== 0 && iLo === lim));
  }
  if (!fits) return intIndefinite(bits);
  let lo = iLo;
  let hi = iHi;
  if (a.sign !== 0) {
    lo = (4294967296 - lo) % 4294967296;
    hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
  }
  toIntLo = lo | 0;
  toIntHi = hi | 0;
  if (bits < 32) toIntLo &= 0xffff;
  return (iInexact !== 0 ? FLAG_PE : 0) | (iUp !== 0 ? FLAG_C1 : 0);
}

function intIndefinite(bits: number): number {
  if (bits === 64) {
    toIntLo = 0;
    toIntHi = 0x80000000 | 0;
  } else {
    toIntLo = bits === 32 ? 0x80000000 | 0 : 0x8000;
    toIntHi = 0;
  }
  return FLAG_IE;
}
