/**
 * A block's function body: each instruction's inline form (wasm-forms.ts, wasm-forms64.ts, wasm-flow.ts and the
 * forms of wasm-alu.ts, wasm-simd.ts, wasm-string.ts) or its handler through the `h` import, with what is known of
 * the flags carried from one to the next, flags records deferred where only slow paths may see them, and the
 * block's exit at its end.
 */
import type { Insn } from '../insn.js';
import { writes } from '../block-compiler.js';
import { Bit } from '../flags.js';
import { Body, T, W } from './wasm-encoder.js';
import type { BlockBody } from './wasm-regs.js';
import { emitSimd, type SimdCtx } from './wasm-simd.js';
import { emitStr, type StrCtx } from './wasm-string.js';
import { emitAlu32m, emitCmpxchg32m, emitImul32, emitImul64, emitMul32, emitIncDec64, emitMovSreg, emitShiftCl, emitShiftClm, shift32Inline, NONE, type Known } from './wasm-alu.js';
import { CHAIN, exitCode, Im, P_SLOT, P_USER } from './wasm-block-abi.js';
import { Slot } from './wasm-arena.js';
import { Wt } from '../tlb-wasm.js';
import { emitting } from './wasm-emit-state.js';
import { ALU_CTX, formAlu32, formAlu8, formAluc, formCmov, formCmpm, formCmpMi, formIncdec, formIncdec8, formIncdecm, formLea, formLoad32, formLoadn, formMov8, formMovri, formMovRr, formMovsx, formMovzx, formMoffs, formNeg, formNot, formPushPop, formSetcc, formSetccm, formShift, formShift8, formStore, formTest, formTestm, SHIFT_OP } from './wasm-forms.js';
import { formAlu64, formAlu64m, formLea64, formLoad64, formMov64, formMovri64, formNeg64, formNot64, formShift64, formStore64, formTest64 } from './wasm-forms64.js';
import { emitCall32, emitCall64, emitIndirect, emitRet32, emitRet64, exitRip, formJcc, handler, setLoops, smcExit } from './wasm-flow.js';
import { address, tlbHit } from './wasm-mem-access.js';
import { materialize } from './wasm-flags-record.js';
import { formAluc64, formAlunm, formBitScan, formBswap, formBt, formCbw, formCmpxchg64m, formDivide, formIncdecm64, formLeave, formMul64, formPushf, formPushm, formShld, formXaddm, formXchgm, formCmovm } from './wasm-int-forms.js';
import { emitStackRun, stackRunEnd } from './wasm-stack.js';
import type { WForm } from './wasm-inline-forms.js';
import { clearSkips, joinSkips, openSkips, type SkipPlan } from './wasm-skips.js';

/** Forms a deferred record waits across: they neither read nor write flags, and call out only in slow paths. */
const FLAGLESS: ReadonlySet<string> = new Set(['load', 'movzx-load', 'store', 'load64', 'store64', 'loadn', 'mov-rr', 'mov64', 'movri', 'movri64', 'lea', 'lea64', 'movzx', 'not', 'not64', 'mov8', 'nop', 'cbw', 'bswap']);
/** Forms that write every arithmetic flag without reading any, whose records go through recField/recDirty only. */
const FULL_WRITERS: ReadonlySet<string> = new Set(['alu-rr', 'alu-ri', 'alu-load', 'test', 'alu64', 'cmp-mi', 'cmp-mi8']);

/**
 * Emits the block's function body; `head` is the instruction its self-loop starts at, or -1; `skips` its forward
 * branches to its own instructions (wasm-skips.ts).
 */
export function emit(b: BlockBody, ins: readonly Insn[], forms: readonly WForm[], liveAfter: readonly number[], liveInline: readonly number[], head: number, skips: SkipPlan | null = null): void {
  const n = ins.length;
  emitting.skips = skips;
  if (skips !== null) clearSkips(b);
  let known: Known = NONE;
  // A chained run (wasm-chain.ts) enters a block with the record as the block before it left it, dirty groups
  // included; without chains every block starts from the wrapper's clean record.
  emitting.dirtyAt = CHAIN ? -1 : 0;
  emitting.userLocal = -1;
  emitting.canonLocal = -1;
  emitting.segFlag.fill(-1);
  emitting.baseLocal.fill(-1);
  emitting.blockLen = n;
  emitting.loopHead = head;
  emitting.passes = head >= 0 ? b.local(T.I32) : -1;
  // The slot's pass count is the vCPU's, shared by all blocks: it holds the last self-loop's passes until this
  // one sets it. A loop entered mid-block may leave (a side exit) or call out before its head, and the
  // wrapper and the imports read the count there: it must be 0, not what another block left.
  if (head > 0) setLoops(b);
  emitting.pendingRec = [];
  emitting.capture = null;
  for (let k = 0; k < n; k++) {
    const x = ins[k]!;
    const f = forms[k]!;
    const w = writes(x);
    const full = FULL_WRITERS.has(f) && (w & Bit.Arith) === Bit.Arith;
    // ROL/ROR r32, imm (CF and OF through the `sh` import, which merges them into the record before it).
    const rot = f === 'shift' && !shift32Inline(x);
    if (skips !== null) known = joinSkips(b, skips, k, known);
    if (k === head || !(full || rot || FLAGLESS.has(f))) materialize();
    if (k === head) {
      // Passes completed so far are in the slot for anything that faults or calls out in the loop.
      b.loopHead();
      setLoops(b);
      known = NONE; // reached from the back edge too
      emitting.dirtyAt = -1;
    }
    if (skips !== null) openSkips(b, skips, k);
    if (f === 'push' || f === 'pop') {
      const e = stackRunEnd(ins, forms, k, head, skips);
      if (e > k) {
        // PUSHes, POPs and register moves: no flags read or written, `known` stays.
        const kn = known;
        emitStackRun(b, ins, forms, k, e, (j) => void emitInsn(b, ins[j]!, forms[j]!, j, -1, false, kn));
        k = e;
        continue;
      }
    }
    const fl = (liveAfter[k]! & w) !== 0;
    emitting.liveAfter = liveAfter[k]!;
    // Its flags seen only where a later memory access takes its slow path: recorded there.
    const defer = fl && (liveInline[k]! & w) === 0;
    let lin = -1;
    const memForm = f === 'alu-load' || f === 'cmp-mi' || f === 'cmp-mi8' || f === 'load' || f === 'store' || f === 'movzx-load' || f === 'load64' || f === 'store64' || f === 'loadn' || f === 'incdecm';
    if ((memForm || f === 'movsx' || f === 'test64' || f === 'testm' || f === 'alu64m' || f === 'cmpm' || f === 'imul64' || f === 'imul32' || f === 'mul32' || f === 'alu32m' || f === 'cmpxchg32m' || f === 'setccm' || f === 'alucm' || f === 'shiftclm' || f === 'alunm' || f === 'mul64' || f === 'cmpxchg64m' || f === 'bt' || f === 'bitscan' || f === 'pushm' || f === 'xchgm' || f === 'xaddm' || f === 'incdecm64' || f === 'cmovm') && x.mod !== 3) {
      lin = b.local(T.I64);
      address(b, x, k, lin);
    }
    if (rot) {
      if (defer) {
        known = rotateDeferred(b, x, k);
        continue;
      }
      if (fl) materialize();
    }
    if (full && defer) {
      emitting.capture = [];
      known = emitInsn(b, x, f, k, lin, fl, known);
      emitting.pendingRec = emitting.capture;
      emitting.capture = null;
      continue;
    }
    known = emitInsn(b, x, f, k, lin, fl, known);
    // A full writer recorded here or seen by nothing: what was deferred before it is seen by nothing after it.
    if (full) emitting.pendingRec = [];
  }
  materialize();
  const lf = forms[n - 1];
  if (lf !== 'tail' && lf !== 'jmp' && lf !== 'call' && lf !== 'ret' && lf !== 'callr' && lf !== 'call32' && lf !== 'ret32' && lf !== 'jmpind' && lf !== 'callind') {
    exitRip(b, ins[n - 1]!.end);
    b.i32(exitCode(n, 0));
  }
  b.finish();
  if (emitting.userLocal >= 0) {
    // Set once at the function's start: where the entries of the TLB bank every inline access indexes start less
    // Slot.WTlb (P_USER's low half is the bank's first index).
    const pro = new Body(0).get(P_USER).i32(0xffff).op(W.I32And).i32(Wt.Shift).op(W.I32Shl).get(P_SLOT).op(W.I32Add).set(emitting.userLocal);
    b.insert(0, pro.code);
  }
  if (emitting.canonLocal >= 0) b.insert(0, new Body(0).get(P_SLOT).mem(W.I64Load, Slot.CanonSh, 3).set(emitting.canonLocal).code);
}

/** ROL/ROR r32, imm whose CF and OF only slow paths may see: rotated inline, the `sh` import deferred with its operand. */
function rotateDeferred(b: BlockBody, x: Insn, k: number): Known {
  const A = x.rm;
  const d = b.local(T.I32);
  const r = b.local(T.I32);
  b.load32(A);
  b.tee(d).i32(x.imm & 31).op(SHIFT_OP[x.op]!).set(r);
  b.store32(A, r);
  emitting.pendingRec.push(() => {
    b.i32(k).get(d).call(Im.Shift).op(W.Drop);
    emitting.dirtyAt = 0;
  });
  return NONE;
}

/** One instruction's code; returns what is known of the flags after it. */
function emitInsn(b: BlockBody, x: Insn, f: WForm, k: number, lin: number, fl: boolean, known: Known): Known {
  switch (f) {
    case 'alu-rr':
    case 'alu-ri':
    case 'alu-load':
      return formAlu32(b, x, f, k, lin, fl, known);
    case 'alu64':
      return formAlu64(b, x, fl, known);
    case 'cmp-mi':
    case 'cmp-mi8':
      return formCmpMi(b, x, f, k, lin, fl, known);
    case 'test':
      return formTest(b, x, fl, known);
    case 'incdec':
      return formIncdec(b, x, fl, known);
    case 'neg':
      return formNeg(b, x, fl, known);
    case 'not':
      formNot(b, x);
      return known;
    case 'mov-rr':
      formMovRr(b, x);
      return known;
    case 'mov64':
      formMov64(b, x);
      return known;
    case 'load':
    case 'movzx-load':
      formLoad32(b, x, f, k, lin);
      return known;
    case 'incdecm':
      return formIncdecm(b, x, k, lin, fl, known);
    case 'incdec8':
      return formIncdec8(b, x, fl, known);
    case 'shift8':
      return formShift8(b, x, fl, known);
    case 'loadn':
      formLoadn(b, x, k, lin);
      return known;
    case 'store':
      formStore(b, x, k, lin);
      return known;
    case 'movri':
      formMovri(b, x);
      return known;
    case 'lea':
      formLea(b, x);
      return known;
    case 'movzx':
      formMovzx(b, x);
      return known;
    case 'shift':
      return formShift(b, x, k, fl, known);
    case 'jcc':
      formJcc(b, x, k, known);
      return known;
    case 'alu8':
      return formAlu8(b, x, fl, known);
    case 'aluc':
    case 'alucm':
      return formAluc(b, x, k, lin, fl, known);
    case 'moffs':
      formMoffs(b, x, k);
      return known;
    case 'push':
    case 'pop':
      formPushPop(b, x, f, k);
      return known;
    case 'lea64':
      formLea64(b, x);
      return known;
    case 'load64':
      formLoad64(b, x, k, lin);
      return known;
    case 'store64':
      formStore64(b, x, k, lin);
      return known;
    case 'movri64':
      formMovri64(b, x);
      return known;
    case 'setcc':
      formSetcc(b, x, known);
      return known;
    case 'setccm':
      formSetccm(b, x, k, lin, known);
      return known;
    case 'neg64':
      return formNeg64(b, x, fl, known);
    case 'cmov':
      formCmov(b, x, known);
      return known;
    case 'movsx':
      formMovsx(b, x, k, lin);
      return known;
    case 'shift64':
      return formShift64(b, x, fl, known);
    case 'test64':
      return formTest64(b, x, k, lin, fl, known);
    case 'testm':
      return formTestm(b, x, k, lin, fl, known);
    case 'alu64m':
      return formAlu64m(b, x, k, lin, fl, known);
    case 'cmpm':
      return formCmpm(b, x, k, lin, fl, known);
    case 'not64':
      formNot64(b, x);
      return known;
    case 'imul64':
      return emitImul64(b, ALU_CTX, x, k, lin, fl, known);
    case 'mov8':
      formMov8(b, x);
      return known;
    case 'imul32':
      return emitImul32(b, ALU_CTX, x, k, lin, fl, known);
    case 'mul32':
      return emitMul32(b, ALU_CTX, x, k, lin, fl, known);
    case 'alu32m':
      return emitAlu32m(b, ALU_CTX, x, k, lin, fl, known, smcExit(k));
    case 'shiftcl':
      return emitShiftCl(b, ALU_CTX, x, fl);
    case 'shiftclm':
      return emitShiftClm(b, ALU_CTX, x, k, lin, fl, smcExit(k));
    case 'cmpxchg32m':
      return emitCmpxchg32m(b, ALU_CTX, x, k, lin, fl, known, smcExit(k));
    case 'incdec64':
      return emitIncDec64(b, ALU_CTX, x, fl, known);
    case 'movsreg':
      emitMovSreg(b, ALU_CTX, x);
      return known;
    case 'nop':
      return known;
    case 'cbw':
      formCbw(b, x);
      return known;
    case 'bswap':
      formBswap(b, x);
      return known;
    case 'aluc64':
      return formAluc64(b, x, fl, known);
    case 'alunm':
      return formAlunm(b, x, k, lin, fl, known);
    case 'divide':
      // Flags untouched, by the form and by the handler it may call.
      formDivide(b, x, k);
      return known;
    case 'mul64':
      return formMul64(b, x, k, lin, fl, known);
    case 'cmpxchg64m':
      return formCmpxchg64m(b, x, k, lin, fl, known);
    case 'shld':
      return formShld(b, x, fl, known);
    case 'bt':
      return formBt(b, x, k, lin, fl, emitting.liveAfter, known);
    case 'bitscan':
      return formBitScan(b, x, k, lin, fl, emitting.liveAfter);
    case 'pushf':
      formPushf(b, k);
      return known;
    case 'pushm':
      formPushm(b, k, lin);
      return known;
    case 'leave':
      formLeave(b, k);
      return known;
    case 'xchgm':
      formXchgm(b, x, k, lin);
      return known;
    case 'xaddm':
      return formXaddm(b, x, k, lin, fl, known);
    case 'incdecm64':
      return formIncdecm64(b, x, k, lin, fl, known);
    case 'cmovm':
      formCmovm(b, x, k, lin, known);
      return known;
    case 'jmp':
      exitRip(b, x.end + x.imm, x);
      b.i32(exitCode(k + 1, 1)).op(W.Return);
      return known;
    case 'call':
      emitCall64(b, x, k);
      return known;
    case 'ret':
      emitRet64(b, k);
      return known;
    case 'call32':
      emitCall32(b, x, k);
      return known;
    case 'ret32':
      emitRet32(b, x, k);
      return known;
    case 'jmpind':
    case 'callind':
    case 'callr':
      emitIndirect(b, x, k, f !== 'jmpind');
      return known;
    case 'simd':
      // Flags neither read nor written (nor by the handler it may call): `known` and `dirtyAt` stay.
      emitSimd(b, x, k, smcExit(k), SIMD_CTX);
      return known;
    case 'str':
      // No flags written, by the form or by the handler it may call.
      emitStr(b, STR_CTX, x, k, emitting.blockLong, smcExit(k));
      return known;
    case 'tail':
      b.i32(exitCode(k, 3)).op(W.Return);
      return known;
    default:
      handler(b, k, smcExit(k));
      emitting.dirtyAt = 0;
      return NONE;
  }
}

/** What the SIMD forms (wasm-simd.ts) use of the emitter. */
const SIMD_CTX: SimdCtx = { slot: P_SLOT, address, tlbHit, handler };

/** What the string forms (wasm-string.ts) use of the emitter. */
const STR_CTX: StrCtx = { slot: P_SLOT, tlbHit, handler };
