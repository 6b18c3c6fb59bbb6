/**
 * The part of an x86-64 ELF64 kernel image (vmlinux) a loader needs: the entry point, the
 * PT_LOAD segments with their physical addresses, and the Xen PVH entry note
 * (XEN_ELFNOTE_PHYS32_ENTRY in a PT_NOTE segment) when the kernel has one.
 */
import { BootError } from './boot-error.js';
import { EI_CLASS, EI_DATA, ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELF_MAX_PHDRS, EM_386, EM_X86_64, PT_LOAD, isElf } from './elf32.js';

export const ELF64_EHDR_SIZE = 64;
export const ELF64_PHDR_SIZE = 56;
export const PT_NOTE = 4;
/** Xen's ELF note type for the 32-bit PVH entry point (xen/include/public/elfnote.h). */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;
export const ET_EXEC = 2;

const MACHINES: Record<number, string> = { 3: 'i386', 8: 'MIPS', 20: 'PowerPC', 21: 'PowerPC64', 22: 's390', 40: 'ARM', 43: 'SPARC64', 183: 'AArch64', 243: 'RISC-V', 258: 'LoongArch' };

export interface Elf64Segment {
  index: number;
  offset: number;
  paddr: number;
  vaddr: bigint;
  filesz: number;
  memsz: number;
}

export interface Elf64Image {
  entry: bigint;
  segments: Elf64Segment[];
  /** The PVH 32-bit entry point, when the image carries XEN_ELFNOTE_PHYS32_ENTRY. */
  pvhEntry: number | undefined;
}

export function isElf64(image: Uint8Array): boolean {
  return isElf(image) && image[EI_CLASS] === ELFCLASS64;
}

function machineName(m: number): string {
  return MACHINES[m] ? `${MACHINES[m]} (EM ${m})` : `machine ${m}`;
}

/** Parses a little-endian x86-64 ELF64 executable; anything else is a BootError naming the file. */
export function parseElf64(image: Uint8Array, fileName: string): Elf64Image {
  const fail = (what: string): never => {
    throw new BootError(`${fileName}: ${what}`);
  };
  if (!isElf(image)) fail('not an ELF file (no \\x7fELF magic)');
  if (image.length < ELF64_EHDR_SIZE) fail(`truncated ELF file: ${image.length} bytes, shorter than the ${ELF64_EHDR_SIZE}-byte ELF64 header`);
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const bigEndian = image[EI_DATA] !== ELFDATA2LSB;
  const machine = dv.getUint16(0x12, !bigEndian);
  if (image[EI_CLASS] === ELFCLASS32 && machine === EM_386) fail('a 32-bit i386 ELF kernel: tsvmm boots x86-64 vmlinux images (or multiboot kernels with a multiboot header)');
  if (machine !== EM_X86_64 || bigEndian || image[EI_CLASS] !== ELFCLASS64) {
    fail(`a vmlinux for another architecture: ELF ${image[EI_CLASS] === ELFCLASS64 ? '64' : '32'}-bit ${bigEndian ? 'big' : 'little'}-endian ${machineName(machine)}; tsvmm boots x86-64 (EM_X86_64) kernels`);
  }
  const entry = dv.getBigUint64(0x18, true);
  const phoff = Number(dv.getBigUint64(0x20, true));
  const phentsize = dv.getUint16(0x36, true);
  const phnum = dv.getUint16(0x38, true);
  if (phnum === 0) fail('ELF64 image has no program headers');
  if (phnum > ELF_MAX_PHDRS) fail(`ELF64 image claims ${phnum} program headers (more than ${ELF_MAX_PHDRS}): corrupt`);
  if (phentsize < ELF64_PHDR_SIZE) fail(`ELF64 program header size ${phentsize} is smaller than ${ELF64_PHDR_SIZE}: corrupt`);
  if (phoff + phnum * phentsize > image.length) fail(`truncated ELF64 image: program headers end at ${phoff + phnum * phentsize}, the file has ${image.length} bytes`);
  const segments: Elf64Segment[] = [];
  let pvhEntry: number | undefined;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    const type = dv.getUint32(at, true);
    const offset = Number(dv.getBigUint64(at + 8, true));
    const vaddr = dv.getBigUint64(at + 0x10, true);
    const paddr = dv.getBigUint64(at + 0x18, true);
    const filesz = Number(dv.getBigUint64(at + 0x20, true));
    const memsz = Number(dv.getBigUint64(at + 0x28, true));
    if (type === PT_NOTE) {
      if (offset + filesz > image.length) fail(`truncated ELF64 image: note segment ${i} ends past the file`);
      pvhEntry ??= findPvhEntry(image, offset, offset + filesz);
      continue;
    }
    if (type !== PT_LOAD || memsz === 0) continue;
    if (filesz > memsz) fail(`ELF64 segment ${i} has filesz ${filesz} > memsz ${memsz}: corrupt`);
    if (offset + filesz > image.length) fail(`truncated ELF64 image: segment ${i} needs bytes up to ${offset + filesz}, the file has ${image.length}`);
    if (paddr + BigInt(memsz) > 0x1_0000_0000n) fail(`ELF64 segment ${i} loads at physical 0x${paddr.toString(16)}, above 4 GiB; tsvmm loads kernels below 4 GiB`);
    segments.push({ index: i, offset, paddr: Number(paddr), vaddr, filesz, memsz });
  }
  if (segments.length === 0) fail('ELF64 image has no loadable (PT_LOAD) segments');
  return { entry, segments, pvhEntry };
}

/** Walks the notes in [from, to) for name "Xen", type XEN_ELFNOTE_PHYS32_ENTRY. */
function findPvhEntry(image: Uint8Array, from: number, to: number): number | undefined {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  let at = from;
  while (at + 12 <= to) {
    const namesz = dv.getUint32(at, true);
    const descsz = dv.getUint32(at + 4, true);
    const type = dv.getUint32(at + 8, true);
    const nameAt = at + 12;
    const descAt = nameAt + ((namesz + 3) & ~3);
    const next = descAt + ((descsz + 3) & ~3);
    if (next > to) return undefined;
    const name = String.fromCharCode(...image.subarray(nameAt, nameAt + Math.max(0, namesz - 1)));
    if (name === 'Xen' && type === XEN_ELFNOTE_PHYS32_ENTRY && (descsz === 4 || descsz === 8)) {
      const v = descsz === 8 ? dv.getBigUint64(descAt, true) : BigInt(dv.getUint32(descAt, true));
      return v < 0x1_0000_0000n ? Number(v) : undefined;
    }
    at = next;
  }
  return undefined;
}
