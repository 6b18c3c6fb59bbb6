import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fullTagWord } from './x87-tags.js';

/** An 80-bit value from its sign/exponent word and 64-bit significand. */
function f80(se: number, sig: bigint): Uint8Array {
  const b = new Uint8Array(10);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, sig, true);
  dv.setUint16(8, se, true);
  return b;
}

test('x87 tag word from the abridged FXSAVE tag: empty, valid, zero and special, by physical register', () => {
  assert.equal(fullTagWord(0, 0, () => f80(0, 0n)), 0xffff, 'all empty');
  // TOP = 6: ST0 is physical 6, ST1 physical 7, ST2 physical 0.
  const st = [f80(0x3fff, 1n << 63n) /* 1.0: valid */, f80(0, 0n) /* +0: zero */, f80(0x7fff, 1n << 63n) /* inf: special */];
  const fsw = 6 << 11;
  const abridged = (1 << 6) | (1 << 7) | (1 << 0);
  const tags = fullTagWord(abridged, fsw, (i) => st[i] ?? f80(0, 0n));
  assert.equal((tags >> 12) & 3, 0, 'physical 6 = ST0 valid');
  assert.equal((tags >> 14) & 3, 1, 'physical 7 = ST1 zero');
  assert.equal(tags & 3, 2, 'physical 0 = ST2 special');
  assert.equal((tags >> 2) & 0x3ff, 0x3ff, 'physical 1-5 empty');
  // A denormal (exponent 0, significand non-zero) and an unnormal (J bit clear) are special.
  assert.equal(fullTagWord(1, 0, () => f80(0, 1n)) & 3, 2);
  assert.equal(fullTagWord(1, 0, () => f80(0x3fff, 1n)) & 3, 2);
});
