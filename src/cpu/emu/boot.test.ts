import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, load, makeCpu } from './cpu-harness.test-util.js';
import { CS, EFER_LMA } from './x86-defs.js';

test('real mode -> protected mode -> long mode from hand-written code', () => {
  const t = makeCpu();
  const { mem, cpu } = t;
  cpu.reset();
  cpu.setSegRaw(CS, 0, 0, 0xffff, 0x9b);
  cpu.rip = 0x7c00;
  const real = `
    fa                ; cli
    0f 01 16 007e     ; lgdt [0x7e00]
    0f 20 c0          ; mov eax, cr0
    66 83 c8 01       ; or eax, 1
    0f 22 c0          ; mov cr0, eax
    ea 207c 0800      ; jmp 0x08:0x7c20`;
  const pm32 = `
    66 b8 1000        ; mov ax, 0x10
    8e d8             ; mov ds, ax
    8e d0             ; mov ss, ax
    bc 00900000       ; mov esp, 0x9000
    66 ba f803        ; mov dx, 0x3f8
    b0 50             ; mov al, 'P'
    ee                ; out dx, al
    0f 20 e0          ; mov eax, cr4
    83 c8 20          ; or eax, 0x20 (PAE)
    0f 22 e0          ; mov cr4, eax
    b8 00000100       ; mov eax, 0x10000
    0f 22 d8          ; mov cr3, eax
    b9 800000c0       ; mov ecx, IA32_EFER
    0f 32             ; rdmsr
    0d 00010000       ; or eax, LME
    0f 30             ; wrmsr
    0f 20 c0          ; mov eax, cr0
    0d 00000080       ; or eax, PG
    0f 22 c0          ; mov cr0, eax
    ea 807c0000 1800  ; jmp 0x18:0x7c80`;
  const lm64 = `
    48 b8 f0debc9a78563412 ; mov rax, 0x123456789abcdef0
    48 c1 c8 20       ; ror rax, 32
    b0 4c             ; mov al, 'L'
    66 ba f803        ; mov dx, 0x3f8 (RDMSR clobbered EDX)
    ee                ; out dx, al
    f4                ; hlt`;
  load(mem, 0x7c00, real);
  load(mem, 0x7c20, pm32);
  load(mem, 0x7c80, lm64);
  // GDT pointer and GDT: null, code32, data, code64
  load(mem, 0x7e00, '1f00 107e0000');
  load(mem, 0x7e10, '0000000000000000 ffff0000009acf00 ffff00000092cf00 ffff0000009aaf00');
  mem.writeU32(0x10000, 0x11000 | 3);
  mem.writeU32(0x11000, 0x12000 | 3);
  mem.writeU32(0x12000, 0x83);
  assert.equal(cpu.runUntilHalt(1000), 'hlt');
  assert.deepEqual(t.out, [0x50, 0x4c], JSON.stringify({ rip: cpu.rip.toString(16), exc: cpu.exceptionLog, cs: cpu.segSel[CS], efer: cpu.efer, cr0: cpu.cr0 }));
  assert.equal(cpu.getGpr(0), 0x9abcdef01234564cn);
  assert.equal(cpu.efer & EFER_LMA, EFER_LMA);
  assert.equal(cpu.codeSize, 8);
  assert.equal(cpu.segSel[CS], 0x18);
  // The mode switch left the accessed bit in the data descriptor (type 0x93).
  assert.equal(mem.readU32(0x7e10 + 0x10 + 4) & 0x100, 0x100);
  assert.equal(hex('0f 0b').length, 2);
});

test('self-modifying code: a write into the current block takes effect', () => {
  const t = makeCpu();
  const { mem, cpu } = t;
  cpu.setFlat32();
  // mov byte [0x1010], 0x42 ; ... at 0x100f: mov al, 0x00 (imm at 0x1010) ; hlt
  load(mem, 0x1000, 'c6 05 10100000 42  90 90 90 90 90 90 90 90  b0 00 f4');
  cpu.rip = 0x1000;
  // Run once so the block is decoded and cached, then restore and run again.
  cpu.runUntilHalt(100);
  assert.equal(cpu.gpr[2 * 0]! & 0xff, 0x42);
  mem.write(0x1010, Uint8Array.of(0));
  cpu.halted = false;
  cpu.rip = 0x1000;
  cpu.runUntilHalt(100);
  assert.equal(cpu.gpr[2 * 0]! & 0xff, 0x42);
  assert.ok(cpu.cache.invalidations > 0);
});
