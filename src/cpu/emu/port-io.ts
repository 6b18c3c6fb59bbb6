/** Port I/O: the IOPL and TSS I/O-bitmap check and the bus accesses. */
import type { EmuCpu } from './cpu.js';
import { CR0_PE, Seg } from './x86-defs.js';
import { regPlus } from './address.js';
import { Bit } from './flags.js';
import { gp } from './exceptions.js';
import { rd16 } from './mem-access.js';
import { ioAccess } from './debug-regs.js';

/** IOPL / TSS I/O bitmap check for `size` bytes at `port`. */
export function checkIo(c: EmuCpu, port: number, size: number): void {
  if ((c.cr0 & CR0_PE) === 0) return;
  if ((c.flags & Bit.VM) === 0 && c.cpl <= ((c.flags & Bit.IOPL) >>> 12)) return;
  const tr = c.segAttr[Seg.TR]!;
  if ((tr & 0xf) !== 0x9 && (tr & 0xf) !== 0xb) return gp(c, 0);
  const limit = c.segLimit[Seg.TR]!;
  if (limit < 0x67) return gp(c, 0);
  const save = c.tlbUser;
  c.tlbUser = 0;
  try {
    const bm = rd16(c, regPlus(c, Seg.TR, c.segBase[Seg.TR]!, 0x66));
    const byte = bm + (port >>> 3);
    if (byte + 1 > limit) return gp(c, 0);
    const bits = rd16(c, regPlus(c, Seg.TR, c.segBase[Seg.TR]!, byte));
    if (((bits >>> (port & 7)) & ((1 << size) - 1)) !== 0) return gp(c, 0);
  } finally {
    c.tlbUser = save;
  }
}

export function portIn(c: EmuCpu, port: number, size: number): number {
  c.counts.io++;
  const b = size === 1 ? c.io1 : size === 2 ? c.io2 : c.io4;
  c.pio.read(port & 0xffff, b);
  if (c.debugArmed) ioAccess(c, port & 0xffff, size);
  return size === 1 ? b[0]! : size === 2 ? b[0]! | (b[1]! << 8) : b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24);
}

export function portOut(c: EmuCpu, port: number, size: number, v: number): void {
  c.counts.io++;
  c.pollAt = 0;
  const b = size === 1 ? c.io1 : size === 2 ? c.io2 : c.io4;
  b[0] = v;
  if (size > 1) b[1] = v >>> 8;
  if (size > 2) {
    b[2] = v >>> 16;
    b[3] = v >>> 24;
  }
  c.pio.write(port & 0xffff, b);
  if (c.debugArmed) ioAccess(c, port & 0xffff, size);
}
