import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rcp32, rsqrt32 } from './sse-approx.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bits = (v: number): number => {
  f32[0] = v;
  return u32[0]! | 0;
};
const val = (b: number): number => {
  u32[0] = b >>> 0;
  return f32[0]!;
};
/** The SDM's bound for RCPPS/RSQRTPS: |relative error| <= 1.5 * 2^-12. */
const BOUND = 1.5 * 2 ** -12;

test('RCP and RSQRT stay within the SDM relative-error bound for every significand', () => {
  let worstRcp = 0;
  let worstRsq = 0;
  for (const e of [127, 128]) {
    for (let m = 0; m < 1 << 23; m += 7) {
      const x = val((e << 23) | m);
      worstRcp = Math.max(worstRcp, Math.abs(val(rcp32((e << 23) | m)) * x - 1));
      worstRsq = Math.max(worstRsq, Math.abs(val(rsqrt32((e << 23) | m)) * Math.sqrt(x) - 1));
    }
  }
  assert.ok(worstRcp <= BOUND, `RCP relative error ${worstRcp}`);
  assert.ok(worstRsq <= BOUND, `RSQRT relative error ${worstRsq}`);
  // Scaling: the exponent only shifts the result.
  assert.equal(val(rcp32(bits(3 * 2 ** 40))), val(rcp32(bits(3))) * 2 ** -40);
  assert.equal(val(rsqrt32(bits(3 * 2 ** 40))), val(rsqrt32(bits(3))) * 2 ** -20);
});

test('RCP and RSQRT special inputs', () => {
  assert.equal(rcp32(0), 0x7f800000);
  assert.equal(rcp32(0x80000001 | 0), 0xff800000 | 0); // a denormal acts as zero
  assert.equal(rcp32(0x7f800000), 0);
  assert.equal(rcp32(0xff800000 | 0), 0x80000000 | 0);
  assert.equal(rcp32(0x7f800001), 0x7fc00001); // SNaN quieted
  assert.equal(rcp32(bits(2 ** 126)), 0); // the result would be denormal: flushed
  assert.equal(rsqrt32(bits(-4)), 0xffc00000 | 0);
  assert.equal(rsqrt32(0x80000000 | 0), 0xff800000 | 0); // -0 -> -inf
  assert.equal(rsqrt32(0x7f800000), 0);
  assert.equal(rsqrt32(0xff800000 | 0), 0xffc00000 | 0);
});
