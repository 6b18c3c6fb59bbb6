// Runs one guest on tsvmm's emulator in this process (the VM builder of dist/, as `tsvmm run --accel emu`
// builds it, with the CLI's defaults) and records, for every line the guest prints, the host time, this
// process's CPU time and the exact count of guest instructions retired when the line's last byte left the
// UART. Prints one JSON object:
//   { lines: [{ text, t, cpu, insns }], stop, instructions, wallMs, cpuMs, maxRssKiB, jit }
// t is epoch milliseconds (performance.timeOrigin + now(), comparable across processes), cpu is process CPU
// ms; `jit` is the emulator's compile counters when it exposes them (see jitCounters), else null. The bench
// spawns this per measurement, so each run has its own process and RSS.
//   node bench/emu/emu-marked.mjs --kernel FILE [--cmdline TEXT] [--mem 128M] [--seconds N] [--until TEXT] [--deterministic]
//     [--root DIR]   (the build to run: DIR/dist; this checkout's by default)
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { root, benchArgs } from '../lib.mjs';

const { values: o } = benchArgs('bench/emu/emu-marked.mjs', {
  options: {
    kernel: { type: 'string' },
    cmdline: { type: 'string', default: '' },
    mem: { type: 'string', default: '128M' },
    seconds: { type: 'string' },
    until: { type: 'string' },
    deterministic: { type: 'boolean', default: false },
    root: { type: 'string', default: root },
  },
});
const builderJs = join(o.root, 'dist', 'src', 'vmm', 'vm-builder.js');
const configJs = join(o.root, 'dist', 'src', 'vmm', 'config.js');
function fail(msg) {
  process.stderr.write(`emu-marked: ${msg}\n`);
  process.exit(2);
}
if (!o.kernel) fail('usage: emu-marked.mjs --kernel FILE [--cmdline TEXT] [--mem 128M] [--seconds N] [--until TEXT] [--deterministic]');
if (!existsSync(o.kernel)) fail(`${o.kernel} missing`);
if (!existsSync(builderJs)) fail(`${builderJs} missing: build first (npm run build)`);
const { buildVm } = await import(pathToFileURL(builderJs).href);
const { parseMem } = await import(pathToFileURL(configJs).href);

/**
 * The compile counters a JIT may expose: vm.jitStats() or cpu.jitStats returning
 * { compileMs, codeBytes, regions, liveBytes } (liveBytes: compiled code held at the end). Undefined fields print as n/a.
 */
function jitCounters(vm, cpu) {
  const s = typeof vm.jitStats === 'function' ? vm.jitStats() : typeof cpu.jitStats === 'function' ? cpu.jitStats() : cpu.jitStats;
  return s && typeof s === 'object' ? { compileMs: s.compileMs ?? null, codeBytes: s.codeBytes ?? null, regions: s.regions ?? null, liveBytes: s.liveBytes ?? null } : null;
}

const lines = [];
let pending = '';
let vmRef;
const insnNow = () => (vmRef ? vmRef.cpus.reduce((s, c) => s + c.instructions, 0) : 0);
const sink = {
  write(bytes) {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (b === 0x0a) {
        const c = process.cpuUsage();
        lines.push({ text: pending.replace(/\r$/, ''), t: performance.timeOrigin + performance.now(), cpu: (c.user + c.system) / 1000, insns: insnNow() });
        if (o.until !== undefined && pending.includes(o.until)) vmRef?.requestStop({ kind: 'host-stop', reason: `saw "${o.until}"` });
        pending = '';
      } else pending += String.fromCharCode(b);
    }
  },
  close() {},
};
const config = {
  kernel: o.kernel, initrd: undefined, cmdline: o.cmdline, memBytes: parseMem(o.mem), cpus: 1, accel: 'emu',
  serial: { kind: 'none' }, deterministic: o.deterministic, pmu: 'auto', pmuShape: {}, pmuFilter: undefined,
};
const { vm } = await buildVm(config, sink);
vmRef = vm;
const timer = o.seconds ? setTimeout(() => vm.requestStop({ kind: 'host-stop', reason: `time limit ${o.seconds} s` }), Number(o.seconds) * 1000) : undefined;
const c0 = process.cpuUsage();
const t0 = performance.now();
let stop;
try {
  stop = await vm.run();
} finally {
  clearTimeout(timer);
}
const wallMs = performance.now() - t0;
const c = process.cpuUsage(c0);
if (pending) {
  const cc = process.cpuUsage();
  lines.push({ text: pending, t: performance.timeOrigin + performance.now(), cpu: (cc.user + cc.system) / 1000, insns: insnNow() });
}
const result = {
  lines, stop, instructions: insnNow(), wallMs, cpuMs: (c.user + c.system) / 1000,
  maxRssKiB: process.resourceUsage().maxRSS, jit: jitCounters(vm, vm.cpus[0]),
};
vm.destroy();
process.stdout.write(JSON.stringify(result) + '\n');
