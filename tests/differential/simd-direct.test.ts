/**
 * The SIMD semantics (src/cpu/emu/fpu/) against the host CPU, without the emulator in
 * between: seeded random cases (simd-generator.ts) run natively with their XMM/MXCSR
 * state, and simd-model.ts applies the same operation to the same state. Compared: the
 * exception, GPRs, the status flags, MXCSR and XMM0-15.
 *
 * Environment: TSVMM_SIMD_CASES (cases per form, default 40; the emulator itself is compared in
 * simd-vs-emu.test.ts), TSVMM_DIFF_SHOW.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { compareResults } from '../../src/cpu/emu/testing/snippet-case.js';
import { hexBytes } from './describe.js';
import { NotCompared, probeHostFacilities } from './host-facilities.js';
import { buildNativeHarness, repoRoot } from './native-harness.js';
import { runNativeFx } from './native-fx.js';
import { compareFx, fxMxcsr, fxXmm, mxcsrNames } from './simd-case.js';
import { generateSimdCases, type SimdGenCase } from './simd-generator.js';
import { hasModel, modelResult } from './simd-model.js';
import { FP_SPECS, INT_SPECS, MOVE_SPECS, STATE_SPECS, type SimdFeature, type SimdSpec } from './simd-specs.js';

const PER_FORM = Number(process.env['TSVMM_SIMD_CASES'] ?? 40);
const SHOW = Number(process.env['TSVMM_DIFF_SHOW'] ?? 30);
const CPUINFO_NAME: Record<SimdFeature, string> = { sse: 'sse', sse2: 'sse2', sse3: 'pni', ssse3: 'ssse3', sse4_1: 'sse4_1', sse4_2: 'sse4_2', fxsr: 'fxsr', xsave: 'xsave', xsaveopt: 'xsaveopt' };

function hostFlags(): Set<string> {
  try {
    return new Set((/^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').split(/\s+/));
  } catch {
    return new Set();
  }
}

function compareDirect(t: { diagnostic(m: string): void }, all: readonly SimdSpec[], seed: number): void {
  const flags = hostFlags();
  const missing = [...new Set(all.map((s) => s.feat))].filter((f) => !flags.has(CPUINFO_NAME[f]));
  if (missing.length > 0) t.diagnostic(`host coverage: SIMD semantics vs native: the forms of ${missing.join(', ')} not compared: this host CPU lacks them`);
  const specs = all.filter((s) => flags.has(CPUINFO_NAME[s.feat]) && hasModel(s.name));
  assert.ok(specs.length > 0, 'no SIMD form can be compared on this host');
  const bin = buildNativeHarness(repoRoot());
  const host = probeHostFacilities(bin);
  assert.equal(host.unusable(), null, host.unusable() ?? '');
  const notCompared = new NotCompared(host);
  let total = 0;
  let bad = 0;
  const shown: string[] = [];
  const byCls = new Map<string, number>();
  for (const mode of [64, 32] as const) {
    const cases = generateSimdCases(seed + (mode === 64 ? 0 : 1), specs.length * (mode === 64 ? PER_FORM : Math.ceil(PER_FORM / 4)), specs, mode);
    const native = runNativeFx(cases, bin);
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i]!;
      const ref = native[i]!;
      const missing = host.missingFor(c, ref);
      if (missing !== null) {
        notCompared.add(missing); // e.g. 32-bit cases where the host cannot run compatibility mode
        continue;
      }
      total++;
      const got = modelResult(c);
      const d = [...compareResults(c, ref, got), ...compareFx(c, ref.fx, got.fx)];
      if (d.length === 0) continue;
      bad++;
      byCls.set(c.cls, (byCls.get(c.cls) ?? 0) + 1);
      if (shown.length < SHOW) shown.push(`${c.name} (${mode}-bit) [${hexBytes(c.code)}] d=${c.d} s=${c.s} mem=${c.memOff} imm=0x${c.imm.toString(16)} mxcsr=${mxcsrNames(fxMxcsr(c.fx))}\n    ${describeInputs(c)}\n    ${d.map((x) => `${x.what}: native ${x.expected}, model ${x.actual}`).join('\n    ')}`);
    }
  }
  t.diagnostic(`${total} cases over ${specs.length} forms, ${bad} mismatches`);
  for (const line of notCompared.lines()) t.diagnostic(`host coverage: SIMD semantics vs native: ${line}`);
  assert.equal(bad, 0, `${bad} of ${total} differ; by form: ${[...byCls].map(([k, n]) => `${k} ${n}`).join(', ')}\n${shown.join('\n')}`);
}

/** The XMM inputs of a case's operands (and the memory operand), for mismatch reports. */
function describeInputs(c: SimdGenCase): string {
  const h = (b: Uint8Array): string => Array.from(b).reverse().map((v) => v.toString(16).padStart(2, '0')).join('');
  const parts = [`xmm${c.d}=${h(fxXmm(c.fx, c.d))}`];
  if (c.s >= 0) parts.push(`xmm${c.s}=${h(fxXmm(c.fx, c.s))}`);
  else parts.push(`mem=${h(c.data.subarray(c.memOff, c.memOff + 16))}`);
  return parts.join(' ');
}

test(`SIMD integer semantics vs native: ${PER_FORM} cases per form`, (t) => compareDirect(t, INT_SPECS, 0x51d0_0001));
test(`SSE floating-point semantics vs native: ${PER_FORM} cases per form`, (t) => compareDirect(t, FP_SPECS, 0x51d0_0101));

test('SIMD generator: every form is valid natively and faults only where the case says', (t) => {
  const flags = hostFlags();
  const specs = [...INT_SPECS, ...FP_SPECS, ...MOVE_SPECS, ...STATE_SPECS].filter((s) => flags.has(CPUINFO_NAME[s.feat]));
  const cases = generateSimdCases(0x51d0_0201, specs.length * 20, specs, 64);
  const native = runNativeFx(cases, buildNativeHarness(repoRoot()));
  const bad: string[] = [];
  cases.forEach((c, i) => {
    const r = native[i]!;
    const misaligned = c.memOff >= 0 && c.spec.aligned === true && c.memOff % 16 !== 0;
    const ok =
      r.vector === -1 ||
      (r.vector === 13 && (misaligned || c.spec.name === 'ldmxcsr' || c.spec.form === 'state')) ||
      (r.vector === 19 && c.spec.fp !== undefined);
    if (!ok) bad.push(`${c.name}: ${hexBytes(c.code)} -> vector ${r.vector}`);
  });
  t.diagnostic(`${cases.length} cases over ${specs.length} forms`);
  assert.equal(bad.length, 0, bad.slice(0, 30).join('\n'));
});
