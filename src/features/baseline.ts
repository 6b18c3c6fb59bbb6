/**
 * The largest feature set every host of a pool can give: the filtered set the seed discussion asks
 * a VMM to compute, field by field under the rules of cpuid-fields.ts (flags AND, limits min,
 * unavailability OR, identity equal, descriptive values from the first manifest), then:
 * - leaves: only those every host has, within the smallest highest-leaf of each range; the
 *   hypervisor range only when every host reports the same hypervisor signature;
 * - XSAVE: the area size (CPUID.0DH:ECX) recomputed for the components that remain;
 * - MSRs: those every host has; PMU: the smallest version, counter counts and widths, every event
 *   any host lacks marked unavailable, the same event filter everywhere (else refused), and CPUID.0AH
 *   rewritten to say exactly that (its version-5 fields only when the result is version 5);
 * - machine, devices, memory: must be the same on every host (run `tsvmm caps` with the same options).
 * Refusals are BaselineErrors naming the field and the manifests that disagree.
 */
import { CPUID_REGS, EXTENDED_BASE, HYPERVISOR_BASE, type CpuidValue, type CpuidReg } from './cpuid-table.js';
import { bits, cpuidFields, withBits } from './cpuid-fields.js';
import { MANIFEST_FORMAT, MANIFEST_VERSION, type FeatureManifest } from './manifest.js';
import { diffManifests } from './manifest-compare.js';

export class BaselineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BaselineError';
  }
}

export interface NamedManifest {
  /** How to name it in messages (the file it came from). */
  readonly name: string;
  readonly manifest: FeatureManifest;
}

function get(m: FeatureManifest, leaf: number, subleaf: number): CpuidValue | undefined {
  return m.cpuid.find((v) => v.leaf === leaf && v.subleaf === subleaf);
}

export function baselineManifest(inputs: readonly NamedManifest[]): FeatureManifest {
  if (inputs.length === 0) throw new BaselineError('no manifests given');
  const first = inputs[0]!;
  const all = inputs.map((i) => i.manifest);

  // The machine every manifest describes must be the same one.
  for (const other of inputs.slice(1)) {
    const d = diffManifests({ ...first.manifest, cpuid: [], msrs: [], pmu: { ...first.manifest.pmu, filter: null } }, { ...other.manifest, cpuid: [], msrs: [], pmu: { ...first.manifest.pmu, filter: null } });
    if (d.length) throw new BaselineError(`${first.name} and ${other.name} describe different machines (${d[0]!.name}: ${d[0]!.a} vs ${d[0]!.b}): run tsvmm caps with the same --cpus and --mem on every host`);
    if (JSON.stringify(first.manifest.pmu.filter) !== JSON.stringify(other.manifest.pmu.filter)) throw new BaselineError(`${first.name} and ${other.name} have different PMU event filters: give every host the same --pmu-filter`);
  }

  const vendor = (m: FeatureManifest): string => {
    const v = get(m, 0, 0);
    return v === undefined ? '' : [v.ebx, v.edx, v.ecx].map((r) => String.fromCharCode(r & 0xff, (r >>> 8) & 0xff, (r >>> 16) & 0xff, r >>> 24)).join('');
  };
  for (const other of inputs.slice(1)) {
    if (vendor(other.manifest) !== vendor(first.manifest)) throw new BaselineError(`${first.name} (${vendor(first.manifest)}) and ${other.name} (${vendor(other.manifest)}) have different CPU vendors: no common model`);
  }

  const minOf = (leaf: number): number => Math.min(...all.map((m) => get(m, leaf, 0)?.eax ?? 0));
  const maxBasic = minOf(0);
  const maxExt = minOf(EXTENDED_BASE);
  const hvSig = (m: FeatureManifest): string => {
    const v = get(m, HYPERVISOR_BASE, 0);
    return v === undefined ? '' : `${v.ebx}:${v.ecx}:${v.edx}`;
  };
  const sameHv = hvSig(first.manifest) !== '' && all.every((m) => hvSig(m) === hvSig(first.manifest));
  const maxHv = sameHv ? minOf(HYPERVISOR_BASE) : 0;
  const inRange = (leaf: number): boolean => leaf <= maxBasic || (leaf >= EXTENDED_BASE && leaf <= maxExt) || (sameHv && leaf >= HYPERVISOR_BASE && leaf <= maxHv);

  const cpuid: CpuidValue[] = [];
  for (const v0 of first.manifest.cpuid) {
    if (!inRange(v0.leaf)) continue;
    const vs = all.map((m) => get(m, v0.leaf, v0.subleaf));
    if (vs.some((v) => v === undefined)) continue;
    const out: Record<CpuidReg, number> = { eax: 0, ebx: 0, ecx: 0, edx: 0 };
    for (const reg of CPUID_REGS) {
      let r = 0;
      for (const fl of cpuidFields(v0.leaf, v0.subleaf, reg)) {
        const xs = vs.map((v) => bits(v![reg], fl.lo, fl.hi));
        let x: number;
        switch (fl.rule) {
          case 'flags':
            x = xs.reduce((p, c) => (p & c) >>> 0);
            break;
          case 'max':
            x = Math.min(...xs);
            break;
          case 'unavailable':
            x = xs.reduce((p, c) => (p | c) >>> 0);
            break;
          case 'equal':
            if (xs.some((y) => y !== xs[0])) {
              const at = xs.findIndex((y) => y !== xs[0]);
              throw new BaselineError(`${fl.name ?? `cpuid 0x${v0.leaf.toString(16)}.${reg}`} differs between ${first.name} and ${inputs[at]!.name}: no common model`);
            }
            x = xs[0]!;
            break;
          case 'value':
          case 'dynamic':
            x = xs[0]!;
            break;
        }
        r = withBits(r, fl.lo, fl.hi, x);
      }
      out[reg] = r;
    }
    cpuid.push({ leaf: v0.leaf, subleaf: v0.subleaf, ...out });
  }

  // XSAVE: only components every host keeps, and the area size they need.
  const d0 = cpuid.find((v) => v.leaf === 0xd && v.subleaf === 0);
  if (d0 !== undefined && (d0.eax | d0.edx) !== 0) {
    let size = 512 + 64; // legacy area and header
    const kept = cpuid.filter((v) => {
      if (v.leaf !== 0xd || v.subleaf < 2) return true;
      const on = v.subleaf < 32 ? (d0.eax >>> v.subleaf) & 1 : (d0.edx >>> (v.subleaf - 32)) & 1;
      const d1 = cpuid.find((x) => x.leaf === 0xd && x.subleaf === 1);
      const xss = d1 === undefined ? 0 : v.subleaf < 32 ? (d1.ecx >>> v.subleaf) & 1 : (d1.edx >>> (v.subleaf - 32)) & 1;
      if (on) size = Math.max(size, v.ebx + v.eax);
      return on || xss;
    });
    cpuid.length = 0;
    cpuid.push(...kept.map((v) => (v === d0 ? { ...v, ecx: size >>> 0 } : v)));
  }
  // The highest leaves now say what the table holds.
  const fix = (leaf: number, max: number): void => {
    const i = cpuid.findIndex((v) => v.leaf === leaf && v.subleaf === 0);
    if (i >= 0) cpuid[i] = { ...cpuid[i]!, eax: max >>> 0 };
  };
  fix(0, maxBasic);
  fix(EXTENDED_BASE, maxExt);
  if (sameHv) fix(HYPERVISOR_BASE, maxHv);

  const msrSets = all.map((m) => new Set(m.msrs));
  const msrs = first.manifest.msrs.filter((x) => msrSets.every((s) => s.has(x)));
  const pmin = <K extends 'version' | 'gpCounters' | 'gpCounterWidth' | 'fixedCounters' | 'fixedCounterWidth'>(k: K): number => Math.min(...all.map((m) => m.pmu[k]));
  const pmu = {
    version: pmin('version'),
    gpCounters: pmin('gpCounters'),
    gpCounterWidth: pmin('gpCounterWidth'),
    fixedCounters: pmin('fixedCounters'),
    fixedCounterWidth: pmin('fixedCounterWidth'),
    eventsUnavailable: all.reduce((p, m) => (p | m.pmu.eventsUnavailable) >>> 0, 0),
    filter: first.manifest.pmu.filter,
  };
  // CPUID.0AH says what the pmu section says. Its version-5 fields (ECX: the fixed counters' bitmap,
  // EDX[15]: AnyThread deprecated) mean something only from version 5 on: AND and OR there, else 0.
  const ia = cpuid.findIndex((v) => v.leaf === 0xa && v.subleaf === 0);
  if (ia >= 0) {
    const olds = all.map((m) => get(m, 0xa, 0)).filter((v): v is CpuidValue => v !== undefined);
    const vectorLength = Math.min(...olds.map((v) => v.eax >>> 24));
    const v5 = pmu.version >= 5;
    cpuid[ia] = {
      leaf: 0xa,
      subleaf: 0,
      eax: (pmu.version | (pmu.gpCounters << 8) | (pmu.gpCounterWidth << 16) | (vectorLength << 24)) >>> 0,
      ebx: pmu.eventsUnavailable >>> 0,
      ecx: v5 ? olds.reduce((p, v) => (p & v.ecx) >>> 0, 0xffff_ffff) : 0,
      edx: (pmu.version >= 2 ? pmu.fixedCounters | (pmu.fixedCounterWidth << 5) : 0) | (v5 && olds.some((v) => (v.edx >>> 15) & 1) ? 1 << 15 : 0),
    };
  }
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    origin: { kind: 'baseline', from: inputs.map((i) => i.name), created: new Date().toISOString() },
    machine: first.manifest.machine,
    cpuid,
    msrs,
    pmu,
    devices: first.manifest.devices,
    memory: first.manifest.memory,
  };
}
