// The Linux guest three ways (issue 10: every guest passes with the JIT off, at its default and forced on at
// threshold 1): the Debian kernel and the busybox initramfs, deterministic, run for exactly INSTRUCTIONS
// instructions under TSVMM_JIT=off, the default (the wasm tier at its threshold) and wasm-eager, each in a process
// of its own (the mode is read at start); guest RAM, the whole saved VM state and the console output must be the
// same. The window covers the kernel's early boot: alternatives and static keys patching its own text (self-modifying
// code under compiled blocks), paging and timer interrupts. linux-shell.test.ts and linux-jit-eager.test.ts go on
// to the shell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EMU_CPU_FEATURES } from '../../src/features/emu-cpu-model.js';
import { CACHE_DIR, KERNEL_DIR } from '../../src/vmm/linux-guest.js';
import type { JitStateReport } from './jit-state-probe.js';
import { runNodeScript } from '../guest-runner.js';

const INSTRUCTIONS = 200_000_000;
const MODES = ['off', 'default', 'wasm-eager'] as const;
const PROBE = fileURLToPath(new URL('./jit-state-probe.js', import.meta.url));
const RUN_MS = 600_000;

const haveImages = existsSync(`${KERNEL_DIR}/vmlinuz`) && existsSync(`${CACHE_DIR}/initramfs.cpio`);
const emuHasFpu = ['fpu', 'fxsr', 'sse', 'sse2'].every((n) => EMU_CPU_FEATURES.some((f) => f.name === n));
const skip = !haveImages
  ? 'no Linux guest in .cache/ (node scripts/fetch-linux-guest.mjs fetches it; node scripts/setup.mjs --test does too)'
  : !emuHasFpu
    ? 'emu does not advertise x87/SSE2 yet, which every x86-64 kernel requires'
    : false;

async function probe(mode: (typeof MODES)[number]): Promise<{ report: JitStateReport; ms: number }> {
  const r = await runNodeScript(PROBE, [String(INSTRUCTIONS)], { env: { TSVMM_JIT: mode }, timeoutMs: RUN_MS });
  if (r.status !== 0) throw new Error(`TSVMM_JIT=${mode}: the probe ended with ${r.timedOut ? `no result in ${RUN_MS / 1000} s` : r.signal ?? `status ${r.status}`}: ${r.stderr.slice(-2000)}`);
  return { report: JSON.parse(r.stdout.trim().split('\n').pop()!) as JitStateReport, ms: r.ms };
}

test(`Linux, ${INSTRUCTIONS / 1e6} M instructions, deterministic: the same RAM, VM state and console with the JIT off, at its default and at threshold 1 (wasm-eager)`, { skip, timeout: MODES.length * RUN_MS }, async (t) => {
  const runs = [];
  for (const mode of MODES) {
    const r = await probe(mode);
    t.diagnostic(`TSVMM_JIT=${mode}: ${(r.ms / 1000).toFixed(1)} s, RAM ${r.report.ram}, state ${r.report.state}`);
    assert.equal(r.report.stop, undefined, `TSVMM_JIT=${mode}: the guest stopped (${r.report.stop}) before ${INSTRUCTIONS} instructions`);
    assert.equal(r.report.instructions, INSTRUCTIONS, `TSVMM_JIT=${mode}: paused at the count asked for`);
    runs.push({ mode, ...r.report });
  }
  const [ref, ...rest] = runs;
  for (const r of rest) {
    assert.equal(r.ram, ref!.ram, `guest RAM differs: TSVMM_JIT=${r.mode} against ${ref!.mode}`);
    assert.equal(r.state, ref!.state, `saved VM state (registers, chips, clock) differs: TSVMM_JIT=${r.mode} against ${ref!.mode}`);
    assert.equal(r.serial, ref!.serial, `console output differs: TSVMM_JIT=${r.mode} against ${ref!.mode}`);
  }
});
