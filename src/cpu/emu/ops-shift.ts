/**
 * Group-2 shifts and rotates at every size (ROL ROR RCL RCR SHL SHR SAL SAR, count from an
 * immediate or CL) and SHLD/SHRD. 32-bit SHL/SHR/SAR/ROL/ROR with counts 1-31 are the kernels
 * of sem-shift.ts.
 */
import type { EmuCpu } from './cpu.js';
import type { Insn } from './insn.js';
import { shift32, Sh } from './sem-shift.js';
import { rdE, sext, trunc, wrE, big64 } from './operands.js';
import { Bit } from './flags.js';
import { signBit, getCF, getFlags, setEager, szp } from './lazy-flags.js';
import { getReg } from './gpr.js';
import { Gp } from './x86-defs.js';

/** 32-bit register shift/rotate by a nonzero immediate (op as group 2; RCL/RCR excluded; imm = count 1-31). */
export function shift32ri(c: EmuCpu, i: Insn): void {
  c.gpr[i.rm << 1] = shift32(c, i.op, c.gpr[i.rm << 1]!, i.imm, true);
  c.gpr[(i.rm << 1) | 1] = 0;
}

/**
 * Group 2: op = ROL ROR RCL RCR SHL SHR SAL SAR; count from imm (i.imm2 = 0) or CL (i.imm2 = 1).
 * Flags follow the SDM; OF is computed with the 1-bit formula for every count (undefined otherwise).
 */
export function shiftE(c: EmuCpu, i: Insn): void {
  const size = i.osz;
  const bits = size * 8;
  const cnt = (i.imm2 !== 0 ? c.gpr[Gp.CxLo]! : i.imm) & (size === 8 ? 63 : 31);
  const v = rdE(c, i);
  if (size === 8) return shift64(c, i, v, c.hi, cnt);
  if (cnt === 0) {
    // A 32-bit register destination is still written (upper half zeroed).
    if (size === 4 && i.mod === 3) c.gpr[(i.rm << 1) | 1] = 0;
    return;
  }
  const op = i.op;
  if (size === 4 && op !== Sh.Rcl && op !== Sh.Rcr) {
    wrE(c, i, shift32(c, op, v, cnt, true));
    return;
  }
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
      setEager(c, (fl & ~(Bit.CF | Bit.OF) & 0x8d5) | cf | (of ? Bit.OF : 0));
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
      setEager(c, (fl & ~(Bit.CF | Bit.OF) & 0x8d5) | cf | (of ? Bit.OF : 0));
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
      setEager(c, (fl & ~(Bit.CF | Bit.OF) & 0x8d5) | carry | (of ? Bit.OF : 0));
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
      setEager(c, cf | (of ? Bit.OF : 0) | szp(c, size, rr));
      wrE(c, i, rr);
      return;
    }
    case 5: {
      // SHR
      cf = cnt > bits ? 0 : (u >>> (cnt - 1)) & 1;
      r = cnt >= bits ? 0 : u >>> cnt;
      const rr = trunc(size, r);
      of = (u & sb) !== 0 ? 1 : 0;
      setEager(c, cf | (of ? Bit.OF : 0) | szp(c, size, rr));
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

/**
 * 64-bit shifts and rotates on the two int32 halves (count 1-63; no BigInt: Linux shifts 64-bit values
 * all the time). RCL/RCR, rare, go through BigInt (rcl64).
 */
function shift64(c: EmuCpu, i: Insn, lo: number, hi: number, cnt: number): void {
  if (cnt === 0) return;
  const op = i.op;
  if (op === 2 || op === 3) return rcl64(c, i, lo, hi, cnt);
  let rl: number;
  let rh: number;
  let cf: number;
  switch (op) {
    case 0:
    case 1: {
      let n = cnt;
      if (n >= 32) {
        const t = lo;
        lo = hi;
        hi = t;
        n -= 32;
      }
      if (n === 0) {
        rl = lo;
        rh = hi;
      } else if (op === 0) {
        rh = (hi << n) | (lo >>> (32 - n));
        rl = (lo << n) | (hi >>> (32 - n));
      } else {
        rl = (lo >>> n) | (hi << (32 - n));
        rh = (hi >>> n) | (lo << (32 - n));
      }
      // ROL: CF = bit 0, OF = CF ^ bit 63; ROR: CF = bit 63, OF = bit 63 ^ bit 62.
      cf = op === 0 ? rl & 1 : rh >>> 31;
      const of = op === 0 ? (rh >>> 31) ^ cf : cf ^ ((rh >>> 30) & 1);
      const fl = getFlags(c);
      setEager(c, (fl & ~(Bit.CF | Bit.OF) & 0x8d5) | cf | (of ? Bit.OF : 0));
      wrE(c, i, rl | 0, rh | 0);
      return;
    }
    case 4:
    case 6:
      if (cnt < 32) {
        cf = (hi >>> (32 - cnt)) & 1;
        rh = (hi << cnt) | (lo >>> (32 - cnt));
        rl = lo << cnt;
      } else {
        cf = cnt === 32 ? hi & 1 : (lo >>> (64 - cnt)) & 1;
        rh = cnt === 32 ? lo : lo << (cnt - 32);
        rl = 0;
      }
      setEager(c, cf | ((rh >>> 31) ^ cf ? Bit.OF : 0) | szp(c, 8, rl | 0, rh | 0));
      wrE(c, i, rl | 0, rh | 0);
      return;
    case 5:
    default: {
      // SHR (OF = the operand's top bit) and SAR (OF = 0).
      const sar = op !== 5;
      if (cnt < 32) {
        cf = (lo >>> (cnt - 1)) & 1;
        rl = (lo >>> cnt) | (hi << (32 - cnt));
        rh = sar ? hi >> cnt : hi >>> cnt;
      } else {
        cf = cnt === 32 ? lo >>> 31 : (hi >>> (cnt - 33)) & 1;
        rl = cnt === 32 ? hi : sar ? hi >> (cnt - 32) : hi >>> (cnt - 32);
        rh = sar ? hi >> 31 : 0;
      }
      setEager(c, cf | (!sar && hi < 0 ? Bit.OF : 0) | szp(c, 8, rl | 0, rh | 0));
      wrE(c, i, rl | 0, rh | 0);
      return;
    }
  }
}

/** RCL (op 2) / RCR (op 3) of a 64-bit operand through CF. */
function rcl64(c: EmuCpu, i: Insn, lo: number, hi: number, cnt: number): void {
  const op = i.op;
  let v = big64(lo, hi);
  const M = 0xffffffffffffffffn;
  const top = (x: bigint): number => Number((x >> 63n) & 1n);
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
  const r = v;
  const cf = Number(carry);
  const of = op === 2 ? top(r) ^ cf : top(r) ^ Number((r >> 62n) & 1n);
  const fl = getFlags(c);
  setEager(c, (fl & ~(Bit.CF | Bit.OF) & 0x8d5) | cf | (of ? Bit.OF : 0));
  wrBig(c, i, r);
}
function wrBig(c: EmuCpu, i: Insn, r: bigint): void {
  wrE(c, i, Number(r & 0xffffffffn) | 0, Number((r >> 32n) & 0xffffffffn) | 0);
}

/** SHLD (op 0) / SHRD (op 1): E, G, count (imm or CL when imm2 = 1). */
export function shldE(c: EmuCpu, i: Insn): void {
  const size = i.osz;
  const cnt = (i.imm2 !== 0 ? c.gpr[Gp.CxLo]! : i.imm) & (size === 8 ? 63 : 31);
  const dl = rdE(c, i);
  const dh = c.hi;
  if (cnt === 0) {
    if (size === 4 && i.mod === 3) c.gpr[(i.rm << 1) | 1] = 0;
    return;
  }
  const bits = BigInt(size * 8);
  const M = (1n << bits) - 1n;
  const d = size === 8 ? big64(dl, dh) : BigInt(size === 4 ? dl >>> 0 : dl);
  const s = size === 8 ? big64(c.gpr[i.reg << 1]!, c.gpr[(i.reg << 1) | 1]!) : BigInt(getReg(c, size, i.reg) >>> 0) & M;
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
  setEager(c, cf | (of ? Bit.OF : 0) | szp(c, size, size === 8 ? lo : trunc(size, lo), hi));
  wrE(c, i, size === 8 ? lo : trunc(size, lo), hi);
}
