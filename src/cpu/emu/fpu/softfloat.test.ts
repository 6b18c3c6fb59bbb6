import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLS_NAN, CLS_NORMAL, CLS_UNSUPPORTED, CLS_ZERO, CTL_FTZ, F32, F64, F80, FLAG_C1, FLAG_IE, FLAG_OE, FLAG_PE, FLAG_UE, FLAG_ZE,
  RC_DOWN, RC_NEAREST, RC_UP, RC_ZERO, Rounded, Unpacked, roundPack, unpackF32, unpackF64, unpackF80, unpackInt64, type Format,
} from './softfloat.js';
import { sfAdd, sfDiv, sfMul, sfRoundIntegral, sfSqrt, sfToInt, toIntHi, toIntLo } from './arith.js';

// ---------------------------------------------------------------- an independent reference
// Exact rationals (BigInt) rounded by a direct method: scale to p significant bits, compare the
// remainder with one half, apply the mode; denormals on the fixed grid of the minimum exponent.

interface Ref {
  sign: number;
  /** Biased exponent and 64-bit-left-aligned significand, as Rounded has them. */
  bexp: number;
  sig: bigint;
  flags: number;
}

function bitLen(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/** Rounds sign * num/den (num, den > 0) to p bits in fmt, all exceptions masked. */
function refRound(sign: number, num: bigint, den: bigint, p: number, fmt: Format, rc: number): Ref {
  // e = floor(log2(num/den)); ge(k): num/den >= 2^k
  const ge = (k: number): boolean => (k >= 0 ? num >= den << BigInt(k) : num << BigInt(-k) >= den);
  let e = bitLen(num) - bitLen(den);
  while (!ge(e)) e--;
  while (ge(e + 1)) e++;
  const unbounded = roundAt(sign, num, den, e - p + 1, rc);
  let ue = e;
  if (unbounded.q >= 1n << BigInt(p)) ue++;
  const tiny = ue < fmt.emin;
  // Quantum: 2^(max(e, emin) - p + 1).
  const qexp = Math.max(e, fmt.emin) - p + 1;
  const r = roundAt(sign, num, den, qexp, rc);
  let flags = r.inexact ? FLAG_PE : 0;
  if (tiny && r.inexact) flags |= FLAG_UE;
  let q = r.q;
  let ex = qexp + p - 1; // exponent of bit p-1 of q
  if (q >= 1n << BigInt(p)) {
    q >>= 1n;
    ex++;
  }
  if (ex > fmt.emax) {
    const inf = rc === RC_NEAREST || (rc === RC_UP && sign === 0) || (rc === RC_DOWN && sign === 1);
    if (inf) return { sign, bexp: fmt.expMax, sig: 1n << 63n, flags: FLAG_OE | FLAG_PE };
    return { sign, bexp: fmt.emax + fmt.bias, sig: ((1n << BigInt(p)) - 1n) << BigInt(64 - p), flags: FLAG_OE | FLAG_PE };
  }
  const sig = q << BigInt(64 - p);
  const normal = q >= 1n << BigInt(p - 1);
  return { sign, bexp: normal ? ex + fmt.bias : 0, sig, flags };
}

/** num/den / 2^qexp rounded to an integer in rc. */
function roundAt(sign: number, num: bigint, den: bigint, qexp: number, rc: number): { q: bigint; inexact: boolean } {
  let n = num;
  let d = den;
  if (qexp >= 0) d <<= BigInt(qexp);
  else n <<= BigInt(-qexp);
  let q = n / d;
  const r = n - q * d;
  const inexact = r !== 0n;
  if (inexact) {
    const twice = 2n * r;
    if (rc === RC_NEAREST) {
      if (twice > d || (twice === d && (q & 1n) === 1n)) q++;
    } else if ((rc === RC_UP && sign === 0) || (rc === RC_DOWN && sign === 1)) q++;
  }
  return { q, inexact };
}

/** An Unpacked finite value as sign, num/den. */
function ratOf(u: Unpacked): { sign: number; num: bigint; den: bigint } {
  const m = (BigInt(u.hi) << 32n) | BigInt(u.lo);
  const e = u.exp - 63;
  return e >= 0 ? { sign: u.sign, num: m << BigInt(e), den: 1n } : { sign: u.sign, num: m, den: 1n << BigInt(-e) };
}

function sigOf(r: Rounded): bigint {
  return (BigInt(r.hi) << 32n) | BigInt(r.lo);
}

// A small deterministic generator.
let seed = 0x1234567;
function rnd(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}

function randUnpacked(u: Unpacked, fmt: Format): Unpacked {
  const hi = (rnd() | 0x80000000) >>> 0;
  const lo = fmt === F80 ? rnd() : fmt === F64 ? (rnd() & 0xfffff800) >>> 0 : 0;
  const hi2 = fmt === F32 ? (hi & 0xffffff00) >>> 0 : hi;
  const span = fmt === F80 ? 100 : 40;
  const k = rnd() % 8;
  let exp = (rnd() % (2 * span)) - span;
  if (k === 0) exp = fmt.emin - 1 - (rnd() % 70); // below the normal range (denormal operands)
  if (k === 1) exp = fmt.emax - (rnd() % 3);
  if (k === 2) exp = fmt.emin + (rnd() % 3);
  u.set(CLS_NORMAL, rnd() & 1, exp, hi2, lo);
  return u;
}

const A = new Unpacked();
const B = new Unpacked();
const R = new Rounded();

function checkOp(name: string, fmt: Format, p: number, n: number): void {
  for (let i = 0; i < n; i++) {
    randUnpacked(A, fmt);
    randUnpacked(B, fmt);
    const rc = rnd() & 3;
    const ctl = 0x3f | (rc << 10);
    const a = ratOf(A);
    const b = ratOf(B);
    let f: number;
    let sign: number;
    let num: bigint;
    let den: bigint;
    if (name === 'add' || name === 'sub') {
      f = sfAdd(R, A, B, name === 'sub' ? 1 : 0, p, fmt, ctl);
      const bs = name === 'sub' ? b.sign ^ 1 : b.sign;
      const x = (a.sign ? -a.num : a.num) * b.den + (bs ? -b.num : b.num) * a.den;
      if (x === 0n) {
        assert.equal(R.bexp, 0);
        assert.equal(R.sign, rc === RC_DOWN ? 1 : 0);
        continue;
      }
      sign = x < 0n ? 1 : 0;
      num = x < 0n ? -x : x;
      den = a.den * b.den;
    } else if (name === 'mul') {
      f = sfMul(R, A, B, p, fmt, ctl);
      sign = a.sign ^ b.sign;
      num = a.num * b.num;
      den = a.den * b.den;
    } else {
      f = sfDiv(R, A, B, p, fmt, ctl);
      sign = a.sign ^ b.sign;
      num = a.num * b.den;
      den = a.den * b.num;
    }
    const ref = refRound(sign, num, den, p, fmt, rc);
    const got = `${R.sign} ${R.bexp} ${sigOf(R).toString(16)} flags ${(f & 0x3f).toString(16)}`;
    const want = `${ref.sign} ${ref.bexp} ${ref.sig.toString(16)} flags ${ref.flags.toString(16)}`;
    assert.equal(got, want, `${name} p=${p} rc=${rc} a=${A.sign}:${A.exp}:${A.hi.toString(16)}.${A.lo.toString(16)} b=${B.sign}:${B.exp}:${B.hi.toString(16)}.${B.lo.toString(16)}`);
  }
}

test('add, sub, mul, div match an exact rational reference in every mode, format and precision', () => {
  for (const op of ['add', 'sub', 'mul', 'div']) {
    checkOp(op, F32, 24, 1500);
    checkOp(op, F64, 53, 1500);
    checkOp(op, F80, 64, 1500);
    checkOp(op, F80, 53, 800); // x87 precision control: 53 bits, extended exponent range
    checkOp(op, F80, 24, 800);
  }
});

test('sqrt matches the reference (checked by squaring the neighbours)', () => {
  for (let i = 0; i < 3000; i++) {
    const fmt = [F32, F64, F80][i % 3]!;
    randUnpacked(A, fmt);
    A.sign = 0;
    const rc = rnd() & 3;
    const f = sfSqrt(R, A, fmt.prec, fmt, 0x3f | (rc << 10));
    // r is correct iff the true root lies in the interval rounding to r: compare squares.
    const a = ratOf(A);
    const r = sigOf(R);
    const re = (R.bexp === 0 ? fmt.emin : R.bexp - fmt.bias) - 63;
    const ulp = 1n << BigInt(64 - fmt.prec);
    const sq = (m: bigint): [bigint, bigint] => (re >= 0 ? [m * m << BigInt(2 * re), 1n] : [m * m, 1n << BigInt(-2 * re)]);
    const cmp = (m: bigint): number => {
      const [n, d] = sq(m);
      const l = n * a.den;
      const rr = a.num * d;
      return l < rr ? -1 : l > rr ? 1 : 0;
    };
    const exact = cmp(r) === 0;
    assert.equal((f & FLAG_PE) !== 0, !exact, 'inexact flag');
    if (exact) continue;
    // Directed modes bracket the root; nearest compares the midpoints (never exact for sqrt).
    if (rc === RC_DOWN || rc === RC_ZERO) {
      assert.equal(cmp(r), -1);
      assert.equal(cmp(r + ulp), 1);
    } else if (rc === RC_UP) {
      assert.equal(cmp(r), 1);
      assert.equal(cmp(r - ulp), -1);
    } else {
      const lo = cmp(r) < 0 ? r : r - ulp;
      const hi = lo + ulp;
      // The midpoint squared vs a: (lo+hi)/2 = lo + ulp/2
      const mid = 2n * lo + ulp; // in half-units
      const [n, d] = re >= 0 ? [mid * mid << BigInt(2 * re), 4n] : [mid * mid, 4n << BigInt(-2 * re)];
      const below = n * a.den > a.num * d; // root < midpoint
      assert.equal(r, below ? lo : hi, 'nearest');
    }
  }
});

test('tininess is detected after rounding; masked underflow needs inexactness, unmasked does not', () => {
  // (1 - 2^-64) * 2^-16382 rounds up to the smallest normal at 64 bits: not tiny.
  let f = roundPack(R, 0, -16383, 0xffffffff, 0xffffffff, 0x80000000, 64, F80, 0x3f);
  assert.equal(R.bexp, 1);
  assert.equal(R.hi, 0x80000000);
  assert.equal(f & (FLAG_UE | FLAG_PE), FLAG_PE);
  // Just below: tiny and inexact.
  f = roundPack(R, 0, -16383, 0xffffffff, 0xffffffff, 0x7fffffff, 64, F80, 0x3f);
  assert.equal(f & (FLAG_UE | FLAG_PE), FLAG_UE | FLAG_PE);
  // An exact denormal: no flags when masked...
  f = roundPack(R, 1, -16400, 0x80000000, 0, 0, 64, F80, 0x3f);
  assert.equal(f, 0);
  assert.equal(R.bexp, 0);
  assert.equal(R.hi, 0x80000000 >>> 18);
  // ...but UE (and the value scaled by 2^24576) when unmasked.
  f = roundPack(R, 1, -16400, 0x80000000, 0, 0, 64, F80, 0x3f & ~FLAG_UE);
  assert.equal(f, FLAG_UE);
  assert.equal(R.bexp, -16400 + 24576 + 16383);
  // FTZ: zero, UE and PE.
  f = roundPack(R, 0, -1030, 0x80000000, 0, 0, 53, F64, 0x3f | CTL_FTZ);
  assert.equal(f, FLAG_UE | FLAG_PE);
  assert.equal(R.bexp | R.hi | R.lo, 0);
});

test('overflow gives infinity or the largest finite per rounding mode; unmasked, the wrapped value', () => {
  const cases: [number, number, number][] = [
    [RC_NEAREST, 0, F64.expMax], [RC_ZERO, 0, F64.emax + F64.bias], [RC_UP, 1, F64.emax + F64.bias], [RC_DOWN, 1, F64.expMax],
  ];
  for (const [rc, sign, bexp] of cases) {
    const f = roundPack(R, sign, 1024, 0x80000000, 0, 0, 53, F64, 0x3f | (rc << 10));
    assert.equal(R.bexp, bexp, `rc ${rc}`);
    assert.equal(f & (FLAG_OE | FLAG_PE), FLAG_OE | FLAG_PE);
    assert.equal((f & FLAG_C1) !== 0, bexp === F64.expMax);
  }
  const f = roundPack(R, 0, 16384, 0x80000000, 0, 1, 64, F80, 0x3f & ~FLAG_OE);
  assert.equal(f & (FLAG_OE | FLAG_PE), FLAG_OE | FLAG_PE);
  assert.equal(R.bexp, 16384 - 24576 + 16383);
});

test('unpacking classifies every encoding', () => {
  const u = new Unpacked();
  assert.equal(unpackF80(u, 0x0000, 0, 0).cls, CLS_ZERO);
  assert.equal(unpackF80(u, 0x0000, 0x80000000, 0).denormal, 1); // pseudo-denormal
  assert.equal(u.exp, -16382);
  assert.equal(unpackF80(u, 0x3fff, 0x40000000, 0).cls, CLS_UNSUPPORTED); // unnormal
  assert.equal(unpackF80(u, 0x7fff, 0, 0).cls, CLS_UNSUPPORTED); // pseudo-infinity
  assert.equal(unpackF80(u, 0x7fff, 0xa0000000, 0).snan, 1);
  assert.equal(unpackF64(u, 1, 0).exp, -1074);
  assert.equal(unpackF64(u, 0, 0x7ff80000).cls, CLS_NAN);
  assert.equal(unpackF32(u, 1).exp, -149);
  assert.equal(unpackInt64(u, 0, 0x80000000).exp, 63);
  assert.equal(u.sign, 1);
});

test('conversions to integers round per mode and give the indefinite out of range', () => {
  const u = new Unpacked();
  // 2.5 in each mode
  const want = [2, 2, 3, 2];
  for (let rc = 0; rc < 4; rc++) {
    unpackF64(u, 0, 0x40040000);
    const f = sfToInt(u, rc, 32);
    assert.equal(toIntLo, want[rc]);
    assert.equal(f & FLAG_PE, FLAG_PE);
  }
  unpackF64(u, 0, 0xc1e00000); // -2^31 fits
  assert.equal(sfToInt(u, 0, 32), 0);
  assert.equal(toIntLo, 0x80000000 | 0);
  unpackF64(u, 0, 0x41e00000); // +2^31 does not
  assert.equal(sfToInt(u, 0, 32), FLAG_IE);
  unpackF64(u, 0, 0x43e00000); // 2^63 for int64
  assert.equal(sfToInt(u, 0, 64), FLAG_IE);
  assert.equal(toIntHi, 0x80000000 | 0);
  unpackF64(u, 0, 0x40dfffe0); // 32767.5 -> 32768 in nearest: out of int16 range
  assert.equal(sfToInt(u, RC_NEAREST, 16), FLAG_IE);
  assert.equal(toIntLo, 0x8000);
  // Round to integral keeps the sign of a zero result.
  unpackF64(u, 0, 0xbfd00000); // -0.25
  sfRoundIntegral(R, u, RC_NEAREST, F64);
  assert.equal(R.sign, 1);
  assert.equal(R.bexp, 0);
  void FLAG_ZE;
});
