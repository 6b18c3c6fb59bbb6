/**
 * The x87 environment and control instructions: FLDCW/FNSTCW, FNSTSW, FNCLEX, FNINIT,
 * FNSTENV/FLDENV and FNSAVE/FRSTOR in their four layouts (16/32-bit operand size, real or
 * protected mode), and the x87 part of the FXSAVE/FXRSTOR (and XSAVE legacy) region.
 *
 * Layouts (offsets in bytes; reserved halves of the 32-bit forms store as FFFFh):
 *   32-bit protected: FCW 0, FSW 4, FTW 8, FIP 12, FCS 16 | FOP << 16, FDP 20, FDS 24
 *   32-bit real:      ... FIP[15:0] 12, FIP[31:16] << 12 | FOP 16, FDP[15:0] 20, FDP[31:16] << 12 24
 *   16-bit protected: FCW 0, FSW 2, FTW 4, FIP 6, FCS 8, FDP 10, FDS 12
 *   16-bit real:      ... FIP[15:0] 6, FIP[19:16] << 12 | FOP 8, FDP[15:0] 10, FDP[19:16] << 12 12
 * FNSAVE/FRSTOR append ST(0)..ST(7), 10 bytes each, after the 14- or 28-byte environment.
 */
import { SW_B, SW_ES, type X87State } from './fpu-state.js';
import type { X87Bus, X87Ctx } from './x87-core.js';

/** ES and B follow the unmasked pending exceptions (after FLDCW, FLDENV, FRSTOR, FNSTENV). */
export function recomputeEs(s: X87State): void {
  if ((s.sw & ~s.cw & 0x3f) !== 0) s.sw |= SW_ES | SW_B;
  else s.sw &= ~(SW_ES | SW_B);
}

/** FLDCW: bits 6 reads as one, 7 and 13-15 as zero. */
export function fldcw(s: X87State, v: number): void {
  s.cw = (v & 0x1f3f) | 0x40;
  recomputeEs(s);
}

/** FNCLEX: clears the exception flags, SF, ES and B. */
export function fnclex(s: X87State): void {
  s.sw &= 0x7f00;
}

export function envSize(ctx: X87Ctx): number {
  return ctx.op16 ? 14 : 28;
}

/** FNSTENV body (also the first part of FNSAVE): writes the environment at a. */
export function storeEnv(s: X87State, bus: X87Bus, a: number, ctx: X87Ctx): void {
  const sw = s.statusWord();
  const tw = s.tagWord();
  if (ctx.op16) {
    bus.probeWrite(a, 14);
    bus.wr16(a, s.cw);
    bus.wr16(bus.add(a, 2), sw);
    bus.wr16(bus.add(a, 4), tw);
    if (ctx.real) {
      bus.wr16(bus.add(a, 6), s.fipLo & 0xffff);
      bus.wr16(bus.add(a, 8), (((s.fipLo >>> 16) & 0xf) << 12) | (s.fop & 0x7ff));
      bus.wr16(bus.add(a, 10), s.fdpLo & 0xffff);
      bus.wr16(bus.add(a, 12), ((s.fdpLo >>> 16) & 0xf) << 12);
    } else {
      bus.wr16(bus.add(a, 6), s.fipLo & 0xffff);
      bus.wr16(bus.add(a, 8), s.fcs);
      bus.wr16(bus.add(a, 10), s.fdpLo & 0xffff);
      bus.wr16(bus.add(a, 12), s.fds);
    }
    return;
  }
  bus.probeWrite(a, 28);
  bus.wr32(a, (0xffff0000 | s.cw) >>> 0);
  bus.wr32(bus.add(a, 4), (0xffff0000 | sw) >>> 0);
  bus.wr32(bus.add(a, 8), (0xffff0000 | tw) >>> 0);
  if (ctx.real) {
    bus.wr32(bus.add(a, 12), (0xffff0000 | (s.fipLo & 0xffff)) >>> 0);
    bus.wr32(bus.add(a, 16), ((((s.fipLo >>> 16) & 0xffff) << 12) | (s.fop & 0x7ff)) >>> 0);
    bus.wr32(bus.add(a, 20), (0xffff0000 | (s.fdpLo & 0xffff)) >>> 0);
    bus.wr32(bus.add(a, 24), (((s.fdpLo >>> 16) & 0xffff) << 12) >>> 0);
  } else {
    bus.wr32(bus.add(a, 12), s.fipLo >>> 0);
    bus.wr32(bus.add(a, 16), ((s.fcs & 0xffff) | ((s.fop & 0x7ff) << 16)) >>> 0);
    bus.wr32(bus.add(a, 20), s.fdpLo >>> 0);
    bus.wr32(bus.add(a, 24), (0xffff0000 | (s.fds & 0xffff)) >>> 0);
  }
}

/** FNSTENV: store, then mask every exception. */
export function fnstenv(s: X87State, bus: X87Bus, a: number, ctx: X87Ctx): void {
  storeEnv(s, bus, a, ctx);
  s.cw |= 0x3f;
  recomputeEs(s);
}

// Environment read before it is applied, so a faulting read changes nothing.
const env = { cw: 0, sw: 0, tw: 0, fipLo: 0, fcs: 0, fop: 0, fdpLo: 0, fds: 0 };

function readEnv(bus: X87Bus, a: number, ctx: X87Ctx): void {
  if (ctx.op16) {
    env.cw = bus.rd16(a);
    env.sw = bus.rd16(bus.add(a, 2));
    env.tw = bus.rd16(bus.add(a, 4));
    const ip = bus.rd16(bus.add(a, 6));
    const w8 = bus.rd16(bus.add(a, 8));
    const dp = bus.rd16(bus.add(a, 10));
    const w12 = bus.rd16(bus.add(a, 12));
    if (ctx.real) {
      env.fipLo = ip | ((w8 >>> 12) << 16);
      env.fop = w8 & 0x7ff;
      env.fcs = 0;
      env.fdpLo = dp | ((w12 >>> 12) << 16);
      env.fds = 0;
    } else {
      env.fipLo = ip;
      env.fcs = w8;
      env.fop = 0;
      env.fdpLo = dp;
      env.fds = w12;
    }
    return;
  }
  env.cw = bus.rd16(a);
  env.sw = bus.rd16(bus.add(a, 4));
  env.tw = bus.rd16(bus.add(a, 8));
  const d12 = bus.rd32(bus.add(a, 12)) >>> 0;
  const d16 = bus.rd32(bus.add(a, 16)) >>> 0;
  const d20 = bus.rd32(bus.add(a, 20)) >>> 0;
  const d24 = bus.rd32(bus.add(a, 24)) >>> 0;
  if (ctx.real) {
    env.fipLo = ((d12 & 0xffff) | (((d16 >>> 12) & 0xffff) << 16)) >>> 0;
    env.fop = d16 & 0x7ff;
    env.fcs = 0;
    env.fdpLo = ((d20 & 0xffff) | (((d24 >>> 12) & 0xffff) << 16)) >>> 0;
    env.fds = 0;
  } else {
    env.fipLo = d12;
    env.fcs = d16 & 0xffff;
    env.fop = (d16 >>> 16) & 0x7ff;
    env.fdpLo = d20;
    env.fds = d24 & 0xffff;
  }
}

function applyEnv(s: X87State): void {
  s.cw = (env.cw & 0x1f3f) | 0x40;
  s.setStatusWord(env.sw);
  s.setTagWord(env.tw);
  s.fipLo = env.fipLo;
  s.fipHi = 0;
  s.fcs = env.fcs;
  s.fop = env.fop;
  s.fdpLo = env.fdpLo;
  s.fdpHi = 0;
  s.fds = env.fds;
  recomputeEs(s);
}

/** FLDENV. */
export function fldenv(s: X87State, bus: X87Bus, a: number, ctx: X87Ctx): void {
  readEnv(bus, a, ctx);
  applyEnv(s);
}

/** FNSAVE: environment, the eight registers in stack order, then FNINIT. */
export function fnsave(s: X87State, bus: X87Bus, a: number, ctx: X87Ctx): void {
  const n = envSize(ctx);
  bus.probeWrite(a, n + 80);
  storeEnv(s, bus, a, ctx);
  for (let i = 0; i < 8; i++) {
    const p = (s.top + i) & 7;
    const o = bus.add(a, n + i * 10);
    bus.wr32(o, s.sigLo[p]!);
    bus.wr32(bus.add(o, 4), s.sigHi[p]!);
    bus.wr16(bus.add(o, 8), s.se[p]!);
  }
  s.init();
}

const regBuf = new Uint32Array(24);

/** FRSTOR. */
export function frstor(s: X87State, bus: X87Bus, a: number, ctx: X87Ctx): void {
  const n = envSize(ctx);
  readEnv(bus, a, ctx);
  for (let i = 0; i < 8; i++) {
    const o = bus.add(a, n + i * 10);
    regBuf[i * 3] = bus.rd32(o);
    regBuf[i * 3 + 1] = bus.rd32(bus.add(o, 4));
    regBuf[i * 3 + 2] = bus.rd16(bus.add(o, 8));
  }
  applyEnv(s);
  for (let i = 0; i < 8; i++) {
    const p = (s.top + i) & 7;
    s.sigLo[p] = regBuf[i * 3]!;
    s.sigHi[p] = regBuf[i * 3 + 1]!;
    s.se[p] = regBuf[i * 3 + 2]!;
  }
}

/**
 * The x87 part of an FXSAVE/XSAVE legacy region at a: bytes 0-23 and the ST slots at 32-159
 * (MXCSR at 24-31 belongs to the SSE state). rexW selects the 64-bit FIP/FDP form.
 */
export function fxsaveX87(s: X87State, bus: X87Bus, a: number, rexW: boolean): void {
  bus.wr16(a, s.cw);
  bus.wr16(bus.add(a, 2), s.statusWord());
  bus.wr8(bus.add(a, 4), s.abridgedTag());
  bus.wr8(bus.add(a, 5), 0);
  bus.wr16(bus.add(a, 6), s.fop & 0x7ff);
  if (rexW) {
    bus.wr32(bus.add(a, 8), s.fipLo);
    bus.wr32(bus.add(a, 12), s.fipHi);
    bus.wr32(bus.add(a, 16), s.fdpLo);
    bus.wr32(bus.add(a, 20), s.fdpHi);
  } else {
    bus.wr32(bus.add(a, 8), s.fipLo);
    bus.wr32(bus.add(a, 12), s.fcs & 0xffff);
    bus.wr32(bus.add(a, 16), s.fdpLo);
    bus.wr32(bus.add(a, 20), s.fds & 0xffff);
  }
  for (let i = 0; i < 8; i++) {
    const p = (s.top + i) & 7;
    const o = bus.add(a, 32 + i * 16);
    bus.wr32(o, s.sigLo[p]!);
    bus.wr32(bus.add(o, 4), s.sigHi[p]!);
    bus.wr16(bus.add(o, 8), s.se[p]!);
    bus.wr16(bus.add(o, 10), 0);
    bus.wr32(bus.add(o, 12), 0);
  }
}

/** Loads the x87 part of an FXRSTOR/XRSTOR legacy region (the caller has validated MXCSR). */
export function fxrstorX87(s: X87State, bus: X87Bus, a: number, rexW: boolean): void {
  const cw = bus.rd16(a);
  const sw = bus.rd16(bus.add(a, 2));
  const tag = bus.rd8(bus.add(a, 4));
  const fop = bus.rd16(bus.add(a, 6));
  const d8 = bus.rd32(bus.add(a, 8)) >>> 0;
  const d12 = bus.rd32(bus.add(a, 12)) >>> 0;
  const d16 = bus.rd32(bus.add(a, 16)) >>> 0;
  const d20 = bus.rd32(bus.add(a, 20)) >>> 0;
  for (let i = 0; i < 8; i++) {
    const o = bus.add(a, 32 + i * 16);
    regBuf[i * 3] = bus.rd32(o);
    regBuf[i * 3 + 1] = bus.rd32(bus.add(o, 4));
    regBuf[i * 3 + 2] = bus.rd16(bus.add(o, 8));
  }
  s.cw = (cw & 0x1f3f) | 0x40;
  s.setStatusWord(sw);
  s.setAbridgedTag(tag);
  s.fop = fop & 0x7ff;
  s.fipLo = d8;
  s.fdpLo = d16;
  if (rexW) {
    s.fipHi = d12;
    s.fdpHi = d20;
    s.fcs = 0;
    s.fds = 0;
  } else {
    s.fipHi = 0;
    s.fdpHi = 0;
    s.fcs = d12 & 0xffff;
    s.fds = d20 & 0xffff;
  }
  for (let i = 0; i < 8; i++) {
    const p = (s.top + i) & 7;
    s.sigLo[p] = regBuf[i * 3]!;
    s.sigHi[p] = regBuf[i * 3 + 1]!;
    s.se[p] = regBuf[i * 3 + 2]!;
  }
  recomputeEs(s);
}
