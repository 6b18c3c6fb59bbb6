/**
 * What a VM's JIT has done (the bench and tests read it through EmuCpu.jitStats / EmuVm.jitStats()):
 * compile time, generated source, compiled units. Counted as they are made; `live*` are what the
 * code cache holds now (compiled code is dropped with its blocks: a write to their page, a flush
 * or a reset).
 */
export class JitStats {
  /** Host time spent generating and parsing compiled code (V8's later optimisation runs on its own threads). */
  compileMs = 0;
  /** Bytes of JavaScript source generated. */
  codeBytes = 0;
  /** Units compiled: single blocks, and page regions (a page recompiled as it gains hot blocks counts again). */
  regions = 0;
  /** Page regions held now and their source bytes. */
  liveRegions = 0;
  liveBytes = 0;
  /** wasm runs that went on from their first block into others without returning to the run loop (wasm-chain.ts). */
  chains = 0;
}
