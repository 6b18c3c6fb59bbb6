/**
 * A VM's CPUID model (`--cpu-model`, a snapshot's feature set) may hide features emu implements; then
 * the vCPU behaves as a CPU with that CPUID does (and as KVM makes its guest behave): the control bits of
 * a hidden feature are reserved and the instructions of a hidden feature are #UD.
 *
 * - CR4: TSD (TSC), DE, PSE, PAE, MCE, PGE, OSFXSR (FXSR), OSXMMEXCPT (SSE), PCIDE (PCID), OSXSAVE (XSAVE),
 *   LA57; a set reserved bit is #GP on MOV to CR4. These are the bits KVM's VMX capability MSRs derive
 *   from a guest's CPUID (IA32_VMX_CR4_FIXED1); KVM's own MOV-to-CR4 check reserves PCIDE, OSXSAVE and
 *   LA57 (and features emu lacks) by the guest's CPUID. VME/PVI (not modelled: emu has no VME) and PCE
 *   (no CPUID bit) stay as emu has them.
 * - EFER: NXE without NX, LME/LMA without LM: #GP on WRMSR, as KVM. SCE stays writable: KVM and the
 *   SDM tie it to no CPUID bit (SYSCALL/SYSRET themselves are #UD when SYSCALL is hidden, below).
 * - XCR0: XSETBV takes only the bits of CPUID leaf 0DH subleaf 0 EAX (x87 always), as KVM.
 * - PDPTE.PS (1 GiB pages) is reserved without PDPE1GB, as in KVM's shadow page walk.
 * - Local APIC: IA32_APIC_BASE.EXTD (x2APIC mode) is reserved without x2APIC, and the LVT timer does not
 *   keep TSC-deadline mode without TSC-deadline, as KVM.
 * - Instructions: rows whose CPUID feature the model hides leave the dispatch arrays (#UD), as the
 *   table's feature column does for emu's own model (table/dispatch.ts).
 *
 * Emu's own model offers all of it, so without a CPU model nothing here changes anything.
 */
import type { EmuCpu } from './cpu.js';
import type { Dispatch } from './table/dispatch.js';
import { CR4_DE, CR4_IMPLEMENTED, CR4_MCE, CR4_OSFXSR, CR4_OSXMMEXCPT, CR4_OSXSAVE, CR4_PAE, CR4_PCIDE, CR4_PGE, CR4_PSE, CR4_TSD, EFER_IMPLEMENTED, EFER_LMA, EFER_LME, EFER_NXE } from './x86-defs.js';
import { CPUID7_ECX_LA57, EMU_CPU_FEATURES, EMU_XCR0_SUPPORTED, emuHasFeature, type EmuFeature } from '../../features/emu-cpu-model.js';
import type { CpuidValue } from '../../features/cpuid-table.js';
import { dispatchFor } from './decoder.js';

/** CR4 bits and the emu feature (features/emu-cpu-model.ts name) each needs. */
const CR4_NEEDS: readonly (readonly [number, string])[] = [
  [CR4_TSD, 'tsc'],
  [CR4_DE, 'de'],
  [CR4_PSE, 'pse'],
  [CR4_PAE, 'pae'],
  [CR4_MCE, 'mce'],
  [CR4_PGE, 'pge'],
  [CR4_OSFXSR, 'fxsr'],
  [CR4_OSXMMEXCPT, 'sse'],
  [CR4_PCIDE, 'pcid'],
  [CR4_OSXSAVE, 'xsave'],
];

/** EFER bits and the feature each needs. */
const EFER_NEEDS: readonly (readonly [number, string])[] = [
  [EFER_NXE, 'nx'],
  [EFER_LME | EFER_LMA, 'lm'],
];

export interface CpuModelGates {
  readonly cr4Writable: number;
  readonly eferWritable: number;
  readonly xcr0Writable: number;
  readonly gbPages: boolean;
  readonly la57: boolean;
  /** x2APIC mode (IA32_APIC_BASE.EXTD) and the APIC timer's TSC-deadline mode. */
  readonly x2apic: boolean;
  readonly tscDeadline: boolean;
  /** Emu's features the model hides, by name. */
  readonly hidden: readonly string[];
}

/**
 * What a CPUID table (a model's, in the canonical form of features/cpuid-table.ts) offers of emu's features.
 * A leaf the table lacks reports nothing: as KVM reads a guest's CPUID, the out-of-range rule does not apply.
 */
export function cpuModelGates(table: readonly CpuidValue[]): CpuModelGates {
  const entry = (leaf: number, subleaf: number): CpuidValue | undefined => table.find((v) => v.leaf === leaf && v.subleaf === subleaf);
  const reports = (f: EmuFeature): boolean => (((entry(f.leaf, f.subleaf)?.[f.reg] ?? 0) >>> f.bit) & 1) === 1;
  const hidden = EMU_CPU_FEATURES.filter((f) => !reports(f)).map((f) => f.name);
  const offers = (name: string): boolean => !hidden.includes(name);
  let cr4 = CR4_IMPLEMENTED;
  for (const [bits, name] of CR4_NEEDS) if (!offers(name)) cr4 &= ~bits;
  let efer = EFER_IMPLEMENTED;
  for (const [bits, name] of EFER_NEEDS) if (!offers(name)) efer &= ~bits;
  return {
    cr4Writable: cr4,
    eferWritable: efer,
    xcr0Writable: ((entry(0xd, 0)?.eax ?? 0) & EMU_XCR0_SUPPORTED) | 1,
    gbPages: offers('pdpe1gb'),
    la57: ((entry(7, 0)?.ecx ?? 0) & CPUID7_ECX_LA57) !== 0,
    x2apic: offers('x2apic'),
    tscDeadline: offers('tsc-deadline'),
    hidden,
  };
}

/**
 * Gives the vCPUs of one VM the gates of its CPUID model (before they run; the caller drops decoded code).
 * 5-level paging stays offered only where it was and the model has it too.
 */
export function applyCpuModelGates(cpus: readonly EmuCpu[], g: CpuModelGates): void {
  const hidden = new Set(g.hidden);
  const dispatch: Dispatch | null = hidden.size === 0 ? null : dispatchFor((name) => !hidden.has(name) && emuHasFeature(name));
  for (const c of cpus) {
    c.cr4Writable = g.cr4Writable;
    c.eferWritable = g.eferWritable;
    c.xcr0Writable = g.xcr0Writable;
    c.gbPages = g.gbPages;
    c.la57 = c.la57 && g.la57;
    c.dispatch = dispatch;
    c.apic?.offerModel(g.x2apic, g.tscDeadline);
  }
}
