/**
 * Integer data instructions: ALU, TEST, INC/DEC/NEG/NOT, MUL/IMUL/DIV/IDIV, shifts and
 * rotates, bit tests and scans, moves and exchanges, CMPXCHG/XADD, SETcc/CMOVcc, sign
 * extension, flag instructions, BCD adjust, XLAT, BOUND.
 */
import { Ea, type Insn } from '../insn.js';
import { Alu } from '../sem-alu.js';
import { Sh } from '../sem-shift.js';
import {
  add32ri, add32rr, alu32ri, logic32ri, aluEG, aluEI, aluGE, bcd, bound, cbw, cmovcc, cmp32ri, cmp32rr, cmpxchg, cmpxchg8b, flagOp, incdec32r, incdecE, lahf, lea,
  logic32rr, lea64, mov32load, mov32rr, mov32store, mov64load, mov64store, movEG, movEI, movGE, movMoffs, movRI, movsx, movzx, negE, notE, sahf, setcc, sub32ri, sub32rr, testEG, testEI, xadd, xchgEG, xlat,
} from '../ops-alu.js';
import { divE, idivE, imul1E, imulGE, imulGEI, mulE } from '../ops-muldiv.js';
import { shift32ri, shiftE, shldE } from '../ops-shift.js';
import { bitScan, bswap, btEG, btEI, movbe } from '../ops-bit.js';
import { nop } from '../ops-system.js';
import { CC_FLAGS, CC_NAMES, M64, NO64, OSZAP, OSZAPC, OSZPC, SZAPC, SZP, hx, invalid, row, type Fast, type Handler, type Row } from './row.js';
import { Bit } from '../flags.js';

const ALU_NAMES = ['ADD', 'OR', 'ADC', 'SBB', 'AND', 'SUB', 'XOR', 'CMP'];
const SHIFT_NAMES = ['ROL', 'ROR', 'RCL', 'RCR', 'SHL', 'SHR', 'SAL', 'SAR'];

const r32 = (x: Insn): boolean => x.mod === 3 && x.osz === 4;
const o32 = (x: Insn): boolean => x.osz === 4;

/** Flags of ALU operation `op`. */
function aluFlags(op: number): { fr?: number; fw: number; fu?: number } {
  if (op === Alu.Adc || op === Alu.Sbb) return { fr: Bit.CF, fw: OSZAPC };
  if (op === Alu.And || op === Alu.Or || op === Alu.Xor) return { fw: OSZPC, fu: Bit.AF };
  return { fw: OSZAPC };
}

/** The 32-bit register-register handler of ALU operation `op` (ADC/SBB have none). */
function rrHandler(op: number): Handler | null {
  if (op === Alu.Add) return add32rr;
  if (op === Alu.Sub) return sub32rr;
  if (op === Alu.Cmp) return cmp32rr;
  if (op === Alu.And || op === Alu.Or || op === Alu.Xor) return logic32rr;
  return null;
}
function riHandler(op: number): Handler {
  if (op === Alu.And || op === Alu.Or || op === Alu.Xor) return logic32ri;
  return op === Alu.Add ? add32ri : op === Alu.Sub ? sub32ri : op === Alu.Cmp ? cmp32ri : alu32ri;
}

function aluRows(out: Row[]): void {
  for (let op = 0; op < 8; op++) {
    const mn = ALU_NAMES[op]!;
    const base = op << 3;
    const f = aluFlags(op);
    const store = op !== Alu.Cmp;
    const rr = rrHandler(op);
    const fastEG: Fast[] = rr === null ? [] : [{ when: r32, fn: rr }];
    const fastGE: Fast[] = rr === null ? [] : [{ when: r32, fn: rr, swap: true }];
    const fastI: Fast[] = [{ when: r32, fn: riHandler(op) }];
    const e = { sub: op, ...f, lock: store, mw: store, jit: 'alu' as const };
    const g = { sub: op, ...f, jit: 'alu' as const };
    out.push(
      row(mn, `${hx(base)} /r`, 'Eb,Gb', aluEG, e),
      row(mn, `${hx(base + 1)} /r`, 'Ev,Gv', aluEG, { ...e, fast: fastEG }),
      row(mn, `${hx(base + 2)} /r`, 'Gb,Eb', aluGE, g),
      row(mn, `${hx(base + 3)} /r`, 'Gv,Ev', aluGE, { ...g, fast: fastGE }),
      row(mn, hx(base + 4), 'AL,Ib', aluEI, g),
      row(mn, hx(base + 5), 'eAX,Iz', aluEI, { ...g, fast: [{ when: o32, fn: riHandler(op) }] }),
      row(mn, `80 /${op}`, 'Eb,Ib', aluEI, e),
      row(mn, `81 /${op}`, 'Ev,Iz', aluEI, { ...e, fast: fastI }),
      row(mn, `82 /${op}`, 'Eb,Ib', aluEI, { ...e, modes: NO64 }),
      row(mn, `83 /${op}`, 'Ev,Ibs', aluEI, { ...e, fast: fastI }),
    );
  }
}

function unaryRows(out: Row[]): void {
  const incdec32: Fast[] = [{ when: r32, fn: incdec32r }];
  out.push(
    row('INC', '40+r', 'Zv', incdecE, { sub: 0, modes: NO64, fw: OSZAP, fast: [{ when: o32, fn: incdec32r }], jit: 'incdec' }),
    row('DEC', '48+r', 'Zv', incdecE, { sub: 1, modes: NO64, fw: OSZAP, fast: [{ when: o32, fn: incdec32r }], jit: 'incdec' }),
    row('INC', 'FE /0', 'Eb', incdecE, { sub: 0, fw: OSZAP, lock: true, mw: true }),
    row('DEC', 'FE /1', 'Eb', incdecE, { sub: 1, fw: OSZAP, lock: true, mw: true }),
    row('INC', 'FF /0', 'Ev', incdecE, { sub: 0, fw: OSZAP, lock: true, mw: true, fast: incdec32, jit: 'incdec' }),
    row('DEC', 'FF /1', 'Ev', incdecE, { sub: 1, fw: OSZAP, lock: true, mw: true, fast: incdec32, jit: 'incdec' }),
  );
  for (let reg = 2; reg < 8; reg++) out.push(invalid(`FE /${reg}`));
  for (const [op, sz] of [
    ['F6', 'b'],
    ['F7', 'v'],
  ] as const) {
    const imm = sz === 'b' ? 'Ib' : 'Iz';
    out.push(
      row('TEST', `${op} /0`, `E${sz},${imm}`, testEI, { fw: OSZPC, fu: Bit.AF, jit: 'test' }),
      row('TEST', `${op} /1`, `E${sz},${imm}`, testEI, { fw: OSZPC, fu: Bit.AF, jit: 'test' }),
      row('NOT', `${op} /2`, `E${sz}`, notE, { lock: true, mw: true, jit: 'not' }),
      row('NEG', `${op} /3`, `E${sz}`, negE, { fw: OSZAPC, lock: true, mw: true, jit: 'neg' }),
      row('MUL', `${op} /4`, `E${sz}`, mulE, { fw: Bit.OF | Bit.CF, fu: SZP | Bit.AF }),
      row('IMUL', `${op} /5`, `E${sz}`, imul1E, { fw: Bit.OF | Bit.CF, fu: SZP | Bit.AF }),
      row('DIV', `${op} /6`, `E${sz}`, divE, { fu: OSZAPC }),
      row('IDIV', `${op} /7`, `E${sz}`, idivE, { fu: OSZAPC }),
    );
  }
  out.push(
    row('TEST', '84 /r', 'Eb,Gb', testEG, { fw: OSZPC, fu: Bit.AF, jit: 'test' }),
    row('TEST', '85 /r', 'Ev,Gv', testEG, { fw: OSZPC, fu: Bit.AF, jit: 'test' }),
    row('TEST', 'A8', 'AL,Ib', testEI, { fw: OSZPC, fu: Bit.AF, jit: 'test' }),
    row('TEST', 'A9', 'eAX,Iz', testEI, { fw: OSZPC, fu: Bit.AF, jit: 'test' }),
    row('IMUL', '0F AF /r', 'Gv,Ev', imulGE, { fw: Bit.OF | Bit.CF, fu: SZP | Bit.AF }),
    row('IMUL', '69 /r', 'Gv,Ev,Iz', imulGEI, { fw: Bit.OF | Bit.CF, fu: SZP | Bit.AF }),
    row('IMUL', '6B /r', 'Gv,Ev,Ibs', imulGEI, { fw: Bit.OF | Bit.CF, fu: SZP | Bit.AF }),
  );
}

function shiftRows(out: Row[]): void {
  const forms = [
    ['C0', 'Eb,Ib', 0, 0],
    ['C1', 'Ev,Ib', 0, 0],
    ['D0', 'Eb,1', 1, 0],
    ['D1', 'Ev,1', 1, 0],
    ['D2', 'Eb,CL', 0, 1],
    ['D3', 'Ev,CL', 0, 1],
  ] as const;
  for (const [op, ops, imm, cl] of forms) {
    for (let reg = 0; reg < 8; reg++) {
      const rot = reg === 0 || reg === 1;
      const rc = reg === Sh.Rcl || reg === Sh.Rcr;
      const flags = rot ? { fw: Bit.CF | Bit.OF } : rc ? { fr: Bit.CF, fw: Bit.CF | Bit.OF } : { fw: OSZPC, fu: Bit.AF };
      // 32-bit register shifts by a non-zero constant (not through CF) have their own handler.
      const byConst = cl === 0 && !rc && ops.startsWith('Ev');
      const fast: Fast[] = byConst ? [{ when: (x) => r32(x) && (x.imm & 31) !== 0, fn: shift32ri, prep: (x) => (x.imm &= 31) }] : [];
      out.push(row(SHIFT_NAMES[reg]!, `${op} /${reg}`, ops, shiftE, { sub: reg, imm, aux: cl, ...flags, fcount: true, mw: true, fast, ...(byConst ? { jit: 'shift' as const } : {}) }));
    }
  }
  const shd = { fw: OSZPC, fu: Bit.AF, fcount: true, mw: true };
  out.push(
    row('SHLD', '0F A4 /r', 'Ev,Gv,Ib', shldE, { ...shd, sub: 0 }),
    row('SHLD', '0F A5 /r', 'Ev,Gv,CL', shldE, { ...shd, sub: 0, aux: 1 }),
    row('SHRD', '0F AC /r', 'Ev,Gv,Ib', shldE, { ...shd, sub: 1 }),
    row('SHRD', '0F AD /r', 'Ev,Gv,CL', shldE, { ...shd, sub: 1, aux: 1 }),
  );
}

function bitRows(out: Row[]): void {
  const bt = { fw: Bit.CF, fu: Bit.OF | Bit.SF | Bit.AF | Bit.PF };
  const names = ['BT', 'BTS', 'BTR', 'BTC'];
  for (let k = 0; k < 4; k++) {
    const w = k !== 0;
    out.push(row(names[k]!, `0F ${hx(0xa3 + k * 8)} /r`, 'Ev,Gv', btEG, { ...bt, sub: k, lock: w, mw: w }));
    out.push(row(names[k]!, `0F BA /${k + 4}`, 'Ev,Ib', btEI, { ...bt, sub: k, lock: w, mw: w }));
    out.push(invalid(`0F BA /${k}`));
  }
  const scan = { fw: Bit.ZF, fu: Bit.OF | Bit.SF | Bit.AF | Bit.PF | Bit.CF };
  out.push(
    row('BSF', '0F BC /r', 'Gv,Ev', bitScan, { ...scan, sub: 0 }),
    row('BSR', '0F BD /r', 'Gv,Ev', bitScan, { ...scan, sub: 1 }),
    row('LZCNT', 'F3 0F BD /r', 'Gv,Ev', bitScan, { sub: 3, fw: Bit.CF | Bit.ZF, fu: Bit.OF | Bit.SF | Bit.AF | Bit.PF, feature: 'abm' }),
    row('POPCNT', 'F3 0F B8 /r', 'Gv,Ev', bitScan, { sub: 4, fw: OSZAPC, feature: 'popcnt' }),
    invalid('0F B8 /r'),
    row('BSWAP', '0F C8+r', 'Zv', bswap),
    row('MOVBE', 'NF 0F 38 F0 /r', 'Gv,Mv', movbe, { sub: 0, feature: 'movbe' }),
    row('MOVBE', 'NF 0F 38 F1 /r', 'Mv,Gv', movbe, { sub: 1, feature: 'movbe', mw: true }),
  );
}

function moveRows(out: Row[]): void {
  const mem32 = (x: Insn): boolean => x.mod !== 3 && x.osz === 4;
  const mem64 = (x: Insn): boolean => x.mod !== 3 && x.osz === 8;
  out.push(
    row('MOV', '88 /r', 'Eb,Gb', movEG, { mw: true, jit: 'mov' }),
    row('MOV', '89 /r', 'Ev,Gv', movEG, { mw: true, jit: 'mov', fast: [{ when: r32, fn: mov32rr }, { when: mem32, fn: mov32store }, { when: mem64, fn: mov64store }] }),
    row('MOV', '8A /r', 'Gb,Eb', movGE, { jit: 'mov' }),
    row('MOV', '8B /r', 'Gv,Ev', movGE, { jit: 'mov', fast: [{ when: r32, fn: mov32rr, swap: true }, { when: mem32, fn: mov32load }, { when: mem64, fn: mov64load }] }),
    row('MOV', 'C6 /0', 'Eb,Ib', movEI, { mw: true, jit: 'mov' }),
    row('MOV', 'C7 /0', 'Ev,Iz', movEI, { mw: true, jit: 'mov' }),
    row('MOV', 'B0+r', 'Zb,Ib', movRI),
    row('MOV', 'B8+r', 'Zv,Iv', movRI, { jit: 'movri' }),
    row('MOV', 'A0', 'AL,Ob', movMoffs, { sub: 0 }),
    row('MOV', 'A1', 'rAX,Ov', movMoffs, { sub: 0 }),
    row('MOV', 'A2', 'Ob,AL', movMoffs, { sub: 1 }),
    row('MOV', 'A3', 'Ov,rAX', movMoffs, { sub: 1 }),
    row('MOVZX', '0F B6 /r', 'Gv,Eb', movzx, { aux: 1, jit: 'movzx' }),
    row('MOVZX', '0F B7 /r', 'Gv,Ew', movzx, { aux: 2, jit: 'movzx' }),
    row('MOVSX', '0F BE /r', 'Gv,Eb', movsx, { aux: 1 }),
    row('MOVSX', '0F BF /r', 'Gv,Ew', movsx, { aux: 2 }),
    row('MOVSXD', '63 /r', 'Gv,Ed', movsx, { aux: 4, modes: M64, fast: [{ when: (x) => x.osz !== 8, fn: movGE }] }),
    row('ARPL (63)', '63 /r', 'Ew,Gw', null, { modes: NO64, fw: Bit.ZF }),
    row('LEA', '8D /r mem', 'Gv,M', lea, { jit: 'lea', fast: [{ when: (x) => x.osz === 8 && x.ak === Ea.A64, fn: lea64 }] }),
    invalid('8D /r mod=3'),
    row('XCHG', '86 /r', 'Eb,Gb', xchgEG, { lock: true, mw: true }),
    row('XCHG', '87 /r', 'Ev,Gv', xchgEG, { lock: true, mw: true }),
    row('XCHG', '90+r', 'Zv,rAX', xchgEG),
    row('NOP', '90 B0', '', nop),
    row('CMPXCHG', '0F B0 /r', 'Eb,Gb', cmpxchg, { fw: OSZAPC, lock: true, mw: true }),
    row('CMPXCHG', '0F B1 /r', 'Ev,Gv', cmpxchg, { fw: OSZAPC, lock: true, mw: true }),
    row('XADD', '0F C0 /r', 'Eb,Gb', xadd, { fw: OSZAPC, lock: true, mw: true }),
    row('XADD', '0F C1 /r', 'Ev,Gv', xadd, { fw: OSZAPC, lock: true, mw: true }),
    row('CMPXCHG8B', '0F C7 /1 mem W0', 'Mq', cmpxchg8b, { aux: 8, fw: Bit.ZF, lock: true, mw: true, feature: 'cx8' }),
    row('CMPXCHG16B', '0F C7 /1 mem W1', 'Mdq', cmpxchg8b, { aux: 16, fw: Bit.ZF, lock: true, mw: true, feature: 'cx16', modes: M64 }),
  );
  for (let reg = 1; reg < 8; reg++) out.push(invalid(`C6 /${reg}`), invalid(`C7 /${reg}`));
}

function conditionRows(out: Row[]): void {
  for (let cc = 0; cc < 16; cc++) {
    out.push(
      row(`SET${CC_NAMES[cc]}`, `0F ${hx(0x90 + cc)} /r`, 'Eb', setcc, { sub: cc, osz: 'v', fr: CC_FLAGS[cc]!, mw: true }),
      row(`CMOV${CC_NAMES[cc]}`, `0F ${hx(0x40 + cc)} /r`, 'Gv,Ev', cmovcc, { sub: cc, fr: CC_FLAGS[cc]!, feature: 'cmov' }),
    );
  }
}

function miscRows(out: Row[]): void {
  out.push(
    row('CBW', '98', '', cbw, { sub: 0 }),
    row('CWD', '99', '', cbw, { sub: 1 }),
    row('LAHF', '9F', '', lahf, { fr: SZAPC, modes: NO64 }),
    row('LAHF', '9F', '', lahf, { fr: SZAPC, modes: M64, feature: 'lahf-lm' }),
    row('SAHF', '9E', '', sahf, { fw: SZAPC, modes: NO64, ends: true }),
    row('SAHF', '9E', '', sahf, { fw: SZAPC, modes: M64, feature: 'lahf-lm', ends: true }),
    row('CLC', 'F8', '', flagOp, { sub: 0, fw: Bit.CF }),
    row('STC', 'F9', '', flagOp, { sub: 1, fw: Bit.CF }),
    row('CMC', 'F5', '', flagOp, { sub: 2, fr: Bit.CF, fw: Bit.CF }),
    row('CLD', 'FC', '', flagOp, { sub: 3, fw: Bit.DF }),
    row('STD', 'FD', '', flagOp, { sub: 4, fw: Bit.DF }),
    row('XLAT', 'D7', '', xlat),
    row('DAA', '27', '', bcd, { sub: 0, modes: NO64, fr: Bit.AF | Bit.CF, fw: SZAPC, fu: Bit.OF }),
    row('DAS', '2F', '', bcd, { sub: 1, modes: NO64, fr: Bit.AF | Bit.CF, fw: SZAPC, fu: Bit.OF }),
    row('AAA', '37', '', bcd, { sub: 2, modes: NO64, fr: Bit.AF, fw: Bit.AF | Bit.CF, fu: Bit.OF | SZP }),
    row('AAS', '3F', '', bcd, { sub: 3, modes: NO64, fr: Bit.AF, fw: Bit.AF | Bit.CF, fu: Bit.OF | SZP }),
    row('AAM', 'D4', 'Ib', bcd, { sub: 4, modes: NO64, fw: SZP, fu: Bit.OF | Bit.AF | Bit.CF }),
    row('AAD', 'D5', 'Ib', bcd, { sub: 5, modes: NO64, fw: SZP, fu: Bit.OF | Bit.AF | Bit.CF }),
    row('SALC', 'D6', '', bcd, { sub: 6, modes: NO64, fr: Bit.CF }),
    row('BOUND', '62 /r mem', 'Gv,Ma', bound, { modes: NO64 }),
    invalid('62 /r mod=3', { modes: NO64 }),
  );
}

/** The integer data rows. */
export function aluTable(): Row[] {
  const out: Row[] = [];
  aluRows(out);
  unaryRows(out);
  shiftRows(out);
  bitRows(out);
  moveRows(out);
  conditionRows(out);
  miscRows(out);
  return out;
}
