/**
 * Linear memory access: the TLB fast paths (rd8..wr64) and the slow paths that translate,
 * fill the TLB, reach the local APIC page and MMIO, and invalidate decoded code on writes.
 */
import type { EmuCpu } from './cpu.js';
import { Tlb } from './x86-defs.js';
import { addLin, nonCanonical } from './address.js';
import { translate } from './paging.js';
import { gp } from './exceptions.js';
import { fill } from './tlb.js';
import { dataAccess } from './debug-regs.js';
import { fetchBig, probeBig, rdBig, wrBig } from './big-lin.js';

/** A writable RAM region of the guest-physical map, with a DataView for the fast paths. */
export interface RamRegion {
  gpa: number;
  size: number;
  view: DataView;
  bytes: Uint8Array;
  /** Where the bytes are in the wasm tier's memory (jit/wasm-arena.ts), or -1. */
  wasmAddr: number;
}

export function rebuildRam(c: EmuCpu): void {
  c.ram = c.memory.regions
    .filter((r) => !r.readonly)
    .map((r) => ({ gpa: r.gpa, size: r.size, bytes: r.bytes, view: new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength), wasmAddr: c.wasm !== null ? c.wasm.addressOf(r.bytes) : -1 }));
  c.lastRam = undefined;
}

/** RAM region containing physical address `pa`, or undefined (MMIO / hole). */
export function ramAt(c: EmuCpu, pa: number): RamRegion | undefined {
  const l = c.lastRam;
  if (l !== undefined && pa >= l.gpa && pa < l.gpa + l.size) return l;
  for (const r of c.ram) {
    if (pa >= r.gpa && pa < r.gpa + r.size) {
      c.lastRam = r;
      return r;
    }
  }
  return undefined;
}

export function rd8(c: EmuCpu, lin: number): number {
  const i = ((lin >>> 12) & Tlb.Mask) | c.tlbUser;
  const off = lin & 0xfff;
  if (c.tlbTagR[i] === lin - off) return c.tlbView[i]!.getUint8(c.tlbOff[i]! + off);
  return rdSlow(c, lin, 1);
}

export function rd16(c: EmuCpu, lin: number): number {
  const i = ((lin >>> 12) & Tlb.Mask) | c.tlbUser;
  const off = lin & 0xfff;
  if (c.tlbTagR[i] === lin - off && off <= 0xffe) return c.tlbView[i]!.getUint16(c.tlbOff[i]! + off, true);
  return rdSlow(c, lin, 2);
}

export function rd32(c: EmuCpu, lin: number): number {
  const i = ((lin >>> 12) & Tlb.Mask) | c.tlbUser;
  const off = lin & 0xfff;
  if (c.tlbTagR[i] === lin - off && off <= 0xffc) return c.tlbView[i]!.getInt32(c.tlbOff[i]! + off, true);
  return rdSlow(c, lin, 4);
}

/** 64-bit read: low half returned, high half in c.hi. */
export function rd64(c: EmuCpu, lin: number): number {
  const i = ((lin >>> 12) & Tlb.Mask) | c.tlbUser;
  const off = lin & 0xfff;
  if (c.tlbTagR[i] === lin - off && off <= 0xff8) {
    const v = c.tlbView[i]!;
    const o = c.tlbOff[i]! + off;
    c.hi = v.getInt32(o + 4, true);
    return v.getInt32(o, true);
  }
  if (Math.floor(lin) !== lin) return rdBig(c, lin, 8);
  const lo = rd32(c, lin);
  c.hi = rd32(c, addLin(lin, 4, c.long64));
  return lo;
}

export function rd(c: EmuCpu, size: number, lin: number): number {
  switch (size) {
    case 1:
      return rd8(c, lin);
    case 2:
      return rd16(c, lin);
    case 4:
      return rd32(c, lin);
    default:
      return rd64(c, lin);
  }
}

export function wr8(c: EmuCpu, lin: number, v: number): void {
  const i = ((lin >>> 12) & Tlb.Mask) | c.tlbUser;
  const off = lin & 0xfff;
  if (c.tlbTagW[i] === lin - off) c.tlbView[i]!.setUint8(c.tlbOff[i]! + off, v);
  else wrSlow(c, lin, 1, v);
}

export function wr16(c: EmuCpu, lin: number, v: number): void {
  const i = ((lin >>> 12) & Tlb.Mask) | c.tlbUser;
  const off = lin & 0xfff;
  if (c.tlbTagW[i] === lin - off && off <= 0xffe) c.tlbView[i]!.setUint16(c.tlbOff[i]! + off, v, true);
  else wrSlow(c, lin, 2, v);
}

export function wr32(c: EmuCpu, lin: number, v: number): void {
  const i = ((lin >>> 12) & Tlb.Mask) | c.tlbUser;
  const off = lin & 0xfff;
  if (c.tlbTagW[i] === lin - off && off <= 0xffc) c.tlbView[i]!.setInt32(c.tlbOff[i]! + off, v, true);
  else wrSlow(c, lin, 4, v);
}

export function wr64(c: EmuCpu, lin: number, lo: number, hi: number): void {
  const i = ((lin >>> 12) & Tlb.Mask) | c.tlbUser;
  const off = lin & 0xfff;
  if (c.tlbTagW[i] === lin - off && off <= 0xff8) {
    const v = c.tlbView[i]!;
    const o = c.tlbOff[i]! + off;
    v.setInt32(o, lo, true);
    v.setInt32(o + 4, hi, true);
    return;
  }
  if (Math.floor(lin) !== lin) return wrBig(c, lin, 8, lo, hi);
  // Probe both halves for write before changing memory (within one page the first store faults first).
  if (off > 0xff8) probeWrite(c, lin, 8);
  wr32(c, lin, lo);
  wr32(c, addLin(lin, 4, c.long64), hi);
}

export function wr(c: EmuCpu, size: number, lin: number, v: number, vhi = 0): void {
  switch (size) {
    case 1:
      return wr8(c, lin, v);
    case 2:
      return wr16(c, lin, v);
    case 4:
      return wr32(c, lin, v);
    default:
      return wr64(c, lin, v, vhi);
  }
}

/**
 * Read of a read-modify-write operand: faults as a write (error code W=1, CR2 of the first
 * byte that cannot be written) before anything changes, then reads.
 */
export function rdw(c: EmuCpu, size: number, lin: number): number {
  const i = ((lin >>> 12) & Tlb.Mask) | c.tlbUser;
  const off = lin & 0xfff;
  if (c.tlbTagW[i] !== lin - off || off > 4096 - size) probeWrite(c, lin, size);
  return rd(c, size, lin);
}

/** Faults now if a write of `size` bytes at `lin` would fault (used before multi-part writes). */
export function probeWrite(c: EmuCpu, lin: number, size: number): void {
  if (Math.floor(lin) !== lin) return probeBig(c, lin, size);
  const off = lin & 0xfff;
  if (off <= 4096 - size) {
    // A write entry of the page (a code page's too: tlb.ts fill) says a write translation was made.
    const i = ((lin >>> 12) & Tlb.Mask) | c.tlbUser;
    const tw = c.tlbTagW[i]!;
    if (tw === lin - off || tw === lin - off + 1) return;
  }
  translate(c, lin, 1);
  const last = addLin(lin, size - 1, c.long64);
  // The second page is checked at its first byte (that is the CR2 a fault reports).
  if ((last - (last & 0xfff)) !== (lin - (lin & 0xfff))) translate(c, last - (last & 0xfff), 1);
}

export function rdSlow(c: EmuCpu, lin: number, size: number): number {
  if (Math.floor(lin) !== lin) return rdBig(c, lin, size);
  const off = lin & 0xfff;
  if (off + size > 4096) {
    let v = 0;
    for (let k = 0; k < size; k++) v |= rd8(c, addLin(lin, k, c.long64)) << (8 * k);
    return size === 4 ? v | 0 : v;
  }
  if (c.long64 && nonCanonical(c, lin)) return gp(c, 0);
  const pa = translate(c, lin, 0);
  if (c.debugArmed) dataAccess(c, lin, size, false);
  return rdPhys(c, pa, size, lin);
}

/**
 * The read of `size` bytes (within a page) at translated `pa`: RAM, the local APIC or MMIO; `lin` (not NaN) fills
 * the TLB (beyond +-2^53: the exact page address, big-lin.ts).
 */
export function rdPhys(c: EmuCpu, pa: number, size: number, lin: number): number {
  if (pa - (pa & 0xfff) === c.apicBasePhys && c.apic !== undefined && apicEnabled(c)) {
    c.counts.mmio++;
    const v = c.apic.mmioRead(pa & 0xfff, size);
    return size === 4 ? v | 0 : v;
  }
  const r = ramAt(c, pa);
  if (r !== undefined) {
    if (lin === lin) fill(c, lin, pa, 0, r);
    const o = pa - r.gpa;
    return size === 1 ? r.view.getUint8(o) : size === 2 ? r.view.getUint16(o, true) : r.view.getInt32(o, true);
  }
  c.counts.mmio++;
  const v = c.mmio.readValue(pa, size as 1 | 2 | 4);
  return size === 4 ? v | 0 : v;
}

export function wrSlow(c: EmuCpu, lin: number, size: number, v: number): void {
  if (Math.floor(lin) !== lin) return wrBig(c, lin, size, v);
  const off = lin & 0xfff;
  if (off + size > 4096) {
    probeWrite(c, lin, size);
    for (let k = 0; k < size; k++) wr8(c, addLin(lin, k, c.long64), v >>> (8 * k));
    return;
  }
  // A code page's write entry (tlb.ts fill): the translation is done, only the code checks are left.
  const i = ((lin >>> 12) & Tlb.Mask) | c.tlbUser;
  if (c.tlbTagW[i] === lin - off + 1 && !c.debugArmed && wrCodePage(c, i, off, size, v)) return;
  if (c.long64 && nonCanonical(c, lin)) return gp(c, 0);
  const pa = translate(c, lin, 1);
  if (c.debugArmed) dataAccess(c, lin, size, true);
  wrPhys(c, pa, size, v, lin);
}

/** The write of `size` bytes (within a page) at translated `pa`: RAM (its decoded code checked), the local APIC or MMIO; `lin` (not NaN) fills the TLB. */
export function wrPhys(c: EmuCpu, pa: number, size: number, v: number, lin: number): void {
  if (pa - (pa & 0xfff) === c.apicBasePhys && c.apic !== undefined && apicEnabled(c)) {
    c.counts.mmio++;
    c.pollAt = 0;
    c.apic.mmioWrite(pa & 0xfff, size, v);
    return;
  }
  const r = ramAt(c, pa);
  if (r !== undefined) {
    const pp = pa - (pa & 0xfff);
    const o = pa - r.gpa;
    // A store that leaves the bytes as they are changes no code: keep the page's blocks (code that
    // stores into its own page, such as zeroed RAM run as `add [eax], al`, would re-decode every time).
    if (c.cache.isCode(pp)) {
      const cur = c.curBlock;
      if (size === 1 ? r.view.getUint8(o) !== (v & 0xff) : size === 2 ? r.view.getUint16(o, true) !== (v & 0xffff) : r.view.getInt32(o, true) !== (v | 0)) {
        c.cache.codeWrite(pa, size, cur !== null && cur.phys - (cur.phys % 4096) === pp);
      }
      c.cache.untrackIdle(pp, cur);
    }
    if (lin === lin) fill(c, lin, pa, 1, r);
    else c.memory.markDirty(pp, 4096);
    if (size === 1) r.view.setUint8(o, v);
    else if (size === 2) r.view.setUint16(o, v, true);
    else r.view.setInt32(o, v, true);
    return;
  }
  c.counts.mmio++;
  c.pollAt = 0;
  c.mmio.writeValue(pa, size as 1 | 2 | 4, size === 4 ? v >>> 0 : v);
}

/**
 * A store through the write entry `i` of a page that holds decoded code, made here (true) when it reaches no
 * decoded byte, neither a held block's nor the running block's; else (false) the full path checks and
 * invalidates. The kernel's freed init code, poisoned a word at a time, took a page walk per store.
 */
function wrCodePage(c: EmuCpu, i: number, off: number, size: number, v: number): boolean {
  const pa = c.tlbPhys[i]! + off;
  const cur = c.curBlock;
  if (cur !== null && cur.phys < pa + size && pa < cur.phys + cur.len) return false;
  if (c.cache.checksStore(pa, size)) return false;
  const view = c.tlbView[i]!;
  const o = c.tlbOff[i]! + off;
  if (size === 1) view.setUint8(o, v);
  else if (size === 2) view.setUint16(o, v, true);
  else view.setInt32(o, v, true);
  return true;
}

/** The xAPIC MMIO page answers only while the APIC is globally enabled and not in x2APIC mode. */
export function apicEnabled(c: EmuCpu): boolean {
  return c.apicMmio;
}

/** Translates the instruction pointer page for decoding; returns the physical address of `lin`. */
export function fetchPhys(c: EmuCpu, lin: number): number {
  const i = ((lin >>> 12) & Tlb.Mask) | c.tlbUser;
  const off = lin & 0xfff;
  if (c.tlbTagX[i] === lin - off) return c.tlbPhys[i]! + off;
  if (Math.floor(lin) !== lin) return fetchBig(c, lin);
  if (c.long64 && nonCanonical(c, lin)) return gp(c, 0);
  const pa = translate(c, lin, 2);
  const r = ramAt(c, pa);
  if (r !== undefined) fill(c, lin, pa, 2, r);
  return pa;
}
