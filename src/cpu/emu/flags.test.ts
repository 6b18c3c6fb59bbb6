import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run32, run64 } from './cpu-harness.test-util.js';
import { AF, CF, OF, PF, SF, ZF } from './flags.js';

const ARITH = CF | PF | AF | ZF | SF | OF;
const f = (c: { getRflags(): number }): number => c.getRflags() & ARITH;
const EAX = 0;
const EBX = 3;
const ECX = 1;

test('ADD: carry, overflow, zero, auxiliary carry, parity (SDM ADD)', () => {
  // add eax, ebx
  let c = run32('01 d8', { [EAX]: 0x7fffffff, [EBX]: 1 });
  assert.equal(c.gpr[2 * 0], 0x80000000 | 0);
  assert.equal(f(c), OF | SF | AF | PF);
  c = run32('01 d8', { [EAX]: -1, [EBX]: 1 });
  assert.equal(f(c), CF | ZF | AF | PF);
  // 8-bit: add al, bl with 0x0f + 0x01 = 0x10 -> AF only
  c = run32('00 d8', { [EAX]: 0x0f, [EBX]: 1 });
  assert.equal(c.gpr[2 * 0], 0x10);
  assert.equal(f(c), AF);
});

test('SUB/CMP: borrow and signed overflow', () => {
  let c = run32('29 d8', { [EAX]: 0, [EBX]: 1 }); // sub eax, ebx
  assert.equal(c.gpr[2 * 0], -1);
  assert.equal(f(c), CF | SF | AF | PF);
  c = run32('39 d8', { [EAX]: 0x80000000 | 0, [EBX]: 1 }); // cmp eax, ebx
  assert.equal(f(c), OF | AF | PF);
  assert.equal(c.gpr[2 * 0], 0x80000000 | 0, 'CMP does not write');
  c = run32('66 39 d8', { [EAX]: 5, [EBX]: 5 }); // cmp ax, bx
  assert.equal(f(c), ZF | PF);
});

test('ADC/SBB use the carry in', () => {
  let c = run32('f9 11 d8', { [EAX]: -1, [EBX]: 0 }); // stc; adc eax, ebx
  assert.equal(c.gpr[2 * 0], 0);
  assert.equal(f(c), CF | ZF | PF | AF);
  c = run32('f9 19 d8', { [EAX]: 0, [EBX]: -1 }); // stc; sbb eax, ebx -> 0 - (-1) - 1 = 0, borrow
  assert.equal(c.gpr[2 * 0], 0);
  assert.equal(f(c) & (CF | ZF), CF | ZF);
});

test('INC/DEC keep CF; logic ops clear CF and OF', () => {
  let c = run32('f9 40', { [EAX]: 0x7fffffff }); // stc; inc eax
  assert.equal(f(c), CF | OF | SF | AF | PF);
  c = run32('f8 48', { [EAX]: 1 }); // clc; dec eax
  assert.equal(f(c), ZF | PF);
  c = run32('f9 21 d8', { [EAX]: 0xf0, [EBX]: 0x0f }); // stc; and eax, ebx
  assert.equal(f(c), ZF | PF);
  c = run32('31 d8', { [EAX]: 0x80000000 | 0, [EBX]: 1 }); // xor -> 0x80000001
  assert.equal(f(c), SF);
});

test('shifts and rotates: CF is the last bit out, OF for count 1', () => {
  let c = run32('d1 e0', { [EAX]: 0x80000000 | 0 }); // shl eax,1
  assert.equal(c.gpr[2 * 0], 0);
  assert.equal(f(c) & (CF | ZF | OF), CF | ZF | OF);
  c = run32('d1 e8', { [EAX]: 0x80000001 | 0 }); // shr eax,1
  assert.equal(c.gpr[2 * 0], 0x40000000);
  assert.equal(f(c) & (CF | OF | SF), CF | OF);
  c = run32('c1 f8 04', { [EAX]: 0x80000010 | 0 }); // sar eax,4
  assert.equal(c.gpr[2 * 0], 0xf8000001 | 0);
  assert.equal(f(c) & (CF | SF), SF);
  c = run32('d1 c0', { [EAX]: 0x80000000 | 0 }); // rol eax,1 -> 1, CF=1, OF = MSB ^ CF = 1
  assert.equal(c.gpr[2 * 0], 1);
  assert.equal(f(c) & (CF | OF), CF | OF);
  c = run32('f9 d1 d0', { [EAX]: 0 }); // stc; rcl eax,1 -> 1, CF=0
  assert.equal(c.gpr[2 * 0], 1);
  assert.equal(f(c) & CF, 0);
  c = run32('b1 00 d3 e0 ', { [EAX]: 1 }, 2 | CF); // shl eax,cl with cl=0 keeps flags
  assert.equal(f(c) & CF, CF);
  c = run32('0f a4 d8 04', { [EAX]: 0x12345678, [EBX]: 0xabcdef01 | 0 }); // shld eax,ebx,4
  assert.equal(c.gpr[2 * 0]! >>> 0, 0x2345678a);
  assert.equal(f(c) & CF, CF);
});

test('MUL/IMUL set CF=OF when the high half is significant; DIV raises #DE', () => {
  let c = run32('f7 e3', { [EAX]: 0x10000, [EBX]: 0x10000 }); // mul ebx
  assert.equal(c.gpr[2 * 0], 0);
  assert.equal(c.gpr[2 * 2], 1);
  assert.equal(f(c) & (CF | OF), CF | OF);
  c = run32('0f af c3', { [EAX]: -3, [EBX]: 7 }); // imul eax, ebx
  assert.equal(c.gpr[2 * 0], -21);
  assert.equal(f(c) & (CF | OF), 0);
  c = run32('f7 f3', { [EAX]: 100, 2: 0, [EBX]: 7 }); // div ebx
  assert.deepEqual([c.gpr[2 * 0], c.gpr[2 * 2]], [14, 2]);
  c = run32('f7 f3', { [EAX]: 0, 2: 1, [EBX]: 3 }); // (2^32)/3
  assert.deepEqual([c.gpr[2 * 0], c.gpr[2 * 2]], [0x55555555, 1]);
  c = run32('f7 fb', { [EAX]: -7, 2: -1, [EBX]: 2 }); // idiv ebx
  assert.deepEqual([c.gpr[2 * 0], c.gpr[2 * 2]], [-3, -1]);
});

test('bit operations: BT/BTS CF, BSF/BSR ZF', () => {
  let c = run32('0f ab d8', { [EAX]: 0, [EBX]: 35 }); // bts eax, ebx (bit 3)
  assert.equal(c.gpr[2 * 0], 8);
  assert.equal(f(c) & CF, 0);
  c = run32('0f bc c3', { [EBX]: 0x80 }); // bsf eax, ebx
  assert.equal(c.gpr[2 * 0], 7);
  assert.equal(f(c) & ZF, 0);
  c = run32('0f bd c3', { [EAX]: 5, [EBX]: 0 }); // bsr eax, ebx with 0 source: ZF=1, dest unchanged
  assert.equal(c.gpr[2 * 0], 5);
  assert.equal(f(c) & ZF, ZF);
  c = run32('f3 0f b8 c3', { [EBX]: 0xf0f0 }); // popcnt
  assert.equal(c.gpr[2 * 0], 8);
});

test('SETcc/CMOVcc follow the conditions', () => {
  const c = run32('39 d8 0f 9c c1 0f 4f d3', { [EAX]: -1, [EBX]: 1, [ECX]: 0, 2: 0 }); // cmp; setl cl; cmovg edx, ebx
  assert.equal(c.gpr[2 * 1]! & 0xff, 1);
  assert.equal(c.gpr[2 * 2], 0);
});

test('64-bit ALU: carry across halves, flags from the full value', () => {
  // mov rax, 0x00000000ffffffff; add rax, 1
  let c = run64('48 b8 ffffffff00000000 48 83 c0 01');
  assert.equal(c.getGpr(0), 0x100000000n);
  assert.equal(f(c) & (CF | ZF), 0);
  // mov rax, -1; add rax, 1 -> 0, CF ZF
  c = run64('48 c7 c0 ffffffff 48 83 c0 01');
  assert.equal(c.getGpr(0), 0n);
  assert.equal(f(c) & (CF | ZF), CF | ZF);
  // mov rax, 0x8000000000000000; neg rax -> same, OF CF
  c = run64('48 b8 0000000000000080 48 f7 d8');
  assert.equal(f(c) & (CF | OF | SF), CF | OF | SF);
  // imul rax, rbx with 2^32 * 2^32 -> overflow
  c = run64('48 b8 0000000001000000 48 89 c3 48 0f af c3');
  assert.equal(c.getGpr(0), 0n);
  assert.equal(f(c) & (CF | OF), CF | OF);
  // 32-bit op zero-extends: mov rax,-1; mov eax, eax
  c = run64('48 c7 c0 ffffffff 89 c0');
  assert.equal(c.getGpr(0), 0xffffffffn);
});

test('compiled 64-bit loop: carries between halves and the loop count stay exact', () => {
  // mov rcx,100; xor eax,eax; mov ebx,-1; l: add rax,rbx; sub rcx,1; jnz l
  const c = run64('48 c7 c1 64000000 31 c0 bb ffffffff 48 01 d8 48 83 e9 01 75 f7');
  assert.equal(c.getGpr(0), 100n * 0xffffffffn);
  assert.equal(c.getGpr(1), 0n);
  assert.equal(c.instructions, 3 + 300 + 1);
});
