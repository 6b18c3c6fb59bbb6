/**
 * The run loop: block lookup through the jump cache and the code cache, interrupt polling,
 * INIT/SIPI, single-step, per-block execution (compiled function or the interpreter loop with
 * hot register forms inline), retirement counts and PMU counting.
 */
import type { EmuCpu, EmuPmuHook } from './cpu.js';
import { Block, Insn } from './insn.js';
import { FAULT, type RunResult, VEC_NMI, K, Seg, Pow, Tlb, VLin, jcSlot } from './x86-defs.js';
import { deliver, deliverPendingFault } from './exceptions.js';
import { fetchPhys } from './mem-access.js';
import { decodeBlock } from './decoder.js';
import { Bit } from './flags.js';
import { RIP_EDGE, addIp, codeWindowsFull, recycleCodeWindows, ripFormed } from './address.js';
import { compileBlock } from './block-compiler.js';
import { wasmBlockHot, wasmFlush } from './jit/wasm-compiler.js';
import { blockGotHot } from './jit/page-regions.js';
import { execRegion } from './jit/exec-region.js';
import {
  add32ri, add32rr, aluEG, aluEI, aluGE, cmp32ri, cmp32rr, incdec32r, lea, lea64, logic32ri, logic32rr, mov32load, mov32rr, mov32store,
  mov64load, mov64store, movEG, movEI, movGE, movRI, movsx, movzx, sub32ri, sub32rr, testEG, testEI,
} from './ops-alu.js';
import { callRel, callRel64, jmpE, jmpRel, jnz, jz, pop32r, pop64r, push32r, push64r, relTarget, ret64, retNear } from './ops-flow.js';
import { shift32ri, shiftE } from './ops-shift.js';
import { imulGE, imulGEI } from './ops-muldiv.js';
import { cond } from './lazy-flags.js';
import { debugExec } from './debug-step.js';
import { linkValidity } from './jit/link-validity.js';
import { GUARDED, HostStop, compiledWhileArmed, rearm } from './debug-regs.js';

/**
 * Where execBlock puts what it loads ahead of time (a software prefetch: see there). Nothing reads it; it is
 * exported so that neither tsc nor V8 treats the loads as dead code. A typed array: a module-level `let` boxes
 * each value outside the small-integer range (a kernel address's low half) in a new heap number.
 */
export const aheadSink = new Int32Array(1);

/** What the last execBlock call ran, beside the block it entered and returns (see ranHow). */
const enum Ran {
  /** The block it returns (or part of it). */
  Entered = 0,
  /** A chained compiled run that ended in another block: `ranLast`. */
  Other = 1,
  /** A compiled region: no block to follow with a successor. */
  None = 2,
}

/**
 * How the last execBlock call ended (Ran) and, for Ran.Other, the block a chained run ended in. execBlock returns
 * the block entered at RIP, which runOn remembers as the successor of the block before it; the block that ran
 * last, whose successors runOn tries next, is that one unless ranHow says otherwise. A small integer: a block
 * stored per run (as the entered block was) cost a write barrier each time, a stub call while the block was young.
 */
let ranHow: Ran = Ran.Entered;
let ranLast: Block | null = null;

/** Instructions between checks for pending interrupts (handlers that may unmask one force a check). */
const POLL_INTERVAL = 2048;

/** Whether `pmu` counts order-free (EmuPmuHook.orderFree); a hook that does not say counts per block, always exact. */
function pmuOrderFree(pmu: EmuPmuHook): boolean {
  return pmu.orderFree === true;
}

/** Linear address of RIP. */
export function ipLin(c: EmuCpu): number {
  if (c.codeSize === 8) return c.rip;
  const a = c.segBase[Seg.CS]! + c.rip;
  return a >= Pow.Two32 ? a - Pow.Two32 : a;
}

/**
 * Whether block `b` (from the jump cache or a chain) runs at linear `lin` now: found there through a
 * translation at this CPL, with no CR3 write since (or none that drops it: a global page), no INVLPG of
 * its page, still valid and decoded for this mode.
 */
export function jcValid(c: EmuCpu, b: Block, lin: number): boolean {
  const lo = lin | 0;
  return jcOk(c, b, lo, (lin - lo) / Pow.Two32);
}

/** jcValid with the linear address as its halves: `lo` = lin | 0, `hi` = (lin - lo) / 2^32 (Block.vLo/vHi). */
function jcOk(c: EmuCpu, b: Block, lo: number, hi: number): boolean {
  return b.vLo === lo && b.vHi === hi && b.valid && b.mode === c.modeKey && b.vCpl === c.cpl && (b.vEp === c.jcEpoch || b.vEpG === c.jcEpochG);
}

/** Marks `b` as found at linear `lin` (see jcValid). */
function setVLin(b: Block, lin: number): void {
  const lo = lin | 0;
  b.vLo = lo;
  // | 0: the quotient is an integer but a double (a heap number in unoptimized code); stored as one, it
  // would make vHi a boxed double field in every Block (Insn.end in decoder.ts).
  b.vHi = ((lin - lo) / Pow.Two32) | 0;
}

export function lookupBlock(c: EmuCpu): Block {
  const lin = ipLin(c);
  const j = jcSlot(lin, c.cpl);
  const b = c.jcBlock[j];
  if (b !== undefined && jcValid(c, b, lin)) return b;
  return lookupSlow(c, lin, j);
}

export function lookupSlow(c: EmuCpu, lin: number, j: number): Block {
  // A code handle, or a plain RIP in the windows next to +-2^53 (only 64-bit code gets there: address.ts RIP_EDGE).
  if (Math.floor(lin) !== lin || lin >= RIP_EDGE || lin < -RIP_EDGE) return lookupFar(c, lin);
  const pa = fetchPhys(c, lin);
  const old = c.jcBlock[j];
  let nb: Block | undefined;
  // After a CR3 write the slot's block is still the one when its page maps where it did (no code-cache lookup).
  if (old !== undefined && old.phys === pa && old.valid && old.mode === c.modeKey && tailMaps(c, old, lin)) nb = old;
  else {
    nb = c.cache.get(pa, c.modeKey);
    if (nb !== undefined && !tailMaps(c, nb, lin)) nb = undefined;
    if (nb === undefined) {
      nb = decodeBlock(c, lin, pa);
      // Only kept blocks go to the jump cache; one that is not kept runs this once (its page is tracked).
      if (!nb.valid || !c.cache.put(nb, c)) return nb;
    }
  }
  if (nb.valid) {
    // A block is valid at its vLin only while a slot holds it (invlpg in tlb.ts finds them through jcTag).
    if (old !== undefined && old !== nb) {
      old.vHi = VLin.None;
      if (old.wl !== null) linkValidity(old);
    }
    c.jcTag[j] = lin;
    c.jcBlock[j] = nb;
    setVLin(nb, lin);
    nb.vCpl = c.cpl;
    nb.vEp = c.jcEpoch;
    // Global when the fetch went through a global TLB entry and the block stays on that page.
    const t = ((lin >>> 12) & Tlb.Mask) | c.tlbUser;
    nb.vEpG = c.tlbTagX[t] === lin - (lin & 0xfff) && c.tlbGlobal[t] === 1 && (lin & 0xfff) + nb.len <= 4096 ? c.jcEpochG : -1;
    if (nb.wl !== null) linkValidity(nb);
  }
  return nb;
}

/** The code cache's mode key of blocks run at a RIP beyond +-2^53 (decoded as 64-bit code, modeKey 2). */
const FAR_MODE = 3;

/**
 * The block at a RIP beyond +-RIP_EDGE (a code handle, address.ts ripOf; lin may be a plain RIP there). Such blocks are kept apart (their own mode
 * key, so a block compiled at another mapping of the same bytes is never entered here with a code handle for its
 * bip), never compiled (Block.crosses) and never in the jump cache (its tags are doubles): each run looks it up
 * through the TLB's exact entry and the code cache. A page write invalidates them as any other.
 */
function lookupFar(c: EmuCpu, lin: number): Block {
  // Between blocks no code handle lives in a local (lin is c.rip in 64-bit code): the table may be recycled here.
  if (codeWindowsFull()) {
    recycleCodeWindows();
    lin = c.rip;
  }
  // Formed again from its halves: its offset in its window starts small each block (address.ts ripOf), and a
  // plain RIP next to +-2^53 becomes a handle.
  lin = c.rip = ripFormed(c, lin);
  const pa = fetchPhys(c, lin);
  let nb = c.cache.get(pa, FAR_MODE);
  if (nb !== undefined && (!nb.valid || !tailMaps(c, nb, lin))) nb = undefined;
  if (nb === undefined) {
    nb = decodeBlock(c, lin, pa, FAR_MODE);
    nb.crosses = true;
    if (nb.valid) c.cache.put(nb, c);
  }
  return nb;
}

/**
 * Whether block `b`, found for linear `lin`, runs there: a block whose instruction crosses into the next page
 * (Block.phys2) only while that page still maps where it did when it was decoded.
 */
function tailMaps(c: EmuCpu, b: Block, lin: number): boolean {
  if (b.phys2 < 0) return true;
  const first = 4096 - (b.phys % 4096);
  const pa2 = fetchPhys(c, c.long64 ? lin + first : (lin + first) % Pow.Two32);
  return pa2 - (pa2 % 4096) === b.phys2;
}

/** Remembers that `b` ran after `prev` (two successors: a conditional branch's both ways). */
function chain(prev: Block, b: Block): void {
  const n0 = prev.next0;
  if (n0 === b || prev.next1 === b) return;
  if (n0 === null || n0.vHi === VLin.None || !n0.valid) prev.next0 = b;
  else prev.next1 = b;
}

/** Checks for a deliverable external interrupt / NMI between instructions. */
export function checkInterrupts(c: EmuCpu): boolean {
  const apic = c.apic;
  if (apic === undefined) return false;
  // NMIs are blocked from the delivery of one until the next IRET (one more stays pending meanwhile).
  if (!c.nmiBlocked && apic.takeNmi()) {
    c.counts.nmi++;
    c.halted = false;
    deliver(c, VEC_NMI, -1, false, true);
    c.nmiBlocked = true;
    return true;
  }
  if ((c.flags & Bit.IF) !== 0 && apic.hasInterrupt()) {
    const v = apic.acknowledge();
    if (v < 0) return false;
    c.counts.interrupts++;
    c.halted = false;
    deliver(c, v, -1, false, true);
    return true;
  }
  return false;
}

/** Handles INIT/SIPI from the local APIC; returns true when the vCPU can run. */
export function serviceInitSipi(c: EmuCpu): boolean {
  const apic = c.apic;
  if (apic === undefined) return !c.waitSipi;
  if (apic.takeInit()) {
    c.counts.init++;
    c.reset();
    c.waitSipi = true;
    c.halted = false;
  }
  if (c.waitSipi) {
    const v = apic.takeSipi();
    if (v < 0) return false;
    c.counts.sipi++;
    c.waitSipi = false;
    c.setSegRaw(Seg.CS, v << 8, v << 12, 0xffff, 0x9b);
    c.rip = 0;
  }
  return true;
}

/** True when an event would wake a HLTed vCPU now. */
export function wakeable(c: EmuCpu): boolean {
  const apic = c.apic;
  if (apic === undefined) return false;
  return ((c.flags & Bit.IF) !== 0 && apic.hasInterrupt()) || (!c.nmiBlocked && apic.hasNmi());
}

/**
 * Runs up to `budget` instructions. Returns why it stopped. Instructions retired are
 * added to `instructions`.
 */
export function run(c: EmuCpu, budget: number): RunResult {
  const r = runSlice(c, budget);
  // Counts merged by countPmu reach the PMU before anyone outside the run can read it.
  if (c.pmuPendPlain + c.pmuPendBranches !== 0) pmuFlushPending(c);
  return r;
}

/** Goes on with a slice that a stop point paused ('paused' from run() or runMore()); see runOn. */
export function runMore(c: EmuCpu): RunResult {
  const r = runOn(c);
  if (c.pmuPendPlain + c.pmuPendBranches !== 0) pmuFlushPending(c);
  return r;
}

export function runSlice(c: EmuCpu, budget: number): RunResult {
  c.breakRun = false;
  // The budget counts instructions and REP iterations (work), so a long REP ends slices too.
  c.sliceEnd = c.instructions + c.stringIters + budget;
  if (!serviceInitSipi(c)) return 'hlt';
  c.pollAt = 0;
  c.pmuLeft = 0; // the host may have programmed the PMU or replaced it since the last run
  c.pmuMerge = false;
  return runOn(c);
}

/**
 * Runs the slice on to its end, from its start or from where a stop point left it. With a stop point
 * (c.stopAt >= 0, instructions retired) it returns 'paused' once exactly that many have retired and the
 * slice is not over: everything the slice would do next is left as it was, so calling runOn again
 * (in this VM or in one restored from a snapshot of it) goes on exactly as if it never stopped.
 */
export function runOn(c: EmuCpu): RunResult {
  const end = c.sliceEnd;
  for (;;) {
    // The work count at which c.stopAt instructions have retired, unless REP iterations come first.
    const stop = c.stopAt < 0 || c.stopAt + c.stringIters >= end ? end : c.stopAt + c.stringIters;
    c.stopWork = stop;
    if (c.blockRest !== 0 || c.hostCont) {
      runRest(c, stop);
      if (c.hostStop !== HostStop.None) return 'paused'; // stopped again for the debug client (debug-step.ts)
    }
    // The block that ran last (null after anything but a block): its successors are tried first.
    let prev: Block | null = null;
    while (c.instructions + c.stringIters < stop) {
      if (c.breakRun) return breakResult(c);
      if (c.instructions >= c.pollAt || c.shadow || c.halted) {
        if (c.shadow) {
          // Interrupt shadow: one more instruction before interrupts are recognized.
          c.shadow = false;
          c.pollAt = 0;
          if (!c.halted) {
            if (c.debugArmed) {
              c.shadow = true; // debugExec holds back #DB traps over the shadow itself
              debugExec(c, 1);
              if (c.hostCont) {
                // Stopped for the debug client in front of the instruction: the shadow path runs it when the slice goes on.
                c.hostCont = false;
                return 'paused';
              }
              c.shadow = false;
            } else execBlock(c, 1, null);
            c.blockRest = 0; // one instruction is all this path runs, stop point or not
            if (c.hostStop !== HostStop.None) return 'paused';
          }
          prev = null;
          continue;
        }
        c.pollAt = c.instructions + POLL_INTERVAL;
        if (c.apic !== undefined) {
          try {
            checkInterrupts(c);
          } catch (e) {
            if (e !== FAULT) throw e;
          }
          if (c.breakRun) continue;
        }
        if (c.halted) return 'hlt';
        // TF or RF set (putFlags forces this poll): the debug path single-steps / clears RF.
        if ((c.flags & (Bit.TF | Bit.RF)) !== 0 && !c.debugArmed) rearm(c);
      }
      if (c.debugArmed) {
        debugExec(c, stop - c.instructions - c.stringIters);
        // A stop for the debug client is a stop point: the slice goes on from there (runRest).
        if (c.hostStop !== HostStop.None) return 'paused';
        prev = null;
        continue;
      }
      // The successors of the last block, then the jump cache, inline (the common cases); misses and fetch
      // faults go through execBlock.
      let lin = c.rip;
      if (c.codeSize !== 8) {
        lin += c.segBase[Seg.CS]!;
        if (lin >= Pow.Two32) lin -= Pow.Two32;
      }
      const left = stop - c.instructions - c.stringIters;
      const lo = lin | 0;
      const hi = (lin - lo) / Pow.Two32;
      let b: Block | null | undefined = null;
      if (prev !== null) {
        b = prev.next0;
        if (b === null || !jcOk(c, b, lo, hi)) {
          b = prev.next1;
          if (b !== null && !jcOk(c, b, lo, hi)) b = null;
        }
      }
      if (b === null) {
        b = c.jcBlock[jcSlot(lin, c.cpl)];
        if (b === undefined || !jcOk(c, b, lo, hi)) b = null;
      }
      const e = execBlock(c, left, b);
      let ran = e;
      if (ranHow !== Ran.Entered) {
        ran = ranHow === Ran.Other ? ranLast : null;
        ranLast = null;
      }
      // The successor is the block entered at RIP, not the one a chained run ended in: remembering that one (it
      // never starts at RIP) left every block before a compiled callee without a successor (a jump-cache lookup
      // each time).
      if (prev !== null && ran !== null && e !== null && e.vLo === lo && e.vHi === hi) chain(prev, e);
      prev = ran;
    }
    if (stop === end) break;
    if (c.instructions >= c.stopAt) return 'paused';
    // REP iterations took some of the work: on to the stop point.
  }
  if (c.breakRun) return breakResult(c);
  return c.halted ? 'hlt' : 'budget';
}

/**
 * Runs what a stop point cut off the block in flight (c.blockRest instructions), without the checks
 * between blocks, which the uninterrupted run does not make there either; or, after a stop for the
 * debug client in front of an instruction (c.hostCont), the block from there.
 */
function runRest(c: EmuCpu, stop: number): void {
  const room = stop - c.instructions - c.stringIters;
  if (room <= 0) return;
  if (c.debugArmed) {
    debugExec(c, room); // with the debug checks (it knows c.blockRest and c.hostCont)
    return;
  }
  c.hostCont = false;
  const rest = c.blockRest;
  c.blockRest = 0;
  if (rest === 0) {
    execBlock(c, room, null);
    return;
  }
  c.restCap = rest;
  c.segOff = -c.restSeg;
  execBlock(c, rest < room ? rest : room, null);
  c.restCap = Infinity;
}

/**
 * execBlock cut a block at the stop point (c.stopWork): records how many more of its instructions
 * the run would have run as part of it (its end, the slice's, or the PMU's bound, whichever first).
 */
function restAfterCut(c: EmuCpu, total: number, limit: number): void {
  let n = total < c.restCap ? total : c.restCap;
  const slice = c.sliceEnd - c.instructions - c.stringIters;
  if (slice < n) n = slice;
  const pmu = c.pmu;
  if (pmu !== null && pmu.active && c.pmuLeft < n) n = c.pmuLeft;
  c.blockRest = n > limit ? n - limit : 0;
}

/** Why a run stopped early: a triple fault, a fault storm (the slice just ends), or a stop request. */
function breakResult(c: EmuCpu): RunResult {
  if (c.shutdownReason !== '') return 'shutdown';
  if (c.faultStorm) {
    c.faultStorm = false;
    return 'budget';
  }
  return 'stop';
}

/** Takes back what a compiled block branched over (jit/wasm-skips.ts) from the counts it retired; those did not run. */
function unretireSkipped(c: EmuCpu, userIdx: number): void {
  c.instructions -= c.skipN;
  c.retired[userIdx]! -= c.skipN;
  c.branchesRetired[userIdx]! -= c.skipB;
  c.skipN = 0;
  c.skipB = 0;
}

/**
 * Executes (part of) one block: at most `limit` instructions. Returns the block entered at RIP (null: its fetch
 * faulted); a chained compiled run may end in another (ranHow).
 */
export function execBlock(c: EmuCpu, limit: number, found: Block | null): Block | null {
  ranHow = Ran.Entered; // runRest and debug-step call this too, and do not read it
  const pmu = c.pmu;
  if (pmu !== null && pmu.active) {
    // The bound shrinks by exactly what countPmu counts at one CPL, so it is asked for again only
    // when it ran out, the CPL changed or the PMU was programmed (pmuSync, run() start).
    if (c.pmuLeft <= 0 || c.pmuLeftCpl !== c.cpl) {
      if (c.pmuPendPlain + c.pmuPendBranches !== 0) pmuFlushPending(c);
      c.pmuMerge = pmuOrderFree(pmu);
      c.pmuLeft = pmu.instructionsUntilOverflow(c.cpl);
      c.pmuLeftCpl = c.cpl;
    }
    if (c.pmuLeft < limit) limit = c.pmuLeft;
  } else c.pmuLeft = 0;
  const end0 = c.instructions + limit;
  let blk: Block;
  try {
    blk = found !== null ? found : lookupBlock(c);
  } catch (e) {
    if (e !== FAULT) throw e;
    c.bip = c.rip;
    deliverPendingFault(c);
    return null;
  }
  const entry = blk;
  // The blocks likely to run next (the chain's successors): their first bytes are loaded now, to no use, so
  // that in code that runs warm (blocks not in the host's caches) those misses overlap with this block's work
  // instead of stalling the run loop's next check (jcOk). Measured 2-5% less CPU on idle Linux timer ticks.
  const n0 = blk.next0;
  if (n0 !== null) {
    const n1 = blk.next1;
    aheadSink[0] = n1 === null ? n0.vLo : n0.vLo ^ n1.vLo;
  }
  // The array only for what is rare (a cut, a fault, self-modifying code): the loop walks first/nx.
  let ins: readonly Insn[] = blk.insns;
  let total = blk.count;
  // Compiled regions, unless the PMU counts in order (EDGE): they count once when they leave.
  const regionOk = pmu === null || !pmu.active || c.pmuMerge;
  // A block crossing pages (Block.phys2) is one instruction: compiled by the wasm tier only, so that chained runs
  // and loops go through it (the JS tiers and regions know nothing of its second page). A block at a RIP beyond
  // +-2^53 (lookupFar, crosses set too) never is: compiled code takes bip as a double.
  if (blk.exec === null && c.compile && blk.valid && (!blk.crosses || (c.wasm !== null && !c.regions && blk.mode !== FAR_MODE)) && (blk.region === null || !regionOk)) {
    // Compiled before it runs for the jitThreshold-th time (at threshold 1, before its first run).
    const h = ++blk.hits;
    if (h === c.jitThreshold) {
      if (c.regions && regionOk) blockGotHot(c, blk);
      else if (c.wasm !== null) wasmBlockHot(blk, c.wasm, c.jitBatch, c.cache.jit, h >= c.jitLate);
      else blk.exec = compileBlock(blk, c.cache.jit);
    } else if (c.wasm !== null && (h === c.jitThreshold + (c.jitThreshold >> 2) + 1 || h === c.jitLate + (c.jitLate >> 2) + 1)) wasmFlush(c.wasm, c.cache.jit); // its batch is still not full
    else if (h === c.jitLate && c.wasm !== null) wasmBlockHot(blk, c.wasm, c.jitBatch, c.cache.jit, true); // not a self-loop: compiled later
    else if (h === 4 * c.jitThreshold + 64 && !regionOk) blk.exec = compileBlock(blk, c.cache.jit); // has a region it cannot use now
  }
  if (blk.region !== null && total <= limit && regionOk && !c.debugArmed) {
    execRegion(c, limit, blk);
    ranHow = Ran.None;
    return blk;
  }
  let n = total;
  if (total > limit) {
    n = limit | 0; // below total: a small integer, so that the loop below compares integers, not doubles
    // Cut short at a stop point (runOn) or for the debug client (debug-step.ts): what of the block is left is
    // run first when the slice goes on.
    if ((c.stopAt >= 0 && c.instructions + c.stringIters + limit === c.stopWork) || c.hostCut) restAfterCut(c, total, limit);
  }
  const bip = c.rip;
  c.bip = bip;
  const cs = c.codeSize;
  let nr = bip + (n === total ? blk.len : ins[n - 1]!.end);
  if (cs === 4) {
    if (nr >= Pow.Two32) nr -= Pow.Two32;
  } else if (cs === 2) nr &= 0xffff;
  else nr = addIp(bip, nr - bip, 8);
  c.rip = nr;
  if (c.runBlock !== blk) c.runBlock = blk; // c.curBlock = blk, without a store (a write barrier) when it ran last
  c.blockOn = 1;
  const userIdx = c.cpl === 3 ? 1 : 0;
  c.blockCpl = c.cpl;
  c.pmuCounted = 0;
  let i = 0;
  c.loops = 0;
  // Instructions and branches a chained run retired in the blocks before the one it ended in (jit/wasm-chain.ts).
  let chN = 0;
  let chB = 0;
  const i0 = c.instructions;
  const b0 = c.branchesRetired[userIdx]!;
  // Armed debug features run the interpreter, unless data watchpoints alone are armed (debug-step.ts).
  const compiled = blk.exec !== null && n === total && (!c.debugArmed || compiledWhileArmed(c));
  try {
    if (compiled) {
      c.ci = 0;
      c.watchRun = c.debugArmed;
      if (blk.selfLoop) {
        const room = (c.pollAt < end0 ? c.pollAt : end0) - c.instructions;
        // A counter that counts in order (EDGE) sees each pass as a block run of its own: no extra passes then.
        c.loopLimit = room > total && (pmu === null || !pmu.active || c.pmuMerge) ? Math.floor(room / total) : 1;
      }
      c.chainLimit = limit < 0x7fffffff ? limit : 0x7fffffff; // an int32 in the chain driver
      blk.exec!(c);
      c.watchRun = false;
      const last = c.chainLast;
      if (last !== null) {
        // A chained run (jit/wasm-chain.ts) ended in another block: the vCPU's counts are up to that block's start.
        c.chainLast = null;
        chN = c.instructions - i0;
        chB = c.branchesRetired[userIdx]! - b0;
        blk = last;
        ins = c.chainIns; // not blk.insns: a write to its page during the run may have dropped the block
        total = n = ins.length;
      }
      i = c.ci; // a compiled block that leaves early (side exit, self-modifying code) sets c.rip itself
      if (c.loops > 0) {
        c.instructions += c.loops * blk.loopLen;
        c.retired[userIdx]! += c.loops * blk.loopLen;
        c.branchesRetired[userIdx]! += c.loops * blk.loopBranches;
      }
      if (c.skipN !== 0) {
        // It branched over some of its instructions (jit/wasm-skips.ts): they did not retire.
        chN -= c.skipN;
        chB -= c.skipB;
        unretireSkipped(c, userIdx);
      }
      if (c.watchCut && i < total) {
        // A handler hit a host watchpoint (debug-regs.ts watchHit): as in interpret, the rest of the block is left to
        // run, timed from its basic block's start (the passes and what it branched over are in the counts already).
        c.blockRest = total - i;
        c.restSeg = c.instructions - i0 + i - c.segOff;
      }
      c.smc = false;
    } else i = interpret(c, blk, n, bip, cs);
  } catch (e) {
    c.blockOn = 0; // c.curBlock = null
    c.watchRun = false;
    const seg = c.segOff;
    c.segOff = 0;
    c.blockRest = 0; // a fault ends the block here in any run
    if (!compiled) i = faultAt;
    else {
      i = c.ci;
      const last = c.chainLast;
      if (last !== null) {
        c.chainLast = null;
        blk = last;
        ins = c.chainIns;
        chN = c.instructions - i0;
        chB = c.branchesRetired[userIdx]! - b0;
      }
      if (c.skipN !== 0) {
        // What it branched over before the fault did not retire (jit/wasm-skips.ts).
        chN -= c.skipN;
        chB -= c.skipB;
        unretireSkipped(c, userIdx);
      }
    }
    if (e !== FAULT && e !== GUARDED) throw e;
    if (compiled && c.loops > 0) {
      // Completed iterations of a self-looping compiled block before the fault.
      const done = c.loops * blk.loopLen;
      const lb = c.loops * blk.loopBranches;
      c.instructions += done;
      c.retired[userIdx]! += done;
      c.branchesRetired[userIdx]! += lb;
      if (pmu !== null && pmu.active) countPmu(c, pmu, done - lb, lb);
    }
    // The side exits before the faulting instruction retired as branches (not taken).
    const fb = i === 0 ? 0 : ins[i - 1]!.brThrough;
    c.instructions += i;
    c.retired[userIdx]! += i;
    c.branchesRetired[userIdx]! += fb;
    if (pmu !== null && pmu.active && i + chN > c.pmuCounted) countPmu(c, pmu, i + chN - c.pmuCounted - fb - chB, fb + chB);
    c.rip = addIp(c.bip, ins[i]!.start, c.codeSize);
    if (e === GUARDED) {
      // An inline access to a guarded page: the block is cut in front of it, and what is left of it runs on
      // through the interpreter (debug-step.ts), timed as a stop point's rest is (restAfterCut).
      c.blockRest = ins.length - i;
      c.restSeg = c.instructions - i0 - seg;
    } else deliverPendingFault(c);
    if (blk !== entry) ranOther(blk);
    return entry;
  }
  c.blockOn = 0; // c.curBlock = null
  if (n < total) {
    // Cut at a stop point: its rest is timed from the start of the basic block it cut (segOff). It has no
    // rest when a side exit ended it at the cut or before (taken, or to poll, as the uncut block would).
    const last = ins[n - 1]!;
    if (i === n && (last.k !== K.Side || (c.rip === nr && c.instructions + n < c.pollAt))) c.restSeg = n - c.segOff;
    else if (!c.watchCut) c.blockRest = 0;
  }
  c.segOff = 0;
  if (c.notRetired !== 0) {
    // A REP string instruction paused mid-way: it retires once, when it completes.
    i -= c.notRetired;
    c.notRetired = 0;
  }
  c.instructions += i;
  c.retired[userIdx]! += i;
  // Branches among the instructions that ran (the last, and any side exits before it).
  const bi = i === total ? blk.branches : i === 0 ? 0 : ins[i - 1]!.brThrough;
  c.branchesRetired[userIdx]! += bi;
  if (pmu !== null && pmu.active) {
    const br = (c.loops === 0 ? bi : bi + blk.loopBranches * c.loops) + chB;
    countPmu(c, pmu, i + chN + (compiled ? c.loops * blk.loopLen : 0) - br - c.pmuCounted, br);
  }
  if (blk !== entry) ranOther(blk);
  return entry;
}

/** Where interpret was in its block when an instruction faulted: execBlock counts the instructions before it as retired. */
let faultAt = 0;

/**
 * The interpreter: runs the first `n` instructions of `blk` (entered at `bip`) by their handlers, the hot ones called
 * directly; returns how many ran (fewer when a side exit or self-modifying code ended it). A function of its own, not
 * execBlock's loop: inlining the hot handlers made execBlock take V8 ~60 ms to optimize, and each of its deopts on a
 * path seen late (a first fault, a first cut, a handler case not yet run) threw that code away and compiled it again
 * on the second core while it ran unoptimized. And a function with a hot loop gets compiled on stack replacement:
 * execBlock's OSR code, re-entered from its unoptimized frame at every pass, was seen to deopt ~220 000 times in a
 * row (run-loop-shape.test.ts).
 */
function interpret(c: EmuCpu, blk: Block, n: number, bip: number, cs: number): number {
  const ins = blk.insns; // read now: a store to the block's own bytes releases it, and its insns with it
  let i = 0;
  try {
    let x = blk.first!;
    insns: for (; i < n; i++, x = x.nx!) {
      // Hot handlers are called directly (no megamorphic x.fn call); see inline-kinds.ts.
      switch (x.k) {
        case K.AddRR:
          add32rr(c, x);
          break;
        case K.SubRR:
          sub32rr(c, x);
          break;
        case K.CmpRR:
          cmp32rr(c, x);
          break;
        case K.LogicRR:
          logic32rr(c, x);
          break;
        case K.AddRI:
          add32ri(c, x);
          break;
        case K.SubRI:
          sub32ri(c, x);
          break;
        case K.CmpRI:
          cmp32ri(c, x);
          break;
        case K.LogicRI:
          logic32ri(c, x);
          break;
        case K.IncDecR:
          incdec32r(c, x);
          break;
        case K.MovRR:
          mov32rr(c, x);
          break;
        case K.Jnz:
          jnz(c, x);
          break;
        case K.Jz:
          jz(c, x);
          break;
        case K.AluEI:
          aluEI(c, x);
          break;
        case K.Movzx:
          movzx(c, x);
          break;
        case K.AluEG:
          aluEG(c, x);
          break;
        case K.MovEG:
          movEG(c, x);
          break;
        case K.TestEG:
          testEG(c, x);
          break;
        case K.Shift32RI:
          shift32ri(c, x);
          break;
        case K.Mov32Load:
          mov32load(c, x);
          break;
        case K.Lea64:
          lea64(c, x);
          break;
        case K.Mov64Store:
          mov64store(c, x);
          break;
        case K.Lea:
          lea(c, x);
          break;
        case K.Mov64Load:
          mov64load(c, x);
          break;
        case K.Mov32Store:
          mov32store(c, x);
          break;
        case K.Push64R:
          push64r(c, x);
          break;
        case K.Pop64R:
          pop64r(c, x);
          break;
        case K.JmpRel:
          jmpRel(c, x);
          break;
        case K.Ret64:
          ret64(c, x);
          break;
        case K.CallRel64:
          callRel64(c, x);
          break;
        case K.ShiftE:
          shiftE(c, x);
          break;
        case K.AluGE:
          aluGE(c, x);
          break;
        case K.JmpE:
          jmpE(c, x);
          break;
        case K.ImulGE:
          imulGE(c, x);
          break;
        case K.MovRI:
          movRI(c, x);
          break;
        case K.ImulGEI:
          imulGEI(c, x);
          break;
        case K.Push32R:
          push32r(c, x);
          break;
        case K.Pop32R:
          pop32r(c, x);
          break;
        case K.RetNear:
          retNear(c, x);
          break;
        case K.CallRel:
          callRel(c, x);
          break;
        case K.MovGE:
          movGE(c, x);
          break;
        case K.TestEI:
          testEI(c, x);
          break;
        case K.MovEI:
          movEI(c, x);
          break;
        case K.Movsx:
          movsx(c, x);
          break;
        case K.Nop:
          break; // nop() does nothing
        case K.Side:
          // A conditional branch inside the block. Taken, the block ends here; not taken, it goes on,
          // unless the run loop polls before the next basic block (polls stay where they were when
          // every basic block was a block of its own).
          if (cond(c, x.op)) {
            c.rip = relTarget(c, x);
            i++;
            break insns;
          }
          if (c.instructions + i + 1 >= c.pollAt) {
            c.rip = addIp(bip, x.end, cs);
            i++;
            break insns;
          }
          c.segOff = i + 1;
          break;
        default:
          x.fn(c, x);
      }
      if (c.smc) {
        // The block was overwritten by its own instruction: stop after it. A host watchpoint alone
        // (c.watchCut) stops it for the debug client only: the rest of it is left to run.
        c.smc = false;
        i++;
        c.blockRest = c.watchCut ? c.blockRest + n - i : 0;
        c.restSeg = i - c.segOff;
        if (i < n) c.rip = addIp(bip, ins[i - 1]!.end, c.codeSize);
        break;
      }
    }
  } catch (e) {
    faultAt = i;
    throw e;
  }
  return i;
}

/** A chained run entered one block and ended in `last` (see ranHow). */
function ranOther(last: Block): void {
  ranHow = Ran.Other;
  ranLast = last;
}

/** Counts at the CPL the block started at (a CPL-changing instruction retires at its own CPL). */
export function countPmu(c: EmuCpu, pmu: EmuPmuHook, plain: number, branches: number): void {
  const n = plain + branches;
  if (c.pmuMerge && c.blockCpl === c.pmuLeftCpl) {
    // Order-free counting: merge blocks and hand them over when the bound runs out (below),
    // on a CPL change, at RDMSR/WRMSR/RDPMC and when run() returns. A countBlock call per
    // block was ~10% of the CPU time of branchy code.
    c.pmuPendPlain += plain;
    c.pmuPendBranches += branches;
    c.pmuLeft -= n;
    if (c.pmuLeft <= 0) {
      pmuFlushPending(c);
      c.pollAt = 0;
    }
    return;
  }
  if (c.pmuPendPlain + c.pmuPendBranches !== 0) pmuFlushPending(c);
  if (n > 0) pmu.countBlock(plain, branches, c.blockCpl);
  // An overflow raises a PMI through the APIC: take it before the next instruction. Fewer
  // instructions than instructionsUntilOverflow() cannot overflow, so polling is forced only
  // when the block reached that bound (an unconditional poll per block cost ~10% CPU).
  c.pmuLeft -= n;
  if (c.pmuLeft <= 0) c.pollAt = 0;
}

/**
 * Counts the instructions of the current block before `x` now: called by instructions that
 * read or program the PMU (RDMSR/WRMSR/RDPMC), so counting changes take effect exactly at them.
 */
export function pmuSync(c: EmuCpu, x: Insn): void {
  const pmu = c.pmu;
  if (pmu === null) return;
  if (c.pmuPendPlain + c.pmuPendBranches !== 0) pmuFlushPending(c);
  c.pmuMerge = false; // re-decided with the bound at the next block (pmuLeft = 0 below)
  const n = x.idx - c.pmuCounted;
  if (n > 0 && pmu.active) pmu.countBlock(n, 0, c.blockCpl);
  if (n > 0) c.pmuCounted = x.idx;
  c.pmuLeft = 0;
  c.pollAt = 0;
}

/**
 * Counts the instructions of the current block up to and including `x` now (a WRMSR: it is
 * counted under the PMU state before it executes). If `x` then faults it was counted anyway
 * (rare: a #GP WRMSR between enabled counters).
 */
export function pmuSyncIncluding(c: EmuCpu, x: Insn): void {
  const pmu = c.pmu;
  if (pmu === null) return;
  if (c.pmuPendPlain + c.pmuPendBranches !== 0) pmuFlushPending(c);
  // Re-decided with the bound at the next block (the WRMSR may enable an EDGE counter).
  c.pmuMerge = false;
  const n = x.idx + 1 - c.pmuCounted;
  if (n > 0 && pmu.active) pmu.countBlock(n, 0, c.blockCpl);
  if (n > 0) c.pmuCounted = x.idx + 1;
  c.pmuLeft = 0;
  c.pollAt = 0;
}

export function pmuFlushPending(c: EmuCpu): void {
  const p = c.pmuPendPlain;
  const b = c.pmuPendBranches;
  c.pmuPendPlain = 0;
  c.pmuPendBranches = 0;
  if (c.pmu !== null) c.pmu.countBlock(p, b, c.pmuLeftCpl);
}
