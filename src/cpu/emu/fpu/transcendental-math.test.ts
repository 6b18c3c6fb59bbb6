import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  atanPos, big, cosSmall, exp2m1, ln2Fixed, log2Big, log2p1Big, piFixed, reduceTrig, sinSmall, type Big,
} from './transcendental-math.js';

const num = (b: Big): number => (b.s ? -1 : 1) * Number(b.m) * 2 ** b.e;
const fromNum = (x: number): Big => {
  // Exact: x = m * 2^e with a 53-bit integer m.
  let e = 0;
  let v = Math.abs(x);
  while (v !== Math.floor(v)) {
    v *= 2;
    e--;
  }
  return big(x < 0 ? 1 : 0, BigInt(v), e);
};
const close = (a: number, b: number, what: string): void => {
  assert.ok(Math.abs(a - b) <= 2 ** -50 * Math.max(Math.abs(b), 1e-300), `${what}: ${a} vs ${b}`);
};

test('pi and ln 2 agree with their published hexadecimal expansions', () => {
  // pi = 3.243F6A8885A308D313198A2E03707344A..., ln 2 = 0.B17217F7D1CF79ABC9E3B39803F2F6AF...
  const pi = piFixed().toString(16);
  assert.ok(pi.startsWith('3243f6a8885a308d313198a2e03707344a'), pi);
  const ln2 = ln2Fixed().toString(16);
  assert.ok(ln2.startsWith('b17217f7d1cf79abc9e3b39803f2f6af'), ln2);
});

test('sin, cos, atan, 2^x - 1 and log2 agree with the host libm on doubles', () => {
  for (let i = 1; i < 400; i++) {
    const x = Math.sin(i * 12.9898) * 0.78;
    close(num(sinSmall(fromNum(x))), Math.sin(x), `sin ${x}`);
    close(num(cosSmall(fromNum(x))), Math.cos(x), `cos ${x}`);
    const t = Math.abs(x) * 3 + 1e-3;
    close(num(atanPos(fromNum(t))), Math.atan(t), `atan ${t}`);
    close(num(exp2m1(fromNum(x))), Math.expm1(x * Math.LN2), `2^x-1 ${x}`);
    close(num(log2Big(fromNum(t))), Math.log2(t), `log2 ${t}`);
    close(num(log2p1Big(fromNum(x / 3))), Math.log1p(x / 3) / Math.LN2, `log2(1+x) ${x}`);
  }
});

test('log2 of a power of two is exact; tiny arguments keep their leading term', () => {
  const l = log2Big(big(0, 1n, -37));
  assert.equal(num(l), -37);
  // sin r < r and cos r < 1 for tiny r, by a representable margin of the 200-bit result.
  const r = big(0, 1n, -80);
  const s = sinSmall(r);
  assert.ok(s.m * 2n ** BigInt(s.e + 300) < 2n ** BigInt(220), 'sin r < r');
});

test('argument reduction uses the 66-bit pi, as the hardware does', () => {
  // FSIN(FLDPI rounded up) = -2^-64 on the host: P66 - x with P66 = 0x3243F6A8885A308D3 / 2^64.
  const { q, r } = reduceTrig(big(0, 0xc90fdaa22168c235n, -62));
  assert.equal(q, 2);
  assert.equal(num(r), 2 ** -64);
});
