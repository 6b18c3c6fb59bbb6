/** Writes of CR0/CR3/CR4/CR8 with their checks, mode changes and TLB flushes. */
import type { EmuCpu } from './cpu.js';
import { CR0_CD, CR0_ET, CR0_NW, CR0_PE, CR0_PG, CR0_WP, CR4_PAE, CR4_PGE, CR4_PSE, EFER_LMA, EFER_LME } from './x86-defs.js';
import { gp } from './exceptions.js';
import { flushTlb } from './tlb.js';

export function writeCr0(c: EmuCpu, v: number): void {
  v |= CR0_ET;
  if ((v & CR0_PG) !== 0 && (v & CR0_PE) === 0) return gp(c, 0);
  if ((v & CR0_NW) !== 0 && (v & CR0_CD) === 0) return gp(c, 0);
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
  if ((v & ~0x3ff7ff & ~(1 << 16) & ~(1 << 18)) !== 0) return gp(c, 0);
  if ((v & (1 << 11)) !== 0 || (v & (1 << 13)) !== 0 || (v & (1 << 14)) !== 0 || (v & (1 << 16)) !== 0 || (v & (1 << 17)) !== 0 || (v & (1 << 12)) !== 0) return gp(c, 0); // OSXSAVE (18) is supported
  if ((c.efer & EFER_LMA) !== 0 && (v & CR4_PAE) === 0) return gp(c, 0);
  const old = c.cr4;
  c.cr4 = v;
  if (((old ^ v) & (CR4_PAE | CR4_PSE | CR4_PGE)) !== 0) flushTlb(c, true);
}

export function writeCr3(c: EmuCpu, v: number): void {
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
