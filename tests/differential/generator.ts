/**
 * Random instruction-case generator with fixed seeds: every ALU, shift/rotate,
 * multiply/divide, bit-test/scan, move/extend, exchange, SETcc/CMOVcc, Jcc/LOOP, LEA,
 * stack, string and optional (POPCNT/LZCNT/MOVBE/CMPXCHG8B/16B) form across operand sizes
 * (8 with and without REX incl. AH..BH, 16, 32, 64), register and memory operands
 * (32/64-bit and 16-bit ModRM forms), with "interesting" inputs (0, 1, -1, signed min/max,
 * boundaries around the operand width) mixed with random ones, random upper bits (to
 * catch missing zero-extension / merging), random input flags, LOCK and no-op prefixes.
 *
 * Beyond single instructions: chains of instructions sharing registers and flags (with
 * flag definedness tracked through them), the same chains looped past emu's block-compile
 * threshold, segment-register loads with every kind of selector, accesses that straddle
 * into an unmapped page or hit a read-only page, and the instructions only 32/16-bit mode
 * has. generateCases(seed, n, features, mode) produces 64-bit, 32-bit compatibility or
 * 16-bit protected-mode cases.
 *
 * Encoding is done here (x86-encoder.ts), not by an assembler; `flagsMask` comes from
 * defined-flags.ts so flags the SDM leaves undefined are not compared.
 */
import {
  FLAG_AF, FLAG_CF, FLAG_DF, FLAG_OF, FLAG_PF, FLAG_SF, FLAG_ZF, FLAGS_STATUS, SNIPPET_DATA_BASE, SNIPPET_DATA_SIZE, SNIPPET_DEFAULT_RSP, SNIPPET_PAGE_SIZE, SNIPPET_RO_BASE, type SnippetCase,
} from '../../src/cpu/emu/testing/snippet-case.js';
import { ccFlags, definedAfter, definedFlags, flagEffects, type FlagOp } from './defined-flags.js';
import { Prng } from './prng.js';
import { encode, encodeOpReg, immBytes, reg, setEncoderMode32, type Encoding, type Mem16Operand, type MemOperand, type RegOperand, type RmOperand } from './x86-encoder.js';

export type Bits = 8 | 16 | 32 | 64;

const RSP = 4;
const ALU_OPS: FlagOp[] = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const SHIFT_OPS: (FlagOp | null)[] = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', null, 'sar'];
const CC_NAMES = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];

const mask = (bits: number): bigint => (1n << BigInt(bits)) - 1n;

/**
 * Generating for 32-bit compatibility mode (set by generateCases for the whole run): only
 * registers 0..7, no REX, no 64-bit operand size, 67h means 16-bit addressing.
 */
let MODE32 = false;
/** 16-bit protected mode (implies the MODE32 restrictions): 16-bit default operand and address size, addresses are segment offsets. */
let MODE16 = false;
/** Whether operand size `bits` needs the 66h prefix in the current mode. */
const o16flag = (bits: number): boolean => (MODE16 ? bits === 32 : bits === 16);
/** Address of data-area offset `off` as the code sees it (an offset from the data segment base in 16-bit mode). */
const dataAddr = (off: number): number => (MODE16 ? 0 : SNIPPET_DATA_BASE) + off;
/** Initial stack pointer: the top of the data area. */
const rspTop = (): number => (MODE16 ? SNIPPET_DATA_SIZE : SNIPPET_DEFAULT_RSP);
const NREGS = (): number => (MODE32 ? 8 : 16);
/** Operand sizes above 8 bits available in the current mode. */
const wide = (rng: Prng): 16 | 32 | 64 => (MODE32 ? rng.pick([16, 32] as const) : rng.pick([16, 32, 64] as const));
/** "inc eax" (ff c0, 2 bytes) + nop: a body that works in both modes (48 is DEC EAX in 32-bit mode). */
const INC_EAX_BODY = [0xff, 0xc0, 0x90];

/** Mutable initial state of one case under construction. */
class State {
  gpr = new BigUint64Array(16);
  data: Uint8Array;
  rflags: number;
  used = new Set<number>();
  /** A memory operand crosses into the unmapped page after the data page (the case expects #PF). */
  crossPage = false;
  /** A memory operand is on the read-only page (writes expect #PF). */
  roPage = false;
  /** A memory operand is at the segment limit (16-bit mode: expects #GP/#SS/#PF). */
  limitCheck = false;
  /** Registers holding an address (base/index): no other operand may write them. */
  memRegs = new Set<number>();

  constructor(private readonly rng: Prng) {
    for (let i = 0; i < 16; i++) this.gpr[i] = rng.u64();
    this.gpr[RSP] = BigInt(rspTop());
    this.data = rng.bytes(SNIPPET_DATA_SIZE);
    this.rflags = rng.u32() & FLAGS_STATUS;
  }

  /** Writes the low `bits` of a register operand (AH..BH when high), keeping the other bits. */
  setReg(op: RegOperand, bits: Bits, value: bigint): void {
    const shift = op.high ? 8n : 0n;
    const m = mask(bits) << shift;
    const old = this.gpr[op.r] ?? 0n;
    this.gpr[op.r] = (old & ~m) | ((BigInt.asUintN(bits, value) << shift) & m);
  }

  setMem(off: number, bytes: number, value: bigint): void {
    let v = BigInt.asUintN(bytes * 8, value);
    for (let i = 0; i < bytes; i++) {
      this.data[off + i] = Number(v & 0xffn);
      v >>= 8n;
    }
  }

  /** A fresh register number (not RSP unless allowRsp), avoiding those already used. */
  freshReg(limit = 16, allowRsp = false): number {
    for (;;) {
      const r = this.rng.below(limit);
      if (this.used.has(r)) continue;
      if (r === RSP && (!allowRsp || !this.rng.chance(0.3))) continue;
      this.used.add(r);
      return r;
    }
  }
}

/** "Interesting" values for an operand of `bits`: edges of signed/unsigned ranges, small values, random. */
export function interesting(rng: Prng, bits: Bits): bigint {
  const top = 1n << BigInt(bits - 1);
  switch (rng.below(16)) {
    case 0: return 0n;
    case 1: return 1n;
    case 2: return mask(bits);
    case 3: return top;
    case 4: return top - 1n;
    case 5: return top + 1n;
    case 6: return mask(bits) - 1n;
    case 7: return BigInt(rng.below(16));
    case 8: return 1n << BigInt(rng.below(bits));
    case 9: return mask(bits) ^ (1n << BigInt(rng.below(bits)));
    case 10: return BigInt.asUintN(bits, 0x80n << BigInt(rng.pick([0, 8, 16, 24, 32, 40, 48, 56].filter((s) => s < bits))));
    case 11: return BigInt.asUintN(bits, 0x7fn << BigInt(rng.pick([0, 8, 16, 24, 32, 40, 48, 56].filter((s) => s < bits))));
    default: return BigInt.asUintN(bits, rng.u64());
  }
}

/** How an 8-bit instruction names its registers: legacy (0..7 = AL..BL, AH..BH) or REX (0..15 low bytes). */
type ByteMode = 'legacy' | 'rex';

interface OpReg {
  op: RegOperand;
}

/** Picks a register operand of the given size; 8-bit legacy mode may yield AH..BH. */
function pickReg(st: State, rng: Prng, bits: Bits, byteMode: ByteMode, allowRsp = false): OpReg {
  if (bits === 8 && byteMode === 'legacy') {
    // Encodings 0..7 without REX: 0..3 = AL..BL, 4..7 = AH..BH (of registers 0..3).
    for (;;) {
      const enc = rng.below(8);
      const r = enc & 3;
      if (st.memRegs.has(r) || (st.used.has(r) && rng.chance(0.8))) continue;
      st.used.add(r);
      return { op: reg(r, enc >= 4) };
    }
  }
  return { op: reg(st.freshReg(NREGS(), allowRsp)) };
}

/** Encoding number of a register operand (AH..BH are 4..7). */
const encNum = (o: RegOperand): number => (o.high ? o.r + 4 : o.r);
const regForEnc = (o: RegOperand): RegOperand => ({ kind: 'reg', r: encNum(o), high: !!o.high });

/**
 * Builds a memory operand addressing data offset `off` with random base/index/scale/disp.
 * `lowRegs`: only registers 0..7 (needed when the instruction cannot take a REX prefix).
 */
function memAt(st: State, rng: Prng, off: number, lowRegs: boolean): MemOperand | Mem16Operand {
  if (MODE16) {
    const m16 = rng.chance(0.6) ? memAt16(st, rng, off) : null;
    if (m16 !== null) return m16;
  }
  const limit = lowRegs || MODE32 ? 8 : 16;
  const base = st.freshReg(limit, true);
  st.memRegs.add(base);
  let index = -1;
  let scale: 1 | 2 | 4 | 8 = 1;
  let idxVal = 0n;
  if (rng.chance(0.4)) {
    index = st.freshReg(limit);
    st.memRegs.add(index);
    scale = rng.pick([1, 2, 4, 8] as const);
    idxVal = BigInt(rng.range(-8, 8));
    st.gpr[index] = BigInt.asUintN(64, idxVal);
  }
  const disp = rng.pick([0, 0, rng.range(-128, 127), rng.range(-4096, 4096), rng.range(-0x10000, 0x10000)]);
  const addr = BigInt(dataAddr(off)) - BigInt(disp) - idxVal * BigInt(scale);
  st.gpr[base] = BigInt.asUintN(64, addr);
  // In 16-bit mode a 32-bit address needs 67h (and must stay below the 64 KiB limit: it does).
  return { kind: 'mem', base, index, scale, disp, addr32: MODE16 };
}

/** Registers of each 16-bit ModRM r/m form (BX=3, BP=5, SI=6, DI=7). */
const RM16_REGS: readonly (readonly number[])[] = [[3, 6], [3, 7], [5, 6], [5, 7], [6], [7], [5], [3]];

/**
 * A 16-bit-addressing operand for data offset `off`: the registers hold 16-bit values that
 * sum (with the displacement, modulo 64 KiB) to `off`, with random bits above bit 15 (ignored).
 * Returns null when the form's registers are taken.
 */
function memAt16(st: State, rng: Prng, off: number): Mem16Operand | null {
  const rm = rng.below(8);
  const mod = rng.pick([0, 1, 2] as const);
  if (mod === 0 && rm === 6) return { kind: 'mem16', rm, mod, disp: off };
  const regs = RM16_REGS[rm] ?? [3];
  if (regs.some((r) => st.used.has(r))) return null;
  const disp = mod === 0 ? 0 : mod === 1 ? rng.range(-128, 127) : rng.below(0x10000);
  let rest = (off - disp) & 0xffff;
  for (const [i, r] of regs.entries()) {
    const v = i === regs.length - 1 ? rest : rng.below(0x10000);
    rest = (rest - v) & 0xffff;
    st.used.add(r);
    st.memRegs.add(r);
    st.gpr[r] = (rng.u64() & ~0xffffn) | BigInt(v);
  }
  return { kind: 'mem16', rm, mod, disp };
}

interface Gen {
  rng: Prng;
  out: SnippetCase[];
  /** CPUID feature names of the CPU model under test (gates optional instructions). */
  features: ReadonlySet<string>;
}

/** LOCK (F0) for some read-modify-write memory destinations (never CMP: LOCK CMP is #UD). */
function lockFor(rng: Prng, rm: RmOperand, op: FlagOp): number[] {
  return rm.kind === 'mem' && op !== 'cmp' && rng.chance(0.2) ? [0xf0] : [];
}

/**
 * Segment prefixes that change nothing here: ignored in 64-bit mode (ES/CS/SS/DS), and
 * flat base-0 writable segments in 32-bit mode (ES/SS/DS; a CS override on a write would
 * be #GP there). Prepended to a few cases to exercise prefix decoding.
 */
const NOOP_SEG_PREFIXES_64 = [0x26, 0x2e, 0x36, 0x3e];
const NOOP_SEG_PREFIXES_32 = [0x26, 0x36, 0x3e];

function push(g: Gen, st: State, cls: string, code0: Uint8Array, flagsMask: number, undefinedGprs = 0, rflagsOverride?: number): void {
  let code = code0;
  if (g.rng.chance(0.06)) {
    const p = g.rng.pick(MODE32 ? NOOP_SEG_PREFIXES_32 : NOOP_SEG_PREFIXES_64);
    code = Uint8Array.from([p, ...code0]);
  }
  g.out.push({
    name: `gen/${cls}${st.crossPage ? '/xpage' : st.roPage ? '/ro' : st.limitCheck ? '/limit' : ''} #${g.out.length}`,
    cls: st.crossPage ? `${cls}/xpage` : st.roPage ? `${cls}/ro` : st.limitCheck ? `${cls}/limit` : cls,
    code,
    gpr: st.gpr,
    rflags: rflagsOverride ?? st.rflags,
    data: st.data,
    flagsMask: flagsMask | FLAG_DF,
    undefinedGprs,
    mode: MODE16 ? 16 : MODE32 ? 32 : 64,
  });
}

const sizeEnc = (bits: Bits): Pick<Encoding, 'opsize16' | 'rexW' | 'byteRegs'> => ({
  opsize16: o16flag(bits),
  rexW: bits === 64,
  byteRegs: bits === 8,
});

const randBits = (rng: Prng): Bits => (MODE32 ? rng.pick([8, 16, 32] as const) : rng.pick([8, 16, 32, 64] as const));
const byteModeFor = (rng: Prng, bits: Bits): ByteMode => (MODE32 || (bits === 8 && rng.chance(0.5)) ? 'legacy' : 'rex');

/** A destination r/m operand: a register or a memory operand at a random data offset, holding `value`. */
function rmOperand(st: State, rng: Prng, bits: Bits, bm: ByteMode, value: bigint, memProb = 0.35): { rm: RmOperand; memOff: number } {
  // (memory operands: memAt, 32-bit or 16-bit addressing by mode)
  if (rng.chance(memProb)) {
    if (bits > 8 && rng.chance(0.03)) {
      // An access that straddles the end of the data page into the unmapped next page:
      // #PF with CR2 at the page boundary and nothing written.
      const off = SNIPPET_PAGE_SIZE - rng.range(1, bits / 8 - 1);
      st.crossPage = true;
      return { rm: memAt(st, rng, off, bm === 'legacy' || MODE32), memOff: off };
    }
    if (MODE16 && rng.chance(0.04)) {
      // An access at the end of the 64 KiB data/stack segment with 32-bit addressing: within
      // the limit (#PF: not mapped), straddling it or beyond it (#GP(0), or #SS(0) for EBP/ESP-based).
      const off = 0x10000 - bits / 8 + rng.range(-2, 3);
      st.limitCheck = true;
      const m = memAt(st, rng, off, true);
      if (m.kind === 'mem') return { rm: m, memOff: off };
      return { rm: memAt(st, rng, off, true), memOff: off }; // (16-bit forms wrap: retry once)
    }
    if (rng.chance(0.03)) {
      // The zero read-only page: reads work, writes and read-modify-writes are #PF(P|W|U).
      const off = SNIPPET_RO_BASE - SNIPPET_DATA_BASE + rng.below(SNIPPET_PAGE_SIZE - 8);
      st.roPage = true;
      return { rm: memAt(st, rng, off, bm === 'legacy' || MODE32), memOff: off };
    }
    const off = rng.below(SNIPPET_DATA_SIZE - 16);
    const m = memAt(st, rng, off, bm === 'legacy' || MODE32);
    st.setMem(off, bits / 8, value);
    return { rm: m, memOff: off };
  }
  const { op } = pickReg(st, rng, bits, bm, true);
  st.setReg(op, bits, value);
  return { rm: regForEnc(op), memOff: -1 };
}

function immFor(bits: Bits): number {
  return bits === 8 ? 1 : bits === 16 ? 2 : 4;
}

function genAlu(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const o = rng.below(8);
  const op = ALU_OPS[o] ?? 'add';
  const bits = randBits(rng);
  const bm = byteModeFor(rng, bits);
  const form = rng.pick(['rm,r', 'r,rm', 'acc,imm', 'rm,imm', 'rm,imm8s'] as const);
  const w = bits === 8 ? 0 : 1;
  let code: Uint8Array;
  if (form === 'acc,imm') {
    const acc = reg(0);
    st.used.add(0);
    st.setReg(acc, bits, interesting(rng, bits));
    const imm = immBytes(interesting(rng, bits), immFor(bits));
    code = encode({ ...sizeEnc(bits), byteRegs: false, opcode: [o * 8 + 4 + w], imm });
  } else if (form === 'rm,imm' || form === 'rm,imm8s') {
    const { rm } = rmOperand(st, rng, bits, bm, interesting(rng, bits));
    const imm8s = form === 'rm,imm8s' && bits !== 8;
    const imm = imm8s ? immBytes(interesting(rng, 8), 1) : immBytes(interesting(rng, bits), immFor(bits));
    code = encode({ legacy: lockFor(rng, rm, op), ...sizeEnc(bits), opcode: [bits === 8 ? 0x80 : imm8s ? 0x83 : 0x81], reg: o, rm, imm });
  } else {
    const { rm } = rmOperand(st, rng, bits, bm, interesting(rng, bits));
    const r = pickReg(st, rng, bits, bm, true).op;
    st.setReg(r, bits, interesting(rng, bits));
    const lock = form === 'rm,r' ? lockFor(rng, rm, op) : [];
    code = encode({ legacy: lock, ...sizeEnc(bits), opcode: [o * 8 + (form === 'r,rm' ? 2 : 0) + w], reg: regForEnc(r), rm });
  }
  push(g, st, `${op}${bits}`, code, definedFlags(op, bits));
}

function genTest(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const bits = randBits(rng);
  const bm = byteModeFor(rng, bits);
  const w = bits === 8 ? 0 : 1;
  const form = rng.below(3);
  let code: Uint8Array;
  if (form === 0) {
    st.used.add(0);
    st.setReg(reg(0), bits, interesting(rng, bits));
    code = encode({ ...sizeEnc(bits), byteRegs: false, opcode: [0xa8 + w], imm: immBytes(interesting(rng, bits), immFor(bits)) });
  } else if (form === 1) {
    const { rm } = rmOperand(st, rng, bits, bm, interesting(rng, bits));
    code = encode({ ...sizeEnc(bits), opcode: [0xf6 + w], reg: 0, rm, imm: immBytes(interesting(rng, bits), immFor(bits)) });
  } else {
    const { rm } = rmOperand(st, rng, bits, bm, interesting(rng, bits));
    const r = pickReg(st, rng, bits, bm, true).op;
    st.setReg(r, bits, interesting(rng, bits));
    code = encode({ ...sizeEnc(bits), opcode: [0x84 + w], reg: regForEnc(r), rm });
  }
  push(g, st, `test${bits}`, code, definedFlags('test', bits));
}

function genUnary(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const bits = randBits(rng);
  const bm = byteModeFor(rng, bits);
  const w = bits === 8 ? 0 : 1;
  const op = rng.pick(['inc', 'dec', 'neg', 'not'] as const);
  const { rm } = rmOperand(st, rng, bits, bm, interesting(rng, bits));
  const lock = lockFor(rng, rm, op);
  const code =
    op === 'inc' || op === 'dec'
      ? encode({ legacy: lock, ...sizeEnc(bits), opcode: [0xfe + w], reg: op === 'inc' ? 0 : 1, rm })
      : encode({ legacy: lock, ...sizeEnc(bits), opcode: [0xf6 + w], reg: op === 'not' ? 2 : 3, rm });
  push(g, st, `${op}${bits}`, code, definedFlags(op, bits));
}

function shiftCount(rng: Prng): number {
  return rng.pick([0, 1, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 0xff, rng.below(256), rng.below(64)]);
}

function genShift(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  let n: number;
  do n = rng.below(8);
  while (n === 6);
  const op = SHIFT_OPS[n] ?? 'shl';
  const bits = randBits(rng);
  const bm = byteModeFor(rng, bits);
  const w = bits === 8 ? 0 : 1;
  const form = rng.pick(['1', 'cl', 'imm'] as const);
  let count = form === '1' ? 1 : shiftCount(rng);
  st.used.add(1); // keep RCX for the count
  const { rm } = rmOperand(st, rng, bits, bm, interesting(rng, bits));
  let code: Uint8Array;
  if (form === '1') code = encode({ ...sizeEnc(bits), opcode: [0xd0 + w], reg: n, rm });
  else if (form === 'cl') {
    st.setReg(reg(1), 8, BigInt(count));
    code = encode({ ...sizeEnc(bits), opcode: [0xd2 + w], reg: n, rm });
  } else {
    code = encode({ ...sizeEnc(bits), opcode: [0xc0 + w], reg: n, rm, imm: [count & 0xff] });
  }
  count &= 0xff;
  push(g, st, `${op}${bits}`, code, definedFlags(op, bits, count));
}

function genShxd(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const op = rng.pick(['shld', 'shrd'] as const);
  const bits = wide(rng);
  const byCl = rng.chance(0.5);
  st.used.add(1);
  let count = shiftCount(rng);
  const masked = count & (bits === 64 ? 63 : 31);
  // "If the count is greater than the operand size, the result is undefined": keep such
  // cases to registers (memory results cannot be masked out).
  const undefinedResult = masked > bits;
  const { rm } = rmOperand(st, rng, bits, 'rex', interesting(rng, bits), undefinedResult ? 0 : 0.35);
  const src = pickReg(st, rng, bits, 'rex', true).op;
  st.setReg(src, bits, interesting(rng, bits));
  const base = op === 'shld' ? 0xa4 : 0xac;
  let code: Uint8Array;
  if (byCl) {
    st.setReg(reg(1), 8, BigInt(count));
    code = encode({ ...sizeEnc(bits), opcode: [0x0f, base + 1], reg: src, rm });
  } else {
    code = encode({ ...sizeEnc(bits), opcode: [0x0f, base], reg: src, rm, imm: [count & 0xff] });
  }
  count &= 0xff;
  const undef = undefinedResult && rm.kind === 'reg' ? 1 << rm.r : 0;
  push(g, st, `${op}${bits}`, code, definedFlags(op, bits, count), undef);
}

/** Dividend/divisor pairs: mostly valid quotients, some #DE (zero divisor, overflow). */
function genMulDiv(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const n = rng.range(4, 7);
  const op = (['mul', 'imul', 'div', 'idiv'] as const)[n - 4] ?? 'mul';
  const bits = randBits(rng);
  const bm = byteModeFor(rng, bits);
  const w = bits === 8 ? 0 : 1;
  st.used.add(0);
  st.used.add(2);
  let divisor = interesting(rng, bits);
  let lo = interesting(rng, bits);
  let hi = interesting(rng, bits);
  if (op === 'div' || op === 'idiv') {
    const kind = rng.below(10);
    const signed = op === 'idiv';
    const toS = (v: bigint, b: number): bigint => BigInt.asIntN(b, v);
    if (kind === 0) divisor = 0n;
    else if (kind === 1 && signed) {
      divisor = mask(bits); // -1
      hi = rng.chance(0.5) ? mask(bits) : 0n;
      lo = 1n << BigInt(bits - 1); // min / -1 overflows
      if (hi === 0n) hi = mask(bits);
    } else if (kind < 8) {
      if (divisor === 0n) divisor = 1n;
      const d = signed ? toS(divisor, bits) : divisor;
      const qRange = 1n << BigInt(signed ? bits - 1 : bits);
      let q = BigInt.asUintN(bits, rng.u64());
      q = signed ? toS(q, bits) : q;
      if (rng.chance(0.3)) q = rng.pick([0n, 1n, qRange - 1n, signed ? -qRange : 0n, signed ? -1n : 2n]);
      const ad = d < 0n ? -d : d;
      let r = BigInt(rng.u32()) % ad;
      const dividend0 = q * d;
      if (signed && (dividend0 < 0n || (dividend0 === 0n && rng.chance(0.5)))) r = -r;
      const dividend = dividend0 + r;
      const both = BigInt.asUintN(bits * 2, dividend);
      lo = both & mask(bits);
      hi = both >> BigInt(bits);
    }
  }
  if (bits === 8) {
    // 8-bit forms use AX (AH:AL) as the dividend / AL as the multiplicand.
    st.setReg(reg(0), 8, lo);
    st.setReg(reg(0, true), 8, hi);
  } else {
    st.setReg(reg(0), bits, lo);
    st.setReg(reg(2), bits, hi);
  }
  st.used.delete(0);
  st.used.delete(2);
  // Operand: avoid RAX/RDX mostly, they are the implicit operands.
  if (rng.chance(0.9)) {
    st.used.add(0);
    st.used.add(2);
  }
  const { rm } = rmOperand(st, rng, bits, bm, divisor);
  const code = encode({ ...sizeEnc(bits), opcode: [0xf6 + w], reg: n, rm });
  push(g, st, `${op}${bits}`, code, definedFlags(op, bits));
}

function genImulN(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const bits = wide(rng);
  const form = rng.pick(['2', '3i8', '3i'] as const);
  const { rm } = rmOperand(st, rng, bits, 'rex', interesting(rng, bits));
  const dst = pickReg(st, rng, bits, 'rex', true).op;
  st.setReg(dst, bits, interesting(rng, bits));
  let code: Uint8Array;
  if (form === '2') code = encode({ ...sizeEnc(bits), opcode: [0x0f, 0xaf], reg: dst, rm });
  else if (form === '3i8') code = encode({ ...sizeEnc(bits), opcode: [0x6b], reg: dst, rm, imm: immBytes(interesting(rng, 8), 1) });
  else code = encode({ ...sizeEnc(bits), opcode: [0x69], reg: dst, rm, imm: immBytes(interesting(rng, bits), immFor(bits)) });
  push(g, st, `imul${bits}/${form[0]}`, code, definedFlags('imul', bits));
}

function genBt(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const n = rng.range(4, 7);
  const op = (['bt', 'bts', 'btr', 'btc'] as const)[n - 4] ?? 'bt';
  const bits = wide(rng);
  const byImm = rng.chance(0.4);
  const useMem = rng.chance(0.4);
  let rm: RmOperand;
  let offReg: RegOperand | null = null;
  if (useMem) {
    // Bit-string addressing with a register offset can reach outside the operand: keep
    // the whole reachable range inside the data area.
    const off = 128 + rng.below(256);
    rm = memAt(st, rng, off, MODE32);
    if (!byImm) {
      offReg = pickReg(st, rng, bits, 'rex').op;
      // The operand read is at ea + (bits/8) * floor(offset / bits): keep it inside the area.
      const bytes = bits / 8;
      const lowBit = -Math.floor(off / bytes) * bits;
      const highBit = (Math.floor((SNIPPET_DATA_SIZE - off - bytes) / bytes) + 1) * bits - 1;
      if (MODE16 && bits === 32 && rng.chance(0.3)) {
        // A 32-bit bit offset reaching past the 64 KiB segment: the limit check (#GP/#SS), or
        // the wrap of a 16-bit effective address.
        st.limitCheck = true;
        st.setReg(offReg, bits, BigInt.asUintN(32, BigInt(rng.range(-0x800000, 0x800000))));
      } else {
        st.setReg(offReg, bits, BigInt(rng.range(lowBit, highBit)));
      }
    }
  } else {
    const d = pickReg(st, rng, bits, 'rex', true).op;
    st.setReg(d, bits, interesting(rng, bits));
    rm = d;
    if (!byImm) {
      offReg = pickReg(st, rng, bits, 'rex', true).op;
      st.setReg(offReg, bits, rng.chance(0.5) ? BigInt(rng.below(bits)) : rng.u64());
    }
  }
  const code = byImm
    ? encode({ legacy: lockFor(rng, rm, op === 'bt' ? 'cmp' : op), ...sizeEnc(bits), opcode: [0x0f, 0xba], reg: n, rm, imm: [rng.chance(0.7) ? rng.below(bits) : rng.below(256)] })
    : encode({ legacy: lockFor(rng, rm, op === 'bt' ? 'cmp' : op), ...sizeEnc(bits), opcode: [0x0f, [0xa3, 0xab, 0xb3, 0xbb][n - 4] ?? 0xa3], reg: offReg ?? reg(0), rm });
  push(g, st, `${op}${bits}${useMem ? 'm' : ''}`, code, definedFlags(op, bits));
}

function genBsx(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const op = rng.pick(['bsf', 'bsr'] as const);
  const bits = wide(rng);
  const v = rng.chance(0.25) ? 0n : interesting(rng, bits);
  const { rm } = rmOperand(st, rng, bits, 'rex', v);
  const dst = pickReg(st, rng, bits, 'rex', true).op;
  const code = encode({ ...sizeEnc(bits), opcode: [0x0f, op === 'bsf' ? 0xbc : 0xbd], reg: dst, rm });
  push(g, st, `${op}${bits}`, code, definedFlags(op, bits));
}

function genMovx(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const kind = MODE32 ? rng.pick(['movzx8', 'movsx8', 'movzx16', 'movsx16'] as const) : rng.pick(['movzx8', 'movsx8', 'movzx16', 'movsx16', 'movsxd', 'movsxd32'] as const);
  let code: Uint8Array;
  if (kind === 'movsxd' || kind === 'movsxd32') {
    const { rm } = rmOperand(st, rng, 32, 'rex', interesting(rng, 32));
    const dst = pickReg(st, rng, 64, 'rex', true).op;
    code = encode({ rexW: kind === 'movsxd', opcode: [0x63], reg: dst, rm });
  } else {
    const srcBits: Bits = kind.endsWith('8') ? 8 : 16;
    const bm = srcBits === 8 ? byteModeFor(rng, 8) : 'rex';
    // AH..BH sources forbid REX, so no 64-bit destination then.
    const dstBits = rng.pick(bm === 'legacy' || MODE32 ? ([16, 32] as const) : ([16, 32, 64] as const));
    const { rm } = rmOperand(st, rng, srcBits, bm, interesting(rng, srcBits));
    const dst = bm === 'legacy' ? reg(st.freshReg(8)) : pickReg(st, rng, dstBits, 'rex', true).op;
    const opc = (kind.startsWith('movzx') ? 0xb6 : 0xbe) + (srcBits === 16 ? 1 : 0);
    code = encode({ opsize16: o16flag(dstBits), rexW: dstBits === 64, byteRegs: srcBits === 8, byteRmOnly: true, opcode: [0x0f, opc], reg: dst, rm });
  }
  push(g, st, kind, code, definedFlags('none'));
}

function genXchgFamily(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const kind = rng.pick(['xchg', 'xchg-acc', 'xadd', 'cmpxchg', 'cmpxchg'] as const);
  const bits = kind === 'xchg-acc' ? wide(rng) : randBits(rng);
  const bm = kind === 'cmpxchg' && bits === 8 && !MODE32 ? 'rex' : byteModeFor(rng, bits);
  const w = bits === 8 ? 0 : 1;
  let code: Uint8Array;
  let fl: FlagOp = 'none';
  if (kind === 'xchg-acc') {
    st.used.add(0);
    st.setReg(reg(0), bits, interesting(rng, bits));
    const r = rng.chance(0.1) ? 0 : st.freshReg(NREGS(), true); // 90 = NOP (no zero-extension of RAX)
    st.setReg(reg(r), bits, interesting(rng, bits));
    code = encodeOpReg({ opsize16: o16flag(bits), rexW: bits === 64, base: 0x90, r });
  } else {
    if (kind === 'cmpxchg') st.used.add(0);
    const v = interesting(rng, bits);
    const { rm } = rmOperand(st, rng, bits, bm, v);
    const r = pickReg(st, rng, bits, bm, true).op;
    st.setReg(r, bits, interesting(rng, bits));
    const lock = rm.kind === 'mem' && rng.chance(0.3) ? [0xf0] : [];
    if (kind === 'xchg') code = encode({ legacy: lock, ...sizeEnc(bits), opcode: [0x86 + w], reg: regForEnc(r), rm });
    else if (kind === 'xadd') {
      code = encode({ legacy: lock, ...sizeEnc(bits), opcode: [0x0f, 0xc0 + w], reg: regForEnc(r), rm });
      fl = 'add';
    } else {
      st.setReg(reg(0), bits, rng.chance(0.5) ? v : interesting(rng, bits));
      code = encode({ legacy: lock, ...sizeEnc(bits), opcode: [0x0f, 0xb0 + w], reg: regForEnc(r), rm });
      fl = 'cmp';
    }
  }
  push(g, st, `${kind}${bits}`, code, definedFlags(fl, bits));
}

function genBswap(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const bits = MODE32 ? 32 : rng.pick([32, 64] as const); // 16-bit BSWAP is undefined (SDM)
  const r = st.freshReg(NREGS(), true);
  const code = encodeOpReg({ rexW: bits === 64, prefix: [0x0f], base: 0xc8, r });
  push(g, st, `bswap${bits}`, code, definedFlags('none'));
}

function genCc(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const cc = rng.below(16);
  if (rng.chance(0.5)) {
    const bm = byteModeFor(rng, 8);
    const { rm } = rmOperand(st, rng, 8, bm, interesting(rng, 8));
    const code = encode({ byteRegs: true, opcode: [0x0f, 0x90 + cc], reg: 0, rm });
    push(g, st, `set${CC_NAMES[cc]}`, code, definedFlags('none'));
  } else {
    const bits = wide(rng);
    const { rm } = rmOperand(st, rng, bits, 'rex', interesting(rng, bits));
    const dst = pickReg(st, rng, bits, 'rex', true).op;
    const code = encode({ ...sizeEnc(bits), opcode: [0x0f, 0x40 + cc], reg: dst, rm });
    push(g, st, `cmov${CC_NAMES[cc]}${bits}`, code, definedFlags('none'));
  }
}

function genConvert(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const bits = wide(rng);
  const op = rng.pick([0x98, 0x99]);
  st.setReg(reg(0), bits, interesting(rng, bits));
  const names = op === 0x98 ? { 16: 'cbw', 32: 'cwde', 64: 'cdqe' } : { 16: 'cwd', 32: 'cdq', 64: 'cqo' };
  push(g, st, names[bits], encode({ ...sizeEnc(bits), opcode: [op] }), definedFlags('none'));
}

function genLahfSahf(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const sahf = rng.chance(0.5);
  st.setReg(reg(0, true), 8, BigInt(rng.below(256)));
  push(g, st, sahf ? 'sahf' : 'lahf', Uint8Array.of(sahf ? 0x9e : 0x9f), definedFlags('none'));
}

function genLea(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const bits = MODE32 ? rng.pick([16, 32] as const) : rng.pick([16, 32, 64, 64] as const);
  if (MODE32 && rng.chance(MODE16 ? 0.6 : 0.3)) {
    genLea16(g, st, bits);
    return;
  }
  const base = rng.pick([-2, -1, rng.below(NREGS()), rng.below(NREGS()), rng.below(NREGS())]);
  let index = rng.chance(0.5) ? rng.below(NREGS()) : -1;
  if (index === 4) index = -1;
  const m: MemOperand = {
    kind: 'mem',
    base: base === -2 && index !== -1 ? rng.below(NREGS()) : base,
    index,
    scale: rng.pick([1, 2, 4, 8] as const),
    disp: rng.pick([0, rng.range(-128, 127), rng.u32() | 0, -0x80000000, 0x7fffffff]),
    addr32: MODE16 || (!MODE32 && rng.chance(0.3)),
  };
  const dst = rng.below(NREGS());
  const code = encode({ opsize16: o16flag(bits), rexW: bits === 64, opcode: [0x8d], reg: reg(dst), rm: m });
  push(g, st, `lea${bits}${m.addr32 ? '/a32' : ''}${m.base === -2 ? '/rip' : ''}`, code, definedFlags('none'));
}

/** LEA with 16-bit addressing (67h in 32-bit mode): SDM Vol. 2 Table 2-1 ModRM forms. */
function genLea16(g: Gen, st: State, bits: Bits): void {
  const { rng } = g;
  const mod = rng.below(3);
  const rm = rng.below(8);
  const dst = rng.below(8);
  const disp = mod === 1 ? [rng.below(256)] : mod === 2 || (mod === 0 && rm === 6) ? immBytes(BigInt(rng.u32()), 2) : [];
  // 16-bit addressing: the default in 16-bit mode, 67h in 32-bit mode.
  const code = Uint8Array.from([...(MODE16 ? [] : [0x67]), ...(o16flag(bits) ? [0x66] : []), 0x8d, (mod << 6) | (dst << 3) | rm, ...disp]);
  push(g, st, `lea${bits}/a16`, code, definedFlags('none'));
}

function genMov(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const bits = randBits(rng);
  const bm = byteModeFor(rng, bits);
  const w = bits === 8 ? 0 : 1;
  const form = rng.below(4);
  let code: Uint8Array;
  if (form === 0) {
    const { rm } = rmOperand(st, rng, bits, bm, interesting(rng, bits));
    const r = pickReg(st, rng, bits, bm, true).op;
    st.setReg(r, bits, interesting(rng, bits));
    code = encode({ ...sizeEnc(bits), opcode: [0x88 + w + (rng.chance(0.5) ? 2 : 0)], reg: regForEnc(r), rm });
  } else if (form === 1) {
    const { rm } = rmOperand(st, rng, bits, bm, interesting(rng, bits));
    code = encode({ ...sizeEnc(bits), opcode: [0xc6 + w], reg: 0, rm, imm: immBytes(interesting(rng, bits), immFor(bits)) });
  } else {
    // MOV r, imm (B0+r / B8+r; with REX.W a full 64-bit immediate).
    const r = st.freshReg(NREGS(), true);
    const immLen = bits === 8 ? 1 : bits === 16 ? 2 : bits === 32 ? 4 : 8;
    code = encodeOpReg({ opsize16: o16flag(bits), rexW: bits === 64, base: bits === 8 ? 0xb0 : 0xb8, r, imm: immBytes(interesting(rng, bits), immLen) });
    if (!MODE32 && bits === 8 && r < 8 && r >= 4 && rng.chance(0.5)) {
      // Without REX, B4..B7 are AH..BH; an empty REX (0x40) makes them SPL..DIL.
      code = Uint8Array.from([0x40, ...code]);
    }
  }
  push(g, st, `mov${bits}`, code, definedFlags('none'));
}

function genString(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const kind = rng.pick(['movs', 'stos', 'lods', 'cmps', 'scas'] as const);
  const size = MODE32 ? rng.pick([1, 2, 4] as const) : rng.pick([1, 2, 4, 8] as const);
  const rep = rng.pick(kind === 'cmps' || kind === 'scas' ? [0, 0xf3, 0xf2, 0xf3] : [0, 0xf3, 0xf3]);
  const addr32 = (MODE16 || !MODE32) && rng.chance(0.25);
  const df = rng.chance(0.35);
  const count = rep ? rng.pick([0, 1, 2, 3, rng.below(24), rng.below(24)]) : 1;
  if (rep && count > 1 && !df && rng.chance(0.04)) {
    // REP string op running off the end of the data page: #PF part-way, RCX/RSI/RDI show the progress.
    st.crossPage = true;
    const toEnd = rng.range(1, count - 1) * size;
    const onDst = kind === 'stos' || kind === 'scas' || (kind !== 'lods' && rng.chance(0.5));
    const bytes = { movs: 0xa4, cmps: 0xa6, stos: 0xaa, lods: 0xac, scas: 0xae }[kind];
    st.gpr[6] = BigInt(dataAddr(onDst ? 0 : SNIPPET_PAGE_SIZE - toEnd));
    st.gpr[7] = BigInt(dataAddr(onDst ? SNIPPET_PAGE_SIZE - toEnd : 0x100));
    st.gpr[1] = BigInt(count);
    const code = encode({ legacy: [rep], opsize16: o16flag(size * 8), rexW: size === 8, opcode: [bytes + (size === 1 ? 0 : 1)], byteRegs: false });
    push(g, st, `rep ${kind}${'bwdq'[[1, 2, 4, 8].indexOf(size)]}`, code, definedFlags(kind === 'cmps' || kind === 'scas' ? 'cmp' : 'none', 32), 0, st.rflags & ~FLAG_DF);
    return;
  }
  const span = Math.max(count, 1) * size;
  // Source area [0, 256), destination area [256, 512): never overlapping...
  const srcOff = df ? rng.range(span - size, 255 - size) : rng.range(0, 256 - span);
  let dstOff = 256 + (df ? rng.range(span - size, 255 - size) : rng.range(0, 256 - span));
  let overlap = false;
  if (kind === 'movs' && rep && count > 1 && rng.chance(0.25)) {
    // ...except overlapping REP MOVS: element by element, so a destination just past the
    // source replicates the first elements (no memmove semantics).
    dstOff = srcOff + rng.pick([-3, -2, -1, 1, 2, 3, size, 2 * size, -size]) * (rng.chance(0.5) ? 1 : size);
    overlap = dstOff >= 0 && dstOff + span <= SNIPPET_DATA_SIZE && dstOff - span + size >= 0;
    if (!overlap) dstOff = 256 + (df ? rng.range(span - size, 255 - size) : rng.range(0, 256 - span));
  }
  // Bits above the address size are ignored: fill them with garbage.
  const hiGarbage = (): bigint => (MODE16 ? (addr32 ? rng.u64() & ~0xffffffffn : rng.u64() & ~0xffffn) : addr32 || MODE32 ? BigInt(rng.u32()) << 32n : 0n);
  st.gpr[6] = hiGarbage() | BigInt(dataAddr(srcOff));
  st.gpr[7] = hiGarbage() | BigInt(dataAddr(dstOff));
  if (rep) st.gpr[1] = hiGarbage() | BigInt(count);
  if (kind === 'cmps' || kind === 'scas') {
    // Mostly-equal strings so REPE runs a while and stops at a chosen mismatch.
    for (let i = 0; i < span; i++) {
      const s = st.data[(df ? srcOff - span + size : srcOff) + i] ?? 0;
      st.data[(df ? dstOff - span + size : dstOff) + i] = s;
    }
    if (rng.chance(0.7)) {
      const at = dstOff + rng.range(df ? -(span - size) : 0, df ? size - 1 : span - 1);
      st.data[at] = (st.data[at] ?? 0) ^ (1 << rng.below(8));
    }
    if (kind === 'scas') {
      const sameAsFirst = rng.chance(0.5);
      let v = 0n;
      for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(st.data[dstOff + i] ?? 0);
      st.setReg(reg(0), (size * 8) as Bits, sameAsFirst ? v : interesting(rng, (size * 8) as Bits));
      if (rep === 0xf3 && sameAsFirst) {
        // Fill the destination with the same element so REPE SCAS runs the count out.
        for (let k = 0; k < Math.max(count, 1); k++) st.setMem(df ? dstOff - k * size : dstOff + k * size, size, v);
      }
    }
  }
  const base = { movs: 0xa4, cmps: 0xa6, stos: 0xaa, lods: 0xac, scas: 0xae }[kind];
  const legacy = rep ? [rep] : [];
  const code = encode({ legacy, opsize16: o16flag(size * 8), rexW: size === 8, opcode: [base + (size === 1 ? 0 : 1)], rm: undefined, byteRegs: false });
  const withA32 = addr32 ? Uint8Array.from([0x67, ...code]) : code;
  const fl: FlagOp = kind === 'cmps' || kind === 'scas' ? 'cmp' : 'none';
  const rflags = (st.rflags & ~FLAG_DF) | (df ? FLAG_DF : 0);
  const repName = rep === 0xf3 ? (fl === 'cmp' ? 'repe ' : 'rep ') : rep === 0xf2 ? 'repne ' : '';
  push(g, st, `${repName}${kind}${'bwdq'[[1, 2, 4, 8].indexOf(size)]}${addr32 ? '/a32' : ''}${overlap ? '/overlap' : ''}`, withA32, definedFlags(fl, 32), 0, rflags);
}


function genJcc(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const cc = rng.below(16);
  const near = rng.chance(0.4);
  // Jcc over "inc rax": RAX tells whether the branch was taken.
  const rel = MODE16 ? [3, 0] : [3, 0, 0, 0]; // 0F 8x takes a rel16 in 16-bit code
  const code = near ? Uint8Array.of(0x0f, 0x80 + cc, ...rel, ...INC_EAX_BODY) : Uint8Array.of(0x70 + cc, 3, ...INC_EAX_BODY);
  push(g, st, `j${CC_NAMES[cc]}`, code, definedFlags('none'));
}

function genLoop(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const op = rng.pick([0xe0, 0xe1, 0xe2, 0xe3]);
  const a32 = rng.chance(0.3);
  st.gpr[1] = rng.pick([0n, 1n, 2n, 0x100000000n, 0x100000001n, rng.u64()]);
  const name = { 0xe0: 'loopne', 0xe1: 'loope', 0xe2: 'loop', 0xe3: 'jrcxz' }[op] ?? 'loop';
  const body = [op, 3, ...INC_EAX_BODY];
  push(g, st, `${name}${a32 ? '/a32' : ''}`, Uint8Array.from(a32 ? [0x67, ...body] : body), definedFlags('none'));
}

function genStack(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const kind = rng.pick(['push-r', 'pop-r', 'push-imm', 'push-m', 'pop-m', 'push16', 'popf', 'enter', 'leave', 'call-ret'] as const);
  let code: Uint8Array;
  st.used.add(RSP);
  if (kind === 'push-r' || kind === 'pop-r') {
    const r = rng.below(NREGS());
    code = encodeOpReg({ base: kind === 'push-r' ? 0x50 : 0x58, r });
    st.setMem(SNIPPET_DATA_SIZE - 8, 8, interesting(rng, 64));
    st.gpr[RSP] = BigInt(rspTop() - (kind === 'pop-r' ? 8 : 0));
  } else if (kind === 'push16') {
    const r = rng.below(NREGS());
    code = encodeOpReg({ opsize16: true, base: rng.chance(0.5) ? 0x50 : 0x58, r });
    st.gpr[RSP] = BigInt(rspTop() - 8);
  } else if (kind === 'push-imm') {
    // 68 takes an immediate of the operand size (16 bits in 16-bit code).
    code = rng.chance(0.5) ? Uint8Array.of(0x6a, rng.below(256)) : Uint8Array.from([0x68, ...immBytes(interesting(rng, 32), MODE16 ? 2 : 4)]);
  } else if (kind === 'push-m' || kind === 'pop-m') {
    st.gpr[RSP] = BigInt(rspTop() - 8);
    const m = memAt(st, rng, rng.below(256), MODE32);
    st.gpr[RSP] = BigInt(rspTop() - 8);
    code = kind === 'push-m' ? encode({ opcode: [0xff], reg: 6, rm: m }) : encode({ opcode: [0x8f], reg: 0, rm: m });
  } else if (kind === 'popf') {
    // push r; popfq; pushfq; pop r2 — r2 shows what POPF accepted at CPL 3 (IF/IOPL silently kept;
    // TF, AC and NT are left out: they would trap or upset the host process).
    const r = st.freshReg(NREGS());
    const r2 = st.freshReg(NREGS());
    const v = BigInt((rng.u32() & (FLAGS_STATUS | FLAG_DF | 0x200 | 0x3000 | 0x200000)) >>> 0);
    st.gpr[r] = v;
    code = Uint8Array.from([...encodeOpReg({ base: 0x50, r }), 0x9d, 0x9c, ...encodeOpReg({ base: 0x58, r: r2 })]);
    push(g, st, 'popf', code, FLAGS_STATUS | FLAG_DF);
    return;
  } else if (kind === 'enter') {
    // ENTER size, level: level is taken mod 32; level > 0 copies level-1 frame pointers from
    // [rBP - k*width] and pushes the new one (SDM ENTER pseudocode). Operand size 16 via 66h.
    const o16 = rng.chance(0.25);
    const level = rng.pick([0, 0, 1, 2, 3, rng.below(8), rng.below(32), 32, 33]);
    const width = o16 ? 2 : MODE32 ? 4 : 8;
    const room = ((level % 32) + 1) * width;
    // rBP high enough that every frame-pointer read stays in the data area; stack top at the end.
    st.gpr[5] = BigInt(dataAddr(room + rng.below(Math.max(1, 0x100 - room))));
    // Frame size small enough that the new stack pointer stays in the data page (AMD probes it).
    code = Uint8Array.from([...(o16flag(o16 ? 16 : 32) ? [0x66] : []), 0xc8, rng.below(128), 0, level]);
  } else if (kind === 'leave') {
    const o16 = rng.chance(0.25);
    st.gpr[5] = BigInt(dataAddr(0x100 + rng.below(0xf8)));
    code = Uint8Array.from([...(o16flag(o16 ? 16 : 32) ? [0x66] : []), 0xc9]);
  } else {
    // call +2; jmp +3; ret imm16 — returns to the jmp with RSP moved by imm16.
    code = MODE16 ? Uint8Array.of(0xe8, 2, 0, 0xeb, 3, 0xc2, rng.below(64), 0) : Uint8Array.of(0xe8, 2, 0, 0, 0, 0xeb, 3, 0xc2, rng.below(64), 0);
  }
  push(g, st, kind, code, definedFlags('none'));
}

function genXlat(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  st.gpr[3] = BigInt(dataAddr(rng.below(256)));
  push(g, st, 'xlat', !MODE32 && rng.chance(0.3) ? Uint8Array.of(0x48, 0xd7) : Uint8Array.of(0xd7), definedFlags('none'));
}

function genCmpxchg8b(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const wide = !MODE32 && rng.chance(0.5);
  // CMPXCHG16B needs a 16-byte aligned operand (else #GP): mostly aligned, sometimes not.
  let off = rng.below(SNIPPET_DATA_SIZE / 16 - 1) * 16;
  if (rng.chance(0.1)) off += 8;
  st.used.add(0).add(1).add(2).add(3);
  const m = memAt(st, rng, off, MODE32);
  const lo = rng.u64();
  const hi = rng.u64();
  st.setMem(off, 8, lo);
  if (wide) st.setMem(off + 8, 8, hi);
  const equal = rng.chance(0.5);
  if (wide) {
    st.gpr[0] = equal ? lo : rng.u64();
    st.gpr[2] = equal || rng.chance(0.5) ? hi : rng.u64();
  } else {
    st.gpr[0] = (rng.u64() & 0xffffffff00000000n) | (equal ? lo & 0xffffffffn : BigInt(rng.u32()));
    st.gpr[2] = (rng.u64() & 0xffffffff00000000n) | (equal || rng.chance(0.5) ? lo >> 32n : BigInt(rng.u32()));
  }
  const code = encode({ legacy: rng.chance(0.5) ? [0xf0] : [], rexW: wide, opcode: [0x0f, 0xc7], reg: 1, rm: m });
  // ZF is the only flag written; the others are unaffected (defined: kept).
  push(g, st, wide ? 'cmpxchg16b' : 'cmpxchg8b', code, definedFlags('none'));
}

function genCount(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const op = g.features.has('abm') && rng.chance(0.5) ? 'lzcnt' : 'popcnt';
  const bits = wide(rng);
  const v = rng.chance(0.15) ? 0n : interesting(rng, bits);
  const { rm } = rmOperand(st, rng, bits, 'rex', v);
  const dst = pickReg(st, rng, bits, 'rex', true).op;
  const code = encode({ legacy: [0xf3], ...sizeEnc(bits), opcode: [0x0f, op === 'lzcnt' ? 0xbd : 0xb8], reg: dst, rm });
  // POPCNT: all six flags defined (ZF from the source, others cleared). LZCNT: CF and ZF
  // defined; OF, SF, PF, AF undefined.
  push(g, st, `${op}${bits}`, code, op === 'popcnt' ? FLAGS_STATUS : FLAG_CF | FLAG_ZF);
}

function genMovbe(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const bits = wide(rng);
  const store = rng.chance(0.5);
  const off = rng.below(SNIPPET_DATA_SIZE - 8);
  const m = memAt(st, rng, off, MODE32);
  const r = pickReg(st, rng, bits, 'rex', true).op;
  st.setReg(r, bits, interesting(rng, bits));
  const code = encode({ ...sizeEnc(bits), opcode: [0x0f, 0x38, store ? 0xf1 : 0xf0], reg: r, rm: m });
  push(g, st, `movbe${bits}`, code, definedFlags('none'));
}


/**
 * Chains of 2-6 register instructions sharing a few registers, so each instruction consumes
 * the flags and results of the previous ones (lazy flag evaluation in an interpreter is only
 * exercised when flags flow between instructions). Definedness of every flag is tracked
 * through the chain: a flag consumer (ADC/SBB/RCL/RCR/CMC/SETcc/CMOVcc/Jcc/LAHF) is only
 * emitted when the flags it reads are defined, and only flags still defined at the end are compared.
 */
function genChain(g: Gen, hot = false): void {
  const { rng } = g;
  const st = new State(rng);
  const pool = [0];
  while (pool.length < rng.range(2, 4)) {
    const r = rng.below(NREGS());
    if (r !== RSP && !pool.includes(r)) pool.push(r);
  }
  for (const r of pool) st.gpr[r] = rng.chance(0.5) ? interesting(rng, 64) : rng.u64();
  // In a loop, iterations after the first start from the flags of the loop's DEC (CF from the
  // chain's end): assume CF undefined on entry, which covers every iteration.
  let defined = hot ? FLAGS_STATUS & ~FLAG_CF : FLAGS_STATUS;
  const bytes: number[] = [];
  const names: string[] = [];
  const n = rng.range(2, 6);
  const regOf = (bits: Bits): RegOperand => {
    if (bits === 8 && (MODE32 || rng.chance(0.5))) {
      const low = pool.filter((r) => r < 4);
      return reg(rng.pick(low), rng.chance(0.4));
    }
    return reg(rng.pick(pool));
  };
  const rmOf = (bits: Bits): RegOperand => regForEnc(regOf(bits));
  for (let k = 0; k < n; k++) {
    const kind = rng.pick(['alu', 'alu', 'alu-imm', 'unary', 'shift', 'bt', 'bsx', 'mul', 'imul2', 'setcc', 'cmovcc', 'jcc', 'lahf', 'sahf', 'cf', 'test'] as const);
    const bits = randBits(rng);
    const w = bits === 8 ? 0 : 1;
    let code: Uint8Array | null = null;
    let fl: FlagOp = 'none';
    let count = 1;
    let needs = 0;
    let name: string = kind;
    let written: number | null = null;
    try {
      if (kind === 'alu' || kind === 'alu-imm') {
        const o = rng.below(8);
        fl = ALU_OPS[o] ?? 'add';
        if (fl === 'adc' || fl === 'sbb') needs = FLAG_CF;
        name = `${fl}${bits}`;
        code =
          kind === 'alu'
            ? encode({ ...sizeEnc(bits), opcode: [o * 8 + w], reg: rmOf(bits), rm: rmOf(bits) })
            : encode({ ...sizeEnc(bits), opcode: [bits === 8 ? 0x80 : 0x83], reg: o, rm: rmOf(bits), imm: [rng.below(256)] });
      } else if (kind === 'unary') {
        fl = rng.pick(['inc', 'dec', 'neg', 'not'] as const);
        name = `${fl}${bits}`;
        const ext = { inc: 0, dec: 1, not: 2, neg: 3 }[fl];
        code = encode({ ...sizeEnc(bits), opcode: [fl === 'inc' || fl === 'dec' ? 0xfe + w : 0xf6 + w], reg: ext, rm: rmOf(bits) });
      } else if (kind === 'shift') {
        let ext: number;
        do ext = rng.below(8);
        while (ext === 6);
        fl = SHIFT_OPS[ext] ?? 'shl';
        if (fl === 'rcl' || fl === 'rcr') needs = FLAG_CF;
        count = rng.pick([0, 1, 1, 2, 3, 7, 8, 9, 16, 17, 31, 32, 33, 63, 64]);
        name = `${fl}${bits}`;
        code = encode({ ...sizeEnc(bits), opcode: [0xc0 + w], reg: ext, rm: rmOf(bits), imm: [count] });
      } else if (kind === 'bt' && bits !== 8) {
        const ext = rng.range(4, 7);
        fl = (['bt', 'bts', 'btr', 'btc'] as const)[ext - 4] ?? 'bt';
        name = `${fl}${bits}`;
        code = encode({ ...sizeEnc(bits), opcode: [0x0f, 0xba], reg: ext, rm: rmOf(bits), imm: [rng.below(256)] });
      } else if (kind === 'bsx' && bits !== 8) {
        fl = rng.pick(['bsf', 'bsr'] as const);
        name = `${fl}${bits}`;
        code = encode({ ...sizeEnc(bits), opcode: [0x0f, fl === 'bsf' ? 0xbc : 0xbd], reg: rmOf(bits), rm: rmOf(bits) });
      } else if (kind === 'mul') {
        const ext = rng.pick([4, 5]);
        fl = ext === 4 ? 'mul' : 'imul';
        name = `${fl}${bits}`;
        code = encode({ ...sizeEnc(bits), opcode: [0xf6 + w], reg: ext, rm: rmOf(bits) });
      } else if (kind === 'imul2' && bits !== 8) {
        fl = 'imul';
        name = `imul${bits}/2`;
        code = encode({ ...sizeEnc(bits), opcode: [0x0f, 0xaf], reg: rmOf(bits), rm: rmOf(bits) });
      } else if (kind === 'setcc') {
        const cc = rng.below(16);
        needs = ccFlags(cc);
        name = `set${CC_NAMES[cc]}`;
        code = encode({ byteRegs: true, opcode: [0x0f, 0x90 + cc], reg: 0, rm: rmOf(8) });
      } else if (kind === 'cmovcc' && bits !== 8) {
        const cc = rng.below(16);
        needs = ccFlags(cc);
        name = `cmov${CC_NAMES[cc]}${bits}`;
        code = encode({ ...sizeEnc(bits), opcode: [0x0f, 0x40 + cc], reg: rmOf(bits), rm: rmOf(bits) });
      } else if (kind === 'jcc') {
        const cc = rng.below(16);
        needs = ccFlags(cc);
        name = `j${CC_NAMES[cc]}`;
        code = Uint8Array.of(0x70 + cc, 3, ...INC_EAX_BODY);
        // The INC EAX it may skip defines OF/SF/ZF/AF/PF only on one path: definedness is
        // the intersection of both paths, i.e. unchanged.
        written = 0;
      } else if (kind === 'lahf') {
        needs = FLAG_SF | FLAG_ZF | FLAG_AF | FLAG_PF | FLAG_CF;
        code = Uint8Array.of(0x9f);
      } else if (kind === 'sahf') {
        code = Uint8Array.of(0x9e);
        written = FLAG_SF | FLAG_ZF | FLAG_AF | FLAG_PF | FLAG_CF;
      } else if (kind === 'cf') {
        const op = rng.pick([0xf8, 0xf9, 0xf5]); // CLC, STC, CMC
        if (op === 0xf5) needs = FLAG_CF;
        name = { 0xf8: 'clc', 0xf9: 'stc', 0xf5: 'cmc' }[op] ?? 'clc';
        code = Uint8Array.of(op);
        written = FLAG_CF;
      } else if (kind === 'test') {
        fl = 'test';
        name = `test${bits}`;
        code = encode({ ...sizeEnc(bits), opcode: [0x84 + w], reg: rmOf(bits), rm: rmOf(bits) });
      }
    } catch {
      code = null; // AH..BH together with a REX-only register: pick another instruction
    }
    if (code === null || (needs & ~defined) !== 0) {
      k--;
      continue;
    }
    defined = written !== null ? definedAfter(defined, { written, undefined: 0 }) : definedAfter(defined, flagEffects(fl, bits, count));
    bytes.push(...code);
    names.push(name);
  }
  if (!hot) {
    push(g, st, `chain`, Uint8Array.from(bytes), defined);
  } else {
    // mov ctr, HOT_ITERATIONS; L: chain; dec ctr; jnz L — the block runs often enough for an
    // interpreter's block compiler to kick in (emu compiles after 40 runs).
    let ctr: number;
    do ctr = rng.below(NREGS());
    while (ctr === RSP || ctr === 2 || pool.includes(ctr));
    const body = [...bytes, ...encode({ opsize16: o16flag(32), opcode: [0xff], reg: 1, rm: reg(ctr) })];
    const back = -(body.length + 2);
    if (back < -128) return;
    const code = [...encodeOpReg({ opsize16: o16flag(32), base: 0xb8, r: ctr, imm: immBytes(BigInt(HOT_ITERATIONS), 4) }), ...body, 0x75, back & 0xff];
    // After the loop the DEC's flags: OF, SF, ZF, AF, PF defined; CF as the chain left it.
    defined = definedAfter(defined, { written: FLAGS_STATUS & ~FLAG_CF, undefined: 0 });
    push(g, st, `hot-chain`, Uint8Array.from(code), defined);
  }
  const last = g.out[g.out.length - 1];
  if (last) last.name = `gen/${hot ? 'hot-' : ''}chain(${names.join(' ')}) #${g.out.length - 1}`;
}

/** Iterations of a hot chain: past emu's block-compile threshold (40). */
const HOT_ITERATIONS = 60;

/**
 * Selectors of the Linux process the native harness runs in (mirrored by the emu runner):
 * null (RPL 0/3), kernel code/data (DPL 0), user code 32/64 and data (with RPLs 0..3),
 * empty slots, TSS and LDT system descriptors, beyond the GDT limit, the LDT's 16-bit code
 * and data segments, beyond the LDT limit. (0x7b is left out: its limit is the CPU number.)
 */
const SELECTORS = [0, 3, 0x08, 0x0b, 0x10, 0x13, 0x18, 0x1b, 0x20, 0x23, 0x28, 0x2a, 0x2b, 0x33, 0x31, 0x3b, 0x43, 0x53, 0x63, 0x83, 0xfffb, 0x04, 0x07, 0x0c, 0x0f, 0x17, 0x1f];
/** Segment registers a snippet may load: ES, SS, DS (loading FS/GS would change the harness's TLS base). */
const LOADABLE_SREGS = [0, 2, 3];

/**
 * Segment-register loads and their checks (SDM Vol. 3 §5.4-5.6): MOV Sreg / POP Sreg / LDS / LES
 * with selectors from SELECTORS, read back with MOV r, Sreg, often followed by a memory access
 * through the loaded segment (base, limit, null and type checks), plus PUSH Sreg.
 */
function genSreg(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const sel = rng.chance(0.9) ? rng.pick(SELECTORS) : rng.below(0x10000);
  const sreg = rng.pick(LOADABLE_SREGS);
  const bytes: number[] = [];
  const kind = rng.pick(MODE32 ? (['mov', 'mov', 'pop', 'lxs', 'push'] as const) : (['mov', 'mov', 'push'] as const));
  // Registers: AX carries the selector, CX reads it back, BX addresses memory.
  st.gpr[0] = (rng.u64() & ~0xffffn) | BigInt(sel);
  if (kind === 'mov') {
    bytes.push(0x8e, 0xc0 | (sreg << 3)); // mov sreg, ax
  } else if (kind === 'pop') {
    st.setMem(SNIPPET_DATA_SIZE - 4, 4, BigInt(sel));
    st.gpr[RSP] = BigInt(rspTop() - 4);
    bytes.push(...(o16flag(32) ? [0x66] : []), [0x07, 0x17, 0x1f][LOADABLE_SREGS.indexOf(sreg)] ?? 0x1f); // pop es/ss/ds (32-bit)
  } else if (kind === 'lxs') {
    // les/lds eax, [ebx] (32-bit operand): far pointer at data offset 0x40
    st.setMem(0x40, 4, BigInt(rng.u32()));
    st.setMem(0x44, 2, BigInt(sel));
    st.gpr[3] = BigInt(dataAddr(0x40));
    const ds = rng.chance(0.5);
    bytes.push(...(o16flag(32) ? [0x66] : []), ...(MODE16 ? [0x67] : []), ds ? 0xc5 : 0xc4, 0x03);
    push(g, st, `sreg/${ds ? 'lds' : 'les'}`, Uint8Array.from([...bytes, 0x8c, 0xc1 | ((ds ? 3 : 0) << 3)]), definedFlags('none'));
    return;
  } else {
    // push es/cs/ss/ds/fs/gs (PUSH CS/SS/DS/ES are invalid in 64-bit mode)
    const which = MODE32 ? rng.below(6) : rng.pick([4, 5]);
    const code = which < 4 ? [[0x06, 0x0e, 0x16, 0x1e][which] ?? 0x06] : which === 4 ? [0x0f, 0xa0] : [0x0f, 0xa8];
    push(g, st, 'sreg/push', Uint8Array.from(code), definedFlags('none'));
    return;
  }
  bytes.push(0x8c, 0xc1 | (sreg << 3)); // mov ecx, sreg
  if (rng.chance(0.6)) {
    // Access memory through the loaded segment: ES: / SS: / DS: override, [ebx] (67h in 16-bit code).
    const off = rng.below(SNIPPET_DATA_SIZE - 8);
    st.gpr[3] = BigInt(rng.pick([SNIPPET_DATA_BASE + off, off, 0x10000 + off, 0xffff]));
    const write = rng.chance(0.4);
    bytes.push([0x26, 0x36, 0x3e][LOADABLE_SREGS.indexOf(sreg)] ?? 0x3e, ...(MODE16 ? [0x67] : []), write ? 0x89 : 0x8b, 0x13); // mov [ebx], edx / mov edx, [ebx]
  }
  push(g, st, `sreg/${kind} ${['es', 'cs', 'ss', 'ds'][sreg]}`, Uint8Array.from(bytes), definedFlags('none'));
}

/** Instructions that exist only outside 64-bit mode (32-bit compatibility-mode runs). */
function genLegacy32(g: Gen): void {
  const { rng } = g;
  const st = new State(rng);
  const kind = rng.pick(['incdec', 'incdec', 'bcd', 'bcd', 'aam', 'aad', 'pusha', 'popa', 'into', 'bound', 'op82'] as const);
  if (kind === 'incdec') {
    const r = rng.below(8);
    const dec = rng.chance(0.5);
    const bits = rng.pick([16, 32] as const);
    st.setReg(reg(r), bits, interesting(rng, bits));
    if (r === RSP) st.gpr[RSP] = BigInt(rspTop());
    const code = Uint8Array.from([...(o16flag(bits) ? [0x66] : []), (dec ? 0x48 : 0x40) + r]);
    push(g, st, `${dec ? 'dec' : 'inc'}${bits}/short`, code, definedFlags(dec ? 'dec' : 'inc', bits));
  } else if (kind === 'bcd') {
    const op = rng.pick([0x27, 0x2f, 0x37, 0x3f]);
    const name = { 0x27: 'daa', 0x2f: 'das', 0x37: 'aaa', 0x3f: 'aas' }[op] ?? 'daa';
    st.setReg(reg(0), 16, BigInt(rng.chance(0.5) ? rng.below(0x10000) : (rng.below(10) << 12) | (rng.below(10) << 8) | rng.below(256)));
    // DAA/DAS: OF undefined. AAA/AAS: OF, SF, ZF, PF undefined (SDM "Flags Affected").
    const defined = op === 0x27 || op === 0x2f ? FLAGS_STATUS & ~FLAG_OF : FLAG_CF | FLAG_AF;
    push(g, st, name, Uint8Array.of(op), defined);
  } else if (kind === 'aam' || kind === 'aad') {
    const imm = rng.pick([10, 10, 16, 0, 1, 255, rng.below(256)]);
    st.setReg(reg(0), 16, BigInt(rng.below(0x10000)));
    // AAM/AAD: SF, ZF, PF per AL; OF, AF, CF undefined. AAM 0 is #DE.
    push(g, st, kind, Uint8Array.of(kind === 'aam' ? 0xd4 : 0xd5, imm), FLAG_SF | FLAG_ZF | FLAG_PF);
  } else if (kind === 'pusha' || kind === 'popa') {
    const o16 = rng.chance(0.3);
    if (kind === 'popa') st.gpr[RSP] = BigInt(rspTop() - (o16 ? 16 : 32));
    push(g, st, `${kind}${o16 ? '16' : '32'}`, Uint8Array.from([...(o16flag(o16 ? 16 : 32) ? [0x66] : []), kind === 'pusha' ? 0x60 : 0x61]), definedFlags('none'));
  } else if (kind === 'into') {
    push(g, st, 'into', Uint8Array.of(0xce), definedFlags('none'));
  } else if (kind === 'bound') {
    const o16 = rng.chance(0.3);
    const bits = o16 ? 16 : 32;
    const off = rng.below(SNIPPET_DATA_SIZE - 16);
    const m = memAt(st, rng, off, true);
    const lo = interesting(rng, bits);
    const hi = rng.chance(0.7) ? BigInt.asUintN(bits, lo + BigInt(rng.below(1000))) : interesting(rng, bits);
    st.setMem(off, bits / 8, lo);
    st.setMem(off + bits / 8, bits / 8, hi);
    const r = pickReg(st, rng, bits, 'legacy', true).op;
    const lo_s = BigInt.asIntN(bits, lo);
    st.setReg(r, bits, rng.chance(0.6) ? BigInt.asUintN(bits, lo_s + BigInt(rng.range(-3, 1003))) : interesting(rng, bits));
    push(g, st, `bound${bits}`, encode({ opsize16: o16flag(bits), opcode: [0x62], reg: r, rm: m }), definedFlags('none'));
  } else {
    // 82 /n ib: an alias of 80 /n outside 64-bit mode.
    const o = rng.below(8);
    const { rm } = rmOperand(st, rng, 8, 'legacy', interesting(rng, 8));
    push(g, st, `${ALU_OPS[o] ?? 'add'}8/82`, encode({ byteRegs: true, opcode: [0x82], reg: o, rm, imm: [rng.below(256)] }), definedFlags(ALU_OPS[o] ?? 'add', 8));
  }
}

/** Generator families and their relative weights; `feature`: only when the CPU model under test offers it. */
export const FAMILIES: readonly { name: string; weight: number; gen: (g: Gen) => void; feature?: string; only?: 32 | 64 }[] = [
  { name: 'alu', weight: 220, gen: genAlu },
  { name: 'test', weight: 25, gen: genTest },
  { name: 'unary', weight: 60, gen: genUnary },
  { name: 'shift', weight: 160, gen: genShift },
  { name: 'shxd', weight: 60, gen: genShxd },
  { name: 'muldiv', weight: 120, gen: genMulDiv },
  { name: 'imul', weight: 40, gen: genImulN },
  { name: 'bt', weight: 50, gen: genBt },
  { name: 'bsx', weight: 20, gen: genBsx },
  { name: 'movx', weight: 30, gen: genMovx },
  { name: 'xchg', weight: 50, gen: genXchgFamily },
  { name: 'bswap', weight: 6, gen: genBswap },
  { name: 'cc', weight: 40, gen: genCc },
  { name: 'convert', weight: 12, gen: genConvert },
  { name: 'lahf', weight: 8, gen: genLahfSahf },
  { name: 'lea', weight: 50, gen: genLea },
  { name: 'mov', weight: 20, gen: genMov },
  { name: 'string', weight: 80, gen: genString },
  { name: 'jcc', weight: 30, gen: genJcc },
  { name: 'loop', weight: 12, gen: genLoop },
  { name: 'stack', weight: 40, gen: genStack },
  { name: 'xlat', weight: 4, gen: genXlat },
  { name: 'cmpxchg8b', weight: 15, gen: genCmpxchg8b, feature: 'cx16' },
  { name: 'count', weight: 20, gen: genCount, feature: 'popcnt' },
  { name: 'movbe', weight: 10, gen: genMovbe, feature: 'movbe' },
  { name: 'legacy32', weight: 120, gen: genLegacy32, only: 32 },
  { name: 'chain', weight: 150, gen: (g) => genChain(g) },
  { name: 'hot-chain', weight: 40, gen: (g) => genChain(g, true) },
  { name: 'sreg', weight: 40, gen: genSreg },
];

/**
 * Generates `count` cases from `seed`, families interleaved by weight. Deterministic for a
 * given seed and feature set. Families needing a CPUID feature run only when `features`
 * names it (pass the features both the host and the emulated CPU model offer). `mode` 32
 * generates 32-bit compatibility-mode cases (plus the instructions only that mode has).
 */
export function generateCases(seed: number, count: number, features: ReadonlySet<string> = new Set(), mode: 64 | 32 | 16 = 64): SnippetCase[] {
  MODE32 = mode !== 64;
  MODE16 = mode === 16;
  setEncoderMode32(MODE32);
  try {
    return generate(seed, count, features, mode);
  } finally {
    MODE32 = false;
    MODE16 = false;
    setEncoderMode32(false);
  }
}

function generate(seed: number, count: number, features: ReadonlySet<string>, mode: 64 | 32 | 16): SnippetCase[] {
  const rng = new Prng(seed);
  const g: Gen = { rng, out: [], features };
  const families = FAMILIES.filter((f) => (f.feature === undefined || features.has(f.feature)) && (f.only === undefined || f.only === (mode === 64 ? 64 : 32)));
  const total = families.reduce((s, f) => s + f.weight, 0);
  while (g.out.length < count) {
    let pick = rng.below(total);
    for (const f of families) {
      pick -= f.weight;
      if (pick < 0) {
        const before = g.out.length;
        f.gen(g);
        const c = g.out[g.out.length - 1];
        if (c !== undefined && g.out.length > before && rng.chance(PREFIX_FUZZ_RATE) && !NO_FUZZ.test(c.cls)) fuzzPrefixes(g, c);
        break;
      }
    }
  }
  return g.out;
}

const PREFIX_FUZZ_RATE = 0.03;
/**
 * Classes left alone by the prefix fuzzer: SHLD/SHRD (66h can make the count exceed the
 * operand size: undefined result), loops whose counter set-up it would change, and string
 * instructions (67h moves both operands to unmapped low memory, and which of the two faults
 * first is not architectural).
 */
const NO_FUZZ = /^(shld|shrd|hot-chain|rep|repe|repne|movs|cmps|stos|lods|scas|enter)/;

const LEGACY_PREFIXES = new Set([0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65]);

/**
 * Prefix fuzzing: 1-3 random legacy prefixes in front of a generated case's first
 * instruction (LOCK, ES/CS/SS/DS), whatever they turn it into: #UD for LOCK where it is not
 * allowed, a segment override (real outside 64-bit mode), an ignored prefix. Left out:
 * 66h/67h and F2/F3 (see below) and FS/GS overrides (the native FS base is the harness's TLS).
 */
function fuzzPrefixes(g: Gen, c: SnippetCase): void {
  const { rng } = g;
  let i = 0;
  while (i < c.code.length && (LEGACY_PREFIXES.has(c.code[i]!) || (!MODE32 && (c.code[i]! & 0xf0) === 0x40))) i++;
  const twoByte = c.code[i] === 0x0f;
  // Only prefixes that keep the instruction's length: 66h/67h can shrink an immediate or
  // displacement and expose its bytes as code, and random bytes run natively could be
  // SYSCALL or INT 80h with random registers. (Operand and address sizes are covered by the
  // generator's explicit forms.)
  // Neither F2/F3: on non-string instructions the SDM calls them reserved, and CPUs do differ
  // (this AMD part runs F3 LOOPNE as LOOPE and F2 LOOPE as LOOPNE).
  void twoByte;
  const choices = [0xf0, 0xf0, 0x26, 0x2e, 0x36, 0x3e];
  const n = rng.range(1, 3);
  const pfx: number[] = [];
  for (let k = 0; k < n; k++) pfx.push(rng.pick(choices));
  c.code = Uint8Array.from([...pfx, ...c.code]);
  c.cls += '/pfx';
  c.name = c.name.replace(/ #/, '/pfx #');
  // Another operand size changes what is defined: compare only what every size defines.
  c.flagsMask &= FLAG_CF | FLAG_ZF | FLAG_SF | FLAG_PF | FLAG_DF | (c.flagsMask & (FLAG_OF | FLAG_AF));
}
