/**
 * Snapshots and live migration through the command line, between real tsvmm processes: `tsvmm
 * snapshot` and `run --restore`, `run --incoming` and `tsvmm migrate`. Deterministic guests, so the
 * output split over the two processes must be exactly that of one undisturbed run.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTsvmm } from './api-client.js';
import { guestPath, tsvmmBin } from './guest-runner.js';
import { endlessTickerOutput } from '../src/vmm/ticker.test-util.js';
import { until as pollUntil } from '../src/util/until.test-util.js';


/** Every tsvmm this file starts; killed after the tests, so a failed test cannot leave one running. */
const started = new Set<ChildProcess>();
after(() => {
  for (const c of started) c.kill('SIGKILL');
});

function tsvmm(args: readonly string[]): { child: ChildProcess; exited: Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string }> } {
  const child = spawn(process.execPath, [tsvmmBin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  started.add(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (status, signal) => {
      started.delete(child);
      resolve({ status, signal, stderr: err });
    }),
  );
  return { child, exited };
}

const until = (cond: () => boolean, what: string, ms = 60_000): Promise<void> => pollUntil(cond, what, ms, 20);

const TICKER = ['--kernel', guestPath('ticker'), '--accel', 'emu', '--deterministic', '--mem', '64M'];
const WORK = 300000;
/** An endless ticker (lines=0): a run is stopped by the test, so no host is too fast or too slow for it. */
const ENDLESS = `lines=0 work=${WORK}`;

/** The highest complete `tick N` line in `text`, or 0. */
function lastTick(text: string): number {
  const all = [...text.matchAll(/tick (\d+) sum [0-9a-f]{8}\r\n/g)];
  return all.length === 0 ? 0 : Number(all[all.length - 1]![1]);
}

/** What an undisturbed endless run prints up to and including tick n. */
const undisturbed = (n: number) => endlessTickerOutput(n, WORK);

test('tsvmm snapshot, then run --restore: the restored guest goes on from the snapshot', { timeout: 120_000 }, async () => {
  const src = await startTsvmm('run', [...TICKER, '--cmdline', ENDLESS], { serialFile: true });
  try {
    await until(() => src.serial().includes('tick 2 '), 'the guest running');
    const snap = join(src.dir, 'ticker.snap');
    const s = await tsvmm(['snapshot', '--api-sock', src.socket, snap]).exited;
    assert.equal(s.status, 0, s.stderr);
    assert.match(s.stderr, /snapshot .* written in \d+ ms/);
    // The source carries on after the snapshot.
    const atSnapshot = lastTick(src.serial());
    await until(() => lastTick(src.serial()) >= atSnapshot + 2, 'the source running on after the snapshot');
    src.child.kill('SIGTERM');
    assert.equal((await src.exited).signal, 'SIGTERM', 'ended by the SIGTERM');
    const before = src.serial();
    assert.ok(undisturbed(lastTick(before) + 1).startsWith(before), before.slice(-300));

    const out = join(src.dir, 'restored.out');
    const restored = tsvmm(['run', '--restore', snap, '--serial', `file:${out}`]);
    const text = () => (existsSync(out) ? readFileSync(out, 'latin1') : '');
    await until(() => /tick (\d+) /.test(text()) && lastTick(text()) >= atSnapshot + 2, 'the restored guest ticking');
    restored.child.kill('SIGTERM');
    assert.equal((await restored.exited).signal, 'SIGTERM');
    // The restored run prints what the undisturbed run prints from the snapshot on: no header, no tick twice.
    const tail = text();
    assert.ok(!tail.includes('ticker:'), 'the restored guest does not start over');
    const upTo = lastTick(tail) + 1;
    assert.ok(undisturbed(upTo).includes(tail.slice(0, tail.lastIndexOf('\r\n') + 2)), tail.slice(0, 300));

    const bad = await tsvmm(['run', '--restore', snap, '--cpus', '2']).exited;
    assert.equal(bad.status, 64);
    assert.match(bad.stderr, /--cpus does not go with --restore/);
  } finally {
    await src.cleanup();
  }
});

test('tsvmm migrate: pre-copy to a tsvmm run --incoming; the source exits 0, the guest goes on there', { timeout: 120_000 }, async () => {
  const src = await startTsvmm('run', [...TICKER, '--cpus', '2', '--cmdline', ENDLESS], { serialFile: true });
  try {
    const addr = join(src.dir, 'incoming.sock');
    const out = join(src.dir, 'dst.out');
    const dst = tsvmm(['run', '--incoming', `unix:${addr}`, '--serial', `file:${out}`]);
    const text = () => (existsSync(out) ? readFileSync(out, 'latin1') : '');
    await until(() => existsSync(addr), 'the destination listening');
    await until(() => src.serial().includes('tick 3 '), 'the guest running');
    const m = await tsvmm(['migrate', '--api-sock', src.socket, '--to', `unix:${addr}`]).exited;
    assert.equal(m.status, 0, m.stderr);
    const end = await src.exited;
    assert.equal(end.status, 0, src.stderr());
    assert.match(src.stderr(), /migrated to unix:.* and runs there now/);
    const atMigration = lastTick(src.serial());
    await until(() => lastTick(text()) >= atMigration + 2, 'the migrated guest ticking at the destination');
    dst.child.kill('SIGTERM');
    assert.equal((await dst.exited).signal, 'SIGTERM');
    // Source and destination together print exactly one undisturbed run.
    const both = src.serial() + text();
    assert.ok(undisturbed(lastTick(both) + 1).startsWith(both), both.slice(-300));
  } finally {
    await src.cleanup();
  }
});
