/**
 * Packed and scalar binary32/binary64 arithmetic of SSE, SSE2, SSE3 and SSE4.1 on the XMM
 * register file, element by element through the IEEE core (`ieee-binary.ts`).
 *
 * Every operation is an `SseFpOp`: it builds the complete 128-bit result in XMM_RES (the
 * lanes it does not compute copied from DEST) and returns the exception flags to OR into
 * MXCSR. The caller commits XMM_RES to DEST only when no returned flag is unmasked;
 * otherwise it raises #XM (or #UD) and DEST stays as it was, as the SDM requires.
 *
 * Flags follow SDM Vol. 1 §11.5.2: the pre-computation exceptions (invalid, denormal,
 * divide-by-zero) of all elements are checked first; when one of them is unmasked the
 * post-computation ones (overflow, underflow, precision) are not reported at all.
 */
import {
  CMP_EQ, CMP_GT, CMP_LT, CMP_UN, MXCSR_DAZ, f32Add, f32Compare, f32Div, f32Mul, f32RoundInt, f32Sqrt, f32Sub, f32ToF64, f32ToInt,
  f64Add, f64Compare, f64Div, f64Mul, f64RoundInt, f64Sqrt, f64Sub, f64ToF32, f64ToInt, intToF32, intToF64, cvt,
} from './ieee-binary.js';
import { XMM_RES, XMM_TMP, type XmmFile } from './simd-file.js';

export type SseFpOp = (x: XmmFile, d: number, s: number, imm: number, mxcsr: number) => number;
type Bin = (d: Int32Array, di: number, a: Int32Array, ai: number, b: Int32Array, bi: number, mxcsr: number) => number;

const FLAG_DE = 0x02;
/** Invalid, denormal, divide-by-zero: detected before computing. */
export const FLAGS_PRE = 0x07;
/** Overflow, underflow, precision: detected on the result. */
export const FLAGS_POST = 0x38;

/** The MXCSR exception bits that are unmasked. */
export const unmasked = (mxcsr: number): number => ~(mxcsr >>> 7) & 0x3f;

/** The flags an instruction reports, given its elements' pre- and post-computation flags. */
function finish(pre: number, post: number, mxcsr: number): number {
  return (pre & unmasked(mxcsr)) !== 0 ? pre : pre | post;
}

// ---------------------------------------------------------------- element loops

function packed32(fn: Bin, x: XmmFile, d: number, s: number, mxcsr: number): number {
  const i = x.i32;
  const r = XMM_RES * 4;
  let pre = 0;
  let post = 0;
  for (let k = 0; k < 4; k++) {
    const f = fn(i, r + k, i, d * 4 + k, i, s * 4 + k, mxcsr);
    pre |= f & FLAGS_PRE;
    post |= f & FLAGS_POST;
  }
  return finish(pre, post, mxcsr);
}
function packed64(fn: Bin, x: XmmFile, d: number, s: number, mxcsr: number): number {
  const i = x.i32;
  const r = XMM_RES * 4;
  const f0 = fn(i, r, i, d * 4, i, s * 4, mxcsr);
  const f1 = fn(i, r + 2, i, d * 4 + 2, i, s * 4 + 2, mxcsr);
  return finish((f0 | f1) & FLAGS_PRE, (f0 | f1) & FLAGS_POST, mxcsr);
}
function scalar32(fn: Bin, x: XmmFile, d: number, s: number, mxcsr: number): number {
  x.copy(XMM_RES, d);
  const i = x.i32;
  const f = fn(i, XMM_RES * 4, i, d * 4, i, s * 4, mxcsr);
  return finish(f & FLAGS_PRE, f & FLAGS_POST, mxcsr);
}
function scalar64(fn: Bin, x: XmmFile, d: number, s: number, mxcsr: number): number {
  x.copy(XMM_RES, d);
  const i = x.i32;
  const f = fn(i, XMM_RES * 4, i, d * 4, i, s * 4, mxcsr);
  return finish(f & FLAGS_PRE, f & FLAGS_POST, mxcsr);
}

export const addps: SseFpOp = (x, d, s, _i, m) => packed32(f32Add, x, d, s, m);
export const subps: SseFpOp = (x, d, s, _i, m) => packed32(f32Sub, x, d, s, m);
export const mulps: SseFpOp = (x, d, s, _i, m) => packed32(f32Mul, x, d, s, m);
export const divps: SseFpOp = (x, d, s, _i, m) => packed32(f32Div, x, d, s, m);
export const addpd: SseFpOp = (x, d, s, _i, m) => packed64(f64Add, x, d, s, m);
export const subpd: SseFpOp = (x, d, s, _i, m) => packed64(f64Sub, x, d, s, m);
export const mulpd: SseFpOp = (x, d, s, _i, m) => packed64(f64Mul, x, d, s, m);
export const divpd: SseFpOp = (x, d, s, _i, m) => packed64(f64Div, x, d, s, m);
export const addss: SseFpOp = (x, d, s, _i, m) => scalar32(f32Add, x, d, s, m);
export const subss: SseFpOp = (x, d, s, _i, m) => scalar32(f32Sub, x, d, s, m);
export const mulss: SseFpOp = (x, d, s, _i, m) => scalar32(f32Mul, x, d, s, m);
export const divss: SseFpOp = (x, d, s, _i, m) => scalar32(f32Div, x, d, s, m);
export const addsd: SseFpOp = (x, d, s, _i, m) => scalar64(f64Add, x, d, s, m);
export const subsd: SseFpOp = (x, d, s, _i, m) => scalar64(f64Sub, x, d, s, m);
export const mulsd: SseFpOp = (x, d, s, _i, m) => scalar64(f64Mul, x, d, s, m);
export const divsd: SseFpOp = (x, d, s, _i, m) => scalar64(f64Div, x, d, s, m);

/**
 * MIN/MAX: DEST when it compares less (greater), otherwise SRC (also for NaNs and for two
 * zeros); any NaN is invalid. With DAZ the denormal copied out is flushed to a signed zero
 * too, not only compared as one.
 */
function minMax32(d: Int32Array, di: number, a: Int32Array, ai: number, b: Int32Array, bi: number, m: number, max: boolean): number {
  const c = f32Compare(a, ai, b, bi, m, true);
  const code = c & 3;
  let v = (max ? code === CMP_GT : code === CMP_LT) ? a[ai]! : b[bi]!;
  if ((m & MXCSR_DAZ) !== 0 && (v & 0x7f800000) === 0) v &= 0x80000000;
  d[di] = v;
  return c >> 2;
}
function minMax64(d: Int32Array, di: number, a: Int32Array, ai: number, b: Int32Array, bi: number, m: number, max: boolean): number {
  const c = f64Compare(a, ai, b, bi, m, true);
  const code = c & 3;
  const useA = max ? code === CMP_GT : code === CMP_LT;
  const lo = useA ? a[ai]! : b[bi]!;
  const hi = useA ? a[ai + 1]! : b[bi + 1]!;
  const flush = (m & MXCSR_DAZ) !== 0 && (hi & 0x7ff00000) === 0;
  d[di] = flush ? 0 : lo;
  d[di + 1] = flush ? hi & 0x80000000 : hi;
  return c >> 2;
}
const min32: Bin = (d, di, a, ai, b, bi, m) => minMax32(d, di, a, ai, b, bi, m, false);
const max32: Bin = (d, di, a, ai, b, bi, m) => minMax32(d, di, a, ai, b, bi, m, true);
const min64: Bin = (d, di, a, ai, b, bi, m) => minMax64(d, di, a, ai, b, bi, m, false);
const max64: Bin = (d, di, a, ai, b, bi, m) => minMax64(d, di, a, ai, b, bi, m, true);
export const minps: SseFpOp = (x, d, s, _i, m) => packed32(min32, x, d, s, m);
export const maxps: SseFpOp = (x, d, s, _i, m) => packed32(max32, x, d, s, m);
export const minpd: SseFpOp = (x, d, s, _i, m) => packed64(min64, x, d, s, m);
export const maxpd: SseFpOp = (x, d, s, _i, m) => packed64(max64, x, d, s, m);
export const minss: SseFpOp = (x, d, s, _i, m) => scalar32(min32, x, d, s, m);
export const maxss: SseFpOp = (x, d, s, _i, m) => scalar32(max32, x, d, s, m);
export const minsd: SseFpOp = (x, d, s, _i, m) => scalar64(min64, x, d, s, m);
export const maxsd: SseFpOp = (x, d, s, _i, m) => scalar64(max64, x, d, s, m);

// Unary operations read only the source (the b operand of the element loops).
const sqrt32: Bin = (d, di, _a, _ai, b, bi, m) => f32Sqrt(d, di, b, bi, m);
const sqrt64: Bin = (d, di, _a, _ai, b, bi, m) => f64Sqrt(d, di, b, bi, m);
export const sqrtps: SseFpOp = (x, d, s, _i, m) => packed32(sqrt32, x, d, s, m);
export const sqrtpd: SseFpOp = (x, d, s, _i, m) => packed64(sqrt64, x, d, s, m);
export const sqrtss: SseFpOp = (x, d, s, _i, m) => scalar32(sqrt32, x, d, s, m);
export const sqrtsd: SseFpOp = (x, d, s, _i, m) => scalar64(sqrt64, x, d, s, m);

/** ROUNDPS/PD/SS/SD: the immediate is passed through a closure-free module slot. */
let roundImm = 0;
// ROUND* never report a denormal operand (SDM: only invalid and precision).
const round32: Bin = (d, di, _a, _ai, b, bi, m) => f32RoundInt(d, di, b, bi, roundImm, m) & ~FLAG_DE;
const round64: Bin = (d, di, _a, _ai, b, bi, m) => f64RoundInt(d, di, b, bi, roundImm, m) & ~FLAG_DE;
export const roundps: SseFpOp = (x, d, s, imm, m) => ((roundImm = imm), packed32(round32, x, d, s, m));
export const roundpd: SseFpOp = (x, d, s, imm, m) => ((roundImm = imm), packed64(round64, x, d, s, m));
export const roundss: SseFpOp = (x, d, s, imm, m) => ((roundImm = imm), scalar32(round32, x, d, s, m));
export const roundsd: SseFpOp = (x, d, s, imm, m) => ((roundImm = imm), scalar64(round64, x, d, s, m));

// ---------------------------------------------------------------- compares

/** CMPPS predicate (imm & 7) from a compare code (CMP_LT/EQ/GT/UN); signalling predicates are 1, 2, 5, 6. */
function predicate(imm: number, c: number): boolean {
  switch (imm & 7) {
    case 0: return c === CMP_EQ;
    case 1: return c === CMP_LT;
    case 2: return c === CMP_LT || c === CMP_EQ;
    case 3: return c === CMP_UN;
    case 4: return c !== CMP_EQ;
    case 5: return c !== CMP_LT;
    case 6: return !(c === CMP_LT || c === CMP_EQ);
    default: return c !== CMP_UN;
  }
}
const signals = (imm: number): boolean => ((0x66 >> (imm & 7)) & 1) !== 0;

function cmp32(x: XmmFile, d: number, s: number, imm: number, mxcsr: number, lanes: number): number {
  x.copy(XMM_RES, d);
  const i = x.i32;
  let f = 0;
  for (let k = 0; k < lanes; k++) {
    const c = f32Compare(i, d * 4 + k, i, s * 4 + k, mxcsr, signals(imm));
    f |= c >> 2;
    i[XMM_RES * 4 + k] = predicate(imm, c & 3) ? -1 : 0;
  }
  return f;
}
function cmp64(x: XmmFile, d: number, s: number, imm: number, mxcsr: number, lanes: number): number {
  x.copy(XMM_RES, d);
  const i = x.i32;
  let f = 0;
  for (let k = 0; k < lanes; k++) {
    const c = f64Compare(i, d * 4 + 2 * k, i, s * 4 + 2 * k, mxcsr, signals(imm));
    f |= c >> 2;
    const v = predicate(imm, c & 3) ? -1 : 0;
    i[XMM_RES * 4 + 2 * k] = v;
    i[XMM_RES * 4 + 2 * k + 1] = v;
  }
  return f;
}
export const cmpps: SseFpOp = (x, d, s, imm, m) => cmp32(x, d, s, imm, m, 4);
export const cmpss: SseFpOp = (x, d, s, imm, m) => cmp32(x, d, s, imm, m, 1);
export const cmppd: SseFpOp = (x, d, s, imm, m) => cmp64(x, d, s, imm, m, 2);
export const cmpsd: SseFpOp = (x, d, s, imm, m) => cmp64(x, d, s, imm, m, 1);

/**
 * COMISS/UCOMISS/COMISD/UCOMISD: the compare code (CMP_LT/EQ/GT/UN) | flags << 2; the caller
 * maps the code to ZF/PF/CF (unordered 111, greater 000, less 001, equal 100).
 */
export function comi(x: XmmFile, d: number, s: number, double: boolean, signal: boolean, mxcsr: number): number {
  const i = x.i32;
  return double ? f64Compare(i, d * 4, i, s * 4, mxcsr, signal) : f32Compare(i, d * 4, i, s * 4, mxcsr, signal);
}
export { CMP_EQ, CMP_LT, CMP_UN };

// ---------------------------------------------------------------- horizontal (SSE3)

/** r[k] = fn(a[ai], b[bi]) for four element pairs given as register/lane positions. */
function four32(x: XmmFile, fn0: Bin, fn1: Bin, a0: number, b0: number, a1: number, b1: number, a2: number, b2: number, a3: number, b3: number, mxcsr: number): number {
  const i = x.i32;
  const r = XMM_RES * 4;
  const f = fn0(i, r, i, a0, i, b0, mxcsr) | fn1(i, r + 1, i, a1, i, b1, mxcsr) | fn0(i, r + 2, i, a2, i, b2, mxcsr) | fn1(i, r + 3, i, a3, i, b3, mxcsr);
  return finish(f & FLAGS_PRE, f & FLAGS_POST, mxcsr);
}
function two64(x: XmmFile, fn0: Bin, fn1: Bin, a0: number, b0: number, a1: number, b1: number, mxcsr: number): number {
  const i = x.i32;
  const r = XMM_RES * 4;
  const f = fn0(i, r, i, a0, i, b0, mxcsr) | fn1(i, r + 2, i, a1, i, b1, mxcsr);
  return finish(f & FLAGS_PRE, f & FLAGS_POST, mxcsr);
}
export const haddps: SseFpOp = (x, d, s, _i, m) => four32(x, f32Add, f32Add, d * 4, d * 4 + 1, d * 4 + 2, d * 4 + 3, s * 4, s * 4 + 1, s * 4 + 2, s * 4 + 3, m);
export const hsubps: SseFpOp = (x, d, s, _i, m) => four32(x, f32Sub, f32Sub, d * 4, d * 4 + 1, d * 4 + 2, d * 4 + 3, s * 4, s * 4 + 1, s * 4 + 2, s * 4 + 3, m);
export const addsubps: SseFpOp = (x, d, s, _i, m) => four32(x, f32Sub, f32Add, d * 4, s * 4, d * 4 + 1, s * 4 + 1, d * 4 + 2, s * 4 + 2, d * 4 + 3, s * 4 + 3, m);
export const haddpd: SseFpOp = (x, d, s, _i, m) => two64(x, f64Add, f64Add, d * 4, d * 4 + 2, s * 4, s * 4 + 2, m);
export const hsubpd: SseFpOp = (x, d, s, _i, m) => two64(x, f64Sub, f64Sub, d * 4, d * 4 + 2, s * 4, s * 4 + 2, m);
export const addsubpd: SseFpOp = (x, d, s, _i, m) => two64(x, f64Sub, f64Add, d * 4, s * 4, d * 4 + 2, s * 4 + 2, m);

// ---------------------------------------------------------------- dot products (SSE4.1)

/**
 * DPPS: products of the lanes selected by imm[7:4] (+0.0 elsewhere), summed as
 * (p0 + p1) + (p2 + p3) with each step rounded, broadcast to the lanes in imm[3:0].
 * Exceptions are taken stage by stage (the multiplies, the pair sums, the final sum), each
 * stage with the packed-operation rule: an unmasked exception ends the instruction at its
 * stage and the later stages are never evaluated (checked against the host CPU).
 */
export function dpps(x: XmmFile, d: number, s: number, imm: number, mxcsr: number): number {
  const i = x.i32;
  const t = XMM_TMP * 4;
  const um = unmasked(mxcsr);
  let pre = 0;
  let post = 0;
  for (let k = 0; k < 4; k++) {
    if ((imm >> (4 + k)) & 1) {
      const g = f32Mul(i, t + k, i, d * 4 + k, i, s * 4 + k, mxcsr);
      pre |= g & FLAGS_PRE;
      post |= g & FLAGS_POST;
    } else i[t + k] = 0;
  }
  let f = finish(pre, post, mxcsr);
  if ((f & um) !== 0) return f;
  const g0 = f32Add(i, t, i, t, i, t + 1, mxcsr);
  const g1 = f32Add(i, t + 2, i, t + 2, i, t + 3, mxcsr);
  f |= finish((g0 | g1) & FLAGS_PRE, (g0 | g1) & FLAGS_POST, mxcsr);
  if ((f & um) !== 0) return f;
  const g2 = f32Add(i, t, i, t, i, t + 2, mxcsr);
  f |= finish(g2 & FLAGS_PRE, g2 & FLAGS_POST, mxcsr);
  const sum = i[t]!;
  for (let k = 0; k < 4; k++) i[XMM_RES * 4 + k] = (imm >> k) & 1 ? sum : 0;
  return f;
}
export function dppd(x: XmmFile, d: number, s: number, imm: number, mxcsr: number): number {
  const i = x.i32;
  const t = XMM_TMP * 4;
  let g = 0;
  for (let k = 0; k < 2; k++) {
    if ((imm >> (4 + k)) & 1) g |= f64Mul(i, t + 2 * k, i, d * 4 + 2 * k, i, s * 4 + 2 * k, mxcsr);
    else {
      i[t + 2 * k] = 0;
      i[t + 2 * k + 1] = 0;
    }
  }
  let f = finish(g & FLAGS_PRE, g & FLAGS_POST, mxcsr);
  if ((f & unmasked(mxcsr)) !== 0) return f;
  g = f64Add(i, t, i, t, i, t + 2, mxcsr);
  f |= finish(g & FLAGS_PRE, g & FLAGS_POST, mxcsr);
  const lo = i[t]!;
  const hi = i[t + 1]!;
  const r = XMM_RES * 4;
  for (let k = 0; k < 2; k++) {
    const on = (imm >> k) & 1;
    i[r + 2 * k] = on ? lo : 0;
    i[r + 2 * k + 1] = on ? hi : 0;
  }
  return f;
}

// ---------------------------------------------------------------- conversions

const cvtF32F64: Bin = (d, di, _a, _ai, b, bi, m) => f32ToF64(d, di, b, bi, m);
const cvtF64F32: Bin = (d, di, _a, _ai, b, bi, m) => f64ToF32(d, di, b, bi, m);

/** CVTPS2PD: the two low singles of s widened. */
export function cvtps2pd(x: XmmFile, _d: number, s: number, _imm: number, mxcsr: number): number {
  const i = x.i32;
  const r = XMM_RES * 4;
  // Read both sources before writing: s may be XMM_RES's neighbour but never XMM_RES itself.
  const f = f32ToF64(i, r, i, s * 4, mxcsr) | f32ToF64(i, r + 2, i, s * 4 + 1, mxcsr);
  return finish(f & FLAGS_PRE, f & FLAGS_POST, mxcsr);
}
/** CVTPD2PS: two doubles narrowed into the low half, the high half zeroed. */
export function cvtpd2ps(x: XmmFile, _d: number, s: number, _imm: number, mxcsr: number): number {
  const i = x.i32;
  const r = XMM_RES * 4;
  const f = f64ToF32(i, r, i, s * 4, mxcsr) | f64ToF32(i, r + 1, i, s * 4 + 2, mxcsr);
  i[r + 2] = 0;
  i[r + 3] = 0;
  return finish(f & FLAGS_PRE, f & FLAGS_POST, mxcsr);
}
export const cvtss2sd: SseFpOp = (x, d, s, _i, m) => scalar64(cvtF32F64, x, d, s, m);
export const cvtsd2ss: SseFpOp = (x, d, s, _i, m) => scalar32(cvtF64F32, x, d, s, m);

export function cvtdq2ps(x: XmmFile, _d: number, s: number, _imm: number, mxcsr: number): number {
  const i = x.i32;
  const r = XMM_RES * 4;
  let f = 0;
  for (let k = 0; k < 4; k++) f |= intToF32(i, r + k, i[s * 4 + k]!, 0, 32, mxcsr);
  return f;
}
export function cvtdq2pd(x: XmmFile, _d: number, s: number, _imm: number, mxcsr: number): number {
  const i = x.i32;
  const r = XMM_RES * 4;
  const a = i[s * 4]!;
  const b = i[s * 4 + 1]!;
  intToF64(i, r, a, 0, 32, mxcsr);
  intToF64(i, r + 2, b, 0, 32, mxcsr);
  return 0;
}
function toInt32Packed(x: XmmFile, s: number, double: boolean, truncate: boolean, mxcsr: number): number {
  const i = x.i32;
  const r = XMM_RES * 4;
  const n = double ? 2 : 4;
  let pre = 0;
  let post = 0;
  for (let k = 0; k < n; k++) {
    const f = double ? f64ToInt(i, s * 4 + 2 * k, 32, truncate, mxcsr) : f32ToInt(i, s * 4 + k, 32, truncate, mxcsr);
    pre |= f & FLAGS_PRE;
    post |= f & FLAGS_POST;
    i[r + k] = cvt.lo;
  }
  for (let k = n; k < 4; k++) i[r + k] = 0;
  return finish(pre, post, mxcsr);
}
export const cvtps2dq: SseFpOp = (x, _d, s, _i, m) => toInt32Packed(x, s, false, false, m);
export const cvttps2dq: SseFpOp = (x, _d, s, _i, m) => toInt32Packed(x, s, false, true, m);
export const cvtpd2dq: SseFpOp = (x, _d, s, _i, m) => toInt32Packed(x, s, true, false, m);
export const cvttpd2dq: SseFpOp = (x, _d, s, _i, m) => toInt32Packed(x, s, true, true, m);

/** CVTSI2SS/SD: (lo, hi) integer of `bits` into the low element of XMM_RES (the rest from d). */
export function cvtsi2f(x: XmmFile, d: number, lo: number, hi: number, bits: number, double: boolean, mxcsr: number): number {
  x.copy(XMM_RES, d);
  const i = x.i32;
  return double ? intToF64(i, XMM_RES * 4, lo, hi, bits, mxcsr) : intToF32(i, XMM_RES * 4, lo, hi, bits, mxcsr);
}
/** CVT(T)SS2SI / CVT(T)SD2SI: the low element of s to a `bits` integer in `cvt.lo`/`cvt.hi`; returns flags. */
export function cvtf2si(x: XmmFile, s: number, bits: number, double: boolean, truncate: boolean, mxcsr: number): number {
  const i = x.i32;
  const f = double ? f64ToInt(i, s * 4, bits, truncate, mxcsr) : f32ToInt(i, s * 4, bits, truncate, mxcsr);
  return finish(f & FLAGS_PRE, f & FLAGS_POST, mxcsr);
}
export { cvt };
