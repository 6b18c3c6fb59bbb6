/**
 * The emitter's flags records and conditions. An inline producer whose flags are live writes the lazy-flags record
 * in the vCPU's slot (Fr, the fields each kernel of sem-alu.ts sets) and marks its groups dirty (Fr.Dirty), inline
 * or deferred to the slow paths of later memory accesses; conditions and CF come from what is known of the
 * producer's operands (Known), or from an import when nothing is.
 */
import { Lazy } from '../flags.js';
import { Alu } from '../sem-alu.js';
import { Dg, Fr, Slot } from './wasm-arena.js';
import { T, W } from './wasm-encoder.js';
import type { BlockBody } from './wasm-regs.js';
import type { Known } from './wasm-alu.js';
import { Fn, Im, P_SLOT } from './wasm-block-abi.js';
import { emitting } from './wasm-emit-state.js';

/** Writes the deferred records here, on the block's main path. */
export function materialize(): void {
  const p = emitting.pendingRec;
  if (p.length === 0) return;
  emitting.pendingRec = [];
  const c = emitting.capture;
  emitting.capture = null;
  for (const f of p) f();
  emitting.capture = c;
}

/** Writes the deferred records inside a slow path (before an import that may fault or read the flags). */
export function slowFlags(): void {
  const p = emitting.pendingRec;
  if (p.length === 0) return;
  // What the main path knows of Fr.Dirty is not changed by a branch: this one ors its groups in.
  const d = emitting.dirtyAt;
  const c = emitting.capture;
  emitting.dirtyAt = -1;
  emitting.capture = null;
  for (const f of p) f();
  emitting.dirtyAt = d;
  emitting.capture = c;
}

/** Writes the flags record field `i` from the value the emitter `v` pushes (an i32). */
export function recField(b: BlockBody, i: number, v: () => void): void {
  if (emitting.capture !== null) {
    emitting.capture.push(() => recField(b, i, v));
    return;
  }
  b.get(P_SLOT);
  v();
  b.mem(W.I32Store, Slot.Flags + i * 4, 2);
}

// recField of a constant or a local, without a closure to call (the emitter's most common records).
export function recConst(b: BlockBody, i: number, k: number): void {
  if (emitting.capture !== null) {
    emitting.capture.push(() => recConst(b, i, k));
    return;
  }
  b.get(P_SLOT).i32(k).mem(W.I32Store, Slot.Flags + i * 4, 2);
}

export function recLocal(b: BlockBody, i: number, l: number): void {
  if (emitting.capture !== null) {
    emitting.capture.push(() => recLocal(b, i, l));
    return;
  }
  b.get(P_SLOT).get(l).mem(W.I32Store, Slot.Flags + i * 4, 2);
}

/** Writes the i64 that `v` pushes to field `i` and its high half, which follows it (Fr). */
export function recField64(b: BlockBody, i: number, v: () => void): void {
  if (emitting.capture !== null) {
    emitting.capture.push(() => recField64(b, i, v));
    return;
  }
  b.get(P_SLOT);
  v();
  b.mem(W.I64Store, Slot.Flags + i * 4, 3);
}

/** Record halves of an i64 local. */
function recLocal64(b: BlockBody, lo: number, l: number): void {
  if (emitting.capture !== null) {
    emitting.capture.push(() => recLocal64(b, lo, l));
    return;
  }
  b.get(P_SLOT).get(l).mem(W.I64Store, Slot.Flags + lo * 4, 3);
}

/** Marks the field groups `g` written: a constant where Fr.Dirty is known, else or-ed in. */
export function recDirty(b: BlockBody, g: number): void {
  if (emitting.capture !== null) {
    emitting.capture.push(() => recDirty(b, g));
    return;
  }
  if (emitting.dirtyAt >= 0) {
    emitting.dirtyAt |= g;
    recConst(b, Fr.Dirty, emitting.dirtyAt);
  } else recField(b, Fr.Dirty, () => b.get(P_SLOT).mem(W.I32Load, Slot.Flags + Fr.Dirty * 4, 2).i32(g).op(W.I32Or));
}

/** Pushes PF's condition (even parity of the low byte) of i32 local r. */
export function parity(b: BlockBody, r: number, w64: boolean): void {
  b.get(r);
  if (w64) b.op(W.I32WrapI64);
  b.i32(0xff).op(W.I32And, W.I32Popcnt).i32(1).op(W.I32And, W.I32Eqz);
}

/** Pushes condition cc (i32 0/1) from what is known of the flags, calling out when nothing is. */
export function condition(b: BlockBody, cc: number, k: Known): void {
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
    if (w) b.i64(0);
    else b.i32(0);
  };
  // An 8- or 16-bit result and its operands count by their low bits: shifted to the top of the i32, the unsigned,
  // signed and sign tests below are those of the narrow values whatever the bits above them hold.
  const g = narrowGet(b, k);
  let done = true;
  const pair = (x: number, y: number, o: W): void => {
    g(x);
    g(y);
    b.op(o);
  };
  const neg = (x: number): void => {
    g(x);
    zero();
    b.op(lt);
  };
  if (k.kind === 'sub') {
    if (t === 0) {
      // OF: the operands' signs differ and the result's differs from the destination's.
      pair(k.d, k.s, xor);
      pair(k.d, k.r, xor);
      b.op(and);
      zero();
      b.op(lt);
    } else if (t === 1) pair(k.d, k.s, ltu);
    else if (t === 2) {
      g(k.r);
      b.op(eqz);
    } else if (t === 3) pair(k.d, k.s, leu);
    else if (t === 4) neg(k.r);
    else if (t === 5) parity(b, k.r, w);
    else if (t === 6) pair(k.d, k.s, lt);
    else pair(k.d, k.s, les);
  } else if (k.kind === 'add') {
    const of = (): void => {
      pair(k.d, k.r, xor);
      pair(k.s, k.r, xor);
      b.op(and);
      zero();
      b.op(lt);
    };
    if (t === 0) of();
    else if (t === 1) pair(k.r, k.d, ltu);
    else if (t === 2) {
      g(k.r);
      b.op(eqz);
    } else if (t === 3) {
      pair(k.r, k.d, ltu);
      g(k.r);
      b.op(eqz, W.I32Or);
    } else if (t === 4) neg(k.r);
    else if (t === 5) parity(b, k.r, w);
    else if (t === 6) {
      neg(k.r);
      of();
      b.op(W.I32Xor);
    } else {
      g(k.r);
      b.op(eqz);
      neg(k.r);
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

/**
 * What is known after an 8- or 16-bit logic operation with result local `r` (not masked to its size, as the
 * interpreter records it): its value sign-extended from `size` bytes in a new local, whose zero, sign and low
 * byte are the operation's ZF, SF and PF, so that every condition is computed inline (CF = OF = 0).
 */
export function narrowLogic(b: BlockBody, size: number, r: number): Known {
  const n = b.local(T.I32);
  b.get(r).op(size === 1 ? W.I32Extend8S : W.I32Extend16S).set(n);
  return { kind: 'logic', w64: false, d: -1, s: -1, r: n };
}

/** Pushes CF (i32 0/1) from what is known, calling out when nothing is. */
export function carry(b: BlockBody, k: Known): void {
  const g = narrowGet(b, k);
  if (k.kind === 'logic') b.i32(0);
  else if (k.kind === 'sub') {
    g(k.d);
    g(k.s);
    b.op(k.w64 ? W.I64LtU : W.I32LtU);
  } else if (k.kind === 'add') {
    g(k.r);
    g(k.d);
    b.op(k.w64 ? W.I64LtU : W.I32LtU);
  } else b.get(P_SLOT).call(Fn.Carry);
}

/** Pushes a local of what is known: as it is, or shifted to the top of the i32 for a narrow ADD/SUB (Known.narrow). */
function narrowGet(b: BlockBody, k: Known): (l: number) => void {
  const sh = k.narrow === 1 ? 24 : k.narrow === 2 ? 16 : 0;
  return sh === 0
    ? (l) => {
        b.get(l);
      }
    : (l) => {
        b.get(l).i32(sh).op(W.I32Shl);
      };
}

export function recLogic(b: BlockBody, r: number): void {
  recConst(b, Fr.Op, Lazy.Logic);
  recConst(b, Fr.Sz, 4);
  recLocal(b, Fr.Res, r);
  recDirty(b, Dg.OpRes | Dg.Sz);
}

/**
 * Records the flags of an INC/DEC of `size` bytes of i32 local `d` into `r` (masked to the size; CF kept: the
 * carry before it, from what is known, goes to Cin); returns what is known after it.
 */
export function recordIncDec(b: BlockBody, dec: boolean, size: number, d: number, r: number, known: Known): Known {
  const cin = b.local(T.I32);
  carry(b, known);
  b.set(cin);
  recLocal(b, Fr.Cin, cin);
  recConst(b, Fr.Op, dec ? Lazy.Dec : Lazy.Inc);
  recConst(b, Fr.Sz, size);
  recLocal(b, Fr.Dst, d);
  recConst(b, Fr.Src, 1);
  recLocal(b, Fr.Res, r);
  recDirty(b, Dg.OpRes | Dg.Sz | Dg.DstSrc | Dg.Cin);
  return { kind: 'zf', w64: false, d: -1, s: -1, r };
}

/** Records the flags of a 32-bit ADD/SUB/CMP/logic operation; returns what is known after it. */
export function record32(b: BlockBody, op: number, d: number, s: number, r: number): Known {
  if (op === Alu.And || op === Alu.Or || op === Alu.Xor) {
    recLogic(b, r);
    return { kind: 'logic', w64: false, d, s, r };
  }
  return recordAddSub(b, op === Alu.Add, 4, d, s, r);
}

/**
 * Records the flags of an ADD or SUB/CMP of `size` bytes (1, 2 or 4) as the interpreter does; returns what is
 * known after it (conditions straight from the operands at 4 bytes, from the result's zero test below that).
 */
export function recordAddSub(b: BlockBody, add: boolean, size: number, d: number, s: number, r: number): Known {
  recConst(b, Fr.Op, add ? Lazy.Add : Lazy.Sub);
  recConst(b, Fr.Sz, size);
  recLocal(b, Fr.Dst, d);
  recLocal(b, Fr.Src, s);
  recLocal(b, Fr.Res, r);
  recDirty(b, Dg.OpRes | Dg.Sz | Dg.DstSrc);
  return size === 4 ? { kind: add ? 'add' : 'sub', w64: false, d, s, r } : { kind: add ? 'add' : 'sub', w64: false, d, s, r, narrow: size === 1 ? 1 : 2 };
}

/** Records the flags of a 64-bit ADD/SUB/CMP/logic operation as alu64 does (every field); returns what is known after it. */
export function record64(b: BlockBody, op: number, d: number, s: number, r: number): Known {
  const lazy = op === Alu.Add ? Lazy.Add : op === Alu.Sub || op === Alu.Cmp ? Lazy.Sub : Lazy.Logic;
  recConst(b, Fr.Op, lazy);
  recConst(b, Fr.Sz, 8);
  recLocal64(b, Fr.Dst, d);
  recLocal64(b, Fr.Src, s);
  recLocal64(b, Fr.Res, r);
  recDirty(b, Dg.OpRes | Dg.Sz | Dg.DstSrc | Dg.High);
  return { kind: lazy === Lazy.Add ? 'add' : lazy === Lazy.Sub ? 'sub' : 'logic', w64: true, d, s, r };
}
