/**
 * SSE/SSE2: the move and bitwise subset x86-64 compilers emit for plain C (ops-sse.ts). CPUID
 * does not advertise SSE/SSE2 until the rest lands (fpu/); these rows run anyway (ungated).
 * Insn.op selects load (0) / store (1) or the bitwise operation, Insn.imm2 = 1 for the
 * alignment-checking moves.
 */
import { sseLogic, sseMov128, sseMovq } from '../ops-sse.js';
import { row, type Row, type RowOptions } from './row.js';

const WHY = 'x86-64 C code uses these without checking CPUID; kept from before the SSE work';

/** The SSE rows. */
export function sseTable(): Row[] {
  const sse: RowOptions = { feature: 'sse', ungated: WHY };
  const sse2: RowOptions = { feature: 'sse2', ungated: WHY };
  const out: Row[] = [];
  for (const [op, mn, aligned] of [
    [0x10, 'MOVUP', 0],
    [0x28, 'MOVAP', 1],
  ] as const) {
    const h = op.toString(16).toUpperCase();
    const h1 = (op + 1).toString(16).toUpperCase();
    out.push(
      row(`${mn}S`, `NP 0F ${h} /r`, 'Vps,Wps', sseMov128, { ...sse, sub: 0, aux: aligned }),
      row(`${mn}D`, `66 0F ${h} /r`, 'Vpd,Wpd', sseMov128, { ...sse2, sub: 0, aux: aligned }),
      row(`${mn}S`, `NP 0F ${h1} /r`, 'Wps,Vps', sseMov128, { ...sse, sub: 1, aux: aligned, mw: true }),
      row(`${mn}D`, `66 0F ${h1} /r`, 'Wpd,Vpd', sseMov128, { ...sse2, sub: 1, aux: aligned, mw: true }),
    );
  }
  out.push(
    row('MOVDQA', '66 0F 6F /r', 'Vdq,Wdq', sseMov128, { ...sse2, sub: 0, aux: 1 }),
    row('MOVDQU', 'F3 0F 6F /r', 'Vdq,Wdq', sseMov128, { ...sse2, sub: 0, aux: 0 }),
    row('MOVDQA', '66 0F 7F /r', 'Wdq,Vdq', sseMov128, { ...sse2, sub: 1, aux: 1, mw: true }),
    row('MOVDQU', 'F3 0F 7F /r', 'Wdq,Vdq', sseMov128, { ...sse2, sub: 1, aux: 0, mw: true }),
  );
  const logic = ['AND', 'ANDN', 'OR', 'XOR'];
  for (let k = 0; k < 4; k++) {
    const h = (0x54 + k).toString(16).toUpperCase();
    out.push(
      row(`${logic[k]}PS`, `NP 0F ${h} /r`, 'Vps,Wps', sseLogic, { ...sse, sub: k }),
      row(`${logic[k]}PD`, `66 0F ${h} /r`, 'Vpd,Wpd', sseLogic, { ...sse2, sub: k }),
    );
  }
  out.push(
    row('PAND', '66 0F DB /r', 'Vdq,Wdq', sseLogic, { ...sse2, sub: 0 }),
    row('PANDN', '66 0F DF /r', 'Vdq,Wdq', sseLogic, { ...sse2, sub: 1 }),
    row('POR', '66 0F EB /r', 'Vdq,Wdq', sseLogic, { ...sse2, sub: 2 }),
    row('PXOR', '66 0F EF /r', 'Vdq,Wdq', sseLogic, { ...sse2, sub: 3 }),
    row('MOVD', '66 0F 6E /r', 'Vdq,Ey', sseMovq, { ...sse2, sub: 0, osz: 'y' }),
    row('MOVD', '66 0F 7E /r', 'Ey,Vdq', sseMovq, { ...sse2, sub: 1, osz: 'y', mw: true }),
    row('MOVQ', 'F3 0F 7E /r', 'Vdq,Wq', sseMovq, { ...sse2, sub: 2, osz: 'd' }),
    row('MOVQ', '66 0F D6 /r', 'Wq,Vdq', sseMovq, { ...sse2, sub: 3, osz: 'd', mw: true }),
  );
  return out;
}
