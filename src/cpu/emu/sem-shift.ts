/**
 * 32-bit shift and rotate semantics for counts 1-31 (a masked count of 0 changes nothing and
 * is handled by the callers), shared by every tier like sem-alu.ts: the interpreter's shift
 * handlers and the block compiler call these with `f` = whether the flags are needed.
 * ROL/ROR write CF and OF and keep the other flags; SHL/SHR/SAR write all six (AF = 0).
 * OF uses the 1-bit formula for every count (the SDM leaves it undefined for counts > 1).
 */
import type { EmuCpu } from './cpu.js';
import { Bit, Lazy } from './flags.js';
import { arith, szp } from './lazy-flags.js';

/** Group-2 operation numbers (ModRM.reg of C0/C1/D0-D3). */
export const enum Sh {
  Rol = 0,
  Ror = 1,
  Rcl = 2,
  Rcr = 3,
  Shl = 4,
  Shr = 5,
  Sal = 6,
  Sar = 7,
}


// Flat kernels (no helper calls besides arith/szp on the flags path), like sem-alu.ts.

export function rol32(c: EmuCpu, u: number, n: number, f: boolean): number {
  const r = (u << n) | (u >>> (32 - n));
  if (f) {
    const cf = r & 1;
    const fl = (arith(c) & ~(Bit.CF | Bit.OF)) | cf | ((r >>> 31) ^ cf ? Bit.OF : 0);
    c.fop = Lazy.Eager;
    c.fres = fl;
  }
  return r;
}

export function ror32(c: EmuCpu, u: number, n: number, f: boolean): number {
  const r = (u >>> n) | (u << (32 - n));
  if (f) {
    const fl = (arith(c) & ~(Bit.CF | Bit.OF)) | (r >>> 31) | ((r >>> 31) ^ ((r >>> 30) & 1) ? Bit.OF : 0);
    c.fop = Lazy.Eager;
    c.fres = fl;
  }
  return r;
}

/** SHL and SAL. */
export function shl32(c: EmuCpu, u: number, n: number, f: boolean): number {
  const r = u << n;
  if (f) {
    const cf = (u >>> (32 - n)) & 1;
    c.fop = Lazy.Eager;
    c.fres = cf | ((r >>> 31) ^ cf ? Bit.OF : 0) | szp(c, 4, r);
  }
  return r;
}

export function shr32(c: EmuCpu, u: number, n: number, f: boolean): number {
  const r = (u >>> n) | 0;
  if (f) {
    c.fop = Lazy.Eager;
    c.fres = ((u >>> (n - 1)) & 1) | (u < 0 ? Bit.OF : 0) | szp(c, 4, r);
  }
  return r;
}

export function sar32(c: EmuCpu, u: number, n: number, f: boolean): number {
  const r = u >> n;
  if (f) {
    c.fop = Lazy.Eager;
    c.fres = ((u >> (n - 1)) & 1) | szp(c, 4, r);
  }
  return r;
}

/** Group-2 operation `op` (not RCL/RCR) on a 32-bit value, count 1-31. */
export function shift32(c: EmuCpu, op: number, u: number, n: number, f: boolean): number {
  switch (op) {
    case Sh.Rol:
      return rol32(c, u, n, f);
    case Sh.Ror:
      return ror32(c, u, n, f);
    case Sh.Shr:
      return shr32(c, u, n, f);
    case Sh.Sar:
      return sar32(c, u, n, f);
    default:
      return shl32(c, u, n, f);
  }
}
