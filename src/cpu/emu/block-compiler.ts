/**
 * Block compiler: turns a hot decoded block into one JavaScript function (via the Function
 * constructor; without it, where a Content Security Policy forbids `unsafe-eval`, blocks simply
 * stay interpreted). It is driven by the instruction table: a row's `jit` form says which
 * instructions it can emit inline, its flag masks drive a per-flag liveness pass, and the code
 * it emits calls the same semantic kernels the interpreter's handlers use (sem-alu.ts,
 * sem-shift.ts, lazy-flags.ts condSub32/condLogic32, operands.ts ea32/off32) with the
 * instruction's registers and immediates as constants, so V8 inlines them and folds what the
 * constants decide. Flag recording is dropped (`f` = false) where a later instruction of the
 * block overwrites the flags before anything can observe them: flags stay exact at every call,
 * possible fault and block exit. Everything else calls its handler, so behaviour is identical.
 *
 * Contract with run-loop.ts execBlock: the function sets `c.ci` to the index of the
 * instruction it is about to run whenever that instruction can fault or call out, and to the
 * instruction count when it completes; after a handler call it returns early with `c.ci` =
 * next index if the block was invalidated (self-modifying code).
 */
import type { EmuCpu } from './cpu.js';
import type { Block, Insn } from './insn.js';
import { Ea } from './insn.js';
import { ea, ea32, off32 } from './operands.js';
import { cond, condLogic32, condSub32, getCF, getZF } from './lazy-flags.js';
import { rd8, rd16, rd32, wr8, wr16, wr32 } from './mem-access.js';
import { addIp, canonicalTarget } from './address.js';
import { getReg } from './gpr.js';
import { aluAdd, aluAdd64, aluAnd, aluLogic64, aluOr, aluSub, aluSub64, aluXor, incdec, notv, Alu } from './sem-alu.js';
import { rol32, ror32, sar32, shl32, shr32, Sh } from './sem-shift.js';
import { Bit } from './flags.js';
import type { Row } from './table/row.js';
import type { JitStats } from './jit/jit-stats.js';

/**
 * The engine functions compiled code calls, bound once per compiled function as constants of
 * its closure (names upper-case in the emitted code).
 */
const RUNTIME = {
  ADD: aluAdd,
  SUB: aluSub,
  AND: aluAnd,
  OR: aluOr,
  XOR: aluXor,
  ADD64: aluAdd64,
  SUB64: aluSub64,
  LOGIC64: aluLogic64,
  INCDEC: incdec,
  NOT: notv,
  ROL32: rol32,
  ROR32: ror32,
  SHL32: shl32,
  SHR32: shr32,
  SAR32: sar32,
  CONDSUB: condSub32,
  CONDLOGIC: condLogic32,
  COND: cond,
  GETCF: getCF,
  GETZF: getZF,
  GETREG: getReg,
  EA: ea,
  EA32: ea32,
  OFF32: off32,
  RD8: rd8,
  RD16: rd16,
  RD32: rd32,
  WR8: wr8,
  WR16: wr16,
  WR32: wr32,
  CANON: canonicalTarget,
  ADDIP: addIp,
};
export const RUNTIME_NAMES = Object.keys(RUNTIME);
export const RUNTIME_VALUES = Object.values(RUNTIME);

export const canCompile = typeof Function === 'function';
/** Functions compiled so far (also makes each generated source unique). */
let compiled = 0;

const ALL_FLAGS = Bit.Arith | Bit.DF;
const KERNEL_32 = ['ADD', 'OR', '', '', 'AND', 'SUB', 'XOR', 'SUB'];
const SHIFT_KERNEL = ['ROL32', 'ROR32', '', '', 'SHL32', 'SHR32', 'SHL32', 'SAR32'];

/**
 * How an instruction is emitted inline ('' = a handler call):
 * alu-rr/alu-ri 32-bit register ALU; alu64 64-bit register ALU; alu-load G op= [m] (32-bit);
 * cmp-mi / cmp-mi8 CMP [m], imm (32/8-bit); test; incdec; neg; not; mov-rr; mov64; load;
 * store (MOV [m], r/imm at 8/16/32 bits); movri; lea; movzx; movzx-load; shift; jcc.
 */
export type Form = '' | 'alu-rr' | 'alu-ri' | 'alu64' | 'alu-load' | 'cmp-mi' | 'cmp-mi8' | 'test' | 'incdec' | 'neg' | 'not' | 'mov-rr' | 'mov64' | 'load' | 'store' | 'movri' | 'lea' | 'movzx' | 'movzx-load' | 'shift' | 'jcc';

/** ADD OR AND SUB XOR CMP (the ALU operations compiled inline; ADC/SBB read CF and go through their handler). */
export function plainAlu(op: number): boolean {
  return op !== Alu.Adc && op !== Alu.Sbb;
}

/** Whether the destination is E (ModRM r/m, or the accumulator as rm 0): E,G / E,I forms rather than G,E. */
export function eFirst(r: Row): boolean {
  const k = r.ops[0]?.kind;
  return k === 'E' || k === 'AL' || k === 'eAX' || k === 'rAX';
}

export function hasImm(r: Row): boolean {
  return r.ops.some((o) => o.kind === 'I');
}

/** The inline form of decoded instruction `x`, from its row's `jit` kind and its operands. */
export function formOf(x: Insn): Form {
  const r = x.row;
  const reg = x.mod === 3;
  // A fast variant (x.fn !== r.fn) uses the E,G convention with rm as destination (see table/alu.ts).
  const fast = x.fn !== r.fn;
  switch (r.jit) {
    case 'alu':
      if (!plainAlu(x.op)) return '';
      if (reg && x.osz === 4 && fast) return hasImm(r) ? 'alu-ri' : 'alu-rr';
      if (reg && x.osz === 8) return 'alu64';
      if (!reg && x.osz === 4 && !eFirst(r)) return 'alu-load';
      if (!reg && x.op === Alu.Cmp && r.ops[1]?.kind === 'I') return x.osz === 4 ? 'cmp-mi' : x.osz === 1 ? 'cmp-mi8' : '';
      return '';
    case 'test':
      return reg && x.osz === 4 ? 'test' : '';
    case 'incdec':
      return reg && x.osz === 4 && fast ? 'incdec' : '';
    case 'neg':
      return reg && x.osz === 4 ? 'neg' : '';
    case 'not':
      return reg && x.osz === 4 ? 'not' : '';
    case 'mov':
      if (reg) return x.osz === 4 && fast ? 'mov-rr' : x.osz === 8 && !hasImm(r) ? 'mov64' : '';
      if (x.osz === 4 && fast) return eFirst(r) ? 'store' : 'load';
      return eFirst(r) && x.osz <= 4 ? 'store' : '';
    case 'movri':
      return x.osz === 4 ? 'movri' : '';
    case 'lea':
      return x.osz === 4 && x.ak === Ea.A32 ? 'lea' : '';
    case 'movzx':
      return x.osz === 4 ? (reg ? 'movzx' : 'movzx-load') : '';
    case 'shift':
      return fast ? 'shift' : '';
    case 'jcc':
      return 'jcc';
    default:
      return '';
  }
}

/**
 * Backward per-flag liveness: liveAfter[k] = flags some later point may observe after instruction k. A handler
 * call, a possible fault or a side exit observes (or may deliver) every flag; the block's end observes all.
 */
export function flagLiveness(ins: readonly Insn[], forms: readonly string[], observesAll: (f: string, x: Insn) => boolean = (f, x) => mayFault(f as Form, x)): number[] {
  const n = ins.length;
  const liveAfter = new Array<number>(n);
  let live = ALL_FLAGS;
  for (let k = n - 1; k >= 0; k--) {
    const x = ins[k]!;
    const f = forms[k]!;
    liveAfter[k] = live;
    if (f === '' || observesAll(f, x) || (f === 'jcc' && k < n - 1)) {
      live = ALL_FLAGS;
      continue;
    }
    const w = writes(x);
    let r = x.row.fr;
    // A partial writer that records its flags merges the ones it keeps from the current state.
    if ((live & w) !== 0 && (w & Bit.Arith) !== Bit.Arith) r |= Bit.Arith & ~w;
    live = (live & ~w) | r;
  }
  return liveAfter;
}

/** Whether an inline form can fault (memory access, or a 64-bit branch target that must be canonical). */
export function mayFault(f: Form, x: Insn): boolean {
  switch (f) {
    case 'alu-load':
    case 'cmp-mi':
    case 'cmp-mi8':
    case 'load':
    case 'store':
    case 'movzx-load':
      return true;
    case 'jcc':
      return x.osz === 8;
    default:
      return false;
  }
}

/** Flags an inline form writes (the row's written and undefined flags; a compiled shift has a non-zero count). */
export function writes(x: Insn): number {
  return x.row.fw | x.row.fu;
}

/** What is known about the lazy flags at a point of the block: the producer's operand locals. */
interface Known {
  /** 'sub': SUB/CMP/NEG d - s = r (32-bit); 'add': ADD (32-bit); 'logic': logic result r; 'zf': ZF = (r === 0) only. */
  kind: '' | 'sub' | 'add' | 'logic' | 'zf';
  d: string;
  s: string;
  r: string;
}
const NONE: Known = { kind: '', d: '', s: '', r: '' };

/** JS for the CF of the known producer, or getCF(c). */
function knownCF(k: Known): string {
  if (k.kind === 'logic') return '0';
  if (k.kind === 'sub') return `((${k.d} >>> 0) < (${k.s} >>> 0) ? 1 : 0)`;
  if (k.kind === 'add') return `((${k.r} >>> 0) < (${k.d} >>> 0) ? 1 : 0)`;
  return 'GETCF(c)';
}

/** JS for condition `cc` from what is known about the flags. */
function condCode(cc: number, k: Known): string {
  if (k.kind === 'sub') return `CONDSUB(${cc}, ${k.d}, ${k.s}, ${k.r})`;
  if (k.kind === 'logic') return `CONDLOGIC(${cc}, ${k.r})`;
  if (k.kind === 'zf' && (cc === 4 || cc === 5)) return cc === 4 ? `(${k.r} === 0)` : `(${k.r} !== 0)`;
  if (cc === 4 || cc === 5) return cc === 4 ? '(GETZF(c) !== 0)' : '(GETZF(c) === 0)';
  return `COND(c, ${cc})`;
}

/** JS for the linear address of x's memory operand into `a${k}` (32-bit forms with constants, others via ea()). */
function eaCode(x: Insn, k: number, I: string): string {
  if (x.ak !== Ea.A32) return `const a${k} = EA(c, ${I}[${k}]);`;
  return `const a${k} = EA32(c, ${x.disp | 0}, ${x.base}, ${x.index}, ${x.scale}, ${x.seg}, ${x.msz}, ${x.mw});`;
}

function target(x: Insn): string {
  const t = `c.bip + ${x.end + x.imm}`;
  if (x.osz === 4) return `((${t}) >>> 0)`;
  if (x.osz === 2) return `((${t}) & 0xffff)`;
  return `CANON(c, ${t})`;
}

/** How emitBody writes the code that is not the same for a single block and a region. */
export interface EmitOptions {
  /** Name of the instruction array in the emitted code (`I` for a block). */
  insName: string;
  /** Whether a block whose last branch targets itself may loop inside the function. */
  selfLoops: boolean;
  /** JS that leaves the function after instruction k ran and invalidated its block (self-modifying code). */
  smcExit(k: number): string;
  /** JS run after each inline store at index k (a region checks there for a write to its own code), or ''. */
  afterStore(k: number): string;
  /** Emit a body even when no instruction has an inline form (all handler calls). */
  always: boolean;
  /** JS that calls instruction k's handler. */
  call(k: number): string;
}

/** The emitted body of a block: its JS, whether it loops on itself and from which instruction. */
export interface Emitted {
  src: string;
  selfLoop: boolean;
  head: number;
}

/** How a single block is emitted: an early exit after instruction k sets c.rip to the next one (unless k is the last). */
function blockOptions(ins: readonly Insn[]): EmitOptions {
  const n = ins.length;
  const exit = (k: number): string => (k + 1 < n ? `c.ci = ${k + 1}; c.rip = ADDIP(c.bip, ${ins[k]!.end}, c.codeSize); return;` : `c.ci = ${k + 1}; return;`);
  return {
    insName: 'I',
    selfLoops: true,
    smcExit: exit,
    // A store to this block's own page (self-modifying code) stops the block after it, as in the
    // interpreter; a self-loop says how many passes completed (stores loop only from the block start).
    afterStore: (k) => ` if (c.smc) { ${exit(k)} }`,
    always: false,
    // The handler and its instruction are constants of the closure: a direct call V8 can inline, where
    // `I[k].fn(c, I[k])` is a load and a call through whatever function the slot holds.
    call: (k) => `F${k}(c, X${k})`,
  };
}

/** Compiles `blk`; returns null when the block has nothing worth compiling or codegen is unavailable. */
export function compileBlock(blk: Block, stats?: JitStats): ((c: EmuCpu) => void) | null {
  if (!canCompile) return null;
  const t0 = performance.now();
  const ins = blk.insns;
  const e = emitBody(ins, blockOptions(ins));
  if (e === null) return null;
  try {
    // The kernels are the factory's parameters (destructured consts would cost a TDZ hole check at
    // every use in the optimized code), and each compiled function gets a source of its own (the
    // serial comment): a Function body seen before would share its compiled closure code with
    // the earlier one, and V8 then no longer treats the kernels as constants (a load and a
    // call-target check per kernel call: ~20% on a tight ALU loop).
    const fs = ins.map((_, k) => `F${k}`);
    const xs = ins.map((_, k) => `X${k}`);
    const factory = new Function('I', ...RUNTIME_NAMES, ...fs, ...xs, `// ${++compiled}\nreturn function block(c) {\nconst g = c.gpr;\n${e.src}\nc.ci = ${blk.insns.length};\n};`) as (I: Insn[], ...kernels: unknown[]) => (c: EmuCpu) => void;
    blk.selfLoop = e.selfLoop;
    blk.loopLen = e.selfLoop ? ins.length - e.head : 0;
    blk.loopBranches = e.selfLoop ? ins[ins.length - 1]!.brThrough - (e.head > 0 ? ins[e.head - 1]!.brThrough : 0) : 0;
    const fn = factory(blk.insns, ...RUNTIME_VALUES, ...ins.map((x) => x.fn), ...ins);
    if (stats !== undefined) {
      stats.compileMs += performance.now() - t0;
      stats.codeBytes += e.src.length;
      stats.regions++;
    }
    return fn;
  } catch {
    return null;
  }
}

/** A fresh serial for a generated source (see compileBlock). */
export function nextSerial(): number {
  return ++compiled;
}

/**
 * The JS of a block's instructions (registers in `g`, the cpu's `gpr`: register n's halves at 2n and 2n + 1; the
 * cpu in `c`), or null when none has an inline form. Flags are exact at every call, possible fault and at the end.
 */
export function emitBody(ins: readonly Insn[], o: EmitOptions): Emitted | null {
  const n = ins.length;
  const I = o.insName;
  const forms = ins.map(formOf);
  if (!o.always && forms.every((f) => f === '')) return null;
  const liveAfter = flagLiveness(ins, forms);
  const last = ins[n - 1]!;
  // A block whose last instruction branches back to its start, or to a later instruction `head` of
  // it (a loop entered by falling through some setup code), with only inline instructions from
  // there on loops inside the function. Loops entered mid-block must not store (no self-modifying
  // code check inside them) and keep liveness linear: the back edge is treated as a block exit.
  let head = -1;
  if (o.selfLoops && forms[n - 1] === 'jcc') {
    const t = last.end + last.imm;
    for (let k = 0; k < n; k++) if (ins[k]!.start === t) head = k;
  }
  // Side exits (conditional branches before the last instruction) may precede the loop, not lie in it.
  const selfLoop = head >= 0 && forms.every((f, k) => k < head || (f !== '' && !(head > 0 && f === 'store') && !(f === 'jcc' && k < n - 1)));
  const out: string[] = [];
  let known: Known = NONE;
  for (let k = 0; k < n; k++) {
    const x = ins[k]!;
    const f = forms[k]!;
    if (selfLoop && k === head) {
      out.push('let it = 0; const lim = c.loopLimit;', 'for (;;) {');
      known = NONE; // reached from the back edge too
    }
    const A = x.rm;
    const B = x.reg;
    const fl = (liveAfter[k]! & writes(x)) !== 0;
    const r = `r${k}`;
    // Memory forms: the index first (a fault reports this instruction), and the loop count for self-loops. A pass
    // after the first is a block run of its own from the head to the deterministic clock (a device may read it).
    if (mayFault(f, x)) out.push(`c.ci = ${k};${selfLoop && k >= head ? ` c.loops = it; if (it > 0) c.segOff = it * ${n - head} + ${head};` : ''}`);
    if (f !== '' && f !== 'jcc' && x.mod !== 3 && f !== 'lea') out.push(eaCode(x, k, I));
    switch (f) {
      case 'alu-rr':
      case 'alu-ri': {
        const s = f === 'alu-rr' ? `g[${B << 1}]` : `${x.imm | 0}`;
        out.push(`const d${k} = g[${A << 1}], s${k} = ${s}; const ${r} = ${KERNEL_32[x.op]}(c, 4, d${k}, s${k}, ${fl});${x.op !== Alu.Cmp ? ` g[${A << 1}] = ${r}; g[${(A << 1) | 1}] = 0;` : ''}`);
        if (fl) known = aluKnown(x.op, k);
        break;
      }
      case 'alu64': {
        // dst op= src on (lo, hi) halves; G,E forms write the reg operand, E,G and E,I forms the rm operand.
        const dst = eFirst(x.row) ? A : B;
        const src = eFirst(x.row) ? B : A;
        const imm = hasImm(x.row);
        const sl = imm ? `${x.imm | 0}` : `g[${src << 1}]`;
        const sh = imm ? `${x.immHi | 0}` : `g[${(src << 1) | 1}]`;
        const op = x.op;
        const call = op === Alu.Add ? `ADD64(c, dl${k}, dh${k}, ${sl}, ${sh}, 0, ${fl})` : op === Alu.Sub || op === Alu.Cmp ? `SUB64(c, dl${k}, dh${k}, ${sl}, ${sh}, 0, ${fl})` : `LOGIC64(c, ${op}, dl${k}, dh${k}, ${sl}, ${sh}, ${fl})`;
        out.push(`const dl${k} = g[${dst << 1}], dh${k} = g[${(dst << 1) | 1}]; const ${r} = ${call}, h${k} = c.hi;${op !== Alu.Cmp ? ` g[${dst << 1}] = ${r}; g[${(dst << 1) | 1}] = h${k};` : ''}`);
        if (fl) known = { kind: 'zf', d: '', s: '', r: `(${r} | h${k})` };
        break;
      }
      case 'alu-load': {
        out.push(`const d${k} = g[${B << 1}], s${k} = RD32(c, a${k}); const ${r} = ${KERNEL_32[x.op]}(c, 4, d${k}, s${k}, ${fl});${x.op !== Alu.Cmp ? ` g[${B << 1}] = ${r}; g[${(B << 1) | 1}] = 0;` : ''}`);
        if (fl) known = aluKnown(x.op, k);
        break;
      }
      case 'cmp-mi':
      case 'cmp-mi8': {
        const size = f === 'cmp-mi' ? 4 : 1;
        out.push(`const d${k} = ${size === 4 ? 'RD32' : 'RD8'}(c, a${k}), s${k} = ${x.imm | 0}; const ${r} = SUB(c, ${size}, d${k}, s${k}, ${fl});`);
        // A byte compare gives ZF exactly from its masked result; the rest comes from the recorded flags.
        if (fl) known = size === 4 ? { kind: 'sub', d: `d${k}`, s: `s${k}`, r } : { kind: 'zf', d: '', s: '', r };
        break;
      }
      case 'test': {
        const s = hasImm(x.row) ? `${x.imm | 0}` : `g[${B << 1}]`;
        out.push(`const ${r} = AND(c, 4, g[${A << 1}], ${s}, ${fl});`);
        if (fl) known = { kind: 'logic', d: '', s: '', r };
        break;
      }
      case 'incdec':
        out.push(`const ${r} = INCDEC(c, 4, g[${A << 1}], ${x.op === 1}, ${fl ? knownCF(known) : '0'}, ${fl}); g[${A << 1}] = ${r}; g[${(A << 1) | 1}] = 0;`);
        if (fl) known = { kind: 'zf', d: '', s: '', r };
        break;
      case 'neg':
        out.push(`const s${k} = g[${A << 1}]; const ${r} = SUB(c, 4, 0, s${k}, ${fl}); g[${A << 1}] = ${r}; g[${(A << 1) | 1}] = 0;`);
        if (fl) known = { kind: 'sub', d: '0', s: `s${k}`, r };
        break;
      case 'not':
        out.push(`g[${A << 1}] = NOT(4, g[${A << 1}]); g[${(A << 1) | 1}] = 0;`);
        break;
      case 'mov-rr':
        out.push(`g[${A << 1}] = g[${B << 1}]; g[${(A << 1) | 1}] = 0;`);
        break;
      case 'mov64': {
        const [dst, src] = eFirst(x.row) ? [A, B] : [B, A];
        out.push(`g[${dst << 1}] = g[${src << 1}]; g[${(dst << 1) | 1}] = g[${(src << 1) | 1}];`);
        break;
      }
      case 'load':
        out.push(`g[${B << 1}] = RD32(c, a${k}); g[${(B << 1) | 1}] = 0;`);
        break;
      case 'store': {
        const w = x.osz === 1 ? 'WR8' : x.osz === 2 ? 'WR16' : 'WR32';
        const v = hasImm(x.row) ? `${x.imm | 0}` : `GETREG(c, ${x.osz}, ${B})`;
        out.push(`${w}(c, a${k}, ${v});${o.afterStore(k)}`);
        break;
      }
      case 'movri':
        out.push(`g[${A << 1}] = ${x.imm | 0}; g[${(A << 1) | 1}] = 0;`);
        break;
      case 'lea':
        out.push(`g[${B << 1}] = OFF32(c, ${x.disp | 0}, ${x.base}, ${x.index}, ${x.scale}); g[${(B << 1) | 1}] = 0;`);
        break;
      case 'movzx':
        out.push(`g[${B << 1}] = GETREG(c, ${x.imm2}, ${A}); g[${(B << 1) | 1}] = 0;`);
        break;
      case 'movzx-load':
        out.push(`g[${B << 1}] = ${x.imm2 === 1 ? 'RD8' : 'RD16'}(c, a${k}); g[${(B << 1) | 1}] = 0;`);
        break;
      case 'shift':
        out.push(`const ${r} = ${SHIFT_KERNEL[x.op]}(c, g[${A << 1}], ${x.imm & 31}, ${fl}); g[${A << 1}] = ${r}; g[${(A << 1) | 1}] = 0;`);
        if (fl) known = x.op === Sh.Rol || x.op === Sh.Ror ? NONE : { kind: 'zf', d: '', s: '', r };
        break;
      case 'jcc': {
        const taken = condCode(x.op, known);
        if (selfLoop && k === n - 1) out.push(`if (${taken}) { if (++it < lim) continue; it--; c.rip = ${target(x)}; } break; }`, 'c.loops = it;');
        else if (k < n - 1) {
          // A side exit (run-loop.ts K.Side): taken, or the run loop must poll first, the block ends here.
          out.push(`if (${taken}) { c.rip = ${target(x)}; c.ci = ${k + 1}; return; }`);
          out.push(`if (c.instructions + ${k + 1} >= c.pollAt) { c.rip = ADDIP(c.bip, ${x.end}, c.codeSize); c.ci = ${k + 1}; return; }`);
          out.push(`c.segOff = ${k + 1};`);
        } else out.push(`if (${taken}) c.rip = ${target(x)};`);
        break;
      }
      default:
        out.push(`c.ci = ${k}; ${o.call(k)}; if (c.smc) { ${o.smcExit(k)} }`);
        known = NONE;
    }
  }
  return { src: out.join('\n'), selfLoop, head };
}

/** What an inline 32-bit ALU operation `op` at index k leaves known about the flags. */
function aluKnown(op: number, k: number): Known {
  if (op === Alu.Sub || op === Alu.Cmp) return { kind: 'sub', d: `d${k}`, s: `s${k}`, r: `r${k}` };
  if (op === Alu.Add) return { kind: 'add', d: `d${k}`, s: `s${k}`, r: `r${k}` };
  if (op === Alu.And || op === Alu.Or || op === Alu.Xor) return { kind: 'logic', d: '', s: '', r: `r${k}` };
  return NONE;
}
