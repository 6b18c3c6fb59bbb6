/**
 * LZ4 in the legacy frame format (`lz4 -l`, what the kernel's CONFIG_KERNEL_LZ4 uses): the magic
 * 0x184C2102, then blocks each preceded by its compressed size (32-bit little-endian) and each
 * decompressing to at most 8 MiB. A block is LZ4 sequences: a token (literal count in the high
 * nibble, match length - 4 in the low one, 15 meaning "more bytes follow"), the literals, a
 * 16-bit offset back into the output and the match, which may overlap what it writes.
 */
import { DecompressError } from './lzma-decoder.js';

export const LZ4_LEGACY_MAGIC = 0x184c2102;
const MIN_MATCH = 4;

function decodeBlock(src: Uint8Array, from: number, end: number, out: Uint8Array, outPos: number): number {
  let ip = from;
  let op = outPos;
  const extra = (): number => {
    let n = 0;
    let b: number;
    do {
      if (ip >= end) throw new DecompressError('damaged', 'truncated lz4 data (length)');
      b = src[ip++]!;
      n += b;
    } while (b === 255);
    return n;
  };
  while (ip < end) {
    const token = src[ip++]!;
    let lit = token >>> 4;
    if (lit === 15) lit += extra();
    if (ip + lit > end) throw new DecompressError('damaged', 'truncated lz4 data (literals)');
    if (op + lit > out.length) throw new DecompressError('damaged', 'corrupt lz4 data (more output than announced)');
    out.set(src.subarray(ip, ip + lit), op);
    ip += lit;
    op += lit;
    if (ip === end) break; // the last sequence has literals only
    if (ip + 2 > end) throw new DecompressError('damaged', 'truncated lz4 data (offset)');
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op) throw new DecompressError('damaged', `corrupt lz4 data (match offset ${offset} at output ${op})`);
    let len = token & 15;
    if (len === 15) len += extra();
    len += MIN_MATCH;
    if (op + len > out.length) throw new DecompressError('damaged', 'corrupt lz4 data (more output than announced)');
    let m = op - offset;
    for (let i = 0; i < len; i++) out[op++] = out[m++]!;
  }
  return op;
}

/** `out`, when given, is where the `size` bytes go (exactly that long); else a new buffer. */
export function lz4LegacyDecompress(data: Uint8Array, size: number, out: Uint8Array = new Uint8Array(size)): Uint8Array {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 4 || v.getUint32(0, true) !== LZ4_LEGACY_MAGIC) throw new DecompressError('damaged', 'not lz4 legacy data (bad magic)');
  let ip = 4;
  let op = 0;
  while (ip < data.length) {
    if (ip + 4 > data.length) throw new DecompressError('damaged', 'truncated lz4 data (block size)');
    const n = v.getUint32(ip, true);
    ip += 4;
    if (n === LZ4_LEGACY_MAGIC) continue; // concatenated frames
    if (ip + n > data.length) throw new DecompressError('damaged', 'truncated lz4 data (block)');
    op = decodeBlock(data, ip, ip + n, out, op);
    ip += n;
  }
  if (op !== size) throw new DecompressError('damaged', `lz4 data holds ${op} bytes, but the image says ${size}`);
  return out;
}
