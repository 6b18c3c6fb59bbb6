/**
 * Runs of 64-bit PUSHes and POPs (wasm-stack.ts): one stack check for the run, and the same registers, memory,
 * RSP and faults as the interpreter: the run in one page, across a page, with a fault in its middle, with
 * register moves between its PUSHes (one of them writing a register pushed after it), POPs with the block's RET.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededInt32 } from '../../../util/seeded-random.test-util.js';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { load, makeLong64Cpu, runText } = await import('../cpu-harness.test-util.js');
const { Slot } = await import('./wasm-arena.js');
const { I64_LOAD, loadsAt, modulesOf } = await import('./wasm-bytes.test-util.js');

// push r15 | push r14 | mov r14, rsi | push r13 | mov r13d, edx | push r12 | mov r12, rcx | push rbp | push rbx | push 5
const PROLOGUE = '41 57 41 56 49 89 f6 41 55 41 89 d5 41 54 49 89 cc 55 53 6a 05';
// pop rbx | pop rbp | pop r12 | pop r13 | pop r14 | pop r15
const EPILOGUE = '5b 5d 41 5c 41 5d 41 5e 41 5f';
// pop rbx | pop rbp | ret
const RETURN = '5b 5d c3';

test('a run of PUSHes (moves between them), a run of POPs and POPs with the RET after them each look the TLB up once', () => {
  for (const [code, tags] of [
    [PROLOGUE, Slot.WTlb + 8],
    [EPILOGUE, Slot.WTlb],
    [RETURN, Slot.WTlb],
  ] as const) {
    const t = makeLong64Cpu();
    t.cpu.compile = true;
    load(t.mem, 0x1000, code + ' f4');
    // RETURN's return address (RSP 0x8000, two POPs): a HLT.
    load(t.mem, 0x1100, 'f4');
    t.mem.writeU32(0x8010, 0x1100);
    const mods = modulesOf(() => runText(t.cpu, 100));
    const lookups = mods.reduce((s, b) => s + loadsAt(b, I64_LOAD, tags), 0);
    assert.equal(lookups, 1, code);
  }
});

/** The RAM address of linear address `a` (below 6 MiB) in runCase's mapping. */
function phys(a: number): number {
  return a < 0x400000 ? a : a - 0x200000;
}

/** Runs `code; hlt` with RSP = `rsp`, from random registers, three times (the TLB cold, then warm, then in a chained run); what it left. */
function runCase(compile: boolean, code: string, rsp: number, seed: number, ret?: number): string[] {
  const t = makeLong64Cpu();
  // Linear 2-4 MiB read-only (CR0.WP), 4-6 MiB writable (both the RAM's second 2 MiB), nothing above: a run of PUSHes
  // crossing 4 MiB downwards faults in its middle, a run of POPs crossing 6 MiB upwards too.
  t.mem.writeU32(0x12008, 0x200000 | 0x85);
  t.mem.writeU32(0x12010, 0x200000 | 0x87);
  t.cpu.cr0 |= 1 << 16;
  t.cpu.compile = compile;
  load(t.mem, 0x1000, code + ' f4');
  load(t.mem, 0x1100, 'f4');
  const out: string[] = [];
  for (let pass = 0; pass < 3; pass++) {
    const r = seededInt32(seed);
    for (let k = 0; k < 16; k++) {
      t.cpu.gpr[k << 1] = r();
      t.cpu.gpr[(k << 1) | 1] = r();
    }
    t.cpu.gpr[2 * 4] = rsp;
    t.cpu.gpr[2 * 4 + 1] = 0;
    for (let a = rsp - 64; a < rsp + 64; a += 4) if (a < 0x600000) t.mem.writeU32(phys(a), r() >>> 0);
    // The return address of RETURN (high half 0x8000: not canonical).
    if (ret !== undefined && rsp + 16 < 0x600000) {
      t.mem.writeU32(phys(rsp + 16), ret);
      t.mem.writeU32(phys(rsp + 20), ret === 0x1100 ? 0 : 0x8000);
    }
    t.cpu.rip = 0x1000;
    t.cpu.halted = false;
    const res = runText(t.cpu, 1000);
    const x = t.cpu;
    const mem: number[] = [];
    for (let a = rsp - 64; a < rsp + 64; a += 4) mem.push(a < 0x600000 ? t.mem.readU32(phys(a)) : 0);
    out.push(`${res} rip=${x.rip.toString(16)} n=${x.instructions} shutdown=${x.shutdownReason ?? ''} cr2=${x.cr2.toString(16)}`, `gpr=${[...x.gpr].join(',')}`, `mem=${mem.join(',')}`);
  }
  return out;
}

test('runs of PUSHes and POPs leave what the interpreter leaves: in one page, across pages, faulting in the middle', () => {
  const cases: [string, number, number?][] = [
    [PROLOGUE, 0x8000],
    [PROLOGUE, 0x8010], // across 0x8000
    [PROLOGUE, 0x400010], // the third PUSH writes the read-only page below 4 MiB
    [PROLOGUE, 0x200010], // the first PUSH faults
    [EPILOGUE, 0x8000],
    [EPILOGUE, 0x7ff0], // across 0x8000
    [EPILOGUE, 0x5ffff0], // the third POP reads past the mapped pages
    [PROLOGUE + ' ' + EPILOGUE + ' 5a', 0x9000],
    [RETURN, 0x8000, 0x1100],
    [RETURN, 0x8000, 0x1200], // not canonical: the RET's handler (#GP), the POPs done
    [RETURN, 0x7ff8, 0x1100], // the return address in the next page
    [RETURN, 0x5ffff0, 0x1100], // ... which is not mapped
  ];
  cases.forEach(([code, rsp, ret], i) => {
    for (let seed = 1; seed <= 3; seed++) assert.deepEqual(runCase(true, code, rsp, seed * 7 + i, ret), runCase(false, code, rsp, seed * 7 + i, ret), `${code} at rsp ${rsp.toString(16)}`);
  });
});
