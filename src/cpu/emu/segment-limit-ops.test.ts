/**
 * MOV with a moffs operand and the string instructions check their segment's limit and type as a ModRM operand
 * does: #GP(0) past DS's or ES's limit (#SS(0) for an SS override), nothing written or moved at the faulting
 * element, and the same instructions run as before within the limit. REP STOS/MOVS take the element loop
 * when a segment needs the check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, makeCpu, type TestCpu } from './cpu-harness.test-util.js';
import { Seg } from './x86-defs.js';

const VEC_GP = 13;
const VEC_SS = 12;
const IDT = 0x6000;
const HANDLER = 0x5000;
const GDT = 0x7000;

/** 32-bit protected mode, flat except for DS (limit `dsLimit`) and ES (`esLimit`); an IDT whose #GP/#SS handlers halt. */
function machine(code: string, dsLimit: number, esLimit = 0xffffffff): TestCpu {
  const t = makeCpu();
  t.cpu.setFlat32();
  t.cpu.gpr[2 * 4] = 0x8000;
  load(t.mem, 0x1000, code + ' f4');
  load(t.mem, HANDLER, 'f4');
  for (const v of [VEC_SS, VEC_GP]) {
    // 32-bit interrupt gate to CS 0x08, HANDLER.
    t.mem.writeU32(IDT + v * 8, (0x08 << 16) | (HANDLER & 0xffff));
    t.mem.writeU32(IDT + v * 8 + 4, (HANDLER & 0xffff0000) | 0x8e00);
  }
  // The gate's CS: a flat 32-bit code descriptor at 0x08.
  t.mem.writeU32(GDT + 8, 0x0000ffff);
  t.mem.writeU32(GDT + 12, 0x00cf9a00);
  t.cpu.gdtBase = GDT;
  t.cpu.gdtLimit = 15;
  t.cpu.idtBase = IDT;
  t.cpu.idtLimit = 0xff * 8 + 7;
  t.cpu.setSegRaw(Seg.DS, 0x10, 0, dsLimit, 0x4093);
  t.cpu.setSegRaw(Seg.ES, 0x10, 0, esLimit, 0x4093);
  t.cpu.rip = 0x1000;
  return t;
}

function run(t: TestCpu, what: string): { vector: number; code: number } | null {
  assert.equal(t.cpu.runUntilHalt(10_000), 'hlt', `${what}: ${JSON.stringify(t.cpu.exceptionLog)}`);
  const e = t.cpu.exceptionLog[0];
  return e === undefined ? null : { vector: e.vector, code: e.code };
}

test('MOV AL/EAX, moffs and back fault past DS\'s limit, and work up to it', () => {
  // mov eax, [0x2ffc] / [0x2ffd]; mov [0x2fff], al / [0x3000], al; DS limit 0x2fff.
  for (const [code, fault] of [['a1 fc 2f 00 00', false], ['a1 fd 2f 00 00', true], ['a2 ff 2f 00 00', false], ['a2 00 30 00 00', true], ['66 a3 fe 2f 00 00', false], ['66 a3 ff 2f 00 00', true]] as const) {
    const t = machine(code, 0x2fff);
    t.mem.writeU32(0x2ffc, 0x11223344);
    t.cpu.gpr[2 * 0] = 0x55;
    const e = run(t, code);
    assert.deepEqual(e, fault ? { vector: VEC_GP, code: 0 } : null, code);
    if (!fault && code.startsWith('a1')) assert.equal(t.cpu.gpr[2 * 0], 0x11223344);
  }
});

test('string instructions fault at the element past the limit, having done the ones before', () => {
  const cases: { name: string; code: string; ds: number; es: number; vec: number | null; esi?: number; edi?: number; ecx?: number; left?: number }[] = [
    { name: 'LODSD within DS', code: 'ad', ds: 0x2fff, es: 0xffffffff, vec: null, esi: 0x2ffc },
    { name: 'LODSD past DS', code: 'ad', ds: 0x2fff, es: 0xffffffff, vec: VEC_GP, esi: 0x2ffd },
    { name: 'MOVSB source past DS', code: 'a4', ds: 0x2fff, es: 0xffffffff, vec: VEC_GP, esi: 0x3000, edi: 0x4000 },
    { name: 'MOVSB destination past ES', code: 'a4', ds: 0xffffffff, es: 0x3fff, vec: VEC_GP, esi: 0x2000, edi: 0x4000 },
    { name: 'STOSW past ES', code: '66 ab', ds: 0xffffffff, es: 0x3fff, vec: VEC_GP, edi: 0x3fff },
    { name: 'SCASB past ES', code: 'ae', ds: 0xffffffff, es: 0x3fff, vec: VEC_GP, edi: 0x4000 },
    { name: 'CMPSB source past DS', code: 'a6', ds: 0x2fff, es: 0xffffffff, vec: VEC_GP, esi: 0x3000, edi: 0x2000 },
    { name: 'LODSB through SS past its limit', code: '36 ac', ds: 0xffffffff, es: 0xffffffff, vec: VEC_SS, esi: 0x9000 },
    // REP STOSD from 0x3ff0, 8 elements, ES limit 0x3fff: four stored, ECX 4 left at the fault.
    { name: 'REP STOSD up to ES\'s limit', code: 'f3 ab', ds: 0xffffffff, es: 0x3fff, vec: VEC_GP, edi: 0x3ff0, ecx: 8, left: 4 },
    { name: 'REP MOVSD up to DS\'s limit', code: 'f3 a5', ds: 0x2fff, es: 0xffffffff, vec: VEC_GP, esi: 0x2ff0, edi: 0x4800, ecx: 8, left: 4 },
  ];
  for (const k of cases) {
    const t = machine(k.code, k.ds, k.es);
    if (k.name.includes('SS')) t.cpu.setSegRaw(Seg.SS, 0x10, 0, 0x8fff, 0x4093);
    t.cpu.gpr[2 * 6] = k.esi ?? 0;
    t.cpu.gpr[2 * 7] = k.edi ?? 0;
    t.cpu.gpr[2 * 1] = k.ecx ?? 0;
    t.cpu.gpr[2 * 0] = 0x5a5a5a5a;
    const e = run(t, k.name);
    assert.deepEqual(e, k.vec === null ? null : { vector: k.vec, code: 0 }, k.name);
    if (k.left !== undefined) {
      assert.equal(t.cpu.gpr[2 * 1], k.left, `${k.name}: ECX at the fault`);
      const start = k.edi!;
      const stored = k.code === 'f3 ab' ? [0, 1, 2, 3].map((n) => t.mem.readU32(start + n * 4)) : [];
      if (k.code === 'f3 ab') assert.deepEqual(stored, [0x5a5a5a5a, 0x5a5a5a5a, 0x5a5a5a5a, 0x5a5a5a5a], `${k.name}: the elements before`);
    }
  }
});
