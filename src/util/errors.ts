/**
 * Base of every error tsvmm raises on purpose. `kind` is a stable machine-readable
 * tag; the message says what happened and what to do about it. The CLI prints
 * `message` alone (no stack) for any VmmError.
 */
export class VmmError extends Error {
  readonly kind: string;
  /** Suggested process exit status when this error ends a CLI command. */
  readonly exitCode: number;

  constructor(kind: string, message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.exitCode = options?.exitCode ?? EXIT.FAILURE;
    this.name = new.target.name;
  }
}

/**
 * Distinct CLI exit statuses, so scripts can tell failures apart. They are all even:
 * a guest's debug-exit status ((v << 1) | 1) is always odd, so the two never collide.
 * A run ended by a signal exits as the signal (shells show 128 + its number, e.g. 143 for
 * SIGTERM); the console's quit key gives 130, as Ctrl-C (which the console hands to the guest) would.
 */
export const EXIT = {
  OK: 0,
  FAILURE: 2,
  USAGE: 64,
  BAD_IMAGE: 66,
  NO_BACKEND: 68,
  INTERNAL: 70,
  GUEST_CRASH: 72,
  GUEST_HANG: 74,
  FAIL_ENTRY: 76,
  USER_QUIT: 130,
} as const;

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
