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

const ALL = FLAGS_STATUS | FLAG_DF;

export type FlagOp =
  | 'add' | 'or' | 'adc' | 'sbb' | 'and' | 'sub' | 'xor' | 'cmp' | 'test'
  | 'inc' | 'dec' | 'neg' | 'not'
  | 'rol' | 'ror' | 'rcl' | 'rcr' | 'shl' | 'shr' | 'sar'
  | 'shld' | 'shrd'
  | 'mul' | 'imul' | 'div' | 'idiv'
  | 'bt' | 'bts' | 'btr' | 'btc' | 'bsf' | 'bsr'
  | 'none';

/**
 * Status flags (plus DF) defined after `op` with operand size `bits` and, for shifts and
 * rotates, the raw count operand `count` (before masking).
 */
export function definedFlags(op: FlagOp, bits: 8 | 16 | 32 | 64 = 32, count = 1): number {
  const masked = count & (bits === 64 ? 0x3f : 0x1f);
  switch (op) {
    // ADD/ADC/SUB/SBB/CMP/NEG/INC/DEC: "OF, SF, ZF, AF, CF, PF set according to the result"
    // (INC/DEC: CF not affected — still defined: it must be preserved).
    case 'add': case 'adc': case 'sub': case 'sbb': case 'cmp': case 'neg': case 'inc': case 'dec':
      return ALL;
    // AND/OR/XOR/TEST: "OF and CF cleared; SF, ZF, PF set per result; AF undefined".
    case 'and': case 'or': case 'xor': case 'test':
      return ALL & ~FLAG_AF;
    // NOT: "None" affected.
    case 'not': case 'none':
      return ALL;
    // ROL/ROR/RCL/RCR: "If the masked count is 0, the flags are not affected. If the masked
    // count is 1, OF is affected, otherwise OF is undefined. CF affected when count != 0.
    // SF, ZF, AF, PF not affected."
    case 'rol': case 'ror': case 'rcl': case 'rcr':
      return masked === 1 || masked === 0 ? ALL : ALL & ~FLAG_OF;
    // SAL/SHL/SHR/SAR: "If the count is 0, the flags are not affected. ... OF affected only for
    // 1-bit shifts, undefined otherwise; AF undefined for a non-zero count; CF undefined for
    // SHL and SHR where the count is >= the operand size."
    case 'shl': case 'shr': case 'sar': {
      if (masked === 0) return ALL;
      let f = ALL & ~FLAG_AF;
      if (masked !== 1) f &= ~FLAG_OF;
      if (op !== 'sar' && masked >= bits) f &= ~FLAG_CF;
      return f;
    }
    // SHLD/SHRD: "If the count is 0, flags not affected. If the count is greater than the
    // operand size, the flags are undefined. OF defined only for a 1-bit shift. AF undefined."
    case 'shld': case 'shrd': {
      if (masked === 0) return ALL;
      if (masked > bits) return FLAG_DF;
      let f = ALL & ~FLAG_AF;
      if (masked !== 1) f &= ~FLAG_OF;
      return f;
    }
    // MUL/IMUL: "OF and CF ... ; SF, ZF, AF, and PF flags are undefined."
    case 'mul': case 'imul':
      return FLAG_CF | FLAG_OF | FLAG_DF;
    // DIV/IDIV: "CF, OF, SF, ZF, AF, and PF flags are undefined."
    case 'div': case 'idiv':
      return FLAG_DF;
    // BT/BTS/BTR/BTC: "CF contains the selected bit. ZF unaffected. OF, SF, AF, PF undefined."
    case 'bt': case 'bts': case 'btr': case 'btc':
      return FLAG_CF | FLAG_ZF | FLAG_DF;
    // BSF/BSR: "ZF set if the source is zero, otherwise cleared. CF, OF, SF, AF, PF undefined."
    case 'bsf': case 'bsr':
      return FLAG_ZF | FLAG_DF;
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
