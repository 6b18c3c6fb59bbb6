// `npm run bench -- io`: virtio-blk throughput and IOPS seen from inside the guest, 4 KiB requests one at
// a time (sequential and random reads and writes), on every peer that runs here: tsvmm's emulator with
// the in-process device and with vhost-user back-ends (tsvmm's own, qemu-storage-daemon), QEMU TCG with
// its own virtio-blk and with the same back-ends, and kvm where /dev/kvm exists, each kvm peer also with
// `--event-channels in-process` (no KVM_IOEVENTFD: every doorbell is an MMIO exit), and the doorbell's cost
// to the vCPU both ways (bench/kvm/doorbell.mjs). The guest is the project's `vblk` (bench=N); the host
// times each phase between the guest's start and done lines.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, has, median, root, tsvmmBin } from './lib.mjs';
import { doorbellCost } from './kvm/doorbell.mjs';

const N = Number(process.env.IO_BENCH_REQUESTS ?? 4000);
const RUNS = Number(process.env.IO_BENCH_RUNS ?? 3);
// IO_BENCH_ONLY='vhost-user' (a regular expression over the peer names) runs only the matching peers.
const ONLY = process.env.IO_BENCH_ONLY ? new RegExp(process.env.IO_BENCH_ONLY) : undefined;
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

/**
 * One guest run: resolves with ms per phase, timed from the guest's "start" to its "done" line, and
 * with the back-end process's (`cpuPid`) CPU time from the first phase's start to the last one's done.
 */
function timedRun(cmd, args, cpuPid, timeoutMs = 600_000) {
  return new Promise((resolve, reject) => {
    const child = start(cmd, args);
    const begin = {};
    const ms = {};
    let text = '';
    let line = '';
    let cpu0;
    let cpu1;
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
        if (m && cpuPid !== undefined && m[1] === PHASES[0] && m[2] === 'start') cpu0 = cpuSeconds(cpuPid);
        if (m && cpuPid !== undefined && m[1] === PHASES.at(-1) && m[2] === 'done') cpu1 = cpuSeconds(cpuPid);
        line = '';
      }
    });
    child.stderr.on('data', (d) => (text += d.toString('latin1')));
    child.on('close', () => {
      clearTimeout(timer);
      if (!text.includes('vblk-bench: ok')) reject(new Error(`the guest did not finish cleanly: ${text.slice(-400)}`));
      else resolve({ ms, cpuMs: Number.isFinite(cpu0) && Number.isFinite(cpu1) ? (cpu1 - cpu0) * 1000 : undefined });
    });
  });
}

// IO_BENCH_BASELINE=path/to/bin/tsvmm.js: also runs that build's vhost-user back-end (a before/after in one run).
const baselineBin = process.env.IO_BENCH_BASELINE;

async function backend(kind) {
  const socket = join(dir, `${kind}-${Math.random().toString(36).slice(2, 8)}.sock`);
  const child =
    kind === 'tsvmm' || kind === 'baseline'
      ? start(process.execPath, [kind === 'baseline' ? baselineBin : tsvmmBin, 'device', 'vhost-user-blk', '--socket', socket, '--image', img])
      : start('qemu-storage-daemon', ['--blockdev', `driver=file,node-name=disk,filename=${img},cache.direct=off`, '--export', `type=vhost-user-blk,id=e,node-name=disk,addr.type=unix,addr.path=${socket},writable=on`]);
  const t0 = Date.now();
  while (!existsSync(socket)) {
    if (Date.now() - t0 > 20_000) throw new Error(`${kind} back-end did not start`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { socket, pid: child.pid, stop: () => child.kill('SIGKILL') };
}

// IO_BENCH_KVM_BASELINE=path/to/bin/tsvmm.js: also runs that build's kvm peers (a before/after of the kvm front-end in one run).
const kvmBaselineBin = process.env.IO_BENCH_KVM_BASELINE;

const tsvmm = (accel, disk, words = '', bin = tsvmmBin) => [process.execPath, [bin, 'run', '--accel', accel, '--mem', '128M', '--kernel', elf, '--cmdline', `${words}bench=${N}`, ...disk]];
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
  { name: 'QEMU TCG, vhost-user baseline', backend: 'baseline', skip: qemuReason ?? (baselineBin ? undefined : 'IO_BENCH_BASELINE is not set'), run: async (s) => qemu(['-chardev', `socket,id=c,path=${s}`, '-device', 'vhost-user-blk-pci,chardev=c,num-queues=1,disable-legacy=on'], true) },
  { name: 'QEMU TCG, vhost-user qsd', backend: 'qsd', skip: qemuReason ?? qsdReason, run: async (s) => qemu(['-chardev', `socket,id=c,path=${s}`, '-device', 'vhost-user-blk-pci,chardev=c,num-queues=1,disable-legacy=on'], true) },
  { name: 'tsvmm kvm, in-process', skip: kvmReason, run: async () => tsvmm('kvm', ['--drive', img]) },
  { name: 'tsvmm kvm, in-process, no evfd', skip: kvmReason, run: async () => tsvmm('kvm', ['--drive', img, '--event-channels', 'in-process']) },
  { name: 'tsvmm kvm, vhost-user tsvmm', backend: 'tsvmm', skip: kvmReason, run: async (s) => tsvmm('kvm', ['--vhost-user-blk', s]) },
  { name: 'tsvmm kvm, vhost-user, no evfd', backend: 'tsvmm', skip: kvmReason, run: async (s) => tsvmm('kvm', ['--vhost-user-blk', s, '--event-channels', 'in-process']) },
  // vblk `msix`: each completion is an MSI-X interrupt the guest sleeps for (HLT), so a request is a whole
  // notification round trip: doorbell (KVM_IOEVENTFD or an MMIO exit), device, interrupt (KVM_IRQFD or KVM_SIGNAL_MSI).
  { name: 'kvm msix, in-process', skip: kvmReason, run: async () => tsvmm('kvm', ['--drive', img], 'msix ') },
  { name: 'kvm msix, in-process, no evfd', skip: kvmReason, run: async () => tsvmm('kvm', ['--drive', img, '--event-channels', 'in-process'], 'msix ') },
  { name: 'kvm msix, vhost-user', backend: 'tsvmm', skip: kvmReason, run: async (s) => tsvmm('kvm', ['--vhost-user-blk', s], 'msix ') },
  { name: 'kvm msix, vhost-user, no evfd', backend: 'tsvmm', skip: kvmReason, run: async (s) => tsvmm('kvm', ['--vhost-user-blk', s, '--event-channels', 'in-process'], 'msix ') },
];
if (kvmBaselineBin !== undefined) {
  const base = (p) => ({ ...p, name: `base ${p.name}`, run: async (s) => { const [cmd, a] = await p.run(s); return [cmd, [kvmBaselineBin, ...a.slice(1)]]; } });
  peers.push(...peers.filter((p) => p.name.includes('kvm')).map(base));
}

const selected = peers.filter((p) => ONLY === undefined || ONLY.test(p.name));
console.log(`virtio-blk, 4 KiB requests, queue depth 1, ${N} per phase, median of ${RUNS} runs, peers interleaved within each run (load ${loadavg().map((x) => x.toFixed(1)).join(' ')})`);
for (const p of selected) if (p.skip) console.log(`  ${p.name}: skipped (${p.skip})`);
// Round-robin over the peers, so a change in the host's load hits every peer alike.
const runsOf = new Map(selected.filter((p) => !p.skip).map((p) => [p.name, []]));
for (let i = 0; i < RUNS; i++) {
  for (const p of selected) {
    const runs = runsOf.get(p.name);
    if (runs === undefined || runs.length < i) continue;
    const be = p.backend ? await backend(p.backend) : undefined;
    try {
      const [cmd, args] = await p.run(be?.socket);
      runs.push(await timedRun(cmd, args, be?.pid));
    } catch (e) {
      console.log(`  ${p.name}: failed: ${e.message}`);
    } finally {
      be?.stop();
    }
  }
}
const results = {};
const cpuPerRequest = {};
for (const [name, runs] of runsOf) {
  if (runs.length < RUNS) continue;
  results[name] = Object.fromEntries(PHASES.map((ph) => [ph, { ms: median(runs.map((r) => r.ms[ph])), spread: Math.max(...runs.map((r) => r.ms[ph])) / Math.min(...runs.map((r) => r.ms[ph])) }]));
  const cpu = runs.map((r) => r.cpuMs).filter((x) => x !== undefined);
  if (cpu.length === runs.length) cpuPerRequest[name] = { us: (median(cpu) * 1000) / (N * PHASES.length), all: cpu.map((x) => ((x * 1000) / (N * PHASES.length)).toFixed(1)) };
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
for (const [name, c] of Object.entries(cpuPerRequest)) console.log(`${pad(name, 30)}back-end CPU (user + system, all threads) per request: ${c.us.toFixed(1)} us median (runs: ${c.all.join(', ')})`);
ratio('tsvmm emu, in-process', 'QEMU TCG, in-process', 'emu / QEMU TCG, in-process virtio-blk (target >= 0.5x)');
ratio('tsvmm emu, vhost-user tsvmm', 'tsvmm emu, vhost-user qsd', "tsvmm's back-end / qemu-storage-daemon, tsvmm emu front-end (target >= 0.8x)");
ratio('QEMU TCG, vhost-user tsvmm', 'QEMU TCG, vhost-user qsd', "tsvmm's back-end / qemu-storage-daemon, QEMU front-end (target >= 0.8x)");
ratio('QEMU TCG, vhost-user baseline', 'QEMU TCG, vhost-user qsd', "IO_BENCH_BASELINE's back-end / qemu-storage-daemon, QEMU front-end");
// The guest (vblk) polls the used ring with one request in flight, so a request's time is one notification
// round trip: the guest's write to the notify address, the device's work, the used entry the guest sees.
const roundTrip = (a, b, what) => {
  if (!results[a] || !results[b]) return;
  const us = (name) => PHASES.map((ph) => (results[name][ph].ms * 1000) / N);
  const [x, y] = [us(a), us(b)];
  console.log(`${what}: ${PHASES.map((ph, i) => `${ph} ${y[i].toFixed(1)} -> ${x[i].toFixed(1)} us (${(x[i] / y[i]).toFixed(2)}x)`).join(', ')}`);
};
roundTrip('tsvmm kvm, vhost-user tsvmm', 'tsvmm kvm, vhost-user, no evfd', 'kvm, vhost-user: request round trip without -> with KVM_IOEVENTFD (target <= 0.5x)');
roundTrip('tsvmm kvm, in-process', 'tsvmm kvm, in-process, no evfd', 'kvm, in-process device: request round trip without -> with KVM_IOEVENTFD');
roundTrip('kvm msix, vhost-user', 'kvm msix, vhost-user, no evfd', 'kvm, vhost-user, MSI-X: round trip without -> with KVM_IOEVENTFD/KVM_IRQFD (target <= 0.5x)');
roundTrip('kvm msix, in-process', 'kvm msix, in-process, no evfd', 'kvm, in-process device, MSI-X: round trip without -> with KVM_IOEVENTFD/KVM_IRQFD');
for (const name of Object.keys(results).filter((n) => n.startsWith('base '))) {
  roundTrip(name.slice(5), name, `kvm, IO_BENCH_KVM_BASELINE -> this build, ${name.slice(5)}`);
}
roundTrip('base tsvmm kvm, vhost-user tsvmm', 'base tsvmm kvm, vhost-user, no evfd', 'IO_BENCH_KVM_BASELINE: kvm, vhost-user: request round trip without -> with KVM_IOEVENTFD');
roundTrip('base tsvmm kvm, in-process', 'base tsvmm kvm, in-process, no evfd', 'IO_BENCH_KVM_BASELINE: kvm, in-process device: request round trip without -> with KVM_IOEVENTFD');
roundTrip('base kvm msix, vhost-user', 'base kvm msix, vhost-user, no evfd', 'IO_BENCH_KVM_BASELINE: kvm, vhost-user, MSI-X: round trip without -> with KVM_IOEVENTFD/KVM_IRQFD');
roundTrip('base kvm msix, in-process', 'base kvm msix, in-process, no evfd', 'IO_BENCH_KVM_BASELINE: kvm, in-process device, MSI-X: round trip without -> with KVM_IOEVENTFD/KVM_IRQFD');
if (kvmReason) console.log(`notification round trip with and without ioeventfd/irqfd: not measured (${kvmReason})`);
else if (ONLY === undefined || ONLY.test('tsvmm kvm, doorbell')) {
  // The vCPU's side alone (bench/kvm/doorbell.mjs): a doorbell write with KVM_IOEVENTFD vs an MMIO exit.
  const d = await doorbellCost(20_000, RUNS);
  const m = { kernel: median(d.kernel), inProcess: median(d['in-process']) };
  const all = (xs) => xs.map((x) => x.toFixed(1)).join(', ');
  console.log(`kvm, a doorbell write as the vCPU pays it, median of ${RUNS}: ${m.inProcess.toFixed(1)} us as an MMIO exit (runs: ${all(d['in-process'])}) -> ${m.kernel.toFixed(1)} us with KVM_IOEVENTFD (runs: ${all(d.kernel)}): ${(m.kernel / m.inProcess).toFixed(2)}x (target <= 0.5x)`);
}
console.log(`(load at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')})`);
