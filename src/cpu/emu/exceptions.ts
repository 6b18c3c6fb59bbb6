/**
 * Faults and event delivery: raise() records a fault and unwinds the instruction (FAULT), and
 * deliver() runs it through the IVT (real mode) or IDT (interrupt, trap and task gates in
 * legacy mode; 64-bit gates with IST in IA-32e mode), with the #DF and triple-fault rules.
 */
import type { EmuCpu } from './cpu.js';
import { SEG_ATTR_UNUSABLE } from '../registers.js';
import { warnOnce } from '../../util/log.js';
import { CR0_PE, EFER_LMA, FAULT, VEC_DF, VEC_GP, VEC_NP, VEC_PF, VEC_SS, VEC_TS, VEC_UD, Seg, Pow, Tlb, BigAd, Gp } from './x86-defs.js';
import { rd16, rd32, wr64 } from './mem-access.js';
import { getFlags, putFlags } from './lazy-flags.js';
import { push, setRsp64 } from './stack.js';
import { Bit } from './flags.js';
import { loadFromDesc, loadSeg, readDescriptor, sysLin } from './segmentation.js';
import { taskSwitch } from './task-switch.js';
import { BIG, halvesOf, linOf, nonCanonical, regPlus, ripOf, nonCanonicalHi } from './address.js';

const isContributory = (v: number): boolean => v === 0 || (v >= 10 && v <= 13);
const hasErrorCode = (v: number): boolean => v === 8 || (v >= 10 && v <= 14) || v === 17 || v === 21;

export function raise(c: EmuCpu, vector: number, code = -1): never {
  c.excVec = vector;
  c.excCode = code;
  throw FAULT;
}

export function gp(c: EmuCpu, code = 0): never {
  return raise(c, VEC_GP, code);
}

export function ud(c: EmuCpu): never {
  return raise(c, VEC_UD);
}

/**
 * A linear address emu cannot hold: under 5-level paging a canonical address may lie beyond +-2^53,
 * where a double (emu's address representation, cpu.ts) no longer tells neighbouring bytes apart. Paths
 * that reach there form handles (address.ts: data handles, code handles for RIP); one that formed a
 * rounded double instead (README.md, LA57 limits) stops the vCPU (a shutdown naming the address) before
 * the instruction has any effect. Vector -1 marks the unwind: deliver() and deliverPendingFault() give the guest nothing.
 */
export function unrepresentable(c: EmuCpu, lin: number): never {
  const u = BigInt(Math.trunc(lin)) & 0xffff_ffff_ffff_ffffn;
  return emuLimit(c, `emu: linear address 0x${u.toString(16)} (rounded) lies beyond +-2^53, which emu cannot address exactly there (a limit of emu's 5-level paging: src/cpu/emu/README.md)`);
}

/** The vCPU stops at a limit of emu's own, named by `why` (an emulation failure, not the guest's fault). */
export function emuLimit(c: EmuCpu, why: string): never {
  c.shutdownReason = why;
  c.emulationLimit = true;
  c.breakRun = true;
  return raise(c, -1);
}

/** #UD for an opcode the interpreter does not implement, with a one-time host warning; counted per name. */
export function unimplemented(c: EmuCpu, what: string): never {
  c.unimplementedCounts.set(what, (c.unimplementedCounts.get(what) ?? 0) + 1);
  warnOnce(`emu-ud-${what}`, `emu: unimplemented instruction ${what} at rip 0x${c.bip.toString(16)}: raising #UD in the guest`);
  return raise(c, VEC_UD);
}

export function logException(c: EmuCpu, vec: number, code: number): void {
  c.counts.exceptions++;
  c.exceptionsByVector[vec & 31]!++;
  if (c.exceptionLog.length >= 64) c.exceptionLog.shift();
  c.exceptionLog.push({ vector: vec, code, rip: c.rip });
}

/**
 * Delivers a fault/trap/interrupt through the IDT (or IVT in real mode). `rip` must
 * already be the value to push. Handles #DF and triple faults.
 */
export function deliver(c: EmuCpu, vector: number, code: number, soft: boolean, ext: boolean, faultRip = c.rip): void {
  c.deliveries++;
  let v = vector;
  let errCode = code;
  let s = soft;
  const startRip = faultRip;
  for (;;) {
    try {
      if (!s && v < 32 && !ext) logException(c, v, errCode);
      deliverOnce(c, v, errCode, s, ext);
      return;
    } catch (e) {
      if (e !== FAULT) throw e;
      c.rip = startRip;
      const nv = c.excVec;
      const nc = c.excCode;
      if (nv < 0) return; // unrepresentable(): the vCPU stops
      if (v === VEC_DF) {
        c.shutdownReason = `triple fault (vector ${nv} while delivering #DF)`;
        c.breakRun = true;
        return;
      }
      if (!s && ((isContributory(v) && isContributory(nv)) || (v === VEC_PF && (isContributory(nv) || nv === VEC_PF)))) {
        logException(c, nv, nc);
        v = VEC_DF;
        errCode = 0;
      } else {
        v = nv;
        errCode = nc;
      }
      s = false;
      ext = false;
    }
  }
}

export function deliverOnce(c: EmuCpu, vec: number, code: number, soft: boolean, ext: boolean): void {
  const pushCode = !soft && code >= 0 && vec < 32 && hasErrorCode(vec);
  if ((c.cr0 & CR0_PE) === 0) {
    // Real mode: IVT entry of 4 bytes, push FLAGS, CS, IP.
    if (vec * 4 + 3 > c.idtLimit) return gp(c, 0);
    const ent = rd32(c, (c.idtBase + vec * 4) >>> 0);
    const fl = getFlags(c);
    push(c, 2, fl & 0xffff);
    push(c, 2, c.segSel[Seg.CS]!);
    push(c, 2, c.rip & 0xffff);
    putFlags(c, 0, Bit.IF | Bit.TF | Bit.AC | Bit.RF);
    c.segSel[Seg.CS] = ent >>> 16;
    c.segBase[Seg.CS] = (ent >>> 16) << 4;
    c.rip = ent & 0xffff;
    c.updateMode();
    return;
  }
  const extBit = ext || !soft ? 1 : 0;
  const idtErr = vec * 8 + 2 + (soft ? 0 : 1) * 0 + extBit;
  const lma = (c.efer & EFER_LMA) !== 0;
  const gsz = lma ? 16 : 8;
  if (vec * gsz + gsz - 1 > c.idtLimit) return gp(c, idtErr);
  const save = c.tlbUser;
  c.tlbUser = 0;
  let lo: number;
  let hi: number;
  let w2 = 0;
  try {
    const ga = sysLin(c, regPlus(c, BigAd.Idt, c.idtBase, vec * gsz));
    lo = rd32(c, ga);
    hi = rd32(c, sysLin(c, ga + 4));
    if (lma) w2 = rd32(c, sysLin(c, ga + 8));
  } finally {
    c.tlbUser = save;
  }
  const type = (hi >>> 8) & 0x1f;
  const gdpl = (hi >>> 13) & 3;
  if (!lma && type === 0x5) {
    // Task gate: a hardware task switch to the TSS it names (error code pushed on the new task's stack).
    if (soft && gdpl < c.cpl) return gp(c, vec * 8 + 2);
    if ((hi & 0x8000) === 0) return raise(c, VEC_NP, idtErr);
    taskSwitch(c, lo >>> 16, 'call', c.rip);
    if (pushCode) push(c, (c.segAttr[Seg.CS]! & (1 << 14)) !== 0 ? 4 : 2, code);
    return;
  }
  if (lma ? type !== 0xe && type !== 0xf : type !== 0xe && type !== 0xf && type !== 0x6 && type !== 0x7) {
    return gp(c, idtErr);
  }
  if (soft && gdpl < c.cpl) return gp(c, vec * 8 + 2);
  if ((hi & 0x8000) === 0) return raise(c, VEC_NP, idtErr);
  const sel = lo >>> 16;
  const target = lma ? ((hi & 0xffff0000) | (lo & 0xffff)) >>> 0 : (type & 8) !== 0 ? ((hi & 0xffff0000) | (lo & 0xffff)) >>> 0 : lo & 0xffff;
  const gate32 = (type & 8) !== 0;
  const trap = (type & 1) !== 0;
  if ((sel & 0xfffc) === 0) return gp(c, extBit);
  // Target code segment
  readDescriptor(c, sel, VEC_GP);
  const dh = c.dhi;
  const dl = c.dlo;
  const dtype = (dh >>> 8) & 0xf;
  const ddpl = (dh >>> 13) & 3;
  if ((dh & 0x1000) === 0 || (dtype & 8) === 0 || ddpl > c.cpl) return gp(c, (sel & 0xfffc) + extBit);
  if ((dh & 0x8000) === 0) return raise(c, VEC_NP, (sel & 0xfffc) + extBit);
  if (lma && ((dh & (1 << 21)) === 0 || (dh & (1 << 22)) !== 0)) return gp(c, (sel & 0xfffc) + extBit);
  const conforming = (dtype & 4) !== 0;
  const newCpl = conforming ? c.cpl : ddpl;
  const oldFlags = c.rfInFrame ? getFlags(c) | Bit.RF : getFlags(c);
  const oldCs = c.segSel[Seg.CS]!;
  const oldSs = c.segSel[Seg.SS]!;
  const oldRipV = c.rip;
  if (lma) {
    const ist = hi & 7;
    let rsp: number;
    let rspHi = 0;
    let rspLo = 0;
    const oldRspLo = c.gpr[Gp.SpLo]!;
    const oldRspHi = c.gpr[Gp.SpHi]!;
    if (newCpl < c.cpl || ist !== 0) {
      const off = ist !== 0 ? 0x24 + (ist - 1) * 8 : 4 + newCpl * 8;
      if (off + 7 > c.segLimit[Seg.TR]!) return raise(c, VEC_TS, (c.segSel[Seg.TR]! & 0xfffc) + extBit);
      c.tlbUser = 0;
      try {
        const ta = regPlus(c, Seg.TR, c.segBase[Seg.TR]!, off);
        rspLo = rd32(c, ta);
        rspHi = rd32(c, ta + 4);
      } finally {
        c.tlbUser = save;
      }
    } else {
      rspLo = oldRspLo;
      rspHi = oldRspHi;
    }
    // Aligned down to 16; exact beyond +-2^53 too (a handle, address.ts linOf).
    rsp = linOf(c, rspHi, rspLo & ~15);
    // Both checked before anything is pushed, so a fault here leaves the old stack untouched.
    if (nonCanonical(c, rsp)) return raise(c, VEC_SS, extBit);
    // The gate's high dword (w2, signed) decides; a target beyond +-2^53 is a code handle (address.ts ripOf).
    if (nonCanonicalHi(c, w2)) return gp(c, extBit);
    halvesOf(oldRipV);
    const ripLo = BIG.lo;
    const ripHi = BIG.hi;
    const cplChange = newCpl !== c.cpl;
    // Push with the new privilege (supervisor) access rights.
    c.tlbUser = newCpl === 3 ? Tlb.Size : 0;
    try {
      let sp = rsp;
      const q = (lo: number, hi2: number): void => {
        sp -= 8;
        wr64(c, sp, lo, hi2);
      };
      q(oldSs, 0);
      q(oldRspLo, oldRspHi);
      q(oldFlags, 0);
      q(oldCs, 0);
      q(ripLo, ripHi);
      if (pushCode) q(code, 0);
      rsp = sp;
    } catch (e) {
      c.tlbUser = save;
      throw e;
    }
    c.dlo = dl;
    c.dhi = dh;
    loadFromDesc(c, Seg.CS, (sel & 0xfffc) | newCpl);
    c.segAttr[Seg.CS] = (c.segAttr[Seg.CS]! & ~0x60) | (newCpl << 5);
    if (cplChange) {
      c.segSel[Seg.SS] = newCpl;
      c.segBase[Seg.SS] = 0;
      c.segLimit[Seg.SS] = 0;
      c.segAttr[Seg.SS] = SEG_ATTR_UNUSABLE | (newCpl << 5);
    }
    setRsp64(c, rsp);
    c.rip = ripOf(w2, target, c); // signed canonical: the gate's high dword was read as a signed int32
  } else {
    let newSsSel = oldSs;
    let espNew = c.gpr[Gp.SpLo]!;
    const oldEsp = c.gpr[Gp.SpLo]!;
    let ssChange = false;
    if (newCpl < c.cpl) {
      const tssBase = c.segBase[Seg.TR]!;
      const tss32 = (c.segAttr[Seg.TR]! & 8) !== 0;
      c.tlbUser = 0;
      try {
        if (tss32) {
          espNew = rd32(c, (tssBase + 4 + newCpl * 8) % Pow.Two32);
          newSsSel = rd16(c, (tssBase + 8 + newCpl * 8) % Pow.Two32);
        } else {
          espNew = rd16(c, (tssBase + 2 + newCpl * 4) % Pow.Two32);
          newSsSel = rd16(c, (tssBase + 4 + newCpl * 4) % Pow.Two32);
        }
      } finally {
        c.tlbUser = save;
      }
      ssChange = true;
    }
    const cplSave = c.cpl;
    const ssSave = [c.segSel[Seg.SS]!, c.segBase[Seg.SS]!, c.segLimit[Seg.SS]!, c.segAttr[Seg.SS]!] as const;
    if (ssChange) {
      c.cpl = newCpl;
      try {
        loadSeg(c, Seg.SS, newSsSel);
      } catch (e) {
        c.cpl = cplSave;
        if (e === FAULT) c.excVec = VEC_TS;
        throw e;
      }
      c.gpr[Gp.SpLo] = espNew;
    }
    c.tlbUser = newCpl === 3 ? Tlb.Size : 0;
    const ss32 = (c.segAttr[Seg.SS]! & (1 << 14)) !== 0;
    c.stackSize = ss32 ? 4 : 2;
    const w = gate32 ? 4 : 2;
    try {
      if (ssChange) {
        push(c, w, oldSs);
        push(c, w, oldEsp);
      }
      push(c, w, oldFlags);
      push(c, w, oldCs);
      push(c, w, oldRipV);
      if (pushCode) push(c, w, code);
    } catch (e) {
      c.cpl = cplSave;
      c.tlbUser = save;
      c.segSel[Seg.SS] = ssSave[0];
      c.segBase[Seg.SS] = ssSave[1];
      c.segLimit[Seg.SS] = ssSave[2];
      c.segAttr[Seg.SS] = ssSave[3];
      c.gpr[Gp.SpLo] = oldEsp;
      c.updateMode();
      throw e;
    }
    c.dlo = dl;
    c.dhi = dh;
    loadFromDesc(c, Seg.CS, (sel & 0xfffc) | newCpl);
    c.segAttr[Seg.CS] = (c.segAttr[Seg.CS]! & ~0x60) | (newCpl << 5);
    c.rip = target;
  }
  let clear = Bit.TF | Bit.NT | Bit.RF | Bit.VM;
  if (!trap) clear |= Bit.IF;
  putFlags(c, 0, clear);
  c.updateMode();
}

/**
 * INT n / INT3 / INTO / INT1 from the instruction at `insnRip` (rip is already the
 * next instruction). A fault during delivery is reported at the INT instruction.
 */
export function deliverSoft(c: EmuCpu, vector: number, int1: boolean, insnRip: number): void {
  deliver(c, vector, -1, !int1, int1, insnRip);
}

/** Faults delivered in a row without an instruction retiring before a slice ends anyway (the host must get its turn). */
const FAULT_STORM = 4096;

/** Raises the pending fault recorded by raise(): rip must point at the faulting instruction. */
export function deliverPendingFault(c: EmuCpu): void {
  const v = c.excVec;
  const code = c.excCode;
  if (v < 0) return; // unrepresentable(): the vCPU stops at the instruction
  // A handler that faults before its first instruction retires (unmapped, or its own #PF on fetch) delivers
  // faults for ever without retiring anything, so the slice's instruction budget never runs out: end it.
  if (c.instructions !== c.faultMark) {
    c.faultMark = c.instructions;
    c.faultRun = 0;
  } else if (++c.faultRun >= FAULT_STORM) {
    c.faultRun = 0;
    c.faultStorm = true;
    c.breakRun = true;
  }
  // A fault's frame carries RF = 1 so that IRET resumes past any instruction breakpoint on the
  // faulting instruction (SDM 18.3.1.1). Instruction-breakpoint #DBs do not come through here.
  c.rfInFrame = true;
  try {
    deliver(c, v, code, false, false);
  } finally {
    c.rfInFrame = false;
  }
}
