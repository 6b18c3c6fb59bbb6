import { PCI_HOLE_START, type GuestMemory } from '../memory/guest-memory.js';
import { errorMessage } from '../util/errors.js';
import { formatSize } from '../util/size.js';
import { BootError } from './boot-error.js';
import type { RamSpan } from './memory-map.js';

export const PAGE = 0x1000;

export function alignUp(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}
export function alignDown(v: number, a: number): number {
  return Math.floor(v / a) * a;
}
export function hexAddr(v: number): string {
  return '0x' + v.toString(16);
}
export function sizeText(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(bytes % 1024 === 0 ? 0 : 1)} KiB`;
  return `${bytes} bytes`;
}

/**
 * Throws when [gpa, gpa+len) reaches past where RAM below 4 GiB can ever end (the PCI hole at
 * 3 GiB: local APIC, IOAPIC and other MMIO): no --mem value would make it fit, so say that.
 */
export function requireRamAddress(fileName: string, gpa: number, len: number, what: string): void {
  if (gpa + len <= PCI_HOLE_START) return;
  const apic = gpa < LAPIC_PAGE + PAGE && gpa + len > LAPIC_PAGE ? ', which includes the local APIC page at 0xfee00000' : '';
  throw new BootError(
    `${fileName}: ${what} at ${hexAddr(gpa)}-${hexAddr(gpa + len)} is not RAM in the guest's map: ` +
      `RAM below 4 GiB ends at ${hexAddr(PCI_HOLE_START)} at most, and ${hexAddr(PCI_HOLE_START)}-0xffffffff is the MMIO hole${apic}; ` +
      `link or load the kernel below ${hexAddr(PCI_HOLE_START)}`,
  );
}

/** The xAPIC's default page (SDM vol. 3A 11.4.1). */
const LAPIC_PAGE = 0xfee0_0000;

/**
 * Writes loader data into guest RAM, turning every out-of-RAM placement into a BootError
 * that names the image and says how much RAM would be needed.
 */
export class GuestPlacer {
  constructor(
    private readonly memory: GuestMemory,
    private readonly ram: RamSpan,
    private readonly fileName: string,
    private readonly memBytes: number,
  ) {}

  /** Throws unless [gpa, gpa+len) lies in low RAM (the only RAM a 32-bit boot can use). */
  requireLowRam(gpa: number, len: number, what: string): void {
    requireRamAddress(this.fileName, gpa, len, what);
    if (gpa < 0 || gpa + len > this.ram.lowEnd) {
      throw new BootError(
        `${this.fileName}: ${what} at ${hexAddr(gpa)}-${hexAddr(gpa + len)} does not fit in guest RAM ` +
          `(${formatSize(this.memBytes)}: RAM below 4 GiB ends at ${hexAddr(this.ram.lowEnd)}); ` +
          `give the guest more memory with --mem (at least ${sizeText(alignUp(gpa + len, 1024 * 1024))})`,
      );
    }
  }

  write(gpa: number, data: Uint8Array, what: string): void {
    this.requireLowRam(gpa, data.length, what);
    try {
      this.memory.write(gpa, data);
    } catch (e) {
      throw new BootError(`${this.fileName}: cannot write ${what} at ${hexAddr(gpa)}: ${errorMessage(e)}`, { cause: e });
    }
  }

  zero(gpa: number, len: number, what: string): void {
    if (len <= 0) return;
    this.requireLowRam(gpa, len, what);
    try {
      this.memory.view(gpa, len).fill(0);
      this.memory.markDirty(gpa, len);
    } catch (e) {
      throw new BootError(`${this.fileName}: cannot clear ${what} at ${hexAddr(gpa)}: ${errorMessage(e)}`, { cause: e });
    }
  }
}

/** Encodes a C string (UTF-8, NUL-terminated). */
export function cString(s: string): Uint8Array {
  const body = new TextEncoder().encode(s);
  const out = new Uint8Array(body.length + 1);
  out.set(body);
  return out;
}
