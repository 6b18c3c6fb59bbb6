/**
 * What this host's KVM offers, as a plain object the CLI prints (`tsvmm caps`) and
 * the backend consults (kvm_pvm, PMU). Never throws: problems become fields.
 */
import { existsSync, readFileSync } from 'node:fs';
import { KVM_API_VERSION, KVM_CAP, KVM_CHECK_EXTENSION, KVM_GET_API_VERSION, KVM_GET_SUPPORTED_CPUID, type KvmCapName } from '../../sys/kvm-abi.js';
import { allocCpuid2, decodeCpuid2 } from '../../sys/kvm-structs.js';
import { cpuFeatureStates, type CpuFeatureState } from './cpu-model.js';
import { SysError, closeFd, ioctlIntRaw, ioctlPtrRaw, O_CLOEXEC, O_RDWR, openFile } from '../../sys/libc.js';

export const KVM_DEVICE = '/dev/kvm';

export type KvmPmuKind = 'mediated' | 'perf' | 'none';

export interface KvmHostPmu {
  /** /sys/module/kvm/parameters/enable_pmu (undefined if unreadable). */
  readonly enablePmu: boolean | undefined;
  /** KVM_CHECK_EXTENSION(KVM_CAP_PMU_CAPABILITY): bit 0 = KVM_PMU_CAP_DISABLE supported. */
  readonly capability: number;
  /** kvm_intel / kvm_amd enable_mediated_pmu = Y (Linux >= 7.0). */
  readonly mediated: boolean;
  /** 'mediated' (guest owns the counters), 'perf' (emulated by host perf events) or 'none'. */
  readonly kind: KvmPmuKind;
  /** Why there is no guest PMU, when kind is 'none'. */
  readonly reason?: string;
}

export interface KvmHostInfo {
  readonly device: string;
  readonly present: boolean;
  readonly permitted: boolean;
  /** One line saying why KVM cannot be used, when it cannot. */
  readonly error?: string;
  readonly apiVersion?: number;
  readonly capabilities: Readonly<Partial<Record<KvmCapName, number>>>;
  readonly maxVcpus?: number;
  readonly recommendedVcpus?: number;
  /** The vendor module loaded: kvm_intel, kvm_amd or kvm_pvm. */
  readonly modules: readonly string[];
  /** Paravirtual KVM: guest ring 3 runs natively, ring 0 is emulated by KVM in software. */
  readonly pvm: boolean;
  readonly pvmDetail?: string;
  /** Whether the local APIC is virtualized in hardware (APICv / AVIC). */
  readonly apicv: boolean;
  readonly pmu: KvmHostPmu;
  /** CPUID features a default VM (CPU model 'host') gets on this host, and why others are missing. */
  readonly cpuFeatures: readonly CpuFeatureState[];
}

function readParam(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}
const yes = (v: string | undefined): boolean => v === 'Y' || v === 'y' || v === '1';

export function isPvmHost(): boolean {
  return existsSync('/sys/module/kvm_pvm');
}

export function hostApicv(): boolean {
  return yes(readParam('/sys/module/kvm_intel/parameters/enable_apicv')) || yes(readParam('/sys/module/kvm_amd/parameters/avic'));
}

/** The host PMU situation from module parameters and (when given) the capability value. */
export function hostPmu(capability = 0): KvmHostPmu {
  const p = readParam('/sys/module/kvm/parameters/enable_pmu');
  const enablePmu = p === undefined ? undefined : yes(p);
  const mediated = yes(readParam('/sys/module/kvm_intel/parameters/enable_mediated_pmu')) || yes(readParam('/sys/module/kvm_amd/parameters/enable_mediated_pmu'));
  if (enablePmu === false) return { enablePmu, capability, mediated, kind: 'none', reason: 'host kvm.enable_pmu=N' };
  if (enablePmu === undefined) return { enablePmu, capability, mediated, kind: 'none', reason: 'host KVM does not report enable_pmu (no kvm module parameters)' };
  return { enablePmu, capability, mediated, kind: mediated ? 'mediated' : 'perf' };
}

/** The PMU a guest gets where KVM itself is unusable: none, whatever the module parameters say. */
function noKvmPmu(): KvmHostPmu {
  return { ...hostPmu(), kind: 'none', reason: 'KVM is unavailable' };
}

export function probeKvmHost(device = KVM_DEVICE): KvmHostInfo {
  const modules = ['kvm_intel', 'kvm_amd', 'kvm_pvm'].filter((m) => existsSync(`/sys/module/${m}`));
  const pvm = modules.includes('kvm_pvm');
  const base = {
    device,
    modules,
    pvm,
    ...(pvm ? { pvmDetail: 'paravirtual KVM (kvm_pvm): guest ring-3 code runs natively, ring-0 code is emulated by KVM in software (~3 MIPS)' } : {}),
    apicv: hostApicv(),
  };
  if (!existsSync(device)) {
    return { ...base, present: false, permitted: false, error: `${device} does not exist (KVM is not available: load kvm_intel or kvm_amd, or enable virtualization in the firmware)`, capabilities: {}, pmu: noKvmPmu(), cpuFeatures: [] };
  }
  let fd: number;
  try {
    fd = openFile(device, O_RDWR | O_CLOEXEC);
  } catch (e) {
    const msg = e instanceof SysError && (e.code === 'EACCES' || e.code === 'EPERM')
      ? `Cannot open ${device}: permission denied (run as root or add yourself to the kvm group)`
      : `Cannot open ${device}: ${e instanceof Error ? e.message : String(e)}`;
    return { ...base, present: true, permitted: false, error: msg, capabilities: {}, pmu: noKvmPmu(), cpuFeatures: [] };
  }
  try {
    const apiVersion = ioctlIntRaw(fd, KVM_GET_API_VERSION, 0);
    const capabilities: Partial<Record<KvmCapName, number>> = {};
    for (const [name, id] of Object.entries(KVM_CAP) as [KvmCapName, number][]) {
      const r = ioctlIntRaw(fd, KVM_CHECK_EXTENSION, id);
      capabilities[name] = r < 0 ? 0 : r;
    }
    const pmu = hostPmu(capabilities.PMU_CAPABILITY ?? 0);
    const cpuid = allocCpuid2(256);
    const cpuFeatures = ioctlPtrRaw(fd, KVM_GET_SUPPORTED_CPUID, cpuid) >= 0 ? cpuFeatureStates(decodeCpuid2(cpuid), { model: 'host', pvm, pmu: pmu.kind !== 'none' }) : [];
    const error = apiVersion !== KVM_API_VERSION ? `KVM API version ${apiVersion} is not the supported version ${KVM_API_VERSION}` : undefined;
    return {
      ...base,
      present: true,
      permitted: true,
      ...(error ? { error } : {}),
      apiVersion,
      capabilities,
      maxVcpus: capabilities.MAX_VCPUS || capabilities.NR_VCPUS || 4,
      recommendedVcpus: capabilities.NR_VCPUS || 4,
      pmu,
      cpuFeatures,
    };
  } finally {
    closeFd(fd);
  }
}
