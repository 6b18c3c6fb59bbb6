/**
 * The wasm tier's SSE forms: integer SIMD, shuffles, the 128-bit moves, MOVD/MOVQ and MOVMSK run inline with
 * WebAssembly's v128 operations on the XMM register file in the vCPU's slot (wasm-arena.ts Slot.Xmm), bit for
 * bit as their handlers (ops-simd.ts, ops-simd-gpr.ts and the kernels of ../fpu/) compute them.
 *
 * Exactness: every form first reads the slot's SSE gate (Slot.SseGate, which EmuCpu's CR0 and CR4 setters keep:
 * 0 when CR0.EM, CR0.TS or a clear CR4.OSFXSR makes the handler raise #UD or #NM), then for a memory operand forms
 * its address as the other inline forms do (wasm-mem-access.ts address), and needs a TLB hit on RAM for the whole
 * operand within one page and, for the aligned forms, a 16-byte aligned address; whenever any of that fails it
 * calls the instruction's handler through the import instead, which does everything (faults, a page crossing,
 * MMIO, a write to code) as the interpreter does. A form whose instruction was decoded is gated in by its CPUID
 * feature already: the decoder leaves rows of features the model does not advertise out of its dispatch.
 * Nothing here reads or writes the flags (the handlers do not either), so what the compiler knows of the lazy
 * flags stays true across these forms.
 */
import type { Insn } from '../insn.js';
import type { SimdOp } from '../fpu/simd-file.js';
import { intOpAt, simdInt, simdMov128, simdMov128Mem, simdShiftImm } from '../ops-simd.js';
import { movdq, movmsk } from '../ops-simd-gpr.js';
import * as A from '../fpu/simd-int-arith.js';
import * as S from '../fpu/simd-shift.js';
import * as H from '../fpu/simd-shuffle.js';
import { Slot } from './wasm-arena.js';
import { T, V, W, wasmSimd } from './wasm-encoder.js';
import type { BlockBody } from './wasm-regs.js';

/** What the block compiler lends the SIMD forms (wasm-emit.ts). */
export interface SimdCtx {
  /** The block function's parameter holding the vCPU's slot address. */
  readonly slot: number;
  /** Leaves the linear address of x's memory operand in i64 local `lin` (inline, or through ea()). */
  address(b: BlockBody, x: Insn, k: number, lin: number): void;
  /** Pushes whether the TLB maps `lin` to RAM for `size` bytes within the page; the host address in `addr`. */
  tlbHit(b: BlockBody, lin: number, size: number, write: boolean, addr: number, idx: number): void;
  /** Calls instruction k's handler through the import, returning exit code `smcExit` if it wrote the block's code. */
  handler(b: BlockBody, k: number, smcExit: number): void;
}

/** TSVMM_WASM_SIMD=0: SSE instructions call their handlers from compiled code (measurements). */
const SIMD_ON = wasmSimd && ((globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.TSVMM_WASM_SIMD ?? '1') !== '0';

/** Pushes the result of an operation: `d` pushes the destination (first source), `s` the second source. */
type OpEmit = (b: BlockBody, d: () => void, s: () => void, imm: number) => void;

const ZERO: readonly number[] = [];
/** The low qword of each 64-bit lane (PMULUDQ's operands). */
const LOW_DWORDS = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
const LOW_QWORD = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const BYTE_8F = new Array<number>(16).fill(0x8f);

function bin(op: V): OpEmit {
  return (b, d, s) => {
    d();
    s();
    b.v(op);
  };
}

/** An operation of the second source alone (PABS, PMOVSX/ZX): `ops` applied in turn. */
function unary(...ops: V[]): OpEmit {
  return (b, _d, s) => {
    s();
    b.v(...ops);
  };
}

/** A byte shuffle of (d ++ s) whose lanes depend on the immediate only. */
function shuf(lanes: (imm: number) => number[]): OpEmit {
  return (b, d, s, imm) => {
    d();
    s();
    b.shuffle(lanes(imm & 0xff));
  };
}

/** A shuffle of the second source alone. */
function shufS(lanes: (imm: number) => number[]): OpEmit {
  return (b, _d, s, imm) => {
    s();
    s();
    b.shuffle(lanes(imm & 0xff));
  };
}

/** Byte lanes of `n`-byte elements `sel` (element indices into a 32-byte (d ++ s) pair). */
function elems(n: number, sel: readonly number[]): number[] {
  const out: number[] = [];
  for (const e of sel) for (let k = 0; k < n; k++) out.push(e * n + k);
  return out;
}

/** The interleave of PUNPCK* (and UNPCK*PS/PD): `lane`-byte elements of the low (hi 0) or high (hi 1) halves. */
function unpack(lane: number, hi: number): OpEmit {
  const out: number[] = [];
  for (let k = 0; k < 8; k += lane) {
    for (let i = 0; i < lane; i++) out.push(hi * 8 + k + i);
    for (let i = 0; i < lane; i++) out.push(16 + hi * 8 + k + i);
  }
  return shuf(() => out);
}

/** The 2-bit selectors of PSHUFD/PSHUFLW/PSHUFHW/SHUFPS. */
function sel4(imm: number): number[] {
  return [imm & 3, (imm >> 2) & 3, (imm >> 4) & 3, (imm >> 6) & 3];
}

/** A horizontal add/sub (PHADD*, PHSUB*): even elements op odd elements of (d ++ s), `n`-byte elements. */
function horiz(n: number, op: V): OpEmit {
  const m = 16 / n; // elements per register
  const even: number[] = [];
  const odd: number[] = [];
  for (let k = 0; k < m; k++) {
    even.push(2 * k);
    odd.push(2 * k + 1);
  }
  return (b, d, s) => {
    d();
    s();
    b.shuffle(elems(n, even));
    d();
    s();
    b.shuffle(elems(n, odd));
    b.v(op);
  };
}

/** PMULHW/PMULHUW: the high halves of the 32-bit products (which narrow back to 16 bits without saturating). */
function mulHigh(signed: boolean): OpEmit {
  return (b, d, s) => {
    d();
    s();
    b.v(signed ? V.I32xExtmulLowI16S : V.I32xExtmulLowI16U).i32(16).v(signed ? V.I32xShrS : V.I32xShrU);
    d();
    s();
    b.v(signed ? V.I32xExtmulHighI16S : V.I32xExtmulHighI16U).i32(16).v(signed ? V.I32xShrS : V.I32xShrU);
    b.v(signed ? V.I16NarrowS : V.I16NarrowU);
  };
}

/** A shift by an immediate count of `bits`-bit lanes: a count past the lane clears it (logical) or fills the sign. */
function shiftImm(bits: number, op: V, arith: boolean): OpEmit {
  return (b, d, _s, imm) => {
    let n = imm & 0xff;
    if (n > bits - 1) {
      if (!arith) {
        b.v128(ZERO);
        return;
      }
      n = bits - 1;
    }
    d();
    b.i32(n).v(op);
  };
}

/** A shift by the second source's low qword (unsigned), clamped as the immediate forms. */
function shiftReg(bits: number, op: V, arith: boolean): OpEmit {
  return (b, d, s) => {
    const n = b.local(T.I64);
    s();
    b.vlane(V.I64xExtract, 0).set(n);
    b.i64(bits - 1).get(n).op(W.I64LtU);
    b.op(W.If, T.V128);
    if (arith) {
      d();
      b.i32(bits - 1).v(op);
    } else b.v128(ZERO);
    b.op(W.Else);
    d();
    b.get(n).op(W.I32WrapI64).v(op);
    b.op(W.End);
  };
}

const OPS = new Map<SimdOp, OpEmit>([
  [A.paddb, bin(V.I8Add)],
  [A.paddw, bin(V.I16Add)],
  [A.paddd, bin(V.I32xAdd)],
  [A.paddq, bin(V.I64xAdd)],
  [A.psubb, bin(V.I8Sub)],
  [A.psubw, bin(V.I16Sub)],
  [A.psubd, bin(V.I32xSub)],
  [A.psubq, bin(V.I64xSub)],
  [A.paddsb, bin(V.I8AddSatS)],
  [A.paddsw, bin(V.I16AddSatS)],
  [A.paddusb, bin(V.I8AddSatU)],
  [A.paddusw, bin(V.I16AddSatU)],
  [A.psubsb, bin(V.I8SubSatS)],
  [A.psubsw, bin(V.I16SubSatS)],
  [A.psubusb, bin(V.I8SubSatU)],
  [A.psubusw, bin(V.I16SubSatU)],
  [A.pmullw, bin(V.I16Mul)],
  [A.pmulld, bin(V.I32xMul)],
  [A.pmulhw, mulHigh(true)],
  [A.pmulhuw, mulHigh(false)],
  [A.pmaddwd, bin(V.I32xDotI16S)],
  [
    A.pmuludq,
    (b, d, s) => {
      d();
      b.v128(LOW_DWORDS).v(V.And);
      s();
      b.v128(LOW_DWORDS).v(V.And, V.I64xMul);
    },
  ],
  [
    A.pmuldq,
    (b, d, s) => {
      d();
      b.i32(32).v(V.I64xShl).i32(32).v(V.I64xShrS);
      s();
      b.i32(32).v(V.I64xShl).i32(32).v(V.I64xShrS);
      b.v(V.I64xMul);
    },
  ],
  [A.pminub, bin(V.I8MinU)],
  [A.pmaxub, bin(V.I8MaxU)],
  [A.pminsb, bin(V.I8MinS)],
  [A.pmaxsb, bin(V.I8MaxS)],
  [A.pminsw, bin(V.I16MinS)],
  [A.pmaxsw, bin(V.I16MaxS)],
  [A.pminuw, bin(V.I16MinU)],
  [A.pmaxuw, bin(V.I16MaxU)],
  [A.pminsd, bin(V.I32xMinS)],
  [A.pmaxsd, bin(V.I32xMaxS)],
  [A.pminud, bin(V.I32xMinU)],
  [A.pmaxud, bin(V.I32xMaxU)],
  [A.pavgb, bin(V.I8AvgrU)],
  [A.pavgw, bin(V.I16AvgrU)],
  [A.pabsb, unary(V.I8Abs)],
  [A.pabsw, unary(V.I16Abs)],
  [A.pabsd, unary(V.I32xAbs)],
  [A.pcmpeqb, bin(V.I8Eq)],
  [A.pcmpeqw, bin(V.I16Eq)],
  [A.pcmpeqd, bin(V.I32xEq)],
  [A.pcmpeqq, bin(V.I64xEq)],
  [A.pcmpgtb, bin(V.I8GtS)],
  [A.pcmpgtw, bin(V.I16GtS)],
  [A.pcmpgtd, bin(V.I32xGtS)],
  [A.pcmpgtq, bin(V.I64xGtS)],
  [A.pand, bin(V.And)],
  [A.por, bin(V.Or)],
  [A.pxor, bin(V.Xor)],
  [
    A.pandn,
    (b, d, s) => {
      s();
      d();
      b.v(V.AndNot); // s & ~d
    },
  ],
  [A.phaddw, horiz(2, V.I16Add)],
  [A.phsubw, horiz(2, V.I16Sub)],
  [A.phaddsw, horiz(2, V.I16AddSatS)],
  [A.phsubsw, horiz(2, V.I16SubSatS)],
  [A.phaddd, horiz(4, V.I32xAdd)],
  [A.phsubd, horiz(4, V.I32xSub)],
  [H.packsswb, bin(V.I8NarrowS)],
  [H.packuswb, bin(V.I8NarrowU)],
  [H.packssdw, bin(V.I16NarrowS)],
  [H.packusdw, bin(V.I16NarrowU)],
  [H.punpcklbw, unpack(1, 0)],
  [H.punpcklwd, unpack(2, 0)],
  [H.punpckldq, unpack(4, 0)],
  [H.punpcklqdq, unpack(8, 0)],
  [H.punpckhbw, unpack(1, 1)],
  [H.punpckhwd, unpack(2, 1)],
  [H.punpckhdq, unpack(4, 1)],
  [H.punpckhqdq, unpack(8, 1)],
  [H.pshufd, shufS((imm) => elems(4, sel4(imm)))],
  [H.pshuflw, shufS((imm) => elems(2, [...sel4(imm), 4, 5, 6, 7]))],
  [H.pshufhw, shufS((imm) => elems(2, [0, 1, 2, 3, ...sel4(imm).map((e) => 4 + e)]))],
  [
    H.shufps,
    shuf((imm) => {
      const e = sel4(imm);
      return elems(4, [e[0]!, e[1]!, 4 + e[2]!, 4 + e[3]!]);
    }),
  ],
  [H.shufpd, shuf((imm) => elems(8, [imm & 1, 2 + ((imm >> 1) & 1)]))],
  [H.movshdup, shufS(() => elems(4, [1, 1, 3, 3]))],
  [H.movsldup, shufS(() => elems(4, [0, 0, 2, 2]))],
  [H.pblendw, shuf((imm) => elems(2, [0, 1, 2, 3, 4, 5, 6, 7].map((k) => ((imm >> k) & 1 ? 8 + k : k))))],
  [H.blendps, shuf((imm) => elems(4, [0, 1, 2, 3].map((k) => ((imm >> k) & 1 ? 4 + k : k))))],
  [H.blendpd, shuf((imm) => elems(8, [0, 1].map((k) => ((imm >> k) & 1 ? 2 + k : k))))],
  [
    H.pshufb,
    (b, d, s) => {
      // Byte k = d[s[k] & 15], or 0 when s[k]'s top bit is set: an index masked to 0x8f is 16 or more exactly then.
      d();
      s();
      b.v128(BYTE_8F).v(V.And, V.Swizzle);
    },
  ],
  [
    S.palignr,
    (b, d, s, imm) => {
      // (d ++ s) >> 8n bytes: from s then d below 16, from d then zeros below 32, zeros from 32.
      const n = imm & 0xff;
      const lanes: number[] = [];
      if (n >= 32) {
        b.v128(ZERO);
        return;
      }
      if (n < 16) {
        for (let k = 0; k < 16; k++) lanes.push(n + k);
        s();
        d();
      } else {
        for (let k = 0; k < 16; k++) lanes.push(Math.min(n - 16 + k, 16));
        d();
        b.v128(ZERO);
      }
      b.shuffle(lanes);
    },
  ],
  [H.pmovsxbw, unary(V.I16ExtendLowI8S)],
  [H.pmovsxbd, unary(V.I16ExtendLowI8S, V.I32xExtendLowI16S)],
  [H.pmovsxbq, unary(V.I16ExtendLowI8S, V.I32xExtendLowI16S, V.I64xExtendLowI32S)],
  [H.pmovsxwd, unary(V.I32xExtendLowI16S)],
  [H.pmovsxwq, unary(V.I32xExtendLowI16S, V.I64xExtendLowI32S)],
  [H.pmovsxdq, unary(V.I64xExtendLowI32S)],
  [H.pmovzxbw, unary(V.I16ExtendLowI8U)],
  [H.pmovzxbd, unary(V.I16ExtendLowI8U, V.I32xExtendLowI16U)],
  [H.pmovzxbq, unary(V.I16ExtendLowI8U, V.I32xExtendLowI16U, V.I64xExtendLowI32U)],
  [H.pmovzxwd, unary(V.I32xExtendLowI16U)],
  [H.pmovzxwq, unary(V.I32xExtendLowI16U, V.I64xExtendLowI32U)],
  [H.pmovzxdq, unary(V.I64xExtendLowI32U)],
  // By the low qword of an xmm register or m128.
  [S.psllw, shiftReg(16, V.I16Shl, false)],
  [S.psrlw, shiftReg(16, V.I16ShrU, false)],
  [S.psraw, shiftReg(16, V.I16ShrS, true)],
  [S.pslld, shiftReg(32, V.I32xShl, false)],
  [S.psrld, shiftReg(32, V.I32xShrU, false)],
  [S.psrad, shiftReg(32, V.I32xShrS, true)],
  [S.psllq, shiftReg(64, V.I64xShl, false)],
  [S.psrlq, shiftReg(64, V.I64xShrU, false)],
  // By an immediate (groups 12-14, simdShiftImm: the register in ModRM.rm is both operands).
  [S.psllwi, shiftImm(16, V.I16Shl, false)],
  [S.psrlwi, shiftImm(16, V.I16ShrU, false)],
  [S.psrawi, shiftImm(16, V.I16ShrS, true)],
  [S.pslldi, shiftImm(32, V.I32xShl, false)],
  [S.psrldi, shiftImm(32, V.I32xShrU, false)],
  [S.psradi, shiftImm(32, V.I32xShrS, true)],
  [S.psllqi, shiftImm(64, V.I64xShl, false)],
  [S.psrlqi, shiftImm(64, V.I64xShrU, false)],
  [
    S.pslldq,
    (b, d, _s, imm) => {
      const n = imm & 0xff;
      if (n >= 16) {
        b.v128(ZERO);
        return;
      }
      const lanes: number[] = [];
      for (let k = 0; k < 16; k++) lanes.push(k >= n ? 16 + k - n : 0);
      b.v128(ZERO);
      d();
      b.shuffle(lanes);
    },
  ],
  [
    S.psrldq,
    (b, d, _s, imm) => {
      const n = imm & 0xff;
      if (n >= 16) {
        b.v128(ZERO);
        return;
      }
      const lanes: number[] = [];
      for (let k = 0; k < 16; k++) lanes.push(k + n < 16 ? k + n : 16);
      d();
      b.v128(ZERO);
      b.shuffle(lanes);
    },
  ],
]);

/** The operation of a simdInt/simdShiftImm instruction, with its memory operand's size and alignment. */
function opOf(x: Insn): { emit: OpEmit; msz: number; aligned: boolean } | null {
  const o = intOpAt(x.op);
  if (o === undefined) return null;
  const emit = OPS.get(o.fn);
  return emit === undefined ? null : { emit, msz: o.msz, aligned: o.aligned };
}

/** Whether x has an inline SIMD form (wasm-inline-forms.ts wasmForm 'simd'). */
export function simdForm(x: Insn): boolean {
  if (!SIMD_ON) return false;
  const fn = x.fn;
  const mem = x.mod !== 3;
  if (fn === simdInt) {
    const o = opOf(x);
    return o !== null && (!mem || o.msz === 16 || o.msz === 8 || o.msz === 4 || o.msz === 2);
  }
  if (fn === simdShiftImm) return !mem && opOf(x) !== null;
  if (fn === simdMov128) return true;
  if (fn === simdMov128Mem) return mem;
  if (fn === movdq) return x.op >= 0 && x.op <= 3;
  if (fn === movmsk) return !mem && x.op >= 0 && x.op <= 2;
  return false;
}

/** Whether x's SIMD form writes memory (a self-loop entered mid-block takes no stores: wasm-compiler.ts prepare). */
export function simdStores(x: Insn): boolean {
  return x.mod !== 3 && (((x.fn === simdMov128 || x.fn === simdMov128Mem) && x.op === 1) || (x.fn === movdq && (x.op === 1 || x.op === 3)));
}

/** The memory operand's size and whether it must be 16-byte aligned, and whether it is written. */
function memOf(x: Insn): { size: number; aligned: boolean; write: boolean } {
  const fn = x.fn;
  if (fn === simdInt) {
    const o = opOf(x)!;
    return { size: o.msz, aligned: o.aligned, write: false };
  }
  if (fn === simdMov128 || fn === simdMov128Mem) return { size: 16, aligned: x.imm2 === 1, write: x.op === 1 };
  // movdq: MOVD/MOVQ r/m (op 0 and 1: 4 or 8 bytes by REX.W), MOVQ xmm, m64 and m64, xmm (2 and 3).
  return { size: x.op <= 1 ? (x.osz === 8 ? 8 : 4) : 8, aligned: false, write: x.op === 1 || x.op === 3 };
}

/**
 * Emits instruction k (a simdForm): inline when the SSE gate is open and a memory operand is a TLB hit (aligned
 * where it must be), else its handler through the import.
 */
export function emitSimd(b: BlockBody, x: Insn, k: number, smcExit: number, ctx: SimdCtx): void {
  const P = ctx.slot;
  const xmm = (r: number): (() => void) => () => {
    b.get(P).vmem(V.Load, Slot.Xmm + r * 16, 4);
  };
  /** Stores the v128 that `v` pushes into register r. */
  const toXmm = (r: number, v: () => void): void => {
    b.get(P);
    v();
    b.vmem(V.Store, Slot.Xmm + r * 16, 4);
  };
  const mem = x.mod !== 3;
  b.op(W.Block, T.Void);
  b.op(W.Block, T.Void);
  b.get(P).mem(W.I32Load, Slot.SseGate, 2).op(W.I32Eqz, W.BrIf, 0);
  let addr = -1;
  let m = { size: 0, aligned: false, write: false };
  if (mem) {
    m = memOf(x);
    const lin = b.local(T.I64);
    ctx.address(b, x, k, lin);
    addr = b.local(T.I32);
    const idx = b.local(T.I32);
    ctx.tlbHit(b, lin, m.size, m.write, addr, idx);
    b.op(W.I32Eqz, W.BrIf, 0);
    if (m.aligned) b.get(lin).op(W.I32WrapI64).i32(15).op(W.I32And, W.BrIf, 0);
  }
  const fn = x.fn;
  if (fn === simdInt || fn === simdShiftImm) {
    const o = opOf(x)!;
    const d = fn === simdShiftImm ? x.rm : x.reg;
    let s = xmm(x.rm);
    if (mem) {
      const v = b.local(T.V128);
      b.get(addr);
      if (m.size === 16) b.vmem(V.Load, 0, 0);
      else if (m.size === 8) b.vmem(V.Load64Zero, 0, 0);
      else if (m.size === 4) b.vmem(V.Load32Zero, 0, 0);
      // 2 bytes (PMOVSX/ZXBQ): the operation reads the low word only.
      else b.mem(W.I32Load16U, 0, 0).v(V.I32xSplat);
      b.set(v);
      s = () => {
        b.get(v);
      };
    }
    toXmm(d, () => o.emit(b, xmm(d), s, x.imm));
  } else if (fn === simdMov128 || fn === simdMov128Mem) {
    // op 0: xmm <- xmm/m128; op 1: xmm/m128 <- xmm.
    if (!mem) {
      if (x.op === 0) toXmm(x.reg, xmm(x.rm));
      else toXmm(x.rm, xmm(x.reg));
    } else if (x.op === 0) toXmm(x.reg, () => b.get(addr).vmem(V.Load, 0, 0));
    else {
      b.get(addr);
      xmm(x.reg)();
      b.vmem(V.Store, 0, 0);
    }
  } else if (fn === movdq) emitMovdq(b, x, addr, xmm, toXmm);
  else {
    // movmsk: PMOVMSKB (op 0), MOVMSKPS (1), MOVMSKPD (2) into a 32-bit register (upper half zeroed).
    const v = b.local(T.I32);
    xmm(x.rm)();
    b.v(x.op === 0 ? V.I8Bitmask : x.op === 1 ? V.I32xBitmask : V.I64xBitmask);
    b.set(v);
    b.store32(x.reg, v);
  }
  b.op(W.Br, 1, W.End);
  ctx.handler(b, k, smcExit);
  b.op(W.End);
}

/**
 * MOVD/MOVQ (ops-simd-gpr.ts movdq): op 0 xmm <- r/m32/64 (upper zeroed), 1 r/m32/64 <- xmm (a 32-bit register
 * destination zero-extended), 2 xmm <- xmm/m64 (upper zeroed), 3 xmm/m64 <- xmm (a register destination's upper
 * half zeroed).
 */
function emitMovdq(b: BlockBody, x: Insn, addr: number, xmm: (r: number) => () => void, toXmm: (r: number, v: () => void) => void): void {
  const q = x.osz === 8;
  const mem = x.mod !== 3;
  const lowQword = (r: number) => (): void => {
    xmm(r)();
    b.v128(LOW_QWORD).v(V.And);
  };
  switch (x.op) {
    case 0:
      toXmm(x.reg, () => {
        if (mem) b.get(addr).vmem(q ? V.Load64Zero : V.Load32Zero, 0, 0);
        else if (q) {
          b.v128(ZERO);
          b.load64(x.rm);
          b.vlane(V.I64xReplace, 0);
        } else {
          b.v128(ZERO);
          b.load32(x.rm);
          b.vlane(V.I32xReplace, 0);
        }
      });
      return;
    case 1:
      if (mem) {
        b.get(addr);
        xmm(x.reg)();
        if (q) b.vlane(V.I64xExtract, 0).mem(W.I64Store, 0, 0);
        else b.vlane(V.I32xExtract, 0).mem(W.I32Store, 0, 0);
      } else if (q) {
        const v = b.local(T.I64);
        xmm(x.reg)();
        b.vlane(V.I64xExtract, 0).set(v);
        b.store64(x.rm, v);
      } else {
        const v = b.local(T.I32);
        xmm(x.reg)();
        b.vlane(V.I32xExtract, 0).set(v);
        b.store32(x.rm, v);
      }
      return;
    case 2:
      if (mem) toXmm(x.reg, () => b.get(addr).vmem(V.Load64Zero, 0, 0));
      else toXmm(x.reg, lowQword(x.rm));
      return;
    default:
      if (mem) {
        b.get(addr);
        xmm(x.reg)();
        b.vlane(V.I64xExtract, 0).mem(W.I64Store, 0, 0);
      } else toXmm(x.rm, lowQword(x.reg));
  }
}
