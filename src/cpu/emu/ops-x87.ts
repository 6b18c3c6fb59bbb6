/**
 * x87 instructions on the CPU: every D8-DF escape and WAIT/FWAIT run through fpu/x87.ts after the
 * checks the CPU makes first (#NM from CR0.EM/TS/MP, #UD, then #MF or FERR# for a pending unmasked
 * exception). This file connects the CPU's side: memory through the TLB (faults are the guest's),
 * RFLAGS (FCOMI*, FCMOVcc), AX (FNSTSW AX), the last instruction and data pointers (offset and
 * selector, linear addresses in real and virtual-8086 mode), and the FXSAVE/XSAVE legacy region.
 */
import type { EmuCpu } from './cpu.js';
import type { Insn } from './insn.js';
import { CR0_PE, Pow, Seg } from './x86-defs.js';
import { Bit } from './flags.js';
import { ea } from './operands.js';
import { raise } from './exceptions.js';
import { probeWrite, rd16, rd32, rd8, wr16, wr32, wr8 } from './mem-access.js';
import { addIp, addLin } from './address.js';
import { setReg } from './gpr.js';
import { getFlags, putFlags } from './lazy-flags.js';
import { X87Ctx, type X87Bus } from './fpu/x87-core.js';
import { GATE_FERR, GATE_RUN, X87_AX, X87_EFLAGS, X87_UD, x87Execute, x87Gate } from './fpu/x87.js';
import { fxrstorX87, fxsaveX87 } from './fpu/x87-env.js';

/** The CPU's memory as the x87 instructions see it (linear addresses). */
export class CpuX87Bus implements X87Bus {
  c: EmuCpu | null = null;
  rd8(a: number): number {
    return rd8(this.c!, a);
  }
  rd16(a: number): number {
    return rd16(this.c!, a);
  }
  rd32(a: number): number {
    return rd32(this.c!, a);
  }
  wr8(a: number, v: number): void {
    wr8(this.c!, a, v);
  }
  wr16(a: number, v: number): void {
    wr16(this.c!, a, v);
  }
  wr32(a: number, v: number): void {
    wr32(this.c!, a, v);
  }
  add(a: number, k: number): number {
    return addLin(a, k, this.c!.long64);
  }
  probeWrite(a: number, n: number): void {
    probeWrite(this.c!, a, n);
  }
}

const BUS = new CpuX87Bus();
const CTX = new X87Ctx();
const OSZAPC = Bit.OF | Bit.SF | Bit.ZF | Bit.AF | Bit.PF | Bit.CF;

function busOf(c: EmuCpu): CpuX87Bus {
  BUS.c = c;
  return BUS;
}

/** Real or virtual-8086 mode: the x87 records linear pointers and uses the real-mode layouts. */
function realMode(c: EmuCpu): boolean {
  return (c.cr0 & CR0_PE) === 0 || (c.flags & Bit.VM) !== 0;
}

function split(v: number, hi: boolean): number {
  const u = v < 0 ? v + Pow.Two64 : v;
  return hi ? Math.floor(u / Pow.Two32) >>> 0 : u % Pow.Two32 >>> 0;
}

/** Records FIP/FCS and FDP/FDS for the x87 core (it stores them only for non-control forms). */
function pointers(c: EmuCpu, i: Insn, lin: number, real: boolean): void {
  const ctx = CTX;
  // FIP: the instruction's first byte, prefixes included.
  let ip = addIp(c.bip, i.start, c.codeSize);
  if (real) ip = (ip + c.segBase[Seg.CS]!) % Pow.Two32;
  ctx.ipLo = split(ip, false);
  ctx.ipHi = split(ip, true);
  ctx.cs = real ? 0 : c.segSel[Seg.CS]! & 0xffff;
  if (i.mod === 3) return;
  const flat = i.seg === Seg.Flat || i.seg === Seg.FlatSS;
  let dp = lin;
  if (!real && !flat) {
    dp = lin - c.segBase[i.seg]!;
    if (!c.long64 && dp < 0) dp += Pow.Two32;
  }
  ctx.dpLo = split(dp, false);
  ctx.dpHi = split(dp, true);
  const seg = i.seg === Seg.Flat ? Seg.DS : i.seg === Seg.FlatSS ? Seg.SS : i.seg;
  ctx.ds = real ? 0 : c.segSel[seg]! & 0xffff;
}

/** FERR# with CR0.NE = 0: the chipset raises IRQ 13; the instruction then runs (as with IGNNE#). */
function ferr(c: EmuCpu): void {
  if (c.ferr !== null) c.ferr(true);
}

/** Every D8-DF form (the decoder has set Insn.msz to the operand's size for segment checks). */
export function x87Esc(c: EmuCpu, i: Insn): void {
  const opcode = i.opc & 0xff;
  const modrm = i.modrm;
  const s = c.x87;
  const g = x87Gate(s, c.cr0, opcode, modrm);
  if (g !== GATE_RUN) {
    if (g !== GATE_FERR) return raise(c, g);
    ferr(c);
  }
  const real = realMode(c);
  const ctx = CTX;
  ctx.op16 = i.osz === 2;
  ctx.real = real;
  const lin = i.mod !== 3 ? ea(c, i) : 0;
  pointers(c, i, lin, real);
  ctx.eflags = getFlags(c);
  const r = x87Execute(s, busOf(c), opcode, modrm, lin, ctx);
  if (r === 0) return;
  if ((r & X87_UD) !== 0) return raise(c, 6);
  if ((r & X87_EFLAGS) !== 0) putFlags(c, ctx.eflags, OSZAPC);
  if ((r & X87_AX) !== 0) setReg(c, 2, 0, ctx.ax & 0xffff);
}

/** WAIT/FWAIT: #NM with CR0.MP and CR0.TS, then a pending unmasked exception (#MF or FERR#). */
export function fwait(c: EmuCpu, _i: Insn): void {
  const g = x87Gate(c.x87, c.cr0, 0x9b, 0);
  if (g === GATE_FERR) ferr(c);
  else if (g !== GATE_RUN) raise(c, g);
}

/** The x87 part of an FXSAVE/XSAVE legacy region at linear a (bytes 0-23 and 32-159). */
export function saveLegacyX87(c: EmuCpu, a: number, rexW: boolean): void {
  fxsaveX87(c.x87, busOf(c), a, rexW);
}

/** Loads it back (everything is read before anything changes). */
export function restoreLegacyX87(c: EmuCpu, a: number, rexW: boolean): void {
  fxrstorX87(c.x87, busOf(c), a, rexW);
}
