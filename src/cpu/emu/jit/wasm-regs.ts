/**
 * A block function's body that keeps the guest's general registers it reads as 64 bits in wasm locals.
 *
 * The slot holds each register as the little-endian i64 at Slot.Gpr + 8r (EmuCpu.gpr, the JS side's view, has
 * its halves side by side), so a 64-bit read from it is one i64.load and a 64-bit write one i64.store; a 32-bit
 * read or write is one i32 access at 8r (the high half, at 8r + 4, stored as 0 by a 32-bit write). Here the first
 * 64-bit read of a register loads it into a local, and later reads in the block take the local. Writes go to the
 * slot as before (write-through) and to the local when the register has one, so the slot is always up to date
 * for the imports, faults, the chain driver and the run loop; a call that runs a guest instruction (`clobbers`: a
 * handler) makes the locals stale, and they are taken from the slot again.
 *
 * Writing back only at exits and calls was tried: every inline memory access's slow path and every side exit
 * then carried the stores of all written registers, the code grew by 80% and the boot got slower.
 *
 * What is kept of it: a write's slot stores wait (`pending`) until anything could see the slot, which is any call,
 * any structured or branching opcode (if, else, end, br, br_if, return, a loop...), a slot read of that register,
 * a write to the local the value is in, or the function's end (`finish`). A second write to the register before
 * that drops the first one's stores unwritten: straight-line code that writes a register twice between two
 * such points (MOV then ADD on it, a 32-bit write then a low-half write...) stores it once. The stores that are
 * written come where they would have, or later in the same straight-line run: no path gets a store it did not
 * have, and every reader of the slot sees what it saw.
 *
 * 32-bit reads and writes of a register without a local stay single slot accesses: in 32-bit code, where no
 * register is read as 64 bits, the code is what it was.
 *
 * The cache is a compile-time picture that must hold on every path to each point of the function. op() follows
 * the structured opcodes to know the nesting depth: a register gets its local only at the top level of the
 * function (or of a self-loop's body), which every later point is reached through; one first read inside a
 * branch is read from the slot there.
 *
 * Copies: `local.get a; local.set b` that gives b its first value writes nothing; b is an alias of a, and every
 * later read of b reads a, until a or b is set again (or a loop starts, or the branch b was made in ends): then
 * the copy is put back where it was written (spliced into the code at that point), and b is a local again. The
 * emitters copy operands into locals of their own (an ALU operation's d, s and r, a register's local from a
 * value's): these become reads of the original.
 */
import { Slot } from './wasm-arena.js';
import { Body, T, uleb, W } from './wasm-encoder.js';

const REGS = 16;
/** Register r's byte offset in the slot: its low half there, its high half at +4 (the little-endian i64). */
const regAt = (r: number): number => Slot.Gpr + r * 8;
/** A pending half's value: none pending, or a constant 0 (the high half of a 32-bit write); else a local. */
const NONE = -1;
const ZERO = -2;

/**
 * A body's bookkeeping while it is written (the fields of BlockBody below), kept for the next body: the tier emits
 * bodies one at a time, and making ~15 arrays per block cost more than clearing the used part of one set.
 */
class Scratch {
  readonly loc: number[] = new Array<number>(REGS).fill(-1);
  readonly cached = new Uint8Array(REGS);
  readonly pLo = new Int32Array(REGS).fill(NONE);
  readonly pLo64 = new Uint8Array(REGS);
  readonly pHi = new Int32Array(REGS).fill(NONE);
  readonly lo32 = new Int32Array(REGS).fill(-1);
  readonly lo32Local = new Int32Array(REGS).fill(-1);
  readonly hiZero = new Uint8Array(REGS);
  readonly aliasSrc: number[] = [];
  readonly aliasAt: number[] = [];
  readonly aliasDepth: number[] = [];
  readonly aliasTee: number[] = [];
  readonly wasSet: number[] = [];
  readonly holdsLo32: number[] = [];
  readonly aliases: number[] = [];

  /** As made: the per-local arrays' entries are set again as locals are made. */
  clear(): void {
    this.loc.fill(-1);
    this.cached.fill(0);
    this.pLo.fill(NONE);
    this.pLo64.fill(0);
    this.pHi.fill(NONE);
    this.lo32.fill(-1);
    this.lo32Local.fill(-1);
    this.hiZero.fill(0);
    this.aliases.length = 0;
  }
}

/** The Scratch no body holds (null while one does: a second body written at the same time gets its own). */
let spare: Scratch | null = new Scratch();

export class BlockBody extends Body {
  private depth = 0;
  /** Where registers may get a local: the function's top level, or a self-loop's body once it starts. */
  private base = 0;
  /** This body's bookkeeping (given back at finish), and its arrays. */
  private scratch: Scratch | null;
  private readonly loc: number[];
  /** Whether register r's local holds it at this point of the function. */
  private readonly cached: Uint8Array;
  /** Register r's low half to store in the slot: NONE, or the local holding it (i64 when pLo64, else i32). */
  private readonly pLo: Int32Array;
  private readonly pLo64: Uint8Array;
  /** Register r's high half to store: NONE, ZERO, or the i64 local holding the register. */
  private readonly pHi: Int32Array;
  /** Whether any store is pending. */
  private anyPending = false;
  /**
   * Register r's low 32 bits are in i32 local lo32[r] at this point (-1: not known). Set only at the top level
   * (base), dropped by any write of r, a set of that local, a clobbering call and a loop head; so within a block
   * a register is read from the slot once, and a value written is read from the local it came from.
   */
  private readonly lo32: Int32Array;
  /** Register r's own i32 local for lo32 (made at its first slot read). */
  private readonly lo32Local: Int32Array;
  /**
   * Register r's high half in the slot is 0 on every path to this point (a 32-bit write's zero was stored at the
   * top level, nothing wrote the high half since): a later 32-bit write stores only the low half.
   */
  private readonly hiZero: Uint8Array;
  /**
   * Per local (arrays indexed by local, set as locals are made): the local it is an alias of (-1: not an alias),
   * where its `get a; set b` was taken out, the depth it was made at, and the set before it that was a tee
   * (-1: none); whether it was set (or made an alias) once already (only a first set makes an alias).
   */
  private readonly aliasSrc: number[];
  private readonly aliasAt: number[];
  private readonly aliasDepth: number[];
  private readonly aliasTee: number[];
  private readonly wasSet: number[];
  /** Per local: 1 if some lo32[r] may name it (only then does a set of it look through lo32). */
  private readonly holdsLo32: number[];
  /** The locals that are aliases, in the order they were made. */
  private readonly aliases: number[];
  /** The last local.get written: where, its local, and where the code ended after it. */
  private getAt = 0;
  private getLocal = -1;
  private getEnd = -1;

  /** `slot`: the parameter holding the vCPU's slot address. `clobbers(f)`: import f may change registers in the slot. */
  constructor(
    params: number,
    private readonly slot: number,
    private readonly clobbers: (f: number) => boolean,
  ) {
    super(params, 2048);
    let sc = spare;
    if (sc !== null) {
      spare = null;
      sc.clear();
    } else sc = new Scratch();
    this.scratch = sc;
    this.loc = sc.loc;
    this.cached = sc.cached;
    this.pLo = sc.pLo;
    this.pLo64 = sc.pLo64;
    this.pHi = sc.pHi;
    this.lo32 = sc.lo32;
    this.lo32Local = sc.lo32Local;
    this.hiZero = sc.hiZero;
    this.aliasSrc = sc.aliasSrc;
    this.aliasAt = sc.aliasAt;
    this.aliasDepth = sc.aliasDepth;
    this.aliasTee = sc.aliasTee;
    this.wasSet = sc.wasSet;
    this.holdsLo32 = sc.holdsLo32;
    this.aliases = sc.aliases;
    for (let l = 0; l < params; l++) this.addLocalState(l);
  }

  /** Local l's entries of the per-local arrays, as for a local never set. */
  private addLocalState(l: number): void {
    if (l < this.wasSet.length) {
      this.aliasSrc[l] = -1;
      this.aliasAt[l] = 0;
      this.aliasDepth[l] = 0;
      this.aliasTee[l] = -1;
      this.wasSet[l] = 0;
      this.holdsLo32[l] = 0;
      return;
    }
    this.aliasSrc.push(-1);
    this.aliasAt.push(0);
    this.aliasDepth.push(0);
    this.aliasTee.push(-1);
    this.wasSet.push(0);
    this.holdsLo32.push(0);
  }

  override local(t: T): number {
    const l = super.local(t);
    this.addLocalState(l);
    return l;
  }

  /**
   * Raw opcodes. Structured ones are followed for the nesting depth: block types and branch labels must come in
   * the same call as their opcode (as every caller writes them); after a 0xfc/0xfd prefix the rest of the call
   * is taken as that instruction's.
   */
  override op(...ops: number[]): this {
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i]!;
      // Most opcodes are none of the structured ones below (0x02..0x11, the 0xfc/0xfd prefixes).
      if (o > W.CallIndirect && o < 0xfc) {
        this.byte(o);
        continue;
      }
      switch (o) {
        case W.Block:
        case W.Loop:
        case W.If:
          if (i + 1 >= ops.length) throw new Error(`wasm-regs: opcode 0x${o.toString(16)} without its block type in the same op() call`);
          this.flushAll();
          // A loop's body runs again after later sets: an alias must be a local before it.
          if (o === W.Loop) this.unaliasFrom(0);
          this.byte(o);
          this.byte(ops[++i]!);
          this.depth++;
          continue;
        case W.End:
          if (this.depth === 0) throw new Error('wasm-regs: End at depth 0 (the function end is implicit)');
          this.flushAll();
          this.unaliasFrom(this.depth);
          this.depth--;
          if (this.depth < this.base) this.base = this.depth;
          break;
        case W.Br:
        case W.BrIf:
          if (i + 1 >= ops.length) throw new Error('wasm-regs: a branch without its label in the same op() call');
          this.flushAll();
          this.byte(o);
          this.byte(ops[++i]!);
          continue;
        case W.CallIndirect:
          this.flushAll();
          this.byte(o);
          this.byte(ops[i + 1]!);
          this.byte(ops[i + 2]!);
          i += 2;
          continue;
        case W.Else:
          this.flushAll();
          this.unaliasFrom(this.depth);
          break;
        case W.Return:
          this.flushAll();
          break;
        case 0xfc:
        case 0xfd:
          for (; i < ops.length; i++) this.byte(ops[i]!);
          return this;
      }
      this.byte(o);
    }
    return this;
  }

  override call(f: number): this {
    this.flushAll();
    super.call(f);
    if (this.clobbers(f)) {
      this.forgetAll();
      this.retake();
    }
    return this;
  }

  override get(l: number): this {
    const src = this.aliasSrc[l]!;
    if (src >= 0) l = src;
    const at = this.len;
    super.get(l);
    // A get right after a set of the same local turns that set into a tee (nothing written here): getAt -1.
    this.getAt = this.len !== at ? at : -1;
    this.getLocal = l;
    this.getEnd = this.len;
    return this;
  }

  override set(l: number): this {
    if (this.anyPending) this.flushFrom(l);
    this.forgetLocal(l);
    if (this.aliases.length !== 0) this.unaliasLocal(l);
    if (l >= this.params && this.wasSet[l] === 0 && this.getEnd === this.len && this.getLocal !== l) {
      // `local.get a; local.set l` (or `local.tee a; local.set l`), l's first value: l reads a from here on.
      this.wasSet[l] = 1;
      // (tee: where the set before it is, which becomes that tee again if the copy is put back)
      let tee = -1;
      if (this.getAt >= 0) this.len = this.getAt;
      else {
        tee = this.setAt;
        this.buf[tee] = W.LocalSet; // the tee back to the set it was
      }
      this.aliasSrc[l] = this.getLocal;
      this.aliasAt[l] = this.len;
      this.aliasDepth[l] = this.depth;
      this.aliasTee[l] = tee;
      this.aliases.push(l);
      this.getEnd = -1;
      this.setEnd = -1;
      return this;
    }
    this.wasSet[l] = 1;
    return super.set(l);
  }

  override tee(l: number): this {
    if (this.anyPending) this.flushFrom(l);
    this.forgetLocal(l);
    if (this.aliases.length !== 0) this.unaliasLocal(l);
    this.wasSet[l] = 1;
    return super.tee(l);
  }

  /** Local l changes: no register's low half is known to be in it any more. */
  private forgetLocal(l: number): void {
    if (this.holdsLo32[l] === 0) return;
    this.holdsLo32[l] = 0;
    const c = this.lo32;
    for (let r = 0; r < REGS; r++) if (c[r] === l) c[r] = -1;
  }

  /** Nothing is known of the registers' values (a clobbering call, a loop head). */
  private forgetAll(): void {
    this.lo32.fill(-1);
    this.hiZero.fill(0);
    this.epoch++;
  }

  /**
   * Changes at every clobbering call and loop head: a value an emitter derived from the slot at the top level
   * (`atTop`) holds on every later path while the epoch is the same.
   */
  epoch = 0;

  /** The nesting depth of structured opcodes here (a `br` to the block opened at level d is `br level - d`). */
  get level(): number {
    return this.depth;
  }

  /**
   * Forward branches to one point (wasm-skips.ts): a `block` that code enters at its start and leaves only at its
   * end, by falling through or by a `br` from inside. Its body is straight-line code as the level around it is, so
   * registers get locals there as at the top level; at its end only what holds on every way in is kept (the
   * fall-through's picture met with each branch's, taken at `skipBranch`). Returns the block's level.
   */
  openSkip(): number {
    this.op(W.Block, T.Void);
    this.joins.push({ base: this.base, level: this.depth, seen: false, cached: new Uint8Array(REGS), lo32: new Int32Array(REGS), hiZero: new Uint8Array(REGS) });
    this.base = this.depth;
    return this.depth;
  }

  /** Before a `br` to the openSkip block at `level`: what the compiler knows of the registers here holds at its end. */
  skipBranch(level: number): void {
    const j = this.joins.find((e) => e.level === level)!;
    for (let r = 0; r < REGS; r++) {
      if (!j.seen) {
        j.cached[r] = this.cached[r]!;
        j.lo32[r] = this.lo32[r]!;
        j.hiZero[r] = this.hiZero[r]!;
      } else {
        j.cached[r] = j.cached[r]! & this.cached[r]!;
        if (j.lo32[r] !== this.lo32[r]) j.lo32[r] = -1;
        j.hiZero[r] = j.hiZero[r]! & this.hiZero[r]!;
      }
    }
    j.seen = true;
  }

  /** Ends the innermost openSkip block: keeps what held at each branch to it and holds here. */
  closeSkip(): void {
    const j = this.joins.pop()!;
    this.op(W.End);
    this.base = j.base;
    if (!j.seen) return;
    for (let r = 0; r < REGS; r++) {
      this.cached[r] = this.cached[r]! & j.cached[r]!;
      if (this.lo32[r] !== j.lo32[r]) this.lo32[r] = -1;
      this.hiZero[r] = this.hiZero[r]! & j.hiZero[r]!;
    }
  }

  private readonly joins: { base: number; level: number; seen: boolean; cached: Uint8Array; lo32: Int32Array; hiZero: Uint8Array }[] = [];

  /** Whether code emitted here runs on every later path of the function (its top level, or a self-loop body's). */
  atTop(): boolean {
    return this.depth === this.base;
  }

  /** Before local l is set: l, and every alias of l, become locals again. */
  private unaliasLocal(l: number): void {
    if (this.aliasSrc[l]! >= 0) this.materialize(l);
    const as = this.aliases;
    for (let i = 0; i < as.length; ) {
      const b = as[i]!;
      if (this.aliasSrc[b] === l) this.materialize(b);
      else i++;
    }
  }

  /** The aliases made at `depth` or deeper become locals again (in the order they were made). */
  private unaliasFrom(depth: number): void {
    const as = this.aliases;
    for (let i = 0; i < as.length; ) {
      const b = as[i]!;
      if (this.aliasDepth[b]! >= depth) this.materialize(b);
      else i++;
    }
  }

  /** Puts alias b's copy back where it was taken out. */
  private materialize(b: number): void {
    const src = this.aliasSrc[b]!;
    const at = this.aliasAt[b]!;
    const tee = this.aliasTee[b]!;
    this.aliasSrc[b] = -1;
    const as = this.aliases;
    as.splice(as.indexOf(b), 1);
    const ins: number[] = [];
    // `local.set a` right before: `local.tee a; local.set b`, else `local.get a; local.set b`.
    if (tee >= 0 && this.buf[tee] === W.LocalSet) this.buf[tee] = W.LocalTee;
    else {
      ins.push(W.LocalGet);
      uleb(ins, src);
    }
    ins.push(W.LocalSet);
    uleb(ins, b);
    this.insert(at, ins);
    const n = ins.length;
    for (let i = 0; i < as.length; i++) {
      const o = as[i]!;
      if (this.aliasAt[o]! >= at) this.aliasAt[o] = this.aliasAt[o]! + n;
      if (this.aliasTee[o]! >= at) this.aliasTee[o] = this.aliasTee[o]! + n;
    }
    this.getEnd = -1;
    this.setEnd = -1;
  }

  /** Starts a self-loop (the block's back edge branches to here): locals taken from here on are loaded at each pass. */
  loopHead(): void {
    this.op(W.Loop, T.Void);
    this.base = this.depth;
    // Reached from the back edge too, with what the body left.
    this.forgetAll();
  }

  /** The function's end (implicit after this): writes the pending stores and checks that the structure closed. */
  finish(): void {
    this.flushAll();
    if (this.depth !== 0) throw new Error(`wasm-regs: function ends at depth ${this.depth}`);
    // Nothing reads the bookkeeping after this: the next body takes it.
    if (this.scratch !== null) {
      spare = this.scratch;
      this.scratch = null;
    }
  }

  /** Writes every pending slot store. */
  flushAll(): void {
    if (!this.anyPending) return;
    this.anyPending = false;
    for (let r = 0; r < REGS; r++) this.flushReg(r);
  }

  /** Writes register r's pending stores: one i64 store when both halves are pending from one value. */
  private flushReg(r: number): void {
    const lo = this.pLo[r]!;
    const hi = this.pHi[r]!;
    if (lo !== NONE && (hi === ZERO ? this.pLo64[r] === 0 : hi === lo && this.pLo64[r] !== 0)) {
      // A 64-bit write (both halves from its local), or a 32-bit one (its low half and a zero high half).
      this.pLo[r] = NONE;
      this.pHi[r] = NONE;
      this.get(this.slot).get(lo);
      if (hi === ZERO) this.op(W.I64ExtendI32U);
      this.mem(W.I64Store, regAt(r), 3);
      if (hi === ZERO && this.depth === this.base) this.hiZero[r] = 1;
      return;
    }
    if (lo !== NONE) {
      this.pLo[r] = NONE;
      this.get(this.slot).get(lo);
      if (this.pLo64[r] !== 0) this.op(W.I32WrapI64);
      this.mem(W.I32Store, regAt(r), 2);
    }
    if (hi !== NONE) {
      this.pHi[r] = NONE;
      this.get(this.slot);
      if (hi === ZERO) this.i32(0);
      else this.get(hi).i64(32).op(W.I64ShrU, W.I32WrapI64);
      this.mem(W.I32Store, regAt(r) + 4, 2);
      // Stored on every path from here when written at the top level.
      if (hi === ZERO && this.depth === this.base) this.hiZero[r] = 1;
    }
  }

  /** Before local l changes: writes the pending stores that take their value from it. */
  private flushFrom(l: number): void {
    for (let r = 0; r < REGS; r++) if (this.pLo[r] === l || this.pHi[r] === l) this.flushReg(r);
  }

  /** Loads register r into its local now (before a branch that reads it as 64 bits), where it can get one. */
  ensure(r: number): void {
    if (r >= 0 && r < REGS && this.cached[r] === 0 && this.depth === this.base) this.fill(r);
  }

  /** Pushes register r's low 32 bits. */
  load32(r: number): void {
    if (this.cached[r] !== 0) {
      this.get(this.loc[r]!).op(W.I32WrapI64);
      return;
    }
    // A pending write's value is in its local (which keeps it until set again: that flushes the store first).
    const p = this.pLo[r]!;
    if (p !== NONE) {
      this.get(p);
      if (this.pLo64[r] !== 0) this.op(W.I32WrapI64);
      return;
    }
    const c = this.lo32[r]!;
    if (c >= 0) {
      this.get(c);
      return;
    }
    this.get(this.slot).mem(W.I32Load, regAt(r), 2);
    if (this.depth === this.base) {
      let l = this.lo32Local[r]!;
      if (l < 0) {
        l = this.local(T.I32);
        this.lo32Local[r] = l;
      }
      this.tee(l);
      this.lo32[r] = l;
      this.holdsLo32[l] = 1;
    }
  }

  /** Pushes register r (i64). */
  load64(r: number): void {
    if (this.cached[r] === 0 && this.depth === this.base) this.fill(r);
    if (this.cached[r] !== 0) this.get(this.loc[r]!);
    else this.slotLoad64(r);
  }

  /** Register r = i64 local v (v must not be a register's local). */
  store64(r: number, v: number): void {
    this.kill(r);
    this.lo32[r] = -1;
    this.hiZero[r] = 0;
    if (this.cached[r] !== 0 || this.depth === this.base) {
      this.get(v).set(this.local64(r));
      this.cached[r] = 1;
    }
    this.pLo[r] = v;
    this.pLo64[r] = 1;
    this.pHi[r] = v;
    this.anyPending = true;
  }

  /** Register r = i32 local v zero-extended (a 32-bit register write). */
  store32(r: number, v: number): void {
    this.kill(r);
    if (this.cached[r] !== 0) this.get(v).op(W.I64ExtendI32U).set(this.loc[r]!);
    this.pLo[r] = v;
    this.pLo64[r] = 0;
    if (this.hiZero[r] === 0) this.pHi[r] = ZERO;
    // v holds the low half until it is set again (forgetLocal), on every later path if written at the top level.
    if (this.depth === this.base) {
      this.lo32[r] = v;
      this.holdsLo32[v] = 1;
    } else this.lo32[r] = -1;
    this.anyPending = true;
  }

  /** Drops register r's pending stores: a write that replaces both halves follows, before anything could see them. */
  private kill(r: number): void {
    this.pLo[r] = NONE;
    this.pHi[r] = NONE;
  }

  /** Register r's low 32 bits = the i32 that `low` pushes, its high half kept (8- and 16-bit writes, a 32-bit stack's ESP). */
  storeLow32(r: number, low: () => void): void {
    this.storeLow(r, low);
    // After low(), which may read the register (and remember its local).
    this.lo32[r] = -1;
  }

  private storeLow(r: number, low: () => void): void {
    if (this.cached[r] !== 0) {
      const l = this.loc[r]!;
      // The pending low half (if any) is replaced; the high half's stays, from whatever local it is in.
      this.pLo[r] = NONE;
      if (this.pHi[r] === l) this.flushReg(r);
      this.get(l).i64(-0x1_0000_0000n).op(W.I64And);
      low();
      this.op(W.I64ExtendI32U, W.I64Or).set(l);
      this.pLo[r] = l;
      this.pLo64[r] = 1;
      this.anyPending = true;
    } else {
      this.get(this.slot);
      low();
      // low() read the register from the slot (its pending stores were written then) or did not read it: a
      // pending low half is replaced here unseen.
      this.pLo[r] = NONE;
      this.mem(W.I32Store, regAt(r), 2);
    }
  }

  /** Clears register r's high half (a 32-bit CMOV whose condition is false still zero-extends). */
  zeroHigh(r: number): void {
    if (this.cached[r] !== 0) {
      const l = this.loc[r]!;
      this.get(l).i64(0xffff_ffffn).op(W.I64And).set(l);
    }
    if (this.hiZero[r] !== 0) return;
    this.pHi[r] = ZERO;
    this.anyPending = true;
  }

  private local64(r: number): number {
    let l = this.loc[r]!;
    if (l < 0) {
      l = this.local(T.I64);
      this.loc[r] = l;
    }
    return l;
  }

  private slotLoad64(r: number): void {
    if (this.pLo[r] !== NONE || this.pHi[r] !== NONE) this.flushReg(r);
    this.get(this.slot).mem(W.I64Load, regAt(r), 3);
  }

  private fill(r: number): void {
    const c = this.lo32[r]!;
    if (c >= 0 && (this.pHi[r] === ZERO || this.hiZero[r] !== 0)) {
      // Its value is a low half in a local and a zero high half (a 32-bit write or slot read: MOVZX, MOV r32 then
      // an address or a 64-bit operation on it): no slot read, and its pending stores stay pending.
      this.get(c).op(W.I64ExtendI32U).set(this.local64(r));
      this.cached[r] = 1;
      return;
    }
    this.slotLoad64(r);
    this.set(this.local64(r));
    this.cached[r] = 1;
  }

  /** After a handler: at the top level the locals are dropped; inside a branch each one is reloaded (the other path keeps its own). */
  private retake(): void {
    if (this.depth === this.base) {
      this.cached.fill(0);
      return;
    }
    for (let r = 0; r < REGS; r++) {
      if (this.cached[r] === 0) continue;
      this.slotLoad64(r);
      this.set(this.loc[r]!);
    }
  }
}
