/** String instructions (MOVS CMPS STOS LODS SCAS INS OUTS); Insn.imm2 is the address size. */
import { stringOp } from '../ops-string.js';
import { OSZAPC, row, type Row } from './row.js';
import { Bit } from '../flags.js';

/** The string rows: every one ends its block with a REP (which runs in chunks and restarts itself); see decoder.ts STRING_ONCE for those without. */
export function stringTable(): Row[] {
  const s = { aszAux: true, fr: Bit.DF, ends: true };
  const cmp = { ...s, fw: OSZAPC };
  return [
    row('MOVS', 'A4', 'Yb,Xb', stringOp, { ...s, sub: 0, repAny: true }),
    row('MOVS', 'A5', 'Yv,Xv', stringOp, { ...s, sub: 0, repAny: true }),
    row('CMPS', 'A6', 'Xb,Yb', stringOp, { ...cmp, sub: 1 }),
    row('CMPS', 'A7', 'Xv,Yv', stringOp, { ...cmp, sub: 1 }),
    row('STOS', 'AA', 'Yb,AL', stringOp, { ...s, sub: 2, repAny: true }),
    row('STOS', 'AB', 'Yv,rAX', stringOp, { ...s, sub: 2, repAny: true }),
    row('LODS', 'AC', 'AL,Xb', stringOp, { ...s, sub: 3, repAny: true }),
    row('LODS', 'AD', 'rAX,Xv', stringOp, { ...s, sub: 3, repAny: true }),
    row('SCAS', 'AE', 'AL,Yb', stringOp, { ...cmp, sub: 4 }),
    row('SCAS', 'AF', 'rAX,Yv', stringOp, { ...cmp, sub: 4 }),
    row('INS', '6C', 'Yb,DX', stringOp, { ...s, sub: 5 }),
    row('INS', '6D', 'Yz,DX', stringOp, { ...s, sub: 5, osz: 'z64' }),
    row('OUTS', '6E', 'DX,Xb', stringOp, { ...s, sub: 6 }),
    row('OUTS', '6F', 'DX,Xz', stringOp, { ...s, sub: 6, osz: 'z64' }),
  ];
}
