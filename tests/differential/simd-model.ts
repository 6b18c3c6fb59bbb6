/**
 * The expected outcome of one generated SIMD case computed straight from the semantics in
 * src/cpu/emu/fpu/ (no decoder, no interpreter): the register file loaded from the case's
 * FXSAVE image, the operation applied, the image and GPRs read back. Checked against the
 * native CPU in simd-direct.test.ts; the full path through the emulator is checked by
 * native-vs-emu once the instructions are wired into its table.
 */
import { crc32cBytes, crc32cQword } from '../../src/cpu/emu/fpu/crc32c.js';
import { XmmFile, XMM_SRC, type SimdOp } from '../../src/cpu/emu/fpu/simd-file.js';
import * as arith from '../../src/cpu/emu/fpu/simd-int-arith.js';
import * as shift from '../../src/cpu/emu/fpu/simd-shift.js';
import * as shuffle from '../../src/cpu/emu/fpu/simd-shuffle.js';
import * as float from '../../src/cpu/emu/fpu/sse-float.js';
import * as approx from '../../src/cpu/emu/fpu/sse-approx.js';
import { CMP_EQ, CMP_LT, CMP_UN, comi, cvt, cvtf2si, cvtsi2f, unmasked, type SseFpOp } from '../../src/cpu/emu/fpu/sse-float.js';
import { explicitLength, pcmpistr, pcmpstr, strIndex, strMask, strResult } from '../../src/cpu/emu/fpu/sse-string.js';
import { FLAG_CF, FLAG_ZF, FLAGS_STATUS, SNIPPET_CODE_BASE, VECTOR_GP, VECTOR_NONE, type SnippetResult } from '../../src/cpu/emu/testing/snippet-case.js';
import { FX_XMM, fxMxcsr, setFxMxcsr, type FxResult } from './simd-case.js';
import { XMM_RES } from '../../src/cpu/emu/fpu/simd-file.js';
import type { SimdGenCase } from './simd-generator.js';

const OPS: Record<string, SimdOp> = { ...arith, ...shift, ...shuffle } as unknown as Record<string, SimdOp>;
const FP_OPS = { ...float, ...approx } as unknown as Record<string, SseFpOp>;
const VECTOR_XM = 19;
const FLAG_PF = 4;

export function hasModel(name: string): boolean {
  return typeof OPS[name] === 'function' || typeof FP_OPS[name] === 'function' || /^(pcmp[ei]str[im]|ptest|pmovmskb|movmskp[sd]|crc32[bwdq]|u?comis[sd]|cvtt?s[sd]2si|cvtsi2s[sd])$/.test(name);
}

const x = new XmmFile();

function lo32(v: bigint): number {
  return Number(v & 0xffffffffn) | 0;
}

export function modelResult(c: SimdGenCase): FxResult {
  const spec = c.spec;
  const gpr = c.gpr.slice();
  let rflags = c.rflags;
  const fx = c.fx.slice();
  const base: Omit<SnippetResult, 'vector' | 'rip'> = { errorCode: 0, gpr, rflags, faultAddr: 0n, data: c.data.slice() };
  x.u8.set(fx.subarray(FX_XMM, FX_XMM + 256), 0);
  let src = c.s;
  if (c.memOff >= 0) {
    if (spec.aligned && c.memOff % 16 !== 0) return { ...base, vector: VECTOR_GP, rip: BigInt(SNIPPET_CODE_BASE), fx };
    x.u8.fill(0, XMM_SRC * 16, XMM_SRC * 16 + 16);
    x.u8.set(c.data.subarray(c.memOff, c.memOff + spec.mem), XMM_SRC * 16);
    src = XMM_SRC;
  }
  const mxcsr = fxMxcsr(fx);
  const xm = (): FxResult => ({ ...base, vector: VECTOR_XM, rip: BigInt(SNIPPET_CODE_BASE), fx });
  const op = OPS[spec.name];
  const fpOp = spec.fp !== undefined ? FP_OPS[spec.name] : undefined;
  if (spec.form === 'i2f') {
    let v: bigint;
    if (src === XMM_SRC) {
      v = 0n;
      for (let k = (c.w ? 8 : 4) - 1; k >= 0; k--) v = (v << 8n) | BigInt(c.data[c.memOff + k]!);
    } else v = gpr[c.s]!;
    const f = cvtsi2f(x, c.d, lo32(v), lo32(v >> 32n), c.w ? 64 : 32, spec.fp === 8, mxcsr);
    setFxMxcsr(fx, mxcsr | f);
    if (f & unmasked(mxcsr)) return xm();
    x.copy(c.d, XMM_RES);
  } else if (fpOp && (spec.form === 'xm' || spec.form === 'xmi')) {
    if (src === XMM_SRC && spec.mem < 16) x.u8.fill(0, XMM_SRC * 16 + spec.mem, XMM_SRC * 16 + 16);
    const f = fpOp(x, c.d, src, c.imm, mxcsr);
    setFxMxcsr(fx, mxcsr | f);
    if (f & unmasked(mxcsr)) return xm();
    x.copy(c.d, XMM_RES);
  } else if (spec.form === 'comi') {
    const r = comi(x, c.d, src, spec.fp === 8, !spec.name.startsWith('u'), mxcsr);
    const f = r >> 2;
    setFxMxcsr(fx, mxcsr | f);
    if (f & unmasked(mxcsr)) return xm();
    const code = r & 3;
    rflags = (rflags & ~FLAGS_STATUS) | (code === CMP_UN ? FLAG_ZF | FLAG_PF | FLAG_CF : code === CMP_EQ ? FLAG_ZF : code === CMP_LT ? FLAG_CF : 0);
  } else if (spec.form === 'f2i') {
    const f = cvtf2si(x, src, c.w ? 64 : 32, spec.fp === 8, spec.name.startsWith('cvtt'), mxcsr);
    setFxMxcsr(fx, mxcsr | f);
    if (f & unmasked(mxcsr)) return xm();
    gpr[c.d] = c.w ? (BigInt(cvt.hi >>> 0) << 32n) | BigInt(cvt.lo >>> 0) : BigInt(cvt.lo >>> 0);
  } else if (op) op(x, c.d, src, c.imm);
  else if (spec.form === 'str') {
    const words = c.imm & 1;
    const n = words ? 8 : 16;
    if (spec.name.startsWith('pcmpe')) {
      const la = c.w ? explicitLength(lo32(gpr[0]!), lo32(gpr[0]! >> 32n), n) : explicitLength(lo32(gpr[0]!), lo32(gpr[0]!) < 0 ? -1 : 0, n);
      const lb = c.w ? explicitLength(lo32(gpr[2]!), lo32(gpr[2]! >> 32n), n) : explicitLength(lo32(gpr[2]!), lo32(gpr[2]!) < 0 ? -1 : 0, n);
      pcmpstr(x, c.d, src, c.imm, la, lb);
    } else pcmpistr(x, c.d, src, c.imm);
    if (spec.name.endsWith('i')) gpr[1] = BigInt(strIndex(c.imm));
    else strMask(x, 0, c.imm);
    rflags = (rflags & ~FLAGS_STATUS) | strResult.flags;
  } else if (spec.form === 'ptest') {
    const a = x.i32;
    let and = 0;
    let andn = 0;
    for (let k = 0; k < 4; k++) {
      and |= a[c.d * 4 + k]! & a[src * 4 + k]!;
      andn |= ~a[c.d * 4 + k]! & a[src * 4 + k]!;
    }
    rflags = (rflags & ~FLAGS_STATUS) | (and === 0 ? FLAG_ZF : 0) | (andn === 0 ? FLAG_CF : 0);
  } else if (spec.form === 'msk') {
    let m = 0;
    if (spec.name === 'pmovmskb') for (let k = 0; k < 16; k++) m |= (x.u8[src * 16 + k]! >> 7) << k;
    else if (spec.name === 'movmskps') for (let k = 0; k < 4; k++) m |= (x.u32[src * 4 + k]! >>> 31) << k;
    else for (let k = 0; k < 2; k++) m |= (x.u32[src * 4 + 2 * k + 1]! >>> 31) << k;
    gpr[c.d] = BigInt(m);
  } else if (spec.form === 'crc') {
    const acc = lo32(gpr[c.d]!);
    let v: bigint;
    if (src === XMM_SRC) {
      v = 0n;
      for (let k = spec.crcSize! - 1; k >= 0; k--) v = (v << 8n) | BigInt(c.data[c.memOff + k]!);
    } else if (spec.crcSize === 1 && src >= 4 && src < 8 && !c.w && c.d < 8) {
      v = gpr[src - 4]! >> 8n; // no REX: AH, CH, DH, BH
    } else v = gpr[src]!;
    const r = spec.crcSize === 8 ? crc32cQword(acc, lo32(v), lo32(v >> 32n)) : crc32cBytes(acc, lo32(v), spec.crcSize!);
    gpr[c.d] = BigInt(r >>> 0);
  } else throw new Error(`no model for ${spec.name}`);
  fx.set(x.u8.subarray(0, 256), FX_XMM);
  return { ...base, gpr, rflags, vector: VECTOR_NONE, rip: BigInt(SNIPPET_CODE_BASE + c.code.length), fx };
}
