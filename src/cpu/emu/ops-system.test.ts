import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, makeCpu, makeLong64Cpu } from './cpu-harness.test-util.js';
import { CS } from './x86-defs.js';

const GDT = 0x500;
const IDT = 0x3000;
const TR = 7;
const LDTR = 6;

/**
 * Linux keeps its TSS in the cpu_entry_area at 0xfffffe0000001000: the upper half of the 16-byte
 * descriptor's base is negative as an int32. LTR once added it as if it were unsigned and then
 * subtracted 2^64, so the first event that read the TSS (an IST gate, or a fault from user mode)
 * took #GP on a non-canonical stack and the machine triple-faulted at the first user instruction.
 */
test('64-bit: LTR/LLDT with a base above 2^47 (upper half negative as int32); IST delivery reads that TSS', () => {
  const t = makeCpu();
  const { mem, cpu } = t;
  // Identity-map 0..2 MiB, and 0xfffffe00_00000000 (PML4 508) -> physical 0x200000 (2 MiB page).
  mem.writeU32(0x10000, 0x11000 | 3);
  mem.writeU32(0x11000, 0x12000 | 3);
  mem.writeU32(0x12000, 0x83);
  mem.writeU32(0x10000 + 508 * 8, 0x13000 | 3);
  mem.writeU32(0x13000, 0x14000 | 3);
  mem.writeU32(0x14000, 0x200000 | 0x83);
  cpu.setLong64(0x10000);
  cpu.setSegRaw(CS, 0x18, 0, 0xffffffff, 0xa09b);
  const base = 0xfffffe00_00001000n;
  const lo = Number(base & 0xffffffffn);
  const sysDesc = (type: number): [number, number, number, number] => [
    ((lo & 0xffff) << 16) | 0x67,
    (lo & 0xff000000) | 0x8000 | (type << 8) | ((lo >>> 16) & 0xff),
    Number(base >> 32n),
    0,
  ];
  const gdt = [0, 0, 0x0000ffff, 0x00cf9a00, 0x0000ffff, 0x00cf9200, 0x0000ffff, 0x00af9a00, ...sysDesc(0x9), ...sysDesc(0x2)];
  gdt.forEach((w, k) => mem.writeU32(GDT + k * 4, w >>> 0));
  cpu.gdtBase = GDT;
  cpu.gdtLimit = gdt.length * 4 - 1;
  // TSS (physical 0x201000): IST1 = 0xfffffe00_00003008 (misaligned: the CPU aligns it down to 16).
  mem.writeU32(0x201000 + 0x24, 0x3008);
  mem.writeU32(0x201000 + 0x28, 0xfffffe00);
  cpu.idtBase = IDT;
  cpu.idtLimit = 256 * 16 - 1;
  mem.writeU32(IDT + 0x40 * 16, ((0x18 << 16) | 0x2000) >>> 0);
  mem.writeU32(IDT + 0x40 * 16 + 4, 0x8e01); // interrupt gate, IST 1
  // mov ax, 0x20; ltr ax; mov ax, 0x30; lldt ax; int 0x40
  load(mem, 0x1000, '66 b8 2000 0f 00 d8 66 b8 3000 0f 00 d0 cd 40');
  load(mem, 0x2000, '48 89 e0 f4'); // mov rax, rsp; hlt
  cpu.gpr[2 * 4] = 0x8000;
  cpu.rip = 0x1000;
  assert.equal(cpu.runUntilHalt(100), 'hlt', JSON.stringify(cpu.exceptionLog));
  assert.equal(cpu.segBase[TR], Number(BigInt.asIntN(64, base)), 'TR base is the signed canonical address');
  assert.equal(cpu.segBase[LDTR], Number(BigInt.asIntN(64, base)), 'LDTR base likewise');
  assert.equal(cpu.getGpr(0), 0xfffffe00_00003000n - 40n, 'the frame is on the IST stack the TSS names');
  assert.equal(mem.readU64(0x203000 - 40), 0x1010n, 'pushed RIP after INT');
  assert.equal(mem.readU32(GDT + 0x24) & 0x200, 0x200, 'the TSS descriptor is marked busy');
});

test('64-bit SYSEXIT: a non-canonical RDX (RIP) or RCX (RSP) is #GP(0) at the SYSEXIT, nothing changed', () => {
  for (const [what, rdx, rcx] of [
    ['RCX', 0x1100n, 0x0000_8000_0000_0000n],
    ['RDX', 0xffff_7fff_ffff_f000n, 0x8000n],
  ] as const) {
    const t = makeLong64Cpu();
    const { mem, cpu } = t;
    // GDT: null, 0x08 64-bit ring-0 code. IDT: #GP -> 0x2000 (HLT) through a 64-bit interrupt gate.
    [0, 0, 0x0000ffff, 0x00af9a00].forEach((w, k) => mem.writeU32(GDT + k * 4, w >>> 0));
    cpu.gdtBase = GDT;
    cpu.gdtLimit = 15;
    cpu.setSegRaw(CS, 0x08, 0, 0xffffffff, 0xa09b);
    mem.writeU32(IDT + 13 * 16, ((0x08 << 16) | 0x2000) >>> 0);
    mem.writeU32(IDT + 13 * 16 + 4, 0x8e00);
    cpu.idtBase = IDT;
    cpu.idtLimit = 256 * 16 - 1;
    cpu.sysenterCs = 0x10;
    load(mem, 0x1000, '48 0f 35'); // sysexit (64-bit)
    load(mem, 0x2000, 'f4');
    cpu.setGpr(2, rdx);
    cpu.setGpr(1, rcx);
    assert.equal(cpu.runUntilHalt(100), 'hlt', what);
    assert.deepEqual(cpu.exceptionLog.map((e) => [e.vector, e.code, e.rip]), [[13, 0, 0x1000]], `${what}: one #GP(0) at the SYSEXIT`);
    assert.equal(cpu.cpl, 0, `${what}: still CPL 0`);
    assert.equal(cpu.getGpr(4), 0x8000n - 48n, `${what}: RSP is the ring-0 stack with the fault's frame (5 qwords and the error code), not RCX`);
  }
});
