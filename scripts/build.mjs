#!/usr/bin/env node
// Compiles the TypeScript (src/, tests/, bench/) into a clean dist/, so no compiled file of a deleted
// or renamed source survives (a stale dist/tests/x.test.js would otherwise keep running). Also the
// one place that decides whether dist/ is up to date: setup.mjs and run-tests.mjs both ask it.
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(root, 'dist');
/** Written after a successful build: its mtime is the build's. */
const STAMP = join(DIST, '.build-stamp');
const SOURCE_DIRS = ['src', 'tests', 'bench'];

function walk(dir, visit) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules') walk(p, visit);
    } else visit(p);
  }
}

/** Why dist/ must be rebuilt, or null when it is up to date with every source. */
export function staleReason() {
  if (!existsSync(STAMP)) return 'dist/ has not been built';
  const built = statSync(STAMP).mtimeMs;
  let newer = null;
  for (const d of SOURCE_DIRS) {
    walk(join(root, d), (p) => {
      if (newer === null && p.endsWith('.ts') && statSync(p).mtimeMs > built) newer = p;
    });
  }
  if (newer !== null) return `${relative(root, newer)} changed since the last build`;
  if (statSync(join(root, 'tsconfig.json')).mtimeMs > built) return 'tsconfig.json changed since the last build';
  let orphan = null;
  walk(DIST, (p) => {
    if (orphan !== null || !p.endsWith('.js')) return;
    const src = join(root, relative(DIST, p)).replace(/\.js$/, '.ts');
    if (!existsSync(src)) orphan = p;
  });
  if (orphan !== null) return `${relative(root, orphan)} has no source any more`;
  return null;
}

/** Removes dist/ and compiles everything into it; exits the process on a compile error. */
export function build({ quiet = false } = {}) {
  rmSync(DIST, { recursive: true, force: true });
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: quiet ? ['ignore', 'inherit', 'inherit'] : 'inherit' });
  if (r.error || r.status !== 0) {
    console.error(`build: tsc failed (${r.error ? r.error.message : `exit status ${r.status}`}); see the output above`);
    process.exit(1);
  }
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) build();
