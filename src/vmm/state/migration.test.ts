import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { connect, createServer, type Socket } from 'node:net';
import { VmController } from '../controller.js';
import { ControllerError } from '../controller-types.js';
import type { ConsoleSink } from '../serial-console.js';
import { endlessTickerPrefix, guestElf } from '../ticker.test-util.js';
import { SocketMigration } from './migration.js';
import { MachineState } from './machine-state.js';
import { machineSection, manifestSection } from './vm-state.js';
import { captureConsole } from '../console-capture.test-util.js';
import { until as pollUntil } from '../../util/until.test-util.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-mig-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const until = (cond: () => boolean, what: string, ms = 30_000): Promise<void> => pollUntil(cond, what, ms, 5);

function source(cmdline: string, sink: ConsoleSink, migration?: SocketMigration): VmController {
  return new VmController({
    config: { kernel: guestElf('ticker'), cmdline, accel: 'emu', deterministic: true, memBytes: 64 << 20, serial: { kind: 'none' }, cpus: 2 },
    bootSourceGiven: true,
    serialSink: sink,
    ...(migration !== undefined ? { migration } : {}),
  });
}

function destination(sink: ConsoleSink): VmController {
  return new VmController({ config: { accel: 'emu', serial: { kind: 'none' } }, serialSink: sink });
}

/** Starts `c` receiving on `addr`; resolves once it listens, with the promise of the whole receive. */
async function listen(c: VmController, addr: string): Promise<{ done: Promise<void> }> {
  let ready!: () => void;
  const listening = new Promise<void>((r) => (ready = r));
  const done = c.dispatch({ type: 'incoming', from: addr, onListening: ready });
  done.catch(() => undefined);
  await Promise.race([listening, done]);
  return { done };
}

test('live migration between two controllers: the guest goes on at the destination, printing what an unmigrated run prints', async () => {
  const a = captureConsole();
  const b = captureConsole();
  const addr = `unix:${join(dir, 'm1.sock')}`;
  const dst = destination(b);
  const { done: received } = await listen(dst, addr);
  const migration = new SocketMigration();
  // An endless ticker, stopped here once it has gone on at the destination (a finite one could end before the
  // migration does on a fast host).
  const src = source('lines=0 work=20000', a, migration);
  await src.dispatch({ type: 'start' });
  await until(() => a.text().includes('tick 4 '), 'the guest running');
  await src.dispatch({ type: 'migrate', to: addr });
  await received;
  assert.deepEqual(await src.stopped, { kind: 'migrated', destination: addr });
  await until(() => (b.text().match(/tick \d+ /g) ?? []).length >= 3, 'the guest going on at the destination');
  await dst.dispatch({ type: 'stop', by: 'library' });
  const text = a.text() + b.text();
  const { printed, expected } = endlessTickerPrefix(text, 20000);
  assert.equal(printed, expected);
  const r = migration.lastReport!;
  assert.ok(r.rounds >= 1 && r.pagesSent > 0 && r.downtimeMs <= r.totalMs, JSON.stringify(r));
  // One process, one clock: the destination resumed before its DONE arrived here.
  assert.ok(r.stoppedMs >= 0 && r.stoppedMs <= r.downtimeMs + 1, JSON.stringify(r));
});

test('a destination that cannot give the feature set refuses before any state moves, naming the differences', async () => {
  const b = captureConsole();
  const addr = `unix:${join(dir, 'm2.sock')}`;
  const dst = destination(b);
  const { done: received } = await listen(dst, addr);
  // A source whose VM has AVX (emu has none): its HELLO, by hand.
  const probe = source('lines=0', captureConsole());
  await probe.dispatch({ type: 'start' });
  await probe.dispatch({ type: 'pause' });
  const m = structuredClone(await probe.dispatch({ type: 'get-manifest' }));
  await probe.dispose();
  const leaf1 = m.cpuid.find((v) => v.leaf === 1 && v.subleaf === 0)!;
  (leaf1 as { ecx: number }).ecx = (leaf1.ecx | (1 << 28)) >>> 0;
  const hello = new MachineState([manifestSection(m), machineSection({ id: 'x', parentId: '', parentPath: '', backend: 'emu', cpus: 2, memBytes: 64 << 20, deterministic: true, cmdline: '' })]).encodeToBytes();
  const sock: Socket = connect(join(dir, 'm2.sock'));
  await new Promise((r) => sock.once('connect', r));
  const head = Buffer.alloc(16);
  head.writeUInt32LE(0x5453_4d47, 0);
  head.writeUInt32LE(1, 4);
  head.writeUInt32LE(hello.length, 8);
  sock.write(head);
  sock.write(hello);
  const reply = await new Promise<Buffer>((resolve) => {
    let got = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
    sock.on('close', () => resolve(got));
  });
  assert.equal(reply.readUInt32LE(4), 3, 'REFUSE');
  assert.match(reply.subarray(16).toString(), /cannot give avx/);
  await assert.rejects(received, (e: unknown) => e instanceof ControllerError && /avx/.test(e.message));
  assert.equal(dst.state, 'NotStarted');
});

test('a dropped connection leaves the guest running at the source, nothing lost', async () => {
  const a = captureConsole();
  const path = join(dir, 'm3.sock');
  // A destination that accepts the VM, then goes away during pre-copy.
  const server = createServer((s) => {
    let n = 0;
    s.on('data', (d: Buffer) => {
      n += d.length;
      if (n > 0 && n < 1 << 30 && !s.destroyed) {
        if (n < 20_000) {
          const ok = Buffer.alloc(16);
          ok.writeUInt32LE(0x5453_4d47, 0);
          ok.writeUInt32LE(2, 4);
          s.write(ok);
        } else s.destroy();
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  // An endless ticker (a finite one could end before the failed migration returns on a fast host): after the
  // failure it must still run, and what it printed must be an undisturbed run's beginning.
  const src = source('lines=0 work=20000', a);
  await src.dispatch({ type: 'start' });
  await until(() => a.text().includes('tick 2 '), 'the guest running');
  await assert.rejects(src.dispatch({ type: 'migrate', to: `unix:${path}` }), (e: unknown) => e instanceof ControllerError && e.code === 'host-io' && /keeps running here/.test(e.message));
  assert.equal(src.state, 'Running');
  const ticksNow = (a.text().match(/tick \d+ /g) ?? []).length;
  await until(() => (a.text().match(/tick \d+ /g) ?? []).length >= ticksNow + 3, 'the guest running on after the failed migration');
  await src.dispatch({ type: 'stop', by: 'library' });
  const text = a.text();
  const { printed, expected } = endlessTickerPrefix(text, 20000);
  assert.equal(printed, expected);
  server.close();
  await assert.rejects(source('lines=1', captureConsole()).dispatch({ type: 'migrate', to: 'tcp:nowhere' }), /invalid-state|has not started/);
});

test('auto-converge: a guest rewriting 4 MiB as fast as it runs is throttled until what it dirties between rounds fits', { timeout: 120_000 }, async () => {
  const a = captureConsole();
  const addr = `unix:${join(dir, 'm-converge.sock')}`;
  const dst = destination(captureConsole());
  const { done: received } = await listen(dst, addr);
  const migration = new SocketMigration({ downtimeMs: 50 });
  const src = new VmController({
    config: { kernel: guestElf('memtouch'), cmdline: 'kib=4096 dirty=4096', accel: 'emu', memBytes: 64 << 20, serial: { kind: 'none' }, cpus: 1 },
    bootSourceGiven: true,
    serialSink: a,
    migration,
  });
  try {
    await src.dispatch({ type: 'start' });
    await until(() => a.text().includes('touched'), 'the guest dirtying');
    await src.dispatch({ type: 'migrate', to: addr });
    await received;
    assert.deepEqual(await src.stopped, { kind: 'migrated', destination: addr });
    assert.equal(dst.state, 'Running');
    const r = migration.lastReport!;
    // Unthrottled, every round finds the whole 4 MiB (1024 pages) dirty again and pre-copy never shrinks it.
    assert.ok(r.throttle > 0, `throttled: ${JSON.stringify(r)}`);
    // Throttled until the last copy fitted the downtime bound: smaller than the working set, or (when the socket
    // proved fast enough) the whole of it within the bound. On a loaded host the measured socket rate swings
    // with the scheduler, so pre-copy may stop first at the round limit or stop shrinking: that is accepted only
    // once the throttle is strong (helpers saw 'max-rounds' and 'stuck' at 0.98 on a host at load ~10).
    assert.ok(
      r.precopyEnded === 'fits' || r.throttle >= 0.9,
      `pre-copy ended because what was left fitted (or after throttling hard): ${JSON.stringify(r)}`,
    );
  } finally {
    await src.dispose();
    await dst.dispose();
  }
});
