/**
 * CPUID as a table of (leaf, subleaf) → eax, ebx, ecx, edx: how a VM's CPUID is read out (either
 * backend), put in a canonical form (fields that differ per vCPU or change at run time zeroed), and
 * looked up the way a CPU answers (out-of-range leaves give the highest basic leaf, as Intel CPUs do).
 * Imports nothing: the emulator, the KVM backend and the manifest code all use it.
 */

export interface CpuidValue {
  readonly leaf: number;
  readonly subleaf: number;
  readonly eax: number;
  readonly ebx: number;
  readonly ecx: number;
  readonly edx: number;
}

export type CpuidReg = 'eax' | 'ebx' | 'ecx' | 'edx';
export const CPUID_REGS: readonly CpuidReg[] = ['eax', 'ebx', 'ecx', 'edx'];

export const HYPERVISOR_BASE = 0x4000_0000;
export const EXTENDED_BASE = 0x8000_0000;
/** Subleaves beyond this are not read (no leaf of interest has more). */
const MAX_SUBLEAVES = 64;

export type CpuidQuery = (leaf: number, subleaf: number) => readonly [number, number, number, number];

/** Leaves whose ECX selects a subleaf, and how many subleaves they have given subleaf 0. */
function subleafCount(leaf: number, first: readonly [number, number, number, number], query: CpuidQuery): number[] {
  const clamp = (n: number): number => Math.max(0, Math.min(n >>> 0, MAX_SUBLEAVES - 1));
  switch (leaf) {
    case 0x4:
    case 0x8000_001d: {
      // Deterministic cache parameters: until the cache type (EAX[4:0]) is 0.
      const out = [0];
      for (let i = 1; i < MAX_SUBLEAVES && (query(leaf, i)[0] & 0x1f) !== 0; i++) out.push(i);
      return out;
    }
    case 0x7:
    case 0x14:
    case 0x17:
    case 0x18:
    case 0x1d:
    case 0x20:
      // Subleaf 0 EAX is the highest subleaf.
      return Array.from({ length: clamp(first[0]) + 1 }, (_, i) => i);
    case 0xb:
    case 0x1f: {
      // Topology levels: until the level type (ECX[15:8]) is 0.
      const out = [0];
      for (let i = 1; i < MAX_SUBLEAVES && ((query(leaf, i)[2] >>> 8) & 0xff) !== 0; i++) out.push(i);
      return out;
    }
    case 0xd: {
      // XSAVE: 0, 1 and one subleaf per state component the CPU supports (XCR0 and XSS bits).
      const [, , ecx1, edx1] = query(0xd, 1);
      const out = [0, 1];
      for (let i = 2; i < 63; i++) {
        const inXcr0 = i < 32 ? (first[0] >>> i) & 1 : (first[3] >>> (i - 32)) & 1;
        const inXss = i < 32 ? (ecx1 >>> i) & 1 : (edx1 >>> (i - 32)) & 1;
        if (inXcr0 || inXss) out.push(i);
      }
      return out;
    }
    case 0xf:
    case 0x12:
      return [0, 1, 2].slice(0, leaf === 0xf ? 2 : 3);
    case 0x10:
      return [0, 1, 2, 3];
    default:
      return [0];
  }
}

/** Whether a leaf's ECX selects a subleaf (KVM_CPUID_FLAG_SIGNIFCANT_INDEX). */
export function hasSubleaves(leaf: number): boolean {
  return [0x4, 0x7, 0xb, 0xd, 0xf, 0x10, 0x12, 0x14, 0x17, 0x18, 0x1d, 0x1f, 0x20, 0x8000_001d].includes(leaf);
}

/** Reads every leaf and subleaf a CPU reports through `query` (basic, hypervisor when present, extended). */
export function enumerateCpuid(query: CpuidQuery): CpuidValue[] {
  const out: CpuidValue[] = [];
  const range = (base: number, max: number): void => {
    for (let leaf = base; leaf <= max; leaf++) {
      const first = query(leaf, 0);
      for (const sub of subleafCount(leaf, first, query)) {
        const [eax, ebx, ecx, edx] = sub === 0 ? first : query(leaf, sub);
        out.push({ leaf, subleaf: sub, eax: eax >>> 0, ebx: ebx >>> 0, ecx: ecx >>> 0, edx: edx >>> 0 });
      }
    }
  };
  const maxBasic = query(0, 0)[0] >>> 0;
  range(0, Math.min(maxBasic, 0xff));
  if ((query(1, 0)[2] >>> 31) & 1) {
    const maxHv = query(HYPERVISOR_BASE, 0)[0] >>> 0;
    if (maxHv >= HYPERVISOR_BASE && maxHv <= HYPERVISOR_BASE + 0xff) range(HYPERVISOR_BASE, maxHv);
  }
  const maxExt = query(EXTENDED_BASE, 0)[0] >>> 0;
  if (maxExt >= EXTENDED_BASE && maxExt <= EXTENDED_BASE + 0xff) range(EXTENDED_BASE, maxExt);
  return out;
}

/**
 * Bits of a register that differ per vCPU or follow guest state (OSXSAVE, OSPKE, the XSAVE area
 * size for the current XCR0): zero in a canonical table, taken from the live CPU when a table is
 * presented to a guest.
 */
export function dynamicMask(leaf: number, subleaf: number, reg: CpuidReg): number {
  if (leaf === 1 && reg === 'ebx') return 0xff00_0000; // initial APIC id
  if (leaf === 1 && reg === 'ecx') return 1 << 27; // OSXSAVE mirrors CR4
  if (leaf === 7 && subleaf === 0 && reg === 'ecx') return 1 << 4; // OSPKE mirrors CR4
  if ((leaf === 0xb || leaf === 0x1f) && reg === 'edx') return 0xffff_ffff; // x2APIC id
  if (leaf === 0xd && (subleaf === 0 || subleaf === 1) && reg === 'ebx') return 0xffff_ffff; // size for the enabled features
  if (leaf === 0x8000_001e && reg === 'eax') return 0xffff_ffff; // extended APIC id
  return 0;
}

/** The table with per-vCPU and run-time bits zeroed, sorted by leaf then subleaf. */
export function canonicalCpuid(table: readonly CpuidValue[]): CpuidValue[] {
  const out = table.map((v) => {
    const r = { ...v };
    for (const reg of CPUID_REGS) r[reg] = (v[reg] & ~dynamicMask(v.leaf, v.subleaf, reg)) >>> 0;
    return r;
  });
  return out.sort((a, b) => a.leaf - b.leaf || a.subleaf - b.subleaf);
}

/** Looks up (leaf, subleaf) as a CPU would: a leaf without subleaves ignores ECX; out-of-range leaves give the highest basic leaf. */
export function lookupCpuid(table: readonly CpuidValue[], leaf: number, subleaf: number): CpuidValue | undefined {
  leaf >>>= 0;
  const find = (l: number, s: number): CpuidValue | undefined => table.find((v) => v.leaf === l && v.subleaf === s);
  const maxBasic = find(0, 0)?.eax ?? 0;
  const maxExt = find(EXTENDED_BASE, 0)?.eax ?? 0;
  const maxHv = find(HYPERVISOR_BASE, 0)?.eax ?? 0;
  const inRange = leaf <= maxBasic || (leaf >= EXTENDED_BASE && leaf <= maxExt) || (maxHv >= HYPERVISOR_BASE && leaf >= HYPERVISOR_BASE && leaf <= maxHv);
  if (!inRange) return find(maxBasic, 0);
  const s = hasSubleaves(leaf) ? subleaf >>> 0 : 0;
  return find(leaf, s) ?? { leaf, subleaf: s, eax: 0, ebx: 0, ecx: 0, edx: 0 };
}

/**
 * What a guest sees for (leaf, subleaf) when `table` is its CPU model: the table's values, with the
 * dynamic bits taken from `live` (the backend's own answer for this vCPU now).
 */
export function presentCpuid(table: readonly CpuidValue[], leaf: number, subleaf: number, live: readonly [number, number, number, number]): [number, number, number, number] {
  const v = lookupCpuid(table, leaf, subleaf);
  const l = leaf >>> 0;
  const s = hasSubleaves(l) ? subleaf >>> 0 : 0;
  const out: [number, number, number, number] = [0, 0, 0, 0];
  CPUID_REGS.forEach((reg, i) => {
    const m = v !== undefined && v.leaf === l ? dynamicMask(l, s, reg) : 0;
    out[i] = (((v?.[reg] ?? 0) & ~m) | (live[i]! & m)) >>> 0;
  });
  return out;
}
