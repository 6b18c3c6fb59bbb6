/**
 * The x87 FPU's architectural state: eight physical 80-bit registers (R0..R7) in typed arrays,
 * TOP, the control, status and tag words, the last opcode and the last instruction/data
 * pointers. ST(i) is physical register (TOP + i) & 7. The tag word is kept as an "empty"
 * bitmap (what FXSAVE's abridged tag holds); the full two-bit tags of FSTENV/FSAVE are computed
 * from the register contents, as the hardware does.
 */

export const FCW_DEFAULT = 0x037f;

// Status word bits.
export const SW_IE = 0x0001;
export const SW_DE = 0x0002;
export const SW_ZE = 0x0004;
export const SW_OE = 0x0008;
export const SW_UE = 0x0010;
export const SW_PE = 0x0020;
export const SW_SF = 0x0040;
export const SW_ES = 0x0080;
export const SW_C0 = 0x0100;
export const SW_C1 = 0x0200;
export const SW_C2 = 0x0400;
export const SW_C3 = 0x4000;
export const SW_B = 0x8000;
export const SW_CC = SW_C0 | SW_C1 | SW_C2 | SW_C3;

export const TAG_VALID = 0;
export const TAG_ZERO = 1;
export const TAG_SPECIAL = 2;
export const TAG_EMPTY = 3;

export class X87State {
  /** Significand low/high 32 bits and sign+exponent word of R0..R7. */
  readonly sigLo = new Uint32Array(8);
  readonly sigHi = new Uint32Array(8);
  readonly se = new Uint16Array(8);
  top = 0;
  cw = FCW_DEFAULT;
  /** Status word without TOP (bits 11-13 always clear here; see `statusWord`). */
  sw = 0;
  /** Bit i set: physical register i is empty. */
  empty = 0xff;
  /** Last non-control instruction's opcode: 11 bits, (first byte & 7) << 8 | ModRM. */
  fop = 0;
  /** Last instruction pointer (offset, as a number up to 2^64 split lo/hi) and CS selector. */
  fipLo = 0;
  fipHi = 0;
  fcs = 0;
  /** Last data (memory operand) pointer and its selector. */
  fdpLo = 0;
  fdpHi = 0;
  fds = 0;

  /** FNINIT: control word 037FH, everything else cleared, all registers empty. */
  init(): void {
    this.cw = FCW_DEFAULT;
    this.sw = 0;
    this.top = 0;
    this.empty = 0xff;
    this.fop = 0;
    this.fipLo = 0;
    this.fipHi = 0;
    this.fcs = 0;
    this.fdpLo = 0;
    this.fdpHi = 0;
    this.fds = 0;
  }

  /** The state after RESET: FCW 0040H, every register +0.0 and tagged valid (tag word 5555H). */
  powerOn(): void {
    this.initXsave();
    this.cw = 0x0040;
    this.empty = 0;
  }

  /**
   * The XSAVE/XRSTOR initial configuration of the x87 component: FNINIT's state with every
   * register zero (XRSTOR with the component's XSTATE_BV bit clear).
   */
  initXsave(): void {
    this.init();
    this.sigLo.fill(0);
    this.sigHi.fill(0);
    this.se.fill(0);
  }

  /** Whether the x87 component is in that initial configuration (XINUSE[0] clear). */
  isInitXsave(): boolean {
    if (this.cw !== FCW_DEFAULT || this.statusWord() !== 0 || this.empty !== 0xff || this.fop !== 0) return false;
    if ((this.fipLo | this.fipHi | this.fcs | this.fdpLo | this.fdpHi | this.fds) !== 0) return false;
    for (let i = 0; i < 8; i++) if ((this.sigLo[i]! | this.sigHi[i]! | this.se[i]!) !== 0) return false;
    return true;
  }

  // MMX aliases the x87 registers: MMi is the significand of physical register Ri. Before an
  // MMX instruction the CPU checks as for an x87 one (#UD if CR0.EM, #NM if CR0.TS, #MF for a
  // pending x87 exception); every MMX instruction but EMMS then sets TOP = 0 and tags all
  // registers valid, and a write to MMi also sets Ri's sign/exponent word to all ones.

  /** Every MMX instruction except EMMS: TOP = 0, all registers valid. */
  mmxEnter(): void {
    this.top = 0;
    this.empty = 0;
  }

  /** Writes MMi (after `mmxEnter`). */
  mmxWrite(i: number, lo: number, hi: number): void {
    this.sigLo[i] = lo;
    this.sigHi[i] = hi;
    this.se[i] = 0xffff;
  }

  /** EMMS: every register empty. */
  emms(): void {
    this.empty = 0xff;
  }

  /** Full status word including TOP. */
  statusWord(): number {
    return (this.sw & ~0x3800) | (this.top << 11);
  }

  /** Loads a full status word (TOP taken from bits 11-13). */
  setStatusWord(v: number): void {
    this.top = (v >>> 11) & 7;
    this.sw = v & 0xc7ff;
  }

  /** Physical index of ST(i). */
  phys(i: number): number {
    return (this.top + i) & 7;
  }

  isEmpty(phys: number): boolean {
    return ((this.empty >>> phys) & 1) !== 0;
  }

  setReg(phys: number, se: number, hi: number, lo: number): void {
    this.se[phys] = se;
    this.sigHi[phys] = hi;
    this.sigLo[phys] = lo;
    this.empty &= ~(1 << phys);
  }

  /** Two-bit tag of a physical register as FSTENV/FSAVE report it. */
  tag(phys: number): number {
    if (this.isEmpty(phys)) return TAG_EMPTY;
    return tagOf(this.se[phys]!, this.sigHi[phys]!, this.sigLo[phys]!);
  }

  /** The full 16-bit tag word (two bits per physical register, R0 lowest). */
  tagWord(): number {
    let w = 0;
    for (let i = 0; i < 8; i++) w |= this.tag(i) << (2 * i);
    return w;
  }

  /** Loads a full tag word: only "empty" (11) versus not is kept, as on current CPUs. */
  setTagWord(w: number): void {
    let e = 0;
    for (let i = 0; i < 8; i++) if (((w >>> (2 * i)) & 3) === TAG_EMPTY) e |= 1 << i;
    this.empty = e;
  }

  /** FXSAVE's abridged tag byte: bit i set when R_i is not empty. */
  abridgedTag(): number {
    return ~this.empty & 0xff;
  }

  setAbridgedTag(b: number): void {
    this.empty = ~b & 0xff;
  }

  copyFrom(o: X87State): void {
    this.sigLo.set(o.sigLo);
    this.sigHi.set(o.sigHi);
    this.se.set(o.se);
    this.top = o.top;
    this.cw = o.cw;
    this.sw = o.sw;
    this.empty = o.empty;
    this.fop = o.fop;
    this.fipLo = o.fipLo;
    this.fipHi = o.fipHi;
    this.fcs = o.fcs;
    this.fdpLo = o.fdpLo;
    this.fdpHi = o.fdpHi;
    this.fds = o.fds;
  }
}

/** Tag of a non-empty register's contents: zero, special (NaN, infinity, denormal, unsupported) or valid. */
export function tagOf(se: number, hi: number, lo: number): number {
  const e = se & 0x7fff;
  if (e === 0) return hi === 0 && lo === 0 ? TAG_ZERO : TAG_SPECIAL;
  if (e === 0x7fff || hi < 0x80000000) return TAG_SPECIAL;
  return TAG_VALID;
}
