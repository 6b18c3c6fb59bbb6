/**
 * Xen PVH direct boot (xen/include/public/arch-x86/hvm/start_info.h and docs/misc/pvh.pandoc):
 * the kernel's XEN_ELFNOTE_PHYS32_ENTRY is entered in 32-bit protected mode with paging off,
 * EBX holding the physical address of an hvm_start_info (version 1) that points at the command
 * line, the modules (the initrd), the RSDP and the memory map. Segments: flat 32-bit code and
 * data, TR a 32-bit TSS with base 0 and limit 0x67; CR4 0; EFLAGS.IF clear.
 */
import { BootError } from './boot-error.js';
import type { BootSetup } from './boot-setup.js';
import { FLAT_CODE32_ATTRS, FLAT_DATA_ATTRS, GdtBuilder, TSS_BUSY_ATTRS, TSS_LIMIT, flatEntryRegisters } from './descriptors.js';
import { CR0_ET, CR0_PE, LX_BOOT_STACK_TOP, LX_CMDLINE_ADDR, LX_GDT_ADDR, placeCmdlineAndInitrd, type LinuxOptions, type PlacedKernel } from './linux.js';
import { pcMemoryMap } from './memory-map.js';
import { hexAddr, sizeText, type GuestPlacer } from './placement.js';

export const HVM_START_MAGIC = 0x336ec578;
export const HVM_START_VERSION = 1;
/** hvm_start_info, its one module entry and the memory map, in free low memory below the GDT's neighbours. */
export const PVH_START_INFO_ADDR = 0x6000;
export const PVH_MODLIST_ADDR = 0x6040;
export const PVH_MEMMAP_ADDR = 0x6080;
const START_INFO_SIZE = 56;
const MODLIST_ENTRY_SIZE = 32;
const MEMMAP_ENTRY_SIZE = 24;
const MEMMAP_MAX = (0x7000 - PVH_MEMMAP_ADDR) / MEMMAP_ENTRY_SIZE;
const PVH_SEL_CODE = 0x08;
const PVH_SEL_DATA = 0x10;
const PVH_SEL_TSS = 0x18;
/** A 32-bit TSS has the same busy type (0xB) as the 64-bit one; outside long mode it is a 32-bit TSS. */
const TSS32_BUSY_ATTRS = TSS_BUSY_ATTRS;
/** The PVH 32-bit entry takes no more than 4 GiB of initrd placement rules: the kernel's own default. */
const PVH_INITRD_ADDR_MAX = 0x7fff_ffff;
const PVH_CMDLINE_SIZE = 2048;

export function enterPvh(placer: GuestPlacer, o: LinuxOptions, k: Omit<PlacedKernel, 'text'> & { text: string }): BootSetup {
  const { cmdBytes, initrdAddr, initrdSize } = placeCmdlineAndInitrd(placer, o, { initrdAddrMax: PVH_INITRD_ADDR_MAX, cmdlineSize: PVH_CMDLINE_SIZE }, k.end);
  const map = pcMemoryMap(o.memBytes);
  if (map.length > MEMMAP_MAX) throw new BootError(`${o.fileName}: the memory map has ${map.length} entries, more than the PVH area holds (${MEMMAP_MAX})`);

  const info = new Uint8Array(START_INFO_SIZE);
  const v = new DataView(info.buffer);
  v.setUint32(0, HVM_START_MAGIC, true);
  v.setUint32(4, HVM_START_VERSION, true);
  v.setUint32(8, 0, true); // flags
  v.setUint32(12, o.initrd ? 1 : 0, true); // nr_modules
  v.setBigUint64(16, BigInt(o.initrd ? PVH_MODLIST_ADDR : 0), true);
  v.setBigUint64(24, BigInt(LX_CMDLINE_ADDR), true);
  v.setBigUint64(32, BigInt(o.acpiRsdpAddr ?? 0), true);
  v.setBigUint64(40, BigInt(PVH_MEMMAP_ADDR), true);
  v.setUint32(48, map.length, true);
  placer.write(PVH_START_INFO_ADDR, info, 'PVH start info');
  if (o.initrd) {
    const mod = new Uint8Array(MODLIST_ENTRY_SIZE);
    const mv = new DataView(mod.buffer);
    mv.setBigUint64(0, BigInt(initrdAddr), true);
    mv.setBigUint64(8, BigInt(initrdSize), true);
    placer.write(PVH_MODLIST_ADDR, mod, 'PVH module list');
  }
  const mm = new Uint8Array(map.length * MEMMAP_ENTRY_SIZE);
  const mmv = new DataView(mm.buffer);
  map.forEach((e, i) => {
    mmv.setBigUint64(i * MEMMAP_ENTRY_SIZE, BigInt(e.base), true);
    mmv.setBigUint64(i * MEMMAP_ENTRY_SIZE + 8, BigInt(e.length), true);
    mmv.setUint32(i * MEMMAP_ENTRY_SIZE + 16, e.type, true);
  });
  placer.write(PVH_MEMMAP_ADDR, mm, 'PVH memory map');

  const gdt = new GdtBuilder(4);
  const cs = gdt.set(PVH_SEL_CODE, 0, 0xffff_ffff, FLAT_CODE32_ATTRS);
  const ds = gdt.set(PVH_SEL_DATA, 0, 0xffff_ffff, FLAT_DATA_ATTRS);
  const tr = gdt.set(PVH_SEL_TSS, 0, TSS_LIMIT, TSS32_BUSY_ATTRS);
  placer.write(LX_GDT_ADDR, gdt.table, 'PVH GDT');
  const registers = flatEntryRegisters({
    rbx: PVH_START_INFO_ADDR,
    rsp: LX_BOOT_STACK_TOP,
    rip: k.entry,
    cs,
    ds,
    tr,
    gdtBase: LX_GDT_ADDR,
    gdtLimit: gdt.limit,
    cr0: CR0_PE | CR0_ET,
    cr3: 0,
    cr4: 0,
    efer: 0,
  });
  const initrdText = o.initrd ? `initrd ${o.initrd.name} (${sizeText(initrdSize)}) at ${hexAddr(initrdAddr)}` : 'no initrd';
  return {
    registers,
    entry: k.entry,
    summary: `linux: ${o.fileName} ${k.text}, PVH entry ${hexAddr(k.entry)} in 32-bit protected mode, start info ${hexAddr(PVH_START_INFO_ADDR)}, cmdline ${cmdBytes} bytes at ${hexAddr(LX_CMDLINE_ADDR)}, ${initrdText}`,
  };
}
