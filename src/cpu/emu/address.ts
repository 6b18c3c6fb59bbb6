/**
 * Address arithmetic shared by the engine. Linear addresses and RIP are JS numbers: legacy
 * modes use 0..2^32-1, long mode the signed canonical value (exact in a double).
 */
import type { EmuCpu } from './cpu.js';
import type { Insn } from './insn.js';
import { Pow } from './x86-defs.js';
import { emuLimit, gp } from './exceptions.js';

/** Converts an unsigned 64-bit value to the address representation (signed when >= 2^63). */
export function u64ToAddr(v: bigint): number {
  v &= (1n << 64n) - 1n;
  return v >= 1n << 63n ? Number(v - (1n << 64n)) : Number(v);
}

/** lin + k for multi-byte accesses (wraps at 4 GiB outside 64-bit mode). */
export function addLin(lin: number, k: number, long: boolean): number {
  // Addresses outside 0..2^32-1 are 64-bit (e.g. IA-32e event delivery from compatibility mode).
  if (long || lin >= Pow.Two32 || lin < 0) return lin + k;
  const a = lin + k;
  return a >= Pow.Two32 ? a - Pow.Two32 : a;
}

/** rip + delta wrapped to the code size (2: 16-bit IP, 4: 32-bit EIP, 8: canonical RIP). */
export function addIp(rip: number, delta: number, codeSize: number): number {
  const r = rip + delta;
  if (codeSize === 4) return r >>> 0 === r ? r : r >>> 0;
  if (codeSize === 2) return r & 0xffff;
  if (r >= Pow.Two63) return r - Pow.Two64;
  if (r < -Pow.Two63) return r + Pow.Two64;
  return r;
}

/** Whether the signed linear address `t` is outside the vCPU's canonical range (48 bits, or 57 under LA57). */
export function nonCanonical(c: EmuCpu, t: number): boolean {
  // Within 48 bits (nearly always) a constant test decides, as before 5-level paging; beyond, the vCPU's bound.
  return (t < -Pow.Two47 || t >= Pow.Two47) && (t < -c.canonLim || t >= c.canonLim);
}

/** Whether `hi`, an address's high 32 bits (signed), puts it outside the canonical range at the vCPU's paging depth (48 or 57 bits). */
export function nonCanonicalHi(c: EmuCpu, hi: number): boolean {
  return hi < -c.canonHi || hi >= c.canonHi;
}

/**
 * A 64-bit branch target, wrapped and checked for canonical form (#GP). Within 48 bits (nearly always) a
 * constant test decides; beyond, farTarget (a code handle from a RIP beyond +-2^53 lands there too).
 */
export function canonicalTarget(c: EmuCpu, t: number): number {
  if (t >= -Pow.Two47 && t < Pow.Two47) return t;
  return farTarget(c, t);
}

function farTarget(c: EmuCpu, t: number): number {
  if (Math.floor(t) !== t) {
    // rip + rel from a RIP beyond +-2^53: exact halves, checked, and back to a normal form (ripOf).
    codeHalves(t);
    return ripAt(c, BIG.hi, BIG.lo);
  }
  if (t >= Pow.Two63) t -= Pow.Two64;
  else if (t < -Pow.Two63) t += Pow.Two64;
  if (nonCanonical(c, t)) return gp(c, 0);
  // rel32 from plain code into the windows next to +-2^53: a code handle there.
  return t >= RIP_EDGE || t < -RIP_EDGE ? ripFormed(c, t) : t;
}

/** The 64-bit branch target hi:lo, checked for canonical form (#GP); exact at every width (ripOf beyond +-2^53). */
export function targetOf(c: EmuCpu, hi: number, lo: number): number {
  if (hi >= -0x8000 && hi < 0x8000) return hi * Pow.Two32 + (lo >>> 0);
  return ripAt(c, hi, lo);
}

/** targetOf beyond 48 bits: the vCPU's bound, then the RIP representation. */
function ripAt(c: EmuCpu, hi: number, lo: number): number {
  if (nonCanonicalHi(c, hi)) return gp(c, 0);
  return ripOf(hi, lo, c);
}

/** RIP `rip` (a double or a code handle) plus `delta` (|delta| < 2^33) as a 64-bit branch target: exact, checked (#GP). */
export function ripPlus(c: EmuCpu, rip: number, delta: number): number {
  halvesOf(rip);
  const l = BIG.lo + delta;
  const carry = Math.floor(l / Pow.Two32);
  return ripAt(c, (BIG.hi + carry) | 0, l - carry * Pow.Two32);
}

/**
 * RIPs beyond +-2^53 (5-level paging lets code run up to +-2^56), which a double cannot hold: `c.rip` (and `bip`)
 * is then a *code handle*, CODE_ENC + k * CODE_STRIDE + CODE_WIN + off + 0.5, naming slot k of a table of 32 GiB
 * windows (the high half of each window's base) and the offset `off` of the RIP from that base. Adding an integer
 * to one adds it to the address (rip + length, bip + start, rip-relative operands), as a data handle does; unlike
 * a data handle it lasts (the table is not a ring: when it fills, it is emptied and every handle formed again,
 * recycleCodeWindows), so the code cache and the run loop can tell RIPs there apart.
 * It decodes exactly while off stays within +-CODE_WIN (64 GiB): ripOf forms it with off below 32 GiB, and the run
 * loop forms it again at every block it looks up (run-loop.ts lookupFar), so a block's straight-line run and a
 * rel32 branch from it stay well inside. It is not an integer, and bigHalves() decodes it, so every slow path that
 * takes a data handle takes it too (fetch, rip-relative operands), and beyond +-2^47, so canonicalTarget() sends
 * rip + rel from one to farTarget, which puts it back in normal form. RIPs within +-RIP_EDGE stay plain doubles.
 */
const CODE_ENC = 2 ** 48;
const CODE_WIN = 2 ** 36;
const CODE_STRIDE = 2 ** 37;
/**
 * The table's room, and how full it gets before it is recycled (recycleCodeWindows): at the next block lookup
 * there (run-loop.ts lookupFar), or before the host forms a handle (ripFromU64). Windows formed between (within one
 * block: a branch ends it) take the room above CODE_KEEP.
 */
const CODE_SLOTS = 512;
const CODE_KEEP = 256;
let codeBase = new Int32Array(CODE_SLOTS);
let codeSlot = new Map<number, number>();
/** The vCPUs that formed a code handle (EmuCpu.codeHandles): the holders of every handle there is. */
const holders: WeakRef<EmuCpu>[] = [];

/**
 * The 32 GiB windows next to +-2^53 hold code handles too (run-loop.ts lookupSlow sends a plain RIP there to
 * lookupFar, which makes it one): straight-line code and branches there then cross +-2^53 exactly, and compiled
 * code, which runs only at plain RIPs, lies too far below for a rel32 branch to reach across.
 */
export const RIP_EDGE = Pow.Two53 - 2 ** 35;

/** The RIP representation of the canonical address hi:lo for vCPU `c`: its double within +-RIP_EDGE, a code handle beyond. */
export function ripOf(hi: number, lo: number, c: EmuCpu): number {
  if (hi >= -0x1f_fff8 && hi < 0x1f_fff8) return hi * Pow.Two32 + (lo >>> 0);
  if (!c.codeHandles) {
    c.codeHandles = true;
    holders.push(new WeakRef(c));
  }
  return codeHandle(hi, lo, c);
}

function codeHandle(hi: number, lo: number, c: EmuCpu): number {
  const base = hi & ~7;
  let k = codeSlot.get(base);
  if (k === undefined) {
    k = codeSlot.size;
    if (k === CODE_SLOTS) {
      // Only when the vCPUs alive hold handles in more windows than this, or a block formed 256 new ones.
      return emuLimit(c, `emu: code at 0x${ripU64Of(hi, lo).toString(16)} would need more than ${CODE_SLOTS} 32 GiB code windows beyond +-2^53 at once`);
    }
    codeSlot.set(base, k);
    codeBase[k] = base;
  }
  return CODE_ENC + k * CODE_STRIDE + CODE_WIN + (hi - base) * Pow.Two32 + (lo >>> 0) + 0.5;
}

/** Whether the table of code windows is to be recycled (recycleCodeWindows) at the next safe point. */
export function codeWindowsFull(): boolean {
  return codeSlot.size >= CODE_KEEP;
}

/**
 * Empties the table of code windows and forms every code handle again in the new one: the RIP, BIP, LSTAR, CSTAR,
 * SYSENTER_EIP and the debug stub's stop and resume addresses of every vCPU that formed one (nothing else holds a
 * handle across blocks: blocks are kept by physical address, pushed RIPs and saved states are exact 64-bit values).
 * Only where no handle lives in a local: between blocks (run-loop.ts lookupFar) or from the host (ripFromU64).
 */
export function recycleCodeWindows(): void {
  const old = codeBase;
  codeBase = new Int32Array(CODE_SLOTS);
  codeSlot = new Map();
  let n = 0;
  for (const r of holders) {
    const c = r.deref();
    if (c === undefined) continue;
    holders[n++] = r;
    c.rip = formedAgain(c, c.rip, old);
    c.bip = formedAgain(c, c.bip, old);
    c.lstar = formedAgain(c, c.lstar, old);
    c.cstar = formedAgain(c, c.cstar, old);
    c.sysenterEip = formedAgain(c, c.sysenterEip, old);
    c.hostResumeAt = formedAgain(c, c.hostResumeAt, old);
    c.hostStopAddr = formedAgain(c, c.hostStopAddr, old);
  }
  holders.length = n;
  recycles++;
}

let recycles = 0;

/** How many times the table of code windows was recycled in this process (tests). */
export function codeWindowRecycles(): number {
  return recycles;
}

/** `v` formed again in the new table where it is a code handle decoded by the old table `old`. */
function formedAgain(c: EmuCpu, v: number, old: Int32Array): number {
  if (!(v >= CODE_ENC) || Math.floor(v) === v) return v;
  codeHalves(v, old);
  return codeHandle(BIG.hi, BIG.lo, c);
}

/** RIP `rip` (a plain double or a code handle) formed again by ripOf from its exact halves. */
export function ripFormed(c: EmuCpu, rip: number): number {
  halvesOf(rip);
  return ripOf(BIG.hi, BIG.lo, c);
}

function ripU64Of(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** The exact halves of code handle `h` into BIG (by the table `t`: the current one but while it is recycled). */
function codeHalves(h: number, t: Int32Array = codeBase): void {
  const x = h - 0.5 - CODE_ENC;
  const k = Math.floor(x / CODE_STRIDE);
  const off = x - k * CODE_STRIDE - CODE_WIN;
  const oh = Math.floor(off / Pow.Two32);
  BIG.lo = off - oh * Pow.Two32;
  BIG.hi = (t[k]! + oh) | 0;
}

/** RIP `rip` (a double or a code handle) as an unsigned 64-bit value, exact (gdb, state saves). */
export function ripU64(rip: number): bigint {
  halvesOf(rip);
  return ripU64Of(BIG.hi, BIG.lo);
}

/**
 * Whether RIPs (or linear addresses of code) `a` and `b` are the same address, exactly: two code handles of one
 * address differ when one was formed by adding to a handle across a window's edge, and near +-2^53 one may be a
 * plain double.
 */
export function sameRip(a: number, b: number): boolean {
  if (a === b) return true;
  // NaN (no address) is none; two integers that differ are different addresses.
  if (a !== a || b !== b || (Math.floor(a) === a && Math.floor(b) === b)) return false;
  return ripU64(a) === ripU64(b);
}

/** The RIP representation of the 64-bit value `v` for vCPU `c`, from the host (its double; a code handle beyond +-RIP_EDGE). */
export function ripFromU64(v: bigint, c: EmuCpu): number {
  // The host's calls come between the vCPUs' blocks: a safe point to recycle the table at.
  if (codeWindowsFull()) recycleCodeWindows();
  return ripOf(Number(BigInt.asIntN(32, v >> 32n)), Number(BigInt.asUintN(32, v)), c);
}

/** Next-instruction RIP for handler `x` (bip + x.end, wrapped to the code size). */
export function nextIp(c: EmuCpu, x: Insn): number {
  return addIp(c.bip, x.end, c.codeSize);
}


/**
 * Linear addresses beyond +-2^53 (5-level paging: canonical 57-bit addresses reach +-2^56), which a double
 * cannot hold exactly. Where one is formed (a memory operand, the stack, a string instruction's RSI/RDI) it
 * becomes a handle: a double that is not an integer, d + (s + 1) / 128, naming slot s of a small ring that
 * holds the exact address (int32 halves) and an integer displacement d from it. No TLB tag (an integer page)
 * matches a non-integer, so every fast path misses and the slow paths (big-lin.ts) take it exactly, finding its
 * page in the TLB by the exact halves; adding k to a handle adds k to its address, as the multi-part and
 * page-crossing paths do. A handle lives only within
 * the instruction that formed it (the ring is reused), so state that outlives one (CR2, the FS/GS bases)
 * keeps exact halves instead (cpu.ts bigAd). Addresses within +-2^53 stay the plain doubles they were.
 */
const BIG_SLOTS = 64;
const bigHi = new Int32Array(BIG_SLOTS);
const bigLo = new Int32Array(BIG_SLOTS);
let bigNext = 0;

/** The exact halves a decoded handle leaves (bigHalves, halvesOf): lo as uint32, hi as int32. */
export const BIG = { lo: 0, hi: 0 };

/** A handle for the exact address hi:lo (lo taken as uint32). */
export function bigHandle(hi: number, lo: number): number {
  const s = bigNext;
  bigNext = (s + 1) & (BIG_SLOTS - 1);
  bigHi[s] = hi;
  bigLo[s] = lo;
  return (s + 1) / 128;
}

/** Whether the address `lin` is a handle (not an integer). */
export function isBig(lin: number): boolean {
  return Math.floor(lin) !== lin;
}

/** The page address of the exact address hi:lo: a multiple of 4096 below 2^57, so an exact double (a TLB tag). */
export function exactPage(hi: number, lo: number): number {
  return hi * Pow.Two32 + (lo - (lo & 0xfff));
}

/** The exact halves of handle `h` into BIG. */
export function bigHalves(h: number): void {
  if (h >= CODE_ENC) return codeHalves(h);
  const d = Math.floor(h);
  const s = (h - d) * 128 - 1;
  const lo = (bigLo[s]! >>> 0) + d;
  const carry = Math.floor(lo / Pow.Two32);
  BIG.lo = lo - carry * Pow.Two32;
  BIG.hi = (bigHi[s]! + carry) | 0;
}

/** The exact halves of any address `a` (a handle, or an integer double exact within +-2^53) into BIG. */
export function halvesOf(a: number): void {
  if (isBig(a)) return bigHalves(a);
  const hi = Math.floor(a / Pow.Two32);
  BIG.lo = a - hi * Pow.Two32;
  BIG.hi = hi | 0;
}

/**
 * The address representation of the 64-bit value hi:lo: the exact double within +-2^53; a handle for a
 * canonical address beyond that (only under CR4.LA57); else the rounded double, which is not canonical at the
 * current depth and faults as such wherever it is used.
 */
export function linOf(c: EmuCpu, hi: number, lo: number): number {
  if (hi >= -0x20_0000 && hi < 0x20_0000) return hi * Pow.Two32 + (lo >>> 0);
  if (!nonCanonicalHi(c, hi)) return bigHandle(hi, lo);
  return hi * Pow.Two32 + (lo >>> 0);
}

/** A 4 KiB page number of the exact address hi:lo (45 bits under LA57, exact in a double). */
export function pageNumber(hi: number, lo: number): number {
  return hi * 0x10_0000 + (lo >>> 12);
}

/** Address register `r`'s exact halves (cpu.ts bigAd) where its double `v` is beyond +-2^53, into BIG. */
export function regHalves(c: EmuCpu, r: number, v: number): void {
  if (v > -Pow.Two53 && v < Pow.Two53) return halvesOf(v);
  BIG.lo = c.bigAd[2 * r]! >>> 0;
  BIG.hi = c.bigAd[2 * r + 1]!;
}

/** Sets address register `r`'s exact halves; returns the double to hold (exact within +-2^53, else rounded). */
export function regValue(c: EmuCpu, r: number, hi: number, lo: number): number {
  c.bigAd[2 * r] = lo;
  c.bigAd[2 * r + 1] = hi;
  return hi * Pow.Two32 + (lo >>> 0);
}

/** Address register `r` (double `v`, cpu.ts bigAd) as an unsigned 64-bit value, exact (state saves, gdb). */
export function regU64(c: EmuCpu, r: number, v: number): bigint {
  regHalves(c, r, v);
  return (BigInt(BIG.hi >>> 0) << 32n) | BigInt(BIG.lo);
}

/** Sets address register `r` to the 64-bit value `v`; returns its double (regValue). */
export function regFromU64(c: EmuCpu, r: number, v: bigint): number {
  return regValue(c, r, Number(BigInt.asIntN(32, v >> 32n)), Number(BigInt.asIntN(32, v)));
}

/** Address register `r` (double `v`) plus a small `off` as a linear address, exact (a handle beyond +-2^53). */
export function regPlus(c: EmuCpu, r: number, v: number, off: number): number {
  if (v > -Pow.Two52 && v < Pow.Two52) return v + off;
  regHalves(c, r, v);
  return plusBig(c, 0, off);
}

/**
 * BIG (halves left by halvesOf, regHalves or bigHalves) plus the 64-bit value hi:lo (lo a non-negative integer
 * below 2^33), wrapped at 2^64, as a linear address (linOf: a handle beyond +-2^53); the sum's halves stay in BIG.
 */
export function plusBig(c: EmuCpu, hi: number, lo: number): number {
  const l = BIG.lo + lo;
  const carry = Math.floor(l / Pow.Two32);
  BIG.lo = l - carry * Pow.Two32;
  BIG.hi = (BIG.hi + hi + carry) | 0;
  return linOf(c, BIG.hi, BIG.lo);
}

/** Whether address `a` (a handle too) is not a multiple of `n` (a power of two up to 4096): alignment checks. */
export function misaligned(a: number, n: number): boolean {
  if (Math.floor(a) === a) return a % n !== 0;
  bigHalves(a);
  return BIG.lo % n !== 0;
}
