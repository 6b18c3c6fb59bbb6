import { EXIT, VmmError } from '../util/errors.js';

/**
 * A kernel image tsvmm cannot boot, or a guest too small for it. Messages name the file,
 * say what was expected and what was found; the CLI exits with EXIT.BAD_IMAGE (65).
 */
export class BootError extends VmmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('boot', message, { cause: options?.cause, exitCode: EXIT.BAD_IMAGE });
  }
}
