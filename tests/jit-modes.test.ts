/**
 * Three-way JIT testing: the plain suite runs with the JIT at its default (TSVMM_JIT unset: the wasm tier at
 * their threshold); this file
 * runs a representative subset again with the JIT forced on for every block before its first run
 * (TSVMM_JIT=eager), the same with the WebAssembly tier (TSVMM_JIT=wasm-eager) and with it off (the
 * interpreter alone): the differential suites against the host
 * CPU (fewer random cases: 20 000 instead of 100 000), the real-code checksums in 32 and 64-bit, and
 * guests covering the modes, paging, SMP, syscalls, exceptions, interrupts in the middle of REP
 * and the exact PMU (not emu-vm.test: its 100M-instruction guests pass their time limit interpreted
 * under load), and stop points that cut blocks (emu-vm-pause.test: its deterministic-clock case failed
 * under wasm-eager alone once). About 1.5 min per mode on a quiet 2-core machine, 4-5 under load.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './guest-runner.js';

const FILES = [
  'dist/tests/differential/native-vs-emu.test.js',
  'dist/tests/differential/table-native.test.js',
  'dist/tests/realcode.test.js',
  'dist/src/cpu/emu/block-compiler.test.js',
  'dist/src/cpu/emu/block-loops.test.js',
  'dist/src/cpu/emu/jit/jit-smc.test.js',
  'dist/src/cpu/emu/pmu-merge.test.js',
  'dist/src/cpu/emu/emu-vm-pause.test.js',
];
const GUESTS = ['hello', 'longmode', 'smp-4', 'alu', 'exceptions64', 'paging', 'paging64', 'syscall', 'sysenter', 'modes', 'apic-timer', 'rep-irq', 'cpu-misc', 'x2apic', 'pmu-exact', 'pmu-overflow-v4', 'pmu-rdpmc', 'platform-2cpu-256m', 'la57'];

/** Runs the subset under TSVMM_JIT=mode; resolves with node --test's exit status and output tail. */
function runSubset(mode: string): Promise<{ status: number | null; tail: string }> {
  // Test names of this subset: every test of FILES, and the listed guests of guests-emu.
  const pattern = `^(?!emu: )|^emu: (${GUESTS.join('|')})$`;
  const args = ['--test', '--test-concurrency=1', '--test-reporter=tap', `--test-name-pattern=${pattern}`, ...FILES.map((f) => join(repoRoot, f)), join(repoRoot, 'dist/tests/guests-emu.test.js')];
  // A node --test run of its own (NODE_TEST_CONTEXT would make it report to this one as a subtest).
  const env: NodeJS.ProcessEnv = { ...process.env, TSVMM_JIT: mode, TSVMM_DIFF_CASES: '20000' };
  delete env['NODE_TEST_CONTEXT'];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (status) => resolve({ status, tail: out.split('\n').filter((l) => /^\s*not ok|^# (pass|fail)|Error|expected|actual/.test(l)).slice(0, 40).join('\n') }));
  });
}

for (const mode of ['eager', 'wasm-eager', 'off']) {
  test(`the subset passes with TSVMM_JIT=${mode}`, { timeout: 15 * 60_000 }, async () => {
    const r = await runSubset(mode);
    assert.equal(r.status, 0, `TSVMM_JIT=${mode}:\n${r.tail}`);
    assert.match(r.tail, /# pass [1-9]/, 'nothing ran');
  });
}
