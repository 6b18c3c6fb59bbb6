/**
 * The JIT's mode, from the environment variable TSVMM_JIT where there is one (Node; a browser gets
 * the default):
 * - `off`: the interpreter only;
 * - `default`: blocks that ran DEFAULT_THRESHOLD times are compiled one by one (block-compiler.ts);
 * - `eager`: the same at threshold 1, so every block that runs twice goes through compiled code (the
 *   three-way tests use it);
 * - `regions`, `regions-eager`: hot pages compiled as regions (region-compiler.ts), at the default
 *   threshold or at 1. Measured slower than single blocks on V8 so far (see jit/README.md), so not the default.
 */
export type JitMode = 'off' | 'eager' | 'default' | 'regions' | 'regions-eager';

/** Runs of a block before it is compiled. */
export const DEFAULT_THRESHOLD = 40;

const MODES: readonly string[] = ['off', 'eager', 'default', 'regions', 'regions-eager'];

export function parseJitMode(v: string | undefined): JitMode {
  if (v === undefined || v === '') return 'default';
  if (MODES.includes(v)) return v as JitMode;
  throw new RangeError(`TSVMM_JIT=${v}: expected one of ${MODES.join(', ')}`);
}

/** The mode from TSVMM_JIT (read without importing anything Node-only). */
export function envJitMode(): JitMode {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return parseJitMode(p?.env?.TSVMM_JIT);
}

/** Compile threshold of a mode (runs of a block before it is compiled). */
export function thresholdOf(m: JitMode): number {
  return m === 'eager' || m === 'regions-eager' ? 1 : DEFAULT_THRESHOLD;
}

export function usesRegions(m: JitMode): boolean {
  return m === 'regions' || m === 'regions-eager';
}
