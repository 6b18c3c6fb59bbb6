/**
 * Synthetic kernel images for the loader tests, built byte by byte from the format specs
 * (ELF32, multiboot v1 header, Linux setup header). Test support only.
 */
import { GuestMemory, pcRamLayout } from '../../memory/guest-memory.js';
import { MULTIBOOT_AOUT_KLUDGE, MULTIBOOT_HEADER_MAGIC } from '../multiboot-header.js';

export function makeMemory(memBytes: number): GuestMemory {
  return new GuestMemory(pcRamLayout(memBytes).map((r) => ({ ...r, bytes: new Uint8Array(r.size) })));
}

export function multibootHeader(flags: number, address?: { headerAddr: number; loadAddr: number; loadEndAddr: number; bssEndAddr: number; entryAddr: number }, checksumDelta = 0): Uint8Array {
  const out = new Uint8Array(address ? 32 : 12);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MULTIBOOT_HEADER_MAGIC, true);
  dv.setUint32(4, flags, true);
  dv.setUint32(8, (-(MULTIBOOT_HEADER_MAGIC + flags) + checksumDelta) >>> 0, true);
  if (address) {
    dv.setUint32(12, address.headerAddr, true);
    dv.setUint32(16, address.loadAddr, true);
    dv.setUint32(20, address.loadEndAddr, true);
    dv.setUint32(24, address.bssEndAddr, true);
    dv.setUint32(28, address.entryAddr, true);
  }
  return out;
}

export interface SyntheticSegment {
  paddr: number;
  vaddr?: number;
  data: Uint8Array;
  memsz: number;
}

export interface ElfOptions {
  entry: number;
  segments: SyntheticSegment[];
  /** Multiboot header flags; undefined leaves the header out. */
  multibootFlags?: number | undefined;
  checksumDelta?: number;
  elfClass?: number;
  machine?: number;
}

/** An ELF32 executable: header, program headers (plus one PT_NOTE to skip), multiboot header, segment data page-aligned. */
export function buildElf32(o: ElfOptions): Uint8Array {
  const phnum = o.segments.length + 1;
  const mbOffset = 52 + phnum * 32;
  const dataStart = 0x1000;
  let size = dataStart;
  const offsets = o.segments.map((s) => {
    const off = size;
    size = Math.ceil((size + s.data.length) / 0x1000) * 0x1000;
    return off;
  });
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, o.elfClass ?? 1, 1, 1]);
  dv.setUint16(0x10, 2, true); // ET_EXEC
  dv.setUint16(0x12, o.machine ?? 3, true);
  dv.setUint32(0x14, 1, true);
  dv.setUint32(0x18, o.entry, true);
  dv.setUint32(0x1c, 52, true); // e_phoff
  dv.setUint16(0x28, 52, true); // e_ehsize
  dv.setUint16(0x2a, 32, true); // e_phentsize
  dv.setUint16(0x2c, phnum, true);
  o.segments.forEach((s, i) => {
    const p = 52 + i * 32;
    dv.setUint32(p, 1, true); // PT_LOAD
    dv.setUint32(p + 4, offsets[i]!, true);
    dv.setUint32(p + 8, s.vaddr ?? s.paddr, true);
    dv.setUint32(p + 12, s.paddr, true);
    dv.setUint32(p + 16, s.data.length, true);
    dv.setUint32(p + 20, s.memsz, true);
    dv.setUint32(p + 24, 7, true);
    dv.setUint32(p + 28, 0x1000, true);
    out.set(s.data, offsets[i]!);
  });
  dv.setUint32(52 + o.segments.length * 32, 4, true); // PT_NOTE, ignored by the loader
  if (o.multibootFlags !== undefined) out.set(multibootHeader(o.multibootFlags, undefined, o.checksumDelta ?? 0), mbOffset);
  return out;
}

/** A flat binary with the multiboot address fields: file offset 0 loads at loadAddr. */
export function buildAoutKernel(o: { loadAddr: number; headerOffset: number; text: Uint8Array; bssBytes: number; entry: number; loadEndAddr?: number }): Uint8Array {
  const out = new Uint8Array(Math.max(o.text.length, o.headerOffset + 32));
  out.set(o.text);
  const fileEnd = o.loadAddr + out.length;
  out.set(
    multibootHeader(MULTIBOOT_AOUT_KLUDGE, {
      headerAddr: o.loadAddr + o.headerOffset,
      loadAddr: o.loadAddr,
      loadEndAddr: o.loadEndAddr ?? fileEnd,
      bssEndAddr: o.bssBytes ? fileEnd + o.bssBytes : 0,
      entryAddr: o.entry,
    }),
    o.headerOffset,
  );
  return out;
}

export interface BzImageOptions {
  version?: number;
  setupSects?: number;
  loadflags?: number;
  xloadflags?: number;
  relocatable?: boolean;
  kernelAlignment?: number;
  prefAddress?: number;
  initSize?: number;
  initrdAddrMax?: number;
  cmdlineSize?: number;
  /** Protected-mode kernel bytes; filled with a pattern. */
  kernelBytes?: number;
}

/** Fill pattern of the synthetic protected-mode kernel, so tests can check where it landed. */
export function kernelPattern(i: number): number {
  return (i * 7 + 3) & 0xff;
}

/** A bzImage with a valid setup header (protocol 2.15 defaults, like a current x86_64 kernel). */
export function buildBzImage(o: BzImageOptions = {}): Uint8Array {
  const setupSects = o.setupSects ?? 4;
  const setupBytes = (setupSects + 1) * 512;
  const kernelBytes = o.kernelBytes ?? 0x3000;
  const out = new Uint8Array(setupBytes + kernelBytes);
  const dv = new DataView(out.buffer);
  out[0x1f1] = setupSects;
  dv.setUint32(0x1f4, Math.ceil(kernelBytes / 16) - 1, true); // syssize (paragraphs), within the file
  dv.setUint16(0x1fa, 0xffff, true); // vid_mode "normal"
  dv.setUint16(0x1fe, 0xaa55, true);
  out[0x200] = 0xeb; // short jump over the header
  out[0x201] = 0x6a; // header ends at 0x26c
  dv.setUint32(0x202, 0x53726448, true);
  dv.setUint16(0x206, o.version ?? 0x020f, true);
  out[0x211] = o.loadflags ?? 0x01;
  dv.setUint32(0x214, 0x100000, true);
  dv.setUint32(0x22c, o.initrdAddrMax ?? 0x7fffffff, true);
  dv.setUint32(0x230, o.kernelAlignment ?? 0x200000, true);
  out[0x234] = o.relocatable === false ? 0 : 1;
  out[0x235] = 0x15;
  dv.setUint16(0x236, o.xloadflags ?? 0x7f, true);
  dv.setUint32(0x238, o.cmdlineSize ?? 0x7ff, true);
  dv.setBigUint64(0x258, BigInt(o.prefAddress ?? 0x1000000), true);
  dv.setUint32(0x260, o.initSize ?? 0x400000, true);
  for (let i = 0; i < kernelBytes; i++) out[setupBytes + i] = kernelPattern(i);
  return out;
}
