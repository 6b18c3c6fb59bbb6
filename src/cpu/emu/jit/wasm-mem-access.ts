/**
 * The emitter's memory accesses: linear addresses formed inline where they are plain (flat 32-bit segments, 64-bit
 * addressing with FS/GS bases), else by the `ea` import; loads and stores inline on a TLB hit on RAM in the arena,
 * else through the `rd`/`wr` imports (which fault, reach MMIO and catch writes to code), the deferred flags records
 * written in those slow paths first.
 */
import { Ea, type Insn } from '../insn.js';
import { Slot } from './wasm-arena.js';
import { Wt } from '../tlb-wasm.js';
import { Seg, Tlb } from '../x86-defs.js';
import { T, W } from './wasm-encoder.js';
import type { BlockBody } from './wasm-regs.js';
import { Fn, Im, P_BIP, P_SLOT, P_USER } from './wasm-block-abi.js';
import { emitting } from './wasm-emit-state.js';
import { materialize, slowFlags } from './wasm-flags-record.js';

/**
 * Leaves the linear address of x's memory operand in i64 local `lin`: formed inline for 32-bit addressing
 * with a flat segment (no checks, base 0) and for 64-bit addressing (FS/GS bases added; canonical form checked
 * only for the stack segment, the others at the access), else by ea().
 */
export function address(b: BlockBody, x: Insn, k: number, lin: number): void {
  if (x.ak === Ea.A64) {
    b.ensure(x.base);
    b.ensure(x.index);
  }
  if (x.ak === Ea.A32) {
    // if (segChk[seg] | segBase[seg] != 0) lin = ea() else lin = zero-extended offset
    segNotFlat(b, x.seg);
    b.op(W.If, T.I64);
    slowFlags();
    eaCall(b, k);
    b.op(W.Else);
    off32(b, x);
    b.op(W.I64ExtendI32U, W.End).set(lin);
    return;
  }
  if (x.ak === Ea.A64) {
    sum64(b, x);
    // FS and GS add their base (user TLS, the stack protector's canary, the kernel's per-CPU data); the decoder
    // gives the other segments the flat ones, whose base is 0.
    const fsgs = x.seg === Seg.FS || x.seg === Seg.GS;
    if (fsgs) {
      fsgsBase(b, x.seg);
      b.op(W.I64Add);
    }
    b.set(lin);
    // Only a stack-relative address is checked for canonical form here (at the current width, 48 or 57 bits):
    // ea() faults #SS(0) for it. Any other faults #GP(0) at the access, as in the interpreter, whose ea() lets it
    // through: a TLB hit implies a canonical address (tlbHit), and a miss calls rd/wr/rdw/wr8, which check.
    const ss = x.seg === Seg.FlatSS;
    if (ss) nonCanonicalHere(b, lin);
    // Any bit of the base set (a -0 too): ea(), which is exact whatever the base. The flat segments' bases are
    // read once per block, as 32-bit code's segments are.
    if (fsgs) return;
    segNotFlat(b, x.seg);
    if (ss) b.op(W.I32Or);
    b.op(W.If, T.Void);
    slowFlags();
    eaCall(b, k);
    b.set(lin).op(W.End);
    return;
  }
  materialize();
  eaCall(b, k);
  b.set(lin);
}

/** Pushes ea()'s i64 address for x (instruction k): the import leaves it, exact at any width, in Slot.Lin. */
function eaCall(b: BlockBody, k: number): void {
  b.i32(k).call(Im.Ea).get(P_SLOT).mem(W.I64Load, Slot.Lin, 3);
}

/**
 * Pushes the exact FS or GS base as an i64: the slot's double, or where that is beyond +-2^53 (5-level paging:
 * Linux's per-CPU data in its direct map) and so rounded, the exact halves EmuCpu.bigAd keeps beside it.
 */
function fsgsBase(b: BlockBody, seg: number): void {
  if (fromBlockLocal(b, emitting.baseLocal, emitting.baseEpoch, seg)) return;
  const f = b.local(T.F64);
  b.get(P_SLOT).mem(W.I64Load, Slot.BigAd + seg * 8, 3);
  b.get(P_SLOT).mem(W.F64Load, Slot.SegBase + seg * 8, 3).tee(f).op(W.I64TruncF64S);
  b.get(f).op(W.F64Abs).f64(2 ** 53).op(W.F64Ge, W.Select);
  keepInBlockLocal(b, emitting.baseLocal, emitting.baseEpoch, seg, T.I64);
}

/** Pushes segment `seg`'s value kept in `locals` when it was kept in this epoch (a base changes only where the epoch does). */
function fromBlockLocal(b: BlockBody, locals: Int32Array, epochs: Float64Array, seg: number): boolean {
  const l = locals[seg]!;
  if (l < 0 || epochs[seg] !== b.epoch) return false;
  b.get(l);
  return true;
}

/**
 * Keeps the value on the stack in a local for the block's later uses, when it is formed at the body's top level:
 * inside a forward branch's span it is not formed on every path (wasm-skips.ts drops it at the join).
 */
function keepInBlockLocal(b: BlockBody, locals: Int32Array, epochs: Float64Array, seg: number, type: T): void {
  if (!b.atTop()) return;
  const l = locals[seg]!;
  const t = l >= 0 ? l : b.local(type);
  b.tee(t);
  locals[seg] = t;
  epochs[seg] = b.epoch;
}

/**
 * Pushes the f64 of i64 local `lin` for an import that takes a linear address, its exact i64 stored in Slot.Lin
 * first (Fn.LinArg): beyond +-2^53 the f64 is rounded and the import reads the slot (big-lin.ts linFromSlot).
 */
export function linArg(b: BlockBody, lin: number): void {
  b.get(P_SLOT).get(lin).call(Fn.LinArg);
}

/** Pushes whether segment `seg` is not flat (i32 0/1): from the slot once per block, then from a local. */
export function segNotFlat(b: BlockBody, seg: number): void {
  if (fromBlockLocal(b, emitting.segFlag, emitting.segEpoch, seg)) return;
  // The flat segments of 64-bit addressing (Seg.Flat, Seg.FlatSS) are never limit-checked: their base alone.
  if (seg < Seg.Flat) b.get(P_SLOT).mem(W.I32Load8U, Slot.SegChk + seg, 0);
  b.get(P_SLOT).mem(W.I64Load, Slot.SegBase + seg * 8, 3).op(W.I64Eqz, W.I32Eqz);
  if (seg < Seg.Flat) b.op(W.I32Or);
  keepInBlockLocal(b, emitting.segFlag, emitting.segEpoch, seg, T.I32);
}

/** Pushes a 64-bit memory operand's offset (disp + RIP-relative end + base + index << scale) as an i64. */
export function sum64(b: BlockBody, x: Insn): void {
  b.i64(x.disp | 0);
  if (x.ripRel) b.get(P_BIP).op(W.I64TruncF64S).i64(x.end).op(W.I64Add, W.I64Add);
  if (x.base >= 0) {
    b.load64(x.base);
    b.op(W.I64Add);
  }
  if (x.index >= 0) {
    b.load64(x.index);
    if (x.scale !== 0) b.i64(x.scale).op(W.I64Shl);
    b.op(W.I64Add);
  }
}

/** Pushes disp + base + (index << scale) as i32 (32-bit addressing). */
export function off32(b: BlockBody, x: Insn): void {
  b.i32(x.disp | 0);
  if (x.base >= 0) {
    b.load32(x.base);
    b.op(W.I32Add);
  }
  if (x.index >= 0) {
    b.load32(x.index);
    if (x.scale !== 0) b.i32(x.scale).op(W.I32Shl);
    b.op(W.I32Add);
  }
}

/**
 * Pushes whether the TLB (read or write tags) maps `lin` to RAM in the memory for `size` bytes within the
 * page, leaving the host address in i32 local `addr` and the entry's address in `idx`.
 */
export function tlbHit(b: BlockBody, lin: number, size: number, write: boolean, addr: number, idx: number): void {
  // idx = bank's entries + ((lin >>> 12) & 0x3ff) * 32 (tlb-wasm.ts: the bank's base has the slot's address in it)
  b.get(lin).op(W.I32WrapI64).tee(addr).i32(12 - Wt.Shift).op(W.I32ShrU).i32(Tlb.Mask << Wt.Shift).op(W.I32And);
  b.get(userBank(b)).op(W.I32Add).tee(idx).mem(W.I64Load, Slot.WTlb + (write ? Wt.WLo : Wt.RLo) * 4, 3);
  // The page of the operand's last byte is the entry's: the entry at idx only ever holds a page of index idx
  // (tlb.ts fill), so an operand running into the next page never matches. So a hit means a canonical address:
  // the TLB holds only pages canonical at the current width (filled after a translation, which checks), and a
  // page holding the last byte with the first byte's index holds the first byte too. A tag is -1 (no page)
  // where the page's RAM is outside the memory.
  b.get(lin);
  if (size > 1) b.i64(size - 1).op(W.I64Add);
  b.i64(-4096).op(W.I64And, W.I64Eq);
  // addr = delta + the low half of lin
  b.get(idx).mem(W.I32Load, Slot.WTlb + Wt.Delta * 4, 2).get(addr).op(W.I32Add).set(addr);
}

/** The local holding the function's TLB bank's entries (emitting.userLocal), made at its first use. */
function userBank(b: BlockBody): number {
  if (emitting.userLocal < 0) emitting.userLocal = b.local(T.I32);
  return emitting.userLocal;
}

const LOAD_OP: Record<number, W> = { 1: W.I32Load8U, 2: W.I32Load16U, 4: W.I32Load };
const STORE_OP: Record<number, W> = { 1: W.I32Store8, 2: W.I32Store16, 4: W.I32Store };

/** Pushes the i32 read of `size` bytes at i64 local `lin` (inline on a TLB hit, else rd()). */
export function load(b: BlockBody, k: number, lin: number, size: number): void {
  const addr = b.local(T.I32);
  const idx = b.local(T.I32);
  tlbHit(b, lin, size, false, addr, idx);
  b.op(W.If, T.I32).get(addr).mem(LOAD_OP[size]!, 0, 0).op(W.Else);
  slowFlags();
  b.i32(k).i32(size);
  linArg(b, lin);
  b.call(Im.Rd).op(W.End);
}

/** Stores i32 local `v` (`size` bytes) at i64 local `lin`; a write to the block's own code ends the block. */
export function store(b: BlockBody, k: number, lin: number, size: number, v: number, smcExit: number): void {
  const addr = b.local(T.I32);
  const idx = b.local(T.I32);
  tlbHit(b, lin, size, true, addr, idx);
  b.op(W.If, T.Void).get(addr).get(v).mem(STORE_OP[size]!, 0, 0).op(W.Else);
  slowFlags();
  b.i32(k).i32(size);
  linArg(b, lin);
  b.get(v).call(Im.Wr);
  b.op(W.If, T.Void).i32(smcExit).op(W.Return, W.End);
  b.op(W.End);
}

/**
 * Whether the TLB maps `lin` for both writing and reading (a read-modify-write inline, as rdw), left in i32 local
 * `hit` and pushed; the host address in `addr`.
 */
export function tlbHitRw(b: BlockBody, lin: number, size: number, addr: number, hit: number): void {
  // Compiled code's write tag is set only where its read tag is (tlb-wasm.ts).
  const idx = b.local(T.I32);
  tlbHit(b, lin, size, true, addr, idx);
  b.tee(hit);
}

/** Pushes the i64 read of 8 bytes at i64 local `lin` (inline on a TLB hit, else rd() and c.hi). */
export function load8(b: BlockBody, k: number, lin: number): void {
  const addr = b.local(T.I32);
  const idx = b.local(T.I32);
  tlbHit(b, lin, 8, false, addr, idx);
  b.op(W.If, T.I64).get(addr).mem(W.I64Load, 0, 0).op(W.Else);
  slowFlags();
  b.i32(k).i32(8);
  linArg(b, lin);
  b.call(Im.Rd).op(W.I64ExtendI32U);
  b.call(Im.Hi).op(W.I64ExtendI32S).i64(32).op(W.I64Shl, W.I64Or, W.End);
}

/** Stores i64 local `v` at i64 local `lin`; a write to the block's own code ends the block. */
export function store8(b: BlockBody, k: number, lin: number, v: number, smcExit: number): void {
  const addr = b.local(T.I32);
  const idx = b.local(T.I32);
  tlbHit(b, lin, 8, true, addr, idx);
  b.op(W.If, T.Void).get(addr).get(v).mem(W.I64Store, 0, 0).op(W.Else);
  slowFlags();
  b.i32(k);
  linArg(b, lin);
  b.get(v).op(W.I32WrapI64).get(v).i64(32).op(W.I64ShrU, W.I32WrapI64).call(Im.Wr8);
  b.op(W.If, T.Void).i32(smcExit).op(W.Return, W.End);
  b.op(W.End);
}

/** Pushes whether 48-bit canonical i64 local `lin` is not (the handler then does everything). */
export function nonCanonical(b: BlockBody, lin: number): void {
  b.get(lin).i64(16).op(W.I64Shl).i64(16).op(W.I64ShrS).get(lin).op(W.I64Ne);
}

/** Pushes whether i64 local `lin` is not canonical at the vCPU's linear-address width (Slot.CanonSh: 48 or 57 bits). */
function nonCanonicalHere(b: BlockBody, lin: number): void {
  if (emitting.canonLocal < 0) emitting.canonLocal = b.local(T.I64);
  const sh = emitting.canonLocal;
  b.get(lin).get(sh).op(W.I64Shl).get(sh).op(W.I64ShrS).get(lin).op(W.I64Ne);
}

/**
 * Pushes whether `size` bytes of a 64-bit stack at i64 local `lin` (within one page) can be accessed inline: a TLB
 * hit (host address in `addr`) and the stack size 8. A hit needs no canonical check: the TLB holds only pages
 * that are canonical at the current width, and the tags are exact i64 page addresses, so a non-canonical `lin`
 * matches none.
 */
export function stackSlotsHit(b: BlockBody, lin: number, size: number, write: boolean, addr: number, idx: number): void {
  tlbHit(b, lin, size, write, addr, idx);
  b.get(P_USER).i32(16).op(W.I32ShrU).i32(8).op(W.I32Eq, W.I32And);
}

/** The 32-bit stack address esp + delta in i64 local `lin`: SS base + the 32-bit offset, wrapped at 4 GiB. */
export function stackLin32(b: BlockBody, delta: number, lin: number): void {
  b.get(P_SLOT).mem(W.F64Load, Slot.SegBase + Seg.SS * 8, 3).op(W.I64TruncF64S);
  b.load32(4);
  b.i32(delta).op(W.I32Add, W.I64ExtendI32U, W.I64Add).i64(0xffffffffn).op(W.I64And).set(lin);
}
