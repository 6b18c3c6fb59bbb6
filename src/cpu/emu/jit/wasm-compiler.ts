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
 *
 * Contract with run-loop.ts execBlock, as for the JS blocks: imports that may fault or call a handler set
 * `c.ci` to their instruction first (and `c.segOff` to the start of its basic block, for the deterministic
 * clock); the function returns the index where the block ended (`c.ci`), and how RIP is set: 0 = as
 * execBlock set it (the block's end), 1 = the taken branch of the instruction before, 2 = after the
 * instruction before (a side exit to poll, or a write to the block's own code).
 */
import type { EmuCpu } from '../cpu.js';
import type { Block, Insn } from '../insn.js';
import { Ea } from '../insn.js';
import { flagLiveness, formOf, eFirst, hasImm, writes, type Form } from '../block-compiler.js';
import { Alu } from '../sem-alu.js';
import { rol32, ror32, sar32, shl32, shr32, Sh } from '../sem-shift.js';
import { cond, getCF } from '../lazy-flags.js';
import { rd, wr } from '../mem-access.js';
import { ea } from '../operands.js';
import { addIp, canonicalTarget } from '../address.js';
import { Lazy } from '../flags.js';
import type { JitStats } from './jit-stats.js';
import { Fr, Slot, type WasmArena } from './wasm-arena.js';
import { Body, moduleBytes, T, W, wasmApi, type FnType } from './wasm-encoder.js';

/** The cpu running compiled wasm now (imports are bound per module, the cpu per call). */
let cur: EmuCpu;

/** Import indices (function index = import index; the block's function is IMPORTS.length). */
const enum Im {
  H = 0,
  Rd = 1,
  Wr = 2,
  Ea = 3,
  Cond = 4,
  GetCf = 5,
  Shift = 6,
}
const TYPES: readonly FnType[] = [
  [[T.I32], [T.I32]],
  [[T.I32, T.I32, T.F64], [T.I32]],
  [[T.I32, T.I32, T.F64, T.I32], [T.I32]],
  [[T.I32], [T.F64]],
  [[], [T.I32]],
  [[T.I32, T.I32], [T.I32]],
  // the block: (slot, tlbUser, bip, instructions until the poll) -> exit
  [[T.I32, T.I32, T.F64, T.F64], [T.I32]],
];
const IMPORTS: readonly (readonly [string, number])[] = [
  ['h', 0],
  ['rd', 1],
  ['wr', 2],
  ['ea', 3],
  ['cond', 0],
  ['cf', 4],
  ['sh', 5],
];
const MAIN_TYPE = 6;
const P_SLOT = 0;
const P_USER = 1;
const P_BIP = 2;
const P_ROOM = 3;

const SHIFT_KERNEL = [rol32, ror32, null, null, shl32, shr32, shl32, sar32];
const SHIFT_OP: readonly number[] = [W.I32Rotl, W.I32Rotr, 0, 0, W.I32Shl, W.I32ShrU, W.I32Shl, W.I32ShrS];

export const canCompileWasm = wasmApi !== undefined;

/** Copies a dirty flags record (written by compiled code) into the cpu's lazy-flags fields. */
function pull(c: EmuCpu, m: Int32Array, f: number): void {
  m[f + Fr.Dirty] = 0;
  const op = m[f + Fr.Op]!;
  const sz = m[f + Fr.Sz]!;
  c.fop = op;
  c.fsz = sz;
  c.fres = m[f + Fr.Res]!;
  if (sz === 8) {
    c.fdst = m[f + Fr.Dst]!;
    c.fsrc = m[f + Fr.Src]!;
    c.fresH = m[f + Fr.ResH]!;
    c.fdstH = m[f + Fr.DstH]!;
    c.fsrcH = m[f + Fr.SrcH]!;
  } else if (op !== Lazy.Logic) {
    c.fdst = m[f + Fr.Dst]!;
    c.fsrc = m[f + Fr.Src]!;
    if (op === Lazy.Inc || op === Lazy.Dec) c.fcin = m[f + Fr.Cin]!;
  }
}

/** What the compiler knows of the lazy flags: the producer's operand locals (i32 or i64). */
interface Known {
  kind: '' | 'sub' | 'add' | 'logic' | 'zf';
  w64: boolean;
  d: number;
  s: number;
  r: number;
}
const NONE: Known = { kind: '', w64: false, d: -1, s: -1, r: -1 };

function takenTarget(c: EmuCpu, x: Insn): number {
  const t = c.bip + (x.end + x.imm);
  if (x.osz === 4) return t >>> 0;
  if (x.osz === 2) return t & 0xffff;
  return canonicalTarget(c, t);
}

/** The forms the wasm tier emits inline (a subset of the JS compiler's where it has no inline memory form yet). */
function wasmForm(x: Insn): Form {
  const f = formOf(x);
  // cmp-mi reads memory through ea(); the rest of the memory forms are handled here.
  return f;
}

/** Compiles `blk` to a wasm function for the VM's arena; null when nothing in it is worth compiling. */
export function compileWasmBlock(blk: Block, arena: WasmArena, stats?: JitStats): ((c: EmuCpu) => void) | null {
  if (!canCompileWasm) return null;
  const t0 = performance.now();
  const ins = blk.insns;
  const n = ins.length;
  const forms = ins.map(wasmForm);
  if (forms.every((f) => f === '')) return null;
  const liveAfter = flagLiveness(ins, forms);
  // segOff at each instruction: the start of its basic block (after the last side exit before it).
  const segAt = new Int32Array(n);
  for (let k = 1; k < n; k++) segAt[k] = forms[k - 1] === 'jcc' ? k : segAt[k - 1]!;
  const b = new Body(4);
  emit(b, ins, forms, liveAfter);
  const bytes = moduleBytes(TYPES, IMPORTS, MAIN_TYPE, b);
  const m = arena.i32;
  const imports = {
    e: {
      m: arena.memory,
      h: (k: number): number => {
        const c = cur;
        const f = (c.wslot + Slot.Flags) >> 2;
        if (m[f + Fr.Dirty] !== 0) pull(c, m, f);
        c.ci = k;
        c.segOff = segAt[k]!;
        const x = ins[k]!;
        x.fn(c, x);
        return c.smc ? 1 : 0;
      },
      rd: (k: number, size: number, lin: number): number => {
        const c = cur;
        const f = (c.wslot + Slot.Flags) >> 2;
        if (m[f + Fr.Dirty] !== 0) pull(c, m, f);
        c.ci = k;
        c.segOff = segAt[k]!;
        return rd(c, size, lin);
      },
      wr: (k: number, size: number, lin: number, v: number): number => {
        const c = cur;
        const f = (c.wslot + Slot.Flags) >> 2;
        if (m[f + Fr.Dirty] !== 0) pull(c, m, f);
        c.ci = k;
        c.segOff = segAt[k]!;
        wr(c, size, lin, v);
        return c.smc ? 1 : 0;
      },
      ea: (k: number): number => {
        const c = cur;
        const f = (c.wslot + Slot.Flags) >> 2;
        if (m[f + Fr.Dirty] !== 0) pull(c, m, f);
        c.ci = k;
        c.segOff = segAt[k]!;
        return ea(c, ins[k]!);
      },
      cond: (cc: number): number => {
        const c = cur;
        const f = (c.wslot + Slot.Flags) >> 2;
        if (m[f + Fr.Dirty] !== 0) pull(c, m, f);
        return cond(c, cc) ? 1 : 0;
      },
      cf: (): number => {
        const c = cur;
        const f = (c.wslot + Slot.Flags) >> 2;
        if (m[f + Fr.Dirty] !== 0) pull(c, m, f);
        return getCF(c);
      },
      sh: (k: number, v: number): number => {
        const c = cur;
        const f = (c.wslot + Slot.Flags) >> 2;
        if (m[f + Fr.Dirty] !== 0) pull(c, m, f);
        const x = ins[k]!;
        return SHIFT_KERNEL[x.op]!(c, v, x.imm & 31, true);
      },
    },
  };
  let run: (slot: number, user: number, bip: number, room: number) => number;
  try {
    const inst = new wasmApi!.Instance(new wasmApi!.Module(bytes), imports);
    run = inst.exports['f'] as typeof run;
  } catch {
    // No wasm compilation allowed here (a CSP without wasm-unsafe-eval): the block stays interpreted.
    return null;
  }
  blk.selfLoop = false;
  blk.loopLen = 0;
  blk.loopBranches = 0;
  if (stats !== undefined) {
    stats.compileMs += performance.now() - t0;
    stats.codeBytes += bytes.length;
    stats.regions++;
  }
  return (c: EmuCpu): void => {
    cur = c;
    const r = run(c.wslot, c.tlbUser, c.bip, c.pollAt - c.instructions);
    const f = (c.wslot + Slot.Flags) >> 2;
    if (m[f + Fr.Dirty] !== 0) pull(c, m, f);
    const ci = r & 0xffff;
    const how = r >>> 16;
    if (how === 1) {
      // A 64-bit target must be canonical: a #GP reports the branch.
      c.ci = ci - 1;
      c.rip = takenTarget(c, ins[ci - 1]!);
    } else if (how === 2) c.rip = addIp(c.bip, ins[ci - 1]!.end, c.codeSize);
    c.ci = ci;
  };
}

// ------------------------------------------------------------------ code generation

function exitCode(ci: number, how: number): number {
  return ci | (how << 16);
}

function regLoad(b: Body, r: number): void {
  b.get(P_SLOT).mem(W.I32Load, Slot.Rl + r * 4, 2);
}

/** Stores the i32 in local `v` as a 32-bit register write (upper half zeroed). */
function regStore32(b: Body, r: number, v: number): void {
  b.get(P_SLOT).get(v).mem(W.I32Store, Slot.Rl + r * 4, 2);
  b.get(P_SLOT).i32(0).mem(W.I32Store, Slot.Rh + r * 4, 2);
}

function regLoad64(b: Body, r: number): void {
  b.get(P_SLOT).mem(W.I32Load, Slot.Rl + r * 4, 2).op(W.I64ExtendI32U);
  b.get(P_SLOT).mem(W.I32Load, Slot.Rh + r * 4, 2).op(W.I64ExtendI32S).i64(32n).op(W.I64Shl, W.I64Or);
}

function regStore64(b: Body, r: number, v: number): void {
  b.get(P_SLOT).get(v).op(W.I32WrapI64).mem(W.I32Store, Slot.Rl + r * 4, 2);
  b.get(P_SLOT).get(v).i64(32n).op(W.I64ShrU, W.I32WrapI64).mem(W.I32Store, Slot.Rh + r * 4, 2);
}

/** Writes the flags record field `i` from the value the emitter `v` pushes (an i32). */
function recField(b: Body, i: number, v: () => void): void {
  b.get(P_SLOT);
  v();
  b.mem(W.I32Store, Slot.Flags + i * 4, 2);
}

function recConst(b: Body, i: number, k: number): void {
  recField(b, i, () => b.i32(k));
}

function recLocal(b: Body, i: number, l: number): void {
  recField(b, i, () => b.get(l));
}

/** Record halves of an i64 local. */
function recLocal64(b: Body, lo: number, hi: number, l: number): void {
  recField(b, lo, () => b.get(l).op(W.I32WrapI64));
  recField(b, hi, () => b.get(l).i64(32n).op(W.I64ShrU, W.I32WrapI64));
}

function recDirty(b: Body): void {
  recConst(b, Fr.Dirty, 1);
}

/** Pushes PF's condition (even parity of the low byte) of i32 local r. */
function parity(b: Body, r: number, w64: boolean): void {
  b.get(r);
  if (w64) b.op(W.I32WrapI64);
  b.i32(0xff).op(W.I32And, W.I32Popcnt).i32(1).op(W.I32And, W.I32Eqz);
}

/** Pushes condition cc (i32 0/1) from what is known of the flags, calling out when nothing is. */
function condition(b: Body, cc: number, k: Known): void {
  const t = cc >> 1;
  const w = k.w64;
  const lt = w ? W.I64LtS : W.I32LtS;
  const ltu = w ? W.I64LtU : W.I32LtU;
  const les = w ? W.I64LeS : W.I32LeS;
  const leu = w ? W.I64LeU : W.I32LeU;
  const xor = w ? W.I64Xor : W.I32Xor;
  const and = w ? W.I64And : W.I32And;
  const eqz = w ? W.I64Eqz : W.I32Eqz;
  const zero = (): void => {
    if (w) b.i64(0n);
    else b.i32(0);
  };
  let done = true;
  if (k.kind === 'sub') {
    if (t === 0) {
      b.get(k.d).get(k.s).op(xor).get(k.d).get(k.r).op(xor, and);
      zero();
      b.op(lt);
    } else if (t === 1) b.get(k.d).get(k.s).op(ltu);
    else if (t === 2) b.get(k.r).op(eqz);
    else if (t === 3) b.get(k.d).get(k.s).op(leu);
    else if (t === 4) {
      b.get(k.r);
      zero();
      b.op(lt);
    } else if (t === 5) parity(b, k.r, w);
    else if (t === 6) b.get(k.d).get(k.s).op(lt);
    else b.get(k.d).get(k.s).op(les);
  } else if (k.kind === 'add') {
    const of = (): void => {
      b.get(k.d).get(k.r).op(xor).get(k.s).get(k.r).op(xor, and);
      zero();
      b.op(lt);
    };
    const sf = (): void => {
      b.get(k.r);
      zero();
      b.op(lt);
    };
    if (t === 0) of();
    else if (t === 1) b.get(k.r).get(k.d).op(ltu);
    else if (t === 2) b.get(k.r).op(eqz);
    else if (t === 3) {
      b.get(k.r).get(k.d).op(ltu);
      b.get(k.r).op(eqz, W.I32Or);
    } else if (t === 4) sf();
    else if (t === 5) parity(b, k.r, w);
    else if (t === 6) {
      sf();
      of();
      b.op(W.I32Xor);
    } else {
      b.get(k.r).op(eqz);
      sf();
      of();
      b.op(W.I32Xor, W.I32Or);
    }
  } else if (k.kind === 'logic') {
    if (t === 0 || t === 1) b.i32(0);
    else if (t === 2 || t === 3) b.get(k.r).op(eqz);
    else if (t === 4 || t === 6) {
      b.get(k.r);
      zero();
      b.op(lt);
    } else if (t === 5) parity(b, k.r, w);
    else {
      b.get(k.r);
      zero();
      b.op(les);
    }
  } else if (k.kind === 'zf' && t === 2) b.get(k.r).op(eqz);
  else done = false;
  if (!done) {
    b.i32(cc).call(Im.Cond);
    return;
  }
  if ((cc & 1) !== 0) b.op(W.I32Eqz);
}

/** Pushes CF (i32 0/1) from what is known, calling out when nothing is. */
function carry(b: Body, k: Known): void {
  if (k.kind === 'logic') b.i32(0);
  else if (k.kind === 'sub') b.get(k.d).get(k.s).op(k.w64 ? W.I64LtU : W.I32LtU);
  else if (k.kind === 'add') b.get(k.r).get(k.d).op(k.w64 ? W.I64LtU : W.I32LtU);
  else b.call(Im.GetCf);
}

/**
 * Leaves the linear address of x's memory operand in i64 local `lin`: formed inline for 32-bit addressing
 * with a flat segment (no checks, base 0) and for 64-bit addressing (canonical, FS/GS base 0), else by ea().
 */
function address(b: Body, x: Insn, k: number, lin: number): void {
  if (x.ak === Ea.A32) {
    // if (segChk[seg] | segBase[seg] != 0) lin = ea() else lin = zero-extended offset
    b.get(P_SLOT).mem(W.I32Load8U, Slot.SegChk + x.seg, 0);
    b.get(P_SLOT).mem(W.F64Load, Slot.SegBase + x.seg * 8, 3).f64(0).op(W.F64Ne, W.I32Or);
    b.op(W.If, T.I64).i32(k).call(Im.Ea).op(W.I64TruncF64S, W.Else);
    off32(b, x);
    b.op(W.I64ExtendI32U, W.End).set(lin);
    return;
  }
  if (x.ak === Ea.A64) {
    b.i64(BigInt(x.disp | 0));
    if (x.ripRel) b.get(P_BIP).op(W.I64TruncF64S).i64(BigInt(x.end)).op(W.I64Add, W.I64Add);
    if (x.base >= 0) {
      regLoad64(b, x.base);
      b.op(W.I64Add);
    }
    if (x.index >= 0) {
      regLoad64(b, x.index);
      if (x.scale !== 0) b.i64(BigInt(x.scale)).op(W.I64Shl);
      b.op(W.I64Add);
    }
    b.set(lin);
    // Not canonical (48-bit) or a segment base: ea() (faults, 5-level paging, FS/GS).
    b.get(lin).i64(16n).op(W.I64Shl).i64(16n).op(W.I64ShrS).get(lin).op(W.I64Ne);
    b.get(P_SLOT).mem(W.F64Load, Slot.SegBase + x.seg * 8, 3).f64(0).op(W.F64Ne, W.I32Or);
    b.op(W.If, T.Void).i32(k).call(Im.Ea).op(W.I64TruncF64S).set(lin).op(W.End);
    return;
  }
  b.i32(k).call(Im.Ea).op(W.I64TruncF64S).set(lin);
}

/** Pushes disp + base + (index << scale) as i32 (32-bit addressing). */
function off32(b: Body, x: Insn): void {
  b.i32(x.disp | 0);
  if (x.base >= 0) {
    regLoad(b, x.base);
    b.op(W.I32Add);
  }
  if (x.index >= 0) {
    regLoad(b, x.index);
    if (x.scale !== 0) b.i32(x.scale).op(W.I32Shl);
    b.op(W.I32Add);
  }
}

/**
 * Pushes whether the TLB (read or write tags) maps `lin` to RAM in the memory for `size` bytes within the
 * page, leaving the host address in i32 local `addr`.
 */
function tlbHit(b: Body, lin: number, size: number, write: boolean, addr: number, idx: number): void {
  b.get(lin).op(W.I32WrapI64).i32(12).op(W.I32ShrU).i32(0x3ff).op(W.I32And).get(P_USER).op(W.I32Or).set(idx);
  // addr = tlbAddr[idx] + (lin & 0xfff)
  b.get(idx).i32(2).op(W.I32Shl).get(P_SLOT).op(W.I32Add).mem(W.I32Load, Slot.Addr, 2).set(addr);
  b.get(idx).i32(3).op(W.I32Shl).get(P_SLOT).op(W.I32Add).mem(W.F64Load, write ? Slot.TagW : Slot.TagR, 3);
  b.get(lin).i64(-4096n).op(W.I64And, W.F64ConvertI64S, W.F64Eq);
  b.get(addr).i32(0).op(W.I32GeS, W.I32And);
  if (size > 1) b.get(lin).op(W.I32WrapI64).i32(0xfff).op(W.I32And).i32(4096 - size).op(W.I32LeU, W.I32And);
  b.get(addr).get(lin).op(W.I32WrapI64).i32(0xfff).op(W.I32And, W.I32Add).set(addr);
}

const LOAD_OP: Record<number, W> = { 1: W.I32Load8U, 2: W.I32Load16U, 4: W.I32Load };
const STORE_OP: Record<number, W> = { 1: W.I32Store8, 2: W.I32Store16, 4: W.I32Store };

/** Pushes the i32 read of `size` bytes at i64 local `lin` (inline on a TLB hit, else rd()). */
function load(b: Body, k: number, lin: number, size: number): void {
  const addr = b.local(T.I32);
  const idx = b.local(T.I32);
  tlbHit(b, lin, size, false, addr, idx);
  b.op(W.If, T.I32).get(addr).mem(LOAD_OP[size]!, 0, 0).op(W.Else);
  b.i32(k).i32(size).get(lin).op(W.F64ConvertI64S).call(Im.Rd).op(W.End);
}

/** Stores i32 local `v` (`size` bytes) at i64 local `lin`; a write to the block's own code ends the block. */
function store(b: Body, k: number, lin: number, size: number, v: number, smcExit: number): void {
  const addr = b.local(T.I32);
  const idx = b.local(T.I32);
  tlbHit(b, lin, size, true, addr, idx);
  b.op(W.If, T.Void).get(addr).get(v).mem(STORE_OP[size]!, 0, 0).op(W.Else);
  b.i32(k).i32(size).get(lin).op(W.F64ConvertI64S).get(v).call(Im.Wr);
  b.op(W.If, T.Void).i32(smcExit).op(W.Return, W.End);
  b.op(W.End);
}

/** Pushes a byte/word/dword register as GETREG reads it (8-bit codes 16-19 are AH..BH). */
function getReg(b: Body, size: number, r: number): void {
  if (size === 1) {
    if (r < 16) regLoad(b, r);
    else {
      regLoad(b, r - 16);
      b.i32(8).op(W.I32ShrU);
    }
    b.i32(0xff).op(W.I32And);
  } else if (size === 2) {
    regLoad(b, r);
    b.i32(0xffff).op(W.I32And);
  } else regLoad(b, r);
}

function emit(b: Body, ins: readonly Insn[], forms: readonly Form[], liveAfter: readonly number[]): void {
  const n = ins.length;
  let known: Known = NONE;
  const smcExit = (k: number): number => exitCode(k + 1, k + 1 < n ? 2 : 0);
  for (let k = 0; k < n; k++) {
    const x = ins[k]!;
    const f = forms[k]!;
    const A = x.rm;
    const B = x.reg;
    const fl = (liveAfter[k]! & writes(x)) !== 0;
    let lin = -1;
    if (f !== '' && f !== 'jcc' && x.mod !== 3 && f !== 'lea') {
      lin = b.local(T.I64);
      address(b, x, k, lin);
    }
    switch (f) {
      case 'alu-rr':
      case 'alu-ri':
      case 'alu-load': {
        const d = b.local(T.I32);
        const s = b.local(T.I32);
        const r = b.local(T.I32);
        const dst = f === 'alu-load' ? B : A;
        regLoad(b, dst);
        b.set(d);
        if (f === 'alu-rr') regLoad(b, B);
        else if (f === 'alu-ri') b.i32(x.imm | 0);
        else load(b, k, lin, 4);
        b.set(s);
        aluOp32(b, x.op, d, s, r);
        if (x.op !== Alu.Cmp) regStore32(b, dst, r);
        if (fl) known = record32(b, x.op, d, s, r);
        break;
      }
      case 'alu64': {
        const dst = eFirst(x.row) ? A : B;
        const src = eFirst(x.row) ? B : A;
        const d = b.local(T.I64);
        const s = b.local(T.I64);
        const r = b.local(T.I64);
        regLoad64(b, dst);
        b.set(d);
        if (hasImm(x.row)) b.i64((BigInt(x.immHi | 0) << 32n) | BigInt(x.imm >>> 0));
        else regLoad64(b, src);
        b.set(s);
        const op = x.op;
        const wop = op === Alu.Add ? W.I64Add : op === Alu.Sub || op === Alu.Cmp ? W.I64Sub : op === Alu.And ? W.I64And : op === Alu.Or ? W.I64Or : W.I64Xor;
        b.get(d).get(s).op(wop).set(r);
        if (op !== Alu.Cmp) regStore64(b, dst, r);
        if (fl) {
          const lazy = op === Alu.Add ? Lazy.Add : op === Alu.Sub || op === Alu.Cmp ? Lazy.Sub : Lazy.Logic;
          recConst(b, Fr.Op, lazy);
          recConst(b, Fr.Sz, 8);
          recLocal64(b, Fr.Dst, Fr.DstH, d);
          recLocal64(b, Fr.Src, Fr.SrcH, s);
          recLocal64(b, Fr.Res, Fr.ResH, r);
          recDirty(b);
          known = { kind: lazy === Lazy.Add ? 'add' : lazy === Lazy.Sub ? 'sub' : 'logic', w64: true, d, s, r };
        }
        break;
      }
      case 'cmp-mi':
      case 'cmp-mi8': {
        const size = f === 'cmp-mi' ? 4 : 1;
        const d = b.local(T.I32);
        const s = b.local(T.I32);
        const r = b.local(T.I32);
        load(b, k, lin, size);
        b.set(d);
        b.i32(x.imm | 0).set(s);
        b.get(d).get(s).op(W.I32Sub);
        if (size === 1) b.i32(0xff).op(W.I32And);
        b.set(r);
        if (fl) {
          recConst(b, Fr.Op, Lazy.Sub);
          recConst(b, Fr.Sz, size);
          recLocal(b, Fr.Dst, d);
          recLocal(b, Fr.Src, s);
          recLocal(b, Fr.Res, r);
          recDirty(b);
          known = size === 4 ? { kind: 'sub', w64: false, d, s, r } : { kind: 'zf', w64: false, d: -1, s: -1, r };
        }
        break;
      }
      case 'test': {
        const r = b.local(T.I32);
        regLoad(b, A);
        if (hasImm(x.row)) b.i32(x.imm | 0);
        else regLoad(b, B);
        b.op(W.I32And).set(r);
        if (fl) {
          recLogic(b, r);
          known = { kind: 'logic', w64: false, d: -1, s: -1, r };
        }
        break;
      }
      case 'incdec': {
        const d = b.local(T.I32);
        const r = b.local(T.I32);
        const dec = x.op === 1;
        regLoad(b, A);
        b.tee(d).i32(1).op(dec ? W.I32Sub : W.I32Add).set(r);
        if (fl) {
          const cin = b.local(T.I32);
          carry(b, known);
          b.set(cin);
          recLocal(b, Fr.Cin, cin);
          recConst(b, Fr.Op, dec ? Lazy.Dec : Lazy.Inc);
          recConst(b, Fr.Sz, 4);
          recLocal(b, Fr.Dst, d);
          recConst(b, Fr.Src, 1);
          recLocal(b, Fr.Res, r);
          recDirty(b);
          known = { kind: 'zf', w64: false, d: -1, s: -1, r };
        }
        regStore32(b, A, r);
        break;
      }
      case 'neg': {
        const d = b.local(T.I32);
        const s = b.local(T.I32);
        const r = b.local(T.I32);
        b.i32(0).set(d);
        regLoad(b, A);
        b.set(s);
        b.i32(0).get(s).op(W.I32Sub).set(r);
        regStore32(b, A, r);
        if (fl) known = record32(b, Alu.Sub, d, s, r);
        break;
      }
      case 'not': {
        const r = b.local(T.I32);
        regLoad(b, A);
        b.i32(-1).op(W.I32Xor).set(r);
        regStore32(b, A, r);
        break;
      }
      case 'mov-rr': {
        const r = b.local(T.I32);
        regLoad(b, B);
        b.set(r);
        regStore32(b, A, r);
        break;
      }
      case 'mov64': {
        const [dst, src] = eFirst(x.row) ? [A, B] : [B, A];
        b.get(P_SLOT);
        regLoad(b, src);
        b.mem(W.I32Store, Slot.Rl + dst * 4, 2);
        b.get(P_SLOT).get(P_SLOT).mem(W.I32Load, Slot.Rh + src * 4, 2).mem(W.I32Store, Slot.Rh + dst * 4, 2);
        break;
      }
      case 'load': {
        const r = b.local(T.I32);
        load(b, k, lin, 4);
        b.set(r);
        regStore32(b, B, r);
        break;
      }
      case 'movzx-load': {
        const r = b.local(T.I32);
        load(b, k, lin, x.imm2);
        b.set(r);
        regStore32(b, B, r);
        break;
      }
      case 'store': {
        const v = b.local(T.I32);
        if (hasImm(x.row)) b.i32(x.imm | 0);
        else getReg(b, x.osz, B);
        b.set(v);
        store(b, k, lin, x.osz, v, smcExit(k));
        break;
      }
      case 'movri': {
        const r = b.local(T.I32);
        b.i32(x.imm | 0).set(r);
        regStore32(b, A, r);
        break;
      }
      case 'lea': {
        const r = b.local(T.I32);
        off32(b, x);
        b.set(r);
        regStore32(b, B, r);
        break;
      }
      case 'movzx': {
        const r = b.local(T.I32);
        getReg(b, x.imm2, A);
        b.set(r);
        regStore32(b, B, r);
        break;
      }
      case 'shift': {
        const r = b.local(T.I32);
        if (fl) {
          b.i32(k);
          regLoad(b, A);
          b.call(Im.Shift).set(r);
          known = x.op === Sh.Rol || x.op === Sh.Ror ? NONE : { kind: 'zf', w64: false, d: -1, s: -1, r };
        } else {
          regLoad(b, A);
          b.i32(x.imm & 31).op(SHIFT_OP[x.op]!).set(r);
        }
        regStore32(b, A, r);
        break;
      }
      case 'jcc': {
        condition(b, x.op, known);
        if (k < n - 1) {
          // A side exit: taken, or the run loop must poll before the next basic block, the block ends here.
          b.op(W.If, T.Void).i32(exitCode(k + 1, 1)).op(W.Return, W.End);
          b.f64(k + 1).get(P_ROOM).op(W.F64Ge);
          b.op(W.If, T.Void).i32(exitCode(k + 1, 2)).op(W.Return, W.End);
        } else b.op(W.If, T.Void).i32(exitCode(n, 1)).op(W.Return, W.End);
        break;
      }
      default:
        b.i32(k).call(Im.H);
        b.op(W.If, T.Void).i32(smcExit(k)).op(W.Return, W.End);
        known = NONE;
    }
  }
  b.i32(exitCode(n, 0));
}

function aluOp32(b: Body, op: number, d: number, s: number, r: number): void {
  const w = op === Alu.Add ? W.I32Add : op === Alu.Sub || op === Alu.Cmp ? W.I32Sub : op === Alu.And ? W.I32And : op === Alu.Or ? W.I32Or : W.I32Xor;
  b.get(d).get(s).op(w).set(r);
}

function recLogic(b: Body, r: number): void {
  recConst(b, Fr.Op, Lazy.Logic);
  recConst(b, Fr.Sz, 4);
  recLocal(b, Fr.Res, r);
  recDirty(b);
}

/** Records the flags of a 32-bit ADD/SUB/CMP/logic operation; returns what is known after it. */
function record32(b: Body, op: number, d: number, s: number, r: number): Known {
  if (op === Alu.And || op === Alu.Or || op === Alu.Xor) {
    recLogic(b, r);
    return { kind: 'logic', w64: false, d, s, r };
  }
  const add = op === Alu.Add;
  recConst(b, Fr.Op, add ? Lazy.Add : Lazy.Sub);
  recConst(b, Fr.Sz, 4);
  recLocal(b, Fr.Dst, d);
  recLocal(b, Fr.Src, s);
  recLocal(b, Fr.Res, r);
  recDirty(b);
  return { kind: add ? 'add' : 'sub', w64: false, d, s, r };
}
