/**
 * Control flow and stack handlers: Jcc/JMP/CALL/RET (near and far), LOOP/JCXZ,
 * PUSH/POP forms, ENTER/LEAVE, PUSHF/POPF, INT/INTO/INT3/IRET, HLT.
 */
import type { EmuCpu } from './cpu.js';
import { CR0_PE, VEC_GP, VEC_OF, VEC_SS, FAULT, Seg, Pow, Gp } from './x86-defs.js';
import { Bit } from './flags.js';
import { BIG, addIp, canonicalTarget, halvesOf, nextIp, nonCanonical, plusBig, ripPlus, targetOf, nonCanonicalHi } from './address.js';
import type { Insn } from './insn.js';
import { ea, rdE, rdEs, stE } from './operands.js';
import { deliverSoft, gp, raise, ud, unimplemented } from './exceptions.js';
import { cond, getFlags, getOF, getZF, putFlags } from './lazy-flags.js';
import { addRsp, pop, push, push64, setRsp64, stackLin } from './stack.js';
import { probeWrite, rd, rd16, rd32, rd64, wr16, wr32 } from './mem-access.js';
import { r64, setReg } from './gpr.js';
import { descWords, loadCs, loadSeg, readDescriptor } from './segmentation.js';
import { taskSwitch } from './task-switch.js';

/** Branch target rip + rel wrapped to the operand size; #GP for a non-canonical 64-bit target. */
export function relTarget(c: EmuCpu, i: Insn): number {
  const t = c.bip + i.end + i.imm;
  if (i.osz !== 8) return nearTarget(c, t, i.osz);
  // Beyond 48 bits exactly (a RIP or target beyond +-2^53 is a code handle: address.ts ripOf).
  return t >= -Pow.Two47 && t < Pow.Two47 ? t : ripPlus(c, c.bip, i.end + i.imm);
}
/** A near branch's target `t` (rip + rel, not yet wrapped) for operand size `osz`: wrapped, then checked as relTarget does. */
export function nearTarget(c: EmuCpu, t: number, osz: number): number {
  if (osz === 8) return canonicalTarget(c, t);
  return limitCheck(c, osz === 4 ? t >>> 0 : t & 0xffff);
}
/** Outside 64-bit mode a near branch beyond the CS limit is #GP(0) at the branch. */
function limitCheck(c: EmuCpu, t: number): number {
  if (t > c.segLimit[Seg.CS]! && !c.long64) return gp(c, 0);
  return t;
}
/** Pushes return address `ip` (a code handle too: address.ts ripOf) with operand size `osz`. */
function pushIp(c: EmuCpu, osz: number, ip: number): void {
  if (ip >= -Pow.Two47 && ip < Pow.Two47) return push(c, osz, ip >>> 0, Math.floor(ip / Pow.Two32) | 0);
  halvesOf(ip);
  push(c, osz, BIG.lo, BIG.hi);
}
/** Sets rip for an absolute near target of operand size osz. */
function setNear(c: EmuCpu, osz: number, lo: number, hi: number): void {
  if (osz === 8) c.rip = targetOf(c, hi, lo);
  else if (osz === 4) c.rip = c.long64 ? lo >>> 0 : limitCheck(c, lo >>> 0);
  else c.rip = c.long64 ? lo & 0xffff : limitCheck(c, lo & 0xffff);
}

export function jcc(c: EmuCpu, i: Insn): void {
  if (cond(c, i.op)) c.rip = relTarget(c, i);
}
/** JNZ/JZ fast paths (the most common loop branches). */
export function jnz(c: EmuCpu, i: Insn): void {
  if (getZF(c) === 0) c.rip = relTarget(c, i);
}
export function jz(c: EmuCpu, i: Insn): void {
  if (getZF(c) !== 0) c.rip = relTarget(c, i);
}
export function jmpRel(c: EmuCpu, i: Insn): void {
  c.rip = relTarget(c, i);
}
export function callRel(c: EmuCpu, i: Insn): void {
  const t = relTarget(c, i);
  pushIp(c, i.osz, nextIp(c, i));
  c.rip = t;
}
/** CALL rel32 in 64-bit mode (the stack is 64-bit there). */
export function callRel64(c: EmuCpu, i: Insn): void {
  const t = relTarget(c, i);
  const n = nextIp(c, i);
  if (n >= -Pow.Two47 && n < Pow.Two47) push64(c, n | 0, Math.floor(n / Pow.Two32) | 0);
  else pushIp(c, 8, n);
  c.rip = t;
}
export function jmpE(c: EmuCpu, i: Insn): void {
  const lo = rdE(c, i);
  setNear(c, i.osz, lo, c.hi);
}
export function callE(c: EmuCpu, i: Insn): void {
  const lo = rdE(c, i);
  const hi = c.hi;
  const n = nextIp(c, i);
  const save = c.rip;
  setNear(c, i.osz, lo, hi);
  const t = c.rip;
  c.rip = save;
  pushIp(c, i.osz, n);
  c.rip = t;
}
/** RET / RET imm16 (imm = bytes to release). */
export function retNear(c: EmuCpu, i: Insn): void {
  const lo = rd(c, i.osz, stackLin(c, 0));
  const hi = c.hi;
  setNear(c, i.osz, lo, hi);
  addRsp(c, i.osz + i.imm);
}

/** RET in 64-bit mode with a 64-bit operand and nothing to release. */
export function ret64(c: EmuCpu, _i: Insn): void {
  const a = stackLin(c, 0);
  const lo = rd64(c, a);
  c.rip = targetOf(c, c.hi, lo);
  setRsp64(c, a + 8);
}

/** LOOP (op 0), LOOPE (1), LOOPNE (2), JCXZ (3); counter size from the address size (imm2). */
export function loop(c: EmuCpu, i: Insn): void {
  const asz = i.imm2;
  let zero: boolean;
  if (i.op === 3) {
    zero = asz === 2 ? (c.gpr[Gp.CxLo]! & 0xffff) === 0 : asz === 4 ? c.gpr[Gp.CxLo] === 0 : (c.gpr[Gp.CxLo]! | c.gpr[Gp.CxHi]!) === 0;
    if (zero) c.rip = relTarget(c, i);
    return;
  }
  if (asz === 2) {
    const v = (c.gpr[Gp.CxLo]! - 1) & 0xffff;
    c.gpr[Gp.CxLo] = (c.gpr[Gp.CxLo]! & ~0xffff) | v;
    zero = v === 0;
  } else if (asz === 4) {
    const v = (c.gpr[Gp.CxLo]! - 1) | 0;
    c.gpr[Gp.CxLo] = v;
    if (c.long64) c.gpr[Gp.CxHi] = 0;
    zero = v === 0;
  } else {
    const lo = c.gpr[Gp.CxLo]!;
    c.gpr[Gp.CxLo] = (lo - 1) | 0;
    if (lo === 0) c.gpr[Gp.CxHi] = (c.gpr[Gp.CxHi]! - 1) | 0;
    zero = (c.gpr[Gp.CxLo]! | c.gpr[Gp.CxHi]!) === 0;
  }
  let take = !zero;
  if (i.op === 1) take = take && getZF(c) !== 0;
  else if (i.op === 2) take = take && getZF(c) === 0;
  if (take) c.rip = relTarget(c, i);
}

// ---------------------------------------------------------------- stack

export function pushR(c: EmuCpu, i: Insn): void {
  push(c, i.osz, c.gpr[i.rm << 1]!, c.gpr[(i.rm << 1) | 1]!);
}
export function popR(c: EmuCpu, i: Insn): void {
  const v = pop(c, i.osz);
  setReg(c, i.osz, i.rm, v, c.hi);
}
/** PUSH r64 / POP r64 (64-bit mode: a 64-bit stack, RSP as the linear address). */
export function push64r(c: EmuCpu, i: Insn): void {
  push64(c, c.gpr[i.rm << 1]!, c.gpr[(i.rm << 1) | 1]!); // PUSH RSP pushes RSP before the decrement
}
export function pop64r(c: EmuCpu, i: Insn): void {
  const a = stackLin(c, 0);
  const lo = rd64(c, a);
  const hi = c.hi;
  setRsp64(c, a + 8);
  // POP RSP: the popped value, written after the increment.
  c.gpr[i.rm << 1] = lo;
  c.gpr[(i.rm << 1) | 1] = hi;
}
export function push32r(c: EmuCpu, i: Insn): void {
  if (c.stackSize !== 4) return pushR(c, i);
  const esp = (c.gpr[Gp.SpLo]! - 4) | 0;
  wr32(c, stackLin(c, -4), c.gpr[i.rm << 1]!);
  c.gpr[Gp.SpLo] = esp;
}
export function pop32r(c: EmuCpu, i: Insn): void {
  if (c.stackSize !== 4) return popR(c, i);
  const v = rd32(c, stackLin(c, 0));
  c.gpr[Gp.SpLo] = (c.gpr[Gp.SpLo]! + 4) | 0;
  c.gpr[i.rm << 1] = v;
  c.gpr[(i.rm << 1) | 1] = 0;
}
export function pushI(c: EmuCpu, i: Insn): void {
  push(c, i.osz, i.imm, i.immHi);
}
export function pushE(c: EmuCpu, i: Insn): void {
  const v = rdE(c, i);
  push(c, i.osz, v, c.hi);
}
export function popE(c: EmuCpu, i: Insn): void {
  // The address is computed with the incremented stack pointer (SDM POP).
  const v = rd(c, i.osz, stackLin(c, 0));
  const h = c.hi;
  addRsp(c, i.osz);
  try {
    stE(c, i, v, h);
  } catch (e) {
    addRsp(c, -i.osz);
    throw e;
  }
}
/** PUSH segment (rm = segment index). */
export function pushSeg(c: EmuCpu, i: Insn): void {
  push(c, i.osz, c.segSel[i.rm]!);
}
export function popSeg(c: EmuCpu, i: Insn): void {
  const v = rd(c, i.osz === 8 ? 8 : i.osz, stackLin(c, 0)) & 0xffff;
  loadSeg(c, i.rm, v);
  addRsp(c, i.osz);
  if (i.rm === Seg.SS) c.shadow = true;
}
export function pusha(c: EmuCpu, i: Insn): void {
  const sp = c.gpr[Gp.SpLo]!;
  const size = i.osz;
  probeWrite(c, stackLin(c, -size * 8), size * 8);
  for (let r = 0; r < 8; r++) push(c, size, r === 4 ? sp : c.gpr[r << 1]!);
}
export function popa(c: EmuCpu, i: Insn): void {
  const size = i.osz;
  for (let r = 7; r >= 0; r--) {
    const v = pop(c, size);
    if (r !== 4) setReg(c, size, r, v);
  }
}
export function enter(c: EmuCpu, i: Insn): void {
  const size = i.osz;
  const alloc = i.imm & 0xffff;
  const level = i.imm2 & 31;
  push(c, size, c.gpr[Gp.BpLo]!, c.gpr[Gp.BpHi]!);
  const frameLo = c.gpr[Gp.SpLo]!;
  const frameHi = c.gpr[Gp.SpHi]!;
  if (level > 0) {
    const ss = c.stackSize;
    for (let k = 1; k < level; k++) {
      // Copy the enclosing frame pointers ([rBP - k*size], rBP of the stack address size).
      const bpOff = ss === 8 ? r64(c, 5) - k * size : ss === 4 ? (c.gpr[Gp.BpLo]! - k * size) >>> 0 : (c.gpr[Gp.BpLo]! - k * size) & 0xffff;
      let a: number;
      if (ss !== 8) a = (c.segBase[Seg.SS]! + bpOff) % Pow.Two32;
      else if (bpOff > -Pow.Two52 && bpOff < Pow.Two52) {
        if (nonCanonical(c, bpOff)) return raise(c, VEC_SS, 0);
        a = bpOff;
      } else {
        // RBP beyond +-2^52 (5-level paging): exactly from its halves (a handle beyond +-2^53).
        BIG.lo = c.gpr[Gp.BpLo]! >>> 0;
        BIG.hi = c.gpr[Gp.BpHi]!;
        a = plusBig(c, -1, Pow.Two32 - k * size);
        if (nonCanonicalHi(c, BIG.hi)) return raise(c, VEC_SS, 0);
      }
      const v = rd(c, size, a);
      push(c, size, v, c.hi);
    }
    push(c, size, frameLo, frameHi);
  }
  // rBP <- FrameTemp at the stack address size (SDM ENTER).
  if (c.stackSize === 8) setReg(c, 8, 5, frameLo, frameHi);
  else if (c.stackSize === 4) c.gpr[Gp.BpLo] = frameLo;
  else c.gpr[Gp.BpLo] = (c.gpr[Gp.BpLo]! & ~0xffff) | (frameLo & 0xffff);
  addRsp(c, -alloc);
  // Touch the new top of stack so a fault is raised at ENTER (SDM).
  if (alloc > 0) probeWrite(c, stackLin(c, 0), 1);
}
export function leave(c: EmuCpu, i: Insn): void {
  const ss = c.stackSize;
  if (ss === 8) {
    c.gpr[Gp.SpLo] = c.gpr[Gp.BpLo]!;
    c.gpr[Gp.SpHi] = c.gpr[Gp.BpHi]!;
  } else if (ss === 4) c.gpr[Gp.SpLo] = c.gpr[Gp.BpLo]!;
  else c.gpr[Gp.SpLo] = (c.gpr[Gp.SpLo]! & ~0xffff) | (c.gpr[Gp.BpLo]! & 0xffff);
  const v = pop(c, i.osz);
  setReg(c, i.osz, 5, v, c.hi);
}

export function pushf(c: EmuCpu, i: Insn): void {
  if ((c.flags & Bit.VM) !== 0 && (c.flags & Bit.IOPL) !== Bit.IOPL) return gp(c, 0);
  push(c, i.osz, getFlags(c) & ~(Bit.VM | Bit.RF));
}
export function popf(c: EmuCpu, i: Insn): void {
  if ((c.flags & Bit.VM) !== 0 && (c.flags & Bit.IOPL) !== Bit.IOPL) return gp(c, 0);
  const v = pop(c, i.osz);
  let mask = Bit.Arith | Bit.TF | Bit.DF | Bit.NT | Bit.IF | Bit.IOPL | Bit.AC | Bit.ID;
  if ((c.cr0 & CR0_PE) !== 0) {
    if (c.cpl > 0) mask &= ~Bit.IOPL;
    if (c.cpl > (c.flags & Bit.IOPL) >>> 12) mask &= ~Bit.IF;
  }
  if (i.osz === 2) mask &= 0xffff;
  putFlags(c, v, mask);
}

// ---------------------------------------------------------------- interrupts

/** INT n (op = vector), INT3 (op 3, imm2 1), INTO (op 4, imm2 2), INT1 (op 1, imm2 3). */
export function intN(c: EmuCpu, i: Insn): void {
  if (i.imm2 === 2 && getOF(c) === 0) return;
  if ((c.flags & Bit.VM) !== 0 && (c.flags & Bit.IOPL) !== Bit.IOPL && i.imm2 === 0) return gp(c, 0);
  if (i.imm2 === 2 && c.long64) return ud(c);
  c.rip = nextIp(c, i);
  deliverSoft(c, i.op, i.imm2 === 3, addIp(c.bip, i.start, c.codeSize));
}

export function hlt(c: EmuCpu, _i: Insn): void {
  if (c.cpl !== 0) return gp(c, 0);
  c.halted = true;
  c.counts.hlt++;
}

export function cli(c: EmuCpu, _i: Insn): void {
  if ((c.cr0 & CR0_PE) !== 0 && c.cpl > (c.flags & Bit.IOPL) >>> 12) return gp(c, 0);
  c.flags &= ~Bit.IF;
}
export function sti(c: EmuCpu, _i: Insn): void {
  if ((c.cr0 & CR0_PE) !== 0 && c.cpl > (c.flags & Bit.IOPL) >>> 12) return gp(c, 0);
  if ((c.flags & Bit.IF) === 0) c.shadow = true;
  c.flags |= Bit.IF;
}

/** Nulls data segments not accessible at the new (outer) CPL (RET/IRET to an outer level). */
function nullOuterSegments(c: EmuCpu): void {
  for (const s of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) {
    const a = c.segAttr[s]!;
    const dpl = (a >>> 5) & 3;
    const conformingCode = (a & 0xc) === 0xc;
    if ((a & 0x10) !== 0 && !conformingCode && dpl < c.cpl) {
      c.segSel[s] = 0;
      c.segAttr[s] = 1 << 16;
    }
  }
  c.segChanged();
}

/** Far RET (imm = bytes to release). */
export function retFar(c: EmuCpu, i: Insn): void {
  const size = i.osz;
  const ipLo = rd(c, size, stackLin(c, 0));
  const ipHi = c.hi;
  const sel = rd(c, size, stackLin(c, size)) & 0xffff;
  if ((c.cr0 & CR0_PE) === 0 || (c.flags & Bit.VM) !== 0) {
    loadCs(c, sel, 0, 'ret');
    addRsp(c, 2 * size + i.imm);
    setNear(c, size, ipLo, ipHi);
    return;
  }
  const rpl = sel & 3;
  if (rpl < c.cpl) return gp(c, sel & 0xfffc);
  if (rpl === c.cpl) {
    loadCs(c, sel, rpl, 'ret');
    addRsp(c, 2 * size + i.imm);
    setNear(c, size, ipLo, ipHi);
    return;
  }
  // Return to an outer privilege level: also pop SS:ESP.
  const spLo = rd(c, size, stackLin(c, 2 * size + i.imm));
  const spHi = c.hi;
  const ss = rd(c, size, stackLin(c, 3 * size + i.imm)) & 0xffff;
  loadCs(c, sel, rpl, 'ret');
  loadSsForOuter(c, ss, rpl);
  setReg(c, c.stackSize === 8 ? 8 : c.stackSize, 4, spLo, spHi);
  if (c.stackSize !== 8 && size === 8) c.gpr[Gp.SpHi] = spHi;
  addRsp(c, i.imm);
  setNear(c, size, ipLo, ipHi);
  nullOuterSegments(c);
}

function loadSsForOuter(c: EmuCpu, ss: number, rpl: number): void {
  // CPL is already the new (outer) level after loadCs.
  if ((ss & 0xfffc) === 0 && c.long64 && rpl !== 3) {
    c.segSel[Seg.SS] = ss;
    c.segAttr[Seg.SS] = (1 << 16) | (rpl << 5);
    c.updateMode();
    return;
  }
  loadSeg(c, Seg.SS, ss);
}

/**
 * Far CALL/JMP through a call gate (SDM vol. 2 CALL, "call gate" paths): returns false when `sel`
 * is not a call gate. JMP stays at the current privilege; CALL to a more privileged non-conforming
 * segment switches to the TSS stack of the target privilege and copies the gate's parameters.
 */
function viaCallGate(c: EmuCpu, sel: number, isCall: boolean, retIp: number): boolean {
  if ((c.cr0 & CR0_PE) === 0 || (c.flags & Bit.VM) !== 0 || (sel & 0xfffc) === 0) return false;
  const gateAddr = readDescriptor(c, sel);
  const g = descWords(c);
  if ((g.hi & 0x1000) !== 0) return false;
  const type = (g.hi >>> 8) & 0xf;
  const lma = (c.efer & (1 << 10)) !== 0;
  if (!lma && (type === 0x9 || type === 0x5)) {
    // Far JMP/CALL to a TSS or a task gate: a task switch.
    const dpl = (g.hi >>> 13) & 3;
    if (dpl < c.cpl || dpl < (sel & 3)) return gp(c, sel & 0xfffc);
    if ((g.hi & 0x8000) === 0) return raise(c, 11, sel & 0xfffc);
    taskSwitch(c, type === 0x5 ? g.lo >>> 16 : sel, isCall ? 'call' : 'jmp', retIp);
    return true;
  }
  if (!(type === 0xc || (!lma && type === 0x4))) return false;
  const gdpl = (g.hi >>> 13) & 3;
  if (gdpl < c.cpl || gdpl < (sel & 3)) return gp(c, sel & 0xfffc);
  if ((g.hi & 0x8000) === 0) return raise(c, 11, sel & 0xfffc);
  const tsel = g.lo >>> 16;
  let target = type === 0x4 ? g.lo & 0xffff : ((g.hi & 0xffff0000) | (g.lo & 0xffff)) >>> 0;
  let targetHi = 0;
  if (lma) {
    const save = c.tlbUser;
    c.tlbUser = 0;
    let hi: number;
    let upper: number;
    try {
      hi = rd32(c, gateAddr + 8);
      upper = rd32(c, gateAddr + 12);
    } finally {
      c.tlbUser = save;
    }
    // The upper half's type field must be 0, so that a legacy descriptor is never read as a 64-bit gate's tail.
    if (((upper >>> 8) & 0x1f) !== 0) return gp(c, sel & 0xfffc);
    targetHi = hi;
  }
  const gsize = lma ? 8 : type === 0xc ? 4 : 2;
  const params = lma ? 0 : g.hi & 0x1f;
  if ((tsel & 0xfffc) === 0) return gp(c, 0);
  readDescriptor(c, tsel);
  const t = descWords(c);
  const tdpl = (t.hi >>> 13) & 3;
  const conforming = (t.hi & 0x400) !== 0;
  if ((t.hi & 0x1800) !== 0x1800 || tdpl > c.cpl) return gp(c, tsel & 0xfffc);
  if (!isCall && !conforming && tdpl !== c.cpl) return gp(c, tsel & 0xfffc);
  // A 64-bit gate leads to 64-bit code (L=1, D=0) at a canonical address; checked before any state changes.
  if (lma && (t.hi & 0x600000) !== 0x200000) return gp(c, tsel & 0xfffc);
  if (lma) target = targetOf(c, targetHi, target);
  const oldCs = c.segSel[Seg.CS]!;
  if (isCall && !conforming && tdpl < c.cpl) {
    // More privileged: new stack from the TSS, old SS:rSP (and parameters) pushed on it.
    const oldSs = c.segSel[Seg.SS]!;
    const oldSpLo = c.gpr[Gp.SpLo]!;
    const oldSpHi = c.gpr[Gp.SpHi]!;
    const oldStackSize = c.stackSize;
    const paramVals: number[] = [];
    for (let k = params - 1; k >= 0; k--) paramVals.push(rd(c, gsize, stackLin(c, k * gsize)));
    const save = c.tlbUser;
    c.tlbUser = 0;
    let newSp: number;
    let newSpHi = 0;
    let newSs = tdpl;
    try {
      const tss = c.segBase[Seg.TR]!;
      if (lma) {
        newSp = rd32(c, tss + 4 + tdpl * 8);
        newSpHi = rd32(c, tss + 8 + tdpl * 8);
      } else if ((c.segAttr[Seg.TR]! & 8) !== 0) {
        newSp = rd32(c, (tss + 4 + tdpl * 8) % Pow.Two32);
        newSs = rd16(c, (tss + 8 + tdpl * 8) % Pow.Two32);
      } else {
        newSp = rd16(c, (tss + 2 + tdpl * 4) % Pow.Two32);
        newSs = rd16(c, (tss + 4 + tdpl * 4) % Pow.Two32);
      }
    } finally {
      c.tlbUser = save;
    }
    if (lma) {
      // The 32 bytes pushed below the new RSP must all be canonical (SS is NULL in 64-bit mode: #SS(0)).
      const sp = newSpHi * Pow.Two32 + (newSp >>> 0);
      if (nonCanonical(c, sp - 32) || nonCanonical(c, sp - 1)) return raise(c, VEC_SS, 0);
    }
    loadCs(c, tsel, tdpl, 'int');
    if (lma) {
      c.segSel[Seg.SS] = tdpl;
      c.segAttr[Seg.SS] = (1 << 16) | (tdpl << 5);
      c.segBase[Seg.SS] = 0;
      c.updateMode();
      c.gpr[Gp.SpLo] = newSp;
      c.gpr[Gp.SpHi] = newSpHi;
    } else {
      loadSeg(c, Seg.SS, newSs);
      setReg(c, c.stackSize === 4 ? 4 : 2, 4, newSp);
    }
    push(c, gsize, oldSs);
    push(c, gsize, oldSpLo, oldStackSize === 8 ? oldSpHi : 0);
    for (const v of paramVals) push(c, gsize, v);
  } else {
    loadCs(c, tsel, c.cpl, 'int');
  }
  if (isCall) {
    push(c, gsize, oldCs);
    pushIp(c, gsize, retIp);
  }
  c.rip = lma ? target : target >>> 0;
  return true;
}

// The far pointer of the last readFarPointer (module scratch: no allocation per far branch).
let farOff = 0;
let farOffHi = 0;
let farSel = 0;

/** Reads a far JMP/CALL target: ptr16:x (op 0: imm = offset, imm2 = selector) or m16:x (op 1, #UD for a register). */
function readFarPointer(c: EmuCpu, i: Insn): void {
  if (i.op === 1) {
    if (i.mod === 3) ud(c);
    const a = ea(c, i);
    farOff = rd(c, i.osz, a);
    farOffHi = c.hi;
    farSel = rd16(c, c.long64 ? a + i.osz : (a + i.osz) % Pow.Two32);
  } else {
    farOff = i.imm;
    farOffHi = 0;
    farSel = i.imm2;
  }
}

/** Far JMP ptr (imm = offset, imm2 = selector) or JMP m16:x (mod != 3, op = 1 for FF /5). */
export function jmpFar(c: EmuCpu, i: Insn): void {
  readFarPointer(c, i);
  const off = farOff;
  const offHi = farOffHi;
  const sel = farSel;
  if (viaCallGate(c, sel, false, nextIp(c, i))) return;
  loadCs(c, sel, c.cpl, 'jmp');
  setNear(c, i.osz, off, offHi);
}

/** Far CALL ptr (op 0) or m16:x (op 1). */
export function callFar(c: EmuCpu, i: Insn): void {
  readFarPointer(c, i);
  const off = farOff;
  const offHi = farOffHi;
  const sel = farSel;
  const oldCs = c.segSel[Seg.CS]!;
  const n = nextIp(c, i);
  const size = i.osz;
  if (viaCallGate(c, sel, true, n)) return;
  // Check the stack before changing CS (faults must leave CS unchanged).
  probeWrite(c, stackLin(c, -2 * size), 2 * size);
  const saved = [c.segSel[Seg.CS]!, c.segBase[Seg.CS]!, c.segLimit[Seg.CS]!, c.segAttr[Seg.CS]!] as const;
  loadCs(c, sel, c.cpl, 'jmp');
  try {
    push(c, size, oldCs);
    pushIp(c, size, n);
  } catch (e) {
    c.segSel[Seg.CS] = saved[0];
    c.segBase[Seg.CS] = saved[1];
    c.segLimit[Seg.CS] = saved[2];
    c.segAttr[Seg.CS] = saved[3];
    c.updateMode();
    throw e;
  }
  setNear(c, size, off, offHi);
}

/** IRET / IRETD / IRETQ. */
export function iret(c: EmuCpu, i: Insn): void {
  const size = i.osz;
  if ((c.cr0 & CR0_PE) === 0) {
    const ip = rd(c, size, stackLin(c, 0));
    const cs = rd(c, size, stackLin(c, size)) & 0xffff;
    const fl = rd(c, size, stackLin(c, 2 * size));
    addRsp(c, 3 * size);
    loadCs(c, cs, 0, 'ret');
    c.rip = size === 2 ? ip & 0xffff : ip >>> 0;
    putFlags(c, fl, size === 2 ? 0xffff : 0x257fd5);
    c.updateMode();
    unblockNmi(c);
    return;
  }
  if ((c.flags & Bit.VM) !== 0) return unimplemented(c, 'IRET in virtual-8086 mode');
  if ((c.flags & Bit.NT) !== 0 && !c.long64 && (c.efer & (1 << 10)) === 0) {
    // Task return: back to the task linked in this TSS.
    const save = c.tlbUser;
    c.tlbUser = 0;
    let link: number;
    try {
      link = rd16(c, c.segBase[Seg.TR]!);
    } finally {
      c.tlbUser = save;
    }
    taskSwitch(c, link, 'iret', nextIp(c, i));
    unblockNmi(c);
    return;
  }
  const ipLo = rd(c, size, stackLin(c, 0));
  const ipHi = c.hi;
  const cs = rd(c, size, stackLin(c, size)) & 0xffff;
  const fl = rd(c, size, stackLin(c, 2 * size));
  const rpl = cs & 3;
  if (rpl < c.cpl) return gp(c, cs & 0xfffc);
  if ((fl & Bit.VM) !== 0 && c.cpl === 0 && !c.long64) return unimplemented(c, 'IRET to virtual-8086 mode');
  const oldCpl = c.cpl;
  const oldIopl = (c.flags & Bit.IOPL) >>> 12;
  let mask = 0x257fd5 & ~Bit.VM;
  if (oldCpl > 0) mask &= ~Bit.IOPL;
  if (oldCpl > oldIopl) mask &= ~Bit.IF;
  if (size === 2) mask &= 0xffff;
  const popStack = c.long64 || rpl > oldCpl;
  let spLo = 0;
  let spHi = 0;
  let ss = 0;
  if (popStack) {
    spLo = rd(c, size, stackLin(c, 3 * size));
    spHi = c.hi;
    ss = rd(c, size, stackLin(c, 4 * size)) & 0xffff;
  }
  const saved = [c.segSel[Seg.CS]!, c.segBase[Seg.CS]!, c.segLimit[Seg.CS]!, c.segAttr[Seg.CS]!] as const;
  loadCs(c, cs, rpl, 'ret');
  try {
    if (popStack) {
      loadSsForOuter(c, ss, rpl);
      if (c.long64 || c.stackSize === 8 || size === 8) {
        c.gpr[Gp.SpLo] = spLo;
        c.gpr[Gp.SpHi] = size === 8 ? spHi : 0;
      } else setReg(c, c.stackSize, 4, spLo);
    } else addRsp(c, 3 * size);
  } catch (e) {
    if (e === FAULT) {
      c.segSel[Seg.CS] = saved[0];
      c.segBase[Seg.CS] = saved[1];
      c.segLimit[Seg.CS] = saved[2];
      c.segAttr[Seg.CS] = saved[3];
      c.updateMode();
    }
    throw e;
  }
  putFlags(c, fl, mask);
  c.updateMode();
  setNear(c, size === 2 && c.long64 ? 2 : c.long64 ? 8 : size, ipLo, ipHi);
  if (rpl > oldCpl) nullOuterSegments(c);
  unblockNmi(c);
}

/** IRET ends NMI blocking: a pending NMI is taken at the next poll. */
function unblockNmi(c: EmuCpu): void {
  if (!c.nmiBlocked) return;
  c.nmiBlocked = false;
  c.pollAt = 0;
}

/** MOV Sreg, E (op = segment). */
export function movSegE(c: EmuCpu, i: Insn): void {
  if (i.op === Seg.CS || i.op > Seg.GS) return ud(c);
  const v = rdEs(c, i, 2);
  loadSeg(c, i.op, v);
  if (i.op === Seg.SS) c.shadow = true;
}
/** MOV E, Sreg. */
export function movESeg(c: EmuCpu, i: Insn): void {
  if (i.op > Seg.GS) return ud(c);
  const v = c.segSel[i.op]!;
  if (i.mod === 3) setReg(c, i.osz === 8 ? 8 : i.osz, i.rm, v, 0);
  else wr16(c, ea(c, i), v);
}
/** LDS/LES/LFS/LGS/LSS G, m (op = segment). */
export function loadFarPtr(c: EmuCpu, i: Insn): void {
  if (i.mod === 3) return ud(c);
  const a = ea(c, i);
  const off = rd(c, i.osz, a);
  const offHi = c.hi;
  const sel = rd16(c, c.long64 ? a + i.osz : (a + i.osz) % Pow.Two32);
  loadSeg(c, i.op, sel);
  setReg(c, i.osz, i.reg, off, offHi);
  if (i.op === Seg.SS) c.shadow = true;
}

export { VEC_GP, VEC_OF };
