/**
 * The run loop's path while debug features are armed (`EmuCpu.debugArmed`, debug-regs.ts):
 * instruction breakpoints are checked before each instruction (DR0-DR3 as #DB faults unless
 * RFLAGS.RF, the host's as stops), RF is cleared at the start of each instruction, TF, data and
 * I/O breakpoints raise their #DB trap after it (held back one instruction by the MOV SS/POP SS/STI
 * shadow), and a host step or watchpoint stops the vCPU for gdb. Without TF or a step, whole blocks
 * run, and those with no instruction breakpoint inside them compiled too (debug-regs.ts
 * compiledWhileArmed): their inline
 * accesses to a guarded page end them in front of that instruction (run-loop.ts execBlock, GUARDED),
 * which then runs here through the interpreter with the rest of its block, and a handler that hits a
 * watchpoint ends them after its instruction, as a store into the block's own code does. Chained runs
 * and compiled regions stay off.
 *
 * The host debug client's breakpoints, watchpoints and steps do not change the run: where one cuts a
 * block, the rest of the block runs straight on (no interrupt check between), and a stop for the
 * client is a stop point of the slice (run-loop.ts runOn returns 'paused', EmuVm pauses the round
 * there), so a deterministic run stopped and resumed any number of times equals one never stopped.
 * Only the guest's own debug state (DR breakpoints, TF, RF) changes where blocks end and interrupts
 * are checked, as it does without a client.
 */
import type { EmuCpu } from './cpu.js';
import { FAULT, VEC_DB } from './x86-defs.js';
import { Bit } from './flags.js';
import { deliver } from './exceptions.js';
import { execBlock, ipLin, lookupBlock } from './run-loop.js';
import { DR6_BS, HostStop, execMatch, rearm, setDr6, updateArmed } from './debug-regs.js';
import { sameRip } from './address.js';
import type { Block } from './insn.js';

/**
 * Runs at most `left` instructions and REP iterations (at least one unless a breakpoint stops it
 * first) with the debug checks: up to where the run without a debug client ends its block (or, with
 * `c.blockRest` set, the rest of a block a stop cut), unless the vCPU stops for the client first
 * (`c.hostStop`; then the run goes on from there when debugExec is called again).
 */
export function debugExec(c: EmuCpu, left: number): void {
  const h = c.hostDebug;
  const w0 = c.instructions + c.stringIters;
  c.hostCont = false;
  for (;;) {
    const lin = ipLin(c);
    if (h !== null && h.stopAt >= 0 && c.instructions >= h.stopAt) {
      h.stopAt = -1;
      hold(c, HostStop.Step);
      return;
    }
    if (c.dbPending !== 0 && !c.shadow) {
      // A trap of the last instruction kept while the vCPU stopped for the debug client: taken now, as it
      // was right after that instruction in a run without the client.
      setDr6(c, c.dbPending & 0xffff);
      c.dbPending = 0;
      deliverDb(c);
      rearm(c);
      return;
    }
    if ((c.flags & Bit.RF) === 0) {
      if (h !== null && h.breakpoints.at(lin) && !sameRip(lin, c.hostResumeAt)) {
        c.hostStopAddr = lin;
        hold(c, HostStop.Breakpoint);
        return;
      }
      const m = execMatch(c, lin);
      if (m !== 0) {
        // An instruction breakpoint is a fault: RIP stays at the instruction and the frame keeps RF as it is (0);
        // the handler sets RF in the image to go on.
        setDr6(c, m);
        c.bip = c.rip;
        c.blockRest = 0;
        deliverDb(c);
        rearm(c);
        return;
      }
    }
    c.hostResumeAt = NaN;
    // RF is cleared at the start of every instruction, after the instruction-breakpoint check.
    if ((c.flags & Bit.RF) !== 0) c.flags &= ~Bit.RF;
    const tf = (c.flags & Bit.TF) !== 0;
    // What is left of a block cut for the client (or at a stop point): the run without the client runs it now.
    const rest = c.blockRest;
    const room = left - (c.instructions + c.stringIters - w0);
    // Without the client the block runs to its end, the rest's end, a DR breakpoint in it, or the room left.
    let cap = rest > 0 ? rest : Infinity;
    let limit: number;
    let cut = false;
    if (tf || c.dbPending !== 0) limit = 1; // single-step trap, or a trap held over a MOV SS shadow: one instruction
    else {
      scan(c, cap);
      // No instruction breakpoint in the block, not even at its first instruction (run past when resuming there,
      // and a compiled self-loop's later passes would): it may run compiled.
      // RF only holds back a breakpoint at the first instruction for this pass, not a self-loop's next ones.
      c.bpClear = guestAt === Infinity && hostAt === Infinity && execMatch(c, lin) === 0 && (h === null || !h.breakpoints.at(lin));
      if (guestAt < cap) cap = guestAt;
      limit = cap < room ? cap : room;
      if (hostAt < limit) {
        limit = hostAt;
        cut = true;
      }
      if (h !== null && h.step && limit > 1) {
        limit = 1;
        cut = true;
      }
    }
    if (h !== null && h.stopAt >= 0 && h.stopAt - c.instructions < limit) {
      limit = h.stopAt - c.instructions;
      cut = true;
    }
    const delivered = c.deliveries;
    const shadowBefore = c.shadow;
    c.dbHits = 0;
    c.shadow = false;
    c.blockRest = 0;
    c.restCap = cap;
    c.hostCut = cut;
    if (rest > 0) c.segOff = -c.restSeg; // timed as the block it is the rest of (run-loop.ts runRest)
    execBlock(c, limit, null);
    c.bpClear = false;
    c.restCap = Infinity;
    c.hostCut = false;
    c.watchCut = false;
    // A single-step trap follows every instruction that started with TF set (the POPF clearing it
    // included), unless it faulted or delivered an event (INT n, INTO, INT3, an exception).
    const quiet = c.deliveries === delivered;
    // Traps of this instruction (or of the one before it, held back by a MOV SS shadow).
    let trap = c.dbHits | c.dbPending;
    c.dbHits = 0;
    c.dbPending = 0;
    if (tf && quiet && limit === 1) trap |= DR6_BS;
    if (h !== null && h.step && c.hostStop === HostStop.None) {
      h.step = false;
      c.hostStop = HostStop.Step;
    }
    if (trap !== 0 && !c.breakRun) {
      if ((c.shadow && !shadowBefore) || c.hostStop !== HostStop.None) {
        // MOV SS / POP SS / STI: debug traps wait for the end of the next instruction. A stop for the
        // debug client comes first too: the client sees the instruction's effect before the guest's #DB.
        c.dbPending = trap;
        if (c.hostStop !== HostStop.None && !c.shadow) c.hostCont = true;
      } else {
        setDr6(c, trap & 0xffff);
        deliverDb(c);
      }
    }
    // Inside the block (a cut for the client or a watchpoint): on with its rest, no interrupt check
    // between, unless the vCPU stops or the stop point is here.
    const inBlock = c.blockRest > 0;
    if (inBlock && c.hostStop === HostStop.None && c.instructions + c.stringIters - w0 < left) continue;
    if (inBlock || c.hostCont) updateArmed(c);
    else rearm(c);
    return;
  }
}

/** Stops in front of the instruction at RIP for the debug client: the run goes on from exactly there. */
function hold(c: EmuCpu, why: HostStop): void {
  c.hostStop = why;
  c.hostCont = true;
  updateArmed(c);
}

/** Delivers #DB (vector 1) now; a fault while delivering it follows the usual #DF rules. */
function deliverDb(c: EmuCpu): void {
  try {
    deliver(c, VEC_DB, -1, false, false);
  } catch (e) {
    if (e !== FAULT) throw e;
  }
}

/** scan's answer: how many instructions of the block run before a DR / a host instruction breakpoint (Infinity: none). */
let guestAt = Infinity;
let hostAt = Infinity;

/**
 * Where the first DR instruction breakpoint (guestAt) and the first host one (hostAt) lie inside the
 * block at RIP (after its first instruction), looking `max` instructions in.
 */
function scan(c: EmuCpu, max: number): void {
  guestAt = Infinity;
  hostAt = Infinity;
  if (c.bpExecCount === 0) return;
  let blk: Block;
  try {
    blk = lookupBlock(c);
  } catch (e) {
    if (e !== FAULT) throw e;
    guestAt = 1; // the fetch faults: execBlock raises it
    return;
  }
  // After the lookup: beyond +-2^53 it forms RIP's code handle again (run-loop.ts lookupFar).
  const lin = ipLin(c);
  const ins = blk.insns;
  const h = c.hostDebug;
  for (let k = 1; k < ins.length && k < max; k++) {
    const a = lin + ins[k]!.start;
    if (execMatch(c, a) !== 0) {
      guestAt = k;
      return;
    }
    if (hostAt === Infinity && h !== null && h.breakpoints.at(a)) hostAt = k;
  }
}
