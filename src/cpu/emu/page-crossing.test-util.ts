/**
 * A 32-bit paged loop whose one instruction crosses into the next page, for the page-crossing tests of the
 * interpreter (page-crossing.test.ts) and of the wasm tier (jit/wasm-page-cross.test.ts).
 *
 * 32-bit paging: linear 0x400000 -> 0x100000 and 0x401000 -> 0x101000 (or 0x102000, a copy with other bytes).
 *   mov ecx, 100; xor edx, edx; mov ebx, PASSES; nop
 *   L: mov eax, 0x22110001 (at 0x400ffd: b8 01 00 | 11 22, its immediate's top half on the next page)
 *      add edx, eax; loop L; dec ebx; jz done
 *      mov byte [0x401001], 0x33 (the immediate's top byte: 0x33110001 from now on); mov ecx, 100; jmp L
 *   done: hlt
 * The copy at 0x102000 has another top half: 0x44330001.
 */
import assert from 'node:assert/strict';
import { makeCpu, load, u32le, type TestCpu } from './cpu-harness.test-util.js';
import { CR0_PG } from './x86-defs.js';
import { writeCr0 } from './control-regs.js';

export const PD = 0x20000;
export const PT = 0x21000;

export function pagedCpu(passes: number): TestCpu {
  const t = makeCpu(16 << 20);
  const { mem, cpu } = t;
  cpu.setFlat32();
  mem.writeU32(PD + 1 * 4, PT | 7);
  mem.writeU32(PT + 0 * 4, 0x100000 | 7);
  mem.writeU32(PT + 1 * 4, 0x101000 | 7);
  cpu.cr3 = PD;
  writeCr0(cpu, cpu.cr0 | CR0_PG);
  cpu.gpr[2 * 4] = 0x400800;
  load(mem, 0x100ff0, `b9 ${u32le(100)}  31 d2  bb ${u32le(passes)}  90  b8 01 00`);
  const rest = `11 22  01 c2  e2 f7  4b  74 0e  c6 05 ${u32le(0x401001)} 33  b9 ${u32le(100)}  eb e6  f4`;
  load(mem, 0x101000, rest);
  load(mem, 0x102000, rest);
  load(mem, 0x102000, '33 44');
  return t;
}

/** Runs the loop from its start to the HLT; returns EDX, the sum. */
export function runPaged(t: TestCpu): number {
  t.cpu.rip = 0x400ff0;
  t.cpu.halted = false; // from the HLT that ended the run before
  assert.equal(t.cpu.runUntilHalt(100_000), 'hlt');
  return t.cpu.gpr[2 * 2]! >>> 0;
}
