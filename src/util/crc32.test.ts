import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32 } from './crc32.js';

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
