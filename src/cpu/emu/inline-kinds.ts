/**
 * The handlers the run loop calls directly (run-loop.ts, `switch (x.k)`) instead of through
 * the megamorphic `x.fn(c, x)`: the hot 32-bit register forms and the loop branches, and the
 * handlers that ran most of the rest interpreted (realcode 32/64-bit, the Debian boot's interpreted
 * instructions). A direct call costs little more than inline code (measured within ~5%
 * interpreter-only), where `x.fn(c, x)` goes through V8's generic Call builtins (~5% of the
 * interpreter's time on 64-bit realcode), and keeps each operation's semantics in one place
 * (the handler, on sem-alu.ts). Insn.k is the index of the instruction's handler here, 0 for the rest.
 */
import type { Handler, Insn } from './insn.js';
import {
  add32ri, add32rr, aluEG, aluEI, aluGE, cmp32ri, cmp32rr, incdec32r, lea, lea64, logic32ri, logic32rr, mov32load, mov32rr, mov32store,
  mov64load, mov64store, movEG, movEI, movGE, movRI, movsx, movzx, sub32ri, sub32rr, testEG, testEI,
} from './ops-alu.js';
import { callRel, callRel64, jmpE, jmpRel, jnz, jz, pop32r, pop64r, push32r, push64r, ret64, retNear } from './ops-flow.js';
import { shift32ri, shiftE } from './ops-shift.js';
import { imulGE, imulGEI } from './ops-muldiv.js';
import { nop } from './ops-system.js';
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
  [K.AluEI, aluEI],
  [K.Movzx, movzx],
  [K.AluEG, aluEG],
  [K.MovEG, movEG],
  [K.TestEG, testEG],
  [K.Shift32RI, shift32ri],
  [K.Mov32Load, mov32load],
  [K.Lea64, lea64],
  [K.Mov64Store, mov64store],
  [K.Lea, lea],
  [K.Mov64Load, mov64load],
  [K.Mov32Store, mov32store],
  [K.Push64R, push64r],
  [K.Pop64R, pop64r],
  [K.JmpRel, jmpRel],
  [K.Ret64, ret64],
  [K.CallRel64, callRel64],
  [K.ShiftE, shiftE],
  [K.AluGE, aluGE],
  [K.JmpE, jmpE],
  [K.ImulGE, imulGE],
  [K.MovRI, movRI],
  [K.ImulGEI, imulGEI],
  [K.Push32R, push32r],
  [K.Pop32R, pop32r],
  [K.RetNear, retNear],
  [K.CallRel, callRel],
  [K.MovGE, movGE],
  [K.TestEI, testEI],
  [K.MovEI, movEI],
  [K.Movsx, movsx],
  [K.Nop, nop],
];

const KIND = new Map<Handler, number>(INLINE.map(([k, h]) => [h, k]));

/** Insn.k for a decoded instruction. */
export function inlineKind(x: Insn): number {
  return KIND.get(x.fn) ?? 0;
}
