/**
 * Lazy arithmetic flags: the last flag-producing operation is recorded (kind, size, operands,
 * result) and CF/PF/AF/ZF/SF/OF are computed only when something reads them. The flag kinds
 * and RFLAGS bits are in flags.ts; this module evaluates, records and writes them.
 */
import type { EmuCpu } from './cpu.js';
import { Bit, Lazy } from './flags.js';

// Module-local (not imported) so that V8 treats them as constants in the hot flag code.
/** PF for each low byte value. */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i;
  b ^= b >> 4;
  b ^= b >> 2;
  b ^= b >> 1;
  PARITY[i] = b & 1 ? 0 : Bit.PF;
}

/** Sign bit of an operand of `size` bytes (1, 2, 4). */
export function signBit(size: number): number {
  return size === 1 ? 0x80 : size === 2 ? 0x8000 : 0x8000_0000 | 0;
}

export function setFlagsRaw(c: EmuCpu, v: number): void {
  c.flags = (v & ~Bit.Arith) | 2;
  c.dfSlot[0] = (v >> 10) & 1;
  c.fop = Lazy.Eager;
  c.fres = v & Bit.Arith;
}

/** CF PF AF ZF SF OF computed from the last operation. */
export function arith(c: EmuCpu): number {
  const op = c.fop;
  if (op === Lazy.Eager) return c.fres;
  if (op === Lazy.Logic) return szp(c, c.fsz, c.fres, c.fresH);
  if (c.fsz === 4) {
    // 32-bit fast path.
    const r = c.fres;
    const d = c.fdst;
    const s = c.fsrc;
    let f = PARITY[r & 0xff]! | (r === 0 ? Bit.ZF : 0) | (r < 0 ? Bit.SF : 0) | ((r ^ d ^ s) & Bit.AF);
    switch (op) {
      case Lazy.Add:
        return f | ((r >>> 0) < (d >>> 0) ? Bit.CF : 0) | ((d ^ r) & (s ^ r) & 0x80000000 ? Bit.OF : 0);
      case Lazy.Adc:
        return f | ((r >>> 0) <= (d >>> 0) ? Bit.CF : 0) | ((d ^ r) & (s ^ r) & 0x80000000 ? Bit.OF : 0);
      case Lazy.Sub:
        return f | ((d >>> 0) < (s >>> 0) ? Bit.CF : 0) | ((d ^ s) & (d ^ r) & 0x80000000 ? Bit.OF : 0);
      case Lazy.Sbb:
        return f | ((d >>> 0) <= (s >>> 0) ? Bit.CF : 0) | ((d ^ s) & (d ^ r) & 0x80000000 ? Bit.OF : 0);
      case Lazy.Inc:
        f |= c.fcin;
        return f | (r === (0x80000000 | 0) ? Bit.OF : 0);
      default:
        f |= c.fcin;
        return f | (r === 0x7fffffff ? Bit.OF : 0);
    }
  }
  return getCF(c) | szp(c, c.fsz, c.fres, c.fresH) | getAF(c) | getOF(c);
}

export function getFlags(c: EmuCpu): number {
  return (c.flags & ~Bit.Arith) | arith(c);
}

/** Writes RFLAGS bits in `mask` (arith bits included), keeping the others. */
export function putFlags(c: EmuCpu, v: number, mask: number): void {
  const cur = getFlags(c);
  const nv = ((cur & ~mask) | (v & mask)) & (Bit.Writable | Bit.VM) | 2;
  const vmChanged = ((nv ^ c.flags) & Bit.VM) !== 0;
  if ((nv & (Bit.IF | Bit.TF | Bit.RF)) !== 0) c.pollAt = 0;
  c.flags = nv & ~Bit.Arith;
  c.dfSlot[0] = (nv >> 10) & 1;
  c.fop = Lazy.Eager;
  c.fres = nv & Bit.Arith;
  if (vmChanged) c.updateMode();
}

export function setEager(c: EmuCpu, arith: number): void {
  c.fop = Lazy.Eager;
  c.fres = arith;
}

export function getCF(c: EmuCpu): number {
  switch (c.fop) {
    case Lazy.Eager:
      return c.fres & Bit.CF;
    case Lazy.Add:
      return c.fsz === 8 ? (ltU64(c.fresH, c.fres, c.fdstH, c.fdst) ? 1 : 0) : (c.fres >>> 0) < (c.fdst >>> 0) ? 1 : 0;
    case Lazy.Adc:
      return c.fsz === 8 ? (leU64(c.fresH, c.fres, c.fdstH, c.fdst) ? 1 : 0) : (c.fres >>> 0) <= (c.fdst >>> 0) ? 1 : 0;
    case Lazy.Sub:
      return c.fsz === 8 ? (ltU64(c.fdstH, c.fdst, c.fsrcH, c.fsrc) ? 1 : 0) : (c.fdst >>> 0) < (c.fsrc >>> 0) ? 1 : 0;
    case Lazy.Sbb:
      return c.fsz === 8 ? (leU64(c.fdstH, c.fdst, c.fsrcH, c.fsrc) ? 1 : 0) : (c.fdst >>> 0) <= (c.fsrc >>> 0) ? 1 : 0;
    case Lazy.Logic:
      return 0;
    default:
      return c.fcin;
  }
}

export function getZF(c: EmuCpu): number {
  if (c.fop === Lazy.Eager) return c.fres & Bit.ZF;
  if (c.fsz === 8) return (c.fres | c.fresH) === 0 ? Bit.ZF : 0;
  return c.fres === 0 ? Bit.ZF : 0;
}

export function getSF(c: EmuCpu): number {
  if (c.fop === Lazy.Eager) return c.fres & Bit.SF;
  if (c.fsz === 8) return c.fresH < 0 ? Bit.SF : 0;
  return (c.fres & signBit(c.fsz)) !== 0 ? Bit.SF : 0;
}

export function getPF(c: EmuCpu): number {
  if (c.fop === Lazy.Eager) return c.fres & Bit.PF;
  return PARITY[c.fres & 0xff]!;
}

export function getAF(c: EmuCpu): number {
  switch (c.fop) {
    case Lazy.Eager:
      return c.fres & Bit.AF;
    case Lazy.Logic:
      return 0;
    default:
      return (c.fres ^ c.fdst ^ c.fsrc) & Bit.AF;
  }
}

export function getOF(c: EmuCpu): number {
  const op = c.fop;
  if (op === Lazy.Eager) return c.fres & Bit.OF;
  if (op === Lazy.Logic) return 0;
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
  if (op === Lazy.Add || op === Lazy.Adc || op === Lazy.Inc) return ((d ^ r) & (s ^ r) & sb) !== 0 ? Bit.OF : 0;
  return ((d ^ s) & (d ^ r) & sb) !== 0 ? Bit.OF : 0;
}

/**
 * Condition `cc` after a 32-bit SUB/CMP d - s = r, from the operands: what cond() computes from
 * the recorded flags, for the block compiler, which has the operands in locals (checked against
 * cond() in lazy-flags.test.ts).
 */
export function condSub32(cc: number, d: number, s: number, r: number): boolean {
  let t: boolean;
  switch (cc >> 1) {
    case 0:
      t = ((d ^ s) & (d ^ r)) < 0;
      break;
    case 1:
      t = d >>> 0 < s >>> 0;
      break;
    case 2:
      t = r === 0;
      break;
    case 3:
      t = d >>> 0 <= s >>> 0;
      break;
    case 4:
      t = r < 0;
      break;
    case 5:
      t = PARITY[r & 0xff] !== 0;
      break;
    case 6:
      t = d < s;
      break;
    default:
      t = d <= s;
  }
  return (cc & 1) !== 0 ? !t : t;
}

/** Condition `cc` after a 32-bit logic operation with result r (CF = OF = 0). */
export function condLogic32(cc: number, r: number): boolean {
  let t: boolean;
  switch (cc >> 1) {
    case 0:
    case 1:
      t = false;
      break;
    case 2:
    case 3:
      t = r === 0;
      break;
    case 4:
    case 6:
      t = r < 0;
      break;
    case 5:
      t = PARITY[r & 0xff] !== 0;
      break;
    default:
      t = r <= 0;
  }
  return (cc & 1) !== 0 ? !t : t;
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

/** ZF/SF/PF bits of a result of `size` bytes (hi used for 8). */
export function szp(c: EmuCpu, size: number, r: number, rhi = 0): number {
  let f = PARITY[r & 0xff]!;
  if (size === 8) {
    if ((r | rhi) === 0) f |= Bit.ZF;
    if (rhi < 0) f |= Bit.SF;
  } else {
    if (r === 0) f |= Bit.ZF;
    if ((r & signBit(size)) !== 0) f |= Bit.SF;
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
