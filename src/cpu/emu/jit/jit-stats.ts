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
  /** Page regions held now (JS tiers). */
  liveRegions = 0;
  /**
   * Compiled bytes held now: the page regions' source (JS tiers), or the wasm modules that still have a block the
   * code cache holds compiled (one such block keeps its module; wasm-code-book.ts).
   */
  liveBytes = 0;
  /** wasm modules held now, and their blocks the code cache holds compiled. */
  liveModules = 0;
  liveBlocks = 0;
  /** wasm modules evicted because live compiled code passed its cap (wasm-code-book.ts). */
  evictions = 0;
  /** wasm runs that went on from their first block into others without returning to the run loop (wasm-chain.ts). */
  chains = 0;
  /**
   * Conditions and carries compiled wasm code asked JS for, from the flags record, because the block did not know
   * how its flags were made where it read them (each is a call out of wasm).
   */
  flagReads = 0;
}
