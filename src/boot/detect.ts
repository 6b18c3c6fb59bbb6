/**
 * Telling the two bootable formats apart, in QEMU's order: a Linux "HdrS" signature wins,
 * then a multiboot v1 header. Everything else is a BootError that says what was expected
 * and what the file looks like instead.
 */
import { BootError } from './boot-error.js';
import { ELFCLASS32, ELFCLASS64, EM_386, EM_X86_64, EI_CLASS, isElf, parseElf32 } from './elf32.js';
import { hasLinuxMagic, parseLinuxHeader } from './linux-header.js';
import { parseElf64 } from './elf64.js';
import { parseMultibootHeader, scanMultibootHeader } from './multiboot-header.js';

export type KernelFormat = 'multiboot' | 'linux' | 'vmlinux';

const EXPECTED = 'expected a Linux bzImage (boot protocol >= 2.06), an x86-64 vmlinux (ELF64) or a multiboot v1 kernel (header in the first 8 KiB)';

const b = (image: Uint8Array, i: number) => image[i] ?? -1;
const machineOf = (image: Uint8Array) => (image.length >= 0x14 ? b(image, 0x12) | (b(image, 0x13) << 8) : -1);

/** A few words on what an unbootable file looks like, for the error message. */
function describe(image: Uint8Array): string {
  if (image.length === 0) return 'an empty file';
  const b = (i: number) => image[i] ?? -1;
  if (isElf(image)) {
    const cls = b(EI_CLASS) === ELFCLASS64 ? 'ELF64' : b(EI_CLASS) === ELFCLASS32 ? 'ELF32' : 'ELF';
    const m = image.length >= 0x14 ? b(0x12) | (b(0x13) << 8) : -1;
    const arch = m === EM_X86_64 ? ' x86-64' : m === EM_386 ? ' i386' : m >= 0 ? ` (machine ${m})` : '';
    return `an ${cls}${arch} file without a multiboot header`;
  }
  if (b(0) === 0x1f && b(1) === 0x8b) return 'a gzip-compressed file (decompress it first)';
  if (b(0) === 0x4d && b(1) === 0x5a) return 'a PE/MZ executable without a Linux boot header';
  const head = Array.from(image.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join(' ');
  return `${image.length} bytes starting with ${head}`;
}

/** Identifies a kernel image, validating enough of it that loading will not hit a truncated or corrupt header. */
export function detectKernelFormat(image: Uint8Array, fileName: string): KernelFormat {
  if (hasLinuxMagic(image)) {
    parseLinuxHeader(image, fileName);
    return 'linux';
  }
  const scan = scanMultibootHeader(image);
  if ('found' in scan || 'badChecksum' in scan) {
    const h = parseMultibootHeader(image, fileName);
    if (!h.address) parseElf32(image, fileName);
    return 'multiboot';
  }
  // An ELF without a multiboot header is a vmlinux: parseElf64 names the architecture if it is not x86-64.
  if (isElf(image) && (b(image, EI_CLASS) === ELFCLASS64 || machineOf(image) !== EM_386)) {
    parseElf64(image, fileName);
    return 'vmlinux';
  }
  throw new BootError(`${fileName}: not a kernel tsvmm can boot: ${EXPECTED}; got ${describe(image)}`);
}
