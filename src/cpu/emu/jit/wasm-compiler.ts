/**
 * The WebAssembly block tier (TSVMM_JIT=wasm): a hot block becomes one wasm function, from the same
 * inline forms and per-flag liveness as the JS block compiler (../block-compiler.ts formOf, flagLiveness).
 * Registers, segment bases and TLB tags are read and written in the VM's wasm memory (wasm-arena.ts);
 * a TLB hit on RAM in that memory is an inline load or store; conditions are computed from the producing
 * instruction's operands (i64 compares for 64-bit ALU operations); everything else calls out to JS
 * through imports (the instruction's handler, slow memory paths, effective addresses the inline code
 * does not form, conditions after a handler).
 *
 * Flags: an inline producer whose flags are live writes the lazy-flags record in the vCPU's slot and marks
 * it dirty; every import and the wrapper on return copy a dirty record into the EmuCpu fields first
 * (`pull`), so JS code always sees the flags as the interpreter would have left them (the fields each
 * kernel of sem-alu.ts sets, no others).
 */
import type { EmuCpu } from '../cpu.js';
import type { Block, Insn } from '../insn.js';
import { Ea } from '../insn.js';
import { flagLiveness, formOf, eFirst, hasImm, mayFault, plainAlu, writes, type Form } from '../block-compiler.js';
import { aluEG, aluEI, aluGE, cmovcc, cmpxchg, incdecE, lea as leaOp, lea64, mov64load, mov64store, movEG, movEI, movGE, movMoffs, movRI, movsx, negE, notE, setcc, testEG, testEI } from '../ops-alu.js';
import { shiftE } from '../ops-shift.js';
import { imulGE, imulGEI, mulE } from '../ops-muldiv.js';
import { callE, callRel, callRel64, jmpE, jmpRel, movESeg, pop32r, pop64r, popR, push32r, push64r, pushI, pushR, ret64, retNear } from '../ops-flow.js';
import { nop, rdmsr, rdpmc, wrmsr } from '../ops-system.js';
import { Alu } from '../sem-alu.js';
import { Sh } from '../sem-shift.js';
import { Lazy } from '../flags.js';
import type { JitStats } from './jit-stats.js';
import { Dg, Fr, LINK_BYTES, type WasmArena } from './wasm-arena.js';
import { bookOf } from './wasm-code-book.js';
import { Body, moduleBytes, T, W, wasmApi } from './wasm-encoder.js';
import { BlockBody } from './wasm-regs.js';
import { Lk } from './wasm-chain.js';
import { emitSimd, simdForm, simdStores, type SimdCtx } from './wasm-simd.js';
import { emitStr, strFits, strForm, strStores, type StrCtx } from './wasm-string.js';
import { readForWrite32, writeBack32, emitAlu32m, emitCmpxchg32m, emitImul32, emitImul64, emitMul32, emitIncDec64, emitMovSreg, emitShift32Flags, emitShiftCl, emitShiftClm, shift32Inline, NONE, type AluCtx, type Known } from './wasm-alu.js';
import { linkValidity } from './link-validity.js';
import { Bit } from '../flags.js';
import { Seg } from '../x86-defs.js';
import { CHAIN, exitCode, HELPERS, Im, IMPORTS, MAIN_TYPE, P_SLOT, P_USER, TYPES } from './wasm-block-abi.js';
import { emitting } from './wasm-emit-state.js';
import { emitCall32, emitCall64, emitIndirect, emitRet32, emitRet64, exitRip, formJcc, handler, setLoops, smcExit } from './wasm-flow.js';
import { address, load, load8, nonCanonical, off32, segNotFlat, stackLin32, store, store8, sum64, tlbHit, tlbHitRw } from './wasm-mem-access.js';
import { carry, condition, materialize, narrowLogic, parity, recConst, recDirty, recField, recField64, recLocal, record32, record64, recordAddSub, recordIncDec, recLogic } from './wasm-flags-record.js';
import { chainOf, chainRunning, chainWrapper, imports, wrapper, type ChainEntry } from './wasm-host.js';

const SHIFT_OP: readonly number[] = [W.I32Rotl, W.I32Rotr, 0, 0, W.I32Shl, W.I32ShrU, W.I32Shl, W.I32ShrS];

export const canCompileWasm = wasmApi !== undefined;

/**
 * The wasm tier's inline forms: the JS compiler's (formOf), and 8- and 16-bit register ALU/TEST ('alu8'), 32-bit register
 * ADC/SBB, PUSH/POP r32/r64, 64-bit LEA, MOV r64 <-> [m], MOV r64/[m64], imm, SETcc/CMOVcc on registers, NOP,
 * MOVSX/MOVSXD r32/r64 from a register or memory ('movsx'), SHL/SHR/SAR r64 by a constant count that is not 0
 * once masked ('shift64'), TEST r/m64 ('test64'), TEST m8/m16/m32 with a register or an immediate ('testm')
 * ADD/OR/AND/SUB/XOR/CMP with a 64-bit memory operand, read-modify-write included ('alu64m'), CMP r8, m8 and
 * CMP m8/m32, r ('cmpm'), NOT r64 ('not64'), MOV r64, imm32 (C7, as 'movri64'), and those of wasm-alu.ts: IMUL
 * r64 ('imul64'), ADD/OR/AND/SUB/XOR m32 ('alu32m'), SHL/SHR/SAR r32/r64 by CL ('shiftcl'), CMPXCHG m32
 * ('cmpxchg32m'), INC/DEC r64 ('incdec64'), MOV r, Sreg ('movsreg'); PUSH imm (as 'push'), SETcc m8 ('setccm'),
 * NEG r64 ('neg64'), IMUL r32 ('imul32'), MUL r/m32 ('mul32'), MOV between byte registers and MOV r8, imm8 ('mov8'),
 * ADC/SBB r32, m32 ('alucm'), SHL/SAL/SHR/SAR m32 by CL ('shiftclm'), MOV AL/AX/EAX <-> moffs with 32-bit addressing outside 64-bit mode ('moffs');
 * as block ends, CALL rel32, RET and RET imm16 with 32-bit operands ('call32', 'ret32') and JMP/CALL through a
 * register or memory ('jmpind', 'callind'); MOVS/STOS/LODS without REP ('str', wasm-string.ts);
 * 'tail' is a last instruction without one, which the block's wrapper runs (no call out of wasm for it).
 */
export type WForm =
  | Form
  | 'alu8'
  | 'aluc'
  | 'alucm'
  | 'moffs'
  | 'push'
  | 'pop'
  | 'lea64'
  | 'load64'
  | 'store64'
  | 'movri64'
  | 'setcc'
  | 'cmov'
  | 'nop'
  | 'movsx'
  | 'shift64'
  | 'test64'
  | 'testm'
  | 'alu64m'
  | 'cmpm'
  | 'not64'
  | 'jmp'
  | 'call'
  | 'ret'
  | 'callr'
  | 'loadn'
  | 'incdecm'
  | 'incdec8'
  | 'shift8'
  | 'simd'
  | 'imul64'
  | 'alu32m'
  | 'shiftcl'
  | 'shiftclm'
  | 'cmpxchg32m'
  | 'incdec64'
  | 'movsreg'
  | 'neg64'
  | 'setccm'
  | 'mov8'
  | 'imul32'
  | 'mul32'
  | 'call32'
  | 'ret32'
  | 'jmpind'
  | 'callind'
  | 'str'
  | 'tail';

export function wasmForm(x: Insn): WForm {
  const f = formOf(x);
  if (f !== '') return f;
  const fn = x.fn;
  const reg = x.mod === 3;
  if (fn === aluEI || fn === aluEG || fn === aluGE) {
    if (reg && (x.osz === 1 || x.osz === 2) && plainAlu(x.op)) return 'alu8';
    if (reg && x.osz === 4 && !plainAlu(x.op)) return 'aluc';
    if (!reg && x.osz === 4 && !plainAlu(x.op) && fn === aluGE) return 'alucm';
    if (!reg && x.osz === 8 && plainAlu(x.op)) return 'alu64m';
    if (!reg && x.osz === 4 && plainAlu(x.op) && x.op !== Alu.Cmp && fn !== aluGE) return 'alu32m';
    if (!reg && x.op === Alu.Cmp && (x.osz === 1 || x.osz === 4) && fn !== aluEI) return 'cmpm';
    return '';
  }
  if (fn === testEG || fn === testEI) {
    if (x.osz === 8) return 'test64';
    if (reg) return x.osz === 1 || x.osz === 2 ? 'alu8' : '';
    return 'testm';
  }
  // A count that is 0 once masked changes nothing, flags included: the handler (the liveness pass takes a
  // compiled shift to write the flags).
  if (fn === shiftE) {
    if (x.op < Sh.Shl) return '';
    if (!reg) return x.imm2 !== 0 && x.osz === 4 ? 'shiftclm' : '';
    if (x.imm2 !== 0) return x.osz === 8 || x.osz === 4 ? 'shiftcl' : '';
    if ((x.osz === 1 || x.osz === 2) && (x.imm & 31) !== 0) return 'shift8';
    return x.osz === 8 && (x.imm & 63) !== 0 ? 'shift64' : '';
  }
  if (fn === imulGE || fn === imulGEI) return x.osz === 8 ? 'imul64' : x.osz === 4 ? 'imul32' : '';
  if (fn === mulE) return x.osz === 4 ? 'mul32' : '';
  if (fn === movsx) return (x.osz === 8 || x.osz === 4) && (x.imm2 === 1 || x.imm2 === 2 || x.imm2 === 4) ? 'movsx' : '';
  // The interpreter's 64-bit fast variants (push64r, pop64r, lea64, mov64load, mov64store) are the same instructions.
  if (fn === push32r || fn === pushR || fn === push64r || fn === pushI) return x.osz === 4 || x.osz === 8 ? 'push' : '';
  if (fn === pop32r || fn === popR || fn === pop64r) return x.osz === 4 || x.osz === 8 ? 'pop' : '';
  if (fn === leaOp || fn === lea64) return x.ak === Ea.A64 && (x.osz === 4 || x.osz === 8) ? 'lea64' : '';
  // MOV between byte registers and MOV r8, imm8 (AH..BH as register codes 16-19).
  if ((fn === movEG || fn === movGE || fn === movRI) && x.osz === 1 && (reg || fn === movRI)) return 'mov8';
  if (fn === movGE || fn === mov64load) return reg ? '' : x.osz === 8 ? 'load64' : fn === movGE && (x.osz === 1 || x.osz === 2) ? 'loadn' : '';
  if (fn === movEI && reg) return x.osz === 8 ? 'movri64' : '';
  if (fn === movEG || fn === movEI || fn === mov64store) return !reg && x.osz === 8 ? 'store64' : '';
  if (fn === incdecE) return !reg && x.osz === 4 ? 'incdecm' : reg && x.osz === 8 ? 'incdec64' : reg && (x.osz === 1 || x.osz === 2) ? 'incdec8' : '';
  if (fn === cmpxchg) return !reg && x.osz === 4 ? 'cmpxchg32m' : '';
  // MOV r, Sreg (a register destination; Sreg 6 and 7 raise #UD in the handler).
  if (fn === movESeg) return reg && x.op <= Seg.GS ? 'movsreg' : '';
  if (fn === notE) return reg && x.osz === 8 ? 'not64' : '';
  if (fn === negE) return reg && x.osz === 8 ? 'neg64' : '';
  if (fn === movRI) return x.osz === 8 ? 'movri64' : '';
  if (fn === setcc) return reg ? 'setcc' : 'setccm';
  if (fn === cmovcc) return reg && (x.osz === 4 || x.osz === 8) ? 'cmov' : '';
  if (fn === nop) return 'nop';
  // MOV AL/AX/EAX <-> moffs with 32-bit addressing outside 64-bit mode.
  if (fn === movMoffs) return x.ak === Ea.A32 && x.osz <= 4 ? 'moffs' : '';
  // Block ends that a chained run goes on from (wasm-chain.ts): JMP rel in any mode; CALL rel32 and RET in
  // 64-bit mode, inline when the stack slot is a TLB hit and the target canonical, else by their handler.
  if (fn === jmpRel) return 'jmp';
  if (fn === callRel64) return 'call';
  if (fn === ret64) return 'ret';
  // CALL r64 (64-bit mode: the only place its operand is 8 bytes): a return's way in the other direction.
  if (fn === callE && reg && x.osz === 8) return 'callr';
  // The same outside 64-bit mode with a 32-bit operand (CALL rel32, RET, RET imm16), checked against the CS limit,
  // and JMP/CALL through a register or memory in both (switch tables, function pointers): inline when the stack
  // and the operand are TLB hits and the target passes the branch checks, else by their handler.
  if (fn === callRel) return x.osz === 4 ? 'call32' : '';
  if (fn === retNear) return x.osz === 4 ? 'ret32' : '';
  if (fn === jmpE) return x.osz === 4 || x.osz === 8 ? 'jmpind' : '';
  if (fn === callE) return x.osz === 4 || x.osz === 8 ? 'callind' : '';
  if (strForm(x)) return 'str';
  // SSE integer SIMD, shuffles and moves (wasm-simd.ts).
  return simdForm(x) ? 'simd' : '';
}

/** Whether a form may fault or call out (it then observes every flag, for the liveness pass). */
function observesAll(f: string, x: Insn): boolean {
  if ((f === 'movsx' || f === 'test64' || f === 'imul64' || f === 'imul32' || f === 'mul32') && x.mod !== 3) return true;
  // A shift by CL whose count is 0 leaves the flags as they were: they must be recorded before it.
  if (f === 'shiftcl' || f === 'shiftclm' || f === 'alu32m' || f === 'cmpxchg32m' || f === 'setccm' || f === 'alucm' || f === 'moffs') return true;
  return f === 'push' || f === 'pop' || f === 'load64' || f === 'store64' || f === 'testm' || f === 'alu64m' || f === 'cmpm' || f === 'tail' || f === 'jmp' || f === 'call' || f === 'ret' || f === 'callr' || f === 'call32' || f === 'ret32' || f === 'jmpind' || f === 'callind' || f === 'loadn' || f === 'incdecm' || f === 'simd' || f === 'str' || mayFault(f as Form, x);
}

/** A block's function before its module is made. */
interface Prepared {
  blk: Block;
  body: Body;
  segAt: Int32Array;
  /** The instruction a self-loop starts at (its last instruction branches back there), or -1. */
  head: number;
}

/** Emits `blk`'s function; null when it does not loop on itself and `anyBlock` is false. */
function prepare(blk: Block, anyBlock: boolean): Prepared | null {
  const ins = blk.insns;
  const n = ins.length;
  const long = blk.mode === 2;
  const forms = ins.map((x) => {
    const f = wasmForm(x);
    return f === 'str' && !strFits(x, long) ? '' : f;
  });
  // A block without any inline form (CLI, RDTSC, PUSHF; CLI ...) is compiled too: its handlers run through imports
  // and its last instruction through the chain driver's tail, so chained runs go on through it instead of
  // returning to the run loop before and after it.
  if (forms[n - 1] === '') forms[n - 1] = 'tail';
  // A block whose last branch goes back to its start or to a later instruction of it loops inside the
  // function, as in the JS compiler: only inline forms from there on, and no stores when it is entered mid-block
  // (its writes to its own code are checked from the block start only). Side exits may lie in the loop: one taken
  // leaves with the passes so far in the slot, and their poll check never fires after the first pass (passes are
  // limited to room / count, so each ends before the poll point), as the run loop running the block pass by pass
  // would not poll at them either.
  let head = -1;
  const last = ins[n - 1]!;
  if (forms[n - 1] === 'jcc') for (let k = 0; k < n; k++) if (ins[k]!.start === last.end + last.imm) head = k;
  const stores = (f: WForm, x: Insn): boolean => f === 'store' || f === 'store64' || f === 'push' || f === 'alu32m' || f === 'cmpxchg32m' || f === 'setccm' || (f === 'alu64m' && x.mw) || (f === 'simd' && simdStores(x)) || (f === 'str' && strStores(x)) || f === 'shiftclm';
  if (head >= 0 && !forms.every((f, k) => k < head || (f !== '' && f !== 'tail' && !(head > 0 && stores(f, ins[k]!))))) head = -1;
  if (head < 0 && !anyBlock) return null; // asked again at the late threshold (jit-mode.ts WASM_LATE_FACTOR)
  const liveAfter = flagLiveness(ins, forms, observesAll);
  // The same where memory accesses with inline fast paths see the flags only in their slow paths (deferred records).
  const liveInline = flagLiveness(ins, forms, (f, x) => !SLOW_ONLY.has(f) && observesAll(f, x));
  // segOff at each instruction: the start of its basic block (after the last side exit before it).
  const segAt = new Int32Array(n);
  for (let k = 1; k < n; k++) segAt[k] = forms[k - 1] === 'jcc' ? k : segAt[k - 1]!;
  const body = new BlockBody(5, P_SLOT, (f) => f === Im.H);
  emitting.blockLong = long;
  emit(body, ins, forms, liveAfter, liveInline, head);
  return { blk, body, segAt, head };
}

/** Compiles prepared blocks into one module and sets each block's exec. */
function compileBatch(arena: WasmArena, ps: readonly Prepared[], stats: JitStats | undefined, t0: number): void {
  if (ps.length === 0) return;
  const book = bookOf(arena);
  if (!chainRunning()) book.reclaim();
  const bytes = moduleBytes(TYPES, IMPORTS, MAIN_TYPE, ps.map((p) => p.body), HELPERS, true);
  let exports: Record<string, unknown>;
  try {
    exports = new wasmApi!.Instance(new wasmApi!.Module(bytes), book.imports(() => imports(arena))).exports;
  } catch {
    // No wasm compilation allowed here (a CSP without wasm-unsafe-eval): the blocks stay interpreted.
    return;
  }
  const held: Block[] = [];
  const idxs: number[] = [];
  ps.forEach((p, i) => {
    const blk = p.blk;
    const ins = blk.insns;
    const h = p.head;
    blk.selfLoop = h >= 0;
    blk.loopLen = h >= 0 ? ins.length - h : 0;
    blk.loopBranches = h >= 0 ? ins[ins.length - 1]!.brThrough - (h > 0 ? ins[h - 1]!.brThrough : 0) : 0;
    const run = exports[`f${i}`] as (slot: number, user: number, bip: number, room: number, lim: number) => number;
    // RDMSR, WRMSR and RDPMC count the PMU up to themselves (run-loop.ts pmuSync): their blocks run alone.
    // A block the code cache does not hold is never released: no table slot that would keep it (and its module).
    const keep = book.holds(blk);
    const ch = CHAIN && keep && !ins.some((x) => x.fn === rdmsr || x.fn === wrmsr || x.fn === rdpmc) ? chainOf(arena) : null;
    const idx = ch !== null ? book.takeIndex() : 0;
    if (keep) {
      held.push(blk);
      idxs.push(idx);
    }
    if (ch !== null && idx !== 0) {
      ch.table.set(idx, run);
      const e: ChainEntry = { blk, ins, segAt: p.segAt, idx, tag: book.tags[idx]! };
      ch.entries[idx] = e;
      const at = arena.linkBase + idx * LINK_BYTES;
      const m = arena.i32;
      m.fill(0, at >> 2, (at + LINK_BYTES) >> 2);
      m[(at + Lk.Count) >> 2] = ins.length;
      m[(at + Lk.Branches) >> 2] = blk.branches;
      m[(at + Lk.LoopLen) >> 2] = blk.loopLen;
      m[(at + Lk.LoopBr) >> 2] = blk.loopBranches;
      blk.wl = { m, f: ch.f64, at };
      linkValidity(blk);
      blk.exec = chainWrapper(arena, ch, e);
    } else blk.exec = wrapper(arena, ins, p.segAt, blk.loopLen, run);
  });
  book.add(bytes.length, held, idxs);
  if (stats !== undefined) {
    stats.compileMs += performance.now() - t0;
    stats.codeBytes += bytes.length;
    stats.regions += ps.length;
  }
}

/** Blocks that got hot and wait for their batch, per arena. */
const pendingOf = new WeakMap<WasmArena, Prepared[]>();
/** Milliseconds spent preparing the pending blocks (counted when their batch compiles). */
let pendingMs = 0;

/**
 * A block reached the compile threshold: compiled now when batches are 1 block (wasm-eager), else queued
 * and the queue compiled as one module when it holds `batch` blocks (wasmFlush compiles a partial one).
 */
export function wasmBlockHot(blk: Block, arena: WasmArena, batch: number, stats?: JitStats, anyBlock = true): void {
  if (!canCompileWasm || blk.exec !== null) return;
  const t0 = performance.now();
  const p = prepare(blk, anyBlock);
  if (p === null) return;
  if (batch <= 1) {
    // At threshold 1 a block is compiled right after its decode, before the cache keeps it (code-cache.ts put):
    // kept now, so that it is released (and its module freed) with its page, as every compiled block is.
    bookOf(arena).keep(blk);
    compileBatch(arena, [p], stats, t0);
    return;
  }
  let q = pendingOf.get(arena);
  if (q === undefined) {
    q = [];
    pendingOf.set(arena, q);
  }
  q.push(p);
  pendingMs += performance.now() - t0;
  if (q.length >= batch) wasmFlush(arena, stats);
}

/** Compiles the queued blocks (those still valid and not compiled) as one module. */
export function wasmFlush(arena: WasmArena, stats?: JitStats): void {
  const q = pendingOf.get(arena);
  if (q === undefined || q.length === 0) return;
  const t0 = performance.now() - pendingMs;
  pendingMs = 0;
  pendingOf.set(arena, []);
  compileBatch(
    arena,
    q.filter((p) => p.blk.valid && p.blk.exec === null),
    stats,
    t0,
  );
}

/** Compiles one block alone (tests). */
export function compileWasmBlock(blk: Block, arena: WasmArena, stats?: JitStats): ((c: EmuCpu) => void) | null {
  wasmBlockHot(blk, arena, 1, stats);
  return blk.exec;
}

// ------------------------------------------------------------------ code generation

/** Pushes a byte/word/dword register as GETREG reads it (8-bit codes 16-19 are AH..BH). */
function getReg(b: BlockBody, size: number, r: number): void {
  if (size === 1) {
    if (r < 16) b.load32(r);
    else {
      b.load32(r - 16);
      b.i32(8).op(W.I32ShrU);
    }
    b.i32(0xff).op(W.I32And);
  } else if (size === 2) {
    b.load32(r);
    b.i32(0xffff).op(W.I32And);
  } else b.load32(r);
}

/** Writes the low byte of i32 local `v` to byte register code r (16-19: AH..BH), as setReg(1) does. */
function setReg8(b: BlockBody, r: number, v: number): void {
  const q = r < 16 ? r : r - 16;
  b.storeLow32(q, () => {
    b.load32(q);
    if (r < 16) b.i32(~0xff).op(W.I32And).get(v).i32(0xff).op(W.I32And, W.I32Or);
    else b.i32(~0xff00).op(W.I32And).get(v).i32(0xff).op(W.I32And).i32(8).op(W.I32Shl, W.I32Or);
  });
}

/** Writes the low 16 bits of i32 local `v` into register r, keeping its other bits. */
function setReg16(b: BlockBody, r: number, v: number): void {
  b.storeLow32(r, () => {
    b.load32(r);
    b.i32(~0xffff).op(W.I32And).get(v).i32(0xffff).op(W.I32And, W.I32Or);
  });
}

/**
 * An 8- or 32-bit CMP of the i32 locals d and s (the memory forms): the SUB's result in a new local and, when its
 * flags are live, the flags record of that SUB; returns what is known of the flags then.
 */
function cmpSub(b: BlockBody, size: number, d: number, s: number, fl: boolean, known: Known): Known {
  const r = b.local(T.I32);
  b.get(d).get(s).op(W.I32Sub);
  if (size === 1) b.i32(0xff).op(W.I32And);
  b.set(r);
  return fl ? recordAddSub(b, false, size, d, s, r) : known;
}

/** Memory forms that see the flags only in their slow paths (a fault, an import): they may run with records deferred. */
const SLOW_ONLY: ReadonlySet<string> = new Set(['load', 'movzx-load', 'store', 'load64', 'store64', 'loadn', 'alu-load', 'cmp-mi', 'cmp-mi8']);
/** Forms a deferred record waits across: they neither read nor write flags, and call out only in slow paths. */
const FLAGLESS: ReadonlySet<string> = new Set(['load', 'movzx-load', 'store', 'load64', 'store64', 'loadn', 'mov-rr', 'mov64', 'movri', 'movri64', 'lea', 'lea64', 'movzx', 'not', 'not64', 'mov8', 'nop']);
/** Forms that write every arithmetic flag without reading any, whose records go through recField/recDirty only. */
const FULL_WRITERS: ReadonlySet<string> = new Set(['alu-rr', 'alu-ri', 'alu-load', 'test', 'alu64', 'cmp-mi', 'cmp-mi8']);

function emit(b: BlockBody, ins: readonly Insn[], forms: readonly WForm[], liveAfter: readonly number[], liveInline: readonly number[], head: number): void {
  const n = ins.length;
  let known: Known = NONE;
  // A chained run (wasm-chain.ts) enters a block with the record as the block before it left it, dirty groups
  // included; without chains every block starts from the wrapper's clean record.
  emitting.dirtyAt = CHAIN ? -1 : 0;
  emitting.userLocal = -1;
  emitting.segFlag.fill(-1);
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
    if (k === head || !(full || rot || FLAGLESS.has(f))) materialize();
    if (k === head) {
      // Passes completed so far are in the slot for anything that faults or calls out in the loop.
      b.loopHead();
      setLoops(b);
      known = NONE; // reached from the back edge too
      emitting.dirtyAt = -1;
    }
    const fl = (liveAfter[k]! & w) !== 0;
    // Its flags seen only where a later memory access takes its slow path: recorded there.
    const defer = fl && (liveInline[k]! & w) === 0;
    let lin = -1;
    const memForm = f === 'alu-load' || f === 'cmp-mi' || f === 'cmp-mi8' || f === 'load' || f === 'store' || f === 'movzx-load' || f === 'load64' || f === 'store64' || f === 'loadn' || f === 'incdecm';
    if ((memForm || f === 'movsx' || f === 'test64' || f === 'testm' || f === 'alu64m' || f === 'cmpm' || f === 'imul64' || f === 'imul32' || f === 'mul32' || f === 'alu32m' || f === 'cmpxchg32m' || f === 'setccm' || f === 'alucm' || f === 'shiftclm') && x.mod !== 3) {
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
    // Set once at the function's start: P_USER's low half, the TLB bank every inline access indexes.
    const pro = new Body(0).get(P_USER).i32(0xffff).op(W.I32And).set(emitting.userLocal);
    b.code.unshift(...pro.code);
  }
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

function formAlu32(b: BlockBody, x: Insn, f: WForm, k: number, lin: number, fl: boolean, known: Known): Known {
  const A = x.rm;
  const B = x.reg;
  const d = b.local(T.I32);
  const s = b.local(T.I32);
  const r = b.local(T.I32);
  const dst = f === 'alu-load' ? B : A;
  b.load32(dst);
  b.set(d);
  if (f === 'alu-rr') b.load32(B);
  else if (f === 'alu-ri') b.i32(x.imm | 0);
  else load(b, k, lin, 4);
  b.set(s);
  aluOp32(b, x.op, d, s, r);
  if (x.op !== Alu.Cmp) b.store32(dst, r);
  if (fl) known = record32(b, x.op, d, s, r);
  return known;
}

function formAlu64(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const A = x.rm;
  const B = x.reg;
  const dst = eFirst(x.row) ? A : B;
  const src = eFirst(x.row) ? B : A;
  const d = b.local(T.I64);
  const s = b.local(T.I64);
  const r = b.local(T.I64);
  b.load64(dst);
  b.set(d);
  if (hasImm(x.row)) b.i64((BigInt(x.immHi | 0) << 32n) | BigInt(x.imm >>> 0));
  else b.load64(src);
  b.set(s);
  const op = x.op;
  b.get(d).get(s).op(aluOp64(op)).set(r);
  if (op !== Alu.Cmp) b.store64(dst, r);
  if (fl) known = record64(b, op, d, s, r);
  return known;
}

function formCmpMi(b: BlockBody, x: Insn, f: WForm, k: number, lin: number, fl: boolean, known: Known): Known {
  const size = f === 'cmp-mi' ? 4 : 1;
  const d = b.local(T.I32);
  const s = b.local(T.I32);
  load(b, k, lin, size);
  b.set(d);
  b.i32(x.imm | 0).set(s);
  known = cmpSub(b, size, d, s, fl, known);
  return known;
}

function formTest(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const A = x.rm;
  const B = x.reg;
  const r = b.local(T.I32);
  b.load32(A);
  if (hasImm(x.row)) b.i32(x.imm | 0);
  else b.load32(B);
  b.op(W.I32And).set(r);
  if (fl) {
    recLogic(b, r);
    known = { kind: 'logic', w64: false, d: -1, s: -1, r };
  }
  return known;
}

function formIncdec(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const A = x.rm;
  const d = b.local(T.I32);
  const r = b.local(T.I32);
  const dec = x.op === 1;
  b.load32(A);
  b.tee(d).i32(1).op(dec ? W.I32Sub : W.I32Add).set(r);
  if (fl) known = recordIncDec(b, dec, 4, d, r, known);
  b.store32(A, r);
  return known;
}

function formNeg(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const A = x.rm;
  const d = b.local(T.I32);
  const s = b.local(T.I32);
  const r = b.local(T.I32);
  b.i32(0).set(d);
  b.load32(A);
  b.set(s);
  b.i32(0).get(s).op(W.I32Sub).set(r);
  b.store32(A, r);
  if (fl) known = record32(b, Alu.Sub, d, s, r);
  return known;
}

function formNot(b: BlockBody, x: Insn): void {
  const A = x.rm;
  const r = b.local(T.I32);
  b.load32(A);
  b.i32(-1).op(W.I32Xor).set(r);
  b.store32(A, r);
}

function formMovRr(b: BlockBody, x: Insn): void {
  const A = x.rm;
  const B = x.reg;
  const r = b.local(T.I32);
  b.load32(B);
  b.set(r);
  b.store32(A, r);
}

function formMov64(b: BlockBody, x: Insn): void {
  const A = x.rm;
  const B = x.reg;
  const [dst, src] = eFirst(x.row) ? [A, B] : [B, A];
  const v = b.local(T.I64);
  b.load64(src);
  b.set(v);
  b.store64(dst, v);
}

function formLoad32(b: BlockBody, x: Insn, f: WForm, k: number, lin: number): void {
  const B = x.reg;
  const r = b.local(T.I32);
  load(b, k, lin, f === 'load' ? 4 : x.imm2);
  b.set(r);
  b.store32(B, r);
}

/** INC/DEC r8/r16 (byte and word counters): incdec() at the operand size, the rest of the register kept, CF as the carry-in. */
function formIncdec8(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const size = x.osz;
  const A = x.rm;
  const dec = x.op === 1;
  const d = b.local(T.I32);
  const r = b.local(T.I32);
  getReg(b, size, A);
  b.set(d);
  b.get(d).i32(1).op(dec ? W.I32Sub : W.I32Add).i32(size === 1 ? 0xff : 0xffff).op(W.I32And).set(r);
  if (fl) known = recordIncDec(b, dec, size, d, r, known);
  if (size === 1) setReg8(b, A, r);
  else setReg16(b, A, r);
  return known;
}

/**
 * SHL/SAL/SHR/SAR r8/r16 by a constant 1-31 (shiftE's narrow cases): the low byte or word replaced, the flags
 * eager as shiftE leaves them. Counts past the width shift everything out (SHL's CF 0, SAR's the sign).
 */
function formShift8(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const size = x.osz;
  const bits = size * 8;
  const n = x.imm & 31;
  const op = x.op;
  const shl = op === Sh.Shl || op === Sh.Sal;
  const d = b.local(T.I32);
  const r = b.local(T.I32);
  getReg(b, size, x.rm);
  b.set(d);
  // SAR shifts the operand sign-extended to 32 bits.
  let v = d;
  if (op === Sh.Sar) {
    v = b.local(T.I32);
    b.get(d).op(size === 1 ? W.I32Extend8S : W.I32Extend16S).set(v);
  }
  b.get(v).i32(n).op(shl ? W.I32Shl : op === Sh.Shr ? W.I32ShrU : W.I32ShrS).i32(size === 1 ? 0xff : 0xffff).op(W.I32And).set(r);
  if (size === 1) setReg8(b, x.rm, r);
  else setReg16(b, x.rm, r);
  if (!fl) return known;
  // CF: the last bit shifted out; OF: SHL the result's sign ^ CF, SHR the operand's sign, SAR 0.
  const cf = b.local(T.I32);
  if (shl && n > bits) b.i32(0);
  else b.get(v).i32(shl ? bits - n : n - 1).op(W.I32ShrU).i32(1).op(W.I32And);
  b.set(cf);
  recConst(b, Fr.Op, Lazy.Eager);
  recField(b, Fr.Res, () => {
    b.get(cf);
    if (shl) b.get(r).i32(bits - 1).op(W.I32ShrU).get(cf).op(W.I32Xor).i32(11).op(W.I32Shl, W.I32Or);
    else if (op === Sh.Shr) b.get(d).i32(bits - 1).op(W.I32ShrU).i32(11).op(W.I32Shl, W.I32Or);
    parity(b, r, false);
    b.i32(2).op(W.I32Shl, W.I32Or);
    b.get(r).op(W.I32Eqz).i32(6).op(W.I32Shl, W.I32Or);
    b.get(r).i32(bits - 1).op(W.I32ShrU).i32(7).op(W.I32Shl, W.I32Or);
  });
  recDirty(b, Dg.OpRes);
  return { kind: 'zf', w64: false, d: -1, s: -1, r };
}

function formIncdecm(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  // INC/DEC m32 (the kernel's counters, LOCK ones included: vCPUs run one at a time): read for writing
  // inline when the TLB maps the page for both, as rdw, then recorded and written as the handler does.
  const dec = x.op === 1;
  const d = b.local(T.I32);
  const r = b.local(T.I32);
  const addr = b.local(T.I32);
  const hit = b.local(T.I32);
  readForWrite32(b, ALU_CTX, k, lin, addr, hit);
  b.tee(d).i32(1).op(dec ? W.I32Sub : W.I32Add).set(r);
  if (fl) known = recordIncDec(b, dec, 4, d, r, known);
  writeBack32(b, ALU_CTX, k, lin, addr, hit, r, smcExit(k));
  return known;
}

function formLoadn(b: BlockBody, x: Insn, k: number, lin: number): void {
  const B = x.reg;
  // MOV r8/r16, m: the low byte or word (AH..BH: the second byte) replaced, the rest of the register kept.
  const r = b.local(T.I32);
  load(b, k, lin, x.osz);
  b.set(r);
  if (x.osz === 1) setReg8(b, B, r);
  else setReg16(b, B, r);
}

function formStore(b: BlockBody, x: Insn, k: number, lin: number): void {
  const B = x.reg;
  const v = b.local(T.I32);
  if (hasImm(x.row)) b.i32(x.imm | 0);
  else getReg(b, x.osz, B);
  b.set(v);
  store(b, k, lin, x.osz, v, smcExit(k));
}

function formMovri(b: BlockBody, x: Insn): void {
  const A = x.rm;
  const r = b.local(T.I32);
  b.i32(x.imm | 0).set(r);
  b.store32(A, r);
}

function formLea(b: BlockBody, x: Insn): void {
  const B = x.reg;
  const r = b.local(T.I32);
  off32(b, x);
  b.set(r);
  b.store32(B, r);
}

function formMovzx(b: BlockBody, x: Insn): void {
  const A = x.rm;
  const B = x.reg;
  const r = b.local(T.I32);
  getReg(b, x.imm2, A);
  b.set(r);
  b.store32(B, r);
}

function formShift(b: BlockBody, x: Insn, k: number, fl: boolean, known: Known): Known {
  const A = x.rm;
  if (fl && shift32Inline(x)) {
    known = emitShift32Flags(b, ALU_CTX, x, fl);
    return known;
  }
  const r = b.local(T.I32);
  if (fl) {
    b.i32(k);
    b.load32(A);
    b.call(Im.Shift).set(r);
    emitting.dirtyAt = 0;
    known = x.op === Sh.Rol || x.op === Sh.Ror ? NONE : { kind: 'zf', w64: false, d: -1, s: -1, r };
  } else {
    b.load32(A);
    b.i32(x.imm & 31).op(SHIFT_OP[x.op]!).set(r);
  }
  b.store32(A, r);
  return known;
}

function formAlu8(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const A = x.rm;
  const B = x.reg;
  // 8- and 16-bit register ALU/TEST, as alu() and aluAnd() compute and record it (logic results unmasked).
  const size = x.osz;
  const test = x.fn === testEG || x.fn === testEI;
  const op = test ? Alu.And : x.op;
  const ge = x.fn === aluGE;
  const dst = ge ? B : A;
  const d = b.local(T.I32);
  const s = b.local(T.I32);
  const r = b.local(T.I32);
  getReg(b, size, dst);
  b.set(d);
  if (x.fn === aluEI || x.fn === testEI) b.i32(x.imm | 0);
  else getReg(b, size, ge ? A : B);
  b.set(s);
  aluOp32(b, op, d, s, r);
  const logic = op === Alu.And || op === Alu.Or || op === Alu.Xor;
  if (!logic) b.get(r).i32(size === 1 ? 0xff : 0xffff).op(W.I32And).set(r);
  if (!test && op !== Alu.Cmp) {
    if (size === 1) setReg8(b, dst, r);
    else setReg16(b, dst, r);
  }
  if (fl) {
    recConst(b, Fr.Op, logic ? Lazy.Logic : op === Alu.Add ? Lazy.Add : Lazy.Sub);
    recConst(b, Fr.Sz, size);
    if (!logic) {
      recLocal(b, Fr.Dst, d);
      recLocal(b, Fr.Src, s);
    }
    recLocal(b, Fr.Res, r);
    recDirty(b, logic ? Dg.OpRes | Dg.Sz : Dg.OpRes | Dg.Sz | Dg.DstSrc);
    known = logic ? narrowLogic(b, size, r) : { kind: op === Alu.Add ? 'add' : 'sub', w64: false, d, s, r, narrow: size === 1 ? 1 : 2 };
  }
  return known;
}

function formAluc(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  const A = x.rm;
  const B = x.reg;
  // ADC/SBB r32 and ADC/SBB r32, m32: the carry-in from what is known, recorded as Adc/Sbb when it is 1 (sem-alu.ts).
  const ge = x.fn === aluGE;
  const dst = ge ? B : A;
  const d = b.local(T.I32);
  const s = b.local(T.I32);
  const r = b.local(T.I32);
  const cin = b.local(T.I32);
  carry(b, known);
  b.set(cin);
  b.load32(dst);
  b.set(d);
  if (x.fn === aluEI) b.i32(x.imm | 0);
  else if (x.mod !== 3) load(b, k, lin, 4);
  else b.load32(ge ? A : B);
  b.set(s);
  const adc = x.op === Alu.Adc;
  b.get(d).get(s).op(adc ? W.I32Add : W.I32Sub).get(cin).op(adc ? W.I32Add : W.I32Sub).set(r);
  b.store32(dst, r);
  if (fl) {
    recField(b, Fr.Op, () => b.i32(adc ? Lazy.Add : Lazy.Sub).get(cin).op(W.I32Add));
    recConst(b, Fr.Sz, 4);
    recLocal(b, Fr.Dst, d);
    recLocal(b, Fr.Src, s);
    recLocal(b, Fr.Res, r);
    recDirty(b, Dg.OpRes | Dg.Sz | Dg.DstSrc);
    known = { kind: 'zf', w64: false, d: -1, s: -1, r };
  }
  return known;
}

/**
 * MOV AL/AX/EAX, moffs and MOV moffs, AL/AX/EAX (32-bit addressing outside 64-bit mode): with a flat segment the
 * offset is the linear address (movMoffs adds the base and checks no limit), loaded or stored inline on a TLB hit and
 * through the rd/wr imports on a miss; with any other segment the handler.
 */
function formMoffs(b: BlockBody, x: Insn, k: number): void {
  const size = x.osz;
  const lin = b.local(T.I64);
  segNotFlat(b, x.seg);
  b.op(W.If, T.Void);
  handler(b, k, smcExit(k));
  b.op(W.Else);
  b.i64(BigInt(x.imm >>> 0)).set(lin);
  const v = b.local(T.I32);
  if (x.op === 0) {
    load(b, k, lin, size);
    b.set(v);
    if (size === 4) b.store32(0, v);
    else if (size === 2) setReg16(b, 0, v);
    else setReg8(b, 0, v);
  } else {
    getReg(b, size, 0);
    b.set(v);
    store(b, k, lin, size, v, smcExit(k));
  }
  b.op(W.End);
}

function formPushPop(b: BlockBody, x: Insn, f: WForm, k: number): void {
  const A = x.rm;
  // Inline for a 32-bit stack (any SS base) or a 64-bit one at a canonical address, when the stack slot is
  // a TLB hit on RAM; else the handler does it all (faults, MMIO, a write to code), nothing changed before.
  const l = b.local(T.I64);
  const w = x.osz;
  const push = f === 'push';
  // PUSH imm (68, 6A): the immediate, sign-extended to the operand size by the decoder.
  const imm = x.fn === pushI;
  const addr = b.local(T.I32);
  const idx = b.local(T.I32);
  if (w === 4) {
    stackLin32(b, push ? -4 : 0, l);
    tlbHit(b, l, 4, push, addr, idx);
    b.get(P_USER).i32(16).op(W.I32ShrU).i32(4).op(W.I32Eq, W.I32And);
    b.op(W.If, T.Void);
    if (push) {
      b.get(addr);
      if (imm) b.i32(x.imm | 0);
      else b.load32(A);
      b.mem(W.I32Store, 0, 0);
    } else {
      const v = b.local(T.I32);
      b.get(addr).mem(W.I32Load, 0, 0).set(v);
      b.storeLow32(4, () => {
        b.load32(4);
        b.i32(4).op(W.I32Add);
      });
      b.store32(A, v);
    }
    if (push)
      b.storeLow32(4, () => {
        b.load32(4);
        b.i32(-4).op(W.I32Add);
      });
  } else {
    // Cached before the branch, so that the stack pointer stays in a local across the block's pushes and pops.
    b.ensure(4);
    if (push && !imm) b.ensure(A);
    const sp = b.local(T.I64);
    b.load64(4);
    b.set(sp);
    b.get(sp);
    if (push) b.i64(-8n).op(W.I64Add);
    b.set(l);
    tlbHit(b, l, 8, push, addr, idx);
    b.get(P_USER).i32(16).op(W.I32ShrU).i32(8).op(W.I32Eq, W.I32And);
    nonCanonical(b, l);
    b.op(W.I32Eqz, W.I32And);
    b.op(W.If, T.Void);
    if (push) {
      b.get(addr);
      if (imm) b.i64((BigInt(x.immHi | 0) << 32n) | BigInt(x.imm >>> 0));
      else b.load64(A);
      b.mem(W.I64Store, 0, 0);
      b.store64(4, l);
    } else {
      const v = b.local(T.I64);
      b.get(addr).mem(W.I64Load, 0, 0).set(v);
      b.get(sp).i64(8n).op(W.I64Add).set(sp);
      b.store64(4, sp);
      b.store64(A, v);
    }
  }
  b.op(W.Else);
  handler(b, k, smcExit(k));
  b.op(W.End);
  // The handler may have run (and changed the cpu's flags fields): what Fr.Dirty holds is not known.
  emitting.dirtyAt = -1;
}

function formLea64(b: BlockBody, x: Insn): void {
  const B = x.reg;
  const v = b.local(T.I64);
  sum64(b, x);
  b.set(v);
  if (x.osz === 8) b.store64(B, v);
  else {
    const r = b.local(T.I32);
    b.get(v).op(W.I32WrapI64).set(r);
    b.store32(B, r);
  }
}

function formLoad64(b: BlockBody, x: Insn, k: number, lin: number): void {
  const B = x.reg;
  const v = b.local(T.I64);
  load8(b, k, lin);
  b.set(v);
  b.store64(B, v);
}

function formStore64(b: BlockBody, x: Insn, k: number, lin: number): void {
  const B = x.reg;
  const v = b.local(T.I64);
  if (x.fn === movEI) b.i64((BigInt(x.immHi | 0) << 32n) | BigInt(x.imm >>> 0));
  else b.load64(B);
  b.set(v);
  store8(b, k, lin, v, smcExit(k));
}

function formMovri64(b: BlockBody, x: Insn): void {
  const A = x.rm;
  const v = b.local(T.I64);
  b.i64((BigInt(x.immHi | 0) << 32n) | BigInt(x.imm >>> 0)).set(v);
  b.store64(A, v);
}

function formSetcc(b: BlockBody, x: Insn, known: Known): void {
  const A = x.rm;
  const v = b.local(T.I32);
  condition(b, x.op, known);
  b.set(v);
  setReg8(b, A, v);
}

function formSetccm(b: BlockBody, x: Insn, k: number, lin: number, known: Known): void {
  const v = b.local(T.I32);
  condition(b, x.op, known);
  b.set(v);
  store(b, k, lin, 1, v, smcExit(k));
}

function formNeg64(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const A = x.rm;
  const d = b.local(T.I64);
  const s = b.local(T.I64);
  const r = b.local(T.I64);
  b.i64(0n).set(d);
  b.load64(A);
  b.set(s);
  b.i64(0n).get(s).op(W.I64Sub).set(r);
  b.store64(A, r);
  if (fl) known = record64(b, Alu.Sub, d, s, r);
  return known;
}

function formCmov(b: BlockBody, x: Insn, known: Known): void {
  const A = x.rm;
  const B = x.reg;
  if (x.osz === 8) b.ensure(A);
  condition(b, x.op, known);
  b.op(W.If, T.Void);
  if (x.osz === 8) {
    const v = b.local(T.I64);
    b.load64(A);
    b.set(v);
    b.store64(B, v);
  } else {
    const v = b.local(T.I32);
    b.load32(A);
    b.set(v);
    b.store32(B, v);
  }
  if (x.osz === 4) {
    b.op(W.Else);
    b.zeroHigh(B);
  }
  b.op(W.End);
}

function formMovsx(b: BlockBody, x: Insn, k: number, lin: number): void {
  const A = x.rm;
  const B = x.reg;
  // MOVSX/MOVSXD (ops-alu.ts movsx): the source sign-extended to 32 bits, then to 64 for a 64-bit destination.
  const size = x.imm2;
  const v = b.local(T.I32);
  if (lin >= 0) load(b, k, lin, size);
  else getReg(b, size, A);
  if (size === 1) b.op(W.I32Extend8S);
  else if (size === 2) b.op(W.I32Extend16S);
  b.set(v);
  if (x.osz === 8) {
    const w = b.local(T.I64);
    b.get(v).op(W.I64ExtendI32S).set(w);
    b.store64(B, w);
  } else b.store32(B, v);
}

function formShift64(b: BlockBody, x: Insn, fl: boolean, known: Known): Known {
  const A = x.rm;
  // SHL/SAL/SHR/SAR r64 by a constant count 1-63, flags as ops-shift.ts shift64 leaves them (eager).
  const cnt = x.imm & 63;
  const op = x.op;
  const shl = op === Sh.Shl || op === Sh.Sal;
  const d = b.local(T.I64);
  const r = b.local(T.I64);
  b.load64(A);
  b.set(d);
  b.get(d).i64(BigInt(cnt)).op(shl ? W.I64Shl : op === Sh.Shr ? W.I64ShrU : W.I64ShrS).set(r);
  b.store64(A, r);
  if (fl) {
    // CF: the last bit shifted out; OF: SHL the result's sign ^ CF, SHR the operand's sign, SAR 0.
    const cf = b.local(T.I32);
    b.get(d).i64(BigInt(shl ? 64 - cnt : cnt - 1)).op(W.I64ShrU, W.I32WrapI64).i32(1).op(W.I32And).set(cf);
    recConst(b, Fr.Op, Lazy.Eager);
    recField(b, Fr.Res, () => {
      b.get(cf);
      if (shl) b.get(r).i64(0n).op(W.I64LtS).get(cf).op(W.I32Xor).i32(11).op(W.I32Shl, W.I32Or);
      else if (op === Sh.Shr) b.get(d).i64(0n).op(W.I64LtS).i32(11).op(W.I32Shl, W.I32Or);
      parity(b, r, true);
      b.i32(2).op(W.I32Shl, W.I32Or);
      b.get(r).op(W.I64Eqz).i32(6).op(W.I32Shl, W.I32Or);
      b.get(r).i64(0n).op(W.I64LtS).i32(7).op(W.I32Shl, W.I32Or);
    });
    // setEager: the other fields stay as they are.
    recDirty(b, Dg.OpRes);
    known = { kind: 'zf', w64: true, d: -1, s: -1, r };
  }
  return known;
}

function formTest64(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  const A = x.rm;
  const B = x.reg;
  // TEST r/m64, r64 / imm32 (sign-extended): aluLogic64 records both operands and the result.
  const d = b.local(T.I64);
  const s = b.local(T.I64);
  const r = b.local(T.I64);
  if (lin >= 0) load8(b, k, lin);
  else b.load64(A);
  b.set(d);
  if (x.fn === testEI) b.i64((BigInt(x.immHi | 0) << 32n) | BigInt(x.imm >>> 0));
  else b.load64(B);
  b.set(s);
  b.get(d).get(s).op(W.I64And).set(r);
  if (fl) known = record64(b, Alu.And, d, s, r);
  return known;
}

function formTestm(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  const B = x.reg;
  // TEST m8/m16/m32, r or imm (aluAnd: op, size and result).
  const size = x.osz;
  const d = b.local(T.I32);
  const s = b.local(T.I32);
  const r = b.local(T.I32);
  load(b, k, lin, size);
  b.set(d);
  if (x.fn === testEI) b.i32(x.imm | 0);
  else getReg(b, size, B);
  b.set(s);
  b.get(d).get(s).op(W.I32And).set(r);
  if (fl) {
    recConst(b, Fr.Op, Lazy.Logic);
    recConst(b, Fr.Sz, size);
    recLocal(b, Fr.Res, r);
    recDirty(b, Dg.OpRes | Dg.Sz);
    known = size === 4 ? { kind: 'logic', w64: false, d, s, r } : narrowLogic(b, size, r);
  }
  return known;
}

function formAlu64m(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  const B = x.reg;
  // ADD/OR/AND/SUB/XOR/CMP r64, m64 (G,E) and m64, r64 / imm (E,G / E,I; all but CMP read-modify-write).
  const ge = x.fn === aluGE;
  const op = x.op;
  const rmw = !ge && op !== Alu.Cmp;
  const m = b.local(T.I64);
  const addr = b.local(T.I32);
  const hit = b.local(T.I32);
  if (rmw) {
    // As rdw: inline when the TLB maps the page for writing (and reading), else the read faults as a write.
    tlbHitRw(b, lin, 8, addr, hit);
    b.op(W.If, T.I64).get(addr).mem(W.I64Load, 0, 0).op(W.Else);
    b.i32(k).i32(8).get(lin).op(W.F64ConvertI64S).call(Im.Rdw).op(W.I64ExtendI32U);
    b.call(Im.Hi).op(W.I64ExtendI32S).i64(32n).op(W.I64Shl, W.I64Or, W.End);
  } else load8(b, k, lin);
  b.set(m);
  const d = ge ? b.local(T.I64) : m;
  const s = ge ? m : b.local(T.I64);
  if (ge) {
    b.load64(B);
    b.set(d);
  } else {
    if (x.fn === aluEI) b.i64((BigInt(x.immHi | 0) << 32n) | BigInt(x.imm >>> 0));
    else b.load64(B);
    b.set(s);
  }
  const r = b.local(T.I64);
  b.get(d).get(s).op(aluOp64(op)).set(r);
  if (ge && op !== Alu.Cmp) b.store64(B, r);
  // The write cannot fault: the read faulted as a write first (rdw), as in the handler.
  if (fl) known = record64(b, op, d, s, r);
  if (rmw) {
    b.get(hit).op(W.If, T.Void).get(addr).get(r).mem(W.I64Store, 0, 0).op(W.Else);
    b.i32(k).get(lin).op(W.F64ConvertI64S).get(r).op(W.I32WrapI64).get(r).i64(32n).op(W.I64ShrU, W.I32WrapI64).call(Im.Wr8);
    b.op(W.If, T.Void).i32(smcExit(k)).op(W.Return, W.End);
    b.op(W.End);
  }
  return known;
}

function formCmpm(b: BlockBody, x: Insn, k: number, lin: number, fl: boolean, known: Known): Known {
  const B = x.reg;
  // CMP r8, m8 (G,E) and CMP m8/m32, r (E,G): aluSub at the operand size.
  const size = x.osz;
  const d = b.local(T.I32);
  const s = b.local(T.I32);
  const ge = x.fn === aluGE;
  if (ge) getReg(b, size, B);
  else load(b, k, lin, size);
  b.set(d);
  if (ge) load(b, k, lin, size);
  else getReg(b, size, B);
  b.set(s);
  known = cmpSub(b, size, d, s, fl, known);
  return known;
}

function formNot64(b: BlockBody, x: Insn): void {
  const A = x.rm;
  const v = b.local(T.I64);
  b.load64(A);
  b.i64(-1n).op(W.I64Xor).set(v);
  b.store64(A, v);
}

function formMov8(b: BlockBody, x: Insn): void {
  // Flags untouched. 88 writes E (rm) from G (reg), 8A writes G from E, B0+r writes the register in rm.
  const v = b.local(T.I32);
  if (x.fn === movRI) b.i32(x.imm & 0xff);
  else getReg(b, 1, x.fn === movEG ? x.reg : x.rm);
  b.set(v);
  setReg8(b, x.fn === movGE ? x.reg : x.rm, v);
}


/** What the integer forms of wasm-alu.ts use of this file. */
const ALU_CTX: AluCtx = {
  slot: P_SLOT,
  carry,
  recField,
  recField64,
  recDirty,
  dirtyUnknown: () => {
    emitting.dirtyAt = -1;
  },
  parity,
  record32,
  load8,
  load4: (b, k, lin) => {
    load(b, k, lin, 4);
  },
  tlbHitRw,
  rdwCall: (b, k, size, lin) => {
    b.i32(k).i32(size).get(lin).op(W.F64ConvertI64S).call(Im.Rdw);
  },
  wrCall: (b, k, size, lin, v, smcExit) => {
    b.i32(k).i32(size).get(lin).op(W.F64ConvertI64S).get(v).call(Im.Wr);
    b.op(W.If, T.Void).i32(smcExit).op(W.Return, W.End);
  },
};

/** What the SIMD forms (wasm-simd.ts) use of this file. */
const SIMD_CTX: SimdCtx = { slot: P_SLOT, address, tlbHit, handler };

/** What the string forms (wasm-string.ts) use of this file. */
const STR_CTX: StrCtx = { slot: P_SLOT, tlbHit, handler };

function aluOp32(b: BlockBody, op: number, d: number, s: number, r: number): void {
  const w = op === Alu.Add ? W.I32Add : op === Alu.Sub || op === Alu.Cmp ? W.I32Sub : op === Alu.And ? W.I32And : op === Alu.Or ? W.I32Or : W.I32Xor;
  b.get(d).get(s).op(w).set(r);
}

function aluOp64(op: number): W {
  return op === Alu.Add ? W.I64Add : op === Alu.Sub || op === Alu.Cmp ? W.I64Sub : op === Alu.And ? W.I64And : op === Alu.Or ? W.I64Or : W.I64Xor;
}
