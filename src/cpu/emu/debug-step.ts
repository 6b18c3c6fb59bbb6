/**
 * The run loop's path while debug features are armed (`EmuCpu.debugArmed`, debug-regs.ts):
 * instruction breakpoints are checked before each instruction (DR0-DR3 as #DB faults unless
 * RFLAGS.RF, the host's as stops), RF is cleared at the start of each instruction, TF, data and
 * I/O breakpoints raise their #DB trap after it (held back one instruction by the MOV SS/POP SS/STI
 * shadow), and a host step or watchpoint stops the vCPU for gdb. Blocks run through the
 * interpreter only (no compiled block: its inline memory accesses could not end the block at a
 * watchpoint). Without instruction breakpoints, TF or a step, whole blocks run.
 */
import type { EmuCpu } from './cpu.js';
import { FAULT, VEC_DB } from './x86-defs.js';
import { Bit } from './flags.js';
import { deliver } from './exceptions.js';
import { execBlock, ipLin, lookupBlock } from './run-loop.js';
import { DR6_BS, HostStop, execMatch, rearm, setDr6 } from './debug-regs.js';
import type { Block } from './insn.js';

/** Runs at most `left` instructions (at least one unless a breakpoint stops it first) with the debug checks. */
export function debugExec(c: EmuCpu, left: number): void {
  const lin = ipLin(c);
  const h = c.hostDebug;
  if (h !== null && h.stopAt >= 0 && c.instructions >= h.stopAt) {
    h.stopAt = -1;
    c.hostStop = HostStop.Step;
    c.breakRun = true;
    return;
  }
  if (c.dbPending !== 0 && !c.shadow) {
    // A trap of the last instruction kept while the vCPU stopped for the debug client: taken now.
    setDr6(c, c.dbPending & 0xffff);
    c.dbPending = 0;
    deliverDb(c);
    rearm(c);
    return;
  }
  if ((c.flags & Bit.RF) === 0) {
    if (h !== null && h.breakpoints.has(lin) && lin !== c.hostResumeAt) {
      c.hostStop = HostStop.Breakpoint;
      c.hostStopAddr = lin;
      c.breakRun = true;
      return;
    }
    const m = execMatch(c, lin);
    if (m !== 0) {
      // An instruction breakpoint is a fault: RIP stays at the instruction and the frame keeps RF as it is (0);
      // the handler sets RF in the image to go on.
      setDr6(c, m);
      c.bip = c.rip;
      deliverDb(c);
      rearm(c);
      return;
    }
  }
  c.hostResumeAt = NaN;
  // RF is cleared at the start of every instruction, after the instruction-breakpoint check.
  if ((c.flags & Bit.RF) !== 0) c.flags &= ~Bit.RF;
  const tf = (c.flags & Bit.TF) !== 0;
  const stepping = tf || c.dbPending !== 0 || (h !== null && h.step);
  let limit = 1;
  if (!stepping) limit = room(c, left, lin);
  if (h !== null && h.stopAt >= 0 && h.stopAt - c.instructions < limit) limit = h.stopAt - c.instructions;
  const delivered = c.deliveries;
  const shadowBefore = c.shadow;
  c.dbHits = 0;
  c.shadow = false;
  execBlock(c, limit, null);
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
    } else {
      setDr6(c, trap & 0xffff);
      deliverDb(c);
    }
  }
  if (c.hostStop !== HostStop.None) c.breakRun = true;
  rearm(c);
}

/** Delivers #DB (vector 1) now; a fault while delivering it follows the usual #DF rules. */
function deliverDb(c: EmuCpu): void {
  try {
    deliver(c, VEC_DB, -1, false, false);
  } catch (e) {
    if (e !== FAULT) throw e;
  }
}

/**
 * How many instructions of the block at RIP run before the next instruction breakpoint in it
 * (the whole block, up to `left`, when none lies inside). At least 1.
 */
function room(c: EmuCpu, left: number, lin: number): number {
  if (c.bpExecCount === 0) return left;
  let blk: Block;
  try {
    blk = lookupBlock(c);
  } catch (e) {
    if (e !== FAULT) throw e;
    return 1; // the fetch faults: execBlock raises it
  }
  const ins = blk.insns;
  const h = c.hostDebug;
  for (let k = 1; k < ins.length && k < left; k++) {
    const a = lin + ins[k]!.start;
    if ((h !== null && h.breakpoints.has(a)) || execMatch(c, a) !== 0) return k;
  }
  return left;
}
