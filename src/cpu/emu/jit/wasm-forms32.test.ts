/**
 * The wasm tier's forms for handler calls left in 32-bit real code (realcode -m32): ADC/SBB r32, m32 ('alucm'),
 * SHL/SHR/SAR m32 by CL ('shiftclm') and MOV AL/AX/EAX <-> moffs ('moffs'), against the interpreter in flat 32-bit
 * code with paging (TLB misses, faults, segments with a base), and that they run without their handlers.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first and imports the harness
 * after (node --test runs each file in a process of its own).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PagedCase } from './paged-flat32-case.test-util.js';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { load, makePagedFlat32Cpu } = await import('../cpu-harness.test-util.js');
const { decodeBlock } = await import('../decoder.js');
const { wasmForm } = await import('./wasm-inline-forms.js');
const { DATA, SETCC, runPagedCase } = await import('./paged-flat32-case.test-util.js');

function hex32(v: number): string {
  return [0, 8, 16, 24].map((s) => ((v >>> s) & 0xff).toString(16).padStart(2, '0')).join(' ');
}

test('ADC/SBB r32, m32 and MOV with moffs (32-bit addressing) are wasm forms', () => {
  const t = makePagedFlat32Cpu();
  for (const [h, f] of [['d3 2b', 'shiftclm'], ['d3 03', ''], ['66 d3 23', ''], ['13 03', 'alucm'], ['1b 4b 04', 'alucm'], ['11 03', ''], ['66 13 03', ''], ['a0 00 30 00 00', 'moffs'], ['a1 00 30 00 00', 'moffs'], ['66 a3 00 30 00 00', 'moffs'], ['a2 00 30 00 00', 'moffs'], ['67 a1 00 30', '']] as const) {
    load(t.mem, 0x1000, h);
    assert.equal(wasmForm(decodeBlock(t.cpu, 0x1000, 0x1000).insns[0]!), f, h);
  }
});

function cases(): PagedCase[] {
  const out: PagedCase[] = [];
  // ADC/SBB r32, m32 after a known carry (SUB, ADD, a logic op: CF 0), an unknown one (the block's start), and an ADC.
  for (const op of ['13 03', '1b 03', '13 4b 04', '1b 53 08', '13 03 13 4b 04'])
    for (const pre of ['', '29 d0 ', '01 d0 ', '31 d0 ', '39 c8 ', '11 d0 ', 'f9 ', 'f8 ']) {
      out.push({ code: `${pre}${op} ${SETCC}` }, { code: `${pre}${op}` });
      out.push({ code: `${pre}${op}`, bx: 0x300000 }, { code: `${pre}${op}`, bx: 0x200ffe });
    }
  // SHL/SHR/SAR m32 by CL (random, 0, 32: masked to 0, 31), flags read after; a read-only page (faults as a write,
  // a count of 0 too) and an unmapped one.
  for (const op of ['d3 23', 'd3 2b', 'd3 3b', 'd3 63 04'])
    for (const cl of ['', 'b1 00 ', 'b1 20 ', 'b1 1f ', 'b1 01 ']) {
      out.push({ code: `29 d0 ${cl}${op} ${SETCC}` }, { code: `${cl}${op}` });
      out.push({ code: `${cl}${op}`, bx: 0x200000 }, { code: `29 d0 ${cl}${op} 31 c0`, bx: 0x300000 });
    }
  // MOV AL/AX/EAX, moffs and back, at DATA, a page end, a read-only page (writes fault) and an unmapped one; with DS's base.
  for (const at of [DATA, DATA + 13, 0x3ffe, 0x200000, 0x300004]) {
    for (const op of ['a0', 'a1', '66 a1', 'a2', 'a3', '66 a3']) {
      out.push({ code: `${op} ${hex32(at)}` }, { code: `${op} ${hex32(at)}`, ds: 0x10 }, { code: `3e ${op} ${hex32(at)} 26 ${op} ${hex32(at + 4)}` });
    }
  }
  return out;
}

test('ADC/SBB r32, m32 and MOV moffs leave registers, memory, flags and faults as the interpreter does', () => {
  const all = cases();
  for (let i = 0; i < all.length; i++) {
    const c = all[i]!;
    const seed = (i + 1) * 7919;
    // CF from an earlier instruction: set or clear at random, or from a lazy SUB.
    assert.deepEqual(runPagedCase(true, c, seed, 1), runPagedCase(false, c, seed, 1), `${c.code} bx=${(c.bx ?? DATA).toString(16)} ds=${c.ds ?? 0}`);
  }
});

test('ADC r32, m32, SHL/SHR m32 by CL and MOV moffs run without their handlers', () => {
  const t = makePagedFlat32Cpu();
  t.cpu.compile = true;
  const code = ['13 03', '1b 4b 04', 'd3 23', 'b1 00 d3 2b', `a1 ${hex32(DATA + 8)}`, `a2 ${hex32(DATA + 12)}`, `66 a3 ${hex32(DATA + 14)}`, `a0 ${hex32(DATA + 1)}`];
  load(t.mem, 0x1000, code.join(' ') + ' f4');
  const run = (): void => {
    t.cpu.gpr[2 * 3] = DATA;
    t.cpu.rip = 0x1000;
    t.cpu.halted = false;
    assert.equal(t.cpu.run(100), 'hlt');
  };
  run();
  run();
  const blk = t.cpu.cache.get(0x1000, t.cpu.modeKey)!;
  assert.ok(blk.exec !== null, 'compiled');
  for (const x of blk.insns.slice(0, -1)) x.fn = (): void => assert.fail(`${x.row.mn} ran its handler`);
  run();
  assert.equal(t.cpu.exceptionLog.length, 0);
});
