/**
 * tsvmm as a library, through the package's own name (its exports map and emitted .d.ts): the README
 * example run exactly as written, and the typed API from TypeScript.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createVm, TsvmmError, type TsvmmErrorCode, type TsvmmVm, type VmStop } from 'tsvmm';
import { repoRoot, guestPath } from './guest-runner.js';
import { tickerOutput } from '../src/vmm/ticker.test-util.js';

function readmeExample(): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const m = /<!-- library-example -->\n```js\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'README.md has the library example');
  return m[1]!;
}

test('the README example runs as written and prints what it says', { timeout: 60_000 }, () => {
  // Inside the package, so `import 'tsvmm'` resolves through package.json "exports" as it would for a user.
  const dir = join(repoRoot, '.cache', 'library-test');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `readme-example-${process.pid}.mjs`);
  writeFileSync(file, readmeExample());
  try {
    const r = spawnSync(process.execPath, [file], { cwd: repoRoot, encoding: 'latin1', timeout: 50_000 });
    assert.equal(r.status, 0, r.stderr);
    const serial = tickerOutput(4, 5000);
    const lines = r.stdout.split('\n');
    assert.ok(r.stdout.startsWith('ticker: 4 lines of 5000 steps\r\n'), r.stdout);
    assert.ok(lines.includes('state: Paused'), r.stdout);
    assert.match(r.stdout, /\nstop: debug-exit, \d+ instructions\n$/);
    // The guest's own output, once the library's lines are taken out, is the ticker's exactly.
    assert.equal(lines.filter((l) => !/^(state|stop): /.test(l)).join('\n'), serial);
    assert.equal(r.stderr, '');
  } finally {
    rmSync(file, { force: true });
  }
});

test('the typed API: lifecycle, errors with codes, and the not-yet-supported methods', { timeout: 60_000 }, async () => {
  let out = '';
  const vm: TsvmmVm = await createVm({ accel: 'emu', deterministic: true, memory: 32 << 20, serial: (b) => (out += Buffer.from(b).toString('latin1')) });
  const code = async (p: Promise<unknown>): Promise<TsvmmErrorCode> => {
    try {
      await p;
    } catch (e) {
      assert.ok(e instanceof TsvmmError, String(e));
      return e.code;
    }
    throw new Error('expected a TsvmmError');
  };
  assert.equal(await code(vm.start()), 'not-configured');
  assert.equal(await code(vm.pause()), 'invalid-state');
  assert.equal(await code(vm.pauseAt(1000)), 'invalid-state');
  assert.equal(await code(vm.configure({ kernel: '/no/such/kernel' })), 'bad-image');
  assert.equal(await code(vm.configure({ cpus: 0 })), 'invalid-argument');
  assert.equal(await code(vm.configure({ memory: 'lots' })), 'invalid-argument');
  assert.equal(await code(vm.configure({ disks: 1 } as never)), 'invalid-argument');
  assert.equal(await code(vm.restore('/tmp/none.snap')), 'host-io');
  assert.equal(await code(vm.migrate('tcp:localhost:4444')), 'invalid-state');
  await vm.configure({ kernel: guestPath('ticker'), cmdline: 'lines=6 work=3000', cpus: 1 });
  assert.equal(vm.state, 'NotStarted');
  const stop: VmStop = await vm.run();
  assert.deepEqual(stop, { kind: 'debug-exit', value: 0 });
  assert.equal(vm.state, 'Stopped');
  assert.equal(out, tickerOutput(6, 3000));
  assert.ok(((await vm.stats()).instructions ?? 0) > 6 * 3000);
  assert.equal(await code(vm.resume()), 'invalid-state');
  await assert.rejects(createVm({ accel: 'qemu' as never }), (e: unknown) => e instanceof TsvmmError && e.code === 'invalid-argument' && /accel/.test(e.message));
  await assert.rejects(createVm({ ram: 1 } as never), /unknown option "ram"/);
  await vm.dispose();
});

test('package.json: the exports map serves the library and its types, and the bin still works', () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string> | string>; bin: Record<string, string> };
  const root = pkg.exports['.'] as Record<string, string>;
  assert.deepEqual(Object.keys(root), ['types', 'browser', 'node', 'default'], 'conditions in order: types first, the browser build before node, default last');
  for (const target of Object.values(root)) assert.ok(readFileSync(join(repoRoot, target)).length > 0, target);
  const r = spawnSync(process.execPath, [join(repoRoot, pkg.bin['tsvmm']!), '--version'], { encoding: 'utf8' });
  assert.equal(r.stdout, `tsvmm ${(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version}\n`);
});
