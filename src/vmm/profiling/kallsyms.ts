/**
 * Function names for a Linux bzImage that comes without a symbol file (Debian's real symbols are in a
 * separate -dbg package): the kernel carries its whole symbol table as kallsyms (CONFIG_KALLSYMS) inside
 * the compressed vmlinux. This decompresses the payload and decodes kallsyms.
 *
 * kallsyms layout (Linux 6.1 stable, KALLSYMS_BASE_RELATIVE + ABSOLUTE_PERCPU, scripts/kallsyms.c output):
 * offsets (s32 x N), relative_base (u64), num_syms (u32), names (length-prefixed token strings; a length
 * byte with bit 7 set takes a second byte), markers (u32 per 256 names), seqs_of_names, token_table (256
 * NUL-terminated strings), token_index (256 x u16). Each table is 8-byte aligned.
 */
import { decompressPayload } from '../../boot/decompress/kernel-payload.js';
import { sizedTextSymbols, type GuestSymbol } from './elf-symbols.js';

export interface ElfSection {
  name: string;
  addr: bigint;
  offset: number;
  size: number;
}

/** The vmlinux ELF inside a bzImage (payload_offset/payload_length of the setup header). */
export function vmlinuxOf(bzImage: Uint8Array): Uint8Array {
  const dv = new DataView(bzImage.buffer, bzImage.byteOffset, bzImage.byteLength);
  const setupSects = bzImage[0x1f1] || 4;
  const off = (setupSects + 1) * 512 + dv.getUint32(0x248, true);
  return decompressPayload(bzImage.subarray(off, off + dv.getUint32(0x24c, true))).data;
}

/** The sections of an ELF64 or ELF32 file (the header's class byte says which), by name. */
export function elfSections(elf: Uint8Array): Map<string, ElfSection> {
  const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const is64 = elf[4] === 2;
  // Word-sized fields are 8 bytes in ELF64 and 4 in ELF32, so the offsets differ by class.
  const word = (at: number): number => (is64 ? Number(dv.getBigUint64(at, true)) : dv.getUint32(at, true));
  const shoff = word(is64 ? 0x28 : 0x20);
  const shentsize = dv.getUint16(is64 ? 0x3a : 0x2e, true);
  const shnum = dv.getUint16(is64 ? 0x3c : 0x30, true);
  const shstrndx = dv.getUint16(is64 ? 0x3e : 0x32, true);
  const [addrAt, offAt, sizeAt] = is64 ? [0x10, 0x18, 0x20] : [0x0c, 0x10, 0x14];
  const at = (i: number): number => shoff + i * shentsize;
  const strOff = word(at(shstrndx) + offAt);
  const out = new Map<string, ElfSection>();
  for (let i = 1; i < shnum; i++) {
    const h = at(i);
    let p = strOff + dv.getUint32(h, true);
    let name = '';
    while (elf[p] !== 0) name += String.fromCharCode(elf[p++]!);
    // A kernel's addresses lie beyond 2^53: read as a bigint, not through word().
    const addr = is64 ? dv.getBigUint64(h + addrAt, true) : BigInt(dv.getUint32(h + addrAt, true));
    out.set(name, { name, addr, offset: word(h + offAt), size: word(h + sizeAt) });
  }
  return out;
}

/** Every kallsyms symbol: name -> [address, type letter]. Throws with what it could not find. */
export function kallsyms(rodata: Uint8Array): Map<string, [bigint, string]> {
  const dv = new DataView(rodata.buffer, rodata.byteOffset, rodata.byteLength);
  // The token table holds the single characters that appear in names as themselves: "0", "1", ... "9" in a row.
  const digits = Uint8Array.from([...'0123456789'].flatMap((c) => [c.charCodeAt(0), 0]));
  let at = -1;
  for (let p = 0; p + digits.length <= rodata.length && at < 0; p++) {
    if (rodata[p] !== 0x30 || rodata[p - 1] !== 0) continue;
    let ok = true;
    for (let k = 0; k < digits.length && ok; k++) ok = rodata[p + k] === digits[k];
    if (!ok) continue;
    // Token 0x30 starts here: walk back 0x30 strings to the table's start, then check the index after it.
    let s = p;
    for (let t = 0; t < 0x30; t++) {
      s -= 1; // the NUL ending the previous token
      while (s > 0 && rodata[s - 1] !== 0) s--;
    }
    // The token index after the table gives every token's offset: all 256 must match.
    const offsets: number[] = [];
    let e = s;
    for (let t = 0; t < 256 && e < rodata.length; t++) {
      offsets.push(e - s);
      while (e < rodata.length && rodata[e] !== 0) e++;
      e++;
    }
    const index = (e + 7) & ~7;
    if (offsets.length === 256 && index + 512 <= rodata.length && offsets.every((o, t) => dv.getUint16(index + 2 * t, true) === o)) at = s;
  }
  if (at < 0) throw new Error('kallsyms: no token table (is CONFIG_KALLSYMS set?)');
  const tokenTable = at;
  const tokens: string[] = [];
  for (let p = tokenTable, t = 0; t < 256; t++) {
    let s = '';
    while (rodata[p] !== 0) s += String.fromCharCode(rodata[p++]!);
    p++;
    tokens.push(s);
  }
  // Markers: the offset into names of every 256th symbol, a u32 0 followed by ascending values 256 names apart
  // (4-64 bytes a name). Kernels since 6.2 (and 6.1 stable) put kallsyms_seqs_of_names between them and the
  // token table, so they are found by their shape: the longest such run.
  let m = -1;
  let best = 0;
  for (let q = 0; q + 8 < rodata.length; q += 4) {
    if (dv.getUint32(q, true) !== 0) continue;
    let k = 1;
    let prev = 0;
    while (q + 4 * k + 4 <= rodata.length) {
      const v = dv.getUint32(q + 4 * k, true);
      if (v - prev < 256 * 4 || v - prev > 256 * 64) break;
      prev = v;
      k++;
    }
    if (k > best) {
      best = k;
      m = q;
    }
  }
  if (best < 8) throw new Error('kallsyms: no markers table');
  const markers: number[] = [];
  for (let k = 0; k < best; k++) markers.push(dv.getUint32(m + 4 * k, true));
  // num_syms: a u32 with 256 * (markers - 1) < N <= 256 * markers, 8-byte aligned, the names following it.
  const lastMarker = markers[markers.length - 1]!;
  for (let numAt = ((m - lastMarker) & ~7) - 8; numAt > m - lastMarker - 4 * 1024 * 1024 && numAt > 8; numAt -= 8) {
    const n = dv.getUint32(numAt, true);
    if (n <= 256 * (markers.length - 1) || n > 256 * markers.length) continue;
    const names = numAt + 8;
    const parsed = parseNames(rodata, names, n, tokens, markers);
    if (parsed === null) continue;
    const relBase = dv.getBigUint64(numAt - 8, true);
    // The offsets table starts 8-byte aligned, as every table does: with an odd count, 4 bytes of padding
    // follow it before relative_base. (Guessing the padding from whether the word before looked like an
    // offset failed on a kernel whose first offset is 0, shifting every name one symbol off its address.)
    const offs = (numAt - 8 - 4 * n) & ~7;
    const out = new Map<string, [bigint, string]>();
    for (let i = 0; i < n; i++) {
      const o = dv.getInt32(offs + 4 * i, true);
      // ABSOLUTE_PERCPU: non-negative offsets are absolute (per-CPU) values, negative ones relative to the base.
      const addr = o >= 0 ? BigInt(o) : BigInt.asUintN(64, relBase - 1n - BigInt(o));
      const [type, name] = parsed[i]!;
      if (!out.has(name)) out.set(name, [addr, type]);
    }
    return out;
  }
  throw new Error('kallsyms: no num_syms/names matching the markers');
}

function parseNames(b: Uint8Array, at: number, n: number, tokens: string[], markers: number[]): [string, string][] | null {
  const out: [string, string][] = [];
  let p = at;
  for (let i = 0; i < n; i++) {
    if (i % 256 === 0 && p - at !== markers[i / 256]) return null;
    let len = b[p++]!;
    if (len & 0x80) len = (len & 0x7f) | (b[p++]! << 7);
    if (len === 0) return null;
    let s = '';
    for (let k = 0; k < len; k++) s += tokens[b[p++]!];
    out.push([s[0]!, s.slice(1)]);
  }
  return out;
}

/** True for a Linux bzImage (the "HdrS" setup header signature at 0x202). */
export function isBzImage(image: Uint8Array): boolean {
  return image.length > 0x210 && image[0x202] === 0x48 && image[0x203] === 0x64 && image[0x204] === 0x72 && image[0x205] === 0x53;
}

/** The text symbols of a bzImage's kallsyms, sized to the next symbol (see readSymbolMap). Throws when it has none. */
export function bzImageSymbols(bzImage: Uint8Array): GuestSymbol[] {
  const vmlinux = vmlinuxOf(bzImage);
  const ro = elfSections(vmlinux).get('.rodata');
  if (ro === undefined) throw new Error('kallsyms: the vmlinux has no .rodata');
  const rows = [...kallsyms(vmlinux.subarray(ro.offset, ro.offset + ro.size))].map(([name, [addr, type]]) => ({ addr: Number(BigInt.asIntN(64, addr)), isText: 'TtWw'.includes(type), name }));
  return sizedTextSymbols(rows);
}
