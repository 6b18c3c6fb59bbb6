/**
 * EmuCpu merges the counts of consecutive blocks before giving them to an order-free PMU
 * (cpu.ts countPmu). With the real VirtualPmu, counter values, overflow status and the instruction
 * at which each PMI is raised must equal per-block counting (the same PMU behind a wrapper that
 * hides its order-freedom), including with an EDGE counter (never merged) and at slice boundaries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCpu, load } from './cpu-harness.test-util.js';
import type { EmuPmuHook } from './cpu.js';
import type { VirtualPmu } from '../../pmu/virtual-pmu.js';
import { loggingPmu, runSlicesClearingOverflows, writePmuMsr } from './pmu-slices.test-util.js';

// 0x1000: mov ecx,500 | 0x1005: add eax,ecx; test eax,1; jz 0x1012 | inc ebx | 0x1012: dec ecx; jnz 0x1005 | hlt
const PROG = 'b9 f4010000' + '01c8 a9 01000000 74 02' + 'ffc3' + 'ffc9 75 f1' + 'f4';

/** Per-block counting: forwards everything but `orderFree`, so the core never merges. */
function perBlock(p: VirtualPmu): EmuPmuHook {
  return {
    get active() {
      return p.active;
    },
    countBlock: (a, b, cpl) => p.countBlock(a, b, cpl),
    instructionsUntilOverflow: (cpl) => p.instructionsUntilOverflow(cpl),
    isPmuMsr: (i) => p.isPmuMsr(i),
    readMsr: (i, o) => p.readMsr(i, o),
    writeMsr: (i, lo, hi) => p.writeMsr(i, lo, hi),
    rdpmc: (e, cpl, pce, o) => p.rdpmc(e, cpl, pce, o),
  };
}

function runWith(merge: boolean, edge: boolean, slice: number): string[] {
  const { cpu, mem } = makeCpu();
  cpu.setFlat32();
  load(mem, 0x1000, PROG);
  cpu.rip = 0x1000;
  const log: string[] = [];
  const pmu = loggingPmu(cpu, log);
  const w = (msr: number, lo: number, hi = 0): void => writePmuMsr(pmu, msr, lo, hi);
  w(0x38d, 0xbbb); // fixed 0-2: OS|USR|PMI
  w(0x186, 0x5300c0); // PMC0: instructions, EN|INT|OS|USR
  w(0x187, 0x5300c4 | (edge ? 1 << 18 : 0)); // PMC1: branches (EDGE when asked)
  w(0x4c1, 0xffffff00, 0xffff); // PMC0 256 instructions before overflow
  w(0x309, 0xfffffe00, 0xffff); // fixed 0: 512 before overflow
  w(0x38f, 0x3, 0x7);
  cpu.pmu = merge ? pmu : perBlock(pmu);
  runSlicesClearingOverflows(cpu, pmu, slice, [0xc1, 0xc2, 0x309, 0x30a, 0x38e], log);
  log.push(`insns ${cpu.instructions}`);
  return log;
}

test('merged PMU counting equals per-block counting: values, status and PMI points', () => {
  for (const edge of [false, true]) {
    for (const slice of [1e9, 1000, 37]) {
      const merged = runWith(true, edge, slice);
      assert.deepEqual(merged, runWith(false, edge, slice), `edge ${edge} slice ${slice}`);
      assert.ok(merged.some((l) => l.startsWith('pmi at')), 'overflows raise PMIs');
    }
  }
});

test('merged counting is exact: 1 + 500 x 4.5 + 1 instructions retired', () => {
  const log = runWith(true, false, 1e9);
  // mov; 500 x (add, test, jz, dec, jnz) + 250 x inc; hlt
  const insns = 1 + 500 * 5 + 250 + 1;
  assert.ok(log.includes(`insns ${insns}`), log.join('\n'));
});
