/**
 * The page walk: 32-bit (4K/4M PSE), PAE, 4- and 5-level paging (4K/2M/1G), with NX, WP, U/S,
 * accessed/dirty bits, reserved-bit checks (MAXPHYADDR 40) and #PF error codes.
 */
import type { EmuCpu } from './cpu.js';
import { ramAt } from './mem-access.js';
import { CR0_PG, CR0_WP, CR4_LA57, CR4_PAE, CR4_PGE, CR4_PSE, EFER_LMA, EFER_NXE, VEC_PF, Pow, BigAd } from './x86-defs.js';
import { gp, raise, unrepresentable } from './exceptions.js';
import { BIG, bigHalves, nonCanonical, regValue, nonCanonicalHi } from './address.js';

/**
 * A paging-structure read. Where no RAM is, the bus reads all-ones (as data reads do): the walk goes on
 * with an entry that is present with every bit set, so under PAE and 4-level paging its reserved bits fault
 * (#PF with RSVD) and under 32-bit paging it maps frame 0xfffff000. Not a not-present fault by fiat.
 */
export function physRd32(c: EmuCpu, pa: number): number {
  const r = ramAt(c, pa);
  if (r === undefined || pa + 4 > r.gpa + r.size) return -1;
  return r.view.getInt32(pa - r.gpa, true);
}

export function physWr32(c: EmuCpu, pa: number, v: number): void {
  const r = ramAt(c, pa);
  if (r === undefined || pa + 4 > r.gpa + r.size) return;
  r.view.setInt32(pa - r.gpa, v, true);
  c.memory.markDirty(pa, 4);
}

export function pageFault(c: EmuCpu, lin: number, acc: number, user: boolean, present: boolean, rsvd: boolean): never {
  if (Math.floor(lin) !== lin) {
    // A handle (beyond +-2^53): CR2 keeps its exact halves.
    bigHalves(lin);
    c.cr2 = regValue(c, BigAd.Cr2, BIG.hi, BIG.lo);
  } else c.cr2 = lin;
  let code = (present ? 1 : 0) | (acc === 1 ? 2 : 0) | (user ? 4 : 0) | (rsvd ? 8 : 0);
  if (acc === 2 && (c.efer & EFER_NXE) !== 0 && (c.cr4 & CR4_PAE) !== 0) code |= 16;
  return raise(c, VEC_PF, code);
}

/**
 * Translates linear `lin` for access `acc` (0 read, 1 write, 2 fetch) at the current
 * privilege (user when tlbUser !== 0). Sets accessed/dirty bits; raises #PF/#GP.
 */
export function translate(c: EmuCpu, lin: number, acc: number): number {
  const user = c.tlbUser !== 0;
  c.xlGlobal = 0;
  c.xlSpan = 0;
  if ((c.cr0 & CR0_PG) === 0) return c.long64 ? lin : lin >>> 0;
  const nxe = (c.efer & EFER_NXE) !== 0;
  const wp = (c.cr0 & CR0_WP) !== 0;
  let rw = 2;
  let us = 4;
  let nx = false;
  let phys: number;
  let leafAddr: number;
  let leafLo: number;
  if ((c.cr4 & CR4_PAE) === 0) {
    const l = lin >>> 0;
    const pdeA = (c.cr3 & 0xfffff000) + ((l >>> 22) << 2);
    const pde = physRd32(c, pdeA);
    if ((pde & 1) === 0) return pageFault(c, lin, acc, user, false, false);
    rw &= pde;
    us &= pde;
    if ((pde & 0x80) !== 0 && (c.cr4 & CR4_PSE) !== 0) {
      if ((pde & 0x200000) !== 0) return pageFault(c, lin, acc, user, true, true);
      phys = ((pde & 0xffc00000) >>> 0) + ((pde >>> 13) & 0xff) * Pow.Two32 + (l & 0x3fffff);
      leafAddr = pdeA;
      leafLo = pde;
      c.xlSpan = 0x400000;
    } else {
      if ((pde & 0x20) === 0) physWr32(c, pdeA, pde | 0x20);
      const pteA = ((pde & 0xfffff000) >>> 0) + (((l >>> 12) & 0x3ff) << 2);
      const pte = physRd32(c, pteA);
      if ((pte & 1) === 0) return pageFault(c, lin, acc, user, false, false);
      rw &= pte;
      us &= pte;
      phys = ((pte & 0xfffff000) >>> 0) + (l & 0xfff);
      leafAddr = pteA;
      leafLo = pte;
    }
  } else {
    let lo = lin >>> 0;
    let tableA: number;
    let levels: number;
    if ((c.efer & EFER_LMA) !== 0) {
      let hi: number;
      if (Math.floor(lin) !== lin) {
        // A handle: an address beyond +-2^53 (address.ts), canonical when it was formed.
        bigHalves(lin);
        lo = BIG.lo;
        hi = BIG.hi;
        if (nonCanonicalHi(c, hi)) return gp(c, 0);
      } else {
        if (nonCanonical(c, lin)) return gp(c, 0);
        hi = Math.floor(lin / Pow.Two32);
      }
      const hi16 = hi & 0xffff;
      levels = 4;
      tableA = floorPage(c.cr3);
      if ((c.cr4 & CR4_LA57) !== 0) {
        // A rounded canonical address (not a handle) came from a path that does not form handles (RIP).
        if (lin <= -Pow.Two53 || lin >= Pow.Two53) return unrepresentable(c, lin);
        // PML5E (bits 56:48); like a PML4E it never maps a page (PS is reserved).
        const a5 = tableA + ((hi >> 16) & 0x1ff) * 8;
        const e = walkEntry(c, a5, lin, acc, user, nxe);
        if ((e & 0x80) !== 0) return pageFault(c, lin, acc, user, true, true);
        markAccessed(c, a5, e);
        rw &= e;
        us &= e;
        nx = c.walkNx;
        tableA = c.walkAddr;
      }
      tableA += ((hi16 >>> 7) & 0x1ff) * 8;
      // PML4E
      const e = walkEntry(c, tableA, lin, acc, user, nxe);
      if ((e & 0x80) !== 0) return pageFault(c, lin, acc, user, true, true);
      markAccessed(c, tableA, e);
      rw &= e;
      us &= e;
      nx = nx || c.walkNx;
      tableA = c.walkAddr + (((hi16 & 0x7f) << 2) | (lo >>> 30)) * 8;
    } else {
      levels = 3;
      const pdpteA = (c.cr3 & 0xffffffe0) + ((lo >>> 30) & 3) * 8;
      const p = physRd32(c, pdpteA);
      if ((p & 1) === 0) return pageFault(c, lin, acc, user, false, false);
      tableA = pdptAddr(p, physRd32(c, pdpteA + 4)) + ((lo >>> 21) & 0x1ff) * 8;
    }
    if (levels === 4) {
      // PDPTE (may map a 1 GiB page)
      const e = walkEntry(c, tableA, lin, acc, user, nxe);
      rw &= e;
      us &= e;
      nx = nx || c.walkNx;
      if ((e & 0x80) !== 0) {
        // Without 1 GiB pages in the VM's CPUID (pdpe1gb) PS is a reserved bit here.
        if ((e & 0x3fffe000) !== 0 || !c.gbPages) return pageFault(c, lin, acc, user, true, true);
        phys = c.walkAddr - (c.walkAddr % 0x40000000) + (lo & 0x3fffffff);
        leafAddr = tableA;
        leafLo = e;
        c.xlSpan = 0x40000000;
        return finishWalk(c, lin, acc, user, rw, us, nx, nxe, wp, phys, leafAddr, leafLo);
      }
      markAccessed(c, tableA, e);
      tableA = c.walkAddr + ((lo >>> 21) & 0x1ff) * 8;
    }
    // PDE
    const pde = walkEntry(c, tableA, lin, acc, user, nxe);
    rw &= pde;
    us &= pde;
    nx = nx || c.walkNx;
    if ((pde & 0x80) !== 0) {
      if ((pde & 0x1fe000) !== 0) return pageFault(c, lin, acc, user, true, true);
      phys = c.walkAddr - (c.walkAddr % 0x200000) + (lo & 0x1fffff);
      leafAddr = tableA;
      leafLo = pde;
      c.xlSpan = 0x200000;
    } else {
      markAccessed(c, tableA, pde);
      const pteA = c.walkAddr + ((lo >>> 12) & 0x1ff) * 8;
      const pte = walkEntry(c, pteA, lin, acc, user, nxe);
      rw &= pte;
      us &= pte;
      nx = nx || c.walkNx;
      phys = c.walkAddr + (lo & 0xfff);
      leafAddr = pteA;
      leafLo = pte;
    }
  }
  return finishWalk(c, lin, acc, user, rw, us, nx, nxe, wp, phys, leafAddr, leafLo);
}

/**
 * Reads a PAE/4-level entry at `a`; faults when not present or reserved. The caller sets its accessed
 * bit (markAccessed) once it knows the entry is not the leaf: a leaf's A bit is set only when the
 * access passes the permission checks (finishWalk).
 */
export function walkEntry(c: EmuCpu, a: number, lin: number, acc: number, user: boolean, nxe: boolean): number {
  const lo = physRd32(c, a);
  const hi = physRd32(c, a + 4);
  if ((lo & 1) === 0) return pageFault(c, lin, acc, user, false, false);
  // Reserved: address bits above MAXPHYADDR (40), NX without EFER.NXE.
  if ((hi & 0x000fff00) !== 0 || (!nxe && hi < 0)) return pageFault(c, lin, acc, user, true, true);
  c.walkNx = hi < 0;
  c.walkAddr = (hi & 0xff) * Pow.Two32 + ((lo & 0xfffff000) >>> 0);
  return lo;
}

/** Sets the accessed bit of a non-leaf entry the walk went through. */
function markAccessed(c: EmuCpu, a: number, lo: number): void {
  if ((lo & 0x20) === 0) physWr32(c, a, lo | 0x20);
}

export function finishWalk(c: EmuCpu, lin: number, acc: number, user: boolean, rw: number, us: number, nx: boolean, nxe: boolean, wp: boolean, phys: number, leafAddr: number, leafLo: number): number {
  if (user && us === 0) return pageFault(c, lin, acc, user, true, false);
  if (acc === 1 && rw === 0 && (user || wp)) return pageFault(c, lin, acc, user, true, false);
  if (acc === 2 && nx && nxe) return pageFault(c, lin, acc, user, true, false);
  let nl = leafLo | 0x20;
  if (acc === 1) nl |= 0x40;
  if (nl !== leafLo) physWr32(c, leafAddr, nl);
  // Accessed bits of the upper levels (set even if they were set: cheap and architecturally allowed).
  c.xlGlobal = (leafLo & 0x100) !== 0 && (c.cr4 & CR4_PGE) !== 0 ? 1 : 0;
  return phys;
}

function floorPage(a: number): number {
  return a - (a % 4096) - 0;
}
function pdptAddr(lo: number, hi: number): number {
  return (hi & 0xff) * Pow.Two32 + ((lo & 0xfffff000) >>> 0);
}
