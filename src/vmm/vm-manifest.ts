/**
 * Feature manifests of real VMs (src/features/manifest.ts): what a VM of a configuration sees on this
 * host (`tsvmm caps --json`), what a running VM sees (snapshots and migration start with it), and
 * applying a CPU model to a new VM (`--cpu-model FILE`), refused by name where the host falls short.
 */
import { hostname } from 'node:os';
import type { BackendName, Vm } from '../cpu/vm.js';
import { canonicalCpuid, type CpuidValue } from '../features/cpuid-table.js';
import { MANIFEST_FORMAT, MANIFEST_VERSION, ManifestError, loadManifest, type DeviceFeature, type FeatureManifest, type PmuFeatures, type PmuFilterFeatures } from '../features/manifest.js';
import { cannotGive } from '../features/manifest-compare.js';
import type { PmuEventFilter } from '../pmu/index.js';
import { EXIT } from '../util/errors.js';
import type { RunConfig } from './config.js';
import { readInputFile } from './input-file.js';
import { BackendError } from './backends.js';
import type { AssembledVm } from './vm-builder.js';

/** The PMU a CPUID table describes (leaf 0AH), with the event filter the VM runs under. */
export function pmuFromCpuid(table: readonly CpuidValue[], filter: PmuEventFilter | null): PmuFeatures {
  const maxBasic = table.find((v) => v.leaf === 0 && v.subleaf === 0)?.eax ?? 0;
  const a = maxBasic >= 0xa ? table.find((v) => v.leaf === 0xa && v.subleaf === 0) : undefined;
  const eax = a?.eax ?? 0;
  const version = eax & 0xff;
  const vectorLength = (eax >>> 24) & 0xff;
  const edx = a?.edx ?? 0;
  return {
    version,
    gpCounters: version ? (eax >>> 8) & 0xff : 0,
    gpCounterWidth: version ? (eax >>> 16) & 0xff : 0,
    fixedCounters: version >= 2 ? edx & 0x1f : 0,
    fixedCounterWidth: version >= 2 ? (edx >>> 5) & 0xff : 0,
    eventsUnavailable: version ? ((a?.ebx ?? 0) & (vectorLength >= 32 ? 0xffff_ffff : (1 << vectorLength) - 1)) >>> 0 : 0,
    filter: filter === null ? null : filterFeatures(filter),
  };
}

function filterFeatures(f: PmuEventFilter): PmuFilterFeatures {
  return { action: f.action, masked: f.masked, fixedCounterBitmap: f.fixedCounterBitmap >>> 0, entries: f.entries.map((e) => ({ eventSelect: e.eventSelect, umaskMask: e.umaskMask, umaskMatch: e.umaskMatch, exclude: e.exclude })) };
}

export interface ManifestParts {
  readonly backend: BackendName;
  /** What the VMM put on the buses (AssembledVm.platformDevices). */
  readonly platformDevices: readonly DeviceFeature[];
  readonly filter: PmuEventFilter | null;
  readonly cpus: number;
  readonly memBytes: number;
  /**
   * The MSR list of the CPU model the VM runs under (`--cpu-model`, a snapshot's feature set): the VM
   * promises those of them it has, not every MSR its engine implements (MSRs are not filtered; see
   * src/features/README.md), so two engines under one model describe the same VM.
   */
  readonly modelMsrs?: readonly number[];
}

/** The manifest of a VM as it is: its CPUID, MSRs, PMU, devices and RAM. */
export function vmManifest(vm: Vm, parts: ManifestParts, kind: 'host' | 'vm' = 'vm'): FeatureManifest {
  const cpuid = canonicalCpuid(vm.cpuidTable(0));
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    origin: { kind, backend: parts.backend, hostname: hostname(), created: new Date().toISOString() },
    machine: { cpus: parts.cpus, memBytes: parts.memBytes },
    cpuid,
    msrs: modelMsrs(vm.msrIndices(), parts.modelMsrs),
    pmu: pmuFromCpuid(cpuid, parts.filter),
    devices: [...parts.platformDevices].sort((a, b) => (a.bus === b.bus ? a.base - b.base : a.bus === 'pio' ? -1 : 1)),
    memory: vm.memory.regions.map((r) => ({ name: r.name, gpa: r.gpa, size: r.size })),
  };
}

function modelMsrs(has: readonly number[], model: readonly number[] | undefined): number[] {
  if (model === undefined) return [...has];
  const set = new Set(has);
  return model.filter((m) => set.has(m));
}

/** The manifest of a built (or assembled) VM of `config`: what snapshots and migration streams start with. */
export async function builtVmManifest(built: AssembledVm, config: RunConfig): Promise<FeatureManifest> {
  const { loadFilter } = await import('./backends.js');
  const model = config.cpuModelManifest ?? (config.cpuModel !== undefined ? loadCpuModel(config.cpuModel) : undefined);
  const filter = model !== undefined ? model.pmu.filter : config.pmuFilter === undefined ? null : await loadFilter(config.pmuFilter);
  return vmManifest(built.vm, { backend: built.backend, platformDevices: built.platformDevices, filter, cpus: config.cpus, memBytes: config.memBytes, ...(model !== undefined ? { modelMsrs: model.msrs } : {}) });
}

/**
 * What this host can give a VM of `config` (`tsvmm caps --json`): a VM is assembled to ask, then
 * destroyed. On the emulator the PMU is the largest it models (version 5, 8 + 3 counters, 48 bits)
 * unless the configuration shapes or switches it off.
 */
export async function hostManifest(config: RunConfig): Promise<FeatureManifest> {
  const { assembleVm } = await import('./vm-builder.js');
  const { chooseBackend, loadFilter } = await import('./backends.js');
  const choice = await chooseBackend(config.accel, config.pmu);
  const shaped = Object.keys(config.pmuShape).length > 0;
  const c: RunConfig = choice.backend === 'emu' && !shaped && config.pmu !== 'off' ? { ...config, accel: 'emu', pmuShape: { version: 5 } } : { ...config, accel: choice.backend };
  const a = await assembleVm(c, { write() {} });
  try {
    const filter = config.pmuFilter === undefined ? null : await loadFilter(config.pmuFilter);
    return vmManifest(a.vm, { backend: a.backend, platformDevices: a.platformDevices, filter, cpus: config.cpus, memBytes: config.memBytes }, 'host');
  } finally {
    a.devices.destroy();
    a.vm.destroy();
  }
}

/** Reads a `--cpu-model` file (a manifest from `tsvmm caps --json` or `--baseline`); one-line errors name the field. */
export function loadCpuModel(path: string): FeatureManifest {
  const text = new TextDecoder().decode(readInputFile(path, '--cpu-model', { bytes: 4 * 1024 * 1024, why: 'a feature manifest needs' }, EXIT.USAGE));
  try {
    return loadManifest(text, `--cpu-model ${path}`);
  } catch (e) {
    if (e instanceof ManifestError) throw new BackendError('cpu-model', e.message, { cause: e, exitCode: EXIT.USAGE });
    throw e;
  }
}

/**
 * Gives a new VM the CPU features of `model` (before its first run), after checking that this host
 * can: every feature bit, limit and identity the model asks for (cannotGive). `hostPmu` is the
 * largest PMU the backend could give (the emulator's model is shaped to the model's already).
 */
export function applyCpuModel(vm: Vm, model: FeatureManifest, source: string, filter: PmuEventFilter | null, hostPmu?: PmuFeatures): void {
  const cpuid = canonicalCpuid(vm.cpuidTable(0));
  const host: FeatureManifest = { ...model, cpuid, msrs: vm.msrIndices(), pmu: hostPmu ?? pmuFromCpuid(cpuid, filter) };
  const missing = cannotGive(model, host);
  if (missing.length) {
    throw new BackendError('cpu-model', `--cpu-model ${source}: this host cannot give ${missing.join(', ')} (make the model a baseline that includes this host: tsvmm caps --baseline)`, { exitCode: EXIT.NO_BACKEND });
  }
  vm.setCpuidTable(model.cpuid);
}
