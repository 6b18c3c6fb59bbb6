/**
 * Operand access shared by the handlers: effective addresses and reads/writes of the
 * ModRM operand E and the register operand G at the instruction's operand size.
 */
import type { EmuCpu } from './cpu.js';
import { type Insn, Ea } from './insn.js';
import { VEC_SS, Seg } from './x86-defs.js';
import { checkSeg } from './segmentation.js';
import { raise } from './exceptions.js';
import { getReg, setReg } from './gpr.js';
import { rd, rdw, wr } from './mem-access.js';
import { BIG, halvesOf, linOf, regHalves, nonCanonicalHi } from './address.js';

const TWO32 = 4294967296;
const TWO48 = 65536 * TWO32;
/** 2^47: stack-relative addresses outside +-2^47 are not canonical (#SS) unless 5-level paging widens the bound (c.canonLim). */
const STACK_CANON = 32768 * TWO32;

/**
 * Offset of a 32-bit-address-size operand: disp + base + index << scale (base/index -1 = none),
 * as int32. The block compiler calls this with constants (see ea32).
 */
export function off32(c: EmuCpu, disp: number, base: number, index: number, scale: number): number {
  let a = disp;
  if (base >= 0) a += c.gpr[base << 1]!;
  if (index >= 0) a += c.gpr[index << 1]! << scale;
  return a | 0;
}

/**
 * Linear address of a 32-bit-address-size operand outside 64-bit mode, with the segment's limit
 * and type checks (`msz` bytes, `mw` written). ea() uses it for EA_32; the block compiler emits
 * it with the instruction's fields as constants.
 */
export function ea32(c: EmuCpu, disp: number, base: number, index: number, scale: number, seg: number, msz: number, mw: boolean): number {
  let a = disp;
  if (base >= 0) a += c.gpr[base << 1]!;
  if (index >= 0) a += c.gpr[index << 1]! << scale;
  a >>>= 0;
  if (c.segChk[seg] !== 0) checkSeg(c, seg, a, msz, mw);
  const s = c.segBase[seg]! + a;
  return s >= TWO32 ? s - TWO32 : s;
}

/**
 * Where linearEa leaves its result. ea() was too long to be inlined, and a double returned from a call is a
 * new heap number whenever it is not a small integer (any address in a 64-bit kernel's direct map): 186 MB,
 * a fifth of the bytes a Linux boot to its prompt allocated (heap sampling). Read back by the small `ea`,
 * which is inlined into its callers, it stays an unboxed double. (Splitting the 64-bit path into a function
 * of its own, inlined with offset64 into every caller, allocated more: the callers then boxed the address
 * for each call that takes it, where they used to pass on ea's heap number.)
 */
const EA_OUT = new Float64Array(1);

/** Linear address of the memory operand. */
export function ea(c: EmuCpu, i: Insn): number {
  linearEa(c, i);
  return EA_OUT[0]!;
}

/** ea(): the address to EA_OUT. */
function linearEa(c: EmuCpu, i: Insn): void {
  const ak = i.ak;
  if (ak === Ea.A32) {
    EA_OUT[0] = ea32(c, i.disp, i.base, i.index, i.scale, i.seg, i.msz, i.mw);
    return;
  }
  if (ak === Ea.A16) {
    let a = i.disp;
    if (i.base >= 0) a += c.gpr[i.base << 1]!;
    if (i.index >= 0) a += c.gpr[i.index << 1]!;
    a &= 0xffff;
    if (c.segChk[i.seg] !== 0) checkSeg(c, i.seg, a, i.msz, i.mw);
    const s = c.segBase[i.seg]! + a;
    EA_OUT[0] = s >= TWO32 ? s - TWO32 : s;
    return;
  }
  if (ak === Ea.A32L) {
    let a = i.disp;
    if (i.ripRel) a += c.bip + i.end;
    if (i.base >= 0) a += c.gpr[i.base << 1]!;
    if (i.index >= 0) a += c.gpr[i.index << 1]! << i.scale;
    EA_OUT[0] = c.segBase[i.seg]! + (a >>> 0);
    return;
  }
  // The common case: the offset as one exact double (offset64) and a segment base within +-2^48, so the sum
  // stays below 2^53 and needs no wrap at 2^64. Register values beyond that take the 32-bit halves below.
  const sb = c.segBase[i.seg]!;
  if (sb > -STACK_CANON * 2 && sb < STACK_CANON * 2 && offsetTo(c, i)) {
    const a = EA_OUT[0]! + sb;
    if (i.seg === Seg.FlatSS && (a < -STACK_CANON || a >= STACK_CANON) && (a < -c.canonLim || a >= c.canonLim)) raise(c, VEC_SS, 0);
    EA_OUT[0] = a;
    return;
  }
  const lo = ea64(c, i, true);
  // A non-canonical stack-relative address is #SS(0) (others fault #GP(0) at the access).
  if (i.seg === Seg.FlatSS && (EA_HI < -32768 || EA_HI > 32767) && nonCanonicalHi(c, EA_HI)) raise(c, VEC_SS, 0);
  // Beyond +-2^53 (5-level paging) a handle holds the exact address (address.ts linOf).
  EA_OUT[0] = linOf(c, EA_HI, lo);
}

/**
 * The 64-bit offset disp + RIP + base + index << scale of a 64-bit-address operand as one exact double,
 * or NaN when a register is too large for that: a base whose high half is outside +-2^20 or an index
 * outside +-2^16 before scaling (within them every term and the sum stay below 2^52, so nothing rounds
 * and nothing wraps at 2^64). ea() and LEA r64 use it; the 32-bit halves (ea64) cover the rest.
 */
export function offset64(c: EmuCpu, i: Insn): number {
  return offsetTo(c, i) ? EA_OUT[0]! : NaN;
}

/**
 * offset64 to EA_OUT; false where offset64 is NaN. (Not always inlined into linearEa: a returned offset was
 * one more heap number per address with a base register, 90 MB in the Linux boot.)
 */
function offsetTo(c: EmuCpu, i: Insn): boolean {
  let a = i.disp;
  if (i.ripRel) {
    const n = c.bip + i.end;
    // A RIP beyond 48 bits (beyond +-2^53 a code handle, address.ts ripOf) takes the exact halves (ea64).
    if (n >= TWO48 || n < -TWO48) return false;
    a += n;
  }
  const b = i.base;
  if (b >= 0) {
    const h = c.gpr[(b << 1) | 1]!;
    if (h < -0x10_0000 || h >= 0x10_0000) return false;
    a += h * TWO32 + (c.gpr[b << 1]! >>> 0);
  }
  const x = i.index;
  if (x >= 0) {
    const h = c.gpr[(x << 1) | 1]!;
    if (h < -0x1_0000 || h >= 0x1_0000) return false;
    a += (h * TWO32 + (c.gpr[x << 1]! >>> 0)) * (1 << i.scale);
  }
  EA_OUT[0] = a;
  return true;
}

/** High half of the last ea64() result. */
let EA_HI = 0;

/**
 * Exact 64-bit address arithmetic in 32-bit halves (register values may be any 64-bit
 * number; only the final address must be canonical). Returns the low half (uint32), the
 * high half (int32) in EA_HI.
 */
function ea64(c: EmuCpu, i: Insn, withSeg: boolean): number {
  let lo = i.disp >>> 0;
  let hi = i.disp >> 31;
  if (i.ripRel) {
    halvesOf(c.bip + i.end);
    lo += BIG.lo;
    hi += BIG.hi;
  }
  const b = i.base;
  if (b >= 0) {
    lo += c.gpr[b << 1]! >>> 0;
    hi += c.gpr[(b << 1) | 1]!;
  }
  const x = i.index;
  if (x >= 0) {
    const sc = i.scale;
    const xl = c.gpr[x << 1]!;
    lo += (xl << sc) >>> 0;
    hi += sc === 0 ? c.gpr[(x << 1) | 1]! : (c.gpr[(x << 1) | 1]! << sc) | (xl >>> (32 - sc));
  }
  if (withSeg) {
    const sb = c.segBase[i.seg]!;
    if (sb !== 0) {
      // An FS/GS base beyond +-2^53 is rounded in segBase: its exact halves are in c.bigAd.
      regHalves(c, i.seg, sb);
      lo += BIG.lo;
      hi += BIG.hi;
    }
  }
  const carry = Math.floor(lo / TWO32);
  EA_HI = (hi + carry) | 0;
  return lo - carry * TWO32;
}

/** Offset part of an address (LEA): the address-size-truncated sum without the segment base. */
export function eaOffset(c: EmuCpu, i: Insn): number {
  const ak = i.ak;
  let a = i.disp;
  if (ak === Ea.A16) {
    if (i.base >= 0) a += c.gpr[i.base << 1]!;
    if (i.index >= 0) a += c.gpr[i.index << 1]!;
    return a & 0xffff;
  }
  if (ak === Ea.A32 || ak === Ea.A32L) return (off32(c, a, i.base, i.index, i.scale) + (i.ripRel ? c.bip + i.end : 0)) | 0;
  const lo = ea64(c, i, false);
  return EA_HI * TWO32 + lo;
}

/** LEA with a 64-bit address size: the exact offset as (low, high in c.hi). */
export function eaOffset64(c: EmuCpu, i: Insn): number {
  const lo = ea64(c, i, false);
  c.hi = EA_HI;
  return lo | 0;
}

/** Reads E at i.osz (8: low half returned, high half in c.hi); remembers the address for wrE. */
export function rdE(c: EmuCpu, i: Insn): number {
  if (i.mod === 3) return getReg(c, i.osz, i.rm);
  const a = ea(c, i);
  c.lastEa = a;
  // Read-modify-write operands fault as writes before anything changes.
  return i.mw ? rdw(c, i.osz, a) : rd(c, i.osz, a);
}

/** Writes E after rdE (same address). */
export function wrE(c: EmuCpu, i: Insn, v: number, vhi = 0): void {
  if (i.mod === 3) setReg(c, i.osz, i.rm, v, vhi);
  else wr(c, i.osz, c.lastEa, v, vhi);
}

/** Writes E without a prior read. */
export function stE(c: EmuCpu, i: Insn, v: number, vhi = 0): void {
  if (i.mod === 3) setReg(c, i.osz, i.rm, v, vhi);
  else wr(c, i.osz, ea(c, i), v, vhi);
}

/** Reads E at an explicit size (MOVZX/MOVSX sources, segment moves). */
export function rdEs(c: EmuCpu, i: Insn, size: number): number {
  if (i.mod === 3) return getReg(c, size, i.rm);
  const a = ea(c, i);
  c.lastEa = a;
  return rd(c, size, a);
}

/** Writes E at an explicit size. */
export function stEs(c: EmuCpu, i: Insn, size: number, v: number, vhi = 0): void {
  if (i.mod === 3) setReg(c, size, i.rm, v, vhi);
  else wr(c, size, ea(c, i), v, vhi);
}

/** Sign-extends a `size`-byte value to int32. */
export function sext(size: number, v: number): number {
  return size === 1 ? (v << 24) >> 24 : size === 2 ? (v << 16) >> 16 : v | 0;
}

/** Masks a value to `size` bytes (4/8 keep int32 form). */
export function trunc(size: number, v: number): number {
  return size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v | 0;
}

/** An unsigned 64-bit value from int32 halves (the rare BigInt paths: 64-bit DIV, RCL/RCR, SHLD/SHRD). */
export function big64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
