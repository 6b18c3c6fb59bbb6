/**
 * SSE handlers that involve general-purpose registers or RFLAGS: MOVD/MOVQ, PMOVMSKB and
 * MOVMSKPS/PD, PEXTRB/W/D/Q and PINSRB/W/D/Q, EXTRACTPS, INSERTPS m32, MOVNTI, CRC32, PCMPxSTRx, PTEST,
 * (U)COMISS/SD and the scalar conversions to and from integers.
 */
import type { EmuCpu } from './cpu.js';
import type { Insn } from './insn.js';
import { VEC_UD, Gp } from './x86-defs.js';
import { ea } from './operands.js';
import { raise } from './exceptions.js';
import { rd16, rd32, rd64, rd8, wr16, wr32, wr64, wr8 } from './mem-access.js';
import { getReg, setReg } from './gpr.js';
import { setEager } from './lazy-flags.js';
import { CF, PF, ZF } from './flags.js';
import { XMM_RES, XMM_SRC } from './fpu/simd-file.js';
import { insertps } from './fpu/simd-shuffle.js';
import { crc32cBytes, crc32cQword } from './fpu/crc32c.js';
import { explicitLength, pcmpistr, pcmpstr, strIndex, strMask, strResult } from './fpu/sse-string.js';
import { CMP_EQ, CMP_LT, CMP_UN, comi, cvt, cvtf2si, cvtsi2f } from './fpu/sse-float.js';
import { loadXmm, mxcsrFlags, simdOf, sseAvail, srcOperand } from './ops-simd.js';

/**
 * MOVD/MOVQ: op 0 = 66 0F 6E (xmm <- r/m32/64, upper zeroed), 1 = 66 0F 7E (r/m32/64 <- xmm),
 * 2 = F3 0F 7E (xmm <- xmm/m64, upper zeroed), 3 = 66 0F D6 (xmm/m64 <- xmm; a register
 * destination gets its upper half zeroed).
 */
export function movdq(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  const x = simdOf(c);
  const d = x.i32;
  const g = i.reg * 4;
  const q = i.osz === 8;
  switch (i.op) {
    case 0: {
      let lo: number;
      let hi = 0;
      if (i.mod === 3) {
        lo = c.gpr[i.rm << 1]!;
        if (q) hi = c.gpr[(i.rm << 1) | 1]!;
      } else {
        const a = ea(c, i);
        lo = q ? rd64(c, a) : rd32(c, a);
        if (q) hi = c.hi;
      }
      x.set(i.reg, lo, hi, 0, 0);
      return;
    }
    case 1:
      if (i.mod === 3) setReg(c, q ? 8 : 4, i.rm, d[g]!, d[g + 1]!);
      else if (q) wr64(c, ea(c, i), d[g]!, d[g + 1]!);
      else wr32(c, ea(c, i), d[g]!);
      return;
    case 2: {
      if (i.mod === 3) x.set(i.reg, d[i.rm * 4]!, d[i.rm * 4 + 1]!, 0, 0);
      else {
        const lo = rd64(c, ea(c, i));
        x.set(i.reg, lo, c.hi, 0, 0);
      }
      return;
    }
    default:
      if (i.mod === 3) x.set(i.rm, d[g]!, d[g + 1]!, 0, 0);
      else wr64(c, ea(c, i), d[g]!, d[g + 1]!);
  }
}

/** PMOVMSKB (op 0), MOVMSKPS (1), MOVMSKPD (2): r32 <- sign bits of xmm (register operand only). */
export function movmsk(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  if (i.mod !== 3) return raise(c, VEC_UD);
  const x = simdOf(c);
  let m = 0;
  if (i.op === 0) {
    // Four sign bits per dword: moved to bits 0, 8, 16, 24, then gathered by one multiply
    // (the four wanted products land on bits 21-24 and nothing else reaches them).
    const w = x.i32;
    const o = i.rm * 4;
    for (let k = 0; k < 4; k++) m |= ((Math.imul((w[o + k]! >>> 7) & 0x01010101, 0x204081) >>> 21) & 15) << (4 * k);
  } else {
    const u = x.u32;
    const o = i.rm * 4;
    if (i.op === 1) for (let k = 0; k < 4; k++) m |= (u[o + k]! >>> 31) << k;
    else m = (u[o + 1]! >>> 31) | ((u[o + 3]! >>> 31) << 1);
  }
  setReg(c, 4, i.reg, m);
}

/**
 * PEXTRB (op 1), PEXTRW (2), PEXTRD/Q (4/8 by REX.W), EXTRACTPS (5: a dword): r/m <- element
 * imm of xmm (ModRM.reg); a register destination is zero-extended. PEXTRW 0F C5 (op 0) has
 * the GPR in ModRM.reg and the XMM register in ModRM.rm.
 */
export function pextr(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  const x = simdOf(c);
  if (i.op === 0) {
    if (i.mod !== 3) return raise(c, VEC_UD);
    setReg(c, 4, i.reg, x.u16[i.rm * 8 + (i.imm & 7)]!);
    return;
  }
  const src = i.reg;
  const size = i.op === 5 ? 4 : i.op === 4 && i.osz === 8 ? 8 : i.op;
  let lo: number;
  let hi = 0;
  switch (size) {
    case 1:
      lo = x.u8[src * 16 + (i.imm & 15)]!;
      break;
    case 2:
      lo = x.u16[src * 8 + (i.imm & 7)]!;
      break;
    case 4:
      lo = x.i32[src * 4 + (i.imm & 3)]!;
      break;
    default:
      lo = x.i32[src * 4 + (i.imm & 1) * 2]!;
      hi = x.i32[src * 4 + (i.imm & 1) * 2 + 1]!;
  }
  if (i.mod === 3) {
    setReg(c, size === 8 ? 8 : 4, i.rm, lo, hi);
    return;
  }
  const a = ea(c, i);
  if (size === 1) wr8(c, a, lo);
  else if (size === 2) wr16(c, a, lo);
  else if (size === 4) wr32(c, a, lo);
  else wr64(c, a, lo, hi);
}

/** PINSRB (op 1), PINSRW (2), PINSRD/Q (4/8 by REX.W): element imm of xmm <- r32/r64/m. */
export function pinsr(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  const x = simdOf(c);
  const size = i.op === 4 && i.osz === 8 ? 8 : i.op;
  let lo: number;
  let hi = 0;
  if (i.mod === 3) {
    lo = c.gpr[i.rm << 1]!;
    hi = c.gpr[(i.rm << 1) | 1]!;
  } else {
    const a = ea(c, i);
    lo = size === 1 ? rd8(c, a) : size === 2 ? rd16(c, a) : size === 4 ? rd32(c, a) : rd64(c, a);
    hi = c.hi;
  }
  const d = i.reg;
  switch (size) {
    case 1:
      x.u8[d * 16 + (i.imm & 15)] = lo;
      return;
    case 2:
      x.u16[d * 8 + (i.imm & 7)] = lo;
      return;
    case 4:
      x.i32[d * 4 + (i.imm & 3)] = lo;
      return;
    default:
      x.i32[d * 4 + (i.imm & 1) * 2] = lo;
      x.i32[d * 4 + (i.imm & 1) * 2 + 1] = hi;
  }
}

/** INSERTPS xmm, xmm/m32, imm8: with a memory source the m32 is the element inserted (imm[7:6] unused). */
export function insertpsOp(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  const x = simdOf(c);
  if (i.mod === 3) {
    insertps(x, i.reg, i.rm, i.imm);
    return;
  }
  loadXmm(c, x, XMM_SRC, ea(c, i), 4);
  insertps(x, i.reg, XMM_SRC, i.imm & 0x3f);
}

/** MOVNTI m32/m64, r32/r64 (memory destination only). */
export function movnti(c: EmuCpu, i: Insn): void {
  if (i.mod === 3) return raise(c, VEC_UD);
  const a = ea(c, i);
  if (i.osz === 8) wr64(c, a, c.gpr[i.reg << 1]!, c.gpr[(i.reg << 1) | 1]!);
  else wr32(c, a, c.gpr[i.reg << 1]!);
}

/**
 * CRC32 r32/r64, r/m8 (op 1) or r/m16/32/64 (op 0: the operand size): CRC-32C folded into
 * the low 32 bits of the destination, the result zero-extended.
 */
export function crc32(c: EmuCpu, i: Insn): void {
  const size = i.op === 1 ? 1 : i.osz;
  let lo: number;
  let hi = 0;
  if (i.mod === 3) {
    lo = getReg(c, size, i.rm);
    hi = c.gpr[(i.rm << 1) | 1]!;
  } else {
    const a = ea(c, i);
    lo = size === 1 ? rd8(c, a) : size === 2 ? rd16(c, a) : size === 4 ? rd32(c, a) : rd64(c, a);
    hi = c.hi;
  }
  const acc = c.gpr[i.reg << 1]!;
  const r = size === 8 ? crc32cQword(acc, lo, hi) : crc32cBytes(acc, lo, size);
  setReg(c, 4, i.reg, r);
}

/**
 * PCMPESTRM (op 0), PCMPESTRI (1), PCMPISTRM (2), PCMPISTRI (3): xmm1, xmm2/m128 (no
 * alignment required), imm8; index to ECX or mask to XMM0; CF ZF SF OF, AF = PF = 0.
 */
export function pcmpxstrx(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  const x = simdOf(c);
  const s = srcOperand(c, i, x, 16, false);
  const imm = i.imm;
  if (i.op < 2) {
    const n = imm & 1 ? 8 : 16;
    const w = i.osz === 8;
    const la = explicitLength(c.gpr[Gp.AxLo]!, w ? c.gpr[Gp.AxHi]! : c.gpr[Gp.AxLo]! >> 31, n);
    const lb = explicitLength(c.gpr[Gp.DxLo]!, w ? c.gpr[Gp.DxHi]! : c.gpr[Gp.DxLo]! >> 31, n);
    pcmpstr(x, i.reg, s, imm, la, lb);
  } else pcmpistr(x, i.reg, s, imm);
  if (i.op & 1) setReg(c, 4, 1, strIndex(imm));
  else strMask(x, 0, imm);
  setEager(c, strResult.flags);
}

/** PTEST xmm, xmm/m128: ZF = (DEST AND SRC) is zero, CF = (NOT DEST AND SRC) is zero; AF OF PF SF cleared. */
export function ptest(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  const x = simdOf(c);
  const s = srcOperand(c, i, x, 16, true);
  const a = x.i32;
  let and = 0;
  let andn = 0;
  for (let k = 0; k < 4; k++) {
    const dv = a[i.reg * 4 + k]!;
    const sv = a[s * 4 + k]!;
    and |= dv & sv;
    andn |= ~dv & sv;
  }
  setEager(c, (and === 0 ? ZF : 0) | (andn === 0 ? CF : 0));
}

/**
 * COMISS (op 0), UCOMISS (1), COMISD (2), UCOMISD (3): ZF PF CF from the compare
 * (unordered 111, greater 000, less 001, equal 100), OF SF AF cleared; COMIS* signal on
 * any NaN, UCOMIS* only on SNaN. An unmasked exception leaves RFLAGS alone.
 */
export function comis(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  const x = simdOf(c);
  const dbl = i.op >= 2;
  const s = srcOperand(c, i, x, dbl ? 8 : 4, false);
  const r = comi(x, i.reg, s, dbl, (i.op & 1) === 0, c.mxcsr);
  mxcsrFlags(c, r >> 2);
  const code = r & 3;
  setEager(c, code === CMP_UN ? ZF | PF | CF : code === CMP_EQ ? ZF : code === CMP_LT ? CF : 0);
}

/**
 * CVTSS2SI (op 0), CVTTSS2SI (1), CVTSD2SI (2), CVTTSD2SI (3): r32/r64 (REX.W) <- xmm/m32/m64;
 * out-of-range and NaN give the integer indefinite with IE.
 */
export function cvtToInt(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  const x = simdOf(c);
  const dbl = i.op >= 2;
  const s = srcOperand(c, i, x, dbl ? 8 : 4, false);
  const bits = i.osz === 8 ? 64 : 32;
  const f = cvtf2si(x, s, bits, dbl, (i.op & 1) !== 0, c.mxcsr);
  mxcsrFlags(c, f);
  setReg(c, bits === 64 ? 8 : 4, i.reg, cvt.lo, cvt.hi);
}

/** CVTSI2SS (op 0) / CVTSI2SD (1): xmm low element <- r/m32 or r/m64 (REX.W), rounded per MXCSR. */
export function cvtFromInt(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  const x = simdOf(c);
  const q = i.osz === 8;
  let lo: number;
  let hi = 0;
  if (i.mod === 3) {
    lo = c.gpr[i.rm << 1]!;
    if (q) hi = c.gpr[(i.rm << 1) | 1]!;
  } else {
    const a = ea(c, i);
    lo = q ? rd64(c, a) : rd32(c, a);
    if (q) hi = c.hi;
  }
  const f = cvtsi2f(x, i.reg, lo, hi, q ? 64 : 32, i.op === 1, c.mxcsr);
  mxcsrFlags(c, f);
  x.copy(i.reg, XMM_RES);
}

