/**
 * Integer data handlers: ALU, INC/DEC/NEG/NOT, shifts and rotates, multiply/divide,
 * bit tests and scans, moves, exchanges, SETcc/CMOVcc.
 */
import type { EmuCpu } from './cpu.js';
import { CF, OF, AF, ZF, F_LOGIC } from './flags.js';
import { VEC_DE } from './x86-defs.js';
import type { Insn } from './insn.js';
import { ea, eaOffset, eaOffset64, rdE, rdEs, sext, stE, stEs, trunc, wrE } from './operands.js';
import { PARITY, signBit } from './flags.js';
import { alu, alu64, arith, cond, getAF, getCF, getFlags, getZF, incdec, incdec64, putFlags, setEager, szp } from './lazy-flags.js';
import { getReg, r64, setReg } from './gpr.js';
import { gp, raise, ud } from './exceptions.js';
import { checkSeg } from './segmentation.js';
import { probeWrite, rd, rd32, rd64, rd8, rdw, wr, wr32, wr64 } from './mem-access.js';

const TWO32 = 4294967296;

// ---------------------------------------------------------------- ALU

/** E = E op G (00, 01, 08, ...). */
export function aluEG(c: EmuCpu, i: Insn): void {
  if (i.osz === 8) {
    const dl = rdE(c, i);
    const dh = c.hi;
    const r = alu64(c, i.op, dl, dh, c.rl[i.reg]!, c.rh[i.reg]!);
    if (i.op !== 7) wrE(c, i, r, c.hi);
    return;
  }
  const r = alu(c, i.op, i.osz, rdE(c, i), getReg(c, i.osz, i.reg));
  if (i.op !== 7) wrE(c, i, r);
}

/** G = G op E (02, 03, ...). */
export function aluGE(c: EmuCpu, i: Insn): void {
  if (i.osz === 8) {
    const sl = rdE(c, i);
    const sh = c.hi;
    const r = alu64(c, i.op, c.rl[i.reg]!, c.rh[i.reg]!, sl, sh);
    if (i.op !== 7) setReg(c, 8, i.reg, r, c.hi);
    return;
  }
  const r = alu(c, i.op, i.osz, getReg(c, i.osz, i.reg), rdE(c, i));
  if (i.op !== 7) setReg(c, i.osz, i.reg, r);
}

/** E = E op imm (80/81/83 and the accumulator forms with mod=3 rm=0). */
export function aluEI(c: EmuCpu, i: Insn): void {
  if (i.osz === 8) {
    const dl = rdE(c, i);
    const dh = c.hi;
    const r = alu64(c, i.op, dl, dh, i.imm, i.immHi);
    if (i.op !== 7) wrE(c, i, r, c.hi);
    return;
  }
  const r = alu(c, i.op, i.osz, rdE(c, i), i.imm);
  if (i.op !== 7) wrE(c, i, r);
}

/** 32-bit register-register fast paths. */
export function add32rr(c: EmuCpu, i: Insn): void {
  const d = c.rl[i.rm]!;
  const s = c.rl[i.reg]!;
  const r = (d + s) | 0;
  c.rl[i.rm] = r;
  c.rh[i.rm] = 0;
  c.fop = 1;
  c.fsz = 4;
  c.fdst = d;
  c.fsrc = s;
  c.fres = r;
}
export function sub32rr(c: EmuCpu, i: Insn): void {
  const d = c.rl[i.rm]!;
  const s = c.rl[i.reg]!;
  const r = (d - s) | 0;
  c.rl[i.rm] = r;
  c.rh[i.rm] = 0;
  c.fop = 3;
  c.fsz = 4;
  c.fdst = d;
  c.fsrc = s;
  c.fres = r;
}
export function cmp32rr(c: EmuCpu, i: Insn): void {
  const d = c.rl[i.rm]!;
  const s = c.rl[i.reg]!;
  c.fop = 3;
  c.fsz = 4;
  c.fdst = d;
  c.fsrc = s;
  c.fres = (d - s) | 0;
}
export function logic32rr(c: EmuCpu, i: Insn): void {
  const d = c.rl[i.rm]!;
  const s = c.rl[i.reg]!;
  const op = i.op;
  const r = op === 1 ? d | s : op === 4 ? d & s : d ^ s;
  c.rl[i.rm] = r;
  c.rh[i.rm] = 0;
  c.fop = F_LOGIC;
  c.fsz = 4;
  c.fres = r;
}
export function add32ri(c: EmuCpu, i: Insn): void {
  const d = c.rl[i.rm]!;
  const s = i.imm;
  const r = (d + s) | 0;
  c.rl[i.rm] = r;
  c.rh[i.rm] = 0;
  c.fop = 1;
  c.fsz = 4;
  c.fdst = d;
  c.fsrc = s;
  c.fres = r;
}
export function sub32ri(c: EmuCpu, i: Insn): void {
  const d = c.rl[i.rm]!;
  const s = i.imm;
  const r = (d - s) | 0;
  c.rl[i.rm] = r;
  c.rh[i.rm] = 0;
  c.fop = 3;
  c.fsz = 4;
  c.fdst = d;
  c.fsrc = s;
  c.fres = r;
}
export function cmp32ri(c: EmuCpu, i: Insn): void {
  const d = c.rl[i.rm]!;
  const s = i.imm;
  c.fop = 3;
  c.fsz = 4;
  c.fdst = d;
  c.fsrc = s;
  c.fres = (d - s) | 0;
}
export function alu32ri(c: EmuCpu, i: Insn): void {
  const r = alu(c, i.op, 4, c.rl[i.rm]!, i.imm);
  if (i.op !== 7) {
    c.rl[i.rm] = r;
    c.rh[i.rm] = 0;
  }
}
export function inc32r(c: EmuCpu, i: Insn): void {
  const d = c.rl[i.rm]!;
  const r = (d + 1) | 0;
  c.fcin = getCF(c);
  c.rl[i.rm] = r;
  c.rh[i.rm] = 0;
  c.fop = 6;
  c.fsz = 4;
  c.fdst = d;
  c.fsrc = 1;
  c.fres = r;
}
export function dec32r(c: EmuCpu, i: Insn): void {
  const d = c.rl[i.rm]!;
  const r = (d - 1) | 0;
  c.fcin = getCF(c);
  c.rl[i.rm] = r;
  c.rh[i.rm] = 0;
  c.fop = 7;
  c.fsz = 4;
  c.fdst = d;
  c.fsrc = 1;
  c.fres = r;
}

/** TEST E, G. */
export function testEG(c: EmuCpu, i: Insn): void {
  if (i.osz === 8) {
    const dl = rdE(c, i);
    alu64(c, 4, dl, c.hi, c.rl[i.reg]!, c.rh[i.reg]!);
    return;
  }
  alu(c, 4, i.osz, rdE(c, i), getReg(c, i.osz, i.reg));
}
/** TEST E, imm. */
export function testEI(c: EmuCpu, i: Insn): void {
  if (i.osz === 8) {
    const dl = rdE(c, i);
    alu64(c, 4, dl, c.hi, i.imm, i.immHi);
    return;
  }
  alu(c, 4, i.osz, rdE(c, i), i.imm);
}

/** INC/DEC E (op 0 = INC, 1 = DEC). */
export function incdecE(c: EmuCpu, i: Insn): void {
  if (i.osz === 8) {
    const dl = rdE(c, i);
    const r = incdec64(c, dl, c.hi, i.op === 1);
    wrE(c, i, r, c.hi);
    return;
  }
  wrE(c, i, incdec(c, i.osz, rdE(c, i), i.op === 1));
}

export function notE(c: EmuCpu, i: Insn): void {
  const v = rdE(c, i);
  if (i.osz === 8) wrE(c, i, ~v, ~c.hi);
  else wrE(c, i, trunc(i.osz, ~v));
}

export function negE(c: EmuCpu, i: Insn): void {
  if (i.osz === 8) {
    const dl = rdE(c, i);
    const r = alu64(c, 5, 0, 0, dl, c.hi);
    wrE(c, i, r, c.hi);
    return;
  }
  wrE(c, i, alu(c, 5, i.osz, 0, rdE(c, i)));
}

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
  setEager(c, (overflow ? CF | OF : 0) | szp(c, size, trunc(size === 8 ? 4 : size, lo), hi));
}

/** F6/F7 /4 MUL. */
export function mulE(c: EmuCpu, i: Insn): void {
  const s = rdE(c, i);
  switch (i.osz) {
    case 1: {
      const r = (c.rl[0]! & 0xff) * s;
      setReg(c, 2, 0, r);
      setMulFlags(c, 1, r > 0xff, r & 0xff);
      return;
    }
    case 2: {
      const r = (c.rl[0]! & 0xffff) * s;
      setReg(c, 2, 0, r);
      setReg(c, 2, 2, r >>> 16);
      setMulFlags(c, 2, r > 0xffff, r & 0xffff);
      return;
    }
    case 4: {
      const a = c.rl[0]!;
      const lo = Math.imul(a, s);
      const hi = mulhiU32(a, s);
      setReg(c, 4, 0, lo);
      setReg(c, 4, 2, hi);
      setMulFlags(c, 4, hi !== 0, lo);
      return;
    }
    default: {
      umul64(c.rl[0]!, c.rh[0]!, s, c.hi);
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
      const r = sext(1, c.rl[0]!) * sext(1, s);
      setReg(c, 2, 0, r);
      setMulFlags(c, 1, r !== sext(1, r), r & 0xff);
      return;
    }
    case 2: {
      const r = sext(2, c.rl[0]!) * sext(2, s);
      setReg(c, 2, 0, r);
      setReg(c, 2, 2, r >> 16);
      setMulFlags(c, 2, r !== sext(2, r), r & 0xffff);
      return;
    }
    case 4: {
      const a = c.rl[0]!;
      const lo = Math.imul(a, s);
      const hi = mulhiS32(a, s);
      setReg(c, 4, 0, lo);
      setReg(c, 4, 2, hi);
      setMulFlags(c, 4, hi !== lo >> 31, lo);
      return;
    }
    default: {
      smul64(c.rl[0]!, c.rh[0]!, s, c.hi);
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
  imulInto(c, i, c.rl[i.reg]!, c.rh[i.reg]!, bl, bh);
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

function big64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** F6/F7 /6 DIV. */
export function divE(c: EmuCpu, i: Insn): void {
  const s = rdE(c, i);
  switch (i.osz) {
    case 1: {
      if (s === 0) return raise(c, VEC_DE);
      const a = c.rl[0]! & 0xffff;
      const q = Math.floor(a / s);
      if (q > 0xff) return raise(c, VEC_DE);
      setReg(c, 2, 0, q | ((a % s) << 8));
      return;
    }
    case 2: {
      if (s === 0) return raise(c, VEC_DE);
      const a = (c.rl[2]! & 0xffff) * 65536 + (c.rl[0]! & 0xffff);
      const q = Math.floor(a / s);
      if (q > 0xffff) return raise(c, VEC_DE);
      setReg(c, 2, 0, q);
      setReg(c, 2, 2, a % s);
      return;
    }
    case 4: {
      if (s === 0) return raise(c, VEC_DE);
      if (c.rl[2]! >>> 0 >= s >>> 0) return raise(c, VEC_DE);
      const q = udiv64by32(c.rl[2]!, c.rl[0]!, s);
      setReg(c, 4, 0, q | 0);
      setReg(c, 4, 2, DIV_R | 0);
      return;
    }
    default: {
      const sh = c.hi;
      if ((s | sh) === 0) return raise(c, VEC_DE);
      const dvs = big64(s, sh);
      const dvd = (big64(c.rl[2]!, c.rh[2]!) << 64n) | big64(c.rl[0]!, c.rh[0]!);
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
      const a = sext(2, c.rl[0]!);
      const q = Math.trunc(a / d);
      if (q > 127 || q < -128) return raise(c, VEC_DE);
      setReg(c, 2, 0, (q & 0xff) | ((a % d & 0xff) << 8));
      return;
    }
    case 2: {
      const d = sext(2, s);
      if (d === 0) return raise(c, VEC_DE);
      const a = ((c.rl[2]! & 0xffff) << 16) | (c.rl[0]! & 0xffff);
      const q = Math.trunc(a / d);
      if (q > 32767 || q < -32768) return raise(c, VEC_DE);
      setReg(c, 2, 0, q);
      setReg(c, 2, 2, a % d);
      return;
    }
    case 4: {
      const d = s | 0;
      if (d === 0) return raise(c, VEC_DE);
      const a = BigInt.asIntN(64, big64(c.rl[0]!, c.rl[2]!));
      const q = a / BigInt(d);
      if (q > 0x7fffffffn || q < -0x80000000n) return raise(c, VEC_DE);
      setReg(c, 4, 0, Number(q) | 0);
      setReg(c, 4, 2, Number(a % BigInt(d)) | 0);
      return;
    }
    default: {
      const d = BigInt.asIntN(64, big64(s, c.hi));
      if (d === 0n) return raise(c, VEC_DE);
      const a = BigInt.asIntN(128, (big64(c.rl[2]!, c.rh[2]!) << 64n) | big64(c.rl[0]!, c.rh[0]!));
      const q = a / d;
      if (q > 0x7fffffffffffffffn || q < -0x8000000000000000n) return raise(c, VEC_DE);
      c.setGpr(0, BigInt.asUintN(64, q));
      c.setGpr(2, BigInt.asUintN(64, a % d));
    }
  }
}

// ---------------------------------------------------------------- shifts and rotates

/** 32-bit register shift/rotate by a nonzero immediate (op as group 2; RCL/RCR excluded). */
export function shift32ri(c: EmuCpu, i: Insn): void {
  const n = i.imm;
  const u = c.rl[i.rm]!;
  let r: number;
  let cf: number;
  switch (i.op) {
    case 0:
      r = (u << n) | (u >>> (32 - n));
      cf = r & 1;
      setEager(c, (arith(c) & ~(CF | OF)) | cf | ((r >>> 31) ^ cf ? OF : 0));
      break;
    case 1:
      r = (u >>> n) | (u << (32 - n));
      cf = r >>> 31;
      setEager(c, (arith(c) & ~(CF | OF)) | cf | ((r >>> 31) ^ ((r >>> 30) & 1) ? OF : 0));
      break;
    case 4:
    case 6:
      r = u << n;
      cf = (u >>> (32 - n)) & 1;
      setEager(c, cf | ((r >>> 31) ^ cf ? OF : 0) | szp(c, 4, r));
      break;
    case 5:
      r = u >>> n;
      cf = (u >>> (n - 1)) & 1;
      setEager(c, cf | (u < 0 ? OF : 0) | szp(c, 4, r | 0));
      break;
    default:
      r = u >> n;
      cf = (u >> (n - 1)) & 1;
      setEager(c, cf | szp(c, 4, r));
  }
  c.rl[i.rm] = r;
  c.rh[i.rm] = 0;
}

/**
 * Group 2: op = ROL ROR RCL RCR SHL SHR SAL SAR; count from imm (i.imm2 = 0) or CL (i.imm2 = 1).
 * Flags follow the SDM; OF is computed with the 1-bit formula for every count (undefined otherwise).
 */
export function shiftE(c: EmuCpu, i: Insn): void {
  const size = i.osz;
  const bits = size * 8;
  const cnt = (i.imm2 !== 0 ? c.rl[1]! : i.imm) & (size === 8 ? 63 : 31);
  const v = rdE(c, i);
  if (size === 8) return shift64(c, i, v, c.hi, cnt);
  if (cnt === 0) {
    // A 32-bit register destination is still written (upper half zeroed).
    if (size === 4 && i.mod === 3) c.rh[i.rm] = 0;
    return;
  }
  const op = i.op;
  const mask = size === 4 ? -1 : (1 << bits) - 1;
  const sb = signBit(size);
  const u = size === 4 ? v >>> 0 : v;
  let r: number;
  let cf: number;
  let of: number;
  switch (op) {
    case 0: {
      // ROL
      const n = cnt % bits;
      r = n === 0 ? u : ((u << n) | (u >>> (bits - n))) & mask;
      cf = r & 1;
      of = ((r & sb) !== 0 ? 1 : 0) ^ cf;
      const fl = getFlags(c);
      setEager(c, (fl & ~(CF | OF) & 0x8d5) | cf | (of ? OF : 0));
      wrE(c, i, trunc(size, r));
      return;
    }
    case 1: {
      // ROR
      const n = cnt % bits;
      r = n === 0 ? u : ((u >>> n) | (u << (bits - n))) & mask;
      cf = (r & sb) !== 0 ? 1 : 0;
      of = cf ^ ((r & (sb >>> 1)) !== 0 ? 1 : 0);
      const fl = getFlags(c);
      setEager(c, (fl & ~(CF | OF) & 0x8d5) | cf | (of ? OF : 0));
      wrE(c, i, trunc(size, r));
      return;
    }
    case 2:
    case 3: {
      // RCL / RCR through CF: rotate a (bits+1)-bit quantity.
      const n = size === 4 ? cnt : cnt % (bits + 1);
      let carry = getCF(c);
      r = u;
      for (let k = 0; k < n; k++) {
        if (op === 2) {
          const out = (r & sb) !== 0 ? 1 : 0;
          r = ((r << 1) | carry) & mask;
          carry = out;
        } else {
          const out = r & 1;
          r = ((r >>> 1) | (carry ? sb : 0)) & mask;
          carry = out;
        }
      }
      r = size === 4 ? r >>> 0 : r;
      if (op === 2) of = ((r & sb) !== 0 ? 1 : 0) ^ carry;
      else of = ((r & sb) !== 0 ? 1 : 0) ^ ((r & (sb >>> 1)) !== 0 ? 1 : 0);
      const fl = getFlags(c);
      setEager(c, (fl & ~(CF | OF) & 0x8d5) | carry | (of ? OF : 0));
      wrE(c, i, trunc(size, r));
      return;
    }
    case 4:
    case 6: {
      // SHL/SAL
      if (cnt > bits) {
        r = 0;
        cf = 0;
      } else {
        cf = cnt === bits ? u & 1 : (u >>> (bits - cnt)) & 1;
        r = cnt === 32 ? 0 : (u << cnt) & mask;
      }
      const rr = trunc(size, r);
      of = ((rr & sb) !== 0 ? 1 : 0) ^ cf;
      setEager(c, cf | (of ? OF : 0) | szp(c, size, rr));
      wrE(c, i, rr);
      return;
    }
    case 5: {
      // SHR
      cf = cnt > bits ? 0 : (u >>> (cnt - 1)) & 1;
      r = cnt >= bits ? 0 : u >>> cnt;
      const rr = trunc(size, r);
      of = (u & sb) !== 0 ? 1 : 0;
      setEager(c, cf | (of ? OF : 0) | szp(c, size, rr));
      wrE(c, i, rr);
      return;
    }
    default: {
      // SAR
      const sv = sext(size, v);
      cf = (sv >> (cnt - 1)) & 1;
      r = sv >> cnt;
      const rr = trunc(size, r);
      setEager(c, cf | szp(c, size, rr));
      wrE(c, i, rr);
    }
  }
}

function shift64(c: EmuCpu, i: Insn, lo: number, hi: number, cnt: number): void {
  if (cnt === 0) return;
  const op = i.op;
  let v = big64(lo, hi);
  let r: bigint;
  let cf: number;
  let of: number;
  const M = 0xffffffffffffffffn;
  const top = (x: bigint): number => Number((x >> 63n) & 1n);
  switch (op) {
    case 0: {
      const n = BigInt(cnt);
      r = ((v << n) | (v >> (64n - n))) & M;
      cf = Number(r & 1n);
      of = top(r) ^ cf;
      break;
    }
    case 1: {
      const n = BigInt(cnt);
      r = ((v >> n) | (v << (64n - n))) & M;
      cf = top(r);
      of = cf ^ Number((r >> 62n) & 1n);
      break;
    }
    case 2:
    case 3: {
      let carry = BigInt(getCF(c));
      for (let k = 0; k < cnt; k++) {
        if (op === 2) {
          const out = v >> 63n;
          v = ((v << 1n) | carry) & M;
          carry = out;
        } else {
          const out = v & 1n;
          v = (v >> 1n) | (carry << 63n);
          carry = out;
        }
      }
      r = v;
      cf = Number(carry);
      of = op === 2 ? top(r) ^ cf : top(r) ^ Number((r >> 62n) & 1n);
      break;
    }
    case 4:
    case 6:
      cf = Number((v >> BigInt(64 - cnt)) & 1n);
      r = (v << BigInt(cnt)) & M;
      of = top(r) ^ cf;
      setEager(c, cf | (of ? OF : 0) | szp64(c, r));
      wrBig(c, i, r);
      return;
    case 5:
      cf = Number((v >> BigInt(cnt - 1)) & 1n);
      r = v >> BigInt(cnt);
      of = top(v);
      setEager(c, cf | (of ? OF : 0) | szp64(c, r));
      wrBig(c, i, r);
      return;
    default: {
      const sv = BigInt.asIntN(64, v);
      cf = Number((sv >> BigInt(cnt - 1)) & 1n);
      r = BigInt.asUintN(64, sv >> BigInt(cnt));
      setEager(c, cf | szp64(c, r));
      wrBig(c, i, r);
      return;
    }
  }
  const fl = getFlags(c);
  setEager(c, (fl & ~(CF | OF) & 0x8d5) | cf | (of ? OF : 0));
  wrBig(c, i, r);
}
function szp64(c: EmuCpu, r: bigint): number {
  return szp(c, 8, Number(r & 0xffffffffn) | 0, Number(r >> 32n) | 0);
}
function wrBig(c: EmuCpu, i: Insn, r: bigint): void {
  wrE(c, i, Number(r & 0xffffffffn) | 0, Number((r >> 32n) & 0xffffffffn) | 0);
}

/** SHLD (op 0) / SHRD (op 1): E, G, count (imm or CL when imm2 = 1). */
export function shldE(c: EmuCpu, i: Insn): void {
  const size = i.osz;
  const cnt = (i.imm2 !== 0 ? c.rl[1]! : i.imm) & (size === 8 ? 63 : 31);
  const dl = rdE(c, i);
  const dh = c.hi;
  if (cnt === 0) {
    if (size === 4 && i.mod === 3) c.rh[i.rm] = 0;
    return;
  }
  const bits = BigInt(size * 8);
  const M = (1n << bits) - 1n;
  const d = size === 8 ? big64(dl, dh) : BigInt(size === 4 ? dl >>> 0 : dl);
  const s = size === 8 ? big64(c.rl[i.reg]!, c.rh[i.reg]!) : BigInt(getReg(c, size, i.reg) >>> 0) & M;
  const n = BigInt(cnt);
  let r: bigint;
  let cf: number;
  if (cnt > size * 8) {
    // 16-bit with count > 16: result undefined; keep a deterministic value.
    r = d;
    cf = 0;
  } else if (i.op === 0) {
    r = ((d << n) | (s >> (bits - n))) & M;
    cf = Number((d >> (bits - n)) & 1n);
  } else {
    r = ((d >> n) | (s << (bits - n))) & M;
    cf = Number((d >> (n - 1n)) & 1n);
  }
  const sign = (x: bigint): number => Number((x >> (bits - 1n)) & 1n);
  const of = sign(r) ^ sign(d);
  const lo = Number(r & 0xffffffffn) | 0;
  const hi = Number(r >> 32n) | 0;
  setEager(c, cf | (of ? OF : 0) | szp(c, size, size === 8 ? lo : trunc(size, lo), hi));
  wrE(c, i, size === 8 ? lo : trunc(size, lo), hi);
}

// ---------------------------------------------------------------- bit operations

/** BT/BTS/BTR/BTC E, G (op 0-3). Memory forms address the bit string relative to E. */
export function btEG(c: EmuCpu, i: Insn): void {
  const size = i.osz;
  const bits = size * 8;
  let off = getReg(c, size, i.reg);
  if (i.mod === 3) {
    btApply(c, i, off & (bits - 1), false);
    return;
  }
  // Signed bit offset: byte displacement = floor(off / bits) * size.
  let disp: number;
  if (size === 8) disp = Math.floor((c.rh[i.reg]! * TWO32 + (off >>> 0)) / 64) * 8;
  else {
    off = sext(size, off);
    disp = Math.floor(off / bits) * size;
  }
  // The bit displacement is added to the offset at the address size, then checked against the segment.
  let lin: number;
  if (i.ak === 3) lin = ea(c, i) + disp;
  else {
    const base = eaOffset(c, i);
    const o = i.ak === 0 ? (base + disp) & 0xffff : (base + disp) >>> 0;
    if (i.ak !== 2 && c.segChk[i.seg] !== 0) checkSeg(c, i.seg, o, size, i.op !== 0);
    const l = c.segBase[i.seg]! + o;
    lin = i.ak === 2 ? l : l >= TWO32 ? l - TWO32 : l;
  }
  c.lastEa = lin;
  btApply(c, i, off & (bits - 1), true);
}
export function btEI(c: EmuCpu, i: Insn): void {
  const bits = i.osz * 8;
  if (i.mod !== 3) c.lastEa = ea(c, i);
  btApply(c, i, i.imm & (bits - 1), i.mod !== 3);
}
function btApply(c: EmuCpu, i: Insn, bit: number, mem: boolean): void {
  const size = i.osz;
  let lo: number;
  let hi = 0;
  if (mem) {
    lo = i.op === 0 ? rd(c, size, c.lastEa) : rdw(c, size, c.lastEa);
    hi = c.hi;
  } else {
    lo = getReg(c, size, i.rm);
    hi = c.hi;
  }
  const inHi = bit >= 32;
  const word = inHi ? hi : lo;
  const m = 1 << (bit & 31);
  const cf = (word & m) !== 0 ? 1 : 0;
  const fl = getFlags(c);
  setEager(c, (fl & 0x8d4) | cf);
  if (i.op === 0) return;
  const nw = i.op === 1 ? word | m : i.op === 2 ? word & ~m : word ^ m;
  if (inHi) hi = nw;
  else lo = trunc(size === 8 ? 4 : size, nw);
  if (mem) wr(c, size, c.lastEa, lo, hi);
  else setReg(c, size, i.rm, lo, hi);
}

/** BSF (op 0), BSR (1), TZCNT (2), LZCNT (3), POPCNT (4): G = f(E). */
export function bitScan(c: EmuCpu, i: Insn): void {
  const size = i.osz;
  const lo = rdE(c, i);
  const hi = size === 8 ? c.hi : 0;
  const v = size === 8 ? lo : size === 4 ? lo : lo & (size === 2 ? 0xffff : 0xff);
  const bits = size * 8;
  const zero = (v | hi) === 0;
  const fl = getFlags(c);
  let r: number;
  switch (i.op) {
    case 0:
      if (zero) {
        setEager(c, (fl & 0x8d5 & ~ZF) | ZF);
        return;
      }
      r = v !== 0 ? 31 - Math.clz32(v & -v) : 32 + 31 - Math.clz32(hi & -hi);
      setEager(c, fl & 0x8d5 & ~ZF);
      break;
    case 1:
      if (zero) {
        setEager(c, (fl & 0x8d5 & ~ZF) | ZF);
        return;
      }
      r = size === 8 && hi !== 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(v);
      setEager(c, fl & 0x8d5 & ~ZF);
      break;
    case 2:
      r = zero ? bits : v !== 0 ? 31 - Math.clz32(v & -v) : 32 + 31 - Math.clz32(hi & -hi);
      setEager(c, (fl & 0x8d4 & ~(CF | ZF)) | (zero ? CF : 0) | (r === 0 ? ZF : 0));
      break;
    case 3:
      r = size === 8 ? (hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(v)) : Math.clz32(v) - (32 - bits);
      setEager(c, (fl & 0x8d4 & ~(CF | ZF)) | (zero ? CF : 0) | (r === 0 ? ZF : 0));
      break;
    default:
      r = popcnt(v) + popcnt(hi);
      setEager(c, zero ? ZF : 0);
  }
  setReg(c, size, i.reg, r, 0);
}
function popcnt(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

// ---------------------------------------------------------------- moves

export function movEG(c: EmuCpu, i: Insn): void {
  if (i.osz === 8) stE(c, i, c.rl[i.reg]!, c.rh[i.reg]!);
  else stE(c, i, getReg(c, i.osz, i.reg));
}
export function movGE(c: EmuCpu, i: Insn): void {
  const v = rdE(c, i);
  setReg(c, i.osz, i.reg, v, c.hi);
}
export function mov32rr(c: EmuCpu, i: Insn): void {
  c.rl[i.rm] = c.rl[i.reg]!;
  c.rh[i.rm] = 0;
}
export function mov32load(c: EmuCpu, i: Insn): void {
  c.rl[i.reg] = rd32(c, ea(c, i));
  c.rh[i.reg] = 0;
}
export function mov32store(c: EmuCpu, i: Insn): void {
  wr32(c, ea(c, i), c.rl[i.reg]!);
}
export function movEI(c: EmuCpu, i: Insn): void {
  stE(c, i, i.imm, i.immHi);
}
/** B0-BF: register = imm (rm holds the register). */
export function movRI(c: EmuCpu, i: Insn): void {
  setReg(c, i.osz, i.rm, i.imm, i.immHi);
}
/** MOVZX G, E (imm2 = source size). */
export function movzx(c: EmuCpu, i: Insn): void {
  setReg(c, i.osz, i.reg, rdEs(c, i, i.imm2), 0);
}
/** MOVSX / MOVSXD G, E (imm2 = source size). */
export function movsx(c: EmuCpu, i: Insn): void {
  const v = sext(i.imm2, rdEs(c, i, i.imm2));
  setReg(c, i.osz, i.reg, i.osz === 8 ? v : trunc(i.osz, v), v >> 31);
}
export function lea(c: EmuCpu, i: Insn): void {
  if (i.ak === 3) {
    const lo = eaOffset64(c, i);
    if (i.osz === 8) setReg(c, 8, i.reg, lo, c.hi);
    else setReg(c, i.osz, i.reg, trunc(i.osz, lo));
    return;
  }
  const a = eaOffset(c, i);
  if (i.osz === 8) setReg(c, 8, i.reg, a >>> 0, 0);
  else setReg(c, i.osz, i.reg, trunc(i.osz, a));
}
/** A0-A3: moffs forms (op 0 load into accumulator, 1 store). Address in imm/immHi. */
export function movMoffs(c: EmuCpu, i: Insn): void {
  const off = i.ak === 3 ? i.immHi * TWO32 + (i.imm >>> 0) : i.imm >>> 0;
  const a = i.ak === 3 ? off + c.segBase[i.seg]! : (c.segBase[i.seg]! + off) % (i.ak === 2 ? Infinity : TWO32);
  if (i.op === 0) {
    const v = rd(c, i.osz, a);
    setReg(c, i.osz, 0, v, c.hi);
  } else wr(c, i.osz, a, getReg(c, i.osz, 0), c.rh[0]!);
}

export function xchgEG(c: EmuCpu, i: Insn): void {
  const v = rdE(c, i);
  const vh = c.hi;
  const g = getReg(c, i.osz, i.reg);
  const gh = c.hi;
  wrE(c, i, g, i.osz === 8 ? c.rh[i.reg]! : gh);
  setReg(c, i.osz, i.reg, v, vh);
}

/** CMPXCHG E, G. */
export function cmpxchg(c: EmuCpu, i: Insn): void {
  const size = i.osz;
  const dl = rdE(c, i);
  const dh = c.hi;
  if (size === 8) {
    alu64(c, 7, c.rl[0]!, c.rh[0]!, dl, dh);
    if (getZF(c)) wrE(c, i, c.rl[i.reg]!, c.rh[i.reg]!);
    else {
      if (i.mod !== 3) wrE(c, i, dl, dh);
      setReg(c, 8, 0, dl, dh);
    }
    return;
  }
  alu(c, 7, size, getReg(c, size, 0), dl);
  if (getZF(c)) wrE(c, i, getReg(c, size, i.reg));
  else {
    if (i.mod !== 3) wrE(c, i, dl);
    setReg(c, size, 0, dl);
  }
}

/** XADD E, G. */
export function xadd(c: EmuCpu, i: Insn): void {
  const size = i.osz;
  const dl = rdE(c, i);
  const dh = c.hi;
  if (size === 8) {
    const sl = c.rl[i.reg]!;
    const sh = c.rh[i.reg]!;
    const r = alu64(c, 0, dl, dh, sl, sh);
    const rh = c.hi;
    setReg(c, 8, i.reg, dl, dh);
    wrE(c, i, r, rh);
    return;
  }
  const s = getReg(c, size, i.reg);
  const r = alu(c, 0, size, dl, s);
  setReg(c, size, i.reg, dl);
  wrE(c, i, r);
}

/** CMPXCHG8B / CMPXCHG16B m (osz 8 = 8B, 16 = 16B). */
export function cmpxchg8b(c: EmuCpu, i: Insn): void {
  if (i.mod === 3) return ud(c);
  const a = ea(c, i);
  const fl = getFlags(c);
  if (i.imm2 === 16) {
    if (a % 16 !== 0) return gp(c, 0);
    probeWrite(c, a, 16);
    const m0 = rd64(c, a);
    const m0h = c.hi;
    const m1 = rd64(c, a + 8);
    const m1h = c.hi;
    if (m0 === c.rl[0] && m0h === c.rh[0] && m1 === c.rl[2] && m1h === c.rh[2]) {
      wr64(c, a, c.rl[3]!, c.rh[3]!);
      wr64(c, a + 8, c.rl[1]!, c.rh[1]!);
      setEager(c, (fl & 0x8d5) | ZF);
    } else {
      wr64(c, a, m0, m0h);
      wr64(c, a + 8, m1, m1h);
      setReg(c, 8, 0, m0, m0h);
      setReg(c, 8, 2, m1, m1h);
      setEager(c, fl & 0x8d5 & ~ZF);
    }
    return;
  }
  probeWrite(c, a, 8);
  const lo = rd64(c, a);
  const hi = c.hi;
  if (lo === c.rl[0] && hi === c.rl[2]) {
    wr64(c, a, c.rl[3]!, c.rl[1]!);
    setEager(c, (fl & 0x8d5) | ZF);
  } else {
    wr64(c, a, lo, hi);
    setReg(c, 4, 0, lo);
    setReg(c, 4, 2, hi);
    setEager(c, fl & 0x8d5 & ~ZF);
  }
}

export function bswap(c: EmuCpu, i: Insn): void {
  const sw = (x: number): number => ((x >>> 24) | ((x >>> 8) & 0xff00) | ((x << 8) & 0xff0000) | (x << 24)) | 0;
  if (i.osz === 8) {
    const lo = c.rl[i.rm]!;
    c.rl[i.rm] = sw(c.rh[i.rm]!);
    c.rh[i.rm] = sw(lo);
  } else if (i.osz === 4) setReg(c, 4, i.rm, sw(c.rl[i.rm]!));
  else setReg(c, 2, i.rm, 0); // 16-bit BSWAP is undefined; hardware zeroes the low word
}

/** MOVBE G, m (op 0) / MOVBE m, G (op 1). */
export function movbe(c: EmuCpu, i: Insn): void {
  if (i.mod === 3) return ud(c);
  const sw = (x: number): number => ((x >>> 24) | ((x >>> 8) & 0xff00) | ((x << 8) & 0xff0000) | (x << 24)) | 0;
  const size = i.osz;
  if (i.op === 0) {
    const lo = rdE(c, i);
    const hi = c.hi;
    if (size === 2) setReg(c, 2, i.reg, ((lo & 0xff) << 8) | ((lo >>> 8) & 0xff));
    else if (size === 4) setReg(c, 4, i.reg, sw(lo));
    else setReg(c, 8, i.reg, sw(hi), sw(lo));
  } else {
    const lo = c.rl[i.reg]!;
    if (size === 2) stE(c, i, ((lo & 0xff) << 8) | ((lo >>> 8) & 0xff));
    else if (size === 4) stE(c, i, sw(lo));
    else stE(c, i, sw(c.rh[i.reg]!), sw(lo));
  }
}

export function setcc(c: EmuCpu, i: Insn): void {
  stEs(c, i, 1, cond(c, i.op) ? 1 : 0);
}
export function cmovcc(c: EmuCpu, i: Insn): void {
  const v = rdE(c, i);
  const h = c.hi;
  if (cond(c, i.op)) setReg(c, i.osz, i.reg, v, h);
  else if (i.osz === 4) c.rh[i.reg] = 0;
}

/** CBW/CWDE/CDQE (op 0) and CWD/CDQ/CQO (op 1). */
export function cbw(c: EmuCpu, i: Insn): void {
  const a = c.rl[0]!;
  if (i.op === 0) {
    if (i.osz === 2) setReg(c, 2, 0, sext(1, a));
    else if (i.osz === 4) setReg(c, 4, 0, sext(2, a));
    else setReg(c, 8, 0, a, a >> 31);
  } else {
    if (i.osz === 2) setReg(c, 2, 2, sext(2, a) >> 15);
    else if (i.osz === 4) setReg(c, 4, 2, a >> 31);
    else setReg(c, 8, 2, c.rh[0]! >> 31, c.rh[0]! >> 31);
  }
}

export function lahf(c: EmuCpu, _i: Insn): void {
  setReg(c, 1, 16, getFlags(c) & 0xff);
}
export function sahf(c: EmuCpu, _i: Insn): void {
  putFlags(c, (c.rl[0]! >> 8) & 0xd5, 0xd5);
}
/** CLC STC CMC CLD STD (op 0-4). */
export function flagOp(c: EmuCpu, i: Insn): void {
  switch (i.op) {
    case 0:
      putFlags(c, 0, CF);
      break;
    case 1:
      putFlags(c, CF, CF);
      break;
    case 2:
      putFlags(c, getCF(c) ^ 1, CF);
      break;
    case 3:
      c.flags &= ~(1 << 10);
      break;
    default:
      c.flags |= 1 << 10;
  }
}

/** XLAT: AL = [seg:(E)BX + AL]. */
export function xlat(c: EmuCpu, i: Insn): void {
  let off: number;
  if (i.ak === 0) off = (c.rl[3]! + (c.rl[0]! & 0xff)) & 0xffff;
  else if (i.ak === 3) off = r64(c, 3) + (c.rl[0]! & 0xff);
  else off = (c.rl[3]! + (c.rl[0]! & 0xff)) >>> 0;
  const a = i.ak === 3 ? off + c.segBase[i.seg]! : (c.segBase[i.seg]! + off) % TWO32;
  setReg(c, 1, 0, rd8(c, a));
}

/** DAA (0) DAS (1) AAA (2) AAS (3) AAM (4, imm) AAD (5, imm) SALC (6). */
export function bcd(c: EmuCpu, i: Insn): void {
  let al = c.rl[0]! & 0xff;
  const cf = getCF(c);
  const af = getAF(c) !== 0;
  const fl = getFlags(c) & 0x8d5;
  switch (i.op) {
    case 0:
    case 1: {
      const old = al;
      let ncf = 0;
      let naf = 0;
      if ((al & 0xf) > 9 || af) {
        al = i.op === 0 ? al + 6 : al - 6;
        naf = AF;
        ncf = cf | (i.op === 0 ? (al > 0xff ? 1 : 0) : al < 0 ? 1 : 0);
        al &= 0xff;
      }
      if (old > 0x99 || cf) {
        al = (i.op === 0 ? al + 0x60 : al - 0x60) & 0xff;
        ncf = 1;
      }
      setReg(c, 1, 0, al);
      setEager(c, (fl & OF) | ncf | naf | szp(c, 1, al));
      return;
    }
    case 2:
    case 3: {
      if ((al & 0xf) > 9 || af) {
        const ax = c.rl[0]! & 0xffff;
        const nax = i.op === 2 ? ax + 0x106 : ax - 6 - 0x100;
        setReg(c, 2, 0, nax & 0xff0f);
        setEager(c, (fl & ~(CF | AF)) | CF | AF);
      } else {
        setReg(c, 1, 0, al & 0xf);
        setEager(c, fl & ~(CF | AF));
      }
      return;
    }
    case 4: {
      const b = i.imm & 0xff;
      if (b === 0) return raise(c, VEC_DE);
      const ah = Math.floor(al / b);
      al = al % b;
      setReg(c, 2, 0, (ah << 8) | al);
      setEager(c, szp(c, 1, al));
      return;
    }
    case 5: {
      const ah = (c.rl[0]! >> 8) & 0xff;
      al = (al + ah * (i.imm & 0xff)) & 0xff;
      setReg(c, 2, 0, al);
      setEager(c, szp(c, 1, al));
      return;
    }
    default:
      setReg(c, 1, 0, cf ? 0xff : 0);
  }
}

/** BOUND G, m: #BR unless lower <= G <= upper (signed). */
export function bound(c: EmuCpu, i: Insn): void {
  const a = ea(c, i);
  const size = i.osz;
  const v = sext(size, getReg(c, size, i.reg));
  const lo = sext(size, rd(c, size, a));
  const hi = sext(size, rd(c, size, (a + size) % TWO32));
  if (v < lo || v > hi) raise(c, 5);
}

export { PARITY };
