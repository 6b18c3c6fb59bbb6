/**
 * A small AML encoder (ACPI spec, chapter 20 "ACPI Machine Language Specification"): just the
 * terms tsvmm's DSDT uses (names, scopes, devices, integers, strings, buffers, packages and
 * resource templates). Every helper returns the encoded bytes of one term.
 */

const NAME_OP = 0x08;
const SCOPE_OP = 0x10;
const BUFFER_OP = 0x11;
const PACKAGE_OP = 0x12;
const METHOD_OP = 0x14;
const RETURN_OP = 0xa4;
const EXT_OP_PREFIX = 0x5b;
const DEVICE_OP = 0x82;
const ZERO_OP = 0x00;
const ONE_OP = 0x01;
const ONES_OP = 0xff;
const BYTE_PREFIX = 0x0a;
const WORD_PREFIX = 0x0b;
const DWORD_PREFIX = 0x0c;
const STRING_PREFIX = 0x0d;
const QWORD_PREFIX = 0x0e;
const ROOT_CHAR = 0x5c;
const DUAL_NAME_PREFIX = 0x2e;
const MULTI_NAME_PREFIX = 0x2f;
/** PkgLength can encode at most 2^28 - 1 bytes. */
const PKG_LENGTH_MAX = (1 << 28) - 1;

export type AmlBytes = Uint8Array;

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * PkgLength for a body of `bodyLength` bytes: the encoded length counts its own bytes too.
 * One byte up to 63; otherwise the lead byte's bits 7:6 say how many bytes follow, its bits
 * 3:0 hold the low nibble, and each following byte the next 8 bits.
 */
export function pkgLength(bodyLength: number): Uint8Array {
  for (let extra = 0; extra <= 3; extra++) {
    const total = bodyLength + 1 + extra;
    if (extra === 0 && total <= 0x3f) return Uint8Array.of(total);
    if (extra > 0 && total < 1 << (4 + 8 * extra)) {
      const out = new Uint8Array(1 + extra);
      out[0] = (extra << 6) | (total & 0x0f);
      for (let i = 1; i <= extra; i++) out[i] = (total >>> (4 + 8 * (i - 1))) & 0xff;
      return out;
    }
  }
  throw new RangeError(`AML package of ${bodyLength} bytes exceeds the PkgLength limit of ${PKG_LENGTH_MAX}`);
}

function nameSeg(seg: string): Uint8Array {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(seg)) throw new RangeError(`AML name segment "${seg}" is not 1-4 characters of A-Z, 0-9 and _ (not starting with a digit)`);
  const s = seg.padEnd(4, '_');
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** A NameString: "\\_SB_.PCI0", "_S5_", "PCI0" (segments shorter than 4 are padded with '_'). */
export function nameString(path: string): Uint8Array {
  const root = path.startsWith('\\');
  const segs = (root ? path.slice(1) : path).split('.').filter((s) => s.length > 0);
  const prefix = root ? [Uint8Array.of(ROOT_CHAR)] : [];
  if (segs.length === 0) {
    if (!root) throw new RangeError('empty AML name');
    return concat([...prefix, Uint8Array.of(ZERO_OP)]); // "\" alone: RootChar NullName
  }
  const body = segs.map(nameSeg);
  if (body.length === 1) return concat([...prefix, ...body]);
  if (body.length === 2) return concat([...prefix, Uint8Array.of(DUAL_NAME_PREFIX), ...body]);
  return concat([...prefix, Uint8Array.of(MULTI_NAME_PREFIX, body.length), ...body]);
}

/** The shortest integer encoding (ZeroOp, OneOp, Ones, Byte/Word/DWord/QWord constants). */
export function integer(v: number | bigint): Uint8Array {
  const n = BigInt(v);
  if (n < 0n || n > 0xffff_ffff_ffff_ffffn) throw new RangeError(`AML integer ${n} is outside 0..2^64-1`);
  if (n === 0n) return Uint8Array.of(ZERO_OP);
  if (n === 1n) return Uint8Array.of(ONE_OP);
  if (n === 0xffff_ffff_ffff_ffffn) return Uint8Array.of(ONES_OP);
  const width = n <= 0xffn ? 1 : n <= 0xffffn ? 2 : n <= 0xffff_ffffn ? 4 : 8;
  const prefix = width === 1 ? BYTE_PREFIX : width === 2 ? WORD_PREFIX : width === 4 ? DWORD_PREFIX : QWORD_PREFIX;
  const out = new Uint8Array(1 + width);
  out[0] = prefix;
  for (let i = 0; i < width; i++) out[1 + i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** A String constant (ASCII, NUL-terminated). */
export function string(s: string): Uint8Array {
  if (!/^[\x01-\x7f]*$/.test(s)) throw new RangeError(`AML string "${s}" must be ASCII without NUL`);
  return concat([Uint8Array.of(STRING_PREFIX), Uint8Array.from(s, (c) => c.charCodeAt(0)), Uint8Array.of(0)]);
}

/** EISA ID compression ("PNP0A03" -> 0x030AD041): three 5-bit letters and four hex digits, stored big-endian. */
export function eisaId(id: string): number {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new RangeError(`EISA ID "${id}" is not three capital letters and four hex digits`);
  const c = (i: number) => (id.charCodeAt(i) - 0x40) & 0x1f;
  const hi = (c(0) << 10) | (c(1) << 5) | c(2);
  const lo = parseInt(id.slice(3), 16);
  // The 32-bit value is defined in big-endian byte order; AML stores integers little-endian.
  const be = [(hi >> 8) & 0xff, hi & 0xff, (lo >> 8) & 0xff, lo & 0xff];
  return (be[0]! | (be[1]! << 8) | (be[2]! << 16) | (be[3]! << 24)) >>> 0;
}

export function name(path: string, value: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(NAME_OP), nameString(path), value]);
}

export function scope(path: string, body: readonly Uint8Array[]): Uint8Array {
  const inner = concat([nameString(path), ...body]);
  return concat([Uint8Array.of(SCOPE_OP), pkgLength(inner.length), inner]);
}

export function device(path: string, body: readonly Uint8Array[]): Uint8Array {
  const inner = concat([nameString(path), ...body]);
  return concat([Uint8Array.of(EXT_OP_PREFIX, DEVICE_OP), pkgLength(inner.length), inner]);
}

/** A method without arguments that returns `value` (e.g. `_STA`). */
export function methodReturning(path: string, value: Uint8Array): Uint8Array {
  const inner = concat([nameString(path), Uint8Array.of(0 /* MethodFlags: 0 args, not serialized */, RETURN_OP), value]);
  return concat([Uint8Array.of(METHOD_OP), pkgLength(inner.length), inner]);
}

export function pkg(elements: readonly Uint8Array[]): Uint8Array {
  if (elements.length > 255) throw new RangeError('AML Package with more than 255 elements needs VarPackage');
  const inner = concat([Uint8Array.of(elements.length), ...elements]);
  return concat([Uint8Array.of(PACKAGE_OP), pkgLength(inner.length), inner]);
}

export function buffer(bytes: Uint8Array): Uint8Array {
  const inner = concat([integer(bytes.length), bytes]);
  return concat([Uint8Array.of(BUFFER_OP), pkgLength(inner.length), inner]);
}

// ---- Resource descriptors (ACPI spec 6.4 "Resource Data Types for ACPI") ----

const WORD_ADDRESS = 0x88;
const DWORD_ADDRESS = 0x87;
const IO_PORT = 0x47;
const END_TAG = 0x79;
/** General flags of an address space descriptor: producer, positive decode, min and max fixed. */
const ADDR_PRODUCER_FIXED = 0x0c;

export const RESOURCE_MEMORY = 0;
export const RESOURCE_IO = 1;
export const RESOURCE_BUS = 2;

/** Word Address Space Descriptor (bus numbers or I/O ports) as a bridge producing [min, max]. */
export function wordAddress(type: number, min: number, max: number, typeFlags = 0): Uint8Array {
  const d = new Uint8Array(16);
  const v = new DataView(d.buffer);
  d[0] = WORD_ADDRESS;
  v.setUint16(1, 13, true);
  d[3] = type;
  d[4] = ADDR_PRODUCER_FIXED;
  d[5] = typeFlags;
  v.setUint16(6, 0, true); // granularity
  v.setUint16(8, min, true);
  v.setUint16(10, max, true);
  v.setUint16(12, 0, true); // translation offset
  v.setUint16(14, max - min + 1, true);
  return d;
}

/** DWord Address Space Descriptor for a memory window [min, max]; typeFlags bit 0 = read-write, bits 2:1 cacheability. */
export function dwordMemory(min: number, max: number, typeFlags: number): Uint8Array {
  const d = new Uint8Array(26);
  const v = new DataView(d.buffer);
  d[0] = DWORD_ADDRESS;
  v.setUint16(1, 23, true);
  d[3] = RESOURCE_MEMORY;
  d[4] = ADDR_PRODUCER_FIXED;
  d[5] = typeFlags;
  v.setUint32(6, 0, true);
  v.setUint32(10, min >>> 0, true);
  v.setUint32(14, max >>> 0, true);
  v.setUint32(18, 0, true);
  v.setUint32(22, (max - min + 1) >>> 0, true);
  return d;
}

/** I/O Port Descriptor, 16-bit decode, fixed at `base` for `length` ports. */
export function ioPort(base: number, length: number): Uint8Array {
  const d = new Uint8Array(8);
  const v = new DataView(d.buffer);
  d[0] = IO_PORT;
  d[1] = 1; // decodes 16 address bits
  v.setUint16(2, base, true);
  v.setUint16(4, base, true);
  d[6] = 1; // alignment
  d[7] = length;
  return d;
}

/** IRQ Descriptor without flags (edge-triggered, active high, exclusive: an ISA IRQ), for `irqs`. */
export function irqNoFlags(irqs: readonly number[]): Uint8Array {
  let mask = 0;
  for (const i of irqs) {
    if (!Number.isInteger(i) || i < 0 || i > 15) throw new RangeError(`ISA IRQ ${i} is not 0-15`);
    mask |= 1 << i;
  }
  return Uint8Array.of(0x22, mask & 0xff, mask >> 8);
}

/** A ResourceTemplate: the descriptors followed by an End Tag (checksum 0 = "treat as valid"). */
export function resourceTemplate(descriptors: readonly Uint8Array[]): Uint8Array {
  return buffer(concat([...descriptors, Uint8Array.of(END_TAG, 0)]));
}

// Memory descriptor type flags.
export const MEM_READ_WRITE = 0x01;
export const MEM_CACHEABLE = 0x02;
/** I/O descriptor type flags: the bridge decodes ISA and non-ISA ranges alike. */
export const IO_ENTIRE_RANGE = 0x03;
