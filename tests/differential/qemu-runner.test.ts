/**
 * runUnderQemu against the guests' documented behaviour (guests/README.md, exit
 * convention: status = (code << 1) | 1): output bytes, cmdline, stdin, SMP, timeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './native-harness.js';
import { qemuMissing, runUnderQemu } from './qemu-runner.js';

const BUILD = join(repoRoot(), 'guests', 'build');
const elf = (name: string): string => join(BUILD, `${name}.elf`);
const noQemu = qemuMissing();
const missing = (name: string): string | false => noQemu || (existsSync(elf(name)) ? false : `${elf(name)} not built (node scripts/build-guests.mjs)`);

test('qemu-runner: hello prints its greeting and exits with code 0 (status 1)', { skip: missing('hello') }, async () => {
  const r = await runUnderQemu(elf('hello'));
  assert.equal(r.timedOut, false, r.stderr);
  assert.equal(r.serial, 'Hello from tsvmm guest!\r\n');
  assert.equal(r.status, 1);
});

test('qemu-runner: cmdline reaches the guest (exit-code code=7 -> status 15)', { skip: missing('exit-code') }, async () => {
  const r = await runUnderQemu(elf('exit-code'), { cmdline: 'code=7' });
  assert.equal(r.serial, 'exit-code: exiting with code 7 (status 15)\r\n');
  assert.equal(r.status, 15);
});

test('qemu-runner: stdin is fed to COM1 (echo until Ctrl-D)', { skip: missing('echo') }, async () => {
  const r = await runUnderQemu(elf('echo'), { stdin: 'abc\x04' });
  assert.equal(r.serial, 'echo: ready (polling); end with Ctrl-D or a line "quit"\r\nabc\r\necho: 3 bytes\r\n');
  assert.equal(r.status, 1);
});

test('qemu-runner: SMP guests get their CPUs', { skip: missing('smp') }, async () => {
  const r = await runUnderQemu(elf('smp'), { cpus: 2 });
  assert.match(r.serial, /AP 1 online\r\nsmp: 2 of 2 CPUs online/);
  assert.equal(r.status, 1);
});

test('qemu-runner: a guest that does not finish is killed at the timeout', { skip: missing('echo') }, async () => {
  // echo without input waits forever. The timeout leaves QEMU (SeaBIOS, then the guest) time to print its
  // first line on a loaded machine too: at 1.5 s, a host running other jobs killed it before that.
  const r = await runUnderQemu(elf('echo'), { timeoutMs: 8000 });
  assert.equal(r.timedOut, true);
  assert.equal(r.status, -1);
  assert.match(r.serial, /^echo: ready/);
});
