import { pcRamLayout } from '../memory/guest-memory.js';

/**
 * The guest's physical memory map as both loaders report it (multiboot mmap and Linux
 * e820 carry the same ranges). It follows the PC convention real firmware reports, so
 * guests written for QEMU/SeaBIOS see the holes they expect.
 */

/** End of conventional memory; the last KiB below 640 KiB is the EBDA on a PC. */
export const CONVENTIONAL_MEMORY_END = 0x9fc00;
/** 640 KiB: VGA memory and option ROMs start here, never RAM. */
export const EBDA_END = 0xa0000;
/** The 64 KiB system BIOS ROM window below 1 MiB (where guests scan for MP/ACPI tables). */
export const BIOS_ROM_START = 0xf0000;
export const ONE_MIB = 0x100000;

/** e820 / multiboot mmap types (ACPI spec: AddressRangeMemory, AddressRangeReserved). */
export const E820_RAM = 1;
export const E820_RESERVED = 2;

export interface MemoryMapEntry {
  base: number;
  length: number;
  type: number;
}

/** RAM as the guest sees it: below the 3 GiB PCI hole at 0, the rest at 4 GiB. */
export interface RamSpan {
  /** End (exclusive) of RAM starting at 0. */
  lowEnd: number;
  /** Bytes of RAM at 4 GiB (0 if none). */
  highBytes: number;
  highStart: number;
}

export function ramSpan(memBytes: number): RamSpan {
  const layout = pcRamLayout(memBytes);
  const low = layout[0];
  const high = layout[1];
  return { lowEnd: low ? low.gpa + low.size : 0, highBytes: high ? high.size : 0, highStart: high ? high.gpa : 0 };
}

/** The memory map for `memBytes` of RAM; the caller checks there is RAM above 1 MiB. */
export function pcMemoryMap(memBytes: number): MemoryMapEntry[] {
  const ram = ramSpan(memBytes);
  const out: MemoryMapEntry[] = [
    { base: 0, length: CONVENTIONAL_MEMORY_END, type: E820_RAM },
    { base: CONVENTIONAL_MEMORY_END, length: EBDA_END - CONVENTIONAL_MEMORY_END, type: E820_RESERVED },
    { base: BIOS_ROM_START, length: ONE_MIB - BIOS_ROM_START, type: E820_RESERVED },
  ];
  if (ram.lowEnd > ONE_MIB) out.push({ base: ONE_MIB, length: ram.lowEnd - ONE_MIB, type: E820_RAM });
  if (ram.highBytes > 0) out.push({ base: ram.highStart, length: ram.highBytes, type: E820_RAM });
  return out;
}
