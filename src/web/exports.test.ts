// The package's exports map: `tsvmm` resolves to the browser build under the `browser` condition (as
// bundlers targeting browsers ask) and to the Node library otherwise; `tsvmm/browser` names the browser build outright (with its types), `tsvmm/worker` is the Worker module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..', '..');

function resolveAs(conditions: string[], spec: string): string {
  const r = spawnSync(process.execPath, [...conditions.map((c) => `--conditions=${c}`), '--input-type=module', '-e', `process.stdout.write(import.meta.resolve(${JSON.stringify(spec)}))`], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.slice(r.stdout.indexOf('/dist/'));
}

test('tsvmm: browser condition → dist/src/web, node → dist/src/lib; tsvmm/worker → the Worker entry', () => {
  assert.equal(resolveAs(['browser'], 'tsvmm'), '/dist/src/web/index.js');
  assert.equal(resolveAs([], 'tsvmm'), '/dist/src/lib/index.js');
  assert.equal(resolveAs(['browser'], 'tsvmm/worker'), '/dist/src/web/machine-worker.js');
  // TypeScript takes `types` first, so the browser build's types are under tsvmm/browser.
  assert.equal(resolveAs([], 'tsvmm/browser'), '/dist/src/web/index.js');
});

test('the browser entry loads and offers BrowserVm, createEmuMachine and the schedulers', async () => {
  const m = (await import('./index.js')) as Record<string, unknown>;
  for (const name of ['BrowserVm', 'ByteRing', 'MachineHost', 'createEmuMachine', 'messageChannelScheduler', 'postTaskScheduler']) assert.equal(typeof m[name], 'function', name);
});
