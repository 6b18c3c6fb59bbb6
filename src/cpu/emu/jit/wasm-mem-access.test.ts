/**
 * 64-bit addressing (wasm-mem-access.ts address): the flat segments' bases are read once per block, not at every
 * memory operand, and a base that is not 0 still takes ea() (exact whatever the base) as the interpreter does.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { load, makeLong64Cpu, runText } = await import('../cpu-harness.test-util.js');
const { Slot } = await import('./wasm-arena.js');
const { I64_LOAD, loadsAt, modulesOf } = await import('./wasm-bytes.test-util.js');

const FLAT = 8;
const FLAT_SS = 9;
// mov rax, [rbx] | mov rcx, [rbx+8] | mov rdx, [rsp+8] | add rdx, [rsp+16] | mov [rbx+16], rax
const CODE = '48 8b 03 48 8b 4b 08 48 8b 54 24 08 48 03 54 24 10 48 89 43 10';

test('a block reads each flat segment base once for all its 64-bit memory operands', () => {
  const t = makeLong64Cpu();
  t.cpu.compile = true;
  load(t.mem, 0x1000, CODE + ' f4');
  t.cpu.gpr[2 * 3] = 0x3000;
  const mods = modulesOf(() => runText(t.cpu, 100));
  assert.equal(
    mods.reduce((s, b) => s + loadsAt(b, I64_LOAD, Slot.SegBase + FLAT * 8), 0),
    1,
  );
  assert.equal(
    mods.reduce((s, b) => s + loadsAt(b, I64_LOAD, Slot.SegBase + FLAT_SS * 8), 0),
    1,
  );
});

/** Runs CODE; hlt with the flat segments' bases as given, three times; what it left. */
function runCase(compile: boolean, flat: number, flatSs: number): string[] {
  const t = makeLong64Cpu();
  t.cpu.compile = compile;
  load(t.mem, 0x1000, CODE + ' f4');
  const out: string[] = [];
  for (let pass = 0; pass < 3; pass++) {
    for (let a = 0x3000; a < 0x9100; a += 4) t.mem.writeU32(a, (a * 2654435761) >>> 0);
    t.cpu.gpr[2 * 3] = 0x3000;
    t.cpu.gpr[2 * 3 + 1] = 0;
    t.cpu.gpr[2 * 4] = 0x8000;
    t.cpu.gpr[2 * 4 + 1] = 0;
    t.cpu.segBase[FLAT] = flat;
    t.cpu.segBase[FLAT_SS] = flatSs;
    t.cpu.rip = 0x1000;
    t.cpu.halted = false;
    const res = runText(t.cpu, 100);
    const mem: number[] = [];
    for (let a = 0x3000; a < 0x3020; a += 4) mem.push(t.mem.readU32(a));
    out.push(`${res} n=${t.cpu.instructions} gpr=${[...t.cpu.gpr].join(',')} mem=${mem.join(',')}`);
  }
  return out;
}

test('a flat segment base that is not 0 is added as the interpreter adds it', () => {
  const bases: [number, number][] = [
    [0, 0],
    [0x1000, 0],
    [0, 0x1000],
    [-0, 0],
  ];
  for (const [flat, flatSs] of bases) assert.deepEqual(runCase(true, flat, flatSs), runCase(false, flat, flatSs), `${flat} ${flatSs}`);
});
