/**
 * The WebAssembly block tier (TSVMM_JIT=wasm): a hot block becomes one wasm function, from the same
 * inline forms and per-flag liveness as the JS block compiler (../block-compiler.ts formOf, flagLiveness).
 * Registers, segment bases and TLB tags are read and written in the VM's wasm memory (wasm-arena.ts);
 * a TLB hit on RAM in that memory is an inline load or store; conditions are computed from the producing
 * instruction's operands (i64 compares for 64-bit ALU operations); everything else calls out to JS
 * through imports (the instruction's handler, slow memory paths, effective addresses the inline code
 * does not form, conditions after a handler).
 *
 * Flags: an inline producer whose flags are live writes the lazy-flags record in the vCPU's slot and marks
 * it dirty; every import and the wrapper on return copy a dirty record into the EmuCpu fields first
 * (`pull`), so JS code always sees the flags as the interpreter would have left them (the fields each
 * kernel of sem-alu.ts sets, no others).
 *
 * Here: preparing blocks and compiling them in batches, one module each. The rest by concern: wasm-block-abi.ts
 * (what block functions and the host agree on), wasm-host.ts (imports, wrappers, chained runs' bookkeeping),
 * wasm-inline-forms.ts (which instructions are inline), wasm-emit.ts (a block's body, over wasm-emit-state.ts),
 * wasm-flags-record.ts, wasm-mem-access.ts, wasm-flow.ts, wasm-forms.ts and wasm-forms64.ts.
 */
import type { EmuCpu } from '../cpu.js';
import type { Block, Insn } from '../insn.js';
import { flagLiveness } from '../block-compiler.js';
import { rdmsr, rdpmc, wrmsr } from '../ops-system.js';
import type { JitStats } from './jit-stats.js';
import { LINK_BYTES, type WasmArena } from './wasm-arena.js';
import { bookOf } from './wasm-code-book.js';
import { moduleBytes, wasmApi, type Body } from './wasm-encoder.js';
import { BlockBody } from './wasm-regs.js';
import { Lk } from './wasm-chain.js';
import { simdStores } from './wasm-simd.js';
import { strFits, strStores } from './wasm-string.js';
import { linkValidity } from './link-validity.js';
import { CHAIN, HELPERS, Im, IMPORTS, MAIN_TYPE, P_SLOT, TYPES } from './wasm-block-abi.js';
import { emitting } from './wasm-emit-state.js';
import { emit } from './wasm-emit.js';
import { observesAll, SLOW_ONLY, wasmForm, type WForm } from './wasm-inline-forms.js';
import { planSkips } from './wasm-skips.js';
import { chainOf, chainRunning, chainWrapper, imports, wrapper, type ChainEntry } from './wasm-host.js';

export const canCompileWasm = wasmApi !== undefined;

/** A block's function before its module is made. */
interface Prepared {
  blk: Block;
  body: Body;
  segAt: Int32Array;
  /** The instruction a self-loop starts at (its last instruction branches back there), or -1. */
  head: number;
  /** Whether it has forward branches to its own instructions (wasm-skips.ts). */
  skips: boolean;
}

/** A hot block's forms and self-loop head, before its function is emitted. */
interface Hot {
  blk: Block;
  forms: WForm[];
  /** The instruction a self-loop starts at (its last instruction branches back there), or -1. */
  head: number;
}

/** `blk`'s forms and loop head; null when it does not loop on itself and `anyBlock` is false. */
function classify(blk: Block, anyBlock: boolean): Hot | null {
  const ins = blk.insns;
  const n = ins.length;
  const long = blk.mode === 2;
  const forms = ins.map((x) => {
    const f = wasmForm(x);
    return f === 'str' && !strFits(x, long) ? '' : f;
  });
  // A block without any inline form (CLI, RDTSC, PUSHF; CLI ...) is compiled too: its handlers run through imports
  // and its last instruction through the chain driver's tail, so chained runs go on through it instead of
  // returning to the run loop before and after it.
  if (forms[n - 1] === '') forms[n - 1] = 'tail';
  // A block whose last branch goes back to its start or to a later instruction of it loops inside the
  // function, as in the JS compiler: only inline forms from there on, and no stores when it is entered mid-block
  // (its writes to its own code are checked from the block start only). Side exits may lie in the loop: one taken
  // leaves with the passes so far in the slot, and their poll check never fires after the first pass (passes are
  // limited to room / count, so each ends before the poll point), as the run loop running the block pass by pass
  // would not poll at them either.
  let head = -1;
  const last = ins[n - 1]!;
  if (forms[n - 1] === 'jcc') for (let k = 0; k < n; k++) if (ins[k]!.start === last.end + last.imm) head = k;
  const stores = (f: WForm, x: Insn): boolean => f === 'store' || f === 'store64' || f === 'push' || f === 'alu32m' || f === 'cmpxchg32m' || f === 'setccm' || (f === 'alu64m' && x.mw) || (f === 'simd' && simdStores(x)) || (f === 'str' && strStores(x)) || f === 'shiftclm';
  if (head >= 0 && !forms.every((f, k) => k < head || (f !== '' && f !== 'tail' && !(head > 0 && stores(f, ins[k]!))))) head = -1;
  if (head < 0 && !anyBlock) return null; // asked again at the late threshold (jit-mode.ts WASM_LATE_FACTOR)
  return { blk, forms, head };
}

/** Emits a hot block's function. What it emits depends on the block's instructions alone, not on when. */
function prepare(h: Hot): Prepared {
  const { blk, forms, head } = h;
  const ins = blk.insns;
  const n = ins.length;
  const liveAfter = flagLiveness(ins, forms, observesAll);
  // The same where memory accesses with inline fast paths see the flags only in their slow paths (deferred records).
  const liveInline = flagLiveness(ins, forms, (f, x) => !SLOW_ONLY.has(f) && observesAll(f, x));
  // segOff at each instruction: the start of its basic block (after the last side exit before it).
  const segAt = new Int32Array(n);
  for (let k = 1; k < n; k++) segAt[k] = forms[k - 1] === 'jcc' ? k : segAt[k - 1]!;
  const body = new BlockBody(5, P_SLOT, (f) => f === Im.H);
  emitting.blockLong = blk.mode === 2;
  const skips = planSkips(ins, forms, head, blk.openEnd);
  emit(body, ins, forms, liveAfter, liveInline, head, skips);
  return { blk, body, segAt, head, skips: skips !== null };
}

/** Compiles prepared blocks into one module and sets each block's exec. */
function compileBatch(arena: WasmArena, ps: readonly Prepared[], stats: JitStats | undefined, t0: number): void {
  if (ps.length === 0) return;
  const book = bookOf(arena);
  if (!chainRunning()) book.reclaim();
  const bytes = moduleBytes(TYPES, IMPORTS, MAIN_TYPE, ps.map((p) => p.body), HELPERS, true);
  let exports: Record<string, unknown>;
  try {
    exports = new wasmApi!.Instance(new wasmApi!.Module(bytes), book.imports(() => imports(arena))).exports;
  } catch {
    // No wasm compilation allowed here (a CSP without wasm-unsafe-eval): the blocks stay interpreted.
    return;
  }
  const held: Block[] = [];
  const idxs: number[] = [];
  ps.forEach((p, i) => {
    const blk = p.blk;
    const ins = blk.insns;
    const h = p.head;
    blk.selfLoop = h >= 0;
    blk.loopLen = h >= 0 ? ins.length - h : 0;
    blk.loopBranches = h >= 0 ? ins[ins.length - 1]!.brThrough - (h > 0 ? ins[h - 1]!.brThrough : 0) : 0;
    const run = exports[`f${i}`] as (slot: number, user: number, bip: number, room: number, lim: number) => number;
    // RDMSR, WRMSR and RDPMC count the PMU up to themselves (run-loop.ts pmuSync): their blocks run alone.
    // A block the code cache does not hold is never released: no table slot that would keep it (and its module).
    const keep = book.holds(blk);
    const ch = CHAIN && keep && !ins.some((x) => x.fn === rdmsr || x.fn === wrmsr || x.fn === rdpmc) ? chainOf(arena) : null;
    const idx = ch !== null ? book.takeIndex() : 0;
    if (keep) {
      held.push(blk);
      idxs.push(idx);
    }
    if (ch !== null && idx !== 0) {
      ch.table.set(idx, run);
      const e: ChainEntry = { blk, ins, segAt: p.segAt, idx, tag: book.tags[idx]!, skips: p.skips };
      ch.entries[idx] = e;
      const at = arena.linkBase + idx * LINK_BYTES;
      const m = arena.i32;
      m.fill(0, at >> 2, (at + LINK_BYTES) >> 2);
      m[(at + Lk.Count) >> 2] = ins.length;
      m[(at + Lk.Branches) >> 2] = blk.branches;
      m[(at + Lk.LoopLen) >> 2] = blk.loopLen;
      m[(at + Lk.LoopBr) >> 2] = blk.loopBranches;
      m[(at + Lk.Skip) >> 2] = p.skips ? 1 : 0;
      blk.wl = { m, f: ch.f64, at };
      linkValidity(blk);
      blk.exec = chainWrapper(arena, ch, e);
    } else blk.exec = wrapper(arena, ins, p.segAt, blk.loopLen, p.skips, run);
  });
  book.add(bytes.length, held, idxs);
  if (stats !== undefined) {
    stats.compileMs += performance.now() - t0;
    stats.codeBytes += bytes.length;
    stats.regions += ps.length;
  }
}

/**
 * Blocks that got hot and wait for their batch, per arena. Their functions are emitted when the batch compiles,
 * one after another: emitting each as it got hot, between long stretches of interpreting, ran the emitter's code
 * and data cold every time (~3x the time per block).
 */
const pendingOf = new WeakMap<WasmArena, Hot[]>();
/** Milliseconds spent classifying the pending blocks (counted when their batch compiles). */
let pendingMs = 0;

/**
 * A block reached the compile threshold: compiled now when batches are 1 block (wasm-eager), else queued
 * and the queue compiled as one module when it holds `batch` blocks (wasmFlush compiles a partial one).
 */
export function wasmBlockHot(blk: Block, arena: WasmArena, batch: number, stats?: JitStats, anyBlock = true): void {
  if (!canCompileWasm || blk.exec !== null) return;
  const t0 = performance.now();
  const h = classify(blk, anyBlock);
  if (h === null) return;
  if (batch <= 1) {
    // At threshold 1 a block is compiled right after its decode, before the cache keeps it (code-cache.ts put):
    // kept now, so that it is released (and its module freed) with its page, as every compiled block is.
    bookOf(arena).keep(blk);
    compileBatch(arena, [prepare(h)], stats, t0);
    return;
  }
  let q = pendingOf.get(arena);
  if (q === undefined) {
    q = [];
    pendingOf.set(arena, q);
  }
  q.push(h);
  pendingMs += performance.now() - t0;
  if (q.length >= batch) wasmFlush(arena, stats);
}

/** Compiles the queued blocks (those still valid and not compiled) as one module. */
export function wasmFlush(arena: WasmArena, stats?: JitStats): void {
  const q = pendingOf.get(arena);
  if (q === undefined || q.length === 0) return;
  const t0 = performance.now() - pendingMs;
  pendingMs = 0;
  pendingOf.set(arena, []);
  const ps: Prepared[] = [];
  for (const h of q) if (h.blk.valid && h.blk.exec === null) ps.push(prepare(h));
  compileBatch(arena, ps, stats, t0);
}

/** Compiles one block alone (tests). */
export function compileWasmBlock(blk: Block, arena: WasmArena, stats?: JitStats): ((c: EmuCpu) => void) | null {
  wasmBlockHot(blk, arena, 1, stats);
  return blk.exec;
}
