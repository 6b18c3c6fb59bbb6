/**
 * Snapshots and live migration through the command line, between real tsvmm processes: `tsvmm
 * snapshot` and `run --restore`, `run --incoming` and `tsvmm migrate`. Deterministic guests, so the
 * output split over the two processes must be exactly that of one undisturbed run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTsvmm } from './api-client.js';
import { guestPath, tsvmmBin } from './guest-runner.js';
import { tickerOutput } from '../src/vmm/ticker.test-util.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tsvmm(args: readonly string[]): { exited: Promise<{ status: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [tsvmmBin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { exited: new Promise((resolve) => child.on('close', (status) => resolve({ status, stderr: err }))) };
}

async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const TICKER = ['--kernel', guestPath('ticker'), '--accel', 'emu', '--deterministic', '--mem', '64M'];

test('tsvmm snapshot, then run --restore: the restored guest finishes the run', { timeout: 120_000 }, async () => {
  const src = await startTsvmm('run', [...TICKER, '--cmdline', 'lines=30 work=300000'], { serialFile: true });
  try {
    await until(() => src.serial().includes('tick 2 '), 'the guest running');
    const snap = join(src.dir, 'ticker.snap');
    const s = await tsvmm(['snapshot', '--api-sock', src.socket, snap]).exited;
    assert.equal(s.status, 0, s.stderr);
    assert.match(s.stderr, /snapshot .* written in \d+ ms/);
    const end = await src.exited;
    assert.equal(end.status, 1, 'the source carries on to its own end');
    assert.equal(src.serial(), tickerOutput(30, 300000));
    const out = join(src.dir, 'restored.out');
    const r = await tsvmm(['run', '--restore', snap, '--serial', `file:${out}`]).exited;
    assert.equal(r.status, 1, r.stderr);
    const tail = readFileSync(out, 'latin1');
    assert.ok(tail.length > 0 && tickerOutput(30, 300000).endsWith(tail), tail);
    const bad = await tsvmm(['run', '--restore', snap, '--cpus', '2']).exited;
    assert.equal(bad.status, 64);
    assert.match(bad.stderr, /--cpus does not go with --restore/);
  } finally {
    await src.cleanup();
  }
});

test('tsvmm migrate: pre-copy to a tsvmm run --incoming; the source exits 0, the guest finishes there', { timeout: 120_000 }, async () => {
  const src = await startTsvmm('run', [...TICKER, '--cpus', '2', '--cmdline', 'lines=30 work=300000'], { serialFile: true });
  try {
    const addr = join(src.dir, 'incoming.sock');
    const out = join(src.dir, 'dst.out');
    const dst = tsvmm(['run', '--incoming', `unix:${addr}`, '--serial', `file:${out}`]);
    await until(() => existsSync(addr), 'the destination listening');
    await until(() => src.serial().includes('tick 3 '), 'the guest running');
    const m = await tsvmm(['migrate', '--api-sock', src.socket, '--to', `unix:${addr}`]).exited;
    assert.equal(m.status, 0, m.stderr);
    const end = await src.exited;
    assert.equal(end.status, 0, src.stderr());
    assert.match(src.stderr(), /migrated to unix:.* and runs there now/);
    const d = await dst.exited;
    assert.equal(d.status, 1, d.stderr);
    assert.equal(src.serial() + readFileSync(out, 'latin1'), tickerOutput(30, 300000));
  } finally {
    await src.cleanup();
  }
});
