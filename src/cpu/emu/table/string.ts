/** String instructions (MOVS CMPS STOS LODS SCAS INS OUTS); Insn.imm2 is the address size. */
import { stringOp } from '../ops-string.js';
import { OSZAPC, row, type Row } from './row.js';
import { Bit } from '../flags.js';

/**
 * The string rows. With a REP each ends its block (it runs in chunks and restarts itself). Without one, MOVS, CMPS,
 * STOS, LODS and SCAS go on in their block (gcc -m32 copies with them in loops of its own, which then stay one block
 * that loops on itself); INS and OUTS still end theirs, as port I/O does.
 */
export function stringTable(): Row[] {
  const io = { aszAux: true, fr: Bit.DF, ends: true };
  const s = { ...io, endsOnlyWithRep: true };
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
    row('INS', '6C', 'Yb,DX', stringOp, { ...io, sub: 5 }),
    row('INS', '6D', 'Yz,DX', stringOp, { ...io, sub: 5, osz: 'z64' }),
    row('OUTS', '6E', 'DX,Xb', stringOp, { ...io, sub: 6 }),
    row('OUTS', '6F', 'DX,Xz', stringOp, { ...io, sub: 6, osz: 'z64' }),
  ];
}
