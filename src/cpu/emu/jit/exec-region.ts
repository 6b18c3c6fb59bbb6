/**
 * Running compiled regions from the run loop: enters a region at the current block and, when it
 * leaves at a block boundary with nothing for the run loop to do, goes straight on into the region
 * of the next block (regions chain through the jump cache, not through the dispatcher). Faults,
 * counting and the PMU are handled as execBlock handles them for one block.
 */
import type { EmuCpu } from '../cpu.js';
import type { Block } from '../insn.js';
import { FAULT, jcSlot } from '../x86-defs.js';
import { addIp } from '../address.js';
import { deliverPendingFault } from '../exceptions.js';
import { countPmu, ipLin, jcValid } from '../run-loop.js';

/**
 * Runs compiled code from `blk` (which has a region) for at most `limit` instructions and REP
 * iterations. With the PMU counting, only order-free counting gets here (one count at the end).
 */
export function execRegion(c: EmuCpu, limit: number, blk: Block): void {
  const pmu = c.pmu;
  const cpl = c.cpl;
  const u = cpl === 3 ? 1 : 0;
  const i0 = c.instructions;
  const b0 = c.branchesRetired[u]!;
  c.jitEnd = c.instructions + c.stringIters + limit;
  c.blockCpl = cpl;
  c.pmuCounted = 0;
  let r = blk.region!;
  try {
    for (;;) {
      r.fn(c, ipLin(c));
      if (c.instructions >= c.pollAt || c.breakRun || c.shadow || c.halted || c.cpl !== cpl || (c.flags & 0x100) !== 0 || c.debugArmed) break;
      const lin = ipLin(c);
      const j = jcSlot(lin, cpl);
      const b = c.jcBlock[j];
      if (b === undefined || !jcValid(c, b, lin) || b.region === null) break;
      if (c.instructions + c.stringIters + b.insns.length > c.jitEnd) break;
      r = b.region;
    }
  } catch (e) {
    const cb = c.curBlock;
    c.curBlock = null;
    c.smc = false;
    if (cb === null) throw e;
    const i = c.ci;
    if (e !== FAULT) throw e;
    // The instructions of the faulting block before it retired; the faulting one did not.
    c.instructions += i;
    c.retired[u]! += i;
    c.rip = addIp(c.bip, c.jitInsns[i]!.start, c.codeSize); // cb.insns may be released by now
    if (pmu !== null && pmu.active) {
      const br = c.branchesRetired[u]! - b0;
      countPmu(c, pmu, c.instructions - i0 - br, br);
    }
    deliverPendingFault(c);
    return;
  }
  c.curBlock = null;
  c.smc = false;
  if (pmu !== null && pmu.active) {
    const br = c.branchesRetired[u]! - b0;
    countPmu(c, pmu, c.instructions - i0 - br, br);
  }
}
