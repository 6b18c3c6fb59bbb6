/**
 * Seeded random cases for the SSE-family instructions (simd-specs.ts): one instruction per
 * case, every XMM register and MXCSR loaded from the case's FXSAVE image, operands biased
 * to lane edges (0, -1, signed/unsigned limits, single bits, bytes 0x00/0x7f/0x80/0xff),
 * shift counts around the lane width, strings with nulls and repeated characters for the
 * PCMPxSTRx family, register and memory forms with aligned and misaligned addresses.
 */
import { FLAGS_STATUS, SNIPPET_DATA_BASE, SNIPPET_DATA_SIZE, SNIPPET_DEFAULT_RSP } from '../../src/cpu/emu/testing/snippet-case.js';
import { Prng } from './prng.js';
import { defaultFx, fxXmm, setFxMxcsr, type FxCase } from './simd-case.js';
import type { SimdSpec } from './simd-specs.js';
import { encode, reg, setEncoderMode32, type MemOperand, type RmOperand } from './x86-encoder.js';

export interface SimdGenCase extends FxCase {
  spec: SimdSpec;
  /** ModRM.reg operand (XMM or GPR number). */
  d: number;
  /** ModRM.rm register operand, or -1 for a memory operand. */
  s: number;
  /** Data-area offset of the memory operand. */
  memOff: number;
  imm: number;
  /** REX.W was set (PCMPESTRx: 64-bit lengths; CRC32: 64-bit destination). */
  w: boolean;
}

const RSP = 4;

/** One edge-biased lane of `w` bytes, written little-endian at out[o..o+w). */
function lane(rng: Prng, out: Uint8Array, o: number, w: number): void {
  const k = rng.below(14);
  for (let i = 0; i < w; i++) {
    let b: number;
    switch (k) {
      case 0: b = 0; break;
      case 1: b = 0xff; break;
      case 2: b = i === w - 1 ? 0x80 : 0; break; // signed min
      case 3: b = i === w - 1 ? 0x7f : 0xff; break; // signed max
      case 4: b = i === 0 ? 1 : 0; break;
      case 5: b = i === 0 ? rng.below(20) : 0; break;
      case 6: b = i === 0 ? 0xff - rng.below(3) : 0xff; break; // -1, -2, -3
      case 7: b = rng.pick([0, 0x7f, 0x80, 0xff, 1, 0xfe, 0x81]); break;
      case 8: b = i === w - 1 ? 0x80 : i === 0 ? 1 : 0; break; // min + 1
      default: b = rng.u32() & 0xff;
    }
    out[o + i] = b;
  }
}

function fillEdges(rng: Prng, out: Uint8Array, w: number): void {
  for (let o = 0; o + w <= out.length; o += w) lane(rng, out, o, w);
}

/** IEEE layout of a format: exponent bits and total bits. */
const F32 = { e: 8, m: 23 };
const F64 = { e: 11, m: 52 };

/** Bits of an edge-biased float of the format (sign, exponent, mantissa) as a bigint. */
function floatBits(rng: Prng, size: 4 | 8): bigint {
  const f = size === 4 ? F32 : F64;
  const M = BigInt(f.m);
  const emax = (1n << BigInt(f.e)) - 1n;
  const bias = emax >> 1n;
  const mant = (): bigint => (size === 4 ? BigInt(rng.u32() & 0x7fffff) : rng.u64() & ((1n << 52n) - 1n));
  const sign = rng.chance(0.5) ? 1n << BigInt(size * 8 - 1) : 0n;
  const pack = (e: bigint, m: bigint): bigint => sign | (e << M) | m;
  switch (rng.below(16)) {
    case 0: return pack(0n, 0n);
    case 1: return pack(0n, rng.pick([1n, (1n << M) - 1n, mant() || 1n, 1n << (M - 1n)]));
    case 2: return pack(1n, rng.chance(0.5) ? 0n : mant());
    case 3: return pack(emax - 1n, rng.chance(0.5) ? (1n << M) - 1n : mant());
    case 4: return pack(emax, 0n);
    case 5: return pack(emax, (1n << (M - 1n)) | (rng.chance(0.3) ? 0n : mant()));
    case 6: return pack(emax, (mant() & ((1n << (M - 1n)) - 1n)) || 1n); // signalling NaN
    case 7: return pack(bias + BigInt(rng.range(-1, 1)), rng.chance(0.6) ? 0n : 1n << (M - 1n));
    case 8: {
      // integer conversion limits: around 2^31 and 2^63 (and 2^15, 2^32)
      const p = BigInt(rng.pick([15, 16, 30, 31, 32, 62, 63, 64]));
      const m = rng.pick([0n, 1n, (1n << M) - 1n, mant()]);
      return pack(bias + p + BigInt(rng.range(-1, 0)), m);
    }
    case 9: {
      // halfway and near-halfway values: n + 0.5 for small n, ties in every rounding mode
      const e = bias + BigInt(rng.range(0, 6));
      const frac = rng.pick([1n << (M - 1n), (1n << (M - 1n)) + 1n, (1n << (M - 1n)) - 1n, 3n << (M - 2n)]);
      return pack(e, (rng.chance(0.5) ? frac : frac >> BigInt(rng.range(1, 5))) & ((1n << M) - 1n));
    }
    case 10: return pack(BigInt(rng.range(1, 6)), mant());
    case 11: return pack(emax - BigInt(rng.range(1, 6)), mant());
    case 12: return pack(bias + BigInt(rng.range(-30, 30)), mant() & ~((1n << (M - 8n)) - 1n)); // short mantissas: exact results
    default: return pack(BigInt(rng.range(1, Number(emax) - 1)), mant());
  }
}

function putBits(out: Uint8Array, o: number, size: number, v: bigint): void {
  for (let i = 0; i < size; i++) out[o + i] = Number((v >> BigInt(8 * i)) & 0xffn);
}
function getBits(b: Uint8Array, o: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[o + i]!);
  return v;
}

function fillFloats(rng: Prng, out: Uint8Array, size: 4 | 8): void {
  for (let o = 0; o + size <= out.length; o += size) putBits(out, o, size, floatBits(rng, size));
}

/**
 * Makes the second operand's elements related to the first's (equal, negated, one ulp apart,
 * scaled by a power of two), so cancellations, ties and exact results happen often.
 */
function relate(rng: Prng, a: Uint8Array, b: Uint8Array, size: 4 | 8): void {
  const bits = BigInt(size * 8);
  const M = size === 4 ? 23n : 52n;
  for (let o = 0; o + size <= 16; o += size) {
    if (!rng.chance(0.6)) continue;
    let v = getBits(a, o, size);
    switch (rng.below(5)) {
      case 0: break;
      case 1: v ^= 1n << (bits - 1n); break;
      case 2: v = v ^ 1n; break;
      case 3: v = (v + (BigInt(rng.range(-30, 30)) << M)) & ((1n << bits) - 1n); break;
      default: v = (v ^ (1n << (bits - 1n))) + BigInt(rng.range(-2, 2)); break;
    }
    putBits(b, o, size, v & ((1n << bits) - 1n));
  }
}

/** Integers whose conversion to binary32/64 rounds (or is exact at the edge). */
function interestingInt(rng: Prng, bits: 32 | 64): bigint {
  const top = BigInt(bits - 1);
  switch (rng.below(8)) {
    case 0: return -(1n << top);
    case 1: return (1n << top) - 1n;
    case 2: return (1n << BigInt(rng.range(24, Number(top)))) + BigInt(rng.range(-3, 3));
    case 3: return -((1n << BigInt(rng.range(24, Number(top)))) + BigInt(rng.range(-3, 3)));
    case 4: return BigInt(rng.range(-5, 5));
    case 5: return ((1n << 53n) + 1n) * (rng.chance(0.5) ? 1n : -1n);
    default: return BigInt.asIntN(bits, rng.u64());
  }
}

/** An LDMXCSR operand: mostly valid, sometimes with a reserved bit (#GP; bit 17 is left out: AMD's MM bit). */
function mxcsrOperand(rng: Prng): number {
  const v = rng.u32() & 0xffff;
  if (!rng.chance(0.15)) return v;
  return v | (rng.chance(0.5) ? 1 << 16 : 1 << rng.range(18, 31));
}

/** A shift count: mostly around the lane width, sometimes huge (upper dword set). */
function fillCount(rng: Prng, out: Uint8Array, w: number): void {
  out.fill(0, 0, 8);
  const bits = w * 8;
  const n = rng.chance(0.7) ? rng.pick([0, 1, 2, bits - 1, bits, bits + 1, 15, 16, 31, 32, 63, 64, 65, 255, 256]) : rng.below(bits);
  out[0] = n & 0xff;
  out[1] = (n >> 8) & 0xff;
  if (rng.chance(0.1)) out[4 + rng.below(4)] = 1 + rng.below(255);
  for (let i = 8; i < 16; i++) out[i] = rng.u32() & 0xff;
}

/** A string operand for PCMPxSTRx: a small alphabet so that matches happen, nulls at random places. */
function fillString(rng: Prng, out: Uint8Array, words: boolean, ranges: boolean): void {
  const n = words ? 8 : 16;
  const alpha = rng.chance(0.5) ? [0x41, 0x42, 0x43, 0x61] : [0x41, 0x42, 0x80, 0xff, 0x7f, 0x30];
  const len = rng.chance(0.5) ? n : rng.below(n + 1);
  for (let i = 0; i < n; i++) {
    let v = rng.chance(0.85) ? rng.pick(alpha) : rng.u32() & 0xff;
    if (ranges && rng.chance(0.5)) v = rng.pick([0x30, 0x39, 0x41, 0x5a, 0x61, 0x7a, 0x00 + 1, 0xfe]);
    if (i >= len) v = rng.chance(0.7) ? 0 : v;
    out[i * (words ? 2 : 1)] = v;
    if (words) out[i * 2 + 1] = rng.chance(0.7) ? 0 : rng.pick([0, 0xff, 0x80, 0x01]);
  }
  if (len < n && rng.chance(0.8)) {
    out[len * (words ? 2 : 1)] = 0;
    if (words) out[len * 2 + 1] = 0;
  }
}

/** An explicit PCMPESTRx length: around the element counts, negative, or far out of range. */
function lengthValue(rng: Prng): bigint {
  if (rng.chance(0.6)) return BigInt.asUintN(64, BigInt(rng.range(-20, 20)));
  return rng.pick([0x80000000n, 0x7fffffffn, 0xffffffff_fffffff0n, 0x1_0000_0004n, 0xffffffff_00000003n, 0x8000_0000_0000_0000n, 0xffff_fff0n, BigInt(rng.u32())]);
}

function randomMxcsr(rng: Prng, fp: boolean): number {
  // Masks mostly all set (integer SIMD never raises), flags and modes random.
  const masks = rng.chance(fp ? 0.6 : 0.8) ? 0x1f80 : (rng.u32() & 0x3f) << 7;
  return masks | (rng.u32() & 0x3f) | (rng.below(4) << 13) | (rng.chance(0.5) ? 0x40 : 0) | (rng.chance(0.5) ? 0x8000 : 0);
}

export function generateSimdCase(rng: Prng, spec: SimdSpec, index: number, mode: 64 | 32): SimdGenCase {
  const nregs = mode === 64 ? 16 : 8;
  const gpr = new BigUint64Array(16);
  for (let i = 0; i < 16; i++) gpr[i] = rng.u64();
  gpr[RSP] = BigInt(SNIPPET_DEFAULT_RSP);
  const data = new Uint8Array(SNIPPET_DATA_SIZE);
  const floats = spec.fp !== undefined && !spec.intSrc;
  const fill = (b: Uint8Array): void => (floats ? fillFloats(rng, b, spec.fp!) : fillEdges(rng, b, spec.lane));
  fill(data);
  const fx = defaultFx();
  setFxMxcsr(fx, randomMxcsr(rng, spec.fp !== undefined));
  for (let r = 0; r < 16; r++) fill(fxXmm(fx, r));

  let imm = rng.u32() & 0xff;
  if (spec.imms && rng.chance(0.6)) imm = rng.pick(spec.imms);
  const hasImm = spec.form === 'xmi' || spec.form === 'xi' || spec.form === 'str' || spec.imm === true;
  let w = false;
  let d = rng.below(nregs);
  let s = rng.below(nregs);
  if (rng.chance(0.1)) s = d;
  const reserved = new Set<number>([RSP]);

  switch (spec.form) {
    case 'str': {
      const words = (imm & 1) !== 0;
      const ranges = ((imm >> 2) & 3) === 1;
      fillString(rng, fxXmm(fx, d), words, ranges);
      fillString(rng, fxXmm(fx, s), words, false);
      if (rng.chance(0.2)) fxXmm(fx, s).set(fxXmm(fx, d).subarray(rng.below(4), 16), 0); // needle inside the haystack
      fillString(rng, data.subarray(0, 16), words, false);
      gpr[0] = lengthValue(rng);
      gpr[2] = lengthValue(rng);
      w = mode === 64 && spec.name.startsWith('pcmpe') && rng.chance(0.3);
      reserved.add(0).add(1).add(2);
      break;
    }
    case 'crc':
      d = rng.below(nregs);
      while (d === RSP) d = rng.below(nregs);
      reserved.add(d);
      w = spec.crcSize === 8 || (mode === 64 && spec.crcSize === 1 && rng.chance(0.3));
      break;
    case 'msk':
    case 'f2i':
      while (d === RSP) d = rng.below(nregs);
      w = mode === 64 && rng.chance(0.4);
      break;
    case 'gx':
    case 'xg':
      w = spec.gsize === 8;
      // The GPR operand: ModRM.rm (s) for gx and most xg forms, ModRM.reg (d) for PEXTRW 0F C5 and MOVNTI.
      if (spec.gprInReg) {
        while (d === RSP) d = rng.below(nregs);
        reserved.add(d);
      } else {
        while (s === RSP) s = rng.below(nregs);
        reserved.add(s);
      }
      break;
    case 'state':
      return stateCase(rng, spec, index, mode, gpr, data, fx);
    case 'maskmov': {
      const off = rng.below(SNIPPET_DATA_SIZE - 16);
      gpr[7] = mode === 64 ? BigInt(SNIPPET_DATA_BASE + off) : (gpr[7]! & 0xffffffff_00000000n) | BigInt(SNIPPET_DATA_BASE + off);
      reserved.add(7);
      break;
    }
    case 'i2f': {
      w = mode === 64 && rng.chance(0.5);
      while (s === RSP) s = rng.below(nregs);
      const bits = w ? 64 : 32;
      const v = rng.chance(0.5) ? interestingInt(rng, bits) : rng.u64();
      gpr[s] = BigInt.asUintN(64, v);
      putBits(data, 0, 8, BigInt.asUintN(64, v));
      reserved.add(s);
      break;
    }
    default:
      if (spec.count) fillCount(rng, fxXmm(fx, s), spec.lane);
  }
  if (floats && s !== d && rng.chance(0.4)) relate(rng, fxXmm(fx, d), fxXmm(fx, s), spec.fp!);
  if (spec.form === 'crc') {
    s = rng.below(nregs);
    if (spec.crcSize === 1 && mode === 32) s = rng.below(4); // AL..BL (AH..BH need the legacy encoding; avoided)
  }

  // Memory operand: a base register pointing into the data area, aligned or not.
  let memOff = -1;
  let rm: RmOperand = reg(s);
  const wantMem = spec.memOnly === true || spec.form === 'mdigit' || rng.chance(0.35);
  if (spec.mem > 0 && spec.form !== 'xi' && spec.form !== 'msk' && spec.form !== 'maskmov' && wantMem) {
    const size = spec.form === 'i2f' ? (w ? 8 : 4) : spec.mem;
    const misalign = rng.chance(spec.aligned ? 0.1 : 0.5);
    memOff = rng.below(Math.floor((SNIPPET_DATA_SIZE - 32) / 16)) * 16 + (misalign ? 1 + rng.below(15) : 0);
    let base = rng.below(nregs);
    while (reserved.has(base)) base = rng.below(nregs);
    const disp = rng.chance(0.3) ? rng.range(-64, 64) : 0;
    const addr = SNIPPET_DATA_BASE + memOff - disp;
    gpr[base] = mode === 64 ? BigInt(addr) : (gpr[base]! & 0xffffffff_00000000n) | BigInt(addr);
    rm = { kind: 'mem', base, index: -1, scale: 1, disp } satisfies MemOperand;
    s = -1;
    if (spec.form === 'str' && size === 16) fillString(rng, data.subarray(memOff, memOff + 16), (imm & 1) !== 0, false);
    else if (spec.count) fillCount(rng, data.subarray(memOff, memOff + 16), spec.lane);
    else if (spec.form === 'i2f') data.copyWithin(memOff, 0, size);
    else if (spec.name === 'ldmxcsr') putBits(data, memOff, 4, BigInt(mxcsrOperand(rng)));
    else if (floats && rng.chance(0.4)) relate(rng, fxXmm(fx, d), data.subarray(memOff, memOff + 16), spec.fp!);
  }

  setEncoderMode32(mode === 32);
  let code: Uint8Array;
  try {
    const legacy = spec.pfx === 0 ? [] : [spec.pfx];
    const digitForm = spec.form === 'xi' || spec.form === 'mdigit';
    code = encode({
      legacy,
      opsize16: spec.form === 'crc' && spec.crcSize === 2,
      rexW: w,
      opcode: [...spec.op],
      reg: digitForm ? spec.digit! : reg(d),
      rm: spec.form === 'xi' ? reg(d) : rm,
      imm: hasImm ? [imm] : [],
    });
  } finally {
    setEncoderMode32(false);
  }
  const rflags = rng.u32() & FLAGS_STATUS;
  return {
    name: `simd/${spec.name} #${index}`,
    cls: spec.name + (memOff >= 0 ? '/m' : ''),
    code,
    gpr,
    rflags,
    data,
    flagsMask: FLAGS_STATUS,
    undefinedGprs: 0,
    mode,
    fx,
    spec,
    d,
    s,
    memOff,
    imm: hasImm ? imm : 0,
    w,
  };
}


/** A legacy-region image at data[off]: a plausible x87 part, MXCSR mostly valid, random XMM. */
function fillLegacyRegion(rng: Prng, data: Uint8Array, off: number): void {
  const n = Math.min(416, data.length - off);
  data.set(rng.bytes(n), off);
  const cw = 0x037f ^ (rng.chance(0.5) ? rng.u32() & 0x0f3f : 0);
  putBits(data, off, 2, BigInt(cw));
  if (off + 28 <= data.length) putBits(data, off + 24, 4, BigInt(rng.chance(0.9) ? rng.u32() & 0xffff : mxcsrOperand(rng)));
}

/** FXSAVE/FXRSTOR/XSAVE/XRSTOR/XSAVEOPT with an aligned (mostly) area in the data page. */
function stateCase(rng: Prng, spec: SimdSpec, index: number, mode: 64 | 32, gpr: BigUint64Array, data: Uint8Array, fx: Uint8Array): SimdGenCase {
  const nregs = mode === 64 ? 16 : 8;
  const area = spec.area!;
  const aligned = rng.chance(0.9);
  const memOff = rng.below(Math.floor(480 / area)) * area + (aligned ? 0 : 16 * rng.range(1, area / 16 - 1 || 1));
  const reserved = new Set([RSP, 0, 2]);
  let base = rng.below(nregs);
  while (reserved.has(base)) base = rng.below(nregs);
  const addr = SNIPPET_DATA_BASE + memOff;
  gpr[base] = mode === 64 ? BigInt(addr) : (gpr[base]! & 0xffffffff_00000000n) | BigInt(addr);
  if (spec.restore) fillLegacyRegion(rng, data, memOff);
  // EDX:EAX: the components (x87, SSE); only bits this CPU and the host both support.
  gpr[0] = (gpr[0]! & ~0xffffffffn) | BigInt(rng.chance(0.9) ? rng.range(1, 3) : 0);
  gpr[2] = gpr[2]! & ~0xffffffffn;
  const w = spec.gsize === 8 && mode === 64;
  setEncoderMode32(mode === 32);
  let code: Uint8Array;
  try {
    const mem: MemOperand = { kind: 'mem', base, index: -1, scale: 1, disp: 0 };
    const insn = encode({ rexW: w, opcode: [...spec.op], reg: spec.digit!, rm: mem });
    if (spec.restore && area === 64) {
      // The header: XSTATE_BV (x87/SSE bits), sometimes a nonzero XCOMP_BV or reserved byte (#GP).
      const k = rng.chance(0.85) ? 0 : rng.pick([8, 16, 20]);
      const v = k === 0 ? rng.below(4) : rng.pick([1, 0x100, 0x80]);
      const hdr = encode({ opcode: [0xc7], reg: 0, rm: { ...mem, disp: 512 + k }, imm: [v & 0xff, (v >> 8) & 0xff, 0, 0] });
      code = new Uint8Array([...hdr, ...insn]);
    } else code = insn;
  } finally {
    setEncoderMode32(false);
  }
  return {
    name: `simd/${spec.name} #${index}`,
    cls: spec.name,
    code,
    gpr,
    rflags: rng.u32() & FLAGS_STATUS,
    data,
    flagsMask: FLAGS_STATUS,
    undefinedGprs: 0,
    mode,
    fx,
    spec,
    d: 0,
    s: -1,
    memOff,
    imm: 0,
    w,
    // FOP/FIP/FDP (AMD stores them only with an exception pending) and MXCSR_MASK (AMD's has the MM bit).
    dataIgnored: spec.restore ? undefined : [[memOff + 6, 18], [memOff + 28, 4]],
  };
}

/** n cases spread over `specs` (round-robin, so every form gets its share). */
export function generateSimdCases(seed: number, n: number, specs: readonly SimdSpec[], mode: 64 | 32 = 64): SimdGenCase[] {
  const rng = new Prng(seed);
  const usable = mode === 64 ? specs : specs.filter((s) => s.crcSize !== 8 && (s.gsize !== 8 || s.form === 'state')); // no REX.W outside 64-bit mode
  const out: SimdGenCase[] = [];
  for (let i = 0; i < n; i++) out.push(generateSimdCase(rng, usable[i % usable.length]!, i, mode));
  return out;
}
