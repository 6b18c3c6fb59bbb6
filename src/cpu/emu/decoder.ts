/**
 * The x86 decoder, driven by the instruction table (table/): prefixes and REX, the opcode map,
 * then the dispatch cell of that opcode selects the row by mandatory prefix and ModRM fields;
 * the row's operands say which immediates follow and which registers are byte registers, its
 * operand-size rule sets the size, and its handler, fast variants and flags fill the Insn.
 * Instructions are grouped into blocks that end where a row says so (branches, mode changes,
 * I/O, ...) or at the end of the page. Decoding happens once per block; blocks are cached by
 * physical address and mode (see code-cache.ts).
 *
 * A byte sequence without a row raises #UD: architecturally invalid encodings (rows made with
 * invalid(), and opcodes that exist only in other modes) silently, anything else through
 * unimplemented(), which warns once per name and counts per name (EmuCpu.unimplementedCounts).
 */
import type { EmuCpu } from './cpu.js';
import { K, Seg } from './x86-defs.js';
import { Block, Insn, type Handler, Ea } from './insn.js';
import { unimplemented } from './exceptions.js';
import { fetchPhys, ramAt } from './mem-access.js';
import { specialRows, tableRows } from './table/index.js';
import { invalidOpcode, tooLong } from './ops-system.js';
import { MAP_0F, MAP_0F38, MAP_0F3A, MAP_1B, Step, matchKey, type Row } from './table/row.js';
import { CANDIDATES, CellBits, buildDispatch, candidateIndex, gatedMatch, pickRow, type Dispatch } from './table/dispatch.js';
import { inlineKind } from './inline-kinds.js';
import { emuHasFeature } from '../../features/emu-cpu-model.js';

/** Most instructions in one block (code-cache.ts may ask for fewer on pages that code rewrites). */
export const MAX_BLOCK = 64;
/** What an instruction fetch from outside RAM sees. */
const ALL_ONES = new Uint8Array(16).fill(0xff);
const OUT_OF_BYTES = { out: true } as const;

/** The dispatch arrays of the CPU model's features and the special rows, built on first use (see table/index.ts). */
let MODEL: Dispatch | null = null;
let ROW_INVALID = null as unknown as Row;
let ROW_TOO_LONG = null as unknown as Row;
let ROW_UNIMPLEMENTED = null as unknown as Row;

function model(): Dispatch {
  if (MODEL === null) {
    const sp = specialRows();
    ROW_INVALID = sp.invalid;
    ROW_TOO_LONG = sp.tooLong;
    ROW_UNIMPLEMENTED = sp.unimplemented;
    MODEL = buildDispatch(tableRows(), emuHasFeature);
  }
  return MODEL;
}

// Decoder state (decoding is synchronous and single-threaded).
let buf: Uint8Array = new Uint8Array(0);
let pos = 0;
let lim = 0;
let mode = 0;
let rexR = 0;
let rexX = 0;
let rexB = 0;
let hasRex = false;
let segOv = -1;
let asz = 4;
let dispatch = null as unknown as Dispatch;

function b8(): number {
  if (pos >= lim) throw OUT_OF_BYTES;
  return buf[pos++]!;
}
function s8(): number {
  return (b8() << 24) >> 24;
}
function u16(): number {
  const a = b8();
  return a | (b8() << 8);
}
function i32(): number {
  const a = b8();
  const b = b8();
  const c = b8();
  return a | (b << 8) | (c << 16) | (b8() << 24);
}

const unimplCache = new Map<string, Handler>();
/** The handler raising #UD for an unimplemented instruction `name` (one closure per name). */
function unimpl(name: string): Handler {
  let h = unimplCache.get(name);
  if (h === undefined) {
    h = (c: EmuCpu) => unimplemented(c, name);
    unimplCache.set(name, h);
  }
  return h;
}
function hex(v: number): string {
  return v.toString(16).padStart(2, '0');
}

/** Byte-register code: without REX, 4-7 are AH CH DH BH (codes 16-19). */
function breg(r: number): number {
  return !hasRex && r >= 4 && r < 8 ? r + 12 : r;
}

function segFor(def: number): number {
  if (mode === 2) return segOv === Seg.FS || segOv === Seg.GS ? segOv : def === Seg.SS ? Seg.FlatSS : Seg.Flat;
  return segOv >= 0 ? segOv : def;
}

function modrm(x: Insn): void {
  const m = b8();
  x.modrm = m;
  x.mod = m >> 6;
  x.reg = ((m >> 3) & 7) | rexR;
  const rm = m & 7;
  if (x.mod === 3) {
    x.rm = rm | rexB;
    return;
  }
  x.base = -1;
  x.index = -1;
  x.scale = 0;
  x.disp = 0;
  x.ripRel = false;
  let def = Seg.DS;
  if (asz === 2) {
    switch (rm) {
      case 0:
        x.base = 3;
        x.index = 6;
        break;
      case 1:
        x.base = 3;
        x.index = 7;
        break;
      case 2:
        x.base = 5;
        x.index = 6;
        def = Seg.SS;
        break;
      case 3:
        x.base = 5;
        x.index = 7;
        def = Seg.SS;
        break;
      case 4:
        x.base = 6;
        break;
      case 5:
        x.base = 7;
        break;
      case 6:
        if (x.mod !== 0) {
          x.base = 5;
          def = Seg.SS;
        }
        break;
      default:
        x.base = 3;
    }
    if (x.mod === 0 && rm === 6) x.disp = u16();
    else if (x.mod === 1) x.disp = s8();
    else if (x.mod === 2) x.disp = u16();
  } else {
    if (rm === 4) {
      const sib = b8();
      x.scale = sib >> 6;
      const idx = ((sib >> 3) & 7) | rexX;
      if (idx !== 4) x.index = idx;
      const base = sib & 7;
      if (base === 5 && x.mod === 0) x.disp = i32();
      else {
        x.base = base | rexB;
        if (x.base === 4 || x.base === 5) def = Seg.SS;
      }
    } else if (rm === 5 && x.mod === 0) {
      x.disp = i32();
      if (mode === 2) x.ripRel = true;
    } else {
      x.base = rm | rexB;
      if (x.base === 5) def = Seg.SS;
    }
    if (x.mod === 1) x.disp = s8();
    else if (x.mod === 2) x.disp = i32();
  }
  x.seg = segFor(def);
}

/** Immediate of the operand size (Iz: 16 or 32 bits, sign-extended to 64). */
function immZ(x: Insn): void {
  if (x.osz === 2) x.imm = u16();
  else {
    x.imm = i32();
    x.immHi = x.osz === 8 ? x.imm >> 31 : 0;
  }
}
/** Sign-extended imm8 at the operand size. */
function immBs(x: Insn): void {
  const v = s8();
  x.imm = x.osz === 2 ? v & 0xffff : x.osz === 1 ? v & 0xff : v;
  x.immHi = x.osz === 8 ? v >> 31 : 0;
}

/** Name of a row-less encoding for the #UD warning. */
function nameUnmatched(map: number, b: number, x: Insn, hasModrm: boolean, opsz: boolean, rep: number): string {
  const r = x.reg & 7;
  if (map === MAP_1B) {
    if (b >= 0xd8 && b <= 0xdf && hasModrm) return `x87 ${hex(b)} /${r}${x.mod === 3 ? ` (modrm reg form ${x.rm & 7})` : ''}`;
    return `opcode ${hex(b)}`;
  }
  if (map === MAP_0F38) return `opcode 0f 38 ${hex(b)}`;
  if (map === MAP_0F3A) return `opcode 0f 3a ${hex(b)}`;
  if (hasModrm && b === 0x01 && x.mod === 3) return `0f 01 ${hex(0xc0 | (r << 3) | (x.rm & 7))}`;
  if (hasModrm && (b === 0xc7 || b === 0xae)) return `0f ${hex(b)} /${r}`;
  return `opcode 0f ${hex(b)}${opsz ? ' (66)' : ''}${rep === 1 ? ' (f3)' : rep === 2 ? ' (f2)' : ''}`;
}

/** Decodes one instruction at pos into a new Insn. */
function decodeOne(): Insn {
  const start = pos;
  const x = new Insn(invalidOpcode, ROW_INVALID);
  let opsz = false;
  let adsz = false;
  let rep = 0;
  let lock = false;
  let rex = 0;
  segOv = -1;
  let b: number;
  for (;;) {
    b = b8();
    if (b === 0x66) opsz = true;
    else if (b === 0x67) adsz = true;
    else if (b === 0x26 || b === 0x2e || b === 0x36 || b === 0x3e) segOv = (b >> 3) & 3;
    else if (b === 0x64) segOv = Seg.FS;
    else if (b === 0x65) segOv = Seg.GS;
    else if (b === 0xf0) lock = true;
    else if (b === 0xf2) rep = 2;
    else if (b === 0xf3) rep = 1;
    else if (mode === 2 && (b & 0xf0) === 0x40) {
      rex = b;
      b = b8();
      // A REX followed by another prefix is ignored.
      if (b === 0x66 || b === 0x67 || b === 0xf0 || b === 0xf2 || b === 0xf3 || b === 0x26 || b === 0x2e || b === 0x36 || b === 0x3e || b === 0x64 || b === 0x65 || (b & 0xf0) === 0x40) {
        rex = 0;
        pos--;
        continue;
      }
      break;
    } else break;
    if (pos - start > 14) {
      x.fn = tooLong;
      x.row = ROW_TOO_LONG;
      return x;
    }
  }
  hasRex = rex !== 0;
  const rexW = (rex & 8) !== 0;
  rexR = (rex & 4) << 1;
  rexX = (rex & 2) << 2;
  rexB = (rex & 1) << 3;
  if (mode === 2) {
    x.osz = rexW ? 8 : opsz ? 2 : 4;
    asz = adsz ? 4 : 8;
  } else {
    x.osz = (mode === 1) !== opsz ? 4 : 2;
    asz = (mode === 1) !== adsz ? 4 : 2;
  }
  x.ak = asz === 2 ? Ea.A16 : asz === 4 ? (mode === 2 ? Ea.A32L : Ea.A32) : Ea.A64;
  x.seg = segFor(Seg.DS);
  x.rep = rep;
  x.lock = lock;
  let map = MAP_1B;
  if (b === 0x0f) {
    b = b8();
    map = MAP_0F;
    if (b === 0x38) {
      b = b8();
      map = MAP_0F38;
    } else if (b === 0x3a) {
      b = b8();
      map = MAP_0F3A;
    }
  }
  x.opc = map === MAP_1B ? b : map === MAP_0F ? 0x0f00 | b : map === MAP_0F38 ? 0x0f3800 | b : 0x0f3a00 | b;
  const key = map * 256 + b;
  const bits = dispatch.bits[mode]![key]!;
  if (bits === 0) {
    // Rows in other modes only: invalid in this one (e.g. PUSH ES in 64-bit mode).
    if (!dispatch.known[key]) {
      x.fn = unimpl(nameUnmatched(map, b, x, false, opsz, rep));
      x.row = ROW_UNIMPLEMENTED;
    }
    return finish(x, start, null);
  }
  const cand = dispatch.cand[mode]![key * CANDIDATES + candidateIndex(opsz, rep)]!;
  // The ModRM byte is read when some row can match (or to name a row whose feature is not advertised).
  const withModrm = (bits & CellBits.Modrm) !== 0 && (cand.length > 0 || (bits & CellBits.Gated) !== 0);
  if (withModrm) modrm(x);
  const r = pickRow(cand, matchKey(x.reg, x.mod, x.rm, rexW, rexB));
  if (r === null) {
    const g = gatedMatch(dispatch.cells[mode]![key]!, x, opsz, rep, rexW, rexB);
    x.fn = unimpl(g !== null ? `${g.mn} (CPUID feature ${g.feature} not advertised)` : nameUnmatched(map, b, x, withModrm, opsz, rep));
    x.row = ROW_UNIMPLEMENTED;
    return finish(x, start, null);
  }
  x.row = r;
  if (r.invalid) return finish(x, start, null);
  if (r.fn === null) {
    x.fn = unimpl(r.mn.startsWith('(') ? nameUnmatched(map, b, x, withModrm, opsz, rep) : r.mn);
    x.row = ROW_UNIMPLEMENTED;
    return finish(x, start, null);
  }
  x.fn = r.fn;
  operands(x, r, b, opsz, rexW);
  return finish(x, start, r);
}

/** Applies the row's operand-size rule, sub-operation and operands (registers, immediates). */
function operands(x: Insn, r: Row, b: number, opsz: boolean, rexW: boolean): void {
  switch (r.osz) {
    case 'b':
      x.osz = 1;
      break;
    case 'w':
      x.osz = 2;
      break;
    case 'd':
      x.osz = 4;
      break;
    case 'q':
      x.osz = 8;
      break;
    case 'd64':
      if (mode === 2) x.osz = opsz && !rexW ? 2 : 8;
      break;
    case 'f64':
      if (mode === 2) x.osz = 8;
      break;
    case 'z64':
      if (x.osz === 8) x.osz = 4;
      break;
    case 'y':
      x.osz = rexW ? 8 : 4;
      break;
    default:
      break;
  }
  x.op = r.subFromReg ? x.reg & 7 : r.sub;
  x.imm2 = r.aszAux ? asz : r.aux;
  x.imm = r.imm;
  if (r.forceReg) x.mod = 3;
  if (r.rmInit >= 0) x.rm = r.rmInit;
  if (r.repAny && x.rep !== 0) x.rep = 1;
  for (let st = r.steps; st !== 0; st >>>= 4) {
    switch (st & 15) {
      case Step.GByte:
        x.reg = breg(x.reg);
        break;
      case Step.EByte:
        if (x.mod === 3) x.rm = breg(x.rm);
        break;
      case Step.Z:
        x.rm = (b & 7) | rexB;
        break;
      case Step.ZByte:
        x.rm = breg((b & 7) | rexB);
        break;
      case Step.ImmOp:
        x.op = b8();
        break;
      case Step.Ib:
        x.imm = b8();
        break;
      case Step.Ibs:
        immBs(x);
        break;
      case Step.Iw:
        x.imm = u16();
        break;
      case Step.Iv:
        if (x.osz === 8) {
          x.imm = i32();
          x.immHi = i32();
        } else immZ(x);
        break;
      case Step.Iz:
        immZ(x);
        break;
      case Step.Imm2:
        x.imm2 = b8(); // ENTER's nesting level
        break;
      case Step.Jb:
        x.imm = s8();
        break;
      case Step.Jz:
        x.imm = x.osz === 2 ? (u16() << 16) >> 16 : i32();
        break;
      case Step.A:
        x.imm = x.osz === 4 ? i32() : u16();
        x.imm2 = u16();
        break;
      default: // Step.O
        if (asz === 8) {
          x.imm = i32();
          x.immHi = i32();
        } else x.imm = asz === 4 ? i32() : u16();
    }
  }
  const fast = r.fast;
  for (let i = 0; i < fast.length; i++) {
    const f = fast[i]!;
    if (!f.when(x)) continue;
    if (f.swap === true) {
      const t = x.rm;
      x.rm = x.reg;
      x.reg = t;
    }
    if (f.prep !== undefined) f.prep(x);
    x.fn = f.fn;
    break;
  }
}

function finish(x: Insn, start: number, r: Row | null): Insn {
  x.k = 0;
  if (x.mod !== 3 && r !== null) {
    x.mw = r.mw;
    x.msz = r.memSize !== 0 ? r.memSize : x.osz;
  }
  if (pos - start > 15) {
    x.fn = tooLong;
    x.row = ROW_TOO_LONG;
  } else if (x.lock && (x.mod === 3 || r === null || !r.lock)) {
    // LOCK is only valid on read-modify-write instructions with a memory destination.
    x.fn = invalidOpcode;
    x.row = ROW_INVALID;
  }
  return x;
}

/**
 * Decodes the block at linear `lin` (physical `pa`) in the cpu's current mode. A block
 * whose first instruction crosses into the next page is that one instruction, decoded
 * from a copy of both pages' bytes; it records the second page (Block.phys2) so that the
 * code cache can keep it (invalid, never kept, when that page is not RAM).
 */
export function decodeBlock(c: EmuCpu, lin: number, pa: number, key = c.modeKey): Block {
  // model() first: it also sets up the special rows.
  const own = model();
  dispatch = c.dispatch ?? own;
  mode = c.modeKey;
  const blk = new Block(pa, key);
  const r = ramAt(c, pa);
  if (r === undefined) {
    // No RAM here: the bus reads all-ones, so the CPU decodes FF FF... (FF /7: #UD), as on a PC.
    buf = ALL_ONES;
    pos = 0;
    lim = ALL_ONES.length;
    const x = decodeOne();
    x.start = 0;
    x.end = pos | 0;
    blk.add(x);
    blk.len = pos | 0;
    blk.valid = false;
    return blk;
  }
  const off0 = pa - r.gpa;
  // Pages that code keeps rewriting get short blocks: each rewrite re-decodes only what it invalidated.
  const maxInsns = c.cache.blockLimit(pa - (pa % 4096));
  const pageEnd = Math.min(off0 - (pa % 4096) + 4096, r.size);
  buf = r.bytes;
  pos = off0;
  lim = pageEnd;
  for (let n = 0; n < maxInsns; n++) {
    const at = pos;
    let x: Insn;
    try {
      x = decodeOne();
    } catch (e) {
      if (e !== OUT_OF_BYTES) throw e;
      if (n > 0) {
        pos = at;
        break;
      }
      // First instruction crosses the page: gather up to 15 bytes from both pages.
      const tmp = new Uint8Array(16).fill(0xff); // bytes past RAM read all-ones
      const first = pageEnd - at;
      tmp.set(r.bytes.subarray(at, pageEnd));
      const nextLin = c.long64 ? lin + first : (lin + first) % 4294967296;
      const pa2 = fetchPhys(c, nextLin); // a #PF here is the fetch's
      const r2 = ramAt(c, pa2);
      // Kept only when the rest lies in RAM on another page (not past the end of a region ending mid-page).
      if (r2 !== undefined && pa2 - (pa2 % 4096) !== pa - (pa % 4096)) {
        tmp.set(r2.bytes.subarray(pa2 - r2.gpa, pa2 - r2.gpa + 16 - first), first);
        blk.phys2 = pa2 - (pa2 % 4096);
        blk.crosses = true;
      } else blk.valid = false;
      buf = tmp;
      pos = 0;
      lim = 16;
      x = decodeOne();
      x.start = 0;
      x.end = pos | 0;
      blk.add(x);
      blk.len = pos | 0;
      if (x.row.branch !== 'none') blk.branches++;
      x.brThrough = blk.branches;
      return blk;
    }
    // Instructions that count the PMU up to themselves (run-loop.ts pmuSync) count what ran before them
    // in their block as non-branches: they start a block of their own after a side exit.
    if (blk.sideExits !== 0 && x.row.pmuSync) {
      pos = at;
      blk.openEnd = true;
      break;
    }
    // Small integers stored as such (| 0): one double stored here would make the field a boxed double in
    // every Insn (V8 field representations are per map), an extra memory access per read.
    x.start = (at - off0) | 0;
    x.end = (pos - off0) | 0;
    x.k = inlineKind(x);
    x.idx = blk.insns.length;
    blk.add(x);
    if (x.row.branch !== 'none') blk.branches++;
    x.brThrough = blk.branches;
    if (x.row.ends && (x.rep !== 0 || !x.row.endsOnlyWithRep)) {
      if (!sideExit(x)) break;
      x.k = K.Side;
      blk.sideExits++;
    }
    if (n === maxInsns - 1) blk.openEnd = true;
  }
  // A block that stops at a conditional branch (page end, length limit) ends there: no side exit.
  const last = blk.insns[blk.insns.length - 1]!;
  if (last.k === K.Side) {
    last.k = inlineKind(last);
    blk.sideExits--;
  }
  blk.len = (pos - off0) | 0; // a Smi field, as x.end above
  return blk;
}

/**
 * Whether the block goes on past conditional branch `x` (a side exit): one dispatch then covers the
 * basic blocks a not-taken branch falls through to. A branch back into the block (a loop's back edge)
 * ends it instead, so that loops stay blocks that branch to themselves (block-compiler.ts self-loops,
 * spin-check.ts).
 */
function sideExit(x: Insn): boolean {
  if (x.row.branch !== 'jcc') return false;
  const t = x.end + x.imm;
  return t < 0 || t > x.start;
}



/**
 * Decodes one instruction from `bytes` in mode 0 (16-bit), 1 (32-bit) or 2 (64-bit); for tests
 * and tools. `table` replaces the CPU model's dispatch arrays (tests of feature gating).
 */
export function decodeInsn(bytes: Uint8Array, decodeMode: number, table: Dispatch | null = null): Insn {
  mode = decodeMode;
  dispatch = table ?? model();
  buf = bytes;
  pos = 0;
  lim = bytes.length;
  let x: Insn;
  try {
    x = decodeOne();
  } finally {
    dispatch = model();
  }
  x.start = 0;
  x.end = pos | 0;
  x.k = inlineKind(x);
  return x;
}

/** Dispatch arrays for a CPU model advertising exactly the features `advertised` accepts (tests). */
export function dispatchFor(advertised: (feature: string) => boolean): Dispatch {
  return buildDispatch(tableRows(), advertised);
}
