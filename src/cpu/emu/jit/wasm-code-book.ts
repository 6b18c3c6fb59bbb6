/**
 * What the wasm tier holds, and its bound.
 *
 * What keeps compiled code alive: a block's function keeps its module's Instance (all the blocks of its batch),
 * and every Instance keeps the host functions' table it imports (wasm-encoder.ts moduleBytes viaTable), which in
 * turn keeps every Instance that imported it: V8 (Node 20) lists a table's importing instances strongly, so
 * instances importing one table are freed only all together, once none of them is reachable. The tier therefore
 * makes its modules in generations, each with its own host table: a generation is counted whole (its modules'
 * bytes plus MODULE_COST each, released blocks' modules included) until the code cache holds none of its blocks
 * compiled; a new generation starts once the current one reaches 1/GENERATIONS of the cap. When the generations
 * pass the cap (`TSVMM_WASM_CODE_MB`, DEFAULT_CODE_CAP), the oldest is evicted whole (first compiled, first out:
 * the run loop does not tell which blocks ran lately without a cost per block): its blocks go back to the
 * interpreter and compile again, into the current generation, if they get hot again. So the compiled code
 * reachable from the VM stays under the cap plus one generation; V8 frees an unreachable generation at its next
 * full collection.
 *
 * Chained blocks also hold an index into the arena's function table and its link record (wasm-chain.ts). A
 * released or evicted block's slot is emptied and its record made invalid at once (the driver checks the record
 * before it enters a block), and the index is reused only after the chained run that may be in that very block
 * (a block released by its own store) has returned: at the next compile, which never happens inside a run.
 * Links and jump-cache entries that still name a reused index are guesses the driver checks against the new
 * block's record, as any link; the run loop's last-exit record (EmuCpu.wxIdx) holds a tag that a reuse changes.
 */
import type { CodeCache } from '../code-cache.js';
import type { Block } from '../insn.js';
import type { JitStats } from './jit-stats.js';
import { Lv } from './link-validity.js';
import { cacheOf, LINK_BYTES, type WasmArena } from './wasm-arena.js';
import type { WasmTable } from './wasm-encoder.js';

/** Compiled code a VM keeps by default: bytes of modules plus MODULE_COST per module. */
export const DEFAULT_CODE_CAP = 64 << 20;
/**
 * What a module costs beyond its bytes in the cap: V8's per-module and per-instance structures and code space, and
 * what the VM keeps per compiled block (the wasm-eager Linux boot's RSS grew ~50 KiB per live one-block module).
 */
export const MODULE_COST = 32768;
/** A generation holds at most this fraction of the cap (what one eviction frees). */
const GENERATIONS = 16;

function envCap(): number {
  const v = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.TSVMM_WASM_CODE_MB;
  if (v === undefined || v === '') return DEFAULT_CODE_CAP;
  const n = Number(v);
  if (!(n > 0)) throw new RangeError(`TSVMM_WASM_CODE_MB=${v}: expected a positive number of MiB`);
  return Math.round(n * 1048576);
}

/** What a module imports (the arena's memory, a generation's host table). */
export type Imports = Record<string, Record<string, unknown>>;

/** Modules sharing one host table: freed together. */
interface Generation {
  readonly imports: Imports;
  cost: number;
  bytes: number;
  modules: number;
  /** Its blocks the code cache holds compiled. */
  readonly blocks: Set<Block>;
}

interface Held {
  readonly gen: Generation;
  /** Chain table index, or 0. */
  readonly idx: number;
}

/** The chain driver's table and entries (wasm-host.ts ChainState) whose indices the book hands out. */
export interface ChainSlots {
  readonly table: WasmTable;
  readonly entries: unknown[];
}

/** Tags live in the upper bits of EmuCpu.wxIdx: indices stay below 2^16, tags below 2^14 (a small integer). */
const TAG_SHIFT = 16;
const TAG_MASK = 0x3fff;

export class CodeBook {
  cap = envCap();
  /** Bytes of the live generations' modules plus MODULE_COST each. */
  private cost = 0;
  /** Oldest first; the last is the one new modules join unless it is full. */
  private readonly gens: Generation[] = [];
  private open: Generation | null = null;
  private readonly held = new Map<Block, Held>();
  /** Per chain index: the tag of the block holding it (idx | generation << 16), 0 when free. */
  readonly tags: Int32Array;
  private readonly reuses: Uint16Array;
  private readonly free: number[] = [];
  /** Indices of released blocks not yet reusable (a chained run may still be in the block). */
  private readonly dead: number[] = [];
  private next = 1;
  chain: ChainSlots | null = null;
  private readonly stats: JitStats | undefined;

  constructor(
    readonly cache: CodeCache | undefined,
    private readonly arena: WasmArena,
    readonly indexCap: number,
  ) {
    this.tags = new Int32Array(indexCap);
    this.reuses = new Uint16Array(indexCap);
    this.stats = cache?.jit;
    if (cache !== undefined) cache.jitRelease = (b) => this.drop(b, false);
  }

  /** One more than the highest chain index handed out (index 0 is 'none'). */
  get indexHigh(): number {
    return this.next;
  }

  /** What the live generations cost (what the cap bounds after each compile). */
  get liveCost(): number {
    return this.cost;
  }

  /** Live generations (tests, diagnostics). */
  get generations(): number {
    return this.gens.length;
  }

  /** Whether block `b` is one the code cache holds (released through it later), so it may be counted and chained. */
  holds(b: Block): boolean {
    return this.cache === undefined || this.cache.get(b.phys, b.mode) === b;
  }

  /** Has the code cache hold block `b` (just decoded) if it does not yet. */
  keep(b: Block): void {
    if (!this.holds(b)) this.cache!.keep(b);
  }

  /** What the next module imports: the open generation's, or a new generation's made by `make`. */
  imports(make: () => Imports): Imports {
    let g = this.open;
    if (g === null) {
      g = { imports: make(), cost: 0, bytes: 0, modules: 0, blocks: new Set() };
      this.gens.push(g);
      this.open = g;
    }
    return g.imports;
  }

  /** A free chain index, or 0 when all are taken. */
  takeIndex(): number {
    const idx = this.free.length > 0 ? this.free.pop()! : this.next < this.indexCap ? this.next++ : 0;
    if (idx !== 0) this.tags[idx] = idx | (this.reuses[idx]! << TAG_SHIFT);
    return idx;
  }

  /** Indices released since the last compile become reusable (called where no chained run is on). */
  reclaim(): void {
    const ch = this.chain;
    for (const idx of this.dead) {
      if (ch !== null) ch.entries[idx] = undefined;
      this.reuses[idx] = (this.reuses[idx]! + 1) & TAG_MASK;
      this.free.push(idx);
    }
    this.dead.length = 0;
  }

  /**
   * Counts a module of `bytes` made with imports() in the open generation, and its blocks the code cache holds
   * (with their chain indices, 0 for none); then evicts the oldest generations while over the cap.
   */
  add(bytes: number, blocks: readonly Block[], idxs: readonly number[]): void {
    const g = this.open;
    if (g === null) throw new Error('wasm code book: a module counted without imports()');
    g.cost += bytes + MODULE_COST;
    g.bytes += bytes;
    g.modules++;
    this.cost += bytes + MODULE_COST;
    blocks.forEach((b, k) => {
      g.blocks.add(b);
      this.held.set(b, { gen: g, idx: idxs[k]! });
    });
    const s = this.stats;
    if (s !== undefined) {
      s.liveModules++;
      s.liveBytes += bytes;
      s.liveBlocks += blocks.length;
    }
    if (g.cost * GENERATIONS >= this.cap) {
      this.open = null;
      if (g.blocks.size === 0) this.retire(g);
    }
    while (this.cost > this.cap && this.gens.length > 1 && this.gens[0] !== this.open) {
      const old = this.gens[0]!;
      for (const b of [...old.blocks]) this.drop(b, true);
      if (this.gens[0] === old) this.retire(old); // it held no block
      if (s !== undefined) s.evictions++;
    }
  }

  /**
   * Block `b` leaves compiled code: released by the code cache (which clears its exec and link itself), or
   * `evict`ed while still valid (it goes back to the interpreter and to counting runs toward a compile).
   */
  drop(b: Block, evict: boolean): void {
    const h = this.held.get(b);
    if (h === undefined) return;
    this.held.delete(b);
    const idx = h.idx;
    if (idx !== 0) {
      const ch = this.chain;
      if (ch !== null) ch.table.set(idx, null);
      // The driver never enters it again (link-validity.ts: Valid 0, no linear address).
      const at = this.arena.linkBase + idx * LINK_BYTES;
      this.arena.i32[(at + Lv.Valid) >> 2] = 0;
      this.arena.f64[(at + Lv.Lin) >> 3] = -1;
      this.tags[idx] = 0;
      this.dead.push(idx);
    }
    if (evict) {
      b.exec = null;
      b.wl = null;
      b.hits = 0;
    }
    const g = h.gen;
    g.blocks.delete(b);
    if (this.stats !== undefined) this.stats.liveBlocks--;
    if (g.blocks.size === 0 && g !== this.open) this.retire(g);
  }

  /** A full generation with no block held compiled: nothing reachable keeps its modules now. */
  private retire(g: Generation): void {
    const i = this.gens.indexOf(g);
    if (i < 0) return;
    this.gens.splice(i, 1);
    this.cost -= g.cost;
    const s = this.stats;
    if (s !== undefined) {
      s.liveModules -= g.modules;
      s.liveBytes -= g.bytes;
    }
  }
}

/** Table indices a chain driver may use: as many as the arena has link records, and below 2^16 (the tags). */
export function indexCap(arena: WasmArena): number {
  return Math.min(arena.linkCap, 1 << TAG_SHIFT);
}

const books = new WeakMap<WasmArena, CodeBook>();

/** The book of what the wasm tier holds in `arena` (made at its first compile). */
export function bookOf(arena: WasmArena): CodeBook {
  let b = books.get(arena);
  if (b === undefined) {
    b = new CodeBook(cacheOf(arena), arena, indexCap(arena));
    books.set(arena, b);
  }
  return b;
}
