/** Bad input gets one clear line and a distinct status, never a stack trace or a hang. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runCli, guestPath } from './guest-runner.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-cli-'));
const garbage = join(dir, 'garbage.bin');
writeFileSync(garbage, Buffer.from('this is not a kernel at all, just some text\n'.repeat(300)));
const truncated = join(dir, 'truncated.elf');
writeFileSync(truncated, readFileSync(guestPath('hello')).subarray(0, 200));

const cases: { name: string; args: string[]; status: number; message: RegExp }[] = [
  { name: 'missing kernel', args: ['run', '--kernel', join(dir, 'nope.elf'), '--accel', 'emu'], status: 66, message: /nope\.elf: no such file/ },
  { name: 'not a kernel', args: ['run', '--kernel', garbage, '--accel', 'emu'], status: 66, message: /garbage\.bin/ },
  { name: 'truncated kernel', args: ['run', '--kernel', truncated, '--accel', 'emu'], status: 66, message: /truncated\.elf/ },
  { name: '--mem not a size', args: ['run', '--mem', 'lots'], status: 64, message: /--mem "lots" is not a size/ },
  { name: '--mem too small', args: ['run', '--mem', '1M'], status: 64, message: /too small/ },
  { name: '--cpus 0', args: ['run', '--cpus', '0'], status: 64, message: /--cpus 0 is out of range/ },
  { name: 'unknown accel', args: ['run', '--accel', 'tcg'], status: 64, message: /--accel "tcg"/ },
  { name: 'unknown flag', args: ['run', '--frobnicate'], status: 64, message: /frobnicate/ },
  { name: 'unknown command', args: ['launch'], status: 64, message: /unknown command "launch"/ },
  { name: 'bad serial', args: ['run', '--serial', 'pty'], status: 64, message: /--serial "pty"/ },
];

for (const c of cases) {
  test(`cli: ${c.name}`, async () => {
    const r = await runCli(c.args, { timeoutMs: 20_000 });
    assert.equal(r.timedOut, false);
    assert.equal(r.status, c.status, `status; stderr: ${r.stderr}`);
    assert.match(r.stderr, c.message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.ok(r.stderr.trim().split('\n').length <= 2, `at most a message and a hint: ${r.stderr}`);
  });
}
