/**
 * virtio-blk three ways, driven by the project's own `vblk` guest (C, polling, no OS): in process,
 * through a vhost-user back-end of tsvmm's own (`tsvmm device vhost-user-blk`), and through Debian's
 * qemu-storage-daemon; and tsvmm's back-end under QEMU's vhost-user-blk-pci front-end. A back-end killed
 * while the guest reads gives the guest an I/O error and the VMM runs on. The in-process run goes
 * through the event channels (the notify register is an I/O event). Every child is killed at the end.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guestPath, kvmUnusable, tsvmmBin } from './guest-runner.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const SECTOR0 = Array.from({ length: 16 }, (_, i) => (0xa0 + i).toString(16)).join(' ');

const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsvmm-vhost-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Proc {
  readonly child: ChildProcess;
  out(): string;
  readonly exited: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
}

function start(cmd: string, args: readonly string[]): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString('latin1')));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString('latin1')));
  const exited = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (status, signal) => {
      children.delete(child);
      resolve({ status, signal });
    }),
  );
  return { child, out: () => text, exited };
}

async function until(cond: () => boolean, what: string, p: Proc, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; output so far:\n${p.out()}`);
    await sleep(20);
  }
}

/** A 1 MiB raw image whose sector 0 starts with a0 a1 ... af. */
function image(name: string): string {
  const path = join(dir, name);
  const b = new Uint8Array(1 << 20);
  for (let i = 0; i < 16; i++) b[i] = 0xa0 + i;
  writeFileSync(path, b);
  return path;
}

/** What vblk's pattern for `seed` puts in sector 1. */
function pattern(seed: number): Uint8Array {
  return Uint8Array.from({ length: 512 }, (_, i) => (seed * 31 + i * 7) & 0xff);
}

async function ownBackend(img: string, serial: string, extra: readonly string[] = []): Promise<{ proc: Proc; socket: string }> {
  const socket = join(dir, `${serial}.sock`);
  const proc = start(process.execPath, [tsvmmBin, 'device', 'vhost-user-blk', '--socket', socket, '--image', img, '--serial', serial, ...extra]);
  await until(() => proc.out().includes('serving'), 'the back-end listening', proc);
  return { proc, socket };
}

function tsvmmRun(accel: 'emu' | 'kvm', cmdline: string, disk: string[]): Proc {
  return start(process.execPath, [tsvmmBin, 'run', '--accel', accel, '--mem', '64M', '--kernel', guestPath('vblk'), '--cmdline', cmdline, ...disk]);
}

function assertGuestOk(out: string, serial: string, what: string): void {
  assert.match(out, /vblk: 00:[0-9a-f]{2}\.0 capacity 2048 sectors/, what);
  assert.ok(out.includes(`read sector 0 status 0: ${SECTOR0}`), `${what}: ${out}`);
  assert.ok(out.includes(`serial status 0 "${serial}"`), `${what}: ${out}`);
  assert.ok(out.includes('vblk: write 0 flush 0 read-back 0 matches'), `${what}: ${out}`);
  assert.ok(out.includes('vblk: all ok'), `${what}: ${out}`);
}

const qsdMissing = spawnSync('qemu-storage-daemon', ['--version']).status === 0 ? false : 'qemu-storage-daemon is not installed (Debian: qemu-system-common)';
const qemuMissing = (() => {
  const r = spawnSync('qemu-system-x86_64', ['-device', 'help'], { encoding: 'utf8' });
  if (r.status !== 0) return 'qemu-system-x86_64 is not installed';
  return r.stdout.includes('vhost-user-blk-pci') ? false : 'this QEMU has no vhost-user-blk-pci device';
})();

for (const accel of ['emu', 'kvm'] as const) {
  const skip = accel === 'kvm' ? kvmUnusable : false;
  test(`${accel}: in-process virtio-blk (notifications through I/O events) and tsvmm's own vhost-user back-end serve the vblk guest`, { skip, timeout: 120_000 }, async () => {
    const img = image(`inproc-${accel}.img`);
    const p = tsvmmRun(accel, 'seed=3', ['--drive', `${img},serial=INPROC`]);
    const r = await p.exited;
    assertGuestOk(p.out(), 'INPROC', 'in process');
    assert.equal(r.status, 1, p.out());
    assert.deepEqual(readFileSync(img).subarray(512, 1024), Buffer.from(pattern(3)), 'the write reached the image');

    const img2 = image(`vu-${accel}.img`);
    const be = await ownBackend(img2, `OWN${accel}`);
    try {
      const f = tsvmmRun(accel, 'seed=4', ['--vhost-user-blk', be.socket]);
      const fr = await f.exited;
      assertGuestOk(f.out(), `OWN${accel}`, 'tsvmm front-end, tsvmm back-end');
      assert.equal(fr.status, 1, f.out());
      assert.deepEqual(readFileSync(img2).subarray(512, 1024), Buffer.from(pattern(4)));
      await until(() => be.proc.out().includes('front-end disconnected'), 'the back-end seeing the front-end go', be.proc);
    } finally {
      be.proc.child.kill('SIGKILL');
    }
  });
}

// The same requests with the queue's completions as MSI-X interrupts (vblk `msix`: the guest sleeps in HLT until one
// comes): on kvm through KVM_IRQFD with an MSI route, and with --event-channels in-process through KVM_SIGNAL_MSI.
for (const accel of ['emu', 'kvm'] as const) {
  const skip = accel === 'kvm' ? kvmUnusable : false;
  test(`${accel}: vblk with MSI-X interrupts, in process and from tsvmm's own vhost-user back-end${accel === 'kvm' ? ', with and without KVM_IOEVENTFD/KVM_IRQFD' : ''}`, { skip, timeout: 120_000 }, async () => {
    for (const channels of accel === 'kvm' ? [[], ['--event-channels', 'in-process']] : [[]]) {
      const what = `${accel} ${channels.join(' ') || 'default channels'}`;
      const img = image(`msix-${accel}-${channels.length}.img`);
      const p = tsvmmRun(accel, 'msix seed=5', ['--drive', `${img},serial=MSIX`, ...channels]);
      const r = await p.exited;
      assertGuestOk(p.out(), 'MSIX', `${what}, in process`);
      assert.match(p.out(), /MSI-X interrupts\r?\n[\s\S]*vblk: [1-9]\d* MSI-X interrupts/, p.out());
      assert.equal(r.status, 1, p.out());
      const img2 = image(`msix-vu-${accel}-${channels.length}.img`);
      const be = await ownBackend(img2, 'MSIXVU');
      try {
        const f = tsvmmRun(accel, 'msix seed=5', ['--vhost-user-blk', be.socket, ...channels]);
        const fr = await f.exited;
        assertGuestOk(f.out(), 'MSIXVU', `${what}, vhost-user`);
        assert.match(f.out(), /vblk: [1-9]\d* MSI-X interrupts/, f.out());
        assert.equal(fr.status, 1, f.out());
      } finally {
        be.proc.child.kill('SIGKILL');
      }
    }
  });
}

test("emu: tsvmm's own back-end with --ro: reads and the serial work, the guest's write fails with IOERR, the image is untouched", { timeout: 120_000 }, async () => {
  const img = image('ro.img');
  const before = readFileSync(img);
  const be = await ownBackend(img, 'READONLY', ['--ro']);
  try {
    assert.match(be.proc.out(), /\(1048576 bytes, read-only\)/);
    const f = tsvmmRun('emu', 'seed=7', ['--vhost-user-blk', be.socket]);
    const fr = await f.exited;
    const out = f.out();
    assert.ok(out.includes(`read sector 0 status 0: ${SECTOR0}`), out);
    assert.ok(out.includes('serial status 0 "READONLY"'), out);
    // vblk's write gets VIRTIO_BLK_S_IOERR (1); its flush succeeds and the read-back shows the old bytes.
    assert.match(out, /vblk: write 1 flush 0 read-back 0 DIFFERS/, out);
    assert.match(out, /vblk: FAILED/, out);
    assert.notEqual(fr.status, 1, out);
    assert.deepEqual(readFileSync(img), before, 'the image is untouched');
  } finally {
    be.proc.child.kill('SIGKILL');
  }
});

test('emu: tsvmm as the front-end of qemu-storage-daemon --export type=vhost-user-blk', { skip: qsdMissing, timeout: 120_000 }, async () => {
  const img = image('qsd.img');
  const socket = join(dir, 'qsd.sock');
  const qsd = start('qemu-storage-daemon', ['--blockdev', `driver=file,node-name=disk,filename=${img}`, '--export', `type=vhost-user-blk,id=exp0,node-name=disk,addr.type=unix,addr.path=${socket},writable=on`]);
  try {
    await until(() => existsSync(socket), 'qemu-storage-daemon listening', qsd);
    const f = tsvmmRun('emu', 'seed=5', ['--vhost-user-blk', socket]);
    const fr = await f.exited;
    // qemu-storage-daemon's serial is its export's default, "vhost_user_blk".
    assertGuestOk(f.out(), 'vhost_user_blk', 'tsvmm front-end, qemu-storage-daemon');
    assert.equal(fr.status, 1, f.out());
    assert.deepEqual(readFileSync(img).subarray(512, 1024), Buffer.from(pattern(5)));
  } finally {
    qsd.child.kill('SIGKILL');
  }
});

test("QEMU's vhost-user-blk-pci front-end on tsvmm's own back-end", { skip: qemuMissing, timeout: 120_000 }, async () => {
  const img = image('qemu-fe.img');
  const be = await ownBackend(img, 'FORQEMU');
  try {
    const q = start('qemu-system-x86_64', [
      '-machine', 'accel=tcg', '-m', '64M', '-object', 'memory-backend-memfd,id=mem,size=64M,share=on', '-machine', 'memory-backend=mem',
      '-display', 'none', '-nographic', '-no-reboot', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
      '-kernel', guestPath('vblk'), '-append', 'seed=6',
      '-chardev', `socket,id=vu,path=${be.socket}`, '-device', 'vhost-user-blk-pci,chardev=vu,num-queues=1,disable-legacy=on',
    ]);
    const r = await q.exited;
    assertGuestOk(q.out(), 'FORQEMU', 'QEMU front-end, tsvmm back-end');
    assert.equal(r.status, 1, q.out());
    assert.deepEqual(readFileSync(img).subarray(512, 1024), Buffer.from(pattern(6)));
  } finally {
    be.proc.child.kill('SIGKILL');
  }
});

test('emu: a back-end killed while the guest reads gives the guest an I/O error, and tsvmm runs on', { timeout: 120_000 }, async () => {
  const img = image('death.img');
  const be = await ownBackend(img, 'DOOMED');
  let f: Proc | undefined;
  try {
    f = tsvmmRun('emu', 'loop', ['--vhost-user-blk', be.socket]);
    const fe = f;
    await until(() => fe.out().includes('vblk: looping'), 'the guest reading in a loop', fe);
    be.proc.child.kill('SIGKILL');
    const r = await fe.exited;
    const out = fe.out();
    assert.match(out, /the back-end closed its socket; requests now fail with an I\/O error/);
    assert.match(out, /vblk: read failed with status 1 after \d+ reads/, out);
    assert.equal(r.status, 5, `the guest's own exit (debug-exit 2): ${out}`);
  } finally {
    be.proc.child.kill('SIGKILL');
    f?.child.kill('SIGKILL');
  }
});
