/**
 * The software TLB: per privilege (supervisor, user) 1024 direct-mapped entries mapping a
 * linear page to a DataView and offset, with separate read/write/fetch tags. Pages that hold
 * decoded code never get write entries the fast paths match, so writes to them take the slow path
 * (code-cache.ts).
 */
import type { EmuCpu } from './cpu.js';
import { JC_SIZE, Pow, Tlb, VLin, jcPageRun } from './x86-defs.js';
import { BIG, bigHalves, exactPage } from './address.js';
import type { RamRegion } from './mem-access.js';
import { linkValidity } from './jit/link-validity.js';
import { wtlbClear, wtlbDrop, wtlbDropAllWrites, wtlbDropWrite, wtlbSync } from './tlb-wasm.js';

export function flushTlb(c: EmuCpu, global: boolean): void {
  if (global) {
    c.tlbTagR.fill(-1);
    c.tlbTagW.fill(-1);
    c.tlbTagX.fill(-1);
    c.tlbPhys.fill(-1);
    wtlbClear(c);
    c.largePages.clear();
    unlistAll(c);
    dropAllContexts(c);
    c.jcEpoch = c.cache.newEpoch();
    c.jcEpochG = c.cache.newEpoch();
    return;
  }
  dropNonGlobal(c);
  // Blocks on global pages stay found: a CR3 write (every context switch) keeps the kernel's code hot.
  // The others are found through a translation again (run-loop.ts lookupSlow), without a code-cache lookup
  // when the page still maps where it did.
  c.jcEpoch = c.cache.newEpoch();
}

/**
 * Drops the non-global entries. Only entries filled since the last flush can hold a non-global translation. A
 * context switch writes CR3 every few thousand instructions in a shell pipeline, when a few dozen entries were
 * filled: scanning all 2 048 was ~6 us a switch.
 */
export function dropNonGlobal(c: EmuCpu): void {
  const g = c.tlbGlobal;
  const list = c.tlbLocal;
  const listed = c.tlbListed;
  for (let k = 0; k < c.tlbLocalN; k++) {
    const i = list[k]!;
    listed[i] = 0;
    if (g[i] === 0) dropTlbEntry(c, i);
  }
  c.tlbLocalN = 0;
}

/** Forgets the TLB entries saved for PCIDs that are not current (pcid.ts). */
export function dropAllContexts(c: EmuCpu): void {
  for (const x of c.pcidCtx) {
    x.pcid = -1;
    x.view.fill(c.dummyView, 0, x.n); // no hold on RAM views a map change replaced
    x.n = 0;
  }
}

/** Sizes of large pages, smallest first (4 MiB: 32-bit paging with PSE). */
const LARGE_SPANS = [0x200000, 0x400000, 0x40000000];

/** Linear start of the `span`-aligned page holding `lin`. */
function spanStart(lin: number, span: number): number {
  return lin - (lin - Math.floor(lin / span) * span);
}

/**
 * INVLPG: drops the TLB entries of the page holding `lin` and the jump cache entries of blocks that
 * lie in it. Entries here are per 4 KiB page even for a large page, so when `lin` lies in a large page
 * an entry came from since the last full flush (c.largePages) every entry inside it goes (the
 * instruction drops the whole large-page translation); otherwise only its 4 KiB page's. Linux's
 * INVLPGs hit 4 KiB pages: scanning the whole TLB and jump cache for each, as when any large page was
 * mapped, cost ~0.1 ms apiece.
 */
export function invlpg(c: EmuCpu, lin: number): void {
  // A handle (beyond +-2^53): its page's exact address, as the entries hold it (big-lin.ts). No block lies there
  // (RIP stays within +-2^53).
  const big = Math.floor(lin) !== lin;
  if (big) {
    bigHalves(lin);
    lin = exactPage(BIG.hi, BIG.lo);
  }
  let span = 4096;
  if (c.largePages.size !== 0) {
    // The largest one (a page remapped with another size without a full flush may have left both).
    for (const s of LARGE_SPANS) {
      const start = spanStart(lin, s);
      if (c.largePages.get(start) === s) {
        c.largePages.delete(start);
        span = s;
      }
    }
  }
  const base = spanStart(lin, span);
  const end = base + span;
  if (span === 4096) {
    const i = (lin >>> 12) & Tlb.Mask;
    dropTlbEntry(c, i);
    dropTlbEntry(c, i + Tlb.Size);
  } else {
    const tr = c.tlbTagR;
    const tw = c.tlbTagW;
    const tx = c.tlbTagX;
    for (let k = 0; k < tr.length; k++) {
      const r = tr[k]!;
      const w = tw[k]!;
      const x = tx[k]!;
      if ((r >= base && r < end) || (w >= base && w < end) || (x >= base && x < end)) dropTlbEntry(c, k);
    }
  }
  if (big) return;
  // A block may run on from the page before into this one.
  // A block is valid at its vLin only while a jump-cache slot holds it (run-loop.ts lookupSlow), so these are all.
  const from = base - 4096;
  if (span === 4096) {
    // The two pages' slots only (x86-defs.ts jcPageRun), in both halves.
    dropJcPage(c, from, end, jcPageRun(from));
    dropJcPage(c, from, end, jcPageRun(base));
  } else dropJc(c, from, end, 0, 2 * JC_SIZE);
}

/** dropJc over one page's run of slots (`run`, jcPageRun) in both halves. */
function dropJcPage(c: EmuCpu, from: number, end: number, run: number): void {
  dropJc(c, from, end, run, run + 4096);
  dropJc(c, from, end, run + JC_SIZE, run + JC_SIZE + 4096);
}

/** Drops the jump-cache slots among [j0, j1) that hold a block at a linear address in [from, end). */
function dropJc(c: EmuCpu, from: number, end: number, j0: number, j1: number): void {
  const jt = c.jcTag;
  const jb = c.jcBlock;
  for (let j = j0; j < j1; j++) {
    const t = jt[j]!;
    if (t >= from && t < end) {
      jt[j] = -1;
      const b = jb[j];
      if (b !== undefined && b.vLo === (t | 0) && b.vHi === (t - (t | 0)) / 4294967296) {
        b.vHi = VLin.None;
        if (b.wl !== null) linkValidity(b);
      }
    }
  }
}

/** Forgets the list of non-global entries (every entry was just dropped). */
function unlistAll(c: EmuCpu): void {
  const list = c.tlbLocal;
  for (let k = 0; k < c.tlbLocalN; k++) c.tlbListed[list[k]!] = 0;
  c.tlbLocalN = 0;
}

function dropTlbEntry(c: EmuCpu, k: number): void {
  c.tlbTagR[k] = -1;
  c.tlbTagW[k] = -1;
  c.tlbTagX[k] = -1;
  c.tlbPhys[k] = -1;
  wtlbDrop(c, k);
}

/** Drops write-TLB entries for physical page `ppage` (it now holds decoded code). */
export function dropWriteEntries(c: EmuCpu, ppage: number): void {
  c.wGen++; // and those saved for other PCIDs (pcid.ts)
  const pb = ppage * 4096;
  const ph = c.tlbPhys;
  for (let i = 0; i < ph.length; i++) {
    if (ph[i] === pb) {
      c.tlbTagW[i] = -1;
      wtlbDropWrite(c, i);
    }
  }
}

/** Drops every write entry (the dirty log was read and cleared: the next write to each page must mark it). */
export function dropAllWriteEntries(c: EmuCpu): void {
  c.wGen++;
  c.tlbTagW.fill(-1);
  wtlbDropAllWrites(c);
}

/** Fills the TLB entry for `lin` after a successful translation to RAM `phys`. */
export function fill(c: EmuCpu, lin: number, phys: number, acc: number, r: RamRegion): void {
  const page = lin - (lin & 0xfff);
  const i = ((lin >>> 12) & Tlb.Mask) | c.tlbUser;
  const pp = phys - (phys & 0xfff);
  if (c.tlbPhys[i] !== pp || c.tlbTagR[i] !== page) {
    c.tlbTagR[i] = -1;
    c.tlbTagW[i] = -1;
    c.tlbTagX[i] = -1;
  }
  c.tlbPhys[i] = pp;
  c.tlbOff[i] = pp - r.gpa;
  c.tlbView[i] = r.view;
  c.tlbAddr[i] = r.wasmAddr < 0 ? -1 : r.wasmAddr + (pp - r.gpa);
  c.tlbGlobal[i] = c.xlGlobal;
  if (c.xlGlobal === 0 && c.tlbListed[i] === 0) {
    c.tlbListed[i] = 1;
    c.tlbLocal[c.tlbLocalN++] = i;
  }
  if (c.xlSpan !== 0) {
    const start = spanStart(lin, c.xlSpan);
    if (c.largePages.get(start) !== c.xlSpan) c.largePages.set(start, c.xlSpan);
  }
  // Pages with data breakpoints or watchpoints keep taking the slow paths (debug-regs.ts).
  const watched = c.watchPages.size !== 0 && c.watchPages.has(page);
  if (!watched) c.tlbTagR[i] = page;
  if (acc === 2) c.tlbTagX[i] = page;
  if (acc === 1) {
    // The dirty log is filled here, once per write translation, not per store: collectDirty drops
    // every write entry (dropAllWriteEntries), so the first write after it comes back and marks again.
    c.memory.markDirty(pp, 4096);
    // A page holding decoded code gets the tag page + 1, which no fast path matches: its stores take
    // wrSlow, which needs no new translation for them (wrCodePage). Beyond +-2^53 page + 1 is page again
    // (big-lin.ts): no write entry there.
    if (!watched) c.tlbTagW[i] = c.cache.isCode(pp) ? (page > -Pow.Two53 && page < Pow.Two53 ? page + 1 : -1) : page;
  }
  wtlbSync(c, i);
}
