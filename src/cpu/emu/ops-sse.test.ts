import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, makeCpu, run64 } from './cpu-harness.test-util.js';
import { CR4_OSFXSR } from './x86-defs.js';

test('SSE2 moves and PXOR as x86-64 C code uses them (CR4.OSFXSR set)', () => {
  const c = run64(
    `48 c7 c7 00400000      ; mov rdi, 0x4000
     48 c7 07 ffffffff      ; mov qword [rdi], -1
     66 0f ef c0            ; pxor xmm0, xmm0
     f3 0f 7f 07            ; movdqu [rdi], xmm0
     48 b8 efcdab8967452301 ; mov rax, 0x0123456789abcdef
     66 48 0f 6e c8         ; movq xmm1, rax
     66 0f 7f 4f 10         ; movdqa [rdi+16], xmm1
     0f 10 57 10            ; movups xmm2, [rdi+16]
     66 48 0f 7e d3         ; movq rbx, xmm2
     48 8b 0f               ; mov rcx, [rdi]
     48 8b 57 18            ; mov rdx, [rdi+24]`,
    (t) => {
      t.cpu.cr4 |= CR4_OSFXSR;
    },
  );
  assert.equal(c.getGpr(3), 0x0123456789abcdefn);
  assert.equal(c.getGpr(1), 0n, 'PXOR zeroed xmm0, MOVDQU stored it');
  assert.equal(c.getGpr(2), 0n, 'MOVQ zeroed the upper half of xmm1');
});

test('SSE without CR4.OSFXSR is #UD; MOVDQA to a misaligned address is #GP', () => {
  const t = makeCpu();
  t.mem.writeU32(0x10000, 0x11000 | 7);
  t.mem.writeU32(0x11000, 0x12000 | 7);
  t.mem.writeU32(0x12000, 0x87);
  load(t.mem, 0x1000, '66 0f ef c0 f4');
  t.cpu.setLong64(0x10000);
  t.cpu.rip = 0x1000;
  t.cpu.run(10); // no IDT: the #UD ends in a triple fault, the log keeps the first vector
  assert.equal(t.cpu.exceptionLog[0]?.vector, 6);
  const u = makeCpu();
  u.mem.writeU32(0x10000, 0x11000 | 7);
  u.mem.writeU32(0x11000, 0x12000 | 7);
  u.mem.writeU32(0x12000, 0x87);
  load(u.mem, 0x1000, '48 c7 c7 01400000 66 0f 7f 07 f4');
  u.cpu.setLong64(0x10000);
  u.cpu.cr4 |= CR4_OSFXSR;
  u.cpu.rip = 0x1000;
  u.cpu.run(10);
  assert.equal(u.cpu.exceptionLog[0]?.vector, 13);
});
