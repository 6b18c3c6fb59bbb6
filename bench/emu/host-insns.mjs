// Host instructions per guest instruction of one realcode pass on emu, counted under valgrind (cachegrind,
// no cache simulation) instead of timed. On a shared host, timings of the same build spread by 10-40%, which
// hides any change under ~10%. The guest runs deterministic (its timer ticks by instructions, not by host time)
// and V8 predictable (compiles and GC on the main thread, on a fixed schedule, fixed seeds), so the count
// mostly repeats to ~0.1-2% and a change of a few % in the compiled code or the run loop shows. Not always: single
// runs 15-17% above the rest were seen (2026-12-07, at load 4-8), so --repeat 3 takes the median of each run and
// prints the spread of the per-pass figure.
// It is a count of work, not of time: cache misses and mispredicted branches do not show.
//
// Pass N's cost is the run with passes=N less the run with passes=N-1 (the same start-up and the same N-1
// passes before it), so compile work done during pass N is in it, as it is in the bench's timings.
//   node bench/emu/host-insns.mjs [--kernels json,match] [--bits 32,64] [--pass 3] [--builds DIR,DIR] [--jobs 2] [--repeat 3]
// --builds: directories each holding a build (dist/; a frozen copy for A/B: cp -r dist package.json DIR and link
// node_modules there); the first is the baseline of the ratio column.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { benchArgs, has, root } from '../lib.mjs';

const { values: o } = benchArgs('bench/emu/host-insns.mjs', {
  options: {
    kernels: { type: 'string', default: 'json,match,alloc,crc' },
    bits: { type: 'string', default: '32,64' },
    pass: { type: 'string', default: '3' },
    builds: { type: 'string', default: root },
    jobs: { type: 'string', default: String(Math.min(2, cpus().length)) },
    repeat: { type: 'string', default: '1' },
  },
});
function fail(msg) {
  console.error(`host-insns: ${msg}`);
  process.exit(2);
}
if (!has('valgrind')) fail('valgrind is not installed: apt-get install valgrind');
const pass = Number(o.pass);
if (!Number.isInteger(pass) || pass < 1 || pass > 20) fail(`--pass ${o.pass}: a pass number from 1 to 20`);
const jobs = Number(o.jobs);
if (!Number.isInteger(jobs) || jobs < 1) fail(`--jobs ${o.jobs}: a positive integer`);
const repeat = Number(o.repeat);
if (!Number.isInteger(repeat) || repeat < 1 || repeat > 9) fail(`--repeat ${o.repeat}: how many times to count each run, 1 to 9`);
const kernels = o.kernels.split(',').filter(Boolean);
const bits = o.bits.split(',').map(Number);
if (bits.some((b) => b !== 32 && b !== 64)) fail(`--bits ${o.bits}: 32, 64 or 32,64`);
const builds = o.builds.split(',').map((d) => resolve(d));
for (const b of builds) {
  if (!existsSync(join(b, 'dist/src/vmm/vm-builder.js'))) fail(`${b} has no dist/src/vmm/vm-builder.js: a build directory needs dist/ (npm run build)`);
}
const elf = { 32: join(root, 'guests/build/realcode.elf'), 64: join(root, 'guests/build/realcode64.elf') };
for (const b of bits) if (!existsSync(elf[b])) fail(`${elf[b]} missing: npm run guests`);
const known = readFileSync(join(root, 'guests/realcode/kernels.c'), 'utf8');
for (const k of kernels) if (!new RegExp(`"${k}"`).test(known)) fail(`--kernels: no realcode kernel named "${k}" (guests/realcode/kernels.c)`);

const scratch = mkdtempSync(join(tmpdir(), 'host-insns-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

/** One run under cachegrind: its total host instructions and the guest instruction count at each printed line. */
function countRun(build, bitsN, kernel, passes, id) {
  const out = join(scratch, `${id}.cg`);
  const args = ['--tool=cachegrind', '--cache-sim=no', '--smc-check=all-non-file', `--cachegrind-out-file=${out}`,
    process.execPath, '--predictable', '--predictable-gc-schedule', '--hash-seed=1', '--random-seed=1', '--wasm-enforce-bounds-checks', join(root, 'bench/emu/emu-marked.mjs'), '--root', build,
    '--kernel', elf[bitsN], '--cmdline', `only=${kernel} passes=${passes}`, '--deterministic'];
  return new Promise((res, rej) => {
    const child = spawn('valgrind', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => {
      const summary = existsSync(out) ? /^summary:\s+(\d+)/m.exec(readFileSync(out, 'utf8')) : null;
      if (code !== 0 || !summary) return rej(new Error(`${kernel} ${bitsN}-bit passes=${passes} (${build}) failed (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
      const marks = JSON.parse(stdout).lines.filter((l) => l.text.startsWith(`realcode: ${kernel} `)).map((l) => l.insns);
      res({ host: Number(summary[1]), marks });
    });
  });
}

const cases = [];
for (const k of kernels) for (const b of bits) for (const build of builds) cases.push({ k, b, build });
const runs = cases.flatMap((c) => Array.from({ length: repeat }, (_, i) => [{ c, passes: pass - 1, i }, { c, passes: pass, i }]).flat());
let next = 0;
let done = 0;
const load = [loadavg()];
async function worker() {
  while (next < runs.length) {
    const r = runs[next++];
    r.result = await countRun(r.c.build, r.c.b, r.c.k, r.passes, `${next}`);
    process.stderr.write(`host-insns: ${++done}/${runs.length} runs (${r.c.k} ${r.c.b}-bit passes=${r.passes})\n`);
  }
}
try {
  await Promise.all(Array.from({ length: Math.min(jobs, runs.length) }, worker));
} catch (e) {
  fail(e.message);
}
load.push(loadavg());

const rows = [];
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
for (const c of cases) {
  const of = (passes) => runs.filter((r) => r.c === c && r.passes === passes).map((r) => r.result);
  const after = of(pass);
  const before = of(pass - 1);
  const m = after[0].marks;
  const guest = m[pass - 1] - (pass > 1 ? m[pass - 2] : 0);
  const host = median(after.map((r) => r.host)) - median(before.map((r) => r.host));
  // The spread: each repeat's own difference.
  const each = after.map((r, i) => (r.host - before[i].host) / guest);
  rows.push({ c, guest, host, per: host / guest, lo: Math.min(...each), hi: Math.max(...each) });
}
const name = (b) => (builds.length > 1 ? `${builds.indexOf(b) + 1}:${b}` : b);
console.log(`host instructions per guest instruction, realcode pass ${pass} (the run with passes=${pass} less the run with passes=${pass - 1})`);
console.log(`valgrind cachegrind, node --predictable, emu --deterministic; load ${load.map((l) => l.map((x) => x.toFixed(2)).join(' ')).join(' -> ')}`);
console.log(['kernel', 'bits', 'build', 'guest M', 'host M', 'host/guest', ...(repeat > 1 ? ['repeats'] : []), ...(builds.length > 1 ? ['vs build 1'] : [])].join('\t'));
for (const r of rows) {
  const base = rows.find((x) => x.c.k === r.c.k && x.c.b === r.c.b && x.c.build === builds[0]);
  console.log([r.c.k, r.c.b, name(r.c.build), (r.guest / 1e6).toFixed(2), (r.host / 1e6).toFixed(1), r.per.toFixed(2),
    ...(repeat > 1 ? [`${r.lo.toFixed(2)}-${r.hi.toFixed(2)}`] : []), ...(builds.length > 1 ? [(r.per / base.per).toFixed(4)] : [])].join('\t'));
}
