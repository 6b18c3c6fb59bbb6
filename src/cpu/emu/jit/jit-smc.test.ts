/**
 * Self-modifying code under the compilers: a hot compiled block that starts writing its own later
 * instructions must stop after the write and run the new code, as the interpreter does, whether it
 * is compiled alone (a self-loop) or in a page region.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCpu, load } from '../cpu-harness.test-util.js';

// 0x1000: mov [esi],ecx | mov eax,imm32 (imm at 0x1003) | add ebx,eax | dec ecx | jnz 0x1000 | hlt
const PROG = '890e' + 'b800000000' + '01c3' + '49' + '75f4' + 'f4';

function run(compile: boolean, threshold: number, regions: boolean): string {
  const { cpu, mem } = makeCpu();
  cpu.setFlat32();
  cpu.compile = compile;
  cpu.jitThreshold = threshold;
  cpu.jitLate = threshold;
  cpu.regions = regions;
  load(mem, 0x1000, PROG);
  cpu.rip = 0x1000;
  cpu.rl[1] = 200;
  cpu.rl[6] = 0x3000; // data first: the block gets hot and compiled
  cpu.run(60 * 5);
  cpu.rl[6] = 0x1003; // now each pass writes the next instruction's immediate
  const r = cpu.run(1e6);
  return `${r} n=${cpu.instructions} ebx=${cpu.rl[3]} eax=${cpu.rl[0]} ecx=${cpu.rl[1]} rip=${cpu.rip.toString(16)}`;
}

test('a compiled block that writes its own next instruction runs the new code', () => {
  const ref = run(false, 40, false);
  // 60 passes add the old immediate 0, then each pass adds the ecx it just wrote (140 .. 1).
  assert.match(ref, / ebx=9870 eax=1 ecx=0 /);
  assert.equal(run(true, 40, false), ref, 'single blocks, default threshold');
  assert.equal(run(true, 1, false), ref, 'single blocks, eager');
  assert.equal(run(true, 40, true), ref, 'regions');
  assert.equal(run(true, 1, true), ref, 'regions, eager');
});
