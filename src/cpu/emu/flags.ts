/**
 * RFLAGS bit names and the lazy-flags kinds. The interpreter records the last
 * arithmetic operation (kind, size, operands, result) and computes CF/PF/AF/ZF/SF/OF
 * only when something reads them; see EmuCpu.arith().
 */
export const CF = 1 << 0;
export const PF = 1 << 2;
export const AF = 1 << 4;
export const ZF = 1 << 6;
export const SF = 1 << 7;
export const TF = 1 << 8;
export const IF = 1 << 9;
export const DF = 1 << 10;
export const OF = 1 << 11;
export const IOPL = 3 << 12;
export const NT = 1 << 14;
export const RF = 1 << 16;
export const VM = 1 << 17;
export const AC = 1 << 18;
export const VIF = 1 << 19;
export const VIP = 1 << 20;
export const ID = 1 << 21;
export const ARITH_MASK = CF | PF | AF | ZF | SF | OF;
/** Bits software can change at all (others read as fixed: bit 1 = 1). */
export const FLAGS_WRITABLE = ARITH_MASK | TF | IF | DF | IOPL | NT | RF | AC | ID;

/** Lazy flag kinds. */
export const F_EAGER = 0;
export const F_ADD = 1;
/** ADC with carry-in 1 (ADC with carry-in 0 records F_ADD). */
export const F_ADC = 2;
export const F_SUB = 3;
/** SBB with borrow-in 1. */
export const F_SBB = 4;
export const F_LOGIC = 5;
/** INC/DEC keep CF: the CF before the operation is saved in fcin. */
export const F_INC = 6;
export const F_DEC = 7;

/** PF for each low byte value. */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i;
  b ^= b >> 4;
  b ^= b >> 2;
  b ^= b >> 1;
  PARITY[i] = b & 1 ? 0 : PF;
}

/** Sign bit of an operand of `size` bytes (1, 2, 4). */
export function signBit(size: number): number {
  return size === 1 ? 0x80 : size === 2 ? 0x8000 : 0x8000_0000 | 0;
}
