import { readInputFile } from './input-file.js';
import { VmmError, EXIT } from '../util/errors.js';
import type { PmuConfig, PmuEventFilter } from '../pmu/index.js';
import type { BackendName, Vm } from '../cpu/vm.js';
import type { AccelChoice, PmuChoice, RunConfig } from './config.js';

export class BackendError extends VmmError {}

/** What the host's /dev/kvm offers, as far as choosing a backend needs. */
export interface KvmAvailability {
  readonly usable: boolean;
  /** Why KVM cannot be used, or a caveat when it can (e.g. paravirtual). */
  readonly reason: string | undefined;
  /** kvm_pvm: ring-0 guest code runs in KVM's software emulator (~3 MIPS). */
  readonly paravirtual: boolean;
  /** Why KVM cannot give the guest a PMU, or undefined when it can. */
  readonly noPmuReason: string | undefined;
}

export async function kvmAvailability(): Promise<KvmAvailability> {
  const { probeKvmHost } = await import('../cpu/kvm/host-probe.js');
  const p = probeKvmHost();
  const noPmuReason = p.pmu.kind === 'none' ? p.pmu.reason ?? 'no guest PMU' : undefined;
  if (!p.present || !p.permitted || p.error) return { usable: false, reason: p.error ?? 'KVM is not usable', paravirtual: false, noPmuReason };
  return { usable: true, reason: undefined, paravirtual: p.pvm, noPmuReason };
}

/**
 * `auto` prefers KVM where it is hardware-backed, and the emulator where KVM is absent,
 * not permitted, or paravirtual (its ring-0 emulation is slower than tsvmm's own).
 */
export async function chooseBackend(accel: AccelChoice, pmu: PmuChoice = 'auto'): Promise<{ backend: BackendName; reason: string }> {
  if (accel === 'emu') return { backend: 'emu', reason: 'requested with --accel emu' };
  const kvm = await kvmAvailability();
  if (accel === 'kvm') {
    if (!kvm.usable) throw new BackendError('no-kvm', `--accel kvm: ${kvm.reason ?? 'KVM is not usable'} (or use --accel emu)`, { exitCode: EXIT.NO_BACKEND });
    if (pmu === 'on' && kvm.noPmuReason) {
      throw new BackendError('no-kvm-pmu', `--accel kvm --pmu on: this host's KVM cannot give the guest a PMU (${kvm.noPmuReason}); use --accel emu for tsvmm's emulated PMU`, { exitCode: EXIT.NO_BACKEND });
    }
    return { backend: 'kvm', reason: 'requested with --accel kvm' };
  }
  if (!kvm.usable) return { backend: 'emu', reason: `auto: KVM not usable (${kvm.reason}), using the emulator` };
  if (pmu === 'on' && kvm.noPmuReason) return { backend: 'emu', reason: `auto: a PMU was asked for and this host's KVM has none (${kvm.noPmuReason}); the emulator's PMU is exact` };
  if (kvm.paravirtual) {
    return { backend: 'emu', reason: 'auto: /dev/kvm is paravirtual (kvm_pvm) and runs guest ring-0 code in software at ~3 MIPS; the emulator is faster' };
  }
  return { backend: 'kvm', reason: 'auto: hardware-backed KVM is available' };
}

export async function createBackendVm(backend: BackendName, config: RunConfig): Promise<Vm> {
  const modelApi = config.cpuModel === undefined && config.cpuModelManifest === undefined ? undefined : await import('./vm-manifest.js');
  const model = config.cpuModelManifest ?? modelApi?.loadCpuModel(config.cpuModel!);
  const modelSource = config.cpuModel ?? "(the saved VM's feature set)";
  if (model !== undefined) {
    if (Object.keys(config.pmuShape).length > 0 || config.pmuFilter !== undefined) {
      throw new BackendError('cpu-model', `--cpu-model ${modelSource}: the model sets the PMU; leave out --pmu-version, --pmu-counters, --pmu-fixed and --pmu-filter`, { exitCode: EXIT.USAGE });
    }
    if (model.pmu.version > 0 && config.pmu === 'off') throw new BackendError('cpu-model', `--cpu-model ${modelSource}: the model has a PMU (version ${model.pmu.version}); leave out --pmu off`, { exitCode: EXIT.USAGE });
  }
  const modelFilter: PmuEventFilter | null = model?.pmu.filter ?? null;
  if (backend === 'kvm') {
    if (config.la57 === true) throw new BackendError('la57', '--la57 is an emulator option (KVM gives the guest LA57 when the host has it): use --accel emu', { exitCode: EXIT.USAGE });
    const { createKvmVm, setKvmPmuEventFilter } = await import('../cpu/kvm/kvm-vm.js');
    const { toKvmFilterFields } = await import('../pmu/index.js');
    const filter = model !== undefined ? modelFilter : config.pmuFilter === undefined ? null : await loadFilter(config.pmuFilter);
    const shared = (config.vhostUserBlks?.length ?? 0) > 0 ? await import('./shared-ram.js') : undefined;
    const vm = createKvmVm({ memBytes: config.memBytes, cpus: config.cpus, pmu: config.pmu, ...(config.eventChannels !== undefined ? { eventChannels: config.eventChannels } : {}), ...(shared !== undefined ? { ramAllocator: shared.allocateSharedRam } : {}) });
    try {
      if (filter) setKvmPmuEventFilter(vm, toKvmFilterFields(filter));
      if (model !== undefined) modelApi!.applyCpuModel(vm, model, modelSource, filter);
    } catch (e) {
      vm.destroy();
      throw e;
    }
    return vm;
  }
  const { createEmuVm } = await import('../cpu/emu/emu-vm.js');
  const pmu = model !== undefined ? await emuPmuOfModel(model, modelSource) : await emuPmu(config);
  const sharedRam = (config.vhostUserBlks?.length ?? 0) > 0 ? await import('./shared-ram.js') : undefined;
  const vm = createEmuVm({
    memBytes: config.memBytes,
    cpus: config.cpus,
    deterministic: config.deterministic,
    // 5-level paging when asked for, or when a CPU model (a snapshot's feature set) has it.
    ...(config.la57 === true || (model !== undefined && modelHasLa57(model)) ? { la57: true } : {}),
    ...(pmu !== undefined ? { pmu } : {}),
    ...(sharedRam !== undefined ? { ramAllocator: (size: number, name: string) => sharedRam.allocateSharedRam(size, name).bytes } : {}),
  });
  try {
    if (model !== undefined) modelApi!.applyCpuModel(vm, model, modelSource, modelFilter, await emuLargestPmu(modelFilter));
  } catch (e) {
    vm.destroy();
    throw e;
  }
  return vm;
}

/** The largest PMU the emulator models (what it can give a CPU model): version 5, 8 + 3 counters of 48 bits. */
async function emuLargestPmu(filter: PmuEventFilter | null): Promise<import('../features/manifest.js').PmuFeatures> {
  const { UNMODELLED_EVENTS_MASK } = await import('../pmu/index.js');
  return { version: 5, gpCounters: 8, gpCounterWidth: 48, fixedCounters: 3, fixedCounterWidth: 48, eventsUnavailable: UNMODELLED_EVENTS_MASK, filter };
}

/** The emulator's PMU shaped as a CPU model says (its counters share one width, so the model's two must agree). */
async function emuPmuOfModel(model: import('../features/manifest.js').FeatureManifest, source: string): Promise<{ config: PmuConfig; filter: PmuEventFilter | null } | undefined> {
  const p = model.pmu;
  if (p.version === 0) return undefined;
  if (p.version >= 2 && p.fixedCounters > 0 && p.fixedCounterWidth !== p.gpCounterWidth) {
    throw new BackendError('cpu-model', `--cpu-model ${source}: this host cannot give pmu.fixedCounterWidth ${p.fixedCounterWidth} with pmu.gpCounterWidth ${p.gpCounterWidth} (the emulator's counters share one width)`, { exitCode: EXIT.NO_BACKEND });
  }
  const { resolvePmuConfig } = await import('../pmu/index.js');
  const a = model.cpuid.find((v) => v.leaf === 0xa && v.subleaf === 0);
  // Beyond the emulator's PMU: build the largest one, and applyCpuModel refuses by name.
  if (p.version > 5 || p.gpCounters > 8 || p.fixedCounters > 3 || p.gpCounterWidth > 48) return { config: resolvePmuConfig({ version: 5 }), filter: p.filter };
  const config = resolvePmuConfig(
    {
      version: p.version,
      gpCounters: p.gpCounters,
      ...(p.version >= 2 ? { fixedCounters: p.fixedCounters, anyThreadDeprecated: (((a?.edx ?? 0) >>> 15) & 1) === 1 } : {}),
      counterWidth: p.gpCounterWidth,
      eventsUnavailable: p.eventsUnavailable & 0x7f,
    },
    `--cpu-model ${source}: pmu`,
  );
  return { config, filter: p.filter };
}

/** The emulator always offers its exact PMU: 'on' and 'auto' give one of the requested shape (and filter), 'off' none. */
async function emuPmu(config: RunConfig): Promise<{ config: PmuConfig; filter: PmuEventFilter | null } | undefined> {
  if (config.pmu === 'off') return undefined;
  const { resolvePmuConfig } = await import('../pmu/index.js');
  const pmuConfig = resolvePmuConfig({ ...config.pmuShape });
  return { config: pmuConfig, filter: config.pmuFilter === undefined ? null : await loadFilter(config.pmuFilter) };
}

export async function loadFilter(path: string): Promise<PmuEventFilter> {
  const { loadPmuFilterJson } = await import('../pmu/index.js');
  const text = new TextDecoder().decode(readInputFile(path, '--pmu-filter', { bytes: 1024 * 1024, why: 'an event filter needs' }, EXIT.USAGE));
  return loadPmuFilterJson(text, path);
}

/** CPUID.(EAX=7,ECX=0):ECX[16] of a feature manifest. */
function modelHasLa57(model: import('../features/manifest.js').FeatureManifest): boolean {
  const l7 = model.cpuid.find((v) => v.leaf === 7 && v.subleaf === 0);
  return l7 !== undefined && (l7.ecx & (1 << 16)) !== 0;
}
