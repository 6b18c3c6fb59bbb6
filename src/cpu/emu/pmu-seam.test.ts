import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, makeCpu } from './cpu-harness.test-util.js';
import type { EmuPmuHook } from './cpu.js';
import type { MsrValue } from './chips/chip-types.js';

class FakePmu implements EmuPmuHook {
  active = true;
  plain = [0, 0];
  branches = [0, 0];
  budget = Number.MAX_SAFE_INTEGER;
  calls = 0;
  countBlock(plain: number, branches: number, cpl: number): void {
    this.calls++;
    this.plain[cpl === 3 ? 1 : 0]! += plain;
    this.branches[cpl === 3 ? 1 : 0]! += branches;
    this.budget -= plain + branches;
  }
  instructionsUntilOverflow(_cpl: number): number {
    return Math.max(1, this.budget);
  }
  isPmuMsr(index: number): boolean {
    return index === 0xc1;
  }
  readMsr(_index: number, out: MsrValue): boolean {
    out.lo = this.plain[0]!;
    out.hi = 0;
    return true;
  }
  writeMsr(): boolean {
    return true;
  }
  rdpmc(_ecx: number, _cpl: number, _pce: boolean, out: MsrValue): boolean {
    out.lo = 77;
    out.hi = 0;
    return true;
  }
}

test('PMU seam: instructions and branches retired per block; REP retires once; a fault does not retire', () => {
  const t = makeCpu();
  const pmu = new FakePmu();
  t.cpu.pmu = pmu;
  t.cpu.setFlat32();
  // mov ecx,100; l: dec ecx; jnz l; mov ecx,10000 (pauses every 4096); mov edi,0x10000; rep stosb; rdpmc; hlt
  load(t.mem, 0x1000, 'b9 64000000 49 75 fd b9 10270000 bf 00000100 f3 aa 31 c9 0f 33 f4');
  t.cpu.rip = 0x1000;
  assert.equal(t.cpu.runUntilHalt(100000), 'hlt');
  const total = 1 + 100 * 2 + 1 + 1 + 1 + 1 + 1 + 1;
  assert.equal(t.cpu.instructions, total);
  assert.equal(pmu.plain[0]! + pmu.branches[0]!, total);
  assert.equal(pmu.branches[0], 100);
  assert.equal(t.cpu.gpr[2 * 0], 77, 'RDPMC reads the PMU');
  assert.equal(t.cpu.branchesRetired[0], 100);
});

test('PMU seam: blocks stop at the overflow budget', () => {
  const t = makeCpu();
  const pmu = new FakePmu();
  pmu.budget = 7;
  t.cpu.pmu = pmu;
  t.cpu.setFlat32();
  load(t.mem, 0x1000, '90 90 90 90 90 90 90 90 90 90 90 90 f4');
  t.cpu.rip = 0x1000;
  t.cpu.runUntilHalt(1000);
  assert.equal(pmu.plain[0], 13);
  assert.ok(pmu.calls >= 2, 'the 13-instruction block was split at the budget');
});
