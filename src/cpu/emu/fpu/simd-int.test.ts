/**
 * Hand-checked vectors for the integer SIMD semantics (the bulk of the checking is the
 * native differential test, tests/differential/simd-direct.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32cBytes, crc32cQword } from './crc32c.js';
import { XmmFile, XMM_SRC } from './simd-file.js';
import { paddb, pcmpeqb, pcmpgtq, pmaddwd, pmaxub, pminub, pmuldq, pmuludq, psadbw, psubb, phminposuw, pmulhrsw, pmaddubsw } from './simd-int-arith.js';
import { palignr, psraw, psllq, pslldq } from './simd-shift.js';
import { packusdw, pshufb, insertps, pmovsxbq } from './simd-shuffle.js';
import { explicitLength, pcmpistr, strIndex, strMask, strResult } from './sse-string.js';

const q = (x: XmmFile, r: number, k: number): bigint => (BigInt(x.u32[r * 4 + 2 * k + 1]!) << 32n) | BigInt(x.u32[r * 4 + 2 * k]!);
function setStr(x: XmmFile, r: number, s: string): void {
  x.u8.fill(0, r * 16, r * 16 + 16);
  for (let i = 0; i < s.length && i < 16; i++) x.u8[r * 16 + i] = s.charCodeAt(i);
}

test('CRC32C: the check value of "123456789" is 0xE3069283', () => {
  let c = -1;
  for (const ch of '123456789') c = crc32cBytes(c, ch.charCodeAt(0), 1);
  assert.equal((~c) >>> 0, 0xe3069283);
  // A dword and a qword fold the same bytes in little-endian order.
  const d = crc32cBytes(-1, 0x34333231, 4); // "1234"
  let e = -1;
  for (const ch of '1234') e = crc32cBytes(e, ch.charCodeAt(0), 1);
  assert.equal(d, e);
  assert.equal(crc32cQword(-1, 0x34333231, 0x38373635), crc32cBytes(crc32cBytes(-1, 0x34333231, 4), 0x38373635, 4));
});

test('multiplies: PMULUDQ/PMULDQ full 64-bit products, PMADDWD wraps only at 2^31', () => {
  const x = new XmmFile();
  x.set(1, -1, 0, 5, 0);
  x.set(2, -1, 0, -3, 0);
  pmuludq(x, 1, 2, 0);
  assert.equal(q(x, 1, 0), 0xfffffffe_00000001n);
  assert.equal(q(x, 1, 1), 5n * 0xfffffffdn);
  x.set(1, -1, 0, -0x80000000, 0);
  x.set(2, 2, 0, -0x80000000, 0);
  pmuldq(x, 1, 2, 0);
  assert.equal(BigInt.asIntN(64, q(x, 1, 0)), -2n);
  assert.equal(q(x, 1, 1), 1n << 62n);
  x.set(1, 0x80008000, 0x00010002, 0, 0);
  x.set(2, 0x80008000, 0x00030004, 0, 0);
  pmaddwd(x, 1, 2, 0);
  assert.equal(x.u32[4], 0x80000000);
  assert.equal(x.u32[5], 2 * 4 + 1 * 3);
});

test('SSSE3 arithmetic: PMULHRSW rounds, PMADDUBSW saturates', () => {
  const x = new XmmFile();
  x.i16.fill(0x4000, 8, 16);
  x.i16.fill(0x4000, 16, 24);
  x.i16[8] = -32768;
  x.i16[16] = -32768;
  pmulhrsw(x, 1, 2, 0);
  assert.equal(x.i16[8], -32768); // 0x8000 * 0x8000 rounds to 0x8000 (the only overflow)
  assert.equal(x.i16[9], 0x2000);
  x.u8.fill(255, 16, 32);
  x.i8.fill(127, 32, 48);
  pmaddubsw(x, 1, 2, 0);
  assert.equal(x.i16[8], 32767);
});

test('PSADBW, PHMINPOSUW, PCMPGTQ', () => {
  const x = new XmmFile();
  for (let k = 0; k < 16; k++) {
    x.u8[16 + k] = k;
    x.u8[32 + k] = 255 - k;
  }
  psadbw(x, 1, 2, 0);
  assert.equal(q(x, 1, 0), BigInt([0, 1, 2, 3, 4, 5, 6, 7].reduce((s, k) => s + 255 - 2 * k, 0)));
  x.u16.set([9, 4, 7, 4, 100, 5, 6, 8], 16);
  phminposuw(x, 3, 2, 0);
  assert.equal(x.u32[12], 4 | (1 << 16));
  assert.equal(x.u32[13], 0);
  x.set(1, 0, 1, 0, -1);
  x.set(2, -1, 0, 0, 0);
  pcmpgtq(x, 1, 2, 0);
  assert.equal(q(x, 1, 0), 0xffffffff_ffffffffn); // 2^32 > 0xffffffff
  assert.equal(q(x, 1, 1), 0n); // -2^32 < 0
});

test('shifts: counts at and past the lane width', () => {
  const x = new XmmFile();
  x.i16.fill(-2, 8, 16);
  x.set(2, 100, 0, 0, 0);
  psraw(x, 1, 2, 0);
  assert.deepEqual([...x.i16.subarray(8, 16)], Array(8).fill(-1));
  x.set(1, 1, 0, 0x80000000, 0);
  x.set(2, 63, 0, 0, 0);
  psllq(x, 1, 2, 0);
  assert.equal(q(x, 1, 0), 1n << 63n);
  assert.equal(q(x, 1, 1), 0n);
  x.set(1, 0x04030201, 0x08070605, 0x0c0b0a09, 0x100f0e0d);
  pslldq(x, 1, 0, 3);
  assert.deepEqual([...x.u8.subarray(16, 22)], [0, 0, 0, 1, 2, 3]);
  x.set(1, 0x13121110, 0x17161514, 0x1b1a1918, 0x1f1e1d1c);
  x.set(2, 0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c);
  palignr(x, 1, 2, 14);
  assert.deepEqual([...x.u8.subarray(16, 20)], [0x0e, 0x0f, 0x10, 0x11]);
});

test('shuffles and packs: PSHUFB zeroing, PACKUSDW, INSERTPS zero mask, PMOVSXBQ', () => {
  const x = new XmmFile();
  for (let k = 0; k < 16; k++) x.u8[16 + k] = 0xa0 + k;
  x.u8.set([15, 0x80, 1, 0x8f, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 32);
  pshufb(x, 1, 2, 0);
  assert.deepEqual([...x.u8.subarray(16, 21)], [0xaf, 0, 0xa1, 0, 0xaf]);
  x.set(1, -5, 70000, 65535, 12);
  x.set(2, 0, 0, 0, 0);
  packusdw(x, 1, 2, 0);
  assert.deepEqual([...x.u16.subarray(8, 12)], [0, 65535, 65535, 12]);
  x.set(1, 1, 2, 3, 4);
  x.set(2, 10, 20, 30, 40);
  insertps(x, 1, 2, (3 << 6) | (1 << 4) | 0b0100);
  assert.deepEqual([...x.i32.subarray(4, 8)], [1, 40, 0, 4]);
  x.u8.set([0x80, 0x7f], XMM_SRC * 16);
  pmovsxbq(x, 1, XMM_SRC, 0);
  assert.equal(q(x, 1, 0), 0xffffffff_ffffff80n);
  assert.equal(q(x, 1, 1), 0x7fn);
});

test('PCMPISTRI/PCMPISTRM: substring search, character sets, ranges, negation', () => {
  const x = new XmmFile();
  setStr(x, 1, 'lo');
  setStr(x, 2, 'hello world');
  pcmpistr(x, 1, 2, 0x0c); // unsigned bytes, equal ordered
  assert.equal(strIndex(0x0c), 3);
  assert.equal(strResult.flags, 0x1 | 0x40 | 0x80); // CF, ZF (B has a null), SF (A has a null)
  setStr(x, 1, 'az');
  setStr(x, 2, 'AbC!d');
  pcmpistr(x, 1, 2, 0x04); // ranges a-z
  assert.equal(strResult.intRes2, 0b10010);
  pcmpistr(x, 1, 2, 0x34); // masked negative: only the valid 5 elements inverted
  assert.equal(strResult.intRes2, 0b01101);
  pcmpistr(x, 1, 2, 0x14); // negative: all 16 inverted
  assert.equal(strResult.intRes2, 0xffed);
  assert.equal(strIndex(0x54), 15); // most significant set bit
  setStr(x, 1, ' !');
  setStr(x, 2, 'a b');
  pcmpistr(x, 1, 2, 0x40); // equal any, byte mask
  strMask(x, 0, 0x40);
  assert.deepEqual([...x.u8.subarray(0, 4)], [0, 0xff, 0, 0]);
  assert.equal(explicitLength(-3, -1, 16), 3);
  assert.equal(explicitLength(0x80000000 | 0, -1, 16), 16);
  assert.equal(explicitLength(20, 0, 8), 8);
});

test('byte ops done four bytes at a time agree with the byte-wise definition on every pair of bytes', () => {
  const x = new XmmFile();
  const ref: [string, (a: number, b: number) => number, (x: XmmFile, d: number, s: number, i: number) => void][] = [
    ['paddb', (a, b) => (a + b) & 0xff, paddb],
    ['psubb', (a, b) => (a - b) & 0xff, psubb],
    ['pcmpeqb', (a, b) => (a === b ? 0xff : 0), pcmpeqb],
    ['pminub', (a, b) => Math.min(a, b), pminub],
    ['pmaxub', (a, b) => Math.max(a, b), pmaxub],
  ];
  for (const [name, f, op] of ref) {
    for (let a = 0; a < 256; a++) {
      for (let b0 = 0; b0 < 256; b0 += 16) {
        for (let k = 0; k < 16; k++) {
          x.u8[16 + k] = a;
          x.u8[32 + k] = b0 + k;
        }
        op(x, 1, 2, 0);
        for (let k = 0; k < 16; k++) if (x.u8[16 + k] !== f(a, b0 + k)) assert.fail(`${name}(${a}, ${b0 + k}) = ${x.u8[16 + k]}, expected ${f(a, b0 + k)}`);
      }
    }
  }
});
