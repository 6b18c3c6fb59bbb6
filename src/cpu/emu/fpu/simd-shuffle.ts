/**
 * SIMD data movement inside registers: shuffles (PSHUFD/HW/LW, PSHUFB, SHUFPS/PD),
 * unpacks (UNPCK*, PUNPCK*), packs with saturation, blends (BLENDPS/PD, PBLENDW and the
 * variable forms keyed on XMM0), sign/zero extensions (PMOVSX/ZX), INSERTPS and the
 * duplicating moves (MOVDDUP, MOVSHDUP, MOVSLDUP). Each is a `SimdOp` on register
 * numbers; results are built in locals or scratch first, so d === s is safe.
 */
import type { XmmFile } from './simd-file.js';

const t8 = new Uint8Array(16);
const t16 = new Uint16Array(8);

export function pshufd(x: XmmFile, d: number, s: number, imm: number): void {
  const a = x.i32;
  const q = s * 4;
  x.set(d, a[q + (imm & 3)]!, a[q + ((imm >> 2) & 3)]!, a[q + ((imm >> 4) & 3)]!, a[q + ((imm >> 6) & 3)]!);
}
export function pshuflw(x: XmmFile, d: number, s: number, imm: number): void {
  const w = x.u16;
  const q = s * 8;
  const p = d * 8;
  const w0 = w[q + (imm & 3)]!;
  const w1 = w[q + ((imm >> 2) & 3)]!;
  const w2 = w[q + ((imm >> 4) & 3)]!;
  const w3 = w[q + ((imm >> 6) & 3)]!;
  const i = x.i32;
  i[d * 4 + 2] = i[s * 4 + 2]!;
  i[d * 4 + 3] = i[s * 4 + 3]!;
  w[p] = w0;
  w[p + 1] = w1;
  w[p + 2] = w2;
  w[p + 3] = w3;
}
export function pshufhw(x: XmmFile, d: number, s: number, imm: number): void {
  const w = x.u16;
  const q = s * 8 + 4;
  const p = d * 8;
  const w0 = w[q + (imm & 3)]!;
  const w1 = w[q + ((imm >> 2) & 3)]!;
  const w2 = w[q + ((imm >> 4) & 3)]!;
  const w3 = w[q + ((imm >> 6) & 3)]!;
  const i = x.i32;
  i[d * 4] = i[s * 4]!;
  i[d * 4 + 1] = i[s * 4 + 1]!;
  w[p + 4] = w0;
  w[p + 5] = w1;
  w[p + 6] = w2;
  w[p + 7] = w3;
}
/** PSHUFB: byte k = DEST[SRC[k] & 15], or 0 when SRC[k] has its top bit set. */
export function pshufb(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u8;
  const p = d * 16;
  const q = s * 16;
  for (let k = 0; k < 16; k++) {
    const c = a[q + k]!;
    t8[k] = c & 0x80 ? 0 : a[p + (c & 15)]!;
  }
  for (let k = 0; k < 16; k++) a[p + k] = t8[k]!;
}
export function shufps(x: XmmFile, d: number, s: number, imm: number): void {
  const a = x.i32;
  const p = d * 4;
  const q = s * 4;
  x.set(d, a[p + (imm & 3)]!, a[p + ((imm >> 2) & 3)]!, a[q + ((imm >> 4) & 3)]!, a[q + ((imm >> 6) & 3)]!);
}
export function shufpd(x: XmmFile, d: number, s: number, imm: number): void {
  const a = x.i32;
  const p = d * 4 + (imm & 1) * 2;
  const q = s * 4 + ((imm >> 1) & 1) * 2;
  x.set(d, a[p]!, a[p + 1]!, a[q]!, a[q + 1]!);
}

// ---------------------------------------------------------------- unpacks

/** Interleaves the low (hi = 0) or high (hi = 1) halves of d and s in lanes of `lane` bytes. */
function unpack(x: XmmFile, d: number, s: number, lane: number, hi: number): void {
  const a = x.u8;
  const p = d * 16 + hi * 8;
  const q = s * 16 + hi * 8;
  let o = 0;
  for (let k = 0; k < 8; k += lane) {
    for (let b = 0; b < lane; b++) t8[o++] = a[p + k + b]!;
    for (let b = 0; b < lane; b++) t8[o++] = a[q + k + b]!;
  }
  const r = d * 16;
  for (let k = 0; k < 16; k++) a[r + k] = t8[k]!;
}
export const punpcklbw = (x: XmmFile, d: number, s: number, _imm: number): void => unpack(x, d, s, 1, 0);
export const punpcklwd = (x: XmmFile, d: number, s: number, _imm: number): void => unpack(x, d, s, 2, 0);
export const punpckldq = (x: XmmFile, d: number, s: number, _imm: number): void => unpack(x, d, s, 4, 0);
export const punpckhbw = (x: XmmFile, d: number, s: number, _imm: number): void => unpack(x, d, s, 1, 1);
export const punpckhwd = (x: XmmFile, d: number, s: number, _imm: number): void => unpack(x, d, s, 2, 1);
export const punpckhdq = (x: XmmFile, d: number, s: number, _imm: number): void => unpack(x, d, s, 4, 1);
export function punpcklqdq(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  x.set(d, a[d * 4]!, a[d * 4 + 1]!, a[s * 4]!, a[s * 4 + 1]!);
}
export function punpckhqdq(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  x.set(d, a[d * 4 + 2]!, a[d * 4 + 3]!, a[s * 4 + 2]!, a[s * 4 + 3]!);
}
/** UNPCKLPS/UNPCKHPS/UNPCKLPD/UNPCKHPD are the dword/qword unpacks under another name. */
export const unpcklps = punpckldq;
export const unpckhps = punpckhdq;
export const unpcklpd = punpcklqdq;
export const unpckhpd = punpckhqdq;

// ---------------------------------------------------------------- packs

const satS8 = (v: number): number => (v > 127 ? 127 : v < -128 ? -128 : v);
const satU8 = (v: number): number => (v > 255 ? 255 : v < 0 ? 0 : v);
const satS16 = (v: number): number => (v > 32767 ? 32767 : v < -32768 ? -32768 : v);
const satU16 = (v: number): number => (v > 65535 ? 65535 : v < 0 ? 0 : v);

function packW(x: XmmFile, d: number, s: number, unsigned: boolean): void {
  const w = x.i16;
  for (let k = 0; k < 8; k++) {
    const a = w[d * 8 + k]!;
    const b = w[s * 8 + k]!;
    t8[k] = unsigned ? satU8(a) : satS8(a);
    t8[k + 8] = unsigned ? satU8(b) : satS8(b);
  }
  const a = x.u8;
  for (let k = 0; k < 16; k++) a[d * 16 + k] = t8[k]!;
}
function packD(x: XmmFile, d: number, s: number, unsigned: boolean): void {
  const i = x.i32;
  for (let k = 0; k < 4; k++) {
    const a = i[d * 4 + k]!;
    const b = i[s * 4 + k]!;
    t16[k] = unsigned ? satU16(a) : satS16(a);
    t16[k + 4] = unsigned ? satU16(b) : satS16(b);
  }
  const w = x.u16;
  for (let k = 0; k < 8; k++) w[d * 8 + k] = t16[k]!;
}
export const packsswb = (x: XmmFile, d: number, s: number, _imm: number): void => packW(x, d, s, false);
export const packuswb = (x: XmmFile, d: number, s: number, _imm: number): void => packW(x, d, s, true);
export const packssdw = (x: XmmFile, d: number, s: number, _imm: number): void => packD(x, d, s, false);
export const packusdw = (x: XmmFile, d: number, s: number, _imm: number): void => packD(x, d, s, true);

// ---------------------------------------------------------------- blends

export function blendps(x: XmmFile, d: number, s: number, imm: number): void {
  const a = x.i32;
  for (let k = 0; k < 4; k++) if ((imm >> k) & 1) a[d * 4 + k] = a[s * 4 + k]!;
}
export function blendpd(x: XmmFile, d: number, s: number, imm: number): void {
  const a = x.i32;
  for (let k = 0; k < 2; k++) {
    if ((imm >> k) & 1) {
      a[d * 4 + 2 * k] = a[s * 4 + 2 * k]!;
      a[d * 4 + 2 * k + 1] = a[s * 4 + 2 * k + 1]!;
    }
  }
}
export function pblendw(x: XmmFile, d: number, s: number, imm: number): void {
  const w = x.u16;
  for (let k = 0; k < 8; k++) if ((imm >> k) & 1) w[d * 8 + k] = w[s * 8 + k]!;
}
/** BLENDVPS: dword k from SRC where XMM0's dword k has its sign bit set. */
export function blendvps(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  for (let k = 0; k < 4; k++) if (a[k]! < 0) a[d * 4 + k] = a[s * 4 + k]!;
}
export function blendvpd(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  for (let k = 0; k < 2; k++) {
    if (a[2 * k + 1]! < 0) {
      a[d * 4 + 2 * k] = a[s * 4 + 2 * k]!;
      a[d * 4 + 2 * k + 1] = a[s * 4 + 2 * k + 1]!;
    }
  }
}
export function pblendvb(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.u8;
  for (let k = 0; k < 16; k++) if (a[k]! & 0x80) a[d * 16 + k] = a[s * 16 + k]!;
}

// ---------------------------------------------------------------- sign / zero extension (SSE4.1)

/**
 * PMOVSX/PMOVZX: the low 16/n bytes of s widened, `from` and `to` lane sizes in bytes;
 * a memory source is loaded into the low bytes of the scratch register first.
 */
function extend(x: XmmFile, d: number, s: number, from: number, to: number, signed: boolean): void {
  const a = x.u8;
  const q = s * 16;
  const n = 16 / to;
  for (let k = 0; k < from * n; k++) t8[k] = a[q + k]!;
  const p = d * 16;
  for (let k = 0; k < n; k++) {
    const top = t8[k * from + from - 1]!;
    const fill = signed && (top & 0x80) !== 0 ? 0xff : 0;
    for (let b = 0; b < to; b++) a[p + k * to + b] = b < from ? t8[k * from + b]! : fill;
  }
}
export const pmovsxbw = (x: XmmFile, d: number, s: number, _imm: number): void => extend(x, d, s, 1, 2, true);
export const pmovsxbd = (x: XmmFile, d: number, s: number, _imm: number): void => extend(x, d, s, 1, 4, true);
export const pmovsxbq = (x: XmmFile, d: number, s: number, _imm: number): void => extend(x, d, s, 1, 8, true);
export const pmovsxwd = (x: XmmFile, d: number, s: number, _imm: number): void => extend(x, d, s, 2, 4, true);
export const pmovsxwq = (x: XmmFile, d: number, s: number, _imm: number): void => extend(x, d, s, 2, 8, true);
export const pmovsxdq = (x: XmmFile, d: number, s: number, _imm: number): void => extend(x, d, s, 4, 8, true);
export const pmovzxbw = (x: XmmFile, d: number, s: number, _imm: number): void => extend(x, d, s, 1, 2, false);
export const pmovzxbd = (x: XmmFile, d: number, s: number, _imm: number): void => extend(x, d, s, 1, 4, false);
export const pmovzxbq = (x: XmmFile, d: number, s: number, _imm: number): void => extend(x, d, s, 1, 8, false);
export const pmovzxwd = (x: XmmFile, d: number, s: number, _imm: number): void => extend(x, d, s, 2, 4, false);
export const pmovzxwq = (x: XmmFile, d: number, s: number, _imm: number): void => extend(x, d, s, 2, 8, false);
export const pmovzxdq = (x: XmmFile, d: number, s: number, _imm: number): void => extend(x, d, s, 4, 8, false);

// ---------------------------------------------------------------- INSERTPS and duplicating moves

/**
 * INSERTPS: dword imm[7:6] of s (a register source; for m32 the handler puts the value in
 * lane 0 of the scratch register and clears imm[7:6]) goes to lane imm[5:4] of d, then the
 * lanes in imm[3:0] are zeroed.
 */
export function insertps(x: XmmFile, d: number, s: number, imm: number): void {
  const a = x.i32;
  a[d * 4 + ((imm >> 4) & 3)] = a[s * 4 + ((imm >> 6) & 3)]!;
  for (let k = 0; k < 4; k++) if ((imm >> k) & 1) a[d * 4 + k] = 0;
}
export function movddup(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  x.set(d, a[s * 4]!, a[s * 4 + 1]!, a[s * 4]!, a[s * 4 + 1]!);
}
export function movshdup(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  x.set(d, a[s * 4 + 1]!, a[s * 4 + 1]!, a[s * 4 + 3]!, a[s * 4 + 3]!);
}
export function movsldup(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  x.set(d, a[s * 4]!, a[s * 4]!, a[s * 4 + 2]!, a[s * 4 + 2]!);
}
/** MOVHLPS: the high qword of s to the low qword of d. */
export function movhlps(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  a[d * 4] = a[s * 4 + 2]!;
  a[d * 4 + 1] = a[s * 4 + 3]!;
}
/** MOVLHPS: the low qword of s to the high qword of d. */
export function movlhps(x: XmmFile, d: number, s: number, _imm: number): void {
  const a = x.i32;
  a[d * 4 + 2] = a[s * 4]!;
  a[d * 4 + 3] = a[s * 4 + 1]!;
}
