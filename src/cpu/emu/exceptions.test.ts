import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, makeCpu, makeLong64Cpu, type TestCpu } from './cpu-harness.test-util.js';
import { CS, SS } from './x86-defs.js';

const GDT = 0x500;
const IDT = 0x3000;

function writeGdt(t: TestCpu): void {
  const d: [number, number][] = [
    [0, 0],
    [0x0000ffff, 0x00cf9a00], // 0x08 code32
    [0x0000ffff, 0x00cf9200], // 0x10 data
    [0x0000ffff, 0x00af9a00], // 0x18 code64
  ];
  d.forEach(([lo, hi], i) => {
    t.mem.writeU32(GDT + i * 8, lo >>> 0);
    t.mem.writeU32(GDT + i * 8 + 4, hi >>> 0);
  });
  t.cpu.gdtBase = GDT;
  t.cpu.gdtLimit = d.length * 8 - 1;
}

function gate32(t: TestCpu, vec: number, handler: number, present = true): void {
  t.mem.writeU32(IDT + vec * 8, ((0x08 << 16) | (handler & 0xffff)) >>> 0);
  t.mem.writeU32(IDT + vec * 8 + 4, ((handler & 0xffff0000) | (present ? 0x8e00 : 0x0e00)) >>> 0);
}

function setup32(): TestCpu {
  const t = makeCpu();
  t.cpu.setFlat32();
  writeGdt(t);
  t.cpu.idtBase = IDT;
  t.cpu.idtLimit = 256 * 8 - 1;
  t.cpu.gpr[2 * 4] = 0x8000;
  t.cpu.rip = 0x1000;
  return t;
}

test('32-bit protected mode: #GP with a selector error code, EIP of the faulting instruction', () => {
  const t = setup32();
  // mov ax, 0x1238; mov ds, ax
  load(t.mem, 0x1000, '66 b8 3812 8e d8 f4');
  gate32(t, 13, 0x2000);
  load(t.mem, 0x2000, '58 8b 1c 24 8b 4c 24 04 f4'); // pop eax; mov ebx,[esp]; mov ecx,[esp+4]; hlt
  assert.equal(t.cpu.runUntilHalt(1000), 'hlt');
  assert.equal(t.cpu.gpr[2 * 0], 0x1238);
  assert.equal(t.cpu.gpr[2 * 3], 0x1004, 'pushed EIP is the MOV DS');
  assert.equal(t.cpu.gpr[2 * 1], 0x08, 'pushed CS');
  assert.deepEqual(t.cpu.exceptionLog.map((e) => e.vector), [13]);
});

test('32-bit: INT n pushes the next EIP and clears IF through an interrupt gate', () => {
  const t = setup32();
  load(t.mem, 0x1000, 'fb cd 40 f4'); // sti; int 0x40; hlt
  gate32(t, 0x40, 0x2000);
  load(t.mem, 0x2000, '8b 1c 24 8b 4c 24 08 9c 58 f4'); // mov ebx,[esp]; mov ecx,[esp+8]; pushf; pop eax; hlt
  t.cpu.runUntilHalt(1000);
  assert.equal(t.cpu.gpr[2 * 3], 0x1003);
  assert.equal(t.cpu.gpr[2 * 1]! & 0x200, 0x200, 'saved EFLAGS had IF');
  assert.equal(t.cpu.gpr[2 * 0]! & 0x200, 0, 'handler runs with IF=0');
});

test('32-bit: a fault while delivering a contributory fault becomes #DF; a fault during #DF shuts down', () => {
  const t = setup32();
  load(t.mem, 0x1000, '66 b8 3812 8e d8 f4');
  gate32(t, 13, 0x2000, false); // #GP gate not present -> #NP while delivering #GP -> #DF
  gate32(t, 8, 0x2100);
  load(t.mem, 0x2100, '58 f4'); // pop eax (error code 0); hlt
  t.cpu.gpr[2 * 0] = 0x55;
  assert.equal(t.cpu.runUntilHalt(1000), 'hlt');
  assert.equal(t.cpu.gpr[2 * 0], 0);
  assert.deepEqual(t.cpu.exceptionLog.map((e) => e.vector), [13, 11, 8]);

  const u = setup32();
  load(u.mem, 0x1000, '0f 0b');
  u.cpu.idtLimit = 0; // every delivery faults: #UD -> #GP -> #DF -> shutdown
  assert.equal(u.cpu.run(1000), 'shutdown');
  assert.match(u.cpu.shutdownReason, /triple fault/);
});

test('real mode: INT n through the IVT pushes FLAGS, CS, IP', () => {
  const t = makeCpu();
  const c = t.cpu;
  c.setSegRaw(CS, 0, 0, 0xffff, 0x9b);
  c.setSegRaw(SS, 0, 0, 0xffff, 0x93);
  c.gpr[2 * 4] = 0x7000;
  c.rip = 0x1000;
  t.mem.writeU32(0x21 * 4, (0x0200 << 16) | 0x0010); // 0200:0010 = 0x2010
  load(t.mem, 0x1000, 'fb cd 21 f4');
  load(t.mem, 0x2010, '89 e5 8b 46 00 8b 5e 02 8b 4e 04 f4'); // mov bp,sp; mov ax,[bp]; mov bx,[bp+2]; mov cx,[bp+4]; hlt
  c.runUntilHalt(100);
  assert.equal(c.gpr[2 * 0]! & 0xffff, 0x1003, 'IP after INT');
  assert.equal(c.gpr[2 * 3]! & 0xffff, 0, 'CS');
  assert.equal(c.gpr[2 * 1]! & 0x200, 0x200, 'FLAGS.IF saved');
  assert.equal(c.getRflags() & 0x200, 0, 'IF cleared');
  assert.equal(c.segSel[CS], 0x200);
});

test('64-bit: #DE through a 16-byte gate with IST, full frame pushed on the IST stack', () => {
  const t = makeLong64Cpu();
  const { mem, cpu } = t;
  writeGdt(t);
  cpu.setSegRaw(CS, 0x18, 0, 0xffffffff, 0xa09b);
  // TSS64 at 0x4000 with IST1 = 0x9008 (misaligned on purpose: the CPU aligns RSP to 16)
  mem.writeU32(0x4000 + 0x24, 0x9008);
  cpu.setSegRaw(7, 0x28, 0x4000, 0x67, 0x8b);
  cpu.idtBase = IDT;
  cpu.idtLimit = 256 * 16 - 1;
  const h = 0x2000;
  mem.writeU32(IDT + 0, ((0x18 << 16) | h) >>> 0);
  mem.writeU32(IDT + 4, (0x8e00 | 1) >>> 0); // IST 1
  mem.writeU32(IDT + 8, 0);
  load(mem, 0x1000, '31 c9 f7 f1 f4'); // xor ecx,ecx; div ecx
  load(mem, 0x2000, '48 89 e0 48 8b 1c 24 48 8b 4c 24 08 48 8b 54 24 18 f4'); // mov rax,rsp; mov rbx,[rsp]; mov rcx,[rsp+8]; mov rdx,[rsp+24]; hlt
  cpu.gpr[2 * 4] = 0x8000;
  cpu.rip = 0x1000;
  cpu.runUntilHalt(100);
  assert.equal(cpu.getGpr(0), 0x9000n - 40n, 'frame of 5 qwords below the 16-byte aligned IST');
  assert.equal(cpu.getGpr(3), 0x1002n, 'RIP of DIV');
  assert.equal(cpu.getGpr(1), 0x18n, 'CS');
  assert.equal(cpu.getGpr(2), 0x8000n, 'old RSP');
});

test('TF single-step: #DB after each instruction with DR6.BS, the pushed EIP is the next instruction', () => {
  const t = setup32();
  // pushf; or dword [esp], 0x100; popf; nop; nop; hlt   -> traps after the first NOP and after the second
  load(t.mem, 0x1000, '9c 81 0c 24 00010000 9d 90 90 f4');
  gate32(t, 1, 0x2000);
  // handler: inc ebx; iret (TF is restored by IRET from the saved EFLAGS)
  load(t.mem, 0x2000, '43 cf');
  t.cpu.gpr[2 * 3] = 0;
  t.cpu.runUntilHalt(1000);
  assert.equal(t.cpu.gpr[2 * 3], 2, 'one #DB per instruction after POPF set TF (NOP, NOP)');
  assert.equal(t.cpu.dr[6]! & 0x4000, 0x4000);
});
