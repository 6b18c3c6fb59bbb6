/**
 * The handlers the run loop calls directly (run-loop.ts, `switch (x.k)`) instead of through
 * the megamorphic `x.fn(c, x)`: the hot 32-bit register forms and the loop branches. A direct
 * call costs little more than inline code (measured within ~5% interpreter-only) and keeps
 * each operation's semantics in one place (the handler, on sem-alu.ts). Insn.k is the index of
 * the instruction's handler here, 0 for the rest.
 */
import type { Handler, Insn } from './insn.js';
import { add32ri, add32rr, cmp32ri, logic32ri, cmp32rr, incdec32r, logic32rr, mov32rr, sub32ri, sub32rr } from './ops-alu.js';
import { jnz, jz } from './ops-flow.js';
import { K } from './x86-defs.js';

/** [K_*, handler] pairs; run-loop.ts has one `case` per pair calling that handler. */
export const INLINE: readonly (readonly [number, Handler])[] = [
  [K.AddRR, add32rr],
  [K.SubRR, sub32rr],
  [K.CmpRR, cmp32rr],
  [K.LogicRR, logic32rr],
  [K.AddRI, add32ri],
  [K.SubRI, sub32ri],
  [K.CmpRI, cmp32ri],
  [K.LogicRI, logic32ri],
  [K.IncDecR, incdec32r],
  [K.MovRR, mov32rr],
  [K.Jnz, jnz],
  [K.Jz, jz],
];

const KIND = new Map<Handler, number>(INLINE.map(([k, h]) => [h, k]));

/** Insn.k for a decoded instruction. */
export function inlineKind(x: Insn): number {
  return KIND.get(x.fn) ?? 0;
}
