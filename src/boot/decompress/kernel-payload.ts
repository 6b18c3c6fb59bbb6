/**
 * The compressed kernel inside a bzImage: found through the setup header's payload_offset and
 * payload_length (boot protocol 2.08+, relative to the protected-mode code), its method named by
 * its magic bytes, its decompressed length in its last four bytes (the kernel build appends it,
 * and for gzip it is the trailer's ISIZE). Decompresses with fzstd (zstd) or tsvmm's own decoders
 * (gzip, xz, lzma, lz4), none of them Node-only, so a browser boots the same images.
 */
import { gunzip } from './gzip.js';
import { decompress as zstdDecompress } from 'fzstd';
import { DecompressError, warmUpLzmaDecoder, type DecompressErrorKind } from './lzma-decoder.js';
import { warmUpXzDecoder, xzDecompress } from './xz.js';
import { lzmaDecompress } from './lzma-alone.js';
import { lz4LegacyDecompress } from './lz4-legacy.js';

export { DecompressError, type DecompressErrorKind };

export type CompressionMethod = 'gzip' | 'xz' | 'zstd' | 'lz4' | 'lzma' | 'bzip2' | 'lzo';

export const SUPPORTED_METHODS: readonly CompressionMethod[] = ['gzip', 'xz', 'zstd', 'lz4', 'lzma'];

/** Largest decompressed kernel tsvmm accepts (a bound on the size read from untrusted input). */
export const MAX_KERNEL_BYTES = 512 * 1024 * 1024;

/** The method from the payload's magic bytes, as the kernel's own decompressor dispatch knows them. */
export function detectMethod(p: Uint8Array): CompressionMethod | undefined {
  const at = (i: number) => p[i] ?? -1;
  if (at(0) === 0x1f && (at(1) === 0x8b || at(1) === 0x9e)) return 'gzip';
  if (at(0) === 0xfd && at(1) === 0x37 && at(2) === 0x7a && at(3) === 0x58 && at(4) === 0x5a && at(5) === 0x00) return 'xz';
  if (at(0) === 0x28 && at(1) === 0xb5 && at(2) === 0x2f && at(3) === 0xfd) return 'zstd';
  if (at(0) === 0x02 && at(1) === 0x21 && at(2) === 0x4c && at(3) === 0x18) return 'lz4';
  if (at(0) === 0x42 && at(1) === 0x5a && at(2) === 0x68) return 'bzip2';
  if (at(0) === 0x89 && at(1) === 0x4c && at(2) === 0x5a && at(3) === 0x4f) return 'lzo';
  if (at(0) === 0x5d && at(1) === 0x00 && at(2) === 0x00) return 'lzma';
  return undefined;
}

/**
 * Has the decoder `payload` needs compiled by V8 in the background while the caller does other work before
 * decompressPayload (xz and lzma, whose loop is big enough for that to matter; see warmUpLzmaDecoder).
 */
export function warmUpDecompressor(payload: Uint8Array): void {
  const method = detectMethod(payload);
  if (method === 'xz') warmUpXzDecoder();
  else if (method === 'lzma') warmUpLzmaDecoder();
}

export interface Decompressed {
  readonly method: CompressionMethod;
  readonly data: Uint8Array;
}

/**
 * Where a payload of `size` bytes is decompressed to: a buffer exactly that long (a loader passes a view of
 * guest RAM, so the 66 MB of a kernel are not written to a host buffer first and then copied), or undefined
 * for a new host buffer. Called once the size is known and within bounds.
 */
export type OutputBuffer = (size: number) => Uint8Array | undefined;

/**
 * Decompresses a kernel payload; DecompressError for unsupported methods and corrupt or truncated data.
 * `maxBytes` bounds the output (and the buffer sized by the payload's own length field): a kernel larger
 * than the guest's RAM could not be loaded anyway, so a small image cannot make the host allocate more.
 */
export function decompressPayload(payload: Uint8Array, maxBytes: number = MAX_KERNEL_BYTES, output?: OutputBuffer): Decompressed {
  const limit = Math.min(maxBytes, MAX_KERNEL_BYTES);
  const method = detectMethod(payload);
  if (method === undefined) {
    const head = Array.from(payload.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new DecompressError('unknown-format', `the compressed kernel starts with ${head}, which is no compression format the kernel uses (gzip, xz, zstd, lz4, lzma, bzip2, lzo)`);
  }
  if (!SUPPORTED_METHODS.includes(method)) {
    throw new DecompressError('unsupported', `the kernel is compressed with ${method}, which tsvmm cannot decompress (it supports ${SUPPORTED_METHODS.join(', ')}); use --kernel-decompress guest to let the kernel decompress itself`);
  }
  if (payload.length < 8) throw new DecompressError('damaged', `truncated ${method} payload (${payload.length} bytes)`);
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const size = v.getUint32(payload.length - 4, true);
  if (size === 0 || size > MAX_KERNEL_BYTES) throw new DecompressError('damaged', `the ${method} payload announces ${size} decompressed bytes (corrupt or truncated)`);
  if (size > limit) throw new DecompressError('too-big', `the ${method} payload decompresses to ${size} bytes, more than the guest's ${limit} bytes of RAM`);
  const body = payload.subarray(0, payload.length - 4);
  const out = output?.(size) ?? new Uint8Array(size);
  if (out.length !== size) throw new DecompressError('internal', `unreachable: an output buffer of ${out.length} bytes for ${size}`);
  let data: Uint8Array;
  try {
    switch (method) {
      case 'gzip':
        data = gunzip(payload, size, out);
        break;
      case 'xz':
        data = xzDecompress(body, size, out);
        break;
      case 'lzma':
        data = lzmaDecompress(body, size, out);
        break;
      case 'lz4':
        data = lz4LegacyDecompress(body, size, out);
        break;
      case 'zstd':
        data = zstdDecompress(body, out);
        break;
      default:
        throw new DecompressError('internal', `unreachable: ${method}`);
    }
  } catch (e) {
    if (e instanceof DecompressError) throw e;
    // fzstd reports corruption with its own errors.
    throw new DecompressError('damaged', `corrupt or truncated ${method} data: ${(e as Error).message}`);
  }
  if (data.length !== size) throw new DecompressError('damaged', `the ${method} payload decompressed to ${data.length} bytes, but the image says ${size} (corrupt or truncated)`);
  return { method, data };
}
