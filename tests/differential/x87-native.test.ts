/**
 * x87 and scalar SSE against the host CPU: seeded random cases (x87-generator.ts) run natively
 * (tests/native/fpu-harness.c) and on the soft-float implementation; every exactly defined
 * result must match bit for bit, transcendentals within the SDM's accuracy (<= 1 ulp apart in
 * round-to-nearest, <= 2 in the directed modes), with their ulp histogram printed.
 *
 *   TSVMM_X87_CASES=1000000 node --test dist/tests/differential/x87-native.test.js   # longer soak
 *   TSVMM_X87_SEED=123 ...                                                           # replay one seed
 *   TSVMM_X87_SHOW=50 ...                                                            # print more mismatches
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFpuNative, buildFpuHarness, hex80, readF80 } from './x87-case.js';
import { generate, type GenCase } from './x87-generator.js';
import { runEmuCase } from './x87-emu-runner.js';
import { compareResults, rerunNatively } from './x87-compare.js';

const CASES = Number(process.env.TSVMM_X87_CASES ?? 100_000);
const SEED = Number(process.env.TSVMM_X87_SEED ?? 0x5eed87);
const SHOW = Number(process.env.TSVMM_X87_SHOW ?? 12);
const BATCH = 50_000;

function describe(g: GenCase): string {
  const c = g.c;
  const b = Buffer.from(c.fsave);
  const sw = b.readUInt16LE(4);
  const top = (sw >>> 11) & 7;
  const tw = b.readUInt16LE(8);
  let s = `${g.name} [${Array.from(c.code, (x) => x.toString(16).padStart(2, '0')).join(' ')}] fcw=${b.readUInt16LE(0).toString(16)} fsw=${sw.toString(16)} ftw=${tw.toString(16)}`;
  for (let i = 0; i < 8; i++) {
    const empty = ((tw >>> (2 * ((top + i) & 7))) & 3) === 3;
    s += ` st${i}=${empty ? '(empty)' : hex80(readF80(c.fsave, 28 + i * 10))}`;
  }
  s += ` mem=${Buffer.from(c.mem.subarray(0, 16)).toString('hex')}`;
  if (g.category === 'sse') s += ` mxcsr=${c.mxcsr.toString(16)} xmm0=${Buffer.from(c.xmm.subarray(0, 16)).toString('hex')} xmm1=${Buffer.from(c.xmm.subarray(16, 32)).toString('hex')}`;
  return s;
}

/** F2XM1 with |x| > 1 or FYL2XP1 with |x| >= 1 - sqrt(2)/2 (a finite, non-empty ST(0)). */
function outsideDomain(g: GenCase): boolean {
  const op = g.c.code[1];
  if (g.c.code[0] !== 0xd9 || (op !== 0xf0 && op !== 0xf9)) return false;
  const b = Buffer.from(g.c.fsave);
  const top = (b.readUInt16LE(4) >>> 11) & 7;
  if (((b.readUInt16LE(8) >>> (2 * top)) & 3) === 3) return false;
  const v = readF80(g.c.fsave, 28);
  const e = v.se & 0x7fff;
  if (e === 0 || e === 0x7fff || v.hi < 0x80000000) return false;
  const x = (v.hi / 2 ** 31) * 2 ** (e - 16383);
  return op === 0xf0 ? x > 1 : x >= 1 - Math.SQRT1_2;
}

test(`x87 and scalar SSE match the host CPU (${CASES} cases, seed ${SEED})`, () => {
  // Building or starting the native runner is part of the test: a failure there fails it.
  const bin = buildFpuHarness();
  const t0 = performance.now();
  const gen = generate(SEED, CASES);
  const t1 = performance.now();
  let nativeMs = 0;
  let emuMs = 0;
  const mismatchByName = new Map<string, number>();
  const shown: string[] = [];
  let mismatches = 0;
  const counts = { exact: 0, transcendental: 0, sse: 0 };
  const ulpHist = new Map<string, number[]>();
  let ulpViolations = 0;
  let c1Differs = 0;
  let rerunFixed = 0;
  let undefinedDomain = 0;
  let undefinedAgree = 0;
  for (let start = 0; start < gen.length; start += BATCH) {
    const batch = gen.slice(start, start + BATCH);
    const n0 = performance.now();
    const native = runFpuNative(batch.map((g) => g.c), bin);
    const n1 = performance.now();
    const emu = batch.map((g) => runEmuCase(g.c));
    const n2 = performance.now();
    // A disturbed native run (see rerunNatively) is re-run before anything is compared.
    const suspects = batch.map((g, k) => (compareResults(emu[k]!, native[k]!, g.category === 'transcendental').diffs.length > 0 ? k : -1)).filter((k) => k >= 0);
    rerunFixed += rerunNatively(suspects, batch.map((g) => g.c), native, bin);
    nativeMs += n1 - n0;
    emuMs += n2 - n1;
    batch.forEach((g, k) => {
      counts[g.category]++;
      const v = compareResults(emu[k]!, native[k]!, g.category === 'transcendental');
      if (g.category === 'transcendental' && outsideDomain(g)) {
        // F2XM1/FYL2XP1 results the SDM leaves undefined: reported, not required to match.
        undefinedDomain++;
        if (v.diffs.length === 0 && v.ulps === 0) undefinedAgree++;
        return;
      }
      if (v.c1Differs) c1Differs++;
      if (g.category === 'transcendental' && v.diffs.length === 0) {
        const name = g.name;
        const h = ulpHist.get(name) ?? [0, 0, 0, 0];
        h[Math.min(v.ulps, 3)]! += 1;
        ulpHist.set(name, h);
        const rc = (Buffer.from(g.c.fsave).readUInt16LE(0) >>> 10) & 3;
        if (v.ulps > (rc === 0 ? 1 : 2)) ulpViolations++;
      }
      if (v.diffs.length > 0) {
        mismatches++;
        mismatchByName.set(g.name, (mismatchByName.get(g.name) ?? 0) + 1);
        if (shown.length < SHOW) shown.push(`case ${start + k}: ${describe(g)}\n    ${v.diffs.join('\n    ')}`);
      }
    });
  }
  const names: Record<number, string> = { 0xf0: 'f2xm1', 0xf1: 'fyl2x', 0xf2: 'fptan', 0xf3: 'fpatan', 0xf9: 'fyl2xp1', 0xfb: 'fsincos', 0xfe: 'fsin', 0xff: 'fcos' };
  const hist = [...ulpHist.entries()]
    .map(([n, h]) => `${names[parseInt(n.split(' ')[1]!, 16)] ?? n}: 0 ulp ${h[0]}, 1 ulp ${h[1]}, 2 ulps ${h[2]}, more ${h[3]}`)
    .join('; ');
  console.log(
    `x87/SSE differential: ${CASES} cases (exact x87 ${counts.exact}, transcendental ${counts.transcendental}, scalar SSE ${counts.sse}); ` +
      `generate ${(t1 - t0).toFixed(0)} ms, native ${nativeMs.toFixed(0)} ms, emu ${emuMs.toFixed(0)} ms; mismatches ${mismatches}` +
      ` (native results replaced after a stable re-run: ${rerunFixed})`,
  );
  console.log(`transcendental ulp distance to the host: ${hist}`);
  console.log(`transcendental: equal results but C1 differs in ${c1Differs}; outside the defined domain (F2XM1 |x| > 1, FYL2XP1 |x| >= 1 - sqrt(2)/2) ${undefinedDomain} cases, ${undefinedAgree} identical to the host`);
  if (mismatches > 0) {
    const top = [...mismatchByName.entries()].sort((a, b) => b[1] - a[1]).slice(0, 30);
    console.log(`mismatches by instruction: ${top.map(([n, c]) => `${n} ${c}`).join(', ')}`);
    console.log(shown.join('\n'));
  }
  assert.equal(mismatches, 0, `${mismatches} cases differ from the host CPU (replay: TSVMM_X87_SEED=${SEED} TSVMM_X87_CASES=${CASES})`);
  assert.equal(ulpViolations, 0, `${ulpViolations} transcendental results outside the SDM accuracy`);
});
