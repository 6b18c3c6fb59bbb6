/** General-purpose register access at an operand size (8-bit codes 16-19 are AH..BH). */
import type { EmuCpu } from './cpu.js';
import { Pow } from './x86-defs.js';

/** 64-bit register as a signed double (for addresses). */
export function r64(c: EmuCpu, n: number): number {
  return c.gpr[(n << 1) | 1]! * Pow.Two32 + (c.gpr[n << 1]! >>> 0);
}

/** Reads a register of `size` bytes: 1 uses byte-register codes (0-15 low bytes, 16-19 AH..BH). */
export function getReg(c: EmuCpu, size: number, r: number): number {
  switch (size) {
    case 1:
      return r < 16 ? c.gpr[r << 1]! & 0xff : (c.gpr[(r - 16) << 1]! >> 8) & 0xff;
    case 2:
      return c.gpr[r << 1]! & 0xffff;
    case 8:
      c.hi = c.gpr[(r << 1) | 1]!;
      return c.gpr[r << 1]!;
    default:
      return c.gpr[r << 1]!;
  }
}

/** Writes a register; 32-bit writes zero the upper half, 8/16-bit writes merge. */
export function setReg(c: EmuCpu, size: number, r: number, v: number, vhi = 0): void {
  switch (size) {
    case 1:
      if (r < 16) c.gpr[r << 1] = (c.gpr[r << 1]! & ~0xff) | (v & 0xff);
      else c.gpr[(r - 16) << 1] = (c.gpr[(r - 16) << 1]! & ~0xff00) | ((v & 0xff) << 8);
      return;
    case 2:
      c.gpr[r << 1] = (c.gpr[r << 1]! & ~0xffff) | (v & 0xffff);
      return;
    case 8:
      c.gpr[r << 1] = v;
      c.gpr[(r << 1) | 1] = vhi;
      return;
    default:
      c.gpr[r << 1] = v;
      c.gpr[(r << 1) | 1] = 0;
  }
}
