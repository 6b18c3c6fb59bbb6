/**
 * Case and result records of the x87/SSE differential tests, shared by the native runner
 * (tests/native/fpu-harness.c: keep the offsets in sync) and the emulator runner.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { NativeHarnessError, repoRoot } from './native-harness.js';

export const CODE_ADDR = 0x10000000;
export const DATA_ADDR = 0x20000000;

export const IN_SIZE = 384;
const IN_CODE = 0;
const IN_CODELEN = 32;
const IN_MXCSR = 36;
const IN_RFLAGS = 40;
const IN_FSAVE = 48;
const IN_XMM = 160;
const IN_MEM = 192;
const IN_RAX = 320;

export const OUT_SIZE = 512;
const OUT_VECTOR = 0;
const OUT_MXCSR = 4;
const OUT_RFLAGS = 8;
const OUT_RAX = 16;
const OUT_FSAVE = 24;
const OUT_FX = 136;
const OUT_XMM0 = 296;
const OUT_MEM = 312;
export const MEM_LEN = 128;

export interface FpuCase {
  code: Uint8Array;
  /** FRSTOR image (32-bit protected-mode layout, 108 bytes). */
  fsave: Uint8Array;
  mxcsr: number;
  rflags: number;
  rax: number;
  /** xmm0 then xmm1. */
  xmm: Uint8Array;
  mem: Uint8Array;
}

export interface FpuResult {
  /** 0: completed; otherwise the trap number (6 #UD, 16 #MF, 19 #XM, 13/14 faults). */
  vector: number;
  mxcsr: number;
  rflags: number;
  /** RAX, low and high 32 bits. */
  rax: number;
  raxHi: number;
  /** FNSAVE image after the instruction (zero after an exception). */
  fsave: Uint8Array;
  /** First 160 bytes of the FXSAVE image (header + ST slots). */
  fx: Uint8Array;
  xmm0: Uint8Array;
  mem: Uint8Array;
}

export function encodeCases(cases: readonly FpuCase[]): Buffer {
  const buf = Buffer.alloc(cases.length * IN_SIZE);
  cases.forEach((c, k) => {
    const o = k * IN_SIZE;
    buf.set(c.code.subarray(0, 31), o + IN_CODE);
    buf.writeUInt32LE(Math.min(c.code.length, 31), o + IN_CODELEN);
    buf.writeUInt32LE(c.mxcsr >>> 0, o + IN_MXCSR);
    buf.writeUInt32LE(c.rflags >>> 0, o + IN_RFLAGS);
    buf.set(c.fsave.subarray(0, 108), o + IN_FSAVE);
    buf.set(c.xmm.subarray(0, 32), o + IN_XMM);
    buf.set(c.mem.subarray(0, MEM_LEN), o + IN_MEM);
    buf.writeUInt32LE(c.rax >>> 0, o + IN_RAX);
  });
  return buf;
}

export function decodeResults(buf: Buffer): FpuResult[] {
  const out: FpuResult[] = [];
  for (let o = 0; o + OUT_SIZE <= buf.length; o += OUT_SIZE) {
    out.push({
      vector: buf.readUInt32LE(o + OUT_VECTOR),
      mxcsr: buf.readUInt32LE(o + OUT_MXCSR),
      rflags: buf.readUInt32LE(o + OUT_RFLAGS),
      rax: buf.readUInt32LE(o + OUT_RAX),
      raxHi: buf.readUInt32LE(o + OUT_RAX + 4),
      fsave: buf.subarray(o + OUT_FSAVE, o + OUT_FSAVE + 108),
      fx: buf.subarray(o + OUT_FX, o + OUT_FX + 160),
      xmm0: buf.subarray(o + OUT_XMM0, o + OUT_XMM0 + 16),
      mem: buf.subarray(o + OUT_MEM, o + OUT_MEM + MEM_LEN),
    });
  }
  return out;
}

/** Compiles the FPU harness into .cache/ when missing or older than its source. */
export function buildFpuHarness(root = repoRoot()): string {
  const src = join(root, 'tests', 'native', 'fpu-harness.c');
  const bin = join(root, '.cache', 'fpu-harness');
  mkdirSync(dirname(bin), { recursive: true });
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    try {
      execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', bin, src], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new NativeHarnessError(`Cannot build the native FPU harness with gcc (install gcc): ${stderr || String(e)}`, e);
    }
  }
  return bin;
}

/** Runs cases on the host CPU in one harness process. */
export function runFpuNative(cases: readonly FpuCase[], bin = buildFpuHarness()): FpuResult[] {
  const dir = join(resolve(dirname(bin)), 'fpu-cases');
  mkdirSync(dir, { recursive: true });
  const tag = `${process.pid}-${Date.now()}`;
  const inFile = join(dir, `cases-${tag}.bin`);
  const outFile = join(dir, `results-${tag}.bin`);
  writeFileSync(inFile, encodeCases(cases));
  try {
    execFileSync(bin, [inFile, outFile], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
  } catch (e) {
    rmSync(outFile, { force: true });
    const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new NativeHarnessError(`The native FPU harness failed on ${inFile} (kept for replay): ${stderr || String(e)}`, e);
  }
  let results: FpuResult[];
  try {
    results = decodeResults(readFileSync(outFile));
  } finally {
    rmSync(inFile, { force: true });
    rmSync(outFile, { force: true });
  }
  if (results.length !== cases.length) throw new NativeHarnessError(`FPU harness returned ${results.length} results for ${cases.length} cases`);
  return results;
}

/** An 80-bit value: sign+exponent word and significand halves. */
export interface F80Val {
  se: number;
  hi: number;
  lo: number;
}

/** Builds an FRSTOR image: registers given in ST order (ST0 first), tags as a full tag word. */
export function fsaveImage(cw: number, sw: number, tw: number, st: readonly F80Val[]): Uint8Array {
  const b = Buffer.alloc(108);
  b.writeUInt16LE(cw & 0xffff, 0);
  b.writeUInt16LE(sw & 0xffff, 4);
  b.writeUInt16LE(tw & 0xffff, 8);
  for (let i = 0; i < 8; i++) {
    const v = st[i] ?? { se: 0, hi: 0, lo: 0 };
    b.writeUInt32LE(v.lo >>> 0, 28 + i * 10);
    b.writeUInt32LE(v.hi >>> 0, 32 + i * 10);
    b.writeUInt16LE(v.se & 0xffff, 36 + i * 10);
  }
  return new Uint8Array(b);
}

export function hex80(v: F80Val): string {
  return `${(v.se & 0xffff).toString(16).padStart(4, '0')}:${(v.hi >>> 0).toString(16).padStart(8, '0')}${(v.lo >>> 0).toString(16).padStart(8, '0')}`;
}

export function readF80(b: Uint8Array, off: number): F80Val {
  const v = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return { lo: v.readUInt32LE(off), hi: v.readUInt32LE(off + 4), se: v.readUInt16LE(off + 8) };
}
