import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCpu } from './cpu-harness.test-util.js';
import { cond, condLogic32, condSub32 } from './lazy-flags.js';
import { aluAnd, aluSub } from './sem-alu.js';
import { prng } from './table/row-cases.test-util.js';

test('condSub32/condLogic32 (the block compiler conditions) agree with cond() on the recorded flags', () => {
  const c = makeCpu().cpu;
  const rnd = prng(0xc0de);
  const edge = [0, 1, -1, 0x7fffffff, 0x80000000 | 0, 0x80, 0xff];
  for (let k = 0; k < 20000; k++) {
    const d = k < 49 ? edge[k % 7]! : rnd() | 0;
    const s = k < 49 ? edge[Math.floor(k / 7)]! : (k & 1) === 0 ? d : rnd() | 0;
    const r = aluSub(c, 4, d, s, true);
    for (let cc = 0; cc < 16; cc++) assert.equal(condSub32(cc, d, s, r), cond(c, cc), `cc ${cc} after ${d} - ${s}`);
    const l = aluAnd(c, 4, d, s, true);
    for (let cc = 0; cc < 16; cc++) assert.equal(condLogic32(cc, l), cond(c, cc), `cc ${cc} after ${d} & ${s}`);
  }
});
