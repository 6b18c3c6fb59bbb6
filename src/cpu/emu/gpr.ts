/** General-purpose register access at an operand size (8-bit codes 16-19 are AH..BH). */
import type { EmuCpu } from './cpu.js';
import { Pow } from './x86-defs.js';

/** 64-bit register as a signed double (for addresses). */
export function r64(c: EmuCpu, n: number): number {
  return c.rh[n]! * Pow.Two32 + (c.rl[n]! >>> 0);
}

/** Reads a register of `size` bytes: 1 uses byte-register codes (0-15 low bytes, 16-19 AH..BH). */
export function getReg(c: EmuCpu, size: number, r: number): number {
  switch (size) {
    case 1:
      return r < 16 ? c.rl[r]! & 0xff : (c.rl[r - 16]! >> 8) & 0xff;
    case 2:
      return c.rl[r]! & 0xffff;
    case 8:
      c.hi = c.rh[r]!;
      return c.rl[r]!;
    default:
      return c.rl[r]!;
  }
}

/** Writes a register; 32-bit writes zero the upper half, 8/16-bit writes merge. */
export function setReg(c: EmuCpu, size: number, r: number, v: number, vhi = 0): void {
  switch (size) {
    case 1:
      if (r < 16) c.rl[r] = (c.rl[r]! & ~0xff) | (v & 0xff);
      else c.rl[r - 16] = (c.rl[r - 16]! & ~0xff00) | ((v & 0xff) << 8);
      return;
    case 2:
      c.rl[r] = (c.rl[r]! & ~0xffff) | (v & 0xffff);
      return;
    case 8:
      c.rl[r] = v;
      c.rh[r] = vhi;
      return;
    default:
      c.rl[r] = v;
      c.rh[r] = 0;
  }
}
