/**
 * The register file's layout, shared by the interpreter and compiled wasm code: register n's low half at
 * EmuCpu.gpr[2n] and its high half at gpr[2n + 1], which in the slot is the little-endian i64 at Slot.Gpr + 8n
 * that compiled code reads and writes with one i64 access (wasm-regs.ts). A half swapped or an index shifted on
 * either side is silent in most code (a register read and written by the same side), so each register is checked
 * here: through the slot's bytes, and through guest code run by the interpreter and compiled.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first and imports the harness
 * after (node --test runs each file in a process of its own).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Slot } from './wasm-arena.js';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { load, makeLong64Cpu } = await import('../cpu-harness.test-util.js');

const M64 = (1n << 64n) - 1n;
/** A value for register r whose halves differ from each other and from every other register's. */
const initial = (r: number): bigint => (BigInt(0x9e37_79b9 + r * 0x0101_0101) << 32n) | BigInt(0x7f4a_7c15 - r * 0x0303_0303);

test("each register's halves are the little-endian i64 at 8n in the slot", () => {
  const { cpu } = makeLong64Cpu();
  assert.ok(cpu.wasm !== null, 'the vCPU runs with the wasm tier');
  const slot = new DataView(cpu.wasm.memory.buffer, cpu.wslot + Slot.Gpr, 16 * 8);
  for (let r = 0; r < 16; r++) cpu.setGpr(r, initial(r));
  for (let r = 0; r < 16; r++) {
    const v = initial(r);
    assert.equal(slot.getBigUint64(8 * r, true), v, `register ${r} in the slot`);
    assert.equal(cpu.gpr[2 * r]! >>> 0, Number(v & 0xffff_ffffn), `register ${r}'s low half`);
    assert.equal(cpu.gpr[2 * r + 1]! >>> 0, Number(v >> 32n), `register ${r}'s high half`);
  }
  slot.setBigUint64(8 * 11, 0x0123_4567_89ab_cdefn, true);
  assert.equal(cpu.getGpr(11), 0x0123_4567_89ab_cdefn, 'a write to the slot is the register');
});

/** `op r/m, r` with register operands: REX (W for 64 bits, R and B for registers 8-15) when needed, opcode, ModRM. */
function rr(op: number, w: boolean, dst: number, src: number): string {
  const rex = (w ? 8 : 0) | (src >= 8 ? 4 : 0) | (dst >= 8 ? 1 : 0);
  const bytes = [...(rex !== 0 ? [0x40 | rex] : []), op, 0xc0 | ((src & 7) << 3) | (dst & 7)];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join('');
}

// Every register as a 64-bit destination and source (ADD), then as a 32-bit one (XOR: the high half zeroed), then
// 64-bit again over those 32-bit results.
const STEPS: readonly { w: boolean; op: 'add' | 'xor'; k: number }[] = [
  { w: true, op: 'add', k: 5 },
  { w: false, op: 'xor', k: 3 },
  { w: true, op: 'add', k: 7 },
];
const CODE = STEPS.flatMap((s) => Array.from({ length: 16 }, (_, r) => rr(s.op === 'add' ? 0x01 : 0x31, s.w, r, (r + s.k) & 15))).join(' ');

function expected(): bigint[] {
  const v = Array.from({ length: 16 }, (_, r) => initial(r));
  for (const s of STEPS) {
    for (let r = 0; r < 16; r++) {
      const src = v[(r + s.k) & 15]!;
      v[r] = s.op === 'add' ? (v[r]! + src) & M64 : (v[r]! ^ src) & 0xffff_ffffn;
    }
  }
  return v;
}

function run(compile: boolean): { regs: bigint[]; regions: number } {
  const t = makeLong64Cpu();
  const cpu = t.cpu;
  cpu.compile = compile;
  load(t.mem, 0x1000, CODE + ' f4');
  for (let r = 0; r < 16; r++) cpu.setGpr(r, initial(r));
  assert.equal(cpu.runUntilHalt(10_000), 'hlt');
  return { regs: Array.from({ length: 16 }, (_, r) => cpu.getGpr(r)), regions: cpu.jitStats.regions };
}

test('64- and 32-bit reads and writes of each register: compiled code agrees with the interpreter', () => {
  const want = expected();
  const interp = run(false);
  assert.deepEqual(interp.regs, want, 'interpreted');
  const jit = run(true);
  assert.ok(jit.regions >= 1, 'the block was compiled');
  assert.deepEqual(jit.regs, want, 'compiled');
});
