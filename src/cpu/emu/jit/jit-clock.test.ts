/**
 * The deterministic clock read inside code the compilers run in one call: a self-looping block's later passes and
 * chained blocks must see the instructions of the passes and blocks before them, as the interpreter does (it
 * runs each pass as a block of its own), so a deterministic run gives the same values in every JIT mode.
 * Each mode runs in a Worker of its own (cpu.ts picks the tier from TSVMM_JIT when it loads).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { INNER, OUTER, type ClockLoopRun } from './clock-loop-guest.test-util.js';

function runIn(mode: string): Promise<ClockLoopRun> {
  const util = new URL('./clock-loop-guest.test-util.js', import.meta.url).href;
  const src = `import('${util}').then((m) => m.runClockLoop()).then((r) => require('node:worker_threads').parentPort.postMessage(r));`;
  return new Promise((resolve, reject) => {
    const w = new Worker(src, { eval: true, env: { ...process.env, TSVMM_JIT: mode } });
    w.once('message', (r: ClockLoopRun) => resolve(r));
    w.once('error', reject);
  });
}

/** Where two runs' readings first differ, for the message. */
function firstDiff(a: readonly number[], b: readonly number[]): string {
  const i = a.findIndex((v, k) => v !== b[k]);
  return i < 0 ? 'none' : `value ${i} (outer pass ${Math.floor(i / (INNER + 1))}, ${i % (INNER + 1) === INNER ? 'rdtsc' : `inner pass ${i % (INNER + 1)}`}): ${a[i]} vs ${b[i]}`;
}

test('the deterministic clock read in self-looping and chained compiled blocks equals the interpreter\'s in every JIT mode', async () => {
  const ref = await runIn('off');
  assert.equal(ref.stop, 'hang');
  // Per outer pass: mov ecx, INNER x 5 (the load, store, add, dec, jnz), rdtsc and 4 more; 6 + mov ecx before, hlt at the end.
  assert.equal(ref.instructions, 6 + OUTER * (1 + 5 * INNER + 5) + 1);
  // Each reading is later than the one before: the timer counts down, the TSC up.
  const ccr = ref.values.filter((_, i) => i % (INNER + 1) !== INNER);
  assert.ok(ccr.every((v, i) => i === 0 || v < ccr[i - 1]!), 'the current count falls');
  for (const mode of ['wasm', 'wasm-eager', 'js', 'eager', 'regions-eager']) {
    const r = await runIn(mode);
    assert.equal(r.instructions, ref.instructions, mode);
    assert.ok(r.values.every((v, i) => v === ref.values[i]), `TSVMM_JIT=${mode}: first difference ${firstDiff(r.values, ref.values)}`);
  }
});
