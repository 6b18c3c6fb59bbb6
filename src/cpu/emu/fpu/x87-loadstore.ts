/**
 * x87 data movement: FLD/FST/FSTP in every format, FILD/FIST/FISTP/FISTTP, FBLD/FBSTP (packed
 * BCD), the constants, FXCH, FFREE(P), FDECSTP/FINCSTP, FCMOVcc.
 */
import {
  CLS_INF, CLS_NAN, CLS_UNSUPPORTED, CLS_ZERO, F32, F64, F80, FLAG_C1, FLAG_DE, FLAG_IE, FLAG_OE, FLAG_UE,
  RC_ZERO, roundPack, unpackF32, unpackF64, unpackInt32, unpackInt64, type Unpacked,
} from './softfloat.js';
import { sfToInt, toIntHi, toIntLo } from './arith.js';
import { SW_C1, type X87State } from './fpu-state.js';
import {
  OA, RES, flagExceptions, loadSt, pop, push, stackOverflow, stackUnderflow, stEmpty, writeIndefinite, writeSt, writeStRaw,
  type X87Bus,
} from './x87-core.js';

/** Checks the push target ST(7); on overflow (masked) pushes the indefinite. True to proceed. */
function canPush(s: X87State): boolean {
  if (stEmpty(s, 7)) return true;
  if (stackOverflow(s)) {
    push(s);
    writeIndefinite(s, 0);
  }
  return false;
}

/**
 * Pushes an unpacked m32/m64 value (exact in extended): an SNaN is invalid (quieted; unmasked,
 * nothing is loaded), a denormal reports DE but is loaded even when DE is unmasked.
 */
function pushConverted(s: X87State, u: Unpacked): void {
  let f = 0;
  if (u.cls === CLS_NAN && u.snan !== 0) f = FLAG_IE;
  else if (u.denormal !== 0) f = FLAG_DE;
  s.sw &= ~SW_C1;
  if ((f & ~s.cw & FLAG_IE) !== 0) {
    flagExceptions(s, f);
    return;
  }
  push(s);
  writeUnpacked(s, 0, u);
  flagExceptions(s, f);
}

/** Writes an exactly representable unpacked value (any class but unsupported) into ST(i). */
export function writeUnpacked(s: X87State, i: number, u: Unpacked): void {
  const sg = u.sign << 15;
  switch (u.cls) {
    case CLS_ZERO:
      writeStRaw(s, i, sg, 0, 0);
      return;
    case CLS_INF:
      writeStRaw(s, i, sg | 0x7fff, 0x80000000, 0);
      return;
    case CLS_NAN:
      writeStRaw(s, i, sg | 0x7fff, (u.hi | 0xc0000000) >>> 0, u.lo);
      return;
    default:
      writeStRaw(s, i, sg | (u.exp + 16383), u.hi, u.lo);
  }
}

export function fldM32(s: X87State, bus: X87Bus, a: number): void {
  const v = bus.rd32(a);
  if (!canPush(s)) return;
  pushConverted(s, unpackF32(OA, v));
}

export function fldM64(s: X87State, bus: X87Bus, a: number): void {
  const lo = bus.rd32(a);
  const hi = bus.rd32(bus.add(a, 4));
  if (!canPush(s)) return;
  pushConverted(s, unpackF64(OA, lo, hi));
}

export function fldM80(s: X87State, bus: X87Bus, a: number): void {
  const lo = bus.rd32(a);
  const hi = bus.rd32(bus.add(a, 4));
  const se = bus.rd16(bus.add(a, 8));
  if (!canPush(s)) return;
  s.sw &= ~SW_C1;
  push(s);
  writeStRaw(s, 0, se, hi >>> 0, lo >>> 0);
}

/** FILD m16/m32/m64 (bits 16/32/64): exact. */
export function fildMem(s: X87State, bus: X87Bus, a: number, bits: number): void {
  let u: Unpacked;
  if (bits === 16) u = unpackInt32(OA, (bus.rd16(a) << 16) >> 16);
  else if (bits === 32) u = unpackInt32(OA, bus.rd32(a));
  else {
    const lo = bus.rd32(a);
    u = unpackInt64(OA, lo, bus.rd32(bus.add(a, 4)));
  }
  if (!canPush(s)) return;
  s.sw &= ~SW_C1;
  push(s);
  writeUnpacked(s, 0, u);
}

/** FLD ST(i). */
export function fldSt(s: X87State, i: number): void {
  if (stEmpty(s, i)) {
    // An empty source is an underflow even when the stack is also full.
    if (stackUnderflow(s)) {
      push(s);
      writeIndefinite(s, 0);
    }
    return;
  }
  if (!canPush(s)) return;
  const p = (s.top + i) & 7;
  const se = s.se[p]!;
  const hi = s.sigHi[p]!;
  const lo = s.sigLo[p]!;
  s.sw &= ~SW_C1;
  push(s);
  writeStRaw(s, 0, se, hi, lo);
}

// Constants to 96 bits: value = sig(hi:lo:x) * 2^(exp - 63), rounded by FCW.RC.
const CONSTS: readonly (readonly [number, number, number, number])[] = [
  [0, 0x80000000, 0, 0], // 1
  [1, 0xd49a784b, 0xcd1b8afe, 0x492bf6ff], // log2(10)
  [0, 0xb8aa3b29, 0x5c17f0bb, 0xbe87fed0], // log2(e)
  [1, 0xc90fdaa2, 0x2168c234, 0xc4c6628b], // pi
  [-2, 0x9a209a84, 0xfbcff798, 0x8f8959ac], // log10(2)
  [-1, 0xb17217f7, 0xd1cf79ab, 0xc9e3b398], // ln(2)
];

/** FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2 (k = 0..5) and FLDZ (k = 6). */
export function fldConst(s: X87State, k: number): void {
  if (!canPush(s)) return;
  s.sw &= ~SW_C1;
  push(s);
  const c = CONSTS[k];
  if (c === undefined) {
    writeStRaw(s, 0, 0, 0, 0);
    return;
  }
  // Rounded in RC from the value's next 32 bits (inexact but for 1); no precision exception.
  roundPack(RES, 0, c[0], c[1], c[2], k === 0 ? 0 : (c[3] | 1) >>> 0, 64, F80, s.cw | 0x3f);
  writeSt(s, 0, RES);
}

/** FST/FSTP ST(i); `raw` is the D9 D8+i FSTP1 alias, which ignores an empty ST(0). */
export function fstSt(s: X87State, i: number, doPop: boolean, raw = false): void {
  if (raw && stEmpty(s, 0)) {
    // FSTP1 from an empty ST(0): no fault, nothing written, just the pop.
    s.sw &= ~SW_C1;
    pop(s);
    return;
  }
  if (stEmpty(s, 0)) {
    if (stackUnderflow(s)) {
      writeIndefinite(s, i);
      if (doPop) pop(s);
    }
    return;
  }
  const p = s.top;
  s.sw &= ~SW_C1;
  writeStRaw(s, i, s.se[p]!, s.sigHi[p]!, s.sigLo[p]!);
  if (doPop) pop(s);
}

/** FST/FSTP m32 (bits 32) or m64 (bits 64): rounded to the format in RC (not PC). */
export function fstMem(s: X87State, bus: X87Bus, a: number, bits: number, doPop: boolean): void {
  const fmt = bits === 32 ? F32 : F64;
  let f = 0;
  if (stEmpty(s, 0)) {
    if (!stackUnderflow(s)) return;
    indefiniteIn(fmt);
    f = -1;
  } else {
    const u = loadSt(s, 0, OA);
    if (u.cls === CLS_UNSUPPORTED) {
      indefiniteIn(fmt);
      f = FLAG_IE;
    } else if (u.cls === CLS_NAN) {
      RES.sign = u.sign;
      RES.bexp = fmt.expMax;
      RES.hi = (u.hi | 0x40000000) >>> 0;
      RES.lo = bits === 64 ? (u.lo & 0xfffff800) >>> 0 : 0;
      if (bits === 32) RES.hi = (RES.hi & 0xffffff00) >>> 0;
      f = u.snan !== 0 ? FLAG_IE : 0;
    } else if (u.cls === CLS_ZERO || u.cls === CLS_INF) {
      RES.sign = u.sign;
      RES.bexp = u.cls === CLS_ZERO ? 0 : fmt.expMax;
      RES.hi = u.cls === CLS_ZERO ? 0 : 0x80000000;
      RES.lo = 0;
    } else {
      f = roundPack(RES, u.sign, u.exp, u.hi, u.lo, 0, fmt.prec, fmt, s.cw);
    }
    s.sw &= ~SW_C1;
    // Unmasked invalid, overflow or underflow: nothing is stored and nothing popped.
    const unmasked = f & ~s.cw & (FLAG_IE | FLAG_OE | FLAG_UE);
    if (unmasked !== 0) {
      flagExceptions(s, f & (FLAG_IE | FLAG_OE | FLAG_UE));
      return;
    }
  }
  if (bits === 32) {
    bus.wr32(a, ((RES.sign << 31) | (RES.bexp << 23) | ((RES.hi >>> 8) & 0x7fffff)) >>> 0);
  } else {
    bus.probeWrite(a, 8);
    bus.wr32(a, ((RES.lo >>> 11) | (RES.hi << 21)) >>> 0);
    bus.wr32(bus.add(a, 4), ((RES.sign << 31) | (RES.bexp << 20) | ((RES.hi >>> 11) & 0xfffff)) >>> 0);
  }
  if (f > 0) {
    if ((f & FLAG_C1) !== 0) s.sw |= SW_C1;
    flagExceptions(s, f & 0x3f);
  }
  if (doPop) pop(s);
}

function indefiniteIn(fmt: typeof F32): void {
  RES.sign = 1;
  RES.bexp = fmt.expMax;
  RES.hi = 0xc0000000;
  RES.lo = 0;
}

/** FSTP m80 (and FST m80 does not exist): the register bits unchanged. */
export function fstpM80(s: X87State, bus: X87Bus, a: number): void {
  let se = 0xffff;
  let hi = 0xc0000000;
  let lo = 0;
  if (stEmpty(s, 0)) {
    if (!stackUnderflow(s)) return;
  } else {
    const p = s.top;
    se = s.se[p]!;
    hi = s.sigHi[p]!;
    lo = s.sigLo[p]!;
    s.sw &= ~SW_C1;
  }
  bus.probeWrite(a, 10);
  bus.wr32(a, lo);
  bus.wr32(bus.add(a, 4), hi);
  bus.wr16(bus.add(a, 8), se);
  pop(s);
}

/**
 * FIST/FISTP/FISTTP m16/m32/m64: round in RC (FISTTP: toward zero). NaN, infinity, unsupported
 * and out-of-range values are invalid and store the integer indefinite when masked.
 */
export function fistMem(s: X87State, bus: X87Bus, a: number, bits: number, doPop: boolean, truncate: boolean): void {
  let f: number;
  let lo: number;
  let hi = 0;
  if (stEmpty(s, 0)) {
    if (!stackUnderflow(s)) return;
    f = 0;
    lo = bits === 16 ? 0x8000 : bits === 32 ? 0x80000000 : 0;
    hi = bits === 64 ? 0x80000000 : 0;
  } else {
    const u = loadSt(s, 0, OA);
    if (u.cls === CLS_NAN || u.cls === CLS_UNSUPPORTED) {
      f = FLAG_IE;
      lo = bits === 16 ? 0x8000 : bits === 32 ? 0x80000000 : 0;
      hi = bits === 64 ? 0x80000000 : 0;
    } else {
      f = sfToInt(u, truncate ? RC_ZERO : (s.cw >>> 10) & 3, bits);
      lo = toIntLo >>> 0;
      hi = toIntHi >>> 0;
    }
    s.sw &= ~SW_C1;
    if ((f & ~s.cw & (FLAG_IE | FLAG_DE)) !== 0) {
      flagExceptions(s, f & 0x3f);
      return;
    }
  }
  if (bits === 16) bus.wr16(a, lo & 0xffff);
  else if (bits === 32) bus.wr32(a, lo);
  else {
    bus.probeWrite(a, 8);
    bus.wr32(a, lo);
    bus.wr32(bus.add(a, 4), hi);
  }
  if ((f & FLAG_C1) !== 0) s.sw |= SW_C1;
  flagExceptions(s, f & 0x3f);
  if (doPop) pop(s);
}

// ---------------------------------------------------------------- packed BCD

const TEN18 = 10n ** 18n;

/** FBLD: 18 BCD digits and a sign byte (nibbles above 9 are weighted as they are). */
export function fbld(s: X87State, bus: X87Bus, a: number): void {
  let v = 0n;
  for (let k = 8; k >= 0; k--) {
    const b = bus.rd8(bus.add(a, k));
    v = v * 100n + BigInt((b >>> 4) * 10 + (b & 15));
  }
  const sign = (bus.rd8(bus.add(a, 9)) >>> 7) & 1;
  if (!canPush(s)) return;
  const lo = Number(v & 0xffffffffn);
  const hi = Number((v >> 32n) & 0xffffffffn);
  unpackInt64(OA, lo, hi);
  OA.sign = sign;
  if (OA.cls === CLS_ZERO) OA.sign = sign;
  s.sw &= ~SW_C1;
  push(s);
  writeUnpacked(s, 0, OA);
}

/** FBSTP: round ST(0) to an integer in RC and store 18 BCD digits; pops. */
export function fbstp(s: X87State, bus: X87Bus, a: number): void {
  let f = 0;
  let bytes: number[] | null = null;
  if (stEmpty(s, 0)) {
    if (!stackUnderflow(s)) return;
  } else {
    const u = loadSt(s, 0, OA);
    if (u.cls === CLS_NAN || u.cls === CLS_UNSUPPORTED || u.cls === CLS_INF) f = FLAG_IE;
    else {
      f = sfToInt(u, (s.cw >>> 10) & 3, 64);
      if ((f & FLAG_IE) === 0) {
        // Magnitude of the two's-complement result.
        let m = (BigInt(toIntHi >>> 0) << 32n) | BigInt(toIntLo >>> 0);
        if (u.sign !== 0 && m !== 0n) m = (1n << 64n) - m;
        if (m >= TEN18) f = FLAG_IE;
        else {
          bytes = [];
          for (let k = 0; k < 9; k++) {
            const d = Number(m % 100n);
            m /= 100n;
            bytes.push(((d / 10) << 4) | d % 10);
          }
          bytes.push(u.sign !== 0 ? 0x80 : 0);
        }
      }
    }
    s.sw &= ~SW_C1;
    if ((f & ~s.cw & (FLAG_IE | FLAG_DE)) !== 0) {
      flagExceptions(s, f & 0x3f);
      return;
    }
    if ((f & FLAG_IE) !== 0) f &= FLAG_IE;
  }
  // The packed BCD indefinite: FFFF C000 0000 0000 0000.
  if (bytes === null) bytes = [0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff];
  bus.probeWrite(a, 10);
  for (let k = 0; k < 10; k++) bus.wr8(bus.add(a, k), bytes[k]!);
  if ((f & FLAG_C1) !== 0) s.sw |= SW_C1;
  flagExceptions(s, f & 0x3f);
  pop(s);
}

// ---------------------------------------------------------------- stack manipulation

/** FXCH ST(i). */
export function fxch(s: X87State, i: number): void {
  const p0 = s.top;
  const pi = (s.top + i) & 7;
  if (s.isEmpty(p0) || s.isEmpty(pi)) {
    if (!stackUnderflow(s)) return;
    if (s.isEmpty(p0)) writeIndefinite(s, 0);
    if (s.isEmpty(pi)) writeIndefinite(s, i);
  }
  const se = s.se[p0]!;
  const hi = s.sigHi[p0]!;
  const lo = s.sigLo[p0]!;
  s.se[p0] = s.se[pi]!;
  s.sigHi[p0] = s.sigHi[pi]!;
  s.sigLo[p0] = s.sigLo[pi]!;
  s.se[pi] = se;
  s.sigHi[pi] = hi;
  s.sigLo[pi] = lo;
  s.sw &= ~SW_C1;
}

/** FFREE ST(i) (and FFREEP with doPop). */
export function ffree(s: X87State, i: number, doPop: boolean): void {
  s.empty |= 1 << ((s.top + i) & 7);
  if (doPop) pop(s);
  s.sw &= ~SW_C1;
}

/** FDECSTP (delta -1) / FINCSTP (+1): TOP moves, tags do not change. */
export function fstp(s: X87State, delta: number): void {
  s.top = (s.top + delta) & 7;
  s.sw &= ~SW_C1;
}

/** FCMOVcc: cond evaluated by the caller. */
export function fcmov(s: X87State, i: number, cond: boolean): void {
  if (stEmpty(s, 0) || stEmpty(s, i)) {
    if (stackUnderflow(s)) writeIndefinite(s, 0);
    return;
  }
  if (!cond) return;
  const p = (s.top + i) & 7;
  writeStRaw(s, 0, s.se[p]!, s.sigHi[p]!, s.sigLo[p]!);
}

