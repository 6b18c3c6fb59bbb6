// Linux with every block compiled before its first run (TSVMM_JIT=wasm-eager, the three-way tests' wasm leg): the
// Debian kernel and the busybox initramfs boot on emu (deterministic) to the shell prompt, a pipeline runs and its
// hash is checked, and `poweroff` ends the machine with status 0. linux-shell.test.ts is the default JIT's leg.
// The wasm tier compiles ~30 000 single-block modules on the way; before its compiled code was bounded
// (jit/wasm-code-book.ts) this boot ran V8 out of wasm code space before the prompt. The process's peak RSS must
// stay under PEAK_RSS_MIB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { EMU_CPU_FEATURES } from '../../src/features/emu-cpu-model.js';
import { CACHE_DIR, KERNEL_DIR, KNOWN_FILE, KNOWN_FILE_TEXT, LINUX_GUEST_CMDLINE } from '../../src/vmm/linux-guest.js';
import { SHELL_PROMPT, INIT_MARKER, ShellSession, machineName, type Machine } from './shell-session.js';

const kernel = `${KERNEL_DIR}/vmlinuz`;
const initrd = `${CACHE_DIR}/initramfs.cpio`;
const haveImages = existsSync(kernel) && existsSync(initrd);
const emuHasFpu = ['fpu', 'fxsr', 'sse', 'sse2'].every((n) => EMU_CPU_FEATURES.some((f) => f.name === n));
const BOOT_MS = 900_000;
const CMD_MS = 600_000;
/**
 * Measured 870-979 MiB on a 2-core host at load 6-8 (V8 frees evicted code at its full collections, so the peak
 * varies); without a bound the boot grew past 1.3 GiB and died before the prompt.
 */
const PEAK_RSS_MIB = 1500;

const LINES = 3000;
const GZIP_ROUND = `seq 1 ${LINES} | gzip -c | gunzip -c | sha256sum`;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const seqText = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1)).join('\n') + '\n';

/** The child's peak resident set (VmHWM) in MiB, while it runs. */
function peakRssMiB(pid: number | undefined): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const m: Machine = { kind: 'tsvmm', accel: 'emu', decompress: 'host', deterministic: true, jit: 'wasm-eager' };
const skip = !haveImages
  ? 'no Linux guest in .cache/ (node scripts/fetch-linux-guest.mjs fetches it; node scripts/setup.mjs --test does too)'
  : !emuHasFpu
    ? 'emu does not advertise x87/SSE2 yet, which every x86-64 kernel requires'
    : false;

test(`linux shell on ${machineName(m)}: prompt, a pipeline, poweroff with status 0, RSS bounded`, { skip, timeout: BOOT_MS + 2 * CMD_MS }, async (t) => {
  const s = new ShellSession(m, { kernel, initrd, cmdline: LINUX_GUEST_CMDLINE, cpus: 1, memMiB: 256 });
  try {
    await s.waitFor(INIT_MARKER, BOOT_MS);
    const { ms: promptMs } = await s.waitFor(SHELL_PROMPT, BOOT_MS);
    const known = await s.run(`sha256sum ${KNOWN_FILE}`, CMD_MS);
    assert.equal(known.status, 0);
    assert.equal(known.output, `${sha256(KNOWN_FILE_TEXT)}  ${KNOWN_FILE}`);
    const t0 = performance.now();
    const r = await s.run(GZIP_ROUND, CMD_MS);
    const cmdMs = performance.now() - t0;
    assert.equal(r.status, 0, `"${GZIP_ROUND}" exited with ${r.status}: ${r.output}`);
    assert.equal(r.output, `${sha256(seqText(LINES))}  -`);
    const peak = peakRssMiB(s.child.pid);
    s.type('poweroff\n');
    const exit = await s.exited;
    t.diagnostic(`prompt at ${(promptMs / 1000).toFixed(1)} s, pipeline ${(cmdMs / 1000).toFixed(1)} s, powered off at ${(exit.ms / 1000).toFixed(1)} s, peak RSS ${peak.toFixed(0)} MiB`);
    assert.equal(exit.status, 0, 'poweroff must end the machine with status 0');
    assert.ok(peak < PEAK_RSS_MIB, `peak RSS ${peak.toFixed(0)} MiB, over ${PEAK_RSS_MIB} MiB`);
  } finally {
    s.kill();
  }
});
