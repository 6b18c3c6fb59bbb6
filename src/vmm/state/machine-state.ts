/**
 * The machine state file: named, versioned sections, each with a CRC32, in one versioned container.
 * A snapshot is one of these (manifest, vCPUs, chips, devices, RAM or its dirty pages); a migration
 * stream sends the same sections. Reading checks the whole file (magic, container version, every
 * section's bounds and CRC, the end marker) before a single section is handed out, so a corrupt,
 * truncated or foreign file fails with one line before anything is loaded.
 *
 *   header:  magic "TSVMM-ST" (8 bytes), u32 container version (1), u32 flags (bit 0: diff),
 *            u32 section count, u32 CRC32 of these 20 bytes
 *   section: u16 name length, name, u16 kind length, kind, u32 section version, u8 encoding
 *            (0: named fields, field-codec.ts; 1: raw bytes), u32 + u32 payload length (low, high),
 *            u32 CRC32 of everything from the name length to the end of the payload, payload
 *   end:     "TSVMMEND" (8 bytes), u32 section count
 * All integers little-endian.
 */
import { crc32 } from '../../util/crc32.js';
import type { PersistRecord, PersistSection } from '../../util/persist.js';
import { decodeFields, encodeFields, StateFileError } from './field-codec.js';

export { StateFileError };

export const STATE_MAGIC = 'TSVMM-ST';
export const STATE_END = 'TSVMMEND';
export const STATE_FORMAT_VERSION = 1;
const MAX_SECTIONS = 65536;
const MAX_NAME = 256;

/** A section of raw bytes (guest RAM, a dirty-page set): too big to be fields, checked by its CRC. */
export interface RawSection {
  readonly name: string;
  readonly kind: string;
  readonly version: number;
  readonly raw: Uint8Array;
}

export type StateSection = PersistSection | RawSection;

export function isRawSection(s: StateSection): s is RawSection {
  return 'raw' in s;
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const utf8 = new TextDecoder('utf-8', { fatal: true });

export class MachineState {
  constructor(
    readonly sections: readonly StateSection[],
    /** A diff snapshot: RAM sections hold only the pages dirtied since the snapshot it applies to. */
    readonly diff = false,
  ) {
    const names = new Set<string>();
    for (const s of sections) {
      if (names.has(s.name)) throw new RangeError(`machine state: section "${s.name}" appears twice`);
      names.add(s.name);
    }
  }

  section(name: string): StateSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** The file as chunks (raw sections are not copied): write them in order, e.g. with fs.writevSync. */
  encode(): Uint8Array[] {
    const chunks: Uint8Array[] = [];
    const head = new Uint8Array(24);
    const hv = new DataView(head.buffer);
    head.set(ascii(STATE_MAGIC), 0);
    hv.setUint32(8, STATE_FORMAT_VERSION, true);
    hv.setUint32(12, this.diff ? 1 : 0, true);
    hv.setUint32(16, this.sections.length, true);
    hv.setUint32(20, crc32(head.subarray(0, 20)), true);
    chunks.push(head);
    for (const s of this.sections) {
      const payload = isRawSection(s) ? s.raw : encodeFields(s.fields);
      const name = ascii(s.name);
      const kind = ascii(s.kind);
      if (name.length > MAX_NAME || kind.length > MAX_NAME) throw new RangeError(`machine state: section name or kind longer than ${MAX_NAME} bytes`);
      const sh = new Uint8Array(2 + name.length + 2 + kind.length + 4 + 1 + 8 + 4);
      const sv = new DataView(sh.buffer);
      let at = 0;
      sv.setUint16(at, name.length, true);
      sh.set(name, (at += 2));
      sv.setUint16((at += name.length), kind.length, true);
      sh.set(kind, (at += 2));
      sv.setUint32((at += kind.length), s.version, true);
      sv.setUint8((at += 4), isRawSection(s) ? 1 : 0);
      sv.setUint32((at += 1), payload.length >>> 0, true);
      sv.setUint32((at += 4), Math.floor(payload.length / 0x1_0000_0000), true);
      at += 4;
      sv.setUint32(at, crc32(payload, crc32(sh.subarray(0, at))), true);
      chunks.push(sh, payload);
    }
    const end = new Uint8Array(12);
    end.set(ascii(STATE_END), 0);
    new DataView(end.buffer).setUint32(8, this.sections.length, true);
    chunks.push(end);
    return chunks;
  }

  /** The whole file in one buffer (tests, small states). */
  encodeToBytes(): Uint8Array {
    const chunks = this.encode();
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  /**
   * Reads a state file. `source` names it in errors. Raw sections are views of `file` (no copy).
   * Throws StateFileError before returning anything unless every check passes.
   */
  static decode(file: Uint8Array, source: string): MachineState {
    const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
    const fail = (what: string): never => {
      throw new StateFileError(`${source}: ${what}`);
    };
    if (file.length < 24) fail(`${file.length} bytes is too short for a tsvmm state file (truncated?)`);
    if (new TextDecoder().decode(file.subarray(0, 8)) !== STATE_MAGIC) fail('not a tsvmm state file (no TSVMM-ST header)');
    if (dv.getUint32(20, true) !== crc32(file.subarray(0, 20))) fail('the header is corrupt (CRC32 mismatch)');
    const version = dv.getUint32(8, true);
    if (version !== STATE_FORMAT_VERSION) fail(`state file format version ${version} is not supported (this tsvmm reads version ${STATE_FORMAT_VERSION})`);
    const flags = dv.getUint32(12, true);
    if ((flags & ~1) !== 0) fail(`unknown flags 0x${flags.toString(16)}`);
    const count = dv.getUint32(16, true);
    if (count > MAX_SECTIONS) fail(`${count} sections is more than ${MAX_SECTIONS}`);
    let at = 24;
    const need = (n: number, what: string): void => {
      if (at + n > file.length) fail(`truncated in ${what} (at byte ${at} of ${file.length})`);
    };
    const sections: StateSection[] = [];
    for (let i = 0; i < count; i++) {
      const start = at;
      need(2, `section ${i}'s name`);
      const nameLen = dv.getUint16(at, true);
      at += 2;
      if (nameLen > MAX_NAME) fail(`section ${i}: a name of ${nameLen} bytes`);
      need(nameLen + 2, `section ${i}'s header`);
      const name = text(file.subarray(at, (at += nameLen)), `section ${i}'s name`, fail);
      const kindLen = dv.getUint16(at, true);
      at += 2;
      if (kindLen > MAX_NAME) fail(`section ${name}: a kind of ${kindLen} bytes`);
      need(kindLen + 4 + 1 + 8 + 4, `section ${name}'s header`);
      const kind = text(file.subarray(at, (at += kindLen)), `section ${name}'s kind`, fail);
      const sectionVersion = dv.getUint32(at, true);
      const encoding = dv.getUint8(at + 4);
      const len = dv.getUint32(at + 5, true) + dv.getUint32(at + 9, true) * 0x1_0000_0000;
      at += 13;
      const crc = dv.getUint32(at, true);
      const headerEnd = at;
      at += 4;
      if (encoding > 1) fail(`section ${name}: unknown encoding ${encoding}`);
      if (!Number.isSafeInteger(len) || len > file.length - at) fail(`section ${name}: truncated (${len} bytes announced, ${file.length - at} left)`);
      const payload = file.subarray(at, at + len);
      at += len;
      if (crc32(payload, crc32(file.subarray(start, headerEnd))) !== crc) fail(`section ${name} (${kind}) is corrupt (CRC32 mismatch)`);
      if (sections.some((s) => s.name === name)) fail(`section ${name} appears twice`);
      sections.push(encoding === 1 ? { name, kind, version: sectionVersion, raw: payload } : { name, kind, version: sectionVersion, fields: decodeFields(payload, `${source}: section ${name}`) as PersistRecord });
    }
    need(12, 'the end marker');
    if (new TextDecoder().decode(file.subarray(at, at + 8)) !== STATE_END || dv.getUint32(at + 8, true) !== count) fail('the end marker is missing or wrong (truncated or corrupt)');
    if (at + 12 !== file.length) fail(`${file.length - at - 12} bytes after the end marker`);
    return new MachineState(sections, (flags & 1) === 1);
  }
}

function text(b: Uint8Array, what: string, fail: (w: string) => never): string {
  try {
    return utf8.decode(b);
  } catch {
    return fail(`${what} is not UTF-8`);
  }
}
