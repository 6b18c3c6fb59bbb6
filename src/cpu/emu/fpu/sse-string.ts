/**
 * SSE4.2 packed string compares: PCMPESTRI, PCMPESTRM, PCMPISTRI, PCMPISTRM
 * (SDM Vol. 2 §4.1, "Imm8 Control Byte Operation for PCMPESTRI / PCMPESTRM /
 * PCMPISTRI / PCMPISTRM").
 *
 * imm8: [1:0] element format (unsigned/signed bytes/words), [3:2] aggregation (equal any,
 * ranges, equal each, equal ordered), [5:4] polarity, [6] index of most significant bit
 * (index forms) or a byte/word mask instead of a bit mask (mask forms).
 *
 * `pcmpstr` computes IntRes2 and the flags; the index and mask outputs are derived from it.
 * Operand A is the first operand (xmm1), B the second (xmm2/m128), as in the SDM.
 */
import type { XmmFile } from './simd-file.js';

/** RFLAGS bits the instructions define (the others of the six status flags are cleared). */
const CF = 1;
const ZF = 0x40;
const SF = 0x80;
const OF = 0x800;

const ea = new Int32Array(16);
const eb = new Int32Array(16);

/** Result of the last `pcmpstr`: IntRes2 as a bit mask and the status flags (CF ZF SF OF set, PF AF clear). */
export const strResult = { intRes2: 0, flags: 0 };

function loadElems(x: XmmFile, r: number, imm: number, out: Int32Array): void {
  switch (imm & 3) {
    case 0:
      for (let k = 0; k < 16; k++) out[k] = x.u8[r * 16 + k]!;
      return;
    case 1:
      for (let k = 0; k < 8; k++) out[k] = x.u16[r * 8 + k]!;
      return;
    case 2:
      for (let k = 0; k < 16; k++) out[k] = x.i8[r * 16 + k]!;
      return;
    default:
      for (let k = 0; k < 8; k++) out[k] = x.i16[r * 8 + k]!;
  }
}

/** Implicit length: index of the first zero element, or the element count. */
function implicitLength(e: Int32Array, n: number): number {
  for (let k = 0; k < n; k++) if (e[k] === 0) return k;
  return n;
}

/**
 * Explicit length from a GPR value (lo, hi = the upper dword with REX.W, or the sign of lo
 * without): its absolute value saturated to the element count.
 */
export function explicitLength(lo: number, hi: number, n: number): number {
  if (hi < 0) {
    // Negative: |v| >= n unless v is in [-n, -1].
    if (hi === -1 && lo < 0 && lo >= -n) return -lo;
    return n;
  }
  if (hi > 0) return n;
  return lo >>> 0 > n ? n : lo >>> 0;
}

/**
 * The comparison core. lenA/lenB: valid element counts (already saturated). Sets
 * strResult.intRes2 and strResult.flags.
 */
export function pcmpstr(x: XmmFile, a: number, b: number, imm: number, lenA: number, lenB: number): void {
  const n = imm & 1 ? 8 : 16;
  loadElems(x, a, imm, ea);
  loadElems(x, b, imm, eb);
  let res1 = 0;
  switch ((imm >> 2) & 3) {
    case 0: // equal any: B[j] equals some valid A[i]
      for (let j = 0; j < lenB; j++) {
        const v = eb[j]!;
        for (let i = 0; i < lenA; i++) {
          if (ea[i] === v) {
            res1 |= 1 << j;
            break;
          }
        }
      }
      break;
    case 1: // ranges: A holds [lo, hi] pairs; an odd trailing A element has no partner
      for (let j = 0; j < lenB; j++) {
        const v = eb[j]!;
        for (let i = 0; i + 1 < lenA; i += 2) {
          if (v >= ea[i]! && v <= ea[i + 1]!) {
            res1 |= 1 << j;
            break;
          }
        }
      }
      break;
    case 2: // equal each: both invalid compares true, one invalid false
      for (let i = 0; i < n; i++) {
        const va = i < lenA;
        const vb = i < lenB;
        if (va && vb ? ea[i] === eb[i] : !va && !vb) res1 |= 1 << i;
      }
      break;
    default: // equal ordered: A occurs in B at j (A invalid compares true, B invalid with A valid false)
      for (let j = 0; j < n; j++) {
        let m = 1;
        for (let i = 0, k = j; k < n; i++, k++) {
          if (i >= lenA) break;
          if (k >= lenB || ea[i] !== eb[k]) {
            m = 0;
            break;
          }
        }
        res1 |= m << j;
      }
  }
  const all = n === 16 ? 0xffff : 0xff;
  let res2: number;
  switch ((imm >> 4) & 3) {
    case 1:
      res2 = ~res1 & all;
      break;
    case 3:
      res2 = (res1 ^ ((1 << lenB) - 1)) & all;
      break;
    default:
      res2 = res1;
  }
  strResult.intRes2 = res2;
  strResult.flags = (res2 !== 0 ? CF : 0) | (lenB < n ? ZF : 0) | (lenA < n ? SF : 0) | (res2 & 1 ? OF : 0);
}

/** Implicit lengths of A and B (PCMPISTRx). */
export function pcmpistr(x: XmmFile, a: number, b: number, imm: number): void {
  const n = imm & 1 ? 8 : 16;
  loadElems(x, a, imm, ea);
  const lenA = implicitLength(ea, n);
  loadElems(x, b, imm, eb);
  const lenB = implicitLength(eb, n);
  pcmpstr(x, a, b, imm, lenA, lenB);
}

/** The index output (PCMPxSTRI's ECX): lowest or (imm[6]) highest set bit of IntRes2, else the element count. */
export function strIndex(imm: number): number {
  const r = strResult.intRes2;
  const n = imm & 1 ? 8 : 16;
  if (r === 0) return n;
  return imm & 0x40 ? 31 - Math.clz32(r) : 31 - Math.clz32(r & -r);
}

/** The mask output (PCMPxSTRM's XMM0): IntRes2 zero-extended, or (imm[6]) expanded to byte/word masks. */
export function strMask(x: XmmFile, dst: number, imm: number): void {
  const r = strResult.intRes2;
  if ((imm & 0x40) === 0) {
    x.set(dst, r, 0, 0, 0);
    return;
  }
  if (imm & 1) {
    for (let k = 0; k < 8; k++) x.u16[dst * 8 + k] = (r >> k) & 1 ? 0xffff : 0;
  } else {
    for (let k = 0; k < 16; k++) x.u8[dst * 16 + k] = (r >> k) & 1 ? 0xff : 0;
  }
}
