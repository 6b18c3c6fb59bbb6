/**
 * Shared machinery of the x87 instruction semantics: the memory/context interface the CPU
 * provides, operand loading from the register stack, the x87 NaN rules, stack faults, and the
 * commit of a result with its exception flags (masked responses, ES/B, C1).
 */
import {
  CLS_NAN, CLS_UNSUPPORTED, FLAG_C1, FLAG_DE, FLAG_IE, FLAG_ZE, Rounded, Unpacked, unpackF80,
} from './softfloat.js';
import { SW_B, SW_C1, SW_ES, SW_SF, type X87State } from './fpu-state.js';

/** Guest memory as the x87 instructions see it (linear addresses; accessors may throw guest faults). */
export interface X87Bus {
  rd8(a: number): number;
  rd16(a: number): number;
  rd32(a: number): number;
  wr8(a: number, v: number): void;
  wr16(a: number, v: number): void;
  wr32(a: number, v: number): void;
  /** a + k with the wrap-around of the current address size/mode. */
  add(a: number, k: number): number;
  /** Faults (throws) unless all n bytes at a are writable, so multi-byte stores are all-or-nothing. */
  probeWrite(a: number, n: number): void;
}

/** Per-instruction inputs and outputs beyond the FPU state. */
export class X87Ctx {
  /** Operand size is 16 bits (FSTENV/FLDENV/FSAVE/FRSTOR 14/94-byte layouts). */
  op16 = false;
  /** Real or virtual-8086 mode (real-mode environment layout, linear pointers). */
  real = false;
  /** The instruction's address (offset split lo/hi) and CS selector, for FIP/FCS. */
  ipLo = 0;
  ipHi = 0;
  cs = 0;
  /** The memory operand's offset and segment selector, for FDP/FDS. */
  dpLo = 0;
  dpHi = 0;
  ds = 0;
  /** RFLAGS in (FCMOVcc) and out (FCOMI and friends). */
  eflags = 0;
  /** AX out (FNSTSW AX). */
  ax = 0;
}

/** Outcome bits of an executed instruction. */
export const X87_UD = 1;
export const X87_EFLAGS = 2;
export const X87_AX = 4;

// Scratch operands and result (the x87 is single-threaded per state; nothing is kept across calls).
export const OA = new Unpacked();
export const OB = new Unpacked();
export const RES = new Rounded();

/** The precision (significand bits) selected by FCW.PC: 24, 53, or 64 (PC = 01 behaves as 64). */
export function pcBits(cw: number): number {
  const pc = (cw >>> 8) & 3;
  return pc === 0 ? 24 : pc === 2 ? 53 : 64;
}

/** Unpacks ST(i) into u (the caller has checked it is not empty). */
export function loadSt(s: X87State, i: number, u: Unpacked): Unpacked {
  const p = (s.top + i) & 7;
  return unpackF80(u, s.se[p]!, s.sigHi[p]!, s.sigLo[p]!);
}

export function stEmpty(s: X87State, i: number): boolean {
  return ((s.empty >>> ((s.top + i) & 7)) & 1) !== 0;
}

/** Writes a rounded 80-bit result into ST(i) (tag becomes non-empty). */
export function writeSt(s: X87State, i: number, r: Rounded): void {
  s.setReg((s.top + i) & 7, (r.sign << 15) | r.bexp, r.hi, r.lo);
}

export function writeStRaw(s: X87State, i: number, se: number, hi: number, lo: number): void {
  s.setReg((s.top + i) & 7, se, hi, lo);
}

export function writeIndefinite(s: X87State, i: number): void {
  writeStRaw(s, i, 0xffff, 0xc0000000, 0);
}

export function pop(s: X87State): void {
  s.empty |= 1 << s.top;
  s.top = (s.top + 1) & 7;
}

/** Decrements TOP and marks the new ST(0) valid (its contents are written by the caller). */
export function push(s: X87State): void {
  s.top = (s.top - 1) & 7;
}

/** ORs exception flags (IE..PE, SF) into the status word and sets ES/B when one is unmasked. */
export function flagExceptions(s: X87State, f: number): void {
  s.sw |= f & 0x7f;
  if ((f & ~s.cw & 0x3f) !== 0) s.sw |= SW_ES | SW_B;
}

/**
 * Stack underflow (an empty source register): IE+SF, C1 = 0. Returns true when the exception
 * is masked (the caller then delivers the indefinite result).
 */
export function stackUnderflow(s: X87State): boolean {
  s.sw &= ~SW_C1;
  flagExceptions(s, FLAG_IE | SW_SF);
  return (s.cw & FLAG_IE) !== 0;
}

/** Stack overflow (a push onto a non-empty register): IE+SF, C1 = 1. True when masked. */
export function stackOverflow(s: X87State): boolean {
  s.sw |= SW_C1;
  flagExceptions(s, FLAG_IE | SW_SF);
  return (s.cw & FLAG_IE) !== 0;
}

/**
 * The x87 NaN rule for a two-operand operation where at least one operand is a NaN: the NaN
 * with the larger significand wins (a QNaN always beats an SNaN, whose quiet bit is clear),
 * positive on a tie; the winner is made quiet. Writes RES, returns IE if either was signalling.
 */
export function nanResult2(a: Unpacked, b: Unpacked): number {
  let w: Unpacked;
  if (a.cls !== CLS_NAN) w = b;
  else if (b.cls !== CLS_NAN) w = a;
  else if (a.hi !== b.hi) w = a.hi > b.hi ? a : b;
  else if (a.lo !== b.lo) w = a.lo > b.lo ? a : b;
  else w = a.sign === 0 ? a : b;
  RES.sign = w.sign;
  RES.bexp = 0x7fff;
  RES.hi = (w.hi | 0x40000000) >>> 0;
  RES.lo = w.lo;
  return a.snan !== 0 || b.snan !== 0 ? FLAG_IE : 0;
}

/** One NaN operand made quiet into RES; IE if it was signalling. */
export function nanResult1(a: Unpacked): number {
  RES.sign = a.sign;
  RES.bexp = 0x7fff;
  RES.hi = (a.hi | 0x40000000) >>> 0;
  RES.lo = a.lo;
  return a.snan !== 0 ? FLAG_IE : 0;
}

export function indefinite(): void {
  RES.sign = 1;
  RES.bexp = 0x7fff;
  RES.hi = 0xc0000000;
  RES.lo = 0;
}

/**
 * Operand screening common to the arithmetic instructions: an unsupported encoding is invalid
 * (indefinite), a NaN propagates. Returns -1 when both operands are numbers, else the flags
 * with RES set.
 */
export function screen2(a: Unpacked, b: Unpacked): number {
  if (a.cls === CLS_UNSUPPORTED || b.cls === CLS_UNSUPPORTED) {
    indefinite();
    return FLAG_IE;
  }
  if (a.cls === CLS_NAN || b.cls === CLS_NAN) return nanResult2(a, b);
  return -1;
}

export function screen1(a: Unpacked): number {
  if (a.cls === CLS_UNSUPPORTED) {
    indefinite();
    return FLAG_IE;
  }
  if (a.cls === CLS_NAN) return nanResult1(a);
  return -1;
}

/**
 * Merges the denormal-operand condition with an operation's flags: an invalid operation or a
 * division by zero outranks it; otherwise DE is added (and, unmasked, stops the operation:
 * the caller sees it through `suppressed`).
 */
export function withDenormal(f: number, denormal: number): number {
  if ((f & (FLAG_IE | FLAG_ZE)) !== 0 || denormal === 0) return f;
  return f | FLAG_DE;
}

/** True when an unmasked invalid, denormal or zero-divide condition forbids writing a result. */
export function suppressed(s: X87State, f: number): boolean {
  return (f & ~s.cw & (FLAG_IE | FLAG_DE | FLAG_ZE)) !== 0;
}

/**
 * Commits an arithmetic result: with an unmasked pre-computation exception nothing is written
 * (TOP unchanged); otherwise RES goes to ST(dst), then ST(0) is popped if asked. C1 reports
 * rounding up; the flags are recorded. Returns whether the result was written.
 */
export function commit(s: X87State, f: number, dst: number, doPop: boolean): boolean {
  s.sw &= ~SW_C1;
  if (suppressed(s, f)) {
    // A pre-computation exception: nothing after it (overflow, precision...) is reported.
    flagExceptions(s, f & (FLAG_IE | FLAG_DE | FLAG_ZE));
    return false;
  }
  writeSt(s, dst, RES);
  if ((f & FLAG_C1) !== 0) s.sw |= SW_C1;
  flagExceptions(s, f & 0x3f);
  if (doPop) pop(s);
  return true;
}

