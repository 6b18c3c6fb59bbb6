import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockBody } from './wasm-regs.js';
import { moduleBytes, T, W, wasmApi, type FnType } from './wasm-encoder.js';
import { Slot } from './wasm-arena.js';

// A function (slot, flag) -> i64 over a one-page memory whose slot holds register r as the i64 at Slot.Gpr + 8r.
// Import 0 (`h`) stands for a handler: it may rewrite registers in the slot.
const TYPES: readonly FnType[] = [
  [[T.I32], [T.I32]],
  [[T.I32, T.I32], [T.I64]],
];
const IMPORTS = [['h', 0]] as const;
const SLOT = 0;
const FLAG = 1;

function run(emit: (b: BlockBody) => void, flag: number, init: (lo: Int32Array) => void, onH: (lo: Int32Array) => void = () => {}): { r: bigint; lo: Int32Array } {
  const b = new BlockBody(2, SLOT, (f) => f === 0);
  emit(b);
  b.finish();
  const memory = new wasmApi!.Memory({ initial: 1, maximum: 1 });
  const lo = new Int32Array(memory.buffer);
  init(lo);
  const bytes = moduleBytes(TYPES, IMPORTS, 1, [b]);
  const inst = new wasmApi!.Instance(new wasmApi!.Module(bytes), {
    e: { m: memory, h: () => (onH(lo), 0) },
  });
  const f = inst.exports['f0'] as (slot: number, flag: number) => bigint;
  return { r: BigInt.asUintN(64, f(0, flag)), lo };
}

const reg = (lo: Int32Array, r: number): bigint => (BigInt(lo[(Slot.Gpr >> 2) + 2 * r + 1]! >>> 0) << 32n) | BigInt(lo[(Slot.Gpr >> 2) + 2 * r]! >>> 0);
const setReg = (lo: Int32Array, r: number, v: bigint): void => {
  lo[(Slot.Gpr >> 2) + 2 * r] = Number(BigInt.asIntN(32, v));
  lo[(Slot.Gpr >> 2) + 2 * r + 1] = Number(BigInt.asIntN(32, v >> 32n));
};

test('a register cached before a handler is read from the slot after it', () => {
  const { r } = run(
    (b) => {
      b.load64(3);
      b.op(W.Drop);
      b.i32(0).call(0).op(W.Drop);
      b.load64(3);
    },
    0,
    (lo) => setReg(lo, 3, 0x1_0000_0005n),
    (lo) => setReg(lo, 3, 0x2_0000_0007n),
  );
  assert.equal(r, 0x2_0000_0007n);
});

test('a handler inside a branch: cached registers are taken again on that path only', () => {
  const emit = (b: BlockBody): void => {
    b.load64(3);
    b.op(W.Drop);
    b.get(FLAG).op(W.If, T.Void);
    b.i32(0).call(0).op(W.Drop);
    b.op(W.End);
    b.load64(3);
  };
  assert.equal(run(emit, 1, (lo) => setReg(lo, 3, 5n), (lo) => setReg(lo, 3, 9n)).r, 9n);
  assert.equal(run(emit, 0, (lo) => setReg(lo, 3, 5n), (lo) => setReg(lo, 3, 9n)).r, 5n);
});

test('a register first used inside a branch is not cached there: both paths read it right afterwards', () => {
  const emit = (b: BlockBody): void => {
    const v = b.local(T.I64);
    b.get(FLAG).op(W.If, T.Void);
    b.i64(0x1234_5678_9abcn).set(v);
    b.store64(2, v);
    b.op(W.End);
    b.load64(2);
  };
  assert.equal(run(emit, 1, (lo) => setReg(lo, 2, 7n)).r, 0x1234_5678_9abcn);
  assert.equal(run(emit, 0, (lo) => setReg(lo, 2, 7n)).r, 7n);
});

test('writes reach the slot at once, and a write into the low half keeps the high half', () => {
  let seen = 0n;
  const { r, lo } = run(
    (b) => {
      const v = b.local(T.I64);
      b.i64(-2n).set(v);
      b.store64(1, v);
      b.i32(0).call(0).op(W.Drop);
      const w = b.local(T.I32);
      b.i32(0x55).set(w);
      b.store32(4, w);
      b.storeLow32(1, () => b.i32(0x77));
      b.load64(1);
    },
    0,
    () => {},
    (mem) => {
      seen = reg(mem, 1);
    },
  );
  assert.equal(seen, 0xffff_ffff_ffff_fffen, 'the handler saw the write before it');
  assert.equal(r, 0xffff_ffff_0000_0077n, 'an 8/16/32-bit write into the low half keeps the high half');
  assert.equal(reg(lo, 1), 0xffff_ffff_0000_0077n);
  assert.equal(reg(lo, 4), 0x55n);
});

test('a register written twice between two calls is stored once; every call, branch and the end see its value', () => {
  const seen: bigint[] = [];
  const emit = (b: BlockBody): void => {
    const v = b.local(T.I64);
    const w = b.local(T.I64);
    const x = b.local(T.I32);
    b.i64(0x1_1111_1111n).set(v);
    b.store64(5, v);
    b.i64(0x2_2222_2222n).set(w);
    b.store64(5, w); // the first write's stores are never written
    b.i32(0).call(0).op(W.Drop); // sees the second
    b.i32(0x33).set(x);
    b.store32(5, x);
    b.i64(9n).set(v); // the pending store of x's write is not from v: stays pending
    b.get(FLAG).op(W.If, T.Void); // the store is written before the branch, on both paths
    b.i32(0).call(0).op(W.Drop);
    b.op(W.End);
    b.store64(6, v);
    b.i64(10n).set(v); // written from v before v changes
    b.load64(3);
  };
  const bytesOf = (e: (b: BlockBody) => void): number => {
    const b = new BlockBody(2, SLOT, (f) => f === 0);
    e(b);
    b.finish();
    return b.code.length;
  };
  const once = (b: BlockBody): void => {
    const w = b.local(T.I64);
    b.i64(0x2_2222_2222n).set(w);
    b.store64(5, w);
  };
  const twice = (b: BlockBody): void => {
    const v = b.local(T.I64);
    b.i64(0x1_1111_1111n).set(v);
    b.store64(5, v);
    once(b);
  };
  // The first write costs its constant and locals (i64.const, tee, set: 10 bytes), not its two slot stores (20).
  assert.ok(bytesOf(twice) - bytesOf(once) <= 12, `the first write's stores dropped: ${bytesOf(twice) - bytesOf(once)} bytes more`);
  for (const flag of [0, 1]) {
    seen.length = 0;
    const { lo } = run(emit, flag, () => {}, (mem) => seen.push(reg(mem, 5)));
    assert.deepEqual(seen, flag === 1 ? [0x2_2222_2222n, 0x33n] : [0x2_2222_2222n]);
    assert.equal(reg(lo, 5), 0x33n);
    assert.equal(reg(lo, 6), 9n, 'the value the local had at the write');
  }
});

test('a copy into a fresh local reads its source until either changes, then is put back where it was made', () => {
  // d = a; (FLAG: a = 7); e = a; d + e
  const branch = (b: BlockBody): void => {
    const a = b.local(T.I64);
    const d = b.local(T.I64);
    const e = b.local(T.I64);
    b.i64(5n).set(a);
    b.get(a).set(d);
    b.get(FLAG).op(W.If, T.Void);
    b.i64(7n).set(a);
    b.op(W.End);
    b.get(a).set(e);
    b.get(d).get(e).op(W.I64Add);
  };
  assert.equal(run(branch, 1, () => {}).r, 12n);
  assert.equal(run(branch, 0, () => {}).r, 10n);
  // a = 1; d = a; loop { acc += d; a += 1; while a < 3 }: d stays 1 in every pass
  const loop = (b: BlockBody): void => {
    const a = b.local(T.I64);
    const d = b.local(T.I64);
    const acc = b.local(T.I64);
    b.i64(1n).set(a);
    b.get(a).set(d);
    b.op(W.Loop, T.Void);
    b.get(acc).get(d).op(W.I64Add).set(acc);
    b.get(a).i64(1n).op(W.I64Add).set(a);
    b.get(a).i64(3n).op(W.I64LtS, W.BrIf, 0);
    b.op(W.End);
    b.get(acc);
  };
  assert.equal(run(loop, 0, () => {}).r, 2n);
});

test('structured opcodes must carry their immediates in the same op() call', () => {
  const b = new BlockBody(2, SLOT, () => false);
  assert.throws(() => b.op(W.If), /block type/);
  assert.throws(() => b.op(W.End), /depth 0/);
  b.op(W.Block, T.Void);
  assert.throws(() => b.finish(), /depth 1/);
});

const I32_LOAD = 0x28;
const I64_LOAD = 0x29;
const I32_STORE = 0x36;
const I64_STORE = 0x37;
/** Occurrences of a slot access `op` (one of the four above, natural alignment) at `offset` (< 128) in b's code. */
function slotAccesses(b: BlockBody, op: number, offset: number): number {
  const align = op === I64_LOAD || op === I64_STORE ? 3 : 2;
  let n = 0;
  const c = b.code;
  for (let i = 0; i + 2 < c.length; i++) if (c[i] === op && c[i + 1] === align && c[i + 2] === offset) n++;
  return n;
}
/** Register r's low half's byte offset in the slot (its high half at + 4). */
const at = (r: number): number => Slot.Gpr + 8 * r;

test('32-bit reads: a register is loaded from the slot once, a value written is read from its local', () => {
  const b = new BlockBody(2, SLOT, (f) => f === 0);
  const v = b.local(T.I32);
  b.load32(3);
  b.load32(3);
  b.op(W.I32Add).set(v);
  b.store32(4, v);
  b.load32(4);
  b.op(W.Drop);
  b.get(FLAG).op(W.If, T.Void).op(W.End); // the store is written here
  b.load32(4);
  b.load32(3);
  b.op(W.I32Add);
  b.op(W.Drop);
  b.finish();
  assert.equal(slotAccesses(b, I32_LOAD, at(3)), 1, 'register 3 read from the slot once');
  assert.equal(slotAccesses(b, I32_LOAD, at(4)), 0, 'register 4 read from the local it was written from');
});

test('32-bit reads after a handler, a write in a branch and at a loop head take the slot again', () => {
  // r3 read, handler rewrites it, read again
  assert.equal(
    run(
      (b) => {
        b.load32(3);
        b.op(W.Drop);
        b.i32(0).call(0).op(W.Drop);
        b.load32(3);
        b.op(W.I64ExtendI32U);
      },
      0,
      (lo) => setReg(lo, 3, 5n),
      (lo) => setReg(lo, 3, 9n),
    ).r,
    9n,
  );
  // r2 read, written inside a branch, read after it
  const branch = (b: BlockBody): void => {
    const v = b.local(T.I32);
    b.load32(2);
    b.op(W.Drop);
    b.get(FLAG).op(W.If, T.Void);
    b.i32(11).set(v);
    b.store32(2, v);
    b.op(W.End);
    b.load32(2);
    b.op(W.I64ExtendI32U);
  };
  assert.equal(run(branch, 1, (lo) => setReg(lo, 2, 7n)).r, 11n);
  assert.equal(run(branch, 0, (lo) => setReg(lo, 2, 7n)).r, 7n);
  // acc = 0; r1 read before the loop; loop { acc += r1 (32 bits); r1 = 100; while ++i < 2 }: 7 + 100
  const loop = (b: BlockBody): void => {
    const acc = b.local(T.I32);
    const i = b.local(T.I32);
    const h = b.local(T.I64);
    b.load32(1);
    b.op(W.Drop);
    b.loopHead();
    b.get(acc);
    b.load32(1);
    b.op(W.I32Add).set(acc);
    b.i64(100n).set(h);
    b.store64(1, h);
    b.get(i).i32(1).op(W.I32Add).tee(i).i32(2).op(W.I32LtS, W.BrIf, 0);
    b.op(W.End);
    b.get(acc).op(W.I64ExtendI32U);
  };
  assert.equal(run(loop, 0, (lo) => setReg(lo, 1, 7n)).r, 107n);
});

test("a 32-bit write stores the high half's zero once while nothing else wrote the high half", () => {
  const b = new BlockBody(2, SLOT, (f) => f === 0);
  const v = b.local(T.I32);
  for (let k = 0; k < 3; k++) {
    b.i32(k).set(v);
    b.store32(5, v);
    b.get(FLAG).op(W.If, T.Void).op(W.End);
  }
  b.finish();
  // The first write's two halves as one i64 (the value zero-extended), the next ones' low halves alone.
  assert.equal(slotAccesses(b, I64_STORE, at(5)), 1);
  assert.equal(slotAccesses(b, I32_STORE, at(5)), 2);
  assert.equal(slotAccesses(b, I32_STORE, at(5) + 4), 0);
  // A handler (in a branch), a 64-bit write and a loop's back edge may set the high half: stored again after each.
  const seen: bigint[] = [];
  const emit = (b: BlockBody): void => {
    const w = b.local(T.I32);
    const h = b.local(T.I64);
    const i = b.local(T.I32);
    b.i32(1).set(w);
    b.store32(5, w);
    b.get(FLAG).op(W.If, T.Void);
    b.i32(0).call(0).op(W.Drop); // sets r5 = 0x3_0000_0003
    b.op(W.End);
    b.store32(5, w);
    b.i32(0).call(0).op(W.Drop); // records r5, sets it
    b.store32(5, w);
    b.get(FLAG).op(W.If, T.Void).op(W.End);
    b.loopHead();
    b.store32(5, w);
    b.i32(0).call(0).op(W.Drop); // records r5, sets it
    b.i64(0x4_0000_0004n).set(h);
    b.store64(5, h);
    b.get(i).i32(1).op(W.I32Add).tee(i).i32(2).op(W.I32LtS, W.BrIf, 0);
    b.op(W.End);
    b.store32(5, w);
    b.load64(5);
  };
  for (const flag of [0, 1]) {
    seen.length = 0;
    const { r } = run(emit, flag, () => {}, (lo) => {
      seen.push(reg(lo, 5));
      setReg(lo, 5, 0x3_0000_0003n);
    });
    assert.deepEqual(seen, flag === 1 ? [1n, 1n, 1n, 1n] : [1n, 1n, 1n]);
    assert.equal(r, 1n);
  }
});

test('a 64-bit read after a 32-bit write takes the written local, not the slot; a high half not known zero is read', () => {
  const b = new BlockBody(2, SLOT, (f) => f === 0);
  const v = b.local(T.I32);
  b.i32(7).set(v);
  b.store32(4, v); // r4 = 7: its high half's zero is pending
  b.load64(4);
  b.op(W.Drop);
  b.load32(3); // r3's low half from the slot, its high half unknown
  b.op(W.Drop);
  b.load64(3);
  b.op(W.Drop);
  b.finish();
  assert.equal(slotAccesses(b, I32_LOAD, at(4)) + slotAccesses(b, I64_LOAD, at(4)), 0, 'r4 not read from the slot');
  assert.equal(slotAccesses(b, I64_LOAD, at(3)), 1, 'r3 read whole from the slot');
  // Values: a 32-bit write over a register whose high half was set reads back zero-extended, before and after the
  // stores are written, and after a handler that sets it (the slot again); then the same after a slot read.
  const emit = (b: BlockBody): void => {
    const w = b.local(T.I32);
    const acc = b.local(T.I64);
    b.i32(-5).set(w);
    b.store32(5, w);
    b.load64(5);
    b.set(acc);
    b.get(FLAG).op(W.If, T.Void).op(W.End); // the stores are written here
    b.load64(5);
    b.get(acc).op(W.I64Add).set(acc);
    b.i32(0).call(0).op(W.Drop); // sets r5 = 0x3_0000_0003
    b.load32(5);
    b.op(W.Drop);
    b.load64(5);
    b.get(acc).op(W.I64Add);
  };
  const { r, lo } = run(emit, 0, (lo) => setReg(lo, 5, 0x9_0000_0009n), (lo) => setReg(lo, 5, 0x3_0000_0003n));
  assert.equal(r, 2n * 0xffff_fffbn + 0x3_0000_0003n);
  assert.equal(reg(lo, 5), 0x3_0000_0003n);
});

test('bodies written at the same time give the bytes each gives alone (one bookkeeping handed from body to body)', () => {
  // Two halves of a body that uses every part of the bookkeeping: register locals and pending stores, 32-bit
  // reads from locals, aliases put back at a branch's end, a handler call.
  const first = (b: BlockBody, r: number): void => {
    const a = b.local(T.I64);
    const d = b.local(T.I64);
    const x = b.local(T.I32);
    b.load64(r);
    b.set(a);
    b.get(a).set(d); // an alias of a
    b.store64(r + 1, d);
    b.load32(r + 2);
    b.set(x);
    b.store32(r + 3, x);
  };
  const second = (b: BlockBody, r: number): void => {
    const e = b.local(T.I64);
    b.get(FLAG).op(W.If, T.Void);
    b.i64(7).set(e);
    b.store64(r, e);
    b.op(W.End);
    b.load32(r + 3);
    b.op(W.Drop);
    b.i32(0).call(0).op(W.Drop);
    b.load64(r + 1);
  };
  const alone = (r: number): number[] => {
    const b = new BlockBody(2, SLOT, (f) => f === 0);
    first(b, r);
    second(b, r);
    b.finish();
    return [...b.code];
  };
  const want = [alone(3), alone(8), alone(3)];
  // A second body begun while the first is open, finished first; a third begun after both.
  const b1 = new BlockBody(2, SLOT, (f) => f === 0);
  first(b1, 3);
  const b2 = new BlockBody(2, SLOT, (f) => f === 0);
  first(b2, 8);
  second(b2, 8);
  b2.finish();
  second(b1, 3);
  b1.finish();
  const b3 = new BlockBody(2, SLOT, (f) => f === 0);
  first(b3, 3);
  second(b3, 3);
  b3.finish();
  assert.deepEqual([[...b1.code], [...b2.code], [...b3.code]], want);
});

test('a 64-bit write is one i64 store at 8r, a 64-bit read of the slot one i64 load', () => {
  const b = new BlockBody(2, SLOT, (f) => f === 0);
  const v = b.local(T.I64);
  b.i64(0x1_0000_0002n).set(v);
  b.store64(9, v);
  b.load64(12);
  b.op(W.Drop);
  b.finish();
  assert.equal(slotAccesses(b, I64_STORE, at(9)), 1);
  assert.equal(slotAccesses(b, I32_STORE, at(9)) + slotAccesses(b, I32_STORE, at(9) + 4), 0);
  assert.equal(slotAccesses(b, I64_LOAD, at(12)), 1);
  assert.equal(slotAccesses(b, I32_LOAD, at(12)) + slotAccesses(b, I32_LOAD, at(12) + 4), 0);
  const { r, lo } = run(
    (b) => {
      const w = b.local(T.I64);
      b.load64(12);
      b.i64(1n).op(W.I64Add).set(w);
      b.store64(9, w);
      b.load64(9);
    },
    0,
    (lo) => setReg(lo, 12, 0x7fff_ffff_ffff_ffffn),
  );
  assert.equal(r, 0x8000_0000_0000_0000n);
  assert.equal(lo[(Slot.Gpr >> 2) + 2 * 9], 0, "register 9's low half");
  assert.equal(lo[(Slot.Gpr >> 2) + 2 * 9 + 1], -0x8000_0000, "register 9's high half");
});
