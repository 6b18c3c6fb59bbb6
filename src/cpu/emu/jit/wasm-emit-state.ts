/**
 * The block being emitted, shared by the emitter's modules. Module state rather than parameters, so that each form
 * is its own function V8 can optimise (one function for all forms was too large for TurboFan and stayed in the
 * bytecode interpreter).
 */
import type { SkipPlan } from './wasm-skips.js';

export interface EmitState {
  /**
   * Deferred flags records. A flags producer whose flags only the slow paths of later memory accesses could see (a
   * fault there shows the cpu's flags) records them in those slow paths, not inline: `capture` collects its record's
   * stores while it is emitted, `pendingRec` holds them until an instruction that could see the record in another
   * way (they are then written inline, where they would have been but later, nothing in between having touched
   * the flags) or the next producer (which replaces them). `slowFlags` writes them inside a slow path.
   */
  capture: (() => void)[] | null;
  pendingRec: (() => void)[];
  /**
   * Fr.Dirty as the compiler knows it at this point of the block (-1: not known), which is at least what it is:
   * 0 at the block's start and after a handler, which copies the record into the cpu first; the imports that only
   * copy it (slow memory paths, conditions) leave it smaller than known, and copying a group again is harmless,
   * since nothing changed the cpu's fields in between.
   */
  dirtyAt: number;
  /** The function's local holding its TLB bank (the low half of P_USER), -1 before its first use (emit prepends its setting). */
  userLocal: number;
  /**
   * The function's i64 local holding Slot.CanonSh (64 minus the linear-address width), -1 before its first use
   * (emit prepends its setting): CR4.LA57 changes only outside long mode, so never while a 64-bit block runs.
   */
  canonLocal: number;
  /**
   * Segment `seg` needs ea() (limit checks, or a base), as a local per block: a segment changes only by an
   * instruction that ends its block, or by a handler (BlockBody.epoch). -1: not computed on every path here.
   */
  readonly segFlag: Int32Array;
  readonly segEpoch: Float64Array;
  /** The exact FS/GS base (i64, wasm-mem-access.ts fsgsBase) as a local per block, kept as segFlag is. */
  readonly baseLocal: Int32Array;
  readonly baseEpoch: Float64Array;
  /** The block's length. */
  blockLen: number;
  /** Whether the block is 64-bit code (Block.mode 2). */
  blockLong: boolean;
  /** The instruction its self-loop starts at (-1: none). */
  loopHead: number;
  /** The local counting the loop's passes. */
  passes: number;
  /** The flags some later point may observe after the instruction being emitted (flagLiveness). */
  liveAfter: number;
  /** The block's forward branches to its own instructions (wasm-skips.ts), or null. */
  skips: SkipPlan | null;
}

export const emitting: EmitState = {
  capture: null,
  pendingRec: [],
  dirtyAt: 0,
  userLocal: -1,
  canonLocal: -1,
  segFlag: new Int32Array(10).fill(-1),
  segEpoch: new Float64Array(10),
  baseLocal: new Int32Array(10).fill(-1),
  baseEpoch: new Float64Array(10),
  blockLen: 0,
  blockLong: false,
  loopHead: -1,
  passes: -1,
  liveAfter: 0,
  skips: null,
};
