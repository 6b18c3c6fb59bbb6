/**
 * Append-only host outputs the controller opens on request: the log file and the metrics file of
 * the API's PUT /logger and PUT /metrics. Either may be a named pipe (as Firecracker allows): it is
 * opened without blocking, and a line a full pipe cannot take is dropped and counted, never waited for.
 */
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { ControllerError } from './controller-types.js';

export interface HostOutput {
  readonly path: string;
  /** Lines not written because the pipe was full (EAGAIN). */
  readonly dropped: number;
  writeLine(line: string): void;
  close(): void;
}

export function openHostOutput(path: string, what: string): HostOutput {
  if (path.length === 0) throw new ControllerError('invalid-argument', `${what}: the path is empty`, { field: what });
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK, 0o600);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENXIO' ? 'a named pipe with no reader' : err.code === 'ENOENT' ? 'its directory does not exist' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'it is a directory' : (err.code ?? err.message);
    throw new ControllerError('host-io', `${what} ${path}: cannot open for writing (${why})`, { cause: e, field: what });
  }
  let dropped = 0;
  let open = true;
  return {
    path,
    get dropped() {
      return dropped;
    },
    writeLine(line: string) {
      if (!open) return;
      const bytes = Buffer.from(line.endsWith('\n') ? line : `${line}\n`);
      let off = 0;
      while (off < bytes.length) {
        try {
          off += writeSync(fd, bytes, off, bytes.length - off);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EAGAIN') dropped++;
          return;
        }
      }
    },
    close() {
      if (!open) return;
      open = false;
      try {
        closeSync(fd);
      } catch {
        // already gone
      }
    },
  };
}
