/**
 * A block function's body that keeps the guest's general registers it reads as 64 bits in wasm locals.
 *
 * The slot holds each register as two i32 halves (Slot.Rl, Slot.Rh: the JS side's views), so a 64-bit read from
 * it is two loads and four operations. Here the first 64-bit read of a register loads it into a local, and later
 * reads in the block take the local. Writes go to the slot as before (write-through) and to the local when the
 * register has one, so the slot is always up to date for the imports, faults, the chain driver and the run
 * loop; a call that runs a guest instruction (`clobbers`: a handler) makes the locals stale, and they are taken
 * from the slot again.
 *
 * Writing back only at exits and calls was tried: every inline memory access's slow path and every side exit
 * then carried the stores of all written registers, the code grew by 80% and the boot got slower.
 *
 * 32-bit reads and writes of a register without a local stay single slot accesses: in 32-bit code, where no
 * register is read as 64 bits, the code is what it was.
 *
 * The cache is a compile-time picture that must hold on every path to each point of the function. op() follows
 * the structured opcodes to know the nesting depth: a register gets its local only at the top level of the
 * function (or of a self-loop's body), which every later point is reached through; one first read inside a
 * branch is read from the slot there.
 */
import { Slot } from './wasm-arena.js';
import { Body, T, W } from './wasm-encoder.js';

const REGS = 16;

export class BlockBody extends Body {
  private depth = 0;
  /** Where registers may get a local: the function's top level, or a self-loop's body once it starts. */
  private base = 0;
  private readonly loc: number[] = new Array<number>(REGS).fill(-1);
  /** Whether register r's local holds it at this point of the function. */
  private readonly cached = new Uint8Array(REGS);

  /** `slot`: the parameter holding the vCPU's slot address. `clobbers(f)`: import f may change registers in the slot. */
  constructor(
    params: number,
    private readonly slot: number,
    private readonly clobbers: (f: number) => boolean,
  ) {
    super(params);
  }

  /**
   * Raw opcodes. Structured ones are followed for the nesting depth: block types and branch labels must come in
   * the same call as their opcode (as every caller writes them); after a 0xfc/0xfd prefix the rest of the call
   * is taken as that instruction's.
   */
  override op(...ops: number[]): this {
    const code = this.code;
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i]!;
      switch (o) {
        case W.Block:
        case W.Loop:
        case W.If:
          if (i + 1 >= ops.length) throw new Error(`wasm-regs: opcode 0x${o.toString(16)} without its block type in the same op() call`);
          code.push(o, ops[++i]!);
          this.depth++;
          continue;
        case W.End:
          if (this.depth === 0) throw new Error('wasm-regs: End at depth 0 (the function end is implicit)');
          this.depth--;
          if (this.depth < this.base) this.base = this.depth;
          break;
        case W.Br:
        case W.BrIf:
          if (i + 1 >= ops.length) throw new Error('wasm-regs: a branch without its label in the same op() call');
          code.push(o, ops[++i]!);
          continue;
        case W.CallIndirect:
          code.push(o, ops[i + 1]!, ops[i + 2]!);
          i += 2;
          continue;
        case 0xfc:
        case 0xfd:
          for (; i < ops.length; i++) code.push(ops[i]!);
          return this;
      }
      code.push(o);
    }
    return this;
  }

  override call(f: number): this {
    super.call(f);
    if (this.clobbers(f)) this.retake();
    return this;
  }

  /** Starts a self-loop (the block's back edge branches to here): locals taken from here on are loaded at each pass. */
  loopHead(): void {
    this.op(W.Loop, T.Void);
    this.base = this.depth;
  }

  /** Checks that the function's structure closed (its end is implicit). */
  finish(): void {
    if (this.depth !== 0) throw new Error(`wasm-regs: function ends at depth ${this.depth}`);
  }

  /** Loads register r into its local now (before a branch that reads it as 64 bits), where it can get one. */
  ensure(r: number): void {
    if (r >= 0 && r < REGS && this.cached[r] === 0 && this.depth === this.base) this.fill(r);
  }

  /** Pushes register r's low 32 bits. */
  load32(r: number): void {
    if (this.cached[r] !== 0) this.get(this.loc[r]!).op(W.I32WrapI64);
    else this.get(this.slot).mem(W.I32Load, Slot.Rl + r * 4, 2);
  }

  /** Pushes register r (i64). */
  load64(r: number): void {
    if (this.cached[r] === 0 && this.depth === this.base) this.fill(r);
    if (this.cached[r] !== 0) this.get(this.loc[r]!);
    else this.slotLoad64(r);
  }

  /** Register r = i64 local v. */
  store64(r: number, v: number): void {
    if (this.cached[r] !== 0 || this.depth === this.base) {
      this.get(v).set(this.local64(r));
      this.cached[r] = 1;
    }
    this.get(this.slot).get(v).op(W.I32WrapI64).mem(W.I32Store, Slot.Rl + r * 4, 2);
    this.get(this.slot).get(v).i64(32n).op(W.I64ShrU, W.I32WrapI64).mem(W.I32Store, Slot.Rh + r * 4, 2);
  }

  /** Register r = i32 local v zero-extended (a 32-bit register write). */
  store32(r: number, v: number): void {
    if (this.cached[r] !== 0) this.get(v).op(W.I64ExtendI32U).set(this.loc[r]!);
    this.get(this.slot).get(v).mem(W.I32Store, Slot.Rl + r * 4, 2);
    this.get(this.slot).i32(0).mem(W.I32Store, Slot.Rh + r * 4, 2);
  }

  /** Register r's low 32 bits = the i32 that `low` pushes, its high half kept (8- and 16-bit writes, a 32-bit stack's ESP). */
  storeLow32(r: number, low: () => void): void {
    if (this.cached[r] !== 0) {
      const l = this.loc[r]!;
      this.get(l).i64(-0x1_0000_0000n).op(W.I64And);
      low();
      this.op(W.I64ExtendI32U, W.I64Or).set(l);
      this.get(this.slot).get(l).op(W.I32WrapI64).mem(W.I32Store, Slot.Rl + r * 4, 2);
    } else {
      this.get(this.slot);
      low();
      this.mem(W.I32Store, Slot.Rl + r * 4, 2);
    }
  }

  /** Clears register r's high half (a 32-bit CMOV whose condition is false still zero-extends). */
  zeroHigh(r: number): void {
    if (this.cached[r] !== 0) {
      const l = this.loc[r]!;
      this.get(l).i64(0xffff_ffffn).op(W.I64And).set(l);
    }
    this.get(this.slot).i32(0).mem(W.I32Store, Slot.Rh + r * 4, 2);
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
    this.get(this.slot).mem(W.I32Load, Slot.Rl + r * 4, 2).op(W.I64ExtendI32U);
    this.get(this.slot).mem(W.I32Load, Slot.Rh + r * 4, 2).op(W.I64ExtendI32S).i64(32n).op(W.I64Shl, W.I64Or);
  }

  private fill(r: number): void {
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
