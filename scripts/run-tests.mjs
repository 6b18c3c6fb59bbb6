#!/usr/bin/env node
// Runs the compiled test files with node:test. --unit: only tests beside the code (dist/src);
// otherwise also the integration tests (dist/tests). Extra args filter by substring.
// Rebuilds dist/ first when a source changed or was deleted (the same check as setup.mjs), so a
// compiled test of a deleted source never runs. After the run, prints what was skipped or not
// compared on this host, and why (scripts/host-coverage-reporter.mjs).
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
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
const r = spawnSync(
  process.execPath,
  [
    '--test', '--test-concurrency=2',
    `--test-reporter=${reporter}`, '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'scripts', 'host-coverage-reporter.mjs')}`, `--test-reporter-destination=${coverage}`,
    ...files,
  ],
  { cwd: root, stdio: 'inherit' },
);
try {
  process.stdout.write(readFileSync(coverage, 'utf8'));
} catch {
  // no summary (the run was interrupted): the status says enough
}
rmSync(tmp, { recursive: true, force: true });
process.exit(r.status ?? 1);
