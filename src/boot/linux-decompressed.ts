/**
 * Booting the kernel proper without its decompressor:
 * - a bzImage's payload (payload_offset/payload_length, protocol 2.08+) is decompressed here and
 *   its ELF segments are placed where the kernel's own decompressor would put them: at the load
 *   address (pref_address) plus each segment's offset from LOAD_PHYSICAL_ADDR. That is the
 *   address the kernel was linked for, so no relocation applies: on x86-64 the decompressor only
 *   applies the appended relocations for a randomised virtual base (KASLR), which tsvmm never picks,
 *   and the kernel adjusts to its physical address by itself (phys_base).
 * - a vmlinux ELF64 is placed at its segments' physical addresses and entered at its 64-bit entry
 *   with a zero page made up for it (as Firecracker does), or through its PVH entry (pvh.ts) when
 *   it carries the Xen PVH note.
 */
import type { GuestMemory } from '../memory/guest-memory.js';
import { BootError } from './boot-error.js';
import type { BootSetup } from './boot-setup.js';
import { DecompressError, decompressPayload, warmUpDecompressor } from './decompress/kernel-payload.js';
import { isElf64, parseElf64, type Elf64Image } from './elf64.js';
import { HDR_BOOT_FLAG, HDR_CMDLINE_SIZE, HDR_JUMP_DISP, HDR_KERNEL_ALIGNMENT, HDR_LOADFLAGS, HDR_MAGIC, HDR_VERSION, LINUX_BOOT_FLAG, LINUX_HDRS_MAGIC, LOADFLAGS_LOADED_HIGH, SETUP_HEADER_LIMIT, parseLinuxHeader, protocolText, type LinuxSetupHeader } from './linux-header.js';
import { enterLinux64, linuxLoadAddress, requireKernelFits, type LinuxOptions, type PlacedKernel } from './linux.js';
import { ONE_MIB, ramSpan } from './memory-map.js';
import { GuestPlacer, PAGE, alignUp, hexAddr, sizeText } from './placement.js';
import { enterPvh } from './pvh.js';

export const HDR_PAYLOAD_OFFSET = 0x248;
export const HDR_PAYLOAD_LENGTH = 0x24c;
/** Boot protocol 2.08 added payload_offset/payload_length. */
export const PAYLOAD_MIN_PROTOCOL = 0x0208;
/** What a 64-bit kernel accepts for an initrd without a header to say (initrd_addr_max since 2.03 kernels). */
export const VMLINUX_INITRD_ADDR_MAX = 0x7fff_ffff;
export const VMLINUX_CMDLINE_SIZE = 2048;
/** The boot protocol version tsvmm's made-up header claims for a vmlinux. */
const VMLINUX_PROTOCOL = 0x020f;

/** Time spent decompressing the last payload (for -v and the benchmark). */
export interface DecompressStats {
  method: string;
  compressedBytes: number;
  decompressedBytes: number;
  ms: number;
}
export let lastDecompressStats: DecompressStats | undefined;

/** The memory the PT_LOAD segments occupy at their physical address + `delta`. */
function segmentSpan(elf: Elf64Image, delta: number): { loadAddr: number; end: number } {
  let lo = Infinity;
  let hi = 0;
  for (const s of elf.segments) {
    const at = s.paddr + delta;
    lo = Math.min(lo, at);
    hi = Math.max(hi, at + s.memsz);
  }
  return { loadAddr: lo, end: alignUp(hi, PAGE) };
}

/** Copies the PT_LOAD segments to their physical address + `delta`, zeroing the rest of each memsz. */
function writeSegments(placer: GuestPlacer, elf: Elf64Image, image: Uint8Array, delta: number): void {
  for (const s of elf.segments) {
    const at = s.paddr + delta;
    if (s.filesz > 0) placer.write(at, image.subarray(s.offset, s.offset + s.filesz), `kernel segment ${s.index}`);
    placer.zero(at + s.filesz, s.memsz - s.filesz, `kernel segment ${s.index} (bss)`);
  }
}

/**
 * Where the decompressed vmlinux is staged in guest RAM, below the load address: an x86-64 vmlinux's first
 * PT_LOAD segment (.text, at the load address) is at file offset 2 MiB (its 2 MiB segment alignment), so
 * staged there it is already in place and only the later segments move (a few MB). A kernel laid out
 * otherwise is still placed exactly, through a host copy (placeStaged returns false).
 */
const STAGE_BELOW_LOAD = 0x20_0000;

/**
 * Moves the PT_LOAD segments of the vmlinux staged at guest-physical `stage` (`size` bytes) to their
 * physical address + `delta` inside guest RAM, zeroes each bss and every staged byte no segment ended
 * up on, and records the writes as writeSegments does: guest RAM ends up exactly as writeSegments
 * leaves it. False, with nothing moved, when the segments' targets overlap each other or no order of
 * moves keeps every source intact until it is moved (the caller then copies through the host).
 */
function placeStaged(memory: GuestMemory, placer: GuestPlacer, elf: Elf64Image, stage: number, size: number, delta: number): boolean {
  const moves = elf.segments.map((s) => ({ s, src: stage + s.offset, dst: s.paddr + delta }));
  const overlap = (a: number, alen: number, b: number, blen: number) => alen > 0 && blen > 0 && a < b + blen && b < a + alen;
  for (const m of moves) {
    placer.requireLowRam(m.dst, m.s.filesz, `kernel segment ${m.s.index}`);
    if (m.s.memsz > m.s.filesz) placer.requireLowRam(m.dst + m.s.filesz, m.s.memsz - m.s.filesz, `kernel segment ${m.s.index} (bss)`);
    for (const o of moves) if (o !== m && overlap(m.dst, m.s.memsz, o.dst, o.s.memsz)) return false;
  }
  // A move may go once its target (with its bss) covers no other pending segment's source.
  const order: typeof moves = [];
  const pending = [...moves];
  while (pending.length > 0) {
    const k = pending.findIndex((m) => pending.every((o) => o === m || !overlap(m.dst, m.s.memsz, o.src, o.s.filesz)));
    if (k < 0) return false;
    order.push(pending.splice(k, 1)[0]!);
  }
  const lo = Math.min(stage, ...moves.map((m) => m.dst));
  const hi = Math.max(stage + size, ...moves.map((m) => m.dst + m.s.memsz));
  let ram: Uint8Array;
  try {
    ram = memory.view(lo, hi - lo);
  } catch {
    return false;
  }
  for (const m of order) {
    if (m.s.filesz > 0 && m.src !== m.dst) ram.copyWithin(m.dst - lo, m.src - lo, m.src - lo + m.s.filesz);
    ram.fill(0, m.dst + m.s.filesz - lo, m.dst + m.s.memsz - lo);
  }
  // Staged bytes outside every segment (ELF headers, alignment padding, what the segments moved away from) go back to zero.
  let at = stage;
  for (const m of [...moves].sort((a, b) => a.dst - b.dst)) {
    if (m.dst > at) ram.fill(0, at - lo, Math.min(m.dst, stage + size) - lo);
    at = Math.max(at, m.dst + m.s.memsz);
  }
  if (at < stage + size) ram.fill(0, at - lo, stage + size - lo);
  for (const m of moves) {
    if (m.s.filesz > 0) memory.hostWrote(m.dst, m.s.filesz);
    if (m.s.memsz > m.s.filesz) memory.markDirty(m.dst + m.s.filesz, m.s.memsz - m.s.filesz);
  }
  return true;
}

/** The physical entry point: e_entry is physical in a Linux vmlinux; a virtual one is translated through its segment. */
function physicalEntry(elf: Elf64Image, fileName: string): number {
  if (elf.entry < 0x1_0000_0000n) return Number(elf.entry);
  for (const s of elf.segments) {
    if (elf.entry >= s.vaddr && elf.entry < s.vaddr + BigInt(s.memsz)) return s.paddr + Number(elf.entry - s.vaddr);
  }
  throw new BootError(`${fileName}: ELF entry point 0x${elf.entry.toString(16)} lies in no loadable segment`);
}

/**
 * For the VM builder, as soon as it has read a bzImage that tsvmm will decompress and before it sets the VM up: the
 * payload's decoder is compiled meanwhile (warmUpDecompressor). An image without a payload to find is left to the
 * loader to report.
 */
export function prepareBzImageDecompression(image: Uint8Array): void {
  try {
    const h = parseLinuxHeader(image, 'kernel');
    if (h.version < PAYLOAD_MIN_PROTOCOL) return;
    const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
    const payloadOffset = h.kernelOffset + dv.getUint32(HDR_PAYLOAD_OFFSET, true);
    if (payloadOffset < image.length) warmUpDecompressor(image.subarray(payloadOffset, payloadOffset + dv.getUint32(HDR_PAYLOAD_LENGTH, true)));
  } catch {
    // Not a bzImage after all: loading says why.
  }
}

export function loadBzImageDecompressed(memory: GuestMemory, image: Uint8Array, h: LinuxSetupHeader, o: LinuxOptions): BootSetup {
  const { fileName, memBytes } = o;
  if (h.version < PAYLOAD_MIN_PROTOCOL) {
    throw new BootError(`${fileName}: boot protocol ${protocolText(h.version)} has no payload_offset/payload_length (2.08+), so tsvmm cannot find the compressed kernel; use --kernel-decompress guest`);
  }
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const payloadOffset = h.kernelOffset + dv.getUint32(HDR_PAYLOAD_OFFSET, true);
  const payloadLength = dv.getUint32(HDR_PAYLOAD_LENGTH, true);
  if (payloadLength === 0 || payloadOffset + payloadLength > image.length) {
    throw new BootError(`${fileName}: truncated or corrupt bzImage: the payload (offset ${payloadOffset}, ${payloadLength} bytes) does not lie inside the ${image.length}-byte file`);
  }
  const payload = image.subarray(payloadOffset, payloadOffset + payloadLength);
  const loadAddr = linuxLoadAddress(h);
  // Decompressed straight into guest RAM below the kernel (RAM above 1 MiB holds nothing yet: the firmware
  // tables are below it, the boot data come later), rather than into a host buffer copied from afterwards.
  const ram = ramSpan(memBytes);
  const stage = loadAddr - STAGE_BELOW_LOAD;
  let staged: Uint8Array | undefined;
  const intoRam = (size: number): Uint8Array | undefined => {
    if (stage < ONE_MIB || stage + size > ram.lowEnd) return undefined;
    try {
      staged = memory.view(stage, size);
    } catch {
      return undefined;
    }
    o.prefault?.(staged);
    return staged;
  };
  const t0 = performance.now();
  let vmlinux: Uint8Array;
  let method: string;
  try {
    const r = decompressPayload(payload, memBytes, intoRam);
    vmlinux = r.data;
    method = r.method;
  } catch (e) {
    if (e instanceof DecompressError) {
      // Damage (a check or size that does not match, data cut short) is fixed by a good copy of the file.
      throw new BootError(`${fileName}: ${e.message}${e.kind === 'damaged' ? '; the file is damaged or cut short: copy or download it again' : ''}`, { cause: e });
    }
    throw e;
  }
  const ms = performance.now() - t0;
  lastDecompressStats = { method, compressedBytes: payloadLength, decompressedBytes: vmlinux.length, ms };
  if (!isElf64(vmlinux)) throw new BootError(`${fileName}: the decompressed ${method} payload is not an ELF64 kernel (corrupt bzImage?)`);
  const elf = parseElf64(vmlinux, `${fileName} (decompressed payload)`);

  // Where the kernel's decompressor would put it: the load address plays LOAD_PHYSICAL_ADDR.
  const linkedAt = Math.min(...elf.segments.map((s) => s.paddr));
  const delta = loadAddr - (h.prefAddress || linkedAt);
  const placed = segmentSpan(elf, delta);
  // init_size covers the kernel's own early allocations past _end (brk, early page tables).
  const end = Math.max(placed.end, alignUp(loadAddr + h.initSize, PAGE));
  requireKernelFits(fileName, { loadAddr, end }, memBytes, o.initrd);
  const placer = new GuestPlacer(memory, ram, fileName, memBytes);
  if (staged === undefined || !placeStaged(memory, placer, elf, stage, vmlinux.length, delta)) {
    if (staged !== undefined) {
      // Staged, but laid out so that the segments cannot move in place: copy it out, clear the stage.
      vmlinux = vmlinux.slice();
      staged.fill(0);
    }
    writeSegments(placer, elf, vmlinux, delta);
  }
  const entry = physicalEntry(elf, fileName) + delta;
  const k: PlacedKernel = {
    loadAddr,
    end,
    entry,
    text: `(boot protocol ${protocolText(h.version)}) ${method} payload ${sizeText(payloadLength)} decompressed by tsvmm in ${ms.toFixed(0)} ms to ${sizeText(vmlinux.length)}, kernel at ${hexAddr(loadAddr)} (needs ${sizeText(end - loadAddr)})`,
  };
  return enterLinux64(placer, o, { image, headerEnd: h.headerEnd, initrdAddrMax: h.initrdAddrMax, cmdlineSize: h.cmdlineSize }, k);
}

/** A setup header for a kernel that has none (a vmlinux): what the 64-bit kernel reads from boot_params.hdr. */
function madeUpHeader(): Uint8Array {
  const img = new Uint8Array(SETUP_HEADER_LIMIT);
  const v = new DataView(img.buffer);
  v.setUint16(HDR_BOOT_FLAG, LINUX_BOOT_FLAG, true);
  img[HDR_JUMP_DISP] = SETUP_HEADER_LIMIT - HDR_MAGIC;
  v.setUint32(HDR_MAGIC, LINUX_HDRS_MAGIC, true);
  v.setUint16(HDR_VERSION, VMLINUX_PROTOCOL, true);
  img[HDR_LOADFLAGS] = LOADFLAGS_LOADED_HIGH;
  v.setUint32(HDR_KERNEL_ALIGNMENT, 0x20_0000, true);
  v.setUint32(HDR_CMDLINE_SIZE, VMLINUX_CMDLINE_SIZE, true);
  return img;
}

/** Loads an uncompressed x86-64 vmlinux: PVH entry when it has the note, else the 64-bit entry. */
export function loadVmlinux(memory: GuestMemory, image: Uint8Array, o: LinuxOptions): BootSetup {
  const { fileName, memBytes } = o;
  const elf = parseElf64(image, fileName);
  const placer = new GuestPlacer(memory, ramSpan(memBytes), fileName, memBytes);
  const span = segmentSpan(elf, 0);
  requireKernelFits(fileName, span, memBytes, o.initrd);
  writeSegments(placer, elf, image, 0);
  const size = sizeText(span.end - span.loadAddr);
  if (elf.pvhEntry !== undefined) {
    return enterPvh(placer, o, { loadAddr: span.loadAddr, end: span.end, entry: elf.pvhEntry, text: `vmlinux ELF64 at ${hexAddr(span.loadAddr)} (${size})` });
  }
  const entry = physicalEntry(elf, fileName);
  const header = madeUpHeader();
  return enterLinux64(
    placer,
    o,
    { image: header, headerEnd: SETUP_HEADER_LIMIT, initrdAddrMax: VMLINUX_INITRD_ADDR_MAX, cmdlineSize: VMLINUX_CMDLINE_SIZE },
    { ...span, entry, text: `vmlinux ELF64 at ${hexAddr(span.loadAddr)} (${size}), 64-bit entry` },
  );
}
