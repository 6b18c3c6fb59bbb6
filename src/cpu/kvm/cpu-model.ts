/**
 * The CPU model policy of the KVM backend: which CPUID features a guest sees, starting
 * from what KVM supports (KVM_GET_SUPPORTED_CPUID) and removing what the chosen model
 * leaves out and what this host cannot run. Feature names follow Intel SDM Vol. 2A
 * (CPUID) and the Linux /proc/cpuinfo spelling.
 */
import type { CpuidEntry } from '../../sys/kvm-structs.js';

export type CpuidReg = 'eax' | 'ebx' | 'ecx' | 'edx';

export interface CpuFeatureBit {
  readonly name: string;
  readonly leaf: number;
  readonly subleaf: number;
  readonly reg: CpuidReg;
  readonly bit: number;
}

const b = (name: string, leaf: number, subleaf: number, reg: CpuidReg, bit: number): CpuFeatureBit => ({ name, leaf, subleaf, reg, bit });

/** The features tsvmm names (others pass through unnamed under 'host'). */
export const CPU_FEATURES: readonly CpuFeatureBit[] = [
  // CPUID.01H:EDX
  ...(['fpu', 'vme', 'de', 'pse', 'tsc', 'msr', 'pae', 'mce', 'cx8', 'apic', '', 'sep', 'mtrr', 'pge', 'mca', 'cmov', 'pat', 'pse36', '', 'clflush', '', '', 'acpi', 'mmx', 'fxsr', 'sse', 'sse2', 'ss', 'ht'] as const)
    .map((n, i) => (n ? b(n, 1, 0, 'edx', i) : undefined))
    .filter((x): x is CpuFeatureBit => x !== undefined),
  // CPUID.01H:ECX
  b('sse3', 1, 0, 'ecx', 0),
  b('pclmulqdq', 1, 0, 'ecx', 1),
  b('monitor', 1, 0, 'ecx', 3),
  b('vmx', 1, 0, 'ecx', 5),
  b('ssse3', 1, 0, 'ecx', 9),
  b('fma', 1, 0, 'ecx', 12),
  b('cx16', 1, 0, 'ecx', 13),
  b('pdcm', 1, 0, 'ecx', 15),
  b('pcid', 1, 0, 'ecx', 17),
  b('sse4_1', 1, 0, 'ecx', 19),
  b('sse4_2', 1, 0, 'ecx', 20),
  b('x2apic', 1, 0, 'ecx', 21),
  b('movbe', 1, 0, 'ecx', 22),
  b('popcnt', 1, 0, 'ecx', 23),
  b('tsc_deadline_timer', 1, 0, 'ecx', 24),
  b('aes', 1, 0, 'ecx', 25),
  b('xsave', 1, 0, 'ecx', 26),
  b('osxsave', 1, 0, 'ecx', 27),
  b('avx', 1, 0, 'ecx', 28),
  b('f16c', 1, 0, 'ecx', 29),
  b('rdrand', 1, 0, 'ecx', 30),
  b('hypervisor', 1, 0, 'ecx', 31),
  // CPUID.(EAX=07H,ECX=0)
  b('fsgsbase', 7, 0, 'ebx', 0),
  b('bmi1', 7, 0, 'ebx', 3),
  b('avx2', 7, 0, 'ebx', 5),
  b('smep', 7, 0, 'ebx', 7),
  b('bmi2', 7, 0, 'ebx', 8),
  b('erms', 7, 0, 'ebx', 9),
  b('invpcid', 7, 0, 'ebx', 10),
  b('avx512f', 7, 0, 'ebx', 16),
  b('rdseed', 7, 0, 'ebx', 18),
  b('adx', 7, 0, 'ebx', 19),
  b('smap', 7, 0, 'ebx', 20),
  b('clflushopt', 7, 0, 'ebx', 23),
  b('clwb', 7, 0, 'ebx', 24),
  b('sha_ni', 7, 0, 'ebx', 29),
  b('umip', 7, 0, 'ecx', 2),
  b('pku', 7, 0, 'ecx', 3),
  b('vaes', 7, 0, 'ecx', 9),
  b('vpclmulqdq', 7, 0, 'ecx', 10),
  b('rdpid', 7, 0, 'ecx', 22),
  b('fsrm', 7, 0, 'edx', 4),
  b('md_clear', 7, 0, 'edx', 10),
  b('arch_capabilities', 7, 0, 'edx', 29),
  // CPUID.80000001H
  b('lahf_lm', 0x8000_0001, 0, 'ecx', 0),
  b('svm', 0x8000_0001, 0, 'ecx', 2),
  b('abm', 0x8000_0001, 0, 'ecx', 5),
  b('sse4a', 0x8000_0001, 0, 'ecx', 6),
  b('prefetchw', 0x8000_0001, 0, 'ecx', 8),
  b('perfctr_core', 0x8000_0001, 0, 'ecx', 23),
  b('syscall', 0x8000_0001, 0, 'edx', 11),
  b('nx', 0x8000_0001, 0, 'edx', 20),
  b('pdpe1gb', 0x8000_0001, 0, 'edx', 26),
  b('rdtscp', 0x8000_0001, 0, 'edx', 27),
  b('lm', 0x8000_0001, 0, 'edx', 29),
];

export type CpuModelName = 'host' | 'baseline';
export const CPU_MODELS: readonly CpuModelName[] = ['host', 'baseline'];

/** x86-64-v2 plus the system features a PC guest needs: a portable, migration-friendly model. */
const BASELINE = new Set([
  'fpu', 'vme', 'de', 'pse', 'tsc', 'msr', 'pae', 'mce', 'cx8', 'apic', 'sep', 'mtrr', 'pge', 'mca', 'cmov', 'pat', 'pse36', 'clflush', 'mmx', 'fxsr', 'sse', 'sse2',
  'sse3', 'ssse3', 'cx16', 'sse4_1', 'sse4_2', 'x2apic', 'popcnt', 'tsc_deadline_timer', 'hypervisor',
  'lahf_lm', 'syscall', 'nx', 'lm',
]);

/** Features a paravirtual kvm_pvm host cannot run in guest ring 0 (its instruction emulator stops with KVM_EXIT_INTERNAL_ERROR). */
const PVM_UNSAFE: Readonly<Record<string, string>> = {
  cx16: 'cmpxchg16b stops ring-0 guests with an emulation failure on kvm_pvm',
  xsave: 'xrstor stops ring-0 guests with an emulation failure on kvm_pvm',
  osxsave: 'follows xsave',
  avx: 'needs xsave',
  avx2: 'needs xsave',
  avx512f: 'needs xsave',
  fma: 'needs xsave',
  f16c: 'needs xsave',
  vaes: 'needs xsave',
  vpclmulqdq: 'needs xsave',
};

/** Features never given to a guest, whatever the model. */
const ALWAYS_HIDDEN: Readonly<Record<string, string>> = {
  vmx: 'nested virtualization is not offered',
  svm: 'nested virtualization is not offered',
  monitor: 'MONITOR/MWAIT are not virtualized',
};

export interface CpuPolicy {
  readonly model: CpuModelName;
  /** The host is kvm_pvm (see host-probe): hide what its emulator cannot run. */
  readonly pvm: boolean;
  /** Whether the guest gets a PMU (CPUID 0xA and PDCM stay only then). */
  readonly pmu: boolean;
}

export interface CpuFeatureState {
  readonly name: string;
  readonly exposed: boolean;
  /** Why a feature KVM supports is not exposed, or why it is missing. */
  readonly reason?: string;
}

function findEntry(entries: readonly CpuidEntry[], leaf: number, subleaf: number): CpuidEntry | undefined {
  return entries.find((e) => e.function === leaf && e.index === subleaf) ?? (subleaf === 0 ? entries.find((e) => e.function === leaf) : undefined);
}

function hiddenReason(f: CpuFeatureBit, p: CpuPolicy): string | undefined {
  const always = ALWAYS_HIDDEN[f.name];
  if (always) return always;
  if (p.model === 'baseline' && !BASELINE.has(f.name)) return `not in CPU model 'baseline'`;
  if (p.pvm && PVM_UNSAFE[f.name]) return PVM_UNSAFE[f.name];
  if (!p.pmu && (f.name === 'pdcm' || f.name === 'perfctr_core')) return 'the guest has no PMU';
  return undefined;
}

/**
 * The CPUID table for one vCPU: KVM's supported entries filtered by the policy, with
 * this vCPU's APIC id and the VM's CPU count filled in.
 */
export function guestCpuid(supported: readonly CpuidEntry[], policy: CpuPolicy, apicId: number, cpus: number): CpuidEntry[] {
  const out = supported.map((e) => ({ ...e }));
  for (const f of CPU_FEATURES) {
    if (hiddenReason(f, policy) === undefined) continue;
    const e = findEntry(out, f.leaf, f.subleaf);
    if (e) e[f.reg] = (e[f.reg] & ~(1 << f.bit)) >>> 0;
  }
  // Unnamed bits of the named leaves are dropped in 'baseline' so the model is exact.
  if (policy.model === 'baseline') {
    const named = new Map<string, number>();
    for (const f of CPU_FEATURES) {
      if (hiddenReason(f, policy) !== undefined) continue;
      const key = `${f.leaf}:${f.subleaf}:${f.reg}`;
      named.set(key, ((named.get(key) ?? 0) | (1 << f.bit)) >>> 0);
    }
    for (const [leaf, sub] of [[1, 0], [7, 0], [0x8000_0001, 0]] as const) {
      const e = findEntry(out, leaf, sub);
      if (!e) continue;
      for (const reg of ['ebx', 'ecx', 'edx'] as const) {
        if (leaf === 1 && reg === 'ebx') continue;
        e[reg] = (e[reg] & (named.get(`${leaf}:${sub}:${reg}`) ?? 0)) >>> 0;
      }
    }
  }
  for (const e of out) {
    if (e.function === 1) {
      // EBX[31:24] initial APIC id, EBX[23:16] logical processors per package; EDX.HTT when > 1.
      e.ebx = ((e.ebx & 0x0000_ffff) | ((Math.min(cpus, 255) & 0xff) << 16) | ((apicId & 0xff) << 24)) >>> 0;
      if (cpus > 1) e.edx = (e.edx | (1 << 28)) >>> 0;
      // OSXSAVE mirrors CR4.OSXSAVE and is set by KVM itself.
      e.ecx = (e.ecx & ~(1 << 27)) >>> 0;
    } else if (e.function === 0xb || e.function === 0x1f) {
      e.edx = apicId >>> 0;
    } else if (e.function === 0xa && !policy.pmu) {
      e.eax = e.ebx = e.ecx = e.edx = 0;
    } else if (e.function === 0xd && policy.pvm) {
      // No XSAVE: no XSAVE state components either.
      e.eax = e.ebx = e.ecx = e.edx = 0;
    }
  }
  return out;
}

/** Every named feature with whether the guest sees it and, if not, why. */
export function cpuFeatureStates(supported: readonly CpuidEntry[], policy: CpuPolicy): CpuFeatureState[] {
  return CPU_FEATURES.map((f) => {
    const e = findEntry(supported, f.leaf, f.subleaf);
    const hostHas = e !== undefined && ((e[f.reg] >>> f.bit) & 1) === 1;
    if (f.name === 'osxsave') {
      const xsave = findEntry(supported, 1, 0);
      const ok = xsave !== undefined && ((xsave.ecx >>> 26) & 1) === 1 && hiddenReason(b('xsave', 1, 0, 'ecx', 26), policy) === undefined;
      return ok ? { name: f.name, exposed: true } : { name: f.name, exposed: false, reason: 'follows xsave (set when the guest enables CR4.OSXSAVE)' };
    }
    if (!hostHas) return { name: f.name, exposed: false, reason: 'not supported by this host\'s KVM' };
    const why = hiddenReason(f, policy);
    return why === undefined ? { name: f.name, exposed: true } : { name: f.name, exposed: false, reason: why };
  });
}
