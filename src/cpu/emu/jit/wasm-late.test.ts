/**
 * The wasm tier can compile a block that loops on itself at its threshold and any other block only at a
 * late factor times that (TSVMM_WASM_LATE_FACTOR; jit-mode.ts WASM_LATE_FACTOR, 1 by default since compiled
 * blocks chain). The factor here is 25, its default before.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first and imports the harness
 * after (node --test runs each file in a process of its own).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

process.env['TSVMM_JIT'] = 'wasm';
process.env['TSVMM_JIT_THRESHOLD'] = '4';
process.env['TSVMM_JIT_BATCH'] = '1';
process.env['TSVMM_WASM_LATE_FACTOR'] = '25';
const { makeCpu, load } = await import('../cpu-harness.test-util.js');
const { lateThresholdOf, thresholdOf } = await import('./jit-mode.js');

// 0x1000: mov ecx,3 | 0x1005: dec ecx; jnz 0x1005     (loops on itself from its second instruction)
// 0x1008: inc esi; cmp esi,N; jnz 0x1000; hlt         (no loop of its own: the jnz leaves it)
function run(n: number): { loop: boolean; other: boolean; esi: number } {
  const { cpu, mem } = makeCpu();
  assert.ok(cpu.wasm !== null, 'the vCPU runs with the wasm tier');
  cpu.setFlat32();
  load(mem, 0x1000, `b9 03000000 49 75fd 46 81fe ${n.toString(16).padStart(8, '0').match(/../g)!.reverse().join('')} 75ef f4`);
  cpu.rip = 0x1000;
  assert.equal(cpu.run(1e7), 'hlt');
  const compiled = (pa: number): boolean => (cpu.cache.get(pa, cpu.modeKey)?.exec ?? null) !== null;
  return { loop: compiled(0x1000), other: compiled(0x1008), esi: cpu.gpr[2 * 6]! };
}

test('a self-looping block is compiled at the threshold, any other block at the late factor times it', () => {
  assert.equal(thresholdOf('wasm'), 4);
  const late = lateThresholdOf('wasm');
  assert.equal(late, 100);
  const early = run(late - 10);
  assert.equal(early.esi, late - 10, 'the guest ran to the end');
  assert.deepEqual([early.loop, early.other], [true, false], `after ${late - 10} runs each`);
  const after = run(late + 10);
  assert.deepEqual([after.loop, after.other], [true, true], `after ${late + 10} runs each`);
});
