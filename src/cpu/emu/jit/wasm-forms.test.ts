/**
 * The wasm tier's inline forms (wasm-compiler.ts wasmForm) cover the interpreter's 64-bit fast variants of
 * PUSH/POP r64, MOV r64 <-> [m] and LEA r64 (push64r, pop64r, mov64load, mov64store, lea64): they are the same
 * instructions, and without this they went through a handler import in every 64-bit block.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, makeLong64Cpu } from '../cpu-harness.test-util.js';
import { decodeBlock } from '../decoder.js';
import { wasmForm } from './wasm-compiler.js';

test('the 64-bit fast variants have the wasm inline forms of the instructions they stand for', () => {
  const t = makeLong64Cpu();
  // push rbx | pop rbx | mov rax,[rbx] | mov [rbx],rax | lea rax,[rbx+rcx*2] | ret
  load(t.mem, 0x1000, '53 5b 48 8b 03 48 89 03 48 8d 04 4b c3');
  const ins = decodeBlock(t.cpu, 0x1000, 0x1000).insns;
  assert.deepEqual(
    ins.map((x) => wasmForm(x)),
    ['push', 'pop', 'load64', 'store64', 'lea64', ''],
    ins.map((x) => x.fn.name).join(', '),
  );
});
