import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32, useNativeCrc32 } from './crc32.js';

test('crc32: the check value, and agreement with zlib on random data of every length up to 300 (seed 11)', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  let s = 11;
  const rnd = (): number => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
  for (let len = 0; len <= 300; len++) {
    const b = Uint8Array.from({ length: len }, rnd);
    const z = (zlibCrc32 as ((d: Uint8Array) => number) | undefined)?.(b);
    if (z !== undefined) assert.equal(crc32(b), z >>> 0, `length ${len}`);
    const cut = len >> 1;
    assert.equal(crc32(b.subarray(cut), crc32(b.subarray(0, cut))), crc32(b), `continued at ${cut} of ${len}`);
  }
});

test('crc32: a native CRC-32 set with useNativeCrc32 is used for inputs of 256 bytes and more, continuations included', () => {
  const calls: number[] = [];
  const own = (b: Uint8Array, p: number): number => {
    useNativeCrc32(undefined);
    try {
      return crc32(b, p);
    } finally {
      useNativeCrc32(spy);
    }
  };
  const spy = (b: Uint8Array, p: number): number => (calls.push(b.length), own(b, p));
  const b = Uint8Array.from({ length: 5000 }, (_, i) => (i * 131) >>> 3);
  const want = crc32(b);
  useNativeCrc32(spy);
  try {
    assert.equal(crc32(b), want);
    assert.equal(crc32(b.subarray(4000), crc32(b.subarray(0, 4000))), want);
    assert.equal(crc32(b.subarray(0, 255)), own(b.subarray(0, 255), 0));
  } finally {
    useNativeCrc32(undefined);
  }
  assert.deepEqual(calls, [5000, 4000, 1000]);
});
