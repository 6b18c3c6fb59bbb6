/**
 * Module initialisation order can never bite: every engine module can be the first one a
 * program imports (each in a fresh process, so each is the entry of its own import graph) and
 * initialises without meeting a binding in its temporal dead zone. Modules import cpu.ts for
 * its types only, constants come from x86-defs.ts (imports nothing), and the instruction table
 * is built on first use, never while modules are being evaluated. (Each worker thread has a module
 * graph of its own.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function modules(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...modules(p));
    else if (e.endsWith('.js') && !e.endsWith('.test.js') && !e.endsWith('.test-util.js')) out.push(p);
  }
  return out;
}

function importAlone(file: string): Promise<string | null> {
  const src = `await import(${JSON.stringify(pathToFileURL(file).href)}); const { decodeInsn } = await import(${JSON.stringify(pathToFileURL(join(here, 'decoder.js')).href)}); decodeInsn(Uint8Array.of(0x90), 1);`;
  return new Promise((resolve) => {
    const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(src)}`));
    w.on('error', (e) => resolve(`${file}: ${e instanceof Error ? e.message : String(e)}`));
    w.on('exit', (code) => resolve(code === 0 ? null : `${file}: exit ${code}`));
  });
}

test('every emu module can be imported first and initialises (no import-order dependence)', async () => {
  const files = modules(here);
  const failures: string[] = [];
  for (let i = 0; i < files.length; i += 8) {
    const batch = await Promise.all(files.slice(i, i + 8).map(importAlone));
    for (const f of batch) if (f !== null) failures.push(f);
  }
  assert.deepEqual(failures, []);
  assert.ok(files.length > 30, `${files.length} modules`);
});
