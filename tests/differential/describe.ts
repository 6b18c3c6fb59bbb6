/**
 * Readable descriptions of snippet cases for mismatch reports: opcode bytes, a
 * disassembly from binutils objdump (only for the few cases printed), the inputs that
 * matter and the native/emu differences.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  flagNames, SNIPPET_CODE_BASE, VECTOR_NAMES, type SnippetCase, type SnippetDifference, type SnippetResult,
} from '../../src/cpu/emu/testing/snippet-case.js';

const GPRS = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];

export const hexBytes = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');

/** objdump's Intel-syntax disassembly of the snippet, one instruction per line ("?" if objdump fails). */
let seq = 0;

export function disassemble(code: Uint8Array, workDir: string, mode: 64 | 32 | 16 = 64): string {
  const f = join(workDir, `snippet-${process.pid}-${seq++}.bin`);
  try {
    mkdirSync(workDir, { recursive: true });
    writeFileSync(f, code);
    const machine = mode === 64 ? 'i386:x86-64' : mode === 32 ? 'i386' : 'i8086';
    const out = execFileSync('objdump', ['-D', '-b', 'binary', `-m${machine}`, '-M', 'intel', `--adjust-vma=0x${(mode === 16 ? 0 : SNIPPET_CODE_BASE).toString(16)}`, f], {
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
    return out
      .split('\n')
      .filter((l) => /^\s+[0-9a-f]+:\t/.test(l))
      .map((l) => l.split('\t').slice(2).join(' ').trim())
      .filter((l) => l !== '')
      .join('; ');
  } catch {
    return '?';
  } finally {
    rmSync(f, { force: true });
  }
}

export function describeMismatch(c: SnippetCase, ref: SnippetResult, got: SnippetResult, diffs: readonly SnippetDifference[], workDir: string): string {
  const regs = GPRS.map((n, i) => `${n}=0x${(c.gpr[i] ?? 0n).toString(16)}`).join(' ');
  const lines = [
    `${c.name}  [${c.cls}]`,
    `  code:   ${hexBytes(c.code)}   (${disassemble(c.code, workDir, c.mode ?? 64)}${c.mode === 32 ? '; 32-bit mode' : c.mode === 16 ? '; 16-bit mode' : ''})`,
    `  input:  ${regs} flags=${flagNames(c.rflags)}`,
    `  native: ${VECTOR_NAMES[ref.vector] ?? ref.vector}  emu: ${VECTOR_NAMES[got.vector] ?? got.vector}`,
    ...diffs.map((d) => `  ${d.what}: native ${d.expected}  emu ${d.actual}`),
  ];
  return lines.join('\n');
}
