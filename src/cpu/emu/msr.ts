/** RDMSR/WRMSR (architectural, APIC, PMU and storage-only MSRs), the TSC and CPUID. */
import type { EmuCpu } from './cpu.js';
import { FIRMWARE_MTRR_DEF_TYPE, MSR } from '../registers.js';
import { CPUID1_ECX_OSXSAVE, CPUID7_ECX_LA57, EMU_MCA_BANKS, EMU_MCG_CAP, EMU_LINEAR_ADDR_BITS_LA57, EMU_ARCH_CAPABILITIES_HI, EMU_ARCH_CAPABILITIES_LO, EMU_PRED_CMD_BITS, EMU_SPEC_CTRL_BITS, emuCpuid } from '../../features/emu-cpu-model.js';
import { CR0_PG, CR4_OSXSAVE, EFER_LMA, EFER_LME, Pow, Seg, BigAd, Gp } from './x86-defs.js';
import { flushTlb } from './tlb.js';
import { setReg } from './gpr.js';
import { BIG, halvesOf, regHalves, regValue, ripOf, nonCanonicalHi } from './address.js';

export function tscNow(c: EmuCpu): number {
  return Math.floor((c.clock.nowNs() * c.clock.tscHz) / 1e9) + c.tscOffset;
}

/** RDMSR: value into msrOut, false for #GP. */
export function readMsr(c: EmuCpu, idx: number): boolean {
  const o = c.msrOut;
  idx >>>= 0;
  const set = (lo: number, hi: number): boolean => {
    o.lo = lo | 0;
    o.hi = hi | 0;
    return true;
  };
  const setAddr = (a: number): boolean => set(a >>> 0, Math.floor(a / Pow.Two32) | 0);
  // A RIP MSR beyond +-2^53 holds a code handle (address.ts ripOf).
  const setRip = (a: number): boolean => {
    halvesOf(a);
    return set(BIG.lo, BIG.hi);
  };
  switch (idx) {
    case MSR.IA32_TSC: {
      const t = tscNow(c);
      return setAddr(t);
    }
    case MSR.IA32_APIC_BASE:
      if (c.apic !== undefined) {
        c.apic.getApicBase(o);
        return true;
      }
      return set(0xfee00000 | 0x900, 0);
    case MSR.IA32_EFER:
      return set(c.efer, 0);
    case MSR.IA32_STAR:
      return set(c.star[0]!, c.star[1]!);
    case MSR.IA32_LSTAR:
      return setRip(c.lstar);
    case MSR.IA32_CSTAR:
      return setRip(c.cstar);
    case MSR.IA32_FMASK:
      return set(c.fmask, 0);
    case MSR.IA32_FS_BASE:
      regHalves(c, Seg.FS, c.segBase[Seg.FS]!);
      return set(BIG.lo, BIG.hi);
    case MSR.IA32_GS_BASE:
      regHalves(c, Seg.GS, c.segBase[Seg.GS]!);
      return set(BIG.lo, BIG.hi);
    case MSR.IA32_KERNEL_GS_BASE:
      regHalves(c, BigAd.KernelGs, c.kernelGsBase);
      return set(BIG.lo, BIG.hi);
    case MSR.IA32_TSC_AUX:
      return set(c.tscAux, 0);
    case MSR.IA32_SYSENTER_CS:
      return set(c.sysenterCs, 0);
    case MSR.IA32_SYSENTER_ESP:
      regHalves(c, BigAd.SysenterEsp, c.sysenterEsp);
      return set(BIG.lo, BIG.hi);
    case MSR.IA32_SYSENTER_EIP:
      return setRip(c.sysenterEip);
    case MSR.IA32_TSC_DEADLINE:
      if (c.apic === undefined) return false;
      c.apic.getTscDeadline(o);
      return true;
    case 0xfe: // IA32_MTRRCAP: 8 variable ranges, fixed ranges, WC
      return set(0x508, 0);
    case MSR.IA32_MCG_CAP: // read-only: a write is #GP
      return set(EMU_MCG_CAP, 0);
    case MSR.IA32_FEATURE_CONTROL:
      return set(1, 0); // locked, VMX off
    case 0x8b: // IA32_BIOS_SIGN_ID: no microcode loaded, so the revision reads 0
      return set(0, 0);
    case 0x17: // IA32_PLATFORM_ID: read-only, platform id 0 (bits 52:50)
      return set(0, 0);
    case 0x10a: // IA32_ARCH_CAPABILITIES: read-only (a write is #GP, as on hardware)
      return set(EMU_ARCH_CAPABILITIES_LO, EMU_ARCH_CAPABILITIES_HI);
    case MSR.IA32_SPEC_CTRL:
      return set(c.specCtrl, 0);
    case MSR.IA32_PRED_CMD: // write-only: RDMSR is #GP
      return false;
    default:
      break;
  }
  if (idx >= 0x800 && idx <= 0x8ff) return c.apic !== undefined && c.apic.readMsr(idx, o);
  if (c.pmu !== null && c.pmu.isPmuMsr(idx)) return c.pmu.readMsr(idx, o);
  const st = c.msrStore.get(idx);
  if (st !== undefined) return set(st[0], st[1]);
  if (knownStorageMsr(idx)) return set(storageReset(idx), idx === MSR.IA32_PAT ? PAT_POWER_ON_HALF : 0);
  return false;
}

/** Each half of IA32_PAT at power-on: WB, WT, UC-, UC. */
const PAT_POWER_ON_HALF = 0x00070406;

/** The low half of a storage MSR never written: its power-on value, or what tsvmm's firmware leaves in it. */
function storageReset(idx: number): number {
  switch (idx) {
    case MSR.IA32_PAT:
      return PAT_POWER_ON_HALF;
    case MSR.IA32_MISC_ENABLE:
      return 1; // fast strings, as firmware sets it
    case MSR.IA32_MTRR_DEF_TYPE:
      return FIRMWARE_MTRR_DEF_TYPE;
    default:
      return 0;
  }
}

/**
 * Whether an address MSR may take a value of high half `hi`: canonical at the current paging depth. Each keeps
 * it exactly beyond +-2^53 too (5-level paging): the FS, GS and kernel GS bases and SYSENTER_ESP as exact halves
 * (cpu.ts bigAd), LSTAR, CSTAR and SYSENTER_EIP as a code handle (address.ts ripOf).
 */
function addrOk(c: EmuCpu, hi: number): boolean {
  return !nonCanonicalHi(c, hi);
}

/** The TSC deadline's halves while an IA32_TSC write moves it. */
const deadlineOut = { lo: 0, hi: 0 };

/** WRMSR: false for #GP. */
export function writeMsr(c: EmuCpu, idx: number, lo: number, hi: number): boolean {
  idx >>>= 0;
  c.pollAt = 0;
  switch (idx) {
    case MSR.IA32_TSC:
      c.tscOffset += (hi >>> 0) * Pow.Two32 + (lo >>> 0) - tscNow(c);
      if (c.apic !== undefined) {
        // An armed TSC deadline fires when the TSC reaches it: it moves with the TSC.
        c.apic.getTscDeadline(deadlineOut);
        if (deadlineOut.lo !== 0 || deadlineOut.hi !== 0) c.apic.setTscDeadline(deadlineOut.lo, deadlineOut.hi, c.tscOffset);
      }
      return true;
    case MSR.IA32_APIC_BASE:
      if (c.apic !== undefined) {
        if (!c.apic.setApicBase(lo, hi)) return false;
      }
      c.apicBasePhys = (hi & 0xff) * Pow.Two32 + ((lo & 0xfffff000) >>> 0);
      c.apicMmio = (lo & (1 << 11)) !== 0 && (lo & (1 << 10)) === 0;
      flushTlb(c, true);
      return true;
    case MSR.IA32_EFER: {
      // NXE and LME/LMA only where the VM's CPUID reports NX and LM (cpu-model-gates.ts).
      if ((lo & ~c.eferWritable) !== 0 || hi !== 0) return false;
      const lma = c.efer & EFER_LMA;
      if ((c.cr0 & CR0_PG) !== 0 && ((lo ^ c.efer) & EFER_LME) !== 0) return false;
      c.efer = (lo & ~EFER_LMA) | lma;
      flushTlb(c, true);
      return true;
    }
    case MSR.IA32_STAR:
      c.star[0] = lo;
      c.star[1] = hi;
      return true;
    case MSR.IA32_LSTAR:
      if (!addrOk(c, hi)) return false;
      c.lstar = ripOf(hi, lo, c);
      return true;
    case MSR.IA32_CSTAR:
      if (!addrOk(c, hi)) return false;
      c.cstar = ripOf(hi, lo, c);
      return true;
    case MSR.IA32_FMASK:
      c.fmask = lo;
      return true;
    case MSR.IA32_FS_BASE:
      if (!addrOk(c, hi)) return false;
      c.segBase[Seg.FS] = regValue(c, Seg.FS, hi, lo);
      return true;
    case MSR.IA32_GS_BASE:
      if (!addrOk(c, hi)) return false;
      c.segBase[Seg.GS] = regValue(c, Seg.GS, hi, lo);
      return true;
    case MSR.IA32_KERNEL_GS_BASE:
      if (!addrOk(c, hi)) return false;
      c.kernelGsBase = regValue(c, BigAd.KernelGs, hi, lo);
      return true;
    case MSR.IA32_TSC_AUX:
      c.tscAux = lo;
      return true;
    case MSR.IA32_SYSENTER_CS:
      c.sysenterCs = lo & 0xffff;
      return true;
    case MSR.IA32_SYSENTER_ESP:
      if (!addrOk(c, hi)) return false;
      c.sysenterEsp = regValue(c, BigAd.SysenterEsp, hi, lo);
      return true;
    case MSR.IA32_SYSENTER_EIP:
      if (!addrOk(c, hi)) return false;
      c.sysenterEip = ripOf(hi, lo, c);
      return true;
    case 0x8b: // IA32_BIOS_SIGN_ID: software writes 0 before CPUID(1) to read the revision (SDM 9.11.7.1)
      return true;
    case MSR.IA32_SPEC_CTRL:
      // IBRS and BHI_DIS_S are kept and read back; they change nothing, as nothing is predicted. A bit the
      // model does not have (STIBP, SSBD and the rest are not advertised) is #GP, as on hardware without it.
      if ((lo & ~EMU_SPEC_CTRL_BITS) !== 0 || hi !== 0) return false;
      c.specCtrl = lo;
      return true;
    case MSR.IA32_PRED_CMD:
      // IBPB: a barrier against branch predictions made before it; with no predictor it has nothing
      // to flush. Reserved bits (AMD's SBPB, bit 7, among them) are #GP.
      return (lo & ~EMU_PRED_CMD_BITS) === 0 && hi === 0;
    case MSR.IA32_TSC_DEADLINE:
      if (c.apic === undefined) return false;
      c.apic.setTscDeadline(lo, hi, c.tscOffset);
      return true;
    default:
      break;
  }
  if (idx >= 0x800 && idx <= 0x8ff) return c.apic !== undefined && c.apic.writeMsr(idx, lo, hi);
  if (c.pmu !== null && c.pmu.isPmuMsr(idx)) return c.pmu.writeMsr(idx, lo, hi);
  // IA32_MCi_STATUS takes only zeros from software (SDM vol. 3, 15.3.2.2): a 1 is #GP.
  if (idx >= MCA_BANK0 && idx < MCA_END && (idx & 3) === 1 && (lo | hi) !== 0) return false;
  if (knownStorageMsr(idx)) {
    c.msrStore.set(idx, [lo, hi]);
    return true;
  }
  return false;
}

export function cpuid(c: EmuCpu): void {
  emuCpuid(c.gpr[Gp.AxLo]!, c.gpr[Gp.CxLo]!, c.apic?.apicId ?? c.index, c.cpus, c.cpuidOut);
  const o = c.cpuidOut;
  if (c.gpr[Gp.AxLo] === 1 && c.pdcm) o[2] = o[2]! | (1 << 15);
  if (c.gpr[Gp.AxLo] === 1 && (c.cr4 & CR4_OSXSAVE) !== 0) o[2] = o[2]! | CPUID1_ECX_OSXSAVE;
  if (c.la57) {
    if (c.gpr[Gp.AxLo] === 7 && c.gpr[Gp.CxLo] === 0) o[2] = o[2]! | CPUID7_ECX_LA57;
    else if (c.gpr[Gp.AxLo] === (0x8000_0008 | 0)) o[0] = (o[0]! & ~0xff00) | (EMU_LINEAR_ADDR_BITS_LA57 << 8);
  }
  if (c.gpr[Gp.AxLo] === 0xa && c.pmuCpuid0a !== null) {
    const p = c.pmuCpuid0a;
    o[0] = p[0];
    o[1] = p[1];
    o[2] = p[2];
    o[3] = p[3];
  }
  if (c.cpuidFilter !== null) c.cpuidFilter(c.gpr[Gp.AxLo]! >>> 0, c.gpr[Gp.CxLo]! >>> 0, o);
  setReg(c, 4, 0, o[0]!);
  setReg(c, 4, 3, o[1]!);
  setReg(c, 4, 1, o[2]!);
  setReg(c, 4, 2, o[3]!);
}

/** MSRs whose values a snapshot's vCPU section carries for emu: its named fields and its storage MSRs (vcpu-state.ts). */
export function emuHoldsMsr(idx: number): boolean {
  switch (idx) {
    case MSR.IA32_STAR:
    case MSR.IA32_LSTAR:
    case MSR.IA32_CSTAR:
    case MSR.IA32_FMASK:
    case MSR.IA32_KERNEL_GS_BASE:
    case MSR.IA32_SYSENTER_CS:
    case MSR.IA32_SYSENTER_ESP:
    case MSR.IA32_SYSENTER_EIP:
    case MSR.IA32_TSC_AUX:
    case MSR.IA32_SPEC_CTRL:
      return true;
    default:
      return knownStorageMsr(idx);
  }
}

function knownStorageMsr(idx: number): boolean {
  return (
    idx === MSR.IA32_PAT ||
    idx === MSR.IA32_MISC_ENABLE ||
    idx === MSR.IA32_TSC_ADJUST ||
    (idx >= 0x200 && idx <= 0x20f) || // MTRR physbase/physmask 0-7
    idx === 0x250 ||
    idx === 0x258 ||
    idx === 0x259 ||
    (idx >= 0x268 && idx <= 0x26f) ||
    idx === MSR.IA32_MTRR_DEF_TYPE ||
    idx === MSR.IA32_MCG_STATUS ||
    idx === MSR.IA32_MCG_CTL ||
    (idx >= MCA_BANK0 && idx < MCA_END) // MCi_CTL, MCi_STATUS, MCi_ADDR, MCi_MISC
  );
}

/** The machine-check banks' MSRs: four per bank from IA32_MC0_CTL. */
const MCA_BANK0 = 0x400;
const MCA_END = MCA_BANK0 + 4 * EMU_MCA_BANKS;
