/**
 * Decoded-block cache shared by the vCPUs of one VM, keyed by guest-physical address
 * and decode mode. Pages holding decoded code are tracked so that a guest write to
 * them (which always takes the slow write path: the write TLB entries of code pages
 * match no fast path) invalidates their blocks.
 *
 * The cache is bounded: it holds at most `capacity` decoded instructions (with their
 * blocks and compiled functions, a few hundred host bytes each). A block that would pass
 * the bound first empties the whole cache (as QEMU flushes its translation buffer when it
 * is full): code that a guest runs once, such as zeroed RAM executed end to end, costs a
 * bounded amount of host memory instead of growing with every guest byte executed, and
 * a working set that fits (a Linux boot needs ~70k instructions) is never flushed.
 * Invalidation and flushing drop every reference the cache holds, so the blocks are freed.
 *
 * A block is kept only the second time its address is decoded (a small two-way table remembers
 * the first time; one new block in 32 is kept at once): code that runs once is decoded, run and
 * dropped while young,
 * which the garbage collector frees almost for nothing, where keeping it until a flush made
 * every such block an old-generation object (three quarters of the time went to collecting
 * them). Its page is still tracked, so a write to it still stops the running block.
 */
import type { Block } from './insn.js';
import { linkValidity } from './jit/link-validity.js';
import { JitStats } from './jit/jit-stats.js';

/** What the JIT keeps per code page and mode (jit/page-regions.ts). */
export interface JitPage {
  compiles: number;
  bytes: number;
}

export interface CodeCacheClient {
  dropWriteEntries(ppage: number): void;
  /** A guest write hit page `pp`: every block on it is gone (a vCPU running one stops after the writing instruction). */
  pageInvalidated(pp: number): void;
  /**
   * A guest store changed code bytes [pa, pa+len): a vCPU running a block that holds any of them stops after
   * the writing instruction (returns true: that block is invalidated too, kept or not).
   */
  codeWritten(pa: number, len: number): boolean;
  /** Every block was dropped (the cache was full): forget lookups that hold blocks (the jump cache). */
  cacheFlushed(): void;
}

/** Decoded instructions a cache holds by default: ~64 MiB of host memory at ~300 bytes each. */
export const DEFAULT_CODE_CACHE_INSNS = 1 << 18;
/** Slots of the table of block addresses decoded once (power of two; 512 KiB). */
const SEEN_SLOTS = 1 << 16;
/** One block in this many is kept the first time it is decoded. */
const KEEP_ANYWAY = 32;
/** Invalidations of one page after which its blocks are decoded one instruction at a time. */
const SMC_SHORT_BLOCKS_AFTER = 16;

/**
 * A physical page holding decoded code: its blocks (kept ones, and the ones a later decode at the same
 * address replaced, until the page goes) and a bitmap of the bytes they cover, so that a store to the
 * page drops only the blocks whose bytes it changes.
 */
interface CodePage {
  blocks: Block[];
  bits: Int32Array;
  /**
   * Blocks starting on the page before whose instruction ends on this one (Block.phys2). They are on that
   * page's list too, which alone counts them in `held` and releases them; here they are only invalidated.
   */
  tails: Block[];
}

function newPage(): CodePage {
  return { blocks: [], bits: new Int32Array(128), tails: [] };
}

/** Bytes of crossing block `b` on its second page. */
function tailLen(b: Block): number {
  return b.len - (4096 - (b.phys % 4096));
}

function markBytes(bits: Int32Array, off: number, len: number): void {
  const end = Math.min(off + len, 4096);
  for (let k = off; k < end; k++) bits[k >>> 5]! |= 1 << (k & 31);
}

function anyByte(bits: Int32Array, off: number, len: number): boolean {
  const end = Math.min(off + len, 4096);
  for (let k = off; k < end; k++) if ((bits[k >>> 5]! & (1 << (k & 31))) !== 0) return true;
  return false;
}

export class CodeCache {
  private readonly blocks = new Map<number, Block>();
  private readonly pages = new Map<number, CodePage>();
  /** Invalidations per page since the last flush (pages that code rewrites get short blocks). */
  private readonly rewrites = new Map<number, number>();
  private readonly clients: CodeCacheClient[] = [];
  /** Decoded instructions held now. */
  private held = 0;
  /** Block keys (phys * 4 + mode) decoded once and not kept, direct-mapped by their low bits. */
  private readonly seen = new Float64Array(SEEN_SLOTS).fill(-1);
  private unseen = 0;
  /** Blocks invalidated by writes so far (diagnostics, tests). */
  invalidations = 0;
  /** Times the cache was full and emptied. */
  flushes = 0;

  constructor(readonly capacity: number = DEFAULT_CODE_CACHE_INSNS) {
    if (!Number.isInteger(capacity) || capacity < 64) throw new RangeError(`code cache capacity ${capacity} must be an integer of at least 64 instructions`);
  }
  /** The JIT's regions by page and mode (key pp * 4 + mode), dropped with their page. */
  readonly jitPages = new Map<number, JitPage>();
  readonly jit = new JitStats();
  /** Told first when a block is released (the wasm tier's bookkeeping of what it holds: jit/wasm-code-book.ts). */
  jitRelease: ((b: Block) => void) | null = null;

  private epochs = 0;

  /** A jump-cache epoch no vCPU of this cache has used (insn.ts Block.vEp). */
  newEpoch(): number {
    return this.epochs++;
  }

  attach(c: CodeCacheClient): void {
    this.clients.push(c);
  }

  /** Decoded instructions held now. */
  get size(): number {
    return this.held;
  }

  /** True when physical page base `pp` holds decoded code. */
  isCode(pp: number): boolean {
    return this.pages.has(pp);
  }

  /**
   * Whether a store of `len` bytes at `pa` (within one page) to a code page needs the full write path's checks:
   * it reaches bytes a block holds, or its page holds no block (to be untracked: untrackIdle), has a compiled
   * region, or is not tracked any more.
   */
  checksStore(pa: number, len: number): boolean {
    const off = pa % 4096;
    const pp = pa - off;
    const page = this.pages.get(pp);
    if (page === undefined || (page.blocks.length === 0 && page.tails.length === 0)) return true;
    if (this.jitPages.size !== 0 && (this.jitPages.has(pp * 4) || this.jitPages.has(pp * 4 + 1) || this.jitPages.has(pp * 4 + 2))) return true;
    return anyByte(page.bits, off, len);
  }

  /**
   * Stops tracking page `pp` when it holds no block (those it held were dropped, or none was kept) and the running
   * block (`running`) is not on it: its stores get write TLB entries again until a block is decoded there.
   */
  untrackIdle(pp: number, running: Block | null): void {
    const page = this.pages.get(pp);
    if (page === undefined || page.blocks.length !== 0 || page.tails.length !== 0) return;
    if (running !== null && ((running.phys < pp + 4096 && pp < running.phys + running.len) || running.phys2 === pp)) return;
    if (this.jitPages.has(pp * 4) || this.jitPages.has(pp * 4 + 1) || this.jitPages.has(pp * 4 + 2)) return;
    this.pages.delete(pp);
  }

  /** The blocks decoded on physical page base `pp` (some may be invalid), or undefined. */
  blocksOn(pp: number): readonly Block[] | undefined {
    return this.pages.get(pp)?.blocks;
  }

  get(pa: number, mode: number): Block | undefined {
    return this.blocks.get(pa * 4 + mode);
  }

  /** Most instructions a block decoded on page `pp` may hold (1 on pages that code keeps rewriting). */
  blockLimit(pp: number): number {
    return (this.rewrites.get(pp) ?? 0) >= SMC_SHORT_BLOCKS_AFTER ? 1 : 64;
  }

  /**
   * Registers block `b` (just decoded and about to run): its page becomes code, and the block is kept
   * for later lookups if its address was decoded before. Returns whether it was kept.
   */
  put(b: Block, _by: CodeCacheClient): boolean {
    const pp = b.phys - (b.phys % 4096);
    let page = this.pageFor(pp);
    // Its bytes are code even when the block is not kept: a store to them must still stop it while it runs.
    markBytes(page.bits, b.phys - pp, b.len);
    const key = b.phys * 4 + b.mode;
    // Two-way: a block is kept when either slot of its pair remembers it; otherwise it replaces one of
    // them. Every KEEP_ANYWAY-th new block is kept regardless, so hot blocks whose addresses keep
    // evicting each other from the table still end up cached.
    const slot = (Math.imul((b.phys >>> 2) ^ (b.phys / 4294967296) ^ (b.mode << 29), 0x9e3779b1) >>> 16) & (SEEN_SLOTS - 2);
    if (this.seen[slot] !== key && this.seen[slot + 1] !== key && ++this.unseen % KEEP_ANYWAY !== 0) {
      this.seen[slot + (this.unseen & 1)] = key;
      return false;
    }
    this.hold(b, page);
    return true;
  }

  /**
   * Keeps block `b`, which put() did not keep (decoded once): the wasm tier compiles only blocks that the cache
   * holds and so releases (at threshold 1 it compiles a block before its first run). Returns whether it is held.
   */
  keep(b: Block): boolean {
    if (!b.valid || b.phys2 >= 0) return false;
    if (this.blocks.get(b.phys * 4 + b.mode) === b) return true;
    const page = this.pages.get(b.phys - (b.phys % 4096));
    if (page === undefined) return false; // its page was written since: it is stale already
    this.hold(b, page);
    return true;
  }

  private hold(b: Block, page: CodePage): void {
    const pp = b.phys - (b.phys % 4096);
    const key = b.phys * 4 + b.mode;
    const n = b.insns.length;
    if (this.held + n > this.capacity) {
      this.flush();
      // The flush dropped the page too; the running block still needs its page tracked.
      this.pages.set(pp, (page = newPage()));
      markBytes(page.bits, b.phys - pp, b.len);
    }
    if (b.phys2 >= 0) {
      // Its last bytes are code too: a store to them drops it, and no write TLB entry may skip that check.
      const p2 = this.pageFor(b.phys2);
      markBytes(p2.bits, 0, tailLen(b));
      p2.tails.push(b);
    }
    const old = this.blocks.get(key);
    if (old !== undefined) {
      old.valid = false;
      if (old.wl !== null) linkValidity(old);
    } // decoded again at the same place: it stays on its page's list until the page goes
    this.blocks.set(key, b);
    this.held += n;
    page.blocks.push(b);
  }

  /** The tracked page at base `pp`, made (and its write TLB entries dropped) if it is not yet. */
  private pageFor(pp: number): CodePage {
    let page = this.pages.get(pp);
    if (page === undefined) {
      page = newPage();
      this.pages.set(pp, page);
      for (const c of this.clients) c.dropWriteEntries(pp / 4096);
    }
    return page;
  }

  /** Invalidates a crossing block from its second page (its first page's list releases it). */
  private dropTail(b: Block): void {
    if (!b.valid) return;
    b.valid = false;
    linkValidity(b); // compiled (wasm tier): chained runs must not run it either
    const key = b.phys * 4 + b.mode;
    if (this.blocks.get(key) === b) this.blocks.delete(key);
    this.invalidations++;
  }

  /** Drops every block of page `pp` (a guest write hit it, or a device wrote it: `_by` absent). */
  invalidatePage(pp: number, _by?: CodeCacheClient): void {
    const page = this.pages.get(pp);
    if (page === undefined) return;
    const list = page.blocks;
    this.pages.delete(pp);
    this.rewrites.set(pp, (this.rewrites.get(pp) ?? 0) + 1);
    for (let m = 0; m < 3; m++) this.dropJitPage(pp * 4 + m);
    for (const b of list) {
      const key = b.phys * 4 + b.mode;
      if (this.blocks.get(key) === b) this.blocks.delete(key);
      this.held -= b.insns.length;
      this.invalidations++;
      this.release(b);
    }
    for (const b of page.tails) this.dropTail(b);
    for (const c of this.clients) c.pageInvalidated(pp);
  }

  /**
   * A guest store of `len` bytes (within one page) at `pa` changed bytes of a code page: drops the blocks
   * holding any of them, and only those (the kernel patching one call site keeps the rest of its page
   * compiled). `selfPage`: the store came from a block on the same page; pages that their own code keeps
   * rewriting get short blocks (blockLimit). A page with a compiled region is dropped whole (a region runs
   * its page's blocks without looking them up again).
   */
  codeWrite(pa: number, len: number, selfPage: boolean): void {
    const off = pa % 4096;
    const pp = pa - off;
    const page = this.pages.get(pp);
    if (page === undefined) return;
    if (this.jitPages.has(pp * 4) || this.jitPages.has(pp * 4 + 1) || this.jitPages.has(pp * 4 + 2)) {
      this.invalidatePage(pp);
      return;
    }
    for (const c of this.clients) if (c.codeWritten(pa, len)) this.invalidations++;
    if (!anyByte(page.bits, off, len)) return;
    const end = pa + len;
    const kept: Block[] = [];
    let dropped = 0;
    page.bits.fill(0);
    for (const b of page.blocks) {
      if (b.valid && b.phys < end && pa < b.phys + b.len) {
        dropped++;
        this.invalidations++;
      } else if (b.valid) {
        kept.push(b);
        markBytes(page.bits, b.phys - pp, b.len);
        continue;
      }
      // Overlapped, or replaced by a later decode at its address.
      const key = b.phys * 4 + b.mode;
      if (this.blocks.get(key) === b) this.blocks.delete(key);
      this.held -= b.insns.length;
      this.release(b);
    }
    page.blocks = kept;
    const tails: Block[] = [];
    for (const b of page.tails) {
      const len2 = tailLen(b);
      if (b.valid && pa < pp + len2) {
        this.dropTail(b);
        dropped++;
      } else if (b.valid) {
        tails.push(b);
        markBytes(page.bits, 0, len2);
      }
    }
    page.tails = tails;
    if (dropped > 0 && selfPage) this.rewrites.set(pp, (this.rewrites.get(pp) ?? 0) + 1);
  }

  /** The cache is full: drops every block (and what the clients cached of them). */
  flush(): void {
    this.flushes++;
    this.clear();
    for (const c of this.clients) c.cacheFlushed();
  }

  /** Drops the blocks of every page [gpa, gpa+len) touches: a host-side write (device DMA, a loader). */
  invalidateRange(gpa: number, len: number): void {
    if (this.pages.size === 0 || len <= 0) return;
    const last = gpa + len - 1;
    for (let pp = gpa - (gpa % 4096); pp <= last; pp += 4096) if (this.pages.has(pp)) this.invalidatePage(pp);
  }

  /** Forgets the JIT's region of page and mode `key` (its blocks are being dropped). */
  private dropJitPage(key: number): void {
    const p = this.jitPages.get(key);
    if (p === undefined) return;
    this.jitPages.delete(key);
    if (p.bytes > 0) {
      this.jit.liveRegions--;
      this.jit.liveBytes -= p.bytes;
    }
  }

  /** Drops everything (memory map change, reset, full). */
  clear(): void {
    for (const key of [...this.jitPages.keys()]) this.dropJitPage(key);
    for (const page of this.pages.values()) for (const b of page.blocks) this.release(b);
    this.blocks.clear();
    this.pages.clear();
    this.rewrites.clear();
    this.held = 0; // `seen` stays: it is only a hint of which addresses ran before
  }

  /**
   * Marks a dropped block invalid and lets go of its instructions and compiled code: a stale block may stay
   * referenced for a while (a vCPU's jump cache, up to JC_SIZE of them), and only its shell should. A vCPU
   * still running it holds its own references to what it needs (run-loop.ts execBlock).
   */
  private release(b: Block): void {
    if (b.exec !== null && this.jitRelease !== null) this.jitRelease(b);
    release(b);
  }
}

const NO_INSNS: Block['insns'] = [];

function release(b: Block): void {
  b.valid = false;
  if (b.wl !== null) {
    linkValidity(b);
    b.wl = null;
  }
  b.insns = NO_INSNS;
  b.first = null;
  b.count = 0;
  b.exec = null;
  b.region = null;
  b.next0 = null;
  b.next1 = null;
}
