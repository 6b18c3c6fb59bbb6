/** Writes of CR0/CR3/CR4/CR8 with their checks, mode changes and TLB flushes. */
import type { EmuCpu } from './cpu.js';
import { CR0_CD, CR0_ET, CR0_NW, CR0_PE, CR0_PG, CR0_WP, CR4_DE, CR4_LA57, CR4_PAE, CR4_PCIDE, CR4_PGE, CR4_PSE, EFER_LMA, EFER_LME } from './x86-defs.js';
import { refreshDebug } from './debug-regs.js';
import { gp } from './exceptions.js';
import { flushTlb } from './tlb.js';
import { pcidOf, switchPcid } from './pcid.js';

export function writeCr0(c: EmuCpu, v: number): void {
  v |= CR0_ET;
  if ((v & CR0_PG) !== 0 && (v & CR0_PE) === 0) return gp(c, 0);
  if ((v & CR0_NW) !== 0 && (v & CR0_CD) === 0) return gp(c, 0);
  if ((v & CR0_PG) === 0 && (c.cr4 & CR4_PCIDE) !== 0) return gp(c, 0);
  const old = c.cr0;
  if ((v & CR0_PG) !== 0 && (old & CR0_PG) === 0 && (c.efer & EFER_LME) !== 0) {
    if ((c.cr4 & CR4_PAE) === 0) return gp(c, 0);
    c.efer |= EFER_LMA;
  }
  if ((v & CR0_PG) === 0 && (old & CR0_PG) !== 0 && (c.efer & EFER_LMA) !== 0) {
    if (c.long64) return gp(c, 0);
    c.efer &= ~EFER_LMA;
  }
  c.cr0 = v | 0;
  if (((old ^ v) & (CR0_PG | CR0_WP | CR0_PE)) !== 0) flushTlb(c, true);
  c.updateMode();
}

export function writeCr4(c: EmuCpu, v: number): void {
  // The bits emu implements that the VM's CPUID offers (cpu-model-gates.ts) and, where it offers 5-level
  // paging, LA57; the rest (UMIP, VMXE, SMEP, SMAP, PKE, CET, ... and reserved bits) are #GP.
  if ((v & ~(c.cr4Writable | (c.la57 ? CR4_LA57 : 0))) !== 0) return gp(c, 0);
  const old = c.cr4;
  if ((c.efer & EFER_LMA) !== 0) {
    if ((v & CR4_PAE) === 0) return gp(c, 0);
    // The paging depth is fixed while long mode is active (SDM vol. 3A 4.1.1).
    if (((old ^ v) & CR4_LA57) !== 0) return gp(c, 0);
  }
  // PCIDs exist only in IA-32e mode, and the PCID of the CR3 in use when they start is 0.
  if ((v & ~old & CR4_PCIDE) !== 0 && ((c.efer & EFER_LMA) === 0 || pcidOf(c.cr3) !== 0)) return gp(c, 0);
  c.cr4 = v;
  // Clearing PCIDE flushes every PCID's entries, global ones included (SDM vol. 3A 4.10.4.1).
  if (((old ^ v) & (CR4_PAE | CR4_PSE | CR4_PGE | CR4_LA57)) !== 0 || (old & ~v & CR4_PCIDE) !== 0) flushTlb(c, true);
  if (((old ^ v) & CR4_LA57) !== 0) c.updateMode(); // the canonical bound (canonLim) follows CR4.LA57
  if (((old ^ v) & CR4_DE) !== 0) refreshDebug(c);
}

/** MOV to CR3 of `v`; `noFlush`: bit 63 of the source with CR4.PCIDE = 1 (the PCID's entries stay). */
export function writeCr3(c: EmuCpu, v: number, noFlush = false): void {
  if ((c.cr4 & CR4_PCIDE) !== 0) return switchPcid(c, v, noFlush);
  c.cr3 = v;
  flushTlb(c, false);
}

export function readCr8(c: EmuCpu): number {
  return c.apic !== undefined ? c.apic.getCr8() : c.cr8;
}

export function writeCr8(c: EmuCpu, v: number): void {
  if (v > 15) return gp(c, 0);
  c.pollAt = 0;
  if (c.apic !== undefined) c.apic.setCr8(v);
  else c.cr8 = v;
}

export function writeCr8Host(c: EmuCpu, v: number): void {
  if (c.apic !== undefined) c.apic.setCr8(v & 15);
  else c.cr8 = v & 15;
}
