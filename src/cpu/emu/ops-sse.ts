/**
 * The SSE/SSE2 subset x86-64 compilers emit for plain C (block moves, zeroing): 128-bit
 * moves (MOVUPS/MOVAPS/MOVUPD/MOVAPD/MOVDQU/MOVDQA), MOVD/MOVQ, and the bitwise ops
 * (PXOR/XORPS/XORPD, PAND/ANDPS/ANDPD, POR/ORPS/ORPD, PANDN/ANDNPS/ANDNPD). CPUID does
 * not advertise SSE/SSE2 (the rest of those ISAs is not implemented); code that uses
 * these without checking (any x86-64 C code) still runs.
 */
import type { EmuCpu } from './cpu.js';
import { CR0_EM, CR0_TS, CR4_OSFXSR, VEC_NM, VEC_UD } from './x86-defs.js';
import type { Insn } from './insn.js';
import { ea } from './operands.js';
import { gp, raise } from './exceptions.js';
import { probeWrite, rd32, rd64, wr32, wr64 } from './mem-access.js';
import { setReg } from './gpr.js';

function sseAvail(c: EmuCpu): void {
  if ((c.cr0 & CR0_EM) !== 0 || (c.cr4 & CR4_OSFXSR) === 0) raise(c, VEC_UD);
  if ((c.cr0 & CR0_TS) !== 0) raise(c, VEC_NM);
}

function addr16(c: EmuCpu, i: Insn, aligned: boolean): number {
  const a = ea(c, i);
  if (aligned && (a & 15) !== 0) return gp(c, 0);
  return a;
}

/** 128-bit move: op 0 load (xmm <- xmm/m128), 1 store (xmm/m128 <- xmm); imm2 = 1 for the aligned forms. */
export function sseMov128(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  const x = c.xmm;
  const g = i.reg * 4;
  if (i.mod === 3) {
    const src = i.op === 0 ? i.rm * 4 : g;
    const dst = i.op === 0 ? g : i.rm * 4;
    for (let k = 0; k < 4; k++) x[dst + k] = x[src + k]!;
    return;
  }
  const a = addr16(c, i, i.imm2 === 1);
  if (i.op === 0) {
    const v0 = rd64(c, a);
    const v1 = c.hi;
    const v2 = rd64(c, a + 8);
    x[g] = v0;
    x[g + 1] = v1;
    x[g + 2] = v2;
    x[g + 3] = c.hi;
  } else {
    probeWrite(c, a, 16);
    wr64(c, a, x[g]!, x[g + 1]!);
    wr64(c, a + 8, x[g + 2]!, x[g + 3]!);
  }
}

/** Bitwise: op 0 AND, 1 ANDN (dst = ~dst & src), 2 OR, 3 XOR; xmm <- xmm op xmm/m128 (always aligned). */
export function sseLogic(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  const x = c.xmm;
  const g = i.reg * 4;
  let s0: number;
  let s1: number;
  let s2: number;
  let s3: number;
  if (i.mod === 3) {
    const r = i.rm * 4;
    s0 = x[r]!;
    s1 = x[r + 1]!;
    s2 = x[r + 2]!;
    s3 = x[r + 3]!;
  } else {
    const a = addr16(c, i, true);
    s0 = rd64(c, a);
    s1 = c.hi;
    s2 = rd64(c, a + 8);
    s3 = c.hi;
  }
  const src = [s0, s1, s2, s3];
  for (let k = 0; k < 4; k++) {
    const d = x[g + k]!;
    const s = src[k]!;
    x[g + k] = i.op === 0 ? d & s : i.op === 1 ? ~d & s : i.op === 2 ? d | s : d ^ s;
  }
}

/**
 * MOVD/MOVQ: op 0 = 66 0F 6E (xmm <- r/m32/64, upper zeroed), 1 = 66 0F 7E (r/m32/64 <- xmm),
 * 2 = F3 0F 7E (xmm <- xmm/m64, upper zeroed), 3 = 66 0F D6 (xmm/m64 <- xmm low; register form zeroes the upper half).
 */
export function sseMovq(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  const x = c.xmm;
  const g = i.reg * 4;
  const q = i.osz === 8;
  switch (i.op) {
    case 0: {
      let lo: number;
      let hi = 0;
      if (i.mod === 3) {
        lo = c.rl[i.rm]!;
        if (q) hi = c.rh[i.rm]!;
      } else {
        const a = ea(c, i);
        lo = q ? rd64(c, a) : rd32(c, a);
        if (q) hi = c.hi;
      }
      x[g] = lo;
      x[g + 1] = hi;
      x[g + 2] = 0;
      x[g + 3] = 0;
      return;
    }
    case 1:
      if (i.mod === 3) setReg(c, q ? 8 : 4, i.rm, x[g]!, x[g + 1]!);
      else if (q) wr64(c, ea(c, i), x[g]!, x[g + 1]!);
      else wr32(c, ea(c, i), x[g]!);
      return;
    case 2: {
      let lo: number;
      let hi: number;
      if (i.mod === 3) {
        lo = x[i.rm * 4]!;
        hi = x[i.rm * 4 + 1]!;
      } else {
        lo = rd64(c, ea(c, i));
        hi = c.hi;
      }
      x[g] = lo;
      x[g + 1] = hi;
      x[g + 2] = 0;
      x[g + 3] = 0;
      return;
    }
    default:
      if (i.mod === 3) {
        const d = i.rm * 4;
        x[d] = x[g]!;
        x[d + 1] = x[g + 1]!;
        x[d + 2] = 0;
        x[d + 3] = 0;
      } else wr64(c, ea(c, i), x[g]!, x[g + 1]!);
  }
}
