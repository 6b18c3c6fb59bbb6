/**
 * Self-modifying code under the compilers: a hot compiled block that starts writing its own later
 * instructions must stop after the write and run the new code, as the interpreter does, whether it
 * is compiled alone (a self-loop) or in a page region.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCpu, load } from '../cpu-harness.test-util.js';
import type { EmuCpu } from '../cpu.js';
import { loggingPmu, runSlicesClearingOverflows, writePmuMsr } from '../pmu-slices.test-util.js';

// 0x1000: mov [esi],ecx | mov eax,imm32 (imm at 0x1003) | add ebx,eax | dec ecx | jnz 0x1000 | hlt
const PROG = '890e' + 'b800000000' + '01c3' + '49' + '75f4' + 'f4';

/** A flat 32-bit vCPU running `prog` at 0x1000 under the given compiler settings. */
function smcCpu(prog: string, compile: boolean, threshold: number, regions: boolean): EmuCpu {
  const { cpu, mem } = makeCpu();
  cpu.setFlat32();
  cpu.compile = compile;
  cpu.jitThreshold = threshold;
  cpu.jitLate = threshold;
  cpu.regions = regions;
  load(mem, 0x1000, prog);
  cpu.rip = 0x1000;
  return cpu;
}

function run(compile: boolean, threshold: number, regions: boolean): string {
  const cpu = smcCpu(PROG, compile, threshold, regions);
  cpu.gpr[2 * 1] = 200;
  cpu.gpr[2 * 6] = 0x3000; // data first: the block gets hot and compiled
  cpu.run(60 * 5);
  cpu.gpr[2 * 6] = 0x1003; // now each pass writes the next instruction's immediate
  const r = cpu.run(1e6);
  return `${r} n=${cpu.instructions} ebx=${cpu.gpr[2 * 3]} eax=${cpu.gpr[2 * 0]} ecx=${cpu.gpr[2 * 1]} rip=${cpu.rip.toString(16)}`;
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

/**
 * Self-modifying code with the PMU counting: a compiled block or page region that stops after a write to its own
 * page counts the instructions and branches that ran, exactly as the interpreter does (a region's blocks have no
 * side exits, so a stop before the last instruction retired no branch of its block; one at the last did).
 */
function countRun(prog: string, sp: number, compile: boolean, threshold: number, regions: boolean, slice: number): string[] {
  const cpu = smcCpu(prog, compile, threshold, regions);
  cpu.gpr[2 * 4] = sp;
  const log: string[] = [];
  const pmu = loggingPmu(cpu, log);
  const w = (msr: number, lo: number, hi = 0): void => writePmuMsr(pmu, msr, lo, hi);
  w(0x38d, 0xbbb); // fixed 0-2: OS|USR|PMI
  w(0x186, 0x5300c0); // PMC0: instructions retired, EN|INT|OS|USR
  w(0x187, 0x5300c4); // PMC1: branches retired
  w(0x4c1, 0xffffff00, 0xffff); // PMC0: 256 before overflow
  w(0x4c2, 0xffffffc0, 0xffff); // PMC1: 64
  w(0x38f, 0x3, 0x7);
  cpu.pmu = pmu;
  runSlicesClearingOverflows(cpu, pmu, slice, [0xc1, 0xc2, 0x309, 0x38e], log);
  log.push(`n=${cpu.instructions} br=${cpu.branchesRetired.join('/')} regs=${cpu.gpr.slice(0, 16).join(',')} rip=${cpu.rip.toString(16)}`);
  return log;
}

test('a compiled block or page region stopped by a write to its own page counts instructions and branches exactly (PMU)', () => {
  const cases: [string, string, number][] = [
    // mov ebx,200 | mov esi,0x1012 | mov edi,0x1025 | 0x100f: mov [esi],ebx (the next instruction's immediate) |
    // mov eax,imm32 | add ecx,eax | call 0x1021 | dec ebx | jnz 0x100f | hlt | 0x1021: mov [edi],ebx (the next
    // instruction's immediate) | add edx,imm32 | ret
    ['stores into its own block and the called one', 'bb c8000000 be 12100000 bf 25100000' + ' 89 1e b8 00000000 01 c1 e8 04000000 4b 75 ef f4' + ' 89 1f 81 c2 00000000 c3', 0x8000],
    // loop: mov [0x1800],ebx (a data byte of the code page) | add eax,ebx | dec ebx | jnz loop | hlt
    ['a store to data on its page', 'bb c8000000 89 1d 00180000 01 d8 4b 75 f5 f4', 0x8000],
    // loop: call sub (the stack on the code page: the call and the return write it) | dec ebx | jnz loop | hlt;
    // sub: add eax,ebx | ret
    ['calls with the stack on its page', 'bb c8000000 e8 04000000 4b 75 f8 f4 01 d8 c3', 0x1900],
    // loop: mov ecx,0x100 | mov edi,0x1800 | xor eax,eax | rep stosb (256 bytes) onto its page (paused at slice ends) | dec ebx | jnz loop | hlt
    ['REP STOS onto its page', 'bb c8000000 b9 00010000 bf 00180000 31 c0 f3 aa 4b 75 ef f4', 0x8000],
  ];
  for (const [what, prog, sp] of cases) {
    for (const slice of [1e9, 37]) {
      const ref = countRun(prog, sp, false, 1, false, slice);
      assert.ok(ref.some((l) => l.startsWith('pmi at')), `${what}: the counters overflow`);
      assert.deepEqual(countRun(prog, sp, true, 1, true, slice), ref, `${what}, regions, eager, slice ${slice}`);
      assert.deepEqual(countRun(prog, sp, true, 8, true, slice), ref, `${what}, regions, slice ${slice}`);
      assert.deepEqual(countRun(prog, sp, true, 1, false, slice), ref, `${what}, single blocks, eager, slice ${slice}`);
    }
  }
});
