/**
 * Multiboot v1 loader, placing things where QEMU's `-kernel` does so guests written for
 * QEMU run unchanged: kernel by its header address fields or ELF32 physical addresses,
 * the mods list and strings on the next page after the kernel, each module page-aligned
 * after that, the memory map at 0x9000 and the info structure at 0x9500.
 * Entry state: Multiboot Specification 0.6.96 section 3.2 (32-bit flat protected mode).
 */
import type { RegId } from '../cpu/registers.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { BootError } from './boot-error.js';
import type { BootBlob, BootSetup } from './boot-setup.js';
import {
  FLAT_CODE32_ATTRS,
  FLAT_DATA_ATTRS,
  GdtBuilder,
  TSS_BUSY_ATTRS,
  TSS_LIMIT,
  flatEntryRegisters,
} from './descriptors.js';
import { parseElf32 } from './elf32.js';
import { CONVENTIONAL_MEMORY_END, ONE_MIB, pcMemoryMap, ramSpan } from './memory-map.js';
import { MULTIBOOT_VIDEO_MODE, parseMultibootHeader, type MultibootHeader } from './multiboot-header.js';
import { GuestPlacer, PAGE, alignUp, cString, hexAddr, sizeText } from './placement.js';

/** EAX at entry tells the kernel a multiboot v1 loader started it. */
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
export const MULTIBOOT_LOADER_NAME = 'tsvmm';

// --- Fixed guest-physical addresses (all in conventional memory below the EBDA) ---
/** GDT: first free byte after the real-mode IVT (0x0-0x3ff) and BIOS data area (0x400-0x4ff). */
export const MB_GDT_ADDR = 0x500;
/** TSS placeholder right after the 4-entry GDT, only so TR holds a valid busy TSS at entry. */
export const MB_TSS_ADDR = 0x580;
/** Initial ESP: where a BIOS leaves the stack for a boot sector (spec: ESP undefined, the OS sets its own). */
export const MB_BOOT_STACK_TOP = 0x7c00;
/** Memory map: QEMU's multiboot option ROM builds the e820 map here (ADDR_E820_MAP). */
export const MB_MMAP_ADDR = 0x9000;
/** Info structure: QEMU places it 0x500 after the map (ADDR_MBI). */
export const MB_INFO_ADDR = 0x9500;
/** Low area tsvmm writes before the kernel runs (QEMU's places); moved when a kernel loads into it. */
export const MB_BOOT_AREA_START = MB_GDT_ADDR;
export const MB_BOOT_AREA_END = 0xa000;
/**
 * The same data packed in one page, for kernels linked over the default places: GDT at +0, TSS at
 * +0x80, memory map at +0x100, info at +0x500 (the map has a dozen entries at most: 0x400 is ample).
 */
const MOVED_TSS = 0x80;
const MOVED_MMAP = 0x100;
const MOVED_INFO = 0x500;

/** Where the loader's own data goes. */
interface BootPlaces {
  readonly gdt: number;
  readonly tss: number;
  readonly mmap: number;
  readonly info: number;
  /** Initial ESP (the spec leaves it undefined; a BIOS's boot-sector stack unless the kernel is there). */
  readonly stack: number;
  /** Said in the summary when they are not the default places. */
  readonly moved: boolean;
}

const DEFAULT_PLACES: BootPlaces = { gdt: MB_GDT_ADDR, tss: MB_TSS_ADDR, mmap: MB_MMAP_ADDR, info: MB_INFO_ADDR, stack: MB_BOOT_STACK_TOP, moved: false };

/**
 * QEMU's places unless the kernel (or what follows it) covers them; then the first free page of
 * conventional memory from 0x1000, else the page after everything loaded.
 */
function bootPlaces(used: readonly { start: number; end: number }[], end: number): BootPlaces {
  const free = (a: number, b: number): boolean => used.every((u) => u.end <= a || u.start >= b);
  if (free(MB_BOOT_AREA_START, MB_BOOT_AREA_END)) return DEFAULT_PLACES;
  // The stack grows down from the end of the page when the default one would run through the kernel.
  const stack = (base: number): number => (free(MB_BOOT_STACK_TOP - PAGE, MB_BOOT_STACK_TOP) ? MB_BOOT_STACK_TOP : base + PAGE);
  const at = (base: number): BootPlaces => ({ gdt: base, tss: base + MOVED_TSS, mmap: base + MOVED_MMAP, info: base + MOVED_INFO, stack: stack(base), moved: true });
  for (let p = PAGE; p + PAGE <= CONVENTIONAL_MEMORY_END; p += PAGE) if (free(p, p + PAGE)) return at(p);
  return at(alignUp(end, PAGE));
}
/** Smallest guest: a kernel at 1 MiB needs at least some RAM above it. */
export const MB_MIN_RAM = 2 * ONE_MIB;

// --- GDT selectors (QEMU's multiboot ROM uses 0x08 code, 0x10 data as well) ---
export const MB_SEL_CODE = 0x08;
export const MB_SEL_DATA = 0x10;
export const MB_SEL_TSS = 0x18;
const MB_GDT_ENTRIES = 4;

// --- multiboot_info field offsets (spec section 3.3) ---
export const MBI_FLAGS = 0;
export const MBI_MEM_LOWER = 4;
export const MBI_MEM_UPPER = 8;
export const MBI_BOOT_DEVICE = 12;
export const MBI_CMDLINE = 16;
export const MBI_MODS_COUNT = 20;
export const MBI_MODS_ADDR = 24;
export const MBI_MMAP_LENGTH = 44;
export const MBI_MMAP_ADDR = 48;
export const MBI_BOOT_LOADER_NAME = 64;
/** Up to and including the framebuffer fields: everything a v1 kernel may read. */
export const MBI_SIZE = 116;
/** One module entry: mod_start, mod_end, string, reserved. */
export const MB_MOD_ENTRY_SIZE = 16;
/** One mmap entry: size (of the rest: 20), base_addr u64, length u64, type. */
export const MB_MMAP_ENTRY_SIZE = 24;

// --- multiboot_info.flags bits ---
export const MULTIBOOT_INFO_MEMORY = 1 << 0;
export const MULTIBOOT_INFO_BOOTDEV = 1 << 1;
export const MULTIBOOT_INFO_CMDLINE = 1 << 2;
export const MULTIBOOT_INFO_MODS = 1 << 3;
export const MULTIBOOT_INFO_MEM_MAP = 1 << 6;
export const MULTIBOOT_INFO_BOOT_LOADER_NAME = 1 << 9;

/** boot_device as QEMU reports it: BIOS drive 0x80 (first hard disk), no partitions. */
export const MB_BOOT_DEVICE = 0x8000ffff;
/** mem_lower in KiB: conventional memory up to the EBDA (QEMU reports the same 639). */
export const MB_MEM_LOWER_KIB = CONVENTIONAL_MEMORY_END / 1024;

/** CR0.PE; CR0.ET stays set as on every CPU since the 486. */
export const CR0_PE = 1 << 0;
export const CR0_ET = 1 << 4;
/** RFLAGS bit 1 is reserved and always 1; IF=0, VM=0 as the spec requires. */

export interface MultibootOptions {
  fileName: string;
  /** Kernel arguments; the kernel sees "<fileName> <cmdline>", exactly as QEMU (and GRUB) pass it. */
  cmdline: string;
  modules: BootBlob[];
  memBytes: number;
}

interface LoadPiece {
  gpa: number;
  /** Bytes from the file (may be empty). */
  data: Uint8Array;
  /** Total size in memory; the part past data.length is zeroed (bss). */
  memsz: number;
  what: string;
}

interface KernelPlan {
  pieces: LoadPiece[];
  entry: number;
  how: string;
}

function planFromAddressFields(image: Uint8Array, h: MultibootHeader, fileName: string): KernelPlan {
  const a = h.address!;
  const bad = (what: string): never => {
    throw new BootError(`${fileName}: multiboot header address fields are inconsistent: ${what}`);
  };
  if (a.headerAddr < a.loadAddr) bad(`header_addr ${hexAddr(a.headerAddr)} is below load_addr ${hexAddr(a.loadAddr)}`);
  if (a.headerAddr - a.loadAddr > h.offset) {
    bad(`header_addr - load_addr = ${hexAddr(a.headerAddr - a.loadAddr)} is more than the header's file offset ${hexAddr(h.offset)}`);
  }
  const fileOffset = h.offset - (a.headerAddr - a.loadAddr);
  let loadSize: number;
  if (a.loadEndAddr !== 0) {
    if (a.loadEndAddr < a.loadAddr) bad(`load_end_addr ${hexAddr(a.loadEndAddr)} is below load_addr ${hexAddr(a.loadAddr)}`);
    loadSize = a.loadEndAddr - a.loadAddr;
    if (fileOffset + loadSize > image.length) {
      throw new BootError(
        `${fileName}: truncated image: the multiboot header asks for ${loadSize} bytes from file offset ${fileOffset} ` +
          `(load_addr ${hexAddr(a.loadAddr)} to load_end_addr ${hexAddr(a.loadEndAddr)}) but the file has ${image.length} bytes`,
      );
    }
  } else {
    loadSize = image.length - fileOffset;
  }
  let memsz = loadSize;
  if (a.bssEndAddr !== 0) {
    if (a.bssEndAddr < a.loadAddr + loadSize) bad(`bss_end_addr ${hexAddr(a.bssEndAddr)} is below the end of the loaded image ${hexAddr(a.loadAddr + loadSize)}`);
    memsz = a.bssEndAddr - a.loadAddr;
  }
  return {
    pieces: [{ gpa: a.loadAddr, data: image.subarray(fileOffset, fileOffset + loadSize), memsz, what: 'kernel image' }],
    entry: a.entryAddr,
    how: 'address fields',
  };
}

function planFromElf(image: Uint8Array, fileName: string): KernelPlan {
  const elf = parseElf32(image, fileName);
  const pieces = elf.segments.map((s) => ({
    gpa: s.paddr,
    data: image.subarray(s.offset, s.offset + s.filesz),
    memsz: s.memsz,
    what: `ELF segment ${s.index}`,
  }));
  // e_entry is normally physical for multiboot kernels; a higher-half kernel that gives a
  // virtual entry gets it translated through the segment that contains it.
  let entry = elf.entry;
  const inPhysical = elf.segments.some((s) => entry >= s.paddr && entry < s.paddr + s.memsz);
  if (!inPhysical) {
    const seg = elf.segments.find((s) => entry >= s.vaddr && entry < s.vaddr + s.memsz);
    if (seg) entry = entry - seg.vaddr + seg.paddr;
  }
  return { pieces, entry, how: `ELF32, ${pieces.length} segment${pieces.length === 1 ? '' : 's'}` };
}

function multibootRegisters(places: BootPlaces, entry: number, gdt: GdtBuilder): [RegId, bigint][] {
  const flat = 0xffff_ffff;
  const cs = gdt.set(MB_SEL_CODE, 0, flat, FLAT_CODE32_ATTRS);
  const ds = gdt.set(MB_SEL_DATA, 0, flat, FLAT_DATA_ATTRS);
  const tr = gdt.set(MB_SEL_TSS, places.tss, TSS_LIMIT, TSS_BUSY_ATTRS);
  return flatEntryRegisters({
    rax: MULTIBOOT_BOOTLOADER_MAGIC,
    rbx: places.info,
    rsp: places.stack,
    rip: entry,
    cs,
    ds,
    tr,
    gdtBase: places.gdt,
    gdtLimit: gdt.limit,
    cr0: CR0_PE | CR0_ET,
    cr3: 0,
    cr4: 0,
    efer: 0,
  });
}

/** Loads a multiboot v1 kernel and its modules; returns vCPU 0's entry state. */
export function loadMultiboot(memory: GuestMemory, image: Uint8Array, options: MultibootOptions): BootSetup {
  const { fileName, memBytes } = options;
  const header = parseMultibootHeader(image, fileName);
  if (memBytes < MB_MIN_RAM) {
    throw new BootError(`${fileName}: guest RAM of ${sizeText(memBytes)} is too small for a multiboot kernel: tsvmm needs at least ${sizeText(MB_MIN_RAM)} (--mem)`);
  }
  const ram = ramSpan(memBytes);
  const placer = new GuestPlacer(memory, ram, fileName, memBytes);
  const plan = header.address ? planFromAddressFields(image, header, fileName) : planFromElf(image, fileName);

  let kernelStart = Infinity;
  let kernelEnd = 0;
  for (const p of plan.pieces) {
    if (p.gpa < 0x500) {
      // The real-mode IVT and BIOS data area stay: a kernel may still want the BIOS's view of them.
      throw new BootError(`${fileName}: ${p.what} at ${hexAddr(p.gpa)}-${hexAddr(p.gpa + p.memsz)} covers the real-mode IVT and BIOS data area (0x0-0x4ff); link the kernel at 0x500 or above`);
    }
    placer.requireLowRam(p.gpa, p.memsz, `${p.what} of the kernel (${sizeText(p.memsz)})`);
    kernelStart = Math.min(kernelStart, p.gpa);
    kernelEnd = Math.max(kernelEnd, p.gpa + p.memsz);
  }
  for (const p of plan.pieces) {
    placer.write(p.gpa, p.data, p.what);
    placer.zero(p.gpa + p.data.length, p.memsz - p.data.length, `bss of ${p.what}`);
  }

  // Page after the kernel: the mods list, then the module strings, the kernel command line
  // and the loader name (QEMU's order), then each module on its own page boundary.
  const mods = options.modules;
  const listAddr = alignUp(kernelEnd, PAGE);
  const kernelCmdline = `${fileName} ${options.cmdline}`;
  const strings = [...mods.map((m) => m.name), kernelCmdline, MULTIBOOT_LOADER_NAME].map(cString);
  const listSize = mods.length * MB_MOD_ENTRY_SIZE + strings.reduce((n, s) => n + s.length, 0);
  const listBytes = new Uint8Array(listSize);
  const listView = new DataView(listBytes.buffer);
  const stringAddrs: number[] = [];
  let at = mods.length * MB_MOD_ENTRY_SIZE;
  for (const s of strings) {
    listBytes.set(s, at);
    stringAddrs.push(listAddr + at);
    at += s.length;
  }
  let modAddr = alignUp(listAddr + listSize, PAGE);
  placer.requireLowRam(listAddr, modAddr - listAddr, 'multiboot module list and strings');
  const placed: { start: number; end: number }[] = [];
  mods.forEach((m, i) => {
    placer.write(modAddr, m.data, `module ${m.name} (${sizeText(m.data.length)})`);
    listView.setUint32(i * MB_MOD_ENTRY_SIZE + 0, modAddr, true);
    listView.setUint32(i * MB_MOD_ENTRY_SIZE + 4, modAddr + m.data.length, true);
    listView.setUint32(i * MB_MOD_ENTRY_SIZE + 8, stringAddrs[i]!, true);
    placed.push({ start: modAddr, end: modAddr + m.data.length });
    modAddr = alignUp(modAddr + m.data.length, PAGE);
  });
  placer.write(listAddr, listBytes, 'multiboot module list and strings');
  // The loader's own data keeps out of the way of everything loaded.
  const used = [...plan.pieces.map((p) => ({ start: p.gpa, end: p.gpa + p.memsz })), { start: listAddr, end: listAddr + listSize }, ...placed];
  const places = bootPlaces(used, Math.max(modAddr, listAddr + listSize));

  // Memory map at its fixed place.
  const map = pcMemoryMap(memBytes);
  const mmap = new Uint8Array(map.length * MB_MMAP_ENTRY_SIZE);
  const mv = new DataView(mmap.buffer);
  map.forEach((e, i) => {
    const o = i * MB_MMAP_ENTRY_SIZE;
    mv.setUint32(o, MB_MMAP_ENTRY_SIZE - 4, true);
    mv.setBigUint64(o + 4, BigInt(e.base), true);
    mv.setBigUint64(o + 12, BigInt(e.length), true);
    mv.setUint32(o + 20, e.type, true);
  });
  placer.write(places.mmap, mmap, 'multiboot memory map');

  const info = new Uint8Array(MBI_SIZE);
  const iv = new DataView(info.buffer);
  iv.setUint32(
    MBI_FLAGS,
    MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_BOOTDEV | MULTIBOOT_INFO_CMDLINE | MULTIBOOT_INFO_MODS | MULTIBOOT_INFO_MEM_MAP | MULTIBOOT_INFO_BOOT_LOADER_NAME,
    true,
  );
  iv.setUint32(MBI_MEM_LOWER, MB_MEM_LOWER_KIB, true);
  iv.setUint32(MBI_MEM_UPPER, Math.floor((ram.lowEnd - ONE_MIB) / 1024), true);
  iv.setUint32(MBI_BOOT_DEVICE, MB_BOOT_DEVICE, true);
  iv.setUint32(MBI_CMDLINE, stringAddrs[mods.length]!, true);
  iv.setUint32(MBI_MODS_COUNT, mods.length, true);
  iv.setUint32(MBI_MODS_ADDR, listAddr, true);
  iv.setUint32(MBI_MMAP_LENGTH, mmap.length, true);
  iv.setUint32(MBI_MMAP_ADDR, places.mmap, true);
  iv.setUint32(MBI_BOOT_LOADER_NAME, stringAddrs[stringAddrs.length - 1]!, true);
  placer.write(places.info, info, 'multiboot info');

  const gdt = new GdtBuilder(MB_GDT_ENTRIES);
  const registers = multibootRegisters(places, plan.entry, gdt);
  placer.write(places.gdt, gdt.table, 'boot GDT');
  placer.zero(places.tss, TSS_LIMIT + 1, 'boot TSS');

  const modText = mods.length === 0 ? 'no modules' : `${mods.length} module${mods.length === 1 ? '' : 's'} at ${placed.map((p) => `${hexAddr(p.start)}-${hexAddr(p.end)}`).join(', ')}`;
  const video = header.flags & MULTIBOOT_VIDEO_MODE ? ', video mode request ignored' : '';
  return {
    registers,
    entry: plan.entry,
    summary:
      `multiboot: ${fileName} (${plan.how}) at ${hexAddr(kernelStart)}-${hexAddr(kernelEnd)}, entry ${hexAddr(plan.entry)}, ` +
      `info at ${hexAddr(places.info)}${places.moved ? ' (boot data moved out of the kernel\'s way)' : ''}, ${modText}, cmdline "${kernelCmdline}"${video}`,
  };
}
