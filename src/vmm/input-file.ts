import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { VmmError, EXIT } from '../util/errors.js';

export class InputFileError extends VmmError {}

/**
 * Reads a file the user named (kernel, initrd, filter, symbols): only a regular file, at most `limit.bytes`, read
 * by its size at open time. `/dev/zero`, a FIFO or a terminal would otherwise be read for ever, and a huge file
 * would be read whole before anything could say it is too big. Errors are one line naming `what` and the path.
 */
export function readInputFile(path: string, what: string, limit: { bytes: number; why: string }, exitCode: number = EXIT.BAD_IMAGE): Uint8Array {
  const fail = (why: string, cause?: unknown): never => {
    throw new InputFileError('input-file', `${what} ${path}: ${why}`, { exitCode, ...(cause !== undefined ? { cause } : {}) });
  };
  let fd: number;
  try {
    // Non-blocking, so that opening a FIFO without a writer returns instead of waiting for one.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    return fail(code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'cannot read (permission denied)' : code === 'EISDIR' ? 'cannot read (it is a directory)' : `cannot open (${code || (e as Error).message})`, e);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) fail('cannot read (it is a directory)');
    if (!st.isFile()) fail('is not a regular file (tsvmm reads only regular files: a device or FIFO may never end)');
    if (st.size > limit.bytes) fail(`is ${mib(st.size)}, more than ${limit.why} (${mib(limit.bytes)})`);
    const out = new Uint8Array(st.size);
    let off = 0;
    while (off < out.length) {
      const n = readSync(fd, out, off, out.length - off, off);
      if (n === 0) break;
      off += n;
    }
    // A file that shrank while being read is cut where it ended.
    return off === out.length ? out : out.subarray(0, off);
  } catch (e) {
    if (e instanceof InputFileError) throw e;
    return fail(`cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, e);
  } finally {
    closeSync(fd);
  }
}

function mib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MiB` : `${bytes} bytes`;
}
