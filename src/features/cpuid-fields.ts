/**
 * What each CPUID field means for a feature set, and its name. Every bit of a table falls under one
 * rule (documented in src/features/README.md), which says how a pool baseline combines the hosts'
 * values and whether a host can give a model's value:
 *
 * - flags: feature bits. Baseline: AND. A host gives a model when it has every bit the model has.
 * - max: a count or limit (highest leaf, address bits, counter width). Baseline: the minimum. A host
 *   gives a model when its value is at least the model's.
 * - unavailable: bits that say something is missing (CPUID.0AH:EBX). Baseline: OR. A host gives a
 *   model when everything it lacks is marked missing in the model too.
 * - equal: identity that must match (the vendor string, XSAVE component layouts). Baseline: refused
 *   when the hosts differ. A host gives a model only with the same value.
 * - value: descriptive data a VMM may present as it likes (signature, brand, caches, topology).
 *   Baseline: the first manifest's. Any host can give it.
 * - dynamic: per-vCPU or run-time bits (APIC ids, OSXSAVE): zero in manifests, never compared.
 * A diff between two manifests (migration) compares every bit except the dynamic ones.
 */
import { dynamicMask, type CpuidReg } from './cpuid-table.js';

export type FieldRule = 'flags' | 'max' | 'unavailable' | 'equal' | 'value' | 'dynamic';

export interface CpuidField {
  /** Bit range [lo, hi] of the register. */
  readonly lo: number;
  readonly hi: number;
  readonly rule: FieldRule;
  /** For max/equal/value fields: what the field is. Flag bits are named by flagName(). */
  readonly name?: string;
}

const f = (lo: number, hi: number, rule: FieldRule, name?: string): CpuidField => ({ lo, hi, rule, ...(name !== undefined ? { name } : {}) });
const FLAGS = [f(0, 31, 'flags')];

/** Names of feature bits (Linux /proc/cpuinfo spelling), keyed by `leaf:subleaf:reg`. */
const FLAG_NAMES: Readonly<Record<string, readonly (string | undefined)[]>> = {
  '1:0:edx': ['fpu', 'vme', 'de', 'pse', 'tsc', 'msr', 'pae', 'mce', 'cx8', 'apic', undefined, 'sep', 'mtrr', 'pge', 'mca', 'cmov', 'pat', 'pse36', 'pn', 'clflush', undefined, 'dts', 'acpi', 'mmx', 'fxsr', 'sse', 'sse2', 'ss', 'ht', 'tm', 'ia64', 'pbe'],
  '1:0:ecx': ['pni', 'pclmulqdq', 'dtes64', 'monitor', 'ds_cpl', 'vmx', 'smx', 'est', 'tm2', 'ssse3', 'cid', 'sdbg', 'fma', 'cx16', 'xtpr', 'pdcm', undefined, 'pcid', 'dca', 'sse4_1', 'sse4_2', 'x2apic', 'movbe', 'popcnt', 'tsc_deadline_timer', 'aes', 'xsave', 'osxsave', 'avx', 'f16c', 'rdrand', 'hypervisor'],
  '6:0:eax': [undefined, 'ida', 'arat', undefined, 'pln', undefined, 'pts', 'hwp'],
  '7:0:ebx': ['fsgsbase', 'tsc_adjust', 'sgx', 'bmi1', 'hle', 'avx2', 'fdp_excptn_only', 'smep', 'bmi2', 'erms', 'invpcid', 'rtm', 'cqm', 'zero_fcs_fds', 'mpx', 'rdt_a', 'avx512f', 'avx512dq', 'rdseed', 'adx', 'smap', 'avx512ifma', 'pcommit', 'clflushopt', 'clwb', 'intel_pt', 'avx512pf', 'avx512er', 'avx512cd', 'sha_ni', 'avx512bw', 'avx512vl'],
  '7:0:ecx': ['prefetchwt1', 'avx512vbmi', 'umip', 'pku', 'ospke', 'waitpkg', 'avx512_vbmi2', 'shstk', 'gfni', 'vaes', 'vpclmulqdq', 'avx512_vnni', 'avx512_bitalg', 'tme', 'avx512_vpopcntdq', undefined, 'la57', undefined, undefined, undefined, undefined, undefined, 'rdpid', 'keylocker', 'bus_lock_detect', 'cldemote', undefined, 'movdiri', 'movdir64b', 'enqcmd', 'sgx_lc', 'pks'],
  '7:0:edx': [undefined, undefined, 'avx512_4vnniw', 'avx512_4fmaps', 'fsrm', undefined, undefined, undefined, 'avx512_vp2intersect', undefined, 'md_clear', undefined, undefined, undefined, 'serialize', 'hybrid_cpu', 'tsxldtrk', undefined, 'pconfig', 'arch_lbr', 'ibt', undefined, 'amx_bf16', 'avx512_fp16', 'amx_tile', 'amx_int8', 'spec_ctrl', 'intel_stibp', 'flush_l1d', 'arch_capabilities', 'core_capabilities', 'spec_ctrl_ssbd'],
  '7:2:edx': [undefined, undefined, 'rrsba_ctrl', undefined, 'bhi_ctrl'],
  '7:1:eax': [undefined, undefined, undefined, undefined, 'avx_vnni', 'avx512_bf16', undefined, undefined, undefined, undefined, 'fzrm', 'fsrs', 'fsrc'],
  '13:1:eax': ['xsaveopt', 'xsavec', 'xgetbv1', 'xsaves', 'xfd'],
  '2147483649:0:ecx': ['lahf_lm', 'cmp_legacy', 'svm', 'extapic', 'cr8_legacy', 'abm', 'sse4a', 'misalignsse', '3dnowprefetch', 'osvw', 'ibs', 'xop', 'skinit', 'wdt', undefined, 'lwp', 'fma4', 'tce', undefined, 'nodeid_msr', undefined, 'tbm', 'topoext', 'perfctr_core', 'perfctr_nb', undefined, 'bpext', 'ptsc', 'perfctr_llc', 'mwaitx'],
  '2147483649:0:edx': [undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, 'syscall', undefined, undefined, undefined, undefined, undefined, undefined, undefined, 'mp', 'nx', undefined, 'mmxext', undefined, undefined, 'fxsr_opt', 'pdpe1gb', 'rdtscp', undefined, 'lm', '3dnowext', '3dnow'],
  '2147483655:0:edx': [undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, 'constant_tsc'],
  '2147483656:0:ebx': ['clzero', 'irperf', 'xsaveerptr', undefined, 'rdpru', undefined, undefined, undefined, undefined, 'wbnoinvd', undefined, undefined, 'amd_ibpb', undefined, 'amd_ibrs', 'amd_stibp', undefined, 'amd_stibp_always_on', undefined, undefined, undefined, undefined, undefined, 'amd_ppin', 'amd_ssbd', 'virt_ssbd', 'amd_ssb_no'],
  '1073741825:0:eax': ['kvm.clocksource', 'kvm.nopiodelay', 'kvm.mmu_op', 'kvm.clocksource2', 'kvm.async_pf', 'kvm.steal_time', 'kvm.pv_eoi', 'kvm.pv_unhalt', undefined, 'kvm.pv_tlb_flush', 'kvm.async_pf_vmexit', 'kvm.pv_send_ipi', 'kvm.poll_control', 'kvm.pv_sched_yield', 'kvm.async_pf_int', 'kvm.msi_ext_dest_id', 'kvm.hc_map_gpa_range', 'kvm.migration_control', undefined, undefined, undefined, undefined, undefined, undefined, 'kvm.clocksource_stable'],
};

/** XSAVE state components (CPUID.0DH bits). */
const XSAVE_COMPONENTS: readonly (string | undefined)[] = ['x87', 'sse', 'avx', 'bndregs', 'bndcsr', 'opmask', 'zmm_hi256', 'hi16_zmm', 'pt', 'pkru', undefined, 'cet_u', 'cet_s', 'hdc', 'uintr', 'lbr', 'hwp', 'amx_tilecfg', 'amx_tiledata'];

/** The name of a feature bit, e.g. `avx2`, or a positional name for bits tsvmm has no name for. */
export function flagName(leaf: number, subleaf: number, reg: CpuidReg, bit: number): string {
  if (leaf === 0xd && subleaf === 0 && (reg === 'eax' || reg === 'edx')) return `xsave.${XSAVE_COMPONENTS[reg === 'eax' ? bit : bit + 32] ?? `component${reg === 'eax' ? bit : bit + 32}`}`;
  if (leaf === 0xd && subleaf === 1 && (reg === 'ecx' || reg === 'edx')) return `xss.${XSAVE_COMPONENTS[reg === 'ecx' ? bit : bit + 32] ?? `component${reg === 'ecx' ? bit : bit + 32}`}`;
  const n = FLAG_NAMES[`${leaf}:${subleaf}:${reg}`]?.[bit];
  return n ?? `cpuid 0x${leaf.toString(16)}${subleaf ? `.${subleaf}` : ''}.${reg}[${bit}]`;
}

/** The fields of one register, from bit 0 up, covering all 32 bits. */
export function cpuidFields(leaf: number, subleaf: number, reg: CpuidReg): readonly CpuidField[] {
  const out = fieldsOf(leaf, subleaf, reg);
  const dyn = dynamicMask(leaf, subleaf, reg);
  if (dyn === 0) return out;
  // Dynamic bits override whatever rule their range had.
  const res: CpuidField[] = [];
  for (const fl of out) {
    for (let b = fl.lo; b <= fl.hi; b++) {
      const rule: FieldRule = (dyn >>> b) & 1 ? 'dynamic' : fl.rule;
      const last = res[res.length - 1];
      if (last && last.rule === rule && last.hi === b - 1 && last.name === fl.name) res[res.length - 1] = { ...last, hi: b };
      else res.push(f(b, b, rule, fl.name));
    }
  }
  return res;
}

function fieldsOf(leaf: number, subleaf: number, reg: CpuidReg): readonly CpuidField[] {
  switch (leaf) {
    case 0:
      return reg === 'eax' ? [f(0, 31, 'max', 'max basic leaf')] : [f(0, 31, 'equal', 'vendor')];
    case 1:
      if (reg === 'eax') return [f(0, 31, 'value', 'signature')];
      if (reg === 'ebx') return [f(0, 23, 'value', 'brand/clflush/logical count'), f(24, 31, 'dynamic')];
      return FLAGS;
    case 6:
      return reg === 'eax' ? FLAGS : [f(0, 31, 'value', 'power management')];
    case 7:
      if (subleaf === 0 && reg === 'eax') return [f(0, 31, 'max', 'leaf 7 max subleaf')];
      return FLAGS;
    case 0xa:
      // The PMU: compared through the manifest's pmu section, decoded from this leaf.
      if (reg === 'eax') return [f(0, 7, 'max', 'pmu version'), f(8, 15, 'max', 'pmu gp counters'), f(16, 23, 'max', 'pmu gp counter width'), f(24, 31, 'max', 'pmu event vector length')];
      if (reg === 'ebx') return [f(0, 31, 'unavailable', 'pmu events unavailable')];
      if (reg === 'edx') return [f(0, 4, 'max', 'pmu fixed counters'), f(5, 12, 'max', 'pmu fixed counter width'), f(13, 31, 'value', 'pmu edx')];
      return [f(0, 31, 'value', 'pmu ecx')];
    case 0xd:
      if (subleaf === 0) {
        if (reg === 'eax' || reg === 'edx') return FLAGS;
        return reg === 'ecx' ? [f(0, 31, 'max', 'xsave area size')] : [f(0, 31, 'dynamic')];
      }
      if (subleaf === 1) return reg === 'ebx' ? [f(0, 31, 'dynamic')] : FLAGS;
      return [f(0, 31, 'equal', `xsave ${XSAVE_COMPONENTS[subleaf] ?? `component ${subleaf}`} layout`)];
    case 0x4000_0000:
      return reg === 'eax' ? [f(0, 31, 'max', 'max hypervisor leaf')] : [f(0, 31, 'equal', 'hypervisor signature')];
    case 0x4000_0001:
      return reg === 'eax' ? FLAGS : [f(0, 31, 'value', 'hypervisor features')];
    case 0x8000_0000:
      return reg === 'eax' ? [f(0, 31, 'max', 'max extended leaf')] : [f(0, 31, 'value', 'vendor (extended)')];
    case 0x8000_0001:
      return reg === 'ecx' || reg === 'edx' ? FLAGS : [f(0, 31, 'value', 'extended signature')];
    case 0x8000_0007:
      return reg === 'edx' ? FLAGS : [f(0, 31, 'value', 'power management (extended)')];
    case 0x8000_0008:
      if (reg === 'eax') return [f(0, 7, 'max', 'physical address bits'), f(8, 15, 'max', 'linear address bits'), f(16, 31, 'value', 'guest address bits')];
      if (reg === 'ebx') return FLAGS;
      return [f(0, 31, 'value', 'core count')];
    default:
      return [f(0, 31, 'value', `cpuid 0x${leaf.toString(16)}${subleaf ? `.${subleaf}` : ''}.${reg}`)];
  }
}

/** Bits [lo, hi] of v. */
export function bits(v: number, lo: number, hi: number): number {
  const width = hi - lo + 1;
  return width === 32 ? v >>> 0 : (v >>> lo) & ((1 << width) - 1);
}

/** v with bits [lo, hi] replaced by x. */
export function withBits(v: number, lo: number, hi: number, x: number): number {
  const width = hi - lo + 1;
  if (width === 32) return x >>> 0;
  const mask = ((1 << width) - 1) << lo;
  return ((v & ~mask) | ((x << lo) & mask)) >>> 0;
}
