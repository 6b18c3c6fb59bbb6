/**
 * The SSE-family instruction forms the SIMD case generator produces, one row per
 * encoding (SDM Vol. 2 opcode maps, legacy-SSE encodings with mandatory 66/F2/F3 prefixes).
 *
 * form:
 *   'xm'   op xmm, xmm/mem
 *   'xmi'  op xmm, xmm/mem, imm8
 *   'xi'   op xmm, imm8 with /digit in ModRM.reg (PSLLW xmm, imm8 ...)
 *   'str'  PCMPxSTRx xmm, xmm/m128, imm8 (inputs EAX/EDX, outputs ECX or XMM0, flags)
 *   'ptest'  PTEST xmm, xmm/m128 (flags only)
 *   'msk'  op r32, xmm (PMOVMSKB, MOVMSKPS/PD)
 *   'crc'  CRC32 r32/r64, r/m8/16/32/64
 *   'comi' (U)COMISS/SD xmm, xmm/mem (EFLAGS)
 *   'f2i'  CVT(T)SS2SI/SD2SI r32/r64, xmm/mem
 *   'i2f'  CVTSI2SS/SD xmm, r/m32/64
 *   'st'   op xmm/mem, xmm (stores; ModRM.reg is the source)
 *   'gx'   op xmm, r/m32/64 [, imm8] (MOVD/MOVQ, PINSR*)
 *   'xg'   op r/m32/64, xmm [, imm8] (MOVD/MOVQ, PEXTR*, EXTRACTPS; PEXTRW 0F C5 has the GPR in ModRM.reg)
 *   'mdigit' op m32 with /digit (LDMXCSR, STMXCSR)
 *   'maskmov' MASKMOVDQU xmm, xmm (stores through RDI)
 *   'state' FXSAVE/FXRSTOR/XSAVE/XRSTOR/XSAVEOPT m (EDX:EAX the component mask; XRSTOR after a
 *          MOV that writes the XSAVE header's XSTATE_BV, XCOMP_BV or reserved bytes)
 */

export type SimdFeature = 'sse' | 'sse2' | 'sse3' | 'ssse3' | 'sse4_1' | 'sse4_2' | 'fxsr' | 'xsave' | 'xsaveopt';
export type SimdForm = 'xm' | 'xmi' | 'xi' | 'str' | 'ptest' | 'msk' | 'crc' | 'comi' | 'f2i' | 'i2f' | 'st' | 'gx' | 'xg' | 'mdigit' | 'maskmov' | 'state';

export interface SimdSpec {
  /** Mnemonic; also the export name of the semantics in src/cpu/emu/fpu/ for the direct check. */
  name: string;
  /** Mandatory prefix (0 = none). */
  pfx: 0 | 0x66 | 0xf2 | 0xf3;
  /** Opcode bytes after the prefixes (0F ...). */
  op: readonly number[];
  feat: SimdFeature;
  form: SimdForm;
  /** ModRM.reg opcode extension for 'xi'. */
  digit?: number;
  /** Memory operand size in bytes; 0: register operand only. */
  mem: 0 | 1 | 2 | 4 | 8 | 16;
  /** The m128 operand must be 16-byte aligned (#GP otherwise). */
  aligned?: boolean;
  /** Lane width in bytes that shapes the edge-biased operands. */
  lane: 1 | 2 | 4 | 8;
  /** The second operand is a shift count (small values likelier). */
  count?: boolean;
  /** Immediate values worth biasing towards. */
  imms?: readonly number[];
  /** CRC32 operand size in bytes. */
  crcSize?: 1 | 2 | 4 | 8;
  /** Floating-point elements of 4 or 8 bytes: operands are edge-biased floats, MXCSR modes and masks vary. */
  fp?: 4 | 8;
  /** An FP form whose source holds integers (CVTDQ2PS/PD). */
  intSrc?: boolean;
  /** Only the memory form exists (the register form is another instruction or #UD). */
  memOnly?: boolean;
  /** GPR operand size in bytes for 'gx'/'xg' (8: REX.W, 64-bit mode only). */
  gsize?: 1 | 2 | 4 | 8;
  /** 'xg' with the GPR in ModRM.reg and the XMM register in ModRM.rm (PEXTRW 0F C5). */
  gprInReg?: boolean;
  /** The form takes an imm8. */
  imm?: boolean;
  /** 'state': the area's required alignment (16 FXSAVE, 64 XSAVE) and whether it is an XSAVE-family form. */
  area?: 16 | 64;
  restore?: boolean;
}

const P66 = 0x66;
/** op xmm, xmm/m128 (aligned) with 66 prefix in the 0F map. */
const i66 = (name: string, opc: number, lane: SimdSpec['lane'], feat: SimdFeature = 'sse2', extra: Partial<SimdSpec> = {}): SimdSpec => ({
  name, pfx: P66, op: [0x0f, opc], feat, form: 'xm', mem: 16, aligned: true, lane, ...extra,
});
const i38 = (name: string, opc: number, lane: SimdSpec['lane'], feat: SimdFeature, extra: Partial<SimdSpec> = {}): SimdSpec => ({
  name, pfx: P66, op: [0x0f, 0x38, opc], feat, form: 'xm', mem: 16, aligned: true, lane, ...extra,
});
const i3a = (name: string, opc: number, lane: SimdSpec['lane'], feat: SimdFeature, extra: Partial<SimdSpec> = {}): SimdSpec => ({
  name, pfx: P66, op: [0x0f, 0x3a, opc], feat, form: 'xmi', mem: 16, aligned: true, lane, ...extra,
});
const shImm = (name: string, opc: number, digit: number, lane: SimdSpec['lane']): SimdSpec => ({
  name, pfx: P66, op: [0x0f, opc], feat: 'sse2', form: 'xi', digit, mem: 0, lane, imms: [0, 1, lane * 8 - 1, lane * 8, lane * 8 + 1, 15, 16, 17, 31, 32, 63, 64, 127, 255],
});

export const INT_SPECS: readonly SimdSpec[] = [
  // SSE2 integer arithmetic
  i66('paddb', 0xfc, 1), i66('paddw', 0xfd, 2), i66('paddd', 0xfe, 4), i66('paddq', 0xd4, 8),
  i66('psubb', 0xf8, 1), i66('psubw', 0xf9, 2), i66('psubd', 0xfa, 4), i66('psubq', 0xfb, 8),
  i66('paddsb', 0xec, 1), i66('paddsw', 0xed, 2), i66('paddusb', 0xdc, 1), i66('paddusw', 0xdd, 2),
  i66('psubsb', 0xe8, 1), i66('psubsw', 0xe9, 2), i66('psubusb', 0xd8, 1), i66('psubusw', 0xd9, 2),
  i66('pmullw', 0xd5, 2), i66('pmulhw', 0xe5, 2), i66('pmulhuw', 0xe4, 2), i66('pmuludq', 0xf4, 4),
  i66('pmaddwd', 0xf5, 2), i66('psadbw', 0xf6, 1), i66('pavgb', 0xe0, 1), i66('pavgw', 0xe3, 2),
  i66('pminub', 0xda, 1), i66('pmaxub', 0xde, 1), i66('pminsw', 0xea, 2), i66('pmaxsw', 0xee, 2),
  i66('pcmpeqb', 0x74, 1), i66('pcmpeqw', 0x75, 2), i66('pcmpeqd', 0x76, 4),
  i66('pcmpgtb', 0x64, 1), i66('pcmpgtw', 0x65, 2), i66('pcmpgtd', 0x66, 4),
  i66('pand', 0xdb, 4), i66('pandn', 0xdf, 4), i66('por', 0xeb, 4), i66('pxor', 0xef, 4),
  // SSE2 shifts by xmm/m128 and by imm8
  i66('psllw', 0xf1, 2, 'sse2', { count: true }), i66('pslld', 0xf2, 4, 'sse2', { count: true }), i66('psllq', 0xf3, 8, 'sse2', { count: true }),
  i66('psrlw', 0xd1, 2, 'sse2', { count: true }), i66('psrld', 0xd2, 4, 'sse2', { count: true }), i66('psrlq', 0xd3, 8, 'sse2', { count: true }),
  i66('psraw', 0xe1, 2, 'sse2', { count: true }), i66('psrad', 0xe2, 4, 'sse2', { count: true }),
  shImm('psrlwi', 0x71, 2, 2), shImm('psrawi', 0x71, 4, 2), shImm('psllwi', 0x71, 6, 2),
  shImm('psrldi', 0x72, 2, 4), shImm('psradi', 0x72, 4, 4), shImm('pslldi', 0x72, 6, 4),
  shImm('psrlqi', 0x73, 2, 8), shImm('psrldq', 0x73, 3, 1), shImm('psllqi', 0x73, 6, 8), shImm('pslldq', 0x73, 7, 1),
  // SSE2 shuffles, unpacks, packs
  { name: 'pshufd', pfx: P66, op: [0x0f, 0x70], feat: 'sse2', form: 'xmi', mem: 16, aligned: true, lane: 4 },
  { name: 'pshufhw', pfx: 0xf3, op: [0x0f, 0x70], feat: 'sse2', form: 'xmi', mem: 16, aligned: true, lane: 2 },
  { name: 'pshuflw', pfx: 0xf2, op: [0x0f, 0x70], feat: 'sse2', form: 'xmi', mem: 16, aligned: true, lane: 2 },
  i66('punpcklbw', 0x60, 1), i66('punpcklwd', 0x61, 2), i66('punpckldq', 0x62, 4), i66('punpcklqdq', 0x6c, 8),
  i66('punpckhbw', 0x68, 1), i66('punpckhwd', 0x69, 2), i66('punpckhdq', 0x6a, 4), i66('punpckhqdq', 0x6d, 8),
  i66('packsswb', 0x63, 2), i66('packuswb', 0x67, 2), i66('packssdw', 0x6b, 4),
  { name: 'shufps', pfx: 0, op: [0x0f, 0xc6], feat: 'sse', form: 'xmi', mem: 16, aligned: true, lane: 4 },
  { name: 'shufpd', pfx: P66, op: [0x0f, 0xc6], feat: 'sse2', form: 'xmi', mem: 16, aligned: true, lane: 8 },
  { name: 'unpcklps', pfx: 0, op: [0x0f, 0x14], feat: 'sse', form: 'xm', mem: 16, aligned: true, lane: 4 },
  { name: 'unpckhps', pfx: 0, op: [0x0f, 0x15], feat: 'sse', form: 'xm', mem: 16, aligned: true, lane: 4 },
  i66('unpcklpd', 0x14, 8), i66('unpckhpd', 0x15, 8),
  { name: 'pmovmskb', pfx: P66, op: [0x0f, 0xd7], feat: 'sse2', form: 'msk', mem: 0, lane: 1 },
  { name: 'movmskps', pfx: 0, op: [0x0f, 0x50], feat: 'sse', form: 'msk', mem: 0, lane: 4 },
  { name: 'movmskpd', pfx: P66, op: [0x0f, 0x50], feat: 'sse2', form: 'msk', mem: 0, lane: 8 },
  // SSE3 duplicating moves (MOVDDUP reads m64)
  { name: 'movddup', pfx: 0xf2, op: [0x0f, 0x12], feat: 'sse3', form: 'xm', mem: 8, lane: 8 },
  { name: 'movshdup', pfx: 0xf3, op: [0x0f, 0x16], feat: 'sse3', form: 'xm', mem: 16, aligned: true, lane: 4 },
  { name: 'movsldup', pfx: 0xf3, op: [0x0f, 0x12], feat: 'sse3', form: 'xm', mem: 16, aligned: true, lane: 4 },
  // SSSE3
  i38('pshufb', 0x00, 1, 'ssse3'), i38('phaddw', 0x01, 2, 'ssse3'), i38('phaddd', 0x02, 4, 'ssse3'), i38('phaddsw', 0x03, 2, 'ssse3'),
  i38('pmaddubsw', 0x04, 1, 'ssse3'), i38('phsubw', 0x05, 2, 'ssse3'), i38('phsubd', 0x06, 4, 'ssse3'), i38('phsubsw', 0x07, 2, 'ssse3'),
  i38('psignb', 0x08, 1, 'ssse3'), i38('psignw', 0x09, 2, 'ssse3'), i38('psignd', 0x0a, 4, 'ssse3'), i38('pmulhrsw', 0x0b, 2, 'ssse3'),
  i38('pabsb', 0x1c, 1, 'ssse3'), i38('pabsw', 0x1d, 2, 'ssse3'), i38('pabsd', 0x1e, 4, 'ssse3'),
  i3a('palignr', 0x0f, 1, 'ssse3', { imms: [0, 1, 7, 8, 15, 16, 17, 24, 31, 32, 33, 255] }),
  // SSE4.1
  i38('pblendvb', 0x10, 1, 'sse4_1'), i38('blendvps', 0x14, 4, 'sse4_1'), i38('blendvpd', 0x15, 8, 'sse4_1'),
  { name: 'ptest', pfx: P66, op: [0x0f, 0x38, 0x17], feat: 'sse4_1', form: 'ptest', mem: 16, aligned: true, lane: 4 },
  i38('pmovsxbw', 0x20, 1, 'sse4_1', { mem: 8, aligned: false }), i38('pmovsxbd', 0x21, 1, 'sse4_1', { mem: 4, aligned: false }),
  i38('pmovsxbq', 0x22, 1, 'sse4_1', { mem: 2, aligned: false }), i38('pmovsxwd', 0x23, 2, 'sse4_1', { mem: 8, aligned: false }),
  i38('pmovsxwq', 0x24, 2, 'sse4_1', { mem: 4, aligned: false }), i38('pmovsxdq', 0x25, 4, 'sse4_1', { mem: 8, aligned: false }),
  i38('pmovzxbw', 0x30, 1, 'sse4_1', { mem: 8, aligned: false }), i38('pmovzxbd', 0x31, 1, 'sse4_1', { mem: 4, aligned: false }),
  i38('pmovzxbq', 0x32, 1, 'sse4_1', { mem: 2, aligned: false }), i38('pmovzxwd', 0x33, 2, 'sse4_1', { mem: 8, aligned: false }),
  i38('pmovzxwq', 0x34, 2, 'sse4_1', { mem: 4, aligned: false }), i38('pmovzxdq', 0x35, 4, 'sse4_1', { mem: 8, aligned: false }),
  i38('pmuldq', 0x28, 4, 'sse4_1'), i38('pcmpeqq', 0x29, 8, 'sse4_1'), i38('packusdw', 0x2b, 4, 'sse4_1'),
  i38('pminsb', 0x38, 1, 'sse4_1'), i38('pminsd', 0x39, 4, 'sse4_1'), i38('pminuw', 0x3a, 2, 'sse4_1'), i38('pminud', 0x3b, 4, 'sse4_1'),
  i38('pmaxsb', 0x3c, 1, 'sse4_1'), i38('pmaxsd', 0x3d, 4, 'sse4_1'), i38('pmaxuw', 0x3e, 2, 'sse4_1'), i38('pmaxud', 0x3f, 4, 'sse4_1'),
  i38('pmulld', 0x40, 4, 'sse4_1'), i38('phminposuw', 0x41, 2, 'sse4_1'),
  i3a('blendps', 0x0c, 4, 'sse4_1'), i3a('blendpd', 0x0d, 8, 'sse4_1'), i3a('pblendw', 0x0e, 2, 'sse4_1'),
  i3a('insertps', 0x21, 4, 'sse4_1', { mem: 0 }),
  i3a('mpsadbw', 0x42, 1, 'sse4_1'),
  // SSE4.2
  i38('pcmpgtq', 0x37, 8, 'sse4_2'),
  { name: 'pcmpestrm', pfx: P66, op: [0x0f, 0x3a, 0x60], feat: 'sse4_2', form: 'str', mem: 16, lane: 1 },
  { name: 'pcmpestri', pfx: P66, op: [0x0f, 0x3a, 0x61], feat: 'sse4_2', form: 'str', mem: 16, lane: 1 },
  { name: 'pcmpistrm', pfx: P66, op: [0x0f, 0x3a, 0x62], feat: 'sse4_2', form: 'str', mem: 16, lane: 1 },
  { name: 'pcmpistri', pfx: P66, op: [0x0f, 0x3a, 0x63], feat: 'sse4_2', form: 'str', mem: 16, lane: 1 },
  { name: 'crc32b', pfx: 0xf2, op: [0x0f, 0x38, 0xf0], feat: 'sse4_2', form: 'crc', mem: 1, lane: 1, crcSize: 1 },
  { name: 'crc32w', pfx: 0xf2, op: [0x0f, 0x38, 0xf1], feat: 'sse4_2', form: 'crc', mem: 2, lane: 2, crcSize: 2 },
  { name: 'crc32d', pfx: 0xf2, op: [0x0f, 0x38, 0xf1], feat: 'sse4_2', form: 'crc', mem: 4, lane: 4, crcSize: 4 },
  { name: 'crc32q', pfx: 0xf2, op: [0x0f, 0x38, 0xf1], feat: 'sse4_2', form: 'crc', mem: 8, lane: 8, crcSize: 8 },
];

/** op xmm, xmm/mem for the FP forms: packed (m128, aligned) or scalar (m32/m64). */
const fp = (name: string, pfx: SimdSpec['pfx'], op: readonly number[], feat: SimdFeature, size: 4 | 8, scalar: boolean, extra: Partial<SimdSpec> = {}): SimdSpec => ({
  name, pfx, op, feat, form: 'xm', mem: scalar ? size : 16, aligned: !scalar, lane: size, fp: size, ...extra,
});
/** The four forms of an SSE/SSE2 arithmetic opcode: PS (none), PD (66), SS (F3), SD (F2). */
const arith4 = (base: string, opc: number, extra: Partial<SimdSpec> = {}): SimdSpec[] => [
  fp(base + 'ps', 0, [0x0f, opc], 'sse', 4, false, extra),
  fp(base + 'pd', 0x66, [0x0f, opc], 'sse2', 8, false, extra),
  fp(base + 'ss', 0xf3, [0x0f, opc], 'sse', 4, true, extra),
  fp(base + 'sd', 0xf2, [0x0f, opc], 'sse2', 8, true, extra),
];
const CMP_IMMS = [0, 1, 2, 3, 4, 5, 6, 7];
const ROUND_IMMS = [0, 1, 2, 3, 4, 8, 9, 10, 11, 12];

export const FP_SPECS: readonly SimdSpec[] = [
  ...arith4('add', 0x58), ...arith4('mul', 0x59), ...arith4('sub', 0x5c), ...arith4('min', 0x5d), ...arith4('div', 0x5e), ...arith4('max', 0x5f),
  ...arith4('sqrt', 0x51),
  fp('rsqrtps', 0, [0x0f, 0x52], 'sse', 4, false), fp('rsqrtss', 0xf3, [0x0f, 0x52], 'sse', 4, true),
  fp('rcpps', 0, [0x0f, 0x53], 'sse', 4, false), fp('rcpss', 0xf3, [0x0f, 0x53], 'sse', 4, true),
  ...arith4('cmp', 0xc2, { form: 'xmi', imms: CMP_IMMS }),
  fp('haddps', 0xf2, [0x0f, 0x7c], 'sse3', 4, false), fp('hsubps', 0xf2, [0x0f, 0x7d], 'sse3', 4, false), fp('addsubps', 0xf2, [0x0f, 0xd0], 'sse3', 4, false),
  fp('haddpd', 0x66, [0x0f, 0x7c], 'sse3', 8, false), fp('hsubpd', 0x66, [0x0f, 0x7d], 'sse3', 8, false), fp('addsubpd', 0x66, [0x0f, 0xd0], 'sse3', 8, false),
  fp('roundps', 0x66, [0x0f, 0x3a, 0x08], 'sse4_1', 4, false, { form: 'xmi', imms: ROUND_IMMS }),
  fp('roundpd', 0x66, [0x0f, 0x3a, 0x09], 'sse4_1', 8, false, { form: 'xmi', imms: ROUND_IMMS }),
  fp('roundss', 0x66, [0x0f, 0x3a, 0x0a], 'sse4_1', 4, true, { form: 'xmi', imms: ROUND_IMMS }),
  fp('roundsd', 0x66, [0x0f, 0x3a, 0x0b], 'sse4_1', 8, true, { form: 'xmi', imms: ROUND_IMMS }),
  fp('dpps', 0x66, [0x0f, 0x3a, 0x40], 'sse4_1', 4, false, { form: 'xmi', imms: [0xff, 0xf1, 0x31, 0x7f, 0x0f, 0xf0] }),
  fp('dppd', 0x66, [0x0f, 0x3a, 0x41], 'sse4_1', 8, false, { form: 'xmi', imms: [0x33, 0x31, 0x13, 0x12, 0x03, 0x30] }),
  fp('comiss', 0, [0x0f, 0x2f], 'sse', 4, true, { form: 'comi' }), fp('ucomiss', 0, [0x0f, 0x2e], 'sse', 4, true, { form: 'comi' }),
  fp('comisd', 0x66, [0x0f, 0x2f], 'sse2', 8, true, { form: 'comi' }), fp('ucomisd', 0x66, [0x0f, 0x2e], 'sse2', 8, true, { form: 'comi' }),
  // Conversions
  fp('cvtps2pd', 0, [0x0f, 0x5a], 'sse2', 4, true, { mem: 8 }), fp('cvtpd2ps', 0x66, [0x0f, 0x5a], 'sse2', 8, false),
  fp('cvtss2sd', 0xf3, [0x0f, 0x5a], 'sse2', 4, true), fp('cvtsd2ss', 0xf2, [0x0f, 0x5a], 'sse2', 8, true),
  fp('cvtdq2ps', 0, [0x0f, 0x5b], 'sse2', 4, false, { intSrc: true }), fp('cvtps2dq', 0x66, [0x0f, 0x5b], 'sse2', 4, false), fp('cvttps2dq', 0xf3, [0x0f, 0x5b], 'sse2', 4, false),
  fp('cvttpd2dq', 0x66, [0x0f, 0xe6], 'sse2', 8, false), fp('cvtdq2pd', 0xf3, [0x0f, 0xe6], 'sse2', 4, true, { mem: 8, intSrc: true }), fp('cvtpd2dq', 0xf2, [0x0f, 0xe6], 'sse2', 8, false),
  fp('cvtss2si', 0xf3, [0x0f, 0x2d], 'sse', 4, true, { form: 'f2i' }), fp('cvttss2si', 0xf3, [0x0f, 0x2c], 'sse', 4, true, { form: 'f2i' }),
  fp('cvtsd2si', 0xf2, [0x0f, 0x2d], 'sse2', 8, true, { form: 'f2i' }), fp('cvttsd2si', 0xf2, [0x0f, 0x2c], 'sse2', 8, true, { form: 'f2i' }),
  fp('cvtsi2ss', 0xf3, [0x0f, 0x2a], 'sse', 4, true, { form: 'i2f' }), fp('cvtsi2sd', 0xf2, [0x0f, 0x2a], 'sse2', 8, true, { form: 'i2f' }),
];

const mv = (name: string, pfx: SimdSpec['pfx'], op: readonly number[], feat: SimdFeature, form: SimdForm, mem: SimdSpec['mem'], extra: Partial<SimdSpec> = {}): SimdSpec => ({
  name, pfx, op, feat, form, mem, lane: 4, ...extra,
});
const A = { aligned: true };

/** Moves, loads/stores, GPR transfers, inserts/extracts, MXCSR access: compared through the emulator only (no direct model). */
export const MOVE_SPECS: readonly SimdSpec[] = [
  mv('movups', 0, [0x0f, 0x10], 'sse', 'xm', 16), mv('movups.st', 0, [0x0f, 0x11], 'sse', 'st', 16),
  mv('movaps', 0, [0x0f, 0x28], 'sse', 'xm', 16, A), mv('movaps.st', 0, [0x0f, 0x29], 'sse', 'st', 16, A),
  mv('movupd', 0x66, [0x0f, 0x10], 'sse2', 'xm', 16), mv('movupd.st', 0x66, [0x0f, 0x11], 'sse2', 'st', 16),
  mv('movapd', 0x66, [0x0f, 0x28], 'sse2', 'xm', 16, A), mv('movapd.st', 0x66, [0x0f, 0x29], 'sse2', 'st', 16, A),
  mv('movdqa', 0x66, [0x0f, 0x6f], 'sse2', 'xm', 16, A), mv('movdqa.st', 0x66, [0x0f, 0x7f], 'sse2', 'st', 16, A),
  mv('movdqu', 0xf3, [0x0f, 0x6f], 'sse2', 'xm', 16), mv('movdqu.st', 0xf3, [0x0f, 0x7f], 'sse2', 'st', 16),
  mv('movss', 0xf3, [0x0f, 0x10], 'sse', 'xm', 4), mv('movss.st', 0xf3, [0x0f, 0x11], 'sse', 'st', 4),
  mv('movsd', 0xf2, [0x0f, 0x10], 'sse2', 'xm', 8), mv('movsd.st', 0xf2, [0x0f, 0x11], 'sse2', 'st', 8),
  // 0F 12/16: MOVLPS/MOVHPS with memory, MOVHLPS/MOVLHPS between registers
  mv('movlps', 0, [0x0f, 0x12], 'sse', 'xm', 8), mv('movlps.st', 0, [0x0f, 0x13], 'sse', 'st', 8, { memOnly: true }),
  mv('movhps', 0, [0x0f, 0x16], 'sse', 'xm', 8), mv('movhps.st', 0, [0x0f, 0x17], 'sse', 'st', 8, { memOnly: true }),
  mv('movlpd', 0x66, [0x0f, 0x12], 'sse2', 'xm', 8, { memOnly: true }), mv('movlpd.st', 0x66, [0x0f, 0x13], 'sse2', 'st', 8, { memOnly: true }),
  mv('movhpd', 0x66, [0x0f, 0x16], 'sse2', 'xm', 8, { memOnly: true }), mv('movhpd.st', 0x66, [0x0f, 0x17], 'sse2', 'st', 8, { memOnly: true }),
  mv('lddqu', 0xf2, [0x0f, 0xf0], 'sse3', 'xm', 16, { memOnly: true }),
  mv('movntps', 0, [0x0f, 0x2b], 'sse', 'st', 16, { ...A, memOnly: true }), mv('movntpd', 0x66, [0x0f, 0x2b], 'sse2', 'st', 16, { ...A, memOnly: true }),
  mv('movntdq', 0x66, [0x0f, 0xe7], 'sse2', 'st', 16, { ...A, memOnly: true }),
  mv('movntdqa', 0x66, [0x0f, 0x38, 0x2a], 'sse4_1', 'xm', 16, { ...A, memOnly: true }),
  mv('maskmovdqu', 0x66, [0x0f, 0xf7], 'sse2', 'maskmov', 0, { lane: 1 }),
  // GPR <-> XMM
  mv('movd', 0x66, [0x0f, 0x6e], 'sse2', 'gx', 4, { gsize: 4 }), mv('movq.gx', 0x66, [0x0f, 0x6e], 'sse2', 'gx', 8, { gsize: 8 }),
  mv('movd.st', 0x66, [0x0f, 0x7e], 'sse2', 'xg', 4, { gsize: 4 }), mv('movq.xg', 0x66, [0x0f, 0x7e], 'sse2', 'xg', 8, { gsize: 8 }),
  mv('movq', 0xf3, [0x0f, 0x7e], 'sse2', 'xm', 8), mv('movq.st', 0x66, [0x0f, 0xd6], 'sse2', 'st', 8),
  mv('movnti', 0, [0x0f, 0xc3], 'sse2', 'xg', 4, { gsize: 4, memOnly: true, gprInReg: true }),
  mv('movnti64', 0, [0x0f, 0xc3], 'sse2', 'xg', 8, { gsize: 8, memOnly: true, gprInReg: true }),
  mv('pinsrw', 0x66, [0x0f, 0xc4], 'sse2', 'gx', 2, { gsize: 4, imm: true }),
  mv('pextrw', 0x66, [0x0f, 0xc5], 'sse2', 'xg', 0, { gsize: 4, imm: true, gprInReg: true }),
  mv('pinsrb', 0x66, [0x0f, 0x3a, 0x20], 'sse4_1', 'gx', 1, { gsize: 4, imm: true }),
  mv('pinsrd', 0x66, [0x0f, 0x3a, 0x22], 'sse4_1', 'gx', 4, { gsize: 4, imm: true }),
  mv('pinsrq', 0x66, [0x0f, 0x3a, 0x22], 'sse4_1', 'gx', 8, { gsize: 8, imm: true }),
  mv('pextrb', 0x66, [0x0f, 0x3a, 0x14], 'sse4_1', 'xg', 1, { gsize: 4, imm: true }),
  mv('pextrw.3a', 0x66, [0x0f, 0x3a, 0x15], 'sse4_1', 'xg', 2, { gsize: 4, imm: true }),
  mv('pextrd', 0x66, [0x0f, 0x3a, 0x16], 'sse4_1', 'xg', 4, { gsize: 4, imm: true }),
  mv('pextrq', 0x66, [0x0f, 0x3a, 0x16], 'sse4_1', 'xg', 8, { gsize: 8, imm: true }),
  mv('extractps', 0x66, [0x0f, 0x3a, 0x17], 'sse4_1', 'xg', 4, { gsize: 4, imm: true }),
  mv('insertps.m', 0x66, [0x0f, 0x3a, 0x21], 'sse4_1', 'xmi', 4, { memOnly: true }),
  // MXCSR
  mv('ldmxcsr', 0, [0x0f, 0xae], 'sse', 'mdigit', 4, { digit: 2 }), mv('stmxcsr', 0, [0x0f, 0xae], 'sse', 'mdigit', 4, { digit: 3 }),
];

const st = (name: string, digit: number, feat: SimdFeature, area: 16 | 64, restore: boolean, w: boolean): SimdSpec => ({
  name, pfx: 0, op: [0x0f, 0xae], feat, form: 'state', digit, mem: 16, lane: 4, area, restore, gsize: w ? 8 : 4,
});

/** The state instructions, both FXSAVE layouts (REX.W: FXSAVE64) and XSAVE64. */
export const STATE_SPECS: readonly SimdSpec[] = [
  st('fxsave', 0, 'fxsr', 16, false, false), st('fxsave64', 0, 'fxsr', 16, false, true),
  st('fxrstor', 1, 'fxsr', 16, true, false), st('fxrstor64', 1, 'fxsr', 16, true, true),
  st('xsave', 4, 'xsave', 64, false, false), st('xsave64', 4, 'xsave', 64, false, true),
  st('xrstor', 5, 'xsave', 64, true, false), st('xrstor64', 5, 'xsave', 64, true, true),
  st('xsaveopt', 6, 'xsaveopt', 64, false, false), st('xsaveopt64', 6, 'xsaveopt', 64, false, true),
];
