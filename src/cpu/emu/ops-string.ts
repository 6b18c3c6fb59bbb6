/**
 * String instructions (MOVS CMPS STOS LODS SCAS INS OUTS) with REP/REPE/REPNE.
 * A REP instruction runs at most REP_CHUNK iterations per execution and then restarts
 * itself (rip stays on it), so interrupts are taken in the middle of long REPs with
 * the registers describing the remaining work, as on hardware.
 */
import type { EmuCpu } from './cpu.js';
import { Pow, Seg, Tlb, Gp } from './x86-defs.js';
import { checkSeg } from './segmentation.js';
import { BIG, addIp, plusBig, regHalves } from './address.js';
import { bigEntry } from './big-lin.js';
import type { Insn } from './insn.js';
import { Bit } from './flags.js';
import { getReg, r64, setReg } from './gpr.js';
import { probeWrite, rd, wr } from './mem-access.js';
import { getZF } from './lazy-flags.js';
import { alu, alu64 } from './sem-alu.js';
import { checkIo, portIn, portOut } from './port-io.js';

const REP_CHUNK = 1024;

/** The page-at-a-time REP STOS/MOVS path (bulk below); tests turn it off to compare with the element loop. */
export const repBulk = { enabled: true };

function idx(c: EmuCpu, r: number, asz: number): number {
  return asz === 2 ? c.gpr[r << 1]! & 0xffff : asz === 4 ? c.gpr[r << 1]! >>> 0 : r64(c, r);
}
function adv(c: EmuCpu, r: number, asz: number, d: number): void {
  if (asz === 2) c.gpr[r << 1] = (c.gpr[r << 1]! & ~0xffff) | ((c.gpr[r << 1]! + d) & 0xffff);
  else if (asz === 4) {
    c.gpr[r << 1] = (c.gpr[r << 1]! + d) | 0;
    if (c.long64) c.gpr[(r << 1) | 1] = 0;
  } else {
    const lo = (c.gpr[r << 1]! >>> 0) + d;
    c.gpr[r << 1] = lo | 0;
    if (lo > 0xffffffff) c.gpr[(r << 1) | 1] = (c.gpr[(r << 1) | 1]! + 1) | 0;
    else if (lo < 0) c.gpr[(r << 1) | 1] = (c.gpr[(r << 1) | 1]! - 1) | 0;
  }
}
/** The linear address of `size` bytes at register `r` in segment `seg`, after its limit and type checks (#GP, #SS for SS). */
function lin(c: EmuCpu, seg: number, r: number, asz: number, size: number, write: boolean): number {
  const off = idx(c, r, asz);
  if (asz === 8 || c.long64) {
    const sb = c.segBase[seg]!;
    // Terms within +-2^52 sum exactly; else the exact sum from the halves (a handle beyond +-2^53: address.ts linOf).
    if (off > -Pow.Two52 && off < Pow.Two52 && sb > -Pow.Two52 && sb < Pow.Two52) return sb + off;
    return bigLin(c, seg, off, r, asz);
  }
  if (c.segChk[seg] !== 0) checkSeg(c, seg, off, size, write);
  const a = c.segBase[seg]! + off;
  return a >= Pow.Two32 ? a - Pow.Two32 : a;
}
/** lin() in 64-bit mode where the sum is not exact in a double: from the halves of the base and the register. */
function bigLin(c: EmuCpu, seg: number, off: number, r: number, asz: number): number {
  regHalves(c, seg, c.segBase[seg]!);
  return asz === 8 ? plusBig(c, c.gpr[(r << 1) | 1]!, c.gpr[r << 1]! >>> 0) : plusBig(c, 0, off);
}
function count(c: EmuCpu, asz: number): number {
  return idx(c, 1, asz);
}
function decCount(c: EmuCpu, asz: number): void {
  adv(c, 1, asz, -1);
}

/** One iteration; returns false when a REPE/REPNE condition ends the loop. */
function once(c: EmuCpu, i: Insn, asz: number, step: number): void {
  const size = i.osz;
  const dseg = c.long64 ? 8 : Seg.ES;
  switch (i.op) {
    case 0: {
      const v = rd(c, size, lin(c, i.seg, 6, asz, size, false));
      wr(c, size, lin(c, dseg, 7, asz, size, true), v, c.hi);
      adv(c, 6, asz, step);
      adv(c, 7, asz, step);
      return;
    }
    case 1: {
      const a = rd(c, size, lin(c, i.seg, 6, asz, size, false));
      const ah = c.hi;
      const b = rd(c, size, lin(c, dseg, 7, asz, size, false));
      const bh = c.hi;
      if (size === 8) alu64(c, 7, a, ah, b, bh);
      else alu(c, 7, size, a, b);
      adv(c, 6, asz, step);
      adv(c, 7, asz, step);
      return;
    }
    case 2:
      wr(c, size, lin(c, dseg, 7, asz, size, true), getReg(c, size, 0), c.gpr[Gp.AxHi]!);
      adv(c, 7, asz, step);
      return;
    case 3: {
      const v = rd(c, size, lin(c, i.seg, 6, asz, size, false));
      setReg(c, size, 0, v, c.hi);
      adv(c, 6, asz, step);
      return;
    }
    case 4: {
      const b = rd(c, size, lin(c, dseg, 7, asz, size, false));
      const bh = c.hi;
      if (size === 8) alu64(c, 7, c.gpr[Gp.AxLo]!, c.gpr[Gp.AxHi]!, b, bh);
      else alu(c, 7, size, getReg(c, size, 0), b);
      adv(c, 7, asz, step);
      return;
    }
    case 5: {
      const port = c.gpr[Gp.DxLo]! & 0xffff;
      checkIo(c, port, size);
      const a = lin(c, dseg, 7, asz, size, true);
      probeWrite(c, a, size);
      wr(c, size, a, portIn(c, port, size));
      adv(c, 7, asz, step);
      return;
    }
    default: {
      const port = c.gpr[Gp.DxLo]! & 0xffff;
      checkIo(c, port, size);
      const v = rd(c, size, lin(c, i.seg, 6, asz, size, false));
      portOut(c, port, size, v);
      adv(c, 6, asz, step);
    }
  }
}

/**
 * Byte views of the last two buffers bulk() wrote or read (guest RAM, one buffer in a Linux guest): a view
 * made per call was ~39 MB of the ~800 MB a Linux boot to its prompt allocated (heap sampling).
 */
let viewBufA: ArrayBufferLike | null = null;
let viewA: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
let viewBufB: ArrayBufferLike | null = null;
let viewB: Uint8Array<ArrayBufferLike> = new Uint8Array(0);

/** A Uint8Array over all of `buf` (the two most recent are kept). */
function bytesOf(buf: ArrayBufferLike): Uint8Array<ArrayBufferLike> {
  if (buf === viewBufA) return viewA;
  const v = buf === viewBufB ? viewB : new Uint8Array(buf);
  viewBufB = viewBufA;
  viewB = viewA;
  viewBufA = buf;
  viewA = v;
  return v;
}

/** The page offset of the address entry() looked up. */
let ENTRY_OFF = 0;

/** The TLB entry of `tags` mapping linear address `a` (a handle too: big-lin.ts), or -1; its offset in ENTRY_OFF. */
function entry(c: EmuCpu, a: number, tags: Float64Array): number {
  if (Math.floor(a) !== a) {
    const i = bigEntry(c, a, tags);
    ENTRY_OFF = BIG.lo & 0xfff;
    return i;
  }
  const off = a & 0xfff;
  const i = ((a >>> 12) & Tlb.Mask) | c.tlbUser;
  ENTRY_OFF = off;
  return tags[i] === a - off ? i : -1;
}

/**
 * REP STOS / REP MOVS forward, as many whole elements as lie in pages the TLB already maps (a write
 * entry means plain RAM that holds no decoded code, is not watched and is already in the dirty log;
 * a read entry means RAM that is not watched). Stores the same bytes the element loop would, and
 * moves RSI/RDI/RCX the same: only the number of host operations changes. Returns the elements done
 * (0: the next element needs the element loop: a TLB miss, a page-crossing element, MMIO).
 */
function bulk(c: EmuCpu, i: Insn, asz: number, max: number): number {
  const size = i.osz;
  const dseg = c.long64 ? 8 : Seg.ES;
  const dl = lin(c, dseg, 7, asz, size, true);
  const di = entry(c, dl, c.tlbTagW);
  if (di < 0) return 0;
  const doff = ENTRY_OFF;
  let k = Math.min(max, ((4096 - doff) / size) | 0);
  if (k === 0) return 0;
  const dv = c.tlbView[di]!;
  const dAt = dv.byteOffset + c.tlbOff[di]! + doff;
  if (i.op === 2) {
    const lo = c.gpr[Gp.AxLo]!;
    const b = lo & 0xff;
    // A value whose bytes are all equal (0, -1: the usual memset) is a byte fill whatever its size.
    const same = size === 1 || ((size === 2 ? (lo & 0xffff) === b * 0x101 : lo === ((b * 0x1010101) | 0)) && (size !== 8 || c.gpr[Gp.AxHi] === lo));
    if (same) bytesOf(dv.buffer).fill(b, dAt, dAt + k * size);
    else {
      const o = dAt - dv.byteOffset;
      const hi = c.gpr[Gp.AxHi]!;
      for (let e = 0; e < k; e++) {
        const at = o + e * size;
        if (size === 2) dv.setUint16(at, lo, true);
        else {
          dv.setInt32(at, lo, true);
          if (size === 8) dv.setInt32(at + 4, hi, true);
        }
      }
    }
  } else {
    const sl = lin(c, i.seg, 6, asz, size, false);
    const si = entry(c, sl, c.tlbTagR);
    if (si < 0) return 0;
    const soff = ENTRY_OFF;
    k = Math.min(k, ((4096 - soff) / size) | 0);
    if (k === 0) return 0;
    const sv = c.tlbView[si]!;
    const sAt = sv.byteOffset + c.tlbOff[si]! + soff;
    const len = k * size;
    if (sv.buffer === dv.buffer) {
      // Element by element forward equals a memmove unless the destination starts inside the source.
      if (dAt > sAt && dAt < sAt + len) return 0;
      bytesOf(dv.buffer).copyWithin(dAt, sAt, sAt + len);
    } else bytesOf(dv.buffer).set(bytesOf(sv.buffer).subarray(sAt, sAt + len), dAt); // two buffers: rare
    adv(c, 6, asz, len);
  }
  adv(c, 7, asz, k * size);
  adv(c, 1, asz, -k);
  return k;
}

/** op: 0 MOVS 1 CMPS 2 STOS 3 LODS 4 SCAS 5 INS 6 OUTS; imm2 = address size. */
export function stringOp(c: EmuCpu, i: Insn): void {
  const asz = i.imm2;
  const step = (c.flags & Bit.DF) !== 0 ? -i.osz : i.osz;
  if (i.rep === 0) {
    once(c, i, asz, step);
    return;
  }
  const cmp = i.op === 1 || i.op === 4;
  // 16-bit indexes wrap inside a page's worth of elements; a watch or TF needs every element.
  // Only with segments that need no limit or type check (bulk checks none).
  const fast = repBulk.enabled && (i.op === 0 || i.op === 2) && step > 0 && asz !== 2 && !c.debugArmed && (c.flags & Bit.TF) === 0 && c.segChk[Seg.ES] === 0 && (i.op === 2 || c.segChk[i.seg] === 0);
  let n = 0;
  try {
    while (count(c, asz) !== 0) {
      if (n === REP_CHUNK) {
        // Continue later: rip back on this instruction; interrupts are checked first.
        c.rip = addIp(c.bip, i.start, c.codeSize);
        c.notRetired = 1;
        c.pollAt = 0;
        return;
      }
      if (fast) {
        const left = count(c, asz);
        const k = bulk(c, i, asz, left < REP_CHUNK - n ? left : REP_CHUNK - n);
        if (k !== 0) {
          n += k;
          continue;
        }
      }
      once(c, i, asz, step);
      decCount(c, asz);
      n++;
      if (cmp) {
        const zf = getZF(c) !== 0;
        if (i.rep === 1 ? !zf : zf) break;
      }
    }
  } finally {
    // Iterations take time (deterministic clock, slice budgets) though the instruction retires once.
    c.stringIters += n;
  }
}
