/**
 * Operand access shared by the handlers: effective addresses and reads/writes of the
 * ModRM operand E and the register operand G at the instruction's operand size.
 */
import type { EmuCpu } from './cpu.js';
import { EA_16, EA_32, EA_32L, type Insn } from './insn.js';

const TWO32 = 4294967296;
const TWO63 = 9223372036854775808;
const TWO64 = 18446744073709551616;

/** Linear address of the memory operand. */
export function ea(c: EmuCpu, i: Insn): number {
  const ak = i.ak;
  if (ak === EA_32) {
    let a = i.disp;
    if (i.base >= 0) a += c.rl[i.base]!;
    if (i.index >= 0) a += c.rl[i.index]! << i.scale;
    const s = c.segBase[i.seg]! + (a >>> 0);
    return s >= TWO32 ? s - TWO32 : s;
  }
  if (ak === EA_16) {
    let a = i.disp;
    if (i.base >= 0) a += c.rl[i.base]!;
    if (i.index >= 0) a += c.rl[i.index]!;
    const s = c.segBase[i.seg]! + (a & 0xffff);
    return s >= TWO32 ? s - TWO32 : s;
  }
  if (ak === EA_32L) {
    let a = i.disp;
    if (i.ripRel) a += c.bip + i.end;
    if (i.base >= 0) a += c.rl[i.base]!;
    if (i.index >= 0) a += c.rl[i.index]! << i.scale;
    return c.segBase[i.seg]! + (a >>> 0);
  }
  let a = i.disp;
  if (i.ripRel) a += c.bip + i.end;
  if (i.base >= 0) a += c.rh[i.base]! * TWO32 + (c.rl[i.base]! >>> 0);
  if (i.index >= 0) a += (c.rh[i.index]! * TWO32 + (c.rl[i.index]! >>> 0)) * (1 << i.scale);
  a += c.segBase[i.seg]!;
  if (a >= TWO63) a -= TWO64;
  else if (a < -TWO63) a += TWO64;
  return a;
}

/** Offset part of an address (LEA): the address-size-truncated sum without the segment base. */
export function eaOffset(c: EmuCpu, i: Insn): number {
  const ak = i.ak;
  let a = i.disp;
  if (ak === EA_16) {
    if (i.base >= 0) a += c.rl[i.base]!;
    if (i.index >= 0) a += c.rl[i.index]!;
    return a & 0xffff;
  }
  if (ak === EA_32 || ak === EA_32L) {
    if (i.ripRel) a += c.bip + i.end;
    if (i.base >= 0) a += c.rl[i.base]!;
    if (i.index >= 0) a += c.rl[i.index]! << i.scale;
    return a | 0;
  }
  if (i.ripRel) a += c.bip + i.end;
  if (i.base >= 0) a += c.rh[i.base]! * TWO32 + (c.rl[i.base]! >>> 0);
  if (i.index >= 0) a += (c.rh[i.index]! * TWO32 + (c.rl[i.index]! >>> 0)) * (1 << i.scale);
  if (a >= TWO63) a -= TWO64;
  else if (a < -TWO63) a += TWO64;
  return a;
}

/** Reads E at i.osz (8: low half returned, high half in c.hi); remembers the address for wrE. */
export function rdE(c: EmuCpu, i: Insn): number {
  if (i.mod === 3) return c.getReg(i.osz, i.rm);
  const a = ea(c, i);
  c.lastEa = a;
  return c.rd(i.osz, a);
}

/** Writes E after rdE (same address). */
export function wrE(c: EmuCpu, i: Insn, v: number, vhi = 0): void {
  if (i.mod === 3) c.setReg(i.osz, i.rm, v, vhi);
  else c.wr(i.osz, c.lastEa, v, vhi);
}

/** Writes E without a prior read. */
export function stE(c: EmuCpu, i: Insn, v: number, vhi = 0): void {
  if (i.mod === 3) c.setReg(i.osz, i.rm, v, vhi);
  else c.wr(i.osz, ea(c, i), v, vhi);
}

/** Reads E at an explicit size (MOVZX/MOVSX sources, segment moves). */
export function rdEs(c: EmuCpu, i: Insn, size: number): number {
  if (i.mod === 3) return c.getReg(size, i.rm);
  const a = ea(c, i);
  c.lastEa = a;
  return c.rd(size, a);
}

/** Writes E at an explicit size. */
export function stEs(c: EmuCpu, i: Insn, size: number, v: number, vhi = 0): void {
  if (i.mod === 3) c.setReg(size, i.rm, v, vhi);
  else c.wr(size, ea(c, i), v, vhi);
}

/** Sign-extends a `size`-byte value to int32. */
export function sext(size: number, v: number): number {
  return size === 1 ? (v << 24) >> 24 : size === 2 ? (v << 16) >> 16 : v | 0;
}

/** Masks a value to `size` bytes (4/8 keep int32 form). */
export function trunc(size: number, v: number): number {
  return size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v | 0;
}
