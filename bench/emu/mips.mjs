// Emulator speed: the bench-loop guest (an 8-instruction ALU loop of known count, then a sieve + CRC-32
// workload) on tsvmm --accel emu, v86 (wasm JIT and interpreter), QEMU TCG, and the same loop/workload
// compiled natively. MIPS come from differences of two runs per peer, so each peer's fixed start-up cost
// (process start, BIOS, boot, wasm compile) cancels out:
//   loop MIPS = 8 * (itersH - 0) / (t(iters=itersH loop-only) - t(iters=0 loop-only))
//   work MIPS = guest instructions of (sieve + CRC) / (t(iters=0 sieve=S crc=C) - t(iters=0 loop-only))
// The workload's guest instruction count is counted by tsvmm's interpreter in this process (CPL-3
// instructions retired; it is linear in the CRC size). Every peer is sized to run its measured part for
// about BENCH_TARGET_S seconds. Wall times and CPU times (user+sys of the peer's process, via /usr/bin/time)
// are both reported: on a shared, loaded machine the CPU-time figures are the stable ones and the ratios
// use them when available.
//   node bench/emu/mips.mjs            (after npx tsc -p . and node scripts/build-guests.mjs bench-loop)
// Env: BENCH_RUNS (repeats per measurement, min is kept; default 2), BENCH_TARGET_S (default 1.5),
// BENCH_PEERS (comma list to select: emu,v86-jit,v86-nojit,qemu,native), V86_PATH (v86 package folder when
// the package is not a dependency of the repo).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { root, tsvmmBin, has, printTable } from '../lib.mjs';
import { benchKernel, emuMissing, runEmuInProcess } from './emu-inproc.mjs';

const LOOP_INSNS = 8;
const SIEVE_N = 1000000;
const CRC_UNIT = 256; // the guest CRCs in 256-byte blocks: instruction count is exactly linear in multiples
const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 2));
const targetS = Number(process.env.BENCH_TARGET_S ?? 1.5);
const only = process.env.BENCH_PEERS ? new Set(process.env.BENCH_PEERS.split(',')) : undefined;
const timeBin = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const tmp = mkdtempSync(join(tmpdir(), 'tsvmm-bench-emu-'));
const startedAt = performance.now();
const log = (msg) => process.stderr.write(`mips: ${msg}\n`);

/** Spawns cmd and resolves with { wallMs, cpuMs, code, out, err }; cpuMs is NaN without /usr/bin/time. */
function timed(cmd, args, timeoutMs = 120000) {
  const tfile = join(tmp, 'time.txt');
  const [c, a] = timeBin ? [timeBin, ['-q', '-f', '%U %S', '-o', tfile, cmd, ...args]] : [cmd, args];
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (e) => (err += e.message));
    child.on('close', (code, signal) => {
      const wallMs = performance.now() - t0;
      clearTimeout(timer);
      let cpuMs = NaN;
      if (timeBin && existsSync(tfile)) {
        const m = /([\d.]+) ([\d.]+)\s*$/.exec(readFileSync(tfile, 'utf8'));
        if (m) cpuMs = (Number(m[1]) + Number(m[2])) * 1000;
        rmSync(tfile, { force: true });
      }
      resolve({ wallMs, cpuMs, code: signal ? `signal ${signal}` : code, out, err });
    });
  });
}

// ---- peers: each has run(cmdline) -> timed result with the guest's serial output in `out` ----
const qemuArgs = (cmdline) => ['-accel', 'tcg', '-kernel', benchKernel, '-display', 'none', '-serial', 'stdio', '-monitor', 'none', '-nodefaults',
  '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-no-reboot', '-m', '128M', '-append', cmdline];
const untilOf = (cmdline) => (cmdline.includes('loop-only') ? 'loop executed' : 'crc32 of');
const v86Run = join(root, 'bench', 'emu', 'v86-run.mjs');

const peers = [
  { id: 'emu', name: 'tsvmm --accel emu', hintMips: 150,
    missing: () => emuMissing(),
    run: (cl) => timed(process.execPath, [tsvmmBin, 'run', '--kernel', benchKernel, '--accel', 'emu', '--serial', 'stdio', '--cmdline', cl]) },
  { id: 'v86-jit', name: 'v86 (wasm JIT)', hintMips: 300, v86: true,
    run: (cl) => timed(process.execPath, [v86Run, '--kernel', benchKernel, '--cmdline', cl, '--until', untilOf(cl)]) },
  { id: 'v86-nojit', name: 'v86 (no JIT)', hintMips: 60, v86: true,
    run: (cl) => timed(process.execPath, [v86Run, '--kernel', benchKernel, '--cmdline', cl, '--until', untilOf(cl), '--no-jit']) },
  { id: 'qemu', name: 'QEMU TCG', hintMips: 1500,
    missing: () => (has('qemu-system-x86_64') ? undefined : 'qemu-system-x86_64 not installed (apt-get install qemu-system-x86)'),
    run: (cl) => timed('qemu-system-x86_64', qemuArgs(cl)) },
  { id: 'native', name: 'native (gcc -O2)', native: true,
    missing: () => (has('gcc') ? undefined : 'gcc not installed') },
];

/** Why v86 cannot run here (probes v86-run.mjs once), or undefined. */
async function v86Missing() {
  const r = await timed(process.execPath, [v86Run, '--check'], 30000);
  if (r.code === 0) return undefined;
  return r.err.trim().split('\n').pop() || `v86-run exited ${r.code}`;
}

/** The most telling lines of a failed run: the first error line on stderr, else the last output lines. */
function why(r) {
  const err = r.err.split('\n').find((l) => /error|fail|cannot|missing/i.test(l));
  return `(exit ${r.code}): ${(err ?? (r.out + r.err).trim().split('\n').slice(-2).join(' | ')).trim()}`;
}

function checkOutput(r, cl) {
  if (cl.includes('loop-only')) {
    const iters = Number(/iters=(\d+)/.exec(cl)?.[1] ?? 0);
    const want = `loop executed ${iters * LOOP_INSNS} instructions`;
    if (!r.out.includes(want)) return `output lacks "${want}" ${why(r)}`;
  } else if (!/crc32 of \d+ bytes: [0-9a-f]{8}/.test(r.out)) {
    return `output lacks the sieve/CRC line ${why(r)}`;
  }
  return undefined;
}

/**
 * Best (minimum) of `runs` timed runs of one cmdline; a failed run is retried once (a peer may fail
 * transiently, e.g. while dist/ is being rebuilt), then the reason is thrown.
 */
async function best(peer, cl) {
  let b;
  let retried = false;
  for (let i = 0; i < runs; i++) {
    const r = await peer.run(cl);
    const bad = checkOutput(r, cl);
    if (bad) {
      if (retried) throw new Error(`${cl}: ${bad}`);
      retried = true;
      log(`${peer.name}: ${cl}: ${bad}; retrying once`);
      i--;
      continue;
    }
    if (!b || r.wallMs < b.wallMs) b = { ...b, wallMs: r.wallMs, out: r.out };
    if (!(b.cpuMs <= r.cpuMs)) b.cpuMs = r.cpuMs;
  }
  return b;
}

// ---- workload instruction count, from tsvmm's interpreter (guest instructions are the same on every peer) ----
let workModel; // { base, perUnit }: CPL-3 instructions of sieve + CRC(C) = base + perUnit * C/CRC_UNIT
async function countWorkload() {
  const zero = await runEmuInProcess('iters=0 loop-only');
  const a = await runEmuInProcess(`iters=0 sieve=${SIEVE_N} crc=${CRC_UNIT * 64}`);
  const b = await runEmuInProcess(`iters=0 sieve=${SIEVE_N} crc=${CRC_UNIT * 128}`);
  const perUnit = (b.user - a.user) / 64;
  return { base: a.user - zero.user - perUnit * 64, perUnit };
}
const workInsns = (crc) => workModel.base + workModel.perUnit * (crc / CRC_UNIT);
function crcFor(insns) {
  const units = Math.max(64, Math.round((insns - workModel.base) / workModel.perUnit));
  return units * CRC_UNIT;
}

/**
 * Times `cmdlineFor(size)` against the zero run, re-sizing (at most x4 up or /8 down per step, 3 tries) until
 * the measured part lasts between 0.3x and 4x the target: a single short run is too noisy to extrapolate from.
 */
async function sized(peer, zero, size, cmdlineFor, insnsFor) {
  let r;
  for (let attempt = 0; attempt < 3; attempt++) {
    const h = await best(peer, cmdlineFor(size));
    const dt = h.wallMs - zero.wallMs;
    const insns = insnsFor(size);
    r = { size, ms: dt, mips: insns / dt / 1e3, cpuMips: insns / (h.cpuMs - zero.cpuMs) / 1e3 };
    if (dt >= targetS * 300 && dt <= targetS * 4000) break;
    const factor = dt > 0 ? Math.min(4, Math.max(1 / 8, (targetS * 1000) / dt)) : 4;
    log(`${peer.name}: ${cmdlineFor(size)} took ${dt.toFixed(0)} ms past boot; re-sizing x${factor.toFixed(2)}`);
    size *= factor;
  }
  return r;
}

/** Measures one emulator peer: zero run, loop run, workload run. */
async function measureEmulator(peer) {
  const zero = await best(peer, 'iters=0 loop-only');
  const res = { bootMs: zero.wallMs };
  const iters = (n) => Math.max(1000, Math.round(n / 1000) * 1000);
  const loop = await sized(peer, zero, (targetS * peer.hintMips * 1e6) / LOOP_INSNS, (n) => `iters=${iters(n)} loop-only`, (n) => iters(n) * LOOP_INSNS);
  Object.assign(res, { loopIters: iters(loop.size), loopMs: loop.ms, loopMips: loop.mips, loopCpuMips: loop.cpuMips });
  if (workModel) {
    // The workload runs slower than the loop on every emulator: start from half the loop's speed.
    const mips = Number.isFinite(loop.mips) && loop.mips > 0 ? loop.mips * 0.5 : peer.hintMips;
    const work = await sized(peer, zero, targetS * mips * 1e6, (n) => `iters=0 sieve=${SIEVE_N} crc=${crcFor(n)}`, (n) => workInsns(crcFor(n)));
    Object.assign(res, { workCrc: crcFor(work.size), workMs: work.ms, workMips: work.mips, workCpuMips: work.cpuMips });
  }
  return res;
}

/** The native peer: the same asm loop and C workload, timed inside the process (no start-up to subtract). */
async function measureNative() {
  const exe = join(tmp, 'emu-loop');
  const cc = spawnSync('gcc', ['-O2', '-o', exe, join(root, 'bench', 'c', 'emu-loop.c')], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`gcc failed: ${cc.stderr.trim()}`);
  const iters = 500000000;
  const crc = workModel ? crcFor(targetS * 2000 * 1e6) : 4194304;
  const t = { loop: Infinity, loopCpu: Infinity, work: Infinity, workCpu: Infinity };
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(exe, [String(iters), String(SIEVE_N), String(crc)], { encoding: 'utf8' });
    const l = /^loop \d+ (\d+) (\d+) ([0-9a-f]{8})/m.exec(r.stdout);
    const w = /^work \d+ \d+ (\d+) (\d+)/m.exec(r.stdout);
    if (!l || !w) throw new Error(`emu-loop printed: ${r.stdout}${r.stderr}`);
    t.loop = Math.min(t.loop, Number(l[1]));
    t.loopCpu = Math.min(t.loopCpu, Number(l[2]));
    t.work = Math.min(t.work, Number(w[1]));
    t.workCpu = Math.min(t.workCpu, Number(w[2]));
  }
  const loopInsns = iters * LOOP_INSNS;
  const res = { loopIters: iters, loopMs: t.loop / 1e6, loopMips: (loopInsns / t.loop) * 1e3, loopCpuMips: (loopInsns / t.loopCpu) * 1e3, bootMs: 0 };
  if (workModel) Object.assign(res, { workCrc: crc, workMs: t.work / 1e6, workMips: (workInsns(crc) / t.work) * 1e3, workCpuMips: (workInsns(crc) / t.workCpu) * 1e3 });
  return res;
}

// ---- main ----
const results = [];
if (!emuMissing()) {
  try {
    workModel = await countWorkload();
    log(`workload: sieve below ${SIEVE_N} + CRC-32 = ${workModel.base.toFixed(0)} + ${workModel.perUnit.toFixed(0)} per ${CRC_UNIT} CRC bytes guest instructions (counted by tsvmm emu at CPL 3)`);
  } catch (e) {
    log(`cannot count the workload's instructions in-process (${e.message}); workload MIPS left out`);
  }
}
let v86Why;
for (const peer of peers) {
  if (only && !only.has(peer.id)) continue;
  let why = peer.missing?.();
  if (!why && peer.v86) why = v86Why ??= (await v86Missing()) ?? '';
  if (why) {
    log(`${peer.name}: skipped: ${why}`);
    results.push({ peer, error: `skipped: ${why}` });
    continue;
  }
  log(`${peer.name}: measuring`);
  try {
    const r = peer.native ? await measureNative() : await measureEmulator(peer);
    results.push({ peer, ...r });
  } catch (e) {
    log(`${peer.name}: failed: ${e.message}`);
    results.push({ peer, error: `failed: ${e.message.split('\n')[0]}` });
  }
}
rmSync(tmp, { recursive: true, force: true });

const emu = results.find((r) => r.peer.id === 'emu' && !r.error);
const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '-');
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const ratio = (x, base) => (Number.isFinite(x) && Number.isFinite(base) && base > 0 ? (x / base).toFixed(2) + 'x' : '-');
// Ratios use CPU-time MIPS when both sides have them (robust on a loaded host), else wall MIPS.
const pick = (r, k) => (Number.isFinite(r[`${k}CpuMips`]) && emu && Number.isFinite(emu[`${k}CpuMips`]) ? [r[`${k}CpuMips`], emu[`${k}CpuMips`]] : [r[`${k}Mips`], emu?.[`${k}Mips`]]);
const rows = [['peer', 'boot ms', 'loop iters', 'loop ms', 'loop MIPS', 'loop MIPS cpu', 'vs emu', 'work ms', 'work MIPS', 'work MIPS cpu', 'vs emu']];
for (const r of results) {
  if (r.error) {
    rows.push([r.peer.name, r.error.startsWith('skipped') ? 'skipped' : 'failed', '-', '-', '-', '-', '-', '-', '-', '-', '-']);
    continue;
  }
  rows.push([r.peer.name, f0(r.bootMs), String(r.loopIters), f0(r.loopMs), f1(r.loopMips), f1(r.loopCpuMips), ratio(...pick(r, 'loop')),
    f0(r.workMs), f1(r.workMips), f1(r.workCpuMips), ratio(...pick(r, 'work'))]);
}
printTable(`emulator speed, bench-loop guest (best of ${runs}; ms past each peer's own boot; loop = 8-insn ALU loop, work = sieve<${SIEVE_N} + CRC-32)`, rows);
for (const r of results) if (r.error) console.log(`  ${r.peer.name}: ${r.error}`);
console.log(`\n  MIPS from wall time; "MIPS cpu" from the peer's user+sys CPU time (${timeBin ? '/usr/bin/time' : 'unavailable: no /usr/bin/time'}).`);
console.log('  "vs emu" = peer MIPS / tsvmm emu MIPS (CPU-time MIPS where both have them). Native: in-process clocks, no start-up.');
console.log(`  Work instructions are the guest's CPL-3 instructions counted by tsvmm emu. Total bench time ${((performance.now() - startedAt) / 1000).toFixed(0)} s.`);
