/**
 * Read-only reports about a VM, shared by the controller's actions, `tsvmm caps` and the API's
 * GET /features and GET /stats: each guest-visible feature with its mode, and the run's counters.
 */
import type { FeatureStatus, Vm, VmStop } from '../cpu/vm.js';
import type { RunConfig } from './config.js';
import { chooseBackend, createBackendVm } from './backends.js';
import type { BuiltVm } from './vm-builder.js';
import type { FeatureReport, PmuCounts, VmState, VmStatsReport } from './controller-types.js';

function featureList(list: readonly FeatureStatus[]): FeatureReport['features'] {
  return list.map((f) => ({ name: f.name, mode: f.mode ?? null, ...(f.detail !== undefined ? { detail: f.detail } : {}), ...(f.reason !== undefined ? { reason: f.reason } : {}) }));
}

/** The features of a built VM. */
export function builtFeatures(built: BuiltVm): FeatureReport {
  return { backend: built.backend, backendReason: built.backendReason, features: featureList(built.vm.features()) };
}

/** The features a VM of `config` would have on this host (a VM is created to ask, then destroyed). */
export async function configFeatures(config: RunConfig): Promise<FeatureReport> {
  const choice = await chooseBackend(config.accel, config.pmu);
  const vm = await createBackendVm(choice.backend, config);
  try {
    return { backend: choice.backend, backendReason: choice.reason, features: featureList(vm.features()) };
  } finally {
    vm.destroy();
  }
}

interface PmuHolder {
  readonly pmus?: readonly { readonly config: { readonly version: number }; saveState(): { gpCounters: string[]; fixedCounters: string[] } }[];
}

/** The counters of a VM (call between slices: on the main thread, which is where actions run). */
export function vmStats(vm: Vm | undefined, state: VmState, serialBytesOut: number, uptimeMs: number, stop: VmStop | undefined): VmStatsReport {
  const exits: Record<string, number> = {};
  let instructions: number | null = null;
  let pmu: PmuCounts[] | null = null;
  if (vm !== undefined) {
    for (const [k, v] of Object.entries(vm.exitCounts())) {
      if (k === 'instructions') instructions = v;
      else exits[k] = v;
    }
    const pmus = (vm as PmuHolder).pmus;
    if (pmus !== undefined && pmus.length > 0) {
      pmu = pmus.map((p, vcpu) => {
        const s = p.saveState();
        return { vcpu, version: p.config.version, gp: s.gpCounters, fixed: s.fixedCounters };
      });
    }
  }
  return { state, backend: vm?.backend ?? null, exits, instructions, pmu, serialBytesOut, uptimeMs, stop: stop ?? null };
}
