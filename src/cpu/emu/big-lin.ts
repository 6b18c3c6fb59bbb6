/**
 * The paths of linear addresses beyond +-2^53 (5-level paging), which reach here as handles (address.ts). Their
 * pages live in the main TLB like any other: a page address there (a multiple of 4096 below 2^57) is an exact
 * double, so the entry's tag is the page exactly and its index comes from the low half, as for every page. A
 * handle matches no tag itself (it is not an integer): the lookups here take its exact halves, and compiled code
 * (which keeps the exact i64) matches the tags inline. A miss walks exactly, then reaches RAM (filling the entry
 * with the same rules as rdSlow/wrSlow: a write entry only after a write translation, none for a page holding
 * decoded code), the local APIC or MMIO.
 */
import type { EmuCpu } from './cpu.js';
import { BIG, bigHalves, bigHandle, exactPage, halvesOf, linOf, nonCanonicalHi } from './address.js';
import { gp } from './exceptions.js';
import { translate } from './paging.js';
import { ramAt, rd8, rdPhys, wr8, wrPhys } from './mem-access.js';
import { fill } from './tlb.js';
import { dataAccessBig } from './debug-regs.js';
import { Pow, Tlb } from './x86-defs.js';

/** The lowest canonical page under 5-level paging, -2^56: rounded doubles of addresses just below it land on it. */
const LOWEST = -Pow.Two56;

/**
 * The main-TLB entry of `tags` (c.tlbTagR or c.tlbTagW) that maps the page of handle `h`, or -1; BIG keeps the
 * handle's halves. The tags hold exact page addresses, so a match is that page's entry and no other's.
 */
export function bigEntry(c: EmuCpu, h: number, tags: Float64Array): number {
  bigHalves(h);
  const lo = BIG.lo;
  const i = ((lo >>> 12) & Tlb.Mask) | c.tlbUser;
  return tags[i] === exactPage(BIG.hi, lo) ? i : -1;
}

/**
 * The page address `fill` may take for the exact address hi:lo, or NaN (no entry): while a data breakpoint or
 * watchpoint guards any page (their pages are kept as doubles, which cannot name these; every access there must
 * reach dataAccessBig), and for the lowest page, where a non-canonical address rounded to a double would match.
 */
function fillPage(c: EmuCpu, hi: number, lo: number): number {
  if (c.watchPages.size !== 0) return NaN;
  const p = exactPage(hi, lo);
  return p === LOWEST ? NaN : p;
}

/** The physical address of the exact address hi:lo for access `acc` (0 read, 1 write), canonical checked (#GP). */
function bigTranslate(c: EmuCpu, hi: number, lo: number, acc: number): number {
  if (nonCanonicalHi(c, hi)) return gp(c, 0);
  c.bigWalks++;
  return translate(c, bigHandle(hi, lo), acc);
}

/** rdSlow for handle `h` (size 8: the low half, the high half in c.hi). */
export function rdBig(c: EmuCpu, h: number, size: number): number {
  const i = bigEntry(c, h, c.tlbTagR);
  const lo = BIG.lo;
  const off = lo & 0xfff;
  if (i >= 0 && off + size <= 4096) {
    const v = c.tlbView[i]!;
    const o = c.tlbOff[i]! + off;
    if (size === 8) {
      c.hi = v.getInt32(o + 4, true);
      return v.getInt32(o, true);
    }
    return size === 1 ? v.getUint8(o) : size === 2 ? v.getUint16(o, true) : v.getInt32(o, true);
  }
  if (size === 8) {
    const l = rdBig(c, h, 4);
    c.hi = rdBig(c, h + 4, 4);
    return l;
  }
  if (off + size > 4096) {
    let v = 0;
    for (let k = 0; k < size; k++) v |= rd8(c, h + k) << (8 * k);
    return size === 4 ? v | 0 : v;
  }
  const hi = BIG.hi;
  const pa = bigTranslate(c, hi, lo, 0);
  if (c.debugArmed) dataAccessBig(c, hi, lo, size, false);
  return rdPhys(c, pa, size, fillPage(c, hi, lo));
}

/**
 * fetchPhys for a RIP beyond +-2^53 (a code handle, address.ts ripOf): the physical address of its byte, from the
 * TLB's execute entry by the exact halves, else walked exactly (a #PF there has the exact CR2) and entered.
 */
export function fetchBig(c: EmuCpu, h: number): number {
  const i = bigEntry(c, h, c.tlbTagX);
  const lo = BIG.lo;
  if (i >= 0) return c.tlbPhys[i]! + (lo & 0xfff);
  const hi = BIG.hi;
  const pa = bigTranslate(c, hi, lo, 2);
  const r = ramAt(c, pa);
  const page = fillPage(c, hi, lo);
  if (r !== undefined && page === page) fill(c, page, pa, 2, r);
  return pa;
}

/** wrSlow for handle `h` (size 8: `v` the low half, `vhi` the high half). */
export function wrBig(c: EmuCpu, h: number, size: number, v: number, vhi = 0): void {
  const i = bigEntry(c, h, c.tlbTagW);
  const lo = BIG.lo;
  const off = lo & 0xfff;
  if (i >= 0 && off + size <= 4096) {
    const w = c.tlbView[i]!;
    const o = c.tlbOff[i]! + off;
    if (size === 1) w.setUint8(o, v);
    else if (size === 2) w.setUint16(o, v, true);
    else {
      w.setInt32(o, v, true);
      if (size === 8) w.setInt32(o + 4, vhi, true);
    }
    return;
  }
  if (size === 8) {
    // Both halves checked for writing before either is stored.
    probeBig(c, h, 8);
    wrBig(c, h, 4, v);
    wrBig(c, h + 4, 4, vhi);
    return;
  }
  if (off + size > 4096) {
    probeBig(c, h, size);
    for (let k = 0; k < size; k++) wr8(c, h + k, v >>> (8 * k));
    return;
  }
  const hi = BIG.hi;
  const pa = bigTranslate(c, hi, lo, 1);
  if (c.debugArmed) dataAccessBig(c, hi, lo, size, true);
  wrPhys(c, pa, size, v, fillPage(c, hi, lo));
}

/** probeWrite for handle `h`: faults now (CR2 of the first byte of the page that cannot be written) if a write would. */
export function probeBig(c: EmuCpu, h: number, size: number): void {
  const i = bigEntry(c, h, c.tlbTagW);
  const hi = BIG.hi;
  const lo = BIG.lo;
  const off = lo & 0xfff;
  // A write entry says a write translation was made (none for a code page: it walks again, as it may).
  if (i < 0) bigTranslate(c, hi, lo, 1);
  if (off + size > 4096) {
    const next = h + (4096 - off);
    if (bigEntry(c, next, c.tlbTagW) < 0) bigTranslate(c, BIG.hi, BIG.lo, 1);
  }
}

/**
 * Compiled blocks (jit/) keep a linear address in an i64, exact at every width. Their `ea` import leaves ea()'s
 * result `a` here as exact halves in the vCPU's Slot.Lin, which the block loads as an i64 (a handle's fraction
 * would not survive a double's conversion to an integer).
 */
export function linToSlot(c: EmuCpu, a: number): void {
  if (Math.floor(a) !== a) c.bigCallouts++;
  halvesOf(a);
  c.linSlot[0] = BIG.lo;
  c.linSlot[1] = BIG.hi;
}

/**
 * The address a block passed its `rd`/`wr`/`rdw`/`wr8` import as the double `lin`, having stored the i64 in Slot.Lin:
 * `lin` itself within +-2^53, where it is exact; beyond, the exact address from the slot (a handle: address.ts linOf).
 */
export function linFromSlot(c: EmuCpu, lin: number): number {
  if (lin > -Pow.Two53 && lin < Pow.Two53) return lin;
  c.bigCallouts++;
  return linOf(c, c.linSlot[1]!, c.linSlot[0]!);
}
