/**
 * The wasm tier's self-looping blocks (wasm-compiler.ts prepare, wasm-flow.ts formJcc): a block whose last
 * branch goes back into it loops inside its wasm function and hands its completed passes to the run loop
 * through the vCPU's slot. Those passes must be exactly the ones this block made: a loop entered mid-block
 * that leaves before its head (a side exit) once read what the previous self-loop had left in the slot and
 * retired its passes again (realcode64 counted 723.7 M instructions instead of 386.1 M, with the right
 * checksums).
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first and imports the harness
 * after (node --test runs each file in a process of its own).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { makeCpu, load } = await import('../cpu-harness.test-util.js');

const N = 100;
// 0x1000: mov ecx,20 | 0x1005: dec ecx; jnz 0x1005        (a self-loop from index 1, then one from index 0)
// 0x1008: test ebx,ebx; jz 0x1014 (side exit before the loop head) | mov edx,3 | 0x1011: dec edx; jnz 0x1011
// 0x1014: xor ebx,1 | inc esi | cmp esi,N | jnz 0x1000 | hlt
const PROG =
  'b9 14000000' +
  '49 75fd' +
  '85db 7408 ba 03000000 4a 75fd' +
  `83f301 46 81fe ${N.toString(16).padStart(2, '0')}000000 75e0` +
  'f4';

function trace(compile: boolean, slice: number): string[] {
  const { cpu, mem } = makeCpu();
  assert.ok(cpu.wasm !== null, 'the vCPU runs with the wasm tier');
  cpu.setFlat32();
  cpu.compile = compile;
  load(mem, 0x1000, PROG);
  cpu.rip = 0x1000;
  const out: string[] = [];
  for (let guard = 0; guard < 100000; guard++) {
    const r = cpu.run(slice);
    out.push(`${r} n=${cpu.instructions} br=${cpu.branchesRetired.join('/')} rip=${cpu.rip.toString(16)} ecx=${cpu.gpr[2 * 1]} edx=${cpu.gpr[2 * 2]} ebx=${cpu.gpr[2 * 3]} esi=${cpu.gpr[2 * 6]} fl=${cpu.getRflags().toString(16)}`);
    if (r !== 'budget') break;
  }
  return out;
}

test('a wasm self-loop entered mid-block counts no passes when it leaves before its head', () => {
  const full = trace(true, 1e9);
  const last = full[full.length - 1]!;
  // Per outer iteration: mov + 20 x (dec, jnz) = 41; test, jz (taken when ebx = 0) = 2, or + mov + 3 x 2 = 9;
  // xor, inc, cmp, jnz = 4. Half the iterations skip the inner loop; then HLT.
  assert.match(last, new RegExp(`^hlt n=${(N / 2) * (41 + 2 + 4) + (N / 2) * (41 + 9 + 4) + 1} `));
  assert.deepEqual(full, trace(false, 1e9));
});

test('wasm self-loops stop exactly at slice boundaries', () => {
  for (const slice of [1, 7, 13, 47, 100]) assert.deepEqual(trace(true, slice), trace(false, slice), `slice ${slice}`);
});
