/**
 * The JIT's mode, from the environment variable TSVMM_JIT where there is one (Node; a browser gets
 * the default). Unset (or `default`), it is `wasm`, chosen by the numbers in jit/README.md ("The default"):
 * - `off`: the interpreter only;
 * - `js`: JS functions: blocks that ran JS_THRESHOLD times (TSVMM_JIT_THRESHOLD overrides it) are
 *   compiled one by one (block-compiler.ts); the default before the wasm tier;
 * - `eager`: the same at threshold 1, so every block that runs twice goes through compiled code (the
 *   three-way tests use it);
 * - `regions`, `regions-eager`: hot pages compiled as regions (region-compiler.ts), at the JS threshold
 *   or at 1. Measured slower than single blocks on V8 so far (see jit/README.md).
 * - `wasm` (the default), `wasm-eager`: hot blocks compiled to WebAssembly (wasm-compiler.ts); registers,
 *   flags record, TLB tags and RAM live in one WebAssembly.Memory per VM (wasm-arena.ts). A block that loops
 *   on itself is compiled after WASM_THRESHOLD runs (TSVMM_JIT_THRESHOLD overrides it), any other block after
 *   WASM_LATE_FACTOR times as many; `wasm-eager` compiles every block at its first run.
 */
export type JitMode = 'off' | 'js' | 'eager' | 'regions' | 'regions-eager' | 'wasm' | 'wasm-eager';

/**
 * Runs of a block before it is compiled. A compiled block is a new JS function that V8 first runs in its
 * bytecode interpreter and optimises only after many more calls, so until then it is slower than emu's
 * own interpreter, and every compile costs V8 time: only blocks that run very often pay back. Measured
 * (CPU time, jit/README.md): the Debian boot 34-36 s at 40, 28 s at 2000, 24 s at 10000, 23 s with the
 * JIT off; realcode 32-bit cold 35 → 45 MIPS, warm 67 → 64.
 */
export const JS_THRESHOLD = 10000;

/**
 * Runs of a self-looping block before the wasm tier compiles it: its loop then runs inside one wasm call
 * (no return to the run loop per pass), which pays back soon. 200, 300 and 500 were measured against it again
 * with the cheaper emit (jit/README.md, "Cheaper emit"): no consistent winner under load; 500 and 250 again with
 * the compile's main-thread cost counted (jit/README.md, "The tier policy, counted"): fewer interpreted runs, no
 * measured gain.
 */
export const WASM_THRESHOLD = 1000;

/**
 * Other blocks may be compiled after WASM_LATE_FACTOR times as many runs. It was 25 while a compiled block
 * returned to the run loop after each run and a module cost ~0.4 ms to encode and compile: the Linux kernel's
 * blocks, run thousands of times each, then cost more compiled than interpreted. Since compiled blocks chain
 * inside WebAssembly and modules encode in microseconds, compiling them at the same 1 000 runs makes the
 * Debian boot 4-6% faster in CPU time (jit/README.md, "Every block at 1 000 runs").
 */
export const WASM_LATE_FACTOR = 1;

const MODES: readonly string[] = ['off', 'js', 'eager', 'regions', 'regions-eager', 'wasm', 'wasm-eager'];

export function parseJitMode(v: string | undefined): JitMode {
  if (v === undefined || v === '' || v === 'default') return 'wasm';
  if (MODES.includes(v)) return v as JitMode;
  throw new RangeError(`TSVMM_JIT=${v}: expected default or one of ${MODES.join(', ')}`);
}

function env(name: string): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return p?.env?.[name];
}

/** The mode from TSVMM_JIT (read without importing anything Node-only). */
export function envJitMode(): JitMode {
  return parseJitMode(env('TSVMM_JIT'));
}

/** TSVMM_JIT_THRESHOLD (measurements): the `js`, `regions` and `wasm` modes' threshold instead of theirs. */
export function parseThreshold(v: string | undefined, dflt = JS_THRESHOLD): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`TSVMM_JIT_THRESHOLD=${v}: expected a whole number of runs, at least 1`);
  return n;
}

/** Compile threshold of a mode (runs of a block before it is compiled). */
export function thresholdOf(m: JitMode): number {
  if (m === 'eager' || m === 'regions-eager' || m === 'wasm-eager') return 1;
  return parseThreshold(env('TSVMM_JIT_THRESHOLD'), m === 'wasm' ? WASM_THRESHOLD : JS_THRESHOLD);
}

/** TSVMM_WASM_LATE_FACTOR (measurements, tests): a factor other than WASM_LATE_FACTOR. */
export function parseLateFactor(v: string | undefined): number {
  if (v === undefined || v === '') return WASM_LATE_FACTOR;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`TSVMM_WASM_LATE_FACTOR=${v}: expected a whole number, at least 1`);
  return n;
}

/** Runs of a block that does not loop on itself before the wasm tier compiles it (the threshold elsewhere). */
export function lateThresholdOf(m: JitMode): number {
  const t = thresholdOf(m);
  return m === 'wasm' ? t * parseLateFactor(env('TSVMM_WASM_LATE_FACTOR')) : t;
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
