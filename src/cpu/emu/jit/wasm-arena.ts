/**
 * The WebAssembly tier's memory (TSVMM_JIT=wasm): one WebAssembly.Memory per VM (per code cache, which
 * the VM's vCPUs share, so compiled blocks run on any of them) holding what compiled code touches. Each
 * vCPU has a 128 KiB slot with its register file (each register's two halves side by side, one i64 to
 * compiled code), a lazy-flags record, the segment bases and check flags, all as typed-array views that the
 * interpreter uses exactly as it used its own arrays, and in its second half the TLB as compiled code reads it
 * (tlb-wasm.ts); guest RAM follows the slots when it fits (wasm32: at most 4 GiB in all), so a TLB hit is an
 * inline load or store in compiled code. The memory never grows (its maximum is its initial size): growing would
 * detach every view, the XMM register file's included.
 */
import type { CodeCache } from '../code-cache.js';
import { Tlb } from '../x86-defs.js';
import { wasmApi, type WasmMemory } from './wasm-encoder.js';

/** Byte offsets inside a vCPU slot. */
export const enum Slot {
  /** The register file (EmuCpu.gpr): register n as the little-endian i64 at Gpr + 8n (low half, then high half). */
  Gpr = 0,
  /** Lazy-flags record: fop fsz fres fdst fsrc fresH fdstH fsrcH fcin dirty (int32 each). */
  Flags = 128,
  /** Int32: passes a self-looping compiled block has completed. */
  Loops = 168,
  /** Int32: 1 while RFLAGS.DF is set (EmuCpu.dfSlot). */
  Df = 172,
  /**
   * A block with forward branches inside it (wasm-skips.ts), since its entry: int32 instructions and int32 branches
   * it branched over (one i64), and the index its last such branch went to (int32; past a self-loop's passes:
   * passes * loop length + index), for the deterministic clock.
   */
  Skip = 176,
  SkipAt = 184,
  SegBase = 256,
  SegChk = 352,
  /** Int32 per segment register: its selector (EmuCpu.segSel; MOV r, Sreg reads it in compiled code). */
  SegSel = 384,
  /** f64 per segment register: its limit (EmuCpu.segLimit; 32-bit near branches in compiled code check CS's). */
  SegLimit = 432,
  /**
   * i64: an exact linear address passed beside its f64 (beyond +-2^53 the f64 is rounded): what the `ea` import
   * gives back, and what a block stores before calling `rd`/`wr`/`rdw`/`wr8` (big-lin.ts linToSlot, linFromSlot).
   */
  Lin = 512,
  /** i64: 64 - the linear-address width, 16 (48 bits) or 7 (57: CR4.LA57); EmuCpu.updateMode keeps it. */
  CanonSh = 520,
  /** Int32 pairs (lo, hi): EmuCpu.bigAd, the exact FS/GS bases where the f64 ones are beyond +-2^53. */
  BigAd = 528,
  /**
   * The TLB as compiled code reads it (tlb-wasm.ts): per entry (both banks, Tlb.Size * 2) 32 bytes, an i64 read tag,
   * an i64 write tag and an int32 delta (the page's wasm address less its linear address's low half), in the slot's
   * second 64 KiB. One index scale finds all three, and a tag is an exact i64 page compared as one.
   */
  WTlb = 65536,
  WTlbEnd = WTlb + Tlb.Size * 2 * 32,
  /**
   * Int32: 1 while SSE instructions run without #UD/#NM (CR0.EM = 0, CR0.TS = 0, CR4.OSFXSR = 1; EmuCpu's CR0
   * and CR4 setters keep it), else 0: compiled SSE forms then call their handler, which raises the exception.
   */
  SseGate = 42000,
  /** The XMM register file (fpu/simd-file.ts: XMM0-15 and the handlers' scratch registers, 16 bytes each). */
  Xmm = 42048,
  XmmEnd = Xmm + 20 * 16,
  /**
   * Chained runs (wasm-chain.ts): the running block's table index, instructions and branches its chain retired
   * before it, a stop request, the CPL, decode mode and paging epochs a block must be valid for (what jcOk
   * compares), the running block's RIP (f64).
   */
  ChainIdx = 64000,
  ChainN = 64004,
  ChainNb = 64008,
  ChainStop = 64012,
  ChainCpl = 64016,
  ChainMode = 64020,
  ChainEp = 64040,
  ChainEpG = 64044,
  ChainBip = 64024,
  /**
   * f64: RIP after a tail instruction the chain ran through the `tl` import, after an inline RET, and where a
   * block's branch or end leaves to (the driver's way on when the exit is not linked).
   */
  ChainRip = 64032,
  /** Int32: branches a block retired up to the side exit it left by (the driver's count for an unlinked one). */
  ChainBr = 64048,
  /** Bytes of a vCPU slot (its TLB the second half). */
  Size = 131072,
}

/** Indices of the flags record, in int32 units from Slot.Flags. */
export const enum Fr {
  Op = 0,
  Sz = 1,
  // Each value's high half follows its low half (8-byte aligned: Slot.Flags is), so a 64-bit value is one i64 store.
  Res = 2,
  ResH = 3,
  Dst = 4,
  DstH = 5,
  Src = 6,
  SrcH = 7,
  Cin = 8,
  /** Which fields compiled code wrote since the EmuCpu fields were last brought up to date (Dg bits; 0: none). */
  Dirty = 9,
}

/**
 * The flags record's field groups (bits of Fr.Dirty): each lazy-flags kernel sets some of them (an eager writer
 * Op and Res, a 32-bit logic operation Op, Res and Sz, ...), and the cpu keeps the others, so compiled code marks
 * the groups it wrote and the copy into the EmuCpu takes exactly those.
 */
export const enum Dg {
  OpRes = 1,
  Sz = 2,
  DstSrc = 4,
  High = 8,
  Cin = 16,
}

const PAGE = 65536;
/** wasm pages of a vCPU slot. */
const SLOT_PAGES = Slot.Size / PAGE;
/** Pages of chain-link records (wasm-chain.ts), one record per chainable compiled block. */
export const LINK_PAGES = 32;
/** Entries of the chained runs' jump cache (a power of 2). */
export const JCW_ENTRIES = 16384;
/** Bytes of one link record (wasm-chain.ts Lk). */
export const LINK_BYTES = 96;
/** vCPU slots of a memory made without a VM's sizes (a standalone EmuCpu, tests). */
const DEFAULT_SLOTS = 8;

export class WasmArena {
  readonly memory: WasmMemory;
  readonly i32: Int32Array;
  /** The same memory as float64s (RIPs and linear addresses the chained runs keep there). */
  readonly f64: Float64Array;
  private slotsUsed = 0;
  private ramNext: number;
  /** Byte offset of the chained runs' jump cache (JCW_ENTRIES int32 table indices by RIP, after the vCPU slots). */
  readonly jcwBase: number;
  /** Byte offset of the chain-link records (after that cache). */
  readonly linkBase: number;
  /** Link records: how many the area holds (table index 0 is 'none'). */
  readonly linkCap: number;

  constructor(
    readonly slots: number,
    readonly ramBytes: number,
  ) {
    const pages = slots * SLOT_PAGES + LINK_PAGES + Math.ceil(ramBytes / PAGE);
    if (wasmApi === undefined) throw new RangeError('TSVMM_JIT=wasm: this JavaScript engine has no WebAssembly');
    this.memory = new wasmApi.Memory({ initial: pages, maximum: pages });
    this.i32 = new Int32Array(this.memory.buffer);
    this.f64 = new Float64Array(this.memory.buffer);
    this.jcwBase = slots * Slot.Size;
    this.linkBase = this.jcwBase + JCW_ENTRIES * 4;
    this.linkCap = Math.floor((LINK_PAGES * PAGE - JCW_ENTRIES * 4) / LINK_BYTES);
    this.ramNext = this.jcwBase + LINK_PAGES * PAGE;
  }

  /** A fresh vCPU slot's byte offset. */
  takeSlot(): number {
    if (this.slotsUsed >= this.slots) throw new RangeError(`wasm JIT: more vCPUs than the ${this.slots} slots of the code cache's memory`);
    return this.slotsUsed++ * Slot.Size;
  }

  /** Guest RAM bytes inside the memory, or null when they do not fit (the caller allocates elsewhere). */
  takeRam(size: number): Uint8Array | null {
    const at = this.ramNext;
    if (at + size > this.memory.buffer.byteLength) return null;
    this.ramNext = at + Math.ceil(size / PAGE) * PAGE;
    return new Uint8Array(this.memory.buffer, at, size);
  }

  /** The wasm address of `bytes` (guest RAM allocated by takeRam), or -1. */
  addressOf(bytes: Uint8Array): number {
    return bytes.buffer === this.memory.buffer ? bytes.byteOffset : -1;
  }
}

const arenas = new WeakMap<CodeCache, WasmArena>();
const cacheOfArena = new WeakMap<WasmArena, CodeCache>();

/** The code cache whose memory `a` is (undefined for an arena made alone). */
export function cacheOf(a: WasmArena): CodeCache | undefined {
  return cacheOfArena.get(a);
}

/** wasm32 holds at most 65 536 pages; a VM whose RAM does not fit keeps RAM outside (loads and stores then call out). */
const MAX_PAGES = 65536;

/** Makes the memory of a VM's code cache for `cpus` vCPUs and `ramBytes` of RAM (EmuVm, before its vCPUs). */
export function provideArena(cache: CodeCache, cpus: number, ramBytes: number): WasmArena {
  const ram = cpus * SLOT_PAGES + LINK_PAGES + Math.ceil(ramBytes / PAGE) + 16 <= MAX_PAGES ? ramBytes + 16 * PAGE : 0;
  let a: WasmArena;
  try {
    a = new WasmArena(cpus, ram);
  } catch {
    // No room for RAM in a wasm memory on this host: RAM stays outside, compiled loads and stores call out.
    a = new WasmArena(cpus, 0);
  }
  arenas.set(cache, a);
  cacheOfArena.set(a, cache);
  return a;
}

/** The memory of `cache` (made with room for a few vCPUs and no RAM when no VM made it first). */
export function arenaOf(cache: CodeCache): WasmArena {
  let a = arenas.get(cache);
  if (a === undefined) {
    a = new WasmArena(DEFAULT_SLOTS, 0);
    arenas.set(cache, a);
    cacheOfArena.set(a, cache);
  }
  return a;
}
