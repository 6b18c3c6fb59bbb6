/**
 * The XMM register file on a buffer of its own and at an offset of another (the wasm tier's slot): the same
 * lanes through every view, nothing outside its bytes touched; a misaligned or too short place is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XMM_FILE_BYTES, XmmFile } from './simd-file.js';

test('an XmmFile at an offset of a larger buffer keeps its lanes there and touches nothing else', () => {
  const buf = new ArrayBuffer(4096);
  const around = new Uint8Array(buf);
  around.fill(0xa5);
  around.fill(0, 1024, 1024 + XMM_FILE_BYTES);
  const x = new XmmFile(buf, 1024);
  const y = new XmmFile();
  for (const f of [x, y]) {
    f.set(3, 0x11223344, -1, 0x7fffffff, -0x80000000);
    f.copy(19, 3);
    f.u8[16 * 5 + 15] = 0x80;
  }
  assert.deepEqual([...x.i32], [...y.i32]);
  assert.deepEqual([...x.arch], [...y.arch]);
  assert.equal(x.u32[19 * 4 + 1], 0xffffffff);
  assert.equal(x.i8[16 * 5 + 15], -128);
  assert.equal(new Int32Array(buf, 1024 + 3 * 16, 1)[0], 0x11223344);
  for (let i = 0; i < 4096; i++) if (i < 1024 || i >= 1024 + XMM_FILE_BYTES) assert.equal(around[i], 0xa5, `byte ${i}`);
});

test('an XmmFile refuses a place that is not 16-byte aligned or runs past the buffer', () => {
  assert.throws(() => new XmmFile(new ArrayBuffer(4096), 8), RangeError);
  assert.throws(() => new XmmFile(new ArrayBuffer(4096), 4096 - 16), RangeError);
});
