/**
 * Lazy arithmetic flags: the last flag-producing operation is recorded (kind, size, operands,
 * result) and CF/PF/AF/ZF/SF/OF are computed only when something reads them. The flag kinds
 * and RFLAGS bits are in flags.ts; this module evaluates, records and writes them.
 */
import type { EmuCpu } from './cpu.js';
import { AF, ARITH_MASK, CF, FLAGS_WRITABLE, F_ADC, F_ADD, F_DEC, F_EAGER, F_INC, F_LOGIC, F_SBB, F_SUB, IF, OF, PARITY, PF, SF, TF, VM, ZF, signBit } from './flags.js';

export function setFlagsRaw(c: EmuCpu, v: number): void {
  c.flags = (v & ~ARITH_MASK) | 2;
  c.fop = F_EAGER;
  c.fres = v & ARITH_MASK;
}

/** CF PF AF ZF SF OF computed from the last operation. */
export function arith(c: EmuCpu): number {
  const op = c.fop;
  if (op === F_EAGER) return c.fres;
  if (op === F_LOGIC) return szp(c, c.fsz, c.fres, c.fresH);
  if (c.fsz === 4) {
    // 32-bit fast path.
    const r = c.fres;
    const d = c.fdst;
    const s = c.fsrc;
    let f = PARITY[r & 0xff]! | (r === 0 ? ZF : 0) | (r < 0 ? SF : 0) | ((r ^ d ^ s) & AF);
    switch (op) {
      case F_ADD:
        return f | ((r >>> 0) < (d >>> 0) ? CF : 0) | ((d ^ r) & (s ^ r) & 0x80000000 ? OF : 0);
      case F_ADC:
        return f | ((r >>> 0) <= (d >>> 0) ? CF : 0) | ((d ^ r) & (s ^ r) & 0x80000000 ? OF : 0);
      case F_SUB:
        return f | ((d >>> 0) < (s >>> 0) ? CF : 0) | ((d ^ s) & (d ^ r) & 0x80000000 ? OF : 0);
      case F_SBB:
        return f | ((d >>> 0) <= (s >>> 0) ? CF : 0) | ((d ^ s) & (d ^ r) & 0x80000000 ? OF : 0);
      case F_INC:
        f |= c.fcin;
        return f | (r === (0x80000000 | 0) ? OF : 0);
      default:
        f |= c.fcin;
        return f | (r === 0x7fffffff ? OF : 0);
    }
  }
  return getCF(c) | szp(c, c.fsz, c.fres, c.fresH) | getAF(c) | getOF(c);
}

export function getFlags(c: EmuCpu): number {
  return (c.flags & ~ARITH_MASK) | arith(c);
}

/** Writes RFLAGS bits in `mask` (arith bits included), keeping the others. */
export function putFlags(c: EmuCpu, v: number, mask: number): void {
  const cur = getFlags(c);
  const nv = ((cur & ~mask) | (v & mask)) & (FLAGS_WRITABLE | VM) | 2;
  const vmChanged = ((nv ^ c.flags) & VM) !== 0;
  if ((nv & (IF | TF)) !== 0) c.pollAt = 0;
  c.flags = nv & ~ARITH_MASK;
  c.fop = F_EAGER;
  c.fres = nv & ARITH_MASK;
  if (vmChanged) c.updateMode();
}

export function setEager(c: EmuCpu, arith: number): void {
  c.fop = F_EAGER;
  c.fres = arith;
}

export function getCF(c: EmuCpu): number {
  switch (c.fop) {
    case F_EAGER:
      return c.fres & CF;
    case F_ADD:
      return c.fsz === 8 ? (ltU64(c.fresH, c.fres, c.fdstH, c.fdst) ? 1 : 0) : (c.fres >>> 0) < (c.fdst >>> 0) ? 1 : 0;
    case F_ADC:
      return c.fsz === 8 ? (leU64(c.fresH, c.fres, c.fdstH, c.fdst) ? 1 : 0) : (c.fres >>> 0) <= (c.fdst >>> 0) ? 1 : 0;
    case F_SUB:
      return c.fsz === 8 ? (ltU64(c.fdstH, c.fdst, c.fsrcH, c.fsrc) ? 1 : 0) : (c.fdst >>> 0) < (c.fsrc >>> 0) ? 1 : 0;
    case F_SBB:
      return c.fsz === 8 ? (leU64(c.fdstH, c.fdst, c.fsrcH, c.fsrc) ? 1 : 0) : (c.fdst >>> 0) <= (c.fsrc >>> 0) ? 1 : 0;
    case F_LOGIC:
      return 0;
    default:
      return c.fcin;
  }
}

export function getZF(c: EmuCpu): number {
  if (c.fop === F_EAGER) return c.fres & ZF;
  if (c.fsz === 8) return (c.fres | c.fresH) === 0 ? ZF : 0;
  return c.fres === 0 ? ZF : 0;
}

export function getSF(c: EmuCpu): number {
  if (c.fop === F_EAGER) return c.fres & SF;
  if (c.fsz === 8) return c.fresH < 0 ? SF : 0;
  return (c.fres & signBit(c.fsz)) !== 0 ? SF : 0;
}

export function getPF(c: EmuCpu): number {
  if (c.fop === F_EAGER) return c.fres & PF;
  return PARITY[c.fres & 0xff]!;
}

export function getAF(c: EmuCpu): number {
  switch (c.fop) {
    case F_EAGER:
      return c.fres & AF;
    case F_LOGIC:
      return 0;
    default:
      return (c.fres ^ c.fdst ^ c.fsrc) & AF;
  }
}

export function getOF(c: EmuCpu): number {
  const op = c.fop;
  if (op === F_EAGER) return c.fres & OF;
  if (op === F_LOGIC) return 0;
  let d = c.fdst;
  let s = c.fsrc;
  let r = c.fres;
  let sb = signBit(c.fsz);
  if (c.fsz === 8) {
    d = c.fdstH;
    s = c.fsrcH;
    r = c.fresH;
    sb = 0x80000000 | 0;
  }
  if (op === F_ADD || op === F_ADC || op === F_INC) return ((d ^ r) & (s ^ r) & sb) !== 0 ? OF : 0;
  return ((d ^ s) & (d ^ r) & sb) !== 0 ? OF : 0;
}

/** Evaluates condition code `cc` (0-15, the Jcc/SETcc/CMOVcc encoding). */
export function cond(c: EmuCpu, cc: number): boolean {
  let r: boolean;
  switch (cc >> 1) {
    case 0:
      r = getOF(c) !== 0;
      break;
    case 1:
      r = getCF(c) !== 0;
      break;
    case 2:
      r = getZF(c) !== 0;
      break;
    case 3:
      r = getCF(c) !== 0 || getZF(c) !== 0;
      break;
    case 4:
      r = getSF(c) !== 0;
      break;
    case 5:
      r = getPF(c) !== 0;
      break;
    case 6:
      r = (getSF(c) !== 0) !== (getOF(c) !== 0);
      break;
    default:
      r = getZF(c) !== 0 || (getSF(c) !== 0) !== (getOF(c) !== 0);
  }
  return (cc & 1) !== 0 ? !r : r;
}

/** ALU op 0-7 (ADD OR ADC SBB AND SUB XOR CMP) on `size` 1/2/4 operands; returns the masked result. */
export function alu(c: EmuCpu, op: number, size: number, d: number, s: number): number {
  let r: number;
  switch (op) {
    case 0:
      r = d + s;
      c.fop = F_ADD;
      break;
    case 1:
      r = d | s;
      c.fop = F_LOGIC;
      break;
    case 2: {
      const cin = getCF(c);
      r = d + s + cin;
      c.fop = cin ? F_ADC : F_ADD;
      break;
    }
    case 3: {
      const cin = getCF(c);
      r = d - s - cin;
      c.fop = cin ? F_SBB : F_SUB;
      break;
    }
    case 4:
      r = d & s;
      c.fop = F_LOGIC;
      break;
    case 6:
      r = d ^ s;
      c.fop = F_LOGIC;
      break;
    default:
      r = d - s;
      c.fop = F_SUB;
  }
  r = size === 4 ? r | 0 : size === 1 ? r & 0xff : r & 0xffff;
  c.fsz = size;
  c.fdst = d;
  c.fsrc = s;
  c.fres = r;
  return r;
}

/** 64-bit ALU op; returns the low half, high half in c.hi. */
export function alu64(c: EmuCpu, op: number, dl: number, dh: number, sl: number, sh: number): number {
  let rl: number;
  let rh: number;
  switch (op) {
    case 0:
    case 2: {
      const cin = op === 2 ? getCF(c) : 0;
      const lo = (dl >>> 0) + (sl >>> 0) + cin;
      rl = lo | 0;
      rh = (dh + sh + (lo > 0xffffffff ? 1 : 0)) | 0;
      c.fop = cin ? F_ADC : F_ADD;
      break;
    }
    case 3:
    case 5:
    case 7: {
      const cin = op === 3 ? getCF(c) : 0;
      const lo = (dl >>> 0) - (sl >>> 0) - cin;
      rl = lo | 0;
      rh = (dh - sh - (lo < 0 ? 1 : 0)) | 0;
      c.fop = cin ? F_SBB : F_SUB;
      break;
    }
    case 1:
      rl = dl | sl;
      rh = dh | sh;
      c.fop = F_LOGIC;
      break;
    case 4:
      rl = dl & sl;
      rh = dh & sh;
      c.fop = F_LOGIC;
      break;
    default:
      rl = dl ^ sl;
      rh = dh ^ sh;
      c.fop = F_LOGIC;
  }
  c.fsz = 8;
  c.fdst = dl;
  c.fdstH = dh;
  c.fsrc = sl;
  c.fsrcH = sh;
  c.fres = rl;
  c.fresH = rh;
  c.hi = rh;
  return rl;
}

/** INC (dec=false) / DEC of a 1/2/4-byte value, preserving CF. */
export function incdec(c: EmuCpu, size: number, d: number, dec: boolean): number {
  const cin = getCF(c);
  let r = dec ? d - 1 : d + 1;
  r = size === 4 ? r | 0 : size === 1 ? r & 0xff : r & 0xffff;
  c.fcin = cin;
  c.fop = dec ? F_DEC : F_INC;
  c.fsz = size;
  c.fdst = d;
  c.fsrc = 1;
  c.fres = r;
  return r;
}

export function incdec64(c: EmuCpu, dl: number, dh: number, dec: boolean): number {
  const cin = getCF(c);
  let rl: number;
  let rh: number;
  if (dec) {
    rl = (dl - 1) | 0;
    rh = dl === 0 ? (dh - 1) | 0 : dh;
  } else {
    rl = (dl + 1) | 0;
    rh = rl === 0 ? (dh + 1) | 0 : dh;
  }
  c.fcin = cin;
  c.fop = dec ? F_DEC : F_INC;
  c.fsz = 8;
  c.fdst = dl;
  c.fdstH = dh;
  c.fsrc = 1;
  c.fsrcH = 0;
  c.fres = rl;
  c.fresH = rh;
  c.hi = rh;
  return rl;
}

/** ZF/SF/PF bits of a result of `size` bytes (hi used for 8). */
export function szp(c: EmuCpu, size: number, r: number, rhi = 0): number {
  let f = PARITY[r & 0xff]!;
  if (size === 8) {
    if ((r | rhi) === 0) f |= ZF;
    if (rhi < 0) f |= SF;
  } else {
    if (r === 0) f |= ZF;
    if ((r & signBit(size)) !== 0) f |= SF;
  }
  return f;
}

/** a <u b for 64-bit values as (hi, lo) int32 halves. */
function ltU64(ah: number, al: number, bh: number, bl: number): boolean {
  return ah !== bh ? ah >>> 0 < bh >>> 0 : al >>> 0 < bl >>> 0;
}
function leU64(ah: number, al: number, bh: number, bl: number): boolean {
  return ah !== bh ? ah >>> 0 < bh >>> 0 : al >>> 0 <= bl >>> 0;
}
