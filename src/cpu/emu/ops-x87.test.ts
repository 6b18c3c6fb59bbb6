import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCpu, run32 } from './cpu-harness.test-util.js';
import { decodeInsn } from './decoder.js';
import { CR0_EM, CR0_NE, CR0_TS, FAULT, VEC_NM, VEC_UD } from './x86-defs.js';
import { EmuCpu } from './cpu.js';
import { Bus } from '../bus.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { createEmuChipSet, FERR_IRQ, FERR_PORT } from './chips/chip-set.js';

const CR0_MP = 2;

test('x87 arithmetic runs through the decoder: sqrt(2) * pi stored as binary64, FNSTSW AX, FCOMIP', () => {
  // fninit (after RESET every exception is unmasked and every register valid); fld1; fadd st0,st0;
  // fsqrt; fldpi; fmulp; fstp qword [0x2000]; fldz; fld1; fcomip st0,st1; fstp st0; fnstsw ax; hlt
  const cpu = run32('db e3 d9 e8 d8 c0 d9 fa d9 eb de c9 dd 1d 00 20 00 00 d9 ee d9 e8 df f1 dd d8 df e0');
  const lo = cpu.memory.readU32(0x2000);
  const hi = cpu.memory.readU32(0x2004);
  const v = new Float64Array(new Uint32Array([lo, hi]).buffer)[0]!;
  assert.equal(v, Math.SQRT2 * Math.PI);
  assert.equal(cpu.gpr[2 * 0]! & 0xffff, cpu.x87.statusWord(), 'AX = FSW');
  assert.equal(cpu.getRflags() & 0x45, 0, 'FCOMIP: 1 > 0 clears ZF, PF, CF');
  assert.equal(cpu.x87.empty, 0xff, 'the stack is empty again');
});

function fault(cpu: EmuCpu, bytes: number[]): number {
  const x = decodeInsn(Uint8Array.from(bytes), 1);
  try {
    x.fn(cpu, x);
  } catch (e) {
    if (e !== FAULT) throw e;
    return cpu.excVec;
  }
  return -1;
}

test('#NM from CR0.EM or CR0.TS (WAIT: only MP and TS), #UD for an undefined form, #MF with CR0.NE', () => {
  const { cpu } = makeCpu();
  cpu.setFlat32();
  cpu.x87.init();
  cpu.cr0 |= CR0_TS;
  assert.equal(fault(cpu, [0xd8, 0xc1]), VEC_NM);
  assert.equal(fault(cpu, [0x9b]), -1, 'WAIT without MP');
  cpu.cr0 |= CR0_MP;
  assert.equal(fault(cpu, [0x9b]), VEC_NM);
  cpu.cr0 &= ~(CR0_TS | CR0_MP);
  cpu.cr0 |= CR0_EM;
  assert.equal(fault(cpu, [0xd9, 0xe8]), VEC_NM);
  cpu.cr0 &= ~CR0_EM;
  assert.equal(fault(cpu, [0xd9, 0xd1]), VEC_UD);
  // An unmasked zero-divide left pending: the next waiting instruction faults with #MF (16).
  cpu.x87.cw = 0x037b;
  cpu.x87.setStatusWord(0x8084);
  cpu.cr0 |= CR0_NE;
  assert.equal(fault(cpu, [0xd9, 0xe8]), 16);
  assert.equal(fault(cpu, [0x9b]), 16);
  assert.equal(fault(cpu, [0xdb, 0xe2]), -1, 'FNCLEX does not wait');
  assert.equal(cpu.x87.statusWord() & 0x80, 0);
});

test('with CR0.NE clear a pending exception asserts FERR# (IRQ 13) and the instruction runs; port F0h clears it', () => {
  const levels: boolean[] = [];
  const bytes = new Uint8Array(1 << 20);
  const memory = new GuestMemory([{ name: 'ram', gpa: 0, size: bytes.length, bytes }]);
  const pio = new Bus('pio');
  const mmio = new Bus('mmio');
  const cpu = new EmuCpu({ memory, pio, mmio, ferr: (l) => levels.push(l) });
  cpu.setFlat32();
  cpu.cr0 &= ~CR0_NE;
  cpu.x87.init();
  cpu.x87.cw = 0x037b;
  cpu.x87.setStatusWord(0x8084);
  assert.equal(fault(cpu, [0xd9, 0xe8]), -1, 'FLD1 runs');
  assert.deepEqual(levels, [true]);
  assert.equal(cpu.x87.top, 7);

  const chips = createEmuChipSet({ cpus: 1, clock: { nowNs: () => 0, tscHz: 1e9 }, pio, mmio });
  const seen: [number, boolean][] = [];
  const orig = chips.setIrq.bind(chips);
  chips.setIrq = (gsi: number, level: boolean): void => {
    seen.push([gsi, level]);
    orig(gsi, level);
  };
  pio.write(FERR_PORT, new Uint8Array([0]));
  assert.deepEqual(seen, [[FERR_IRQ, false]]);
});
