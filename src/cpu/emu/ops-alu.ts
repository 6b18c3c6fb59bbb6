/**
 * Integer data handlers: ALU, TEST, INC/DEC/NEG/NOT, moves, exchanges, CMPXCHG/XADD,
 * SETcc/CMOVcc, sign extension, LAHF/SAHF and the flag instructions, XLAT, BCD adjust, BOUND.
 * The arithmetic itself is in sem-alu.ts (shared with the block compiler).
 */
import type { EmuCpu } from './cpu.js';
import type { Insn } from './insn.js';
import { ea, eaOffset, eaOffset64, offset64, rdE, rdEs, sext, stE, stEs, trunc, wrE } from './operands.js';
import { alu, alu64, aluAdd, aluAnd, aluLogic64, aluSub, aluSub64, incdec, incdec64, logicFlags, Alu, notv } from './sem-alu.js';
import { getReg, r64, setReg } from './gpr.js';
import { cond, getAF, getCF, getFlags, getZF, putFlags, setEager, szp } from './lazy-flags.js';
import { probeWrite, rd, rd32, rd64, rd8, wr, wr32, wr64 } from './mem-access.js';
import { gp, raise, ud } from './exceptions.js';
import { Bit } from './flags.js';
import { Pow, VEC_DE, Gp } from './x86-defs.js';
import { misaligned, plusBig, regHalves } from './address.js';
import { checkSeg } from './segmentation.js';

const TWO32 = 4294967296;

// ---------------------------------------------------------------- ALU

/** E = E op G (00, 01, 08, ...). */
export function aluEG(c: EmuCpu, i: Insn): void {
  if (i.osz === 8) {
    const dl = rdE(c, i);
    const r = alu64(c, i.op, dl, c.hi, c.gpr[i.reg << 1]!, c.gpr[(i.reg << 1) | 1]!);
    if (i.op !== Alu.Cmp) wrE(c, i, r, c.hi);
    return;
  }
  const r = alu(c, i.op, i.osz, rdE(c, i), getReg(c, i.osz, i.reg));
  if (i.op !== Alu.Cmp) wrE(c, i, r);
}

/** G = G op E (02, 03, ...). */
export function aluGE(c: EmuCpu, i: Insn): void {
  if (i.osz === 8) {
    const sl = rdE(c, i);
    const r = alu64(c, i.op, c.gpr[i.reg << 1]!, c.gpr[(i.reg << 1) | 1]!, sl, c.hi);
    if (i.op !== Alu.Cmp) setReg(c, 8, i.reg, r, c.hi);
    return;
  }
  const r = alu(c, i.op, i.osz, getReg(c, i.osz, i.reg), rdE(c, i));
  if (i.op !== Alu.Cmp) setReg(c, i.osz, i.reg, r);
}

/** E = E op imm (80/81/83 and the accumulator forms with mod=3 rm=0). */
export function aluEI(c: EmuCpu, i: Insn): void {
  if (i.osz === 8) {
    const dl = rdE(c, i);
    const r = alu64(c, i.op, dl, c.hi, i.imm, i.immHi);
    if (i.op !== Alu.Cmp) wrE(c, i, r, c.hi);
    return;
  }
  const r = alu(c, i.op, i.osz, rdE(c, i), i.imm);
  if (i.op !== Alu.Cmp) wrE(c, i, r);
}

// 32-bit register forms (the run loop calls these directly; see run-loop.ts INLINE).
/** ADD r32, r32 (rm = rm + reg). */
export function add32rr(c: EmuCpu, i: Insn): void {
  const g = c.gpr;
  g[i.rm << 1] = aluAdd(c, 4, g[i.rm << 1]!, g[i.reg << 1]!, true);
  g[(i.rm << 1) | 1] = 0;
}
export function sub32rr(c: EmuCpu, i: Insn): void {
  const g = c.gpr;
  g[i.rm << 1] = aluSub(c, 4, g[i.rm << 1]!, g[i.reg << 1]!, true);
  g[(i.rm << 1) | 1] = 0;
}
export function cmp32rr(c: EmuCpu, i: Insn): void {
  aluSub(c, 4, c.gpr[i.rm << 1]!, c.gpr[i.reg << 1]!, true);
}
/** AND/OR/XOR r32, r32 (op = ALU_*). */
export function logic32rr(c: EmuCpu, i: Insn): void {
  const g = c.gpr;
  const d = g[i.rm << 1]!;
  const s = g[i.reg << 1]!;
  const op = i.op;
  g[i.rm << 1] = logicFlags(c, 4, op === Alu.Or ? d | s : op === Alu.And ? d & s : d ^ s, true);
  g[(i.rm << 1) | 1] = 0;
}
export function add32ri(c: EmuCpu, i: Insn): void {
  c.gpr[i.rm << 1] = aluAdd(c, 4, c.gpr[i.rm << 1]!, i.imm, true);
  c.gpr[(i.rm << 1) | 1] = 0;
}
export function sub32ri(c: EmuCpu, i: Insn): void {
  c.gpr[i.rm << 1] = aluSub(c, 4, c.gpr[i.rm << 1]!, i.imm, true);
  c.gpr[(i.rm << 1) | 1] = 0;
}
export function cmp32ri(c: EmuCpu, i: Insn): void {
  aluSub(c, 4, c.gpr[i.rm << 1]!, i.imm, true);
}
/** AND/OR/XOR r32, imm (op = ALU_*). */
export function logic32ri(c: EmuCpu, i: Insn): void {
  const d = c.gpr[i.rm << 1]!;
  const s = i.imm;
  const op = i.op;
  c.gpr[i.rm << 1] = logicFlags(c, 4, op === Alu.Or ? d | s : op === Alu.And ? d & s : d ^ s, true);
  c.gpr[(i.rm << 1) | 1] = 0;
}
/** ADC/SBB r32, imm (the other operations have handlers of their own). */
export function alu32ri(c: EmuCpu, i: Insn): void {
  const r = alu(c, i.op, 4, c.gpr[i.rm << 1]!, i.imm);
  if (i.op !== Alu.Cmp) {
    c.gpr[i.rm << 1] = r;
    c.gpr[(i.rm << 1) | 1] = 0;
  }
}
/** INC (op 0) / DEC (op 1) r32. */
export function incdec32r(c: EmuCpu, i: Insn): void {
  c.gpr[i.rm << 1] = incdec(c, 4, c.gpr[i.rm << 1]!, i.op === 1, getCF(c), true);
  c.gpr[(i.rm << 1) | 1] = 0;
}

/** TEST E, G. */
export function testEG(c: EmuCpu, i: Insn): void {
  if (i.osz === 8) {
    const dl = rdE(c, i);
    aluLogic64(c, Alu.And, dl, c.hi, c.gpr[i.reg << 1]!, c.gpr[(i.reg << 1) | 1]!, true);
    return;
  }
  aluAnd(c, i.osz, rdE(c, i), getReg(c, i.osz, i.reg), true);
}
/** TEST E, imm. */
export function testEI(c: EmuCpu, i: Insn): void {
  if (i.osz === 8) {
    const dl = rdE(c, i);
    aluLogic64(c, Alu.And, dl, c.hi, i.imm, i.immHi, true);
    return;
  }
  aluAnd(c, i.osz, rdE(c, i), i.imm, true);
}

/** INC/DEC E (op 0 = INC, 1 = DEC). */
export function incdecE(c: EmuCpu, i: Insn): void {
  if (i.osz === 8) {
    const dl = rdE(c, i);
    const r = incdec64(c, dl, c.hi, i.op === 1, getCF(c), true);
    wrE(c, i, r, c.hi);
    return;
  }
  wrE(c, i, incdec(c, i.osz, rdE(c, i), i.op === 1, getCF(c), true));
}

export function notE(c: EmuCpu, i: Insn): void {
  const v = rdE(c, i);
  if (i.osz === 8) wrE(c, i, ~v, ~c.hi);
  else wrE(c, i, notv(i.osz, v));
}

export function negE(c: EmuCpu, i: Insn): void {
  if (i.osz === 8) {
    const dl = rdE(c, i);
    const r = aluSub64(c, 0, 0, dl, c.hi, 0, true);
    wrE(c, i, r, c.hi);
    return;
  }
  wrE(c, i, aluSub(c, i.osz, 0, rdE(c, i), true));
}

// ---------------------------------------------------------------- moves

export function movEG(c: EmuCpu, i: Insn): void {
  if (i.osz === 8) stE(c, i, c.gpr[i.reg << 1]!, c.gpr[(i.reg << 1) | 1]!);
  else stE(c, i, getReg(c, i.osz, i.reg));
}
export function movGE(c: EmuCpu, i: Insn): void {
  const v = rdE(c, i);
  setReg(c, i.osz, i.reg, v, c.hi);
}
export function mov32rr(c: EmuCpu, i: Insn): void {
  c.gpr[i.rm << 1] = c.gpr[i.reg << 1]!;
  c.gpr[(i.rm << 1) | 1] = 0;
}
export function mov32load(c: EmuCpu, i: Insn): void {
  c.gpr[i.reg << 1] = rd32(c, ea(c, i));
  c.gpr[(i.reg << 1) | 1] = 0;
}
export function mov32store(c: EmuCpu, i: Insn): void {
  wr32(c, ea(c, i), c.gpr[i.reg << 1]!);
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
/** LEA r64 with a 64-bit address: the offset as one double where it can be (offset64), else in 32-bit halves. */
export function lea64(c: EmuCpu, i: Insn): void {
  const a = offset64(c, i);
  if (a !== a) return lea(c, i);
  const lo = a | 0;
  c.gpr[i.reg << 1] = lo;
  c.gpr[(i.reg << 1) | 1] = (a - (lo >>> 0)) / TWO32;
}
/** MOV r64, [m] (8B with a 64-bit operand in memory). */
export function mov64load(c: EmuCpu, i: Insn): void {
  const lo = rd64(c, ea(c, i));
  c.gpr[i.reg << 1] = lo;
  c.gpr[(i.reg << 1) | 1] = c.hi;
}
/** MOV [m], r64 (89 with a 64-bit operand in memory). */
export function mov64store(c: EmuCpu, i: Insn): void {
  wr64(c, ea(c, i), c.gpr[i.reg << 1]!, c.gpr[(i.reg << 1) | 1]!);
}
/** A 64-bit moffs plus the segment's base: exact, a handle beyond +-2^53 (address.ts linOf). */
function moffs64(c: EmuCpu, i: Insn, off: number): number {
  const sb = c.segBase[i.seg]!;
  if (off > -Pow.Two52 && off < Pow.Two52 && sb > -Pow.Two52 && sb < Pow.Two52) return off + sb;
  regHalves(c, i.seg, sb);
  return plusBig(c, i.immHi, i.imm >>> 0);
}
/** A0-A3: moffs forms (op 0 load into accumulator, 1 store). Address in imm/immHi. */
export function movMoffs(c: EmuCpu, i: Insn): void {
  const off = i.ak === 3 ? i.immHi * TWO32 + (i.imm >>> 0) : i.imm >>> 0;
  // The segment's limit and type, as for a ModRM operand (segChk is 0 in 64-bit mode).
  if (c.segChk[i.seg] !== 0) checkSeg(c, i.seg, off, i.osz, i.op !== 0);
  const a = i.ak === 3 ? moffs64(c, i, off) : (c.segBase[i.seg]! + off) % (i.ak === 2 ? Infinity : TWO32);
  if (i.op === 0) {
    const v = rd(c, i.osz, a);
    setReg(c, i.osz, 0, v, c.hi);
  } else wr(c, i.osz, a, getReg(c, i.osz, 0), c.gpr[Gp.AxHi]!);
}

export function xchgEG(c: EmuCpu, i: Insn): void {
  const v = rdE(c, i);
  const vh = c.hi;
  const g = getReg(c, i.osz, i.reg);
  const gh = c.hi;
  wrE(c, i, g, i.osz === 8 ? c.gpr[(i.reg << 1) | 1]! : gh);
  setReg(c, i.osz, i.reg, v, vh);
}

/** CMPXCHG E, G. */
export function cmpxchg(c: EmuCpu, i: Insn): void {
  const size = i.osz;
  const dl = rdE(c, i);
  const dh = c.hi;
  if (size === 8) {
    alu64(c, 7, c.gpr[Gp.AxLo]!, c.gpr[Gp.AxHi]!, dl, dh);
    if (getZF(c)) wrE(c, i, c.gpr[i.reg << 1]!, c.gpr[(i.reg << 1) | 1]!);
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
    const sl = c.gpr[i.reg << 1]!;
    const sh = c.gpr[(i.reg << 1) | 1]!;
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
    if (misaligned(a, 16)) return gp(c, 0);
    probeWrite(c, a, 16);
    const m0 = rd64(c, a);
    const m0h = c.hi;
    const m1 = rd64(c, a + 8);
    const m1h = c.hi;
    if (m0 === c.gpr[Gp.AxLo] && m0h === c.gpr[Gp.AxHi] && m1 === c.gpr[Gp.DxLo] && m1h === c.gpr[Gp.DxHi]) {
      wr64(c, a, c.gpr[Gp.BxLo]!, c.gpr[Gp.BxHi]!);
      wr64(c, a + 8, c.gpr[Gp.CxLo]!, c.gpr[Gp.CxHi]!);
      setEager(c, (fl & 0x8d5) | Bit.ZF);
    } else {
      wr64(c, a, m0, m0h);
      wr64(c, a + 8, m1, m1h);
      setReg(c, 8, 0, m0, m0h);
      setReg(c, 8, 2, m1, m1h);
      setEager(c, fl & 0x8d5 & ~Bit.ZF);
    }
    return;
  }
  probeWrite(c, a, 8);
  const lo = rd64(c, a);
  const hi = c.hi;
  if (lo === c.gpr[Gp.AxLo] && hi === c.gpr[Gp.DxLo]) {
    wr64(c, a, c.gpr[Gp.BxLo]!, c.gpr[Gp.CxLo]!);
    setEager(c, (fl & 0x8d5) | Bit.ZF);
  } else {
    wr64(c, a, lo, hi);
    setReg(c, 4, 0, lo);
    setReg(c, 4, 2, hi);
    setEager(c, fl & 0x8d5 & ~Bit.ZF);
  }
}

export function setcc(c: EmuCpu, i: Insn): void {
  stEs(c, i, 1, cond(c, i.op) ? 1 : 0);
}
export function cmovcc(c: EmuCpu, i: Insn): void {
  const v = rdE(c, i);
  const h = c.hi;
  if (cond(c, i.op)) setReg(c, i.osz, i.reg, v, h);
  else if (i.osz === 4) c.gpr[(i.reg << 1) | 1] = 0;
}

/** CBW/CWDE/CDQE (op 0) and CWD/CDQ/CQO (op 1). */
export function cbw(c: EmuCpu, i: Insn): void {
  const a = c.gpr[Gp.AxLo]!;
  if (i.op === 0) {
    if (i.osz === 2) setReg(c, 2, 0, sext(1, a));
    else if (i.osz === 4) setReg(c, 4, 0, sext(2, a));
    else setReg(c, 8, 0, a, a >> 31);
  } else {
    if (i.osz === 2) setReg(c, 2, 2, sext(2, a) >> 15);
    else if (i.osz === 4) setReg(c, 4, 2, a >> 31);
    else setReg(c, 8, 2, c.gpr[Gp.AxHi]! >> 31, c.gpr[Gp.AxHi]! >> 31);
  }
}

export function lahf(c: EmuCpu, _i: Insn): void {
  setReg(c, 1, 16, getFlags(c) & 0xff);
}
export function sahf(c: EmuCpu, _i: Insn): void {
  putFlags(c, (c.gpr[Gp.AxLo]! >> 8) & 0xd5, 0xd5);
}
/** CLC STC CMC CLD STD (op 0-4). */
export function flagOp(c: EmuCpu, i: Insn): void {
  switch (i.op) {
    case 0:
      putFlags(c, 0, Bit.CF);
      break;
    case 1:
      putFlags(c, Bit.CF, Bit.CF);
      break;
    case 2:
      putFlags(c, getCF(c) ^ 1, Bit.CF);
      break;
    case 3:
      c.flags &= ~(1 << 10);
      c.dfSlot[0] = 0;
      break;
    default:
      c.flags |= 1 << 10;
      c.dfSlot[0] = 1;
  }
}

/** XLAT: AL = [seg:(E)BX + AL]. */
export function xlat(c: EmuCpu, i: Insn): void {
  let off: number;
  if (i.ak === 0) off = (c.gpr[Gp.BxLo]! + (c.gpr[Gp.AxLo]! & 0xff)) & 0xffff;
  else if (i.ak === 3) off = r64(c, 3) + (c.gpr[Gp.AxLo]! & 0xff);
  else off = (c.gpr[Gp.BxLo]! + (c.gpr[Gp.AxLo]! & 0xff)) >>> 0;
  let a: number;
  if (i.ak !== 3) a = (c.segBase[i.seg]! + off) % TWO32;
  else {
    const sb = c.segBase[i.seg]!;
    a = off + sb;
    // Beyond +-2^52 (5-level paging) the sum may round: take it exactly from the halves (a handle beyond +-2^53).
    if (!(a > -Pow.Two52 && a < Pow.Two52 && off > -Pow.Two52 && off < Pow.Two52)) {
      regHalves(c, i.seg, sb);
      a = plusBig(c, c.gpr[Gp.BxHi]!, (c.gpr[Gp.BxLo]! >>> 0) + (c.gpr[Gp.AxLo]! & 0xff));
    }
  }
  setReg(c, 1, 0, rd8(c, a));
}

/** DAA (0) DAS (1) AAA (2) AAS (3) AAM (4, imm) AAD (5, imm) SALC (6). */
export function bcd(c: EmuCpu, i: Insn): void {
  let al = c.gpr[Gp.AxLo]! & 0xff;
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
        naf = Bit.AF;
        ncf = cf | (i.op === 0 ? (al > 0xff ? 1 : 0) : al < 0 ? 1 : 0);
        al &= 0xff;
      }
      if (old > 0x99 || cf) {
        al = (i.op === 0 ? al + 0x60 : al - 0x60) & 0xff;
        ncf = 1;
      }
      setReg(c, 1, 0, al);
      setEager(c, (fl & Bit.OF) | ncf | naf | szp(c, 1, al));
      return;
    }
    case 2:
    case 3: {
      if ((al & 0xf) > 9 || af) {
        const ax = c.gpr[Gp.AxLo]! & 0xffff;
        const nax = i.op === 2 ? ax + 0x106 : ax - 6 - 0x100;
        setReg(c, 2, 0, nax & 0xff0f);
        setEager(c, (fl & ~(Bit.CF | Bit.AF)) | Bit.CF | Bit.AF);
      } else {
        setReg(c, 1, 0, al & 0xf);
        setEager(c, fl & ~(Bit.CF | Bit.AF));
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
      const ah = (c.gpr[Gp.AxLo]! >> 8) & 0xff;
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

