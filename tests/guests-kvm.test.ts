/** Every project guest marked suitable for this host's KVM runs under --accel kvm with its expected output and status. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadManifest, runCli, runArgs, outputMismatch, kvmUnusable, runsOn } from './guest-runner.js';

const skip = kvmUnusable;

for (const guest of loadManifest()) {
  if (!guest.kvm) continue;
  for (const run of guest.runs) {
    if (!runsOn(run, 'kvm')) continue;
    test(`kvm: ${run.id}`, { skip, timeout: ((run.timeoutSec ?? 60) + 5) * 1000 }, async () => {
      const r = await runCli(runArgs(guest, run, 'kvm'), { stdin: run.stdin, timeoutMs: (run.timeoutSec ?? 60) * 1000 });
      assert.equal(r.timedOut, false, `timed out; stderr: ${r.stderr}`);
      const mismatch = outputMismatch(run, r.stdout);
      assert.equal(mismatch, '', `${run.id}: serial output differs\n${mismatch}\nstderr: ${r.stderr}`);
      assert.equal(r.status, run.exitStatus, `${run.id}: exit status; stderr: ${r.stderr}`);
    });
  }
}
