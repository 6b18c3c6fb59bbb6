/**
 * Address arithmetic shared by the engine. Linear addresses and RIP are JS numbers: legacy
 * modes use 0..2^32-1, long mode the signed canonical value (exact in a double).
 */
import type { EmuCpu } from './cpu.js';
import type { Insn } from './insn.js';
import { Pow } from './x86-defs.js';
import { gp } from './exceptions.js';

/** Converts an unsigned 64-bit value to the address representation (signed when >= 2^63). */
export function u64ToAddr(v: bigint): number {
  v &= (1n << 64n) - 1n;
  return v >= 1n << 63n ? Number(v - (1n << 64n)) : Number(v);
}

/** lin + k for multi-byte accesses (wraps at 4 GiB outside 64-bit mode). */
export function addLin(lin: number, k: number, long: boolean): number {
  // Addresses outside 0..2^32-1 are 64-bit (e.g. IA-32e event delivery from compatibility mode).
  if (long || lin >= Pow.Two32 || lin < 0) return lin + k;
  const a = lin + k;
  return a >= Pow.Two32 ? a - Pow.Two32 : a;
}

/** rip + delta wrapped to the code size (2: 16-bit IP, 4: 32-bit EIP, 8: canonical RIP). */
export function addIp(rip: number, delta: number, codeSize: number): number {
  const r = rip + delta;
  if (codeSize === 4) return r >>> 0 === r ? r : r >>> 0;
  if (codeSize === 2) return r & 0xffff;
  if (r >= Pow.Two63) return r - Pow.Two64;
  if (r < -Pow.Two63) return r + Pow.Two64;
  return r;
}

/** Whether the signed linear address `t` is outside the vCPU's canonical range (48 bits, or 57 under LA57). */
export function nonCanonical(c: EmuCpu, t: number): boolean {
  // Within 48 bits (nearly always) a constant test decides, as before 5-level paging; beyond, the vCPU's bound.
  return (t < -Pow.Two47 || t >= Pow.Two47) && (t < -c.canonLim || t >= c.canonLim);
}

/** A 64-bit branch target, wrapped and checked for canonical form (#GP). */
export function canonicalTarget(c: EmuCpu, t: number): number {
  if (t >= Pow.Two63) t -= Pow.Two64;
  else if (t < -Pow.Two63) t += Pow.Two64;
  if (nonCanonical(c, t)) return gp(c, 0);
  return t;
}

/** Next-instruction RIP for handler `x` (bip + x.end, wrapped to the code size). */
export function nextIp(c: EmuCpu, x: Insn): number {
  return addIp(c.bip, x.end, c.codeSize);
}

