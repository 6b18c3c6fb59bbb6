/**
 * Integer SIMD arithmetic on XMM registers (SSE2, SSSE3, SSE4.1, SSE4.2): wrapping and
 * saturating add/sub, multiplies, PMADDWD, PSADBW, PAVG, PMIN/PMAX, PABS/PSIGN, the
 * horizontal adds, PMULHRSW, PMADDUBSW, MPSADBW, PHMINPOSUW, the compares and the logic
 * ops. Every function is a `SimdOp`: d = d op s (the lane order of the SDM's DEST, SRC).
 *
 * 64-bit lanes are handled as dword pairs (no BigInt on the hot path).
 */
import type { XmmFile } from './simd-file.js';

const satS8 = (v: number): number => (v > 127 ? 127 : v < -128 ? -128 : v);
const satU8 = (v: number): number => (v > 255 ? 255 : v < 0 ? 0 : v);
const satS16 = (v: number): number => (v > 32767 ? 32767 : v < -32768 ? -32768 : v);
const satU16 = (v: number): number => (v > 65535 ? 65535 : v < 0 ? 0 : v);

// ---------------------------------------------------------------- add / sub

/*
 * Byte lanes four at a time in 32-bit words (SWAR): the low seven bits of each byte are added
 * without carrying into the next byte, and the top bit is then fixed by XOR.
 */
export function paddb(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k++) {
    const u = a[p + k]!;
    const v = a[q + k]!;
    a[p + k] = ((u & 0x7f7f7f7f) + (v & 0x7f7f7f7f)) ^ ((u ^ v) & 0x80808080);
  }
}
export function paddw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) a[p + k] = a[p + k]! + a[q + k]!;
}
export function paddd(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k++) a[p + k] = (a[p + k]! + a[q + k]!) | 0;
}
/** 64-bit add of dword pairs (lo, hi) at p and q into p. */
function add64(a: Uint32Array, p: number, q: number): void {
  const lo = a[p]! + a[q]!;
  a[p] = lo;
  a[p + 1] = a[p + 1]! + a[q + 1]! + (lo > 0xffffffff ? 1 : 0);
}
function sub64(a: Uint32Array, p: number, q: number): void {
  const l0 = a[p]!;
  const l1 = a[q]!;
  a[p] = l0 - l1;
  a[p + 1] = a[p + 1]! - a[q + 1]! - (l0 < l1 ? 1 : 0);
}
export function paddq(x: XmmFile, d: number, s: number, _imm: number): void {
  add64(x.u32, d * 4, s * 4);
  add64(x.u32, d * 4 + 2, s * 4 + 2);
}
export function psubb(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k++) {
    const u = a[p + k]!;
    const v = a[q + k]!;
    // Borrow-free: set each byte's top bit in u, clear it in v, subtract, then fix the top bits.
    a[p + k] = ((u | 0x80808080) - (v & 0x7f7f7f7f)) ^ ((u ^ ~v) & 0x80808080);
  }
}
export function psubw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) a[p + k] = a[p + k]! - a[q + k]!;
}
export function psubd(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k++) a[p + k] = (a[p + k]! - a[q + k]!) | 0;
}
export function psubq(x: XmmFile, d: number, s: number, _imm: number): void {
  sub64(x.u32, d * 4, s * 4);
  sub64(x.u32, d * 4 + 2, s * 4 + 2);
}
export function paddsb(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i8;
  const p = d * 16;
  const q = s * 16;
  for (let k = 0; k < 16; k++) a[p + k] = satS8(a[p + k]! + a[q + k]!);
}
export function paddsw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) a[p + k] = satS16(a[p + k]! + a[q + k]!);
}
export function paddusb(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u8;
  const p = d * 16;
  const q = s * 16;
  for (let k = 0; k < 16; k++) a[p + k] = satU8(a[p + k]! + a[q + k]!);
}
export function paddusw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) a[p + k] = satU16(a[p + k]! + a[q + k]!);
}
export function psubsb(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i8;
  const p = d * 16;
  const q = s * 16;
  for (let k = 0; k < 16; k++) a[p + k] = satS8(a[p + k]! - a[q + k]!);
}
export function psubsw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) a[p + k] = satS16(a[p + k]! - a[q + k]!);
}
export function psubusb(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u8;
  const p = d * 16;
  const q = s * 16;
  for (let k = 0; k < 16; k++) a[p + k] = satU8(a[p + k]! - a[q + k]!);
}
export function psubusw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) a[p + k] = satU16(a[p + k]! - a[q + k]!);
}

// ---------------------------------------------------------------- multiplies

export function pmullw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) a[p + k] = Math.imul(a[p + k]!, a[q + k]!);
}
export function pmulhw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) a[p + k] = (a[p + k]! * a[q + k]!) >> 16;
}
export function pmulhuw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) a[p + k] = (a[p + k]! * a[q + k]!) >>> 16;
}
export function pmulld(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k++) a[p + k] = Math.imul(a[p + k]!, a[q + k]!);
}
/** Unsigned 32x32 -> 64 product written as dwords at a[o], a[o + 1]. */
function mulU32(a: Uint32Array, o: number, u: number, v: number): void {
  const ul = u & 0xffff;
  const uh = u >>> 16;
  const vl = v & 0xffff;
  const vh = v >>> 16;
  const ll = ul * vl;
  const mid = uh * vl + ul * vh; // < 2^33
  const hh = uh * vh;
  const midLo = mid % 65536;
  const lo = ll + midLo * 65536; // < 2^49
  a[o] = lo;
  a[o + 1] = hh + Math.floor(mid / 65536) + Math.floor(lo / 4294967296);
}
export function pmuludq(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u32;
  const p = d * 4;
  const q = s * 4;
  mulU32(a, p, a[p]!, a[q]!);
  mulU32(a, p + 2, a[p + 2]!, a[q + 2]!);
}
/** Signed 32x32 -> 64 product (PMULDQ): unsigned product corrected for the signs. */
function mulS32(a: Uint32Array, o: number, u: number, v: number): void {
  mulU32(a, o, u, v);
  let hi = a[o + 1]!;
  if ((u | 0) < 0) hi -= v;
  if ((v | 0) < 0) hi -= u;
  a[o + 1] = hi;
}
export function pmuldq(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u32;
  const p = d * 4;
  const q = s * 4;
  mulS32(a, p, a[p]!, a[q]!);
  mulS32(a, p + 2, a[p + 2]!, a[q + 2]!);
}
export function pmaddwd(x: XmmFile, d: number, s: number, _imm: number): void {
  const w = x.i16;
  const o = x.i32;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 4; k++) {
    // Only (-32768)^2 * 2 = 2^31 overflows int32; it wraps to 0x80000000 as the CPU does.
    o[d * 4 + k] = (w[p + 2 * k]! * w[q + 2 * k]! + w[p + 2 * k + 1]! * w[q + 2 * k + 1]!) | 0;
  }
}
export function pmulhrsw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) a[p + k] = ((((a[p + k]! * a[q + k]!) >> 14) + 1) >> 1);
}
/** PMADDUBSW: DEST bytes are unsigned, SRC bytes signed; pairs summed with signed saturation. */
export function pmaddubsw(x: XmmFile, d: number, s: number, _imm: number): void {
  const u = x.u8;
  const sb = x.i8;
  const w = x.i16;
  const p = d * 16;
  const q = s * 16;
  for (let k = 0; k < 8; k++) {
    w[d * 8 + k] = satS16(u[p + 2 * k]! * sb[q + 2 * k]! + u[p + 2 * k + 1]! * sb[q + 2 * k + 1]!);
  }
}
export function psadbw(x: XmmFile, d: number, s: number, _imm: number): void {
  const u = x.u8;
  const p = d * 16;
  const q = s * 16;
  let s0 = 0;
  let s1 = 0;
  for (let k = 0; k < 8; k++) {
    s0 += Math.abs(u[p + k]! - u[q + k]!);
    s1 += Math.abs(u[p + 8 + k]! - u[q + 8 + k]!);
  }
  x.set(d, s0, 0, s1, 0);
}
export function pavgb(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u8;
  const p = d * 16;
  const q = s * 16;
  for (let k = 0; k < 16; k++) a[p + k] = (a[p + k]! + a[q + k]! + 1) >> 1;
}
export function pavgw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) a[p + k] = (a[p + k]! + a[q + k]! + 1) >> 1;
}

const sadTmp = new Uint16Array(8);

/**
 * MPSADBW: eight sums of absolute differences between a 4-byte block of SRC (imm[1:0]
 * selects which) and eight sliding 4-byte windows of DEST starting at byte 4*imm[2].
 */
export function mpsadbw(x: XmmFile, d: number, s: number, imm: number): void {
  const u = x.u8;
  const p = d * 16 + ((imm >> 2) & 1) * 4;
  const q = s * 16 + (imm & 3) * 4;
  const b0 = u[q]!;
  const b1 = u[q + 1]!;
  const b2 = u[q + 2]!;
  const b3 = u[q + 3]!;
  const r = sadTmp;
  for (let k = 0; k < 8; k++) {
    r[k] = Math.abs(u[p + k]! - b0) + Math.abs(u[p + k + 1]! - b1) + Math.abs(u[p + k + 2]! - b2) + Math.abs(u[p + k + 3]! - b3);
  }
  const w = x.u16;
  for (let k = 0; k < 8; k++) w[d * 8 + k] = r[k]!;
}
export function phminposuw(x: XmmFile, d: number, s: number, _imm: number): void {
  const w = x.u16;
  const q = s * 8;
  let min = w[q]!;
  let idx = 0;
  for (let k = 1; k < 8; k++) {
    const v = w[q + k]!;
    if (v < min) {
      min = v;
      idx = k;
    }
  }
  x.set(d, min | (idx << 16), 0, 0, 0);
}

// ---------------------------------------------------------------- min / max / abs / sign

/** Per byte of two words: 0xff where u >= v (unsigned), else 0 (SWAR, no borrow between bytes). */
function geU8(u: number, v: number): number {
  const low = (u | 0x80808080) - (v & 0x7f7f7f7f); // top bit: low seven bits of u >= those of v
  const ge = ((u & ~v) | (~(u ^ v) & low)) & 0x80808080;
  return Math.imul(ge >>> 7, 0xff);
}
export function pminub(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k++) {
    const u = a[p + k]!;
    const v = a[q + k]!;
    const m = geU8(u, v);
    a[p + k] = (v & m) | (u & ~m);
  }
}
export function pmaxub(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k++) {
    const u = a[p + k]!;
    const v = a[q + k]!;
    const m = geU8(u, v);
    a[p + k] = (u & m) | (v & ~m);
  }
}
export function pminsb(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i8;
  const p = d * 16;
  const q = s * 16;
  for (let k = 0; k < 16; k++) if (a[q + k]! < a[p + k]!) a[p + k] = a[q + k]!;
}
export function pmaxsb(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i8;
  const p = d * 16;
  const q = s * 16;
  for (let k = 0; k < 16; k++) if (a[q + k]! > a[p + k]!) a[p + k] = a[q + k]!;
}
export function pminsw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) if (a[q + k]! < a[p + k]!) a[p + k] = a[q + k]!;
}
export function pmaxsw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) if (a[q + k]! > a[p + k]!) a[p + k] = a[q + k]!;
}
export function pminuw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) if (a[q + k]! < a[p + k]!) a[p + k] = a[q + k]!;
}
export function pmaxuw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) if (a[q + k]! > a[p + k]!) a[p + k] = a[q + k]!;
}
export function pminsd(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k++) if (a[q + k]! < a[p + k]!) a[p + k] = a[q + k]!;
}
export function pmaxsd(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k++) if (a[q + k]! > a[p + k]!) a[p + k] = a[q + k]!;
}
export function pminud(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k++) if (a[q + k]! < a[p + k]!) a[p + k] = a[q + k]!;
}
export function pmaxud(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k++) if (a[q + k]! > a[p + k]!) a[p + k] = a[q + k]!;
}
/** PABSB/W/D: d = |s| (the most negative value stays, read as unsigned). */
export function pabsb(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i8;
  const p = d * 16;
  const q = s * 16;
  for (let k = 0; k < 16; k++) a[p + k] = Math.abs(a[q + k]!);
}
export function pabsw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) a[p + k] = Math.abs(a[q + k]!);
}
export function pabsd(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k++) a[p + k] = Math.abs(a[q + k]!) | 0;
}
export function psignb(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i8;
  const p = d * 16;
  const q = s * 16;
  for (let k = 0; k < 16; k++) {
    const v = a[q + k]!;
    a[p + k] = v < 0 ? -a[p + k]! : v === 0 ? 0 : a[p + k]!;
  }
}
export function psignw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) {
    const v = a[q + k]!;
    a[p + k] = v < 0 ? -a[p + k]! : v === 0 ? 0 : a[p + k]!;
  }
}
export function psignd(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k++) {
    const v = a[q + k]!;
    a[p + k] = v < 0 ? -a[p + k]! | 0 : v === 0 ? 0 : a[p + k]!;
  }
}

// ---------------------------------------------------------------- horizontal add / sub (SSSE3)

const hw = new Int32Array(8);

/** Horizontal word ops: op 0 add, 1 sub, 2 add with saturation, 3 sub with saturation. */
function hwords(x: XmmFile, d: number, s: number, op: number): void {
  const a = x.i16;
  for (let half = 0; half < 2; half++) {
    const q = (half === 0 ? d : s) * 8;
    for (let k = 0; k < 4; k++) {
      const l = a[q + 2 * k]!;
      const h = a[q + 2 * k + 1]!;
      const v = op & 1 ? l - h : l + h;
      hw[half * 4 + k] = op & 2 ? satS16(v) : v;
    }
  }
  const p = d * 8;
  for (let k = 0; k < 8; k++) a[p + k] = hw[k]!;
}
export const phaddw = (x: XmmFile, d: number, s: number, _imm: number): void => hwords(x, d, s, 0);
export const phsubw = (x: XmmFile, d: number, s: number, _imm: number): void => hwords(x, d, s, 1);
export const phaddsw = (x: XmmFile, d: number, s: number, _imm: number): void => hwords(x, d, s, 2);
export const phsubsw = (x: XmmFile, d: number, s: number, _imm: number): void => hwords(x, d, s, 3);
function hdwords(x: XmmFile, d: number, s: number, sub: boolean): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  const r0 = sub ? a[p]! - a[p + 1]! : a[p]! + a[p + 1]!;
  const r1 = sub ? a[p + 2]! - a[p + 3]! : a[p + 2]! + a[p + 3]!;
  const r2 = sub ? a[q]! - a[q + 1]! : a[q]! + a[q + 1]!;
  const r3 = sub ? a[q + 2]! - a[q + 3]! : a[q + 2]! + a[q + 3]!;
  x.set(d, r0 | 0, r1 | 0, r2 | 0, r3 | 0);
}
export const phaddd = (x: XmmFile, d: number, s: number, _imm: number): void => hdwords(x, d, s, false);
export const phsubd = (x: XmmFile, d: number, s: number, _imm: number): void => hdwords(x, d, s, true);

// ---------------------------------------------------------------- compares

export function pcmpeqb(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k++) {
    const t = a[p + k]! ^ a[q + k]!;
    // Top bit of each byte set exactly where that byte of t is zero (no borrow between bytes).
    const z = ~(((t & 0x7f7f7f7f) + 0x7f7f7f7f) | t | 0x7f7f7f7f);
    a[p + k] = Math.imul(z >>> 7, 0xff);
  }
}
export function pcmpeqw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) a[p + k] = a[p + k] === a[q + k] ? 0xffff : 0;
}
export function pcmpeqd(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k++) a[p + k] = a[p + k] === a[q + k] ? -1 : 0;
}
export function pcmpeqq(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k += 2) {
    const m = a[p + k] === a[q + k] && a[p + k + 1] === a[q + k + 1] ? -1 : 0;
    a[p + k] = m;
    a[p + k + 1] = m;
  }
}
export function pcmpgtb(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i8;
  const p = d * 16;
  const q = s * 16;
  for (let k = 0; k < 16; k++) a[p + k] = a[p + k]! > a[q + k]! ? -1 : 0;
}
export function pcmpgtw(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i16;
  const p = d * 8;
  const q = s * 8;
  for (let k = 0; k < 8; k++) a[p + k] = a[p + k]! > a[q + k]! ? -1 : 0;
}
export function pcmpgtd(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k++) a[p + k] = a[p + k]! > a[q + k]! ? -1 : 0;
}
export function pcmpgtq(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const u = x.u32;
  const p = d * 4;
  const q = s * 4;
  for (let k = 0; k < 4; k += 2) {
    const dh = a[p + k + 1]!;
    const sh = a[q + k + 1]!;
    const gt = dh > sh || (dh === sh && u[p + k]! > u[q + k]!);
    a[p + k] = gt ? -1 : 0;
    a[p + k + 1] = gt ? -1 : 0;
  }
}

// ---------------------------------------------------------------- logic

export function pand(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  a[p] = a[p]! & a[q]!;
  a[p + 1] = a[p + 1]! & a[q + 1]!;
  a[p + 2] = a[p + 2]! & a[q + 2]!;
  a[p + 3] = a[p + 3]! & a[q + 3]!;
}
export function pandn(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  a[p] = ~a[p]! & a[q]!;
  a[p + 1] = ~a[p + 1]! & a[q + 1]!;
  a[p + 2] = ~a[p + 2]! & a[q + 2]!;
  a[p + 3] = ~a[p + 3]! & a[q + 3]!;
}
export function por(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  a[p] = a[p]! | a[q]!;
  a[p + 1] = a[p + 1]! | a[q + 1]!;
  a[p + 2] = a[p + 2]! | a[q + 2]!;
  a[p + 3] = a[p + 3]! | a[q + 3]!;
}
export function pxor(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  a[p] = a[p]! ^ a[q]!;
  a[p + 1] = a[p + 1]! ^ a[q + 1]!;
  a[p + 2] = a[p + 2]! ^ a[q + 2]!;
  a[p + 3] = a[p + 3]! ^ a[q + 3]!;
}
