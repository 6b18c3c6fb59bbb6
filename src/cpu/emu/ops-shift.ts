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

/** 32-bit register shift/rotate by a nonzero immediate (op as group 2; RCL/RCR excluded; imm = count 1-31). */
export function shift32ri(c: EmuCpu, i: Insn): void {
  c.rl[i.rm] = shift32(c, i.op, c.rl[i.rm]!, i.imm, true);
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
      setEager(c, cf | (of ? Bit.OF : 0) | szp64(c, r));
      wrBig(c, i, r);
      return;
    case 5:
      cf = Number((v >> BigInt(cnt - 1)) & 1n);
      r = v >> BigInt(cnt);
      of = top(v);
      setEager(c, cf | (of ? Bit.OF : 0) | szp64(c, r));
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
  setEager(c, (fl & ~(Bit.CF | Bit.OF) & 0x8d5) | cf | (of ? Bit.OF : 0));
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
  setEager(c, cf | (of ? Bit.OF : 0) | szp(c, size, size === 8 ? lo : trunc(size, lo), hi));
  wrE(c, i, size === 8 ? lo : trunc(size, lo), hi);
}
