/** The register catalog of ../registers.ts (Vcpu getRegisters/setRegisters) on an EmuCpu. */
import type { EmuCpu } from './cpu.js';
import { EVENT_HALTED, EVENT_INTERRUPT_SHADOW, MSR, RegSet, SPECIAL_RFLAGS, SPECIAL_RIP, regNumber, regSet, type RegId, type RegisterBatch } from '../registers.js';
import { getFlags, setFlagsRaw } from './lazy-flags.js';
import { readCr8, writeCr8Host } from './control-regs.js';
import { readMsr, writeMsr } from './msr.js';
import { flushTlb } from './tlb.js';
import { refreshDebug } from './debug-regs.js';
import { regFromU64, regU64, u64ToAddr } from './address.js';
import { BigAd, FAULT, Seg } from './x86-defs.js';

export function getRegisters(c: EmuCpu, ids: readonly RegId[]): bigint[] {
  return ids.map((id) => getRegister(c, id));
}

export function getRegister(c: EmuCpu, id: RegId): bigint {
  const set = regSet(id);
  const n = regNumber(id);
  const u = (a: number): bigint => (a < 0 ? BigInt(a) + (1n << 64n) : BigInt(a));
  switch (set) {
    case RegSet.GPR:
      return c.getGpr(n);
    case RegSet.SPECIAL:
      if (n === SPECIAL_RIP) return c.getRip();
      if (n === SPECIAL_RFLAGS) return BigInt(getFlags(c) >>> 0);
      break;
    case RegSet.SEGMENT: {
      const s = n >> 2;
      const f = n & 3;
      if (s > 7) break;
      if (f === 0) return BigInt(c.segSel[s]!);
      if (f === 1) return regU64(c, s, c.segBase[s]!);
      if (f === 2) return BigInt(c.segLimit[s]! >>> 0);
      return BigInt(c.segAttr[s]! >>> 0);
    }
    case RegSet.DTABLE:
      if (n === 0) return regU64(c, BigAd.Gdt, c.gdtBase);
      if (n === 1) return BigInt(c.gdtLimit);
      if (n === 2) return regU64(c, BigAd.Idt, c.idtBase);
      if (n === 3) return BigInt(c.idtLimit);
      break;
    case RegSet.CONTROL:
      if (n === 0) return BigInt(c.cr0 >>> 0);
      if (n === 2) return regU64(c, BigAd.Cr2, c.cr2);
      if (n === 3) return u(c.cr3);
      if (n === 4) return BigInt(c.cr4 >>> 0);
      if (n === 8) return BigInt(readCr8(c));
      break;
    case RegSet.DEBUG:
      return (n & 7) < 4 ? regU64(c, BigAd.Dr0 + (n & 7), c.dr[n & 7]!) : u(c.dr[n & 7]!);
    case RegSet.EVENT:
      if (n === EVENT_INTERRUPT_SHADOW) return c.shadow ? 1n : 0n;
      if (n === EVENT_HALTED) return c.halted ? 1n : 0n;
      break;
    case RegSet.MSR:
      if (n === MSR.IA32_PRED_CMD) throw new RangeError('register ia32_pred_cmd is write-only (a command; RDMSR of it is #GP)');
      if (!readMsr(c, n)) throw new RangeError(`emu does not implement MSR 0x${n.toString(16)}`);
      return (BigInt(c.msrOut.hi >>> 0) << 32n) | BigInt(c.msrOut.lo >>> 0);
    default:
      break;
  }
  throw new RangeError(`register id ${id} is not supported by emu`);
}

export function setRegisters(c: EmuCpu, batch: RegisterBatch): void {
  for (const [id, v] of batch) setRegister(c, id, v);
  c.updateMode();
  flushTlb(c, true);
}

export function setRegister(c: EmuCpu, id: RegId, v: bigint): void {
  const set = regSet(id);
  const n = regNumber(id);
  const lo = Number(v & 0xffffffffn) | 0;
  const hi = Number((v >> 32n) & 0xffffffffn) | 0;
  switch (set) {
    case RegSet.GPR:
      c.gpr[n << 1] = lo;
      c.gpr[(n << 1) | 1] = hi;
      return;
    case RegSet.SPECIAL:
      if (n === SPECIAL_RIP) c.setRip(v);
      else if (n === SPECIAL_RFLAGS) {
        setFlagsRaw(c, lo);
        c.updateMode();
      }
      return;
    case RegSet.SEGMENT: {
      const s = n >> 2;
      const f = n & 3;
      if (s > 7) break;
      if (f === 0) c.segSel[s] = lo & 0xffff;
      else if (f === 1) c.segBase[s] = regFromU64(c, s, v);
      else if (f === 2) c.segLimit[s] = lo >>> 0;
      else c.segAttr[s] = lo;
      if (s === Seg.CS || s === Seg.SS) c.updateMode();
      else c.segChanged();
      return;
    }
    case RegSet.DTABLE:
      if (n === 0) c.gdtBase = regFromU64(c, BigAd.Gdt, v);
      else if (n === 1) c.gdtLimit = lo & 0xffff;
      else if (n === 2) c.idtBase = regFromU64(c, BigAd.Idt, v);
      else if (n === 3) c.idtLimit = lo & 0xffff;
      return;
    case RegSet.CONTROL:
      if (n === 0) c.cr0 = lo;
      else if (n === 2) c.cr2 = regFromU64(c, BigAd.Cr2, v);
      else if (n === 3) c.cr3 = Number(v);
      else if (n === 4) {
        c.cr4 = lo;
        refreshDebug(c);
      }
      else if (n === 8) writeCr8Host(c, lo);
      c.updateMode();
      flushTlb(c, true);
      return;
    case RegSet.DEBUG:
      c.dr[n & 7] = (n & 7) < 4 ? regFromU64(c, BigAd.Dr0 + (n & 7), v) : u64ToAddr(v);
      refreshDebug(c);
      return;
    case RegSet.EVENT:
      if (n === EVENT_INTERRUPT_SHADOW) c.shadow = v !== 0n;
      else if (n === EVENT_HALTED) c.halted = v !== 0n;
      return;
    case RegSet.MSR:
      if (n === MSR.IA32_EFER) {
        c.efer = lo;
        c.updateMode();
        flushTlb(c, true);
        return;
      }
      if (!hostWriteMsr(c, n, lo, hi)) throw new RangeError(`emu rejects MSR 0x${n.toString(16)} = 0x${v.toString(16)}`);
      return;
    default:
      break;
  }
  throw new RangeError(`register id ${id} is not supported by emu`);
}

/** writeMsr for the host: an address emu cannot hold (unrepresentable()) is refused, not a vCPU stop. */
function hostWriteMsr(c: EmuCpu, n: number, lo: number, hi: number): boolean {
  const reason = c.shutdownReason;
  try {
    return writeMsr(c, n, lo, hi);
  } catch (e) {
    if (e !== FAULT) throw e;
    c.shutdownReason = reason;
    c.emulationLimit = false;
    c.breakRun = false;
    return false;
  }
}
