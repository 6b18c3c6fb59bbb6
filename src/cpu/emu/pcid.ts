/**
 * Process-context identifiers (CR4.PCIDE, CR3[11:0], MOV CR3 bit 63, INVPCID; SDM vol. 3A 4.10.1 and 4.10.4).
 *
 * The TLB arrays (tlb.ts) hold the translations of the current PCID and the global ones only: compiled code
 * checks them inline and knows nothing of PCIDs. What makes a switch cheap is kept per PCID apart from them:
 * when the vCPU leaves a PCID, the non-global entries it filled (EmuCpu.tlbLocal) are copied out and dropped,
 * and with them the jump-cache epoch its blocks were found under (Block.vEp); a MOV CR3 with bit 63 set back
 * to that PCID copies the entries back and makes that epoch current again, so its blocks are valid again
 * without a lookup (the chain driver's link records compare epochs by value too). A MOV CR3 without bit 63,
 * INVPCID, or a full flush forgets a PCID's context: its epoch is never current again.
 *
 * Translations of other PCIDs are never used: they are not in the arrays, and blocks carry their epoch.
 * Invalidations reach at least what the SDM says they must; dropping more (a whole context for one address of
 * a PCID that is not current, INVPCID type 0 dropping a global entry) is what a TLB may always do.
 */
import type { EmuCpu } from './cpu.js';
import { CR4_PCIDE, Tlb } from './x86-defs.js';
import { dropAllContexts, dropNonGlobal, flushTlb, invlpg } from './tlb.js';
import { wtlbSync } from './tlb-wasm.js';

/**
 * Contexts kept per vCPU (least recently left first out). Linux uses 6 PCIDs per CPU (its dynamic ASIDs) and
 * keeps them all warm; a guest cycling through more just loses the oldest (as a TLB evicts).
 */
const CONTEXTS = 8;
const ENTRIES = Tlb.Size * 2;

/** The saved non-global TLB entries of one PCID and the jump-cache epoch of its blocks. */
export class PcidContext {
  /** The PCID, or -1: the slot is free. */
  pcid = -1;
  epoch = -1;
  /** EmuCpu.wGen when saved: a write entry saved before any write entry was dropped since is stale. */
  wGen = 0;
  /** When it was saved (EmuCpu.pcidClock): the oldest goes first. */
  stamp = 0;
  n = 0;
  readonly idx = new Int16Array(ENTRIES);
  readonly tagR = new Float64Array(ENTRIES);
  readonly tagW = new Float64Array(ENTRIES);
  readonly tagX = new Float64Array(ENTRIES);
  readonly phys = new Float64Array(ENTRIES);
  readonly off = new Float64Array(ENTRIES);
  readonly addr = new Int32Array(ENTRIES);
  readonly view: DataView[] = new Array<DataView>(ENTRIES);
}

/** The PCID in CR3's low 12 bits (CR3 is held as a double). */
export function pcidOf(cr3: number): number {
  return cr3 % 4096;
}

/** MOV to CR3 with CR4.PCIDE = 1: `v` is the new CR3 without bit 63; `noFlush` is that bit. */
export function switchPcid(c: EmuCpu, v: number, noFlush: boolean): void {
  const from = pcidOf(c.cr3);
  const to = pcidOf(v);
  c.cr3 = v;
  if (from === to) {
    if (!noFlush) flushTlb(c, false);
    return;
  }
  saveContext(c, from);
  const x = findContext(c, to);
  if (x !== null && noFlush) restoreContext(c, x);
  else c.jcEpoch = c.cache.newEpoch();
  // Live in the arrays now (or flushed): saved again when the vCPU leaves it.
  if (x !== null) x.pcid = -1;
}

/**
 * INVPCID's invalidation (the checks are the handler's, ops-system.ts): type 0 the address `lin` of `pcid`,
 * 1 all of `pcid`, both except global translations; 2 everything; 3 everything but global translations. `lin` is a
 * handle (address.ts) beyond +-2^53.
 */
export function invalidatePcid(c: EmuCpu, type: number, pcid: number, lin: number): void {
  const current = pcidOf(c.cr3) === pcid || (c.cr4 & CR4_PCIDE) === 0;
  switch (type) {
    case 0:
      if (!current) dropContext(c, pcid);
      else invlpg(c, lin); // a handle beyond +-2^53: its page, exactly (tlb.ts)
      return;
    case 1:
      if (!current) dropContext(c, pcid);
      else flushTlb(c, false);
      return;
    case 2:
      flushTlb(c, true);
      return;
    default:
      dropAllContexts(c);
      flushTlb(c, false);
  }
}

function dropContext(c: EmuCpu, pcid: number): void {
  const x = findContext(c, pcid);
  if (x !== null) x.pcid = -1;
}

function findContext(c: EmuCpu, pcid: number): PcidContext | null {
  for (const x of c.pcidCtx) if (x.pcid === pcid) return x;
  return null;
}

/** Copies the current PCID's non-global entries into a context and drops them from the TLB. */
function saveContext(c: EmuCpu, pcid: number): void {
  let x: PcidContext | null = null;
  let oldest: PcidContext | null = null;
  for (const y of c.pcidCtx) {
    if (y.pcid === pcid || y.pcid === -1) {
      x = y;
      break;
    }
    if (oldest === null || y.stamp < oldest.stamp) oldest = y;
  }
  if (x === null) {
    if (c.pcidCtx.length < CONTEXTS) c.pcidCtx.push((x = new PcidContext()));
    else x = oldest!;
  }
  x.pcid = pcid;
  x.epoch = c.jcEpoch;
  x.wGen = c.wGen;
  x.stamp = ++c.pcidClock;
  const list = c.tlbLocal;
  const g = c.tlbGlobal;
  const tr = c.tlbTagR;
  const tw = c.tlbTagW;
  const tx = c.tlbTagX;
  let n = 0;
  for (let k = 0; k < c.tlbLocalN; k++) {
    const i = list[k]!;
    if (g[i] !== 0 || (tr[i] === -1 && tw[i] === -1 && tx[i] === -1)) continue;
    x.idx[n] = i;
    x.tagR[n] = tr[i]!;
    x.tagW[n] = tw[i]!;
    x.tagX[n] = tx[i]!;
    x.phys[n] = c.tlbPhys[i]!;
    x.off[n] = c.tlbOff[i]!;
    x.addr[n] = c.tlbAddr[i]!;
    x.view[n] = c.tlbView[i]!;
    n++;
  }
  x.n = n;
  dropNonGlobal(c);
}

/** Puts a context's entries back (where a global entry holds the slot now, that one stays) and its epoch. */
function restoreContext(c: EmuCpu, x: PcidContext): void {
  const g = c.tlbGlobal;
  const tr = c.tlbTagR;
  const tw = c.tlbTagW;
  const tx = c.tlbTagX;
  const list = c.tlbLocal;
  const listed = c.tlbListed;
  // Write entries dropped since it was saved (a page became code, the dirty log was read) are not put back.
  const writes = x.wGen === c.wGen;
  for (let k = 0; k < x.n; k++) {
    const i = x.idx[k]!;
    if (g[i] !== 0 && (tr[i] !== -1 || tw[i] !== -1 || tx[i] !== -1)) continue;
    tr[i] = x.tagR[k]!;
    tw[i] = writes ? x.tagW[k]! : -1;
    tx[i] = x.tagX[k]!;
    c.tlbPhys[i] = x.phys[k]!;
    c.tlbOff[i] = x.off[k]!;
    c.tlbAddr[i] = x.addr[k]!;
    c.tlbView[i] = x.view[k]!;
    wtlbSync(c, i);
    g[i] = 0;
    if (listed[i] === 0) {
      listed[i] = 1;
      list[c.tlbLocalN++] = i;
    }
  }
  c.jcEpoch = x.epoch;
}
