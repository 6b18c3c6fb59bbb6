/**
 * One emu vCPU's state for snapshots and migration, as two persist sections:
 * - `x86-vcpu`: the architectural state in a form any x86 backend can fill (KVM gives the same
 *   facts through KVM_GET_REGS/SREGS/FPU/MSRS/VCPU_EVENTS/MP_STATE): GPRs, RIP, RFLAGS, segments
 *   with their hidden parts (base, limit, VMX-layout attributes), GDTR/IDTR, CR0-CR4/CR8, DR0-DR7,
 *   EFER and the other MSRs by index, the guest TSC value, the x87/SSE state as a 64-bit FXSAVE
 *   image (what kvm_fpu and the first 512 bytes of kvm_xsave hold), XCR0, and the event state
 *   (halted, wait-for-SIPI, interrupt shadow, NMI blocking);
 * - `emu-vcpu-exec`: what only the emulator has and a deterministic continuation needs: the
 *   retired instruction and REP-iteration counts (virtual time derives from them), the retired
 *   counts by ring the PMU reads, and the event counters `tsvmm stat` reports.
 * Decoded code, TLBs and the PMU's merge bookkeeping are caches: they are dropped on restore and
 * rebuilt, and run() starts every slice with a fresh PMU bound and interrupt poll.
 */
import type { EmuCpu } from './cpu.js';
import { field, type FieldsOf, PersistError, type Persist } from '../../util/persist.js';
import { X86_VCPU_SCHEMA } from '../state-forms.js';
import { getFlags, setFlagsRaw } from './lazy-flags.js';
import { flushTlb } from './tlb.js';
import { regFromU64, regU64, ripFromU64, ripU64, u64ToAddr } from './address.js';
import { tscNow } from './msr.js';
import { fxrstorX87, fxsaveX87 } from './fpu/x87-env.js';
import type { X87Bus } from './fpu/x87-core.js';
import { MSR } from '../registers.js';
import { BigAd, Pow } from './x86-defs.js';
import { MXCSR_MASK } from './fpu/sse-state.js';
import { EMU_SPEC_CTRL_BITS } from '../../features/emu-cpu-model.js';
import { refreshDebug } from './debug-regs.js';

export { X86_VCPU_SCHEMA };

const COUNT = field.number();
export const EMU_EXEC_SCHEMA = {
  kind: 'emu-vcpu-exec',
  version: 1,
  fields: {
    instructions: COUNT,
    stringIters: COUNT,
    retired: field.array(COUNT, 2),
    branchesRetired: field.array(COUNT, 2),
    counts: field.record({ io: COUNT, mmio: COUNT, hlt: COUNT, interrupts: COUNT, exceptions: COUNT, nmi: COUNT, init: COUNT, sipi: COUNT }),
    exceptionsByVector: field.array(COUNT, 32),
  },
} as const;

type VcpuFields = FieldsOf<typeof X86_VCPU_SCHEMA.fields>;
type ExecFields = FieldsOf<typeof EMU_EXEC_SCHEMA.fields>;

const TWO64 = 1n << 64n;
/** An address-like number (signed canonical in long mode) as an unsigned 64-bit value. */
const toU64 = (a: number): bigint => (a < 0 ? BigInt(a) + TWO64 : BigInt(a));
const halves = (v: bigint): [number, number] => [Number(v & 0xffff_ffffn) | 0, Number((v >> 32n) & 0xffff_ffffn) | 0];

/** An X87Bus over a plain byte array (the FXSAVE image of a snapshot). */
class ImageBus implements X87Bus {
  constructor(private readonly dv: DataView) {}
  rd8(a: number): number {
    return this.dv.getUint8(a);
  }
  rd16(a: number): number {
    return this.dv.getUint16(a, true);
  }
  rd32(a: number): number {
    return this.dv.getInt32(a, true);
  }
  wr8(a: number, v: number): void {
    this.dv.setUint8(a, v & 0xff);
  }
  wr16(a: number, v: number): void {
    this.dv.setUint16(a, v & 0xffff, true);
  }
  wr32(a: number, v: number): void {
    this.dv.setInt32(a, v | 0, true);
  }
  add(a: number, k: number): number {
    return a + k;
  }
  probeWrite(): void {}
}

/** The MSRs an EmuCpu keeps in fields (the rest: APIC and TSC deadline in the LAPIC, PMU MSRs in the PMU, FS/GS base in the segments). */
function saveMsrs(c: EmuCpu): { index: number; value: bigint }[] {
  const out: { index: number; value: bigint }[] = [
    { index: MSR.IA32_STAR, value: (BigInt(c.star[1]! >>> 0) << 32n) | BigInt(c.star[0]! >>> 0) },
    { index: MSR.IA32_LSTAR, value: ripU64(c.lstar) },
    { index: MSR.IA32_CSTAR, value: ripU64(c.cstar) },
    { index: MSR.IA32_FMASK, value: BigInt(c.fmask >>> 0) },
    { index: MSR.IA32_KERNEL_GS_BASE, value: regU64(c, BigAd.KernelGs, c.kernelGsBase) },
    { index: MSR.IA32_SYSENTER_CS, value: BigInt(c.sysenterCs >>> 0) },
    { index: MSR.IA32_SYSENTER_ESP, value: regU64(c, BigAd.SysenterEsp, c.sysenterEsp) },
    { index: MSR.IA32_SYSENTER_EIP, value: ripU64(c.sysenterEip) },
    { index: MSR.IA32_TSC_AUX, value: BigInt(c.tscAux >>> 0) },
    { index: MSR.IA32_SPEC_CTRL, value: BigInt(c.specCtrl >>> 0) },
  ];
  for (const [index, [lo, hi]] of [...c.msrStore].sort((a, b) => a[0] - b[0])) out.push({ index, value: (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0) });
  return out;
}

function loadMsr(c: EmuCpu, index: number, v: bigint): void {
  const [lo, hi] = halves(v);
  switch (index) {
    case MSR.IA32_STAR:
      c.star[0] = lo;
      c.star[1] = hi;
      return;
    case MSR.IA32_LSTAR:
      c.lstar = ripFromU64(v, c);
      return;
    case MSR.IA32_CSTAR:
      c.cstar = ripFromU64(v, c);
      return;
    case MSR.IA32_FMASK:
      c.fmask = lo;
      return;
    case MSR.IA32_KERNEL_GS_BASE:
      c.kernelGsBase = regFromU64(c, BigAd.KernelGs, v);
      return;
    case MSR.IA32_SYSENTER_CS:
      c.sysenterCs = lo & 0xffff;
      return;
    case MSR.IA32_SYSENTER_ESP:
      c.sysenterEsp = regFromU64(c, BigAd.SysenterEsp, v);
      return;
    case MSR.IA32_SYSENTER_EIP:
      c.sysenterEip = ripFromU64(v, c);
      return;
    case MSR.IA32_TSC_AUX:
      c.tscAux = lo >>> 0;
      return;
    case MSR.IA32_SPEC_CTRL:
      // A state from a CPU with more SPEC_CTRL bits (kvm on a host with STIBP or SSBD) cannot carry them here.
      if ((v & ~BigInt(EMU_SPEC_CTRL_BITS)) !== 0n) throw new PersistError('persist-invalid', 'vcpu', `vcpu: IA32_SPEC_CTRL 0x${v.toString(16)} sets bits emu does not have (it has IBRS and BHI_DIS_S only)`);
      c.specCtrl = lo;
      return;
    default:
      c.msrStore.set(index, [lo, hi]);
  }
}

/** The architectural state of `c` (an x86-vcpu section's fields). Call between instructions. */
export function saveVcpu(c: EmuCpu): VcpuFields {
  const fx = new Uint8Array(512);
  const dv = new DataView(fx.buffer);
  fxsaveX87(c.x87, new ImageBus(dv), 0, true);
  dv.setUint32(24, c.mxcsr >>> 0, true);
  dv.setUint32(28, MXCSR_MASK, true);
  fx.set(new Uint8Array(c.xmm.buffer, c.xmm.byteOffset, 256), 160);
  const seg = (s: number) => ({ selector: c.segSel[s]! & 0xffff, base: regU64(c, s, c.segBase[s]!), limit: c.segLimit[s]! >>> 0, attrs: c.segAttr[s]! >>> 0 });
  return {
    gpr: Array.from({ length: 16 }, (_, i) => c.getGpr(i)),
    rip: c.getRip(),
    rflags: BigInt(getFlags(c) >>> 0),
    segments: [0, 1, 2, 3, 4, 5, 6, 7].map(seg),
    gdtr: { base: regU64(c, BigAd.Gdt, c.gdtBase), limit: c.gdtLimit & 0xffff },
    idtr: { base: regU64(c, BigAd.Idt, c.idtBase), limit: c.idtLimit & 0xffff },
    cr0: BigInt(c.cr0 >>> 0),
    cr2: regU64(c, BigAd.Cr2, c.cr2),
    cr3: toU64(c.cr3),
    cr4: BigInt(c.cr4 >>> 0),
    cr8: BigInt(c.cr8 >>> 0),
    dr: Array.from(c.dr, (v, n) => (n < 4 ? regU64(c, BigAd.Dr0 + n, v) : toU64(v))),
    efer: BigInt(c.efer >>> 0),
    msrs: saveMsrs(c),
    tsc: toU64(tscNow(c)),
    fxsave: fx,
    fcs: c.x87.fcs & 0xffff,
    fds: c.x87.fds & 0xffff,
    xcr0: BigInt(c.xcr0 >>> 0),
    halted: c.halted,
    waitSipi: c.waitSipi,
    interruptShadow: c.shadow,
    nmiBlocked: c.nmiBlocked,
    pendingDebug: c.dbPending >>> 0,
  };
}

/**
 * Loads an x86-vcpu section into `c`. The VM's clock must already be restored (the TSC offset is
 * computed against it). Drops the TLB and the jump cache; the caller clears the shared code cache.
 */
export function restoreVcpu(c: EmuCpu, s: VcpuFields): void {
  if (s.gpr.length !== 16 || s.segments.length !== 8 || s.dr.length !== 8) throw new PersistError('persist-invalid', 'vcpu', 'vcpu: expected 16 GPRs, 8 segments and 8 debug registers');
  s.gpr.forEach((v, i) => c.setGpr(i, v));
  c.setRip(s.rip);
  s.segments.forEach((g, i) => {
    c.segSel[i] = g.selector;
    c.segBase[i] = regFromU64(c, i, g.base);
    c.segLimit[i] = g.limit;
    c.segAttr[i] = g.attrs | 0;
  });
  c.gdtBase = regFromU64(c, BigAd.Gdt, s.gdtr.base);
  c.gdtLimit = s.gdtr.limit;
  c.idtBase = regFromU64(c, BigAd.Idt, s.idtr.base);
  c.idtLimit = s.idtr.limit;
  c.cr0 = Number(s.cr0 & 0xffff_ffffn) | 0;
  c.cr2 = regFromU64(c, BigAd.Cr2, s.cr2);
  c.cr3 = Number(s.cr3);
  c.cr4 = Number(s.cr4 & 0xffff_ffffn) | 0;
  c.cr8 = Number(s.cr8 & 0xfn);
  s.dr.forEach((v, i) => (c.dr[i] = i < 4 ? regFromU64(c, BigAd.Dr0 + i, v) : u64ToAddr(v)));
  c.efer = Number(s.efer & 0xffff_ffffn) | 0;
  c.star[0] = 0;
  c.star[1] = 0;
  c.specCtrl = 0; // a state saved before emu had IA32_SPEC_CTRL has none
  c.msrStore.clear();
  for (const m of s.msrs) loadMsr(c, m.index, m.value);
  const dv = new DataView(s.fxsave.buffer, s.fxsave.byteOffset, 512);
  fxrstorX87(c.x87, new ImageBus(dv), 0, true);
  c.x87.fcs = s.fcs;
  c.x87.fds = s.fds;
  c.mxcsr = dv.getUint32(24, true) & MXCSR_MASK;
  new Uint8Array(c.xmm.buffer, c.xmm.byteOffset, 256).set(s.fxsave.subarray(160, 416));
  c.xcr0 = Number(s.xcr0 & 0xffff_ffffn);
  c.halted = s.halted;
  c.waitSipi = s.waitSipi;
  c.shadow = s.interruptShadow;
  c.nmiBlocked = s.nmiBlocked;
  c.dbPending = s.pendingDebug;
  c.dbHits = 0;
  // RFLAGS last: updateMode() reads CR0, EFER, CS, SS and RFLAGS.VM.
  setFlagsRaw(c, Number(s.rflags & 0xffff_ffffn));
  c.updateMode();
  // DR7's breakpoints decoded again (and the debug path armed if TF or a breakpoint needs it).
  refreshDebug(c);
  c.tscOffset = 0;
  const tsc = Number(s.tsc);
  c.tscOffset = tsc - tscNow(c);
  if (!Number.isFinite(c.tscOffset) || Math.abs(c.tscOffset) > Pow.Two63) c.tscOffset = 0;
  c.breakRun = false;
  c.pollAt = 0;
  c.pmuLeft = 0;
  c.pmuMerge = false;
  c.pmuPendPlain = 0;
  c.pmuPendBranches = 0;
  flushTlb(c, true);
}

export function saveExec(c: EmuCpu): ExecFields {
  return {
    instructions: c.instructions,
    stringIters: c.stringIters,
    retired: Array.from(c.retired),
    branchesRetired: Array.from(c.branchesRetired),
    counts: { ...c.counts },
    exceptionsByVector: Array.from(c.exceptionsByVector),
  };
}

export function restoreExec(c: EmuCpu, s: ExecFields): void {
  c.instructions = s.instructions;
  c.stringIters = s.stringIters;
  c.retired.set(s.retired);
  c.branchesRetired.set(s.branchesRetired);
  Object.assign(c.counts, s.counts);
  c.exceptionsByVector.set(s.exceptionsByVector);
}

/** The two sections of one vCPU as Persist components (restore order: exec first, it moves virtual time). */
export function vcpuPersists(c: EmuCpu): { vcpu: Persist; exec: Persist } {
  const vcpu: Persist<typeof X86_VCPU_SCHEMA.fields> = { persistSchema: X86_VCPU_SCHEMA, saveState: () => saveVcpu(c), restoreState: (s) => restoreVcpu(c, s) };
  const exec: Persist<typeof EMU_EXEC_SCHEMA.fields> = { persistSchema: EMU_EXEC_SCHEMA, saveState: () => saveExec(c), restoreState: (s) => restoreExec(c, s) };
  return { vcpu: vcpu as unknown as Persist, exec: exec as unknown as Persist };
}
