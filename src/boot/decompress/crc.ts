/**
 * CRC-32 (IEEE 802.3, as gzip and xz use) and CRC-64 (ECMA-182, xz's default check), both sliced by
 * eight: eight table lookups per eight bytes, independent of each other, instead of a chain of eight
 * (the check of a 66 MB kernel is one pass over all of it before the guest starts).
 */
import { crc32 as crc32Sliced } from '../../util/crc32.js';

export function crc32(data: Uint8Array, from = 0, to = data.length): number {
  return crc32Sliced(from === 0 && to === data.length ? data : data.subarray(from, to));
}

// CRC-64 with the reflected ECMA-182 polynomial 0xC96C5795D7870F42, in 32-bit halves. Table k (k = 0..7)
// holds, at [k * 256 + n], the CRC of byte n followed by k zero bytes.
const C64_LO = new Uint32Array(8 * 256);
const C64_HI = new Uint32Array(8 * 256);
(() => {
  const polyLo = 0xd7870f42;
  const polyHi = 0xc96c5795;
  for (let n = 0; n < 256; n++) {
    let lo = n;
    let hi = 0;
    for (let k = 0; k < 8; k++) {
      const lsb = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi >>>= 1;
      if (lsb) {
        lo = (lo ^ polyLo) >>> 0;
        hi = (hi ^ polyHi) >>> 0;
      }
    }
    C64_LO[n] = lo;
    C64_HI[n] = hi;
  }
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      // One more zero byte: shift the previous CRC right by 8 and fold its low byte back in.
      const lo = C64_LO[(k - 1) * 256 + n]!;
      const hi = C64_HI[(k - 1) * 256 + n]!;
      const idx = lo & 0xff;
      C64_LO[k * 256 + n] = (((lo >>> 8) | ((hi & 0xff) << 24)) ^ C64_LO[idx]!) >>> 0;
      C64_HI[k * 256 + n] = ((hi >>> 8) ^ C64_HI[idx]!) >>> 0;
    }
  }
})();

/** CRC-64 as a little-endian 8-byte value (xz stores it that way). */
export function crc64(data: Uint8Array, from = 0, to = data.length): Uint8Array {
  let lo = 0xffff_ffff;
  let hi = 0xffff_ffff;
  let i = from;
  for (const end8 = to - 7; i < end8; i += 8) {
    // The CRC's eight bytes meet the next eight data bytes; each of the eight is then k bytes from the end.
    const a = lo ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    const b = hi ^ (data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24));
    const i7 = 7 * 256 + (a & 0xff);
    const i6 = 6 * 256 + ((a >>> 8) & 0xff);
    const i5 = 5 * 256 + ((a >>> 16) & 0xff);
    const i4 = 4 * 256 + (a >>> 24);
    const i3 = 3 * 256 + (b & 0xff);
    const i2 = 2 * 256 + ((b >>> 8) & 0xff);
    const i1 = 256 + ((b >>> 16) & 0xff);
    const i0 = b >>> 24;
    lo = C64_LO[i7]! ^ C64_LO[i6]! ^ C64_LO[i5]! ^ C64_LO[i4]! ^ C64_LO[i3]! ^ C64_LO[i2]! ^ C64_LO[i1]! ^ C64_LO[i0]!;
    hi = C64_HI[i7]! ^ C64_HI[i6]! ^ C64_HI[i5]! ^ C64_HI[i4]! ^ C64_HI[i3]! ^ C64_HI[i2]! ^ C64_HI[i1]! ^ C64_HI[i0]!;
  }
  for (; i < to; i++) {
    const idx = (lo ^ data[i]!) & 0xff;
    lo = ((lo >>> 8) | ((hi & 0xff) << 24)) ^ C64_LO[idx]!;
    hi = (hi >>> 8) ^ C64_HI[idx]!;
  }
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  v.setUint32(0, ~lo >>> 0, true);
  v.setUint32(4, ~hi >>> 0, true);
  return out;
}
