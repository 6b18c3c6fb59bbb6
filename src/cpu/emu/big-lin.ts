/**
 * The slow paths of linear addresses beyond +-2^53 (5-level paging), which reach here as handles (address.ts):
 * exact page walks, kept in a TLB of their own keyed by page number (c.bigTlb), then RAM, the local APIC or MMIO
 * as rdSlow/wrSlow do. The main TLB never holds such a page: its tags are doubles, and a handle matches none.
 */
import type { EmuCpu } from './cpu.js';
import { BIG, bigHalves, bigHandle, pageNumber } from './address.js';
import { gp } from './exceptions.js';
import { translate } from './paging.js';
import { rd8, rdPhys, wr8, wrPhys } from './mem-access.js';
import { dataAccessBig } from './debug-regs.js';

/** Entries c.bigTlb holds before it starts again (a bound, not a tuning: each entry is one page). */
const BIG_TLB_MAX = 4096;

/** The physical address of the exact address hi:lo for access `acc` (0 read, 1 write), canonical checked (#GP). */
function bigTranslate(c: EmuCpu, hi: number, lo: number, acc: number): number {
  if (hi < -c.canonHi || hi >= c.canonHi) return gp(c, 0);
  if (c.bigTlbCr3 !== c.cr3) {
    c.bigTlb.clear();
    c.bigTlbCr3 = c.cr3;
  }
  // A write entry is made only by a write translation (the D bit set), as in the main TLB.
  const key = (pageNumber(hi, lo) * 2 + (c.tlbUser !== 0 ? 1 : 0)) * 2 + acc;
  const pp = c.bigTlb.get(key);
  if (pp !== undefined) return pp + (lo & 0xfff);
  const pa = translate(c, bigHandle(hi, lo), acc);
  if (c.bigTlb.size >= BIG_TLB_MAX) c.bigTlb.clear();
  c.bigTlb.set(key, pa - (pa & 0xfff));
  return pa;
}

/** rdSlow for handle `h`. */
export function rdBig(c: EmuCpu, h: number, size: number): number {
  bigHalves(h);
  const lo = BIG.lo;
  if ((lo & 0xfff) + size > 4096) {
    let v = 0;
    for (let k = 0; k < size; k++) v |= rd8(c, h + k) << (8 * k);
    return size === 4 ? v | 0 : v;
  }
  const hi = BIG.hi;
  const pa = bigTranslate(c, hi, lo, 0);
  if (c.debugArmed) dataAccessBig(c, hi, lo, size, false);
  return rdPhys(c, pa, size, NaN);
}

/** wrSlow for handle `h`. */
export function wrBig(c: EmuCpu, h: number, size: number, v: number): void {
  bigHalves(h);
  const lo = BIG.lo;
  if ((lo & 0xfff) + size > 4096) {
    probeBig(c, h, size);
    for (let k = 0; k < size; k++) wr8(c, h + k, v >>> (8 * k));
    return;
  }
  const hi = BIG.hi;
  const pa = bigTranslate(c, hi, lo, 1);
  if (c.debugArmed) dataAccessBig(c, hi, lo, size, true);
  wrPhys(c, pa, size, v, NaN);
}

/** probeWrite for handle `h`: faults now (CR2 of the first byte of the page that cannot be written) if a write would. */
export function probeBig(c: EmuCpu, h: number, size: number): void {
  bigHalves(h);
  const hi = BIG.hi;
  const lo = BIG.lo;
  bigTranslate(c, hi, lo, 1);
  const off = lo & 0xfff;
  if (off + size > 4096) {
    bigHalves(h + (4096 - off));
    bigTranslate(c, BIG.hi, BIG.lo, 1);
  }
}



/**
 * Compiled blocks (jit/) keep a linear address in an i64 and truncate what ea() returns to one, which would
 * lose a handle's fraction. Their `ea` import hands out a token instead: an integer 2^54 + s * 2^32 + 2^31 for
 * slot s of a ring holding the handle, exact as a double and as an i64 (a multiple of 4 added to it, as a bit
 * offset's displacement is, stays exact), matching no TLB tag; their `rd`/`wr` imports take it back. Tokens
 * exist only under CR4.LA57, where little else in [2^54, 2^54 + 2^38) reaches those imports: ea() gives such an
 * address as a handle, and the addresses compiled code forms itself are 48-bit canonical; only BT/BTS/BTR/BTC with
 * a register bit offset of 2^57 and more adds it to one (a limit, README).
 */
const TOKENS = 64;
const tokenHandle = new Float64Array(TOKENS);
let tokenNext = 0;
const TOKEN_BASE = 2 ** 54;
const TOKEN_END = TOKEN_BASE + TOKENS * 2 ** 32;

/** What compiled code's `ea` import returns for ea()'s result `a`: `a` itself, or a token for a handle. */
export function tokenOf(a: number): number {
  if (Math.floor(a) === a) return a;
  const s = tokenNext;
  tokenNext = (s + 1) & (TOKENS - 1);
  tokenHandle[s] = a;
  return TOKEN_BASE + s * 2 ** 32 + 2 ** 31;
}

/** The address a compiled block's `rd`/`wr` import was given: the handle again for a token, else `lin`. */
export function untoken(lin: number): number {
  if (lin < TOKEN_BASE || lin >= TOKEN_END) return lin;
  const rel = lin - TOKEN_BASE;
  const s = Math.floor(rel / 2 ** 32);
  return tokenHandle[s]! + (rel - s * 2 ** 32 - 2 ** 31);
}
