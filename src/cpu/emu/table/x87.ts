/**
 * The x87 FPU: every D8-DF escape by ModRM.reg, memory and register forms, and WAIT/FWAIT. One
 * handler (ops-x87.ts) runs them all through fpu/x87.ts, which also decides #UD for the
 * undefined encodings. Rows are per form so that the memory operand's size (segment limit
 * checks), whether it is written, and the flags FCOMI and FCMOVcc write or read are exact.
 */
import { fwait, x87Esc } from '../ops-x87.js';
import type { Insn } from '../insn.js';
import { Bit } from '../flags.js';
import { hx, invalid, row, type Fast, type Row, type RowOptions } from './row.js';

/**
 * Memory operand sizes by escape and ModRM.reg: 0 no instruction (#UD), -1 an FSTENV/FLDENV
 * environment (14 or 28 bytes by operand size), -2 an FSAVE/FRSTOR image (94 or 108).
 */
const MEM_SIZES: readonly (readonly number[])[] = [
  [4, 4, 4, 4, 4, 4, 4, 4], // D8: arithmetic with m32fp
  [4, 0, 4, 4, -1, 2, -1, 2], // D9: FLD/FST/FSTP m32fp, FLDENV, FLDCW, FNSTENV, FNSTCW
  [4, 4, 4, 4, 4, 4, 4, 4], // DA: arithmetic with m32int
  [4, 4, 4, 4, 0, 10, 0, 10], // DB: FILD/FISTTP/FIST/FISTP m32int, FLD/FSTP m80fp
  [8, 8, 8, 8, 8, 8, 8, 8], // DC: arithmetic with m64fp
  [8, 8, 8, 8, -2, 0, -2, 2], // DD: FLD/FISTTP/FST/FSTP m64, FRSTOR, FNSAVE, FNSTSW
  [2, 2, 2, 2, 2, 2, 2, 2], // DE: arithmetic with m16int
  [2, 2, 2, 2, 10, 8, 10, 8], // DF: FILD/FISTTP/FIST/FISTP m16int, FBLD, FILD m64, FBSTP, FISTP m64
];
/** Memory forms that write their operand, by escape. */
const MEM_WRITES: readonly (readonly number[])[] = [[], [2, 3, 6, 7], [], [1, 2, 3, 7], [], [1, 2, 3, 6, 7], [], [1, 2, 3, 6, 7]];
const MEM_NAMES: readonly (readonly string[])[] = [
  ['FADD', 'FMUL', 'FCOM', 'FCOMP', 'FSUB', 'FSUBR', 'FDIV', 'FDIVR'],
  ['FLD', '', 'FST', 'FSTP', 'FLDENV', 'FLDCW', 'FNSTENV', 'FNSTCW'],
  ['FIADD', 'FIMUL', 'FICOM', 'FICOMP', 'FISUB', 'FISUBR', 'FIDIV', 'FIDIVR'],
  ['FILD', 'FISTTP', 'FIST', 'FISTP', '', 'FLD', '', 'FSTP'],
  ['FADD', 'FMUL', 'FCOM', 'FCOMP', 'FSUB', 'FSUBR', 'FDIV', 'FDIVR'],
  ['FLD', 'FISTTP', 'FST', 'FSTP', 'FRSTOR', '', 'FNSAVE', 'FNSTSW'],
  ['FIADD', 'FIMUL', 'FICOM', 'FICOMP', 'FISUB', 'FISUBR', 'FIDIV', 'FIDIVR'],
  ['FILD', 'FISTTP', 'FIST', 'FISTP', 'FBLD', 'FILD', 'FBSTP', 'FISTP'],
];

/** Sets the memory operand size the decoder cannot take from an operand suffix. */
function memFast(size: number): readonly Fast[] {
  const prep = (x: Insn): void => {
    x.msz = size === -1 ? (x.osz === 2 ? 14 : 28) : size === -2 ? (x.osz === 2 ? 94 : 108) : size;
  };
  return [{ when: () => true, fn: x87Esc, prep }];
}

const OSZAPC = Bit.OF | Bit.SF | Bit.ZF | Bit.AF | Bit.PF | Bit.CF;
/** Flags FCMOVcc reads, by ModRM.reg & 3: B (CF), E (ZF), BE (CF|ZF), U (PF). */
const CMOV_READS = [Bit.CF, Bit.ZF, Bit.CF | Bit.ZF, Bit.PF];

/** The x87 rows. */
export function x87Table(): Row[] {
  const o: RowOptions = { feature: 'fpu' };
  const out: Row[] = [];
  for (let esc = 0; esc < 8; esc++) {
    const op = hx(0xd8 + esc);
    for (let reg = 0; reg < 8; reg++) {
      const size = MEM_SIZES[esc]![reg]!;
      if (size === 0) out.push(invalid(`${op} /${reg} mem`));
      else out.push(row(MEM_NAMES[esc]![reg]!, `${op} /${reg} mem`, 'M', x87Esc, { ...o, mw: MEM_WRITES[esc]!.includes(reg), fast: memFast(size) }));
      // Register forms (undefined ones raise #UD in the handler, as fpu/x87.ts classifies them).
      let flags: RowOptions = {};
      if ((esc === 3 || esc === 7) && (reg === 5 || reg === 6)) flags = { fw: OSZAPC }; // FUCOMI(P), FCOMI(P)
      else if ((esc === 2 || esc === 3) && reg < 4) flags = { fr: CMOV_READS[reg]! }; // FCMOVcc
      out.push(row('(x87)', `${op} /${reg} mod=3`, '', x87Esc, { ...o, ...flags }));
    }
  }
  out.push(row('FWAIT', '9B', '', fwait, o));
  return out;
}
