/** Every project guest runs under --accel emu with the output and status the manifest expects (QEMU's, where deterministic). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadManifest, runCli, runArgs, outputMismatch, runsOn } from './guest-runner.js';

for (const guest of loadManifest()) {
  for (const run of guest.runs) {
    if (!runsOn(run, 'emu')) continue;
    test(`emu: ${run.id}`, { timeout: ((run.timeoutSec ?? 60) + 5) * 1000 }, async () => {
      const r = await runCli(runArgs(guest, run, 'emu'), { stdin: run.stdin, timeoutMs: (run.timeoutSec ?? 60) * 1000 });
      assert.equal(r.timedOut, false, `timed out; stdout: ${JSON.stringify(r.stdout.slice(-300))} stderr: ${r.stderr}`);
      const mismatch = outputMismatch(run, r.stdout);
      assert.equal(mismatch, '', `${run.id}: serial output differs\n${mismatch}\nstderr: ${r.stderr}`);
      assert.equal(r.status, run.exitStatus, `${run.id}: exit status; stderr: ${r.stderr}`);
    });
  }
}
