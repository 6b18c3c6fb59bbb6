/**
 * The x86 decoder: prefixes, REX, opcode maps, ModRM/SIB/displacement and immediates
 * into Insn records, grouped into blocks that end at control transfers, system
 * instructions, or the end of the page. Decoding happens once per block; blocks are
 * cached by physical address and mode (see code-cache.ts).
 */
import type { EmuCpu } from './cpu.js';
import { FAULT, ES, CS, SS, DS, FS, GS, SEG_FLAT, SEG_FLAT_SS, VEC_GP, VEC_UD, K_ADD_RR, K_SUB_RR, K_CMP_RR, K_LOGIC_RR, K_ADD_RI, K_SUB_RI, K_CMP_RI, K_LOGIC_RI, K_INCDEC_R, K_MOV_RR, K_JNZ, K_JZ } from './x86-defs.js';
import { Block, EA_16, EA_32, EA_32L, EA_64, Insn, type Handler } from './insn.js';
import * as A from './ops-alu.js';
import * as F from './ops-flow.js';
import * as S from './ops-system.js';
import { stringOp } from './ops-string.js';
import { sseLogic, sseMov128, sseMovq } from './ops-sse.js';
import { raise, unimplemented } from './exceptions.js';
import { fetchPhys, ramAt } from './mem-access.js';

const MAX_BLOCK = 64;
const OUT_OF_BYTES = { out: true } as const;

// Decoder state (decoding is synchronous and single-threaded).
let buf: Uint8Array = new Uint8Array(0);
let pos = 0;
let lim = 0;
let mode = 0;
let rexR = 0;
let rexX = 0;
let rexB = 0;
let hasRex = false;
let segOv = -1;
let asz = 4;

function b8(): number {
  if (pos >= lim) throw OUT_OF_BYTES;
  return buf[pos++]!;
}
function s8(): number {
  return (b8() << 24) >> 24;
}
function u16(): number {
  const a = b8();
  return a | (b8() << 8);
}
function i32(): number {
  const a = b8();
  const b = b8();
  const c = b8();
  return a | (b << 8) | (c << 16) | (b8() << 24);
}

function ud(c: EmuCpu, _i: Insn): void {
  raise(c, VEC_UD);
}
function gpLen(c: EmuCpu, _i: Insn): void {
  raise(c, VEC_GP, 0);
}
const unimplCache = new Map<string, Handler>();
function unimpl(name: string): Handler {
  let h = unimplCache.get(name);
  if (h === undefined) {
    h = (c: EmuCpu) => unimplemented(c, name);
    unimplCache.set(name, h);
  }
  return h;
}
function hex(v: number): string {
  return v.toString(16).padStart(2, '0');
}

/** Byte-register code: without REX, 4-7 are AH CH DH BH (codes 16-19). */
function breg(r: number): number {
  return !hasRex && r >= 4 && r < 8 ? r + 12 : r;
}

function segFor(def: number): number {
  if (mode === 2) return segOv === FS || segOv === GS ? segOv : def === SS ? SEG_FLAT_SS : SEG_FLAT;
  return segOv >= 0 ? segOv : def;
}

function modrm(x: Insn): void {
  const m = b8();
  x.mod = m >> 6;
  x.reg = ((m >> 3) & 7) | rexR;
  const rm = m & 7;
  if (x.mod === 3) {
    x.rm = rm | rexB;
    return;
  }
  x.base = -1;
  x.index = -1;
  x.scale = 0;
  x.disp = 0;
  x.ripRel = false;
  let def = DS;
  if (asz === 2) {
    switch (rm) {
      case 0:
        x.base = 3;
        x.index = 6;
        break;
      case 1:
        x.base = 3;
        x.index = 7;
        break;
      case 2:
        x.base = 5;
        x.index = 6;
        def = SS;
        break;
      case 3:
        x.base = 5;
        x.index = 7;
        def = SS;
        break;
      case 4:
        x.base = 6;
        break;
      case 5:
        x.base = 7;
        break;
      case 6:
        if (x.mod !== 0) {
          x.base = 5;
          def = SS;
        }
        break;
      default:
        x.base = 3;
    }
    if (x.mod === 0 && rm === 6) x.disp = u16();
    else if (x.mod === 1) x.disp = s8();
    else if (x.mod === 2) x.disp = u16();
  } else {
    if (rm === 4) {
      const sib = b8();
      x.scale = sib >> 6;
      const idx = ((sib >> 3) & 7) | rexX;
      if (idx !== 4) x.index = idx;
      const base = sib & 7;
      if (base === 5 && x.mod === 0) x.disp = i32();
      else {
        x.base = base | rexB;
        if (x.base === 4 || x.base === 5) def = SS;
      }
    } else if (rm === 5 && x.mod === 0) {
      x.disp = i32();
      if (mode === 2) x.ripRel = true;
    } else {
      x.base = rm | rexB;
      if (x.base === 5) def = SS;
    }
    if (x.mod === 1) x.disp = s8();
    else if (x.mod === 2) x.disp = i32();
  }
  x.seg = segFor(def);
}

/** Immediate of the operand size (Iz: 16 or 32 bits, sign-extended to 64). */
function immZ(x: Insn): void {
  if (x.osz === 2) x.imm = u16();
  else {
    x.imm = i32();
    x.immHi = x.osz === 8 ? x.imm >> 31 : 0;
  }
}
/** Sign-extended imm8 at the operand size. */
function immBs(x: Insn): void {
  const v = s8();
  x.imm = x.osz === 2 ? v & 0xffff : x.osz === 1 ? v & 0xff : v;
  x.immHi = x.osz === 8 ? v >> 31 : 0;
}

/** Handlers that end a block (control transfers, mode changes, I/O, HLT, REP strings...). */
const TERM = new Set<Handler>([
  F.jcc, F.jnz, F.jz, F.jmpRel, F.callRel, F.jmpE, F.callE, F.retNear, F.loop, F.retFar, F.jmpFar, F.callFar, F.iret,
  F.intN, F.hlt, F.sti, F.cli, F.popf, F.popSeg, F.movSegE, F.loadFarPtr,
  S.inOp, S.outOp, S.grp7, S.grp6, S.movCr, S.movDr, S.clts, S.wrmsr, S.syscall, S.sysret, S.sysenter, S.sysexit, S.swapgs, S.rdtsc,
  stringOp, ud, gpLen, S.ud2, A.sahf,
]);
const BRANCH = new Set<Handler>([F.jcc, F.jnz, F.jz, F.jmpRel, F.callRel, F.jmpE, F.callE, F.retNear, F.loop, F.retFar, F.jmpFar, F.callFar, F.iret, F.intN, S.syscall, S.sysret, S.sysenter, S.sysexit]);

/** Decodes one instruction at pos into a new Insn. */
function decodeOne(): Insn {
  const start = pos;
  const x = new Insn(ud);
  let opsz = false;
  let adsz = false;
  let rep = 0;
  let lock = false;
  let rex = 0;
  segOv = -1;
  let b: number;
  for (;;) {
    b = b8();
    if (b === 0x66) opsz = true;
    else if (b === 0x67) adsz = true;
    else if (b === 0x26 || b === 0x2e || b === 0x36 || b === 0x3e) segOv = (b >> 3) & 3;
    else if (b === 0x64) segOv = FS;
    else if (b === 0x65) segOv = GS;
    else if (b === 0xf0) lock = true;
    else if (b === 0xf2) rep = 2;
    else if (b === 0xf3) rep = 1;
    else if (mode === 2 && (b & 0xf0) === 0x40) {
      rex = b;
      b = b8();
      // A REX followed by another prefix is ignored.
      if (b === 0x66 || b === 0x67 || b === 0xf0 || b === 0xf2 || b === 0xf3 || b === 0x26 || b === 0x2e || b === 0x36 || b === 0x3e || b === 0x64 || b === 0x65 || (b & 0xf0) === 0x40) {
        rex = 0;
        pos--;
        continue;
      }
      break;
    } else break;
    if (pos - start > 14) {
      x.fn = gpLen;
      return x;
    }
  }
  hasRex = rex !== 0;
  const rexW = (rex & 8) !== 0;
  rexR = (rex & 4) << 1;
  rexX = (rex & 2) << 2;
  rexB = (rex & 1) << 3;
  if (mode === 2) {
    x.osz = rexW ? 8 : opsz ? 2 : 4;
    asz = adsz ? 4 : 8;
  } else {
    x.osz = (mode === 1) !== opsz ? 4 : 2;
    asz = (mode === 1) !== adsz ? 4 : 2;
  }
  x.ak = asz === 2 ? EA_16 : asz === 4 ? (mode === 2 ? EA_32L : EA_32) : EA_64;
  x.seg = segFor(DS);
  x.rep = rep;
  x.lock = lock;
  x.opc = b;
  const m64 = mode === 2;
  /** Operand size of near branches and stack operations: 64-bit mode defaults to 8. */
  const stackOsz = m64 ? (opsz && !rexW ? 2 : 8) : x.osz;

  if (b < 0x40 && (b & 7) < 6) {
    const op = b >> 3;
    x.op = op;
    switch (b & 7) {
      case 0:
      case 2:
        x.osz = 1;
        modrm(x);
        x.reg = breg(x.reg);
        if (x.mod === 3) x.rm = breg(x.rm);
        x.fn = (b & 7) === 0 ? A.aluEG : A.aluGE;
        break;
      case 1:
      case 3:
        modrm(x);
        if (x.mod === 3 && x.osz === 4) {
          if ((b & 7) === 3) {
            const t = x.rm;
            x.rm = x.reg;
            x.reg = t;
          }
          x.fn = op === 0 ? A.add32rr : op === 5 ? A.sub32rr : op === 7 ? A.cmp32rr : op === 1 || op === 4 || op === 6 ? A.logic32rr : (b & 7) === 1 ? A.aluEG : swapBack(x);
        } else x.fn = (b & 7) === 1 ? A.aluEG : A.aluGE;
        break;
      case 4:
        x.osz = 1;
        x.mod = 3;
        x.rm = 0;
        x.imm = b8();
        x.fn = A.aluEI;
        break;
      default:
        x.mod = 3;
        x.rm = 0;
        immZ(x);
        x.fn = x.osz === 4 ? (op === 0 ? A.add32ri : op === 5 ? A.sub32ri : op === 7 ? A.cmp32ri : A.alu32ri) : A.aluEI;
    }
    return finish(x, start);
  }

  switch (b) {
    case 0x06:
    case 0x0e:
    case 0x16:
    case 0x1e:
      if (m64) break;
      x.rm = b >> 3;
      x.fn = F.pushSeg;
      break;
    case 0x07:
    case 0x17:
    case 0x1f:
      if (m64) break;
      x.rm = b >> 3;
      x.fn = F.popSeg;
      break;
    case 0x0f:
      decode0f(x, opsz, rep, rexW, stackOsz);
      break;
    case 0x27:
    case 0x2f:
    case 0x37:
    case 0x3f:
      if (m64) break;
      x.op = (b >> 3) - 4;
      x.fn = A.bcd;
      break;
    default:
      if (b >= 0x40 && b <= 0x4f) {
        // INC/DEC r (not in 64-bit mode, where these are REX)
        x.mod = 3;
        x.rm = b & 7;
        x.op = (b >> 3) & 1;
        x.fn = x.osz === 4 ? (x.op === 0 ? A.inc32r : A.dec32r) : A.incdecE;
      } else if (b >= 0x50 && b <= 0x57) {
        x.rm = (b & 7) | rexB;
        x.osz = stackOsz;
        x.fn = x.osz === 4 ? F.push32r : F.pushR;
      } else if (b >= 0x58 && b <= 0x5f) {
        x.rm = (b & 7) | rexB;
        x.osz = stackOsz;
        x.fn = x.osz === 4 ? F.pop32r : F.popR;
      } else if (b >= 0x70 && b <= 0x7f) {
        x.op = b & 0xf;
        x.imm = s8();
        x.osz = m64 ? 8 : x.osz;
        x.fn = x.op === 5 ? F.jnz : x.op === 4 ? F.jz : F.jcc;
      } else if (b >= 0x91 && b <= 0x97) {
        x.mod = 3;
        x.rm = (b & 7) | rexB;
        x.reg = 0;
        x.fn = A.xchgEG;
      } else if (b >= 0xb0 && b <= 0xb7) {
        x.osz = 1;
        x.rm = breg((b & 7) | rexB);
        x.imm = b8();
        x.fn = A.movRI;
      } else if (b >= 0xb8 && b <= 0xbf) {
        x.rm = (b & 7) | rexB;
        if (x.osz === 8) {
          x.imm = i32();
          x.immHi = i32();
        } else immZ(x);
        x.fn = A.movRI;
      } else if (b >= 0xd8 && b <= 0xdf) decodeX87(x, b);
      else decodeOneByte(x, b, stackOsz, rep);
  }
  return finish(x, start);
}

function swapBack(x: Insn): Handler {
  // ADC/SBB G, E with register operands: undo the swap and use the generic form.
  const t = x.rm;
  x.rm = x.reg;
  x.reg = t;
  return A.aluGE;
}

const LOCKABLE = new Set<Handler>([A.aluEG, A.aluEI, A.incdecE, A.notE, A.negE, A.btEG, A.btEI, A.cmpxchg, A.cmpxchg8b, A.xadd, A.xchgEG]);

function inlineKind(x: Insn): number {
  const f = x.fn;
  if (f === A.add32rr) return K_ADD_RR;
  if (f === A.sub32rr) return K_SUB_RR;
  if (f === A.cmp32rr) return K_CMP_RR;
  if (f === A.logic32rr) return K_LOGIC_RR;
  if (f === A.add32ri) return K_ADD_RI;
  if (f === A.sub32ri) return K_SUB_RI;
  if (f === A.cmp32ri) return K_CMP_RI;
  if (f === A.alu32ri && (x.op === 1 || x.op === 4 || x.op === 6)) return K_LOGIC_RI;
  if (f === A.inc32r) return K_INCDEC_R;
  if (f === A.dec32r) return K_INCDEC_R;
  if (f === A.mov32rr) return K_MOV_RR;
  if (f === F.jnz) return K_JNZ;
  if (f === F.jz) return K_JZ;
  return 0;
}

const STORES = new Set<Handler>([A.movEG, A.mov32store, A.movEI, A.setcc, F.popE, F.movESeg, A.xchgEG, A.cmpxchg, A.xadd, A.incdecE, A.notE, A.negE, A.shiftE, A.shldE, A.cmpxchg8b, A.movbe]);

function memWrite(x: Insn): boolean {
  const f = x.fn;
  if (STORES.has(f)) return f !== A.movbe || x.op === 1;
  if (f === A.aluEG || f === A.aluEI) return x.op !== 7;
  if (f === A.btEG || f === A.btEI) return x.op !== 0;
  if (f === S.grp7) return x.op === 0 || x.op === 1 || x.op === 4;
  if (f === S.grp6) return x.op === 0 || x.op === 1;
  if (f === S.fpuCtl) return x.op === 1 || x.op === 3;
  if (f === S.grp15) return x.op === 0 || x.op === 3;
  if (f === sseMov128) return x.op === 1;
  if (f === sseMovq) return x.op === 1 || x.op === 3;
  return false;
}

function finish(x: Insn, start: number): Insn {
  x.k = 0;
  if (x.mod !== 3) {
    x.mw = memWrite(x);
    if (x.fn !== sseMov128 && x.fn !== sseLogic && x.fn !== sseMovq) x.msz = x.fn === A.movzx || x.fn === A.movsx ? x.imm2 : x.fn === F.movSegE || x.fn === F.movESeg ? 2 : x.fn === A.setcc ? 1 : x.osz;
  }
  if (pos - start > 15) x.fn = gpLen;
  // LOCK is only valid on read-modify-write instructions with a memory destination.
  else if (x.lock && (x.mod === 3 || !LOCKABLE.has(x.fn) || ((x.fn === A.aluEG || x.fn === A.aluEI) && x.op === 7) || ((x.fn === A.btEG || x.fn === A.btEI) && x.op === 0))) x.fn = ud;
  return x;
}

function decodeOneByte(x: Insn, b: number, stackOsz: number, rep: number): void {
  const m64 = mode === 2;
  switch (b) {
    case 0x60:
    case 0x61:
      if (m64) return;
      x.fn = b === 0x60 ? F.pusha : F.popa;
      return;
    case 0x62:
      if (m64) return;
      modrm(x);
      x.fn = x.mod === 3 ? ud : A.bound;
      return;
    case 0x63:
      modrm(x);
      if (m64) {
        x.imm2 = 4;
        x.fn = x.osz === 8 ? A.movsx : A.movGE;
        if (x.osz !== 8) x.fn = A.movGE;
      } else x.fn = unimpl('ARPL (63)');
      return;
    case 0x68:
      x.osz = stackOsz;
      immZ(x);
      x.fn = F.pushI;
      return;
    case 0x6a:
      x.osz = stackOsz;
      immBs(x);
      x.fn = F.pushI;
      return;
    case 0x69:
      modrm(x);
      immZ(x);
      x.fn = A.imulGEI;
      return;
    case 0x6b:
      modrm(x);
      immBs(x);
      x.fn = A.imulGEI;
      return;
    case 0x6c:
    case 0x6d:
    case 0x6e:
    case 0x6f:
      if ((b & 1) === 0) x.osz = 1;
      else if (x.osz === 8) x.osz = 4;
      x.op = b < 0x6e ? 5 : 6;
      x.imm2 = asz;
      x.fn = stringOp;
      return;
    case 0x80:
    case 0x81:
    case 0x82:
    case 0x83:
      if (b === 0x82 && m64) return;
      if (b !== 0x81 && b !== 0x83) x.osz = 1;
      modrm(x);
      x.op = x.reg & 7;
      if (x.osz === 1 && x.mod === 3) x.rm = breg(x.rm);
      if (b === 0x83) immBs(x);
      else if (b === 0x81) immZ(x);
      else x.imm = b8();
      if (x.mod === 3 && x.osz === 4) x.fn = x.op === 0 ? A.add32ri : x.op === 5 ? A.sub32ri : x.op === 7 ? A.cmp32ri : A.alu32ri;
      else x.fn = A.aluEI;
      return;
    case 0x84:
    case 0x85:
    case 0x86:
    case 0x87:
      if ((b & 1) === 0) x.osz = 1;
      modrm(x);
      if (x.osz === 1) {
        x.reg = breg(x.reg);
        if (x.mod === 3) x.rm = breg(x.rm);
      }
      x.fn = b < 0x86 ? A.testEG : A.xchgEG;
      return;
    case 0x88:
    case 0x89:
    case 0x8a:
    case 0x8b:
      if ((b & 1) === 0) x.osz = 1;
      modrm(x);
      if (x.osz === 1) {
        x.reg = breg(x.reg);
        if (x.mod === 3) x.rm = breg(x.rm);
      }
      if (x.osz === 4 && b === 0x89 && x.mod === 3) x.fn = A.mov32rr;
      else if (x.osz === 4 && b === 0x8b && x.mod === 3) {
        const t = x.rm;
        x.rm = x.reg;
        x.reg = t;
        x.fn = A.mov32rr;
      } else if (x.osz === 4 && b === 0x8b) x.fn = A.mov32load;
      else if (x.osz === 4 && b === 0x89) x.fn = A.mov32store;
      else x.fn = b < 0x8a ? A.movEG : A.movGE;
      return;
    case 0x8c:
      modrm(x);
      x.op = x.reg & 7;
      x.fn = F.movESeg;
      return;
    case 0x8d:
      modrm(x);
      x.fn = x.mod === 3 ? ud : A.lea;
      return;
    case 0x8e:
      modrm(x);
      x.op = x.reg & 7;
      x.fn = F.movSegE;
      return;
    case 0x8f:
      x.osz = stackOsz;
      modrm(x);
      x.fn = (x.reg & 7) === 0 ? F.popE : ud;
      return;
    case 0x90:
      if (hasRex && rexB !== 0) {
        x.mod = 3;
        x.rm = 8;
        x.reg = 0;
        x.fn = A.xchgEG;
      } else x.fn = S.nop; // NOP / PAUSE
      return;
    case 0x98:
    case 0x99:
      x.op = b & 1;
      x.fn = A.cbw;
      return;
    case 0x9a:
      if (m64) return;
      x.imm = x.osz === 4 ? i32() : u16();
      x.imm2 = u16();
      x.op = 0;
      x.fn = F.callFar;
      return;
    case 0x9b:
      x.op = 6;
      x.fn = S.fpuCtl;
      return;
    case 0x9c:
      x.osz = stackOsz;
      x.fn = F.pushf;
      return;
    case 0x9d:
      x.osz = stackOsz;
      x.fn = F.popf;
      return;
    case 0x9e:
      x.fn = A.sahf;
      return;
    case 0x9f:
      x.fn = A.lahf;
      return;
    case 0xa0:
    case 0xa1:
    case 0xa2:
    case 0xa3:
      if ((b & 1) === 0) x.osz = 1;
      x.op = b >= 0xa2 ? 1 : 0;
      if (asz === 8) {
        x.imm = i32();
        x.immHi = i32();
      } else x.imm = asz === 4 ? i32() : u16();
      x.fn = A.movMoffs;
      return;
    case 0xa4:
    case 0xa5:
    case 0xa6:
    case 0xa7:
    case 0xaa:
    case 0xab:
    case 0xac:
    case 0xad:
    case 0xae:
    case 0xaf:
      if ((b & 1) === 0) x.osz = 1;
      x.op = b < 0xa6 ? 0 : b < 0xa8 ? 1 : b < 0xac ? 2 : b < 0xae ? 3 : 4;
      x.imm2 = asz;
      if (rep !== 0 && x.op !== 1 && x.op !== 4) x.rep = 1;
      x.fn = stringOp;
      return;
    case 0xa8:
    case 0xa9:
      if (b === 0xa8) {
        x.osz = 1;
        x.imm = b8();
      } else immZ(x);
      x.mod = 3;
      x.rm = 0;
      x.fn = A.testEI;
      return;
    case 0xc0:
    case 0xc1:
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
      if ((b & 1) === 0) x.osz = 1;
      modrm(x);
      if (x.osz === 1 && x.mod === 3) x.rm = breg(x.rm);
      x.op = x.reg & 7;
      if (b < 0xd0) x.imm = b8();
      else if (b < 0xd2) x.imm = 1;
      else x.imm2 = 1;
      x.fn = A.shiftE;
      if (x.osz === 4 && x.mod === 3 && x.imm2 === 0 && (x.imm & 31) !== 0 && x.op !== 2 && x.op !== 3) {
        x.imm &= 31;
        x.fn = A.shift32ri;
      }
      return;
    case 0xc2:
    case 0xc3:
      x.osz = stackOsz;
      x.imm = b === 0xc2 ? u16() : 0;
      x.fn = F.retNear;
      return;
    case 0xc4:
    case 0xc5:
      if (m64) {
        x.fn = unimpl(`VEX prefix (${hex(b)})`);
        return;
      }
      modrm(x);
      x.op = b === 0xc4 ? ES : DS;
      x.fn = F.loadFarPtr;
      return;
    case 0xc6:
    case 0xc7:
      if (b === 0xc6) x.osz = 1;
      modrm(x);
      if ((x.reg & 7) !== 0) return;
      if (x.osz === 1) {
        if (x.mod === 3) x.rm = breg(x.rm);
        x.imm = b8();
      } else immZ(x);
      x.fn = A.movEI;
      return;
    case 0xc8:
      x.osz = stackOsz;
      x.imm = u16();
      x.imm2 = b8();
      x.fn = F.enter;
      return;
    case 0xc9:
      x.osz = stackOsz;
      x.fn = F.leave;
      return;
    case 0xca:
    case 0xcb:
      x.imm = b === 0xca ? u16() : 0;
      x.fn = F.retFar;
      return;
    case 0xcc:
      x.op = 3;
      x.imm2 = 1;
      x.fn = F.intN;
      return;
    case 0xcd:
      x.op = b8();
      x.fn = F.intN;
      return;
    case 0xce:
      if (m64) return;
      x.op = 4;
      x.imm2 = 2;
      x.fn = F.intN;
      return;
    case 0xcf:
      x.fn = F.iret;
      return;
    case 0xd4:
    case 0xd5:
      if (m64) return;
      x.op = b === 0xd4 ? 4 : 5;
      x.imm = b8();
      x.fn = A.bcd;
      return;
    case 0xd6:
      if (m64) return;
      x.op = 6;
      x.fn = A.bcd;
      return;
    case 0xd7:
      x.fn = A.xlat;
      return;
    case 0xe0:
    case 0xe1:
    case 0xe2:
    case 0xe3:
      x.imm = s8();
      x.op = b === 0xe0 ? 2 : b === 0xe1 ? 1 : b === 0xe2 ? 0 : 3;
      x.imm2 = asz;
      if (m64) x.osz = 8;
      x.fn = F.loop;
      return;
    case 0xe4:
    case 0xe5:
    case 0xe6:
    case 0xe7:
    case 0xec:
    case 0xed:
    case 0xee:
    case 0xef:
      if ((b & 1) === 0) x.osz = 1;
      else if (x.osz === 8) x.osz = 4;
      x.imm = b < 0xe8 ? b8() : -1;
      x.fn = (b & 2) === 0 ? S.inOp : S.outOp;
      return;
    case 0xe8:
    case 0xe9:
      x.osz = m64 ? 8 : x.osz;
      x.imm = x.osz === 2 ? (u16() << 16) >> 16 : i32();
      x.fn = b === 0xe8 ? F.callRel : F.jmpRel;
      return;
    case 0xea:
      if (m64) return;
      x.imm = x.osz === 4 ? i32() : u16();
      x.imm2 = u16();
      x.op = 0;
      x.fn = F.jmpFar;
      return;
    case 0xeb:
      x.imm = s8();
      x.osz = m64 ? 8 : x.osz;
      x.fn = F.jmpRel;
      return;
    case 0xf1:
      x.op = 1;
      x.imm2 = 3;
      x.fn = F.intN;
      return;
    case 0xf4:
      x.fn = F.hlt;
      return;
    case 0xf5:
      x.op = 2;
      x.fn = A.flagOp;
      return;
    case 0xf6:
    case 0xf7: {
      if (b === 0xf6) x.osz = 1;
      modrm(x);
      if (x.osz === 1 && x.mod === 3) x.rm = breg(x.rm);
      const r = x.reg & 7;
      if (r <= 1) {
        if (x.osz === 1) x.imm = b8();
        else immZ(x);
        x.fn = A.testEI;
      } else x.fn = [A.notE, A.negE, A.mulE, A.imul1E, A.divE, A.idivE][r - 2]!;
      return;
    }
    case 0xf8:
    case 0xf9:
      x.op = b & 1;
      x.fn = A.flagOp;
      return;
    case 0xfa:
      x.fn = F.cli;
      return;
    case 0xfb:
      x.fn = F.sti;
      return;
    case 0xfc:
    case 0xfd:
      x.op = 3 + (b & 1);
      x.fn = A.flagOp;
      return;
    case 0xfe:
      x.osz = 1;
      modrm(x);
      if (x.mod === 3) x.rm = breg(x.rm);
      if ((x.reg & 7) > 1) return;
      x.op = x.reg & 7;
      x.fn = A.incdecE;
      return;
    case 0xff: {
      modrm(x);
      const r = x.reg & 7;
      switch (r) {
        case 0:
        case 1:
          x.op = r;
          x.fn = x.mod === 3 && x.osz === 4 ? (r === 0 ? A.inc32r : A.dec32r) : A.incdecE;
          return;
        case 2:
          x.osz = m64 ? 8 : x.osz;
          x.fn = F.callE;
          return;
        case 3:
          x.op = 1;
          x.fn = F.callFar;
          return;
        case 4:
          x.osz = m64 ? 8 : x.osz;
          x.fn = F.jmpE;
          return;
        case 5:
          x.op = 1;
          x.fn = F.jmpFar;
          return;
        case 6:
          x.osz = stackOsz;
          x.fn = F.pushE;
          return;
        default:
          return;
      }
    }
    default:
      x.fn = unimpl(`opcode ${hex(b)}`);
  }
}

function decodeX87(x: Insn, b: number): void {
  modrm(x);
  const r = x.reg & 7;
  if (b === 0xdb && x.mod === 3 && x.rm === 3 && r === 4) {
    x.op = 0; // FNINIT (DB E3)
    x.fn = S.fpuCtl;
  } else if (b === 0xdb && x.mod === 3 && x.rm === 2 && r === 4) {
    x.op = 5; // FNCLEX
    x.fn = S.fpuCtl;
  } else if (b === 0xdd && x.mod !== 3 && r === 7) {
    x.op = 1; // FNSTSW m16
    x.fn = S.fpuCtl;
  } else if (b === 0xdf && x.mod === 3 && r === 4 && (x.rm & 7) === 0) {
    x.op = 2; // FNSTSW AX
    x.fn = S.fpuCtl;
  } else if (b === 0xd9 && x.mod !== 3 && r === 7) {
    x.op = 3; // FNSTCW
    x.fn = S.fpuCtl;
  } else if (b === 0xd9 && x.mod !== 3 && r === 5) {
    x.op = 4; // FLDCW
    x.fn = S.fpuCtl;
  } else x.fn = unimpl(`x87 ${hex(b)} /${r}${x.mod === 3 ? ` (modrm reg form ${x.rm & 7})` : ''}`);
}

function decode0f(x: Insn, opsz: boolean, rep: number, rexW: boolean, stackOsz: number): void {
  const b = b8();
  x.opc = 0x0f00 | b;
  const m64 = mode === 2;
  if (b >= 0x80 && b <= 0x8f) {
    x.op = b & 0xf;
    x.osz = m64 ? 8 : x.osz;
    x.imm = x.osz === 2 ? (u16() << 16) >> 16 : i32();
    x.fn = x.op === 5 ? F.jnz : x.op === 4 ? F.jz : F.jcc;
    return;
  }
  if (b >= 0x40 && b <= 0x4f) {
    modrm(x);
    x.op = b & 0xf;
    x.fn = A.cmovcc;
    return;
  }
  if (b >= 0x90 && b <= 0x9f) {
    modrm(x);
    if (x.mod === 3) x.rm = breg(x.rm);
    x.op = b & 0xf;
    x.fn = A.setcc;
    return;
  }
  if (b >= 0xc8 && b <= 0xcf) {
    x.rm = (b & 7) | rexB;
    x.fn = A.bswap;
    return;
  }
  switch (b) {
    case 0x00:
      modrm(x);
      x.op = x.reg & 7;
      x.fn = x.op <= 5 ? S.grp6 : ud;
      return;
    case 0x01: {
      modrm(x);
      const r = x.reg & 7;
      if (x.mod === 3) {
        const rm = x.rm & 7;
        if (r === 7 && rm === 0) x.fn = S.swapgs;
        else if (r === 7 && rm === 1) {
          x.op = 1;
          x.fn = S.rdtsc;
        } else if (r === 4 || r === 6) {
          x.op = r;
          x.fn = S.grp7;
        } else if (r === 1 && (rm === 0 || rm === 1)) x.fn = unimpl('MONITOR/MWAIT');
        else if (r === 2 && rm === 0) x.fn = unimpl('XGETBV');
        else x.fn = unimpl(`0f 01 ${hex(0xc0 | (r << 3) | rm)}`);
        return;
      }
      x.op = r;
      if (r === 5) return;
      x.fn = S.grp7;
      return;
    }
    case 0x02:
    case 0x03:
      modrm(x);
      x.op = b & 1;
      x.fn = S.larLsl;
      return;
    case 0x05:
      x.fn = m64 || mode === 1 ? S.syscall : ud;
      return;
    case 0x06:
      x.fn = S.clts;
      return;
    case 0x07:
      x.fn = S.sysret;
      return;
    case 0x08:
    case 0x09:
      x.fn = S.invd;
      return;
    case 0x0b:
      x.fn = S.ud2;
      return;
    case 0x0d:
      modrm(x);
      x.fn = S.nop;
      return;
    case 0x18:
    case 0x19:
    case 0x1a:
    case 0x1b:
    case 0x1c:
    case 0x1d:
    case 0x1e:
    case 0x1f:
      modrm(x);
      x.fn = S.nop;
      return;
    case 0x20:
    case 0x21:
    case 0x22:
    case 0x23:
      modrm(x);
      x.mod = 3;
      x.op = b & 2 ? 1 : 0;
      x.fn = b & 1 ? S.movDr : S.movCr;
      return;
    case 0x30:
      x.fn = S.wrmsr;
      return;
    case 0x31:
      x.op = 0;
      x.fn = S.rdtsc;
      return;
    case 0x32:
      x.fn = S.rdmsr;
      return;
    case 0x33:
      x.fn = S.rdpmc;
      return;
    case 0x34:
      x.fn = S.sysenter;
      return;
    case 0x35:
      x.osz = rexW ? 8 : 4;
      x.fn = S.sysexit;
      return;
    case 0x38:
      decode0f38(x, rep);
      return;
    case 0xa0:
    case 0xa8:
      x.rm = b === 0xa0 ? FS : GS;
      x.osz = stackOsz;
      x.fn = F.pushSeg;
      return;
    case 0xa1:
    case 0xa9:
      x.rm = b === 0xa1 ? FS : GS;
      x.osz = stackOsz;
      x.fn = F.popSeg;
      return;
    case 0xa2:
      x.fn = S.cpuidOp;
      return;
    case 0xa3:
    case 0xab:
    case 0xb3:
    case 0xbb:
      modrm(x);
      x.op = b === 0xa3 ? 0 : b === 0xab ? 1 : b === 0xb3 ? 2 : 3;
      x.fn = A.btEG;
      return;
    case 0xba:
      modrm(x);
      if ((x.reg & 7) < 4) return;
      x.op = (x.reg & 7) - 4;
      x.imm = b8();
      x.fn = A.btEI;
      return;
    case 0xa4:
    case 0xa5:
    case 0xac:
    case 0xad:
      modrm(x);
      x.op = b >= 0xac ? 1 : 0;
      if ((b & 1) === 0) x.imm = b8();
      else x.imm2 = 1;
      x.fn = A.shldE;
      return;
    case 0xae:
      modrm(x);
      x.op = x.reg & 7;
      x.fn = S.grp15;
      return;
    case 0xaf:
      modrm(x);
      x.fn = A.imulGE;
      return;
    case 0xb0:
    case 0xb1:
      if (b === 0xb0) x.osz = 1;
      modrm(x);
      if (x.osz === 1) {
        x.reg = breg(x.reg);
        if (x.mod === 3) x.rm = breg(x.rm);
      }
      x.fn = A.cmpxchg;
      return;
    case 0xb2:
    case 0xb4:
    case 0xb5:
      modrm(x);
      x.op = b === 0xb2 ? SS : b === 0xb4 ? FS : GS;
      x.fn = F.loadFarPtr;
      return;
    case 0xb6:
    case 0xb7:
    case 0xbe:
    case 0xbf:
      modrm(x);
      x.imm2 = b & 1 ? 2 : 1;
      if (x.imm2 === 1 && x.mod === 3) x.rm = breg(x.rm);
      x.fn = b < 0xbe ? A.movzx : A.movsx;
      return;
    case 0xb8:
      modrm(x);
      if (rep !== 1) return;
      x.op = 4;
      x.fn = A.bitScan;
      return;
    case 0xbc:
    case 0xbd:
      modrm(x);
      x.op = b === 0xbc ? 0 : rep === 1 ? 3 : 1;
      x.fn = A.bitScan;
      return;
    case 0xc0:
    case 0xc1:
      if (b === 0xc0) x.osz = 1;
      modrm(x);
      if (x.osz === 1) {
        x.reg = breg(x.reg);
        if (x.mod === 3) x.rm = breg(x.rm);
      }
      x.fn = A.xadd;
      return;
    case 0xc7:
      modrm(x);
      if ((x.reg & 7) === 1 && x.mod !== 3) {
        x.imm2 = rexW ? 16 : 8;
        x.fn = A.cmpxchg8b;
      } else x.fn = unimpl(`0f c7 /${x.reg & 7}`);
      return;
    default:
      if (decodeSse(x, b, opsz, rep, rexW)) return;
      x.fn = unimpl(`opcode 0f ${hex(b)}${opsz ? ' (66)' : ''}${rep === 1 ? ' (f3)' : rep === 2 ? ' (f2)' : ''}`);
  }
}

/** The SSE/SSE2 move and bitwise subset of ops-sse.ts; false for anything else. */
function decodeSse(x: Insn, b: number, opsz: boolean, rep: number, rexW: boolean): boolean {
  const none = !opsz && rep === 0;
  const p66 = opsz && rep === 0;
  switch (b) {
    case 0x10:
    case 0x11:
    case 0x28:
    case 0x29:
      if (!(none || p66)) return false;
      modrm(x);
      x.op = b & 1;
      x.imm2 = b >= 0x28 ? 1 : 0;
      x.fn = sseMov128;
      break;
    case 0x6f:
    case 0x7f:
      if (!(p66 || (!opsz && rep === 1))) return false;
      modrm(x);
      x.op = b === 0x7f ? 1 : 0;
      x.imm2 = p66 ? 1 : 0;
      x.fn = sseMov128;
      break;
    case 0x54:
    case 0x55:
    case 0x56:
    case 0x57:
      if (!(none || p66)) return false;
      modrm(x);
      x.op = b - 0x54;
      x.fn = sseLogic;
      break;
    case 0xdb:
    case 0xdf:
    case 0xeb:
    case 0xef:
      if (!p66) return false;
      modrm(x);
      x.op = b === 0xdb ? 0 : b === 0xdf ? 1 : b === 0xeb ? 2 : 3;
      x.fn = sseLogic;
      break;
    case 0x6e:
    case 0x7e:
    case 0xd6:
      if (b === 0x7e && !opsz && rep === 1) x.op = 2;
      else if (p66) x.op = b === 0x6e ? 0 : b === 0x7e ? 1 : 3;
      else return false;
      modrm(x);
      x.osz = rexW && x.op < 2 ? 8 : 4;
      x.fn = sseMovq;
      break;
    default:
      return false;
  }
  x.msz = x.fn === sseMovq ? (x.op >= 2 || x.osz === 8 ? 8 : 4) : 16;
  return true;
}

function decode0f38(x: Insn, rep: number): void {
  const b = b8();
  x.opc = 0x0f3800 | b;
  if ((b === 0xf0 || b === 0xf1) && rep === 0) {
    modrm(x);
    x.op = b & 1;
    x.fn = A.movbe;
    return;
  }
  x.fn = unimpl(`opcode 0f 38 ${hex(b)}`);
}

/**
 * Decodes the block at linear `lin` (physical `pa`) in the cpu's current mode. A block
 * whose first instruction crosses into the next page is decoded from a copy of both
 * pages' bytes and marked invalid (not cached).
 */
export function decodeBlock(c: EmuCpu, lin: number, pa: number): Block {
  mode = c.modeKey;
  const blk = new Block(pa, mode);
  const r = ramAt(c, pa);
  if (r === undefined) {
    const x = new Insn(unimpl('execution from a non-RAM address'));
    x.end = 1;
    blk.insns.push(x);
    blk.len = 1;
    blk.valid = false;
    return blk;
  }
  const off0 = pa - r.gpa;
  const pageEnd = Math.min(off0 - (pa % 4096) + 4096, r.size);
  buf = r.bytes;
  pos = off0;
  lim = pageEnd;
  for (let n = 0; n < MAX_BLOCK; n++) {
    const at = pos;
    let x: Insn;
    try {
      x = decodeOne();
    } catch (e) {
      if (e !== OUT_OF_BYTES) throw e;
      if (n > 0) {
        pos = at;
        break;
      }
      // First instruction crosses the page: gather up to 15 bytes from both pages.
      const tmp = new Uint8Array(16);
      const first = pageEnd - at;
      tmp.set(r.bytes.subarray(at, pageEnd));
      const nextLin = c.long64 ? lin + first : (lin + first) % 4294967296;
      let pa2: number;
      try {
        pa2 = fetchPhys(c, nextLin);
      } catch (f) {
        if (f === FAULT) throw f;
        throw f;
      }
      const r2 = ramAt(c, pa2);
      if (r2 !== undefined) tmp.set(r2.bytes.subarray(pa2 - r2.gpa, pa2 - r2.gpa + 16 - first), first);
      buf = tmp;
      pos = 0;
      lim = 16;
      x = decodeOne();
      x.start = 0;
      x.end = pos;
      blk.insns.push(x);
      blk.len = pos;
      if (BRANCH.has(x.fn)) blk.branches++;
      blk.valid = false;
      return blk;
    }
    x.start = at - off0;
    x.end = pos - off0;
    x.k = inlineKind(x);
    x.idx = blk.insns.length;
    blk.insns.push(x);
    if (BRANCH.has(x.fn)) blk.branches++;
    if (TERM.has(x.fn) || x.fn === A.sahf || isUnimpl(x.fn)) break;
  }
  blk.len = pos - off0;
  return blk;
}

function isUnimpl(h: Handler): boolean {
  for (const v of unimplCache.values()) if (v === h) return true;
  return false;
}

export { CS, EA_32, EA_64 };

/** Decodes one instruction from `bytes` in mode 0 (16-bit), 1 (32-bit) or 2 (64-bit); for tests and tools. */
export function decodeInsn(bytes: Uint8Array, decodeMode: number): Insn {
  mode = decodeMode;
  buf = bytes;
  pos = 0;
  lim = bytes.length;
  const x = decodeOne();
  x.start = 0;
  x.end = pos;
  x.k = inlineKind(x);
  return x;
}
