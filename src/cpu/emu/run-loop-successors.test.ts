/**
 * The run loop remembers, per block, the blocks that ran after it (Block.next0/next1), so that the next time it
 * needs no jump-cache lookup. The successor is the block entered at the new RIP: a chained compiled run (wasm,
 * jit/wasm-chain.ts) returns the block it ended in, which does not start there.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first and imports the harness after
 * (node --test runs each file in a process of its own).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { makeLong64Cpu, load } = await import('./cpu-harness.test-util.js');

// X at 0x1000: jmp B
// B at 0x1100: add eax,1 | jmp C
// C at 0x1200: dec ecx | jz done | jmp r8
// done:        hlt
// A at 0x1800: nop | jmp B
const X = 'e9fb000000';
const B = '83c001e9f8000000';
const C = 'ffc9740341ffe0f4';
const A = '90e9faf8ffff';

test('a block before a compiled block that chains on remembers the block it entered as its successor', () => {
  const t = makeLong64Cpu();
  const cpu = t.cpu;
  assert.ok(cpu.wasm !== null, 'the vCPU runs with the wasm tier');
  load(t.mem, 0x1000, X);
  load(t.mem, 0x1100, B);
  load(t.mem, 0x1200, C);
  load(t.mem, 0x1800, A);
  // X, B and C compiled (wasm-eager: before their first run); after the first pass B runs on into C in wasm.
  cpu.gpr[2 * 1] = 3;
  cpu.gpr[2 * 8] = 0x1000;
  assert.equal(cpu.run(1000), 'hlt');
  // A is decoded with compiling off: it stays interpreted, and each of its runs enters B, which ends in C.
  cpu.compile = false;
  cpu.halted = false;
  cpu.rip = 0x1800;
  cpu.gpr[2 * 1] = 4;
  cpu.gpr[2 * 8] = 0x1800;
  const chains = cpu.jitStats.chains;
  assert.equal(cpu.run(1000), 'hlt');
  assert.equal(cpu.gpr[2 * 0], 7, 'B ran seven times');
  assert.ok(cpu.jitStats.chains > chains, 'B ran on into C inside a chained run');
  const a = cpu.cache.get(0x1800, cpu.modeKey);
  const b = cpu.cache.get(0x1100, cpu.modeKey);
  assert.ok(a !== undefined && b !== undefined, 'A and B are in the code cache');
  assert.equal(a.exec, null, 'A is interpreted');
  assert.notEqual(b.exec, null, 'B is compiled');
  assert.equal(a.next0, b, "A's successor is B, where it went, not C, where the chained run ended");
});

// 0x1ff0: add ebx,eax | jmp 0x1ffe
// 0x1ffe: mov eax,1 (crosses into the page at 0x2000)
// 0x2003: dec ecx | jnz 0x1ff0 | hlt
test('a block crossing pages is marked so and compiled by the wasm tier, even at threshold 1 (jit/wasm-page-cross.test.ts)', () => {
  const t = makeLong64Cpu();
  const cpu = t.cpu;
  load(t.mem, 0x1ff0, '01c3eb0a');
  load(t.mem, 0x1ffe, 'b801000000ffc975e9f4');
  cpu.rip = 0x1ff0;
  cpu.gpr[2 * 1] = 5;
  assert.equal(cpu.run(1000), 'hlt');
  assert.equal(cpu.gpr[2 * 3], 4);
  const x = cpu.cache.get(0x1ffe, cpu.modeKey);
  assert.ok(x !== undefined, 'the crossing block is kept');
  assert.equal(x.phys2, 0x2000);
  assert.ok(x.crosses);
  assert.notEqual(x.exec, null, 'the crossing block is compiled');
  assert.notEqual(cpu.cache.get(0x1ff0, cpu.modeKey)?.exec ?? null, null, 'the block before it is compiled');
});
