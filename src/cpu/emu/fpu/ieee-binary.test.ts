import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CMP_EQ, CMP_GT, CMP_LT, CMP_UN, cvt, f32Add, f32Div, f32Mul, f32Sqrt, f32Sub, f64Add, f64Compare, f64Div, f64MinMax, f64Mul, f64RoundInt,
  f64Sqrt, f64Sub, f64ToF32, f64ToInt, intToF64,
} from './ieee-binary.js';

const RN = 0x1f80;
const f64 = new Float64Array(4);
const i32 = new Int32Array(f64.buffer);
const d = new Int32Array(2);
const dv = new Float64Array(d.buffer);

/** Exact check of x op y = r: compares with BigInt rationals whether r is the exact value. */
function exactly(x: number, y: number, r: number, op: string): boolean {
  const rat = (v: number): [bigint, bigint] => {
    const b = new DataView(new Float64Array([v]).buffer);
    const bits = b.getBigUint64(0, true);
    const e = Number((bits >> 52n) & 0x7ffn);
    let m = bits & ((1n << 52n) - 1n);
    let ex = e - 1075;
    if (e === 0) ex = -1074;
    else m |= 1n << 52n;
    const s = bits >> 63n ? -1n : 1n;
    return ex >= 0 ? [s * (m << BigInt(ex)), 1n] : [s * m, 1n << BigInt(-ex)];
  };
  const [xn, xd] = rat(x);
  const [yn, yd] = rat(y);
  const [rn, rd] = rat(r);
  let n: bigint;
  let dd: bigint;
  switch (op) {
    case '+':
      [n, dd] = [xn * yd + yn * xd, xd * yd];
      break;
    case '-':
      [n, dd] = [xn * yd - yn * xd, xd * yd];
      break;
    case '*':
      [n, dd] = [xn * yn, xd * yd];
      break;
    default:
      [n, dd] = [xn * yd, xd * yn];
      if (dd < 0n) [n, dd] = [-n, -dd];
  }
  return n * rd === rn * dd;
}

let seed = 77;
function rnd(): number {
  seed = (Math.imul(seed, 1103515245) + 12345) | 0;
  return (seed >>> 0) / 2 ** 32;
}
function randDouble(): number {
  const k = rnd();
  const e = k < 0.8 ? Math.floor(rnd() * 60) - 30 : Math.floor(rnd() * 2000) - 1000;
  const v = (1 + rnd()) * 2 ** e * (rnd() < 0.5 ? -1 : 1);
  return rnd() < 0.1 ? Math.round(v) : v;
}

test('binary64 round-to-nearest results equal the native ones, and PE is exact', () => {
  const ops: [string, typeof f64Add, (x: number, y: number) => number][] = [
    ['+', f64Add, (x, y) => x + y], ['-', f64Sub, (x, y) => x - y], ['*', f64Mul, (x, y) => x * y], ['/', f64Div, (x, y) => x / y],
  ];
  for (let i = 0; i < 20000; i++) {
    const x = randDouble();
    const y = i % 7 === 0 ? x * (1 + 2 ** -50) : randDouble();
    f64[0] = x;
    f64[1] = y;
    for (const [name, fn, js] of ops) {
      const f = fn(d, 0, i32, 0, i32, 2, RN);
      const want = js(x, y);
      if (!Number.isFinite(want) || Math.abs(want) < 2.2250738585072014e-308) continue;
      assert.equal(dv[0], want, `${x} ${name} ${y}`);
      assert.equal((f & 0x20) !== 0, !exactly(x, y, want, name), `PE of ${x} ${name} ${y}`);
    }
    const s = Math.abs(x);
    f64[0] = s;
    const f = f64Sqrt(d, 0, i32, 0, RN);
    assert.equal(dv[0], Math.sqrt(s));
    assert.equal((f & 0x20) !== 0, !exactly(Math.sqrt(s), Math.sqrt(s), s, '*') , `PE of sqrt ${s}`);
  }
});

test('binary32 results equal Math.fround of the double result (double rounding is innocuous)', () => {
  const f = new Float32Array(2);
  const fi = new Int32Array(f.buffer);
  const out = new Int32Array(1);
  const ov = new Float32Array(out.buffer);
  for (let i = 0; i < 20000; i++) {
    f[0] = randDouble();
    f[1] = randDouble();
    const x = f[0]!;
    const y = f[1]!;
    const checks: [typeof f32Add, number][] = [[f32Add, x + y], [f32Sub, x - y], [f32Mul, x * y], [f32Div, x / y]];
    for (const [fn, dbl] of checks) {
      const want = Math.fround(dbl);
      if (!Number.isFinite(want) || Math.abs(want) < 1.2e-38) continue;
      const flags = fn(out, 0, fi, 0, fi, 1, RN);
      assert.equal(ov[0], want);
      assert.equal((flags & 0x20) !== 0, want !== dbl || !exactly(x, y, dbl, fn === f32Add ? '+' : fn === f32Sub ? '-' : fn === f32Mul ? '*' : '/'));
    }
    f[0] = Math.abs(x);
    f32Sqrt(out, 0, fi, 0, RN);
    assert.equal(ov[0], Math.fround(Math.sqrt(Math.abs(x))));
  }
});

test('directed rounding, DAZ, FTZ, NaN operands and invalid operations', () => {
  f64[0] = 1;
  f64[1] = 2 ** -60;
  const up = RN | (2 << 13);
  const down = RN | (1 << 13);
  assert.equal(f64Add(d, 0, i32, 0, i32, 2, up), 0x20);
  assert.equal(dv[0], 1 + 2 ** -52);
  assert.equal(f64Add(d, 0, i32, 0, i32, 2, down), 0x20);
  assert.equal(dv[0], 1);
  // Denormal operand: DE, or with DAZ treated as zero.
  f64[0] = 5e-324;
  f64[1] = 1;
  assert.equal(f64Mul(d, 0, i32, 0, i32, 2, RN), 0x02);
  assert.equal(dv[0], 5e-324);
  assert.equal(f64Mul(d, 0, i32, 0, i32, 2, RN | 0x40), 0);
  assert.equal(dv[0], 0);
  // Tiny result with FTZ: zero, UE and PE.
  f64[0] = 2 ** -1000;
  f64[1] = 2 ** -30;
  assert.equal(f64Mul(d, 0, i32, 0, i32, 2, RN | 0x8000), 0x30);
  assert.equal(dv[0], 0);
  // The first NaN source wins and is quieted (SNaN: IE).
  i32[0] = 1;
  i32[1] = 0x7ff00000; // SNaN
  f64[1] = NaN;
  assert.equal(f64Add(d, 0, i32, 0, i32, 2, RN), 0x01);
  assert.equal(d[1], 0x7ff80000);
  assert.equal(d[0], 1);
  // inf - inf: the default NaN.
  f64[0] = Infinity;
  f64[1] = Infinity;
  assert.equal(f64Sub(d, 0, i32, 0, i32, 2, RN), 0x01);
  assert.equal(d[1], 0xfff80000 | 0);
  // x / 0: ZE and a signed infinity.
  f64[0] = -3;
  f64[1] = 0;
  assert.equal(f64Div(d, 0, i32, 0, i32, 2, RN), 0x04);
  assert.equal(dv[0], -Infinity);
});

test('compares, min/max, conversions and rounding to integral', () => {
  f64[0] = 1;
  f64[1] = 2;
  assert.equal(f64Compare(i32, 0, i32, 2, RN, false), CMP_LT);
  assert.equal(f64Compare(i32, 2, i32, 0, RN, false), CMP_GT);
  f64[1] = 1;
  assert.equal(f64Compare(i32, 0, i32, 2, RN, false), CMP_EQ);
  f64[1] = NaN;
  assert.equal(f64Compare(i32, 0, i32, 2, RN, false), CMP_UN);
  assert.equal(f64Compare(i32, 0, i32, 2, RN, true), CMP_UN | (1 << 2));
  // MINSD with a NaN returns the second source as it is.
  f64[0] = NaN;
  f64[1] = 7;
  assert.equal(f64MinMax(d, 0, i32, 0, i32, 2, RN, 0), 0x01);
  assert.equal(dv[0], 7);
  // -0 vs +0: the second source.
  f64[0] = -0;
  f64[1] = 0;
  f64MinMax(d, 0, i32, 0, i32, 2, RN, 1);
  assert.equal(Object.is(dv[0], 0), true);
  // CVTSD2SI out of range: the integer indefinite.
  f64[0] = 3e9;
  assert.equal(f64ToInt(i32, 0, 32, false, RN), 0x01);
  assert.equal(cvt.lo, 0x80000000 | 0);
  f64[0] = -2.5;
  assert.equal(f64ToInt(i32, 0, 64, false, RN), 0x20);
  assert.equal(cvt.lo, -2);
  assert.equal(cvt.hi, -1);
  assert.equal(f64ToInt(i32, 0, 32, true, RN), 0x20);
  assert.equal(cvt.lo, -2);
  // CVTSI2SD of a 64-bit integer that needs rounding.
  assert.equal(intToF64(d, 0, 1, 0x00200000, 64, RN), 0x20);
  assert.equal(dv[0], 2 ** 53);
  // CVTSD2SS overflow.
  f64[0] = 1e300;
  const s = new Int32Array(1);
  assert.equal(f64ToF32(s, 0, i32, 0, RN), 0x28);
  assert.equal(s[0], 0x7f800000);
  // ROUNDSD: imm 1 = floor; bit 3 suppresses PE.
  f64[0] = -1.5;
  assert.equal(f64RoundInt(d, 0, i32, 0, 1, RN), 0x20);
  assert.equal(dv[0], -2);
  assert.equal(f64RoundInt(d, 0, i32, 0, 9, RN), 0);
});
