/**
 * The fuzzer's short CI pass (SECURITY.md): the reproducers of fixed bugs in tests/fuzz/corpus/, then the first
 * cases of a fixed seed, each in its own process with a time limit, all checked against the fuzz invariants.
 * A soak is `npm run fuzz -- --seconds 3600 --seed N`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { campaignCase, corpusCases, runCase, type Outcome } from './fuzz/driver.js';

const SEED = 0x5ec0001;
const CASES = 12;
const PER_RUN_SECONDS = 3;

function summary(r: Outcome): string {
  const end = r.end === undefined ? `exit ${r.exitStatus ?? r.signal}` : r.end.timeLimit ? 'time limit (progressing)' : `${r.end.stop} (${r.end.status})`;
  return `${r.id} ${end}, ${r.maxRssMiB.toFixed(0)}/${r.boundMiB} MiB, ${r.kind}${r.failures.length ? `\n    ${r.failures.join('\n    ')}` : ''}`;
}

test(`fuzz: the corpus and the first ${CASES} cases of seed 0x${SEED.toString(16)} hold every invariant`, { timeout: 300_000 }, async (t) => {
  const workDir = mkdtempSync(join(tmpdir(), 'tsvmm-fuzz-test-'));
  try {
    const failed: string[] = [];
    for (const { name, c } of corpusCases()) {
      const r = await runCase(c, { perRunSeconds: PER_RUN_SECONDS, workDir });
      t.diagnostic(`corpus ${name}: ${summary(r)}`);
      if (r.failures.length) failed.push(`corpus ${name}: ${summary(r)}`);
    }
    for (let i = 0; i < CASES; i++) {
      const r = await runCase(campaignCase(SEED, i), { perRunSeconds: PER_RUN_SECONDS, workDir });
      t.diagnostic(summary(r));
      if (r.failures.length) failed.push(summary(r));
    }
    assert.deepEqual(failed, [], `replay one with: npm run fuzz -- --replay SEED:INDEX[:image] -v`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
});
