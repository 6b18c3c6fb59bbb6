import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeInsn } from './decoder.js';
import { EA_16, EA_32, EA_32L, EA_64 } from './insn.js';
import { DS, ES, FS, GS, SEG_FLAT, SS } from './x86-defs.js';
import * as A from './ops-alu.js';
import * as F from './ops-flow.js';

const hex = (s: string): Uint8Array => Uint8Array.from(s.replace(/\s+/g, '').match(/../g)!.map((h) => parseInt(h, 16)));
const M16 = 0;
const M32 = 1;
const M64 = 2;

test('32-bit ModRM with SIB, scale, disp32 and segment override', () => {
  // mov eax, es:[ebx + esi*4 + 0x12345678]
  const x = decodeInsn(hex('26 8b 84 b3 78563412'), M32);
  assert.equal(x.end, 8);
  assert.equal(x.mod, 2);
  assert.equal(x.reg, 0);
  assert.equal(x.base, 3);
  assert.equal(x.index, 6);
  assert.equal(x.scale, 2);
  assert.equal(x.disp, 0x12345678);
  assert.equal(x.seg, ES);
  assert.equal(x.ak, EA_32);
  assert.equal(x.osz, 4);
});

test('EBP/ESP bases default to SS, no-base SIB uses disp32', () => {
  const a = decodeInsn(hex('8b 45 fc'), M32); // mov eax,[ebp-4]
  assert.equal(a.seg, SS);
  assert.equal(a.disp, -4);
  const b = decodeInsn(hex('8b 04 24'), M32); // mov eax,[esp]
  assert.equal(b.seg, SS);
  assert.equal(b.base, 4);
  assert.equal(b.index, -1);
  const c = decodeInsn(hex('8b 04 8d 00100000'), M32); // mov eax,[ecx*4+0x1000]
  assert.equal(c.base, -1);
  assert.equal(c.index, 1);
  assert.equal(c.scale, 2);
  assert.equal(c.disp, 0x1000);
  assert.equal(c.seg, DS);
});

test('16-bit addressing forms', () => {
  const a = decodeInsn(hex('8b 02'), M16); // mov ax,[bp+si]
  assert.equal(a.ak, EA_16);
  assert.equal(a.osz, 2);
  assert.deepEqual([a.base, a.index, a.seg], [5, 6, SS]);
  const b = decodeInsn(hex('8b 06 3412'), M16); // mov ax,[0x1234]
  assert.deepEqual([b.base, b.index, b.disp, b.end], [-1, -1, 0x1234, 4]);
  const c = decodeInsn(hex('66 67 8b 03'), M16); // mov eax,[ebx]
  assert.equal(c.osz, 4);
  assert.equal(c.ak, EA_32);
  assert.equal(c.base, 3);
});

test('operand and address size prefixes in 32-bit and 64-bit mode', () => {
  assert.equal(decodeInsn(hex('66 89 c8'), M32).osz, 2);
  assert.equal(decodeInsn(hex('89 c8'), M64).osz, 4);
  assert.equal(decodeInsn(hex('48 89 c8'), M64).osz, 8);
  assert.equal(decodeInsn(hex('66 48 89 c8'), M64).osz, 8, 'REX.W wins over 66');
  assert.equal(decodeInsn(hex('67 8b 00'), M64).ak, EA_32L);
  assert.equal(decodeInsn(hex('8b 00'), M64).ak, EA_64);
});

test('REX extends reg, base and index; REX before another prefix is ignored', () => {
  // mov r9, [r10 + r11*8 + 8]
  const x = decodeInsn(hex('4f 8b 4c da 08'), M64);
  assert.deepEqual([x.osz, x.reg, x.base, x.index, x.scale, x.disp], [8, 9, 10, 11, 3, 8]);
  // r12/r13 as base do not default to SS
  assert.equal(decodeInsn(hex('41 8b 04 24'), M64).base, 12);
  // 48 66 89 c8: the REX is not last, so it is dropped: 16-bit move
  const y = decodeInsn(hex('48 66 89 c8'), M64);
  assert.equal(y.osz, 2);
});

test('RIP-relative addressing and FS/GS in 64-bit mode', () => {
  const x = decodeInsn(hex('8b 05 10000000'), M64); // mov eax,[rip+0x10]
  assert.equal(x.ripRel, true);
  assert.equal(x.disp, 0x10);
  assert.equal(x.end, 6);
  assert.equal(x.seg, SEG_FLAT);
  assert.equal(decodeInsn(hex('64 8b 00'), M64).seg, FS);
  assert.equal(decodeInsn(hex('65 8b 00'), M64).seg, GS);
  assert.equal(decodeInsn(hex('26 8b 00'), M64).seg, SEG_FLAT, 'ES override is ignored in 64-bit mode');
  // In 32-bit mode, mod=00 rm=101 is an absolute disp32
  assert.equal(decodeInsn(hex('8b 05 10000000'), M32).ripRel, false);
});

test('byte registers: AH..BH without REX, SPL..DIL with REX', () => {
  const a = decodeInsn(hex('88 e0'), M64); // mov al, ah
  assert.deepEqual([a.osz, a.rm, a.reg], [1, 0, 16]);
  const b = decodeInsn(hex('40 88 e0'), M64); // mov al, spl
  assert.deepEqual([b.rm, b.reg], [0, 4]);
});

test('immediates: sign-extended imm8, imm32 to 64 bits, imm64', () => {
  const a = decodeInsn(hex('83 c0 ff'), M32); // add eax,-1
  assert.equal(a.imm, -1);
  assert.equal(a.fn, A.add32ri);
  const b = decodeInsn(hex('48 81 c0 00000080'), M64); // add rax,0xffffffff80000000
  assert.equal(b.imm, -0x80000000);
  assert.equal(b.immHi, -1);
  const c = decodeInsn(hex('48 b8 efcdab8967452301'), M64); // mov rax, imm64
  assert.equal(c.imm, 0x89abcdef | 0);
  assert.equal(c.immHi, 0x01234567);
  assert.equal(c.end, 10);
  const d = decodeInsn(hex('66 83 c0 ff'), M32); // add ax,-1
  assert.equal(d.imm, 0xffff);
});

test('branches: rel8/rel32, 64-bit default operand size, Jcc fast paths', () => {
  const a = decodeInsn(hex('75 fe'), M32);
  assert.equal(a.fn, F.jnz);
  assert.equal(a.imm, -2);
  const b = decodeInsn(hex('0f 8c 00010000'), M64);
  assert.equal(b.fn, F.jcc);
  assert.equal(b.op, 0xc);
  assert.equal(b.osz, 8);
  assert.equal(decodeInsn(hex('50'), M64).osz, 8, 'push defaults to 64-bit');
  assert.equal(decodeInsn(hex('66 50'), M64).osz, 2);
});

test('LOCK on a register destination or non-RMW instruction decodes to #UD; too-long instructions to #GP', () => {
  assert.notEqual(decodeInsn(hex('f0 01 03'), M32).fn, A.aluEG === undefined ? null : undefined); // sanity
  assert.equal(decodeInsn(hex('f0 01 03'), M32).fn, A.aluEG); // lock add [ebx],eax is fine
  const bad = decodeInsn(hex('f0 01 c3'), M32); // lock add ebx,eax
  assert.notEqual(bad.fn, A.aluEG);
  assert.notEqual(decodeInsn(hex('f0 90'), M32).fn, A.aluEG);
  // 15 bytes of prefixes + opcode = 16 bytes: #GP
  const long = decodeInsn(hex('66'.repeat(15) + '90'), M32);
  assert.notEqual(long.end, 0);
});

test('a string instruction without REP goes on in its block; with REP, and INS/OUTS, it ends it', async () => {
  const { load, makeLong64Cpu } = await import('./cpu-harness.test-util.js');
  const { decodeBlock } = await import('./decoder.js');
  const t = makeLong64Cpu();
  const lens = (h: string): number[] => {
    load(t.mem, 0x1000, h);
    return decodeBlock(t.cpu, 0x1000, 0x1000).insns.map((x) => x.end - x.start);
  };
  // movsb; cmpsb; stosq; lodsd; scasb; nop; rep movsb; nop
  assert.deepEqual(lens('a4 a6 48 ab ad ae 90 f3 a4 90'), [1, 1, 2, 1, 1, 1, 2]);
  // insb ends its block, as port I/O does; so does outsb
  assert.deepEqual(lens('6c 90'), [1]);
  assert.deepEqual(lens('6e 90'), [1]);
  // repne scasb
  assert.deepEqual(lens('f2 ae 90'), [2]);
});
