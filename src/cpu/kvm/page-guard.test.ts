import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guardPieces } from './page-guard.js';

test('guardPieces: the region around its guarded pages, pages elsewhere ignored', () => {
  assert.deepEqual(guardPieces(0x10_0000, 0x10_0000, [0x10_1000]), [
    { gpa: 0x10_0000, size: 0x1000, offset: 0 },
    { gpa: 0x10_2000, size: 0xfe000, offset: 0x2000 },
  ]);
  assert.deepEqual(guardPieces(0, 0x4000, [0, 0x3000, 0x1000, 0x9000, 0x1000]), [{ gpa: 0x2000, size: 0x1000, offset: 0x2000 }], 'first, last, repeated and outside');
  assert.deepEqual(guardPieces(0, 0x1000, [0]), [], 'the whole region');
  assert.deepEqual(guardPieces(0, 0x2000, []), [{ gpa: 0, size: 0x2000, offset: 0 }]);
});
