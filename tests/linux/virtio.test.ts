// Linux's own virtio drivers on an ext4 root: the Debian 12 kernel boots the virtio initramfs of
// src/vmm/linux-disk.ts (scripts/fetch-linux-disk.mjs builds it), which loads virtio_pci, virtio_blk,
// virtio_net, virtio_console, virtio-rng and ext4 and switches to the ext4 image on /dev/vda. At the
// shell the test checks what the drivers found (fstrim through discard, a read-only vdb, a line through
// hvc0 to the host), writes a file, syncs, kills the VMM with SIGKILL, boots the same image again and
// finds the file intact and the boot counter advanced; then writes another file, reboots the guest (the
// VMM ends with status 0), boots a third time and finds both files.
// The same image runs on QEMU TCG with QEMU's own virtio devices (this validates the image and the test)
// and on tsvmm emu with tsvmm's (three boots of ~1 billion instructions each, a few minutes quiet).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DISK_DIR, LINUX_DISK_CMDLINE, MODULES_MARKER, ROOT_MARKER, SHELL_PROMPT } from '../../src/vmm/linux-disk.js';
import { KERNEL_DIR } from '../../src/vmm/linux-guest.js';
import { ShellSession, type Machine } from './shell-session.js';

const kernel = `${KERNEL_DIR}/vmlinuz`;
const initrd = join(DISK_DIR, 'initramfs.cpio');
const rootImage = join(DISK_DIR, 'root.ext4');
const haveImages = existsSync(kernel) && existsSync(initrd) && existsSync(rootImage);
const noImages = 'no virtio Linux guest in .cache/linux-disk/ (node scripts/fetch-linux-disk.mjs builds it: the kernel package for its modules, mkfs.ext4 -d for the root)';
const haveQemu = spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status === 0;
/** Generous for a loaded CI machine (emu boots this guest in minutes there), bounded so that a stuck guest fails. */
const BOOT_MS = 900_000;
const CMD_MS = 300_000;
const TEST_MS = 2_700_000;
const TSVMM = fileURLToPath(new URL('../../../bin/tsvmm.js', import.meta.url));
const SERIAL = 'TSVMM-VIRTIO-0001';
const RO_TAG = 'tsvmm-ro-disk-01';

type Target = { kind: 'qemu-tcg' } | { kind: 'tsvmm'; accel: 'emu' | 'kvm' };

/**
 * The VMM command line that boots the disk guest with a virtio disk, a second one read-only (`ro`, vdb),
 * rng and console (hvc0, its output into `hvc`).
 */
function command(t: Target, disk: string, ro: string, hvc: string): { cmd: string; args: string[] } {
  if (t.kind === 'qemu-tcg') {
    return {
      cmd: 'qemu-system-x86_64',
      args: ['-accel', 'tcg', '-m', '256M', '-smp', '1', '-nodefaults', '-nographic', '-no-reboot', '-serial', 'stdio', '-monitor', 'none', '-kernel', kernel, '-initrd', initrd, '-append', LINUX_DISK_CMDLINE,
        '-drive', `file=${disk},format=raw,if=none,id=d0,cache=writeback`, '-device', `virtio-blk-pci,drive=d0,serial=${SERIAL}`,
        '-drive', `file=${ro},format=raw,if=none,id=d1,readonly=on`, '-device', 'virtio-blk-pci,drive=d1', '-device', 'virtio-rng-pci',
        '-chardev', `file,id=hvc,path=${hvc}`, '-device', 'virtio-serial-pci', '-device', 'virtconsole,chardev=hvc'],
    };
  }
  return {
    cmd: process.execPath,
    args: [TSVMM, 'run', '--kernel', kernel, '--initrd', initrd, '--cmdline', LINUX_DISK_CMDLINE, '--mem', '256M', '--accel', t.accel, '--serial', 'stdio', '--drive', `${disk},serial=${SERIAL}`, '--drive', `${ro},ro`, '--rng', '--virtio-console', `file:${hvc}`, ...(t.accel === 'emu' ? ['--deterministic'] : [])],
  };
}

async function boot(t: Target, disk: string, ro: string, hvc: string): Promise<ShellSession> {
  const { cmd, args } = command(t, disk, ro, hvc);
  const m: Machine = t.kind === 'qemu-tcg' ? { kind: 'qemu-tcg' } : { kind: 'tsvmm', accel: t.accel, decompress: 'host' };
  const s = new ShellSession(m, { kernel, initrd, cmdline: LINUX_DISK_CMDLINE, cpus: 1, memMiB: 256 }, { cmd, args });
  try {
    await s.waitFor(MODULES_MARKER, BOOT_MS);
    await s.waitFor(ROOT_MARKER, BOOT_MS);
    await s.waitFor(SHELL_PROMPT, BOOT_MS);
  } catch (e) {
    s.kill(); // a boot that fails must not leave its VMM running (nothing else holds the session yet)
    throw e;
  }
  return s;
}

const targets: { t: Target; name: string; skip: string | false }[] = [
  { t: { kind: 'qemu-tcg' }, name: 'QEMU TCG (its own virtio devices: validates the image)', skip: !haveImages ? noImages : !haveQemu ? 'qemu-system-x86_64 not installed' : false },
  { t: { kind: 'tsvmm', accel: 'emu' }, name: 'tsvmm emu', skip: !haveImages ? noImages : false },
];

for (const { t, name, skip } of targets) {
  test(`virtio on ${name}: the drivers find the devices, ext4 root on vda, discard, a read-only vdb, hvc0 reaches the host, a synced file survives SIGKILL of the VMM, files survive a guest reboot`, { skip, timeout: TEST_MS }, async (tc) => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvmm-virtio-'));
    const disk = join(dir, 'root.ext4');
    const hvc = join(dir, 'hvc0.txt');
    const ro = join(dir, 'ro.img');
    const roBytes = new Uint8Array(1 << 20);
    roBytes.set(new TextEncoder().encode(RO_TAG));
    writeFileSync(ro, roBytes);
    copyFileSync(rootImage, disk);
    try {
      const s = await boot(t, disk, ro, hvc);
      try {
        const run = async (cmd: string) => {
          const r = await s.run(cmd, CMD_MS);
          assert.equal(r.status, 0, `"${cmd}" exited with ${r.status}: ${r.output}`);
          return r.output;
        };
        const dmesg = await run('dmesg');
        assert.match(dmesg, /virtio_blk virtio\d: \[vda\] 98304 512-byte logical blocks \(50\.3 MB\/48\.0 MiB\)/);
        assert.match(dmesg, /EXT4-fs \(vda\): mounted filesystem/);
        assert.equal((await run('cat /sys/block/vda/serial')).trim(), SERIAL);
        // hvc0, the second console: a line written to it reaches the host's end of the device.
        await run('echo tsvmm-hvc0-line > /dev/hvc0');
        for (const t0 = Date.now(); !readFileSync(hvc, 'latin1').includes('tsvmm-hvc0-line') && Date.now() - t0 < 10_000; ) await new Promise((r) => setTimeout(r, 50));
        assert.match(readFileSync(hvc, 'latin1'), /tsvmm-hvc0-line/, 'the line written to /dev/hvc0 reached the host');
        assert.match(await run('cat /proc/mounts'), /^\/dev\/vda \/ ext4 rw/m);
        // Discard: the driver sees the device's limits and ext4 trims its free blocks through it.
        assert.ok(Number((await run('cat /sys/block/vda/queue/discard_max_bytes')).trim()) > 0, 'vda takes discards');
        assert.match(await run('fstrim -v /'), /\/: \d+ bytes trimmed/);
        // The read-only disk: the kernel knows it, reads it, and a write fails without reaching the image.
        assert.equal((await run('cat /sys/block/vdb/ro')).trim(), '1');
        assert.equal((await run('head -c 16 /dev/vdb')).trim(), RO_TAG);
        const w = await s.run('dd if=/dev/zero of=/dev/vdb bs=512 count=1 conv=fsync', CMD_MS);
        assert.notEqual(w.status, 0, `a write to the read-only disk succeeded: ${w.output}`);
        assert.deepEqual(new Uint8Array(readFileSync(ro)), roBytes, 'the read-only image is untouched');
        assert.match(await run('cat /sys/class/misc/hw_random/rng_available'), /virtio_rng\.\d/);
        assert.match(await run('head -c 64 /dev/hwrng | od -An -tx1 | wc -w'), /^64$/m);
        assert.equal((await run('cat /var/boots')).trim(), '1');
        // The interrupt path the driver chose: MSI-X (PCI-MSIX in /proc/interrupts) where the device offers it.
        tc.diagnostic((await run('grep -i virtio /proc/interrupts')).split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).join(' | '));
        const sum = (await run('seq 1 5000 > /root/persist.txt && sync && sha256sum /root/persist.txt')).trim().split(/\s+/)[0]!;
        assert.match(sum, /^[0-9a-f]{64}$/);
        s.kill(); // SIGKILL: no orderly shutdown, only what sync made durable counts
        await s.exited;
        const s2 = await boot(t, disk, ro, join(dir, 'hvc0-2.txt'));
        let sum2 = '';
        try {
          const r = await s2.run('cat /var/boots; sha256sum /root/persist.txt', CMD_MS);
          assert.equal(r.status, 0, r.output);
          const [boots, line] = r.output.trim().split('\n');
          assert.equal(boots, '2', 'the second boot counted itself on the same disk');
          assert.equal(line!.split(/\s+/)[0], sum, 'the file written and synced before SIGKILL is intact');
          // A reboot of the guest (busybox reboot: init syncs and reboots) ends the VMM with status 0.
          const w = await s2.run('seq 1 3000 > /root/reboot.txt && sha256sum /root/reboot.txt', CMD_MS);
          assert.equal(w.status, 0, w.output);
          sum2 = w.output.trim().split(/\s+/)[0]!;
          s2.type('reboot\n');
          const exit = await s2.exited;
          assert.equal(exit.status, 0, 'the VMM ends with status 0 when its guest reboots');
        } finally {
          s2.kill();
        }
        const s3 = await boot(t, disk, ro, join(dir, 'hvc0-3.txt'));
        try {
          const r = await s3.run('cat /var/boots; sha256sum /root/persist.txt /root/reboot.txt', CMD_MS);
          assert.equal(r.status, 0, r.output);
          const [boots, line1, line2] = r.output.trim().split('\n');
          assert.equal(boots, '3', 'the third boot counted itself on the same disk');
          assert.equal(line1!.split(/\s+/)[0], sum, 'the first file is still intact');
          assert.equal(line2!.split(/\s+/)[0], sum2, 'the file written before the reboot is intact');
          s3.type('poweroff\n');
          const exit = await s3.exited;
          assert.equal(exit.status, 0);
        } finally {
          s3.kill();
        }
      } finally {
        s.kill();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

// INTx as the DSDT's _PRT describes it: with MSI off (pci=nomsi) Linux routes each virtio function's INTA#
// through the _PRT to an IOAPIC pin, level-triggered, and the devices work on it. Slot d's INTA# is GSI
// 16 + (d & 3) (src/devices/pci/pci-intx.ts). tsvmm only: QEMU's DSDT routes through link devices.
test('virtio on tsvmm emu with pci=nomsi: INTx through the _PRT to IOAPIC GSIs 16-19, level-triggered, and the disks work', { skip: haveImages ? false : noImages, timeout: TEST_MS }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-virtio-intx-'));
  const disk = join(dir, 'root.ext4');
  const ro = join(dir, 'ro.img');
  writeFileSync(ro, new Uint8Array(1 << 20));
  copyFileSync(rootImage, disk);
  const cmdline = `${LINUX_DISK_CMDLINE} pci=nomsi`;
  const { cmd, args } = command({ kind: 'tsvmm', accel: 'emu' }, disk, ro, join(dir, 'hvc0.txt'));
  args[args.indexOf(LINUX_DISK_CMDLINE)] = cmdline;
  const s = new ShellSession({ kind: 'tsvmm', accel: 'emu', decompress: 'host' }, { kernel, initrd, cmdline, cpus: 1, memMiB: 256 }, { cmd, args });
  try {
    await s.waitFor(ROOT_MARKER, BOOT_MS);
    await s.waitFor(SHELL_PROMPT, BOOT_MS);
    const r = await s.run('seq 1 20000 > /root/x && sync && head -c 512 /dev/vdb | wc -c && grep virtio /proc/interrupts', CMD_MS);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /^512$/m);
    const lines = r.output.split('\n').filter((l) => /virtio/.test(l)).map((l) => l.trim().replace(/\s+/g, ' '));
    assert.ok(lines.every((l) => !/MSI/.test(l)), `no MSI with pci=nomsi: ${lines.join(' | ')}`);
    // Slots in the order tsvmm attaches them: vda 1, vdb 2, rng 3, console 4 (INTA# of slot 4 wraps to GSI 16).
    const gsiOf = (n: number): string | undefined => /^(\d+): \d+ IO-APIC (\d+)-fasteoi virtio\d+$/.exec(lines.find((l) => l.endsWith(` virtio${n}`)) ?? '')?.slice(1).join('/');
    assert.deepEqual([0, 1, 2, 3].map(gsiOf), ['17/17', '18/18', '19/19', '16/16'], lines.join(' | '));
    assert.match(lines.find((l) => l.endsWith(' virtio0')) ?? '', /^17: [1-9]/, 'vda took interrupts');
    assert.match(lines.find((l) => l.endsWith(' virtio1')) ?? '', /^18: [1-9]/, 'vdb took interrupts');
    s.type('poweroff\n');
    assert.equal((await s.exited).status, 0);
  } finally {
    s.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
