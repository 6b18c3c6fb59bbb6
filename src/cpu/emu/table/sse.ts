/**
 * SSE, SSE2, SSE3, SSSE3, SSE4.1 and SSE4.2 (legacy encodings: the 0F, 0F 38 and 0F 3A maps
 * with the mandatory 66/F2/F3 prefixes), the state instructions (LDMXCSR/STMXCSR, FXSAVE/
 * FXRSTOR, XSAVE/XRSTOR/XSAVEOPT, XGETBV/XSETBV) and CRC32. Semantics in ../fpu/, handlers in
 * ../ops-simd*.ts; Insn.op is an index into the handler's op list (intOp/fpOp) or the
 * handler's sub-operation, Insn.imm2 the alignment flag of the 128-bit moves.
 *
 * The MMX forms of these opcodes (no prefix, mm registers) have no rows: emu does not
 * implement MMX, and glibc's and musl's x86-64 builds never execute it.
 */
import * as A from '../fpu/simd-int-arith.js';
import * as S from '../fpu/simd-shift.js';
import * as H from '../fpu/simd-shuffle.js';
import * as F from '../fpu/sse-float.js';
import * as R from '../fpu/sse-approx.js';
import type { SimdOp } from '../fpu/simd-file.js';
import type { SseFpOp } from '../fpu/sse-float.js';
import { fpOp, intOp, maskmovdqu, simdFp, simdInt, simdMov128, simdMov128Mem, simdMovHalf, simdMovHalfMem, simdMovScalar, simdShiftImm } from '../ops-simd.js';
import { comis, crc32, cvtFromInt, cvtToInt, insertpsOp, movdq, movmsk, movnti, pcmpxstrx, pextr, pinsr, ptest } from '../ops-simd-gpr.js';
import { fxsaveOp, mxcsrOp, xcrOp, xsaveOp } from '../ops-simd-state.js';
import { OSZAPC, hx, row, type Row, type RowOptions } from './row.js';

const SSE: RowOptions = { feature: 'sse' };
const SSE2: RowOptions = { feature: 'sse2' };
const SSE3: RowOptions = { feature: 'sse3' };
const SSSE3: RowOptions = { feature: 'ssse3' };
const SSE41: RowOptions = { feature: 'sse4.1' };
const SSE42: RowOptions = { feature: 'sse4.2' };

/** op xmm, xmm/m128 (aligned) with 66 in the 0F map: [opcode, mnemonic, semantics]. */
const INT_0F: readonly [number, string, SimdOp][] = [
  [0x60, 'PUNPCKLBW', H.punpcklbw], [0x61, 'PUNPCKLWD', H.punpcklwd], [0x62, 'PUNPCKLDQ', H.punpckldq], [0x63, 'PACKSSWB', H.packsswb],
  [0x64, 'PCMPGTB', A.pcmpgtb], [0x65, 'PCMPGTW', A.pcmpgtw], [0x66, 'PCMPGTD', A.pcmpgtd], [0x67, 'PACKUSWB', H.packuswb],
  [0x68, 'PUNPCKHBW', H.punpckhbw], [0x69, 'PUNPCKHWD', H.punpckhwd], [0x6a, 'PUNPCKHDQ', H.punpckhdq], [0x6b, 'PACKSSDW', H.packssdw],
  [0x6c, 'PUNPCKLQDQ', H.punpcklqdq], [0x6d, 'PUNPCKHQDQ', H.punpckhqdq],
  [0x74, 'PCMPEQB', A.pcmpeqb], [0x75, 'PCMPEQW', A.pcmpeqw], [0x76, 'PCMPEQD', A.pcmpeqd],
  [0xd1, 'PSRLW', S.psrlw], [0xd2, 'PSRLD', S.psrld], [0xd3, 'PSRLQ', S.psrlq], [0xd4, 'PADDQ', A.paddq], [0xd5, 'PMULLW', A.pmullw],
  [0xd8, 'PSUBUSB', A.psubusb], [0xd9, 'PSUBUSW', A.psubusw], [0xda, 'PMINUB', A.pminub], [0xdb, 'PAND', A.pand],
  [0xdc, 'PADDUSB', A.paddusb], [0xdd, 'PADDUSW', A.paddusw], [0xde, 'PMAXUB', A.pmaxub], [0xdf, 'PANDN', A.pandn],
  [0xe0, 'PAVGB', A.pavgb], [0xe1, 'PSRAW', S.psraw], [0xe2, 'PSRAD', S.psrad], [0xe3, 'PAVGW', A.pavgw], [0xe4, 'PMULHUW', A.pmulhuw], [0xe5, 'PMULHW', A.pmulhw],
  [0xe8, 'PSUBSB', A.psubsb], [0xe9, 'PSUBSW', A.psubsw], [0xea, 'PMINSW', A.pminsw], [0xeb, 'POR', A.por],
  [0xec, 'PADDSB', A.paddsb], [0xed, 'PADDSW', A.paddsw], [0xee, 'PMAXSW', A.pmaxsw], [0xef, 'PXOR', A.pxor],
  [0xf1, 'PSLLW', S.psllw], [0xf2, 'PSLLD', S.pslld], [0xf3, 'PSLLQ', S.psllq], [0xf4, 'PMULUDQ', A.pmuludq], [0xf5, 'PMADDWD', A.pmaddwd], [0xf6, 'PSADBW', A.psadbw],
  [0xf8, 'PSUBB', A.psubb], [0xf9, 'PSUBW', A.psubw], [0xfa, 'PSUBD', A.psubd], [0xfb, 'PSUBQ', A.psubq], [0xfc, 'PADDB', A.paddb], [0xfd, 'PADDW', A.paddw], [0xfe, 'PADDD', A.paddd],
];

/** 66 0F 38 xx: [opcode, mnemonic, semantics, feature, memory size]. */
const INT_0F38: readonly [number, string, SimdOp, RowOptions, number][] = [
  [0x00, 'PSHUFB', H.pshufb, SSSE3, 16], [0x01, 'PHADDW', A.phaddw, SSSE3, 16], [0x02, 'PHADDD', A.phaddd, SSSE3, 16], [0x03, 'PHADDSW', A.phaddsw, SSSE3, 16],
  [0x04, 'PMADDUBSW', A.pmaddubsw, SSSE3, 16], [0x05, 'PHSUBW', A.phsubw, SSSE3, 16], [0x06, 'PHSUBD', A.phsubd, SSSE3, 16], [0x07, 'PHSUBSW', A.phsubsw, SSSE3, 16],
  [0x08, 'PSIGNB', A.psignb, SSSE3, 16], [0x09, 'PSIGNW', A.psignw, SSSE3, 16], [0x0a, 'PSIGND', A.psignd, SSSE3, 16], [0x0b, 'PMULHRSW', A.pmulhrsw, SSSE3, 16],
  [0x10, 'PBLENDVB', H.pblendvb, SSE41, 16], [0x14, 'BLENDVPS', H.blendvps, SSE41, 16], [0x15, 'BLENDVPD', H.blendvpd, SSE41, 16],
  [0x1c, 'PABSB', A.pabsb, SSSE3, 16], [0x1d, 'PABSW', A.pabsw, SSSE3, 16], [0x1e, 'PABSD', A.pabsd, SSSE3, 16],
  [0x20, 'PMOVSXBW', H.pmovsxbw, SSE41, 8], [0x21, 'PMOVSXBD', H.pmovsxbd, SSE41, 4], [0x22, 'PMOVSXBQ', H.pmovsxbq, SSE41, 2],
  [0x23, 'PMOVSXWD', H.pmovsxwd, SSE41, 8], [0x24, 'PMOVSXWQ', H.pmovsxwq, SSE41, 4], [0x25, 'PMOVSXDQ', H.pmovsxdq, SSE41, 8],
  [0x28, 'PMULDQ', A.pmuldq, SSE41, 16], [0x29, 'PCMPEQQ', A.pcmpeqq, SSE41, 16], [0x2b, 'PACKUSDW', H.packusdw, SSE41, 16],
  [0x30, 'PMOVZXBW', H.pmovzxbw, SSE41, 8], [0x31, 'PMOVZXBD', H.pmovzxbd, SSE41, 4], [0x32, 'PMOVZXBQ', H.pmovzxbq, SSE41, 2],
  [0x33, 'PMOVZXWD', H.pmovzxwd, SSE41, 8], [0x34, 'PMOVZXWQ', H.pmovzxwq, SSE41, 4], [0x35, 'PMOVZXDQ', H.pmovzxdq, SSE41, 8],
  [0x37, 'PCMPGTQ', A.pcmpgtq, SSE42, 16],
  [0x38, 'PMINSB', A.pminsb, SSE41, 16], [0x39, 'PMINSD', A.pminsd, SSE41, 16], [0x3a, 'PMINUW', A.pminuw, SSE41, 16], [0x3b, 'PMINUD', A.pminud, SSE41, 16],
  [0x3c, 'PMAXSB', A.pmaxsb, SSE41, 16], [0x3d, 'PMAXSD', A.pmaxsd, SSE41, 16], [0x3e, 'PMAXUW', A.pmaxuw, SSE41, 16], [0x3f, 'PMAXUD', A.pmaxud, SSE41, 16],
  [0x40, 'PMULLD', A.pmulld, SSE41, 16], [0x41, 'PHMINPOSUW', A.phminposuw, SSE41, 16],
];

/** 66 0F 3A xx with imm8. */
const INT_0F3A: readonly [number, string, SimdOp, RowOptions][] = [
  [0x0c, 'BLENDPS', H.blendps, SSE41], [0x0d, 'BLENDPD', H.blendpd, SSE41], [0x0e, 'PBLENDW', H.pblendw, SSE41], [0x0f, 'PALIGNR', S.palignr, SSSE3],
  [0x42, 'MPSADBW', A.mpsadbw, SSE41],
];

/** The arithmetic opcodes with PS (NP), PD (66), SS (F3), SD (F2) forms. */
const FP_0F: readonly [number, string, [SseFpOp, SseFpOp, SseFpOp, SseFpOp]][] = [
  [0x51, 'SQRT', [F.sqrtps, F.sqrtpd, F.sqrtss, F.sqrtsd]],
  [0x58, 'ADD', [F.addps, F.addpd, F.addss, F.addsd]],
  [0x59, 'MUL', [F.mulps, F.mulpd, F.mulss, F.mulsd]],
  [0x5c, 'SUB', [F.subps, F.subpd, F.subss, F.subsd]],
  [0x5d, 'MIN', [F.minps, F.minpd, F.minss, F.minsd]],
  [0x5e, 'DIV', [F.divps, F.divpd, F.divss, F.divsd]],
  [0x5f, 'MAX', [F.maxps, F.maxpd, F.maxss, F.maxsd]],
  [0xc2, 'CMP', [F.cmpps, F.cmppd, F.cmpss, F.cmpsd]],
];

function intRows(out: Row[]): void {
  for (const [op, mn, fn] of INT_0F) out.push(row(mn, `66 0F ${hx(op)} /r`, 'Vdq,Wdq', simdInt, { ...SSE2, sub: intOp(fn) }));
  for (const [op, mn, fn, feat, msz] of INT_0F38) {
    out.push(row(mn, `66 0F 38 ${hx(op)} /r`, msz === 16 ? 'Vdq,Wdq' : msz === 8 ? 'Vdq,Wq' : msz === 4 ? 'Vdq,Wd' : 'Vdq,Ww', simdInt, { ...feat, sub: intOp(fn, msz) }));
  }
  for (const [op, mn, fn, feat] of INT_0F3A) out.push(row(mn, `66 0F 3A ${hx(op)} /r`, 'Vdq,Wdq,Ib', simdInt, { ...feat, sub: intOp(fn) }));
  out.push(
    row('PSHUFD', '66 0F 70 /r', 'Vdq,Wdq,Ib', simdInt, { ...SSE2, sub: intOp(H.pshufd) }),
    row('PSHUFHW', 'F3 0F 70 /r', 'Vdq,Wdq,Ib', simdInt, { ...SSE2, sub: intOp(H.pshufhw) }),
    row('PSHUFLW', 'F2 0F 70 /r', 'Vdq,Wdq,Ib', simdInt, { ...SSE2, sub: intOp(H.pshuflw) }),
    row('SHUFPS', 'NP 0F C6 /r', 'Vps,Wps,Ib', simdInt, { ...SSE, sub: intOp(H.shufps) }),
    row('SHUFPD', '66 0F C6 /r', 'Vpd,Wpd,Ib', simdInt, { ...SSE2, sub: intOp(H.shufpd) }),
    row('UNPCKLPS', 'NP 0F 14 /r', 'Vps,Wps', simdInt, { ...SSE, sub: intOp(H.unpcklps) }),
    row('UNPCKHPS', 'NP 0F 15 /r', 'Vps,Wps', simdInt, { ...SSE, sub: intOp(H.unpckhps) }),
    row('UNPCKLPD', '66 0F 14 /r', 'Vpd,Wpd', simdInt, { ...SSE2, sub: intOp(H.unpcklpd) }),
    row('UNPCKHPD', '66 0F 15 /r', 'Vpd,Wpd', simdInt, { ...SSE2, sub: intOp(H.unpckhpd) }),
    row('MOVSHDUP', 'F3 0F 16 /r', 'Vdq,Wdq', simdInt, { ...SSE3, sub: intOp(H.movshdup) }),
    row('MOVSLDUP', 'F3 0F 12 /r', 'Vdq,Wdq', simdInt, { ...SSE3, sub: intOp(H.movsldup) }),
  );
  const logic = [['AND', A.pand], ['ANDN', A.pandn], ['OR', A.por], ['XOR', A.pxor]] as const;
  logic.forEach(([mn, fn], k) => {
    out.push(
      row(`${mn}PS`, `NP 0F ${hx(0x54 + k)} /r`, 'Vps,Wps', simdInt, { ...SSE, sub: intOp(fn) }),
      row(`${mn}PD`, `66 0F ${hx(0x54 + k)} /r`, 'Vpd,Wpd', simdInt, { ...SSE2, sub: intOp(fn) }),
    );
  });
  // Shifts by imm8 (groups 12-14): the register in ModRM.rm.
  const groups: [number, number, string, SimdOp][] = [
    [0x71, 2, 'PSRLW', S.psrlwi], [0x71, 4, 'PSRAW', S.psrawi], [0x71, 6, 'PSLLW', S.psllwi],
    [0x72, 2, 'PSRLD', S.psrldi], [0x72, 4, 'PSRAD', S.psradi], [0x72, 6, 'PSLLD', S.pslldi],
    [0x73, 2, 'PSRLQ', S.psrlqi], [0x73, 3, 'PSRLDQ', S.psrldq], [0x73, 6, 'PSLLQ', S.psllqi], [0x73, 7, 'PSLLDQ', S.pslldq],
  ];
  for (const [op, d, mn, fn] of groups) out.push(row(mn, `66 0F ${hx(op)} /${d} mod=3`, 'Udq,Ib', simdShiftImm, { ...SSE2, sub: intOp(fn) }));
}

function fpRows(out: Row[]): void {
  const forms: [string, string, string, RowOptions, number][] = [
    ['NP', 'PS', 'Vps,Wps', SSE, 16], ['66', 'PD', 'Vpd,Wpd', SSE2, 16], ['F3', 'SS', 'Vss,Wss', SSE, 4], ['F2', 'SD', 'Vsd,Wsd', SSE2, 8],
  ];
  for (const [op, mn, fns] of FP_0F) {
    forms.forEach(([p, sfx, ops, feat, msz], k) => {
      const imm = op === 0xc2 ? ',Ib' : '';
      out.push(row(`${mn}${sfx}`, `${p} 0F ${hx(op)} /r`, ops + imm, simdFp, { ...feat, sub: fpOp(fns[k]!, msz) }));
    });
  }
  out.push(
    row('RSQRTPS', 'NP 0F 52 /r', 'Vps,Wps', simdFp, { ...SSE, sub: fpOp(R.rsqrtps) }),
    row('RSQRTSS', 'F3 0F 52 /r', 'Vss,Wss', simdFp, { ...SSE, sub: fpOp(R.rsqrtss, 4) }),
    row('RCPPS', 'NP 0F 53 /r', 'Vps,Wps', simdFp, { ...SSE, sub: fpOp(R.rcpps) }),
    row('RCPSS', 'F3 0F 53 /r', 'Vss,Wss', simdFp, { ...SSE, sub: fpOp(R.rcpss, 4) }),
    row('CVTPS2PD', 'NP 0F 5A /r', 'Vpd,Wq', simdFp, { ...SSE2, sub: fpOp(F.cvtps2pd, 8) }),
    row('CVTPD2PS', '66 0F 5A /r', 'Vps,Wpd', simdFp, { ...SSE2, sub: fpOp(F.cvtpd2ps) }),
    row('CVTSS2SD', 'F3 0F 5A /r', 'Vsd,Wss', simdFp, { ...SSE2, sub: fpOp(F.cvtss2sd, 4) }),
    row('CVTSD2SS', 'F2 0F 5A /r', 'Vss,Wsd', simdFp, { ...SSE2, sub: fpOp(F.cvtsd2ss, 8) }),
    row('CVTDQ2PS', 'NP 0F 5B /r', 'Vps,Wdq', simdFp, { ...SSE2, sub: fpOp(F.cvtdq2ps) }),
    row('CVTPS2DQ', '66 0F 5B /r', 'Vdq,Wps', simdFp, { ...SSE2, sub: fpOp(F.cvtps2dq) }),
    row('CVTTPS2DQ', 'F3 0F 5B /r', 'Vdq,Wps', simdFp, { ...SSE2, sub: fpOp(F.cvttps2dq) }),
    row('CVTTPD2DQ', '66 0F E6 /r', 'Vdq,Wpd', simdFp, { ...SSE2, sub: fpOp(F.cvttpd2dq) }),
    row('CVTDQ2PD', 'F3 0F E6 /r', 'Vpd,Wq', simdFp, { ...SSE2, sub: fpOp(F.cvtdq2pd, 8) }),
    row('CVTPD2DQ', 'F2 0F E6 /r', 'Vdq,Wpd', simdFp, { ...SSE2, sub: fpOp(F.cvtpd2dq) }),
    row('HADDPD', '66 0F 7C /r', 'Vpd,Wpd', simdFp, { ...SSE3, sub: fpOp(F.haddpd) }),
    row('HADDPS', 'F2 0F 7C /r', 'Vps,Wps', simdFp, { ...SSE3, sub: fpOp(F.haddps) }),
    row('HSUBPD', '66 0F 7D /r', 'Vpd,Wpd', simdFp, { ...SSE3, sub: fpOp(F.hsubpd) }),
    row('HSUBPS', 'F2 0F 7D /r', 'Vps,Wps', simdFp, { ...SSE3, sub: fpOp(F.hsubps) }),
    row('ADDSUBPD', '66 0F D0 /r', 'Vpd,Wpd', simdFp, { ...SSE3, sub: fpOp(F.addsubpd) }),
    row('ADDSUBPS', 'F2 0F D0 /r', 'Vps,Wps', simdFp, { ...SSE3, sub: fpOp(F.addsubps) }),
    row('ROUNDPS', '66 0F 3A 08 /r', 'Vps,Wps,Ib', simdFp, { ...SSE41, sub: fpOp(F.roundps) }),
    row('ROUNDPD', '66 0F 3A 09 /r', 'Vpd,Wpd,Ib', simdFp, { ...SSE41, sub: fpOp(F.roundpd) }),
    row('ROUNDSS', '66 0F 3A 0A /r', 'Vss,Wss,Ib', simdFp, { ...SSE41, sub: fpOp(F.roundss, 4) }),
    row('ROUNDSD', '66 0F 3A 0B /r', 'Vsd,Wsd,Ib', simdFp, { ...SSE41, sub: fpOp(F.roundsd, 8) }),
    row('DPPS', '66 0F 3A 40 /r', 'Vps,Wps,Ib', simdFp, { ...SSE41, sub: fpOp(F.dpps) }),
    row('DPPD', '66 0F 3A 41 /r', 'Vpd,Wpd,Ib', simdFp, { ...SSE41, sub: fpOp(F.dppd) }),
    row('COMISS', 'NP 0F 2F /r', 'Vss,Wss', comis, { ...SSE, sub: 0, fw: OSZAPC }),
    row('UCOMISS', 'NP 0F 2E /r', 'Vss,Wss', comis, { ...SSE, sub: 1, fw: OSZAPC }),
    row('COMISD', '66 0F 2F /r', 'Vsd,Wsd', comis, { ...SSE2, sub: 2, fw: OSZAPC }),
    row('UCOMISD', '66 0F 2E /r', 'Vsd,Wsd', comis, { ...SSE2, sub: 3, fw: OSZAPC }),
    row('CVTSI2SS', 'F3 0F 2A /r', 'Vss,Ey', cvtFromInt, { ...SSE, sub: 0, osz: 'y' }),
    row('CVTSI2SD', 'F2 0F 2A /r', 'Vsd,Ey', cvtFromInt, { ...SSE2, sub: 1, osz: 'y' }),
    row('CVTSS2SI', 'F3 0F 2D /r', 'Gy,Wss', cvtToInt, { ...SSE, sub: 0, osz: 'y' }),
    row('CVTTSS2SI', 'F3 0F 2C /r', 'Gy,Wss', cvtToInt, { ...SSE, sub: 1, osz: 'y' }),
    row('CVTSD2SI', 'F2 0F 2D /r', 'Gy,Wsd', cvtToInt, { ...SSE2, sub: 2, osz: 'y' }),
    row('CVTTSD2SI', 'F2 0F 2C /r', 'Gy,Wsd', cvtToInt, { ...SSE2, sub: 3, osz: 'y' }),
  );
}

function moveRows(out: Row[]): void {
  for (const [op, mn, aligned] of [[0x10, 'MOVUP', 0], [0x28, 'MOVAP', 1]] as const) {
    out.push(
      row(`${mn}S`, `NP 0F ${hx(op)} /r`, 'Vps,Wps', simdMov128, { ...SSE, sub: 0, aux: aligned }),
      row(`${mn}D`, `66 0F ${hx(op)} /r`, 'Vpd,Wpd', simdMov128, { ...SSE2, sub: 0, aux: aligned }),
      row(`${mn}S`, `NP 0F ${hx(op + 1)} /r`, 'Wps,Vps', simdMov128, { ...SSE, sub: 1, aux: aligned, mw: true }),
      row(`${mn}D`, `66 0F ${hx(op + 1)} /r`, 'Wpd,Vpd', simdMov128, { ...SSE2, sub: 1, aux: aligned, mw: true }),
    );
  }
  out.push(
    row('MOVSS', 'F3 0F 10 /r', 'Vss,Wss', simdMovScalar, { ...SSE, sub: 0, aux: 4 }),
    row('MOVSD', 'F2 0F 10 /r', 'Vsd,Wsd', simdMovScalar, { ...SSE2, sub: 0, aux: 8 }),
    row('MOVSS', 'F3 0F 11 /r', 'Wss,Vss', simdMovScalar, { ...SSE, sub: 1, aux: 4, mw: true }),
    row('MOVSD', 'F2 0F 11 /r', 'Wsd,Vsd', simdMovScalar, { ...SSE2, sub: 1, aux: 8, mw: true }),
    row('MOVLPS', 'NP 0F 12 /r', 'Vq,Wq', simdMovHalf, { ...SSE, sub: 0 }), // MOVHLPS with a register operand
    row('MOVHPS', 'NP 0F 16 /r', 'Vq,Wq', simdMovHalf, { ...SSE, sub: 1 }), // MOVLHPS with a register operand
    row('MOVLPD', '66 0F 12 /r', 'Vq,Mq', simdMovHalfMem, { ...SSE2, sub: 0 }),
    row('MOVHPD', '66 0F 16 /r', 'Vq,Mq', simdMovHalfMem, { ...SSE2, sub: 1 }),
    row('MOVLPS', 'NP 0F 13 /r', 'Mq,Vq', simdMovHalf, { ...SSE, sub: 2, mw: true }),
    row('MOVLPD', '66 0F 13 /r', 'Mq,Vq', simdMovHalf, { ...SSE2, sub: 2, mw: true }),
    row('MOVHPS', 'NP 0F 17 /r', 'Mq,Vq', simdMovHalf, { ...SSE, sub: 3, mw: true }),
    row('MOVHPD', '66 0F 17 /r', 'Mq,Vq', simdMovHalf, { ...SSE2, sub: 3, mw: true }),
    row('MOVDDUP', 'F2 0F 12 /r', 'Vdq,Wq', simdMovHalf, { ...SSE3, sub: 4 }),
    row('MOVDQA', '66 0F 6F /r', 'Vdq,Wdq', simdMov128, { ...SSE2, sub: 0, aux: 1 }),
    row('MOVDQU', 'F3 0F 6F /r', 'Vdq,Wdq', simdMov128, { ...SSE2, sub: 0, aux: 0 }),
    row('MOVDQA', '66 0F 7F /r', 'Wdq,Vdq', simdMov128, { ...SSE2, sub: 1, aux: 1, mw: true }),
    row('MOVDQU', 'F3 0F 7F /r', 'Wdq,Vdq', simdMov128, { ...SSE2, sub: 1, aux: 0, mw: true }),
    row('LDDQU', 'F2 0F F0 /r', 'Vdq,Mdq', simdMov128Mem, { ...SSE3, sub: 0, aux: 0 }),
    row('MOVNTDQA', '66 0F 38 2A /r', 'Vdq,Mdq', simdMov128Mem, { ...SSE41, sub: 0, aux: 1 }),
    row('MOVNTPS', 'NP 0F 2B /r', 'Mps,Vps', simdMov128Mem, { ...SSE, sub: 1, aux: 1, mw: true }),
    row('MOVNTPD', '66 0F 2B /r', 'Mpd,Vpd', simdMov128Mem, { ...SSE2, sub: 1, aux: 1, mw: true }),
    row('MOVNTDQ', '66 0F E7 /r', 'Mdq,Vdq', simdMov128Mem, { ...SSE2, sub: 1, aux: 1, mw: true }),
    row('MASKMOVDQU', '66 0F F7 /r', 'Vdq,Udq', maskmovdqu, { ...SSE2 }),
    row('MOVNTI', 'NP 0F C3 /r', 'My,Gy', movnti, { ...SSE2, osz: 'y', mw: true }),
    row('MOVD', '66 0F 6E /r', 'Vdq,Ey', movdq, { ...SSE2, sub: 0, osz: 'y' }),
    row('MOVD', '66 0F 7E /r', 'Ey,Vdq', movdq, { ...SSE2, sub: 1, osz: 'y', mw: true }),
    row('MOVQ', 'F3 0F 7E /r', 'Vdq,Wq', movdq, { ...SSE2, sub: 2 }),
    row('MOVQ', '66 0F D6 /r', 'Wq,Vdq', movdq, { ...SSE2, sub: 3, mw: true }),
    row('PMOVMSKB', '66 0F D7 /r', 'Gd,Udq', movmsk, { ...SSE2, sub: 0 }),
    row('MOVMSKPS', 'NP 0F 50 /r', 'Gd,Ups', movmsk, { ...SSE, sub: 1 }),
    row('MOVMSKPD', '66 0F 50 /r', 'Gd,Upd', movmsk, { ...SSE2, sub: 2 }),
    row('PINSRW', '66 0F C4 /r', 'Vdq,Ey,Ib', pinsr, { ...SSE2, sub: 2, osz: 'y' }),
    row('PEXTRW', '66 0F C5 /r', 'Gd,Udq,Ib', pextr, { ...SSE2, sub: 0 }),
    row('PEXTRB', '66 0F 3A 14 /r', 'Ey,Vdq,Ib', pextr, { ...SSE41, sub: 1, osz: 'y', mw: true }), // r32/r64 or m8: no AH..BH
    row('PEXTRW', '66 0F 3A 15 /r', 'Ey,Vdq,Ib', pextr, { ...SSE41, sub: 2, osz: 'y', mw: true }),
    row('PEXTRD', '66 0F 3A 16 /r', 'Ey,Vdq,Ib', pextr, { ...SSE41, sub: 4, osz: 'y', mw: true }),
    row('EXTRACTPS', '66 0F 3A 17 /r', 'Ed,Vdq,Ib', pextr, { ...SSE41, sub: 5, mw: true }),
    row('PINSRB', '66 0F 3A 20 /r', 'Vdq,Ey,Ib', pinsr, { ...SSE41, sub: 1, osz: 'y' }),
    row('INSERTPS', '66 0F 3A 21 /r', 'Vdq,Wd,Ib', insertpsOp, { ...SSE41 }),
    row('PINSRD', '66 0F 3A 22 /r', 'Vdq,Ey,Ib', pinsr, { ...SSE41, sub: 4, osz: 'y' }),
    row('PTEST', '66 0F 38 17 /r', 'Vdq,Wdq', ptest, { ...SSE41, fw: OSZAPC }),
    row('PCMPESTRM', '66 0F 3A 60 /r', 'Vdq,Wdq,Ib', pcmpxstrx, { ...SSE42, sub: 0, fw: OSZAPC }),
    row('PCMPESTRI', '66 0F 3A 61 /r', 'Vdq,Wdq,Ib', pcmpxstrx, { ...SSE42, sub: 1, fw: OSZAPC }),
    row('PCMPISTRM', '66 0F 3A 62 /r', 'Vdq,Wdq,Ib', pcmpxstrx, { ...SSE42, sub: 2, fw: OSZAPC }),
    row('PCMPISTRI', '66 0F 3A 63 /r', 'Vdq,Wdq,Ib', pcmpxstrx, { ...SSE42, sub: 3, fw: OSZAPC }),
    row('CRC32', 'F2 0F 38 F0 /r', 'Gy,Eb', crc32, { ...SSE42, sub: 1, osz: 'y' }),
    row('CRC32', 'F2 0F 38 F1 /r', 'Gy,Ev', crc32, { ...SSE42, sub: 0 }),
  );
}

function stateRows(out: Row[]): void {
  out.push(
    row('FXSAVE', 'NP 0F AE /0 mem', 'M', fxsaveOp, { feature: 'fxsr', sub: 0, mw: true }),
    row('FXRSTOR', 'NP 0F AE /1 mem', 'M', fxsaveOp, { feature: 'fxsr', sub: 1 }),
    row('LDMXCSR', 'NP 0F AE /2 mem', 'Md', mxcsrOp, { ...SSE, sub: 0 }),
    row('STMXCSR', 'NP 0F AE /3 mem', 'Md', mxcsrOp, { ...SSE, sub: 1, mw: true }),
    row('XSAVE', 'NP 0F AE /4 mem', 'M', xsaveOp, { feature: 'xsave', sub: 0, mw: true }),
    row('XRSTOR', 'NP 0F AE /5 mem', 'M', xsaveOp, { feature: 'xsave', sub: 1 }),
    row('XSAVEOPT', 'NP 0F AE /6 mem', 'M', xsaveOp, { feature: 'xsaveopt', sub: 2, mw: true }),
    row('XGETBV', 'NP 0F 01 /2 mod=3 rm=0', '', xcrOp, { feature: 'xsave', sub: 0 }),
    row('XSETBV', 'NP 0F 01 /2 mod=3 rm=1', '', xcrOp, { feature: 'xsave', sub: 1, ends: true }), // CPL 0 checked after CR4.OSXSAVE (#UD first)
  );
}

/** The SSE rows. */
export function sseTable(): Row[] {
  const out: Row[] = [];
  intRows(out);
  fpRows(out);
  moveRows(out);
  stateRows(out);
  return out;
}

