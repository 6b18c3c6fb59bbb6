/**
 * Keeps a chainable block's link record (wasm-chain.ts) in step with what run-loop.ts jcOk reads of the block:
 * where it is valid (linear address), at which CPL, under which paging epochs, for which decode mode, and
 * whether it is valid at all. The chain driver checks these in WebAssembly before it runs a block, as the run
 * loop checks them before it runs one.
 */
import type { Block } from '../insn.js';
import { VLin } from '../x86-defs.js';

/** Byte offsets of the validity fields in a link record (after wasm-chain.ts's links). */
export const enum Lv {
  Valid = 40,
  Cpl = 44,
  Ep = 48,
  EpG = 52,
  Mode = 56,
  /** f64: the linear address it is valid at. */
  Lin = 64,
}

export function linkValidity(b: Block): void {
  const l = b.wl;
  if (l === null) return;
  const r = l.at >> 2;
  const m = l.m;
  const ok = b.valid && b.vHi !== VLin.None;
  m[r + (Lv.Valid >> 2)] = ok ? 1 : 0;
  m[r + (Lv.Cpl >> 2)] = b.vCpl;
  m[r + (Lv.Ep >> 2)] = b.vEp;
  m[r + (Lv.EpG >> 2)] = b.vEpG;
  m[r + (Lv.Mode >> 2)] = b.mode;
  l.f[(l.at + Lv.Lin) >> 3] = ok ? b.vHi * 4294967296 + b.vLo : -1;
}
