// Emulator speed on real code: the realcode suite (guests/realcode/, 15 C kernels at -O2, ~400 M guest
// instructions per build) on tsvmm emu, QEMU TCG and v86 with and without its JIT, plus the same C as a host
// program, in one run and side by side. Also the bench-loop tight loop (one line, not the headline) and the
// Linux boot's instructions per second.
//
// How the figures are made:
// - Instruction counts are tsvmm emu's exact count of the same guest between the same serial lines (every
//   engine runs the same ELF and the same instructions; the guest has no interrupts or timing-dependent code).
// - A kernel's time is the time between the guest's line before it and its own line, so boot, BIOS, wasm
//   compilation and process start are excluded. emu and v86 stamp lines in their own process as the UART
//   sends them. QEMU's lines are stamped by this process as they arrive on the pipe, which is good for the
//   whole suite but not for 30 ms kernels on a loaded host; so QEMU's guest also prints each kernel's RDTSC
//   delta (QEMU TCG's TSC is the host's) and its suite time is split between kernels by those.
//   Native times come from the host program's clocks.
// - "native" MIPS are guest-instruction-equivalent: the build's guest instruction count over the host
//   program's time (the host runs its own compilation of the same C).
// - Each engine runs `rounds` times, rounds interleaved across engines; tables show medians, the summary
//   min/median/max, wall and CPU time (CPU: the engine process's user+sys over the same phase; robust when the
//   machine is loaded, as it includes no waiting for a core).
//
// - The suite runs --passes N times (default 2) in one boot: pass 1 is cold (translation and compilation
//   included, what code run once sees), the last pass warm (already-translated code); tables are printed for
//   both. Both matter: at ~27 M instructions a kernel, v86's JIT spends most of pass 1 warming up.
//
// - --time cpu puts CPU-time MIPS in the per-kernel tables (for a loaded machine; the summary has both).
//
// node bench/emu/realcode.mjs [--rounds 3] [--quick] [--scale N] [--passes 2] [--no-loop] [--linux-seconds 30]
//                             [--time wall|cpu] [--peers emu,qemu,v86-jit,v86-nojit,native]
//                             [--emu-modes off,js,eager,wasm,wasm@40]
// Environment (for `npm run bench -- emu`): BENCH_ROUNDS, BENCH_PEERS, BENCH_QUICK=1, BENCH_SCALE, BENCH_PASSES,
// BENCH_TIME, BENCH_LINUX_S, BENCH_EMU_MODES.
// --emu-modes: emu once per JIT mode (TSVMM_JIT=mode, TSVMM_JIT_THRESHOLD=N with mode@N), each its own row and
// column and its own Linux line; the first mode's instruction counts are everyone's. Without it emu runs once
// under the TSVMM_JIT of the environment.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg, tmpdir, cpus } from 'node:os';
import { root, has, median, printTable, benchArgs, cpuSeconds } from '../lib.mjs';

const { values: opt } = benchArgs('bench/emu/realcode.mjs', {
  options: {
    rounds: { type: 'string', default: process.env.BENCH_ROUNDS ?? '3' },
    quick: { type: 'boolean', default: process.env.BENCH_QUICK === '1' },
    scale: { type: 'string', default: process.env.BENCH_SCALE ?? '1' },
    passes: { type: 'string', default: process.env.BENCH_PASSES ?? '2' },
    time: { type: 'string', default: process.env.BENCH_TIME ?? 'wall' },
    peers: { type: 'string', default: process.env.BENCH_PEERS ?? 'emu,qemu,v86-jit,v86-nojit,native' },
    'no-loop': { type: 'boolean', default: false },
    'linux-seconds': { type: 'string', default: process.env.BENCH_LINUX_S ?? '30' },
    'loop-iters': { type: 'string', default: '10000000' },
    'emu-modes': { type: 'string', default: process.env.BENCH_EMU_MODES ?? '' },
  },
});
/** emu's JIT modes: [{ tag ('' for the environment's), env }]. */
const emuModes = opt['emu-modes'] === '' ? [{ tag: '', env: {} }] : opt['emu-modes'].split(',').map((m) => {
  const [mode, thr] = m.split('@');
  return { tag: m, env: { TSVMM_JIT: mode, ...(thr ? { TSVMM_JIT_THRESHOLD: thr } : {}) } };
});
const rounds = Math.max(1, Number(opt.rounds) | 0);
const scale = Math.max(1, Number(opt.scale) | 0);
const passes = Math.max(1, Number(opt.passes) | 0);
if (opt.time !== 'wall' && opt.time !== 'cpu') {
  console.error(`realcode: --time ${opt.time}: use wall or cpu`);
  process.exit(2);
}
const timeKey = opt.time === 'cpu' ? 'cpuMs' : 'ms';
const peersWanted = new Set(opt.peers.split(','));
const loopIters = Math.max(1000, Number(opt['loop-iters']) | 0);
const linuxSeconds = Number(opt['linux-seconds']);
const cmdline = `${opt.quick ? 'quick ' : ''}scale=${scale}${passes > 1 ? ` passes=${passes}` : ''}`;
const log = (m) => process.stderr.write(`realcode: ${m}\n`);
const now = () => performance.timeOrigin + performance.now();
const startedAt = performance.now();
const load = [loadavg()];

const build = join(root, 'guests', 'build');
const ELF = { 32: join(build, 'realcode.elf'), 64: join(build, 'realcode64.elf') };
const LOOP_ELF = { 32: join(build, 'bench-loop.elf'), 64: join(build, 'bench-loop64.elf') };
const NATIVE = join(build, 'realcode-native');
const emuMarked = join(root, 'bench', 'emu', 'emu-marked.mjs');
const v86Run = join(root, 'bench', 'emu', 'v86-run.mjs');
const LINUX = join(root, '.cache', 'debian-kernel', 'vmlinuz');
const LINUX_CMDLINE = 'console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1 nokaslr';
const tmp = mkdtempSync(join(tmpdir(), 'tsvmm-realcode-'));

/** Runs a command, returns { code, out, err, spawnT }; `onLine(line, t)` sees stdout lines as they arrive. */
function runProc(cmd, args, { timeoutMs = 600_000, onLine, onSpawn, env } = {}) {
  return new Promise((resolve) => {
    const spawnT = now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) });
    onSpawn?.(child);
    let out = '';
    let err = '';
    let partial = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => {
      const t = now();
      const s = d.toString('latin1');
      out += s;
      if (!onLine) return;
      partial += s;
      let nl;
      while ((nl = partial.indexOf('\n')) >= 0) {
        onLine(partial.slice(0, nl).replace(/\r$/, ''), t, child);
        partial = partial.slice(nl + 1);
      }
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (e) => (err += e.message));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: signal ? `signal ${signal}` : code, out, err, spawnT });
    });
  });
}

/** Peak RSS KiB of a live process, from /proc. */
function procPeakRss(pid) {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/**
 * A run's result: marks = serial lines with { text, t (epoch ms), cpu (process CPU ms) }, insns where the
 * engine is emu, rssKiB, startupMs (spawn to the first line), jit counters (emu).
 */
const why = (r) => (r.err.trim().split('\n').find((l) => /error|fail|cannot|missing/i.test(l)) ?? (r.out + r.err).trim().split('\n').slice(-2).join(' | ')).slice(0, 200);

async function runEmu(elf, cl, until, env) {
  const args = [emuMarked, '--kernel', elf, '--cmdline', cl, '--mem', '128M'];
  if (until) args.push('--until', until);
  const r = await runProc(process.execPath, args, { env });
  if (r.code !== 0) throw new Error(`emu-marked exited ${r.code}: ${why(r)}`);
  const j = JSON.parse(r.out.trim().split('\n').pop());
  return { marks: j.lines, rssKiB: j.maxRssKiB, startupMs: j.lines.length ? j.lines[0].t - r.spawnT : NaN, jit: j.jit };
}

async function runQemu(elf, cl, until) {
  const marks = [];
  let rss = NaN;
  const args = ['-accel', 'tcg', '-kernel', elf, '-display', 'none', '-serial', 'stdio', '-monitor', 'none', '-nodefaults',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-no-reboot', '-m', '128M', '-append', until.startsWith('realcode') ? `${cl} tsc` : cl];
  const r = await runProc('qemu-system-x86_64', args, {
    onLine: (text, t, child) => {
      marks.push({ text, t, cpu: cpuSeconds(child.pid) * 1000 });
      const peak = procPeakRss(child.pid); // QEMU may be gone by its last line: keep the largest read
      if (Number.isFinite(peak) && !(peak <= rss)) rss = peak;
    },
  });
  if (!marks.some((m) => m.text.includes(until))) throw new Error(`QEMU exited ${r.code} before "${until}": ${why(r)}`);
  return { marks, rssKiB: rss, startupMs: marks[0].t - r.spawnT, tscSplit: true };
}

async function runV86(elf, cl, until, jit) {
  const args = [v86Run, '--kernel', elf, '--cmdline', cl, '--until', until, '--stamps', '--timeout', '1200'];
  if (until.startsWith('realcode') && passes > 1) args.push('--until-count', String(passes));
  if (!jit) args.push('--no-jit');
  const r = await runProc(process.execPath, args);
  if (r.code !== 0) throw new Error(`v86-run exited ${r.code}: ${why(r)}`);
  const marks = [];
  for (const line of r.out.split('\n')) {
    const m = /^([\d.]+) ([\d.]+)\t(.*?)\r?$/.exec(line);
    if (m) marks.push({ text: m[3], t: Number(m[1]), cpu: Number(m[2]) });
  }
  return { marks, rssKiB: Number(/maxrss (\d+)/.exec(r.err)?.[1] ?? NaN), startupMs: marks.length ? marks[0].t - r.spawnT : NaN };
}

/** The host program: per-kernel wall/CPU ns from its own clocks. */
async function runNative() {
  const args = ['--time'];
  if (opt.quick) args.push('--quick');
  if (scale !== 1) args.push('--scale', String(scale));
  const r = await runProc(NATIVE, args);
  if (r.code !== 0) throw new Error(`realcode-native exited ${r.code}: ${why(r)}`);
  const kernels = new Map();
  for (const m of r.out.matchAll(/^time (\S+) (\d+) (\d+)$/gm)) if (m[1] !== 'total') kernels.set(m[1], { ms: Number(m[2]) / 1e6, cpuMs: Number(m[3]) / 1e6 });
  return { kernels, sums: checksums(r.out), rssKiB: Number(/^maxrss (\d+)/m.exec(r.out)?.[1] ?? NaN), startupMs: NaN };
}

const KERNEL_LINE = /^realcode: (\S+) n=\d+ checksum ([0-9a-f]{8})(?: tsc (\d+))?$/;
function checksums(out) {
  const m = new Map();
  for (const line of out.split('\n')) {
    const k = KERNEL_LINE.exec(line.replace(/\r$/, ''));
    if (k) m.set(k[1], k[2]);
  }
  return m;
}

/** Per-kernel phases of pass `pass` of a suite run: name -> { ms, cpuMs, insns }, the whole pass under '*'. */
function suitePhases(run, pass) {
  const totals = run.marks.flatMap((m, i) => (m.text.startsWith('realcode: total') ? [i] : []));
  const start = pass === 0 ? run.marks.findIndex((m) => m.text.startsWith('realcode: start')) : (totals[pass - 1] ?? -1);
  const end = totals[pass] ?? -1;
  if (start < 0 || end < 0) {
    const fail = run.marks.find((m) => m.text.includes('FAIL'));
    throw new Error(fail ? fail.text : 'no start/total line in the guest output');
  }
  const phases = new Map();
  const sums = new Map();
  const tsc = new Map();
  for (let i = start + 1; i <= end; i++) {
    const k = KERNEL_LINE.exec(run.marks[i].text);
    if (!k) continue;
    const a = run.marks[i - 1];
    const b = run.marks[i];
    phases.set(k[1], { ms: b.t - a.t, cpuMs: b.cpu - a.cpu, insns: b.insns !== undefined ? b.insns - a.insns : undefined });
    sums.set(k[1], k[2]);
    if (k[3] !== undefined) tsc.set(k[1], Number(k[3]));
  }
  const a = run.marks[start];
  const b = run.marks[end];
  const all = { ms: b.t - a.t, cpuMs: b.cpu - a.cpu, insns: b.insns !== undefined ? b.insns - a.insns : undefined };
  if (run.tscSplit) {
    if (tsc.size !== phases.size) throw new Error('QEMU: kernel lines without their tsc delta');
    const total = [...tsc.values()].reduce((x, y) => x + y, 0);
    for (const [k, v] of tsc) phases.set(k, { ms: (all.ms * v) / total, cpuMs: (all.cpuMs * v) / total });
  }
  phases.set('*', all);
  return { phases, sums };
}

/** The tight loop's phase: from the bench-loop guest's first line to its "loop executed" line. */
function loopPhase(run) {
  const a = run.marks.findIndex((m) => / iterations of an /.test(m.text));
  const b = run.marks.findIndex((m) => /loop executed (\d+) instructions/.test(m.text));
  if (a < 0 || b < 0) throw new Error('bench-loop printed no loop lines');
  const insns = Number(/loop executed (\d+)/.exec(run.marks[b].text)[1]);
  return { ms: run.marks[b].t - run.marks[a].t, cpuMs: run.marks[b].cpu - run.marks[a].cpu, insns };
}

// ---- engines ----
const v86Missing = (() => {
  let cached;
  return async () => {
    if (cached === undefined) {
      const r = await runProc(process.execPath, [v86Run, '--check'], { timeoutMs: 30_000 });
      cached = r.code === 0 ? '' : r.err.trim().split('\n').pop() || `v86-run --check exited ${r.code}`;
    }
    return cached;
  };
})();
const distMissing = () => (existsSync(join(root, 'dist', 'src', 'vmm', 'vm-builder.js')) ? '' : 'dist/ missing: npm run build');
const ENGINES = [
  ...emuModes.map((m, i) => ({ id: i === 0 ? 'emu32' : `emu32:${m.tag}`, peer: 'emu', bits: 32, name: m.tag ? `emu ${m.tag}` : 'tsvmm emu', missing: distMissing,
    suite: (cl) => runEmu(ELF[32], cl, undefined, m.env), loop: (cl) => runEmu(LOOP_ELF[32], cl, undefined, m.env) })),
  { id: 'qemu32', peer: 'qemu', bits: 32, name: 'QEMU TCG', missing: () => (has('qemu-system-x86_64') ? '' : 'qemu-system-x86_64 not installed (apt-get install qemu-system-x86)'),
    suite: (cl) => runQemu(ELF[32], cl, 'realcode: total'), loop: (cl) => runQemu(LOOP_ELF[32], cl, 'loop executed') },
  { id: 'v86-jit', peer: 'v86-jit', bits: 32, name: 'v86 JIT', missing: v86Missing,
    suite: (cl) => runV86(ELF[32], cl, 'realcode: total', true), loop: (cl) => runV86(LOOP_ELF[32], cl, 'loop executed', true) },
  { id: 'v86-nojit', peer: 'v86-nojit', bits: 32, name: 'v86 no JIT', missing: v86Missing,
    suite: (cl) => runV86(ELF[32], cl, 'realcode: total', false), loop: (cl) => runV86(LOOP_ELF[32], cl, 'loop executed', false) },
  ...emuModes.map((m, i) => ({ id: i === 0 ? 'emu64' : `emu64:${m.tag}`, peer: 'emu', bits: 64, name: m.tag ? `emu ${m.tag}` : 'tsvmm emu', missing: distMissing,
    suite: (cl) => runEmu(ELF[64], cl, undefined, m.env), loop: (cl) => runEmu(LOOP_ELF[64], cl, undefined, m.env) })),
  { id: 'qemu64', peer: 'qemu', bits: 64, name: 'QEMU TCG', missing: () => (has('qemu-system-x86_64') ? '' : 'qemu-system-x86_64 not installed'),
    suite: (cl) => runQemu(ELF[64], cl, 'realcode: total'), loop: (cl) => runQemu(LOOP_ELF[64], cl, 'loop executed') },
  { id: 'native', peer: 'native', bits: 0, name: 'native', missing: () => (existsSync(NATIVE) ? '' : `${NATIVE} missing: node scripts/build-guests.mjs realcode`) },
];

for (const f of [ELF[32], ELF[64], NATIVE]) {
  if (!existsSync(f)) {
    console.error(`realcode: ${f} missing: build the guests first (node scripts/build-guests.mjs)`);
    process.exit(2);
  }
}
if (distMissing()) {
  console.error(`realcode: ${distMissing()} (emu's exact instruction counts are needed for every engine's MIPS)`);
  process.exit(2);
}

const active = [];
const skipped = [];
for (const e of ENGINES) {
  // emu always runs: its exact counts are every engine's instruction counts.
  if (!peersWanted.has(e.peer) && e.peer !== 'emu') continue;
  const m = await e.missing();
  if (m) skipped.push(`${e.name}${e.bits ? ` ${e.bits}-bit` : ''}: skipped: ${m}`);
  else active.push(e);
}
const loopCl = `iters=${opt.quick ? Math.round(loopIters / 10) : loopIters} loop-only`;
// per engine and round: suite = pass 1 (cold), warm = the last pass (when passes > 1)
const res = new Map(active.map((e) => [e.id, { suite: [], warm: [], loop: [], rss: [], startup: [], jit: undefined, errors: [] }]));
let nativeSums;

log(`${rounds} round(s), engines ${active.map((e) => e.id).join(', ')}, guest cmdline "${cmdline}", load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
for (let round = 1; round <= rounds; round++) {
  for (const e of active) {
    const r = res.get(e.id);
    try {
      if (e.peer === 'native') {
        const n = await runNative();
        nativeSums = n.sums;
        const all = { ms: 0, cpuMs: 0 };
        for (const v of n.kernels.values()) (all.ms += v.ms), (all.cpuMs += v.cpuMs);
        n.kernels.set('*', all);
        r.suite.push({ phases: n.kernels, sums: n.sums });
        r.warm.push({ phases: n.kernels, sums: n.sums }); // the host program has nothing to warm up
        r.rss.push(n.rssKiB);
        log(`round ${round} native: ${all.ms.toFixed(1)} ms`);
        continue;
      }
      const run = await e.suite(cmdline);
      const s = suitePhases(run, 0);
      r.suite.push(s);
      if (passes > 1) r.warm.push(suitePhases(run, passes - 1));
      r.rss.push(run.rssKiB);
      r.startup.push(run.startupMs);
      if (run.jit) r.jit = run.jit;
      log(`round ${round} ${e.id}: suite ${s.phases.get('*').ms.toFixed(0)} ms (startup ${run.startupMs.toFixed(0)} ms)`);
      if (!opt['no-loop']) {
        const lr = await e.loop(loopCl);
        r.loop.push(loopPhase(lr));
      }
    } catch (err) {
      r.errors.push(err.message);
      log(`round ${round} ${e.id}: failed: ${err.message}`);
    }
  }
  load.push(loadavg());
}

// ---- linux boot (emu), once per JIT mode ----
const linuxRuns = [];
for (const m of emuModes) {
  let linux;
  if (!(linuxSeconds > 0)) linux = { skipped: 'disabled (--linux-seconds 0)' };
  else if (!existsSync(LINUX)) linux = { skipped: `${LINUX.slice(root.length + 1)} not present (node scripts/fetch-debian-kernel.mjs fetches the Debian 12 kernel, ~70 MB; the bench never downloads)` };
  else {
    log(`linux: booting ${LINUX.slice(root.length + 1)} on emu${m.tag ? ` (${m.tag})` : ''} for up to ${linuxSeconds} s`);
    const r = await runProc(process.execPath, [emuMarked, '--kernel', LINUX, '--cmdline', LINUX_CMDLINE, '--mem', '512M', '--seconds', String(linuxSeconds)], { env: m.env });
    if (r.code !== 0) linux = { error: why(r) };
    else {
      const j = JSON.parse(r.out.trim().split('\n').pop());
      const last = [...j.lines].reverse().find((l) => l.text.trim())?.text.trim() ?? '(no serial output)';
      linux = { insns: j.instructions, ms: j.wallMs, cpuMs: j.cpuMs, rssKiB: j.maxRssKiB, stop: j.stop, last, jit: j.jit };
    }
    load.push(loadavg());
  }
  linuxRuns.push({ tag: m.tag, linux });
}
rmSync(tmp, { recursive: true, force: true });

// ---- report ----
const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '-');
const f1 = (x) => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(1)) : '-');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(2) : '-');
const insnsOf = (bits) => {
  const r = res.get(`emu${bits}`);
  return r?.suite[0]?.phases;
};
const counts = { 32: insnsOf(32), 64: insnsOf(64) };
// emu's counts must repeat exactly across rounds (same guest, no interrupts): a sanity check of the method
for (const bits of [32, 64]) {
  for (const s of res.get(`emu${bits}`)?.suite.slice(1) ?? []) {
    for (const [k, v] of s.phases) {
      const c = counts[bits].get(k).insns;
      if (Math.abs(v.insns - c) > c * 1e-4) log(`warning: emu ${bits}-bit ${k}: ${v.insns} instructions in one round, ${c} in another`);
    }
  }
}
/** Median MIPS of kernel k for engine e over its rounds, for pass `which` ('suite' or 'warm'). */
function mipsOf(e, k, bits, which) {
  const r = res.get(e);
  const c = counts[bits]?.get(k)?.insns;
  if (!r || !r[which].length || !c) return NaN;
  return c / median(r[which].map((s) => s.phases.get(k)?.[timeKey] ?? NaN)) / 1e3;
}
const kernelNames = counts[32] ? [...counts[32].keys()].filter((k) => k !== '*') : [];
const has64 = !!counts[64];

// checksums: every engine must print the host's checksums
const mismatches = [];
for (const e of active) {
  for (const s of [...res.get(e.id).suite, ...res.get(e.id).warm]) {
    for (const [k, v] of s.sums) if (nativeSums && nativeSums.get(k) !== v) mismatches.push(`${e.id} ${k}: ${v}, host ${nativeSums.get(k)}`);
  }
}

const loadStr = (l) => l.map((x) => x.toFixed(2)).join(' ');
console.log(`\nrealcode suite (guests/realcode), cmdline "${cmdline}", ${rounds} round(s) interleaved; ${cpus().length} CPUs; load before ${loadStr(load[0])}, after ${loadStr(load.at(-1))}`);
const col = (id) => active.some((e) => e.id === id);
const nameOf = (id) => ENGINES.find((e) => e.id === id).name;
for (const which of passes > 1 ? ['suite', 'warm'] : ['suite']) {
  const label = passes > 1 ? (which === 'suite' ? ', pass 1 (cold)' : `, pass ${passes} (warm)`) : '';
  {
    const ids = [...active.filter((e) => e.peer === 'emu' && e.bits === 32).map((e) => e.id), 'qemu32', 'v86-jit', 'v86-nojit', 'native'].filter(col);
    const head = ['kernel', 'M insns', ...ids.map(nameOf), 'emu/QEMU', 'emu/v86-JIT'];
    const rows = [head];
    for (const k of [...kernelNames, '*']) {
      const m = Object.fromEntries(ids.map((id) => [id, mipsOf(id, k, 32, which)]));
      rows.push([k === '*' ? 'all kernels' : k, f1(counts[32].get(k).insns / 1e6), ...ids.map((id) => f1(m[id])), ratio(m.emu32, m.qemu32), ratio(m.emu32, m['v86-jit'])]);
    }
    if (!opt['no-loop'] && which === 'suite') {
      const lm = Object.fromEntries(ids.map((id) => [id, res.get(id)?.loop.length ? median(res.get(id).loop.map((p) => p.insns / p[timeKey] / 1e3)) : NaN]));
      rows.push(['tight loop*', f1((opt.quick ? loopIters / 10 : loopIters) * 8 / 1e6), ...ids.map((id) => (id === 'native' ? 'n/a' : f1(lm[id]))), ratio(lm.emu32, lm.qemu32), ratio(lm.emu32, lm['v86-jit'])]);
    }
    printTable(`32-bit guest (protected mode, 4 KiB paging, ring 3): MIPS, median of rounds (${opt.time} time)${label}`, rows);
  }
  if (has64) {
    const ids = [...active.filter((e) => e.peer === 'emu' && e.bits === 64).map((e) => e.id), 'qemu64', 'native'].filter(col);
    const rows = [['kernel', 'M insns', ...ids.map(nameOf), 'emu/QEMU']];
    for (const k of [...kernelNames, '*']) {
      const m = Object.fromEntries(ids.map((id) => [id, mipsOf(id, k, 64, which)]));
      rows.push([k === '*' ? 'all kernels' : k, f1(counts[64].get(k).insns / 1e6), ...ids.map((id) => f1(m[id])), ratio(m.emu64, m.qemu64)]);
    }
    if (!opt['no-loop'] && which === 'suite') {
      const lm = Object.fromEntries(ids.map((id) => [id, res.get(id)?.loop.length ? median(res.get(id).loop.map((p) => p.insns / p[timeKey] / 1e3)) : NaN]));
      rows.push(['tight loop*', f1((opt.quick ? loopIters / 10 : loopIters) * 8 / 1e6), ...ids.map((id) => (id === 'native' ? 'n/a' : f1(lm[id]))), ratio(lm.emu64, lm.qemu64)]);
    }
    printTable(`64-bit guest (long mode, 4 KiB pages, ring 3): MIPS, median of rounds (${opt.time} time)${label}`, rows);
  }
}
{
  const rows = [['engine', 'build', 'MIPS min', 'median', 'max', 'MIPS cpu', 'suite ms', 'startup ms', 'RSS MiB', 'compile ms', 'code KiB', 'live KiB']];
  for (const e of active) {
    const r = res.get(e.id);
    const bitsList = e.bits ? [e.bits] : [32, 64];
    for (const bits of bitsList) {
      for (const which of passes > 1 && e.peer !== 'native' ? ['suite', 'warm'] : ['suite']) {
        const c = counts[bits]?.get('*')?.insns;
        const build = e.peer === 'native' ? `${bits}-bit count` : `${bits}-bit${which === 'warm' ? ' warm' : passes > 1 ? ' cold' : ''}`;
        if (!r[which].length || !c) {
          rows.push([e.name, build, 'failed', '-', '-', '-', '-', '-', '-', '-', '-', '-']);
          continue;
        }
        const ms = r[which].map((s) => s.phases.get('*').ms);
        const mips = ms.map((x) => c / x / 1e3);
        const cpuMips = c / median(r[which].map((s) => s.phases.get('*').cpuMs)) / 1e3;
        const jit = e.peer === 'emu' ? r.jit : undefined;
        rows.push([e.name, build, f1(Math.min(...mips)), f1(median(mips)), f1(Math.max(...mips)), f1(cpuMips), f0(median(ms)),
          f0(median(r.startup)), f1(median(r.rss) / 1024), jit?.compileMs != null ? f1(jit.compileMs) : 'n/a', jit?.codeBytes != null ? f1(jit.codeBytes / 1024) : 'n/a', jit?.liveBytes != null ? f1(jit.liveBytes / 1024) : 'n/a']);
      }
    }
  }
  printTable('whole suite per engine (min/median/max over rounds)', rows);
}
console.log('\n  MIPS = emu\'s exact guest instruction count of the phase / the engine\'s time for it; "MIPS cpu" uses the engine process\'s CPU time.');
console.log('  native: the same C compiled for the host, timed by its own clocks; its MIPS are guest-instruction-equivalent (32/64-bit counts).');
console.log('  QEMU lines are stamped on arrival in this process (per-kernel figures carry its pipe latency; the whole-suite figure hardly).');
console.log('  compile ms / code KiB / live KiB: the emulator\'s JIT counters (vm.jitStats() or cpu.jitStats): compile time, bytes compiled in all, bytes still held at the end (under a cap: src/cpu/emu/jit/wasm-code-book.ts); n/a while it exposes none. RSS MiB: the process\'s peak.');
if (!opt['no-loop']) console.log(`  * tight loop: bench-loop "${loopCl}" (8 instructions per iteration, exact), between its two lines; the suite above is the headline.`);
for (const s of skipped) console.log(`  ${s}`);
for (const e of active) for (const err of res.get(e.id).errors) console.log(`  ${e.id}: failed: ${err}`);
if (mismatches.length) {
  console.log(`  CHECKSUM MISMATCH (engine output differs from the host program's):`);
  for (const m of mismatches) console.log(`    ${m}`);
} else if (nativeSums) console.log('  every engine printed the host program\'s checksums.');
for (const { tag, linux } of linuxRuns) {
  const who = `Linux boot on emu${tag ? ` ${tag}` : ''}`;
  if (linux.skipped) console.log(`\n  ${who}: skipped: ${linux.skipped}`);
  else if (linux.error) console.log(`\n  ${who}: failed: ${linux.error}`);
  else {
    console.log(`\n  ${who} (.cache/debian-kernel/vmlinuz, 512 MiB, up to ${linuxSeconds} s): ${(linux.insns / 1e6).toFixed(0)} M instructions in ${(linux.ms / 1000).toFixed(1)} s = ${f1(linux.insns / linux.ms / 1e3)} MIPS wall, ${f1(linux.insns / linux.cpuMs / 1e3)} MIPS cpu (compile time included), RSS ${f1(linux.rssKiB / 1024)} MiB, compile ${linux.jit?.compileMs != null ? f1(linux.jit.compileMs) + ' ms' : 'n/a'}${linux.jit?.regions != null ? ` (${linux.jit.regions} blocks, ${f1(linux.jit.codeBytes / 1024)} KiB${linux.jit.liveBytes != null ? `, ${f1(linux.jit.liveBytes / 1024)} KiB live at the end` : ''})` : ''}; stop: ${linux.stop?.kind ?? '?'}${linux.stop?.reason ? ` (${linux.stop.reason})` : ''}; last line: ${JSON.stringify(linux.last.slice(0, 100))}`);
  }
}
console.log(`  total bench time ${((performance.now() - startedAt) / 1000).toFixed(0)} s`);
process.exit(mismatches.length || active.some((e) => res.get(e.id).errors.length && !res.get(e.id).suite.length) ? 1 : 0);
