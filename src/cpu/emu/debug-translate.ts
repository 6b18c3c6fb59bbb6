/**
 * Linear → physical translation for a debug client: the page walk of the vCPU's current paging
 * mode without any side effect (no accessed/dirty bits, no TLB fill, no fault). Permission bits
 * are ignored: a debug client may read what the guest could not.
 */
import type { EmuCpu } from './cpu.js';
import { physRd32 } from './paging.js';
import { CR0_PG, CR4_PAE, CR4_PSE, EFER_LMA, Pow } from './x86-defs.js';

const ADDR_MASK_HI = 0xff; // MAXPHYADDR 40: bits 32-39 of an entry's address

/** The 64-bit entry at physical `pa` as [lo, hi]. */
function entry(c: EmuCpu, pa: number): [number, number] {
  return [physRd32(c, pa) >>> 0, physRd32(c, pa + 4) >>> 0];
}

/** Physical address of the 4 KiB-aligned frame field of a 64-bit entry. */
function frame(lo: number, hi: number): number {
  return (hi & ADDR_MASK_HI) * Pow.Two32 + ((lo & 0xfffff000) >>> 0);
}

/** Physical address of linear `lin` on `c`, or -1 when it is not mapped. */
export function peekTranslate(c: EmuCpu, lin: number): number {
  // `lin` is emu's signed canonical number (exact in a double); lin + 2^64 would not be, so the walk takes
  // the low 48 bits (exact: a canonical address below 0 is at least -2^47) and 32-bit modes the low 32.
  const u32 = ((lin % Pow.Two32) + Pow.Two32) % Pow.Two32;
  if ((c.cr0 & CR0_PG) === 0) return u32;
  if ((c.efer & EFER_LMA) !== 0) {
    const u = lin < 0 ? lin + 2 ** 48 : lin;
    // 4-level: PML4 → PDPT (1 GiB) → PD (2 MiB) → PT.
    let table = frame(c.cr3 >>> 0, Math.floor(c.cr3 / Pow.Two32));
    const idx = [Math.floor(u / 2 ** 39) % 512, Math.floor(u / 2 ** 30) % 512, Math.floor(u / 2 ** 21) % 512, Math.floor(u / 4096) % 512];
    for (let level = 0; level < 4; level++) {
      const [lo, hi] = entry(c, table + idx[level]! * 8);
      if ((lo & 1) === 0) return -1;
      if ((level === 1 || level === 2) && (lo & 0x80) !== 0) {
        const size = level === 1 ? 2 ** 30 : 2 ** 21;
        const base = frame(lo, hi);
        return base - (base % size) + (u % size);
      }
      table = frame(lo, hi);
    }
    return table + (u % 4096);
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
