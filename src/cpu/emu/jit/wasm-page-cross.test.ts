/**
 * Blocks whose one instruction crosses into the next page (Block.phys2) under the wasm tier: compiled, so that a
 * loop with such an instruction stays in chained runs instead of returning to the run loop every pass (realcode's
 * 64-bit crc had one in its hottest loop), and still exact: every slice end as the interpreter has it, a store to
 * the instruction's bytes on its second page seen at once, a remapped second page (INVLPG, CR3 write) not run
 * through the stale block.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first and imports the harness after.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { makeLong64Cpu, load } = await import('../cpu-harness.test-util.js');
const { writeCr3 } = await import('../control-regs.js');
const { invlpg } = await import('../tlb.js');
const { PD, PT, pagedCpu, runPaged } = await import('../page-crossing.test-util.js');

// At 0x1ff0:  mov ecx,300 | xor edx,edx
// L:          add edx,ecx | lea eax,[rdx+rcx] | xor ebx,eax
//   0x1ffe:   add ebx,0x11220001 (81 c3 | 01 00 22 11: its immediate on the next page)
//             xor ebx,eax | dec ecx | jnz L
//             dec esi | jz done | mov byte [0x2003],0x33 (the immediate's top byte) | mov ecx,300 | jmp L
// done:       hlt
const PROG = 'b92c01000031d201ca8d040a31c381c30100221131c3ffc975edffce740fc604250320000033b92c010000ebdaf4';

function trace(compile: boolean, slice: number): { lines: string[]; chains: number; compiled: boolean } {
  const t = makeLong64Cpu();
  const cpu = t.cpu;
  assert.ok(cpu.wasm !== null, 'the vCPU runs with the wasm tier');
  cpu.compile = compile;
  cpu.rip = 0x1ff0;
  cpu.gpr[2 * 6] = 3; // passes: the immediate is rewritten after the first and the second
  load(t.mem, 0x1ff0, PROG);
  const lines: string[] = [];
  let compiled = false;
  for (let guard = 0; guard < 200000; guard++) {
    const r = cpu.run(slice);
    const regs = [0, 1, 2, 3, 6].map((i) => `${cpu.gpr[i << 1]}:${cpu.gpr[(i << 1) | 1]}`).join(' ');
    lines.push(`${r} n=${cpu.instructions} br=${cpu.branchesRetired.join('/')} rip=${cpu.rip.toString(16)} ${regs} fl=${cpu.getRflags().toString(16)}`);
    const x = cpu.cache.get(0x1ffe, cpu.modeKey);
    if (x !== undefined && x.phys2 === 0x2000 && x.exec !== null) compiled = true;
    if (r !== 'budget') break;
  }
  return { lines, chains: cpu.jitStats.chains, compiled };
}

test('a loop with an instruction crossing pages runs compiled, in chained runs, to the interpreter\'s state', () => {
  const ref = trace(false, 1e9);
  const jit = trace(true, 1e9);
  assert.match(ref.lines.at(-1)!, /^hlt /);
  assert.deepEqual(jit.lines, ref.lines);
  assert.ok(jit.compiled, 'the crossing block is compiled');
  // 900 passes of 8 instructions: a chained run goes on until the poll point (2048 instructions), not one a pass.
  assert.ok(jit.chains < 100, `the loop stays in chained runs (${jit.chains} of them)`);
});

test('a compiled crossing block ends every slice as the interpreter does, and a store to its second page is seen', () => {
  for (const slice of [1, 2, 3, 5, 8, 13, 100, 2047]) assert.deepEqual(trace(true, slice).lines, trace(false, slice).lines, `slice ${slice}`);
});

/** The paged loop (page-crossing.test-util.ts) run once a call, its second page remapped, its crossing block's state. */
function paged(): { run: () => number; remap: (pa: number, how: 'invlpg' | 'cr3') => void; compiled: () => boolean } {
  const t = pagedCpu(1);
  const { mem, cpu } = t;
  return {
    run: (): number => runPaged(t),
    remap: (pa: number, how: 'invlpg' | 'cr3'): void => {
      mem.writeU32(PT + 1 * 4, pa | 7);
      if (how === 'invlpg') invlpg(cpu, 0x401000);
      else writeCr3(cpu, PD);
    },
    compiled: (): boolean => {
      const b = cpu.cache.get(0x100ffd, cpu.modeKey);
      return b !== undefined && b.exec !== null;
    },
  };
}

test('a compiled crossing block is not run through a stale mapping of its second page (INVLPG, CR3 write)', () => {
  const p = paged();
  assert.equal(p.run(), (100 * 0x22110001) >>> 0);
  assert.equal(p.run(), (100 * 0x22110001) >>> 0);
  assert.ok(p.compiled(), 'the crossing block is compiled');
  p.remap(0x102000, 'invlpg');
  assert.equal(p.run(), (100 * 0x44330001) >>> 0, 'after INVLPG of the second page, its new bytes');
  p.remap(0x101000, 'cr3');
  assert.equal(p.run(), (100 * 0x22110001) >>> 0, 'after a CR3 write, the first mapping again');
  assert.ok(p.compiled(), 'compiled again');
});
