/**
 * Which status flags the SDM defines after an instruction, so the differential test
 * compares exactly those (an undefined flag may legitimately differ between Intel,
 * AMD and emu). DF is never changed by these instructions and is always compared.
 * Flags an instruction leaves "unaffected" are defined (they must keep their input).
 *
 * Sources: Intel SDM Vol. 2 instruction pages, "Flags Affected" sections, and
 * Vol. 1 Appendix A (EFLAGS cross-reference).
 */
import { FLAG_AF, FLAG_CF, FLAG_DF, FLAG_OF, FLAG_PF, FLAG_SF, FLAG_ZF, FLAGS_STATUS } from '../../src/cpu/emu/testing/snippet-case.js';

export type FlagOp =
  | 'add' | 'or' | 'adc' | 'sbb' | 'and' | 'sub' | 'xor' | 'cmp' | 'test'
  | 'inc' | 'dec' | 'neg' | 'not'
  | 'rol' | 'ror' | 'rcl' | 'rcr' | 'shl' | 'shr' | 'sar'
  | 'shld' | 'shrd'
  | 'mul' | 'imul' | 'div' | 'idiv'
  | 'bt' | 'bts' | 'btr' | 'btc' | 'bsf' | 'bsr'
  | 'none';

/** What an instruction does to each status flag: sets it to a defined value, leaves it undefined, or keeps it. */
export interface FlagEffects {
  /** Flags the instruction sets to an SDM-defined value. */
  written: number;
  /** Flags the SDM leaves undefined after it. */
  undefined: number;
  // every other flag is unaffected (keeps its value)
}

const S6 = FLAGS_STATUS;

/**
 * Flag effects of `op` with operand size `bits` and, for shifts and rotates, the raw count
 * operand `count` (before masking). The SDM rule is quoted per group.
 */
export function flagEffects(op: FlagOp, bits: 8 | 16 | 32 | 64 = 32, count = 1): FlagEffects {
  const masked = count & (bits === 64 ? 0x3f : 0x1f);
  switch (op) {
    // ADD/ADC/SUB/SBB/CMP/NEG: "OF, SF, ZF, AF, CF, and PF flags are set according to the result."
    case 'add': case 'adc': case 'sub': case 'sbb': case 'cmp': case 'neg':
      return { written: S6, undefined: 0 };
    // INC/DEC: "The CF flag is not affected. The OF, SF, ZF, AF, and PF flags are set according to the result."
    case 'inc': case 'dec':
      return { written: S6 & ~FLAG_CF, undefined: 0 };
    // AND/OR/XOR/TEST: "OF and CF flags are cleared; SF, ZF, PF set according to the result. AF is undefined."
    case 'and': case 'or': case 'xor': case 'test':
      return { written: S6 & ~FLAG_AF, undefined: FLAG_AF };
    // NOT: "None."
    case 'not': case 'none':
      return { written: 0, undefined: 0 };
    // ROL/ROR/RCL/RCR: "If the masked count is 0, the flags are not affected. If the masked count is 1,
    // then the OF flag is affected, otherwise (masked count is greater than 1) the OF flag is undefined.
    // The CF flag is affected when the masked count is nonzero. The SF, ZF, AF, and PF flags are always unaffected."
    case 'rol': case 'ror': case 'rcl': case 'rcr':
      if (masked === 0) return { written: 0, undefined: 0 };
      return masked === 1 ? { written: FLAG_CF | FLAG_OF, undefined: 0 } : { written: FLAG_CF, undefined: FLAG_OF };
    // SAL/SHL/SHR/SAR: "The CF flag contains the value of the last bit shifted out ...; it is undefined for
    // SHL and SHR instructions where the count is greater than or equal to the size (in bits) of the
    // destination operand. The OF flag is affected only for 1-bit shifts; otherwise, it is undefined.
    // The SF, ZF, and PF flags are set according to the result. If the count is 0, the flags are not
    // affected. For a non-zero count, the AF flag is undefined."
    case 'shl': case 'shr': case 'sar': {
      if (masked === 0) return { written: 0, undefined: 0 };
      let undef = FLAG_AF;
      if (masked !== 1) undef |= FLAG_OF;
      if (op !== 'sar' && masked >= bits) undef |= FLAG_CF;
      return { written: S6 & ~undef, undefined: undef };
    }
    // SHLD/SHRD: "If the count is 1 or greater, the CF flag is filled with the last bit shifted out ...
    // For a 1-bit shift, the OF flag is set if a sign change occurred; otherwise, it is cleared. For shifts
    // greater than 1 bit, the OF flag is undefined. If a shift occurs, the AF flag is undefined. If the count
    // operand is 0, the flags are not affected. If the count is greater than the operand size, the flags are undefined."
    case 'shld': case 'shrd': {
      if (masked === 0) return { written: 0, undefined: 0 };
      if (masked > bits) return { written: 0, undefined: S6 };
      const undef = FLAG_AF | (masked !== 1 ? FLAG_OF : 0);
      return { written: S6 & ~undef, undefined: undef };
    }
    // MUL/IMUL: "The OF and CF flags are set ...; the SF, ZF, AF, and PF flags are undefined."
    case 'mul': case 'imul':
      return { written: FLAG_CF | FLAG_OF, undefined: FLAG_SF | FLAG_ZF | FLAG_AF | FLAG_PF };
    // DIV/IDIV: "The CF, OF, SF, ZF, AF, and PF flags are undefined."
    case 'div': case 'idiv':
      return { written: 0, undefined: S6 };
    // BT/BTS/BTR/BTC: "The CF flag contains the value of the selected bit. The ZF flag is unaffected.
    // The OF, SF, AF, and PF flags are undefined."
    case 'bt': case 'bts': case 'btr': case 'btc':
      return { written: FLAG_CF, undefined: FLAG_OF | FLAG_SF | FLAG_AF | FLAG_PF };
    // BSF/BSR: "The ZF flag is set to 1 if the source operand is 0; otherwise, cleared. The CF, OF, SF,
    // AF, and PF flags are undefined."
    case 'bsf': case 'bsr':
      return { written: FLAG_ZF, undefined: S6 & ~FLAG_ZF };
  }
}

/**
 * Status flags (plus DF) defined after `op` when every flag was defined before it: the
 * ones it writes and the ones it leaves alone. DF is never changed by these instructions.
 */
export function definedFlags(op: FlagOp, bits: 8 | 16 | 32 | 64 = 32, count = 1): number {
  return (S6 | FLAG_DF) & ~flagEffects(op, bits, count).undefined;
}

/** Definedness after an instruction, given the flags defined before it. */
export function definedAfter(before: number, e: FlagEffects): number {
  return (before & ~(e.written | e.undefined)) | e.written;
}

/** Flags read by condition code `cc` (Jcc/SETcc/CMOVcc low nibble; SDM Vol. 1 Table B-1). */
export function ccFlags(cc: number): number {
  switch (cc >> 1) {
    case 0: return FLAG_OF;
    case 1: return FLAG_CF;
    case 2: return FLAG_ZF;
    case 3: return FLAG_CF | FLAG_ZF;
    case 4: return FLAG_SF;
    case 5: return FLAG_PF;
    case 6: return FLAG_SF | FLAG_OF;
    default: return FLAG_ZF | FLAG_SF | FLAG_OF;
  }
}

/** Flag names for corpus files: "CF|ZF" -> mask. */
export function parseFlags(s: string): number {
  const map: Record<string, number> = { CF: FLAG_CF, PF: FLAG_PF, AF: FLAG_AF, ZF: FLAG_ZF, SF: FLAG_SF, DF: FLAG_DF, OF: FLAG_OF };
  let f = 0;
  for (const part of s.split(/[|,\s]+/)) {
    if (part === '' || part === '-') continue;
    const v = map[part.toUpperCase()];
    if (v === undefined) throw new RangeError(`unknown flag name "${part}" (use CF PF AF ZF SF DF OF)`);
    f |= v;
  }
  return f;
}
