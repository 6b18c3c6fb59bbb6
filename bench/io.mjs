// `npm run bench -- io`: virtio-blk throughput and IOPS seen from inside the guest, 4 KiB requests one at
// a time (sequential and random reads and writes), on every peer that runs here: tsvmm's emulator with
// the in-process device and with vhost-user back-ends (tsvmm's own, qemu-storage-daemon), QEMU TCG with
// its own virtio-blk and with the same back-ends, and kvm where /dev/kvm exists. The guest is the
// project's `vblk` (bench=N); the host times each phase between the guest's start and done lines.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { has, median, root, tsvmmBin } from './lib.mjs';

const N = Number(process.env.IO_BENCH_REQUESTS ?? 4000);
const RUNS = Number(process.env.IO_BENCH_RUNS ?? 3);
const PHASES = ['seq-read', 'rand-read', 'seq-write', 'rand-write'];
const elf = join(root, 'guests', 'build', 'vblk.elf');
if (!existsSync(elf)) {
  console.error('bench io: guests/build/vblk.elf is missing: node scripts/build-guests.mjs vblk');
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), 'tsvmm-io-'));
const img = join(dir, 'disk.img');
writeFileSync(img, new Uint8Array(64 << 20));
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function start(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('close', () => children.delete(child));
  return child;
}

/** One guest run: resolves with ms per phase, timed from the guest's "start" to its "done" line. */
function timedRun(cmd, args, timeoutMs = 600_000) {
  return new Promise((resolve, reject) => {
    const child = start(cmd, args);
    const begin = {};
    const ms = {};
    let text = '';
    let line = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out; output: ${text.slice(-400)}`));
    }, timeoutMs);
    child.stdout.on('data', (d) => {
      const now = performance.now();
      const s = d.toString('latin1');
      text += s;
      for (const ch of s) {
        if (ch !== '\n') {
          line += ch;
          continue;
        }
        const m = /vblk-bench: (\S+) (start|done)/.exec(line);
        if (m) m[2] === 'start' ? (begin[m[1]] = now) : (ms[m[1]] = now - begin[m[1]]);
        line = '';
      }
    });
    child.stderr.on('data', (d) => (text += d.toString('latin1')));
    child.on('close', () => {
      clearTimeout(timer);
      if (!text.includes('vblk-bench: ok')) reject(new Error(`the guest did not finish cleanly: ${text.slice(-400)}`));
      else resolve(ms);
    });
  });
}

async function backend(kind) {
  const socket = join(dir, `${kind}-${Math.random().toString(36).slice(2, 8)}.sock`);
  const child =
    kind === 'tsvmm'
      ? start(process.execPath, [tsvmmBin, 'device', 'vhost-user-blk', '--socket', socket, '--image', img])
      : start('qemu-storage-daemon', ['--blockdev', `driver=file,node-name=disk,filename=${img},cache.direct=off`, '--export', `type=vhost-user-blk,id=e,node-name=disk,addr.type=unix,addr.path=${socket},writable=on`]);
  const t0 = Date.now();
  while (!existsSync(socket)) {
    if (Date.now() - t0 > 20_000) throw new Error(`${kind} back-end did not start`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { socket, stop: () => child.kill('SIGKILL') };
}

const tsvmm = (accel, disk) => [process.execPath, [tsvmmBin, 'run', '--accel', accel, '--mem', '128M', '--kernel', elf, '--cmdline', `bench=${N}`, ...disk]];
const qemu = (disk, memfd) => [
  'qemu-system-x86_64',
  [
    '-machine', 'accel=tcg', '-m', '128M', ...(memfd ? ['-object', 'memory-backend-memfd,id=mem,size=128M,share=on', '-machine', 'memory-backend=mem'] : []),
    '-display', 'none', '-nographic', '-no-reboot', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-kernel', elf, '-append', `bench=${N}`, ...disk,
  ],
];

const kvmReason = existsSync('/dev/kvm') ? undefined : 'no /dev/kvm on this host';
const qsdReason = has('qemu-storage-daemon') ? undefined : 'qemu-storage-daemon is not installed';
const qemuReason = has('qemu-system-x86_64') ? undefined : 'qemu-system-x86_64 is not installed';

const peers = [
  { name: 'tsvmm emu, in-process', run: async () => tsvmm('emu', ['--drive', img]) },
  { name: 'tsvmm emu, vhost-user tsvmm', backend: 'tsvmm', run: async (s) => tsvmm('emu', ['--vhost-user-blk', s]) },
  { name: 'tsvmm emu, vhost-user qsd', backend: 'qsd', skip: qsdReason, run: async (s) => tsvmm('emu', ['--vhost-user-blk', s]) },
  { name: 'QEMU TCG, in-process', skip: qemuReason, run: async () => qemu(['-drive', `if=none,id=d,file=${img},format=raw`, '-device', 'virtio-blk-pci,drive=d,disable-legacy=on'], false) },
  { name: 'QEMU TCG, vhost-user tsvmm', backend: 'tsvmm', skip: qemuReason, run: async (s) => qemu(['-chardev', `socket,id=c,path=${s}`, '-device', 'vhost-user-blk-pci,chardev=c,num-queues=1,disable-legacy=on'], true) },
  { name: 'QEMU TCG, vhost-user qsd', backend: 'qsd', skip: qemuReason ?? qsdReason, run: async (s) => qemu(['-chardev', `socket,id=c,path=${s}`, '-device', 'vhost-user-blk-pci,chardev=c,num-queues=1,disable-legacy=on'], true) },
  { name: 'tsvmm kvm, in-process', skip: kvmReason, run: async () => tsvmm('kvm', ['--drive', img]) },
  { name: 'tsvmm kvm, vhost-user tsvmm', backend: 'tsvmm', skip: kvmReason, run: async (s) => tsvmm('kvm', ['--vhost-user-blk', s]) },
];

console.log(`virtio-blk, 4 KiB requests, queue depth 1, ${N} per phase, median of ${RUNS} runs (load ${loadavg().map((x) => x.toFixed(1)).join(' ')})`);
const results = {};
for (const p of peers) {
  if (p.skip) {
    console.log(`  ${p.name}: skipped (${p.skip})`);
    continue;
  }
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    const be = p.backend ? await backend(p.backend) : undefined;
    try {
      const [cmd, args] = await p.run(be?.socket);
      runs.push(await timedRun(cmd, args));
    } catch (e) {
      console.log(`  ${p.name}: failed: ${e.message}`);
      break;
    } finally {
      be?.stop();
    }
  }
  if (runs.length < RUNS) continue;
  results[p.name] = Object.fromEntries(PHASES.map((ph) => [ph, { ms: median(runs.map((r) => r[ph])), spread: Math.max(...runs.map((r) => r[ph])) / Math.min(...runs.map((r) => r[ph])) }]));
}

const pad = (s, n) => String(s).padEnd(n);
console.log(`\n${pad('peer', 30)}${PHASES.map((ph) => pad(`${ph} IOPS (MiB/s, max/min)`, 30)).join('')}`);
for (const [name, r] of Object.entries(results)) {
  const cells = PHASES.map((ph) => {
    const iops = (N * 1000) / r[ph].ms;
    return pad(`${iops.toFixed(0)} (${((iops * 4096) / (1 << 20)).toFixed(1)}, ${r[ph].spread.toFixed(2)})`, 30);
  });
  console.log(`${pad(name, 30)}${cells.join('')}`);
}
const ratio = (a, b, what) => {
  if (!results[a] || !results[b]) return;
  const rs = PHASES.map((ph) => `${ph} ${(results[b][ph].ms / results[a][ph].ms).toFixed(2)}x`);
  console.log(`${what}: ${rs.join(', ')}`);
};
console.log('');
ratio('tsvmm emu, in-process', 'QEMU TCG, in-process', 'emu / QEMU TCG, in-process virtio-blk (target >= 0.5x)');
ratio('tsvmm emu, vhost-user tsvmm', 'tsvmm emu, vhost-user qsd', "tsvmm's back-end / qemu-storage-daemon, tsvmm emu front-end (target >= 0.8x)");
ratio('QEMU TCG, vhost-user tsvmm', 'QEMU TCG, vhost-user qsd', "tsvmm's back-end / qemu-storage-daemon, QEMU front-end (target >= 0.8x)");
console.log(`notification round trip with and without ioeventfd/irqfd: ${kvmReason ? `not measured (${kvmReason})` : 'see tsvmm kvm rows'}`);
