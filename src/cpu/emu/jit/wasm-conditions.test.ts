/**
 * Conditions after 8- and 16-bit ADD/SUB/CMP in the wasm tier: every condition (SETcc into memory, Jcc, ADC's
 * carry) after each such form, on random registers and edge values, against the interpreter, and read inline
 * (no call out to JS for the flags: JitStats.flagReads).
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first and imports the harness
 * after (node --test runs each file in a process of its own).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededInt32 } from '../../../util/seeded-random.test-util.js';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { load, makePagedFlat32Cpu, runText } = await import('../cpu-harness.test-util.js');
const DATA = 0x3000;

/** SETcc [ebx + 16 + cc] for every cc: the 16 conditions of the flags the instruction before left. */
const ALL_SETCC = Array.from({ length: 16 }, (_, cc) => `0f ${(0x90 + cc).toString(16)} 43 ${(16 + cc).toString(16)}`).join(' ');

/** 8- and 16-bit ADD/SUB/CMP in the forms the tier has for them: register ('alu8'), m8 with an immediate, m8 with a register. */
const NARROW = [
  '38 c8', // cmp al, cl
  '66 39 c8', // cmp ax, cx
  '28 d1', // sub cl, dl
  '66 29 d1', // sub cx, dx
  '00 e0', // add al, ah
  '66 01 c8', // add ax, cx
  '80 f9 80', // cmp cl, 0x80
  '80 fa ff', // cmp dl, 0xff
  '80 c1 7f', // add cl, 0x7f
  '66 83 e9 01', // sub cx, 1
  '80 3b 1a', // cmp byte [ebx], 0x1a
  '80 3b 80', // cmp byte [ebx], 0x80
  '38 03', // cmp [ebx], al
  '38 4b 01', // cmp [ebx + 1], cl
];

/** Edge values for the low bytes and words the forms compare. */
const EDGES = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x1a, 0xff80];

/** Runs `code; hlt` three times from the same state (the third a chained run); returns what it left and the flags read through JS in the third. */
function runCase(compile: boolean, code: string, seed: number): { out: string[]; flagReads: number } {
  const t = makePagedFlat32Cpu();
  t.cpu.compile = compile;
  load(t.mem, 0x1000, code + ' f4');
  const out: string[] = [];
  let before = 0;
  for (let pass = 0; pass < 3; pass++) {
    before = t.cpu.cache.jit.flagReads;
    const r = seededInt32(seed + pass);
    for (let k = 0; k < 8; k++) {
      const v = r();
      // Random upper bits above an edge value in the low word half the time.
      t.cpu.gpr[k << 1] = (v & 1) === 0 ? v : (v & ~0xffff) | EDGES[(v >>> 1) % EDGES.length]!;
      t.cpu.gpr[(k << 1) | 1] = 0;
    }
    t.cpu.gpr[2 * 4] = 0x8000;
    t.cpu.gpr[2 * 3] = DATA;
    for (let a = DATA; a < DATA + 48; a += 4) t.mem.writeU32(a, r() & 0x01010101 ? EDGES[(r() >>> 1) % EDGES.length]! * 0x10001 : r());
    t.cpu.rip = 0x1000;
    t.cpu.halted = false;
    const res = runText(t.cpu, 1000);
    const x = t.cpu;
    const mem: number[] = [];
    for (let a = DATA; a < DATA + 48; a += 4) mem.push(t.mem.readU32(a));
    out.push(`${res} rip=${x.rip.toString(16)} n=${x.instructions} rflags=${x.getRflags().toString(16)}`, `gpr=${[...x.gpr.slice(0, 16)].join(',')}`, `mem=${mem.join(',')}`);
  }
  // The last pass's: a block entered from the run loop (the first passes) starts from the flags in EmuCpu's fields.
  return { out, flagReads: t.cpu.cache.jit.flagReads - before };
}

test('every condition after an 8- or 16-bit ADD/SUB/CMP is what the interpreter computes, read inline', () => {
  let seed = 1;
  for (const op of NARROW) {
    // All SETcc; a Jcc each way (JL, JBE: taken or not, then a store that shows which); ADC's carry-in.
    const codes = [`${op} ${ALL_SETCC}`, `${op} 7c 02 89 03 89 4b 04`, `${op} 76 02 89 03 89 4b 04`, `${op} 13 43 08`];
    for (const code of codes) {
      for (let i = 0; i < 8; i++) {
        seed += 7919;
        const compiled = runCase(true, code, seed);
        assert.deepEqual(compiled.out, runCase(false, code, seed).out, `${code} seed ${seed}`);
        assert.equal(compiled.flagReads, 0, `${code}: flags read through JS`);
      }
    }
  }
});

test('a carry-in after an INC or DEC in the block before is read from the flags record in wasm', () => {
  let seed = 5;
  // STC/CLC/CMP/SUB; INC/DEC ECX; JMP to the next block; ADC EAX, [EBX + 8] / SBB (the carry INC/DEC kept).
  for (const pre of ['f9', 'f8', '39 c8', '29 c8'])
    for (const incdec of ['41', '49', 'ff c1', 'ff c9'])
      for (const use of ['13 43 08', '1b 43 08']) {
        const code = `${pre} ${incdec} eb 00 ${use}`;
        seed += 7919;
        const compiled = runCase(true, code, seed);
        assert.deepEqual(compiled.out, runCase(false, code, seed).out, `${code} seed ${seed}`);
        // STC and CLC run as handlers, whose flags the record does not hold: the INC/DEC after them reads CF through JS.
        if (pre !== 'f9' && pre !== 'f8') assert.equal(compiled.flagReads, 0, `${code}: the carry read through JS`);
      }
});
