/**
 * Turns whatever the layers below throw while the controller builds or drives a VM into one
 * ControllerError with a code. The modules below carry their own typed errors (BootError, PmuError,
 * KvmError, ...), most with the CLI status they were written for: that status is only used here,
 * as the hint for the code.
 */
import { EXIT, VmmError } from '../util/errors.js';
import { ConfigError } from './config.js';
import { ControllerError } from './controller-types.js';
import { PersistError } from '../util/persist.js';
import { StateFileError } from './state/field-codec.js';

export function toControllerError(e: unknown): ControllerError {
  if (e instanceof ControllerError) return e;
  if (e instanceof ConfigError) return new ControllerError('invalid-argument', e.message, { cause: e });
  if (e instanceof StateFileError) return new ControllerError('invalid-argument', e.message, { cause: e });
  if (e instanceof PersistError) return new ControllerError('invalid-argument', e.message, { cause: e, field: e.path });
  if (e instanceof VmmError) {
    const field = (e as { field?: unknown }).field;
    const options = { cause: e, ...(typeof field === 'string' ? { field } : {}) };
    switch (e.exitCode) {
      case EXIT.USAGE:
        return new ControllerError('invalid-argument', e.message, options);
      case EXIT.BAD_IMAGE:
        return new ControllerError('bad-image', e.message, options);
      case EXIT.NO_BACKEND:
        return new ControllerError('no-backend', e.message, options);
      case EXIT.INTERNAL:
        return new ControllerError('internal', e.message, options);
      default:
        return new ControllerError('host-io', e.message, options);
    }
  }
  const host = hostErrorMessage(e);
  if (host !== undefined) return new ControllerError('host-io', host, { cause: e });
  // RangeErrors from the layers below are argument checks (sizes, counts, paths).
  if (e instanceof RangeError) return new ControllerError('invalid-argument', e.message, { cause: e });
  return new ControllerError('internal', `internal error: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

/** A host file-system error (ENOENT, EACCES, ...) as one line naming the path, or undefined for anything else. */
export function hostErrorMessage(e: unknown): string | undefined {
  if (!(e instanceof Error) || !('code' in e) || typeof e.code !== 'string' || !/^E[A-Z]+$/.test(e.code)) return undefined;
  const err = e as NodeJS.ErrnoException;
  const what = err.code === 'ENOENT' ? 'no such file or directory' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'it is a directory' : err.code === 'ENOSPC' ? 'no space left on the device' : err.code!;
  return err.path !== undefined ? `${err.path}: ${err.syscall ?? 'access'} failed (${what})` : `host error: ${err.syscall ?? ''} ${what}`.replace('  ', ' ');
}
