/**
 * What a compiled block's function and the host agree on: the imports (indices, types, names), the modules'
 * helper functions, the block function's parameters and its exit code.
 */
import { carryHelper } from './wasm-alu.js';
import { Body, T, W, type FnType } from './wasm-encoder.js';
import { Slot } from './wasm-arena.js';

/** Import indices (function index = import index; the helpers follow (Fn), then the blocks' functions). */
export const enum Im {
  H = 0,
  Rd = 1,
  Wr = 2,
  Ea = 3,
  Cond = 4,
  GetCf = 5,
  Shift = 6,
  Hi = 7,
  Wr8 = 8,
  Rdw = 9,
  Flags = 10,
}
export const TYPES: readonly FnType[] = [
  [[T.I32], [T.I32]],
  [[T.I32, T.I32, T.F64], [T.I32]],
  [[T.I32, T.I32, T.F64, T.I32], [T.I32]],
  [[T.I32], []],
  [[], [T.I32]],
  [[T.I32, T.I32], [T.I32]],
  [[T.I32, T.F64, T.I32, T.I32], [T.I32]],
  // the block: (slot, tlbUser, bip, instructions until the poll) -> exit
  [[T.I32, T.I32, T.F64, T.F64, T.I32], [T.I32]],
  // Fn.LinArg: (slot, lin) -> lin as f64
  [[T.I32, T.I64], [T.F64]],
];
export const IMPORTS: readonly (readonly [string, number])[] = [
  ['h', 0],
  ['rd', 1],
  ['wr', 2],
  ['ea', 3],
  ['cond', 0],
  ['cf', 4],
  ['sh', 5],
  ['hi', 4],
  ['wr8', 6],
  ['rdw', 1],
  ['fl', 4],
];
export const MAIN_TYPE = 7;
/** The modules' helper functions (their indices, after the imports) and their [type, body]. */
export const enum Fn {
  Carry = 11,
  LinArg = 12,
}
export const HELPERS: readonly (readonly [number, Body])[] = [
  [0, carryHelper(Im.GetCf)],
  [8, linArgHelper()],
];
if (Fn.Carry !== IMPORTS.length) throw new Error('wasm-block-abi: the helpers follow the imports');
/** The block function's parameters (MAIN_TYPE). */
export const P_SLOT = 0;
export const P_USER = 1;
export const P_BIP = 2;
export const P_ROOM = 3;
/** The most passes a self-looping block may make (c.loopLimit). */
export const P_LIM = 4;

/** TSVMM_WASM_CHAIN=0: every compiled block returns to the run loop (measurements). */
export const CHAIN = ((globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.TSVMM_WASM_CHAIN ?? '1') !== '0';

/**
 * The block function's result: the index where the block ended (`c.ci`), and how RIP is set: 0 = as execBlock set
 * it (the block's end), 1 = the taken branch of the instruction before, 2 = after the instruction before (a side
 * exit to poll, or a write to the block's own code), 3 = the instruction at the index is a tail, which the wrapper
 * runs (wasm-chain.ts HOW_RET and HOW_TAIL_DONE for the others).
 */
export function exitCode(ci: number, how: number): number {
  return ci | (how << 16);
}

/**
 * A linear address for an import that takes one as f64 (`rd`, `wr`, `rdw`, `wr8`): stores the exact i64 in the
 * slot's Slot.Lin first (beyond +-2^53 the f64 is rounded and the import reads the slot: big-lin.ts linFromSlot).
 */
function linArgHelper(): Body {
  return new Body(2).get(0).get(1).mem(W.I64Store, Slot.Lin, 3).get(1).op(W.F64ConvertI64S);
}
