/**
 * x87 comparisons and classification: FCOM/FCOMP/FCOMPP, FUCOM/FUCOMP/FUCOMPP, FICOM/FICOMP,
 * FCOMI/FCOMIP/FUCOMI/FUCOMIP (to EFLAGS), FTST, FXAM.
 */
import {
  CLS_NAN, CLS_UNSUPPORTED, CLS_ZERO, CMP_EQ, CMP_GT, CMP_LT, CMP_UN, FLAG_DE, FLAG_IE, compareOrdered, type Unpacked,
} from './softfloat.js';
import { SW_C0, SW_C1, SW_C2, SW_C3, TAG_EMPTY, type X87State } from './fpu-state.js';
import { OA, OB, flagExceptions, loadSt, pop, stackUnderflow, stEmpty } from './x87-core.js';

// EFLAGS bits FCOMI writes.
const CF = 0x001;
const PF = 0x004;
const AF = 0x010;
const ZF = 0x040;
const SF = 0x080;
const OF = 0x800;

/** Compares a with b; returns CMP_* and leaves the flags (IE, DE) in cmpFlags. */
function relation(a: Unpacked, b: Unpacked, quiet: boolean): number {
  if (a.cls === CLS_UNSUPPORTED || b.cls === CLS_UNSUPPORTED) {
    cmpFlags = FLAG_IE;
    return CMP_UN;
  }
  if (a.cls === CLS_NAN || b.cls === CLS_NAN) {
    cmpFlags = !quiet || a.snan !== 0 || b.snan !== 0 ? FLAG_IE : 0;
    return CMP_UN;
  }
  cmpFlags = a.denormal !== 0 || b.denormal !== 0 ? FLAG_DE : 0;
  return compareOrdered(a, b);
}
let cmpFlags = 0;

function ccOf(rel: number): number {
  switch (rel) {
    case CMP_GT:
      return 0;
    case CMP_LT:
      return SW_C0;
    case CMP_EQ:
      return SW_C3;
    default:
      return SW_C3 | SW_C2 | SW_C0;
  }
}

function setCc(s: X87State, cc: number): void {
  s.sw = (s.sw & ~(SW_C0 | SW_C1 | SW_C2 | SW_C3)) | cc;
}

/**
 * FCOM family with ST(0) against `b` (already loaded: ST(i), memory or zero). `srcEmpty` marks
 * an empty register operand. pops: 0, 1 or 2.
 */
export function fcom(s: X87State, b: Unpacked, srcEmpty: boolean, quiet: boolean, pops: number): void {
  // The condition codes are written even when the exception is unmasked; only the pops wait.
  if (stEmpty(s, 0) || srcEmpty) {
    const masked = stackUnderflow(s);
    setCc(s, SW_C3 | SW_C2 | SW_C0);
    if (masked) for (let k = 0; k < pops; k++) pop(s);
    return;
  }
  const rel = relation(loadSt(s, 0, OA), b, quiet);
  const f = cmpFlags;
  setCc(s, ccOf(rel));
  flagExceptions(s, f);
  if ((f & ~s.cw & 0x3f) !== 0) return;
  for (let k = 0; k < pops; k++) pop(s);
}

/** FCOM/FUCOM with ST(i). */
export function fcomSt(s: X87State, i: number, quiet: boolean, pops: number): void {
  const empty = stEmpty(s, i);
  if (!empty) loadSt(s, i, OB);
  fcom(s, OB, empty, quiet, pops);
}

/** FTST: ST(0) against +0.0. */
export function ftst(s: X87State): void {
  OB.set(CLS_ZERO, 0, 0, 0, 0);
  fcom(s, OB, false, false, 0);
}

/**
 * FCOMI/FCOMIP/FUCOMI/FUCOMIP: ZF, PF, CF from the comparison, OF/SF/AF cleared. Returns the new
 * EFLAGS, or -1 when they are left unchanged (stack underflow or invalid, unmasked).
 */
export function fcomi(s: X87State, i: number, quiet: boolean, doPop: boolean, eflags: number): number {
  const base = eflags & ~(CF | PF | AF | ZF | SF | OF);
  // EFLAGS are written even when the exception is unmasked; only the pop waits.
  if (stEmpty(s, 0) || stEmpty(s, i)) {
    if (stackUnderflow(s) && doPop) pop(s);
    return base | ZF | PF | CF;
  }
  const rel = relation(loadSt(s, 0, OA), loadSt(s, i, OB), quiet);
  const f = cmpFlags;
  flagExceptions(s, f);
  if (doPop && (f & ~s.cw & 0x3f) === 0) pop(s);
  switch (rel) {
    case CMP_GT:
      return base;
    case CMP_LT:
      return base | CF;
    case CMP_EQ:
      return base | ZF;
    default:
      return base | ZF | PF | CF;
  }
}

/** FXAM: class of ST(0) in C3/C2/C0, its sign in C1 (empty registers included). */
export function fxam(s: X87State): void {
  const p = s.top;
  const se = s.se[p]!;
  const hi = s.sigHi[p]!;
  const lo = s.sigLo[p]!;
  const e = se & 0x7fff;
  let cc: number;
  if (s.tag(p) === TAG_EMPTY) cc = SW_C3 | SW_C0;
  else if (e === 0) cc = hi === 0 && lo === 0 ? SW_C3 : SW_C3 | SW_C2;
  else if (hi < 0x80000000) cc = 0; // unsupported
  else if (e === 0x7fff) cc = (hi & 0x7fffffff) === 0 && lo === 0 ? SW_C2 | SW_C0 : SW_C0;
  else cc = SW_C2;
  if ((se & 0x8000) !== 0) cc |= SW_C1;
  setCc(s, cc);
}
