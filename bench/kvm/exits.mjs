#!/usr/bin/env node
// Exit round trip: a guest doing 100,000 `out` exits, timed in tsvmm's KVM run loop and in a
// minimal C VMM (bench/c/min-vmm.c, compiled here with the machine's gcc into .cache/).
// Both run the same guest bytes in the same VM setup (in-kernel irqchip + PIT, 32-bit flat
// protected mode). Prints exits/s for each and tsvmm's ratio to C (target >= 85%).
// Usage: node bench/kvm/exits.mjs [--exits N] [--runs R]   (after `npm run build`)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const EXITS = opt('--exits', 100_000);
const RUNS = opt('--runs', 3);
const LOAD = 0x10_0000;
const DEBUG_EXIT_PORT = 0xf4;

if (!existsSync('/dev/kvm')) {
  console.log('exits: skipped (no /dev/kvm on this host)');
  process.exit(0);
}
const distVm = join(root, 'dist/src/cpu/kvm/kvm-vm.js');
if (!existsSync(distVm)) {
  console.error('exits: dist/ is missing; run `npm run build` first');
  process.exit(1);
}

// Guest: mov ecx, N-1; loop: out 0x80, al; dec ecx; jnz loop; out 0xf4, al  (N exits in all); cli; hlt
const n = EXITS - 1;
const guest = new Uint8Array([0xb9, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24, 0xe6, 0x80, 0x49, 0x75, 0xfb, 0xe6, DEBUG_EXIT_PORT, 0xfa, 0xf4]);
const cache = join(root, '.cache');
mkdirSync(cache, { recursive: true });
const guestFile = join(cache, 'exits-guest.bin');
writeFileSync(guestFile, guest);

const src = join(root, 'bench/c/min-vmm.c');
const bin = join(cache, 'min-vmm');
if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
  execFileSync('gcc', ['-O2', '-o', bin, src], { stdio: 'inherit' });
}

function runC() {
  const out = execFileSync(bin, [guestFile, '0x' + LOAD.toString(16)], { encoding: 'utf8' });
  const m = /exits=(\d+) seconds=([\d.]+)/.exec(out);
  if (!m) throw new Error(`min-vmm printed: ${out}`);
  return Number(m[1]) / Number(m[2]);
}

const { createKvmVm } = await import(distVm);
const { REG, segmentBatch } = await import(join(root, 'dist/src/cpu/registers.js'));

async function runTsvmm() {
  const vm = createKvmVm({ memBytes: 16 << 20, cpus: 1 });
  try {
    let exits = 0;
    let sink = 0;
    // Timed from the first exit, so starting the vCPU's thread does not count.
    let t0 = 0n;
    vm.pio.register(0x80, 1, { read: (_o, d) => d.fill(0xff), write: (_o, d) => { if (exits++ === 0) t0 = process.hrtime.bigint(); sink += d[0]; } }, 'sink');
    vm.pio.register(DEBUG_EXIT_PORT, 1, { read: (_o, d) => d.fill(0xff), write: (_o, d) => { exits++; vm.requestStop({ kind: 'debug-exit', value: d[0] }); } }, 'debug-exit');
    vm.memory.write(LOAD, guest);
    const code = { selector: 0x10, base: 0n, limit: 0xffff_ffff, attrs: 0xc09b };
    const data = { selector: 0x18, base: 0n, limit: 0xffff_ffff, attrs: 0xc093 };
    vm.vcpus[0].setRegisters([
      ...segmentBatch('cs', code),
      ...['ds', 'es', 'ss', 'fs', 'gs'].flatMap((s) => segmentBatch(s, data)),
      [REG.cr0, 0x11n],
      [REG.rip, BigInt(LOAD)],
      [REG.rflags, 2n],
      [REG.rsp, 0x8000n],
    ]);
    const u0 = process.cpuUsage();
    const stop = await vm.run();
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    userUs.push(process.cpuUsage(u0).user / EXITS);
    if (stop.kind !== 'debug-exit' || exits !== EXITS) throw new Error(`tsvmm run ended with ${JSON.stringify(stop)} after ${exits} exits`);
    return (exits - 1) / secs;
  } finally {
    vm.destroy();
  }
}

const c = [];
const t = [];
/** tsvmm's user-space CPU per exit (µs): its own overhead, free of the host noise in wall time. */
const userUs = [];
// Interleave the runs so host noise hits both sides alike.
for (let i = 0; i < RUNS; i++) {
  c.push(runC());
  t.push(await runTsvmm());
}
const best = (xs) => Math.max(...xs);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => Math.round(x).toLocaleString('en-US');
const ratio = best(t) / best(c);
console.log(`exit round trip (${EXITS.toLocaleString('en-US')} out exits, best of ${RUNS})`);
console.log(`  minimal C VMM : ${fmt(best(c))} exits/s   (runs: ${c.map(fmt).join(', ')})`);
console.log(`  tsvmm (kvm)   : ${fmt(best(t))} exits/s   (runs: ${t.map(fmt).join(', ')})`);
console.log(`  tsvmm user CPU: ${median(userUs).toFixed(2)} us per exit (median; the C VMM spends ~0 in user space)`);
console.log(`  ratio         : ${(ratio * 100).toFixed(1)}% of C on best runs, ${((median(t) / median(c)) * 100).toFixed(1)}% on medians (target >= 85%) ${ratio >= 0.85 ? 'PASS' : 'BELOW TARGET'}`);
