/**
 * The run loop's `switch (x.k)` (run-loop.ts) calls each inline kind's handler directly. These check that the hot
 * forms get a kind, that the kind is their own handler's, and that running one through the run loop's case does
 * what its handler does when called as `x.fn(c, x)`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INLINE } from './inline-kinds.js';
import { decodeInsn } from './decoder.js';
import { hex, load, makeLong64Cpu, makeCpu, setupFlat32, type TestCpu } from './cpu-harness.test-util.js';

/** [encoding, what it is]: 64-bit forms, each run alone from 0x1000. */
const FORMS64: readonly (readonly [string, string])[] = [
  ['4883c105', 'add rcx,5'],
  ['830007', 'add dword [rax],7'],
  ['0fb60b', 'movzx ecx,byte [rbx]'],
  ['4801d1', 'add rcx,rdx'],
  ['0110', 'add [rax],edx'],
  ['488913', 'mov [rbx],rdx'],
  ['8813', 'mov [rbx],dl'],
  ['668913', 'mov [rbx],dx'],
  ['4885d1', 'test rcx,rdx'],
  ['c1e103', 'shl ecx,3'],
  ['8b0b', 'mov ecx,[rbx]'],
  ['488d4c8308', 'lea rcx,[rbx+rax*4+8]'],
  ['488910', 'mov [rax],rdx'],
  ['8d4c8308', 'lea ecx,[rbx+rax*4+8]'],
  ['488b0b', 'mov rcx,[rbx]'],
  ['8910', 'mov [rax],edx'],
  ['53', 'push rbx'],
  ['5b', 'pop rbx'],
  ['eb05', 'jmp short +5'],
  ['c3', 'ret'],
  ['e810000000', 'call +0x10'],
  ['48d3e2', 'shl rdx,cl'],
  ['48030b', 'add rcx,[rbx]'],
  ['ffe6', 'jmp rsi'],
  ['480fafca', 'imul rcx,rdx'],
  ['b978563412', 'mov ecx,0x12345678'],
  ['6bca07', 'imul ecx,edx,7'],
  ['668b0b', 'mov cx,[rbx]'],
  ['f7c1ff000000', 'test ecx,0xff'],
  ['c70044332211', 'mov dword [rax],0x11223344'],
  ['4863ca', 'movsxd rcx,edx'],
  ['0fbe0b', 'movsx ecx,byte [rbx]'],
  ['90', 'nop'],
  ['0f1f00', 'nop dword [rax]'],
  ['01d1', 'add ecx,edx'],
  ['75fe', 'jnz -2'],
];

/** 32-bit (flat protected mode) forms. */
const FORMS32: readonly (readonly [string, string])[] = [
  ['53', 'push ebx'],
  ['5b', 'pop ebx'],
  ['c3', 'ret'],
  ['e810000000', 'call +0x10'],
  ['8b0b', 'mov ecx,[ebx]'],
  ['8910', 'mov [eax],edx'],
];

/** The same registers and data in both vCPUs: bases into a data page at 0x4000, the stack at 0x8000. */
function seed(t: TestCpu): void {
  const c = t.cpu;
  const vals = [0x4000, 3, 0x9abcdef1, 0x4010, 0x7ff0, 0x4200, 0x4020, 0x4100];
  vals.forEach((v, r) => {
    c.gpr[r << 1] = v | 0;
    c.gpr[(r << 1) | 1] = 0;
  });
  for (let r = 8; r < 16; r++) c.gpr[r << 1] = (r * 0x1234567) | 0;
  for (let a = 0x4000; a < 0x4400; a += 4) t.mem.writeU32(a, (a * 0x9e3779b1) >>> 0);
  t.mem.writeU32(0x7ff0, 0x1100); // a return address for RET
  c.setRflags(0x2 | 0x40 | 0x1);
}

function state(t: TestCpu): string {
  const c = t.cpu;
  const mem: number[] = [];
  for (let a = 0x4000; a < 0x4400; a += 4) mem.push(t.mem.readU32(a));
  for (let a = 0x7f00; a < 0x8000; a += 4) mem.push(t.mem.readU32(a));
  return JSON.stringify({ gpr: [...c.gpr], rip: c.rip, flags: c.getRflags(), mem });
}

function check(forms: readonly (readonly [string, string])[], make: () => TestCpu, mode: number): Set<number> {
  const seen = new Set<number>();
  for (const [code, what] of forms) {
    const x = decodeInsn(hex(code), mode);
    assert.notEqual(x.k, 0, `${what}: an inline kind`);
    const pair = INLINE.find(([k]) => k === x.k);
    assert.ok(pair !== undefined && pair[1] === x.fn, `${what}: its kind is its handler's (${x.fn.name})`);
    seen.add(x.k);
    const viaLoop = make();
    const direct = make();
    for (const t of [viaLoop, direct]) {
      seed(t);
      load(t.mem, 0x1000, code + 'f4');
    }
    viaLoop.cpu.compile = false; // the interpreter's switch, whatever TSVMM_JIT says
    viaLoop.cpu.run(1);
    direct.cpu.bip = 0x1000;
    direct.cpu.rip = 0x1000 + x.end;
    x.fn(direct.cpu, x);
    assert.equal(state(viaLoop), state(direct), what);
  }
  return seen;
}

test('the hot forms run through their own handler in the run loop, as x.fn(c, x) runs them', () => {
  const seen = check(FORMS64, makeLong64Cpu, 2);
  const flat = (): TestCpu => {
    const t = makeCpu();
    setupFlat32(t.cpu, t.mem, 0x1000);
    return t;
  };
  for (const k of check(FORMS32, flat, 1)) seen.add(k);
  // Every kind but those of the 32-bit register ALU forms checked here is covered (they have tests of their own).
  const missing = INLINE.filter(([k]) => !seen.has(k)).map(([, h]) => h.name);
  assert.deepEqual(missing.filter((n) => !/32r[ri]$|^incdec32r$|^jz$/.test(n)), []);
});
