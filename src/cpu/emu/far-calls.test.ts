import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, makeCpu } from './cpu-harness.test-util.js';
import { CS, SS, TR } from './x86-defs.js';

test('far CALL through a 32-bit call gate from ring 3 switches to the TSS ring-0 stack', () => {
  const t = makeCpu();
  const { mem, cpu } = t;
  const GDT = 0x500;
  const desc: [number, number][] = [
    [0, 0],
    [0x0000ffff, 0x00cf9a00], // 0x08 ring-0 code
    [0x0000ffff, 0x00cf9200], // 0x10 ring-0 data
    [(0x08 << 16) | 0x3000, 0x0000ec00], // 0x18 call gate, DPL 3, 0 params -> 0x08:0x3000
    [0x0000ffff, 0x00cffa00], // 0x20 ring-3 code
    [0x0000ffff, 0x00cff200], // 0x28 ring-3 data
    [(0x4000 << 16) | 0x67, 0x00008900], // 0x30 32-bit TSS at 0x4000
  ];
  desc.forEach(([lo, hi], i) => {
    mem.writeU32(GDT + i * 8, lo >>> 0);
    mem.writeU32(GDT + i * 8 + 4, hi >>> 0);
  });
  mem.writeU32(0x4004, 0x9000); // ESP0
  mem.writeU32(0x4008, 0x10); // SS0
  cpu.setFlat32();
  cpu.gdtBase = GDT;
  cpu.gdtLimit = desc.length * 8 - 1;
  cpu.setSegRaw(TR, 0x30, 0x4000, 0x67, 0x8b);
  cpu.setSegRaw(CS, 0x23, 0, 0xffffffff, 0xc0fb);
  cpu.setSegRaw(SS, 0x2b, 0, 0xffffffff, 0xc0f3);
  assert.equal(cpu.cpl, 3);
  cpu.gpr[2 * 4] = 0x7000;
  cpu.rip = 0x1000;
  load(mem, 0x1000, '9a 00000000 1b00'); // call far 0x1b:0 (the offset is ignored for a gate)
  // ring 0: mov eax,[esp]; mov ebx,[esp+4]; mov ecx,[esp+8]; mov edx,[esp+12]; hlt
  load(mem, 0x3000, '8b 04 24 8b 5c 24 04 8b 4c 24 08 8b 54 24 0c f4');
  assert.equal(cpu.runUntilHalt(100), 'hlt');
  assert.deepEqual([cpu.gpr[2 * 0], cpu.gpr[2 * 3], cpu.gpr[2 * 1], cpu.gpr[2 * 2]], [0x1007, 0x23, 0x7000, 0x2b]);
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.segSel[SS], 0x10);
  assert.equal(cpu.gpr[2 * 4], 0x9000 - 16);
});

test('#DF through a task gate: hardware task switch to the #DF TSS, back link and NT set, TR busy', () => {
  const t = makeCpu();
  const { mem, cpu } = t;
  const GDT = 0x500;
  const IDT = 0x3000;
  const desc: [number, number][] = [
    [0, 0],
    [0x0000ffff, 0x00cf9a00], // 0x08 code
    [0x0000ffff, 0x00cf9200], // 0x10 data
    [(0x5000 << 16) | 0x67, 0x00008b00], // 0x18 TSS1 (busy, current)
    [(0x6000 << 16) | 0x67, 0x00008900], // 0x20 TSS2 (available)
  ];
  desc.forEach(([lo, hi], i) => {
    mem.writeU32(GDT + i * 8, lo >>> 0);
    mem.writeU32(GDT + i * 8 + 4, hi >>> 0);
  });
  // TSS2: EIP, EFLAGS, ESP, segment selectors.
  mem.writeU32(0x6000 + 0x20, 0x2100);
  mem.writeU32(0x6000 + 0x24, 2);
  mem.writeU32(0x6000 + 0x38, 0x9000);
  [0x10, 0x08, 0x10, 0x10, 0x10, 0x10].forEach((v, i) => mem.writeU32(0x6000 + 0x48 + i * 4, v));
  // IDT: #GP not present (-> #NP -> #DF), #DF = task gate to TSS2.
  mem.writeU32(IDT + 13 * 8, (0x08 << 16) | 0x2000);
  mem.writeU32(IDT + 13 * 8 + 4, 0x0e00);
  mem.writeU32(IDT + 8 * 8, (0x20 << 16) >>> 0);
  mem.writeU32(IDT + 8 * 8 + 4, 0x8500);
  cpu.setFlat32();
  cpu.gdtBase = GDT;
  cpu.gdtLimit = desc.length * 8 - 1;
  cpu.idtBase = IDT;
  cpu.idtLimit = 0x7ff;
  cpu.setSegRaw(TR, 0x18, 0x5000, 0x67, 0x8b);
  cpu.gpr[2 * 4] = 0x8000;
  cpu.rip = 0x1000;
  load(mem, 0x1000, '66 b8 3812 8e d8 f4'); // mov ax,0x1238; mov ds,ax -> #GP
  load(mem, 0x2100, '58 0f b7 1d 00600000 9c 59 f4'); // pop eax; movzx ebx, word [0x6000]; pushf; pop ecx; hlt
  assert.equal(cpu.runUntilHalt(100), 'hlt');
  assert.equal(cpu.gpr[2 * 0], 0, '#DF error code');
  assert.equal(cpu.gpr[2 * 3], 0x18, 'back link to the old task');
  assert.equal(cpu.gpr[2 * 1]! & 0x4000, 0x4000, 'NT set');
  assert.equal(cpu.segSel[TR], 0x20);
  assert.equal(mem.readU32(GDT + 0x20 + 4) & 0x200, 0x200, 'new TSS busy');
  assert.equal(mem.readU32(0x5000 + 0x20), 0x1004, 'old task saved the faulting EIP');
});
