/**
 * RFLAGS bit names and the lazy-flags kinds. The interpreter records the last
 * arithmetic operation (kind, size, operands, result) and computes CF/PF/AF/ZF/SF/OF
 * only when something reads them; see lazy-flags.ts.
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

/**
 * Lazy flag kinds. A `const enum`: tsc writes the values into the code that uses them, so hot
 * code (the semantic kernels, inlined into compiled blocks) stores a constant instead of loading
 * an imported binding (a module cell load and a hole check in V8's optimized code).
 */
export const enum Lazy {
  Eager = 0,
  Add = 1,
  /** ADC with carry-in 1 (ADC with carry-in 0 records Add). */
  Adc = 2,
  Sub = 3,
  /** SBB with borrow-in 1. */
  Sbb = 4,
  Logic = 5,
  /** INC/DEC keep CF: the CF before the operation is saved in fcin. */
  Inc = 6,
  Dec = 7,
}
export const F_EAGER = Lazy.Eager;
export const F_ADD = Lazy.Add;
export const F_ADC = Lazy.Adc;
export const F_SUB = Lazy.Sub;
export const F_SBB = Lazy.Sbb;
export const F_LOGIC = Lazy.Logic;
export const F_INC = Lazy.Inc;
export const F_DEC = Lazy.Dec;

/**
 * The RFLAGS bits as a const enum, for the same reason: hot code (lazy-flags.ts, the handlers,
 * the kernels) uses these; the plain constants above are for everything else.
 */
export const enum Bit {
  CF = 1 << 0,
  PF = 1 << 2,
  AF = 1 << 4,
  ZF = 1 << 6,
  SF = 1 << 7,
  TF = 1 << 8,
  IF = 1 << 9,
  DF = 1 << 10,
  OF = 1 << 11,
  IOPL = 3 << 12,
  NT = 1 << 14,
  RF = 1 << 16,
  VM = 1 << 17,
  AC = 1 << 18,
  ID = 1 << 21,
  /** CF PF AF ZF SF OF. */
  Arith = CF | PF | AF | ZF | SF | OF,
  /** Bits software can change at all (FLAGS_WRITABLE). */
  Writable = Arith | TF | IF | DF | IOPL | NT | RF | AC | ID,
}
