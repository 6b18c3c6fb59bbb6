/** Assertion helpers shared by the loader tests. Test support only. */
import assert from 'node:assert/strict';
import { segReg, type RegId, type RegisterBatch, type SegName } from '../../cpu/registers.js';
import { EXIT } from '../../util/errors.js';
import { BootError } from '../boot-error.js';

export function reg(batch: RegisterBatch, id: RegId): bigint {
  const hits = batch.filter(([r]) => r === id);
  assert.equal(hits.length, 1, `register ${id} appears ${hits.length} times in the batch`);
  return hits[0]![1];
}

export function seg(batch: RegisterBatch, name: SegName): { selector: number; base: bigint; limit: number; attrs: number } {
  return {
    selector: Number(reg(batch, segReg(name, 'selector'))),
    base: reg(batch, segReg(name, 'base')),
    limit: Number(reg(batch, segReg(name, 'limit'))),
    attrs: Number(reg(batch, segReg(name, 'attrs'))),
  };
}

/** Asserts `fn` throws a BootError (kind boot, exit EXIT.BAD_IMAGE) whose message names the file and matches `pattern`. */
export function assertBootError(fn: () => unknown, fileName: string, pattern: RegExp): BootError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof BootError, `expected a BootError, got ${String(caught)}`);
  assert.equal(caught.kind, 'boot');
  assert.equal(caught.exitCode, EXIT.BAD_IMAGE);
  assert.ok(caught.message.includes(fileName), `message does not name ${fileName}: ${caught.message}`);
  assert.match(caught.message, pattern);
  return caught;
}

export function cStringAt(read: (gpa: number, len: number) => Uint8Array, gpa: number, max = 4096): string {
  const bytes = read(gpa, max);
  const end = bytes.indexOf(0);
  assert.ok(end >= 0, `no NUL within ${max} bytes at 0x${gpa.toString(16)}`);
  return new TextDecoder().decode(bytes.subarray(0, end));
}
