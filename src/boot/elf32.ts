/**
 * The part of an ELF32 executable a multiboot loader needs: the file header and the
 * PT_LOAD program headers (System V ABI, "ELF Object File Format"; i386 supplement).
 */
import { BootError } from './boot-error.js';

export const ELF_MAGIC = 0x464c457f; // "\x7fELF" read little-endian
export const EI_CLASS = 4;
export const EI_DATA = 5;
export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const EM_386 = 3;
export const EM_X86_64 = 62;
export const PT_LOAD = 1;
export const ELF32_EHDR_SIZE = 52;
export const ELF32_PHDR_SIZE = 32;
/** Bound on program headers read from an untrusted file. */
export const ELF_MAX_PHDRS = 256;

export interface Elf32Segment {
  /** Index of the program header, for messages. */
  index: number;
  offset: number;
  vaddr: number;
  paddr: number;
  filesz: number;
  memsz: number;
}

export interface Elf32Image {
  entry: number;
  /** PT_LOAD segments with memsz > 0, in file order. */
  segments: Elf32Segment[];
}

export function isElf(image: Uint8Array): boolean {
  return image.length >= 4 && new DataView(image.buffer, image.byteOffset, 4).getUint32(0, true) === ELF_MAGIC;
}

/** Parses an ELF32 little-endian i386 executable; anything else is a BootError naming the file. */
export function parseElf32(image: Uint8Array, fileName: string): Elf32Image {
  const fail = (what: string): never => {
    throw new BootError(`${fileName}: ${what}`);
  };
  if (!isElf(image)) fail('not an ELF file (no \\x7fELF magic)');
  if (image.length < ELF32_EHDR_SIZE) fail(`truncated ELF file: ${image.length} bytes, shorter than the ${ELF32_EHDR_SIZE}-byte ELF32 header`);
  const elfClass = image[EI_CLASS];
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const machine = dv.getUint16(0x12, true);
  if (elfClass === ELFCLASS64) {
    fail(
      `64-bit ELF (ELFCLASS64${machine === EM_X86_64 ? ', EM_X86_64' : ''}): a multiboot v1 kernel without address fields must be ` +
        'an ELF32 i386 image (link with -m elf_i386, or convert with objcopy -O elf32-i386; 64-bit code that enters in 32-bit mode is fine)',
    );
  }
  if (elfClass !== ELFCLASS32) fail(`unknown ELF class ${elfClass ?? '?'}: expected ELFCLASS32 (1)`);
  if (image[EI_DATA] !== ELFDATA2LSB) fail('big-endian ELF: expected a little-endian (ELFDATA2LSB) i386 image');
  if (machine !== EM_386) fail(`ELF machine ${machine}${machine === EM_X86_64 ? ' (EM_X86_64)' : ''}: expected EM_386 (3), convert with objcopy -O elf32-i386`);

  const entry = dv.getUint32(0x18, true);
  const phoff = dv.getUint32(0x1c, true);
  const phentsize = dv.getUint16(0x2a, true);
  const phnum = dv.getUint16(0x2c, true);
  if (phnum === 0) fail('ELF file has no program headers, so nothing to load');
  if (phnum > ELF_MAX_PHDRS) fail(`ELF file claims ${phnum} program headers (more than ${ELF_MAX_PHDRS}): corrupt`);
  if (phentsize < ELF32_PHDR_SIZE) fail(`ELF program header size ${phentsize} is smaller than ${ELF32_PHDR_SIZE}: corrupt`);
  if (phoff + phnum * phentsize > image.length) {
    fail(`truncated ELF file: program headers end at byte ${phoff + phnum * phentsize} but the file has ${image.length} bytes`);
  }
  const segments: Elf32Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (dv.getUint32(p, true) !== PT_LOAD) continue;
    const seg: Elf32Segment = {
      index: i,
      offset: dv.getUint32(p + 4, true),
      vaddr: dv.getUint32(p + 8, true),
      paddr: dv.getUint32(p + 12, true),
      filesz: dv.getUint32(p + 16, true),
      memsz: dv.getUint32(p + 20, true),
    };
    if (seg.memsz === 0) continue;
    if (seg.filesz > seg.memsz) fail(`ELF segment ${i} has p_filesz 0x${seg.filesz.toString(16)} > p_memsz 0x${seg.memsz.toString(16)}: corrupt`);
    if (seg.offset + seg.filesz > image.length) {
      fail(`truncated ELF file: segment ${i} needs bytes up to ${seg.offset + seg.filesz} but the file has ${image.length}`);
    }
    if (seg.paddr + seg.memsz > 0x1_0000_0000) fail(`ELF segment ${i} at physical 0x${seg.paddr.toString(16)} wraps past 4 GiB`);
    segments.push(seg);
  }
  if (segments.length === 0) fail('ELF file has no loadable (PT_LOAD) segments');
  return { entry, segments };
}
