/**
 * Snippet test cases: a few x86-64 instructions plus the complete initial state they
 * run from (16 GPRs, arithmetic flags + DF, a data buffer at a fixed address). The same
 * case runs natively (tests/native/snippet-harness.c) and under emu
 * (snippet-runner.ts); the results are compared bit for bit, except for flags and
 * registers the SDM leaves undefined (`flagsMask`, `undefinedGprs`).
 *
 * The binary file formats here must match tests/native/snippet-harness.c.
 * Pure TypeScript (no node:* imports) so it can sit beside the interpreter.
 */
import { VmmError } from '../../../util/errors.js';

/** Linear (and, under emu, physical) address of the code page; RIP starts here. */
export const SNIPPET_CODE_BASE = 0x200000;
/** Linear address of the data page; the first SNIPPET_DATA_SIZE bytes are compared. */
export const SNIPPET_DATA_BASE = 0x100000;
export const SNIPPET_PAGE_SIZE = 4096;
/** A zero-filled read-only user page (no execute): writes and read-modify-writes fault. */
export const SNIPPET_RO_BASE = 0x103000;
export const SNIPPET_CODE_MAX = 96;
export const SNIPPET_DATA_SIZE = 512;
/** RSP a generated case starts with: the top of the compared data area (grows down into it). */
export const SNIPPET_DEFAULT_RSP = SNIPPET_DATA_BASE + SNIPPET_DATA_SIZE;

export const CASE_FILE_MAGIC = 'TSDCASE1';
export const RESULT_FILE_MAGIC = 'TSDRES01';
export const CASE_RECORD_SIZE = 8 + 8 + 16 * 8 + SNIPPET_CODE_MAX + SNIPPET_DATA_SIZE;
export const RESULT_RECORD_SIZE = 8 + 8 + 16 * 8 + 8 + 8 + SNIPPET_DATA_SIZE;

/** RFLAGS bits (SDM Vol. 1 §3.4.3). */
export const FLAG_CF = 1 << 0;
export const FLAG_PF = 1 << 2;
export const FLAG_AF = 1 << 4;
export const FLAG_ZF = 1 << 6;
export const FLAG_SF = 1 << 7;
export const FLAG_DF = 1 << 10;
export const FLAG_OF = 1 << 11;
/** The six status flags. */
export const FLAGS_STATUS = FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_OF;
/** Bits a case may set on entry (status flags and DF; TF/AC would trap natively). */
export const FLAGS_INPUT = FLAGS_STATUS | FLAG_DF;

/** Exception vectors as reported in results; VECTOR_NONE = ran to the end of the snippet. */
export const VECTOR_NONE = -1;
export const VECTOR_TIMEOUT = -2;
/** The native host cannot run the case's mode (no IA-32 emulation / modify_ldt): not compared. */
export const VECTOR_UNSUPPORTED = -4;
export const VECTOR_DE = 0;
export const VECTOR_DB = 1;
export const VECTOR_BP = 3;
export const VECTOR_OF = 4;
export const VECTOR_BR = 5;
export const VECTOR_UD = 6;
export const VECTOR_NP = 11;
export const VECTOR_SS = 12;
export const VECTOR_GP = 13;
export const VECTOR_PF = 14;
export const VECTOR_AC = 17;

export const VECTOR_NAMES: Record<number, string> = {
  [VECTOR_NONE]: 'none',
  [VECTOR_TIMEOUT]: 'timeout',
  [VECTOR_UNSUPPORTED]: 'mode unsupported on this host',
  0: '#DE',
  1: '#DB',
  3: '#BP',
  4: '#OF',
  5: '#BR',
  6: '#UD',
  11: '#NP',
  12: '#SS',
  13: '#GP',
  14: '#PF',
  17: '#AC',
};

export interface SnippetCase {
  /** Human-readable identity, e.g. "gen/alu: adc r/m16, imm8 #4711" or "corpus/shifts: rcl by 9". */
  name: string;
  /** Instruction class used to group mismatches (e.g. "adc", "shld", "rep movs"). */
  cls: string;
  code: Uint8Array;
  /** RAX..R15 by encoding number. */
  gpr: BigUint64Array;
  /** Initial RFLAGS; only FLAGS_INPUT bits are used. */
  rflags: number;
  /** Initial contents of the data area (SNIPPET_DATA_SIZE bytes); the rest of the page is zero. */
  data: Uint8Array;
  /** Status flags (and DF) compared after the snippet: the ones the SDM defines for it. */
  flagsMask: number;
  /** Bit i set: GPR i's final value is architecturally undefined, do not compare it. */
  undefinedGprs: number;
  /**
   * 64: 64-bit mode. 32: 32-bit compatibility mode (CS.L=0, CS.D=1, flat DS/ES/SS): only the
   * low 32 bits of RAX..RDI are compared (the upper halves and R8-R15 are undefined after
   * the switch back, SDM Vol. 1 §3.4.1.1). 16: 16-bit protected mode at CPL 3, code segment
   * based at SNIPPET_CODE_BASE and data/stack segment based at SNIPPET_DATA_BASE (limits
   * 0xffff): IP, SP and data addresses are offsets; compared like 32. Default 64.
   */
  mode?: 64 | 32 | 16;
}

export interface SnippetResult {
  /** Exception vector, VECTOR_NONE if the snippet ran to its end. */
  vector: number;
  errorCode: number;
  /** Registers at the end, or at the faulting instruction if vector !== VECTOR_NONE. */
  gpr: BigUint64Array;
  rflags: number;
  /** Final RIP: SNIPPET_CODE_BASE + code length, or the faulting instruction (after it for traps). */
  rip: bigint;
  /** #PF linear address (CR2); 0 otherwise. */
  faultAddr: bigint;
  data: Uint8Array;
}

export class SnippetFormatError extends VmmError {
  constructor(message: string) {
    super('snippet-format', message);
  }
}

function writeMagic(view: Uint8Array, magic: string): void {
  for (let i = 0; i < 8; i++) view[i] = magic.charCodeAt(i);
}

function readMagic(view: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 8; i++) s += String.fromCharCode(view[i] ?? 0);
  return s;
}

/** Serializes cases into the harness's case-file format. */
export function encodeCaseFile(cases: readonly SnippetCase[]): Uint8Array {
  const buf = new Uint8Array(16 + cases.length * CASE_RECORD_SIZE);
  const dv = new DataView(buf.buffer);
  writeMagic(buf, CASE_FILE_MAGIC);
  dv.setUint32(8, cases.length, true);
  dv.setUint32(12, CASE_RECORD_SIZE, true);
  let off = 16;
  for (const c of cases) {
    if (c.code.length > SNIPPET_CODE_MAX) throw new RangeError(`${c.name}: code is ${c.code.length} bytes, at most ${SNIPPET_CODE_MAX}`);
    if (c.data.length !== SNIPPET_DATA_SIZE) throw new RangeError(`${c.name}: data must be ${SNIPPET_DATA_SIZE} bytes`);
    dv.setUint32(off, c.code.length, true);
    dv.setUint32(off + 4, c.mode === 32 ? 1 : c.mode === 16 ? 2 : 0, true);
    dv.setBigUint64(off + 8, BigInt(c.rflags & FLAGS_INPUT), true);
    for (let i = 0; i < 16; i++) dv.setBigUint64(off + 16 + 8 * i, c.gpr[i] ?? 0n, true);
    buf.set(c.code, off + 16 + 128);
    buf.set(c.data, off + 16 + 128 + SNIPPET_CODE_MAX);
    off += CASE_RECORD_SIZE;
  }
  return buf;
}

/** Parses the harness's result file. */
export function decodeResultFile(buf: Uint8Array): SnippetResult[] {
  if (buf.length < 16 || readMagic(buf) !== RESULT_FILE_MAGIC) throw new SnippetFormatError('not a snippet result file (bad magic)');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const count = dv.getUint32(8, true);
  const size = dv.getUint32(12, true);
  if (size !== RESULT_RECORD_SIZE) throw new SnippetFormatError(`result record size ${size}, expected ${RESULT_RECORD_SIZE} (rebuild the harness)`);
  if (buf.length < 16 + count * size) throw new SnippetFormatError(`result file truncated: ${count} records announced, ${buf.length} bytes`);
  const out: SnippetResult[] = [];
  let off = 16;
  for (let n = 0; n < count; n++) {
    const v = dv.getUint32(off, true);
    const gpr = new BigUint64Array(16);
    for (let i = 0; i < 16; i++) gpr[i] = dv.getBigUint64(off + 16 + 8 * i, true);
    out.push({
      vector: v === 0xffffffff ? VECTOR_NONE : v === 0xfffffffe ? VECTOR_TIMEOUT : v === 0xfffffffd ? VECTOR_UNSUPPORTED : v,
      errorCode: dv.getUint32(off + 4, true),
      rflags: Number(dv.getBigUint64(off + 8, true) & 0xffffffffn),
      gpr,
      rip: dv.getBigUint64(off + 144, true),
      faultAddr: dv.getBigUint64(off + 152, true),
      data: buf.slice(off + 160, off + 160 + SNIPPET_DATA_SIZE),
    });
    off += size;
  }
  return out;
}

export interface SnippetDifference {
  what: string;
  expected: string;
  actual: string;
}

/** Vectors that push an error code (SDM Vol. 3 Table 6-1): compared between the two sides. */
const ERROR_CODE_VECTORS = new Set([8, 10, 11, 12, 13, 14, 17]);

const hex64 = (v: bigint): string => '0x' + v.toString(16).padStart(16, '0');

export function flagNames(f: number): string {
  const names: string[] = [];
  if (f & FLAG_CF) names.push('CF');
  if (f & FLAG_PF) names.push('PF');
  if (f & FLAG_AF) names.push('AF');
  if (f & FLAG_ZF) names.push('ZF');
  if (f & FLAG_SF) names.push('SF');
  if (f & FLAG_DF) names.push('DF');
  if (f & FLAG_OF) names.push('OF');
  return names.length ? names.join('|') : '-';
}

const GPR_LABELS = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];

/**
 * Compares a result against the reference (native) result for the same case. Returns the
 * list of differences (empty = equal): vector, RIP, CR2 for #PF, every defined GPR,
 * the defined flags, and the data area.
 */
export function compareResults(c: SnippetCase, ref: SnippetResult, got: SnippetResult): SnippetDifference[] {
  const d: SnippetDifference[] = [];
  if (ref.vector !== got.vector) {
    d.push({ what: 'exception', expected: VECTOR_NAMES[ref.vector] ?? String(ref.vector), actual: VECTOR_NAMES[got.vector] ?? String(got.vector) });
    return d;
  }
  if (ref.rip !== got.rip) d.push({ what: 'rip', expected: hex64(ref.rip), actual: hex64(got.rip) });
  if (ref.vector >= 0 && ERROR_CODE_VECTORS.has(ref.vector) && ref.errorCode !== got.errorCode) {
    d.push({ what: 'error code', expected: '0x' + ref.errorCode.toString(16), actual: '0x' + got.errorCode.toString(16) });
  }
  if (ref.vector === VECTOR_PF && ref.faultAddr !== got.faultAddr) d.push({ what: 'cr2', expected: hex64(ref.faultAddr), actual: hex64(got.faultAddr) });
  const compat = c.mode === 32 || c.mode === 16;
  for (let i = 0; i < (compat ? 8 : 16); i++) {
    if (c.undefinedGprs & (1 << i)) continue;
    const a = compat ? (ref.gpr[i] ?? 0n) & 0xffffffffn : ref.gpr[i] ?? 0n;
    const b = compat ? (got.gpr[i] ?? 0n) & 0xffffffffn : got.gpr[i] ?? 0n;
    if (a !== b) d.push({ what: GPR_LABELS[i] ?? `r${i}`, expected: hex64(a), actual: hex64(b) });
  }
  const m = c.flagsMask;
  if ((ref.rflags & m) !== (got.rflags & m)) {
    d.push({ what: `flags (compared ${flagNames(m)})`, expected: flagNames(ref.rflags & m), actual: flagNames(got.rflags & m) });
  }
  for (let i = 0; i < SNIPPET_DATA_SIZE; i++) {
    if (ref.data[i] !== got.data[i]) {
      const end = Math.min(SNIPPET_DATA_SIZE, (i & ~7) + 16);
      const dump = (x: Uint8Array): string => Array.from(x.subarray(i & ~7, end), (b) => b.toString(16).padStart(2, '0')).join(' ');
      d.push({ what: `data[+0x${i.toString(16)}]`, expected: dump(ref.data), actual: dump(got.data) });
      break;
    }
  }
  return d;
}
