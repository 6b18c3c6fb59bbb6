/**
 * Exact IEEE-754 binary floating point computed in software, for the x87 (80-bit extended,
 * precision control) and for SSE (binary32/binary64, see `ieee-binary.ts`).
 *
 * Numbers are handled unpacked: a sign, an unbiased exponent and a 64-bit significand in two
 * 32-bit limbs (`hi` bit 31 is the integer bit, weight 2^exp), so one engine serves every
 * format. Exact results are formed with 32 extra bits (`x`, the lowest of which is sticky) and
 * rounded once by `roundPack` to p significant bits (24/53/64, or any 1..64) in a format's
 * exponent range. Results land in caller-owned `Unpacked`/`Rounded` records or module scratch:
 * no allocation and no BigInt on these paths.
 *
 * Flags returned by every operation use the bit order the x87 status word and MXCSR share
 * (IE DE ZE OE UE PE = bits 0..5), plus FLAG_C1 (the rounding incremented the magnitude).
 * The control argument `ctl` has the x87 control-word layout: exception masks in bits 0..5,
 * rounding control in bits 10..11, and CTL_FTZ (bit 15) to flush tiny results to zero (SSE).
 */

export const FLAG_IE = 0x01;
export const FLAG_DE = 0x02;
export const FLAG_ZE = 0x04;
export const FLAG_OE = 0x08;
export const FLAG_UE = 0x10;
export const FLAG_PE = 0x20;
/** Not an IEEE flag: rounding incremented the magnitude (the x87's C1 "round up"). */
export const FLAG_C1 = 0x200;

export const RC_NEAREST = 0;
export const RC_DOWN = 1;
export const RC_UP = 2;
export const RC_ZERO = 3;

/** ctl bit: tiny results become zero when underflow is masked (MXCSR.FTZ). */
export const CTL_FTZ = 0x8000;

/** The x87's exponent bias adjustment for unmasked overflow/underflow results (3 * 2^13). */
export const X87_WRAP = 24576;

export const CLS_ZERO = 0;
export const CLS_NORMAL = 1;
export const CLS_INF = 2;
export const CLS_NAN = 3;
/** An 80-bit encoding current CPUs reject: unnormal, pseudo-NaN, pseudo-infinity. */
export const CLS_UNSUPPORTED = 4;

const TWO32 = 4294967296;

/** A binary interchange format (or the x87 extended one). */
export interface Format {
  /** Significand bits including the integer bit. */
  readonly prec: number;
  readonly bias: number;
  /** Unbiased exponent of the smallest normal and of the largest finite. */
  readonly emin: number;
  readonly emax: number;
  /** Biased exponent of infinities and NaNs. */
  readonly expMax: number;
}

export const F32: Format = Object.freeze({ prec: 24, bias: 127, emin: -126, emax: 127, expMax: 255 });
export const F64: Format = Object.freeze({ prec: 53, bias: 1023, emin: -1022, emax: 1023, expMax: 2047 });
export const F80: Format = Object.freeze({ prec: 64, bias: 16383, emin: -16382, emax: 16383, expMax: 32767 });

/** An unpacked operand. Finite nonzero values are normalized (hi bit 31 set), denormals included. */
export class Unpacked {
  cls = CLS_ZERO;
  sign = 0;
  /** Unbiased exponent of significand bit 63. */
  exp = 0;
  hi = 0;
  lo = 0;
  /** NaN: 1 when signalling. Significand keeps the x87 layout (bit 63 set, bit 62 = quiet). */
  snan = 0;
  /** 1 when the encoding was a denormal (or x87 pseudo-denormal): the DE condition. */
  denormal = 0;

  set(cls: number, sign: number, exp: number, hi: number, lo: number): this {
    this.cls = cls;
    this.sign = sign;
    this.exp = exp;
    this.hi = hi;
    this.lo = lo;
    this.snan = 0;
    this.denormal = 0;
    return this;
  }

  copyFrom(o: Unpacked): this {
    this.cls = o.cls;
    this.sign = o.sign;
    this.exp = o.exp;
    this.hi = o.hi;
    this.lo = o.lo;
    this.snan = o.snan;
    this.denormal = o.denormal;
    return this;
  }
}

/** A rounded result ready to pack: biased exponent (0 = zero/denormal, expMax = inf/NaN). */
export class Rounded {
  sign = 0;
  bexp = 0;
  hi = 0;
  lo = 0;
}

// ---------------------------------------------------------------- bit helpers

/** Leading zeros of a 64-bit value hi:lo (64 for zero). */
export function clz64(hi: number, lo: number): number {
  return hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(lo);
}

// Results of the 96-bit shifts.
let s0 = 0;
let s1 = 0;
let s2 = 0;

/** (hi:lo:x) >>> n, the bits shifted out ORed into bit 0 ("jamming"). Result in s0:s1:s2. */
function shr96Jam(hi: number, lo: number, x: number, n: number): void {
  if (n <= 0) {
    s0 = hi;
    s1 = lo;
    s2 = x;
  } else if (n < 32) {
    const lost = (x << (32 - n)) !== 0 ? 1 : 0;
    s2 = ((x >>> n) | (lo << (32 - n)) | lost) >>> 0;
    s1 = ((lo >>> n) | (hi << (32 - n))) >>> 0;
    s0 = hi >>> n;
  } else if (n === 32) {
    s2 = (lo | (x !== 0 ? 1 : 0)) >>> 0;
    s1 = hi;
    s0 = 0;
  } else if (n < 64) {
    const m = n - 32;
    const lost = x !== 0 || (lo << (32 - m)) !== 0 ? 1 : 0;
    s2 = ((lo >>> m) | (hi << (32 - m)) | lost) >>> 0;
    s1 = hi >>> m;
    s0 = 0;
  } else if (n === 64) {
    s2 = (hi | (lo !== 0 || x !== 0 ? 1 : 0)) >>> 0;
    s1 = 0;
    s0 = 0;
  } else if (n < 96) {
    const m = n - 64;
    const lost = x !== 0 || lo !== 0 || (hi << (32 - m)) !== 0 ? 1 : 0;
    s2 = ((hi >>> m) | lost) >>> 0;
    s1 = 0;
    s0 = 0;
  } else {
    s2 = hi !== 0 || lo !== 0 || x !== 0 ? 1 : 0;
    s1 = 0;
    s0 = 0;
  }
}

/** (hi:lo:x) << n for 0 <= n < 96 (bits above 96 are lost). Result in s0:s1:s2. */
function shl96(hi: number, lo: number, x: number, n: number): void {
  if (n === 0) {
    s0 = hi;
    s1 = lo;
    s2 = x;
  } else if (n < 32) {
    s0 = ((hi << n) | (lo >>> (32 - n))) >>> 0;
    s1 = ((lo << n) | (x >>> (32 - n))) >>> 0;
    s2 = (x << n) >>> 0;
  } else if (n === 32) {
    s0 = lo;
    s1 = x;
    s2 = 0;
  } else if (n < 64) {
    const m = n - 32;
    s0 = ((lo << m) | (x >>> (32 - m))) >>> 0;
    s1 = (x << m) >>> 0;
    s2 = 0;
  } else if (n === 64) {
    s0 = x;
    s1 = 0;
    s2 = 0;
  } else {
    s0 = (x << (n - 64)) >>> 0;
    s1 = 0;
    s2 = 0;
  }
}

/** Normalizes a nonzero 96-bit significand so bit 95 is set; returns the shift applied. */
function norm96(hi: number, lo: number, x: number): number {
  let n: number;
  if (hi !== 0) n = Math.clz32(hi);
  else if (lo !== 0) n = 32 + Math.clz32(lo);
  else n = 64 + Math.clz32(x);
  shl96(hi, lo, x, n);
  return n;
}

// ---------------------------------------------------------------- rounding

// Outputs of roundSig.
let rHi = 0;
let rLo = 0;
let rCarry = 0;
let rInexact = 0;
let rUp = 0;

/**
 * Rounds the 96-bit significand hi:lo:x to its top p bits (1 <= p <= 64) in mode rc.
 * Sets rHi:rLo (discarded bits cleared), rCarry (the significand became 2^64: rHi:rLo = 2^63
 * and the caller adds one to the exponent), rInexact and rUp (the magnitude was incremented).
 */
function roundSig(sign: number, hi: number, lo: number, x: number, p: number, rc: number): void {
  const d = 64 - p; // discarded bits of hi:lo
  let rem: number; // discarded part of the limb holding the half bit (unsigned)
  let half: number;
  let below: number; // all lower discarded bits, nonzero or not
  let lsb: number;
  if (d === 0) {
    rem = x;
    half = 0x80000000;
    below = 0;
    lsb = lo & 1;
  } else if (d < 32) {
    rem = (lo & (0xffffffff >>> (32 - d))) >>> 0;
    half = 2 ** (d - 1);
    below = x;
    lsb = (lo >>> d) & 1;
  } else if (d === 32) {
    rem = lo;
    half = 0x80000000;
    below = x;
    lsb = hi & 1;
  } else {
    const k = d - 32;
    rem = (hi & (0xffffffff >>> (32 - k))) >>> 0;
    half = 2 ** (k - 1);
    below = lo | x;
    lsb = (hi >>> k) & 1;
  }
  const inexact = rem !== 0 || below !== 0;
  let inc = false;
  if (inexact) {
    if (rc === RC_NEAREST) inc = rem > half || (rem === half && (below !== 0 || lsb !== 0));
    else if (rc === RC_DOWN) inc = sign !== 0;
    else if (rc === RC_UP) inc = sign === 0;
  }
  // Clear the discarded bits.
  if (d === 0) {
    rHi = hi;
    rLo = lo;
  } else if (d < 32) {
    rHi = hi;
    rLo = lo - rem;
  } else if (d === 32) {
    rHi = hi;
    rLo = 0;
  } else {
    rHi = hi - rem;
    rLo = 0;
  }
  rCarry = 0;
  if (inc) {
    if (d < 32) {
      rLo += 2 ** d;
      if (rLo >= TWO32) {
        rLo -= TWO32;
        rHi += 1;
      }
    } else {
      rHi += 2 ** (d - 32);
    }
    if (rHi >= TWO32) {
      rHi = 0x80000000;
      rLo = 0;
      rCarry = 1;
    }
  }
  rInexact = inexact ? 1 : 0;
  rUp = inc ? 1 : 0;
}

/**
 * Rounds the exact nonzero value (-1)^sign * (hi:lo:x / 2^95) * 2^exp (hi bit 31 set) to p
 * significant bits in the exponent range of `fmt`, honouring the masks, rounding control and
 * FTZ of `ctl`; writes `out` and returns the flags (OE UE PE C1).
 *
 * Tininess is detected after rounding (on the value rounded to p bits with unbounded
 * exponent), as the SDM defines it for the x87 and SSE. Masked underflow delivers the
 * denormalized value and flags UE only when it is inexact; unmasked underflow and overflow
 * deliver the value rounded to p bits with the exponent moved by 24576 toward the middle of
 * the range (what the x87 leaves in a register; SSE and memory stores discard it).
 */
export function roundPack(out: Rounded, sign: number, exp: number, hi: number, lo: number, x: number, p: number, fmt: Format, ctl: number): number {
  const rc = (ctl >>> 10) & 3;
  out.sign = sign;
  if (exp < fmt.emin) {
    let tiny = true;
    if (exp === fmt.emin - 1) {
      roundSig(sign, hi, lo, x, p, rc);
      if (rCarry !== 0) tiny = false;
    }
    if (tiny) {
      if ((ctl & FLAG_UE) === 0) {
        // Unmasked: the bias-adjusted value (massive underflow, only FSCALE: a signed zero).
        roundSig(sign, hi, lo, x, p, rc);
        const e = exp + rCarry + X87_WRAP;
        let f = FLAG_UE | (rInexact !== 0 ? FLAG_PE : 0) | (rUp !== 0 ? FLAG_C1 : 0);
        if (e < fmt.emin) {
          out.bexp = 0;
          out.hi = 0;
          out.lo = 0;
          f = FLAG_UE | FLAG_PE;
        } else {
          out.bexp = e + fmt.bias;
          out.hi = rHi;
          out.lo = rLo;
        }
        return f;
      }
      if ((ctl & CTL_FTZ) !== 0) {
        out.bexp = 0;
        out.hi = 0;
        out.lo = 0;
        return FLAG_UE | FLAG_PE;
      }
      shr96Jam(hi, lo, x, fmt.emin - exp);
      roundSig(sign, s0, s1, s2, p, rc);
      // A carry out of the denormal's top bit is the smallest normal (bit 63 now set).
      out.hi = rCarry !== 0 ? 0x80000000 : rHi;
      out.lo = rCarry !== 0 ? 0 : rLo;
      out.bexp = out.hi >= 0x80000000 ? 1 : 0;
      if (rInexact === 0) return 0;
      return FLAG_UE | FLAG_PE | (rUp !== 0 ? FLAG_C1 : 0);
    }
  }
  roundSig(sign, hi, lo, x, p, rc);
  let e = exp + rCarry;
  let f = (rInexact !== 0 ? FLAG_PE : 0) | (rUp !== 0 ? FLAG_C1 : 0);
  if (e > fmt.emax) {
    if ((ctl & FLAG_OE) === 0) {
      e -= X87_WRAP;
      f |= FLAG_OE;
      if (e > fmt.emax) {
        // Massive overflow even after the bias adjustment (FSCALE): a signed infinity.
        out.bexp = fmt.expMax;
        out.hi = 0x80000000;
        out.lo = 0;
        return FLAG_OE | FLAG_PE | FLAG_C1;
      }
    } else {
      const toInf = rc === RC_NEAREST || (rc === RC_UP && sign === 0) || (rc === RC_DOWN && sign !== 0);
      if (toInf) {
        out.bexp = fmt.expMax;
        out.hi = 0x80000000;
        out.lo = 0;
        return FLAG_OE | FLAG_PE | FLAG_C1;
      }
      // Largest finite at p bits.
      out.bexp = fmt.emax + fmt.bias;
      maxSig(p);
      out.hi = rHi;
      out.lo = rLo;
      return FLAG_OE | FLAG_PE;
    }
  }
  out.bexp = e + fmt.bias;
  out.hi = rHi;
  out.lo = rLo;
  return f;
}

/** rHi:rLo = the largest p-bit significand (p ones from bit 63). */
function maxSig(p: number): void {
  if (p >= 32) {
    rHi = 0xffffffff;
    rLo = p === 64 ? 0xffffffff : (0xffffffff << (64 - p)) >>> 0;
  } else {
    rHi = (0xffffffff << (32 - p)) >>> 0;
    rLo = 0;
  }
}

/** Rounds an Unpacked finite nonzero value (no extra bits) into `out`. */
export function roundUnpacked(out: Rounded, a: Unpacked, p: number, fmt: Format, ctl: number): number {
  return roundPack(out, a.sign, a.exp, a.hi, a.lo, 0, p, fmt, ctl);
}

/** The rounded result of a zero or infinity of the given sign in `fmt`. */
export function specialResult(out: Rounded, cls: number, sign: number, fmt: Format): void {
  out.sign = sign;
  if (cls === CLS_ZERO) {
    out.bexp = 0;
    out.hi = 0;
    out.lo = 0;
  } else {
    out.bexp = fmt.expMax;
    out.hi = 0x80000000;
    out.lo = 0;
  }
}

/** The default NaN ("real indefinite"): negative, quiet, zero payload. */
export function indefiniteResult(out: Rounded, fmt: Format): void {
  out.sign = 1;
  out.bexp = fmt.expMax;
  out.hi = 0xc0000000;
  out.lo = 0;
}

/** A NaN operand made quiet, in `out` (payload bits below the format's precision are dropped). */
export function quietNanResult(out: Rounded, a: Unpacked, fmt: Format): void {
  out.sign = a.sign;
  out.bexp = fmt.expMax;
  out.hi = (a.hi | 0xc0000000) >>> 0;
  out.lo = fmt.prec === 64 ? a.lo : fmt.prec === 53 ? (a.lo & 0xfffff800) >>> 0 : 0;
  if (fmt.prec === 24) out.hi = (out.hi & 0xffffff00) >>> 0;
}

// ---------------------------------------------------------------- unpack / pack

/** Unpacks an 80-bit extended value (sign+exponent word, significand hi/lo). */
export function unpackF80(a: Unpacked, se: number, hi: number, lo: number): Unpacked {
  const e = se & 0x7fff;
  a.sign = (se >>> 15) & 1;
  a.snan = 0;
  a.denormal = 0;
  a.hi = hi;
  a.lo = lo;
  if (e === 0) {
    if (hi === 0 && lo === 0) {
      a.cls = CLS_ZERO;
      a.exp = 0;
      return a;
    }
    // Denormal or pseudo-denormal (integer bit set): both mean 2^-16382 * 0.f (or 1.f).
    const n = clz64(hi, lo);
    shl96(hi, lo, 0, n);
    a.hi = s0;
    a.lo = s1;
    a.exp = -16382 - n;
    a.cls = CLS_NORMAL;
    a.denormal = 1;
    return a;
  }
  if (hi < 0x80000000) {
    a.cls = CLS_UNSUPPORTED; // unnormal, pseudo-infinity, pseudo-NaN
    a.exp = e - 16383;
    return a;
  }
  if (e === 0x7fff) {
    if (hi === 0x80000000 && lo === 0) {
      a.cls = CLS_INF;
    } else {
      a.cls = CLS_NAN;
      a.snan = (hi & 0x40000000) === 0 ? 1 : 0;
    }
    a.exp = 16384;
    return a;
  }
  a.cls = CLS_NORMAL;
  a.exp = e - 16383;
  return a;
}

/** Unpacks a binary64 given as its low and high 32-bit halves. */
export function unpackF64(a: Unpacked, lo: number, hi: number): Unpacked {
  const e = (hi >>> 20) & 0x7ff;
  const fh = hi & 0xfffff;
  a.sign = hi >>> 31;
  a.snan = 0;
  a.denormal = 0;
  // Significand in x87 layout: integer bit at 63, fraction below.
  const sh = ((fh << 11) | (lo >>> 21)) >>> 0;
  const sl = (lo << 11) >>> 0;
  if (e === 0) {
    if (sh === 0 && sl === 0) {
      a.set(CLS_ZERO, a.sign, 0, 0, 0);
      return a;
    }
    const n = clz64(sh, sl);
    shl96(sh, sl, 0, n);
    a.cls = CLS_NORMAL;
    a.hi = s0;
    a.lo = s1;
    a.exp = -1022 - n;
    a.denormal = 1;
    return a;
  }
  a.hi = (sh | 0x80000000) >>> 0;
  a.lo = sl;
  if (e === 0x7ff) {
    a.exp = 1024;
    if (sh === 0 && sl === 0) a.cls = CLS_INF;
    else {
      a.cls = CLS_NAN;
      a.snan = (sh & 0x40000000) === 0 ? 1 : 0;
    }
    return a;
  }
  a.cls = CLS_NORMAL;
  a.exp = e - 1023;
  return a;
}

/** Unpacks a binary32 (its bits as an unsigned or signed 32-bit number). */
export function unpackF32(a: Unpacked, bits: number): Unpacked {
  const e = (bits >>> 23) & 0xff;
  const sh = (bits << 9) >>> 1; // fraction at bits 62..40 of the significand
  a.sign = bits >>> 31;
  a.snan = 0;
  a.denormal = 0;
  a.lo = 0;
  if (e === 0) {
    if (sh === 0) {
      a.set(CLS_ZERO, a.sign, 0, 0, 0);
      return a;
    }
    const n = Math.clz32(sh);
    a.cls = CLS_NORMAL;
    a.hi = (sh << n) >>> 0;
    a.exp = -126 - n;
    a.denormal = 1;
    return a;
  }
  a.hi = (sh | 0x80000000) >>> 0;
  if (e === 0xff) {
    a.exp = 128;
    if (sh === 0) a.cls = CLS_INF;
    else {
      a.cls = CLS_NAN;
      a.snan = (sh & 0x40000000) === 0 ? 1 : 0;
    }
    return a;
  }
  a.cls = CLS_NORMAL;
  a.exp = e - 127;
  return a;
}

/** Packs a Rounded as binary64 into dst[i] (low half) and dst[i + 1] (high half). */
export function packF64(dst: Int32Array | Uint32Array, i: number, r: Rounded): void {
  // The integer bit (63) is implicit; denormals have it clear and bexp 0.
  dst[i] = ((r.lo >>> 11) | (r.hi << 21)) | 0;
  dst[i + 1] = ((r.sign << 31) | (r.bexp << 20) | ((r.hi >>> 11) & 0xfffff)) | 0;
}

/** The binary32 bits of a Rounded. */
export function packF32(r: Rounded): number {
  return ((r.sign << 31) | (r.bexp << 23) | ((r.hi >>> 8) & 0x7fffff)) | 0;
}

/** The sign+exponent word of a Rounded as 80-bit extended (significand is r.hi/r.lo). */
export function packF80se(r: Rounded): number {
  return (r.sign << 15) | r.bexp;
}

// ---------------------------------------------------------------- exact cores
// Each leaves an exact (or jammed) unrounded result in zSign/zExp/zHi/zLo/zX for roundPack.

export let zSign = 0;
export let zExp = 0;
export let zHi = 0;
export let zLo = 0;
export let zX = 0;
/** Set by addCore when the exact sum is zero (its sign then depends on the rounding mode). */
export let zZero = 0;

/** Exact a + b of two finite nonzero normalized operands (b's sign already flipped for subtraction). */
export function addCore(aSign: number, aExp: number, aHi: number, aLo: number, bSign: number, bExp: number, bHi: number, bLo: number): void {
  zZero = 0;
  // Let a be the operand of larger magnitude.
  if (bExp > aExp || (bExp === aExp && (bHi > aHi || (bHi === aHi && bLo > aLo)))) {
    let t = aSign;
    aSign = bSign;
    bSign = t;
    t = aExp;
    aExp = bExp;
    bExp = t;
    t = aHi;
    aHi = bHi;
    bHi = t;
    t = aLo;
    aLo = bLo;
    bLo = t;
  }
  shr96Jam(bHi, bLo, 0, aExp - bExp);
  let x: number;
  let lo: number;
  let hi: number;
  zSign = aSign;
  if (aSign === bSign) {
    x = s2;
    lo = aLo + s1;
    hi = aHi + s0;
    if (lo >= TWO32) {
      lo -= TWO32;
      hi += 1;
    }
    if (hi >= TWO32) {
      // Carry out: shift right by one, keeping the lost bit sticky.
      hi -= TWO32;
      const lost = x & 1;
      x = ((x >>> 1) | ((lo & 1) << 31) | lost) >>> 0;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = ((hi >>> 1) | 0x80000000) >>> 0;
      zExp = aExp + 1;
    } else zExp = aExp;
    zHi = hi;
    zLo = lo;
    zX = x;
    return;
  }
  // Magnitude subtraction: a >= b.
  x = 0 - s2;
  let borrow = 0;
  if (x < 0) {
    x += TWO32;
    borrow = 1;
  }
  lo = aLo - s1 - borrow;
  borrow = 0;
  if (lo < 0) {
    lo += TWO32;
    borrow = 1;
  }
  hi = aHi - s0 - borrow;
  if (hi === 0 && lo === 0 && x === 0) {
    zZero = 1;
    zHi = 0;
    zLo = 0;
    zX = 0;
    zExp = aExp;
    return;
  }
  const n = norm96(hi, lo, x);
  zHi = s0;
  zLo = s1;
  zX = s2;
  zExp = aExp - n;
}

// 32x32 -> 64 multiply results.
let mHi = 0;
let mLo = 0;

/** Unsigned 32x32 -> 64-bit product in mHi:mLo (exact, via 16-bit halves). */
function mul32(a: number, b: number): void {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const mid = a1 * b0 + a0 * b1; // < 2^33
  const midLo = mid % 65536;
  const lo = a0 * b0 + midLo * 65536; // < 2^33
  const carry = lo >= TWO32 ? 1 : 0;
  mLo = carry !== 0 ? lo - TWO32 : lo;
  mHi = a1 * b1 + (mid - midLo) / 65536 + carry;
}

/** Exact product of two normalized significands, rounded to 96 bits with jamming, in z*. */
export function mulCore(sign: number, aExp: number, aHi: number, aLo: number, bExp: number, bHi: number, bLo: number): void {
  mul32(aLo, bLo);
  const w0 = mLo;
  let w1 = mHi;
  mul32(aHi, bLo);
  w1 += mLo;
  let w2 = mHi;
  mul32(aLo, bHi);
  w1 += mLo;
  w2 += mHi;
  mul32(aHi, bHi);
  w2 += mLo;
  let w3 = mHi;
  // Propagate carries (each w < 2^34 here).
  w2 += Math.floor(w1 / TWO32);
  w1 %= TWO32;
  w3 += Math.floor(w2 / TWO32);
  w2 %= TWO32;
  // Product in [2^126, 2^128): w3 bit 31 may be clear (then shift left by one).
  zSign = sign;
  if (w3 >= 0x80000000) {
    zHi = w3;
    zLo = w2;
    zX = (w1 | (w0 !== 0 ? 1 : 0)) >>> 0;
    zExp = aExp + bExp + 1;
  } else {
    zHi = ((w3 << 1) | (w2 >>> 31)) >>> 0;
    zLo = ((w2 << 1) | (w1 >>> 31)) >>> 0;
    zX = ((w1 << 1) | (w0 !== 0 ? 1 : 0)) >>> 0;
    zExp = aExp + bExp;
  }
}

// Long division scratch: 16-bit limbs, least significant first.
const du = new Int32Array(10);
const dq = new Int32Array(6);

/**
 * Exact quotient of two normalized significands, Q = floor(A * 2^80 / B) (80 or 81 bits) and
 * the remainder as a sticky bit, left in z* (bit 95 set). Knuth's algorithm D in base 2^16: each
 * quotient digit is estimated from the top limbs in double arithmetic (never too small) and
 * corrected by adding the divisor back.
 */
export function divCore(sign: number, aExp: number, aHi: number, aLo: number, bExp: number, bHi: number, bLo: number): void {
  const v3 = bHi >>> 16;
  const v2 = bHi & 0xffff;
  const v1 = bLo >>> 16;
  const v0 = bLo & 0xffff;
  du.fill(0);
  du[5] = aLo & 0xffff;
  du[6] = aLo >>> 16;
  du[7] = aHi & 0xffff;
  du[8] = aHi >>> 16;
  const den = v3 * 65536 + v2;
  for (let j = 5; j >= 0; j--) {
    const num = du[j + 4]! * 4294967296 + du[j + 3]! * 65536 + du[j + 2]!;
    let qh = Math.floor(num / den);
    if (qh > 0xffff) qh = 0xffff;
    // u[j..j+4] -= qh * v
    let t = du[j]! - qh * v0;
    let borrow = Math.floor(t / 65536);
    du[j] = t - borrow * 65536;
    t = du[j + 1]! - qh * v1 + borrow;
    borrow = Math.floor(t / 65536);
    du[j + 1] = t - borrow * 65536;
    t = du[j + 2]! - qh * v2 + borrow;
    borrow = Math.floor(t / 65536);
    du[j + 2] = t - borrow * 65536;
    t = du[j + 3]! - qh * v3 + borrow;
    borrow = Math.floor(t / 65536);
    du[j + 3] = t - borrow * 65536;
    t = du[j + 4]! + borrow;
    du[j + 4] = t;
    while (du[j + 4]! < 0) {
      // Too large by one: add the divisor back.
      qh--;
      let c = du[j]! + v0;
      du[j] = c & 0xffff;
      c = du[j + 1]! + v1 + (c >>> 16);
      du[j + 1] = c & 0xffff;
      c = du[j + 2]! + v2 + (c >>> 16);
      du[j + 2] = c & 0xffff;
      c = du[j + 3]! + v3 + (c >>> 16);
      du[j + 3] = c & 0xffff;
      du[j + 4] = du[j + 4]! + (c >>> 16);
    }
    dq[j] = qh;
  }
  const sticky = (du[0]! | du[1]! | du[2]! | du[3]!) !== 0 ? 1 : 0;
  // Q (6 digits, the top one 0 or 1) into 96 bits: q5:q4..q0 is at most 81 bits.
  let hi = ((dq[5]! << 16) | dq[4]!) >>> 0;
  let lo = ((dq[3]! << 16) | dq[2]!) >>> 0;
  let x = ((dq[1]! << 16) | dq[0]!) >>> 0;
  // Q < 2^81: normalize so bit 95 is set (shift by 15 or 16).
  let e = aExp - bExp;
  let sh = 16;
  if (dq[5]! !== 0) sh = 15;
  else e -= 1;
  hi = ((hi << sh) | (lo >>> (32 - sh))) >>> 0;
  lo = ((lo << sh) | (x >>> (32 - sh))) >>> 0;
  x = ((x << sh) | sticky) >>> 0;
  zSign = sign;
  zExp = e;
  zHi = hi;
  zLo = lo;
  zX = x;
}

/**
 * Square root of a normalized significand with exponent e: 66 root bits plus a sticky bit, in
 * z* (bit 95 set). Bit-serial (two operand bits per root bit).
 */
export function sqrtCore(e: number, hi: number, lo: number): void {
  // value = m * 2^(e-63), m = hi:lo. Use N = m * 2^s with (e - 63 - s) even and N in
  // [2^130, 2^132), so the integer root has 66 bits: s = 67 or 68.
  const s = ((e - 63 - 67) & 1) === 0 ? 67 : 68;
  // Operand bits are consumed from the top, two at a time: N has 132 bits (left-aligned with s=68,
  // 131 bits with s=67: then a leading zero bit).
  // Stream N's bits: m shifted left by s, as a 132-bit string; bit index 131 is the top.
  const top = s === 68 ? 0 : 1; // leading zero bits before m's top bit within 132 bits
  // Remainder R and root Q as 3-limb numbers (R < 2^68, Q < 2^66).
  let r2 = 0;
  let r1 = 0;
  let r0 = 0;
  let q2 = 0;
  let q1 = 0;
  let q0 = 0;
  for (let i = 0; i < 66; i++) {
    // Next two bits of N: positions (131 - 2i) and (130 - 2i) counted from the top.
    const b0 = nBit(hi, lo, 2 * i - top);
    const b1 = nBit(hi, lo, 2 * i + 1 - top);
    // R = (R << 2) | bits
    r2 = ((r2 << 2) | (r1 >>> 30)) >>> 0;
    r1 = ((r1 << 2) | (r0 >>> 30)) >>> 0;
    r0 = ((r0 << 2) | (b0 << 1) | b1) >>> 0;
    // T = (Q << 2) | 1
    const t2 = ((q2 << 2) | (q1 >>> 30)) >>> 0;
    const t1 = ((q1 << 2) | (q0 >>> 30)) >>> 0;
    const t0 = ((q0 << 2) | 1) >>> 0;
    let ge: boolean;
    if (r2 !== t2) ge = r2 > t2;
    else if (r1 !== t1) ge = r1 > t1;
    else ge = r0 >= t0;
    // Q <<= 1
    q2 = ((q2 << 1) | (q1 >>> 31)) >>> 0;
    q1 = ((q1 << 1) | (q0 >>> 31)) >>> 0;
    q0 = (q0 << 1) >>> 0;
    if (ge) {
      let d0 = r0 - t0;
      let br = 0;
      if (d0 < 0) {
        d0 += TWO32;
        br = 1;
      }
      let d1 = r1 - t1 - br;
      br = 0;
      if (d1 < 0) {
        d1 += TWO32;
        br = 1;
      }
      r2 = r2 - t2 - br;
      r1 = d1;
      r0 = d0;
      q0 = (q0 | 1) >>> 0;
    }
  }
  const sticky = r2 !== 0 || r1 !== 0 || r0 !== 0 ? 1 : 0;
  // Q has 66 bits in q2(2):q1:q0; left-align into 96 bits (shift by 30).
  zSign = 0;
  zExp = (e - 63 - s) / 2 + 65;
  zHi = ((q2 << 30) | (q1 >>> 2)) >>> 0;
  zLo = ((q1 << 30) | (q0 >>> 2)) >>> 0;
  zX = ((q0 << 30) | sticky) >>> 0;
}

/** Bit k (0 = most significant) of the 64-bit m (beyond 63 and below 0: zero). */
function nBit(hi: number, lo: number, k: number): number {
  if (k < 0 || k > 63) return 0;
  return k < 32 ? (hi >>> (31 - k)) & 1 : (lo >>> (63 - k)) & 1;
}

// ---------------------------------------------------------------- integers

// Outputs of roundToInt: magnitude iHi:iLo, iBig (the magnitude is >= 2^64).
export let iHi = 0;
export let iLo = 0;
export let iBig = 0;
export let iInexact = 0;
export let iUp = 0;

/**
 * Rounds a finite normalized value to an integer in mode rc: magnitude in iHi:iLo (iBig when it
 * does not fit 64 bits), iInexact, iUp (magnitude incremented).
 */
export function roundToInt(sign: number, exp: number, hi: number, lo: number, rc: number): void {
  iBig = 0;
  iInexact = 0;
  iUp = 0;
  if (exp >= 64) {
    iBig = 1;
    iHi = 0;
    iLo = 0;
    return;
  }
  if (exp >= 63) {
    iHi = hi;
    iLo = lo;
    return;
  }
  if (exp < -1) {
    // |x| < 1/2: 0, or 1 when rounding away from zero in a directed mode.
    iInexact = 1;
    iHi = 0;
    const away = (rc === RC_UP && sign === 0) || (rc === RC_DOWN && sign !== 0);
    iLo = away ? 1 : 0;
    iUp = away ? 1 : 0;
    return;
  }
  // Integer part: top (exp + 1) bits; p = exp + 1 in 0..63, round as a p-bit significand.
  if (exp === -1) {
    // In [1/2, 1): round 0.1xxx at p = 0: treat as 65-bit with a leading zero.
    shr96Jam(hi, lo, 0, 1);
    roundSig(sign, s0, s1, s2, 1, rc);
    iHi = 0;
    iLo = rHi !== 0 || rCarry !== 0 ? 1 : 0;
    iInexact = rInexact;
    iUp = rUp;
    return;
  }
  const p = exp + 1;
  roundSig(sign, hi, lo, 0, p, rc);
  iInexact = rInexact;
  iUp = rUp;
  // Shift the rounded significand right by 64 - p (a carry makes it 2^p).
  if (rCarry !== 0) {
    if (p === 64) {
      iBig = 1;
      iHi = 0;
      iLo = 0;
      return;
    }
    setPow2(p);
    return;
  }
  const sh = 64 - p;
  if (sh >= 32) {
    iHi = 0;
    iLo = rHi >>> (sh - 32);
  } else {
    iHi = rHi >>> sh;
    iLo = ((rLo >>> sh) | (rHi << (32 - sh))) >>> 0;
  }
}

function setPow2(p: number): void {
  if (p >= 32) {
    iHi = 2 ** (p - 32);
    iLo = 0;
  } else {
    iHi = 0;
    iLo = 2 ** p;
  }
}

/** Unpacks a 64-bit two's-complement integer (hi signed or unsigned, lo unsigned) into `a`. */
export function unpackInt64(a: Unpacked, lo: number, hi: number): Unpacked {
  lo >>>= 0;
  hi >>>= 0;
  let sign = 0;
  if (hi >= 0x80000000) {
    sign = 1;
    // negate
    lo = (TWO32 - lo) % TWO32;
    hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
  }
  if (hi === 0 && lo === 0) return a.set(CLS_ZERO, 0, 0, 0, 0);
  const n = clz64(hi, lo);
  shl96(hi, lo, 0, n);
  return a.set(CLS_NORMAL, sign, 63 - n, s0, s1);
}

/** Unpacks a 32-bit signed integer into `a`. */
export function unpackInt32(a: Unpacked, v: number): Unpacked {
  v |= 0;
  if (v === 0) return a.set(CLS_ZERO, 0, 0, 0, 0);
  const sign = v < 0 ? 1 : 0;
  const m = sign !== 0 ? -v : v; // up to 2^31, exact
  const n = Math.clz32(m);
  return a.set(CLS_NORMAL, sign, 31 - n, (m * 2 ** n) >>> 0, 0);
}

// ---------------------------------------------------------------- comparisons

export const CMP_LT = 0;
export const CMP_EQ = 1;
export const CMP_GT = 2;
export const CMP_UN = 3;

/** Compares two non-NaN unpacked values (zeros of either sign equal). */
export function compareOrdered(a: Unpacked, b: Unpacked): number {
  if (a.cls === CLS_ZERO && b.cls === CLS_ZERO) return CMP_EQ;
  if (a.sign !== b.sign) return a.sign !== 0 ? CMP_LT : CMP_GT;
  // Same sign: compare magnitudes (zero < finite < inf).
  const m = compareMag(a, b);
  if (m === 0) return CMP_EQ;
  return (m < 0) !== (a.sign !== 0) ? CMP_LT : CMP_GT;
}

/** -1, 0 or 1 as |a| <, =, > |b| for non-NaN values. */
export function compareMag(a: Unpacked, b: Unpacked): number {
  const ra = a.cls === CLS_ZERO ? 0 : a.cls === CLS_INF ? 2 : 1;
  const rb = b.cls === CLS_ZERO ? 0 : b.cls === CLS_INF ? 2 : 1;
  if (ra !== rb) return ra < rb ? -1 : 1;
  if (ra !== 1) return 0;
  if (a.exp !== b.exp) return a.exp < b.exp ? -1 : 1;
  if (a.hi !== b.hi) return a.hi < b.hi ? -1 : 1;
  if (a.lo !== b.lo) return a.lo < b.lo ? -1 : 1;
  return 0;
}
