/**
 * The binary form of a section's named fields (src/util/persist.ts values): a small self-describing
 * tag-length-value encoding, so a reader needs no schema to walk a file and every field keeps its
 * name. Decoding takes untrusted bytes: every length is checked against what remains, nesting is
 * bounded, and any problem is a StateFileError saying where, never a host exception or a huge allocation.
 *
 *   value  := tag u8, then
 *     0 false | 1 true | 2 f64 (8 bytes LE) | 3 i32 (4 bytes LE) | 4 string (u32 length, UTF-8)
 *     | 5 u64 (8 bytes LE) | 6 bytes (u32 length, raw) | 7 list (u32 count, values)
 *     | 8 record (u32 count, then per field: u16 name length, UTF-8 name, value)
 */
import type { PersistRecord, PersistValue } from '../../util/persist.js';

export class StateFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateFileError';
  }
}

const T_FALSE = 0;
const T_TRUE = 1;
const T_F64 = 2;
const T_I32 = 3;
const T_STRING = 4;
const T_U64 = 5;
const T_BYTES = 6;
const T_LIST = 7;
const T_RECORD = 8;
/** Records and lists nest at most this deep (device states nest two or three levels). */
const MAX_DEPTH = 32;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

class Writer {
  private buf = new Uint8Array(256);
  private dv = new DataView(this.buf.buffer);
  len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v;
  }
  u16(v: number): void {
    this.room(2);
    this.dv.setUint16(this.len, v, true);
    this.len += 2;
  }
  u32(v: number): void {
    this.room(4);
    this.dv.setUint32(this.len, v, true);
    this.len += 4;
  }
  i32(v: number): void {
    this.room(4);
    this.dv.setInt32(this.len, v, true);
    this.len += 4;
  }
  f64(v: number): void {
    this.room(8);
    this.dv.setFloat64(this.len, v, true);
    this.len += 8;
  }
  u64(v: bigint): void {
    this.room(8);
    this.dv.setBigUint64(this.len, v, true);
    this.len += 8;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function writeValue(w: Writer, v: PersistValue, path: string): void {
  if (v === false || v === true) w.u8(v ? T_TRUE : T_FALSE);
  else if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= -0x8000_0000 && v <= 0x7fff_ffff && !Object.is(v, -0)) {
      w.u8(T_I32);
      w.i32(v);
    } else {
      w.u8(T_F64);
      w.f64(v);
    }
  } else if (typeof v === 'string') {
    const b = utf8.encode(v);
    w.u8(T_STRING);
    w.u32(b.length);
    w.bytes(b);
  } else if (typeof v === 'bigint') {
    if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`${path}: a bigint field must be an unsigned 64-bit value`);
    w.u8(T_U64);
    w.u64(v);
  } else if (v instanceof Uint8Array) {
    w.u8(T_BYTES);
    w.u32(v.length);
    w.bytes(v);
  } else if (Array.isArray(v)) {
    w.u8(T_LIST);
    w.u32(v.length);
    (v as readonly PersistValue[]).forEach((x, i) => writeValue(w, x, `${path}[${i}]`));
  } else if (typeof v === 'object' && v !== null) {
    const entries = Object.entries(v as PersistRecord);
    w.u8(T_RECORD);
    w.u32(entries.length);
    for (const [k, x] of entries) {
      const name = utf8.encode(k);
      if (name.length > 0xffff) throw new RangeError(`${path}: field name too long`);
      w.u16(name.length);
      w.bytes(name);
      writeValue(w, x, `${path}.${k}`);
    }
  } else {
    throw new RangeError(`${path}: ${typeof v} cannot be persisted`);
  }
}

/** Encodes a record of fields. */
export function encodeFields(fields: PersistRecord): Uint8Array {
  const w = new Writer();
  writeValue(w, fields, 'fields');
  return w.result();
}

/** Decodes what encodeFields wrote; `where` names the section in errors. The bytes must be exactly one record. */
export function decodeFields(bytes: Uint8Array, where: string): PersistRecord {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const need = (n: number, what: string): void => {
    if (at + n > bytes.length) throw new StateFileError(`${where}: truncated ${what} at byte ${at} (${bytes.length - at} left, ${n} needed)`);
  };
  const read = (depth: number, path: string): PersistValue => {
    if (depth > MAX_DEPTH) throw new StateFileError(`${where}: ${path}: nested deeper than ${MAX_DEPTH}`);
    need(1, 'tag');
    const tag = bytes[at++]!;
    switch (tag) {
      case T_FALSE:
        return false;
      case T_TRUE:
        return true;
      case T_F64: {
        need(8, 'number');
        const v = dv.getFloat64(at, true);
        at += 8;
        return v;
      }
      case T_I32: {
        need(4, 'integer');
        const v = dv.getInt32(at, true);
        at += 4;
        return v;
      }
      case T_U64: {
        need(8, '64-bit value');
        const v = dv.getBigUint64(at, true);
        at += 8;
        return v;
      }
      case T_STRING:
      case T_BYTES: {
        need(4, 'length');
        const n = dv.getUint32(at, true);
        at += 4;
        need(n, tag === T_STRING ? 'string' : 'bytes');
        const b = bytes.subarray(at, at + n);
        at += n;
        if (tag === T_BYTES) return b.slice();
        try {
          return fromUtf8.decode(b);
        } catch {
          throw new StateFileError(`${where}: ${path}: a string that is not UTF-8`);
        }
      }
      case T_LIST: {
        need(4, 'count');
        const n = dv.getUint32(at, true);
        at += 4;
        // Every item takes at least one byte: a count beyond what remains is a corrupt file, not an allocation.
        if (n > bytes.length - at) throw new StateFileError(`${where}: ${path}: a list of ${n} items in ${bytes.length - at} bytes`);
        const out: PersistValue[] = [];
        for (let i = 0; i < n; i++) out.push(read(depth + 1, `${path}[${i}]`));
        return out;
      }
      case T_RECORD: {
        need(4, 'count');
        const n = dv.getUint32(at, true);
        at += 4;
        if (n > (bytes.length - at) / 3) throw new StateFileError(`${where}: ${path}: a record of ${n} fields in ${bytes.length - at} bytes`);
        const out: Record<string, PersistValue> = {};
        for (let i = 0; i < n; i++) {
          need(2, 'field name length');
          const len = dv.getUint16(at, true);
          at += 2;
          need(len, 'field name');
          let name: string;
          try {
            name = fromUtf8.decode(bytes.subarray(at, at + len));
          } catch {
            throw new StateFileError(`${where}: ${path}: a field name that is not UTF-8`);
          }
          at += len;
          if (Object.hasOwn(out, name) || name === '__proto__') throw new StateFileError(`${where}: ${path}: field "${name}" ${name === '__proto__' ? 'is not allowed' : 'appears twice'}`);
          out[name] = read(depth + 1, path === '' ? name : `${path}.${name}`);
        }
        return out;
      }
      default:
        throw new StateFileError(`${where}: ${path || 'fields'}: unknown value tag ${tag} at byte ${at - 1}`);
    }
  };
  const v = read(0, '');
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) throw new StateFileError(`${where}: the fields are not a record`);
  if (at !== bytes.length) throw new StateFileError(`${where}: ${bytes.length - at} bytes after the fields`);
  return v as PersistRecord;
}
