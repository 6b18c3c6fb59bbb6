/**
 * Debug features: DR0-DR3 breakpoints as DR7 enables them (instruction, data write, data
 * read/write, I/O), DR6 status, DR7.GD, and the host debug client's own breakpoints, watchpoints
 * and single-step (the gdb stub). All of it costs nothing while `EmuCpu.debugArmed` is false;
 * while it is true the run loop goes through debug-step.ts, and compiled blocks run only while data
 * watchpoints and breakpoints alone are armed (compiledWhileArmed).
 *
 * Data breakpoints and watchpoints guard their linear pages instead of checking every access:
 * those pages get no read/write TLB entries (tlb.ts `fill`), so their accesses take the slow
 * paths of mem-access.ts, which call `dataAccess` here.
 */
import type { EmuCpu } from './cpu.js';
import { BigAd, CR4_DE } from './x86-defs.js';
import { BIG, RIP_EDGE, halvesOf, pageNumber, regHalves, ripU64 } from './address.js';
import { Bit } from './flags.js';
import { flushTlb } from './tlb.js';

/** DR7 R/W field values (SDM 18.2.4). */
export const enum BpKind {
  Off = -1,
  Exec = 0,
  Write = 1,
  Io = 2,
  ReadWrite = 3,
}

/** A host (debug client) watchpoint on linear addresses. */
export interface HostWatch {
  readonly lin: number;
  readonly len: number;
  /** 'write' (gdb Z2), 'read' (Z3) or 'access' (Z4). */
  readonly kind: 'write' | 'read' | 'access';
  /** The exact unsigned 64-bit address, where `lin` (a double) cannot hold it: beyond +-2^53 under 5-level paging. */
  readonly addr?: bigint;
}

/**
 * The host's instruction breakpoints (gdb Z0 and Z1 alike: the guest's memory is never patched), kept exactly as
 * unsigned 64-bit linear addresses: beyond +-2^53 (5-level paging) a double cannot hold one, and a RIP there is a
 * code handle (address.ts ripOf), which no double equals.
 */
export class HostBreakpoints {
  /** The addresses within +-2^53 as linear-address doubles (signed canonical): what ipLin gives at a plain RIP. */
  private readonly near = new Set<number>();
  /** All of them, unsigned. */
  private readonly exact = new Set<bigint>();
  /** How many lie beyond +-RIP_EDGE, where RIP is a code handle. */
  private far = 0;

  get size(): number {
    return this.exact.size;
  }

  add(a: bigint): void {
    a = BigInt.asUintN(64, a);
    if (this.exact.has(a)) return;
    this.exact.add(a);
    this.place(a, 1);
  }

  delete(a: bigint): void {
    a = BigInt.asUintN(64, a);
    if (this.exact.delete(a)) this.place(a, -1);
  }

  /** Enters (k = 1) or drops (k = -1) the exact address `a` in `near` and the count `far`. */
  private place(a: bigint, k: 1 | -1): void {
    const s = BigInt.asIntN(64, a);
    if (s > -(1n << 53n) && s < 1n << 53n) {
      if (k === 1) this.near.add(Number(s));
      else this.near.delete(Number(s));
    }
    if (s >= BigInt(RIP_EDGE) || s < -BigInt(RIP_EDGE)) this.far += k;
  }

  clear(): void {
    this.near.clear();
    this.exact.clear();
    this.far = 0;
  }

  /** Whether one is at the unsigned 64-bit address `a`. */
  has(a: bigint): boolean {
    return this.exact.has(BigInt.asUintN(64, a));
  }

  /** Whether one is at linear address `lin` (a RIP's: a plain double, or a code handle beyond +-RIP_EDGE). */
  at(lin: number): boolean {
    if (this.near.has(lin)) return true;
    // Only a code handle (not an integer) needs its exact value; a plain RIP was looked up above.
    return this.far !== 0 && Math.floor(lin) !== lin && this.exact.has(ripU64(lin));
  }

  [Symbol.iterator](): IterableIterator<bigint> {
    return this.exact.values();
  }
}

/** What the host debug client asked of one vCPU (owned by the stub, read by the core). */
export interface HostDebug {
  readonly breakpoints: HostBreakpoints;
  readonly watches: HostWatch[];
  /** Stop after one instruction (gdb `s`). */
  step: boolean;
  /** Stop when `EmuCpu.instructions` reaches this count (-1: no such stop). */
  stopAt: number;
}

/** Why a vCPU stopped for the host debug client (EmuCpu.hostStop). */
export const enum HostStop {
  None = 0,
  Breakpoint = 1,
  Step = 2,
  Watch = 3,
}

/** DR6 bits. */
export const DR6_BD = 1 << 13;
export const DR6_BS = 1 << 14;
/** DR7.GD: MOV DR faults with #DB (BD). */
export const DR7_GD = 1 << 13;
/** DR6 reads as this with no status bit set (RTM bit 16 set: no RTM). */
export const DR6_FIXED = 0xffff0ff0;

/** Length in bytes of DR7's LEN encoding 0..3. */
const LEN = [1, 2, 8, 4] as const;

/**
 * Recomputes the breakpoint tables from DR0-DR7, CR4.DE and the host's requests, the guarded
 * pages and `debugArmed`. Called when any of those change (MOV DR, CR4 writes, setRegisters,
 * the stub); the TLB is flushed when the guarded pages change. `host`: the debug client changed
 * its requests (the run must not notice: no interrupt check is forced, see rearm).
 */
export function refreshDebug(c: EmuCpu, host = false): void {
  const dr7 = c.dr[7]!;
  const pages = new Set<number>();
  let execs = 0;
  let ios = 0;
  for (let n = 0; n < 4; n++) {
    let kind: number = BpKind.Off;
    if (((dr7 >>> (2 * n)) & 3) !== 0) {
      kind = (dr7 >>> (16 + 4 * n)) & 3;
      if (kind === BpKind.Io && (c.cr4 & CR4_DE) === 0) kind = BpKind.Off;
    }
    const len = kind === BpKind.Exec ? 1 : LEN[(dr7 >>> (18 + 4 * n)) & 3]!;
    // The address is aligned to its length (the processor ignores the low bits).
    const a = c.dr[n]!;
    const base = kind === BpKind.Exec || kind === BpKind.Io ? a : a - (a % len);
    c.bpKind[n] = kind;
    c.bpLen[n] = len;
    c.bpAddr[n] = kind === BpKind.Io ? base % 0x10000 : canonicalLin(base);
    // Exactly too, as page and offset: a DR beyond +-2^53 keeps exact halves (BigAd.Dr0), a double does not.
    regHalves(c, BigAd.Dr0 + n, a);
    const lo = kind === BpKind.Exec ? BIG.lo : BIG.lo - (BIG.lo % len);
    c.bpPage[n] = pageNumber(BIG.hi, lo);
    c.bpOff[n] = lo & 0xfff;
    if (kind === BpKind.Exec) execs++;
    if (kind === BpKind.Io) ios++;
    if (kind === BpKind.Write || kind === BpKind.ReadWrite) addPages(pages, c.bpAddr[n]!, len);
  }
  c.guestBps = execs + ios + pages.size;
  const h = c.hostDebug;
  if (h !== null) for (const w of h.watches) addPages(pages, w.lin, w.len);
  c.bpExecCount = execs + (h !== null ? h.breakpoints.size : 0);
  c.bpIoCount = ios;
  let changed = pages.size !== c.watchPages.size;
  if (!changed) for (const p of pages) if (!c.watchPages.has(p)) changed = true;
  if (changed) {
    c.watchPages = pages;
    flushTlb(c, true);
  }
  if (host) updateArmed(c);
  else rearm(c);
}

/**
 * Recomputes `debugArmed` alone (TF/RF changed, a host step was asked or finished) and, while the
 * guest's own debug features are armed, has interrupts checked before the next block.
 */
export function rearm(c: EmuCpu): void {
  if (updateArmed(c)) c.pollAt = 0;
}

/**
 * Recomputes `debugArmed`; returns whether the guest's own debug features (DR breakpoints, TF, RF, a
 * trap held by a MOV SS shadow) arm it, which a run without a debug client does too. The host's
 * breakpoints, watchpoints, steps and a trap held for a host stop arm it without changing the run.
 */
export function updateArmed(c: EmuCpu): boolean {
  const h = c.hostDebug;
  const guest = c.guestBps !== 0 || (c.flags & (Bit.TF | Bit.RF)) !== 0 || (c.dbPending !== 0 && c.shadow);
  c.debugArmed = guest || c.bpExecCount !== 0 || c.watchPages.size !== 0 || c.dbPending !== 0 || (h !== null && (h.step || h.stopAt >= 0));
  return guest;
}

function addPages(pages: Set<number>, lin: number, len: number): void {
  const first = Math.floor(lin / 4096);
  const last = Math.floor((lin + len - 1) / 4096);
  for (let p = first; p <= last; p++) pages.add(p * 4096);
}

/** DR values are 64-bit; linear addresses in long mode are the signed canonical number (cpu.ts). */
function canonicalLin(v: number): number {
  return v >= 2 ** 63 ? v - 2 ** 64 : v;
}

/**
 * Whether a compiled block may run while debug features are armed: no instruction breakpoint lies in it
 * (debug-step.ts scan), no single step, and the tier is the wasm one, whose
 * inline accesses to a guarded page stop at the instruction (`guardedInline`) and whose handlers end the block
 * after an instruction that hit one (as after a store into the block's own code).
 */
export function compiledWhileArmed(c: EmuCpu): boolean {
  const h = c.hostDebug;
  // Not the rest of a cut block (debug-step.ts, c.restCap set): after GUARDED it starts at that instruction.
  return c.restCap === Infinity && (c.bpExecCount === 0 || c.bpClear) && (c.flags & (Bit.TF | Bit.RF)) === 0 && c.dbPending === 0 && (h === null || (!h.step && h.stopAt < 0)) && c.wasm !== null && !c.regions;
}

/**
 * Thrown by a compiled block's inline access to a guarded page (`guardedInline`) before it makes it, as a fault
 * would be: the block ends in front of that instruction, which the interpreter then runs with the checks.
 */
export const GUARDED = { guarded: true } as const;

/**
 * Whether an inline access of a compiled block (`size` bytes at `lin`) must leave it to the interpreter: while a
 * compiled block runs armed (EmuCpu.watchRun), one that touches a guarded page, crosses a page or lies beyond
 * +-2^53 (those pages are never in the TLB, so their accesses all come here).
 */
export function guardedInline(c: EmuCpu, lin: number, size: number): boolean {
  if (Math.floor(lin) !== lin || (lin & 0xfff) + size > 4096) return true;
  return c.watchPages.has(lin - (lin & 0xfff));
}

/** Linear page `page` (4 KiB aligned) is guarded: it must get no read/write TLB entry. */
export function isWatchedPage(c: EmuCpu, page: number): boolean {
  return c.watchPages.has(page);
}

/**
 * A data access of `size` bytes at `lin` reached the slow path of a guarded page: records DR
 * matches (DR6 Bn, delivered as a trap once the instruction completes) and host watchpoint hits.
 * `write` is true for writes; reads include the read half of read-modify-write.
 */
export function dataAccess(c: EmuCpu, lin: number, size: number, write: boolean): void {
  const end = lin + size;
  for (let n = 0; n < 4; n++) {
    const k = c.bpKind[n]!;
    if (k !== BpKind.ReadWrite && (k !== BpKind.Write || !write)) continue;
    const a = c.bpAddr[n]!;
    if (lin < a + c.bpLen[n]! && a < end) {
      c.dbHits |= 1 << n;
      c.smc = true; // the trap is taken after this instruction: end the block there
      c.watchCut = false; // in any run
    }
  }
  const h = c.hostDebug;
  if (h === null || c.hostStop !== HostStop.None) return;
  for (const w of h.watches) {
    if (w.kind === 'write' ? !write : w.kind === 'read' ? write : false) continue;
    if (lin < w.lin + w.len && w.lin < end) return watchHit(c, w);
  }
}

/** Stops the vCPU at watch `w` after the current instruction. */
function watchHit(c: EmuCpu, w: HostWatch): void {
  c.hostStop = HostStop.Watch;
  c.hostStopAddr = w.lin;
  c.hostStopWatch = w.kind;
  c.hostStopWatchAddr = w.addr;
  // End the block after this instruction (the run loop's self-modifying-code exit); unless something
  // else ends it there anyway, what of it is left runs when the vCPU goes on (no interrupt check between).
  if (!c.smc) c.watchCut = true;
  c.smc = true;
}

/**
 * dataAccess for an access beyond +-2^53 (a handle's exact halves hi:lo, big-lin.ts). Such pages never enter the
 * main TLB, so no page needs guarding; the match is exact: page numbers and offsets, as doubles cannot hold these.
 */
export function dataAccessBig(c: EmuCpu, hi: number, lo: number, size: number, write: boolean): void {
  const page = pageNumber(hi, lo);
  const off = lo & 0xfff;
  for (let n = 0; n < 4; n++) {
    const k = c.bpKind[n]!;
    if (k !== BpKind.ReadWrite && (k !== BpKind.Write || !write)) continue;
    if (overlaps(c.bpPage[n]! - page, c.bpOff[n]! - off, size, c.bpLen[n]!)) {
      c.dbHits |= 1 << n;
      c.smc = true;
      c.watchCut = false;
    }
  }
  const h = c.hostDebug;
  if (h === null || c.hostStop !== HostStop.None) return;
  for (const w of h.watches) {
    if (w.kind === 'write' ? !write : w.kind === 'read' ? write : false) continue;
    let wPage: number;
    let wOff: number;
    if (w.addr !== undefined) {
      wPage = Number(BigInt.asIntN(64, w.addr) >> 12n);
      wOff = Number(w.addr & 0xfffn);
    } else {
      halvesOf(w.lin);
      wPage = pageNumber(BIG.hi, BIG.lo);
      wOff = BIG.lo & 0xfff;
    }
    if (overlaps(wPage - page, wOff - off, size, w.len)) return watchHit(c, w);
  }
}

/**
 * Whether a breakpoint [b, b + bpLen) and an access [a, a + size) overlap, given b - a as page and offset
 * differences (each exact; their sum is exact whenever the pages are near, and far beyond both lengths if not).
 */
function overlaps(dPage: number, dOff: number, size: number, bpLen: number): boolean {
  const rel = dPage * 4096 + dOff;
  return rel < size && -rel < bpLen;
}

/** An IN/OUT/INS/OUTS of `size` bytes at `port` completed: DR I/O breakpoints (CR4.DE) match. */
export function ioAccess(c: EmuCpu, port: number, size: number): void {
  for (let n = 0; n < 4; n++) {
    if (c.bpKind[n] !== BpKind.Io) continue;
    const a = c.bpAddr[n]!;
    if (port < a + c.bpLen[n]! && a < port + size) {
      c.dbHits |= 1 << n;
      c.smc = true;
      c.watchCut = false;
    }
  }
}

/**
 * The DR instruction breakpoints matching linear address `lin` (DR6 B bits), 0 if none. The
 * host's breakpoints are checked by the caller.
 */
export function execMatch(c: EmuCpu, lin: number): number {
  let m = 0;
  if (Math.floor(lin) !== lin) {
    // A RIP beyond +-2^53 (a code handle, address.ts ripOf): matched exactly, by page number and offset.
    halvesOf(lin);
    const page = pageNumber(BIG.hi, BIG.lo);
    const off = BIG.lo & 0xfff;
    for (let n = 0; n < 4; n++) if (c.bpKind[n] === BpKind.Exec && c.bpPage[n] === page && c.bpOff[n] === off) m |= 1 << n;
    return m;
  }
  for (let n = 0; n < 4; n++) if (c.bpKind[n] === BpKind.Exec && c.bpAddr[n] === lin) m |= 1 << n;
  return m;
}

/** Sets DR6 status bits for a #DB about to be delivered (B0-B3 and BD/BS/BT are sticky until software clears them). */
export function setDr6(c: EmuCpu, bits: number): void {
  c.dr[6] = ((c.dr[6]! | bits | DR6_FIXED) & 0xffffefff) >>> 0;
  // Entering the #DB handler clears GD so the handler itself can use the debug registers.
  c.dr[7] = (c.dr[7]! & ~DR7_GD) >>> 0;
}
