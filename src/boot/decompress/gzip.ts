/**
 * gzip (RFC 1952) around DEFLATE (RFC 1951), decoded here rather than by Node's zlib so the boot
 * loaders run in a browser too. The output size is known up front (the trailer's ISIZE, bounded by
 * the caller), so the output is one preallocated buffer and back references copy within it.
 * Checks: the header's method, the block types, code lengths that form a prefix code, distances
 * inside the output, and the trailer's CRC-32 and length.
 */
import { DecompressError } from './lzma-decoder.js';
import { crc32 } from '../../util/crc32.js';

const FTEXT_FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;

const LENGTH_BASE = Uint16Array.of(3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258);
const LENGTH_EXTRA = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0);
const DIST_BASE = Uint16Array.of(1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577);
const DIST_EXTRA = Uint8Array.of(0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13);
/** The order in which a dynamic block sends the code-length code's lengths. */
const CLEN_ORDER = Uint8Array.of(16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15);

const MAX_BITS = 15;

/**
 * A canonical Huffman code as a lookup table indexed by the next MAX_BITS input bits (bit-reversed,
 * as DEFLATE sends codes most significant bit first into an LSB-first stream): each entry is
 * symbol << 4 | code length, 0 where no code matches.
 */
class Huffman {
  readonly table: Uint32Array;
  readonly bits: number;

  constructor(lengths: Uint8Array, count: number, what: string) {
    let max = 0;
    const blCount = new Uint16Array(MAX_BITS + 1);
    for (let i = 0; i < count; i++) {
      const l = lengths[i]!;
      blCount[l]!++;
      if (l > max) max = l;
    }
    blCount[0] = 0;
    // Over-subscribed code lengths describe no prefix code.
    let left = 1;
    for (let b = 1; b <= MAX_BITS; b++) {
      left = (left << 1) - blCount[b]!;
      if (left < 0) throw new DecompressError('damaged', `corrupt gzip data (over-subscribed ${what} code)`);
    }
    this.bits = Math.max(max, 1);
    this.table = new Uint32Array(1 << this.bits);
    const next = new Uint16Array(MAX_BITS + 2);
    for (let b = 1, code = 0; b <= MAX_BITS; b++) {
      code = (code + blCount[b - 1]!) << 1;
      next[b] = code;
    }
    for (let sym = 0; sym < count; sym++) {
      const len = lengths[sym]!;
      if (len === 0) continue;
      const code = next[len]!++;
      let rev = 0;
      for (let i = 0; i < len; i++) rev |= ((code >>> i) & 1) << (len - 1 - i);
      const entry = (sym << 4) | len;
      for (let i = rev; i < this.table.length; i += 1 << len) this.table[i] = entry;
    }
  }
}

let fixedLit: Huffman | undefined;
let fixedDist: Huffman | undefined;
function fixedCodes(): [Huffman, Huffman] {
  if (fixedLit === undefined || fixedDist === undefined) {
    const l = new Uint8Array(288);
    l.fill(8, 0, 144);
    l.fill(9, 144, 256);
    l.fill(7, 256, 280);
    l.fill(8, 280, 288);
    fixedLit = new Huffman(l, 288, 'literal/length');
    fixedDist = new Huffman(new Uint8Array(30).fill(5), 30, 'distance');
  }
  return [fixedLit, fixedDist];
}

class BitReader {
  pos: number;
  private bitBuf = 0;
  private bitCnt = 0;

  constructor(
    private readonly src: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    this.pos = start;
  }

  /** Makes at least `n` (<= 24) bits available; past the end it feeds zeros, caught by `checkOverrun`. */
  private need(n: number): void {
    while (this.bitCnt < n) {
      const b = this.pos < this.end ? this.src[this.pos]! : 0;
      this.pos++;
      this.bitBuf |= b << this.bitCnt;
      this.bitCnt += 8;
    }
  }

  bits(n: number): number {
    if (n === 0) return 0;
    this.need(n);
    const v = this.bitBuf & ((1 << n) - 1);
    this.bitBuf >>>= n;
    this.bitCnt -= n;
    return v;
  }

  decode(h: Huffman): number {
    this.need(h.bits);
    const e = h.table[this.bitBuf & ((1 << h.bits) - 1)]!;
    const len = e & 15;
    if (len === 0) throw new DecompressError('damaged', 'corrupt gzip data (invalid Huffman code)');
    this.bitBuf >>>= len;
    this.bitCnt -= len;
    return e >>> 4;
  }

  /** Drops the bits left in the current byte (stored blocks start byte-aligned). */
  alignToByte(): void {
    const drop = this.bitCnt & 7;
    this.bitBuf >>>= drop;
    this.bitCnt -= drop;
    // Whole bytes still buffered go back to the byte stream.
    this.pos -= this.bitCnt >>> 3;
    this.bitBuf = 0;
    this.bitCnt = 0;
  }

  checkOverrun(): void {
    if (this.pos - (this.bitCnt >>> 3) > this.end) throw new DecompressError('damaged', 'truncated gzip data');
  }
}

function dynamicCodes(br: BitReader): [Huffman, Huffman] {
  const hlit = br.bits(5) + 257;
  const hdist = br.bits(5) + 1;
  const hclen = br.bits(4) + 4;
  if (hlit > 286 || hdist > 30) throw new DecompressError('damaged', 'corrupt gzip data (too many codes in a dynamic block)');
  const cl = new Uint8Array(19);
  for (let i = 0; i < hclen; i++) cl[CLEN_ORDER[i]!] = br.bits(3);
  const clCode = new Huffman(cl, 19, 'code-length');
  const lengths = new Uint8Array(hlit + hdist);
  for (let i = 0; i < lengths.length; ) {
    const sym = br.decode(clCode);
    if (sym < 16) {
      lengths[i++] = sym;
      continue;
    }
    let repeat: number;
    let value = 0;
    if (sym === 16) {
      if (i === 0) throw new DecompressError('damaged', 'corrupt gzip data (repeat with no previous length)');
      value = lengths[i - 1]!;
      repeat = 3 + br.bits(2);
    } else if (sym === 17) repeat = 3 + br.bits(3);
    else repeat = 11 + br.bits(7);
    if (i + repeat > lengths.length) throw new DecompressError('damaged', 'corrupt gzip data (code lengths overrun)');
    lengths.fill(value, i, i + repeat);
    i += repeat;
  }
  if (lengths[256] === 0) throw new DecompressError('damaged', 'corrupt gzip data (no end-of-block code)');
  return [new Huffman(lengths, hlit, 'literal/length'), new Huffman(lengths.subarray(hlit), hdist, 'distance')];
}

/** Raw DEFLATE from `src[start..end)` into `out`; returns the input position after the last block. */
export function inflateRaw(src: Uint8Array, start: number, end: number, out: Uint8Array): { inputEnd: number; outputLength: number } {
  const br = new BitReader(src, start, end);
  let op = 0;
  let last = 0;
  while (last === 0) {
    last = br.bits(1);
    const type = br.bits(2);
    if (type === 0) {
      br.alignToByte();
      if (br.pos + 4 > end) throw new DecompressError('damaged', 'truncated gzip data (stored block header)');
      const len = src[br.pos]! | (src[br.pos + 1]! << 8);
      const nlen = src[br.pos + 2]! | (src[br.pos + 3]! << 8);
      if ((len ^ 0xffff) !== nlen) throw new DecompressError('damaged', 'corrupt gzip data (stored block length check)');
      br.pos += 4;
      if (br.pos + len > end) throw new DecompressError('damaged', 'truncated gzip data (stored block)');
      if (op + len > out.length) throw new DecompressError('damaged', 'gzip data longer than its stated size');
      out.set(src.subarray(br.pos, br.pos + len), op);
      op += len;
      br.pos += len;
      continue;
    }
    if (type === 3) throw new DecompressError('damaged', 'corrupt gzip data (reserved block type 3)');
    const [lit, dist] = type === 1 ? fixedCodes() : dynamicCodes(br);
    for (;;) {
      const sym = br.decode(lit);
      if (sym < 256) {
        if (op >= out.length) throw new DecompressError('damaged', 'gzip data longer than its stated size');
        out[op++] = sym;
        continue;
      }
      if (sym === 256) break;
      const li = sym - 257;
      if (li >= 29) throw new DecompressError('damaged', 'corrupt gzip data (invalid length symbol)');
      const len = LENGTH_BASE[li]! + br.bits(LENGTH_EXTRA[li]!);
      const di = br.decode(dist);
      if (di >= 30) throw new DecompressError('damaged', 'corrupt gzip data (invalid distance symbol)');
      const d = DIST_BASE[di]! + br.bits(DIST_EXTRA[di]!);
      if (d > op) throw new DecompressError('damaged', 'corrupt gzip data (distance before the start of the output)');
      if (op + len > out.length) throw new DecompressError('damaged', 'gzip data longer than its stated size');
      // Byte by byte: a match may overlap what it writes (distance < length repeats a pattern).
      for (let k = 0; k < len; k++, op++) out[op] = out[op - d]!;
    }
    br.checkOverrun();
  }
  br.alignToByte();
  br.checkOverrun();
  return { inputEnd: br.pos, outputLength: op };
}

/** Decodes one gzip member whose trailer says it holds `size` bytes (the caller checked `size` against its limit). */
/** `out`, when given, is where the `size` bytes go (exactly that long); else a new buffer. */
export function gunzip(data: Uint8Array, size: number, out: Uint8Array = new Uint8Array(size)): Uint8Array {
  if (data.length < 18) throw new DecompressError('damaged', `truncated gzip data (${data.length} bytes)`);
  if (data[0] !== 0x1f || (data[1] !== 0x8b && data[1] !== 0x9e)) throw new DecompressError('damaged', 'not gzip data (bad magic)');
  if (data[2] !== 8) throw new DecompressError('unsupported', `gzip compression method ${data[2]} is not DEFLATE (8)`);
  const flags = data[3]!;
  let p = 10;
  if (flags & FEXTRA) {
    if (p + 2 > data.length) throw new DecompressError('damaged', 'truncated gzip header');
    p += 2 + (data[p]! | (data[p + 1]! << 8));
  }
  for (const f of [FNAME, FCOMMENT]) {
    if (flags & f) {
      while (p < data.length && data[p] !== 0) p++;
      p++;
    }
  }
  if (flags & FTEXT_FHCRC) p += 2;
  if (p + 8 > data.length) throw new DecompressError('damaged', 'truncated gzip header');
  const { inputEnd, outputLength } = inflateRaw(data, p, data.length - 8, out);
  if (inputEnd + 8 > data.length) throw new DecompressError('damaged', 'truncated gzip data (trailer)');
  const v = new DataView(data.buffer, data.byteOffset + inputEnd, 8);
  if (v.getUint32(4, true) !== outputLength >>> 0 || outputLength !== size) {
    throw new DecompressError('damaged', `gzip data decompressed to ${outputLength} bytes, but its trailer says ${v.getUint32(4, true)} (corrupt or truncated)`);
  }
  if (crc32(out) !== v.getUint32(0, true)) throw new DecompressError('damaged', 'corrupt gzip data (CRC-32 mismatch)');
  return out;
}
