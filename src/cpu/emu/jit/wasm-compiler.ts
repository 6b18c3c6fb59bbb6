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
import { flagLiveness, formOf, mayFault, plainAlu, writes, type Form } from '../block-compiler.js';
import { aluEG, aluEI, aluGE, cmovcc, cmpxchg, incdecE, lea as leaOp, lea64, mov64load, mov64store, movEG, movEI, movGE, movMoffs, movRI, movsx, negE, notE, setcc, testEG, testEI } from '../ops-alu.js';
import { shiftE } from '../ops-shift.js';
import { imulGE, imulGEI, mulE } from '../ops-muldiv.js';
import { callE, callRel, callRel64, jmpE, jmpRel, movESeg, pop32r, pop64r, popR, push32r, push64r, pushI, pushR, ret64, retNear } from '../ops-flow.js';
import { nop, rdmsr, rdpmc, wrmsr } from '../ops-system.js';
import { Alu } from '../sem-alu.js';
import { Sh } from '../sem-shift.js';
import type { JitStats } from './jit-stats.js';
import { LINK_BYTES, type WasmArena } from './wasm-arena.js';
import { bookOf } from './wasm-code-book.js';
import { Body, moduleBytes, T, W, wasmApi } from './wasm-encoder.js';
import { BlockBody } from './wasm-regs.js';
import { Lk } from './wasm-chain.js';
import { emitSimd, simdForm, simdStores, type SimdCtx } from './wasm-simd.js';
import { emitStr, strFits, strForm, strStores, type StrCtx } from './wasm-string.js';
import { emitAlu32m, emitCmpxchg32m, emitImul32, emitImul64, emitMul32, emitIncDec64, emitMovSreg, emitShiftCl, emitShiftClm, shift32Inline, NONE, type Known } from './wasm-alu.js';
import { linkValidity } from './link-validity.js';
import { Bit } from '../flags.js';
import { Seg } from '../x86-defs.js';
import { CHAIN, exitCode, HELPERS, Im, IMPORTS, MAIN_TYPE, P_SLOT, P_USER, TYPES } from './wasm-block-abi.js';
import { emitting } from './wasm-emit-state.js';
import { ALU_CTX, formAlu32, formAlu8, formAluc, formCmov, formCmpm, formCmpMi, formIncdec, formIncdec8, formIncdecm, formLea, formLoad32, formLoadn, formMov8, formMovri, formMovRr, formMovsx, formMovzx, formMoffs, formNeg, formNot, formPushPop, formSetcc, formSetccm, formShift, formShift8, formStore, formTest, formTestm, SHIFT_OP } from './wasm-forms.js';
import { formAlu64, formAlu64m, formLea64, formLoad64, formMov64, formMovri64, formNeg64, formNot64, formShift64, formStore64, formTest64 } from './wasm-forms64.js';
import { emitCall32, emitCall64, emitIndirect, emitRet32, emitRet64, exitRip, formJcc, handler, setLoops, smcExit } from './wasm-flow.js';
import { address, tlbHit } from './wasm-mem-access.js';
import { materialize } from './wasm-flags-record.js';
import { chainOf, chainRunning, chainWrapper, imports, wrapper, type ChainEntry } from './wasm-host.js';

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

/** What the SIMD forms (wasm-simd.ts) use of this file. */
const SIMD_CTX: SimdCtx = { slot: P_SLOT, address, tlbHit, handler };

/** What the string forms (wasm-string.ts) use of this file. */
const STR_CTX: StrCtx = { slot: P_SLOT, tlbHit, handler };
