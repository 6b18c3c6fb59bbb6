/**
 * The x87 instruction set: decode of the D8-DF escapes (ModRM memory and register forms) onto
 * the semantic functions, the instruction classes the CPU needs before executing one (valid or
 * #UD, waiting or not, control or not), and the last-instruction bookkeeping (FOP, FIP/FCS,
 * FDP/FDS), which every non-control instruction updates once it has completed or raised an
 * x87 exception (never on a memory fault: state changes follow the memory accesses).
 *
 * The CPU's part (see README.md): #NM from CR0.EM/TS, then `x87Class` for #UD, then for a
 * waiting instruction a pending unmasked exception (`x87Pending`) is #MF (CR0.NE = 1) or FERR#
 * (CR0.NE = 0); then `x87Execute`.
 */
import {
  Unpacked, unpackF32, unpackF64, unpackInt32,
} from './softfloat.js';
import { SW_ES, type X87State } from './fpu-state.js';
import { X87_AX, X87_EFLAGS, X87_UD, type X87Bus, type X87Ctx } from './x87-core.js';
import { arithMem, arithReg, fabsChs, frndint, fscale, fsqrt, fxtract } from './x87-arith.js';
import {
  fbld, fbstp, fcmov, ffree, fildMem, fistMem, fldConst, fldM32, fldM64, fldM80, fldSt, fstMem, fstpM80, fstSt, fstp, fxch,
} from './x87-loadstore.js';
import { fcom, fcomSt, fcomi, ftst, fxam } from './x87-compare.js';
import { fldcw, fldenv, fnclex, fnsave, fnstenv, frstor } from './x87-env.js';
import { fprem } from './x87-remainder.js';
import { f2xm1, fpatan, fptan, fsin, fsincos, fcos, fyl2x, fyl2xp1 } from './x87-transcendental.js';

export { X87_AX, X87_EFLAGS, X87_UD };

/** Class bits of an (escape, ModRM) pair. */
export const XC_VALID = 1;
/** Checks for a pending unmasked exception first (all but the FN* control forms). */
export const XC_WAITING = 2;
/** A control instruction: FOP/FIP/FDP are left alone. */
export const XC_CONTROL = 4;
/** Has a memory operand: FDP/FDS are updated. */
export const XC_MEM = 8;

const classes = new Uint8Array(8 * 256);
(function buildClasses(): void {
  for (let esc = 0; esc < 8; esc++) {
    for (let m = 0; m < 256; m++) {
      let c = XC_VALID | XC_WAITING;
      const reg = (m >>> 3) & 7;
      if (m < 0xc0) {
        c |= XC_MEM;
        if ((esc === 1 && reg === 1) || (esc === 3 && (reg === 4 || reg === 6)) || (esc === 5 && reg === 5)) c = 0;
        else if (esc === 1 && reg >= 4) c |= XC_CONTROL; // FLDENV FLDCW FNSTENV FNSTCW
        else if (esc === 5 && (reg === 4 || reg === 6 || reg === 7)) c |= XC_CONTROL; // FRSTOR FNSAVE FNSTSW
        if ((esc === 1 && (reg === 6 || reg === 7)) || (esc === 5 && (reg === 6 || reg === 7))) c &= ~XC_WAITING;
      } else if (!validReg(esc, m)) c = 0;
      else if ((esc === 3 && m >= 0xe0 && m <= 0xe4) || (esc === 7 && m === 0xe0)) c = XC_VALID | XC_CONTROL;
      classes[esc * 256 + m] = c;
    }
  }
})();

function validReg(esc: number, m: number): boolean {
  switch (esc) {
    case 1:
      return !((m >= 0xd1 && m <= 0xd7) || m === 0xe2 || m === 0xe3 || m === 0xe6 || m === 0xe7 || m === 0xef);
    case 2:
      return m < 0xe0 || m === 0xe9;
    case 3:
      return !((m >= 0xe5 && m <= 0xe7) || m >= 0xf8);
    case 5:
      return m < 0xf0;
    case 6:
      return !(m === 0xd8 || (m >= 0xda && m <= 0xdf));
    case 7:
      return !((m >= 0xe1 && m <= 0xe7) || m >= 0xf8);
    default:
      return true;
  }
}

/** XC_* bits for opcode byte D8..DF and ModRM (0 = #UD). */
export function x87Class(opcode: number, modrm: number): number {
  return classes[(opcode & 7) * 256 + (modrm & 0xff)]!;
}

/** A pending unmasked exception, which a waiting instruction reports (#MF or FERR#) before running. */
export function x87Pending(s: X87State): boolean {
  return (s.sw & SW_ES) !== 0;
}

// CR0 bits the gate looks at.
const CR0_MP = 0x02;
const CR0_EM = 0x04;
const CR0_TS = 0x08;
const CR0_NE = 0x20;

/** What the CPU does before an x87 instruction (or WAIT), from `x87Gate`. */
export const GATE_RUN = 0;
/** Assert FERR# (IRQ 13 through the 8259 on a PC) and run the instruction, as with IGNNE#. */
export const GATE_FERR = 1;
export const GATE_UD = 6;
export const GATE_NM = 7;
export const GATE_MF = 16;

/**
 * The checks before executing an x87 escape (opcode D8..DF) or WAIT/FWAIT (opcode 0x9B), in the
 * SDM's order: #NM (CR0.EM or CR0.TS for escapes; CR0.MP and CR0.TS for WAIT), #UD for an
 * undefined encoding, then a pending unmasked exception for a waiting instruction: #MF when
 * CR0.NE = 1, else FERR#. Returns a GATE_* value (exception vectors for the faults).
 */
export function x87Gate(s: X87State, cr0: number, opcode: number, modrm: number): number {
  let waiting: boolean;
  if (opcode === 0x9b) {
    if ((cr0 & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) return GATE_NM;
    waiting = true;
  } else {
    if ((cr0 & (CR0_EM | CR0_TS)) !== 0) return GATE_NM;
    const c = classes[(opcode & 7) * 256 + (modrm & 0xff)]!;
    if (c === 0) return GATE_UD;
    waiting = (c & XC_WAITING) !== 0;
  }
  if (!waiting || (s.sw & SW_ES) === 0) return GATE_RUN;
  return (cr0 & CR0_NE) !== 0 ? GATE_MF : GATE_FERR;
}

// Memory operands unpacked for the arithmetic forms.
const MEMOP = new Unpacked();

/**
 * Executes one x87 instruction (opcode D8..DF, its ModRM, the memory operand's linear address
 * when ModRM.mod != 3). Returns X87_* outcome bits: X87_UD (nothing done), X87_EFLAGS (ctx.eflags
 * written), X87_AX (ctx.ax written).
 */
export function x87Execute(s: X87State, bus: X87Bus, opcode: number, modrm: number, addr: number, ctx: X87Ctx): number {
  const esc = opcode & 7;
  const cls = classes[esc * 256 + (modrm & 0xff)]!;
  if (cls === 0) return X87_UD;
  const r = modrm < 0xc0 ? memForm(s, bus, esc, (modrm >>> 3) & 7, addr, ctx) : regForm(s, esc, modrm, ctx);
  if ((cls & XC_CONTROL) === 0) {
    s.fop = ((esc << 8) | modrm) & 0x7ff;
    s.fipLo = ctx.ipLo;
    s.fipHi = ctx.ipHi;
    s.fcs = ctx.cs;
    if ((cls & XC_MEM) !== 0) {
      s.fdpLo = ctx.dpLo;
      s.fdpHi = ctx.dpHi;
      s.fds = ctx.ds;
    }
  }
  return r;
}

function memForm(s: X87State, bus: X87Bus, esc: number, reg: number, a: number, ctx: X87Ctx): number {
  switch (esc) {
    case 0: // m32fp arithmetic
    case 4: // m64fp arithmetic
    case 2: // m32int
    case 6: {
      // m16int
      let u: Unpacked;
      if (esc === 0) u = unpackF32(MEMOP, bus.rd32(a));
      else if (esc === 4) {
        const lo = bus.rd32(a);
        u = unpackF64(MEMOP, lo, bus.rd32(bus.add(a, 4)));
      } else if (esc === 2) u = unpackInt32(MEMOP, bus.rd32(a));
      else u = unpackInt32(MEMOP, (bus.rd16(a) << 16) >> 16);
      if (reg === 2 || reg === 3) fcom(s, u, false, false, reg - 2);
      else arithMem(s, reg, u);
      return 0;
    }
    case 1:
      switch (reg) {
        case 0:
          fldM32(s, bus, a);
          return 0;
        case 2:
        case 3:
          bus.probeWrite(a, 4);
          fstMem(s, bus, a, 32, reg === 3);
          return 0;
        case 4:
          fldenv(s, bus, a, ctx);
          return 0;
        case 5:
          fldcw(s, bus.rd16(a));
          return 0;
        case 6:
          fnstenv(s, bus, a, ctx);
          return 0;
        default:
          bus.wr16(a, s.cw);
          return 0;
      }
    case 3:
      switch (reg) {
        case 0:
          fildMem(s, bus, a, 32);
          return 0;
        case 1:
        case 2:
        case 3:
          bus.probeWrite(a, 4);
          fistMem(s, bus, a, 32, reg !== 2, reg === 1);
          return 0;
        case 5:
          fldM80(s, bus, a);
          return 0;
        default:
          bus.probeWrite(a, 10);
          fstpM80(s, bus, a);
          return 0;
      }
    case 5:
      switch (reg) {
        case 0:
          fldM64(s, bus, a);
          return 0;
        case 1:
          bus.probeWrite(a, 8);
          fistMem(s, bus, a, 64, true, true);
          return 0;
        case 2:
        case 3:
          bus.probeWrite(a, 8);
          fstMem(s, bus, a, 64, reg === 3);
          return 0;
        case 4:
          frstor(s, bus, a, ctx);
          return 0;
        case 6:
          fnsave(s, bus, a, ctx);
          return 0;
        default:
          bus.wr16(a, s.statusWord());
          return 0;
      }
    default:
      switch (reg) {
        case 0:
          fildMem(s, bus, a, 16);
          return 0;
        case 1:
        case 2:
        case 3:
          bus.probeWrite(a, 2);
          fistMem(s, bus, a, 16, reg !== 2, reg === 1);
          return 0;
        case 4:
          fbld(s, bus, a);
          return 0;
        case 5:
          fildMem(s, bus, a, 64);
          return 0;
        case 6:
          bus.probeWrite(a, 10);
          fbstp(s, bus, a);
          return 0;
        default:
          bus.probeWrite(a, 8);
          fistMem(s, bus, a, 64, true, false);
          return 0;
      }
  }
}

// EFLAGS bits for FCMOVcc.
const CF = 0x001;
const PF = 0x004;
const ZF = 0x040;

function regForm(s: X87State, esc: number, m: number, ctx: X87Ctx): number {
  const i = m & 7;
  const reg = (m >>> 3) & 7;
  switch (esc) {
    case 0:
      if (reg === 2 || reg === 3) fcomSt(s, i, false, reg - 2);
      else arithReg(s, reg, i, false, false);
      return 0;
    case 4:
      if (reg === 2 || reg === 3) fcomSt(s, i, false, reg - 2);
      else arithReg(s, reg, i, true, false);
      return 0;
    case 6:
      if (reg === 2) fcomSt(s, i, false, 1);
      else if (reg === 3) fcomSt(s, 1, false, 2); // FCOMPP (DE D9)
      else arithReg(s, reg, i, true, true);
      return 0;
    case 1:
      return d9Reg(s, m);
    case 2:
      if (m === 0xe9) {
        fcomSt(s, 1, true, 2); // FUCOMPP
        return 0;
      }
      fcmov(s, i, cmovCond(reg, ctx.eflags));
      return 0;
    case 3:
      if (m >= 0xe0 && m <= 0xe4) {
        if (m === 0xe2) fnclex(s);
        else if (m === 0xe3) s.init();
        return 0; // FNENI, FNDISI, FNSETPM: no-ops
      }
      if (reg === 5 || reg === 6) {
        const f = fcomi(s, i, reg === 5, false, ctx.eflags);
        if (f < 0) return 0;
        ctx.eflags = f;
        return X87_EFLAGS;
      }
      fcmov(s, i, !cmovCond(reg, ctx.eflags));
      return 0;
    case 5:
      switch (reg) {
        case 0:
          ffree(s, i, false);
          return 0;
        case 1:
          fxch(s, i);
          return 0;
        case 2:
        case 3:
          fstSt(s, i, reg === 3);
          return 0;
        case 4:
        case 5:
          fcomSt(s, i, true, reg - 4);
          return 0;
        default:
          return X87_UD;
      }
    default: // DF
      switch (reg) {
        case 0:
          ffree(s, i, true);
          return 0;
        case 1:
          fxch(s, i);
          return 0;
        case 2:
        case 3:
          fstSt(s, i, true);
          return 0;
        case 4:
          ctx.ax = s.statusWord();
          return X87_AX;
        case 5:
        case 6: {
          const f = fcomi(s, i, reg === 5, true, ctx.eflags);
          if (f < 0) return 0;
          ctx.eflags = f;
          return X87_EFLAGS;
        }
        default:
          return X87_UD;
      }
  }
}

function cmovCond(reg: number, fl: number): boolean {
  switch (reg & 3) {
    case 0:
      return (fl & CF) !== 0;
    case 1:
      return (fl & ZF) !== 0;
    case 2:
      return (fl & (CF | ZF)) !== 0;
    default:
      return (fl & PF) !== 0;
  }
}

function d9Reg(s: X87State, m: number): number {
  const i = m & 7;
  if (m < 0xc8) fldSt(s, i);
  else if (m < 0xd0) fxch(s, i);
  else if (m === 0xd0) return 0; // FNOP
  else if (m >= 0xd8 && m < 0xe0) fstSt(s, i, true, true); // FSTP1 alias
  else {
    switch (m) {
      case 0xe0:
        fabsChs(s, true);
        break;
      case 0xe1:
        fabsChs(s, false);
        break;
      case 0xe4:
        ftst(s);
        break;
      case 0xe5:
        fxam(s);
        break;
      case 0xe8:
      case 0xe9:
      case 0xea:
      case 0xeb:
      case 0xec:
      case 0xed:
      case 0xee:
        fldConst(s, m - 0xe8);
        break;
      case 0xf0:
        f2xm1(s);
        break;
      case 0xf1:
        fyl2x(s);
        break;
      case 0xf2:
        fptan(s);
        break;
      case 0xf3:
        fpatan(s);
        break;
      case 0xf4:
        fxtract(s);
        break;
      case 0xf5:
        fprem(s, true);
        break;
      case 0xf6:
        fstp(s, -1);
        break;
      case 0xf7:
        fstp(s, 1);
        break;
      case 0xf8:
        fprem(s, false);
        break;
      case 0xf9:
        fyl2xp1(s);
        break;
      case 0xfa:
        fsqrt(s);
        break;
      case 0xfb:
        fsincos(s);
        break;
      case 0xfc:
        frndint(s);
        break;
      case 0xfd:
        fscale(s);
        break;
      case 0xfe:
        fsin(s);
        break;
      case 0xff:
        fcos(s);
        break;
      default:
        return X87_UD;
    }
  }
  return 0;
}

