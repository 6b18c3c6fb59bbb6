/**
 * The .xz container (xz file format 1.0.4): stream header and footer, blocks with LZMA2 and
 * optionally the x86 BCJ filter before it (as the kernel's `xz --x86 --lzma2` builds its
 * payload), the block checks (none, CRC-32, CRC-64; SHA-256 is refused) and the index, which
 * must agree with the blocks. Concatenated streams and stream padding are accepted.
 */
import { bcjX86Decode } from './bcj-x86.js';
import { crc32, crc64 } from './crc.js';
import { DecompressError, LzmaDecoder, parseLzmaProperties, plainBytes, warmUpLzmaDecoder } from './lzma-decoder.js';

const MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const FOOTER_MAGIC = [0x59, 0x5a];
const FILTER_LZMA2 = 0x21;
const FILTER_X86 = 0x04;
const CHECK_NONE = 0;
const CHECK_CRC32 = 1;
const CHECK_CRC64 = 4;
const CHECK_SHA256 = 10;

function checkSize(type: number): number {
  if (type === CHECK_NONE) return 0;
  if (type === CHECK_CRC32) return 4;
  if (type === CHECK_CRC64) return 8;
  if (type === CHECK_SHA256) return 32;
  // Reserved check IDs have these sizes (file format 2.1.1.2).
  return 4 << Math.floor((type - 1) / 3);
}

class Reader {
  constructor(
    readonly data: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}
  need(n: number, what: string): void {
    if (this.pos + n > this.end) throw new DecompressError('damaged', `truncated xz data (${what})`);
  }
  byte(what: string): number {
    this.need(1, what);
    return this.data[this.pos++]!;
  }
  u32(what: string): number {
    this.need(4, what);
    const d = this.data;
    const p = this.pos;
    this.pos += 4;
    return (d[p]! | (d[p + 1]! << 8) | (d[p + 2]! << 16) | (d[p + 3]! << 24)) >>> 0;
  }
  /** xz variable-length integer: 7 bits per byte, at most 9 bytes. */
  varint(what: string): number {
    let v = 0;
    for (let i = 0; i < 9; i++) {
      const b = this.byte(what);
      v += (b & 0x7f) * 2 ** (7 * i);
      if (!(b & 0x80)) {
        if (b === 0 && i > 0) throw new DecompressError('damaged', `corrupt xz data (${what}: non-minimal integer)`);
        return v;
      }
    }
    throw new DecompressError('damaged', `corrupt xz data (${what}: integer too long)`);
  }
}

/** LZMA2 chunks from r.pos into the decoder's output, up to the end-of-data marker. */
function decodeLzma2(r: Reader, dec: LzmaDecoder, outLimit: number): void {
  let needDictReset = true;
  let needProps = true;
  for (;;) {
    const control = r.byte('LZMA2 chunk header');
    if (control === 0x00) return;
    if (control >= 0xe0 || control === 0x01) {
      needProps = true;
      needDictReset = false;
      dec.dictStart = dec.outPos;
    } else if (needDictReset) {
      throw new DecompressError('damaged', 'corrupt xz data (LZMA2 does not start with a dictionary reset)');
    }
    if (control < 0x80) {
      if (control > 0x02) throw new DecompressError('damaged', `corrupt xz data (LZMA2 control byte 0x${control.toString(16)})`);
      r.need(2, 'LZMA2 chunk size');
      const size = ((r.data[r.pos]! << 8) | r.data[r.pos + 1]!) + 1;
      r.pos += 2;
      r.need(size, 'uncompressed LZMA2 chunk');
      if (dec.outPos + size > outLimit) throw new DecompressError('damaged', 'corrupt xz data (more output than announced)');
      dec.out.set(r.data.subarray(r.pos, r.pos + size), dec.outPos);
      dec.outPos += size;
      r.pos += size;
      continue;
    }
    r.need(4, 'LZMA2 chunk header');
    const unpacked = (((control & 0x1f) << 16) | (r.data[r.pos]! << 8) | r.data[r.pos + 1]!) + 1;
    const packed = ((r.data[r.pos + 2]! << 8) | r.data[r.pos + 3]!) + 1;
    r.pos += 4;
    const reset = (control >> 5) & 3;
    if (reset >= 2) {
      dec.setProperties(parseLzmaProperties(r.byte('LZMA2 properties')));
      needProps = false;
    } else if (needProps) {
      throw new DecompressError('damaged', 'corrupt xz data (LZMA2 chunk without properties)');
    }
    if (reset >= 1) dec.resetState();
    if (dec.outPos + unpacked > outLimit) throw new DecompressError('damaged', 'corrupt xz data (more output than announced)');
    r.need(packed, 'LZMA2 compressed chunk');
    dec.startRangeCoder(r.data, r.pos, r.pos + packed);
    dec.decode(dec.outPos + unpacked, false);
    if (dec.inputPosition !== r.pos + packed || !dec.rangeCoderFinished) throw new DecompressError('damaged', 'corrupt xz data (LZMA2 chunk does not end where its header says)');
    r.pos += packed;
  }
}

let filterWarm = false;

/**
 * Cold start (see lzma-decoder.ts for the LZMA loop): the x86 filter runs once over the whole kernel; it used to
 * start in the interpreter and get compiled, and deoptimised for the cases it had not met yet, on the way through
 * (~60-90 ms cold against ~30 ms warm). A dozen calls over 4 KB of pseudo-random bytes, a sixth of them E8/E9 and
 * a sixth 00/FF (every history and operand case), have it compiled with feedback for all its paths while the
 * LZMA data is decoded. Once per process, a few ms.
 */
function warmUpFilter(): void {
  filterWarm = true;
  const b = new Uint8Array(4096);
  let x = 1;
  for (let i = 0; i < b.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const r = x >>> 24;
    b[i] = r < 40 ? 0xe8 | (r & 1) : r < 80 ? (r & 1 ? 0xff : 0x00) : r;
  }
  for (let k = 0; k < 12; k++) bcjX86Decode(b.subarray(k & 3), k);
}

/** Before the data is at hand (see warmUpLzmaDecoder): has the LZMA loop and the x86 filter compiled while the caller goes on. */
export function warmUpXzDecoder(): void {
  warmUpLzmaDecoder();
  if (!filterWarm) warmUpFilter();
}

/**
 * Decompresses a whole .xz file whose uncompressed size is `size` (from the kernel's appended length),
 * into `out` when given (exactly `size` bytes long), else into a new buffer.
 */
export function xzDecompress(data: Uint8Array, size: number, out: Uint8Array = new Uint8Array(size)): Uint8Array {
  if (!filterWarm) warmUpFilter();
  // One kind of array for the checks and the filter however the caller read the file.
  data = plainBytes(data);
  const dec = new LzmaDecoder(out);
  const r = new Reader(data, 0, data.length);
  let streams = 0;
  while (r.pos < r.end) {
    // Stream padding between streams: multiples of four zero bytes.
    if (streams > 0 && data[r.pos] === 0) {
      r.need(4, 'stream padding');
      if (data[r.pos + 1] || data[r.pos + 2] || data[r.pos + 3]) throw new DecompressError('damaged', 'corrupt xz data (stream padding)');
      r.pos += 4;
      continue;
    }
    decodeStream(r, dec);
    streams++;
  }
  if (dec.outPos !== size) throw new DecompressError('damaged', `xz data holds ${dec.outPos} bytes, but the image says ${size}`);
  return out;
}

function decodeStream(r: Reader, dec: LzmaDecoder): void {
  r.need(12, 'stream header');
  for (let i = 0; i < 6; i++) if (r.data[r.pos + i] !== MAGIC[i]) throw new DecompressError('damaged', 'not xz data (bad stream header magic)');
  const flagsAt = r.pos + 6;
  if (crc32(r.data, flagsAt, flagsAt + 2) !== new DataView(r.data.buffer, r.data.byteOffset + flagsAt + 2, 4).getUint32(0, true)) throw new DecompressError('damaged', 'corrupt xz data (stream header CRC)');
  if (r.data[flagsAt] !== 0 || r.data[flagsAt + 1]! > 0x0f) throw new DecompressError('unsupported', 'unsupported xz stream flags');
  const check = r.data[flagsAt + 1]!;
  if (check === CHECK_SHA256) throw new DecompressError('unsupported', 'xz SHA-256 checks are not supported (use CRC-32 or CRC-64)');
  r.pos += 12;
  const records: { unpadded: number; uncompressed: number }[] = [];
  for (;;) {
    const headerSizeByte = r.byte('block header');
    if (headerSizeByte === 0) break; // index indicator
    const blockStart = r.pos - 1;
    const headerSize = (headerSizeByte + 1) * 4;
    r.need(headerSize - 1, 'block header');
    if (crc32(r.data, blockStart, blockStart + headerSize - 4) !== new DataView(r.data.buffer, r.data.byteOffset + blockStart + headerSize - 4, 4).getUint32(0, true)) {
      throw new DecompressError('damaged', 'corrupt xz data (block header CRC)');
    }
    const hr = new Reader(r.data, r.pos, blockStart + headerSize - 4);
    const flags = hr.byte('block flags');
    if (flags & 0x3c) throw new DecompressError('unsupported', 'unsupported xz block flags');
    const compressedSize = flags & 0x40 ? hr.varint('compressed size') : -1;
    const uncompressedSize = flags & 0x80 ? hr.varint('uncompressed size') : -1;
    const filters: { id: number; props: Uint8Array }[] = [];
    for (let i = 0; i <= (flags & 3); i++) {
      const id = hr.varint('filter ID');
      const n = hr.varint('filter properties size');
      hr.need(n, 'filter properties');
      filters.push({ id, props: r.data.subarray(hr.pos, hr.pos + n) });
      hr.pos += n;
    }
    for (let p = hr.pos; p < hr.end; p++) if (r.data[p] !== 0) throw new DecompressError('damaged', 'corrupt xz data (block header padding)');
    const last = filters[filters.length - 1]!;
    if (last.id !== FILTER_LZMA2 || last.props.length !== 1) throw new DecompressError('unsupported', `unsupported xz filter chain (${filters.map((f) => '0x' + f.id.toString(16)).join(', ')}): tsvmm supports LZMA2, optionally after the x86 BCJ filter`);
    let bcjStart: number | undefined;
    for (const f of filters.slice(0, -1)) {
      if (f.id !== FILTER_X86) throw new DecompressError('unsupported', `unsupported xz filter 0x${f.id.toString(16)}: tsvmm supports LZMA2 and the x86 BCJ filter`);
      if (f.props.length === 4) bcjStart = new DataView(f.props.buffer, f.props.byteOffset, 4).getUint32(0, true);
      else if (f.props.length === 0) bcjStart = 0;
      else throw new DecompressError('damaged', 'corrupt xz data (x86 filter properties)');
    }
    const dictBits = last.props[0]!;
    if (dictBits > 40) throw new DecompressError('damaged', 'corrupt xz data (LZMA2 dictionary size)');
    r.pos = blockStart + headerSize;
    const dataStart = r.pos;
    const outStart = dec.outPos;
    const outLimit = uncompressedSize >= 0 ? Math.min(dec.out.length, outStart + uncompressedSize) : dec.out.length;
    decodeLzma2(r, dec, outLimit); // distances are checked against the data decoded, which is the whole dictionary
    const compressed = r.pos - dataStart;
    const produced = dec.outPos - outStart;
    if ((compressedSize >= 0 && compressed !== compressedSize) || (uncompressedSize >= 0 && produced !== uncompressedSize)) throw new DecompressError('damaged', 'corrupt xz data (block sizes differ from its header)');
    while ((r.pos - blockStart) % 4 !== 0) if (r.byte('block padding') !== 0) throw new DecompressError('damaged', 'corrupt xz data (block padding)');
    // The check covers the original data, after every filter is undone.
    if (bcjStart !== undefined) bcjX86Decode(dec.out.subarray(outStart, dec.outPos), bcjStart);
    const cs = checkSize(check);
    r.need(cs, 'block check');
    if (check === CHECK_CRC32) {
      if (crc32(dec.out, outStart, dec.outPos) !== new DataView(r.data.buffer, r.data.byteOffset + r.pos, 4).getUint32(0, true)) throw new DecompressError('damaged', 'corrupt xz data (CRC-32 of the data does not match)');
    } else if (check === CHECK_CRC64) {
      const c = crc64(dec.out, outStart, dec.outPos);
      for (let i = 0; i < 8; i++) if (c[i] !== r.data[r.pos + i]) throw new DecompressError('damaged', 'corrupt xz data (CRC-64 of the data does not match)');
    }
    r.pos += cs;
    records.push({ unpadded: headerSize + compressed + cs, uncompressed: produced });
  }
  // Index: count, records, padding, CRC-32; it must describe the blocks just decoded.
  const indexStart = r.pos - 1;
  const count = r.varint('index');
  if (count !== records.length) throw new DecompressError('damaged', 'corrupt xz data (index record count)');
  for (const rec of records) {
    if (r.varint('index') !== rec.unpadded || r.varint('index') !== rec.uncompressed) throw new DecompressError('damaged', 'corrupt xz data (index does not match the blocks)');
  }
  while ((r.pos - indexStart) % 4 !== 0) if (r.byte('index padding') !== 0) throw new DecompressError('damaged', 'corrupt xz data (index padding)');
  const indexCrc = r.u32('index CRC');
  if (crc32(r.data, indexStart, r.pos - 4) !== indexCrc) throw new DecompressError('damaged', 'corrupt xz data (index CRC)');
  const indexSize = r.pos - indexStart;
  // Footer: CRC-32, backward size, flags, "YZ".
  const footerCrc = r.u32('stream footer');
  const footerAt = r.pos;
  const backward = (r.u32('stream footer') + 1) * 4;
  r.need(4, 'stream footer');
  if (crc32(r.data, footerAt, footerAt + 6) !== footerCrc) throw new DecompressError('damaged', 'corrupt xz data (stream footer CRC)');
  if (backward !== indexSize || r.data[r.pos] !== 0 || r.data[r.pos + 1] !== check) throw new DecompressError('damaged', 'corrupt xz data (stream footer does not match the header and index)');
  if (r.data[r.pos + 2] !== FOOTER_MAGIC[0] || r.data[r.pos + 3] !== FOOTER_MAGIC[1]) throw new DecompressError('damaged', 'corrupt xz data (stream footer magic)');
  r.pos += 4;
}
