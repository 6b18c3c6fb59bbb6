/**
 * Control flow and stack: Jcc, JMP, CALL, RET (near and far), LOOP/JCXZ, PUSH/POP forms,
 * PUSHA/POPA, ENTER/LEAVE, PUSHF/POPF, INT n/INT3/INTO/INT1, IRET, HLT, CLI/STI, segment
 * register moves and far-pointer loads.
 */
import type { Insn } from '../insn.js';
import {
  callE, callFar, callRel, cli, enter, hlt, intN, iret, jcc, jmpE, jmpFar, jmpRel, jnz, jz, leave, loadFarPtr, loop, movESeg, movSegE, pop32r, popa, popE, popf, popR, popSeg,
  push32r, pusha, pushE, pushf, pushI, pushR, pushSeg, retFar, retNear, sti, callRel64, ret64, push64r, pop64r,
} from '../ops-flow.js';
import { Seg } from '../x86-defs.js';
import { CC_FLAGS, CC_NAMES, M64, NO64, OSZAPC, hx, invalid, row, type Row } from './row.js';
import { Bit } from '../flags.js';

const o32 = (x: Insn): boolean => x.osz === 4;
/** A 64-bit operand: 64-bit mode, where the stack is 64-bit too. */
const o64 = (x: Insn): boolean => x.osz === 8;

function branchRows(out: Row[]): void {
  for (let cc = 0; cc < 16; cc++) {
    // JZ and JNZ (the usual loop branches) have their own handlers.
    const fn = cc === 5 ? jnz : cc === 4 ? jz : jcc;
    const o = { sub: cc, osz: 'f64' as const, fr: CC_FLAGS[cc]!, branch: 'jcc' as const, jit: 'jcc' as const };
    out.push(row(`J${CC_NAMES[cc]}`, hx(0x70 + cc), 'Jb', fn, o), row(`J${CC_NAMES[cc]}`, `0F ${hx(0x80 + cc)}`, 'Jz', fn, o));
  }
  out.push(
    row('JMP', 'EB', 'Jb', jmpRel, { osz: 'f64', branch: 'jmp' }),
    row('JMP', 'E9', 'Jz', jmpRel, { osz: 'f64', branch: 'jmp' }),
    row('CALL', 'E8', 'Jz', callRel, { osz: 'f64', branch: 'call', fast: [{ when: o64, fn: callRel64 }] }),
    row('JMP', 'FF /4', 'Ev', jmpE, { osz: 'f64', branch: 'jmp-ind' }),
    row('CALL', 'FF /2', 'Ev', callE, { osz: 'f64', branch: 'call-ind' }),
    row('RET', 'C3', '', retNear, { osz: 'd64', branch: 'ret', fast: [{ when: o64, fn: ret64 }] }),
    row('RET', 'C2', 'Iw', retNear, { osz: 'd64', branch: 'ret' }),
    row('LOOPNE', 'E0', 'Jb', loop, { sub: 2, osz: 'f64', aszAux: true, fr: Bit.ZF, branch: 'loop' }),
    row('LOOPE', 'E1', 'Jb', loop, { sub: 1, osz: 'f64', aszAux: true, fr: Bit.ZF, branch: 'loop' }),
    row('LOOP', 'E2', 'Jb', loop, { sub: 0, osz: 'f64', aszAux: true, branch: 'loop' }),
    row('JCXZ', 'E3', 'Jb', loop, { sub: 3, osz: 'f64', aszAux: true, branch: 'loop' }),
    row('RETF', 'CB', '', retFar, { branch: 'far' }),
    row('RETF', 'CA', 'Iw', retFar, { branch: 'far' }),
    row('JMPF', 'EA', 'Ap', jmpFar, { sub: 0, modes: NO64, branch: 'far' }),
    row('CALLF', '9A', 'Ap', callFar, { sub: 0, modes: NO64, branch: 'far' }),
    row('JMPF', 'FF /5', 'Mp', jmpFar, { sub: 1, branch: 'far' }),
    row('CALLF', 'FF /3', 'Mp', callFar, { sub: 1, branch: 'far' }),
    row('INT3', 'CC', '', intN, { sub: 3, aux: 1, branch: 'int' }),
    row('INT', 'CD', 'Ib', intN, { opImm: true, branch: 'int' }),
    row('INTO', 'CE', '', intN, { sub: 4, aux: 2, modes: NO64, fr: Bit.OF, branch: 'int' }),
    row('INT1', 'F1', '', intN, { sub: 1, aux: 3, branch: 'int' }),
    row('IRET', 'CF', '', iret, { fw: OSZAPC | Bit.DF, branch: 'iret' }),
    row('HLT', 'F4', '', hlt, { priv: true, ends: true }),
    row('CLI', 'FA', '', cli, { ends: true }),
    row('STI', 'FB', '', sti, { ends: true }),
  );
}

function stackRows(out: Row[]): void {
  out.push(
    row('PUSH', '50+r', 'Zv', pushR, { osz: 'd64', fast: [{ when: o32, fn: push32r }, { when: o64, fn: push64r }] }),
    row('POP', '58+r', 'Zv', popR, { osz: 'd64', fast: [{ when: o32, fn: pop32r }, { when: o64, fn: pop64r }] }),
    row('PUSH', '68', 'Iz', pushI, { osz: 'd64' }),
    row('PUSH', '6A', 'Ibs', pushI, { osz: 'd64' }),
    row('PUSH', 'FF /6', 'Ev', pushE, { osz: 'd64' }),
    row('POP', '8F /0', 'Ev', popE, { osz: 'd64', mw: true }),
    row('PUSHA', '60', '', pusha, { modes: NO64 }),
    row('POPA', '61', '', popa, { modes: NO64 }),
    row('ENTER', 'C8', 'Iw,Ib', enter, { osz: 'd64' }),
    row('LEAVE', 'C9', '', leave, { osz: 'd64' }),
    row('PUSHF', '9C', '', pushf, { osz: 'd64', fr: OSZAPC | Bit.DF }),
    row('POPF', '9D', '', popf, { osz: 'd64', fw: OSZAPC | Bit.DF, ends: true }),
  );
  for (let reg = 1; reg < 8; reg++) out.push(invalid(`8F /${reg}`));
  out.push(invalid('FF /7'));
}

function segmentRows(out: Row[]): void {
  for (const [s, name] of [
    [Seg.ES, 'ES'],
    [Seg.CS, 'CS'],
    [Seg.SS, 'SS'],
    [Seg.DS, 'DS'],
  ] as const) {
    out.push(row('PUSH', hx(0x06 + (s << 3)), name, pushSeg, { rmInit: s, modes: NO64 }));
    if (s !== Seg.CS) out.push(row('POP', hx(0x07 + (s << 3)), name, popSeg, { rmInit: s, modes: NO64, ends: true }));
  }
  out.push(
    row('PUSH', '0F A0', 'FS', pushSeg, { rmInit: Seg.FS, osz: 'd64' }),
    row('POP', '0F A1', 'FS', popSeg, { rmInit: Seg.FS, osz: 'd64', ends: true }),
    row('PUSH', '0F A8', 'GS', pushSeg, { rmInit: Seg.GS, osz: 'd64' }),
    row('POP', '0F A9', 'GS', popSeg, { rmInit: Seg.GS, osz: 'd64', ends: true }),
    row('MOV', '8C /r', 'Ew,Sw', movESeg, { subFromReg: true, mw: true }),
    row('MOV', '8E /r', 'Sw,Ew', movSegE, { subFromReg: true, ends: true }),
    row('LES', 'C4 /r', 'Gv,Mp', loadFarPtr, { sub: Seg.ES, modes: NO64, ends: true }),
    row('LDS', 'C5 /r', 'Gv,Mp', loadFarPtr, { sub: Seg.DS, modes: NO64, ends: true }),
    row('VEX prefix (c4)', 'C4', '', null, { modes: M64 }),
    row('VEX prefix (c5)', 'C5', '', null, { modes: M64 }),
    row('LSS', '0F B2 /r', 'Gv,Mp', loadFarPtr, { sub: Seg.SS, ends: true }),
    row('LFS', '0F B4 /r', 'Gv,Mp', loadFarPtr, { sub: Seg.FS, ends: true }),
    row('LGS', '0F B5 /r', 'Gv,Mp', loadFarPtr, { sub: Seg.GS, ends: true }),
  );
}

/** The control-flow and stack rows. */
export function flowTable(): Row[] {
  const out: Row[] = [];
  branchRows(out);
  stackRows(out);
  segmentRows(out);
  return out;
}
