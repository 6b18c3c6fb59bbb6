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
import { seededInt32 } from '../../../util/seeded-random.test-util.js';
import { Seg } from '../x86-defs.js';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { load, makePagedFlat32Cpu, runText } = await import('../cpu-harness.test-util.js');
const { decodeBlock } = await import('../decoder.js');
const { wasmForm } = await import('./wasm-compiler.js');
const { setFlagsRaw } = await import('../lazy-flags.js');
const DATA = 0x3000;

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

// setb cl, seto dl, sets dh, setz ch (flags after the instruction, read inline or through the import)
const SETCC = '0f 92 c1 0f 90 c2 0f 98 c6 0f 94 c5';

interface Case {
  code: string;
  /** EBX (ADC's base register). */
  bx?: number;
  /** DS's base. */
  ds?: number;
}

/** Runs `code; hlt` three times (TLB cold, warm, chained) from the same state; returns what it left. */
function runCase(compile: boolean, c: Case, seed: number): string[] {
  const t = makePagedFlat32Cpu();
  t.cpu.compile = compile;
  load(t.mem, 0x1000, c.code + ' f4');
  const out: string[] = [];
  for (let pass = 0; pass < 3; pass++) {
    const r = seededInt32(seed);
    for (let k = 0; k < 8; k++) {
      t.cpu.rl[k] = r();
      t.cpu.rh[k] = r();
    }
    t.cpu.rl[4] = 0x8000;
    t.cpu.rl[3] = c.bx ?? DATA;
    t.cpu.setSegRaw(Seg.DS, 0x10, c.ds ?? 0, 0xffffffff, 0xc093);
    for (let a = DATA - 16; a < DATA + 48; a += 4) t.mem.writeU32(a, r() >>> 0);
    // CF from an earlier instruction: set or clear at random, or from a lazy SUB.
    setFlagsRaw(t.cpu, 2 | (r() & 1));
    t.cpu.rip = 0x1000;
    t.cpu.halted = false;
    const res = runText(t.cpu, 1000);
    const x = t.cpu;
    const mem: number[] = [];
    for (let a = DATA - 16; a < DATA + 48; a += 4) mem.push(t.mem.readU32(a));
    out.push(
      `${res} rip=${x.rip.toString(16)} n=${x.instructions} shutdown=${x.shutdownReason ?? ''} cr2=${x.cr2.toString(16)} rflags=${x.getRflags().toString(16)}`,
      `rl=${[...x.rl.slice(0, 8)].join(',')} rh=${[...x.rh.slice(0, 8)].join(',')}`,
      `mem=${mem.join(',')}`,
    );
  }
  return out;
}

function cases(): Case[] {
  const out: Case[] = [];
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
    assert.deepEqual(runCase(true, c, seed), runCase(false, c, seed), `${c.code} bx=${(c.bx ?? DATA).toString(16)} ds=${c.ds ?? 0}`);
  }
});

test('ADC r32, m32, SHL/SHR m32 by CL and MOV moffs run without their handlers', () => {
  const t = makePagedFlat32Cpu();
  t.cpu.compile = true;
  const code = ['13 03', '1b 4b 04', 'd3 23', 'b1 00 d3 2b', `a1 ${hex32(DATA + 8)}`, `a2 ${hex32(DATA + 12)}`, `66 a3 ${hex32(DATA + 14)}`, `a0 ${hex32(DATA + 1)}`];
  load(t.mem, 0x1000, code.join(' ') + ' f4');
  const run = (): void => {
    t.cpu.rl[3] = DATA;
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
