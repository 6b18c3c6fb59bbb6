/**
 * Which blocks form a page's region, and when it is (re)compiled: when a block of a page gets hot,
 * the page's region is compiled again with every hot block of the page in it (up to the region
 * caps), so a page's region grows with what runs there; after MAX_COMPILES a page keeps its region
 * and later hot blocks get the block compiler's single-block functions instead. Regions live as
 * long as their page's blocks in the code cache (a write to the page, a flush or a reset drops them).
 */
import type { EmuCpu } from '../cpu.js';
import type { Block } from '../insn.js';
import { compileBlock } from '../block-compiler.js';
import { compileRegion, regionable, REGION_MAX_BLOCKS, REGION_MAX_INSNS } from './region-compiler.js';

/** Compiles of one page's region before its later hot blocks are compiled alone. */
const MAX_COMPILES = 6;

/** `blk` just got hot (c.jitThreshold runs): compile its page's region with it, or the block alone. */
export function blockGotHot(c: EmuCpu, blk: Block): void {
  const cache = c.cache;
  const pp = blk.phys - (blk.phys % 4096);
  const key = pp * 4 + blk.mode;
  let page = cache.jitPages.get(key);
  if (page === undefined) {
    page = { compiles: 0, bytes: 0 };
    cache.jitPages.set(key, page);
  }
  if (page.compiles >= MAX_COMPILES || !regionable(blk)) {
    blk.exec = compileBlock(blk, cache.jit);
    return;
  }
  const hot = Math.max(1, c.jitThreshold >> 2);
  const all = cache.blocksOn(pp) ?? [];
  const cand: Block[] = [];
  for (const b of all) {
    if (!b.valid || b.mode !== blk.mode || b === blk || cache.get(b.phys, b.mode) !== b) continue;
    if ((b.hits >= hot || b.region !== null) && regionable(b)) cand.push(b);
  }
  cand.sort((a, b) => b.hits - a.hits);
  const chosen: Block[] = [blk];
  let insns = blk.insns.length;
  for (const b of cand) {
    if (chosen.length >= REGION_MAX_BLOCKS || insns + b.insns.length > REGION_MAX_INSNS) {
      b.region = null;
      continue;
    }
    chosen.push(b);
    insns += b.insns.length;
  }
  const r = compileRegion(chosen, blk.mode, cache.jit);
  page.compiles++;
  if (r === null) {
    blk.exec = compileBlock(blk, cache.jit);
    return;
  }
  if (page.bytes === 0) cache.jit.liveRegions++;
  cache.jit.liveBytes += r.bytes - page.bytes;
  page.bytes = r.bytes;
  for (const b of chosen) b.region = r;
}
