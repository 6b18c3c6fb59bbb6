/**
 * `npm run fuzz`: seeded random guests and images, each run in its own process with a time limit, checked
 * against the invariants of SECURITY.md:
 *
 * - no host exception escapes: no JavaScript stack trace, no "internal error", no emulation failure (70), no
 *   death by a signal (V8 out of memory aborts), at most a bounded number of stderr lines;
 * - the VMM's resident memory stays under a bound proportional to guest RAM (polled from /proc);
 * - every run ends with a documented status (guest debug exit, power-off/reset, triple fault 72, hang 74, or a
 *   one-line image refusal 66) within its time limit, or at the limit is still making progress (instructions
 *   retired in its last second, or every vCPU idle with a timer or a device able to wake it), and then stops when told to.
 *
 * A failure is minimised (fewer CPUs, one entry point, shorter code) and written to .cache/fuzz/ as a JSON
 * reproducer that `--replay FILE` runs again and that can be copied into tests/fuzz/corpus/ for CI.
 *
 * usage: npm run fuzz -- [--seconds 60] [--seed N] [--per-run 5] [--jobs N] [--images-only|--guests-only]
 *                        [--first N] [--replay FILE.json | --replay SEED:INDEX[:image]] [--no-minimise] [-v]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, availableParallelism } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeScenario, generateScenario, type Scenario } from './scenario.js';
import { generateImage, type FuzzImage } from './images.js';
import type { ChildEnd, ChildProgress, ChildRequest } from './child.js';
import { guestPath, repoRoot } from '../guest-runner.js';

const childPath = join(dirname(fileURLToPath(import.meta.url)), 'child.js');

/** RSS bound: what Node and tsvmm need with no guest, plus a small multiple of guest RAM. */
export const RSS_BASE_MIB = 192;
export const RSS_PER_RAM = 3;
export const rssBoundMiB = (memMiB: number): number => RSS_BASE_MIB + RSS_PER_RAM * memMiB;
/** CPU time the VMM may spend without letting the host's event loop run (console, signals, timers). */
export const MAX_BLOCK_CPU_MS = 1000;
/** A run's stderr may say this many lines (warnings are summarised, never a flood). */
export const MAX_STDERR_LINES = 80;
/** Documented ends of a guest run, as the CLI reports them. */
const DOCUMENTED_STOPS = new Set(['debug-exit', 'poweroff', 'reset', 'shutdown', 'hang']);

export type FuzzCase =
  | { readonly type: 'guest'; readonly scenario: Scenario }
  | { readonly type: 'image'; readonly image: FuzzImage };

export interface Outcome {
  readonly id: string;
  readonly kind: string;
  readonly end: ChildEnd | undefined;
  readonly exitStatus: number | null;
  readonly signal: string | null;
  readonly killed: boolean;
  readonly stderr: string;
  readonly maxRssMiB: number;
  readonly boundMiB: number;
  readonly ms: number;
  readonly failures: string[];
}

const caseId = (c: FuzzCase): string => (c.type === 'guest' ? `${c.scenario.seed}:${c.scenario.index}` : `${c.image.seed}:${c.image.index}:image`);
const caseKind = (c: FuzzCase): string => (c.type === 'guest' ? c.scenario.kind : c.image.kind);
const caseShape = (c: FuzzCase): { memMiB: number; cpus: number; deterministic: boolean } => (c.type === 'guest' ? c.scenario : c.image);

function readRssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Runs one case in a child process and checks every invariant; `failures` is empty when it held them all. */
export function runCase(c: FuzzCase, o: { perRunSeconds: number; workDir: string }): Promise<Outcome> {
  const id = caseId(c);
  const shape = caseShape(c);
  const file = join(o.workDir, id.replace(/:/g, '-'));
  let req: ChildRequest;
  if (c.type === 'guest') {
    writeFileSync(`${file}.scenario`, encodeScenario(c.scenario));
    req = { kernel: guestPath('fuzz'), initrd: `${file}.scenario`, memMiB: shape.memMiB, cpus: shape.cpus, deterministic: shape.deterministic, seconds: o.perRunSeconds };
  } else {
    writeFileSync(`${file}.img`, c.image.bytes);
    req = { kernel: `${file}.img`, memMiB: shape.memMiB, cpus: shape.cpus, deterministic: shape.deterministic, seconds: o.perRunSeconds, decompress: c.image.decompress ?? 'host' };
  }
  const boundMiB = rssBoundMiB(shape.memMiB);
  const graceMs = 5000 + o.perRunSeconds * 500;
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [childPath, JSON.stringify(req)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    let end: ChildEnd | undefined;
    let last: ChildProgress | undefined;
    let maxRssKiB = 0;
    let killed = false;
    const failures: string[] = [];
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += d.toString();
    });
    child.on('message', (m: ChildProgress | ChildEnd) => {
      if (m.type === 'end') end = m;
      else last = m;
    });
    const poll = setInterval(() => {
      maxRssKiB = Math.max(maxRssKiB, readRssKiB(child.pid!));
      if (maxRssKiB / 1024 > boundMiB && !killed) {
        killed = true;
        failures.push(`memory: RSS ${(maxRssKiB / 1024).toFixed(0)} MiB passed the bound of ${boundMiB} MiB for ${shape.memMiB} MiB of guest RAM (after ${((Date.now() - t0) / 1000).toFixed(1)} s, ${last?.instructions ?? 0} instructions)`);
        child.kill('SIGKILL');
      }
    }, 100);
    const deadline = setTimeout(() => {
      if (killed) return;
      killed = true;
      failures.push(`unresponsive: no end ${((o.perRunSeconds * 1000 + graceMs) / 1000).toFixed(0)} s after the start (time limit ${o.perRunSeconds} s); last progress ${last ? `${last.instructions} instructions at ${(last.ms / 1000).toFixed(1)} s` : 'never'}`);
      child.kill('SIGKILL');
    }, o.perRunSeconds * 1000 + graceMs);
    child.on('close', (exitStatus, signal) => {
      clearInterval(poll);
      clearTimeout(deadline);
      const ms = Date.now() - t0;
      if (!killed) failures.push(...check(c, end, exitStatus, signal, stderr));
      resolve({ id, kind: caseKind(c), end, exitStatus, signal, killed, stderr, maxRssMiB: maxRssKiB / 1024, boundMiB, ms, failures });
    });
  });
}

function check(c: FuzzCase, end: ChildEnd | undefined, exitStatus: number | null, signal: string | null, stderr: string): string[] {
  const f: string[] = [];
  const firstLine = (re: RegExp): string => stderr.split('\n').find((l) => re.test(l)) ?? '';
  if (signal !== null) f.push(`crash: the VMM died by ${signal}: ${firstLine(/FATAL|error|Error/) || stderr.slice(0, 200)}`);
  if (/^\s+at .*(\.js|\.ts|node:)/m.test(stderr)) f.push(`host exception: a stack trace reached stderr: ${firstLine(/Error|error/)}`);
  if (/internal error|emulator failure|FATAL ERROR/.test(stderr)) f.push(`host exception: ${firstLine(/internal error|emulator failure|FATAL ERROR/)}`);
  const lines = stderr.split('\n').filter((l) => l !== '').length;
  if (lines > MAX_STDERR_LINES) f.push(`log flood: ${lines} stderr lines (at most ${MAX_STDERR_LINES})`);
  if (end === undefined) {
    if (signal === null) f.push(`no end report (exit status ${exitStatus}): ${stderr.slice(0, 200)}`);
    return f;
  }
  if (end.maxBlockCpuMs > MAX_BLOCK_CPU_MS) f.push(`unresponsive: the VMM kept the event loop waiting for ${end.maxBlockCpuMs.toFixed(0)} ms of CPU time (at most ${MAX_BLOCK_CPU_MS})`);
  if (exitStatus !== end.status) f.push(`status: exited ${exitStatus} but the stop maps to ${end.status}`);
  if (end.stop === 'build-error') {
    if (c.type !== 'image' || end.status !== 66) f.push(`status: refused with ${end.status} (${firstLine(/tsvmm/)}), expected 66 for a bad image`);
    if (lines !== 1) f.push(`refusal is not one line: ${JSON.stringify(stderr)}`);
  } else if (end.timeLimit) {
    if (end.lastSecondInstructions <= 0 && !end.waitingForTimer) {
      f.push(`stalled: at the time limit no instruction retired in the last second and nothing could wake the guest, but no hang was reported (${end.instructions} instructions in all)`);
    }
  } else if (!DOCUMENTED_STOPS.has(end.stop)) {
    f.push(`status: the run ended with "${end.stop}" (${end.status}): ${end.message ?? ''}`.slice(0, 400));
  }
  return f;
}

/** The class of a failure, for telling whether a smaller case still fails the same way. */
const failureClass = (o: Outcome): string => (o.failures[0] ?? '').split(':')[0]!;

/** Smaller variants of a failing scenario, simplest first. */
function* shrinkSteps(s: Scenario): Generator<Scenario> {
  if (s.cpus > 1 || s.sipi !== null) yield { ...s, cpus: 1, sipi: null, chunks: s.chunks.filter((c) => c.what !== 'AP real-mode code') };
  if (!s.deterministic) yield { ...s, deterministic: true };
  if (s.entries.length > 1) {
    for (let i = 0; i < s.entries.length; i++) {
      yield { ...s, entries: [s.entries[i]!], chunks: s.chunks.filter((c) => !c.what.startsWith('code ') || c.what === `code ${i}`) };
    }
  }
  for (const c of s.chunks.filter((x) => x.what.startsWith('code '))) {
    for (let size = c.bytes.length >> 1; size >= 1; size >>= 1) {
      for (let at = 0; at < c.bytes.length; at += size) {
        const bytes = new Uint8Array([...c.bytes.subarray(0, at), ...c.bytes.subarray(at + size)]);
        if (bytes.length === 0) continue;
        yield { ...s, chunks: s.chunks.map((x) => (x === c ? { ...x, bytes } : x)) };
      }
    }
  }
  if (s.recoveries > 1) yield { ...s, recoveries: 1 };
}

/** Greedy minimisation within a run budget: keeps each smaller variant that fails in the same class. */
export async function minimise(first: Outcome, s: Scenario, o: { perRunSeconds: number; workDir: string; maxRuns: number; say: (m: string) => void }): Promise<{ scenario: Scenario; outcome: Outcome; runs: number }> {
  let best = s;
  let bestOutcome = first;
  let runs = 0;
  const want = failureClass(first);
  let improved = true;
  while (improved && runs < o.maxRuns) {
    improved = false;
    for (const candidate of shrinkSteps(best)) {
      if (runs >= o.maxRuns) break;
      runs++;
      const r = await runCase({ type: 'guest', scenario: { ...candidate, index: best.index } }, o);
      if (r.failures.length > 0 && failureClass(r) === want) {
        best = candidate;
        bestOutcome = r;
        improved = true;
        o.say(`  minimise: ${codeBytes(best)} code bytes, ${best.entries.length} entr${best.entries.length === 1 ? 'y' : 'ies'}, ${best.cpus} CPU(s) still fails (${runs} runs)`);
        break;
      }
    }
  }
  return { scenario: best, outcome: bestOutcome, runs };
}

const codeBytes = (s: Scenario): number => s.chunks.filter((c) => c.what.startsWith('code ')).reduce((n, c) => n + c.bytes.length, 0);

/** A reproducer file: the scenario or image itself, so it replays without the generator. */
export function serialiseCase(c: FuzzCase, failure: string): string {
  if (c.type === 'image') return JSON.stringify({ failure, image: { ...c.image, bytes: Buffer.from(c.image.bytes).toString('base64') } }, null, 1);
  const s = c.scenario;
  return JSON.stringify(
    {
      failure,
      scenario: { ...s, entries: s.entries.map((e) => '0x' + BigInt.asUintN(64, e).toString(16)), stack: '0x' + s.stack.toString(16), chunks: s.chunks.map((x) => ({ dst: x.dst, what: x.what, bytes: Buffer.from(x.bytes).toString('base64') })) },
    },
    null,
    1,
  );
}

export function parseCaseFile(text: string): FuzzCase {
  type Json<T, K extends keyof T, V> = Omit<T, K> & { [P in K]: V };
  const j = JSON.parse(text) as {
    image?: Json<FuzzImage, 'bytes', string>;
    scenario?: Omit<Scenario, 'entries' | 'stack' | 'chunks'> & { entries: string[]; stack: string; chunks: { dst: number; what: string; bytes: string }[] };
  };
  if (j.image) return { type: 'image', image: { ...j.image, bytes: new Uint8Array(Buffer.from(j.image.bytes, 'base64')) } };
  const s = j.scenario!;
  return {
    type: 'guest',
    scenario: { ...s, entries: s.entries.map((e) => BigInt.asIntN(64, BigInt(e))), stack: BigInt(s.stack), chunks: s.chunks.map((x) => ({ dst: x.dst, what: x.what, bytes: new Uint8Array(Buffer.from(x.bytes, 'base64')) })) },
  };
}

/** The reproducers kept in the repository, replayed by every CI run. */
export function corpusCases(): { name: string; c: FuzzCase }[] {
  const dir = join(repoRoot, 'tests', 'fuzz', 'corpus');
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  return names.map((name) => ({ name, c: parseCaseFile(readFileSync(join(dir, name), 'utf8')) }));
}

export function makeCase(seed: number, index: number, image: boolean): FuzzCase {
  return image ? { type: 'image', image: generateImage(seed, index) } : { type: 'guest', scenario: generateScenario(seed, index) };
}

/** Case `index` of a campaign: about one in four is an image. */
export function campaignCase(seed: number, index: number, only?: 'guests' | 'images'): FuzzCase {
  const image = only === 'images' ? true : only === 'guests' ? false : index % 4 === 3;
  return makeCase(seed, index, image);
}

interface Options {
  seconds: number;
  seed: number;
  perRun: number;
  jobs: number;
  only: 'guests' | 'images' | undefined;
  first: number | undefined;
  replay: string | undefined;
  minimise: boolean;
  verbose: boolean;
}

function parseCommandLine(argv: string[]): Options {
  const o: Options = { seconds: 60, seed: 1, perRun: 5, jobs: Math.max(1, Math.min(4, availableParallelism() - 1)), only: undefined, first: undefined, replay: undefined, minimise: true, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${a} needs a number`);
      return v;
    };
    if (a === '--seconds') o.seconds = num();
    else if (a === '--seed') o.seed = num() >>> 0;
    else if (a === '--per-run') o.perRun = num();
    else if (a === '--jobs') o.jobs = Math.max(1, num());
    else if (a === '--first') o.first = num();
    else if (a === '--guests-only') o.only = 'guests';
    else if (a === '--images-only') o.only = 'images';
    else if (a === '--replay') o.replay = argv[++i];
    else if (a === '--no-minimise') o.minimise = false;
    else if (a === '-v' || a === '--verbose') o.verbose = true;
    else throw new Error(`unknown option ${a} (see the usage at the top of tests/fuzz/driver.ts)`);
  }
  return o;
}

function describe(r: Outcome): string {
  const how = r.end === undefined ? `exit ${r.exitStatus ?? r.signal}` : r.end.timeLimit ? `time limit, ${r.end.lastSecondInstructions} insn in the last second${r.end.waitingForTimer ? ', idle (a timer or device can wake it)' : ''}` : `${r.end.stop} → ${r.end.status}`;
  return `${r.id.padEnd(14)} ${how.padEnd(44)} ${(r.maxRssMiB.toFixed(0) + '/' + r.boundMiB + ' MiB').padEnd(14)} ${(r.ms / 1000).toFixed(1).padStart(5)} s  ${r.kind}`;
}

export async function fuzzMain(argv: string[]): Promise<number> {
  const o = parseCommandLine(argv);
  const workDir = mkdtempSync(join(tmpdir(), 'tsvmm-fuzz-'));
  const outDir = join(repoRoot, '.cache', 'fuzz');
  const say = (m: string): void => void process.stderr.write(m + '\n');
  const runOpts = { perRunSeconds: o.perRun, workDir };
  try {
    if (o.replay !== undefined) {
      const m = /^(\d+):(\d+)(:image)?$/.exec(o.replay);
      const c = m ? makeCase(Number(m[1]), Number(m[2]), m[3] !== undefined) : parseCaseFile(readFileSync(o.replay, 'utf8'));
      const r = await runCase(c, runOpts);
      say(describe(r));
      for (const f of r.failures) say(`  FAIL ${f}`);
      if (o.verbose) say(`${r.stderr}${r.end?.vcpus ?? ''}`);
      return r.failures.length ? 1 : 0;
    }
    say(`fuzz: seed ${o.seed}, ${o.first !== undefined ? `the first ${o.first} cases` : `${o.seconds} s`}, ${o.perRun} s per run, ${o.jobs} job(s); RSS bound ${RSS_BASE_MIB} MiB + ${RSS_PER_RAM} x guest RAM`);
    const t0 = Date.now();
    const results: Outcome[] = [];
    let next = 0;
    const more = (): boolean => (o.first !== undefined ? next < o.first : Date.now() - t0 < o.seconds * 1000);
    const failed: { c: FuzzCase; r: Outcome }[] = [];
    await Promise.all(
      Array.from({ length: o.jobs }, async () => {
        while (more()) {
          const c = campaignCase(o.seed, next++, o.only);
          const r = await runCase(c, runOpts);
          results.push(r);
          if (o.verbose || r.failures.length) say(describe(r));
          for (const f of r.failures) say(`  FAIL ${f}`);
          if (r.failures.length) failed.push({ c, r });
        }
      }),
    );
    const by = new Map<string, number>();
    for (const r of results) {
      const k = r.failures.length ? `failed (${failureClass(r)})` : r.end?.timeLimit ? 'time limit, progressing' : r.end?.stop === 'build-error' ? 'image refused (66)' : `${r.end?.stop}`;
      by.set(k, (by.get(k) ?? 0) + 1);
    }
    const worst = results.reduce((m, r) => Math.max(m, r.maxRssMiB / r.boundMiB), 0);
    say(`fuzz: ${results.length} runs in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${[...by.entries()].map(([k, n]) => `${n} ${k}`).join(', ')}; peak RSS ${(worst * 100).toFixed(0)}% of its bound`);
    if (failed.length) {
      mkdirSync(outDir, { recursive: true });
      for (const { c, r } of failed) {
        let keep = c;
        if (o.minimise && c.type === 'guest') {
          say(`fuzz: minimising ${r.id} (${failureClass(r)})`);
          const m = await minimise(r, c.scenario, { ...runOpts, maxRuns: 40, say });
          keep = { type: 'guest', scenario: m.scenario };
        }
        const file = join(outDir, `${caseId(c).replace(/:/g, '-')}.json`);
        writeFileSync(file, serialiseCase(keep, r.failures[0]!));
        say(`fuzz: reproducer ${file} (npm run fuzz -- --replay ${file})`);
      }
      return 1;
    }
    return 0;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  fuzzMain(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      process.stderr.write(`fuzz: ${(e as Error).message}\n`);
      process.exitCode = 2;
    },
  );
}
