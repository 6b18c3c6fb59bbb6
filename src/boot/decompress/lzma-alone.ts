/**
 * The legacy .lzma container ("LZMA alone", what `lzma` writes and the kernel's CONFIG_KERNEL_LZMA
 * uses): properties byte, 32-bit dictionary size, 64-bit uncompressed size (all-ones: unknown,
 * the data then ends with an end marker), then the LZMA range-coded data.
 */
import { DecompressError, LzmaDecoder, parseLzmaProperties } from './lzma-decoder.js';

const HEADER = 13;

/** `out`, when given, is where the `size` bytes go (exactly that long); else a new buffer. */
export function lzmaDecompress(data: Uint8Array, size: number, out: Uint8Array = new Uint8Array(size)): Uint8Array {
  if (data.length < HEADER + 5) throw new DecompressError('damaged', 'truncated lzma data (header)');
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const props = parseLzmaProperties(data[0]!);
  const lo = v.getUint32(5, true);
  const hi = v.getUint32(9, true);
  const known = !(lo === 0xffff_ffff && hi === 0xffff_ffff);
  if (known && (hi !== 0 || lo !== size)) throw new DecompressError('damaged', `lzma header says ${hi * 2 ** 32 + lo} bytes, but the image says ${size}`);
  const dec = new LzmaDecoder(out);
  dec.setProperties(props);
  dec.resetState();
  dec.startRangeCoder(data, HEADER, data.length);
  const marker = dec.decode(size, true);
  // Without a known size the stream must end with its marker right after the last byte.
  if (!known && !marker && !dec.endMarkerFollows()) throw new DecompressError('damaged', 'corrupt lzma data (no end marker)');
  if (dec.outPos !== size) throw new DecompressError('damaged', `lzma data holds ${dec.outPos} bytes, but the image says ${size}`);
  return out;
}
