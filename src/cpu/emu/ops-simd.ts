/**
 * SSE..SSE4.2 instruction handlers: the CPU-facing side of the semantics in fpu/ (operand
 * fetch, alignment, the #UD/#NM/#XM rules, MXCSR, committing results). Table rows pick a
 * handler and put an index into one of the op lists below in `Insn.op`.
 *
 * Exceptions (SDM Vol. 2 §2.4 exception classes): #UD when CR0.EM = 1 or CR4.OSFXSR = 0,
 * then #NM when CR0.TS = 1; #GP(0) for a misaligned m128 of the aligned forms (before any
 * access); an unmasked SIMD floating-point exception is #XM, or #UD when
 * CR4.OSXMMEXCPT = 0, with MXCSR's flags set and the destination unchanged.
 */
import type { EmuCpu } from './cpu.js';
import { Insn } from './insn.js';
import { CR0_EM, CR0_TS, CR4_OSFXSR, CR4_OSXMMEXCPT, VEC_NM, VEC_UD, VEC_XM } from './x86-defs.js';
import { ea } from './operands.js';
import { misaligned } from './address.js';
import { gp, raise } from './exceptions.js';
import { probeWrite, rd16, rd32, rd64, rd8, wr32, wr64, wr8 } from './mem-access.js';
import { XMM_RES, XMM_SRC, type SimdOp, type XmmFile } from './fpu/simd-file.js';
import type { SseFpOp } from './fpu/sse-float.js';
import { unmasked } from './fpu/sse-float.js';

/** The CPU's XMM register file. */
export function simdOf(c: EmuCpu): XmmFile {
  return c.simd;
}

/** SSE state availability: #UD (CR0.EM, CR4.OSFXSR) before #NM (CR0.TS). */
export function sseAvail(c: EmuCpu): void {
  if ((c.cr0 & CR0_EM) !== 0 || (c.cr4 & CR4_OSFXSR) === 0) raise(c, VEC_UD);
  if ((c.cr0 & CR0_TS) !== 0) raise(c, VEC_NM);
}

/** The memory operand's address; #GP(0) when an aligned form's m128 is not 16-byte aligned. */
export function simdAddr(c: EmuCpu, i: Insn, aligned: boolean): number {
  const a = ea(c, i);
  if (aligned && misaligned(a, 16)) return gp(c, 0);
  return a;
}

/** Loads `size` bytes at a into the low bytes of register r (the rest zeroed). */
export function loadXmm(c: EmuCpu, x: XmmFile, r: number, a: number, size: number): void {
  const d = x.i32;
  const o = r * 4;
  switch (size) {
    case 16:
      d[o] = rd64(c, a);
      d[o + 1] = c.hi;
      d[o + 2] = rd64(c, a + 8);
      d[o + 3] = c.hi;
      return;
    case 8:
      d[o] = rd64(c, a);
      d[o + 1] = c.hi;
      break;
    case 4:
      d[o] = rd32(c, a);
      d[o + 1] = 0;
      break;
    case 2:
      d[o] = rd16(c, a);
      d[o + 1] = 0;
      break;
    default:
      d[o] = rd8(c, a);
      d[o + 1] = 0;
  }
  d[o + 2] = 0;
  d[o + 3] = 0;
}

/** Stores the low `size` bytes of register r at a (all-or-nothing across a page boundary). */
export function storeXmm(c: EmuCpu, x: XmmFile, r: number, a: number, size: number): void {
  const d = x.i32;
  const o = r * 4;
  if (size === 16) {
    probeWrite(c, a, 16);
    wr64(c, a, d[o]!, d[o + 1]!);
    wr64(c, a + 8, d[o + 2]!, d[o + 3]!);
  } else if (size === 8) wr64(c, a, d[o]!, d[o + 1]!);
  else wr32(c, a, d[o]!);
}

/**
 * The second (ModRM.rm) source of an xmm, xmm/m form: its register number, or XMM_SRC
 * filled from memory (`size` bytes, `aligned` m128).
 */
export function srcOperand(c: EmuCpu, i: Insn, x: XmmFile, size: number, aligned: boolean): number {
  if (i.mod === 3) return i.rm;
  loadXmm(c, x, XMM_SRC, simdAddr(c, i, aligned), size);
  return XMM_SRC;
}

/** ORs `flags` into MXCSR; when one is unmasked raises #XM (#UD if CR4.OSXMMEXCPT = 0). */
export function mxcsrFlags(c: EmuCpu, flags: number): void {
  if (flags === 0) return;
  c.mxcsr |= flags;
  if ((flags & unmasked(c.mxcsr)) !== 0) raise(c, (c.cr4 & CR4_OSXMMEXCPT) !== 0 ? VEC_XM : VEC_UD);
}

// ---------------------------------------------------------------- op lists

/** An integer/shuffle operation and its memory operand: size in bytes, 16-byte alignment. */
export interface IntOpDesc {
  readonly fn: SimdOp;
  readonly msz: number;
  readonly aligned: boolean;
}
/** A floating-point operation (result in XMM_RES, flags returned). */
export interface FpOpDesc {
  readonly fn: SseFpOp;
  readonly msz: number;
  readonly aligned: boolean;
}

const intOps: IntOpDesc[] = [];
const fpOps: FpOpDesc[] = [];

/** Registers an integer op; returns its index for `Insn.op`. */
export function intOp(fn: SimdOp, msz = 16, aligned = msz === 16): number {
  intOps.push({ fn, msz, aligned });
  return intOps.length - 1;
}
/** The integer op registered at `Insn.op` index i (the wasm tier's SIMD forms pick theirs by its `fn`). */
export function intOpAt(i: number): IntOpDesc | undefined {
  return intOps[i];
}
/** Registers a floating-point op; returns its index for `Insn.op`. */
export function fpOp(fn: SseFpOp, msz = 16, aligned = msz === 16): number {
  fpOps.push({ fn, msz, aligned });
  return fpOps.length - 1;
}

// ---------------------------------------------------------------- generic handlers

/** op xmm, xmm/m [, imm8]: integer SIMD, shuffles, packs, blends (no exceptions beyond memory). */
export function simdInt(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  const x = simdOf(c);
  const o = intOps[i.op]!;
  const s = srcOperand(c, i, x, o.msz, o.aligned);
  o.fn(x, i.reg, s, i.imm);
}

/** op xmm, imm8 with the register in ModRM.rm (PSLLW/PSRAW/PSRLDQ/... groups 12-14). */
export function simdShiftImm(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  intOps[i.op]!.fn(simdOf(c), i.rm, 0, i.imm);
}

/** op xmm, xmm/m [, imm8]: floating point with MXCSR, committed only without an unmasked exception. */
export function simdFp(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  const x = simdOf(c);
  const o = fpOps[i.op]!;
  const s = srcOperand(c, i, x, o.msz, o.aligned);
  const f = o.fn(x, i.reg, s, i.imm, c.mxcsr);
  mxcsrFlags(c, f);
  x.copy(i.reg, XMM_RES);
}

// ---------------------------------------------------------------- moves

/**
 * 128-bit loads and stores and the register-to-register moves: op 0 load (xmm <- xmm/m128),
 * 1 store (xmm/m128 <- xmm); `imm2` 1 for the aligned forms (MOVAPS, MOVDQA, MOVNT*...).
 */
export function simdMov128(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  const x = simdOf(c);
  if (i.mod === 3) {
    if (i.op === 0) x.copy(i.reg, i.rm);
    else x.copy(i.rm, i.reg);
    return;
  }
  const a = simdAddr(c, i, i.imm2 === 1);
  if (i.op === 0) loadXmm(c, x, i.reg, a, 16);
  else storeXmm(c, x, i.reg, a, 16);
}

/**
 * MOVSS (imm2 = 4) / MOVSD (imm2 = 8): op 0 load: from memory zero-extended, from a
 * register only the low element merged; op 1 store: the low element (a register
 * destination keeps its upper part).
 */
export function simdMovScalar(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  const x = simdOf(c);
  const n = i.imm2 >> 2; // dwords
  const d = x.i32;
  if (i.mod === 3) {
    const from = (i.op === 0 ? i.rm : i.reg) * 4;
    const to = (i.op === 0 ? i.reg : i.rm) * 4;
    for (let k = 0; k < n; k++) d[to + k] = d[from + k]!;
    return;
  }
  const a = ea(c, i);
  if (i.op === 0) loadXmm(c, x, i.reg, a, i.imm2);
  else storeXmm(c, x, i.reg, a, i.imm2);
}

/**
 * The 64-bit halves: op 0 MOVLPS/MOVLPD load (low qword from m64; register form MOVHLPS:
 * high qword of rm), 1 MOVHPS/MOVHPD load (high qword; register form MOVLHPS: low qword of
 * rm), 2 store of the low qword, 3 store of the high qword (memory only), 4 MOVDDUP.
 */
export function simdMovHalf(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  const x = simdOf(c);
  const d = x.i32;
  const g = i.reg * 4;
  if (i.op >= 2 && i.op <= 3) {
    if (i.mod === 3) return raise(c, VEC_UD);
    const a = ea(c, i);
    const o = g + (i.op === 3 ? 2 : 0);
    wr64(c, a, d[o]!, d[o + 1]!);
    return;
  }
  let lo: number;
  let hi: number;
  if (i.mod === 3) {
    const s = i.rm * 4 + (i.op === 0 ? 2 : 0);
    if (i.op === 4) {
      lo = d[i.rm * 4]!;
      hi = d[i.rm * 4 + 1]!;
    } else {
      lo = d[s]!;
      hi = d[s + 1]!;
    }
  } else {
    lo = rd64(c, ea(c, i));
    hi = c.hi;
  }
  if (i.op === 4) {
    x.set(i.reg, lo, hi, lo, hi);
    return;
  }
  const o = g + (i.op === 1 ? 2 : 0);
  d[o] = lo;
  d[o + 1] = hi;
}

/** 66 0F 12/16 (MOVLPD/MOVHPD) exist only with a memory operand. */
export function simdMovHalfMem(c: EmuCpu, i: Insn): void {
  if (i.mod === 3) return raise(c, VEC_UD);
  simdMovHalf(c, i);
}

/** Memory-only 128-bit forms (LDDQU, MOVNTDQA, MOVNTPS/PD, MOVNTDQ): the register form is #UD. */
export function simdMov128Mem(c: EmuCpu, i: Insn): void {
  if (i.mod === 3) return raise(c, VEC_UD);
  simdMov128(c, i);
}

/** A scratch instruction record for MASKMOVDQU's implicit [rDI] operand. */
const MASK_INSN = new Insn(simdMov128);

/**
 * MASKMOVDQU xmm1, xmm2: the bytes of xmm1 whose byte in xmm2 has its top bit set are
 * stored to DS:[rDI] (segment override allowed). Every selected byte is probed first, so a
 * fault leaves memory untouched.
 */
export function maskmovdqu(c: EmuCpu, i: Insn): void {
  sseAvail(c);
  if (i.mod !== 3) return raise(c, VEC_UD);
  const x = simdOf(c);
  const m = MASK_INSN;
  m.ak = i.ak;
  m.seg = i.seg;
  m.base = 7;
  m.index = -1;
  m.disp = 0;
  m.ripRel = false;
  m.msz = 16;
  m.mw = true;
  const a = ea(c, m);
  const v = x.u8;
  const mask = i.rm * 16;
  for (let k = 0; k < 16; k++) if (v[mask + k]! & 0x80) probeWrite(c, a + k, 1);
  for (let k = 0; k < 16; k++) if (v[mask + k]! & 0x80) wr8(c, a + k, v[i.reg * 16 + k]!);
}
