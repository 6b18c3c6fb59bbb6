import type { PmuConfig } from './pmu-config.js';
import {
  MSR_IA32_A_PMC0,
  MSR_IA32_FIXED_CTR0,
  MSR_IA32_FIXED_CTR_CTRL,
  MSR_IA32_PERFEVTSEL0,
  MSR_IA32_PERF_CAPABILITIES,
  MSR_IA32_PERF_GLOBAL_CTRL,
  MSR_IA32_PERF_GLOBAL_INUSE,
  MSR_IA32_PERF_GLOBAL_OVF_CTRL,
  MSR_IA32_PERF_GLOBAL_STATUS,
  MSR_IA32_PERF_GLOBAL_STATUS_SET,
  MSR_IA32_PMC0,
} from './pmu-msr.js';

/**
 * Every PMU MSR that exists (RDMSR does not #GP) under a configuration, ascending. `state` limits
 * the list to the MSRs that hold state worth saving (counters, selects, controls, status): what a
 * snapshot or KVM_GET_MSRS/KVM_SET_MSRS round trip needs. Note GLOBAL_STATUS is read-only to the
 * guest, so restoring it needs the VMM path (VirtualPmu.restoreState, or a host-initiated KVM write).
 */
export function pmuMsrIndices(c: PmuConfig, state = false): number[] {
  const v = c.version;
  if (v === 0) return [];
  const out: number[] = [];
  for (let i = 0; i < c.gpCounters; i++) out.push(MSR_IA32_PMC0 + i);
  for (let i = 0; i < c.gpCounters; i++) out.push(MSR_IA32_PERFEVTSEL0 + i);
  if (v >= 2) for (let i = 0; i < c.fixedCounters; i++) out.push(MSR_IA32_FIXED_CTR0 + i);
  if (!state) out.push(MSR_IA32_PERF_CAPABILITIES);
  if (v >= 2) out.push(MSR_IA32_FIXED_CTR_CTRL, MSR_IA32_PERF_GLOBAL_STATUS, MSR_IA32_PERF_GLOBAL_CTRL);
  if (!state) {
    if (v >= 2) out.push(MSR_IA32_PERF_GLOBAL_OVF_CTRL);
    if (v >= 4) out.push(MSR_IA32_PERF_GLOBAL_STATUS_SET, MSR_IA32_PERF_GLOBAL_INUSE);
    if (c.fullWidthWrites) for (let i = 0; i < c.gpCounters; i++) out.push(MSR_IA32_A_PMC0 + i);
  }
  return out.sort((a, b) => a - b);
}
