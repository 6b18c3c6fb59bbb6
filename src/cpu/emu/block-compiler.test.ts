/**
 * The block compiler against the interpreter: random blocks of the instructions it emits inline
 * (every row with a `jit` form: register, immediate and memory operands, 8-bit registers, flag
 * producers followed by every condition code), run in a loop until they are compiled, must
 * leave registers, flags and memory exactly as the interpreter does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCpu } from './cpu-harness.test-util.js';
import { tableRows } from './table/index.js';
import { encodeRow } from './table/row-encoder.test-util.js';
import { prng } from './table/row-cases.test-util.js';

const CODE = 0x1000;
const SCRATCH = 0x8000;
/** Registers the random instructions may use (EBX holds the scratch address, ESI counts taken branches, EBP the loop). */
const REGS = [0, 1, 2, 7];
const BYTE_REGS = [0, 1, 2, 4, 5, 6];
const JIT_ROWS = tableRows().filter((r) => r.jit !== null && r.jit !== 'jcc' && r.fn !== null && (r.modes & 2) !== 0);
const JCC = tableRows().filter((r) => r.jit === 'jcc' && r.map === 0);

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[rnd() % xs.length]!;
}

function randomInsn(rnd: () => number): Uint8Array {
  for (;;) {
    const r = pick(rnd, JIT_ROWS);
    // Byte operands name AL..DH (not BH: part of EBX); others EAX ECX EDX EDI. +r forms get ECX.
    const gByte = r.ops.some((o) => o.kind === 'G' && o.size === 'b');
    const eByte = r.ops.some((o) => o.kind === 'E' && o.size === 'b');
    const imm = rnd();
    const inst = encodeRow(r, { mode: 1, mem: (rnd() & 1) === 1, reg: pick(rnd, gByte ? BYTE_REGS : REGS), rm: pick(rnd, eByte ? BYTE_REGS : REGS), imm: (k) => (imm >>> ((k & 3) * 8)) & 0xff });
    if (inst !== null) return inst.bytes;
  }
}

/** A loop: random instructions, a random flag producer and Jcc over `inc esi`, `dec ebp; jnz`. */
function program(rnd: () => number): Uint8Array {
  const body: number[] = [];
  const n = 1 + (rnd() % 12);
  for (let k = 0; k < n; k++) body.push(...randomInsn(rnd));
  body.push(...randomInsn(rnd)); // often a flag producer right before the branch
  const jcc = pick(rnd, JCC);
  body.push(jcc.op, 1, 0x46); // jcc +1 over inc esi
  body.push(0x4d); // dec ebp
  const back = -(body.length + 2);
  body.push(0x75, back & 0xff, 0xf4); // jnz loop; hlt
  return Uint8Array.from([0xbd, 60, 0, 0, 0, ...body]); // mov ebp, 60
}

function runProgram(code: Uint8Array, seed: number, compile: boolean): { regs: number[]; flags: number; mem: number[]; compiled: boolean } {
  const t = makeCpu(1 << 20);
  t.mem.write(CODE, code);
  const rnd = prng(seed);
  const scratch = new Uint8Array(64);
  for (let i = 0; i < scratch.length; i++) scratch[i] = rnd() & 0xff;
  t.mem.write(SCRATCH, scratch);
  const cpu = t.cpu;
  cpu.compile = compile;
  cpu.jitThreshold = Math.min(cpu.jitThreshold, 40); // these loops run far fewer times than the default thresholds
  cpu.jitLate = Math.min(cpu.jitLate, 40);
  cpu.setFlat32();
  for (const r of REGS) cpu.gpr[r << 1] = rnd() | 0;
  cpu.gpr[2 * 3] = SCRATCH;
  cpu.gpr[2 * 4] = 0x9000;
  cpu.gpr[2 * 6] = 0;
  cpu.setRflags((rnd() & 0x8d5) | 2);
  cpu.rip = CODE;
  assert.equal(cpu.runUntilHalt(100_000), 'hlt');
  const regs = [...cpu.gpr];
  const mem = [...t.mem.read(SCRATCH, 64)];
  const compiled = cpu.jcBlock.some((b) => b !== undefined && (b.exec !== null || b.region !== null));
  return { regs, flags: cpu.getRflags(), mem, compiled };
}

test('compiled blocks match the interpreter on random inline-compilable instructions (registers, flags, memory)', () => {
  const rnd = prng(0xb10c);
  let compiledRuns = 0;
  const problems: string[] = [];
  for (let p = 0; p < 400; p++) {
    const code = program(rnd);
    const seed = rnd();
    const a = runProgram(code, seed, false);
    const b = runProgram(code, seed, true);
    if (b.compiled) compiledRuns++;
    const hex = [...code].map((v) => v.toString(16).padStart(2, '0')).join(' ');
    if (a.regs.join() !== b.regs.join()) problems.push(`${hex}: registers ${a.regs.map((v) => (v >>> 0).toString(16))} vs ${b.regs.map((v) => (v >>> 0).toString(16))}`);
    else if (a.flags !== b.flags) problems.push(`${hex}: flags ${a.flags.toString(16)} vs ${b.flags.toString(16)}`);
    else if (a.mem.join() !== b.mem.join()) problems.push(`${hex}: memory differs`);
  }
  assert.deepEqual(problems.slice(0, 5), []);
  assert.ok(compiledRuns > 300, `${compiledRuns} programs ran compiled`);
});
