/**
 * The TLB as the wasm tier's compiled code reads it (EmuCpu.wtlb, Slot.WTlb): per entry an i64 read tag, an i64
 * write tag and an int32 delta, derived from the interpreter's entry (tlbTagR, tlbTagW, tlbAddr) by `wtlbSync`
 * wherever one of those changes (tlb.ts, pcid.ts), so that a compiled access's hit test is one i64 compare:
 * - a tag is the exact page (i64) where the interpreter's tag is that page and the page's RAM is in the wasm memory,
 *   else -1 (which matches no page): a page outside the memory, a watched one, a code page (write tag page + 1)
 *   all miss without a check of their own;
 * - the write tag is set only where the read tag is, so a read-modify-write tests the write tag alone;
 * - the host address is delta + the linear address's low half (int32 arithmetic): no offset masked in.
 */
import type { EmuCpu } from './cpu.js';

/** int32s per entry: read tag lo, hi; write tag lo, hi; delta; 3 unused (32 bytes: one shift scales the index). */
export const enum Wt {
  RLo = 0,
  RHi = 1,
  WLo = 2,
  WHi = 3,
  Delta = 4,
  Words = 8,
  /** log2 of the entry's bytes. */
  Shift = 5,
}

/** Brings compiled code's entry `i` in step with the interpreter's. */
export function wtlbSync(c: EmuCpu, i: number): void {
  const w = c.wtlb;
  if (w === null) return;
  const at = i * Wt.Words;
  const a = c.tlbAddr[i]!;
  const r = c.tlbTagR[i]!;
  // r is -1 or an exact page (a multiple of 4096 as a double is an integer, beyond 2^53 too): its i64 halves.
  if (a === -1 || r % 4096 !== 0) {
    w[at + Wt.RLo] = w[at + Wt.RHi] = w[at + Wt.WLo] = w[at + Wt.WHi] = -1;
    return;
  }
  const hi = Math.floor(r / 4294967296);
  const lo = (r - hi * 4294967296) | 0;
  w[at + Wt.RLo] = lo;
  w[at + Wt.RHi] = hi;
  const wr = c.tlbTagW[i] === r;
  w[at + Wt.WLo] = wr ? lo : -1;
  w[at + Wt.WHi] = wr ? hi : -1;
  w[at + Wt.Delta] = (a - lo) | 0;
}

/** Drops compiled code's entry `i` (the interpreter's was dropped). */
export function wtlbDrop(c: EmuCpu, i: number): void {
  const w = c.wtlb;
  if (w === null) return;
  const at = i * Wt.Words;
  w[at + Wt.RLo] = w[at + Wt.RHi] = w[at + Wt.WLo] = w[at + Wt.WHi] = -1;
}

/** Drops compiled code's write tag of entry `i`. */
export function wtlbDropWrite(c: EmuCpu, i: number): void {
  const w = c.wtlb;
  if (w === null) return;
  const at = i * Wt.Words;
  w[at + Wt.WLo] = w[at + Wt.WHi] = -1;
}

/** Drops every write tag of compiled code's TLB. */
export function wtlbDropAllWrites(c: EmuCpu): void {
  const w = c.wtlb;
  if (w === null) return;
  for (let at = 0; at < w.length; at += Wt.Words) w[at + Wt.WLo] = w[at + Wt.WHi] = -1;
}

/** Drops every entry of compiled code's TLB. */
export function wtlbClear(c: EmuCpu): void {
  c.wtlb?.fill(-1);
}
