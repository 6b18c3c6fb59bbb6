/**
 * The emitter's control flow: the exits a block leaves by (their exit codes, wasm-block-abi.ts exitCode, and the
 * target RIP left in the slot for the chain driver), Jcc as a side exit or a self-loop's back edge, the block ends
 * CALL/RET/JMP and CALL through a register or memory inline where their checks pass (else the handler runs them as
 * the block's tail, nothing changed before), and handler calls, which end the block after a write to its own code.
 */
import type { Insn } from '../insn.js';
import { Seg } from '../x86-defs.js';
import { Slot } from './wasm-arena.js';
import { T, W } from './wasm-encoder.js';
import type { BlockBody } from './wasm-regs.js';
import type { Known } from './wasm-alu.js';
import { HOW_RET } from './wasm-chain.js';
import { exitCode, Im, P_BIP, P_LIM, P_ROOM, P_SLOT, P_USER } from './wasm-block-abi.js';
import { emitting } from './wasm-emit-state.js';
import { condition } from './wasm-flags-record.js';
import { address, nonCanonical, stackLin32, tlbHit } from './wasm-mem-access.js';
import { emitSkip } from './wasm-skips.js';

/**
 * Leaves bip + `off` in Slot.ChainRip: where a branch (`x`) or the block's end goes, for the chain driver when that
 * exit is not linked (wasm-chain.ts). Not wrapped at 4 GiB: a 32-bit target past it then matches no block, and
 * the chain ends there, as it does after a branch with a 16-bit operand size (its IP is cut to 16 bits: 2^60 is
 * no block's address).
 */
export function exitRip(b: BlockBody, off: number, x?: Insn): void {
  b.get(P_SLOT);
  if (x !== undefined && x.osz === 2) b.f64(2 ** 60);
  else b.get(P_BIP).i32(off).op(W.F64ConvertI32S, W.F64Add); // the offset as an i32 const: 2-4 bytes, not 9
  b.mem(W.F64Store, Slot.ChainRip, 3);
}

/** Returns exit code `code` when the i32 on the stack is not 0. */
function leaveIf(b: BlockBody, code: number): void {
  b.op(W.If, T.Void).i32(code).op(W.Return, W.End);
}

/**
 * CALL rel32 in 64-bit mode as the block's last instruction: pushes the return address inline and returns as a
 * taken branch when the target is canonical and the stack slot a TLB hit; otherwise, before changing
 * anything, returns as a tail (the handler does it all, faults included).
 */
export function emitCall64(b: BlockBody, x: Insn, k: number): void {
  const t = b.local(T.I64);
  b.get(P_BIP).op(W.I64TruncF64S).i64(x.end + x.imm).op(W.I64Add).set(t);
  pushReturn(b, x, k, t);
  b.get(P_SLOT).get(t).op(W.F64ConvertI64S).mem(W.F64Store, Slot.ChainRip, 3);
  b.i32(exitCode(k + 1, 1)).op(W.Return);
}

/**
 * A near call's checks and push, inline: returns as a tail (exit code 3, nothing changed) unless the target in
 * i64 local `t` is canonical, the stack 64-bit and RSP - 8 a TLB hit for writing (so canonical); then pushes the
 * return address.
 */
function pushReturn(b: BlockBody, x: Insn, k: number, t: number): void {
  const tail = exitCode(k, 3);
  const addr = b.local(T.I32);
  const idx = b.local(T.I32);
  nonCanonical(b, t);
  b.get(P_USER).i32(16).op(W.I32ShrU).i32(8).op(W.I32Ne, W.I32Or);
  leaveIf(b, tail);
  const sp = b.local(T.I64);
  b.load64(4);
  b.i64(-8).op(W.I64Add).set(sp);
  // A hit is canonical (wasm-mem-access.ts stackSlotsHit); a miss leaves RSP - 8 to the handler (#SS).
  tlbHit(b, sp, 8, true, addr, idx);
  b.op(W.I32Eqz);
  leaveIf(b, tail);
  b.get(addr).get(P_BIP).op(W.I64TruncF64S).i64(x.end).op(W.I64Add).mem(W.I64Store, 0, 0);
  b.store64(4, sp);
}

/**
 * RET in 64-bit mode (no immediate) as the block's last instruction: pops the target inline into the slot
 * (Slot.ChainRip, exit code HOW_RET) when the stack slot is a TLB hit and the target canonical; otherwise
 * returns as a tail, nothing changed.
 */
export function emitRet64(b: BlockBody, k: number): void {
  const tail = exitCode(k, 3);
  const addr = b.local(T.I32);
  const idx = b.local(T.I32);
  needStack(b, 8, tail);
  const sp = b.local(T.I64);
  b.load64(4);
  b.set(sp);
  tlbHit(b, sp, 8, false, addr, idx);
  b.op(W.I32Eqz);
  leaveIf(b, tail);
  const t = b.local(T.I64);
  b.get(addr).mem(W.I64Load, 0, 0).set(t);
  nonCanonical(b, t);
  leaveIf(b, tail);
  b.get(sp).i64(8).op(W.I64Add).set(sp);
  b.store64(4, sp);
  b.get(P_SLOT).get(t).op(W.F64ConvertI64S).mem(W.F64Store, Slot.ChainRip, 3);
  b.i32(exitCode(k + 1, HOW_RET)).op(W.Return);
}

/** Returns as a tail (exit code 3: the handler does it all) unless the stack size is `size` bytes. */
function needStack(b: BlockBody, size: number, tail: number): void {
  b.get(P_USER).i32(16).op(W.I32ShrU).i32(size).op(W.I32Ne);
  leaveIf(b, tail);
}

/** Returns as a tail when the 32-bit near target in i64 local `t` is beyond the CS limit (the handler raises #GP). */
function leaveBeyondCsLimit(b: BlockBody, t: number, tail: number): void {
  b.get(t).op(W.F64ConvertI64S).get(P_SLOT).mem(W.F64Load, Slot.SegLimit + Seg.CS * 8, 3).op(W.F64Gt);
  leaveIf(b, tail);
}

/** A 32-bit push of the return address (the instruction's end) when SS:ESP - 4 is a TLB hit for writing; else a tail. */
function pushReturn32(b: BlockBody, x: Insn, tail: number): void {
  const lin = b.local(T.I64);
  const addr = b.local(T.I32);
  const idx = b.local(T.I32);
  stackLin32(b, -4, lin);
  tlbHit(b, lin, 4, true, addr, idx);
  b.op(W.I32Eqz);
  leaveIf(b, tail);
  b.get(addr).get(P_BIP).op(W.I64TruncF64S).i64(x.end).op(W.I64Add, W.I32WrapI64).mem(W.I32Store, 0, 0);
  b.storeLow32(4, () => {
    b.load32(4);
    b.i32(-4).op(W.I32Add);
  });
}

/**
 * CALL rel32 outside 64-bit mode as the block's last instruction: with a 32-bit stack, a target within the CS limit
 * and the stack slot a TLB hit, pushes the return address and returns as a taken branch; otherwise returns as a
 * tail before changing anything.
 */
export function emitCall32(b: BlockBody, x: Insn, k: number): void {
  const tail = exitCode(k, 3);
  needStack(b, 4, tail);
  const t = b.local(T.I64);
  b.get(P_BIP).op(W.I64TruncF64S).i64(x.end + x.imm).op(W.I64Add).i64(0xffffffffn).op(W.I64And).set(t);
  leaveBeyondCsLimit(b, t, tail);
  pushReturn32(b, x, tail);
  b.get(P_SLOT).get(t).op(W.F64ConvertI64S).mem(W.F64Store, Slot.ChainRip, 3);
  b.i32(exitCode(k + 1, 1)).op(W.Return);
}

/**
 * RET / RET imm16 outside 64-bit mode with a 32-bit operand, as the block's last instruction: pops the target into
 * the slot (HOW_RET) when the stack is 32-bit, its slot a TLB hit and the target within the CS limit; otherwise
 * returns as a tail, nothing changed.
 */
export function emitRet32(b: BlockBody, x: Insn, k: number): void {
  const tail = exitCode(k, 3);
  needStack(b, 4, tail);
  const lin = b.local(T.I64);
  const addr = b.local(T.I32);
  const idx = b.local(T.I32);
  stackLin32(b, 0, lin);
  tlbHit(b, lin, 4, false, addr, idx);
  b.op(W.I32Eqz);
  leaveIf(b, tail);
  const t = b.local(T.I64);
  b.get(addr).mem(W.I32Load, 0, 0).op(W.I64ExtendI32U).set(t);
  leaveBeyondCsLimit(b, t, tail);
  b.storeLow32(4, () => {
    b.load32(4);
    b.i32(4 + x.imm).op(W.I32Add);
  });
  b.get(P_SLOT).get(t).op(W.F64ConvertI64S).mem(W.F64Store, Slot.ChainRip, 3);
  b.i32(exitCode(k + 1, HOW_RET)).op(W.Return);
}

/**
 * JMP or CALL through a register or memory (32-bit operands outside 64-bit mode, 64-bit ones in it; CALL r64, the
 * kernel's indirect calls, is the form 'callr') as the block's last instruction: reads the target (a memory operand only on a TLB hit), checks it (canonical, or within the CS
 * limit), pushes the return address for a CALL as CALL rel does, and leaves the target in the slot (HOW_RET: the
 * next block comes from the jump cache by RIP). Anything else returns as a tail before changing anything.
 */
export function emitIndirect(b: BlockBody, x: Insn, k: number, call: boolean): void {
  const tail = exitCode(k, 3);
  const w = x.osz;
  const t = b.local(T.I64);
  if (x.mod === 3) {
    if (w === 8) b.load64(x.rm);
    else {
      b.load32(x.rm);
      b.op(W.I64ExtendI32U);
    }
  } else {
    const lin = b.local(T.I64);
    const addr = b.local(T.I32);
    const idx = b.local(T.I32);
    address(b, x, k, lin);
    tlbHit(b, lin, w, false, addr, idx);
    b.op(W.I32Eqz);
    leaveIf(b, tail);
    b.get(addr);
    if (w === 8) b.mem(W.I64Load, 0, 0);
    else b.mem(W.I32Load, 0, 0).op(W.I64ExtendI32U);
  }
  b.set(t); // before a push: CALL ESP / CALL [ESP] go where ESP pointed
  if (w === 8) {
    if (call) pushReturn(b, x, k, t);
    else {
      nonCanonical(b, t);
      leaveIf(b, tail);
    }
  } else {
    if (call) needStack(b, 4, tail);
    leaveBeyondCsLimit(b, t, tail);
    if (call) pushReturn32(b, x, tail);
  }
  b.get(P_SLOT).get(t).op(W.F64ConvertI64S).mem(W.F64Store, Slot.ChainRip, 3);
  b.i32(exitCode(k + 1, HOW_RET)).op(W.Return);
}

/** Calls x's handler through the import, ending the block after it if it wrote the block's code. */
export function handler(b: BlockBody, k: number, smcExit: number): void {
  b.i32(k).call(Im.H);
  b.op(W.If, T.Void).i32(smcExit).op(W.Return, W.End);
}

/** The exit code of a write to the block's own code at instruction k: the rest of the block after it is stale. */
export function smcExit(k: number): number {
  return exitCode(k + 1, k + 1 < emitting.blockLen ? 2 : 0);
}

/** Leaves the self-loop's passes so far in the slot (Slot.Loops), where the wrapper and the imports read them. */
export function setLoops(b: BlockBody): void {
  b.get(P_SLOT).get(emitting.passes).mem(W.I32Store, Slot.Loops, 2);
}

/** Jcc: a side exit inside the block, the back edge of its self-loop, or its taken end. */
export function formJcc(b: BlockBody, x: Insn, k: number, known: Known): void {
  condition(b, x.op, known);
  if (k < emitting.blockLen - 1) {
    // A side exit: taken, or the run loop must poll before the next basic block, the block ends here.
    b.op(W.If, T.Void);
    // Taken to an instruction of this block: there, as the run loop would go on there (wasm-skips.ts).
    const sk = emitting.skips;
    if (sk !== null && sk.to[k]! >= 0) emitSkip(b, sk, k, known);
    exitRip(b, x.end + x.imm, x);
    b.get(P_SLOT).i32(x.brThrough).mem(W.I32Store, Slot.ChainBr, 2);
    b.i32(exitCode(k + 1, 1)).op(W.Return, W.End);
    b.i32(k + 1).op(W.F64ConvertI32S).get(P_ROOM).op(W.F64Ge);
    b.op(W.If, T.Void).i32(exitCode(k + 1, 2)).op(W.Return, W.End);
  } else if (emitting.loopHead >= 0) {
    // The back edge: another pass while the run loop's limit allows (c.loopLimit), else the block ends taken.
    b.op(W.If, T.Void);
    b.get(emitting.passes).i32(1).op(W.I32Add).tee(emitting.passes).get(P_LIM).op(W.I32LtS, W.BrIf, 1);
    b.get(emitting.passes).i32(1).op(W.I32Sub).set(emitting.passes);
    setLoops(b);
    exitRip(b, x.end + x.imm, x);
    b.i32(exitCode(emitting.blockLen, 1)).op(W.Return, W.End);
    setLoops(b);
    b.op(W.End);
  } else {
    b.op(W.If, T.Void);
    exitRip(b, x.end + x.imm, x);
    b.i32(exitCode(emitting.blockLen, 1)).op(W.Return, W.End);
  }
}
