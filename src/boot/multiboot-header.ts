/**
 * Finding the multiboot v1 header (Multiboot Specification 0.6.96, section 3.1): a
 * 32-bit aligned structure wholly inside the first 8192 bytes of the image, whose
 * magic, flags and checksum sum to zero mod 2^32.
 */
import { BootError } from './boot-error.js';

export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
export const MULTIBOOT_SEARCH = 8192;
export const MULTIBOOT_HEADER_ALIGN = 4;
/** flags bit 0: modules must be page aligned (tsvmm always page-aligns them). */
export const MULTIBOOT_PAGE_ALIGN = 1 << 0;
/** flags bit 1: the kernel wants mem_* (always provided). */
export const MULTIBOOT_MEMORY_INFO = 1 << 1;
/** flags bit 2: the kernel wants a video mode (not provided, like QEMU). */
export const MULTIBOOT_VIDEO_MODE = 1 << 2;
/** flags bit 16: the header's address fields say where to load the image (a.out kludge). */
export const MULTIBOOT_AOUT_KLUDGE = 1 << 16;

export interface MultibootAddressFields {
  headerAddr: number;
  loadAddr: number;
  loadEndAddr: number;
  bssEndAddr: number;
  entryAddr: number;
}

export interface MultibootHeader {
  /** File offset of the magic. */
  offset: number;
  flags: number;
  /** Present when flags bit 16 is set. */
  address?: MultibootAddressFields;
}

export type HeaderSearch =
  | { found: MultibootHeader }
  | { badChecksum: { offset: number; flags: number; checksum: number } }
  | { none: true };

/** Scans for the header without throwing, so format detection can report what it saw. */
export function scanMultibootHeader(image: Uint8Array): HeaderSearch {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const end = Math.min(image.length, MULTIBOOT_SEARCH);
  let bad: { offset: number; flags: number; checksum: number } | undefined;
  for (let i = 0; i + 12 <= end; i += MULTIBOOT_HEADER_ALIGN) {
    if (dv.getUint32(i, true) !== MULTIBOOT_HEADER_MAGIC) continue;
    const flags = dv.getUint32(i + 4, true);
    const checksum = dv.getUint32(i + 8, true);
    if (((MULTIBOOT_HEADER_MAGIC + flags + checksum) >>> 0) !== 0) {
      bad ??= { offset: i, flags, checksum };
      continue;
    }
    return { found: { offset: i, flags } };
  }
  return bad ? { badChecksum: bad } : { none: true };
}

/** The header with its address fields decoded; a BootError naming the file if absent or broken. */
export function parseMultibootHeader(image: Uint8Array, fileName: string): MultibootHeader {
  const r = scanMultibootHeader(image);
  if ('none' in r) {
    throw new BootError(`${fileName}: no multiboot header (magic 0x1BADB002) in the first ${MULTIBOOT_SEARCH} bytes`);
  }
  if ('badChecksum' in r) {
    const b = r.badChecksum;
    const want = (-(MULTIBOOT_HEADER_MAGIC + b.flags) >>> 0).toString(16);
    throw new BootError(
      `${fileName}: multiboot header at offset ${b.offset} has a bad checksum 0x${b.checksum.toString(16)} ` +
        `(magic + flags + checksum must be 0 mod 2^32; for flags 0x${b.flags.toString(16)} the checksum is 0x${want})`,
    );
  }
  const h = r.found;
  if (!(h.flags & MULTIBOOT_AOUT_KLUDGE)) return h;
  const need = h.offset + 32;
  if (need > image.length || need > MULTIBOOT_SEARCH) {
    throw new BootError(`${fileName}: truncated multiboot header at offset ${h.offset}: flags bit 16 needs address fields up to byte ${need}, the image has ${image.length}`);
  }
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  return {
    ...h,
    address: {
      headerAddr: dv.getUint32(h.offset + 12, true),
      loadAddr: dv.getUint32(h.offset + 16, true),
      loadEndAddr: dv.getUint32(h.offset + 20, true),
      bssEndAddr: dv.getUint32(h.offset + 24, true),
      entryAddr: dv.getUint32(h.offset + 28, true),
    },
  };
}
