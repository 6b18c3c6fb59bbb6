/**
 * Which instructions the wasm tier compiles inline, and which forms the liveness pass must take to see every flag.
 */
import type { Insn } from '../insn.js';
import { Ea } from '../insn.js';
import { formOf, mayFault, plainAlu, type Form } from '../block-compiler.js';
import { aluEG, aluEI, aluGE, cbw, cmovcc, cmpxchg, incdecE, xadd, xchgEG, lea as leaOp, lea64, mov64load, mov64store, movEG, movEI, movGE, movMoffs, movRI, movsx, negE, notE, setcc, testEG, testEI } from '../ops-alu.js';
import { shiftE, shldE } from '../ops-shift.js';
import { bitScan, bswap, btEG, btEI } from '../ops-bit.js';
import { divE, idivE, imulGE, imulGEI, mulE } from '../ops-muldiv.js';
import { callE, callRel, callRel64, jmpE, jmpRel, leave, movESeg, pop32r, pop64r, popR, push32r, push64r, pushE, pushf, pushI, pushR, ret64, retNear } from '../ops-flow.js';
import { grp15, nop } from '../ops-system.js';
import { Alu } from '../sem-alu.js';
import { Sh } from '../sem-shift.js';
import { Seg } from '../x86-defs.js';
import { simdForm } from './wasm-simd.js';
import { strForm } from './wasm-string.js';

/**
 * The wasm tier's inline forms: the JS compiler's (formOf), and 8- and 16-bit register ALU/TEST ('alu8'), 32-bit register
 * ADC/SBB, PUSH/POP r32/r64, 64-bit LEA, MOV r64 <-> [m], MOV r64/[m64], imm, SETcc/CMOVcc on registers, NOP,
 * MOVSX/MOVSXD r32/r64 from a register or memory ('movsx'), SHL/SHR/SAR r64 by a constant count that is not 0
 * once masked ('shift64'), TEST r/m64 ('test64'), TEST m8/m16/m32 with a register or an immediate ('testm')
 * ADD/OR/AND/SUB/XOR/CMP with a 64-bit memory operand, read-modify-write included ('alu64m'), CMP r8, m8 and
 * CMP m8/m32, r ('cmpm'), NOT r64 ('not64'), MOV r64, imm32 (C7, as 'movri64'), and those of wasm-alu.ts: IMUL
 * r64 ('imul64'), ADD/OR/AND/SUB/XOR m32 ('alu32m'), SHL/SHR/SAR r32/r64 by CL ('shiftcl'), CMPXCHG m32
 * ('cmpxchg32m'), INC/DEC r64 ('incdec64'), MOV r, Sreg ('movsreg'); PUSH imm (as 'push'), SETcc m8 ('setccm'),
 * NEG r64 ('neg64'), IMUL r32 ('imul32'), MUL r/m32 ('mul32'), MOV between byte registers and MOV r8, imm8 ('mov8'),
 * ADC/SBB r32, m32 ('alucm'), SHL/SAL/SHR/SAR m32 by CL ('shiftclm'), MOV AL/AX/EAX <-> moffs with 32-bit addressing outside 64-bit mode ('moffs');
 * as block ends, CALL rel32, RET and RET imm16 with 32-bit operands ('call32', 'ret32') and JMP/CALL through a
 * register or memory ('jmpind', 'callind'); MOVS/STOS/LODS without REP ('str', wasm-string.ts);
 * and those of wasm-int-forms.ts: CBW/CWD and their wider forms ('cbw'), BSWAP r32/r64 ('bswap'), ADC/SBB r64
 * ('aluc64'), ALU with an 8- or 16-bit memory operand ('alunm'), DIV/IDIV r32/r64 ('divide'), MUL r/m64 ('mul64'),
 * CMPXCHG m64 ('cmpxchg64m'), SHLD/SHRD r32/r64 ('shld'), BT/BTS/BTR/BTC ('bt'), BSF/BSR/TZCNT/LZCNT/POPCNT
 * ('bitscan'), PUSHFQ ('pushf'), PUSH m64 ('pushm'), LEAVE in 64-bit code ('leave'), XCHG m, r ('xchgm'), XADD m, r
 * ('xaddm'), INC/DEC m64 ('incdecm64'), CMOVcc r, m ('cmovm'); the fences as 'nop'; INC/DEC m8/m16 too ('incdecm');
 * 'tail' is a last instruction without one, which the block's wrapper runs (no call out of wasm for it).
 */
export type WForm =
  | Form
  | 'alu8'
  | 'aluc'
  | 'alucm'
  | 'moffs'
  | 'push'
  | 'pop'
  | 'lea64'
  | 'load64'
  | 'store64'
  | 'movri64'
  | 'setcc'
  | 'cmov'
  | 'nop'
  | 'movsx'
  | 'shift64'
  | 'test64'
  | 'testm'
  | 'alu64m'
  | 'cmpm'
  | 'not64'
  | 'jmp'
  | 'call'
  | 'ret'
  | 'callr'
  | 'loadn'
  | 'incdecm'
  | 'incdec8'
  | 'shift8'
  | 'simd'
  | 'imul64'
  | 'alu32m'
  | 'shiftcl'
  | 'shiftclm'
  | 'cmpxchg32m'
  | 'incdec64'
  | 'movsreg'
  | 'neg64'
  | 'setccm'
  | 'mov8'
  | 'imul32'
  | 'mul32'
  | 'call32'
  | 'ret32'
  | 'jmpind'
  | 'callind'
  | 'str'
  | 'cbw'
  | 'bswap'
  | 'aluc64'
  | 'alunm'
  | 'divide'
  | 'mul64'
  | 'cmpxchg64m'
  | 'shld'
  | 'bt'
  | 'bitscan'
  | 'pushf'
  | 'pushm'
  | 'leave'
  | 'xchgm'
  | 'xaddm'
  | 'incdecm64'
  | 'cmovm'
  | 'tail';

export function wasmForm(x: Insn): WForm {
  const f = formOf(x);
  if (f !== '') return f;
  const fn = x.fn;
  const reg = x.mod === 3;
  if (fn === aluEI || fn === aluEG || fn === aluGE) {
    if (reg && (x.osz === 1 || x.osz === 2) && plainAlu(x.op)) return 'alu8';
    if (reg && x.osz === 4 && !plainAlu(x.op)) return 'aluc';
    if (!reg && x.osz === 4 && !plainAlu(x.op) && fn === aluGE) return 'alucm';
    if (!reg && x.osz === 8 && plainAlu(x.op)) return 'alu64m';
    if (!reg && x.osz === 4 && plainAlu(x.op) && x.op !== Alu.Cmp && fn !== aluGE) return 'alu32m';
    if (!reg && x.op === Alu.Cmp && (x.osz === 1 || x.osz === 4) && fn !== aluEI) return 'cmpm';
    if (!reg && (x.osz === 1 || x.osz === 2) && plainAlu(x.op)) return 'alunm';
    if (reg && x.osz === 8 && !plainAlu(x.op)) return 'aluc64';
    return '';
  }
  if (fn === testEG || fn === testEI) {
    if (x.osz === 8) return 'test64';
    if (reg) return x.osz === 1 || x.osz === 2 ? 'alu8' : '';
    return 'testm';
  }
  // A count that is 0 once masked changes nothing, flags included: the handler (the liveness pass takes a
  // compiled shift to write the flags).
  if (fn === shiftE) {
    if (x.op < Sh.Shl) return '';
    if (!reg) return x.imm2 !== 0 && x.osz === 4 ? 'shiftclm' : '';
    if (x.imm2 !== 0) return x.osz === 8 || x.osz === 4 ? 'shiftcl' : '';
    if ((x.osz === 1 || x.osz === 2) && (x.imm & 31) !== 0) return 'shift8';
    return x.osz === 8 && (x.imm & 63) !== 0 ? 'shift64' : '';
  }
  if (fn === imulGE || fn === imulGEI) return x.osz === 8 ? 'imul64' : x.osz === 4 ? 'imul32' : '';
  if (fn === mulE) return x.osz === 4 ? 'mul32' : x.osz === 8 ? 'mul64' : '';
  // Register operands only: the handler, which takes the cases wasm's division does not, reads the operand again.
  if (fn === divE || fn === idivE) return reg && (x.osz === 4 || x.osz === 8) ? 'divide' : '';
  if (fn === cbw) return 'cbw';
  // BT with a register offset into memory only with 64-bit addressing (32-bit addressing checks the segment there).
  if (fn === btEI || fn === btEG) return (x.osz === 4 || x.osz === 8) && (reg || fn === btEI || x.ak === Ea.A64) ? 'bt' : '';
  if (fn === bitScan) return x.osz === 4 || x.osz === 8 ? 'bitscan' : '';
  // 64-bit operands (64-bit mode: no VM flag, a 64-bit stack checked inline).
  if (fn === pushf) return x.osz === 8 ? 'pushf' : '';
  if (fn === pushE) return !reg && x.osz === 8 ? 'pushm' : '';
  if (fn === leave) return x.osz === 8 ? 'leave' : '';
  if (fn === xchgEG) return !reg && (x.osz === 4 || x.osz === 8) ? 'xchgm' : '';
  if (fn === xadd) return !reg && (x.osz === 4 || x.osz === 8) ? 'xaddm' : '';
  if (fn === bswap) return x.osz === 4 || x.osz === 8 ? 'bswap' : '';
  // SHLD/SHRD r, r by CL, or by a constant that is not 0 once masked.
  if (fn === shldE) return reg && (x.osz === 4 || x.osz === 8) && (x.imm2 !== 0 || (x.imm & (x.osz * 8 - 1)) !== 0) ? 'shld' : '';
  if (fn === movsx) return (x.osz === 8 || x.osz === 4) && (x.imm2 === 1 || x.imm2 === 2 || x.imm2 === 4) ? 'movsx' : '';
  // The interpreter's 64-bit fast variants (push64r, pop64r, lea64, mov64load, mov64store) are the same instructions.
  if (fn === push32r || fn === pushR || fn === push64r || fn === pushI) return x.osz === 4 || x.osz === 8 ? 'push' : '';
  if (fn === pop32r || fn === popR || fn === pop64r) return x.osz === 4 || x.osz === 8 ? 'pop' : '';
  if (fn === leaOp || fn === lea64) return x.ak === Ea.A64 && (x.osz === 4 || x.osz === 8) ? 'lea64' : '';
  // MOV between byte registers and MOV r8, imm8 (AH..BH as register codes 16-19).
  if ((fn === movEG || fn === movGE || fn === movRI) && x.osz === 1 && (reg || fn === movRI)) return 'mov8';
  if (fn === movGE || fn === mov64load) return reg ? '' : x.osz === 8 ? 'load64' : fn === movGE && (x.osz === 1 || x.osz === 2) ? 'loadn' : '';
  if (fn === movEI && reg) return x.osz === 8 ? 'movri64' : '';
  if (fn === movEG || fn === movEI || fn === mov64store) return !reg && x.osz === 8 ? 'store64' : '';
  if (fn === incdecE) return !reg && x.osz === 8 ? 'incdecm64' : !reg && x.osz <= 4 ? 'incdecm' : reg && x.osz === 8 ? 'incdec64' : reg && (x.osz === 1 || x.osz === 2) ? 'incdec8' : '';
  if (fn === cmpxchg) return !reg && x.osz === 4 ? 'cmpxchg32m' : !reg && x.osz === 8 ? 'cmpxchg64m' : '';
  // MOV r, Sreg (a register destination; Sreg 6 and 7 raise #UD in the handler).
  if (fn === movESeg) return reg && x.op <= Seg.GS ? 'movsreg' : '';
  if (fn === notE) return reg && x.osz === 8 ? 'not64' : '';
  if (fn === negE) return reg && x.osz === 8 ? 'neg64' : '';
  if (fn === movRI) return x.osz === 8 ? 'movri64' : '';
  if (fn === setcc) return reg ? 'setcc' : 'setccm';
  if (fn === cmovcc) return x.osz === 4 || x.osz === 8 ? (reg ? 'cmov' : 'cmovm') : '';
  if (fn === nop) return 'nop';
  // LFENCE, MFENCE, SFENCE: no-ops (vCPUs run one at a time); CLFLUSH m8 (checks its address) stays.
  if (fn === grp15 && reg) return 'nop';
  // MOV AL/AX/EAX <-> moffs with 32-bit addressing outside 64-bit mode.
  if (fn === movMoffs) return x.ak === Ea.A32 && x.osz <= 4 ? 'moffs' : '';
  // Block ends that a chained run goes on from (wasm-chain.ts): JMP rel in any mode; CALL rel32 and RET in
  // 64-bit mode, inline when the stack slot is a TLB hit and the target canonical, else by their handler.
  if (fn === jmpRel) return 'jmp';
  if (fn === callRel64) return 'call';
  if (fn === ret64) return 'ret';
  // CALL r64 (64-bit mode: the only place its operand is 8 bytes): a return's way in the other direction.
  if (fn === callE && reg && x.osz === 8) return 'callr';
  // The same outside 64-bit mode with a 32-bit operand (CALL rel32, RET, RET imm16), checked against the CS limit,
  // and JMP/CALL through a register or memory in both (switch tables, function pointers): inline when the stack
  // and the operand are TLB hits and the target passes the branch checks, else by their handler.
  if (fn === callRel) return x.osz === 4 ? 'call32' : '';
  if (fn === retNear) return x.osz === 4 ? 'ret32' : '';
  if (fn === jmpE) return x.osz === 4 || x.osz === 8 ? 'jmpind' : '';
  if (fn === callE) return x.osz === 4 || x.osz === 8 ? 'callind' : '';
  if (strForm(x)) return 'str';
  // SSE integer SIMD, shuffles and moves (wasm-simd.ts).
  return simdForm(x) ? 'simd' : '';
}

/** Whether a form may fault or call out (it then observes every flag, for the liveness pass). */
export function observesAll(f: string, x: Insn): boolean {
  if ((f === 'movsx' || f === 'test64' || f === 'imul64' || f === 'imul32' || f === 'mul32' || f === 'mul64') && x.mod !== 3) return true;
  // DIV/IDIV may call their handler (#DE); SHLD/SHRD by CL of 0 leave the flags as they were.
  if (f === 'alunm' || f === 'cmpxchg64m' || f === 'divide' || (f === 'shld' && x.imm2 !== 0)) return true;
  // BT and BSF keep flags they read through `fl`, from the record: every flag must be in it before them.
  if (f === 'bt' || f === 'bitscan' || f === 'pushf' || f === 'pushm' || f === 'leave' || f === 'xchgm' || f === 'xaddm' || f === 'incdecm64' || f === 'cmovm') return true;
  // A shift by CL whose count is 0 leaves the flags as they were: they must be recorded before it.
  if (f === 'shiftcl' || f === 'shiftclm' || f === 'alu32m' || f === 'cmpxchg32m' || f === 'setccm' || f === 'alucm' || f === 'moffs') return true;
  return f === 'push' || f === 'pop' || f === 'load64' || f === 'store64' || f === 'testm' || f === 'alu64m' || f === 'cmpm' || f === 'tail' || f === 'jmp' || f === 'call' || f === 'ret' || f === 'callr' || f === 'call32' || f === 'ret32' || f === 'jmpind' || f === 'callind' || f === 'loadn' || f === 'incdecm' || f === 'simd' || f === 'str' || mayFault(f as Form, x);
}

/** Memory forms that see the flags only in their slow paths (a fault, an import): they may run with records deferred. */
export const SLOW_ONLY: ReadonlySet<string> = new Set(['load', 'movzx-load', 'store', 'load64', 'store64', 'loadn', 'alu-load', 'cmp-mi', 'cmp-mi8']);
