/**
 * The architectural conditions around the SSE instructions that the native differential
 * test cannot reach from user space: CR0.EM/TS and CR4.OSFXSR/OSXMMEXCPT/OSXSAVE, XSETBV,
 * CPUID. (Results are checked bit for bit against the host in tests/differential/.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, makeLong64Cpu, run64, type TestCpu } from './cpu-harness.test-util.js';
import { CR0_EM, CR0_TS, CR4_OSFXSR, CR4_OSXMMEXCPT, CR4_OSXSAVE } from './x86-defs.js';

const VEC_UD = 6;
const VEC_NM = 7;
const VEC_GP = 13;
const VEC_XM = 19;

/** A 64-bit CPU at CPL 0 with `code` at 0x1000 (no IDT: the first exception is logged, then it triple-faults). */
function cpu64(code: string, cr4: number, setup?: (t: TestCpu) => void): TestCpu {
  const t = makeLong64Cpu();
  load(t.mem, 0x1000, code + ' f4');
  t.cpu.cr4 |= cr4;
  setup?.(t);
  t.cpu.run(100);
  return t;
}
const firstVector = (t: TestCpu): number | undefined => t.cpu.exceptionLog[0]?.vector;

test('SSE availability: #UD with CR0.EM or without CR4.OSFXSR, #NM with CR0.TS', () => {
  const paddb = '66 0f fc c1';
  assert.equal(firstVector(cpu64(paddb, 0)), VEC_UD);
  assert.equal(firstVector(cpu64(paddb, CR4_OSFXSR, (t) => void (t.cpu.cr0 |= CR0_EM))), VEC_UD);
  assert.equal(firstVector(cpu64(paddb, CR4_OSFXSR, (t) => void (t.cpu.cr0 |= CR0_TS))), VEC_NM);
  assert.equal(firstVector(cpu64(paddb, CR4_OSFXSR)), undefined);
});

test('an unmasked SIMD exception is #XM with CR4.OSXMMEXCPT, #UD without; MXCSR flagged, destination kept', () => {
  // xmm0 = 1.0f, xmm1 = 0; divss xmm0, xmm1 with ZM clear.
  const code = `b8 0000803f 66 0f 6e c0 0f 57 c9 c7 44 24 f8 801d0000 0f ae 54 24 f8 f3 0f 5e c1`;
  for (const [cr4, vec] of [[CR4_OSFXSR | CR4_OSXMMEXCPT, VEC_XM], [CR4_OSFXSR, VEC_UD]] as const) {
    const t = cpu64(code, cr4);
    assert.equal(firstVector(t), vec);
    assert.equal(t.cpu.mxcsr & 0x3f, 0x04, 'ZE set');
    assert.equal(t.cpu.xmm[0], 0x3f800000, 'xmm0 unchanged');
  }
  // Masked: the quotient is +inf and the flag is set.
  const c = run64(`b8 0000803f 66 0f 6e c0 0f 57 c9 f3 0f 5e c1 0f ae 5c 24 f8 8b 4c 24 f8`, (t) => void (t.cpu.cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT));
  assert.equal(c.xmm[0], 0x7f800000);
  assert.equal(c.gpr[2 * 1]! & 0x3f, 0x04);
});

test('LDMXCSR with a reserved bit and a misaligned FXSAVE area are #GP(0); FXSAVE with CR0.TS is #NM', () => {
  assert.equal(firstVector(cpu64('c7 44 24 f8 801f0100 0f ae 54 24 f8', CR4_OSFXSR)), VEC_GP);
  assert.equal(firstVector(cpu64('48 c7 c7 08400000 0f ae 07', CR4_OSFXSR)), VEC_GP);
  assert.equal(firstVector(cpu64('48 c7 c7 00400000 0f ae 07', CR4_OSFXSR, (t) => void (t.cpu.cr0 |= CR0_TS))), VEC_NM);
});

test('XSAVE feature set: #UD without CR4.OSXSAVE; XSETBV checks its value; XGETBV reads XCR0', () => {
  assert.equal(firstVector(cpu64('31 c9 0f 01 d0', CR4_OSFXSR)), VEC_UD);
  assert.equal(firstVector(cpu64('48 c7 c7 00400000 31 c0 31 d2 0f ae 27', CR4_OSFXSR)), VEC_UD);
  for (const v of [2, 7, 0]) assert.equal(firstVector(cpu64(`b8 ${v.toString(16).padStart(2, '0')}000000 31 d2 31 c9 0f 01 d1`, CR4_OSFXSR | CR4_OSXSAVE)), VEC_GP, `XCR0 = ${v}`);
  assert.equal(firstVector(cpu64('b9 01000000 0f 01 d0', CR4_OSFXSR | CR4_OSXSAVE)), VEC_GP, 'XGETBV ECX = 1');
  const t = cpu64('b8 03000000 31 d2 31 c9 0f 01 d1 31 c0 0f 01 d0', CR4_OSFXSR | CR4_OSXSAVE);
  assert.equal(firstVector(t), undefined);
  assert.equal(t.cpu.gpr[2 * 0], 3);
  // XSAVE area not 64-byte aligned: #GP.
  assert.equal(firstVector(cpu64('48 c7 c7 10400000 b8 03000000 31 d2 0f ae 27', CR4_OSFXSR | CR4_OSXSAVE)), VEC_GP);
});

test('XSAVE then XRSTOR with XSTATE_BV = 0 puts the SSE state in its initial configuration but loads MXCSR', () => {
  const t = cpu64(
    `db e3                                  ; fninit (RESET's FCW 0040h is not the x87's initial configuration)
     b8 03000000 31 d2 31 c9 0f 01 d1       ; XCR0 = x87 | SSE
     48 c7 c7 00400000                      ; rdi = 0x4000 (64-byte aligned)
     66 0f 76 c0                            ; pcmpeqd xmm0, xmm0 (all ones)
     0f ae 27                               ; xsave [rdi]
     48 8b b7 00020000                      ; rsi = XSTATE_BV
     48 c7 87 00020000 00000000             ; XSTATE_BV = 0
     c7 47 18 c0bf0000                      ; MXCSR image = 0xbfc0
     0f ae 2f                               ; xrstor [rdi]`,
    CR4_OSFXSR | CR4_OSXSAVE,
  );
  assert.equal(firstVector(t), undefined);
  assert.equal(t.cpu.xmm[0], 0);
  assert.equal(t.cpu.mxcsr, 0xbfc0);
  assert.equal(t.cpu.gpr[2 * 6]! & 3, 2, 'XSTATE_BV: SSE in use, x87 in its initial configuration');
});

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
  const t = makeLong64Cpu();
  load(t.mem, 0x1000, '66 0f ef c0 f4');
  t.cpu.run(10); // no IDT: the #UD ends in a triple fault, the log keeps the first vector
  assert.equal(t.cpu.exceptionLog[0]?.vector, 6);
  const u = makeLong64Cpu();
  load(u.mem, 0x1000, '48 c7 c7 01400000 66 0f 7f 07 f4');
  u.cpu.cr4 |= CR4_OSFXSR;
  u.cpu.run(10);
  assert.equal(u.cpu.exceptionLog[0]?.vector, 13);
});
