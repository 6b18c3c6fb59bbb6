import { VmmError } from '../util/errors.js';

/**
 * Bad PMU configuration or a bad PMU event-filter file. The message names the field (and the
 * file, for filters) and says what was expected. Guest mistakes (reserved bits, bad RDPMC index)
 * are never PmuErrors: they are #GP results returned to the emulator core.
 */
export class PmuError extends VmmError {
  /** Dotted path of the offending field, e.g. `pmu.gpCounters` or `events[3].umask`. */
  readonly field: string;

  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super('pmu', message, { ...options, exitCode: 64 });
    this.field = field;
  }
}
