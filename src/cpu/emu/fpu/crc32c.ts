/**
 * SSE4.2 CRC32: the CRC-32C (Castagnoli, polynomial 0x1EDC6F41) of the source bytes,
 * least significant byte first, accumulated into a 32-bit value with neither initial nor
 * final inversion (the instruction is one step of the usual software loop, which does
 * those itself). Byte-at-a-time with a 256-entry table of the reflected polynomial.
 */

const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** Folds `bytes` (1-4) low-order bytes of `data` into `crc`; returns the new CRC (int32). */
export function crc32cBytes(crc: number, data: number, bytes: number): number {
  let c = crc;
  for (let k = 0; k < bytes; k++) {
    c = TABLE[(c ^ data) & 0xff]! ^ (c >>> 8);
    data >>>= 8;
  }
  return c | 0;
}

/** CRC32 r64, r/m64: the low dword then the high dword; the result is zero-extended by the caller. */
export function crc32cQword(crc: number, lo: number, hi: number): number {
  return crc32cBytes(crc32cBytes(crc, lo, 4), hi, 4);
}
