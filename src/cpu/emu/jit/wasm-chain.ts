/**
 * Chained runs of compiled wasm blocks: a block that ends where the run loop would run another compiled
 * block next goes on into it inside WebAssembly, without returning to JS.
 *
 * Returning costs more than most kernel blocks take to run: the wrapper, the JS-to-wasm call, execBlock's
 * counting and the run loop's lookup were ~45 ns per block on top of the interpreter's own per-block cost
 * (a ring of 4-instruction blocks: 69 ns compiled against 35 interpreted), so compiled code lost to the
 * interpreter on code that returns to the run loop after each short block (the Linux boot).
 *
 * Every chainable block has an index in the arena's function table and a link record in the arena's
 * memory. The run loop records a link when a compiled block's exit was followed by a compiled block at the
 * exit's RIP (wasm-host.ts chainWrapper): for the fall-through, for the taken branch of the last instruction,
 * A return, an indirect jump or any instruction run by its handler goes on to the block a small jump cache in
 * the arena's memory holds for the RIP it left to (filled as the run loop enters compiled blocks). Both are guesses: the record of every chainable block also holds what
 * the run loop's jump-cache check (run-loop.ts jcOk) reads of the block, kept in step by link-validity.ts, and the
 * driver makes the same check before it runs the linked block.
 *
 * The driver (one per arena) calls a block through the table, and follows its exit's link while:
 * - the linked block passes that check, the exit is at the block's end and nothing an import did asked to stop
 *   (wasm-host.ts chainCheck: a moved poll point, a CPL, mode or stack change, a stop, HLT, ...);
 * - the run loop would not poll first (instructions retired < room) and the next block fits in the limit
 *   the run loop gave (it would not have cut it), less the REP iterations run since (they count as work).
 * It keeps the running block's index, its RIP and the instructions and branches retired before it in the
 * vCPU's slot, so JS brings the vCPU up to that block in any import that needs it and at the end: faults,
 * handlers and counting see what the run loop block by block would have shown them.
 */
import { Slot } from './wasm-arena.js';
import { Lv } from './link-validity.js';
import { lenPrefixed, name, section, T, u, uleb, vec, W, Body, type FnType } from './wasm-encoder.js';

/** Byte offsets in a link record (LINK_BYTES); the validity fields follow (link-validity.ts Lv). */
export const enum Lk {
  Count = 0,
  Branches = 4,
  FallIdx = 8,
  /** The one side exit (a taken conditional branch inside the block) linked: its instruction count and branches, the next block, its RIP. */
  SideIdx = 12,
  TakIdx = 16,
  SideCi = 20,
  FallBip = 24,
  TakBip = 32,
  SideBr = 60,
  SideBip = 72,
  /** A self-looping block's instructions and branches per extra pass (Block.loopLen, loopBranches); 0 for others. */
  LoopLen = 80,
  LoopBr = 84,
  /** 1 for a block with forward branches inside it (wasm-skips.ts): the instructions it branched over did not retire. */
  Skip = 88,
}

/** Exit code of a block whose last instruction the driver ran through `tl` (how = 4; ci = its index). */
export const HOW_TAIL_DONE = 4;
/** Exit code of a block whose inline RET left the target RIP in Slot.ChainRip (how = 5; ci = the block's count). */
export const HOW_RET = 5;

// Parameters of the driver.
const S = 0; // slot
const USER = 1;
const BIP = 2;
const ROOM = 3;
const LIM = 4;
const IDX = 5;
const LIMIT = 6;

/** The driver: (slot, user, bip, room, lim, idx, limit) -> the last block's exit code. */
export function chainModuleBytes(blockType: FnType, jcwBase: number, jcwEntries: number, linkBase: number, linkBytes: number): Uint8Array<ArrayBuffer> {
  const b = new Body(7);
  const r = b.local(T.I32);
  const rec = b.local(T.I32);
  const n = b.local(T.I32);
  const nb = b.local(T.I32);
  const nx = b.local(T.I32);
  const how = b.local(T.I32);
  const cnt = b.local(T.I32);
  const rec2 = b.local(T.I32);
  const done = b.local(T.I32);
  const dbr = b.local(T.I32);
  const ci = b.local(T.I32);
  const room = b.local(T.F64);
  const cntf = b.local(T.F64);
  // What a linked block must be valid for: set by the wrapper before the run and the same through it (an import
  // that changes any of them stops the chain), so loaded once.
  const vCpl = b.local(T.I32);
  const vMode = b.local(T.I32);
  const vEp = b.local(T.I32);
  const vEpG = b.local(T.I32);
  const recOf = (l: number): void => {
    b.get(l).i32(linkBytes).op(W.I32Mul).i32(linkBase).op(W.I32Add);
  };
  const slotI32 = (o: number): void => {
    b.get(S).mem(W.I32Load, o, 2);
  };
  slotI32(Slot.ChainCpl);
  b.set(vCpl);
  slotI32(Slot.ChainMode);
  b.set(vMode);
  slotI32(Slot.ChainEp);
  b.set(vEp);
  slotI32(Slot.ChainEpG);
  b.set(vEpG);
  b.op(W.Loop, T.Void);
  b.get(S).get(IDX).mem(W.I32Store, Slot.ChainIdx, 2);
  b.get(S).get(n).mem(W.I32Store, Slot.ChainN, 2);
  b.get(S).get(nb).mem(W.I32Store, Slot.ChainNb, 2);
  b.get(S).get(BIP).mem(W.F64Store, Slot.ChainBip, 3);
  b.get(S).get(USER).get(BIP).get(ROOM).get(n).op(W.F64ConvertI32U, W.F64Sub).get(LIM).get(IDX);
  b.op(W.CallIndirect, 0, 0).set(r);
  recOf(IDX);
  b.set(rec);
  b.get(rec).mem(W.I32Load, Lk.Count, 2).set(cnt);
  b.get(r).i32(16).op(W.I32ShrU).set(how);
  b.get(cnt).set(done);
  b.get(rec).mem(W.I32Load, Lk.Branches, 2).set(dbr);
  // A self-looping block's extra passes (Slot.Loops; 0 when it left before its loop) count as the run loop counts them.
  b.get(rec).mem(W.I32Load, Lk.LoopLen, 2).op(W.If, T.Void);
  b.get(done).get(rec).mem(W.I32Load, Lk.LoopLen, 2);
  slotI32(Slot.Loops);
  b.op(W.I32Mul, W.I32Add).set(done);
  b.get(dbr).get(rec).mem(W.I32Load, Lk.LoopBr, 2);
  slotI32(Slot.Loops);
  b.op(W.I32Mul, W.I32Add).set(dbr);
  b.op(W.End);
  // What it branched over (Slot.Skip, 0 when it took no such branch) did not retire; the counts below add to these.
  b.get(rec).mem(W.I32Load, Lk.Skip, 2).op(W.If, T.Void);
  b.get(done);
  slotI32(Slot.Skip);
  b.op(W.I32Sub).set(done);
  b.get(dbr);
  slotI32(Slot.Skip + 4);
  b.op(W.I32Sub).set(dbr);
  b.op(W.End);
  b.op(W.Block, T.Void); // $out
  {
    b.get(how).i32(3).op(W.I32Eq).get(how).i32(HOW_RET).op(W.I32Eq, W.I32Or).op(W.If, T.Void);
    {
      // The last instruction has no inline form: its handler runs through tl, which leaves RIP in the slot as
      // an inline RET does. The next block is the one the jump cache below holds for that RIP.
      b.get(how).i32(3).op(W.I32Eq).op(W.If, T.Void);
      // tl returns the REP iterations the handler added to the work count: the next blocks have that much less room.
      b.get(LIMIT).get(r).i32(0xffff).op(W.I32And).call(0).op(W.I32Sub).set(LIMIT);
      b.get(r).i32(0xffff).op(W.I32And).i32(HOW_TAIL_DONE << 16).op(W.I32Or).set(r);
      b.op(W.End);
      slotI32(Slot.ChainStop);
      b.op(W.BrIf, 1);
      b.get(S).mem(W.F64Load, Slot.ChainRip, 3).tee(BIP);
      b.op(W.I64TruncF64S, W.I32WrapI64).i32(jcwEntries - 1).op(W.I32And).i32(2).op(W.I32Shl);
      b.mem(W.I32Load, jcwBase, 2).set(nx);
    }
    b.op(W.Else);
    {
      slotI32(Slot.ChainStop);
      b.op(W.BrIf, 1);
      b.get(how).op(W.I32Eqz).op(W.If, T.Void);
      {
        b.get(r).i32(0xffff).op(W.I32And).get(cnt).op(W.I32Ne).op(W.BrIf, 2);
        b.get(rec).mem(W.I32Load, Lk.FallIdx, 2).set(nx);
        b.get(rec).mem(W.F64Load, Lk.FallBip, 3).set(BIP);
      }
      b.op(W.Else);
      {
        b.get(how).i32(1).op(W.I32Ne).op(W.BrIf, 2);
        b.get(r).i32(0xffff).op(W.I32And).get(cnt).op(W.I32Eq).op(W.If, T.Void);
        {
          b.get(rec).mem(W.I32Load, Lk.TakIdx, 2).set(nx);
          b.get(rec).mem(W.F64Load, Lk.TakBip, 3).set(BIP);
        }
        b.op(W.Else);
        {
          // A side exit: the record links one; another one's branches retired are in the slot (Slot.ChainBr). In a
          // self-loop it may leave after passes: `done` and `dbr` hold the block's count and branches plus theirs.
          b.get(done).get(cnt).op(W.I32Sub).get(r).i32(0xffff).op(W.I32And).tee(ci).op(W.I32Add).set(done);
          b.get(dbr).get(rec).mem(W.I32Load, Lk.Branches, 2).op(W.I32Sub).set(dbr);
          b.get(ci).get(rec).mem(W.I32Load, Lk.SideCi, 2).op(W.I32Eq).op(W.If, T.Void);
          b.get(dbr).get(rec).mem(W.I32Load, Lk.SideBr, 2).op(W.I32Add).set(dbr);
          b.get(rec).mem(W.I32Load, Lk.SideIdx, 2).set(nx);
          b.get(rec).mem(W.F64Load, Lk.SideBip, 3).set(BIP);
          b.op(W.Else);
          b.get(dbr);
          slotI32(Slot.ChainBr);
          b.op(W.I32Add).set(dbr);
          b.i32(0).set(nx);
          b.op(W.End);
        }
        b.op(W.End);
      }
      b.op(W.End);
      // Not linked: the block left its exit's RIP in the slot (Slot.ChainRip), looked up as a return's is.
      b.get(nx).op(W.I32Eqz).op(W.If, T.Void);
      b.get(S).mem(W.F64Load, Slot.ChainRip, 3).tee(BIP);
      b.op(W.I64TruncF64S, W.I32WrapI64).i32(jcwEntries - 1).op(W.I32And).i32(2).op(W.I32Shl);
      b.mem(W.I32Load, jcwBase, 2).set(nx);
      b.op(W.End);
    }
    b.op(W.End);
    b.get(nx).op(W.I32Eqz).op(W.BrIf, 0);
    // The run loop's jcOk, on the next block's record.
    recOf(nx);
    b.set(rec2);
    b.get(rec2).mem(W.I32Load, Lv.Valid, 2).op(W.I32Eqz).op(W.BrIf, 0);
    b.get(rec2).mem(W.F64Load, Lv.Lin, 3).get(BIP).op(W.F64Ne).op(W.BrIf, 0);
    b.get(rec2).mem(W.I32Load, Lv.Cpl, 2).get(vCpl).op(W.I32Ne).op(W.BrIf, 0);
    b.get(rec2).mem(W.I32Load, Lv.Mode, 2).get(vMode).op(W.I32Ne).op(W.BrIf, 0);
    b.get(rec2).mem(W.I32Load, Lv.Ep, 2).get(vEp).op(W.I32Ne);
    b.get(rec2).mem(W.I32Load, Lv.EpG, 2).get(vEpG).op(W.I32Ne, W.I32And).op(W.BrIf, 0);
    b.get(n).get(done).op(W.I32Add).set(n);
    b.get(nb).get(dbr).op(W.I32Add).set(nb);
    // The run loop polls once `room` instructions have retired, and cuts a block that does not fit in `limit`.
    b.get(n).op(W.F64ConvertI32U).get(ROOM).op(W.F64Ge).op(W.BrIf, 0);
    b.get(n).get(rec2).mem(W.I32Load, Lk.Count, 2).op(W.I32Add).get(LIMIT).op(W.I32GtS).op(W.BrIf, 0);
    // A self-looping block's pass limit, as execBlock sets c.loopLimit: room = instructions to the poll or the limit,
    // whichever first; room / count passes when room exceeds its count, else 1.
    b.get(rec2).mem(W.I32Load, Lk.LoopLen, 2).op(W.If, T.Void);
    b.get(ROOM).get(n).op(W.F64ConvertI32U, W.F64Sub).get(LIMIT).get(n).op(W.I32Sub, W.F64ConvertI32U, W.F64Min).set(room);
    b.get(rec2).mem(W.I32Load, Lk.Count, 2).op(W.F64ConvertI32U).set(cntf);
    b.get(room).get(cntf).op(W.F64Gt).op(W.If, T.I32);
    b.get(room).get(cntf).op(W.F64Div, W.F64Floor, W.I32TruncF64S);
    b.op(W.Else).i32(1).op(W.End).set(LIM);
    b.op(W.End);
    b.get(nx).set(IDX);
    b.op(W.Br, 1);
  }
  b.op(W.End);
  b.get(r).op(W.Return);
  b.op(W.End); // loop
  b.i32(0);

  const driverType: FnType = [[T.I32, T.I32, T.F64, T.F64, T.I32, T.I32, T.I32], [T.I32]];
  const tlType: FnType = [[T.I32], [T.I32]];
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const ty: number[] = [];
  vec(
    ty,
    [blockType, driverType, tlType].map(([p, q]) => [0x60, ...lenPrefixed(p), ...lenPrefixed(q)]),
  );
  section(out, 1, ty);
  const im: number[] = [];
  vec(im, [
    [...name('e'), ...name('tl'), 0x00, ...u(2)],
    [...name('e'), ...name('m'), 0x02, 0x00, 0x00],
    [...name('e'), ...name('t'), 0x01, 0x70, 0x00, 0x00],
  ]);
  section(out, 2, im);
  section(out, 3, [1, 1]);
  const ex: number[] = [1, ...name('drive'), 0x00, 1];
  section(out, 7, ex);
  const fn: number[] = [];
  uleb(fn, b.locals.length);
  for (const t of b.locals) fn.push(1, t);
  for (const v of b.code) fn.push(v);
  fn.push(W.End);
  const code: number[] = [1];
  uleb(code, fn.length);
  for (const v of fn) code.push(v);
  section(out, 10, code);
  return new Uint8Array(out);
}
