/**
 * binary32 / binary64 arithmetic with SSE semantics, for the SSE/SSE2..SSE4 handlers.
 *
 * API shape (see README.md):
 *   - binary64 operands and results live in Int32Array pairs: [i] = low 32 bits, [i + 1] = high;
 *     binary32 in one Int32Array slot. `d`/`di` is the destination, `a`/`ai` the first source
 *     (the SSE destination operand), `b`/`bi` the second.
 *   - `mxcsr` supplies the rounding mode (bits 13-14), FTZ (15), DAZ (6) and the masks (7-12).
 *   - Every function returns the exception flags it raised, in MXCSR bit order (IE DE ZE OE UE
 *     PE = bits 0-5), and always writes its destination: when a returned flag is unmasked the
 *     caller must not commit the result (SSE leaves the destination unchanged and raises #XM).
 *   - NaNs follow SSE: the first NaN source (a, then b) is returned quieted; an invalid
 *     operation without NaN operands returns the default NaN (negative, quiet, zero payload).
 *   - Conversions to integers leave their result in `cvt.lo`/`cvt.hi` (the integer indefinite,
 *     0x80000000 or 0x80000000_00000000, on NaN/overflow with IE).
 * The common case (round to nearest, normal operands and result) runs on native doubles with an
 * error-free residual (TwoSum, Dekker's product) deciding the inexact flag exactly; everything
 * else goes through the exact engine in `softfloat.ts`.
 */
import {
  CLS_NAN, CLS_NORMAL, CLS_ZERO, CMP_EQ, CMP_GT, CMP_LT, CMP_UN, CTL_FTZ, F32, F64, FLAG_DE, FLAG_IE, FLAG_PE,
  Rounded, Unpacked, compareOrdered, indefiniteResult, packF32, packF64, quietNanResult, roundPack, specialResult,
  unpackF32, unpackF64, unpackInt32, unpackInt64, type Format,
} from './softfloat.js';
import { sfAdd, sfDiv, sfMul, sfRoundIntegral, sfSqrt, sfToInt, toIntHi, toIntLo } from './arith.js';

export const MXCSR_DAZ = 0x40;
export const MXCSR_FTZ = 0x8000;

const A = new Unpacked();
const B = new Unpacked();
const R = new Rounded();

// Scratch for moving doubles in and out of Int32Array pairs without allocation.
const sf64 = new Float64Array(2);
const si32 = new Int32Array(sf64.buffer);
const sf32 = new Float32Array(1);
const si32f = new Int32Array(sf32.buffer);

/** Conversion results (integers). */
export const cvt = { lo: 0, hi: 0 };

function ctlOf(mxcsr: number): number {
  return ((mxcsr >>> 7) & 0x3f) | (((mxcsr >>> 13) & 3) << 10) | ((mxcsr & MXCSR_FTZ) !== 0 ? CTL_FTZ : 0);
}

/** Applies DAZ and reports DE for a numeric operand; returns the flag to add. */
function srcFlag(u: Unpacked, mxcsr: number): number {
  if (u.denormal === 0) return 0;
  if ((mxcsr & MXCSR_DAZ) !== 0) {
    u.set(CLS_ZERO, u.sign, 0, 0, 0);
    return 0;
  }
  return FLAG_DE;
}

// ---------------------------------------------------------------- binary64

const OP_ADD = 0;
const OP_SUB = 1;
const OP_MUL = 2;
const OP_DIV = 3;

const SPLIT = 134217729; // 2^27 + 1 (Dekker)
const MIN_NORMAL64 = 2.2250738585072014e-308;
const SAFE_HI = 2 ** 960;
const SAFE_LO = 2 ** -960;

/** Exact-error residual of a*b (Dekker's TwoProduct without FMA): a*b - fl(a*b). */
function prodErr(a: number, b: number, p: number): number {
  let c = SPLIT * a;
  const ah = c - (c - a);
  const al = a - ah;
  c = SPLIT * b;
  const bh = c - (c - b);
  const bl = b - bh;
  return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

/** Fast binary64 op; returns -1 when the slow path is needed. */
function fast64(op: number, d: Int32Array, di: number, a: Int32Array, ai: number, b: Int32Array, bi: number, mxcsr: number): number {
  if ((mxcsr & 0x6000) !== 0) return -1;
  const ah = a[ai + 1]!;
  const bh = b[bi + 1]!;
  const ea = (ah >>> 20) & 0x7ff;
  const eb = (bh >>> 20) & 0x7ff;
  if (ea === 0 || ea === 0x7ff || eb === 0 || eb === 0x7ff) return -1;
  si32[0] = a[ai]!;
  si32[1] = ah;
  si32[2] = b[bi]!;
  si32[3] = bh;
  const x = sf64[0]!;
  const y = sf64[1]!;
  let r: number;
  let inexact: boolean;
  switch (op) {
    case OP_ADD:
    case OP_SUB: {
      const yy = op === OP_ADD ? y : -y;
      r = x + yy;
      const m = r < 0 ? -r : r;
      if (!(m > MIN_NORMAL64) || m === Infinity) return -1;
      const bv = r - x;
      inexact = x - (r - bv) + (yy - bv) !== 0;
      break;
    }
    case OP_MUL: {
      r = x * y;
      const m = r < 0 ? -r : r;
      if (!(m > SAFE_LO && m < SAFE_HI)) return -1;
      const mx = x < 0 ? -x : x;
      const my = y < 0 ? -y : y;
      if (!(mx > SAFE_LO && mx < SAFE_HI && my > SAFE_LO && my < SAFE_HI)) return -1;
      inexact = prodErr(x, y, r) !== 0;
      break;
    }
    default: {
      r = x / y;
      const m = r < 0 ? -r : r;
      const mx = x < 0 ? -x : x;
      const my = y < 0 ? -y : y;
      if (!(m > SAFE_LO && m < SAFE_HI && mx > SAFE_LO && mx < SAFE_HI && my > SAFE_LO && my < SAFE_HI)) return -1;
      // x - r*y is exactly representable; (x - p) is exact by Sterbenz, so compare with the error.
      const p = r * y;
      inexact = x - p !== prodErr(r, y, p);
      break;
    }
  }
  sf64[0] = r;
  d[di] = si32[0]!;
  d[di + 1] = si32[1]!;
  return inexact ? FLAG_PE : 0;
}

function nan2(out: Rounded, fmt: Format): number {
  // a (first source) wins, then b; any SNaN is invalid.
  const f = A.snan | B.snan ? FLAG_IE : 0;
  quietNanResult(out, A.cls === CLS_NAN ? A : B, fmt);
  return f;
}

function slow64(op: number, d: Int32Array, di: number, a: Int32Array, ai: number, b: Int32Array, bi: number, mxcsr: number): number {
  unpackF64(A, a[ai]!, a[ai + 1]!);
  unpackF64(B, b[bi]!, b[bi + 1]!);
  const f = binaryOp(op, R, F64, mxcsr);
  packF64(d, di, R);
  return f;
}

function binaryOp(op: number, out: Rounded, fmt: Format, mxcsr: number): number {
  if (A.cls === CLS_NAN || B.cls === CLS_NAN) return nan2(out, fmt);
  const f = srcFlag(A, mxcsr) | srcFlag(B, mxcsr);
  const ctl = ctlOf(mxcsr);
  let g: number;
  switch (op) {
    case OP_ADD:
      g = sfAdd(out, A, B, 0, fmt.prec, fmt, ctl);
      break;
    case OP_SUB:
      g = sfAdd(out, A, B, 1, fmt.prec, fmt, ctl);
      break;
    case OP_MUL:
      g = sfMul(out, A, B, fmt.prec, fmt, ctl);
      break;
    default:
      g = sfDiv(out, A, B, fmt.prec, fmt, ctl);
  }
  // An invalid operation or division by zero is detected before the denormal check; an
  // unmasked denormal operand stops the operation before any result flag.
  if ((g & (FLAG_IE | 0x04)) !== 0) return g & 0x3f;
  if ((f & ~(mxcsr >>> 7)) !== 0) return f;
  return (f | g) & 0x3f;
}

export function f64Add(d: Int32Array, di: number, a: Int32Array, ai: number, b: Int32Array, bi: number, mxcsr: number): number {
  const f = fast64(OP_ADD, d, di, a, ai, b, bi, mxcsr);
  return f >= 0 ? f : slow64(OP_ADD, d, di, a, ai, b, bi, mxcsr);
}
export function f64Sub(d: Int32Array, di: number, a: Int32Array, ai: number, b: Int32Array, bi: number, mxcsr: number): number {
  const f = fast64(OP_SUB, d, di, a, ai, b, bi, mxcsr);
  return f >= 0 ? f : slow64(OP_SUB, d, di, a, ai, b, bi, mxcsr);
}
export function f64Mul(d: Int32Array, di: number, a: Int32Array, ai: number, b: Int32Array, bi: number, mxcsr: number): number {
  const f = fast64(OP_MUL, d, di, a, ai, b, bi, mxcsr);
  return f >= 0 ? f : slow64(OP_MUL, d, di, a, ai, b, bi, mxcsr);
}
export function f64Div(d: Int32Array, di: number, a: Int32Array, ai: number, b: Int32Array, bi: number, mxcsr: number): number {
  const f = fast64(OP_DIV, d, di, a, ai, b, bi, mxcsr);
  return f >= 0 ? f : slow64(OP_DIV, d, di, a, ai, b, bi, mxcsr);
}

export function f64Sqrt(d: Int32Array, di: number, a: Int32Array, ai: number, mxcsr: number): number {
  const ah = a[ai + 1]!;
  const ea = (ah >>> 20) & 0x7ff;
  if ((mxcsr & 0x6000) === 0 && ah >= 0 && ea > 64 && ea < 0x7ff - 64) {
    si32[0] = a[ai]!;
    si32[1] = ah;
    const x = sf64[0]!;
    const r = Math.sqrt(x);
    const p = r * r;
    const inexact = p !== x || prodErr(r, r, p) !== 0;
    sf64[0] = r;
    d[di] = si32[0]!;
    d[di + 1] = si32[1]!;
    return inexact ? FLAG_PE : 0;
  }
  unpackF64(A, a[ai]!, ah);
  const f = unarySqrt(R, F64, mxcsr);
  packF64(d, di, R);
  return f;
}

function unarySqrt(out: Rounded, fmt: Format, mxcsr: number): number {
  if (A.cls === CLS_NAN) {
    quietNanResult(out, A, fmt);
    return A.snan !== 0 ? FLAG_IE : 0;
  }
  const f = srcFlag(A, mxcsr);
  const g = sfSqrt(out, A, fmt.prec, fmt, ctlOf(mxcsr));
  if ((g & FLAG_IE) !== 0) return FLAG_IE;
  if ((f & ~(mxcsr >>> 7)) !== 0) return f;
  return (f | g) & 0x3f;
}

/** MINSD (max = 0) / MAXSD (max = 1): a NaN in either source or two zeros return b unchanged. */
export function f64MinMax(d: Int32Array, di: number, a: Int32Array, ai: number, b: Int32Array, bi: number, mxcsr: number, max: number): number {
  unpackF64(A, a[ai]!, a[ai + 1]!);
  unpackF64(B, b[bi]!, b[bi + 1]!);
  let useA = false;
  let f = srcFlag(A, mxcsr) | srcFlag(B, mxcsr);
  if (A.cls === CLS_NAN || B.cls === CLS_NAN) f = FLAG_IE;
  else {
    const c = compareOrdered(A, B);
    useA = !(A.cls === CLS_ZERO && B.cls === CLS_ZERO) && (max !== 0 ? c === CMP_GT : c === CMP_LT);
  }
  // The selected source as the operation saw it (DAZ flushes a denormal to zero).
  const u = useA ? A : B;
  if (u.cls === CLS_ZERO && u.denormal === 0 && (useA ? a[ai]! | (a[ai + 1]! & 0x7fffffff) : b[bi]! | (b[bi + 1]! & 0x7fffffff)) !== 0) {
    d[di] = 0;
    d[di + 1] = u.sign << 31;
  } else if (useA) {
    d[di] = a[ai]!;
    d[di + 1] = a[ai + 1]!;
  } else {
    d[di] = b[bi]!;
    d[di + 1] = b[bi + 1]!;
  }
  return f;
}

/**
 * Compares a with b: returns CMP_LT/EQ/GT/UN (0..3) | flags << 2. `signalQnan` (COMISD, the
 * LT/LE/NLT/NLE predicates) makes any NaN invalid; otherwise only SNaNs are (UCOMISD, EQ/UNORD...).
 */
export function f64Compare(a: Int32Array, ai: number, b: Int32Array, bi: number, mxcsr: number, signalQnan: boolean): number {
  unpackF64(A, a[ai]!, a[ai + 1]!);
  unpackF64(B, b[bi]!, b[bi + 1]!);
  return compareAB(mxcsr, signalQnan);
}

function compareAB(mxcsr: number, signalQnan: boolean): number {
  if (A.cls === CLS_NAN || B.cls === CLS_NAN) {
    const inv = signalQnan || A.snan !== 0 || B.snan !== 0;
    return CMP_UN | (inv ? FLAG_IE << 2 : 0);
  }
  const f = srcFlag(A, mxcsr) | srcFlag(B, mxcsr);
  return compareOrdered(A, B) | (f << 2);
}

/**
 * ROUNDSD: round to an integral value. imm bits 0-1 the mode, bit 2 use MXCSR.RC instead, bit 3
 * suppress the precision exception.
 */
export function f64RoundInt(d: Int32Array, di: number, a: Int32Array, ai: number, imm: number, mxcsr: number): number {
  unpackF64(A, a[ai]!, a[ai + 1]!);
  const f = roundIntOp(R, F64, imm, mxcsr);
  packF64(d, di, R);
  return f;
}

function roundIntOp(out: Rounded, fmt: Format, imm: number, mxcsr: number): number {
  if (A.cls === CLS_NAN) {
    quietNanResult(out, A, fmt);
    return A.snan !== 0 ? FLAG_IE : 0;
  }
  srcFlag(A, mxcsr); // DAZ applies; ROUNDSD/ROUNDSS never report DE
  const rc = (imm & 4) !== 0 ? (mxcsr >>> 13) & 3 : imm & 3;
  let g = sfRoundIntegral(out, A, rc, fmt) & 0x3f;
  if ((imm & 8) !== 0) g &= ~FLAG_PE;
  return g;
}

/** CVTSD2SI / CVTTSD2SI (truncate = true) to a 32- or 64-bit integer, result in `cvt`. */
export function f64ToInt(a: Int32Array, ai: number, bits: number, truncate: boolean, mxcsr: number): number {
  unpackF64(A, a[ai]!, a[ai + 1]!);
  return toIntOp(bits, truncate, mxcsr);
}

function toIntOp(bits: number, truncate: boolean, mxcsr: number): number {
  let f: number;
  if (A.cls === CLS_NAN) {
    cvt.lo = bits === 64 ? 0 : 0x80000000 | 0;
    cvt.hi = bits === 64 ? 0x80000000 | 0 : 0;
    return FLAG_IE;
  }
  srcFlag(A, mxcsr); // DAZ applies; conversions to integers do not report DE
  f = sfToInt(A, truncate ? 3 : (mxcsr >>> 13) & 3, bits) & 0x3f;
  cvt.lo = toIntLo;
  cvt.hi = toIntHi;
  return f;
}

/** CVTSI2SD from a 32-bit (exact) or 64-bit integer (hi used when bits = 64). */
export function intToF64(d: Int32Array, di: number, lo: number, hi: number, bits: number, mxcsr: number): number {
  if (bits === 64) unpackInt64(A, lo, hi);
  else unpackInt32(A, lo);
  return intTo(d, di, F64, mxcsr);
}

function intTo(d: Int32Array, di: number, fmt: Format, mxcsr: number): number {
  let f = 0;
  if (A.cls === CLS_ZERO) specialResult(R, CLS_ZERO, 0, fmt);
  else f = roundPack(R, A.sign, A.exp, A.hi, A.lo, 0, fmt.prec, fmt, ctlOf(mxcsr)) & 0x3f;
  if (fmt === F64) packF64(d, di, R);
  else d[di] = packF32(R);
  return f;
}

/** CVTSD2SS: binary64 a -> binary32 d[di]. */
export function f64ToF32(d: Int32Array, di: number, a: Int32Array, ai: number, mxcsr: number): number {
  unpackF64(A, a[ai]!, a[ai + 1]!);
  const f = convertA(R, F32, mxcsr);
  d[di] = packF32(R);
  return f;
}

/** CVTSS2SD: binary32 a[ai] -> binary64 d[di..di+1]. */
export function f32ToF64(d: Int32Array, di: number, a: Int32Array, ai: number, mxcsr: number): number {
  unpackF32(A, a[ai]!);
  const f = convertA(R, F64, mxcsr);
  packF64(d, di, R);
  return f;
}

function convertA(out: Rounded, fmt: Format, mxcsr: number): number {
  if (A.cls === CLS_NAN) {
    quietNanResult(out, A, fmt);
    return A.snan !== 0 ? FLAG_IE : 0;
  }
  const f = srcFlag(A, mxcsr);
  if (A.cls !== CLS_NORMAL) {
    specialResult(out, A.cls, A.sign, fmt);
    return f;
  }
  if ((f & ~(mxcsr >>> 7)) !== 0) return f;
  return (f | roundPack(out, A.sign, A.exp, A.hi, A.lo, 0, fmt.prec, fmt, ctlOf(mxcsr))) & 0x3f;
}

// ---------------------------------------------------------------- binary32

const MIN_NORMAL32 = 1.1754943508222875e-38;
const MAX32 = 3.4028234663852886e38;

function fast32(op: number, a: number, b: number, mxcsr: number): number {
  if ((mxcsr & 0x6000) !== 0) return -1;
  const ea = (a >>> 23) & 0xff;
  const eb = (b >>> 23) & 0xff;
  if (ea === 0 || ea === 0xff || eb === 0 || eb === 0xff) return -1;
  si32f[0] = a;
  const x = sf32[0]!;
  si32f[0] = b;
  const y = sf32[0]!;
  let r: number;
  let inexact: boolean;
  // Double rounding through binary64 is innocuous for +-*/ of binary32 (53 >= 2*24 + 2).
  switch (op) {
    case OP_ADD:
    case OP_SUB: {
      const yy = op === OP_ADD ? y : -y;
      const s = x + yy;
      const bv = s - x;
      r = Math.fround(s);
      inexact = r !== s || x - (s - bv) + (yy - bv) !== 0;
      break;
    }
    case OP_MUL:
      r = Math.fround(x * y); // the double product is exact (48 bits)
      inexact = r !== x * y;
      break;
    default:
      r = Math.fround(x / y);
      inexact = r * y !== x; // exact double product of two 24-bit significands
      break;
  }
  const m = r < 0 ? -r : r;
  if (!(m > MIN_NORMAL32) || m > MAX32) return -1;
  sf32[0] = r;
  fastOut32 = si32f[0]!;
  return inexact ? FLAG_PE : 0;
}
let fastOut32 = 0;

function slow32(op: number, d: Int32Array, di: number, a: number, b: number, mxcsr: number): number {
  unpackF32(A, a);
  unpackF32(B, b);
  const f = binaryOp(op, R, F32, mxcsr);
  d[di] = packF32(R);
  return f;
}

function op32(op: number, d: Int32Array, di: number, a: Int32Array, ai: number, b: Int32Array, bi: number, mxcsr: number): number {
  const av = a[ai]!;
  const bv = b[bi]!;
  const f = fast32(op, av, bv, mxcsr);
  if (f >= 0) {
    d[di] = fastOut32;
    return f;
  }
  return slow32(op, d, di, av, bv, mxcsr);
}

export function f32Add(d: Int32Array, di: number, a: Int32Array, ai: number, b: Int32Array, bi: number, mxcsr: number): number {
  return op32(OP_ADD, d, di, a, ai, b, bi, mxcsr);
}
export function f32Sub(d: Int32Array, di: number, a: Int32Array, ai: number, b: Int32Array, bi: number, mxcsr: number): number {
  return op32(OP_SUB, d, di, a, ai, b, bi, mxcsr);
}
export function f32Mul(d: Int32Array, di: number, a: Int32Array, ai: number, b: Int32Array, bi: number, mxcsr: number): number {
  return op32(OP_MUL, d, di, a, ai, b, bi, mxcsr);
}
export function f32Div(d: Int32Array, di: number, a: Int32Array, ai: number, b: Int32Array, bi: number, mxcsr: number): number {
  return op32(OP_DIV, d, di, a, ai, b, bi, mxcsr);
}

export function f32Sqrt(d: Int32Array, di: number, a: Int32Array, ai: number, mxcsr: number): number {
  const av = a[ai]!;
  const ea = (av >>> 23) & 0xff;
  if ((mxcsr & 0x6000) === 0 && av >= 0 && ea !== 0 && ea !== 0xff) {
    si32f[0] = av;
    const x = sf32[0]!;
    const r = Math.fround(Math.sqrt(x));
    sf32[0] = r;
    d[di] = si32f[0]!;
    return r * r !== x ? FLAG_PE : 0;
  }
  unpackF32(A, av);
  const f = unarySqrt(R, F32, mxcsr);
  d[di] = packF32(R);
  return f;
}

/** MINSS (max = 0) / MAXSS (max = 1). */
export function f32MinMax(d: Int32Array, di: number, a: Int32Array, ai: number, b: Int32Array, bi: number, mxcsr: number, max: number): number {
  unpackF32(A, a[ai]!);
  unpackF32(B, b[bi]!);
  let useA = false;
  let f = srcFlag(A, mxcsr) | srcFlag(B, mxcsr);
  if (A.cls === CLS_NAN || B.cls === CLS_NAN) f = FLAG_IE;
  else {
    const c = compareOrdered(A, B);
    useA = !(A.cls === CLS_ZERO && B.cls === CLS_ZERO) && (max !== 0 ? c === CMP_GT : c === CMP_LT);
  }
  const u = useA ? A : B;
  const bits = useA ? a[ai]! : b[bi]!;
  d[di] = u.cls === CLS_ZERO && (bits & 0x7fffffff) !== 0 ? u.sign << 31 : bits;
  return f;
}

export function f32Compare(a: Int32Array, ai: number, b: Int32Array, bi: number, mxcsr: number, signalQnan: boolean): number {
  unpackF32(A, a[ai]!);
  unpackF32(B, b[bi]!);
  return compareAB(mxcsr, signalQnan);
}

export function f32RoundInt(d: Int32Array, di: number, a: Int32Array, ai: number, imm: number, mxcsr: number): number {
  unpackF32(A, a[ai]!);
  const f = roundIntOp(R, F32, imm, mxcsr);
  d[di] = packF32(R);
  return f;
}

export function f32ToInt(a: Int32Array, ai: number, bits: number, truncate: boolean, mxcsr: number): number {
  unpackF32(A, a[ai]!);
  return toIntOp(bits, truncate, mxcsr);
}

/** CVTSI2SS from a 32- or 64-bit integer. */
export function intToF32(d: Int32Array, di: number, lo: number, hi: number, bits: number, mxcsr: number): number {
  if (bits === 64) unpackInt64(A, lo, hi);
  else unpackInt32(A, lo);
  return intTo(d, di, F32, mxcsr);
}

/** The default NaN of a format, for callers building results by hand. */
export function defaultNan64(d: Int32Array, di: number): void {
  indefiniteResult(R, F64);
  packF64(d, di, R);
}

export { CMP_EQ, CMP_GT, CMP_LT, CMP_UN };
