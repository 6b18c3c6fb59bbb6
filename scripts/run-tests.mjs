#!/usr/bin/env node
// Runs the compiled test files with node:test. --unit: only tests beside the code (dist/src);
// otherwise also the integration tests (dist/tests). Extra args filter by substring.
// Rebuilds dist/ first when a source changed or was deleted (the same check as setup.mjs), so a
// compiled test of a deleted source never runs. After the run, prints what was skipped or not
// compared on this host, and why (scripts/host-coverage-reporter.mjs).
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { build, root, staleReason } from './build.mjs';

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const filters = args.filter((a) => !a.startsWith('--'));
const roots = (unitOnly ? ['dist/src'] : ['dist/src', 'dist/tests']).map((r) => join(root, r));

const stale = staleReason();
if (stale !== null) {
  console.error(`run-tests: compiling TypeScript into a clean dist/ first (${stale})`);
  build();
}

function walk(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (e.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const files = roots
  .flatMap((r) => walk(r, []))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`run-tests: no compiled tests${filters.length ? ` match ${filters.join(', ')}` : ' found'}`);
  process.exit(1);
}
const tmp = mkdtempSync(join(tmpdir(), 'tsvmm-tests-'));
const coverage = join(tmp, 'host-coverage.txt');
const reporter = process.stdout.isTTY ? 'spec' : 'tap';
// The suite must end well inside CI's 90 minutes, and a hang must fail with a message, not a timeout:
// --test-timeout bounds a test that gave no timeout of its own, and the watchdog below ends the whole
// run (its process group, so no test's children outlive it). Not --test-force-exit: it ends the run
// before the reporters have written everything (the Host coverage summary went missing), so tests
// must kill the children they start themselves.
const SUITE_LIMIT_MIN = Number(process.env.TSVMM_TEST_LIMIT_MIN ?? 70);
const t0 = Date.now();
const child = spawn(
  process.execPath,
  [
    '--test', '--test-concurrency=2', '--test-timeout=1200000',
    `--test-reporter=${reporter}`, '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'scripts', 'host-coverage-reporter.mjs')}`, `--test-reporter-destination=${coverage}`,
    ...files,
  ],
  { cwd: root, stdio: 'inherit', detached: true },
);
const killGroup = (sig) => {
  try {
    process.kill(-child.pid, sig);
  } catch {
    // already gone
  }
};
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => killGroup(sig));
let overran = false;
const watchdog = setTimeout(() => {
  overran = true;
  console.error(`run-tests: the suite ran past ${SUITE_LIMIT_MIN} minutes (TSVMM_TEST_LIMIT_MIN); stopping it: a test hangs or the host is far slower than expected`);
  killGroup('SIGKILL');
}, SUITE_LIMIT_MIN * 60_000);
const r = await new Promise((resolve) => child.on('close', (status, signal) => resolve({ status, signal })));
clearTimeout(watchdog);
killGroup('SIGKILL'); // anything a test left behind
console.error(`run-tests: ${files.length} test files in ${((Date.now() - t0) / 60_000).toFixed(1)} min`);
try {
  process.stdout.write(readFileSync(coverage, 'utf8'));
} catch {
  // no summary (the run was interrupted): the status says enough
}
rmSync(tmp, { recursive: true, force: true });
process.exit(overran ? 1 : (r.status ?? 1));
