/**
 * Whole-guest differential test: every deterministic project guest run prints byte for byte the same
 * serial output and ends with the same status under QEMU TCG and under tsvmm's emulator.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadManifest, runCli, runArgs, guestPath, runsOn } from '../guest-runner.js';
import { qemuMissing, runUnderQemu } from './qemu-runner.js';

const skip = qemuMissing();

for (const guest of loadManifest()) {
  for (const run of guest.runs) {
    // `qemu: false` (guest or run level): QEMU cannot run it (e.g. QEMU 7.2 TCG has no x2APIC).
    const noQemu = (guest as { qemu?: boolean }).qemu === false || (run as { qemu?: boolean }).qemu === false;
    if (!run.deterministic || noQemu || run.tsvmmArgs?.length || !runsOn(run, 'emu')) continue;
    test(`qemu tcg vs emu: ${run.id}`, { skip, timeout: 130_000 }, async () => {
      const memMiB = run.mem ? parseInt(run.mem, 10) * (/G$/i.test(run.mem) ? 1024 : 1) : 256;
      const q = await runUnderQemu(guestPath(guest.name), { cmdline: run.cmdline, cpus: run.cpus, memMiB, ...(run.stdin ? { stdin: run.stdin } : {}), timeoutMs: 60_000 });
      assert.equal(q.timedOut, false, `QEMU timed out: ${q.stderr}`);
      const e = await runCli(runArgs(guest, run, 'emu', ['--mem', `${memMiB}M`]), { stdin: run.stdin, timeoutMs: 60_000 });
      assert.equal(e.timedOut, false, `emu timed out: ${e.stderr}`);
      // Both prefix the multiboot cmdline with the same kernel path, so even echoed cmdlines compare exactly.
      assert.equal(e.stdout, q.serial, `${run.id}: serial output differs from QEMU's`);
      assert.equal(e.status, q.status, `${run.id}: exit status differs from QEMU's (stderr: ${e.stderr})`);
    });
  }
}

// The demo prints host-dependent CPUID and RAM lines, so it is not compared byte for byte; what must agree is
// how it ends: "All done", then the ACPI PM1a power-off (port 0x604), which both turn into exit status 0.
test('qemu tcg vs emu: the demo guest powers off (status 0) on both', { skip, timeout: 130_000 }, async () => {
  const q = await runUnderQemu(guestPath('demo'), { memMiB: 128, timeoutMs: 60_000 });
  assert.equal(q.timedOut, false, `QEMU timed out: ${q.stderr}`);
  const e = await runCli(['run', '--kernel', guestPath('demo'), '--accel', 'emu', '--mem', '128M'], { timeoutMs: 60_000 });
  for (const [who, out, status] of [['QEMU', q.serial, q.status], ['emu', e.stdout, e.status]] as const) {
    assert.match(out, /All done; powering off \(tsvmm exits with status 0\)\.\r\n$/, `${who}: ${JSON.stringify(out.slice(-200))}`);
    assert.equal(status, 0, `${who}: exit status`);
  }
});
