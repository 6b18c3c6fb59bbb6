/**
 * Proof of correctness against hardware (issue 3, item 5): the hand-written corpus and
 * tens of thousands of seeded random cases run natively on the host CPU
 * (tests/native/snippet-harness.c) and under emu (src/cpu/emu/testing/snippet-runner.ts),
 * compared bit for bit: exception vector, RIP, every GPR, the flags the SDM defines,
 * the data area, CR2 for #PF.
 *
 * Also checks the native side on its own: the corpus against hand-computed
 * expectations, and the generator's encodings against the CPU (no #UD, determinism).
 *
 * The host is probed once (host-facilities.ts): cases that need a facility this host
 * cannot give natively (LDT selectors, compatibility mode, 16-bit code, ...) are not
 * compared, and each test prints how many and why ("host coverage: ..." diagnostics,
 * gathered at the end of `npm test`).
 *
 * Environment: TSVMM_DIFF_CASES (random cases, default 100000), TSVMM_DIFF_SEED (a
 * single seed to replay instead of the fixed ones), TSVMM_DIFF_MODE (64, 32 or 16: the mode
 * of the replayed seed), TSVMM_DIFF_SHOW (mismatches printed, default 40).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EMU_CPU_FEATURES } from '../../src/features/emu-cpu-model.js';
import {
  compareResults, SNIPPET_CODE_BASE, VECTOR_BR, VECTOR_DE, VECTOR_GP, VECTOR_NAMES, VECTOR_NP, VECTOR_OF, VECTOR_PF, VECTOR_SS, VECTOR_UD, VECTOR_UNSUPPORTED, VECTOR_NONE, type SnippetCase, type SnippetResult,
} from '../../src/cpu/emu/testing/snippet-case.js';
import { checkExpectation, loadCorpus } from './corpus.js';
import { describeMismatch, hexBytes } from './describe.js';
import { generateCases } from './generator.js';
import { HostFacilities, NotCompared, probeHostFacilities } from './host-facilities.js';
import { buildNativeHarness, repoRoot, runNative } from './native-harness.js';

const ROOT = repoRoot();
const WORK = join(ROOT, '.cache', 'differential');
const CORPUS_DIR = join(ROOT, 'tests', 'differential', 'corpus');
const TOTAL = Number(process.env['TSVMM_DIFF_CASES'] ?? 100000);
const SHOW = Number(process.env['TSVMM_DIFF_SHOW'] ?? 40);
/** Fixed seeds: the random cases are the same on every run and machine. */
const MODE_ENV = process.env['TSVMM_DIFF_MODE'];
const MODE_OVERRIDE = MODE_ENV === '32' ? 32 : MODE_ENV === '16' ? 16 : MODE_ENV === '64' ? 64 : undefined;
/** Fixed seeds and the mode each one generates for: 3/5 of the cases in 64-bit mode, 1/5 in 32-bit, 1/5 in 16-bit. */
const SEED_MODES: readonly [number, 64 | 32 | 16][] =
  process.env['TSVMM_DIFF_SEED'] !== undefined
    ? [[Number(process.env['TSVMM_DIFF_SEED']), MODE_OVERRIDE ?? 64]]
    : [[0x7e57_0001, 64], [0x7e57_0002, 64], [0x7e57_0003, 64], [0x7e57_0004, 32], [0x7e57_0005, 16]];
const SEEDS = SEED_MODES.map(([s]) => s);

/** Optional instructions are generated only when both this host and emu's CPU model offer them. */
function testedFeatures(): Set<string> {
  let host = new Set<string>();
  try {
    const m = /^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    host = new Set((m?.[1] ?? '').split(/\s+/));
  } catch {
    // no /proc/cpuinfo: no optional instructions
  }
  return new Set(EMU_CPU_FEATURES.map((f) => f.name).filter((n) => host.has(n)));
}
const FEATURES = testedFeatures();

// A harness that cannot be built or started throws here: the whole file fails, it is not skipped.
const harness = buildNativeHarness(ROOT);
const host: HostFacilities = probeHostFacilities(harness);
/** Set when the harness must not run cases at all (then every test fails with it). */
const UNUSABLE = host.unusable();
const corpus = loadCorpus(CORPUS_DIR, WORK);
const corpusNative = UNUSABLE === null ? runNative(corpus.map((x) => x.c), harness) : [];

/** Prints the not-compared counts as "host coverage:" diagnostics (collected by scripts/run-tests.mjs). */
function reportNotCompared(t: { diagnostic(m: string): void }, nc: NotCompared, what: string): void {
  for (const line of nc.lines()) t.diagnostic(`host coverage: ${what}: ${line}`);
}

interface EmuRunnerLike {
  run(c: SnippetCase, budget?: number): SnippetResult;
}

async function loadEmu(): Promise<{ runner: EmuRunnerLike | null; why: string }> {
  try {
    const m = (await import('../../src/cpu/emu/testing/snippet-runner.js')) as { EmuSnippetRunner: new () => EmuRunnerLike };
    return { runner: new m.EmuSnippetRunner(), why: '' };
  } catch (e) {
    return { runner: null, why: e instanceof Error ? e.message : String(e) };
  }
}

/** Runs every case under emu and compares with the native results; returns a report and the mismatch count. */
function compareAll(runner: EmuRunnerLike, cases: readonly SnippetCase[], native: readonly SnippetResult[], notCompared: NotCompared): { mismatches: number; compared: number; report: string; byClass: Map<string, number> } {
  const byClass = new Map<string, number>();
  /** Mismatches by (case variant, first difference): a coarse picture of the kinds of bugs. */
  const byKind = new Map<string, number>();
  const shown: string[] = [];
  let mismatches = 0;
  let compared = 0;
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i]!;
    const ref = native[i]!;
    const missing = host.missingFor(c, ref);
    if (missing !== null) {
      notCompared.add(missing); // the native result is no reference for this case here
      continue;
    }
    compared++;
    let got: SnippetResult;
    try {
      got = runner.run(c);
    } catch (e) {
      // A host exception from the interpreter is a bug in itself: report it like a mismatch.
      mismatches++;
      byClass.set(c.cls, (byClass.get(c.cls) ?? 0) + 1);
      if (shown.length < SHOW) shown.push(`${c.name} [${c.cls}]\n  code: ${hexBytes(c.code)}\n  emu threw: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      continue;
    }
    const d = compareResults(c, ref, got);
    if (d.length === 0) continue;
    mismatches++;
    byClass.set(c.cls, (byClass.get(c.cls) ?? 0) + 1);
    const variant = /\/(xpage|ro|overlap)$/.exec(c.cls)?.[1] ?? `${c.mode ?? 64}-bit`;
    const kind = `${variant}: ${d[0]?.what.replace(/\[.*\]/, '[..]').replace(/ \(compared .*\)/, '') ?? '?'}`;
    byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
    if (shown.length < SHOW) shown.push(describeMismatch(c, ref, got, d, WORK));
  }
  const classes = [...byClass.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`).join(', ');
  const kinds = [...byKind.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}: ${n}`).join(', ');
  const report = mismatches === 0 ? '' : `${mismatches} of ${compared} compared cases differ.\nBy kind: ${kinds}\nBy class: ${classes}\n\n${shown.join('\n\n')}`;
  return { mismatches, compared, report, byClass };
}

/**
 * Generated cases must run to their end natively, except divisions and AAM 0 (#DE), misaligned
 * CMPXCHG16B (#GP), INTO (#OF), BOUND (#BR), segment loads (#GP/#SS/#NP/#PF), page-crossing accesses (#PF): anything else means the encoder or the
 * generator's address set-up is wrong.
 */
function unexpectedNativeOutcomes(cases: readonly SnippetCase[], native: readonly SnippetResult[], notChecked: NotCompared): string[] {
  const bad: string[] = [];
  native.forEach((r, i) => {
    const c = cases[i]!;
    const missing = host.missingFor(c, r);
    if (missing !== null) {
      notChecked.add(missing);
      return;
    }
    const ok =
      r.vector === VECTOR_NONE ||
      (r.vector === VECTOR_DE && /^(i?div|aam)/.test(c.cls)) ||
      (r.vector === VECTOR_GP && c.cls === 'cmpxchg16b') ||
      (r.vector === VECTOR_OF && c.cls === 'into') ||
      (r.vector === VECTOR_BR && c.cls.startsWith('bound')) ||
      (c.cls.startsWith('sreg/') && [VECTOR_GP, VECTOR_SS, VECTOR_NP, VECTOR_PF, VECTOR_UD].includes(r.vector)) ||
      ((c.cls.endsWith('/xpage') || c.cls.endsWith('/ro')) && r.vector === VECTOR_PF) ||
      (c.cls.endsWith('/limit') && [VECTOR_GP, VECTOR_SS, VECTOR_PF].includes(r.vector)) ||
      c.cls.endsWith('/pfx'); // fuzzed prefixes may turn the instruction into anything
    if (!ok) bad.push(`${c.name}: ${hexBytes(c.code)} -> ${VECTOR_NAMES[r.vector] ?? r.vector}`);
    else if (r.vector === VECTOR_NONE && r.rip !== BigInt(SNIPPET_CODE_BASE + c.code.length)) bad.push(`${c.name}: ended at 0x${r.rip.toString(16)}`);
  });
  return bad;
}

test('native harness: starts, and the host facilities it relies on are probed', (t) => {
  for (const line of host.describe()) t.diagnostic(line);
  assert.equal(UNUSABLE, null, UNUSABLE ?? '');
  // 64-bit snippets are the harness's base: a host where they cannot run has no native oracle at all.
  const nop = corpus.findIndex((x) => (x.c.mode ?? 64) === 64 && x.entry.expect !== undefined);
  assert.ok(nop >= 0 && corpusNative[nop]!.vector !== VECTOR_UNSUPPORTED, 'the harness cannot run 64-bit snippets');
});

test('native harness: the corpus matches its hand-computed expectations', (t) => {
  assert.equal(UNUSABLE, null, UNUSABLE ?? '');
  const failures: string[] = [];
  const notChecked = new NotCompared(host);
  let checked = 0;
  corpus.forEach((cc, i) => {
    if (cc.entry.expect === undefined) return;
    const missing = host.missingFor(cc.c, corpusNative[i]!);
    if (missing !== null) {
      notChecked.add(missing);
      return;
    }
    checked++;
    const problems = checkExpectation(cc, corpusNative[i]!);
    if (problems.length > 0) failures.push(`${cc.c.name} (${hexBytes(cc.c.code)}):\n    ${problems.join('\n    ')}`);
  });
  reportNotCompared(t, notChecked, 'native corpus vs hand-computed expectations');
  assert.ok(checked >= 150, `only ${checked} corpus cases with expectations could be checked on this host`);
  assert.equal(failures.length, 0, `native results differ from the hand-computed expectations:\n${failures.join('\n')}`);
});

// Needs no native run: the SDM-derived expectations also check emu on the cases this host cannot run natively.
test('emu: the corpus matches its hand-computed expectations (every case, whatever the host)', async () => {
  const { runner, why } = await loadEmu();
  assert.ok(runner !== null, `emu snippet runner unavailable: ${why}`);
  const failures: string[] = [];
  let checked = 0;
  for (const cc of corpus) {
    if (cc.entry.expect === undefined) continue;
    checked++;
    const problems = checkExpectation(cc, runner.run(cc.c));
    if (problems.length > 0) failures.push(`${cc.c.name} (${hexBytes(cc.c.code)}):\n    ${problems.join('\n    ')}`);
  }
  assert.ok(checked >= 300, `only ${checked} corpus cases carry expectations`);
  assert.equal(failures.length, 0, `emu results differ from the hand-computed expectations:\n${failures.join('\n')}`);
});

test('generator: deterministic, and every generated encoding is valid on this CPU', (t) => {
  assert.equal(UNUSABLE, null, UNUSABLE ?? '');
  const a = generateCases(SEEDS[0]!, 2000, FEATURES);
  const b = generateCases(SEEDS[0]!, 2000, FEATURES);
  assert.deepEqual(a.map((c) => hexBytes(c.code)), b.map((c) => hexBytes(c.code)));
  const notChecked = new NotCompared(host);
  const native = runNative(a, harness);
  const bad = unexpectedNativeOutcomes(a, native, notChecked);
  assert.equal(bad.length, 0, bad.slice(0, 20).join('\n'));
  for (const mode of [32, 16] as const) {
    const am = generateCases(SEEDS[0]!, 1000, FEATURES, mode);
    const badm = unexpectedNativeOutcomes(am, runNative(am, harness), notChecked);
    assert.equal(badm.length, 0, `${mode}-bit mode:\n${badm.slice(0, 20).join('\n')}`);
  }
  reportNotCompared(t, notChecked, 'generated encodings checked natively');
  t.diagnostic(`optional features tested: ${[...FEATURES].join(' ') || 'none'}`);
  const classes = new Set(a.map((c) => c.cls));
  assert.ok(classes.size > 150, `generator covers only ${classes.size} instruction classes`);
});

test('native vs emu: hand-written corpus', async (t) => {
  assert.equal(UNUSABLE, null, UNUSABLE ?? '');
  const { runner, why } = await loadEmu();
  assert.ok(runner !== null, `emu snippet runner unavailable: ${why}`);
  const notCompared = new NotCompared(host);
  const { mismatches, compared, report } = compareAll(runner, corpus.map((x) => x.c), corpusNative, notCompared);
  t.diagnostic(`${compared} of ${corpus.length} corpus cases compared`);
  reportNotCompared(t, notCompared, 'native vs emu, corpus');
  assert.equal(mismatches, 0, report);
});

test(`native vs emu: ${TOTAL} random cases, seeds ${SEEDS.map((s) => '0x' + s.toString(16)).join(', ')}`, async (t) => {
  assert.equal(UNUSABLE, null, UNUSABLE ?? '');
  const { runner, why } = await loadEmu();
  assert.ok(runner !== null, `emu snippet runner unavailable: ${why}`);
  let mismatches = 0;
  let compared = 0;
  let total = 0;
  const reports: string[] = [];
  const notCompared = new NotCompared(host);
  const perSeed = Math.ceil(TOTAL / SEED_MODES.length);
  for (const [seed, mode] of SEED_MODES) {
    const cases = generateCases(seed, perSeed, FEATURES, mode);
    const native = runNative(cases, harness);
    const seedNotCompared = new NotCompared(host);
    const bad = unexpectedNativeOutcomes(cases, native, seedNotCompared);
    assert.equal(bad.length, 0, `generator produced cases that fail natively (seed 0x${seed.toString(16)}):\n${bad.slice(0, 20).join('\n')}`);
    const r = compareAll(runner, cases, native, notCompared);
    t.diagnostic(`seed 0x${seed.toString(16)} (${mode}-bit): ${cases.length} cases, ${r.compared} compared, ${r.mismatches} mismatches`);
    mismatches += r.mismatches;
    compared += r.compared;
    total += cases.length;
    if (r.report) reports.push(`seed 0x${seed.toString(16)}, ${mode}-bit mode (replay: TSVMM_DIFF_SEED=${seed} TSVMM_DIFF_MODE=${mode} TSVMM_DIFF_CASES=${perSeed}):\n${r.report}`);
  }
  t.diagnostic(`${compared} of ${total} random cases compared`);
  reportNotCompared(t, notCompared, 'native vs emu, random');
  assert.equal(mismatches, 0, reports.join('\n\n'));
});
