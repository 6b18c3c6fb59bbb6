// Networking without root: two tsvmm emu VMs boot the virtio Linux guest (src/vmm/linux-disk.ts) wired by
// `--net stream:listen=` / `--net stream:connect=` on a Unix socket. Linux's virtio_net drives each
// side; busybox brings eth0 up, the guests ping each other and one sends the other a file of random
// bytes with nc, whose SHA-256 must match on both sides. Where QEMU is installed, the listening VM has
// a second interface whose peer is QEMU TCG's `-netdev stream` (its virtio-net-pci): the same ping and
// transfer prove the framing is QEMU's. All VMs boot at once (two emu boots of a few minutes quiet).
// The emu VMs run on the real-time clock, not --deterministic: each guest's timeouts (ping -W, TCP
// retransmits, ARP) count time against a peer that runs on the host's clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DISK_DIR, LINUX_DISK_CMDLINE, MODULES_MARKER, ROOT_MARKER, SHELL_PROMPT } from '../../src/vmm/linux-disk.js';
import { KERNEL_DIR } from '../../src/vmm/linux-guest.js';
import { ShellSession, type Machine } from './shell-session.js';

const kernel = `${KERNEL_DIR}/vmlinuz`;
const initrd = join(DISK_DIR, 'initramfs.cpio');
const rootImage = join(DISK_DIR, 'root.ext4');
const haveImages = existsSync(kernel) && existsSync(initrd) && existsSync(rootImage);
const noImages = 'no virtio Linux guest in .cache/linux-disk/ (node scripts/fetch-linux-disk.mjs builds it)';
const haveQemu = spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status === 0;
const BOOT_MS = 900_000;
const CMD_MS = 300_000;
const TEST_MS = 2_400_000;
const MEM_MIB = 128;
const FILE_KIB = 512;
const PORT = 5000;
const TSVMM = fileURLToPath(new URL('../../../bin/tsvmm.js', import.meta.url));
const EMU: Machine = { kind: 'tsvmm', accel: 'emu', decompress: 'host' };
const QEMU: Machine = { kind: 'qemu-tcg' };
const spec = { kernel, initrd, cmdline: LINUX_DISK_CMDLINE, cpus: 1, memMiB: MEM_MIB };

function tsvmm(disk: string, nets: string[]): { cmd: string; args: string[] } {
  return {
    cmd: process.execPath,
    args: [TSVMM, 'run', '--kernel', kernel, '--initrd', initrd, '--cmdline', LINUX_DISK_CMDLINE, '--mem', `${MEM_MIB}M`, '--cpus', '1', '--accel', 'emu', '--serial', 'stdio', '--drive', disk, ...nets.flatMap((n) => ['--net', n])],
  };
}

/** QEMU's own virtio-blk and virtio-net, its stream netdev connecting to `socket`. */
function qemu(disk: string, socket: string, mac: string): { cmd: string; args: string[] } {
  return {
    cmd: 'qemu-system-x86_64',
    args: ['-accel', 'tcg', '-m', `${MEM_MIB}M`, '-smp', '1', '-nodefaults', '-nographic', '-no-reboot', '-serial', 'stdio', '-monitor', 'none', '-kernel', kernel, '-initrd', initrd, '-append', LINUX_DISK_CMDLINE,
      '-drive', `file=${disk},format=raw,if=none,id=d0,cache=writeback`, '-device', 'virtio-blk-pci,drive=d0',
      '-netdev', `stream,id=n0,server=off,addr.type=unix,addr.path=${socket}`, '-device', `virtio-net-pci,netdev=n0,mac=${mac}`],
  };
}

async function booted(s: ShellSession): Promise<number> {
  await s.waitFor(MODULES_MARKER, BOOT_MS);
  await s.waitFor(ROOT_MARKER, BOOT_MS);
  return (await s.waitFor(SHELL_PROMPT, BOOT_MS)).ms;
}

/** Polls for a path (a listening socket) with a bound: the listener creates it before its guest starts. */
async function appears(path: string, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!existsSync(path)) {
    if (performance.now() > deadline) throw new Error(`${path} did not appear within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');

async function sh(s: ShellSession, cmd: string): Promise<string> {
  const r = await s.run(cmd, CMD_MS);
  assert.equal(r.status, 0, `"${cmd}" exited with ${r.status}: ${r.output}`);
  return r.output;
}

/** Pings from `a` to `ip`; returns the average RTT in ms. */
async function ping(a: ShellSession, ip: string): Promise<string> {
  const out = await sh(a, `ping -c 3 -W 10 ${ip}`);
  assert.match(out, /3 packets transmitted, 3 packets received/, out);
  return /min\/avg\/max = ([\d.]+\/[\d.]+\/[\d.]+) ms/.exec(out)?.[1] ?? '?';
}

/**
 * `from` makes a file of random bytes and serves it once on PORT (nc -l, in the background); `to` fetches
 * it from `fromIp`. The checksums must match. Returns KiB/s (host wall time of the fetching command).
 */
async function transfer(from: ShellSession, to: ShellSession, fromIp: string, name: string): Promise<number> {
  const sent = (await sh(from, `dd if=/dev/urandom of=/root/${name} bs=1024 count=${FILE_KIB} 2>/dev/null && sha256sum /root/${name}`)).trim().split(/\s+/)[0]!;
  assert.match(sent, /^[0-9a-f]{64}$/);
  // The server's stdin is the file: at its end nc shuts down its sending half, the client sees EOF and exits.
  await sh(from, `nc -l -p ${PORT} < /root/${name} > /dev/null & while ! netstat -ltn | grep -q ':${PORT} '; do usleep 20000; done`);
  const t0 = performance.now();
  await sh(to, `nc ${fromIp} ${PORT} > /root/${name}`);
  const ms = performance.now() - t0;
  const got = (await sh(to, `sha256sum /root/${name}; ls -l /root/${name}`)).trim();
  assert.equal(got.split(/\s+/)[0], sent, `the file arrived changed: ${got}`);
  await sh(from, 'wait');
  return (FILE_KIB * 1000) / ms;
}

test(`two tsvmm emu guests on --net stream ping each other and transfer a file${haveQemu ? '; QEMU TCG on a second stream' : ''}`, { skip: haveImages ? false : noImages, timeout: TEST_MS }, async (tc) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-net-'));
  const sessions: ShellSession[] = [];
  try {
    const disks = ['a', 'b', 'q'].map((n) => {
      const d = join(dir, `${n}.ext4`);
      copyFileSync(rootImage, d);
      return d;
    });
    const sockAB = join(dir, 'ab.sock');
    const sockAQ = join(dir, 'aq.sock');
    const aNets = [`stream:listen=${sockAB},mac=52:54:00:12:34:01`, ...(haveQemu ? [`stream:listen=${sockAQ},mac=52:54:00:12:34:11`] : [])];
    const a = new ShellSession(EMU, spec, tsvmm(disks[0]!, aNets));
    sessions.push(a);
    await appears(sockAB, 120_000);
    const b = new ShellSession(EMU, spec, tsvmm(disks[1]!, [`stream:connect=${sockAB},mac=52:54:00:12:34:02`]));
    sessions.push(b);
    let q: ShellSession | undefined;
    if (haveQemu) {
      await appears(sockAQ, 120_000);
      q = new ShellSession(QEMU, spec, qemu(disks[2]!, sockAQ, '52:54:00:12:34:12'));
      sessions.push(q);
    }
    const [bootA, bootB, bootQ] = await Promise.all([booted(a), booted(b), q ? booted(q) : Promise.resolve(0)]);
    tc.diagnostic(`boot to shell: emu A ${(bootA / 1000).toFixed(1)} s, emu B ${(bootB / 1000).toFixed(1)} s${q ? `, QEMU TCG ${(bootQ / 1000).toFixed(1)} s` : ''} (host load ${load()})`);

    await sh(a, 'ip link set eth0 up && ip addr add 10.0.2.1/24 dev eth0');
    await sh(b, 'ip link set eth0 up && ip addr add 10.0.2.2/24 dev eth0');
    assert.match(await sh(b, 'cat /sys/class/net/eth0/address'), /52:54:00:12:34:02/);
    const rttAB = await ping(a, '10.0.2.2');
    const rttBA = await ping(b, '10.0.2.1');
    const kibsAB = await transfer(b, a, '10.0.2.2', 'ab.bin');
    tc.diagnostic(`emu-emu: ping RTT min/avg/max A->B ${rttAB} ms, B->A ${rttBA} ms; ${FILE_KIB} KiB B->A at ${kibsAB.toFixed(0)} KiB/s (host load ${load()})`);

    if (q) {
      await sh(a, 'ip link set eth1 up && ip addr add 10.0.3.1/24 dev eth1');
      await sh(q, 'ip link set eth0 up && ip addr add 10.0.3.2/24 dev eth0');
      const rttAQ = await ping(a, '10.0.3.2');
      const rttQA = await ping(q, '10.0.3.1');
      const kibsQA = await transfer(q, a, '10.0.3.2', 'qa.bin');
      const kibsAQ = await transfer(a, q, '10.0.3.1', 'aq.bin');
      tc.diagnostic(`emu-QEMU TCG: ping RTT emu->QEMU ${rttAQ} ms, QEMU->emu ${rttQA} ms; ${FILE_KIB} KiB QEMU->emu ${kibsQA.toFixed(0)} KiB/s, emu->QEMU ${kibsAQ.toFixed(0)} KiB/s (host load ${load()})`);
    } else tc.diagnostic('emu-QEMU pairing skipped: qemu-system-x86_64 not installed');
  } finally {
    for (const s of sessions) s.kill();
    await Promise.all(sessions.map((s) => s.exited));
    rmSync(dir, { recursive: true, force: true });
  }
});
