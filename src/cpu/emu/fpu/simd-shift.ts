/**
 * SIMD shifts: PSLL/PSRL/PSRA by an immediate (the `...i` forms, count in imm) or by the
 * low 64 bits of an XMM register or m128 (count in s), whole-register byte shifts
 * PSLLDQ/PSRLDQ and PALIGNR. A count at or above the lane width clears the lane (logical)
 * or fills it with the sign (arithmetic); the count is the full unsigned 64-bit value.
 */
import type { XmmFile } from './simd-file.js';

/** The shift count in register s: its low qword, clamped to 64 (anything larger acts alike). */
function countOf(x: XmmFile, s: number): number {
  const u = x.u32;
  return u[s * 4 + 1] !== 0 || u[s * 4]! > 64 ? 64 : u[s * 4]!;
}

function sllW(x: XmmFile, d: number, n: number): void {
  const a = x.u16;
  const p = d * 8;
  for (let k = 0; k < 8; k++) a[p + k] = n > 15 ? 0 : a[p + k]! << n;
}
function srlW(x: XmmFile, d: number, n: number): void {
  const a = x.u16;
  const p = d * 8;
  for (let k = 0; k < 8; k++) a[p + k] = n > 15 ? 0 : a[p + k]! >>> n;
}
function sraW(x: XmmFile, d: number, n: number): void {
  const a = x.i16;
  const p = d * 8;
  const m = n > 15 ? 15 : n;
  for (let k = 0; k < 8; k++) a[p + k] = a[p + k]! >> m;
}
function sllD(x: XmmFile, d: number, n: number): void {
  const a = x.i32;
  const p = d * 4;
  for (let k = 0; k < 4; k++) a[p + k] = n > 31 ? 0 : a[p + k]! << n;
}
function srlD(x: XmmFile, d: number, n: number): void {
  const a = x.i32;
  const p = d * 4;
  for (let k = 0; k < 4; k++) a[p + k] = n > 31 ? 0 : a[p + k]! >>> n;
}
function sraD(x: XmmFile, d: number, n: number): void {
  const a = x.i32;
  const p = d * 4;
  const m = n > 31 ? 31 : n;
  for (let k = 0; k < 4; k++) a[p + k] = a[p + k]! >> m;
}
function sllQ(x: XmmFile, d: number, n: number): void {
  const a = x.i32;
  for (let p = d * 4; p < d * 4 + 4; p += 2) {
    const lo = a[p]!;
    const hi = a[p + 1]!;
    if (n > 63) {
      a[p] = 0;
      a[p + 1] = 0;
    } else if (n >= 32) {
      a[p] = 0;
      a[p + 1] = lo << (n - 32);
    } else if (n > 0) {
      a[p] = lo << n;
      a[p + 1] = (hi << n) | (lo >>> (32 - n));
    }
  }
}
function srlQ(x: XmmFile, d: number, n: number): void {
  const a = x.i32;
  for (let p = d * 4; p < d * 4 + 4; p += 2) {
    const lo = a[p]!;
    const hi = a[p + 1]!;
    if (n > 63) {
      a[p] = 0;
      a[p + 1] = 0;
    } else if (n >= 32) {
      a[p] = hi >>> (n - 32);
      a[p + 1] = 0;
    } else if (n > 0) {
      a[p] = (lo >>> n) | (hi << (32 - n));
      a[p + 1] = hi >>> n;
    }
  }
}

export const psllw = (x: XmmFile, d: number, s: number, _imm: number): void => sllW(x, d, countOf(x, s));
export const psrlw = (x: XmmFile, d: number, s: number, _imm: number): void => srlW(x, d, countOf(x, s));
export const psraw = (x: XmmFile, d: number, s: number, _imm: number): void => sraW(x, d, countOf(x, s));
export const pslld = (x: XmmFile, d: number, s: number, _imm: number): void => sllD(x, d, countOf(x, s));
export const psrld = (x: XmmFile, d: number, s: number, _imm: number): void => srlD(x, d, countOf(x, s));
export const psrad = (x: XmmFile, d: number, s: number, _imm: number): void => sraD(x, d, countOf(x, s));
export const psllq = (x: XmmFile, d: number, s: number, _imm: number): void => sllQ(x, d, countOf(x, s));
export const psrlq = (x: XmmFile, d: number, s: number, _imm: number): void => srlQ(x, d, countOf(x, s));
export const psllwi = (x: XmmFile, d: number, _s: number, imm: number): void => sllW(x, d, imm & 0xff);
export const psrlwi = (x: XmmFile, d: number, _s: number, imm: number): void => srlW(x, d, imm & 0xff);
export const psrawi = (x: XmmFile, d: number, _s: number, imm: number): void => sraW(x, d, imm & 0xff);
export const pslldi = (x: XmmFile, d: number, _s: number, imm: number): void => sllD(x, d, imm & 0xff);
export const psrldi = (x: XmmFile, d: number, _s: number, imm: number): void => srlD(x, d, imm & 0xff);
export const psradi = (x: XmmFile, d: number, _s: number, imm: number): void => sraD(x, d, imm & 0xff);
export const psllqi = (x: XmmFile, d: number, _s: number, imm: number): void => sllQ(x, d, imm & 0xff);
export const psrlqi = (x: XmmFile, d: number, _s: number, imm: number): void => srlQ(x, d, imm & 0xff);

const bytes = new Uint8Array(48);

/** PSLLDQ: the register shifted left by imm bytes (16 or more clears it). */
export function pslldq(x: XmmFile, d: number, _s: number, imm: number): void {
  const a = x.u8;
  const p = d * 16;
  const n = imm & 0xff;
  for (let k = 15; k >= 0; k--) a[p + k] = k >= n ? a[p + k - n]! : 0;
}
/** PSRLDQ: the register shifted right by imm bytes. */
export function psrldq(x: XmmFile, d: number, _s: number, imm: number): void {
  const a = x.u8;
  const p = d * 16;
  const n = imm & 0xff;
  for (let k = 0; k < 16; k++) a[p + k] = k + n < 16 ? a[p + k + n]! : 0;
}
/** PALIGNR: (DEST:SRC) >> (imm * 8), low 16 bytes. */
export function palignr(x: XmmFile, d: number, s: number, imm: number): void {
  const a = x.u8;
  const p = d * 16;
  const q = s * 16;
  for (let k = 0; k < 16; k++) {
    bytes[k] = a[q + k]!;
    bytes[16 + k] = a[p + k]!;
    bytes[32 + k] = 0;
  }
  const n = imm & 0xff;
  for (let k = 0; k < 16; k++) a[p + k] = n + k < 48 ? bytes[n + k]! : 0;
}
