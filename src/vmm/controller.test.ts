import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { VmController } from './controller.js';
import { ControllerError, type ControllerErrorCode } from './controller-types.js';
import type { ConsoleSink } from './serial-console.js';
import { endlessTickerOutput, guestElf, tickerOutput } from './ticker.test-util.js';
import { captureConsole } from './console-capture.test-util.js';
import { until as pollUntil } from '../util/until.test-util.js';

const TICKER = guestElf('ticker');

function controller(cmdline: string, sink: ConsoleSink, extra: { cpus?: number } = {}): VmController {
  return new VmController({
    config: { kernel: TICKER, cmdline, accel: 'emu', deterministic: true, memBytes: 32 << 20, serial: { kind: 'none' }, cpus: extra.cpus ?? 1 },
    bootSourceGiven: true,
    serialSink: sink,
  });
}

async function rejectsWith(p: Promise<unknown>, code: ControllerErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ControllerError, `a ControllerError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const until = (cond: () => boolean, what: string, ms = 20_000): Promise<void> => pollUntil(cond, what, ms, 5);

test('the state machine: NotStarted → Running ⇄ Paused → Stopped, and actions refused in the wrong state', async () => {
  const sink = captureConsole();
  const c = controller('lines=0 work=2000', sink);
  assert.equal(c.state, 'NotStarted');
  await rejectsWith(c.dispatch({ type: 'pause' }), 'invalid-state', /has not started/);
  await rejectsWith(c.dispatch({ type: 'resume' }), 'invalid-state');
  await rejectsWith(c.dispatch({ type: 'send-ctrl-alt-del' }), 'invalid-state');
  await rejectsWith(c.dispatch({ type: 'snapshot-create', snapshotPath: '/tmp/x', kind: 'full' }), 'invalid-state', /Paused/);
  await c.dispatch({ type: 'start' });
  assert.equal(c.state, 'Running');
  await rejectsWith(c.dispatch({ type: 'start' }), 'invalid-state');
  await rejectsWith(c.dispatch({ type: 'set-machine', machine: { cpus: 2, memBytes: 64 << 20 }, partial: false }), 'invalid-state', /before start/);
  await until(() => sink.text().includes('tick 3 '), 'three lines');
  await c.dispatch({ type: 'pause' });
  assert.equal(c.state, 'Paused');
  await c.dispatch({ type: 'pause' }); // idempotent, as Firecracker's
  const frozen = sink.text();
  const insns = (await c.dispatch({ type: 'get-stats' })).instructions;
  await sleep(150);
  assert.equal(sink.text(), frozen, 'a paused guest prints nothing');
  assert.equal((await c.dispatch({ type: 'get-stats' })).instructions, insns, 'and retires nothing');
  const snapDir = mkdtempSync(join(tmpdir(), 'tsvmm-ctl-'));
  await rejectsWith(c.dispatch({ type: 'snapshot-create', snapshotPath: join(snapDir, 'd.snap'), kind: 'diff' }), 'invalid-state', /track_dirty_pages/);
  await c.dispatch({ type: 'snapshot-create', snapshotPath: join(snapDir, 'f.snap'), kind: 'full' });
  assert.ok(readFileSync(join(snapDir, 'f.snap')).length > 4096, 'a snapshot file was written');
  rmSync(snapDir, { recursive: true, force: true });
  const manifest = await c.dispatch({ type: 'get-manifest' });
  assert.equal(manifest.origin.backend, 'emu');
  assert.deepEqual(manifest.machine, { cpus: 1, memBytes: 32 << 20 });
  assert.ok(manifest.devices.some((d) => d.name === 'com1 (16550a)') && !manifest.devices.some((d) => d.name === 'pit'), 'the VMM\'s devices, not the backend\'s chips');
  assert.equal(manifest.pmu.version, 4);
  await c.dispatch({ type: 'resume' });
  assert.equal(c.state, 'Running');
  await until(() => sink.text().length > frozen.length + 40, 'more lines after resume');
  const stop = await c.dispatch({ type: 'stop', by: 'library', reason: 'test over' });
  assert.deepEqual(stop, { kind: 'quit', by: 'library', reason: 'test over' });
  assert.equal(c.state, 'Stopped');
  assert.deepEqual(await c.stopped, stop);
  await rejectsWith(c.dispatch({ type: 'resume' }), 'invalid-state', /has stopped/);
  assert.equal((await c.dispatch({ type: 'describe' })).state, 'Stopped');
  // The output up to the stop is exactly the ticker's arithmetic, pause or not.
  const ticks = sink.text().split('\r\n').filter((l) => l.startsWith('tick ')).length;
  assert.equal(sink.text(), endlessTickerOutput(ticks, 2000));
});

test('pausing and resuming at arbitrary moments does not change a deterministic run (1 and 2 vCPUs)', async () => {
  // The work per line is sized so that the run spans many event-loop turns on a fast host too (with 40 000 the
  // compiled ticker sometimes ended after 2 pauses).
  for (const cpus of [1, 2]) {
    const reference = controller('lines=40 work=400000', captureConsole(), { cpus });
    await reference.dispatch({ type: 'start' });
    await reference.stopped;
    const expected = await reference.dispatch({ type: 'get-stats' });

    const sink = captureConsole();
    const c = controller('lines=40 work=400000', sink, { cpus });
    await c.dispatch({ type: 'start' });
    // Pause and resume back to back, with a fixed pseudo-random number of event-loop turns between
    // (seed 7): each pause lands at whatever round boundary the run has reached, however fast the host.
    let seed = 7;
    let pauses = 0;
    while (c.state !== 'Stopped') {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      for (let k = seed % 4; k > 0; k--) await new Promise((r) => setImmediate(r));
      if (c.state !== 'Running') break;
      await c.dispatch({ type: 'pause' }).catch(() => undefined);
      if ((c.state as string) === 'Paused') pauses++;
      await c.dispatch({ type: 'resume' }).catch(() => undefined);
    }
    const stop = await c.stopped;
    const got = await c.dispatch({ type: 'get-stats' });
    assert.deepEqual(stop, { kind: 'debug-exit', value: 0 }, `${cpus} vCPU(s)`);
    assert.equal(sink.text(), tickerOutput(40, 400000), `${cpus} vCPU(s)`);
    assert.ok(pauses >= 3, `paused ${pauses} times`);
    assert.equal(got.instructions, expected.instructions, 'the same instructions retired');
    assert.deepEqual(got.exits, expected.exits, 'the same events, in the same numbers');
  }
});

test('pause-at pauses with exactly the instructions asked for, as often as asked, without changing the run', async () => {
  const cmdline = 'lines=12 work=20000';
  const reference = controller(cmdline, captureConsole(), { cpus: 2 });
  await reference.dispatch({ type: 'start' });
  await reference.stopped;
  const expected = await reference.dispatch({ type: 'get-stats' });
  const total = expected.instructions!;

  const sink = captureConsole();
  const c = controller(cmdline, sink, { cpus: 2 });
  await rejectsWith(c.dispatch({ type: 'pause-at', instructions: 1000 }), 'invalid-state', /has not started/);
  await c.dispatch({ type: 'start' });
  // Wherever the pause lands (host speed decides); from there on the VM is only ever paused at a point, so a fast
  // host cannot run it to its end between a resume and the next pause.
  await c.dispatch({ type: 'pause' });
  let seed = 11;
  let at = 0;
  for (let k = 0; k < 6; k++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    // A seeded distance on from where it is paused.
    at = (await c.dispatch({ type: 'get-stats' })).instructions! + 1 + (seed % Math.floor(total / 16));
    if (at >= total) break;
    const { reached } = await c.dispatch({ type: 'pause-at', instructions: at }); // runs on from the pause
    await reached;
    assert.equal(c.state, 'Paused', `paused at ${at}`);
    assert.equal((await c.dispatch({ type: 'get-stats' })).instructions, at, 'exactly there');
  }
  at = (await c.dispatch({ type: 'get-stats' })).instructions!;
  await rejectsWith(c.dispatch({ type: 'pause-at', instructions: at - 1 }), 'invalid-argument', /already retired/);
  await rejectsWith(c.dispatch({ type: 'pause-at', instructions: 1.5 }), 'invalid-argument', /whole number/);
  // A point past the end: the guest ends first and the promise says so.
  const { reached } = await c.dispatch({ type: 'pause-at', instructions: total + 1000 });
  await rejectsWith(reached, 'invalid-state', new RegExp(`stopped at instruction ${total}, before`));
  assert.deepEqual(await c.stopped, { kind: 'debug-exit', value: 0 });
  assert.equal(sink.text(), tickerOutput(12, 20000));
  const got = await c.dispatch({ type: 'get-stats' });
  assert.equal(got.instructions, total, 'the same instructions retired');
  assert.deepEqual(got.exits, expected.exits, 'the same events, in the same numbers');
});

test('SendCtrlAltDel types Ctrl+Alt+Del on the i8042; the guest resets through its reset line', async () => {
  const sink = captureConsole();
  const c = controller('lines=0 work=2000', sink);
  await c.dispatch({ type: 'start' });
  await until(() => sink.text().includes('tick 2 '), 'the guest running');
  await c.dispatch({ type: 'send-ctrl-alt-del' });
  const stop = await c.stopped;
  assert.deepEqual(stop, { kind: 'reset', source: 'i8042' });
  assert.match(sink.text(), /ticker: ctrl-alt-del, resetting through the i8042\r\n$/);
});

test('configuration is checked field by field; start needs a boot source', async () => {
  const c = new VmController({ config: { accel: 'emu', serial: { kind: 'none' } } });
  await rejectsWith(c.dispatch({ type: 'start' }), 'not-configured', /kernel/);
  await rejectsWith(c.dispatch({ type: 'set-machine', machine: { cpus: 0, memBytes: 64 << 20 }, partial: false }), 'invalid-argument', /vCPU count 0/);
  await rejectsWith(c.dispatch({ type: 'set-machine', machine: { cpus: 1, memBytes: 1000 }, partial: false }), 'invalid-argument', /memory size/);
  await rejectsWith(c.dispatch({ type: 'set-machine', machine: { cpus: 1 }, partial: false }), 'invalid-argument', /memory size is required/);
  await rejectsWith(c.dispatch({ type: 'set-machine', machine: { smt: true }, partial: true }), 'not-supported', /SMT/);
  await rejectsWith(c.dispatch({ type: 'set-boot-source', bootSource: { kernel: '/nonexistent/vmlinux' } }), 'bad-image', /no such file/);
  await c.dispatch({ type: 'set-machine', machine: { cpus: 2, memBytes: 64 << 20, trackDirtyPages: true }, partial: false });
  await c.dispatch({ type: 'set-machine', machine: { cpus: 3 }, partial: true });
  assert.deepEqual(await c.dispatch({ type: 'get-machine' }), { cpus: 3, memBytes: 64 << 20, smt: false, trackDirtyPages: true });
  await c.dispatch({ type: 'set-machine', machine: { cpus: 1, memBytes: 32 << 20 }, partial: false });
  assert.equal((await c.dispatch({ type: 'get-machine' })).trackDirtyPages, false, 'PUT resets what it leaves out');
  const f = await c.dispatch({ type: 'get-features' });
  assert.equal(f.backend, 'emu');
  assert.ok(f.features.some((x) => x.name === 'pmu'));
  await c.dispose();
  assert.equal(c.state, 'Stopped');
});

test('metrics: set once, flushed as JSON lines on request and at the stop', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-metrics-'));
  try {
    const path = join(dir, 'metrics.json');
    const sink = captureConsole();
    const c = controller('lines=5 work=1000', sink);
    await rejectsWith(c.dispatch({ type: 'flush-metrics' }), 'invalid-state', /not configured/);
    await c.dispatch({ type: 'set-metrics', path });
    await rejectsWith(c.dispatch({ type: 'set-metrics', path }), 'invalid-state', /already/);
    await rejectsWith(new VmController().dispatch({ type: 'set-metrics', path: join(dir, 'no', 'such', 'dir') }), 'host-io', /directory does not exist/);
    await c.dispatch({ type: 'flush-metrics' });
    await c.dispatch({ type: 'start' });
    await c.stopped;
    const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { state: string; instructions: number | null; serial_bytes_out: number });
    assert.equal(lines.length, 2);
    assert.equal(lines[0]!.state, 'NotStarted');
    assert.equal(lines[1]!.state, 'Stopped');
    assert.ok(lines[1]!.instructions! > 5000, 'the final flush has the run counters');
    assert.equal(lines[1]!.serial_bytes_out, tickerOutput(5, 1000).length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
