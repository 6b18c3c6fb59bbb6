/**
 * ALU semantics, written once for every execution tier: each kernel computes its result from
 * explicit inputs and, when `f` is true, records the lazy flags (lazy-flags.ts). Interpreter
 * handlers pass operand values and f = true; the block compiler calls the same kernels with
 * constant sizes and f = false where a later instruction overwrites the flags, so V8 inlines
 * them and folds the unused paths away. Inputs the kernel would otherwise read from the cpu
 * (the carry-in of ADC/SBB, the CF that INC/DEC preserve) are arguments, so a caller that
 * knows them (CF = 0 after a logic operation) passes a constant.
 *
 * Sizes 1/2/4 take and return int32 values (8/16-bit results masked); the 64-bit kernels take
 * (low, high) halves, return the low half and leave the high half in c.hi.
 */
import type { EmuCpu } from './cpu.js';
import { Lazy } from './flags.js';
import { getCF } from './lazy-flags.js';

/** ALU operation numbers: opcode bits 5:3 of 00-3F and ModRM.reg of group 1 (80-83). */
export const enum Alu {
  Add = 0,
  Or = 1,
  Adc = 2,
  Sbb = 3,
  And = 4,
  Sub = 5,
  Xor = 6,
  Cmp = 7,
}

// The kernels are flat (no helper calls): V8 inlines a call inside an inlined call less readily,
// and the compiled blocks call many kernels (measured: a nested mask helper cost ~25% on a tight
// ALU loop).

export function aluAdd(c: EmuCpu, size: number, d: number, s: number, f: boolean): number {
  const r = size === 4 ? (d + s) | 0 : size === 1 ? (d + s) & 0xff : (d + s) & 0xffff;
  if (f) {
    c.fop = Lazy.Add;
    c.fsz = size;
    c.fdst = d;
    c.fsrc = s;
    c.fres = r;
  }
  return r;
}

/** ADC with carry-in `cin` (0 or 1). */
export function aluAdc(c: EmuCpu, size: number, d: number, s: number, cin: number, f: boolean): number {
  const v = d + s + cin;
  const r = size === 4 ? v | 0 : size === 1 ? v & 0xff : v & 0xffff;
  if (f) {
    c.fop = cin !== 0 ? Lazy.Adc : Lazy.Add;
    c.fsz = size;
    c.fdst = d;
    c.fsrc = s;
    c.fres = r;
  }
  return r;
}

/** SUB, CMP (result discarded) and NEG (d = 0). */
export function aluSub(c: EmuCpu, size: number, d: number, s: number, f: boolean): number {
  const r = size === 4 ? (d - s) | 0 : size === 1 ? (d - s) & 0xff : (d - s) & 0xffff;
  if (f) {
    c.fop = Lazy.Sub;
    c.fsz = size;
    c.fdst = d;
    c.fsrc = s;
    c.fres = r;
  }
  return r;
}

/** SBB with borrow-in `cin` (0 or 1). */
export function aluSbb(c: EmuCpu, size: number, d: number, s: number, cin: number, f: boolean): number {
  const v = d - s - cin;
  const r = size === 4 ? v | 0 : size === 1 ? v & 0xff : v & 0xffff;
  if (f) {
    c.fop = cin !== 0 ? Lazy.Sbb : Lazy.Sub;
    c.fsz = size;
    c.fdst = d;
    c.fsrc = s;
    c.fres = r;
  }
  return r;
}

/** Records the flags of a logic result (AND/OR/XOR/TEST: CF = OF = 0). */
export function logicFlags(c: EmuCpu, size: number, r: number, f: boolean): number {
  if (f) {
    c.fop = Lazy.Logic;
    c.fsz = size;
    c.fres = r;
  }
  return r;
}

export function aluAnd(c: EmuCpu, size: number, d: number, s: number, f: boolean): number {
  const r = d & s;
  if (f) {
    c.fop = Lazy.Logic;
    c.fsz = size;
    c.fres = r;
  }
  return r;
}
export function aluOr(c: EmuCpu, size: number, d: number, s: number, f: boolean): number {
  const r = d | s;
  if (f) {
    c.fop = Lazy.Logic;
    c.fsz = size;
    c.fres = r;
  }
  return r;
}
export function aluXor(c: EmuCpu, size: number, d: number, s: number, f: boolean): number {
  const r = d ^ s;
  if (f) {
    c.fop = Lazy.Logic;
    c.fsz = size;
    c.fres = r;
  }
  return r;
}

/** NOT of a 1/2/4-byte value (no flags). */
export function notv(size: number, v: number): number {
  return size === 4 ? ~v : size === 1 ? ~v & 0xff : ~v & 0xffff;
}

/** ALU operation `op` (ALU_*) on `size` 1/2/4 operands with flags; returns the masked result. */
export function alu(c: EmuCpu, op: number, size: number, d: number, s: number): number {
  switch (op) {
    case Alu.Add:
      return aluAdd(c, size, d, s, true);
    case Alu.Or:
      return aluOr(c, size, d, s, true);
    case Alu.Adc:
      return aluAdc(c, size, d, s, getCF(c), true);
    case Alu.Sbb:
      return aluSbb(c, size, d, s, getCF(c), true);
    case Alu.And:
      return aluAnd(c, size, d, s, true);
    case Alu.Xor:
      return aluXor(c, size, d, s, true);
    default:
      return aluSub(c, size, d, s, true);
  }
}

/** INC (dec false) / DEC of a 1/2/4-byte value; `cin` is the CF they preserve. */
export function incdec(c: EmuCpu, size: number, d: number, dec: boolean, cin: number, f: boolean): number {
  const v = dec ? d - 1 : d + 1;
  const r = size === 4 ? v | 0 : size === 1 ? v & 0xff : v & 0xffff;
  if (f) {
    c.fcin = cin;
    c.fop = dec ? Lazy.Dec : Lazy.Inc;
    c.fsz = size;
    c.fdst = d;
    c.fsrc = 1;
    c.fres = r;
  }
  return r;
}

// ---------------------------------------------------------------- 64-bit (int32 halves)


export function aluAdd64(c: EmuCpu, dl: number, dh: number, sl: number, sh: number, cin: number, f: boolean): number {
  const lo = (dl >>> 0) + (sl >>> 0) + cin;
  const rl = lo | 0;
  const rh = (dh + sh + (lo > 0xffffffff ? 1 : 0)) | 0;
  if (f) {
    c.fop = cin !== 0 ? Lazy.Adc : Lazy.Add;
    c.fsz = 8;
    c.fdst = dl;
    c.fdstH = dh;
    c.fsrc = sl;
    c.fsrcH = sh;
    c.fres = rl;
    c.fresH = rh;
  }
  c.hi = rh;
  return rl;
}

/** SUB/CMP/NEG (cin 0) and SBB (cin = borrow-in). */
export function aluSub64(c: EmuCpu, dl: number, dh: number, sl: number, sh: number, cin: number, f: boolean): number {
  const lo = (dl >>> 0) - (sl >>> 0) - cin;
  const rl = lo | 0;
  const rh = (dh - sh - (lo < 0 ? 1 : 0)) | 0;
  if (f) {
    c.fop = cin !== 0 ? Lazy.Sbb : Lazy.Sub;
    c.fsz = 8;
    c.fdst = dl;
    c.fdstH = dh;
    c.fsrc = sl;
    c.fsrcH = sh;
    c.fres = rl;
    c.fresH = rh;
  }
  c.hi = rh;
  return rl;
}

/** AND (op Alu.And), OR, XOR on 64-bit halves. */
export function aluLogic64(c: EmuCpu, op: number, dl: number, dh: number, sl: number, sh: number, f: boolean): number {
  const rl = op === Alu.And ? dl & sl : op === Alu.Or ? dl | sl : dl ^ sl;
  const rh = op === Alu.And ? dh & sh : op === Alu.Or ? dh | sh : dh ^ sh;
  if (f) {
    c.fop = Lazy.Logic;
    c.fsz = 8;
    c.fdst = dl;
    c.fdstH = dh;
    c.fsrc = sl;
    c.fsrcH = sh;
    c.fres = rl;
    c.fresH = rh;
  }
  c.hi = rh;
  return rl;
}

/** 64-bit ALU operation `op` with flags; returns the low half, high half in c.hi. */
export function alu64(c: EmuCpu, op: number, dl: number, dh: number, sl: number, sh: number): number {
  switch (op) {
    case Alu.Add:
      return aluAdd64(c, dl, dh, sl, sh, 0, true);
    case Alu.Adc:
      return aluAdd64(c, dl, dh, sl, sh, getCF(c), true);
    case Alu.Sbb:
      return aluSub64(c, dl, dh, sl, sh, getCF(c), true);
    case Alu.Sub:
    case Alu.Cmp:
      return aluSub64(c, dl, dh, sl, sh, 0, true);
    default:
      return aluLogic64(c, op, dl, dh, sl, sh, true);
  }
}

/** 64-bit INC/DEC; `cin` is the CF they preserve. Returns the low half, high half in c.hi. */
export function incdec64(c: EmuCpu, dl: number, dh: number, dec: boolean, cin: number, f: boolean): number {
  let rl: number;
  let rh: number;
  if (dec) {
    rl = (dl - 1) | 0;
    rh = dl === 0 ? (dh - 1) | 0 : dh;
  } else {
    rl = (dl + 1) | 0;
    rh = rl === 0 ? (dh + 1) | 0 : dh;
  }
  if (f) {
    c.fcin = cin;
    c.fop = dec ? Lazy.Dec : Lazy.Inc;
    c.fsz = 8;
    c.fdst = dl;
    c.fdstH = dh;
    c.fsrc = 1;
    c.fsrcH = 0;
    c.fres = rl;
    c.fresH = rh;
  }
  c.hi = rh;
  return rl;
}
