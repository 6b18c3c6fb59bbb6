/** MUL, IMUL (one, two and three operands), DIV and IDIV at every operand size. */
import type { EmuCpu } from './cpu.js';
import type { Insn } from './insn.js';
import { setEager, szp } from './lazy-flags.js';
import { Bit } from './flags.js';
import { rdE, sext, trunc, big64 } from './operands.js';
import { setReg } from './gpr.js';
import { raise } from './exceptions.js';
import { VEC_DE, Gp } from './x86-defs.js';

const TWO32 = 4294967296;

// ---------------------------------------------------------------- multiply / divide

/** High 32 bits of the unsigned 64-bit product of two uint32. */
export function mulhiU32(a: number, b: number): number {
  a >>>= 0;
  b >>>= 0;
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (p11 + Math.floor(p01 / 65536) + Math.floor(p10 / 65536) + Math.floor(mid / 65536)) | 0;
}
export function mulhiS32(a: number, b: number): number {
  let h = mulhiU32(a, b);
  if (a < 0) h = (h - b) | 0;
  if (b < 0) h = (h - a) | 0;
  return h;
}

/** 64x64 -> 128 unsigned product words (w0 lowest). */
const W = new Int32Array(4);
function umul64(al: number, ah: number, bl: number, bh: number): void {
  const l0 = Math.imul(al, bl);
  const h0 = mulhiU32(al, bl);
  const l1 = Math.imul(al, bh);
  const h1 = mulhiU32(al, bh);
  const l2 = Math.imul(ah, bl);
  const h2 = mulhiU32(ah, bl);
  const l3 = Math.imul(ah, bh);
  const h3 = mulhiU32(ah, bh);
  const s1 = (h0 >>> 0) + (l1 >>> 0) + (l2 >>> 0);
  const c1 = Math.floor(s1 / TWO32);
  const s2 = (h1 >>> 0) + (h2 >>> 0) + (l3 >>> 0) + c1;
  const c2 = Math.floor(s2 / TWO32);
  W[0] = l0;
  W[1] = s1 | 0;
  W[2] = s2 | 0;
  W[3] = ((h3 >>> 0) + c2) | 0;
}
function smul64(al: number, ah: number, bl: number, bh: number): void {
  umul64(al, ah, bl, bh);
  // Signed correction of the high 64 bits.
  if (ah < 0) sub64AtHigh(bl, bh);
  if (bh < 0) sub64AtHigh(al, ah);
}
function sub64AtHigh(l: number, h: number): void {
  const lo = (W[2]! >>> 0) - (l >>> 0);
  W[2] = lo | 0;
  W[3] = (W[3]! - h - (lo < 0 ? 1 : 0)) | 0;
}

function setMulFlags(c: EmuCpu, size: number, overflow: boolean, lo: number, hi = 0): void {
  setEager(c, (overflow ? Bit.CF | Bit.OF : 0) | szp(c, size, trunc(size === 8 ? 4 : size, lo), hi));
}

/** F6/F7 /4 MUL. */
export function mulE(c: EmuCpu, i: Insn): void {
  const s = rdE(c, i);
  switch (i.osz) {
    case 1: {
      const r = (c.gpr[Gp.AxLo]! & 0xff) * s;
      setReg(c, 2, 0, r);
      setMulFlags(c, 1, r > 0xff, r & 0xff);
      return;
    }
    case 2: {
      const r = (c.gpr[Gp.AxLo]! & 0xffff) * s;
      setReg(c, 2, 0, r);
      setReg(c, 2, 2, r >>> 16);
      setMulFlags(c, 2, r > 0xffff, r & 0xffff);
      return;
    }
    case 4: {
      const a = c.gpr[Gp.AxLo]!;
      const lo = Math.imul(a, s);
      const hi = mulhiU32(a, s);
      setReg(c, 4, 0, lo);
      setReg(c, 4, 2, hi);
      setMulFlags(c, 4, hi !== 0, lo);
      return;
    }
    default: {
      umul64(c.gpr[Gp.AxLo]!, c.gpr[Gp.AxHi]!, s, c.hi);
      setReg(c, 8, 0, W[0]!, W[1]!);
      setReg(c, 8, 2, W[2]!, W[3]!);
      setMulFlags(c, 8, (W[2]! | W[3]!) !== 0, W[0]!, W[1]!);
    }
  }
}

/** F6/F7 /5 one-operand IMUL. */
export function imul1E(c: EmuCpu, i: Insn): void {
  const s = rdE(c, i);
  switch (i.osz) {
    case 1: {
      const r = sext(1, c.gpr[Gp.AxLo]!) * sext(1, s);
      setReg(c, 2, 0, r);
      setMulFlags(c, 1, r !== sext(1, r), r & 0xff);
      return;
    }
    case 2: {
      const r = sext(2, c.gpr[Gp.AxLo]!) * sext(2, s);
      setReg(c, 2, 0, r);
      setReg(c, 2, 2, r >> 16);
      setMulFlags(c, 2, r !== sext(2, r), r & 0xffff);
      return;
    }
    case 4: {
      const a = c.gpr[Gp.AxLo]!;
      const lo = Math.imul(a, s);
      const hi = mulhiS32(a, s);
      setReg(c, 4, 0, lo);
      setReg(c, 4, 2, hi);
      setMulFlags(c, 4, hi !== lo >> 31, lo);
      return;
    }
    default: {
      smul64(c.gpr[Gp.AxLo]!, c.gpr[Gp.AxHi]!, s, c.hi);
      setReg(c, 8, 0, W[0]!, W[1]!);
      setReg(c, 8, 2, W[2]!, W[3]!);
      const ext = W[1]! >> 31;
      setMulFlags(c, 8, W[2] !== ext || W[3] !== ext, W[0]!, W[1]!);
    }
  }
}

/** Two/three-operand IMUL: G = src1 * src2 (0F AF: src1 = G, src2 = E; 69/6B: src1 = E, src2 = imm). */
function imulInto(c: EmuCpu, i: Insn, al: number, ah: number, bl: number, bh: number): void {
  switch (i.osz) {
    case 2: {
      const r = sext(2, al) * sext(2, bl);
      setReg(c, 2, i.reg, r);
      setMulFlags(c, 2, r !== sext(2, r), r & 0xffff);
      return;
    }
    case 4: {
      const lo = Math.imul(al, bl);
      const hi = mulhiS32(al, bl);
      setReg(c, 4, i.reg, lo);
      setMulFlags(c, 4, hi !== lo >> 31, lo);
      return;
    }
    default: {
      smul64(al, ah, bl, bh);
      setReg(c, 8, i.reg, W[0]!, W[1]!);
      const ext = W[1]! >> 31;
      setMulFlags(c, 8, W[2] !== ext || W[3] !== ext, W[0]!, W[1]!);
    }
  }
}
export function imulGE(c: EmuCpu, i: Insn): void {
  const bl = rdE(c, i);
  const bh = c.hi;
  imulInto(c, i, c.gpr[i.reg << 1]!, c.gpr[(i.reg << 1) | 1]!, bl, bh);
}
export function imulGEI(c: EmuCpu, i: Insn): void {
  const al = rdE(c, i);
  const ah = c.hi;
  imulInto(c, i, al, ah, i.imm, i.immHi);
}

/** Unsigned (hi:lo) / d for d < 2^32: quotient (a double, exact when < 2^53) and remainder. */
let DIV_R = 0;
function udiv64by32(hi: number, lo: number, d: number): number {
  hi >>>= 0;
  lo >>>= 0;
  d >>>= 0;
  if (hi === 0) {
    DIV_R = lo % d;
    return Math.floor(lo / d);
  }
  let rem = 0;
  let q = 0;
  const digits = [hi >>> 16, hi & 0xffff, lo >>> 16, lo & 0xffff];
  for (const dg of digits) {
    const cur = rem * 65536 + dg;
    const qd = Math.floor(cur / d);
    rem = cur - qd * d;
    q = q * 65536 + qd;
  }
  DIV_R = rem;
  return q;
}


/** F6/F7 /6 DIV. */
export function divE(c: EmuCpu, i: Insn): void {
  const s = rdE(c, i);
  switch (i.osz) {
    case 1: {
      if (s === 0) return raise(c, VEC_DE);
      const a = c.gpr[Gp.AxLo]! & 0xffff;
      const q = Math.floor(a / s);
      if (q > 0xff) return raise(c, VEC_DE);
      setReg(c, 2, 0, q | ((a % s) << 8));
      return;
    }
    case 2: {
      if (s === 0) return raise(c, VEC_DE);
      const a = (c.gpr[Gp.DxLo]! & 0xffff) * 65536 + (c.gpr[Gp.AxLo]! & 0xffff);
      const q = Math.floor(a / s);
      if (q > 0xffff) return raise(c, VEC_DE);
      setReg(c, 2, 0, q);
      setReg(c, 2, 2, a % s);
      return;
    }
    case 4: {
      if (s === 0) return raise(c, VEC_DE);
      if (c.gpr[Gp.DxLo]! >>> 0 >= s >>> 0) return raise(c, VEC_DE);
      const q = udiv64by32(c.gpr[Gp.DxLo]!, c.gpr[Gp.AxLo]!, s);
      setReg(c, 4, 0, q | 0);
      setReg(c, 4, 2, DIV_R | 0);
      return;
    }
    default: {
      const sh = c.hi;
      if ((s | sh) === 0) return raise(c, VEC_DE);
      const dvs = big64(s, sh);
      const dvd = (big64(c.gpr[Gp.DxLo]!, c.gpr[Gp.DxHi]!) << 64n) | big64(c.gpr[Gp.AxLo]!, c.gpr[Gp.AxHi]!);
      const q = dvd / dvs;
      if (q > 0xffffffffffffffffn) return raise(c, VEC_DE);
      const r = dvd % dvs;
      c.setGpr(0, q);
      c.setGpr(2, r);
    }
  }
}

/** F6/F7 /7 IDIV. */
export function idivE(c: EmuCpu, i: Insn): void {
  const s = rdE(c, i);
  switch (i.osz) {
    case 1: {
      const d = sext(1, s);
      if (d === 0) return raise(c, VEC_DE);
      const a = sext(2, c.gpr[Gp.AxLo]!);
      const q = Math.trunc(a / d);
      if (q > 127 || q < -128) return raise(c, VEC_DE);
      setReg(c, 2, 0, (q & 0xff) | ((a % d & 0xff) << 8));
      return;
    }
    case 2: {
      const d = sext(2, s);
      if (d === 0) return raise(c, VEC_DE);
      const a = ((c.gpr[Gp.DxLo]! & 0xffff) << 16) | (c.gpr[Gp.AxLo]! & 0xffff);
      const q = Math.trunc(a / d);
      if (q > 32767 || q < -32768) return raise(c, VEC_DE);
      setReg(c, 2, 0, q);
      setReg(c, 2, 2, a % d);
      return;
    }
    case 4: {
      const d = s | 0;
      if (d === 0) return raise(c, VEC_DE);
      const a = BigInt.asIntN(64, big64(c.gpr[Gp.AxLo]!, c.gpr[Gp.DxLo]!));
      const q = a / BigInt(d);
      if (q > 0x7fffffffn || q < -0x80000000n) return raise(c, VEC_DE);
      setReg(c, 4, 0, Number(q) | 0);
      setReg(c, 4, 2, Number(a % BigInt(d)) | 0);
      return;
    }
    default: {
      const d = BigInt.asIntN(64, big64(s, c.hi));
      if (d === 0n) return raise(c, VEC_DE);
      const a = BigInt.asIntN(128, (big64(c.gpr[Gp.DxLo]!, c.gpr[Gp.DxHi]!) << 64n) | big64(c.gpr[Gp.AxLo]!, c.gpr[Gp.AxHi]!));
      const q = a / d;
      if (q > 0x7fffffffffffffffn || q < -0x8000000000000000n) return raise(c, VEC_DE);
      c.setGpr(0, BigInt.asUintN(64, q));
      c.setGpr(2, BigInt.asUintN(64, a % d));
    }
  }
}
