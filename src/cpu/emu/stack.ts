/** Stack pointer arithmetic and PUSH/POP at the current stack size. */
import type { EmuCpu } from './cpu.js';
import { VEC_SS, Pow, Seg, Gp } from './x86-defs.js';
import { raise } from './exceptions.js';
import { rd, wr, wr64 } from './mem-access.js';
import { BIG, bigHalves, plusBig, nonCanonicalHi } from './address.js';

/** Linear address of SS:[rsp + delta] for the current stack size. */
export function stackLin(c: EmuCpu, delta: number): number {
  if (c.stackSize === 8) {
    const h = c.gpr[Gp.SpHi]!;
    // Beyond +-2^52 the exact sum is formed from the halves (a handle beyond +-2^53: address.ts linOf).
    if (h < -0x10_0000 || h >= 0x10_0000) return bigStackLin(c, delta);
    const a = h * Pow.Two32 + (c.gpr[Gp.SpLo]! >>> 0) + delta;
    if ((a < -Pow.Two47 || a >= Pow.Two47) && (a < -c.canonLim || a >= c.canonLim)) return raise(c, VEC_SS, 0); // as canonicalTarget
    return a;
  }
  const a = c.segBase[Seg.SS]! + (c.stackSize === 4 ? (c.gpr[Gp.SpLo]! + delta) >>> 0 : (c.gpr[Gp.SpLo]! + delta) & 0xffff);
  return a >= Pow.Two32 ? a - Pow.Two32 : a;
}

/** stackLin of a 64-bit RSP beyond +-2^52, exact. */
function bigStackLin(c: EmuCpu, delta: number): number {
  BIG.lo = c.gpr[Gp.SpLo]! >>> 0;
  BIG.hi = c.gpr[Gp.SpHi]!;
  const a = plusBig(c, delta < 0 ? -1 : 0, delta < 0 ? Pow.Two32 + delta : delta);
  if (nonCanonicalHi(c, BIG.hi)) return raise(c, VEC_SS, 0);
  return a;
}

export function addRsp(c: EmuCpu, delta: number): void {
  if (c.stackSize === 8) {
    const lo = (c.gpr[Gp.SpLo]! >>> 0) + delta;
    c.gpr[Gp.SpLo] = lo | 0;
    if (lo > 0xffffffff) c.gpr[Gp.SpHi] = (c.gpr[Gp.SpHi]! + 1) | 0;
    else if (lo < 0) c.gpr[Gp.SpHi] = (c.gpr[Gp.SpHi]! - 1) | 0;
  } else if (c.stackSize === 4) c.gpr[Gp.SpLo] = (c.gpr[Gp.SpLo]! + delta) | 0;
  else c.gpr[Gp.SpLo] = (c.gpr[Gp.SpLo]! & ~0xffff) | ((c.gpr[Gp.SpLo]! + delta) & 0xffff);
}

export function push(c: EmuCpu, size: number, v: number, vhi = 0): void {
  wr(c, size, stackLin(c, -size), v, vhi);
  addRsp(c, -size);
}

/** Pops `size` bytes (high half of 8-byte pops in c.hi). */
export function pop(c: EmuCpu, size: number): number {
  const v = rd(c, size, stackLin(c, 0));
  const h = c.hi;
  addRsp(c, size);
  c.hi = h;
  return v;
}

/** RSP = `a`, a canonical stack address as a signed double (64-bit mode, where RSP is the linear address). */
export function setRsp64(c: EmuCpu, a: number): void {
  if (Math.floor(a) !== a) {
    // A handle (an RSP beyond +-2^53).
    bigHalves(a);
    c.gpr[Gp.SpLo] = BIG.lo | 0;
    c.gpr[Gp.SpHi] = BIG.hi;
    return;
  }
  const lo = a | 0;
  c.gpr[Gp.SpLo] = lo;
  c.gpr[Gp.SpHi] = (a - (lo >>> 0)) / Pow.Two32;
}

/** PUSH of a 64-bit value (halves `lo`, `hi`) in 64-bit mode. */
export function push64(c: EmuCpu, lo: number, hi: number): void {
  const a = stackLin(c, -8);
  wr64(c, a, lo, hi);
  setRsp64(c, a);
}
