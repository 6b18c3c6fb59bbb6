#!/usr/bin/env node
// Before/after for the vCPU threads (every vCPU on a worker thread, the devices on the main thread;
// src/cpu/kvm/README.md): runs this build and a baseline build side by side, interleaved, so the host's
// load hits both alike:
// - a doorbell write as the vCPU pays it, with KVM_IOEVENTFD and as an MMIO exit, and a legacy port
//   exit's round trip (a trivial device), each build's own VM, timed inside the run;
// - the wall time of every project guest the kvm tests run (guests/manifest.json), spawn to exit.
// The vblk notification round trips (in-process and vhost-user, MSI-X) are `npm run bench -- io` with
// IO_BENCH_KVM_BASELINE set to the baseline's bin/tsvmm.js.
// Usage: node bench/kvm/threads.mjs --baseline DIR [--runs R] [--guests REGEX]
//   DIR: another checkout (a git worktree of the older commit) with `npm run build` and the guests done.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const RUNS = Number(opt('--runs', 3));
const baseline = opt('--baseline', undefined);
const only = opt('--guests', undefined);
if (!existsSync('/dev/kvm')) {
  console.log('threads: skipped (no /dev/kvm on this host)');
  process.exit(0);
}
if (baseline === undefined || !existsSync(join(baseline, 'dist/src/cpu/kvm/kvm-vm.js'))) {
  console.error('threads: --baseline DIR must name a built checkout (dist/src/cpu/kvm/kvm-vm.js missing)');
  process.exit(64);
}
const builds = { baseline: resolve(baseline), this: root };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = (xs) => Math.max(...xs) / Math.min(...xs);
const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');
console.log(`vCPU threads, this build vs ${builds.baseline}, ${RUNS} interleaved runs (load ${load()})`);

// The vCPU's side of a doorbell and of a legacy port exit, timed from the guest's first `out 0x80` (so
// neither build's thread start-up counts) to its `out 0xf4`, in each build's own dist/.
const LOAD = 0x10_0000;
const le32 = (n) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
// out 0x80, al; mov ecx, n; 1: mov [0xd0000000], ax; dec ecx; jnz 1b; out 0xf4, al; cli; hlt
const doorbellGuest = (n) => [0xe6, 0x80, 0xb9, ...le32(n), 0x66, 0xa3, 0, 0, 0, 0xd0, 0x49, 0x75, 0xf7, 0xe6, 0xf4, 0xfa, 0xf4];
// out 0x80, al; mov ecx, n; 1: out 0x81, al; dec ecx; jnz 1b; out 0xf4, al; cli; hlt
const exitGuest = (n) => [0xe6, 0x80, 0xb9, ...le32(n), 0xe6, 0x81, 0x49, 0x75, 0xfb, 0xe6, 0xf4, 0xfa, 0xf4];
async function timedGuest(dir, bytes, n, eventChannels) {
  const { createKvmVm } = await import(join(dir, 'dist/src/cpu/kvm/kvm-vm.js'));
  const { REG, segmentBatch } = await import(join(dir, 'dist/src/cpu/registers.js'));
  const vm = createKvmVm({ memBytes: 16 << 20, cpus: 1, eventChannels });
  try {
    let t0 = 0;
    let t1 = 0;
    let sink = 0;
    const h = vm.events.ioEvent({ space: 'mmio', address: 0xd000_0000, size: 2 }, { signal: () => sink++ });
    vm.pio.register(0x80, 2, { read: (_o, d) => d.fill(0xff), write: (o) => (o === 0 ? (t0 = performance.now()) : sink++) }, 'marks');
    vm.pio.register(0xf4, 1, { read: (_o, d) => d.fill(0xff), write: (_o, d) => ((t1 = performance.now()), vm.requestStop({ kind: 'debug-exit', value: d[0] })) }, 'debug-exit');
    vm.memory.write(LOAD, Uint8Array.from(bytes));
    const code = { selector: 0x10, base: 0n, limit: 0xffff_ffff, attrs: 0xc09b };
    const data = { selector: 0x18, base: 0n, limit: 0xffff_ffff, attrs: 0xc093 };
    vm.vcpus[0].setRegisters([...segmentBatch('cs', code), ...['ds', 'es', 'ss', 'fs', 'gs'].flatMap((x) => segmentBatch(x, data)), [REG.cr0, 0x11n], [REG.rip, BigInt(LOAD)], [REG.rflags, 2n], [REG.rsp, 0x8000n]]);
    const stop = await vm.run();
    if (stop.kind !== 'debug-exit' || t0 === 0) throw new Error(`${dir}: the timing guest ended with ${JSON.stringify(stop)}`);
    if (eventChannels === 'kernel' && bytes.length === doorbellGuest(0).length && !h.inKernel) throw new Error('KVM_IOEVENTFD was not used');
    return ((t1 - t0) * 1000) / n;
  } finally {
    vm.destroy();
  }
}
const micro = [
  ['doorbell, KVM_IOEVENTFD', doorbellGuest(20_000), 20_000, 'kernel'],
  ['doorbell, MMIO exit', doorbellGuest(20_000), 20_000, 'in-process'],
  ['port `out` exit', exitGuest(50_000), 50_000, 'kernel'],
];
const microRuns = new Map(micro.map(([name]) => [name, { baseline: [], this: [] }]));
for (let i = 0; i < RUNS; i++) {
  for (const [name, bytes, n, ch] of micro) {
    for (const [b, dir] of Object.entries(builds)) microRuns.get(name)[b].push(await timedGuest(dir, bytes, n, ch));
  }
}
console.log('\nthe vCPU\'s cost (us per doorbell write or port exit, median, max/min):');
for (const [name, r] of microRuns) {
  const b = median(r.baseline);
  const t = median(r.this);
  console.log(`  ${name.padEnd(24)} baseline ${b.toFixed(2).padStart(6)} (${spread(r.baseline).toFixed(2)})   this ${t.toFixed(2).padStart(6)} (${spread(r.this).toFixed(2)})   ${(t / b).toFixed(2)}x`);
}

// Guests: every kvm run of the manifest, spawn to exit.
const manifest = JSON.parse(readFileSync(join(root, 'guests/manifest.json'), 'utf8')).guests;
const runs = [];
for (const g of manifest) {
  if (!g.kvm) continue;
  for (const r of g.runs) {
    if (r.accel !== undefined && !r.accel.includes('kvm')) continue;
    if (only !== undefined && !new RegExp(only).test(r.id)) continue;
    runs.push({ g, r });
  }
}
function guestArgs(dir, g, r) {
  const a = [join(dir, 'bin/tsvmm.js'), 'run', '--kernel', join(dir, 'guests/build', `${g.name}.elf`), '--accel', 'kvm', '--cpus', String(r.cpus), '--serial', 'stdio'];
  if (r.cmdline) a.push('--cmdline', r.cmdline);
  if (r.mem) a.push('--mem', r.mem);
  return [...a, ...(r.tsvmmArgs ?? []).map((x) => (x.startsWith('guests/') ? join(dir, x) : x))];
}
function timeRun(argv, stdin) {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const c = spawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', () => undefined);
    if (stdin !== undefined) c.stdin.end(stdin);
    else c.stdin.end();
    const timer = setTimeout(() => c.kill('SIGKILL'), 120_000);
    c.on('close', (status) => {
      clearTimeout(timer);
      res({ ms: performance.now() - t0, status, out });
    });
    c.on('error', rej);
  });
}
const wall = new Map(runs.map(({ r }) => [r.id, { baseline: [], this: [] }]));
for (let i = 0; i < RUNS; i++) {
  for (const { g, r } of runs) {
    for (const [name, dir] of Object.entries(builds)) {
      const x = await timeRun(guestArgs(dir, g, r), r.stdin);
      if (x.status !== r.exitStatus) console.log(`  ${r.id} on ${name}: status ${x.status}, expected ${r.exitStatus}`);
      wall.get(r.id)[name].push(x.ms);
    }
  }
}
console.log('\nguest wall time on kvm, spawn to exit (ms, median, max/min):');
let sumB = 0;
let sumT = 0;
for (const [id, w] of wall) {
  const b = median(w.baseline);
  const t = median(w.this);
  sumB += b;
  sumT += t;
  console.log(`  ${id.padEnd(22)} baseline ${b.toFixed(0).padStart(6)} (${spread(w.baseline).toFixed(2)})   this ${t.toFixed(0).padStart(6)} (${spread(w.this).toFixed(2)})   ${(t / b).toFixed(2)}x`);
}
console.log(`  ${'sum of medians'.padEnd(22)} baseline ${sumB.toFixed(0).padStart(6)}   this ${sumT.toFixed(0).padStart(6)}   ${(sumT / sumB).toFixed(2)}x`);
console.log(`(load at the end ${load()})`);
