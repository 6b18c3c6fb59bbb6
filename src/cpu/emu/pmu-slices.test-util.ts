/**
 * Test-only: running an EmuCpu with a VirtualPmu attached in slices, as a guest's PMI handler would see it, and
 * logging what the counters did, so that two runs (merged and per-block counting, compiled and interpreted) can
 * be compared line by line.
 */
import assert from 'node:assert/strict';
import type { EmuCpu } from './cpu.js';
import { VirtualPmu } from '../../pmu/virtual-pmu.js';
import { resolvePmuConfig } from '../../pmu/pmu-config.js';

/** A VirtualPmu of the default shape that logs each PMI with the instruction count it came at. */
export function loggingPmu(cpu: EmuCpu, log: string[]): VirtualPmu {
  return new VirtualPmu(resolvePmuConfig({}), { onPmi: () => log.push(`pmi at ${cpu.instructions}`), filter: null });
}

/** WRMSR to the PMU that must be accepted. */
export function writePmuMsr(pmu: VirtualPmu, msr: number, lo: number, hi = 0): void {
  assert.ok(pmu.writeMsr(msr, lo, hi), `wrmsr 0x${msr.toString(16)}`);
}

/**
 * Runs `cpu` in slices of `slice` instructions while they end on the budget; after each, logs a set overflow
 * status with the count and clears it (IA32_PERF_GLOBAL_OVF_CTRL). Then logs the MSRs `msrs`.
 */
export function runSlicesClearingOverflows(cpu: EmuCpu, pmu: VirtualPmu, slice: number, msrs: readonly number[], log: string[]): void {
  const v = { lo: 0, hi: 0 };
  for (let guard = 0; guard < 100000; guard++) {
    const r = cpu.run(slice);
    if (r !== 'budget') break;
    if (pmu.readMsr(0x38e, v) && v.lo !== 0) {
      log.push(`status ${v.lo.toString(16)} at ${cpu.instructions}`);
      writePmuMsr(pmu, 0x390, v.lo, v.hi);
    }
  }
  for (const msr of msrs) {
    pmu.readMsr(msr, v);
    log.push(`msr ${msr.toString(16)} = ${v.hi.toString(16)}:${v.lo.toString(16)}`);
  }
}
