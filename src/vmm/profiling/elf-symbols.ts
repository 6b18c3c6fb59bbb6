import { VmmError } from '../../util/errors.js';

/**
 * A function symbol of a guest image. Addresses are 64-bit values read as signed, so that
 * kernel-half addresses (0xffff...) stay exact in a double, as the emulator keeps RIP.
 */
export interface GuestSymbol {
  readonly addr: number;
  readonly size: number;
  readonly name: string;
}

export class SymbolError extends VmmError {
  constructor(message: string) {
    super('symbols', message);
  }
}

const SHT_SYMTAB = 2;
const STT_FUNC = 2;
const STT_NOTYPE = 0;

/**
 * Reads the function symbols of an ELF32 or ELF64 little-endian image (.symtab with its
 * string table), sorted by address. Images without a symbol table give an empty list.
 */
export function readElfSymbols(image: Uint8Array, fileName: string): GuestSymbol[] {
  if (image.length < 52 || image[0] !== 0x7f || image[1] !== 0x45 || image[2] !== 0x4c || image[3] !== 0x46) {
    throw new SymbolError(`${fileName}: not an ELF file, so it has no symbols to read`);
  }
  const is64 = image[4] === 2;
  const v = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const u = (off: number, size: 2 | 4 | 8): number => {
    if (off + size > image.length) throw new SymbolError(`${fileName}: truncated ELF (offset ${off})`);
    return size === 2 ? v.getUint16(off, true) : size === 4 ? v.getUint32(off, true) : Number(v.getBigInt64(off, true));
  };
  const shoff = is64 ? u(0x28, 8) : u(0x20, 4);
  const shentsize = is64 ? u(0x3a, 2) : u(0x2e, 2);
  const shnum = is64 ? u(0x3c, 2) : u(0x30, 2);
  const out: GuestSymbol[] = [];
  for (let i = 0; i < shnum; i++) {
    const sh = shoff + i * shentsize;
    if (u(sh + 4, 4) !== SHT_SYMTAB) continue;
    const off = is64 ? u(sh + 0x18, 8) : u(sh + 0x10, 4);
    const size = is64 ? u(sh + 0x20, 8) : u(sh + 0x14, 4);
    const link = u(sh + (is64 ? 0x28 : 0x18), 4);
    const entsize = is64 ? u(sh + 0x38, 8) : u(sh + 0x24, 4);
    const strSh = shoff + link * shentsize;
    const strOff = is64 ? u(strSh + 0x18, 8) : u(strSh + 0x10, 4);
    for (let e = off; e + entsize <= off + size; e += entsize) {
      const nameOff = u(e, 4);
      const info = is64 ? image[e + 4]! : image[e + 12]!;
      const type = info & 0xf;
      const value = is64 ? u(e + 8, 8) : u(e + 4, 4);
      const symSize = is64 ? u(e + 16, 8) : u(e + 8, 4);
      const shndx = is64 ? u(e + 6, 2) : u(e + 14, 2);
      if ((type !== STT_FUNC && type !== STT_NOTYPE) || shndx === 0 || nameOff === 0) continue;
      let end = strOff + nameOff;
      while (end < image.length && image[end] !== 0) end++;
      const name = new TextDecoder().decode(image.subarray(strOff + nameOff, end));
      if (name === '' || name.startsWith('.')) continue;
      out.push({ addr: value, size: symSize, name });
    }
  }
  out.sort((a, b) => a.addr - b.addr || b.size - a.size);
  return out;
}

/**
 * Reads text symbols from `nm` output or a Linux System.map ("ADDRESS TYPE NAME" lines; types T/t/W/w),
 * sorted by address. The files carry no sizes: a text symbol runs to the next symbol of any type (so a
 * user-space address is not taken for the kernel's last function), the last one to the next page.
 */
export function readSymbolMap(text: string, fileName: string): GuestSymbol[] {
  const rows: SymbolRow[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]{1,16}) ([A-Za-z]) (\S+)/.exec(line);
    if (m) rows.push({ addr: Number(BigInt.asIntN(64, BigInt('0x' + m[1]!))), isText: 'TtWw'.includes(m[2]!), name: m[3]! });
  }
  const out = sizedTextSymbols(rows);
  if (out.length === 0) throw new SymbolError(`${fileName}: no "ADDRESS T NAME" lines (neither an ELF file nor nm/System.map output)`);
  return out;
}

export interface SymbolRow {
  readonly addr: number;
  readonly isText: boolean;
  readonly name: string;
}

/** The text symbols of `rows`, sorted, each running to the next symbol of any type (the last: to the next page). */
export function sizedTextSymbols(rows: SymbolRow[]): GuestSymbol[] {
  rows.sort((a, b) => a.addr - b.addr);
  const out: GuestSymbol[] = [];
  rows.forEach((r, i) => {
    if (!r.isText) return;
    let next = i + 1;
    while (next < rows.length && rows[next]!.addr === r.addr) next++;
    const size = next < rows.length ? rows[next]!.addr - r.addr : 4096 - (((r.addr % 4096) + 4096) % 4096) || 4096;
    out.push({ addr: r.addr, size, name: r.name });
  });
  return out;
}

/** Address → symbol lookup; an address past a sized symbol's end resolves to "[unknown]". */
export class Symbolizer {
  constructor(private readonly symbols: readonly GuestSymbol[]) {}

  get size(): number {
    return this.symbols.length;
  }

  lookup(addr: number): string {
    const s = this.symbols;
    let lo = 0;
    let hi = s.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid]!.addr <= addr) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (best < 0) return `[unknown]`;
    const sym = s[best]!;
    if (sym.size > 0 && addr >= sym.addr + sym.size) {
      return '[unknown]';
    }
    return sym.name;
  }
}
