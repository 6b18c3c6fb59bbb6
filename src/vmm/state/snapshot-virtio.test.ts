// Snapshots of a VM whose guest is in the middle of virtio-blk I/O: the transport (queues, MSI-X, config
// space with the BARs) is saved per PCI function, and a vhost-user device first takes its queues'
// positions back from the back-end. The vblk guest (polling, no OS) runs its request phases; the run is
// snapshotted part-way, ended, and restored in a new VM on the same image, which finishes it.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { VmController } from '../controller.js';
import type { ConsoleSink } from '../serial-console.js';
import type { RunConfig } from '../config.js';
import type { EmuVm } from '../../cpu/emu/emu-vm.js';
import { guestElf } from '../ticker.test-util.js';
import { captureConsole } from '../console-capture.test-util.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-snap-virtio-'));
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const TSVMM = fileURLToPath(new URL('../../../../bin/tsvmm.js', import.meta.url));
/** vblk's request phases: a warm-up and four timed phases of this many 4 KiB requests each. */
const CMDLINE = 'seed=5 bench=24';

/** A 1 MiB image with every sector numbered, so that reads return something to check. */
function image(name: string): string {
  const path = join(dir, name);
  const b = new Uint8Array(1 << 20);
  for (let s = 0; s < b.length / 512; s++) b.fill(s & 0xff, s * 512, s * 512 + 16);
  writeFileSync(path, b);
  return path;
}

function controller(config: Partial<RunConfig>, sink: ConsoleSink, onStart?: (vm: EmuVm) => void): VmController {
  return new VmController({
    config: { kernel: guestElf('vblk'), cmdline: CMDLINE, accel: 'emu', deterministic: true, memBytes: 32 << 20, serial: { kind: 'none' }, cpus: 1, ...config },
    bootSourceGiven: true,
    serialSink: sink,
    ...(onStart !== undefined ? { hooks: { onStart: (b) => onStart(b.vm as EmuVm) } } : {}),
  });
}

/** Runs until exactly `point` instructions have retired, snapshots to `path` and ends the run; its output so far. */
async function snapshotAt(config: Partial<RunConfig>, point: number, path: string): Promise<string> {
  const a = captureConsole();
  let reached: Promise<void> = Promise.resolve();
  let vm: EmuVm | undefined;
  const src = controller(config, a, (v) => {
    vm = v;
    reached = v.pauseAt(point);
  });
  await src.dispatch({ type: 'start' });
  await reached;
  assert.ok(vm!.paused, `the guest ended before instruction ${point}`);
  await src.dispatch({ type: 'pause' });
  await src.dispatch({ type: 'snapshot-create', snapshotPath: path, kind: 'full' });
  await src.dispatch({ type: 'stop', by: 'library' });
  return a.text();
}

/** Restores `path` in a new VM with `config`'s devices and runs it to the end: its output and stop. */
async function finish(config: Partial<RunConfig>, path: string): Promise<{ text: string; stop: unknown; instructions: number | null | undefined }> {
  const b = captureConsole();
  const dst = new VmController({ config: { accel: 'emu', serial: { kind: 'none' }, ...config }, serialSink: b });
  await dst.dispatch({ type: 'snapshot-load', snapshotPath: path, resume: true });
  const stop = await dst.stopped;
  const s = await dst.dispatch({ type: 'get-stats' });
  return { text: b.text(), stop, instructions: s.instructions };
}

test('in-process virtio-blk: restored in the middle of the guest\'s I/O, the run ends as an undisturbed one (output, instructions, image)', { timeout: 300_000 }, async () => {
  const refImg = image('ref.img');
  const ref = captureConsole();
  const r = controller({ drives: [{ id: 'drive0', path: refImg, readOnly: false }] }, ref);
  await r.dispatch({ type: 'start' });
  const refStop = await r.stopped;
  const total = (await r.dispatch({ type: 'get-stats' })).instructions!;
  assert.match(ref.text(), /vblk-bench: ok/, ref.text());
  // Points spread over the I/O phases (the device is set up in the first few per cent of the run).
  for (const frac of [0.35, 0.6, 0.85]) {
    const point = Math.floor(total * frac);
    const img = image(`at-${frac}.img`);
    const drives = [{ id: 'drive0', path: img, readOnly: false }];
    const path = join(dir, `blk-${frac}.snap`);
    const before = await snapshotAt({ drives }, point, path);
    assert.ok(before.includes('capacity') && !before.includes('vblk-bench: ok'), `the snapshot at ${frac} is taken while the guest drives the device: ${before}`);
    const after = await finish({ drives }, path);
    assert.equal(before + after.text, ref.text(), `output restored at instruction ${point}`);
    assert.deepEqual(after.stop, refStop);
    assert.equal(after.instructions, total, 'the restored run retires what the undisturbed one did');
    assert.ok(readFileSync(img).equals(readFileSync(refImg)), `the image restored at ${frac} ends as the reference's`);
  }
});

test('the snapshot of a VM with a virtio-blk refuses a destination without that disk, naming the device', { timeout: 120_000 }, async () => {
  const img = image('refuse.img');
  const path = join(dir, 'refuse.snap');
  const drives = [{ id: 'drive0', path: img, readOnly: false }];
  const r = captureConsole();
  const probe = controller({ drives }, r);
  await probe.dispatch({ type: 'start' });
  await probe.stopped;
  const total = (await probe.dispatch({ type: 'get-stats' })).instructions!;
  await snapshotAt({ drives }, Math.floor(total / 2), path);
  const dst = new VmController({ config: { accel: 'emu', serial: { kind: 'none' } }, serialSink: captureConsole() });
  await assert.rejects(dst.dispatch({ type: 'snapshot-load', snapshotPath: path, resume: true }), /virtio|pci 00:01\.0/);
});

async function ownBackend(img: string): Promise<{ socket: string; child: ChildProcess }> {
  const socket = join(dir, `vu-${children.size}.sock`);
  const child = spawn(process.execPath, [TSVMM, 'device', 'vhost-user-blk', '--socket', socket, '--image', img, '--serial', 'SNAPVU'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  for (const t0 = Date.now(); !text.includes('serving'); ) {
    if (Date.now() - t0 > 60_000) throw new Error(`the vhost-user back-end did not start: ${text}`);
    await new Promise((res) => setTimeout(res, 20));
  }
  return { socket, child };
}

test("vhost-user-blk: the queues' positions come back from the back-end, and a restored VM goes on with it", { timeout: 300_000 }, async () => {
  // The back-end runs in its own process, so the guest's polling (and the instruction count) varies from
  // run to run: the output and the image are compared, not counts.
  const refImg = image('vu-ref.img');
  const refBe = await ownBackend(refImg);
  const ref = captureConsole();
  const r = controller({ vhostUserBlks: [refBe.socket] }, ref);
  await r.dispatch({ type: 'start' });
  await r.stopped;
  refBe.child.kill('SIGKILL');
  assert.match(ref.text(), /vblk-bench: ok/, ref.text());

  const img = image('vu.img');
  const be = await ownBackend(img);
  const path = join(dir, 'vu.snap');
  // Paused from the host as the guest prints that its third phase starts (the instruction count varies).
  const a = captureConsole();
  let src: VmController | undefined;
  let paused: Promise<unknown> | undefined;
  const sink: ConsoleSink = {
    write(bytes) {
      a.write(bytes);
      if (paused === undefined && a.text().includes('seq-write start')) paused = src!.dispatch({ type: 'pause' });
    },
    close() {},
  };
  src = controller({ vhostUserBlks: [be.socket] }, sink);
  await src.dispatch({ type: 'start' });
  for (const t0 = Date.now(); paused === undefined; ) {
    if (Date.now() - t0 > 120_000) throw new Error(`the guest never reached its third phase: ${a.text()}`);
    await new Promise((res) => setTimeout(res, 5));
  }
  await paused;
  await src.dispatch({ type: 'snapshot-create', snapshotPath: path, kind: 'full' });
  await src.dispatch({ type: 'stop', by: 'library' });
  const before = a.text();
  assert.ok(!before.includes('vblk-bench: ok'), `the snapshot is taken while the guest drives the device: ${before}`);
  const after = await finish({ vhostUserBlks: [be.socket] }, path);
  assert.equal(before + after.text, ref.text());
  assert.ok(readFileSync(img).equals(readFileSync(refImg)), 'the image ends as the reference run left its own');
  be.child.kill('SIGKILL');
});
