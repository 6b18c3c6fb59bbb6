/** Bit tests (BT/BTS/BTR/BTC), scans (BSF/BSR/LZCNT/POPCNT), BSWAP and MOVBE. */
import type { EmuCpu } from './cpu.js';
import type { Insn } from './insn.js';
import { getReg, setReg } from './gpr.js';
import { ea, eaOffset, rdE, sext, stE, trunc } from './operands.js';
import { checkSeg } from './segmentation.js';
import { rd, rdw, wr } from './mem-access.js';
import { getFlags, setEager } from './lazy-flags.js';
import { Bit } from './flags.js';
import { ud } from './exceptions.js';
import { Pow } from './x86-defs.js';
import { halvesOf, plusBig } from './address.js';

const TWO32 = 4294967296;

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
  if (size === 8) disp = Math.floor((c.gpr[(i.reg << 1) | 1]! * TWO32 + (off >>> 0)) / 64) * 8;
  else {
    off = sext(size, off);
    disp = Math.floor(off / bits) * size;
  }
  // The bit displacement is added to the offset at the address size, then checked against the segment.
  let lin: number;
  if (i.ak === 3) {
    const e = ea(c, i);
    lin = e + disp;
    // A sum beyond +-2^52, or a handle (5-level paging) with a displacement its fraction would not survive:
    // exactly from the halves, disp being (offset >> 3) & ~7 for a 64-bit offset.
    if (!(disp > -Pow.Two45 && disp < Pow.Two45 && ((lin > -Pow.Two52 && lin < Pow.Two52) || Math.floor(e) !== e))) {
      halvesOf(e);
      if (size === 8) lin = plusBig(c, c.gpr[(i.reg << 1) | 1]! >> 3, (((c.gpr[i.reg << 1]! >>> 3) | (c.gpr[(i.reg << 1) | 1]! << 29)) & ~7) >>> 0);
      else lin = plusBig(c, disp < 0 ? -1 : 0, disp < 0 ? Pow.Two32 + disp : disp);
    }
  } else {
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
        setEager(c, (fl & 0x8d5 & ~Bit.ZF) | Bit.ZF);
        return;
      }
      r = v !== 0 ? 31 - Math.clz32(v & -v) : 32 + 31 - Math.clz32(hi & -hi);
      setEager(c, fl & 0x8d5 & ~Bit.ZF);
      break;
    case 1:
      if (zero) {
        setEager(c, (fl & 0x8d5 & ~Bit.ZF) | Bit.ZF);
        return;
      }
      r = size === 8 && hi !== 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(v);
      setEager(c, fl & 0x8d5 & ~Bit.ZF);
      break;
    case 2:
      r = zero ? bits : v !== 0 ? 31 - Math.clz32(v & -v) : 32 + 31 - Math.clz32(hi & -hi);
      setEager(c, (fl & 0x8d4 & ~(Bit.CF | Bit.ZF)) | (zero ? Bit.CF : 0) | (r === 0 ? Bit.ZF : 0));
      break;
    case 3:
      r = size === 8 ? (hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(v)) : Math.clz32(v) - (32 - bits);
      setEager(c, (fl & 0x8d4 & ~(Bit.CF | Bit.ZF)) | (zero ? Bit.CF : 0) | (r === 0 ? Bit.ZF : 0));
      break;
    default:
      r = popcnt(v) + popcnt(hi);
      setEager(c, zero ? Bit.ZF : 0);
  }
  setReg(c, size, i.reg, r, 0);
}
function popcnt(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

export function bswap(c: EmuCpu, i: Insn): void {
  const sw = (x: number): number => ((x >>> 24) | ((x >>> 8) & 0xff00) | ((x << 8) & 0xff0000) | (x << 24)) | 0;
  if (i.osz === 8) {
    const lo = c.gpr[i.rm << 1]!;
    c.gpr[i.rm << 1] = sw(c.gpr[(i.rm << 1) | 1]!);
    c.gpr[(i.rm << 1) | 1] = sw(lo);
  } else if (i.osz === 4) setReg(c, 4, i.rm, sw(c.gpr[i.rm << 1]!));
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
    const lo = c.gpr[i.reg << 1]!;
    if (size === 2) stE(c, i, ((lo & 0xff) << 8) | ((lo >>> 8) & 0xff));
    else if (size === 4) stE(c, i, sw(lo));
    else stE(c, i, sw(c.gpr[(i.reg << 1) | 1]!), sw(lo));
  }
}

