/**
 * A raw disk image file or a host block device as a virtio-blk backend (Node only: the device model imports
 * the interface, never this file). Reads and writes are positioned (pread/pwrite), flush is fdatasync, so a
 * write the guest saw acknowledged after a flush survives the host process being killed. Discard and
 * write-zeroes write zeros (no hole punching: Node's fs has no fallocate), so both are exact.
 */
import { closeSync, fdatasyncSync, fstatSync, openSync, readFileSync, readSync, writeSync, type Stats } from 'node:fs';
import { BlockBackendError, type BlockBackend } from '../../devices/virtio/backends/block-backend.js';

const ZERO_CHUNK = 1 << 20;

/** "major:minor" of Linux's device number `rdev` (glibc's dev_t layout: 12 bits of major, 20 of minor, split). */
function deviceNumber(rdev: Stats['rdev']): string {
  const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
  return `${major}:${minor}`;
}

export class FileBlockBackend implements BlockBackend {
  readonly size: number;
  private fd: number;
  private zeros: Uint8Array | undefined;

  constructor(
    readonly path: string,
    readonly readOnly: boolean,
  ) {
    try {
      this.fd = openSync(path, readOnly ? 'r' : 'r+');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? `permission denied${readOnly ? '' : ' (add ,ro for a read-only disk)'}` : code === 'EISDIR' ? 'it is a directory' : (e as Error).message;
      throw new BlockBackendError(`--drive ${path}: cannot open the image: ${why}`);
    }
    const st = fstatSync(this.fd);
    if (!st.isFile() && !st.isBlockDevice()) {
      closeSync(this.fd);
      throw new BlockBackendError(`--drive ${path}: not a regular file or block device`);
    }
    let size = st.size;
    if (st.isBlockDevice()) {
      // fstat gives a block device's size as 0; the kernel publishes it in sysfs (in 512-byte sectors).
      const sysfs = `/sys/dev/block/${deviceNumber(st.rdev)}/size`;
      try {
        size = Number(readFileSync(sysfs, 'latin1').trim()) * 512;
      } catch {
        closeSync(this.fd);
        throw new BlockBackendError(`--drive ${path}: cannot read the block device's size from ${sysfs}; use an image file instead`);
      }
    }
    if (size % 512 !== 0 || size === 0) {
      closeSync(this.fd);
      throw new BlockBackendError(`--drive ${path}: a raw image must be a non-empty multiple of 512 bytes (it is ${size})`);
    }
    this.size = size;
  }

  read(offset: number, dst: Uint8Array): void {
    let done = 0;
    while (done < dst.length) {
      const n = readSync(this.fd, dst, done, dst.length - done, offset + done);
      if (n === 0) {
        dst.fill(0, done); // the file shrank under us: past its end reads as zeros
        return;
      }
      done += n;
    }
  }

  write(offset: number, src: Uint8Array): void {
    let done = 0;
    while (done < src.length) done += writeSync(this.fd, src, done, src.length - done, offset + done);
  }

  flush(): void {
    fdatasyncSync(this.fd);
  }

  discard(offset: number, length: number): void {
    this.writeZeroes(offset, length);
  }

  writeZeroes(offset: number, length: number): void {
    this.zeros ??= new Uint8Array(ZERO_CHUNK);
    for (let at = 0; at < length; at += ZERO_CHUNK) this.write(offset + at, this.zeros.subarray(0, Math.min(ZERO_CHUNK, length - at)));
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
