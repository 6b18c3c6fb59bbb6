/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib, PNG and gzip use), slicing by eight:
 * eight table lookups per eight bytes, so a snapshot's guest RAM is checked at memory speed rather
 * than a byte at a time. Pure: imports nothing.
 */
const T = new Uint32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  T[n] = c >>> 0;
}
for (let n = 0; n < 256; n++) for (let t = 1; t < 8; t++) T[t * 256 + n] = (T[(t - 1) * 256 + n]! >>> 8) ^ T[T[(t - 1) * 256 + n]! & 0xff]!;

/** Typed arrays use the host's byte order: the word loop below reads little-endian words. */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** A faster CRC-32 the host offers (Node's zlib.crc32: ~4x this one's speed), with the same meaning as crc32. */
export type Crc32Function = (bytes: Uint8Array, previous: number) => number;
let native: Crc32Function | undefined;

/** Has crc32 use `f` for all but short inputs (Node hosts set zlib.crc32); undefined goes back to this module's own. */
export function useNativeCrc32(f: Crc32Function | undefined): void {
  native = f;
}

/** Continues a CRC over `bytes` (start with 0): crc32(b, crc32(a)) === crc32(a ++ b). */
export function crc32(bytes: Uint8Array, previous = 0): number {
  if (native !== undefined && bytes.length >= 256) return native(bytes, previous);
  let c = ~previous >>> 0;
  let i = 0;
  const n = bytes.length;
  if (LITTLE_ENDIAN && n >= 64) {
    // Bytes up to a 4-byte boundary, then two aligned 32-bit words per step (one load each rather than four).
    for (const head = (4 - (bytes.byteOffset & 3)) & 3; i < head; i++) c = T[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
    const words = new Int32Array(bytes.buffer, bytes.byteOffset + i, ((n - i) >>> 3) << 1);
    for (let w = 0; w < words.length; w += 2) {
      c ^= words[w]!;
      const d = words[w + 1]!;
      c =
        T[7 * 256 + (c & 0xff)]! ^
        T[6 * 256 + ((c >>> 8) & 0xff)]! ^
        T[5 * 256 + ((c >>> 16) & 0xff)]! ^
        T[4 * 256 + (c >>> 24)]! ^
        T[3 * 256 + (d & 0xff)]! ^
        T[2 * 256 + ((d >>> 8) & 0xff)]! ^
        T[256 + ((d >>> 16) & 0xff)]! ^
        T[d >>> 24]!;
    }
    i += words.length << 2;
  }
  for (; i + 8 <= n; i += 8) {
    c ^= bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    c =
      T[7 * 256 + (c & 0xff)]! ^
      T[6 * 256 + ((c >>> 8) & 0xff)]! ^
      T[5 * 256 + ((c >>> 16) & 0xff)]! ^
      T[4 * 256 + (c >>> 24)]! ^
      T[3 * 256 + bytes[i + 4]!]! ^
      T[2 * 256 + bytes[i + 5]!]! ^
      T[256 + bytes[i + 6]!]! ^
      T[bytes[i + 7]!]!;
  }
  for (; i < n; i++) c = T[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
