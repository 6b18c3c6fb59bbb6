/**
 * The hand-written snippet corpus: tests/differential/corpus/*.json. Each entry is a
 * short Intel-syntax snippet (assembled with GNU as at test time, all entries in one
 * `as` run) or raw bytes, an initial state, and optionally hand-computed expectations
 * (from the SDM, not from a run) so the native harness itself is checked.
 *
 * Entry fields:
 *   name, cls?            identity; cls defaults to the first mnemonic
 *   asm | bytes           "add al, bl; adc ah, bh" (';' separates) | "66 0f b6 c7"
 *   init?                 { rax: "0x80", ..., flags: "CF|ZF|DF", data: { "0x10": "01 02 03" } }
 *                         registers default to 0, RSP to SNIPPET_DEFAULT_RSP (0x200 in mode 16), flags to none, data to zeros
 *   undefinedFlags?       "AF|OF"   flags the SDM leaves undefined after this snippet (not compared)
 *   undefinedRegs?        ["rax"]   registers whose final value is undefined
 *   expect?               { rax: "0x..", flags: "CF|OF", exception: "#GP", errorCode: 8, rip: "+3", data: { "0x100": "01 02" } }
 *                         registers not listed must keep their initial value; flags lists exactly the set
 *                         ones among the compared flags (omitted = unchanged); rip "+n" = offset in the snippet,
 *                         otherwise an absolute address
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FLAG_DF, FLAGS_STATUS, SNIPPET_CODE_BASE, SNIPPET_DATA_SIZE, SNIPPET_DEFAULT_RSP, VECTOR_NAMES, VECTOR_NONE,
  type SnippetCase, type SnippetResult,
} from '../../src/cpu/emu/testing/snippet-case.js';
import { parseFlags } from './defined-flags.js';
import { NativeHarnessError } from './native-harness.js';

export interface CorpusEntry {
  name: string;
  cls?: string;
  asm?: string;
  bytes?: string;
  init?: Record<string, unknown>;
  undefinedFlags?: string;
  undefinedRegs?: string[];
  expect?: Record<string, unknown>;
  /** 32: run in 32-bit compatibility mode (asm assembled with .code32); 16: 16-bit protected mode (.code16). */
  mode?: 64 | 32 | 16;
}

export interface CorpusCase {
  file: string;
  entry: CorpusEntry;
  c: SnippetCase;
}

const ENTRY_KEYS = new Set(['name', 'cls', 'asm', 'bytes', 'init', 'undefinedFlags', 'undefinedRegs', 'expect', 'mode']);

const GPRS = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];

function parseU64(v: unknown, what: string): bigint {
  if (typeof v === 'number') return BigInt.asUintN(64, BigInt(v));
  if (typeof v === 'string') {
    const neg = v.startsWith('-');
    const body = neg ? v.slice(1) : v;
    const n = BigInt(body.replace(/_/g, ''));
    return BigInt.asUintN(64, neg ? -n : n);
  }
  throw new TypeError(`${what}: expected a number or a "0x.." string, got ${JSON.stringify(v)}`);
}

function parseHex(s: string): number[] {
  const t = s.replace(/\s+/g, '');
  if (t.length % 2 !== 0 || /[^0-9a-fA-F]/.test(t)) throw new TypeError(`bad hex byte string "${s}"`);
  const out: number[] = [];
  for (let i = 0; i < t.length; i += 2) out.push(parseInt(t.slice(i, i + 2), 16));
  return out;
}

function applyData(data: Uint8Array, spec: unknown, what: string): void {
  if (spec === undefined) return;
  if (typeof spec !== 'object' || spec === null) throw new TypeError(`${what}: data must be { "offset": "hex bytes" }`);
  for (const [off, hex] of Object.entries(spec as Record<string, unknown>)) {
    if (typeof hex !== 'string') throw new TypeError(`${what}: data value must be a hex string`);
    const o = Number(off);
    const bytes = parseHex(hex);
    if (!(o >= 0 && o + bytes.length <= SNIPPET_DATA_SIZE)) throw new RangeError(`${what}: data at ${off} outside the ${SNIPPET_DATA_SIZE}-byte area`);
    data.set(bytes, o);
  }
}

/** Loads every corpus file (sorted) and assembles the asm entries in one `as` run. */
export function loadCorpus(dir: string, workDir: string): CorpusCase[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  const entries: { file: string; e: CorpusEntry }[] = [];
  for (const f of files) {
    const list = JSON.parse(readFileSync(join(dir, f), 'utf8')) as CorpusEntry[];
    for (const e of list) entries.push({ file: f, e });
  }
  const codes = assemble(entries.map((x) => x.e), workDir);
  return entries.map(({ file, e }, i) => {
    const where = `${file}: ${e.name}`;
    // A misspelt key (say "expcet") would silently drop a check: refuse unknown ones.
    for (const k of Object.keys(e)) if (!ENTRY_KEYS.has(k)) throw new TypeError(`${where}: unknown corpus key "${k}" (known: ${[...ENTRY_KEYS].join(', ')})`);
    if ((e.asm === undefined) === (e.bytes === undefined)) throw new TypeError(`${where}: give exactly one of "asm" and "bytes"`);
    const gpr = new BigUint64Array(16);
    // 16-bit mode addresses the stack as an offset in the data segment.
    gpr[4] = BigInt(e.mode === 16 ? SNIPPET_DATA_SIZE : SNIPPET_DEFAULT_RSP);
    const data = new Uint8Array(SNIPPET_DATA_SIZE);
    let rflags = 0;
    for (const [k, v] of Object.entries(e.init ?? {})) {
      if (k === 'flags') rflags = parseFlags(String(v));
      else if (k === 'data') applyData(data, v, where);
      else {
        const r = GPRS.indexOf(k);
        if (r < 0) throw new TypeError(`${where}: unknown init key "${k}"`);
        gpr[r] = parseU64(v, `${where}.${k}`);
      }
    }
    let undefinedGprs = 0;
    for (const r of e.undefinedRegs ?? []) {
      if (!GPRS.includes(r)) throw new TypeError(`${where}: unknown register "${r}" in undefinedRegs`);
      undefinedGprs |= 1 << GPRS.indexOf(r);
    }
    const code = codes[i] ?? new Uint8Array(0);
    const cls = e.cls ?? (e.asm ?? 'bytes').trim().split(/[\s;]+/)[0] ?? 'bytes';
    return {
      file,
      entry: e,
      c: {
        name: `corpus/${file.replace(/\.json$/, '')}: ${e.name}`,
        cls,
        code,
        gpr,
        rflags,
        data,
        flagsMask: (FLAGS_STATUS | FLAG_DF) & ~parseFlags(e.undefinedFlags ?? ''),
        undefinedGprs,
        mode: e.mode ?? 64,
      },
    };
  });
}

/** Assembles all asm entries in one GNU as run: each between labels c<i> and e<i>. */
function assemble(entries: readonly CorpusEntry[], workDir: string): Uint8Array[] {
  mkdirSync(workDir, { recursive: true });
  const lines = ['.intel_syntax noprefix', '.text'];
  entries.forEach((e, i) => {
    if (e.asm !== undefined) {
      lines.push(e.mode === 32 ? '.code32' : e.mode === 16 ? '.code16' : '.code64', `c${i}:`, ...e.asm.split(';').map((s) => '  ' + s.trim()), `e${i}:`);
    }
  });
  const src = join(workDir, 'corpus.s');
  const obj = join(workDir, 'corpus.o');
  const bin = join(workDir, 'corpus.bin');
  writeFileSync(src, lines.join('\n') + '\n');
  try {
    execFileSync('as', ['--64', '-o', obj, src], { stdio: ['ignore', 'pipe', 'pipe'] });
    execFileSync('objcopy', ['-O', 'binary', '-j', '.text', obj, bin], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new NativeHarnessError(`Cannot assemble the snippet corpus with GNU as (${src}): ${stderr || String(e)}`, e);
  }
  const text = readFileSync(bin);
  const syms = new Map<string, number>();
  for (const line of execFileSync('nm', [obj]).toString().split('\n')) {
    const m = /^([0-9a-f]+)\s+\w\s+(\S+)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) syms.set(m[2], parseInt(m[1], 16));
  }
  return entries.map((e, i) => {
    if (e.bytes !== undefined) return Uint8Array.from(parseHex(e.bytes));
    const a = syms.get(`c${i}`);
    const b = syms.get(`e${i}`);
    if (a === undefined || b === undefined) throw new NativeHarnessError(`corpus entry "${e.name}": labels missing after assembly`);
    return new Uint8Array(text.subarray(a, b));
  });
}

/** Expected result of a corpus case from its hand-written `expect`, or null when it has none. */
export function expectedResult(
  cc: CorpusCase,
): { vector: number; rip: bigint | null; gpr: BigUint64Array; flags: number; data: Uint8Array; errorCode: number | null } | null {
  const x = cc.entry.expect;
  if (x === undefined) return null;
  const where = `${cc.file}: ${cc.entry.name}`;
  const gpr = cc.c.gpr.slice();
  let flags = cc.c.rflags;
  let vector = VECTOR_NONE;
  let rip: bigint | null = null;
  let errorCode: number | null = null;
  const data = cc.c.data.slice();
  for (const [k, v] of Object.entries(x)) {
    if (k === 'flags') flags = parseFlags(String(v)) | (cc.c.rflags & FLAG_DF);
    else if (k === 'exception') {
      const entry = Object.entries(VECTOR_NAMES).find(([, n]) => n === v);
      if (entry === undefined) throw new TypeError(`${where}: unknown exception "${String(v)}"`);
      vector = Number(entry[0]);
    } else if (k === 'errorCode') errorCode = Number(v);
    else if (k === 'rip') rip = String(v).startsWith('+') ? BigInt(SNIPPET_CODE_BASE) + BigInt(String(v).slice(1)) : parseU64(v, `${where}.expect.rip`);
    else if (k === 'data') applyData(data, v, where);
    else {
      const r = GPRS.indexOf(k);
      if (r < 0) throw new TypeError(`${where}: unknown expect key "${k}"`);
      gpr[r] = parseU64(v, `${where}.expect.${k}`);
    }
  }
  if (vector === VECTOR_NONE && rip === null) rip = BigInt(SNIPPET_CODE_BASE + cc.c.code.length);
  return { vector, rip, gpr, flags, data, errorCode };
}

/** Differences between a (native) result and the hand-written expectation. */
export function checkExpectation(cc: CorpusCase, r: SnippetResult): string[] {
  const x = expectedResult(cc);
  if (x === null) return [];
  const out: string[] = [];
  const hex = (v: bigint): string => '0x' + v.toString(16);
  if (r.vector !== x.vector) out.push(`exception: expected ${VECTOR_NAMES[x.vector] ?? x.vector}, got ${VECTOR_NAMES[r.vector] ?? r.vector}`);
  if (x.rip !== null && r.rip !== x.rip) out.push(`rip: expected ${hex(x.rip)}, got ${hex(r.rip)}`);
  if (x.errorCode !== null && r.errorCode !== x.errorCode) out.push(`error code: expected 0x${x.errorCode.toString(16)}, got 0x${r.errorCode.toString(16)}`);
  const compat = cc.c.mode === 32 || cc.c.mode === 16;
  const m32 = (v: bigint | undefined): bigint => (compat ? (v ?? 0n) & 0xffffffffn : v ?? 0n);
  for (let i = 0; i < (compat ? 8 : 16); i++) {
    if (cc.c.undefinedGprs & (1 << i)) continue;
    if (m32(r.gpr[i]) !== m32(x.gpr[i])) out.push(`${GPRS[i]}: expected ${hex(m32(x.gpr[i]))}, got ${hex(m32(r.gpr[i]))}`);
  }
  const m = cc.c.flagsMask;
  if ((r.rflags & m) !== (x.flags & m)) out.push(`flags&0x${m.toString(16)}: expected 0x${(x.flags & m).toString(16)}, got 0x${(r.rflags & m).toString(16)}`);
  for (let i = 0; i < SNIPPET_DATA_SIZE; i++) {
    if (r.data[i] !== x.data[i]) {
      out.push(`data[0x${i.toString(16)}]: expected 0x${(x.data[i] ?? 0).toString(16)}, got 0x${(r.data[i] ?? 0).toString(16)}`);
      break;
    }
  }
  return out;
}
