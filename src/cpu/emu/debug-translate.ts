/**
 * Linear → physical translation for a debug client: the page walk of the vCPU's current paging
 * mode without any side effect (no accessed/dirty bits, no TLB fill, no fault). Permission bits
 * are ignored: a debug client may read what the guest could not.
 */
import type { EmuCpu } from './cpu.js';
import { physRd32 } from './paging.js';
import { CR0_PG, CR4_LA57, CR4_PAE, CR4_PSE, EFER_LMA, Pow } from './x86-defs.js';

const ADDR_MASK_HI = 0xff; // MAXPHYADDR 40: bits 32-39 of an entry's address

/** The 64-bit entry at physical `pa` as [lo, hi]. */
function entry(c: EmuCpu, pa: number): [number, number] {
  return [physRd32(c, pa) >>> 0, physRd32(c, pa + 4) >>> 0];
}

/** Physical address of the 4 KiB-aligned frame field of a 64-bit entry. */
function frame(lo: number, hi: number): number {
  return (hi & ADDR_MASK_HI) * Pow.Two32 + ((lo & 0xfffff000) >>> 0);
}

/**
 * Physical address of linear `lin` on `c`, or -1 when it is not mapped. `lin` is emu's address number or,
 * exact for every 64-bit address (5-level paging reaches beyond what a double holds), a bigint.
 */
export function peekTranslate(c: EmuCpu, lin: number | bigint): number {
  const u64 = BigInt.asUintN(64, typeof lin === 'bigint' ? lin : BigInt(Math.trunc(lin)));
  const u32 = Number(u64 & 0xffff_ffffn);
  if ((c.cr0 & CR0_PG) === 0) return u32;
  if ((c.efer & EFER_LMA) !== 0) {
    // 4-level: PML4 → PDPT (1 GiB) → PD (2 MiB) → PT; 5-level puts a PML5 in front. Non-canonical: unmapped.
    const levels = (c.cr4 & CR4_LA57) !== 0 ? 5 : 4;
    const width = BigInt(levels * 9 + 12);
    if (BigInt.asIntN(64, u64) !== BigInt.asIntN(Number(width), u64)) return -1;
    let table = frame(c.cr3 >>> 0, Math.floor(c.cr3 / Pow.Two32));
    for (let level = 0; level < levels; level++) {
      const shift = BigInt((levels - 1 - level) * 9 + 12);
      const [lo, hi] = entry(c, table + Number((u64 >> shift) & 511n) * 8);
      if ((lo & 1) === 0) return -1;
      // A PDPTE or PDE with PS maps a 1 GiB or 2 MiB page.
      if (levels - level <= 3 && levels - level >= 2 && (lo & 0x80) !== 0) {
        const size = 2 ** Number(shift);
        const base = frame(lo, hi);
        return base - (base % size) + Number(u64 % BigInt(size));
      }
      table = frame(lo, hi);
    }
    return table + u32 % 4096;
  }
  const l = u32;
  if ((c.cr4 & CR4_PAE) !== 0) {
    const [plo, phi] = entry(c, ((c.cr3 >>> 0) & ~0x1f) + (l >>> 30) * 8);
    if ((plo & 1) === 0) return -1;
    const [dlo, dhi] = entry(c, frame(plo, phi) + ((l >>> 21) & 511) * 8);
    if ((dlo & 1) === 0) return -1;
    if ((dlo & 0x80) !== 0) {
      const base = frame(dlo, dhi);
      return base - (base % 2 ** 21) + (l % 2 ** 21);
    }
    const [tlo, thi] = entry(c, frame(dlo, dhi) + ((l >>> 12) & 511) * 8);
    if ((tlo & 1) === 0) return -1;
    return frame(tlo, thi) + (l & 0xfff);
  }
  const pde = physRd32(c, ((c.cr3 >>> 0) & 0xfffff000) + (l >>> 22) * 4) >>> 0;
  if ((pde & 1) === 0) return -1;
  if ((pde & 0x80) !== 0 && (c.cr4 & CR4_PSE) !== 0) {
    // 4 MiB page (PSE-36: bits 13-20 are physical bits 32-39).
    return ((pde >>> 13) & 0xff) * Pow.Two32 + ((pde & 0xffc00000) >>> 0) + (l & 0x3fffff);
  }
  const pte = physRd32(c, (pde & 0xfffff000) + ((l >>> 12) & 1023) * 4) >>> 0;
  if ((pte & 1) === 0) return -1;
  return ((pte & 0xfffff000) >>> 0) + (l & 0xfff);
}
