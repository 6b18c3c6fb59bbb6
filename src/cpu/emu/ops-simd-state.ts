/**
 * State instructions of SSE and XSAVE: LDMXCSR/STMXCSR, FXSAVE/FXRSTOR (64-bit layout with
 * REX.W, 32-bit layout otherwise), XSAVE/XSAVEOPT/XRSTOR (standard form), XGETBV/XSETBV.
 * Layouts and rules are in fpu/sse-state.ts; this file checks the instruction-level
 * conditions (SDM Vol. 2 exception lists) and connects the CPU's memory and registers.
 */
import type { EmuCpu } from './cpu.js';
import type { Insn } from './insn.js';
import { CR0_EM, CR0_TS, CR4_OSFXSR, CR4_OSXSAVE, VEC_NM, VEC_UD, Gp } from './x86-defs.js';
import { ea } from './operands.js';
import { misaligned } from './address.js';
import { gp, raise } from './exceptions.js';
import { probeWrite, rd16, rd32, rd8, wr16, wr32, wr8 } from './mem-access.js';
import { setReg } from './gpr.js';
import {
  fxrstor, fxsave, MXCSR_MASK, STATE_OK, xcr0Valid, xrstor, xrstorOut, xsave, type LegacyX87, type StateBus,
} from './fpu/sse-state.js';
import { simdOf } from './ops-simd.js';
import { restoreLegacyX87, saveLegacyX87 } from './ops-x87.js';


/** The CPU's memory as the state layouts see it. */
class CpuBus implements StateBus {
  c: EmuCpu | null = null;
  long = true;
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
    const s = a + k;
    return this.long || s < 4294967296 ? s : s - 4294967296;
  }
  probeWrite(a: number, n: number): void {
    probeWrite(this.c!, a, n);
  }
}
const BUS = new CpuBus();
function busOf(c: EmuCpu): CpuBus {
  BUS.c = c;
  BUS.long = c.long64;
  return BUS;
}

/** The x87 part of the legacy region (ops-x87.ts, over the CPU's x87 state). */
class CpuX87 implements LegacyX87 {
  c: EmuCpu | null = null;
  save(_bus: StateBus, a: number, rexW: boolean): void {
    saveLegacyX87(this.c!, a, rexW);
  }
  restore(_bus: StateBus, a: number, rexW: boolean): void {
    restoreLegacyX87(this.c!, a, rexW);
  }
  init(): void {
    this.c!.x87.initXsave();
  }
  inUse(): boolean {
    return !this.c!.x87.isInitXsave();
  }
}
const X87 = new CpuX87();
function x87Of(c: EmuCpu): LegacyX87 {
  X87.c = c;
  return X87;
}

/** LDMXCSR (op 0) / STMXCSR (op 1) m32. */
export function mxcsrOp(c: EmuCpu, i: Insn): void {
  if (i.mod === 3) return raise(c, VEC_UD);
  if ((c.cr0 & CR0_EM) !== 0 || (c.cr4 & CR4_OSFXSR) === 0) return raise(c, VEC_UD);
  if ((c.cr0 & CR0_TS) !== 0) return raise(c, VEC_NM);
  const a = ea(c, i);
  if (i.op === 1) {
    wr32(c, a, c.mxcsr);
    return;
  }
  const v = rd32(c, a);
  if ((v & ~MXCSR_MASK) !== 0) return gp(c, 0);
  c.mxcsr = v >>> 0;
}

/** FXSAVE (op 0) / FXRSTOR (op 1) m512byte: #NM on CR0.TS or CR0.EM, #GP unless 16-byte aligned. */
export function fxsaveOp(c: EmuCpu, i: Insn): void {
  if (i.mod === 3) return raise(c, VEC_UD);
  if ((c.cr0 & (CR0_TS | CR0_EM)) !== 0) return raise(c, VEC_NM);
  const a = ea(c, i);
  if (misaligned(a, 16)) return gp(c, 0);
  const nXmm = c.long64 ? 16 : 8;
  const rexW = i.osz === 8;
  if (i.op === 0) {
    fxsave(busOf(c), a, x87Of(c), simdOf(c), c.mxcsr, rexW, nXmm);
    return;
  }
  const mx = fxrstor(busOf(c), a, x87Of(c), simdOf(c), rexW, nXmm);
  if (mx < 0) return gp(c, 0);
  c.mxcsr = mx;
}

/** XSAVE (op 0), XRSTOR (1), XSAVEOPT (2): #UD unless CR4.OSXSAVE, #NM on CR0.TS, #GP unless 64-byte aligned. */
export function xsaveOp(c: EmuCpu, i: Insn): void {
  if (i.mod === 3 || (c.cr4 & CR4_OSXSAVE) === 0) return raise(c, VEC_UD);
  if ((c.cr0 & CR0_TS) !== 0) return raise(c, VEC_NM);
  const a = ea(c, i);
  if (misaligned(a, 64)) return gp(c, 0);
  const xcr0 = c.xcr0;
  const rfbm = c.gpr[Gp.AxLo]! & xcr0; // EDX:EAX & XCR0 (XCR0 has no bit above 31)
  const nXmm = c.long64 ? 16 : 8;
  const rexW = i.osz === 8;
  if (i.op !== 1) {
    xsave(busOf(c), a, rfbm, x87Of(c), simdOf(c), c.mxcsr, rexW, nXmm, i.op === 2);
    return;
  }
  if (xrstor(busOf(c), a, rfbm, xcr0, x87Of(c), simdOf(c), rexW, nXmm) !== STATE_OK) return gp(c, 0);
  if (xrstorOut.mxcsr >= 0) c.mxcsr = xrstorOut.mxcsr;
}

/** XGETBV (op 0) / XSETBV (op 1): XCR0 only (ECX = 0); XSETBV at CPL 0 with a valid value. */
export function xcrOp(c: EmuCpu, i: Insn): void {
  if ((c.cr4 & CR4_OSXSAVE) === 0) return raise(c, VEC_UD);
  if (c.gpr[Gp.CxLo] !== 0) return gp(c, 0);
  if (i.op === 0) {
    setReg(c, 4, 0, c.xcr0);
    setReg(c, 4, 2, 0);
    return;
  }
  if (c.cpl !== 0) return gp(c, 0);
  if (!xcr0Valid(c.gpr[Gp.AxLo]!, c.gpr[Gp.DxLo]!, c.xcr0Writable)) return gp(c, 0);
  c.xcr0 = c.gpr[Gp.AxLo]!;
}
