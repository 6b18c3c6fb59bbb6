import { VmmError, EXIT } from '../../util/errors.js';

/** Errors of the KVM backend: host capabilities missing, bad configuration, ioctl failures. */
export class KvmError extends VmmError {
  constructor(message: string, options?: { cause?: unknown; exitCode?: number }) {
    super('kvm', message, { exitCode: options?.exitCode ?? EXIT.NO_BACKEND, cause: options?.cause });
  }
}
