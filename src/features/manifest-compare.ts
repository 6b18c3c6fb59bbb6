/**
 * Comparing feature manifests, by name:
 * - diffManifests(a, b): every difference a guest could notice. Migration and snapshot restore use
 *   it strictly, as the seed thread asks: a destination that differs in any way refuses before any
 *   state moves, and says in what.
 * - cannotGive(model, host): what of a CPU model (`--cpu-model`) a host cannot provide, by the field
 *   rules of cpuid-fields.ts: missing feature bits, limits above the host's, different identity.
 */
import { CPUID_REGS, type CpuidValue, type CpuidReg } from './cpuid-table.js';
import { bits, cpuidFields, flagName } from './cpuid-fields.js';
import type { FeatureManifest, PmuFeatures } from './manifest.js';

export interface ManifestDifference {
  /** What differs, e.g. `cpuid.avx2`, `pmu.gpCounters`, `msr 0x10a`, `devices`. */
  readonly name: string;
  readonly a: string;
  readonly b: string;
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;
const ZERO = (leaf: number, subleaf: number): CpuidValue => ({ leaf, subleaf, eax: 0, ebx: 0, ecx: 0, edx: 0 });

function byKey(table: readonly CpuidValue[]): Map<string, CpuidValue> {
  return new Map(table.map((v) => [`${v.leaf}:${v.subleaf}`, v]));
}

function leafName(leaf: number, subleaf: number, reg: CpuidReg): string {
  return `cpuid 0x${leaf.toString(16)}${subleaf ? `.${subleaf}` : ''}.${reg}`;
}

/** Every guest-visible difference between two manifests (origin excluded). Empty when they describe the same VM. */
export function diffManifests(a: FeatureManifest, b: FeatureManifest): ManifestDifference[] {
  const out: ManifestDifference[] = [];
  const add = (name: string, x: unknown, y: unknown): void => void out.push({ name, a: String(x), b: String(y) });
  if (a.machine.cpus !== b.machine.cpus) add('machine.cpus', a.machine.cpus, b.machine.cpus);
  if (a.machine.memBytes !== b.machine.memBytes) add('machine.memBytes', a.machine.memBytes, b.machine.memBytes);
  const ta = byKey(a.cpuid);
  const tb = byKey(b.cpuid);
  const keys = [...new Set([...ta.keys(), ...tb.keys()])].sort((x, y) => {
    const [lx, sx] = x.split(':').map(Number);
    const [ly, sy] = y.split(':').map(Number);
    return lx! - ly! || sx! - sy!;
  });
  for (const key of keys) {
    const [leaf, subleaf] = key.split(':').map(Number) as [number, number];
    if (leaf === 0xa) continue; // the pmu section below
    const va = ta.get(key) ?? ZERO(leaf, subleaf);
    const vb = tb.get(key) ?? ZERO(leaf, subleaf);
    for (const reg of CPUID_REGS) {
      if (va[reg] === vb[reg]) continue;
      for (const fl of cpuidFields(leaf, subleaf, reg)) {
        if (fl.rule === 'dynamic') continue;
        const xa = bits(va[reg], fl.lo, fl.hi);
        const xb = bits(vb[reg], fl.lo, fl.hi);
        if (xa === xb) continue;
        if (fl.rule === 'flags') {
          for (let bit = fl.lo; bit <= fl.hi; bit++) {
            const ba = (va[reg] >>> bit) & 1;
            const bb = (vb[reg] >>> bit) & 1;
            if (ba !== bb) add(`cpuid.${flagName(leaf, subleaf, reg, bit)}`, ba ? 'yes' : 'no', bb ? 'yes' : 'no');
          }
        } else {
          add(fl.name !== undefined ? `cpuid.${fl.name}` : leafName(leaf, subleaf, reg), hex(xa), hex(xb));
        }
      }
    }
  }
  const ma = new Set(a.msrs);
  const mb = new Set(b.msrs);
  for (const m of a.msrs) if (!mb.has(m)) add(`msr ${hex(m)}`, 'present', 'absent');
  for (const m of b.msrs) if (!ma.has(m)) add(`msr ${hex(m)}`, 'absent', 'present');
  for (const k of ['version', 'gpCounters', 'gpCounterWidth', 'fixedCounters', 'fixedCounterWidth', 'eventsUnavailable'] as const) {
    if (a.pmu[k] !== b.pmu[k]) add(`pmu.${k}`, a.pmu[k], b.pmu[k]);
  }
  if (JSON.stringify(a.pmu.filter) !== JSON.stringify(b.pmu.filter)) add('pmu.filter', describeFilter(a.pmu), describeFilter(b.pmu));
  const dev = (m: FeatureManifest): Set<string> => new Set(m.devices.map((d) => `${d.bus} ${hex(d.base)}+${d.size} ${d.name}`));
  const da = dev(a);
  const db = dev(b);
  for (const d of da) if (!db.has(d)) add(`device ${d}`, 'present', 'absent');
  for (const d of db) if (!da.has(d)) add(`device ${d}`, 'absent', 'present');
  const mem = (m: FeatureManifest): string => m.memory.map((r) => `${r.name}@${hex(r.gpa)}+${hex(r.size)}`).join(', ');
  if (mem(a) !== mem(b)) add('memory layout', mem(a), mem(b));
  return out;
}

/**
 * The architectural PMU's MSRs (counters, selectors, fixed counters, global controls, full-width
 * aliases, PERF_CAPABILITIES): which of them exist follows from the pmu section, so a host's
 * capability is judged there, not by the MSRs of a VM already shaped to some PMU.
 */
export function isPmuMsr(m: number): boolean {
  return (m >= 0xc1 && m <= 0xc8) || (m >= 0x186 && m <= 0x18d) || (m >= 0x309 && m <= 0x30b) || m === 0x345 || (m >= 0x38d && m <= 0x392) || (m >= 0x4c1 && m <= 0x4c8);
}

function describeFilter(p: PmuFeatures): string {
  const f = p.filter;
  return f === null ? 'none' : `${f.action} ${f.entries.length} event(s)${f.masked ? ' (masked)' : ''}, fixed bitmap ${hex(f.fixedCounterBitmap)}`;
}

/**
 * What `host` cannot give of `model`'s CPU features (CPUID, MSRs, PMU), by name; empty when it can
 * give all of them. The machine shape, devices and memory come from the run's own configuration.
 */
export function cannotGive(model: FeatureManifest, host: FeatureManifest): string[] {
  const out: string[] = [];
  const th = byKey(host.cpuid);
  for (const v of model.cpuid) {
    if (v.leaf === 0xa) continue; // the pmu section below
    const h = th.get(`${v.leaf}:${v.subleaf}`) ?? ZERO(v.leaf, v.subleaf);
    for (const reg of CPUID_REGS) {
      for (const fl of cpuidFields(v.leaf, v.subleaf, reg)) {
        const m = bits(v[reg], fl.lo, fl.hi);
        const x = bits(h[reg], fl.lo, fl.hi);
        const name = fl.name !== undefined ? `cpuid.${fl.name}` : leafName(v.leaf, v.subleaf, reg);
        if (fl.rule === 'flags') {
          for (let bit = fl.lo; bit <= fl.hi; bit++) if ((v[reg] >>> bit) & 1 && !((h[reg] >>> bit) & 1)) out.push(flagName(v.leaf, v.subleaf, reg, bit));
        } else if (fl.rule === 'max' && m > x) {
          out.push(`${name} ${hex(m)} (this host: ${hex(x)})`);
        } else if (fl.rule === 'equal' && m !== x) {
          out.push(`${name} ${hex(m)} (this host: ${hex(x)})`);
        } else if (fl.rule === 'unavailable' && (x & ~m) !== 0) {
          out.push(`${name} ${hex(x & ~m)}`);
        }
      }
    }
  }
  const hm = new Set(host.msrs);
  const missingMsrs = model.msrs.filter((m) => !hm.has(m) && !isPmuMsr(m));
  if (missingMsrs.length) out.push(`msrs ${missingMsrs.map(hex).join(' ')}`);
  const mp = model.pmu;
  const hp = host.pmu;
  for (const k of ['version', 'gpCounters', 'gpCounterWidth', 'fixedCounters', 'fixedCounterWidth'] as const) {
    if (mp[k] > hp[k]) out.push(`pmu.${k} ${mp[k]} (this host: ${hp[k]})`);
  }
  // A model without a PMU (a VM run with --pmu off) counts no events: which ones the host lacks does not matter.
  if (mp.version > 0 && (hp.eventsUnavailable & ~mp.eventsUnavailable) !== 0) out.push(`pmu events ${hex(hp.eventsUnavailable & ~mp.eventsUnavailable)} (unavailable on this host)`);
  if (mp.filter !== null && hp.version === 0) out.push('pmu.filter (this host gives no PMU)');
  return out;
}
