/**
 * Seeded random x87 and scalar-SSE cases for the differential tests, biased to the edges:
 * signed zeros, denormals and pseudo-denormals, the smallest and largest normals, infinities,
 * quiet/signalling NaNs with payloads, the real indefinite, unnormals, pseudo-NaNs and
 * pseudo-infinities, integers near the conversion limits, rounding ties of every precision,
 * nearly cancelling operands; every rounding mode and precision control; masked and unmasked
 * exceptions, empty and full stacks, pending exceptions.
 */
import { Prng } from './prng.js';
import { fsaveImage, type F80Val, type FpuCase } from './x87-case.js';

export type Category = 'exact' | 'transcendental' | 'sse';

export interface GenCase {
  c: FpuCase;
  /** Short description of the instruction (for reports). */
  name: string;
  category: Category;
}

const BYTE = (n: number): number => n & 0xff;

// ---------------------------------------------------------------- values

function sig(r: Prng): [number, number] {
  switch (r.below(8)) {
    case 0:
      return [0x80000000, 0];
    case 1:
      return [0xffffffff, 0xffffffff];
    case 2: {
      // One bit beyond a precision boundary (24/53/64) set, maybe a tie.
      const b = r.pick([23, 24, 25, 52, 53, 54, 62, 63]);
      let hi = 0x80000000 | (r.chance(0.5) ? r.u32() & 0x7fffff00 : 0);
      let lo = 0;
      if (b < 32) hi |= 1 << (31 - b);
      else lo |= 1 << (63 - b);
      if (r.chance(0.3)) lo |= 1;
      return [hi >>> 0, lo >>> 0];
    }
    case 3:
      return [(0x80000000 | (r.u32() & 0xffffff00)) >>> 0, 0]; // a binary32 significand
    case 4:
      return [(0x80000000 | r.u32()) >>> 0, (r.u32() & 0xfffff800) >>> 0]; // binary64
    case 5:
      return [(0xffffffff - r.below(4)) >>> 0, (0xffffffff - r.below(4) * 0x800) >>> 0];
    default:
      return [(0x80000000 | r.u32()) >>> 0, r.u32()];
  }
}

/** A random 80-bit register value, edges included. */
export function randF80(r: Prng, near?: F80Val): F80Val {
  const s = r.chance(0.5) ? 0x8000 : 0;
  if (near !== undefined && r.chance(0.35)) {
    // Related to another operand: same or close exponent, close significand.
    const e = (near.se & 0x7fff) + r.range(-3, 3) + (r.chance(0.2) ? r.range(-70, 70) : 0);
    if (e > 0 && e < 0x7fff) {
      let lo = (near.lo + r.range(-3, 3)) >>> 0;
      if (r.chance(0.3)) lo = r.u32();
      return { se: s | e, hi: (near.hi | 0x80000000) >>> 0, lo };
    }
  }
  const k = r.below(40);
  if (k < 3) return { se: s, hi: 0, lo: 0 };
  if (k < 5) {
    const [hi, lo] = sig(r);
    return { se: s, hi: hi >>> (1 + r.below(31)), lo: r.chance(0.5) ? lo : r.u32() }; // denormal
  }
  if (k < 6) {
    const [hi, lo] = sig(r);
    return { se: s, hi, lo }; // pseudo-denormal
  }
  if (k < 8) return { se: s | 0x7fff, hi: 0x80000000, lo: 0 }; // infinity
  if (k < 10) {
    // NaN: quiet or signalling, payload
    const q = r.chance(0.5) ? 0x40000000 : 0;
    let hi = (0x80000000 | q | (r.u32() & 0x3fffffff)) >>> 0;
    let lo = r.chance(0.5) ? r.u32() : 0;
    if (q === 0 && (hi & 0x3fffffff) === 0 && lo === 0) lo = 1;
    if (r.chance(0.2)) {
      hi = (0x80000000 | q | (r.u32() & 0x3fffff00)) >>> 0;
      lo = 0;
    }
    return { se: s | 0x7fff, hi, lo };
  }
  if (k < 11) return { se: 0xffff, hi: 0xc0000000, lo: 0 }; // real indefinite
  if (k < 12) {
    // Unsupported: unnormal, pseudo-infinity, pseudo-NaN
    const e = r.chance(0.5) ? 0x7fff : r.range(1, 0x7ffe);
    return { se: s | e, hi: r.u32() & 0x7fffffff, lo: r.u32() };
  }
  if (k < 14) {
    // Smallest / largest normal, and their neighbours.
    const big = r.chance(0.5);
    return { se: s | (big ? 0x7ffe : 1), hi: big ? 0xffffffff : 0x80000000, lo: big ? (0xffffffff - r.below(2)) >>> 0 : r.below(2) };
  }
  if (k < 18) {
    // Near the binary32/binary64 limits (overflow/underflow on stores, denormal results).
    const e = r.pick([127, 128, 126, -126, -127, -149, -150, 1023, 1024, -1022, -1023, -1074, -1075, -1080]) + 16383 + r.range(-1, 1);
    const [hi, lo] = sig(r);
    return { se: s | e, hi, lo };
  }
  if (k < 22) {
    // Integers near the conversion limits, halves, small integers.
    const e = r.pick([0, 1, 2, 14, 15, 16, 30, 31, 32, 59, 62, 63, 64]) + 16383;
    const [hi, lo] = r.chance(0.5) ? sig(r) : [(0x80000000 | (r.u32() & 0x7fffffff)) >>> 0, 0];
    return { se: s | e, hi, lo };
  }
  if (k < 25) {
    const e = r.range(-2, 2) + 16383;
    const [hi, lo] = sig(r);
    return { se: s | e, hi, lo };
  }
  if (k < 28) {
    // Very large and very small exponents (FSCALE, FPREM gaps, products that overflow).
    const e = r.chance(0.5) ? r.range(16383 + 8000, 0x7ffe) : r.range(1, 16383 - 8000);
    const [hi, lo] = sig(r);
    return { se: s | e, hi, lo };
  }
  const e = 16383 + r.range(-80, 80);
  const [hi, lo] = sig(r);
  return { se: s | e, hi, lo };
}

function randF64(r: Prng): [number, number] {
  const s = r.chance(0.5) ? 0x80000000 : 0;
  const k = r.below(20);
  if (k < 2) return [0, s];
  if (k < 4) return [r.u32(), (s | (r.u32() & 0xfffff)) >>> 0]; // denormal
  if (k < 5) return [0, (s | 0x7ff00000) >>> 0];
  if (k < 7) return [r.chance(0.5) ? r.u32() : 0, (s | 0x7ff00000 | (r.chance(0.5) ? 0x80000 : 0) | (r.u32() & 0x7ffff) | 1) >>> 0];
  if (k < 9) {
    const e = r.pick([1, 2, 0x7fe, 0x7fd, 0x3ff, 0x3fe, 0x43e, 0x41e, 0x40e, 0x433, 0x434]);
    return [r.chance(0.5) ? r.u32() : (r.chance(0.5) ? 0 : 0xffffffff), (s | (e << 20) | (r.u32() & 0xfffff)) >>> 0];
  }
  const e = r.chance(0.8) ? 0x3ff + r.range(-60, 60) : r.range(1, 0x7fe);
  return [r.chance(0.2) ? (r.u32() & 0xfffff000) >>> 0 : r.u32(), (s | (e << 20) | (r.u32() & 0xfffff)) >>> 0];
}

function randF32(r: Prng): number {
  const s = r.chance(0.5) ? 0x80000000 : 0;
  const k = r.below(20);
  if (k < 2) return s;
  if (k < 4) return (s | (r.u32() & 0x7fffff)) >>> 0;
  if (k < 5) return (s | 0x7f800000) >>> 0;
  if (k < 7) return (s | 0x7f800000 | (r.chance(0.5) ? 0x400000 : 0) | (r.u32() & 0x3fffff) | 1) >>> 0;
  if (k < 9) {
    const e = r.pick([1, 2, 0xfe, 0xfd, 0x7f, 0x7e, 0x9e, 0x8e, 0xbe, 0x96, 0x97]);
    return (s | (e << 23) | (r.u32() & 0x7fffff)) >>> 0;
  }
  const e = r.chance(0.8) ? 0x7f + r.range(-30, 30) : r.range(1, 0xfe);
  return (s | (e << 23) | (r.u32() & 0x7fffff)) >>> 0;
}

function randInt(r: Prng, bits: number): bigint {
  const lim = 1n << BigInt(bits - 1);
  switch (r.below(6)) {
    case 0:
      return BigInt(r.range(-2, 2));
    case 1:
      return r.chance(0.5) ? lim - 1n - BigInt(r.below(3)) : -lim + BigInt(r.below(3));
    case 2:
      return BigInt.asIntN(bits, r.u64());
    default:
      return BigInt.asIntN(bits, r.u64() >> BigInt(r.below(64)));
  }
}

// ---------------------------------------------------------------- state

function putU32(b: Uint8Array, o: number, v: number): void {
  for (let i = 0; i < 4; i++) b[o + i] = BYTE(v >>> (8 * i));
}

function putInt(b: Uint8Array, o: number, v: bigint, bytes: number): void {
  const u = BigInt.asUintN(bytes * 8, v);
  for (let i = 0; i < bytes; i++) b[o + i] = Number((u >> BigInt(8 * i)) & 0xffn);
}

function putF80(b: Uint8Array, o: number, v: F80Val): void {
  putU32(b, o, v.lo);
  putU32(b, o + 4, v.hi);
  b[o + 8] = BYTE(v.se);
  b[o + 9] = BYTE(v.se >>> 8);
}

interface StateOpts {
  /** Register stack contents: ST(i) values in order. */
  st: F80Val[];
  tw: number;
  cw: number;
  sw: number;
}

function randState(r: Prng, nonEmpty: number): StateOpts {
  const top = r.below(8);
  const st: F80Val[] = [];
  let prev: F80Val | undefined;
  for (let i = 0; i < 8; i++) {
    const v = randF80(r, prev);
    st.push(v);
    prev = v;
  }
  // Tags by physical register; ST(i) = R[(top + i) & 7]. Mostly the first `nonEmpty` ST are valid.
  let tw = 0;
  for (let i = 0; i < 8; i++) {
    let empty = i >= nonEmpty;
    if (r.chance(0.04)) empty = !empty;
    if (empty) tw |= 3 << (2 * ((top + i) & 7));
  }
  if (r.chance(0.03)) tw = 0; // full stack
  let masks = 0x3f;
  if (r.chance(0.25)) masks = r.u32() & 0x3f;
  const pc = r.below(4);
  const rc = r.below(4);
  const cw = masks | (pc << 8) | (rc << 10) | (r.chance(0.1) ? 0x1000 : 0) | 0x40;
  let sticky = r.chance(0.3) ? r.u32() & 0x7f : 0;
  // Keep most cases free of a pending unmasked exception (which #MF before the instruction).
  if (!r.chance(0.04)) sticky &= masks | 0x40;
  const sw = (top << 11) | (r.u32() & 0x4700) | sticky;
  return { st, tw, cw, sw };
}

function image(o: StateOpts, r: Prng): Uint8Array {
  const img = fsaveImage(o.cw, o.sw, o.tw, o.st);
  // Random last-instruction and last-data pointers, opcode, selectors.
  putU32(img, 12, r.u32());
  putU32(img, 16, (r.u32() & 0x07ff0000) | (r.u32() & 0xffff));
  putU32(img, 20, r.u32());
  putU32(img, 24, r.u32() & 0xffff);
  return img;
}

// ---------------------------------------------------------------- instructions

type MemKind = 'none' | 'f32' | 'f64' | 'i16' | 'i32' | 'i64' | 'f80' | 'bcd' | 'cw' | 'env' | 'save' | 'out';

interface Template {
  name: string;
  code: number[];
  mem: MemKind;
  /** ST registers that should be non-empty (typical). */
  uses: number;
  category: Category;
}

const MEM = (reg: number): number => (reg << 3) | 7; // [rdi]

const ARITH = ['fadd', 'fmul', 'fcom', 'fcomp', 'fsub', 'fsubr', 'fdiv', 'fdivr'];

function templates(): Template[] {
  const t: Template[] = [];
  const add = (name: string, code: number[], mem: MemKind, uses: number, category: Category = 'exact'): void => {
    t.push({ name, code, mem, uses, category });
  };
  for (let reg = 0; reg < 8; reg++) {
    add(`${ARITH[reg]} m32fp`, [0xd8, MEM(reg)], 'f32', 1);
    add(`${ARITH[reg]} m64fp`, [0xdc, MEM(reg)], 'f64', 1);
    add(`fi${ARITH[reg]!.slice(1)} m32int`, [0xda, MEM(reg)], 'i32', 1);
    add(`fi${ARITH[reg]!.slice(1)} m16int`, [0xde, MEM(reg)], 'i16', 1);
  }
  add('fld m32fp', [0xd9, MEM(0)], 'f32', 0);
  add('fst m32fp', [0xd9, MEM(2)], 'out', 1);
  add('fstp m32fp', [0xd9, MEM(3)], 'out', 1);
  add('fldenv', [0xd9, MEM(4)], 'env', 0);
  add('fldenv16', [0x66, 0xd9, MEM(4)], 'env', 0);
  add('fldcw', [0xd9, MEM(5)], 'cw', 0);
  add('fnstenv', [0xd9, MEM(6)], 'out', 2);
  add('fnstenv16', [0x66, 0xd9, MEM(6)], 'out', 2);
  add('fnstcw', [0xd9, MEM(7)], 'out', 0);
  add('fild m32int', [0xdb, MEM(0)], 'i32', 0);
  add('fisttp m32int', [0xdb, MEM(1)], 'out', 1);
  add('fist m32int', [0xdb, MEM(2)], 'out', 1);
  add('fistp m32int', [0xdb, MEM(3)], 'out', 1);
  add('fld m80fp', [0xdb, MEM(5)], 'f80', 0);
  add('fstp m80fp', [0xdb, MEM(7)], 'out', 1);
  add('fld m64fp', [0xdd, MEM(0)], 'f64', 0);
  add('fisttp m64int', [0xdd, MEM(1)], 'out', 1);
  add('fst m64fp', [0xdd, MEM(2)], 'out', 1);
  add('fstp m64fp', [0xdd, MEM(3)], 'out', 1);
  add('frstor', [0xdd, MEM(4)], 'save', 0);
  add('frstor16', [0x66, 0xdd, MEM(4)], 'save', 0);
  add('fnsave', [0xdd, MEM(6)], 'out', 3);
  add('fnsave16', [0x66, 0xdd, MEM(6)], 'out', 3);
  add('fnstsw m16', [0xdd, MEM(7)], 'out', 0);
  add('fild m16int', [0xdf, MEM(0)], 'i16', 0);
  add('fisttp m16int', [0xdf, MEM(1)], 'out', 1);
  add('fist m16int', [0xdf, MEM(2)], 'out', 1);
  add('fistp m16int', [0xdf, MEM(3)], 'out', 1);
  add('fbld', [0xdf, MEM(4)], 'bcd', 0);
  add('fild m64int', [0xdf, MEM(5)], 'i64', 0);
  add('fbstp', [0xdf, MEM(6)], 'out', 1);
  add('fistp m64int', [0xdf, MEM(7)], 'out', 1);
  // Register forms: every valid encoding (invalid ones too, rarely, for #UD).
  const TRANS = new Set([0xf0, 0xf1, 0xf2, 0xf3, 0xf9, 0xfb, 0xfe, 0xff]);
  for (let esc = 0xd8; esc <= 0xdf; esc++) {
    for (let m = 0xc0; m <= 0xff; m++) {
      const trans = esc === 0xd9 && TRANS.has(m);
      add(`${esc.toString(16)} ${m.toString(16)}`, [esc, m], 'none', 2, trans ? 'transcendental' : 'exact');
    }
  }
  add('fwait', [0x9b], 'none', 0);
  return t;
}

const TEMPLATES = templates();
const TRANS_TEMPLATES = TEMPLATES.filter((x) => x.category === 'transcendental');
const REG_ARITH = TEMPLATES.filter((x) => x.mem === 'none' && x.category === 'exact');
const MEM_TEMPLATES = TEMPLATES.filter((x) => x.mem !== 'none');

function fillMem(r: Prng, kind: MemKind, mem: Uint8Array, st0: F80Val | undefined): void {
  for (let i = 0; i < mem.length; i++) mem[i] = r.u32() & 0xff;
  switch (kind) {
    case 'f32':
      if (st0 && r.chance(0.2)) {
        // Close to ST(0) rounded to binary32.
        const e = (st0.se & 0x7fff) - 16383 + 127;
        if (e > 0 && e < 255) putU32(mem, 0, ((st0.se & 0x8000) << 16) | (e << 23) | ((st0.hi >>> 8) & 0x7fffff));
        else putU32(mem, 0, randF32(r));
      } else putU32(mem, 0, randF32(r));
      return;
    case 'f64': {
      const [lo, hi] = randF64(r);
      putU32(mem, 0, lo);
      putU32(mem, 4, hi);
      return;
    }
    case 'i16':
      putInt(mem, 0, randInt(r, 16), 2);
      return;
    case 'i32':
      putInt(mem, 0, randInt(r, 32), 4);
      return;
    case 'i64':
      putInt(mem, 0, randInt(r, 64), 8);
      return;
    case 'f80':
      putF80(mem, 0, randF80(r));
      return;
    case 'bcd': {
      for (let i = 0; i < 9; i++) {
        const lo = r.chance(0.97) ? r.below(10) : r.below(16);
        const hi = r.chance(0.97) ? r.below(10) : r.below(16);
        mem[i] = (hi << 4) | lo;
      }
      mem[9] = r.chance(0.5) ? 0x80 : 0;
      if (r.chance(0.1)) mem[9] = r.u32() & 0xff;
      if (r.chance(0.1)) mem.fill(0, 0, 9);
      return;
    }
    case 'cw': {
      let v = r.u32() & 0xffff;
      if (r.chance(0.6)) v = (v & 0x0f3f) | 0x40;
      mem[0] = v & 0xff;
      mem[1] = v >>> 8;
      return;
    }
    case 'env':
    case 'save': {
      // A plausible environment (often what FNSTENV/FNSAVE would have stored), then registers.
      const o = randState(r, r.below(9));
      const img = image(o, r);
      mem.set(img.subarray(0, 108));
      if (r.chance(0.3)) mem.set(r.bytes(28), 0);
      return;
    }
    default:
      return;
  }
}

function randRflags(r: Prng): number {
  return 0x2 | (r.u32() & 0x8d5);
}

/** One random x87 case of the given category. */
function x87Case(r: Prng, category: 'exact' | 'transcendental'): GenCase {
  let t: Template;
  if (category === 'transcendental') t = r.pick(TRANS_TEMPLATES);
  else t = r.chance(0.45) ? r.pick(MEM_TEMPLATES) : r.pick(REG_ARITH);
  const o = randState(r, Math.max(t.uses, r.below(9)));
  if (category === 'transcendental') transcendentalOperands(r, t.code[1]!, o);
  const mem = new Uint8Array(128);
  fillMem(r, t.mem, mem, o.st[0]);
  const c: FpuCase = { code: Uint8Array.from(t.code), fsave: image(o, r), mxcsr: 0x1f80, rflags: randRflags(r), rax: r.u32(), xmm: new Uint8Array(32), mem };
  return { c, name: t.name, category };
}

/** Keeps most transcendental operands inside each instruction's defined domain. */
function transcendentalOperands(r: Prng, op: number, o: StateOpts): void {
  if (!r.chance(0.85)) return;
  const v = (e: number): F80Val => {
    const [hi, lo] = sig(r);
    return { se: (r.chance(0.5) ? 0x8000 : 0) | (16383 + e), hi, lo };
  };
  switch (op) {
    case 0xf0: // F2XM1: |x| <= 1
      o.st[0] = v(-r.below(r.chance(0.2) ? 70 : 10) - 1);
      break;
    case 0xf9: // FYL2XP1: |x| < 1 - sqrt(2)/2
      o.st[0] = v(-r.below(r.chance(0.2) ? 70 : 10) - 2);
      break;
    case 0xf1: // FYL2X: x > 0
      o.st[0] = v(r.range(-200, 200));
      o.st[0].se &= 0x7fff;
      if (r.chance(0.2)) o.st[0] = { se: 16383 + r.range(-1, 0), hi: r.chance(0.5) ? 0xffffffff : 0x80000000, lo: r.chance(0.5) ? r.below(4) : (0xffffffff - r.below(4)) >>> 0 };
      o.st[1] = v(r.range(-30, 30));
      break;
    case 0xf3: // FPATAN
      o.st[0] = v(r.range(-70, 70));
      o.st[1] = v(r.range(-70, 70));
      break;
    default: // FSIN FCOS FSINCOS FPTAN: |x| < 2^63, some near multiples of pi/2
      o.st[0] = v(r.chance(0.7) ? r.range(-20, 5) : r.range(-70, 63));
      if (r.chance(0.15)) {
        // Near k * pi/2 for a small k.
        const k = BigInt(r.range(1, 200));
        const p = (0x3243f6a8885a308d3n * k) >> 1n; // k * P/2 in units of 2^-64
        const n = p.toString(2).length;
        const m = p >> BigInt(n - 64);
        const mm = m + BigInt(r.range(-3, 3));
        o.st[0] = { se: (r.chance(0.5) ? 0x8000 : 0) | (16383 + n - 65), hi: Number(mm >> 32n), lo: Number(mm & 0xffffffffn) };
      }
  }
}

// ---------------------------------------------------------------- SSE

function sseCase(r: Prng): GenCase {
  const dbl = r.chance(0.5);
  const ops: [string, number[], number][] = [
    ['add', [0x58], 0], ['mul', [0x59], 0], ['sub', [0x5c], 0], ['div', [0x5e], 0], ['min', [0x5d], 0], ['max', [0x5f], 0], ['sqrt', [0x51], 0],
    ['cvt', [0x5a], 0], ['comis', [0x2f], 1], ['ucomis', [0x2e], 1], ['cmp', [0xc2], 2], ['cvt2si', [0x2d], 3], ['cvtt2si', [0x2c], 3],
    ['cvtsi2', [0x2a], 4], ['round', [0x3a], 5],
  ];
  const [name, opc, kind] = r.pick(ops);
  const memSrc = kind === 4 || r.chance(0.3);
  const modrm = memSrc ? 0x07 : 0xc1;
  let code: number[];
  const rexW = (kind === 3 || kind === 4) && r.chance(0.5);
  if (kind === 1) code = dbl ? [0x66, 0x0f, opc[0]!, modrm] : [0x0f, opc[0]!, modrm];
  else if (kind === 5) code = [0x66, 0x0f, 0x3a, dbl ? 0x0b : 0x0a, modrm, r.below(16)];
  else {
    code = [dbl ? 0xf2 : 0xf3];
    if (rexW) code.push(0x48);
    code.push(0x0f, opc[0]!, modrm);
    if (kind === 2) code.push(r.below(8));
  }
  const xmm = new Uint8Array(32);
  const mem = new Uint8Array(128);
  for (let i = 0; i < 32; i++) xmm[i] = r.u32() & 0xff;
  for (let i = 0; i < 128; i++) mem[i] = r.u32() & 0xff;
  const put = (b: Uint8Array, o: number, srcDbl: boolean): void => {
    if (srcDbl) {
      const [lo, hi] = randF64(r);
      putU32(b, o, lo);
      putU32(b, o + 4, hi);
    } else putU32(b, o, randF32(r));
  };
  // cvtsd2ss reads a double source; cvtss2sd a single.
  put(xmm, 0, dbl);
  put(xmm, 16, dbl);
  put(mem, 0, dbl);
  if (kind === 4) putInt(mem, 0, randInt(r, rexW ? 64 : 32), 8);
  let mxcsr = 0x1f80;
  if (r.chance(0.3)) mxcsr = (r.u32() & 0x1f80) | 0x0000;
  mxcsr |= r.below(4) << 13;
  if (r.chance(0.2)) mxcsr |= 0x8000;
  if (r.chance(0.2)) mxcsr |= 0x40;
  if (r.chance(0.3)) mxcsr |= r.u32() & 0x3f;
  const c: FpuCase = { code: Uint8Array.from(code), fsave: fsaveImage(0x37f, 0, 0xffff, []), mxcsr, rflags: randRflags(r), rax: r.u32(), xmm, mem };
  return { c, name: `${name}${kind === 1 ? (dbl ? 'sd' : 'ss') : dbl ? 'sd' : 'ss'}${rexW ? '/64' : ''}`, category: 'sse' };
}

/** n cases: mostly exact x87, a share of transcendentals and scalar SSE. */
export function generate(seed: number, n: number): GenCase[] {
  const r = new Prng(seed);
  const out: GenCase[] = [];
  for (let i = 0; i < n; i++) {
    const k = r.below(100);
    if (k < 12) out.push(x87Case(r, 'transcendental'));
    else if (k < 30) out.push(sseCase(r));
    else out.push(x87Case(r, 'exact'));
  }
  return out;
}
