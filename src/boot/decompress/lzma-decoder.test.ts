// The embedded primer (lzma-decoder.ts PRIMER) is an .lzma file of primerInput(): it decodes to exactly that. Copies of
// long self-overlapping matches and matches cut by the output limit are checked against xz and the primer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { LzmaDecoder, PRIMER, PRIMER_SIZE, plainBytes } from './lzma-decoder.js';
import { lzmaDecompress } from './lzma-alone.js';

/**
 * What PRIMER holds (it was made with `xz --format=lzma -9e` from these bytes): pseudo-random pieces that make an
 * LZMA encoder use every kind of symbol: runs of zeros, short literal runs, far copies (distances up to ~2.5 KB,
 * lengths up to ~260), words, two-byte patterns, three-byte records sharing their first byte (short reps),
 * near copies (distances 1-9) and CALL-like five-byte groups.
 */
function primerInput(): Uint8Array {
  const out: number[] = [];
  let seed = 1;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 16) % n;
  };
  const words = ['mov', 'push', 'call', 'ret', 'lea', 'jmp', 'xor', 'cmp', 'test', 'add'];
  while (out.length < 6000) {
    const k = rnd(8);
    if (k === 0) {
      for (let n = 5 + rnd(300); n > 0; n--) out.push(0);
    } else if (k === 1) {
      for (let n = 2 + rnd(6); n > 0; n--) out.push(rnd(256));
    } else if (k === 2 && out.length > 2500) {
      const from = out.length - 150 - rnd(2300);
      for (let n = 0, len = 8 + rnd(250); n < len; n++) out.push(out[from + n]!);
    } else if (k === 3) {
      for (const c of words[rnd(words.length)]!) out.push(c.charCodeAt(0));
      out.push(32);
    } else if (k === 4) {
      const a = rnd(256);
      const b = rnd(256);
      for (let n = 1 + rnd(20); n > 0; n--) out.push(a, b);
    } else if (k === 5) {
      const c = rnd(256);
      for (let n = 2 + rnd(6); n > 0; n--) out.push(c, rnd(4), 0x10 * rnd(3));
    } else if (k === 6 && out.length > 10) {
      const d = 1 + rnd(9);
      for (let n = 2 + rnd(6); n > 0; n--) out.push(out[out.length - d]!);
      out.push(rnd(256));
    } else {
      out.push(0xe8, rnd(256), rnd(16), 0, 0);
    }
  }
  return new Uint8Array(out);
}

const primerBytes = (): Uint8Array => Uint8Array.from(PRIMER.match(/../g)!, (h) => parseInt(h, 16));

test('the primer is an .lzma file of primerInput (with its end marker)', () => {
  const want = primerInput();
  assert.equal(want.length, PRIMER_SIZE);
  assert.deepEqual(lzmaDecompress(primerBytes(), PRIMER_SIZE), want);
});

test('the primer decodes to primerInput the way the decoder primes itself (known size, no end marker read)', () => {
  const data = primerBytes();
  const dec = new LzmaDecoder(new Uint8Array(PRIMER_SIZE));
  dec.setProperties({ lc: 3, lp: 0, pb: 2 });
  dec.resetState();
  dec.startRangeCoder(data, 13, data.length);
  assert.equal(dec.decode(PRIMER_SIZE, true), false);
  assert.deepEqual(dec.out, primerInput());
});

test('plainBytes: a Buffer (or any subclass) becomes a plain Uint8Array over the same bytes', () => {
  const backing = Buffer.from('0123456789abcdef');
  const sub = backing.subarray(3, 11);
  const v = plainBytes(sub);
  assert.equal(Object.getPrototypeOf(v), Uint8Array.prototype);
  assert.deepEqual([...v], [...sub]);
  v[0] = 0x21; // the same memory
  assert.equal(backing[3], 0x21);
  const plain = new Uint8Array(4);
  assert.equal(plainBytes(plain), plain);
});

test('a decoder given a Buffer for input and output decodes into that Buffer', () => {
  const data = primerBytes();
  const input = Buffer.alloc(data.length + 7);
  input.set(data, 7);
  const out = Buffer.alloc(PRIMER_SIZE + 5);
  const dec = new LzmaDecoder(out.subarray(5));
  dec.setProperties({ lc: 3, lp: 0, pb: 2 });
  dec.resetState();
  dec.startRangeCoder(input.subarray(7), 13, data.length);
  dec.decode(PRIMER_SIZE, true);
  assert.deepEqual(new Uint8Array(out.subarray(5)), primerInput());
});

/**
 * Runs of a 2- to 7-byte period, 2 to 1200 bytes long, between random bytes: an LZMA encoder codes each as a literal
 * period and then a match at distance = the period, overlapping itself (the decoder's stride copy from 40 bytes on),
 * with lengths on both sides of 40 and past the longest match (273, so a rep match goes on).
 */
function periodicRuns(): Uint8Array {
  const out: number[] = [];
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 16) % n;
  };
  for (let period = 2; period <= 7; period++) {
    for (const len of [2, 9, 39, 40, 41, 43, 47, 64, 100, 273, 275, 280, 600, 1200]) {
      for (let n = 1 + rnd(9); n > 0; n--) out.push(rnd(256));
      const pattern = Array.from({ length: period }, () => rnd(256));
      for (let k = 0; k < len; k++) out.push(pattern[k % period]!);
    }
  }
  return new Uint8Array(out);
}

test('long matches overlapping a 2- to 7-byte period copy exactly (.lzma from xz)', (t) => {
  const want = periodicRuns();
  const r = spawnSync('xz', ['--format=lzma', '-9', '-c'], { input: want });
  if (r.error) return t.skip(`xz not installed (${(r.error as NodeJS.ErrnoException).code})`);
  assert.equal(r.status, 0, r.stderr.toString());
  const got = lzmaDecompress(new Uint8Array(r.stdout), want.length);
  assert.equal(got.findIndex((b, i) => b !== want[i]), -1);
  assert.deepEqual(got, want);
});

test('a long overlapping match cut by the output limit goes on exactly in the next call', () => {
  // The primer has runs of up to ~300 zeros and far copies up to ~260 bytes: stopping every 37 bytes cuts
  // matches at every offset (what an LZMA2 chunk end would do), and the rest resumes from rep0.
  const data = primerBytes();
  const dec = new LzmaDecoder(new Uint8Array(PRIMER_SIZE));
  dec.setProperties({ lc: 3, lp: 0, pb: 2 });
  dec.resetState();
  dec.startRangeCoder(data, 13, data.length);
  for (let limit = 37; limit < PRIMER_SIZE; limit += 37) dec.decode(limit, true);
  dec.decode(PRIMER_SIZE, true);
  assert.deepEqual(dec.out, primerInput());
});
