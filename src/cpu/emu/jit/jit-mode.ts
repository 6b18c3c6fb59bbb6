/**
 * The JIT's mode, from the environment variable TSVMM_JIT where there is one (Node; a browser gets
 * the default). Unset, it is `default` (the wasm tier measured faster on real code, but one cross-engine
 * test fails under it with exact counting: jit/README.md):
 * - `off`: the interpreter only;
 * - `default`: JS functions: blocks that ran DEFAULT_THRESHOLD times (TSVMM_JIT_THRESHOLD overrides it)
 *   are compiled one by one (block-compiler.ts); the default before the wasm tier, the name kept;
 * - `eager`: the same at threshold 1, so every block that runs twice goes through compiled code (the
 *   three-way tests use it);
 * - `regions`, `regions-eager`: hot pages compiled as regions (region-compiler.ts), at the default
 *   threshold or at 1. Measured slower than single blocks on V8 so far (see jit/README.md), so not the default.
 * - `wasm`, `wasm-eager`: hot blocks compiled to WebAssembly (wasm-compiler.ts) at WASM_THRESHOLD
 *   (TSVMM_JIT_THRESHOLD overrides it) or at 1; registers, flags record, TLB tags and RAM live in one
 *   WebAssembly.Memory per VM (wasm-arena.ts).
 */
export type JitMode = 'off' | 'eager' | 'default' | 'regions' | 'regions-eager' | 'wasm' | 'wasm-eager';

/**
 * Runs of a block before it is compiled. A compiled block is a new JS function that V8 first runs in its
 * bytecode interpreter and optimises only after many more calls, so until then it is slower than emu's
 * own interpreter, and every compile costs V8 time: only blocks that run very often pay back. Measured
 * (CPU time, jit/README.md): the Debian boot 34-36 s at 40, 28 s at 2000, 24 s at 10000, 23 s with the
 * JIT off; realcode 32-bit cold 35 → 45 MIPS, warm 67 → 64.
 */
export const DEFAULT_THRESHOLD = 10000;

/**
 * Runs of a block before the wasm tier compiles it: Liftoff makes machine code at once (no warm-up in
 * an interpreter), so it pays back much sooner than a JS function (jit/README.md, WebAssembly).
 */
export const WASM_THRESHOLD = 200;

const MODES: readonly string[] = ['off', 'eager', 'default', 'regions', 'regions-eager', 'wasm', 'wasm-eager'];

export function parseJitMode(v: string | undefined): JitMode {
  if (v === undefined || v === '') return 'default';
  if (MODES.includes(v)) return v as JitMode;
  throw new RangeError(`TSVMM_JIT=${v}: expected one of ${MODES.join(', ')}`);
}

function env(name: string): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return p?.env?.[name];
}

/** The mode from TSVMM_JIT (read without importing anything Node-only). */
export function envJitMode(): JitMode {
  return parseJitMode(env('TSVMM_JIT'));
}

/** TSVMM_JIT_THRESHOLD (measurements): the default modes' threshold instead of DEFAULT_THRESHOLD. */
export function parseThreshold(v: string | undefined, dflt = DEFAULT_THRESHOLD): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`TSVMM_JIT_THRESHOLD=${v}: expected a whole number of runs, at least 1`);
  return n;
}

/** Compile threshold of a mode (runs of a block before it is compiled). */
export function thresholdOf(m: JitMode): number {
  if (m === 'eager' || m === 'regions-eager' || m === 'wasm-eager') return 1;
  return parseThreshold(env('TSVMM_JIT_THRESHOLD'), m === 'wasm' ? WASM_THRESHOLD : DEFAULT_THRESHOLD);
}

/**
 * Blocks per wasm module: a module costs ~0.15 ms to compile whatever its size (measured on Node 20), so
 * the wasm tier queues hot blocks and compiles them together (a queued block that ran a quarter more than
 * the threshold flushes the queue). TSVMM_JIT_BATCH overrides it; wasm-eager compiles each block at once.
 */
export const WASM_BATCH = 32;

export function batchOf(m: JitMode): number {
  if (m === 'wasm-eager') return 1;
  const v = env('TSVMM_JIT_BATCH');
  if (v === undefined || v === '') return WASM_BATCH;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`TSVMM_JIT_BATCH=${v}: expected a whole number of blocks, at least 1`);
  return n;
}

/** Whether hot blocks are compiled to WebAssembly. */
export function usesWasm(m: JitMode): boolean {
  return m === 'wasm' || m === 'wasm-eager';
}

/** TSVMM_JIT read now (EmuVm lays out RAM for the wasm tier before its vCPUs exist). */
export function envUsesWasm(): boolean {
  return usesWasm(envJitMode());
}

export function usesRegions(m: JitMode): boolean {
  return m === 'regions' || m === 'regions-eager';
}
