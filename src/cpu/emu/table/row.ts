/**
 * The instruction table's row: one per instruction form, with its encoding, operands,
 * operand-size rule, flags, CPUID feature, lock/memory-write/branch/privilege properties and
 * the handler. Rows are written with `row(mnemonic, encoding, operands, handler, options)`,
 * the encoding in the SDM's opcode-column notation:
 *
 *   [NP|NF|66|F2|F3] [0F [38|3A]] opcode[+r] [/r|/0-/7] [mod=3|mem] [rm=N] [W0|W1] [B0]
 *
 * NP: no 66/F2/F3 prefix; NF: no F2/F3 (66 is the operand size); 66/F2/F3: that mandatory
 * prefix (for SSE rows, those with xmm operands, 66 may not accompany F2/F3; for integer rows it
 * is the operand size); no prefix token: 66 is the operand size and F2/F3 are REP or ignored.
 * `+r`: the low three opcode bits (with REX.B) name a register. `/r` or `/N`: a ModRM byte,
 * `/N` fixing ModRM.reg; `mod=3`/`mem` constrain ModRM.mod, `rm=N` ModRM.rm (low three bits);
 * `W0`/`W1` constrain REX.W, `B0` requires REX.B clear.
 *
 * Operands use the SDM's abbreviations (Vol. 2 Appendix A.2): E/G (ModRM r/m and reg),
 * I (immediate), J (relative offset), Z (register in the opcode), O (moffs), A (far pointer),
 * M (memory only), S (segment register), C/D (control/debug register), V/W (xmm, xmm or memory);
 * sizes b/w/d/q/v/z/y/p, and fixed registers AL, eAX, rAX, DX, CL and 1. Ibs is an imm8
 * sign-extended to the operand size. The operands drive decoding: immediates, byte-register
 * mapping (AH..BH without REX) and the memory-operand size used by segment checks.
 */
import type { Handler, Insn } from '../insn.js';

export type { Handler };
import { Bit } from '../flags.js';

export const MAP_1B = 0;
export const MAP_0F = 1;
export const MAP_0F38 = 2;
export const MAP_0F3A = 3;

/** Decode-mode bits (EmuCpu.modeKey 0, 1, 2). */
export const M16 = 1;
export const M32 = 2;
export const M64 = 4;
export const ALL_MODES = M16 | M32 | M64;
/** "Invalid in 64-bit mode" (SDM opcode tables' i64). */
export const NO64 = M16 | M32;

/** ModRM.mod constraint. */
export const MOD_ANY = 0;
export const MOD_REG = 1;
export const MOD_MEM = 2;

/** Mandatory-prefix rule (see the file comment). */
export const PFX_ANY = 0;
export const PFX_NP = 1;
export const PFX_NF = 2;
export const PFX_66 = 3;
export const PFX_F3 = 4;
export const PFX_F2 = 5;

// Flag masks (RFLAGS bit positions; DF included for the string instructions).
export { CF, PF, AF, ZF, SF, OF, DF } from '../flags.js';
export const OSZAPC = Bit.OF | Bit.SF | Bit.ZF | Bit.AF | Bit.PF | Bit.CF;
export const OSZAP = Bit.OF | Bit.SF | Bit.ZF | Bit.AF | Bit.PF;
export const OSZPC = Bit.OF | Bit.SF | Bit.ZF | Bit.PF | Bit.CF;
export const SZAPC = Bit.SF | Bit.ZF | Bit.AF | Bit.PF | Bit.CF;
export const SZP = Bit.SF | Bit.ZF | Bit.PF;

/** Flags a condition code reads (cc = the low nibble of Jcc/SETcc/CMOVcc). */
export const CC_FLAGS: readonly number[] = [Bit.OF, Bit.OF, Bit.CF, Bit.CF, Bit.ZF, Bit.ZF, Bit.CF | Bit.ZF, Bit.CF | Bit.ZF, Bit.SF, Bit.SF, Bit.PF, Bit.PF, Bit.SF | Bit.OF, Bit.SF | Bit.OF, Bit.ZF | Bit.SF | Bit.OF, Bit.ZF | Bit.SF | Bit.OF];
export const CC_NAMES: readonly string[] = ['O', 'NO', 'B', 'AE', 'E', 'NE', 'BE', 'A', 'S', 'NS', 'P', 'NP', 'L', 'GE', 'LE', 'G'];

/**
 * Operand-size rule: 'v' 16/32/64 from 66 and REX.W; 'b' 1; 'w' 2; 'd' 4; 'q' 8;
 * 'd64' default 64 in 64-bit mode (stack operations; 66 selects 16); 'f64' forced 64 in 64-bit
 * mode (near branches); 'z64' 64 becomes 32 (IN/OUT/INS/OUTS); 'y' 32, or 64 with REX.W.
 */
export type OszRule = 'v' | 'b' | 'w' | 'd' | 'q' | 'd64' | 'f64' | 'z64' | 'y';

/**
 * Branch kind (PMU branch counting; block ends): 'jcc' conditional relative, 'jmp'/'call'
 * relative, 'jmp-ind'/'call-ind' through a register or memory, 'ret', 'loop' (LOOP/JCXZ),
 * 'far' (far JMP/CALL/RET), 'int' (INT n/INT3/INTO/INT1), 'iret', 'sys' (SYSCALL/SYSRET/
 * SYSENTER/SYSEXIT).
 */
export type Branch = 'none' | 'jcc' | 'jmp' | 'call' | 'jmp-ind' | 'call-ind' | 'ret' | 'loop' | 'far' | 'int' | 'iret' | 'sys';

/**
 * What the block compiler can emit inline for a row (see block-compiler.ts, which decides per
 * decoded instance whether the form applies, e.g. register operands at 32-bit size).
 */
export type Jit = 'alu' | 'test' | 'incdec' | 'neg' | 'not' | 'mov' | 'movri' | 'lea' | 'movzx' | 'shift' | 'jcc';

/** A specialised handler chosen at decode time when `when(insn)` holds (e.g. register operands, 32-bit). */
export interface Fast {
  readonly when: (x: Insn) => boolean;
  readonly fn: Handler;
  /** Swap ModRM reg and rm first (G,E forms reusing an E,G handler). */
  readonly swap?: boolean;
  /** Adjusts decoded fields for the handler (e.g. masks a shift count). */
  readonly prep?: (x: Insn) => void;
}

/** A parsed operand. */
export interface Operand {
  /** Addressing method letter or fixed register name (E, G, I, J, Z, O, A, M, S, C, D, V, W, AL, ...). */
  readonly kind: string;
  /** Size suffix (b, w, d, q, v, z, y, p, dq, ps, pd, ...), '' for fixed registers. */
  readonly size: string;
}

export interface Row {
  readonly mn: string;
  /** The encoding as written. */
  readonly enc: string;
  readonly map: number;
  readonly op: number;
  readonly plusR: boolean;
  readonly pfx: number;
  readonly modrm: boolean;
  /** ModRM.reg (opcode extension), -1 any. */
  readonly reg: number;
  /** ModRM.rm low three bits, -1 any. */
  readonly rm: number;
  readonly mod: number;
  /** REX.W: -1 any, 0, 1. */
  readonly w: number;
  /** REX.B must be clear (90 NOP vs XCHG r8, rAX). */
  readonly b0: boolean;
  readonly operands: string;
  readonly ops: readonly Operand[];
  readonly osz: OszRule;
  readonly modes: number;
  /** Arithmetic flags (and DF) read, written, and left undefined. */
  readonly fr: number;
  readonly fw: number;
  readonly fu: number;
  /** Flags change only when the (masked) shift or rotate count is not 0. */
  readonly fcount: boolean;
  /** CPUID feature (src/features/emu-cpu-model.ts name), null for the base ISA. */
  readonly feature: string | null;
  /** Why the row executes although its feature is not advertised, or null. */
  readonly ungated: string | null;
  readonly lock: boolean;
  /** The memory operand is written. */
  readonly mw: boolean;
  readonly branch: Branch;
  /** Ends its block (every branch, and instructions that change mode, flags the run loop watches, or do I/O). */
  readonly ends: boolean;
  /** Ends its block only with a REP prefix (a REP runs in chunks and restarts itself); without one it goes on in its block. */
  readonly endsOnlyWithRep: boolean;
  /** Requires CPL 0 (#GP otherwise; the handler checks). */
  readonly priv: boolean;
  /** Handler; null: a known instruction emu does not implement (#UD with a one-time warning). */
  readonly fn: Handler | null;
  /** Insn.op and Insn.imm2 for the handler. */
  readonly sub: number;
  readonly aux: number;
  /** Insn.op from ModRM.reg (MOV Sreg). */
  readonly subFromReg: boolean;
  /** ModRM always names a register (MOV CR/DR: mod is ignored). */
  readonly forceReg: boolean;
  /** Insn.imm2 = address size (strings, LOOP/JCXZ). */
  readonly aszAux: boolean;
  /** Any F2/F3 means REP (MOVS/STOS/LODS). */
  readonly repAny: boolean;
  /** Initial Insn.imm (1 for the shift-by-one forms, -1 for IN/OUT with DX). */
  readonly imm: number;
  /** The Ib immediate goes to Insn.op (INT n's vector). */
  readonly opImm: boolean;
  /** Initial Insn.rm (-1: leave): the segment register of PUSH/POP Sreg. */
  readonly rmInit: number;
  /** An architecturally invalid encoding: #UD without a warning. */
  readonly invalid: boolean;
  readonly fast: readonly Fast[];
  readonly jit: Jit | null;
  /** Counts the PMU up to its own instruction (run-loop.ts pmuSync): starts a block of its own after a side exit. */
  readonly pmuSync: boolean;
  // Derived from the fields above once, when the row is built (the table is static), so that decoding an
  // instruction compares integers rather than walking `ops` and comparing their strings.
  /** The operands' decoding steps (`Step`), 4 bits each, the first operand's in the low bits; 0 when none needs one. */
  readonly steps: number;
  /** Size in bytes of the first E/M/W operand as a memory operand (segment checks); 0: the operand size. */
  readonly memSize: number;
  /** The ModRM.reg/mod/rm, REX.W and REX.B constraints as bits of a `matchKey`: a row matches when (key & mask) === val. */
  readonly matchMask: number;
  readonly matchVal: number;
}

/**
 * What the decoder does for an operand (decoder.ts operands()): map a byte register (AH..BH without REX), read the
 * immediate of each kind, the relative offset, far pointer or moffs. Operands that need nothing have no step.
 */
export const enum Step {
  GByte = 1,
  EByte = 2,
  Z = 3,
  ZByte = 4,
  /** The first immediate of a row with `opImm` (an imm8 into Insn.op). */
  ImmOp = 5,
  Ib = 6,
  Ibs = 7,
  Iw = 8,
  /** Iv: 64-bit at operand size 8, else as Iz. */
  Iv = 9,
  /** Iz and any other first immediate: 16 or 32 bits by the operand size. */
  Iz = 10,
  /** A second immediate (ENTER's nesting level): an imm8 into Insn.imm2. */
  Imm2 = 11,
  Jb = 12,
  Jz = 13,
  A = 14,
  O = 15,
}

/** The bits of a decoded instruction's ModRM fields and REX.W/B that rows constrain (see Row.matchMask). */
export const enum Match {
  Reg = 7,
  ModReg = 8,
  RmShift = 4,
  Rm = 7 << 4,
  W = 1 << 7,
  B = 1 << 8,
}

/** The key Row.matchMask/matchVal test: ModRM.reg and rm (low three bits), mod = 3, REX.W, REX.B. */
export function matchKey(reg: number, mod: number, rm: number, rexW: boolean, rexB: number): number {
  return (reg & 7) | (mod === 3 ? Match.ModReg : 0) | ((rm & 7) << Match.RmShift) | (rexW ? Match.W : 0) | (rexB !== 0 ? Match.B : 0);
}

function operandStep(o: Operand, firstImm: boolean, opImm: boolean): number {
  switch (o.kind) {
    case 'G':
      return o.size === 'b' ? Step.GByte : 0;
    case 'E':
      return o.size === 'b' ? Step.EByte : 0;
    case 'Z':
      return o.size === 'b' ? Step.ZByte : Step.Z;
    case 'I':
      if (!firstImm) return Step.Imm2;
      if (opImm) return Step.ImmOp;
      return o.size === 'b' ? Step.Ib : o.size === 'bs' ? Step.Ibs : o.size === 'w' ? Step.Iw : o.size === 'v' ? Step.Iv : Step.Iz;
    case 'J':
      return o.size === 'b' ? Step.Jb : Step.Jz;
    case 'A':
      return Step.A;
    case 'O':
      return Step.O;
    default:
      return 0;
  }
}

function stepsOf(mn: string, ops: readonly Operand[], opImm: boolean): number {
  let steps = 0;
  let n = 0;
  let firstImm = true;
  for (const o of ops) {
    const st = operandStep(o, firstImm, opImm);
    if (o.kind === 'I') firstImm = false;
    if (st === 0) continue;
    if (n === 7) throw new TableError(`${mn}: more than 7 operands to decode`);
    steps |= st << (4 * n++);
  }
  return steps;
}

/** Memory-operand size of an operand size suffix (segment limit checks); 0: the operand size. */
function memSizeOf(ops: readonly Operand[]): number {
  const m = ops.find((o) => o.kind === 'E' || o.kind === 'M' || o.kind === 'W');
  switch (m?.size) {
    case 'b':
      return 1;
    case 'w':
      return 2;
    case 'd':
      return 4;
    case 'q':
      return 8;
    case 'dq':
    case 'ps':
    case 'pd':
    case 'x':
      return 16;
    default:
      return 0;
  }
}

export interface RowOptions {
  sub?: number;
  aux?: number;
  osz?: OszRule;
  modes?: number;
  fr?: number;
  fw?: number;
  fu?: number;
  fcount?: boolean;
  feature?: string;
  ungated?: string;
  lock?: boolean;
  mw?: boolean;
  branch?: Branch;
  ends?: boolean;
  endsOnlyWithRep?: boolean;
  priv?: boolean;
  subFromReg?: boolean;
  forceReg?: boolean;
  aszAux?: boolean;
  repAny?: boolean;
  imm?: number;
  opImm?: boolean;
  rmInit?: number;
  fast?: readonly Fast[];
  jit?: Jit;
  pmuSync?: boolean;
}

export class TableError extends Error {
  override readonly name = 'TableError';
}

const PFX_TOKENS: Record<string, number> = { NP: PFX_NP, NF: PFX_NF, '66': PFX_66, F3: PFX_F3, F2: PFX_F2 };

function parseOperands(s: string): Operand[] {
  if (s === '') return [];
  return s.split(',').map((t) => {
    if (/^(AL|AX|CL|DX|[er]AX|1|[ECSDFG]S)$/.test(t)) return { kind: t, size: '' };
    // One capital letter is the addressing method; the rest is the size (Ibs: sign-extended imm8).
    if (!/^[A-Z][a-z0-9]*$/.test(t)) throw new TableError(`bad operand ${t}`);
    return { kind: t[0]!, size: t.slice(1) };
  });
}

/** Byte-sized when the first register or memory operand (not an immediate) is a byte. */
function defaultOsz(ops: readonly Operand[]): OszRule {
  const first = ops.find((o) => o.kind === 'AL' || ('EGZMOXY'.includes(o.kind) && o.size !== ''));
  return first !== undefined && (first.kind === 'AL' || first.size === 'b') ? 'b' : 'v';
}

/** Builds a row; throws TableError on a malformed encoding (at module initialisation: a table bug). */
export function row(mn: string, enc: string, operands: string, fn: Handler | null, o: RowOptions = {}): Row {
  const t = enc.trim().split(/\s+/);
  let i = 0;
  let pfx = PFX_ANY;
  if (PFX_TOKENS[t[0]!] !== undefined && t[1] === '0F') pfx = PFX_TOKENS[t[i++]!]!;
  let map = MAP_1B;
  if (t[i] === '0F') {
    i++;
    map = MAP_0F;
    if (t[i] === '38' && t.length > i + 1 && /^[0-9A-F]{2}/.test(t[i + 1]!)) {
      i++;
      map = MAP_0F38;
    } else if (t[i] === '3A' && t.length > i + 1 && /^[0-9A-F]{2}/.test(t[i + 1]!)) {
      i++;
      map = MAP_0F3A;
    }
  }
  const opTok = t[i++];
  const om = opTok === undefined ? null : /^([0-9A-F]{2})(\+r)?$/.exec(opTok);
  if (om === null) throw new TableError(`${mn}: bad opcode in "${enc}"`);
  const op = parseInt(om[1]!, 16);
  const plusR = om[2] !== undefined;
  let modrm = false;
  let reg = -1;
  let rm = -1;
  let mod = MOD_ANY;
  let w = -1;
  let b0 = false;
  for (; i < t.length; i++) {
    const k = t[i]!;
    if (k === '/r') modrm = true;
    else if (/^\/[0-7]$/.test(k)) {
      modrm = true;
      reg = Number(k[1]);
    } else if (k === 'mod=3') mod = MOD_REG;
    else if (k === 'mem') mod = MOD_MEM;
    else if (/^rm=[0-7]$/.test(k)) rm = Number(k[3]);
    else if (k === 'W0' || k === 'W1') w = Number(k[1]);
    else if (k === 'B0') b0 = true;
    else throw new TableError(`${mn}: bad token ${k} in "${enc}"`);
  }
  if ((mod !== MOD_ANY || rm >= 0) && !modrm) throw new TableError(`${mn}: mod/rm constraint without ModRM in "${enc}"`);
  const ops = parseOperands(operands);
  const branch = o.branch ?? 'none';
  const matchMask = (reg >= 0 ? Match.Reg : 0) | (mod !== MOD_ANY ? Match.ModReg : 0) | (rm >= 0 ? Match.Rm : 0) | (w >= 0 ? Match.W : 0) | (b0 ? Match.B : 0);
  const matchVal = (reg >= 0 ? reg : 0) | (mod === MOD_REG ? Match.ModReg : 0) | (rm >= 0 ? rm << Match.RmShift : 0) | (w === 1 ? Match.W : 0);
  // The fields decoding reads come first (V8 lays an object literal's fields out in this order): the ModRM/REX
  // match of every candidate row, then what a selected row's instruction takes, so that a row touched with the
  // host's caches cold costs two or three cache lines rather than the whole row.
  return {
    matchMask,
    matchVal,
    invalid: false,
    fn,
    osz: o.osz ?? defaultOsz(ops),
    subFromReg: o.subFromReg ?? false,
    sub: o.sub ?? 0,
    aszAux: o.aszAux ?? false,
    aux: o.aux ?? 0,
    imm: o.imm ?? 0,
    forceReg: o.forceReg ?? false,
    rmInit: o.rmInit ?? -1,
    repAny: o.repAny ?? false,
    steps: stepsOf(mn, ops, o.opImm ?? false),
    fast: o.fast ?? [],
    mw: o.mw ?? false,
    memSize: memSizeOf(ops),
    lock: o.lock ?? false,
    branch,
    ends: (o.ends ?? false) || branch !== 'none',
    endsOnlyWithRep: (o.endsOnlyWithRep ?? false) && branch === 'none',
    pmuSync: o.pmuSync ?? false,
    mn,
    enc,
    map,
    op,
    plusR,
    pfx,
    modrm,
    reg,
    rm,
    mod,
    w,
    b0,
    operands,
    ops,
    modes: o.modes ?? ALL_MODES,
    fr: o.fr ?? 0,
    fw: o.fw ?? 0,
    fu: o.fu ?? 0,
    fcount: o.fcount ?? false,
    feature: o.feature ?? null,
    ungated: o.ungated ?? null,
    priv: o.priv ?? false,
    opImm: o.opImm ?? false,
    jit: o.jit ?? null,
  };
}

/** An architecturally invalid encoding (#UD, no warning): documents the holes the decoder used to special-case. */
export function invalid(enc: string, o: { modes?: number } = {}): Row {
  return { ...row('(invalid)', enc, '', null, { modes: o.modes ?? ALL_MODES, ends: true }), invalid: true };
}

/** A row for decoder outcomes that are not instructions (invalid encoding, too long, unimplemented). */
export function special(mn: string, fn: Handler | null, isInvalid: boolean): Row {
  return { ...row(mn, '00', '', fn, { ends: true }), enc: '', map: -1, invalid: isInvalid };
}

/** Two-digit upper-case hex. */
export function hx(v: number): string {
  return v.toString(16).toUpperCase().padStart(2, '0');
}

/** Whether the row's operands include an xmm register (SSE rows: stricter prefix rules). */
export function isSse(r: Row): boolean {
  return r.ops.some((o) => o.kind === 'V' || o.kind === 'W' || o.kind === 'U');
}
