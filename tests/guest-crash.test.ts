/** A guest that triple-faults, hangs or hits an emulation failure ends with one line and a distinct status. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runCli, kvmUnusable } from './guest-runner.js';
import { writeTiny, CODE } from './tiny-kernels.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-crash-'));
const triple = writeTiny(join(dir, 'triple.elf'), CODE.tripleFault);
const hang = writeTiny(join(dir, 'hang.elf'), CODE.hang);
const xrstor = writeTiny(join(dir, 'xrstor.elf'), CODE.xrstor);
const noKvm = kvmUnusable;

for (const accel of ['emu', 'kvm'] as const) {
  const skip = accel === 'kvm' ? noKvm : false;
  test(`${accel}: a triple fault stops the VM with status 72 and one line`, { skip }, async () => {
    const r = await runCli(['run', '--kernel', triple, '--accel', accel], { timeoutMs: 30_000 });
    assert.equal(r.timedOut, false);
    assert.equal(r.status, 72, r.stderr);
    assert.match(r.stderr, /^tsvmm: guest shut down abnormally on vCPU 0 \(triple fault\)/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
  test(`${accel}: cli;hlt is reported as a hang with status 74, not waited on forever`, { skip }, async () => {
    const r = await runCli(['run', '--kernel', hang, '--accel', accel], { timeoutMs: 30_000 });
    assert.equal(r.timedOut, false);
    assert.equal(r.status, 74, r.stderr);
    assert.match(r.stderr, /^tsvmm: guest hung: /);
  });
}

test('kvm: an instruction this KVM cannot emulate is an emulation failure (70) naming the bytes', { skip: noKvm }, async () => {
  const r = await runCli(['run', '--kernel', xrstor, '--accel', 'kvm'], { timeoutMs: 30_000 });
  assert.equal(r.timedOut, false);
  if (r.status === 72) return; // a hardware-backed KVM delivers #UD/#GP instead (no IDT → triple fault)
  assert.equal(r.status, 70, r.stderr);
  assert.match(r.stderr, /emulation failure on vCPU 0: .*0f ae 28/);
});
