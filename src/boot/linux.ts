/**
 * Linux loader through the 64-bit boot protocol (Documentation/arch/x86/boot.rst, "64-bit Boot
 * Protocol"): a zero page (struct boot_params) with the setup header, e820 map, command line,
 * initrd and RSDP, identity-mapped page tables, a GDT with __BOOT_CS/__BOOT_DS, and long mode
 * with RSI pointing at the zero page. The kernel itself arrives one of three ways:
 * - a bzImage whose protected-mode part (the kernel's decompressor) is entered at load + 0x200;
 * - a bzImage whose payload tsvmm decompresses (linux-kernel-image.ts), entering the kernel proper;
 * - an uncompressed vmlinux ELF64, as Firecracker boots it (or through PVH, pvh.ts).
 */
import type { RegId } from '../cpu/registers.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { BootError } from './boot-error.js';
import type { BootBlob, BootSetup } from './boot-setup.js';
import { CODE64_ATTRS, FLAT_DATA_ATTRS, GdtBuilder, TSS_BUSY_ATTRS, TSS_LIMIT, flatEntryRegisters } from './descriptors.js';
import {
  HDR_CMD_LINE_PTR,
  HDR_RAMDISK_IMAGE,
  HDR_RAMDISK_SIZE,
  HDR_SETUP_DATA,
  HDR_TYPE_OF_LOADER,
  HDR_VERSION,
  SETUP_HEADER_START,
  parseLinuxHeader,
  protocolText,
  type LinuxSetupHeader,
} from './linux-header.js';
import { ONE_MIB, pcMemoryMap, ramSpan } from './memory-map.js';
import { loadBzImageDecompressed } from './linux-decompressed.js';
import { GuestPlacer, PAGE, alignDown, alignUp, cString, hexAddr, requireRamAddress, sizeText } from './placement.js';

// --- Fixed guest-physical addresses, all in conventional memory below the EBDA and
//     below the 1 MiB where the kernel goes; the kernel reclaims them once it runs. ---
/** GDT: first free byte after the real-mode IVT and BIOS data area. */
export const LX_GDT_ADDR = 0x500;
/** TSS placeholder so TR holds a valid busy 64-bit TSS at entry (VM entry requires it). */
export const LX_TSS_ADDR = 0x580;
/** setup_data list (the RNG seed): the page below the zero page. */
export const LX_SETUP_DATA_ADDR = 0x6000;
/** struct boot_params: one page, clear of the GDT and of the page tables. */
export const LX_ZERO_PAGE_ADDR = 0x7000;
/** Initial RSP at the top of the page between the zero page and the page tables. */
export const LX_BOOT_STACK_TOP = 0x8ff0;
/** Page tables: PML4, one PDPT, and four page directories of 2 MiB pages for 4 GiB. */
export const LX_PML4_ADDR = 0x9000;
export const LX_PDPT_ADDR = 0xa000;
export const LX_PD_ADDR = 0xb000;
export const LX_PD_COUNT = 4;
/** Command line: above the page tables (which end at 0xf000), with room up to the EBDA. */
export const LX_CMDLINE_ADDR = 0x20000;
export const LX_CMDLINE_MAX = 0x9fc00 - LX_CMDLINE_ADDR;
/** The 64-bit entry point sits 0x200 bytes into the protected-mode kernel. */
export const LINUX_64BIT_ENTRY_OFFSET = 0x200;

// --- Boot protocol segment selectors: __BOOT_CS = 0x10, __BOOT_DS = 0x18 (GDT entries 2 and 3) ---
export const LX_SEL_CODE = 0x10;
export const LX_SEL_DATA = 0x18;
/** A 64-bit TSS descriptor takes two GDT slots (0x20 and 0x28). */
export const LX_SEL_TSS = 0x20;
const LX_GDT_ENTRIES = 6;

// --- struct boot_params fields outside the setup header ---
/** u64 acpi_rsdp_addr: where the RSDP is, so the kernel need not scan for it (read since protocol 2.14). */
export const BP_ACPI_RSDP_ADDR = 0x070;
export const BP_EXT_RAMDISK_IMAGE = 0x0c0;
export const BP_EXT_RAMDISK_SIZE = 0x0c4;
export const BP_EXT_CMD_LINE_PTR = 0x0c8;
export const BP_E820_ENTRIES = 0x1e8;
export const BP_E820_TABLE = 0x2d0;
export const BP_E820_ENTRY_SIZE = 20;
export const BP_E820_MAX_ENTRIES = 128;
export const ZERO_PAGE_SIZE = 0x1000;
/** struct setup_data type SETUP_RNG_SEED (arch/x86/include/uapi/asm/bootparam.h): seed bytes for the kernel's RNG. */
export const SETUP_RNG_SEED = 9;
/** Bytes of RNG seed handed to the kernel: 256 bits, what its RNG needs to count as seeded. */
export const RNG_SEED_BYTES = 32;
/** type_of_loader 0xff: "undefined" boot loader, the value for loaders without an assigned id. */
export const LOADER_TYPE_UNDEFINED = 0xff;

// --- Paging and mode bits (Intel SDM vol. 3, 4.5 and 2.5) ---
export const PTE_P = 1 << 0;
export const PTE_RW = 1 << 1;
export const PTE_PS = 1 << 7;
export const HUGE_PAGE_2M = 2 * ONE_MIB;
export const CR0_PE = 1 << 0;
export const CR0_ET = 1 << 4;
export const CR0_PG = 0x8000_0000;
export const CR4_PAE = 1 << 5;
export const EFER_LME = 1 << 8;
export const EFER_LMA = 1 << 10;

export interface LinuxOptions {
  fileName: string;
  cmdline: string;
  initrd?: BootBlob;
  memBytes: number;
  /**
   * bzImage only: 'guest' enters the kernel's own decompressor at load address + 0x200;
   * 'host' decompresses the payload here and enters the decompressed kernel. Default 'guest'.
   */
  decompress?: 'guest' | 'host';
  /** Guest-physical address of the ACPI RSDP (0 or absent: the kernel scans the BIOS area). */
  acpiRsdpAddr?: number;
  /**
   * Told of guest RAM the loader is about to write whole (where a bzImage's payload is decompressed to), so the
   * host can start making it resident on another thread (vm-builder.ts: libc's prefaultInBackground). Must not
   * change the bytes.
   */
  prefault?: (ram: Uint8Array) => void;
  /**
   * Seed for the kernel's RNG, passed as a SETUP_RNG_SEED setup_data entry (Linux 6.0 and later read it; older
   * kernels skip the entry). A kernel that trusts its boot loader (RANDOM_TRUST_BOOTLOADER, Debian's default) is
   * seeded from it at once; without a seed and without RDRAND it gathers entropy from interrupt timing first, and
   * until then derives every random number it hands out afresh from its input pool.
   */
  rngSeed?: Uint8Array;
}

/**
 * The RNG seed for a boot: from the host's random source, or for a deterministic VM a fixed value (a
 * deterministic guest is predictable anyway, and must boot the same way every run).
 */
export function linuxRngSeed(deterministic: boolean): Uint8Array {
  const seed = new Uint8Array(RNG_SEED_BYTES);
  if (!deterministic) return globalThis.crypto.getRandomValues(seed);
  for (let i = 0; i < seed.length; i++) seed[i] = (i * 0x9d + 0x5b) & 0xff;
  return seed;
}

/** The protected-mode kernel's load address: pref_address (aligned if relocatable), else 1 MiB. */
export function linuxLoadAddress(h: LinuxSetupHeader): number {
  const pref = h.prefAddress || ONE_MIB;
  return h.relocatable ? alignUp(pref, h.kernelAlignment) : pref;
}

/** Identity map of the first 4 GiB: PML4[0] -> PDPT, PDPT[0..3] -> PDs, PD entries are 2 MiB pages. */
export function identityPageTables(): { pml4: Uint8Array; pdpt: Uint8Array; pds: Uint8Array } {
  const pml4 = new Uint8Array(PAGE);
  const pdpt = new Uint8Array(PAGE);
  const pds = new Uint8Array(PAGE * LX_PD_COUNT);
  new DataView(pml4.buffer).setUint32(0, LX_PDPT_ADDR | PTE_P | PTE_RW, true);
  const pdptView = new DataView(pdpt.buffer);
  for (let i = 0; i < LX_PD_COUNT; i++) pdptView.setUint32(i * 8, (LX_PD_ADDR + i * PAGE) | PTE_P | PTE_RW, true);
  const pdView = new DataView(pds.buffer);
  for (let i = 0; i < LX_PD_COUNT * 512; i++) {
    // i * 2 MiB stays below 2^32, so the high dword of each entry is 0.
    pdView.setUint32(i * 8, (i * HUGE_PAGE_2M + (PTE_P | PTE_RW | PTE_PS)) >>> 0, true);
  }
  return { pml4, pdpt, pds };
}

function linuxRegisters(entry: number, gdt: GdtBuilder): [RegId, bigint][] {
  const cs = gdt.set(LX_SEL_CODE, 0, 0xffff_ffff, CODE64_ATTRS);
  const ds = gdt.set(LX_SEL_DATA, 0, 0xffff_ffff, FLAT_DATA_ATTRS);
  const tr = gdt.setSystem64(LX_SEL_TSS, LX_TSS_ADDR, TSS_LIMIT, TSS_BUSY_ATTRS);
  return flatEntryRegisters({
    rsi: LX_ZERO_PAGE_ADDR,
    rsp: LX_BOOT_STACK_TOP,
    rip: entry,
    cs,
    ds,
    tr,
    gdtBase: LX_GDT_ADDR,
    gdtLimit: gdt.limit,
    cr0: CR0_PG | CR0_PE | CR0_ET,
    cr3: LX_PML4_ADDR,
    cr4: CR4_PAE,
    efer: EFER_LME | EFER_LMA,
  });
}

/** Where the kernel landed, for the zero page, the initrd placement and the summary. */
export interface PlacedKernel {
  readonly loadAddr: number;
  /** End (exclusive) of the memory the kernel needs from loadAddr on. */
  readonly end: number;
  readonly entry: number;
  /** How it was loaded, for the summary line. */
  readonly text: string;
}

/** The boot protocol fields the loader needs from a setup header (a bzImage's, or one made up for a vmlinux). */
export interface LinuxBootHeader {
  /** Bytes 0x1f1 up to `headerEnd` of the image, copied into the zero page. */
  readonly image: Uint8Array;
  readonly headerEnd: number;
  readonly initrdAddrMax: number;
  readonly cmdlineSize: number;
}

/** Checks the kernel fits below the end of low RAM. */
export function requireKernelFits(fileName: string, k: { loadAddr: number; end: number }, memBytes: number, initrd: BootBlob | undefined): void {
  const ram = ramSpan(memBytes);
  if (k.loadAddr < ONE_MIB) {
    throw new BootError(`${fileName}: the kernel asks to be loaded at ${hexAddr(k.loadAddr)}, below 1 MiB where tsvmm keeps the zero page, command line and page tables; expected 1 MiB or above`);
  }
  requireRamAddress(fileName, k.loadAddr, k.end - k.loadAddr, `kernel (loaded at its pref_address, ${sizeText(k.end - k.loadAddr)})`);
  if (k.end > ram.lowEnd) {
    throw new BootError(
      `${fileName}: kernel too large for guest RAM: it loads at ${hexAddr(k.loadAddr)} and needs ${sizeText(k.end - k.loadAddr)} there ` +
        `(up to ${hexAddr(k.end)}), but RAM below 4 GiB ends at ${hexAddr(ram.lowEnd)}; ` +
        `give the guest at least ${sizeText(alignUp(k.end, ONE_MIB) + (initrd ? alignUp(initrd.data.length, ONE_MIB) : 0))} with --mem`,
    );
  }
}

/** The command line and the initrd in guest memory; the initrd at the top of RAM the kernel allows. */
export function placeCmdlineAndInitrd(
  placer: GuestPlacer,
  o: LinuxOptions,
  h: { initrdAddrMax: number; cmdlineSize: number },
  kernelEnd: number,
): { cmdBytes: number; initrdAddr: number; initrdSize: number } {
  const { fileName, initrd } = o;
  const cmd = cString(o.cmdline);
  const cmdLimit = Math.min(h.cmdlineSize, LX_CMDLINE_MAX - 1);
  if (cmd.length - 1 > cmdLimit) {
    throw new BootError(`${fileName}: kernel command line is ${cmd.length - 1} bytes but this kernel accepts at most ${cmdLimit} (cmdline_size)`);
  }
  placer.write(LX_CMDLINE_ADDR, cmd, 'kernel command line');
  let initrdAddr = 0;
  const initrdSize = initrd?.data.length ?? 0;
  if (initrd) {
    const ram = ramSpan(o.memBytes);
    const top = Math.min(ram.lowEnd, h.initrdAddrMax + 1);
    initrdAddr = alignDown(top - initrdSize, PAGE);
    if (initrdAddr < kernelEnd) {
      throw new BootError(
        `${fileName}: initrd ${initrd.name} (${sizeText(initrdSize)}) is too big: it must end below ${hexAddr(top)} ` +
          `(RAM below 4 GiB, initrd_addr_max 0x${h.initrdAddrMax.toString(16)}) and start above the kernel, which ends at ` +
          `${hexAddr(kernelEnd)}, leaving ${sizeText(Math.max(0, alignDown(top, PAGE) - kernelEnd))}; give the guest more memory with --mem`,
      );
    }
    placer.write(initrdAddr, initrd.data, `initrd ${initrd.name}`);
  }
  return { cmdBytes: cmd.length - 1, initrdAddr, initrdSize };
}

/** Writes the zero page, page tables and GDT and returns the 64-bit entry state (RSI = zero page). */
export function enterLinux64(placer: GuestPlacer, o: LinuxOptions, h: LinuxBootHeader, k: PlacedKernel): BootSetup {
  const { cmdBytes, initrdAddr, initrdSize } = placeCmdlineAndInitrd(placer, o, h, k.end);
  const zp = new Uint8Array(ZERO_PAGE_SIZE);
  const zv = new DataView(zp.buffer);
  zp.set(h.image.subarray(SETUP_HEADER_START, h.headerEnd), SETUP_HEADER_START);
  zp[HDR_TYPE_OF_LOADER] = LOADER_TYPE_UNDEFINED;
  zv.setUint32(HDR_CMD_LINE_PTR, LX_CMDLINE_ADDR, true);
  zv.setUint32(BP_EXT_CMD_LINE_PTR, 0, true);
  zv.setUint32(HDR_RAMDISK_IMAGE, initrdAddr, true);
  zv.setUint32(HDR_RAMDISK_SIZE, initrdSize, true);
  zv.setUint32(BP_EXT_RAMDISK_IMAGE, 0, true);
  zv.setUint32(BP_EXT_RAMDISK_SIZE, 0, true);
  // setup_data exists from boot protocol 2.09 on.
  const version = h.image[HDR_VERSION]! | (h.image[HDR_VERSION + 1]! << 8);
  const seeded = o.rngSeed !== undefined && version >= 0x0209 && h.headerEnd >= HDR_SETUP_DATA + 8;
  if (h.headerEnd >= HDR_SETUP_DATA + 8) zv.setBigUint64(HDR_SETUP_DATA, seeded ? BigInt(LX_SETUP_DATA_ADDR) : 0n, true);
  if (seeded) placer.write(LX_SETUP_DATA_ADDR, rngSetupData(o.fileName, o.rngSeed!), 'setup_data (RNG seed)');
  zv.setBigUint64(BP_ACPI_RSDP_ADDR, BigInt(o.acpiRsdpAddr ?? 0), true);
  const map = pcMemoryMap(o.memBytes);
  zp[BP_E820_ENTRIES] = map.length;
  map.forEach((e, i) => {
    const at = BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;
    zv.setBigUint64(at, BigInt(e.base), true);
    zv.setBigUint64(at + 8, BigInt(e.length), true);
    zv.setUint32(at + 16, e.type, true);
  });
  placer.write(LX_ZERO_PAGE_ADDR, zp, 'zero page (boot_params)');

  const pt = identityPageTables();
  placer.write(LX_PML4_ADDR, pt.pml4, 'PML4');
  placer.write(LX_PDPT_ADDR, pt.pdpt, 'PDPT');
  placer.write(LX_PD_ADDR, pt.pds, 'page directories');

  const gdt = new GdtBuilder(LX_GDT_ENTRIES);
  const registers = linuxRegisters(k.entry, gdt);
  placer.write(LX_GDT_ADDR, gdt.table, 'boot GDT');
  placer.zero(LX_TSS_ADDR, TSS_LIMIT + 1, 'boot TSS');

  const initrdText = (o.initrd ? `initrd ${o.initrd.name} (${sizeText(initrdSize)}) at ${hexAddr(initrdAddr)}` : 'no initrd') + (seeded ? `, RNG seed at ${hexAddr(LX_SETUP_DATA_ADDR)}` : '');
  return {
    registers,
    entry: k.entry,
    summary: `linux: ${o.fileName} ${k.text}, entry ${hexAddr(k.entry)} in long mode, zero page ${hexAddr(LX_ZERO_PAGE_ADDR)}, cmdline ${cmdBytes} bytes at ${hexAddr(LX_CMDLINE_ADDR)}, ${initrdText}`,
  };
}

/** A setup_data entry {u64 next = 0, u32 type, u32 len, data} holding `seed`. */
function rngSetupData(fileName: string, seed: Uint8Array): Uint8Array {
  if (seed.length === 0 || seed.length > 4096 - 16) throw new BootError(`${fileName}: an RNG seed of ${seed.length} bytes; expected 1 to ${4096 - 16}`);
  const sd = new Uint8Array(16 + seed.length);
  const v = new DataView(sd.buffer);
  v.setUint32(8, SETUP_RNG_SEED, true);
  v.setUint32(12, seed.length, true);
  sd.set(seed, 16);
  return sd;
}

/** Loads a bzImage (and initrd) for the 64-bit boot protocol; returns vCPU 0's entry state. */
export function loadLinux(memory: GuestMemory, image: Uint8Array, options: LinuxOptions): BootSetup {
  const { fileName, memBytes } = options;
  const h = parseLinuxHeader(image, fileName);
  const body = image.subarray(h.kernelOffset);
  if (body.every((b) => b === 0)) {
    throw new BootError(`${fileName}: the protected-mode kernel (${sizeText(body.length)} after the setup sectors) is all zeros: the image is damaged or was not written out completely`);
  }
  if (options.decompress === 'host') return loadBzImageDecompressed(memory, image, h, options);
  const placer = new GuestPlacer(memory, ramSpan(memBytes), fileName, memBytes);
  // Kernel: it needs init_size bytes from its load address to decompress in place.
  const loadAddr = linuxLoadAddress(h);
  const footprint = alignUp(Math.max(h.initSize, h.kernelBytes), PAGE);
  const k = { loadAddr, end: loadAddr + footprint };
  requireKernelFits(fileName, k, memBytes, options.initrd);
  placer.write(loadAddr, body, 'protected-mode kernel');
  const text =
    `(boot protocol ${protocolText(h.version)}${h.relocatable ? ', relocatable' : ''}) kernel ${sizeText(h.kernelBytes)} ` +
    `at ${hexAddr(loadAddr)} (needs ${sizeText(footprint)}), decompressed by the guest`;
  return enterLinux64(placer, options, { image, headerEnd: h.headerEnd, initrdAddrMax: h.initrdAddrMax, cmdlineSize: h.cmdlineSize }, { ...k, entry: loadAddr + LINUX_64BIT_ENTRY_OFFSET, text });
}
