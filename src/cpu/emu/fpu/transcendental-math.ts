/**
 * High-precision real arithmetic for the x87 transcendentals (a rare slow path, so BigInt is
 * fine here): numbers are (-1)^s * m * 2^e with a BigInt m, results carry about 200 correct
 * bits. Series are arranged as "exact leading term + small correction" (sin r = r + r^3 Q, ...)
 * so that a result just below or above a representable number rounds the right way in every
 * rounding mode; `inexact` results are jammed with a sticky bit before the final rounding.
 *
 * Argument reduction for FSIN/FCOS/FSINCOS/FPTAN uses the x87's own 66-bit approximation of pi
 * (as Intel and AMD hardware do, and as the SDM's accuracy statement assumes): r = x - k*P/2
 * exactly, with P = 0x3243F6A8885A308D3 / 2^64.
 */

export interface Big {
  s: number;
  m: bigint;
  e: number;
}

/** Working precision of series and quotients (bits). */
const WP = 208;
const ONE = 1n << BigInt(WP);

export function big(s: number, m: bigint, e: number): Big {
  return { s, m, e };
}

export function bitLength(m: bigint): number {
  if (m === 0n) return 0;
  const h = m.toString(16);
  return (h.length - 1) * 4 + (32 - Math.clz32(parseInt(h[0]!, 16)));
}

/** Truncates m to at most `bits` bits, jamming the lost bits into the lowest kept one. */
export function trim(a: Big, bits = WP): Big {
  const n = bitLength(a.m);
  if (n <= bits) return a;
  const sh = BigInt(n - bits);
  let m = a.m >> sh;
  if ((m << sh) !== a.m) m |= 1n;
  return { s: a.s, m, e: a.e + (n - bits) };
}

export function mul(a: Big, b: Big): Big {
  return trim({ s: a.s ^ b.s, m: a.m * b.m, e: a.e + b.e });
}

export function neg(a: Big): Big {
  return { s: a.s ^ 1, m: a.m, e: a.e };
}

export function add(a: Big, b: Big): Big {
  if (a.m === 0n) return b;
  if (b.m === 0n) return a;
  // Align to the smaller exponent, but never shift by more than needed for WP bits + guard.
  const la = bitLength(a.m) + a.e;
  const lb = bitLength(b.m) + b.e;
  const top = Math.max(la, lb);
  const floor = top - WP - 8;
  let x = a;
  let y = b;
  if (x.e < floor) x = jamTo(x, floor);
  if (y.e < floor) y = jamTo(y, floor);
  const e = Math.min(x.e, y.e);
  const xm = x.m << BigInt(x.e - e);
  const ym = y.m << BigInt(y.e - e);
  const v = (x.s === 0 ? xm : -xm) + (y.s === 0 ? ym : -ym);
  return trim(v < 0n ? { s: 1, m: -v, e } : { s: 0, m: v, e });
}

/** Re-expresses a at exponent e (>= a.e), jamming the lost bits. */
function jamTo(a: Big, e: number): Big {
  const sh = BigInt(e - a.e);
  let m = a.m >> sh;
  if ((m << sh) !== a.m || (m === 0n && a.m !== 0n)) m |= 1n;
  return { s: a.s, m, e };
}

export function sub(a: Big, b: Big): Big {
  return add(a, neg(b));
}

/** a / b to WP bits, jammed when inexact. */
export function div(a: Big, b: Big): Big {
  const sh = WP + 2 + bitLength(b.m) - bitLength(a.m);
  const num = sh >= 0 ? a.m << BigInt(sh) : a.m >> BigInt(-sh);
  let q = num / b.m;
  if (q * b.m !== num) q |= 1n;
  return trim({ s: a.s ^ b.s, m: q, e: a.e - sh - b.e });
}

/** Fixed-point value (scale 2^WP) of a number with |a| < 2^20. */
function toFixed(a: Big): bigint {
  const sh = a.e + WP;
  const v = sh >= 0 ? a.m << BigInt(sh) : a.m >> BigInt(-sh);
  return a.s === 0 ? v : -v;
}

function fromFixed(v: bigint): Big {
  return trim(v < 0n ? { s: 1, m: -v, e: -WP } : { s: 0, m: v, e: -WP });
}

export function fromInt(n: number): Big {
  return n < 0 ? { s: 1, m: BigInt(-n), e: 0 } : { s: 0, m: BigInt(n), e: 0 };
}

export function isZero(a: Big): boolean {
  return a.m === 0n;
}

// ---------------------------------------------------------------- constants

let piFix: bigint | null = null;
let ln2Fix: bigint | null = null;

/** atan(1/n) in fixed point (Machin terms). */
function atanInv(n: bigint, scale: bigint): bigint {
  let sum = 0n;
  let term = scale / n;
  const n2 = n * n;
  for (let k = 1n; term !== 0n; k += 2n) {
    sum += (k & 2n) === 0n ? term / k : -(term / k);
    term /= n2;
  }
  return sum;
}

/** pi in fixed point, scale 2^WP (computed once, with 32 guard bits). */
export function piFixed(): bigint {
  if (piFix === null) {
    const scale = 1n << BigInt(WP + 32);
    piFix = (16n * atanInv(5n, scale) - 4n * atanInv(239n, scale)) >> 32n;
  }
  return piFix;
}

/** ln 2 in fixed point, scale 2^WP: 2 atanh(1/3). */
export function ln2Fixed(): bigint {
  if (ln2Fix === null) {
    const scale = 1n << BigInt(WP + 32);
    let sum = 0n;
    let term = scale / 3n;
    for (let k = 1n; term !== 0n; k += 2n) {
      sum += term / k;
      term /= 9n;
    }
    ln2Fix = (2n * sum) >> 32n;
  }
  return ln2Fix;
}

export function piBig(): Big {
  return fromFixed(piFixed());
}

/** The x87's 66-bit pi: 0x3243F6A8885A308D3 * 2^-64. */
export const PI66: Big = { s: 0, m: 0x3243f6a8885a308d3n, e: -64 };

// ---------------------------------------------------------------- series

/**
 * sum_k c_k u^k in fixed point (scale 2^WP) with c_0 = n0/d0 and each next term obtained from
 * the previous power by `next(k, power)`; stops when the term vanishes.
 */
function seriesFixed(u: bigint, term0: bigint, next: (k: number, t: bigint) => bigint): bigint {
  let sum = term0;
  let t = term0;
  for (let k = 1; k < 400; k++) {
    t = next(k, (t * u) / ONE);
    if (t === 0n) break;
    sum += t;
  }
  return sum;
}

/** sin r = r + r^3 * Qs(r^2), Qs = sum_k (-1)^(k+1) u^k / (2k+3)!. |r| <= 1. */
export function sinSmall(r: Big): Big {
  if (isZero(r)) return r;
  const r2 = mul(r, r);
  const u = toFixed(r2);
  const q = seriesFixed(u, -ONE / 6n, (k, t) => -t / BigInt((2 * k + 2) * (2 * k + 3)));
  return add(r, mul(mul(r2, r), fromFixed(q)));
}

/** cos r = 1 + r^2 * Qc(r^2), Qc = sum_k (-1)^(k+1) u^k / (2k+2)!. */
export function cosSmall(r: Big): Big {
  const one = fromInt(1);
  if (isZero(r)) return one;
  const r2 = mul(r, r);
  const u = toFixed(r2);
  const q = seriesFixed(u, -ONE / 2n, (k, t) => -t / BigInt((2 * k + 1) * (2 * k + 2)));
  return add(one, mul(r2, fromFixed(q)));
}

/** sum_k s^k u^k / (2k+3) (s = -1 for atan, +1 for atanh), for small u. */
function oddSeries(u: bigint, alternate: boolean): bigint {
  let sum = 0n;
  let p = ONE;
  for (let k = 0; k < 400; k++) {
    const t = p / BigInt(2 * k + 3);
    if (t === 0n) break;
    sum += alternate && (k & 1) === 0 ? -t : t;
    p = (p * u) / ONE;
  }
  return sum;
}

/**
 * Reduces x (finite, |x| < 2^63) modulo P/2 with the 66-bit pi: returns the quadrant (k mod 4)
 * and r = x - k*P/2 (exact), |r| <= P/4.
 */
export function reduceTrig(x: Big): { q: number; r: Big } {
  // Work in units of 2^E where E = min(x.e, -65) so both x and P/2 are integers.
  const E = Math.min(x.e, -65);
  const X = x.m << BigInt(x.e - E);
  const H = PI66.m << BigInt(-65 - E); // P/2 in units of 2^E (P/2 = m * 2^-65)
  // k = round(X / H)
  let k = X / H;
  let r = X - k * H;
  if (2n * r > H) {
    k += 1n;
    r -= H;
  }
  let q = Number(k & 3n);
  let s = x.s;
  if (r < 0n) {
    r = -r;
    s ^= 1;
  }
  if (x.s !== 0) q = (4 - q) & 3;
  return { q, r: trim({ s, m: r, e: E }) };
}

/** atan(t) for t >= 0 (any size). */
export function atanPos(t: Big): Big {
  if (isZero(t)) return t;
  // t > 1: pi/2 - atan(1/t)
  const lt = bitLength(t.m) + t.e; // t in [2^(lt-1), 2^lt)
  if (lt > 1 || (lt === 1 && (t.e > 0 || t.m !== 1n << BigInt(-t.e)))) {
    const inv = div(fromInt(1), t);
    return sub(fromFixed(piFixed() / 2n), atanPos(inv));
  }
  // Reduce: atan(t) = 2 atan(t / (1 + sqrt(1 + t^2))) until t < 2^-3.
  let doublings = 0;
  let v = t;
  while (bitLength(v.m) + v.e > -3) {
    const s = sqrtBig(add(fromInt(1), mul(v, v)));
    v = div(v, add(fromInt(1), s));
    doublings++;
  }
  // atan v = v + v^3 * Qa(v^2), Qa = sum (-1)^(k+1) u^k / (2k+3)
  const v2 = mul(v, v);
  const q = oddSeries(toFixed(v2), true);
  let res = add(v, mul(mul(v2, v), fromFixed(q)));
  if (doublings > 0) res = { s: res.s, m: res.m, e: res.e + doublings };
  return res;
}

/** sqrt(a) for a > 0, to WP bits (jammed when inexact). */
export function sqrtBig(a: Big): Big {
  // Make the exponent even and the integer wide enough for WP root bits.
  let e = a.e;
  let m = a.m;
  const want = 2 * WP + 4 - bitLength(m);
  let sh = Math.max(want, 0);
  if (((e - sh) & 1) !== 0) sh++;
  m <<= BigInt(sh);
  e -= sh;
  let r = isqrt(m);
  if (r * r !== m) r |= 1n;
  return trim({ s: 0, m: r, e: e / 2 });
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(bitLength(n) / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** 2^x - 1 for |x| <= 1 (computed as expm1(x ln 2); also used beyond that range). */
export function exp2m1(x: Big): Big {
  if (isZero(x)) return x;
  const z = mul(x, fromFixed(ln2Fixed()));
  // Scale down so |z| < 2^-4, then expm1(2w) = expm1(w) * (expm1(w) + 2).
  let halvings = 0;
  let w = z;
  while (bitLength(w.m) + w.e > -4) {
    w = { s: w.s, m: w.m, e: w.e - 1 };
    halvings++;
  }
  // expm1 w = w + w^2 * Qe(w), Qe = sum w^k / (k+2)!
  const q = seriesFixed(toFixed(w), ONE / 2n, (k, t) => t / BigInt(k + 2));
  let e = add(w, mul(mul(w, w), fromFixed(q)));
  for (let i = 0; i < halvings; i++) e = mul(e, add(e, fromInt(2)));
  return e;
}

/** ln(1 + x) for x > -1 via 2 atanh(x / (2 + x)). */
export function log1pBig(x: Big): Big {
  if (isZero(x)) return x;
  const w = div(x, add(fromInt(2), x));
  // atanh w = w + w^3 * Qh(w^2), Qh = sum u^k / (2k+3)
  const w2 = mul(w, w);
  const q = oddSeries(toFixed(w2), false);
  const at = add(w, mul(mul(w2, w), fromFixed(q)));
  return { s: at.s, m: at.m, e: at.e + 1 };
}

/** log2(x) for x > 0. Exact (no jamming) when x is a power of two. */
export function log2Big(x: Big): Big {
  // x = m * 2^e: log2 x = (bitLength(m) - 1 + e) + log2(m / 2^(bitLength(m)-1))
  const n = bitLength(x.m);
  let ex = n - 1 + x.e;
  // Mantissa f in [1, 2): if f >= sqrt(2), use f/2 and ex + 1.
  let f: Big = { s: 0, m: x.m, e: -(n - 1) };
  // Compare f with sqrt 2: f^2 >= 2  <=>  m^2 >= 2^(2n-1)
  if (x.m * x.m >= 1n << BigInt(2 * n - 1)) {
    f = { s: 0, m: x.m, e: -n };
    ex += 1;
  }
  const fm1 = sub(f, fromInt(1));
  const intPart = fromInt(ex);
  if (isZero(fm1)) return intPart;
  const l = div(log1pBig(fm1), fromFixed(ln2Fixed()));
  return add(intPart, l);
}

/** log2(1 + x) for x > -1. */
export function log2p1Big(x: Big): Big {
  if (isZero(x)) return x;
  return div(log1pBig(x), fromFixed(ln2Fixed()));
}
