import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run64 } from './cpu-harness.test-util.js';
import { getRegisters } from './register-catalog.js';
import { regId, RegSet } from '../registers.js';

test('MOV to and from DR0-DR3 keeps a 64-bit address exactly (a kernel breakpoint at 0xffffffff81000123)', () => {
  // mov rax, 0xffffffff81000123; mov dr0, rax; mov rbx, dr0; mov rcx, 0x001fffff00000fff (beyond 48 bits, within 2^53); mov dr3, rcx; mov rdx, dr3
  const c = run64('48 b8 23 01 00 81 ff ff ff ff  0f 23 c0  0f 21 c3  48 b9 ff 0f 00 00 ff ff 1f 00  0f 23 d9  0f 21 da');
  assert.deepEqual([c.gpr[2 * 3]! >>> 0, c.gpr[2 * 3 + 1]! >>> 0], [0x81000123, 0xffffffff]);
  assert.deepEqual([c.gpr[2 * 2]! >>> 0, c.gpr[2 * 2 + 1]! >>> 0], [0x00000fff, 0x001fffff]);
  assert.deepEqual(getRegisters(c, [regId(RegSet.DEBUG, 0)]), [0xffffffff81000123n]);
});
