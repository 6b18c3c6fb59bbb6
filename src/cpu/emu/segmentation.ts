/**
 * Segmentation: limit/type checks of memory operands, descriptor reads from the GDT/LDT, and
 * the protected-mode loads of data segments, SS and CS.
 */
import type { EmuCpu } from './cpu.js';
import { SEG_ATTR_UNUSABLE } from '../registers.js';
import { CR0_PE, EFER_LMA, VEC_GP, VEC_NP, VEC_SS, Seg, Pow, BigAd } from './x86-defs.js';
import { regPlus } from './address.js';
import { Bit } from './flags.js';
import { gp, raise, unimplemented } from './exceptions.js';
import { rd32, wr32 } from './mem-access.js';

/** Limit, type and null checks of an access of `size` bytes at offset `off` of segment `s` (#GP, or #SS for SS). */
export function checkSeg(c: EmuCpu, s: number, off: number, size: number, write: boolean): void {
  const a = c.segAttr[s]!;
  const vec = s === Seg.SS ? VEC_SS : VEC_GP;
  const pm = (c.cr0 & CR0_PE) !== 0 && (c.flags & Bit.VM) === 0;
  if (pm) {
    if ((a & SEG_ATTR_UNUSABLE) !== 0) return raise(c, vec, 0);
    if ((a & 8) !== 0) {
      if (write || (a & 2) === 0) return raise(c, vec, 0);
    } else if (write && (a & 2) === 0) return raise(c, vec, 0);
  }
  const limit = c.segLimit[s]!;
  const last = off + size - 1;
  if (pm && (a & 0xc) === 4) {
    const upper = (a & (1 << 14)) !== 0 ? 0xffffffff : 0xffff;
    if (off <= limit || last > upper) return raise(c, vec, 0);
  } else if (last > limit) return raise(c, vec, 0);
}

/** Reads descriptor `sel` from the GDT/LDT into dlo/dhi; #GP(sel) if outside the table. */
export function readDescriptor(c: EmuCpu, sel: number, vec = VEC_GP): number {
  const ldt = (sel & 4) !== 0;
  const base = ldt ? c.segBase[Seg.LDTR]! : c.gdtBase;
  const limit = ldt ? c.segLimit[Seg.LDTR]! : c.gdtLimit;
  const idx = sel & 0xfff8;
  if (idx + 7 > limit || (ldt && (c.segAttr[Seg.LDTR]! & SEG_ATTR_UNUSABLE) !== 0)) return raise(c, vec, sel & 0xfffc);
  // Exact beyond +-2^53 too (5-level paging: a handle, address.ts).
  const at = regPlus(c, ldt ? Seg.LDTR : BigAd.Gdt, base, idx);
  const save = c.tlbUser;
  c.tlbUser = 0;
  try {
    c.dlo = rd32(c, sysLin(c, at));
    c.dhi = rd32(c, sysLin(c, at + 4));
  } finally {
    c.tlbUser = save;
  }
  return at;
}

export function sysLin(c: EmuCpu, a: number): number {
  return (c.efer & EFER_LMA) !== 0 ? a : a % Pow.Two32;
}

export function setAccessed(c: EmuCpu, addr: number): void {
  if ((c.dhi & 0x100) === 0 && (c.dhi & 0x1000) !== 0) {
    c.dhi |= 0x100;
    const save = c.tlbUser;
    c.tlbUser = 0;
    try {
      wr32(c, sysLin(c, addr + 4), c.dhi);
    } finally {
      c.tlbUser = save;
    }
  }
}

/** Loads segment register `s` from descriptor words dlo/dhi. */
export function loadFromDesc(c: EmuCpu, s: number, sel: number): void {
  const lo = c.dlo;
  const hi = c.dhi;
  const base = ((hi & 0xff000000) | ((hi & 0xff) << 16) | (lo >>> 16)) >>> 0;
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  const attrs = ((hi >>> 8) & 0xff) | (((hi >>> 20) & 0xf) << 12);
  const limit = (attrs & 0x8000) !== 0 ? ((raw << 12) | 0xfff) >>> 0 : raw;
  c.segSel[s] = sel;
  c.segBase[s] = base;
  c.segLimit[s] = limit;
  c.segAttr[s] = attrs;
  c.segChanged();
}

/** MOV/POP to a data segment register or SS (protected-mode checks per SDM vol. 2 MOV). */
export function loadSeg(c: EmuCpu, s: number, sel: number): void {
  sel &= 0xffff;
  if ((c.cr0 & CR0_PE) === 0 || (c.flags & Bit.VM) !== 0) {
    c.segSel[s] = sel;
    c.segBase[s] = sel << 4;
    if ((c.flags & Bit.VM) !== 0) {
      c.segLimit[s] = 0xffff;
      c.segAttr[s] = s === Seg.CS ? 0xf3 : 0xf3;
    }
    if (s === Seg.CS || s === Seg.SS) c.updateMode();
    else c.segChanged();
    return;
  }
  const rpl = sel & 3;
  if ((sel & 0xfffc) === 0) {
    if (s === Seg.SS && !(c.long64 && c.cpl !== 3 && rpl === c.cpl)) return gp(c, 0);
    c.segSel[s] = sel;
    c.segBase[s] = 0;
    c.segLimit[s] = 0;
    c.segAttr[s] = SEG_ATTR_UNUSABLE | (s === Seg.SS ? c.cpl << 5 : 0);
    if (s === Seg.SS) c.updateMode();
    else c.segChanged();
    return;
  }
  const addr = readDescriptor(c, sel);
  const hi = c.dhi;
  const type = (hi >>> 8) & 0xf;
  const dpl = (hi >>> 13) & 3;
  const code = (type & 8) !== 0;
  if ((hi & 0x1000) === 0) return gp(c, sel & 0xfffc);
  if (s === Seg.SS) {
    if (code || (type & 2) === 0 || rpl !== c.cpl || dpl !== c.cpl) return gp(c, sel & 0xfffc);
    if ((hi & 0x8000) === 0) return raise(c, VEC_SS, sel & 0xfffc);
  } else {
    if (code && (type & 2) === 0) return gp(c, sel & 0xfffc);
    // Data or non-conforming code: DPL >= max(CPL, RPL).
    if ((!code || (type & 4) === 0) && dpl < Math.max(c.cpl, rpl)) return gp(c, sel & 0xfffc);
    if ((hi & 0x8000) === 0) return raise(c, VEC_NP, sel & 0xfffc);
  }
  setAccessed(c, addr);
  loadFromDesc(c, s, sel);
  if (s === Seg.SS) c.updateMode();
}

/**
 * Loads CS for a far JMP/CALL/RET/IRET/interrupt to `sel` at privilege `newCpl`
 * (checks the descriptor is present code of the right privilege).
 */
export function loadCs(c: EmuCpu, sel: number, newCpl: number, checkDpl: 'jmp' | 'ret' | 'int'): void {
  sel &= 0xffff;
  if ((c.cr0 & CR0_PE) === 0 || (c.flags & Bit.VM) !== 0) {
    c.segSel[Seg.CS] = sel;
    c.segBase[Seg.CS] = sel << 4;
    c.updateMode();
    return;
  }
  if ((sel & 0xfffc) === 0) return gp(c, 0);
  const addr = readDescriptor(c, sel);
  const hi = c.dhi;
  const type = (hi >>> 8) & 0xf;
  const dpl = (hi >>> 13) & 3;
  if ((hi & 0x1000) === 0 || (type & 8) === 0) {
    if (checkDpl === 'jmp' && (hi & 0x1000) === 0 && (type === 0x5 || type === 0x9 || type === 0x1)) unimplemented(c, `far transfer through system descriptor type ${type}`);
    return gp(c, sel & 0xfffc);
  }
  const conforming = (type & 4) !== 0;
  if (checkDpl === 'jmp') {
    if (conforming ? dpl > c.cpl : (sel & 3) > c.cpl || dpl !== c.cpl) return gp(c, sel & 0xfffc);
  } else if (checkDpl === 'ret') {
    if (conforming ? dpl > newCpl : dpl !== newCpl) return gp(c, sel & 0xfffc);
  } else if (dpl > c.cpl) return gp(c, sel & 0xfffc);
  if ((hi & 0x8000) === 0) return raise(c, VEC_NP, sel & 0xfffc);
  if ((c.efer & EFER_LMA) !== 0 && (hi & (1 << 21)) !== 0 && (hi & (1 << 22)) !== 0) return gp(c, sel & 0xfffc);
  setAccessed(c, addr);
  loadFromDesc(c, Seg.CS, (sel & 0xfffc) | newCpl);
  c.segAttr[Seg.CS] = (c.segAttr[Seg.CS]! & ~0x60) | (conforming ? c.segAttr[Seg.CS]! & 0x60 : newCpl << 5);
  // CPL follows the new CS (for conforming segments CPL is unchanged)
  c.segAttr[Seg.CS] = (c.segAttr[Seg.CS]! & ~0x60) | (newCpl << 5);
  c.updateMode();
}

/** The descriptor words of the last readDescriptor(). */
export function descWords(c: EmuCpu): { lo: number; hi: number } {
  return { lo: c.dlo, hi: c.dhi };
}

/** Loads system segment `s` (LDTR/TR) from the last descriptor read. */
export function loadDescInto(c: EmuCpu, s: number, sel: number): void {
  loadFromDesc(c, s, sel);
}
