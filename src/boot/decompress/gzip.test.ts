// tsvmm's gzip decoder against Node's zlib as the compressor: stored, fixed and dynamic blocks, long
// matches that overlap their output, and each kind of damage caught with a DecompressError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync, constants } from 'node:zlib';
import { gunzip } from './gzip.js';
import { DecompressError } from './lzma-decoder.js';

function data(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    // Runs, repeats at short and long distances, and noise.
    const k = (x >>> 24) & 3;
    out[i] = k === 0 ? x & 0xff : k === 1 && i > 0 ? out[i - 1]! : k === 2 && i >= 3000 ? out[i - 3000]! : (i >> 7) & 0xff;
  }
  return out;
}

const CASES: [string, Uint8Array, number, number?][] = [
  ['empty', new Uint8Array(0), 6],
  ['stored (level 0)', data(1, 200_000), 0],
  ['fixed codes (Z_FIXED)', data(2, 100_000), 9, constants.Z_FIXED],
  ['level 1', data(3, 500_000), 1],
  ['level 9', data(4, 1_000_000), 9],
  ['a run of one byte (distance 1, overlapping)', new Uint8Array(300_000).fill(0x90), 9],
  ['Huffman only', data(5, 100_000), 6, constants.Z_HUFFMAN_ONLY],
];

for (const [name, input, level, strategy] of CASES) {
  test(`gunzip: ${name}`, () => {
    const z = new Uint8Array(gzipSync(input, { level, ...(strategy !== undefined ? { strategy } : {}) }));
    assert.deepEqual(gunzip(z, input.length), input);
  });
}

test('gunzip: a file name and comment in the header are skipped', () => {
  const input = data(6, 5000);
  const z = new Uint8Array(gzipSync(input));
  // Rebuild the header with FNAME set and a name inserted after the 10 fixed bytes.
  const name = new TextEncoder().encode('vmlinux\0');
  const out = new Uint8Array(z.length + name.length);
  out.set(z.subarray(0, 10));
  out[3] = 0x08;
  out.set(name, 10);
  out.set(z.subarray(10), 10 + name.length);
  assert.deepEqual(gunzip(out, input.length), input);
});

test('gunzip: truncation, flipped bits and a wrong size are DecompressErrors, never host exceptions', () => {
  const input = data(7, 50_000);
  const z = new Uint8Array(gzipSync(input, { level: 6 }));
  for (const cut of [5, 20, z.length >> 1, z.length - 9, z.length - 1]) {
    assert.throws(() => gunzip(z.subarray(0, cut), input.length), DecompressError, `cut at ${cut}`);
  }
  let x = 99;
  for (let i = 0; i < 40; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const at = 10 + (x % (z.length - 10));
    const bad = z.slice();
    bad[at]! ^= 1 << (x >>> 29);
    assert.throws(() => gunzip(bad, input.length), DecompressError, `flip at ${at}`);
  }
  assert.throws(() => gunzip(z, input.length - 1), DecompressError);
  assert.throws(() => gunzip(z, input.length + 1), DecompressError);
});
