/**
 * A cpio archive writer in the "newc" (SVR4, no CRC) format, the one the Linux kernel unpacks
 * as an initramfs (Documentation/driver-api/early-userspace/buffer-format.rst): each entry is a
 * 110-byte ASCII header ("070701" and thirteen 8-digit hex fields: ino, mode, uid, gid, nlink,
 * mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check), the NUL-terminated
 * name padded to 4 bytes, then the data padded to 4 bytes; a "TRAILER!!!" entry ends it.
 * Output is deterministic: inode numbers count up and every mtime is the one given.
 */

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
const HEADER = 110;
const TRAILER = 'TRAILER!!!';

interface Entry {
  name: string;
  mode: number;
  data: Uint8Array;
  nlink: number;
  rdevMajor: number;
  rdevMinor: number;
}

const pad4 = (n: number) => (4 - (n & 3)) & 3;

export class CpioWriter {
  private readonly entries: Entry[] = [];
  private readonly names = new Set<string>();

  /** `mtime`: seconds since the epoch stamped on every entry (0 by default, for reproducible archives). */
  constructor(private readonly mtime = 0) {}

  private add(name: string, mode: number, data: Uint8Array, extra: Partial<Entry> = {}): this {
    const n = name.replace(/^\/+/, '');
    if (n.length === 0 || n.split('/').some((c) => c === '' || c === '.' || c === '..')) throw new RangeError(`cpio entry name "${name}" must be a relative path without empty, . or .. components`);
    if (this.names.has(n)) throw new RangeError(`cpio entry "${n}" is added twice`);
    this.names.add(n);
    this.entries.push({ name: n, mode, data, nlink: 1, rdevMajor: 0, rdevMinor: 0, ...extra });
    return this;
  }

  dir(name: string, perm = 0o755): this {
    return this.add(name, S_IFDIR | perm, new Uint8Array(0), { nlink: 2 });
  }

  file(name: string, data: Uint8Array | string, perm = 0o644): this {
    return this.add(name, S_IFREG | perm, typeof data === 'string' ? new TextEncoder().encode(data) : data);
  }

  symlink(name: string, target: string): this {
    return this.add(name, S_IFLNK | 0o777, new TextEncoder().encode(target));
  }

  /** A character (or block) device node, e.g. /dev/console (c 5 1). */
  device(name: string, kind: 'char' | 'block', major: number, minor: number, perm = 0o600): this {
    return this.add(name, (kind === 'char' ? S_IFCHR : S_IFBLK) | perm, new Uint8Array(0), { rdevMajor: major, rdevMinor: minor });
  }

  /** The archive bytes (the entries in the order added, then the trailer). */
  finish(): Uint8Array {
    const enc = new TextEncoder();
    const all = [...this.entries, { name: TRAILER, mode: 0, data: new Uint8Array(0), nlink: 1, rdevMajor: 0, rdevMinor: 0 }];
    const parts: Uint8Array[] = [];
    let size = 0;
    all.forEach((e, i) => {
      const name = enc.encode(e.name + '\0');
      const isTrailer = e.name === TRAILER;
      const fields = [isTrailer ? 0 : i + 1, e.mode, 0, 0, e.nlink, isTrailer ? 0 : this.mtime, e.data.length, 0, 0, e.rdevMajor, e.rdevMinor, name.length, 0];
      for (const f of fields) if (!Number.isInteger(f) || f < 0 || f > 0xffff_ffff) throw new RangeError(`cpio field ${f} of "${e.name}" does not fit in 32 bits`);
      const header = enc.encode('070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join(''));
      const headPad = pad4(HEADER + name.length);
      const dataPad = pad4(e.data.length);
      parts.push(header, name, new Uint8Array(headPad), e.data, new Uint8Array(dataPad));
      size += HEADER + name.length + headPad + e.data.length + dataPad;
    });
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}
