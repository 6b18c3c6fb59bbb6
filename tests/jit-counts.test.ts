/**
 * Every JIT tier retires exactly the instructions and branches the interpreter does: the realcode kernels
 * (32- and 64-bit, `quick`) counted by `tsvmm stat` under each TSVMM_JIT mode must equal the interpreter's
 * counts. (A tier whose self-looping blocks counted passes wrongly still computed the right checksums, so
 * only the counts show it.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { guestPath, runCli } from './guest-runner.js';

const MODES = ['off', 'js', 'eager', 'wasm', 'wasm-eager'];

async function counts(guest: string, mode: string): Promise<{ instructions: number; branches: number; user: number }> {
  const r = await runCli(['stat', '--json', '--', '--kernel', guestPath(guest), '--accel', 'emu', '--mem', '128M', '--cmdline', 'quick'], { env: { TSVMM_JIT: mode }, timeoutMs: 120_000 });
  assert.equal(r.timedOut, false, `${guest} under ${mode} timed out: ${r.stderr.slice(-300)}`);
  const text = r.stderr.slice(r.stderr.indexOf('{'));
  const j = JSON.parse(text) as { instructions: { total: number; user: number }; branches: { total: number } };
  return { instructions: j.instructions.total, user: j.instructions.user, branches: j.branches.total };
}

for (const guest of ['realcode', 'realcode64']) {
  const skip = existsSync(guestPath(guest)) ? false : `${guestPath(guest)} is not built (node scripts/build-guests.mjs ${guest})`;
  test(`${guest}: every JIT tier counts the interpreter's instructions and branches`, { skip, timeout: 600_000 }, async () => {
    const want = await counts(guest, 'off');
    assert.ok(want.instructions > 1_000_000, `the interpreter ran the kernels (${want.instructions} instructions)`);
    for (const mode of MODES.slice(1)) assert.deepEqual(await counts(guest, mode), want, `${guest} under TSVMM_JIT=${mode}`);
  });
}
