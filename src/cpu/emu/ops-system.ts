/**
 * System handlers: port I/O, descriptor tables, control/debug registers, MSRs, TSC,
 * CPUID, SYSCALL/SYSRET, SYSENTER/SYSEXIT, SWAPGS, cache/TLB maintenance, and the SSE
 * state instructions (FXSAVE/FXRSTOR, LDMXCSR/STMXCSR; the x87 part is ops-x87.ts's).
 */
import type { EmuCpu } from './cpu.js';
import { CR0_PE, CR0_TS, CR4_DE, CR4_PCIDE, EFER_SCE, EFER_LMA, Pow, Seg, VEC_DB, BigAd, Gp } from './x86-defs.js';
import { DR6_BD, DR7_GD, refreshDebug, setDr6 } from './debug-regs.js';
import { Bit } from './flags.js';
import type { Insn } from './insn.js';
import { ea, rdEs, stEs } from './operands.js';
import { checkIo, portIn, portOut } from './port-io.js';
import { getReg, setReg } from './gpr.js';
import { gp, raise, ud } from './exceptions.js';
import { rd16, rd32, rd64, wr16, wr32, wr64 } from './mem-access.js';
import { readCr8, writeCr0, writeCr3, writeCr4, writeCr8 } from './control-regs.js';
import { invlpg } from './tlb.js';
import { invalidatePcid } from './pcid.js';
import { descWords, loadDescInto, readDescriptor } from './segmentation.js';
import { getFlags, putFlags, setEager } from './lazy-flags.js';
import { pmuSync, pmuSyncIncluding } from './run-loop.js';
import { BIG, halvesOf, linOf, nextIp, regHalves, regValue, ripOf, nonCanonicalHi } from './address.js';
import { cpuid, readMsr, tscNow, writeMsr } from './msr.js';

// ---------------------------------------------------------------- port I/O

/** IN accumulator, imm8 (imm) or DX (imm = -1). */
export function inOp(c: EmuCpu, i: Insn): void {
  const port = i.imm >= 0 ? i.imm : c.gpr[Gp.DxLo]! & 0xffff;
  checkIo(c, port, i.osz);
  setReg(c, i.osz, 0, portIn(c, port, i.osz));
}
export function outOp(c: EmuCpu, i: Insn): void {
  const port = i.imm >= 0 ? i.imm : c.gpr[Gp.DxLo]! & 0xffff;
  checkIo(c, port, i.osz);
  portOut(c, port, i.osz, getReg(c, i.osz, 0));
}

// ---------------------------------------------------------------- privilege helpers

function cpl0(c: EmuCpu): void {
  if (c.cpl !== 0) gp(c, 0);
}
function protectedOnly(c: EmuCpu): void {
  if ((c.cr0 & CR0_PE) === 0 || (c.flags & Bit.VM) !== 0) ud(c);
}

// ---------------------------------------------------------------- descriptor tables

/** Group 7 memory forms: SGDT (0) SIDT (1) LGDT (2) LIDT (3) SMSW (4) LMSW (6) INVLPG (7). */
export function grp7(c: EmuCpu, i: Insn): void {
  switch (i.op) {
    case 0:
    case 1: {
      const a = ea(c, i);
      const base = i.op === 0 ? c.gdtBase : c.idtBase;
      const limit = i.op === 0 ? c.gdtLimit : c.idtLimit;
      wr16(c, a, limit);
      const a2 = c.long64 ? a + 2 : (a + 2) % Pow.Two32;
      if (c.long64) {
        regHalves(c, i.op === 0 ? BigAd.Gdt : BigAd.Idt, base); // exact beyond +-2^53 too
        wr64(c, a2, BIG.lo, BIG.hi);
      }
      else wr32(c, a2, i.osz === 2 ? base & 0xffffff : base >>> 0);
      return;
    }
    case 2:
    case 3: {
      cpl0(c);
      const a = ea(c, i);
      const limit = rd16(c, a);
      const a2 = c.long64 ? a + 2 : (a + 2) % Pow.Two32;
      let base: number;
      if (c.long64) {
        const lo = rd64(c, a2);
        if (nonCanonicalHi(c, c.hi)) return gp(c, 0);
        // Exact halves kept beyond +-2^53 (cpu.ts bigAd).
        base = regValue(c, i.op === 2 ? BigAd.Gdt : BigAd.Idt, c.hi, lo);
      } else {
        base = rd32(c, a2) >>> 0;
        if (i.osz === 2) base &= 0xffffff;
      }
      if (i.op === 2) {
        c.gdtBase = base;
        c.gdtLimit = limit;
      } else {
        c.idtBase = base;
        c.idtLimit = limit;
      }
      return;
    }
    case 4:
      stEs(c, i, i.mod === 3 ? i.osz : 2, c.cr0 & (i.mod === 3 && i.osz > 2 ? -1 : 0xffff));
      return;
    case 6: {
      cpl0(c);
      const v = rdEs(c, i, 2);
      // LMSW changes PE (can set, not clear), MP, EM, TS.
      const nv = (c.cr0 & ~0xe) | (v & 0xe) | (c.cr0 & 1) | (v & 1);
      writeCr0(c, nv);
      return;
    }
    case 7:
      cpl0(c);
      invlpg(c, ea(c, i));
      return;
    default:
      return ud(c);
  }
}

/** Group 6: SLDT (0) STR (1) LLDT (2) LTR (3) VERR (4) VERW (5). */
export function grp6(c: EmuCpu, i: Insn): void {
  protectedOnly(c);
  switch (i.op) {
    case 0:
      stEs(c, i, i.mod === 3 ? i.osz : 2, c.segSel[Seg.LDTR]!);
      return;
    case 1:
      stEs(c, i, i.mod === 3 ? i.osz : 2, c.segSel[Seg.TR]!);
      return;
    case 2:
    case 3: {
      cpl0(c);
      const sel = rdEs(c, i, 2);
      const isTr = i.op === 3;
      if ((sel & 0xfffc) === 0) {
        if (isTr) return gp(c, 0);
        c.segSel[Seg.LDTR] = sel;
        c.segAttr[Seg.LDTR] = 1 << 16;
        return;
      }
      if ((sel & 4) !== 0) return gp(c, sel & 0xfffc);
      const addr = readDescriptor(c, sel);
      const d = descWords(c);
      const type = (d.hi >>> 8) & 0x1f;
      if (isTr ? type !== 0x09 && type !== 0x01 : type !== 0x02) return gp(c, sel & 0xfffc);
      if ((d.hi & 0x8000) === 0) return raise(c, 11, sel & 0xfffc);
      let baseHi = 0;
      let baseLo = 0;
      if ((c.efer & EFER_LMA) !== 0) {
        // IA-32e: a 16-byte system descriptor. Its upper type field must be 0, only a 64-bit TSS
        // (type 9) loads into TR, and the 64-bit base must be canonical: #GP(selector) otherwise.
        if (isTr && type !== 0x09) return gp(c, sel & 0xfffc);
        const save = c.tlbUser;
        c.tlbUser = 0;
        let w3 = 0;
        try {
          baseHi = rd32(c, addr + 8);
          w3 = rd32(c, addr + 12);
        } finally {
          c.tlbUser = save;
        }
        if (((w3 >>> 8) & 0x1f) !== 0) return gp(c, sel & 0xfffc);
        const base = ((d.hi & 0xff000000) | ((d.hi & 0xff) << 16) | (d.lo >>> 16)) >>> 0;
        if (nonCanonicalHi(c, baseHi)) return gp(c, sel & 0xfffc);
        baseLo = base;
      }
      loadDescInto(c, isTr ? Seg.TR : Seg.LDTR, sel);
      // rd32 is signed, so baseHi * 2^32 + base is already the signed canonical address (0xfffffe00_00001000 = -2^41 + 0x1000).
      // Exact halves kept beyond +-2^53 (cpu.ts bigAd).
      if (baseHi !== 0) c.segBase[isTr ? Seg.TR : Seg.LDTR] = regValue(c, isTr ? Seg.TR : Seg.LDTR, baseHi, baseLo);
      if (isTr) {
        // Mark busy in the GDT and in the register.
        const save = c.tlbUser;
        c.tlbUser = 0;
        try {
          wr32(c, addr + 4, d.hi | 0x200);
        } finally {
          c.tlbUser = save;
        }
        c.segAttr[Seg.TR] = c.segAttr[Seg.TR]! | 2;
      }
      return;
    }
    default: {
      // VERR / VERW: ZF = accessible.
      const sel = rdEs(c, i, 2);
      let ok = false;
      if ((sel & 0xfffc) !== 0) {
        try {
          readDescriptor(c, sel);
          const d = descWords(c);
          const type = (d.hi >>> 8) & 0xf;
          const dpl = (d.hi >>> 13) & 3;
          const code = (type & 8) !== 0;
          const conforming = code && (type & 4) !== 0;
          if ((d.hi & 0x1000) !== 0 && (conforming || (dpl >= c.cpl && dpl >= (sel & 3)))) ok = i.op === 4 ? !code || (type & 2) !== 0 : !code && (type & 2) !== 0;
        } catch (e) {
          if (!(typeof e === 'object' && e !== null && 'fault' in e)) throw e;
          ok = false;
        }
      }
      const fl = getFlags(c);
      setEager(c, (fl & 0x8d5 & ~0x40) | (ok ? 0x40 : 0));
    }
  }
}

/** LAR (op 0) / LSL (op 1) G, E. */
export function larLsl(c: EmuCpu, i: Insn): void {
  protectedOnly(c);
  const sel = rdEs(c, i, 2);
  let ok = false;
  let val = 0;
  if ((sel & 0xfffc) !== 0) {
    try {
      readDescriptor(c, sel);
      const d = descWords(c);
      const s = (d.hi & 0x1000) !== 0;
      const type = (d.hi >>> 8) & 0xf;
      const dpl = (d.hi >>> 13) & 3;
      const conforming = s && (type & 0xc) === 0xc;
      const sysOk = i.op === 0 ? [1, 2, 3, 4, 5, 9, 0xb, 0xc].includes(type) : [1, 2, 3, 9, 0xb].includes(type);
      if ((s || sysOk) && (conforming || (dpl >= c.cpl && dpl >= (sel & 3)))) {
        ok = true;
        if (i.op === 0) val = d.hi & 0x00f0ff00;
        else {
          const raw = (d.lo & 0xffff) | (d.hi & 0xf0000);
          val = (d.hi & 0x800000) !== 0 ? (raw << 12) | 0xfff : raw;
        }
      }
    } catch (e) {
      if (!(typeof e === 'object' && e !== null && 'fault' in e)) throw e;
    }
  }
  const fl = getFlags(c);
  setEager(c, (fl & 0x8d5 & ~0x40) | (ok ? 0x40 : 0));
  if (ok) setReg(c, i.osz === 8 ? 8 : i.osz, i.reg, val, 0);
}

// ---------------------------------------------------------------- control and debug registers

/** MOV r, CRn (op 0) / MOV CRn, r (op 1); reg = CR number, rm = GPR. */
export function movCr(c: EmuCpu, i: Insn): void {
  cpl0(c);
  const n = i.reg;
  if (i.op === 0) {
    let v: number;
    switch (n) {
      case 0:
        v = c.cr0 >>> 0;
        break;
      case 2:
        if (c.long64) {
          regHalves(c, BigAd.Cr2, c.cr2); // exact beyond +-2^53 too
          setReg(c, 8, i.rm, BIG.lo | 0, BIG.hi);
          return;
        }
        v = c.cr2;
        break;
      case 3:
        v = c.cr3;
        break;
      case 4:
        v = c.cr4 >>> 0;
        break;
      case 8:
        v = readCr8(c);
        break;
      default:
        return ud(c);
    }
    if (c.long64) setReg(c, 8, i.rm, v >>> 0, Math.floor(v / Pow.Two32) | 0);
    else setReg(c, 4, i.rm, v | 0);
    return;
  }
  const lo = c.gpr[i.rm << 1]!;
  const hi = c.long64 ? c.gpr[(i.rm << 1) | 1]! : 0;
  switch (n) {
    case 0:
      if (hi !== 0) return gp(c, 0);
      writeCr0(c, lo);
      return;
    case 2:
      c.cr2 = c.long64 ? regValue(c, BigAd.Cr2, hi, lo) : lo >>> 0;
      return;
    case 3: {
      // With CR4.PCIDE, bits 11:0 are the PCID and bit 63 asks to keep its TLB entries (it is not stored);
      // without, bit 63 is reserved (above MAXPHYADDR). Bits 11:0 are kept as written either way: PAE paging
      // takes its table's address from bits 31:5, and the other modes ignore the bits they do not use.
      const noFlush = (c.cr4 & CR4_PCIDE) !== 0 && hi < 0;
      const h = noFlush ? hi & 0x7fffffff : hi;
      if ((h & ~0xff) !== 0) return gp(c, 0);
      writeCr3(c, (h & 0xff) * Pow.Two32 + (lo >>> 0), noFlush);
      return;
    }
    case 4:
      if (hi !== 0) return gp(c, 0);
      writeCr4(c, lo);
      return;
    case 8:
      if (hi !== 0) return gp(c, 0);
      writeCr8(c, lo);
      return;
    default:
      return ud(c);
  }
}

/** MOV r, DRn (op 0) / MOV DRn, r (op 1); writes re-arm the breakpoints (debug-regs.ts). */
export function movDr(c: EmuCpu, i: Insn): void {
  cpl0(c);
  let n = i.reg;
  if (n === 4 || n === 5) {
    if ((c.cr4 & CR4_DE) !== 0) return ud(c);
    n += 2;
  }
  if (n > 7) return ud(c);
  if ((c.dr[7]! & DR7_GD) !== 0) {
    // General detect: any DR access faults with #DB (DR6.BD) before it happens.
    setDr6(c, DR6_BD);
    return raise(c, VEC_DB);
  }
  if (i.op === 0) {
    const v = c.dr[n]!;
    if (c.long64 && n < 4) {
      regHalves(c, BigAd.Dr0 + n, v);
      setReg(c, 8, i.rm, BIG.lo, BIG.hi);
    } else if (c.long64) setReg(c, 8, i.rm, v >>> 0, Math.floor(v / Pow.Two32) | 0);
    else setReg(c, 4, i.rm, v | 0);
  } else {
    const lo = c.gpr[i.rm << 1]!;
    const hi = c.long64 ? c.gpr[(i.rm << 1) | 1]! : 0;
    // Signed like every address here (cpu.ts): 0xffffffff81000123 as an unsigned double would lose its low bits.
    let v = hi * Pow.Two32 + (lo >>> 0);
    if (n >= 6 && hi !== 0) return gp(c, 0);
    if (n === 6) v = ((lo | 0xffff0ff0) >>> 0);
    else if (n === 7) v = (((lo & ~0xd800) | 0x400) >>> 0);
    // DR0-DR3 keep exact halves too: a data breakpoint beyond +-2^53 (5-level paging) matches exactly.
    c.dr[n] = n < 4 ? regValue(c, BigAd.Dr0 + n, hi, lo) : v;
    if (n !== 6) refreshDebug(c);
  }
}

export function clts(c: EmuCpu, _i: Insn): void {
  cpl0(c);
  c.cr0 &= ~CR0_TS;
}

// ---------------------------------------------------------------- MSRs, TSC, CPUID

export function rdmsr(c: EmuCpu, i: Insn): void {
  cpl0(c);
  pmuSync(c, i);
  if (!readMsr(c, c.gpr[Gp.CxLo]!)) {
    if (c.msrRefused !== null) c.msrRefused(false, c.gpr[Gp.CxLo]! >>> 0, 0, 0);
    return gp(c, 0);
  }
  setReg(c, 4, 0, c.msrOut.lo);
  setReg(c, 4, 2, c.msrOut.hi);
}
export function wrmsr(c: EmuCpu, i: Insn): void {
  cpl0(c);
  pmuSyncIncluding(c, i);
  if (!writeMsr(c, c.gpr[Gp.CxLo]!, c.gpr[Gp.AxLo]!, c.gpr[Gp.DxLo]!)) {
    if (c.msrRefused !== null) c.msrRefused(true, c.gpr[Gp.CxLo]! >>> 0, c.gpr[Gp.AxLo]!, c.gpr[Gp.DxLo]!);
    return gp(c, 0);
  }
  c.updateMode();
}
export function rdtsc(c: EmuCpu, i: Insn): void {
  if ((c.cr4 & (1 << 2)) !== 0 && c.cpl !== 0) return gp(c, 0);
  const t = tscNow(c);
  setReg(c, 4, 0, t >>> 0);
  setReg(c, 4, 2, Math.floor(t / Pow.Two32) | 0);
  if (i.op === 1) setReg(c, 4, 1, c.tscAux);
}
export function cpuidOp(c: EmuCpu, _i: Insn): void {
  cpuid(c);
}
export function rdpmc(c: EmuCpu, i: Insn): void {
  pmuSync(c, i);
  // Without a PMU no counters exist (CPUID leaf 0xA is zero): #GP.
  if (c.pmu === null || !c.pmu.rdpmc(c.gpr[Gp.CxLo]!, c.cpl, (c.cr4 & (1 << 8)) !== 0, c.msrOut)) return gp(c, 0);
  setReg(c, 4, 0, c.msrOut.lo);
  setReg(c, 4, 2, c.msrOut.hi);
}

// ---------------------------------------------------------------- fast system calls

export function syscall(c: EmuCpu, i: Insn): void {
  if ((c.efer & EFER_SCE) === 0 || (c.efer & EFER_LMA) === 0) return ud(c);
  // Compatibility mode: #UD on Intel, which emu's CPUID says it is (AMD would enter at CSTAR). 32-bit
  // programs under a 64-bit kernel use SYSENTER or INT 80h there, as on Intel hardware.
  if (!c.long64) return ud(c);
  halvesOf(nextIp(c, i)); // exact beyond +-2^53 too (a code handle, address.ts ripOf)
  setReg(c, 8, 1, BIG.lo, BIG.hi);
  const fl = getFlags(c);
  setReg(c, 8, 11, fl & ~Bit.RF, 0);
  const sel = c.star[1]! & 0xffff;
  c.setSegRaw(Seg.CS, sel & 0xfffc, 0, 0xffffffff, 0xa09b);
  c.setSegRaw(Seg.SS, (sel + 8) & 0xfffc, 0, 0xffffffff, 0xc093);
  putFlags(c, 0, c.fmask | Bit.RF);
  c.updateMode();
  c.rip = c.lstar;
}
export function sysret(c: EmuCpu, i: Insn): void {
  if ((c.efer & EFER_SCE) === 0 || (c.efer & EFER_LMA) === 0) return ud(c);
  if (c.cpl !== 0 || !c.long64) return gp(c, 0);
  const base = (c.star[1]! >>> 16) & 0xffff;
  let rip: number;
  if (i.osz === 8) {
    if (nonCanonicalHi(c, c.gpr[Gp.CxHi]!)) return gp(c, 0);
    rip = ripOf(c.gpr[Gp.CxHi]!, c.gpr[Gp.CxLo]!, c);
    c.setSegRaw(Seg.CS, ((base + 16) & 0xfffc) | 3, 0, 0xffffffff, 0xa0fb);
  } else {
    rip = c.gpr[Gp.CxLo]! >>> 0;
    c.setSegRaw(Seg.CS, (base & 0xfffc) | 3, 0, 0xffffffff, 0xc0fb);
  }
  c.segSel[Seg.SS] = ((base + 8) & 0xfffc) | 3;
  c.segAttr[Seg.SS] = 0xc0f3;
  c.segBase[Seg.SS] = 0;
  c.segLimit[Seg.SS] = 0xffffffff;
  c.segChanged();
  putFlags(c, c.gpr[Gp.R11Lo]!, 0x3c7fd7);
  c.updateMode();
  c.rip = rip;
}
export function sysenter(c: EmuCpu, _i: Insn): void {
  if ((c.cr0 & CR0_PE) === 0) return gp(c, 0);
  const cs = c.sysenterCs & 0xfffc;
  if (cs === 0) return gp(c, 0);
  putFlags(c, 0, Bit.VM | Bit.IF | Bit.RF);
  const lma = (c.efer & EFER_LMA) !== 0;
  c.setSegRaw(Seg.CS, cs, 0, 0xffffffff, lma ? 0xa09b : 0xc09b);
  c.setSegRaw(Seg.SS, cs + 8, 0, 0xffffffff, 0xc093);
  c.updateMode();
  regHalves(c, BigAd.SysenterEsp, c.sysenterEsp); // exact beyond +-2^53 too
  const eip = c.sysenterEip;
  if (lma) {
    setReg(c, 8, 4, BIG.lo, BIG.hi);
    c.rip = eip;
  } else {
    setReg(c, 4, 4, BIG.lo);
    c.rip = eip >>> 0;
  }
}
export function sysexit(c: EmuCpu, i: Insn): void {
  if ((c.cr0 & CR0_PE) === 0 || c.cpl !== 0) return gp(c, 0);
  const cs = c.sysenterCs & 0xfffc;
  if (cs === 0) return gp(c, 0);
  if (i.osz === 8) {
    // RIP from RDX, RSP from RCX: either one non-canonical is #GP(0) before anything changes.
    const dx = c.gpr[Gp.DxHi]!;
    const cx = c.gpr[Gp.CxHi]!;
    if (nonCanonicalHi(c, dx) || nonCanonicalHi(c, cx)) return gp(c, 0);
    c.setSegRaw(Seg.CS, (cs + 32) | 3, 0, 0xffffffff, 0xa0fb);
    c.setSegRaw(Seg.SS, (cs + 40) | 3, 0, 0xffffffff, 0xc0f3);
    c.updateMode();
    setReg(c, 8, 4, c.gpr[Gp.CxLo]!, c.gpr[Gp.CxHi]!);
    c.rip = ripOf(c.gpr[Gp.DxHi]!, c.gpr[Gp.DxLo]!, c);
  } else {
    c.setSegRaw(Seg.CS, (cs + 16) | 3, 0, 0xffffffff, 0xc0fb);
    c.setSegRaw(Seg.SS, (cs + 24) | 3, 0, 0xffffffff, 0xc0f3);
    c.updateMode();
    setReg(c, 4, 4, c.gpr[Gp.CxLo]!);
    c.rip = c.gpr[Gp.DxLo]! >>> 0;
  }
}
export function swapgs(c: EmuCpu, _i: Insn): void {
  if (!c.long64) return ud(c);
  cpl0(c);
  const t = c.segBase[Seg.GS]!;
  c.segBase[Seg.GS] = c.kernelGsBase;
  c.kernelGsBase = t;
  // Their exact halves, which count where a base is beyond +-2^53 (cpu.ts bigAd).
  const a = c.bigAd;
  const lo = a[2 * Seg.GS]!;
  const hi = a[2 * Seg.GS + 1]!;
  a[2 * Seg.GS] = a[2 * BigAd.KernelGs]!;
  a[2 * Seg.GS + 1] = a[2 * BigAd.KernelGs + 1]!;
  a[2 * BigAd.KernelGs] = lo;
  a[2 * BigAd.KernelGs + 1] = hi;
}
/** RDFSBASE etc. are not advertised; kept for completeness of the decode table. */
export function invd(c: EmuCpu, _i: Insn): void {
  cpl0(c);
}

/**
 * INVPCID r, m128: invalidation type in the register (64 bits in 64-bit mode), descriptor (PCID in bits 11:0,
 * bits 63:12 reserved, linear address in 127:64) in memory. #GP(0) at CPL > 0, for a type above 3, reserved
 * bits set, a non-canonical address for type 0, or a PCID other than 0 for types 0 and 1 while CR4.PCIDE = 0.
 */
export function invpcidOp(c: EmuCpu, i: Insn): void {
  if ((c.flags & Bit.VM) !== 0) return ud(c);
  cpl0(c);
  const tlo = c.gpr[i.reg << 1]!;
  const thi = c.long64 ? c.gpr[(i.reg << 1) | 1]! : 0;
  if (thi !== 0 || tlo >>> 0 > 3) return gp(c, 0);
  const a = ea(c, i);
  const d0 = rd64(c, a);
  const d1 = c.hi;
  const linLo = rd64(c, c.long64 ? a + 8 : (a + 8) % Pow.Two32);
  const linHi = c.hi;
  if ((d0 & ~0xfff) !== 0 || d1 !== 0) return gp(c, 0);
  // The address is used in full even outside 64-bit mode.
  if (tlo === 0 && nonCanonicalHi(c, linHi)) return gp(c, 0);
  const pcid = d0 & 0xfff;
  if (tlo <= 1 && pcid !== 0 && (c.cr4 & CR4_PCIDE) === 0) return gp(c, 0);
  // Beyond +-2^53 (5-level paging) a handle, which names the page exactly (address.ts).
  invalidatePcid(c, tlo, pcid, linOf(c, linHi, linLo));
}

// ---------------------------------------------------------------- x87 / SSE state

/** Group 15's fences (LFENCE /5, MFENCE /6, SFENCE /7 with a register operand) and CLFLUSH (/7 m8): no-ops. (The state forms are in ops-simd-state.ts.) */
export function grp15(c: EmuCpu, i: Insn): void {
  if (i.mod !== 3) ea(c, i); // CLFLUSH: the address is checked like a byte read
}

export function nop(_c: EmuCpu, _i: Insn): void {}
export function ud2(c: EmuCpu, _i: Insn): void {
  ud(c);
}
/** An invalid encoding (no table row, or LOCK where none is allowed): #UD without a warning. */
export function invalidOpcode(c: EmuCpu, _i: Insn): void {
  ud(c);
}
/** An instruction longer than 15 bytes: #GP(0). */
export function tooLong(c: EmuCpu, _i: Insn): void {
  gp(c, 0);
}

