/**
 * SSE, SSE2, SSE3, SSSE3, SSE4.1 and SSE4.2 under emu against the host CPU: seeded random
 * cases (simd-generator.ts) with their whole SSE state (XMM0-15, MXCSR in every rounding
 * mode, FTZ/DAZ, random exception masks and flags), run natively and under emu, compared
 * bit for bit: exception vector, RIP, GPRs, status flags, the data area, MXCSR, XMM0-15.
 *
 * A form is compared when the host has its extension and emu's CPU model advertises it (or
 * it is one of the moves and logic ops emu has always run without advertising SSE2).
 * RCPPS/RSQRTPS reproduce the approximation tables of the CPU they were measured on; on a
 * host whose tables differ, their lanes are checked against the SDM's error bound instead.
 *
 * Environment: TSVMM_SIMD_DIFF_CASES (default 100000), TSVMM_SIMD_DIFF_SEED (replay one
 * 64-bit seed), TSVMM_DIFF_SHOW (mismatches printed, default 30).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { EMU_CPU_FEATURES } from '../../src/features/emu-cpu-model.js';
import { compareResults, VECTOR_NAMES } from '../../src/cpu/emu/testing/snippet-case.js';
import { EmuSnippetRunner } from '../../src/cpu/emu/testing/snippet-runner.js';
import { hexBytes } from './describe.js';
import { NotCompared, probeHostFacilities } from './host-facilities.js';
import { buildNativeHarness, repoRoot } from './native-harness.js';
import { runNativeFx } from './native-fx.js';
import { compareFx, fxMxcsr, fxXmm, maskData, mxcsrNames, type FxResult } from './simd-case.js';
import { runEmuFx } from './simd-emu.js';
import { generateSimdCases, type SimdGenCase } from './simd-generator.js';
import { modelResult } from './simd-model.js';
import { FP_SPECS, INT_SPECS, MOVE_SPECS, STATE_SPECS, type SimdFeature } from './simd-specs.js';

const TOTAL = Number(process.env['TSVMM_SIMD_DIFF_CASES'] ?? 100000);
const SHOW = Number(process.env['TSVMM_DIFF_SHOW'] ?? 30);
const REPLAY = process.env['TSVMM_SIMD_DIFF_SEED'];
/** Fixed seeds: two 64-bit runs and one in 32-bit compatibility mode (a fifth of the cases). */
const SEEDS: readonly [number, 64 | 32, number][] =
  REPLAY !== undefined ? [[Number(REPLAY), 64, 1]] : [[0x51d0_1001, 64, 0.4], [0x51d0_1002, 64, 0.4], [0x51d0_1003, 32, 0.2]];

/** /proc/cpuinfo's name and emu-cpu-model's name of each extension. */
const HOST_NAME: Record<SimdFeature, string> = { sse: 'sse', sse2: 'sse2', sse3: 'pni', ssse3: 'ssse3', sse4_1: 'sse4_1', sse4_2: 'sse4_2', fxsr: 'fxsr', xsave: 'xsave', xsaveopt: 'xsaveopt' };
const EMU_NAME: Record<SimdFeature, string> = { sse: 'sse', sse2: 'sse2', sse3: 'sse3', ssse3: 'ssse3', sse4_1: 'sse4.1', sse4_2: 'sse4.2', fxsr: 'fxsr', xsave: 'xsave', xsaveopt: 'xsaveopt' };
/** What emu ran before the SSE extensions were advertised (compilers emit these for plain x86-64 C). */
const ALWAYS = new Set(['movups', 'movups.st', 'movaps', 'movaps.st', 'movupd', 'movupd.st', 'movapd', 'movapd.st', 'movdqa', 'movdqa.st', 'movdqu', 'movdqu.st',
  'movd', 'movq.gx', 'movd.st', 'movq.xg', 'movq', 'movq.st', 'pand', 'pandn', 'por', 'pxor']);

function hostFlags(): Set<string> {
  try {
    return new Set((/^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').split(/\s+/));
  } catch {
    return new Set();
  }
}

const host = hostFlags();
const emu = new Set(EMU_CPU_FEATURES.map((f) => f.name));
const ALL = [...INT_SPECS, ...FP_SPECS, ...MOVE_SPECS, ...STATE_SPECS];
const SPECS = ALL.filter((s) => host.has(HOST_NAME[s.feat]) && (emu.has(EMU_NAME[s.feat]) || ALWAYS.has(s.name)));
const APPROX = /^(rcp|rsqrt)/;

/** |relative error| <= 1.5 * 2^-12 on every lane where the two differ (RCP/RSQRT on another vendor's CPU). */
function approxWithinBound(c: SimdGenCase, ref: FxResult, got: FxResult): boolean {
  const a = new DataView(ref.fx.buffer, ref.fx.byteOffset + 160 + c.d * 16, 16);
  const b = new DataView(got.fx.buffer, got.fx.byteOffset + 160 + c.d * 16, 16);
  for (let k = 0; k < 16; k += 4) {
    const x = a.getFloat32(k, true);
    const y = b.getFloat32(k, true);
    if (a.getUint32(k, true) === b.getUint32(k, true)) continue;
    if (!Number.isFinite(x) || !Number.isFinite(y) || x === 0 || Math.abs(x - y) / Math.abs(x) > 3 * 2 ** -12) return false;
  }
  return true;
}

test(`SSE..SSE4.2 under emu vs native: ${TOTAL} random cases`, (t) => {
  assert.ok(SPECS.length > 0, 'no SIMD form can be compared on this host');
  const bin = buildNativeHarness(repoRoot());
  const facilities = probeHostFacilities(bin);
  const runner = new EmuSnippetRunner();
  // Does this host compute RCP/RSQRT with the tables emu reproduces?
  const approx = SPECS.filter((s) => APPROX.test(s.name));
  let exactApprox = true;
  if (approx.length > 0) {
    const cal = generateSimdCases(0x51d0_10ff, 400, approx, 64);
    const nat = runNativeFx(cal, bin);
    exactApprox = cal.every((c, i) => compareFx(c, nat[i]!.fx, modelResult(c).fx).length === 0);
    t.diagnostic(`RCP/RSQRT: ${exactApprox ? 'this host uses the reproduced tables: compared exactly' : 'this host uses other tables: compared within the SDM bound'}`);
  }
  const perFeat = new Map<SimdFeature, { n: number; bad: number }>();
  const notCompared = new NotCompared(facilities);
  const shown: string[] = [];
  const byCls = new Map<string, number>();
  let bad = 0;
  let compared = 0;
  for (const [seed, mode, share] of SEEDS) {
    const cases = generateSimdCases(seed, Math.round(TOTAL * share), SPECS, mode);
    const native = runNativeFx(cases, bin);
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i]!;
      const ref = native[i]!;
      const missing = facilities.missingFor(c, ref);
      if (missing !== null) {
        notCompared.add(missing);
        continue;
      }
      compared++;
      const pf = perFeat.get(c.spec.feat) ?? { n: 0, bad: 0 };
      perFeat.set(c.spec.feat, pf);
      pf.n++;
      let d: { what: string; expected: string; actual: string }[];
      try {
        const got = runEmuFx(runner, c);
        d = [...compareResults(c, maskData(c, ref), maskData(c, got)), ...(ref.vector === got.vector ? compareFx(c, ref.fx, got.fx) : [])];
        if (d.length > 0 && !exactApprox && APPROX.test(c.spec.name) && d.every((x) => x.what.startsWith('xmm')) && approxWithinBound(c, ref, got)) d = [];
      } catch (e) {
        d = [{ what: 'emu threw', expected: '-', actual: e instanceof Error ? (e.stack ?? e.message) : String(e) }];
      }
      if (d.length === 0) continue;
      bad++;
      pf.bad++;
      byCls.set(c.cls, (byCls.get(c.cls) ?? 0) + 1);
      if (shown.length < SHOW) {
        const regs = [`xmm${c.d}=${hex(fxXmm(c.fx, c.d))}`, c.s >= 0 ? `xmm${c.s}=${hex(fxXmm(c.fx, c.s))}` : `mem+${c.memOff}=${hex(c.data.subarray(c.memOff, c.memOff + 16))}`];
        shown.push(`${c.name} (${mode}-bit, replay TSVMM_SIMD_DIFF_SEED=${seed}) [${hexBytes(c.code)}] mxcsr=${mxcsrNames(fxMxcsr(c.fx))}\n    ${regs.join(' ')}\n    ${d.map((x) => `${x.what}: native ${VECTOR_NAMES[Number(x.expected)] ?? x.expected}, emu ${x.actual}`).join('\n    ')}`);
      }
    }
  }
  for (const [f, v] of perFeat) t.diagnostic(`${EMU_NAME[f]}: ${v.n} cases, ${v.bad} mismatches`);
  for (const line of notCompared.lines()) t.diagnostic(`host coverage: SIMD native vs emu: ${line}`);
  const absent = ALL.filter((s) => !SPECS.includes(s));
  if (absent.length > 0) t.diagnostic(`forms not compared (host or emu lacks the extension): ${absent.length} of ${ALL.length}`);
  t.diagnostic(`${compared} cases compared over ${SPECS.length} forms, ${bad} mismatches`);
  assert.equal(bad, 0, `${bad} of ${compared} differ; by form: ${[...byCls].map(([k, n]) => `${k} ${n}`).join(', ')}\n${shown.join('\n')}`);
});

function hex(b: Uint8Array): string {
  return Array.from(b).reverse().map((v) => v.toString(16).padStart(2, '0')).join('');
}

