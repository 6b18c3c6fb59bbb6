/**
 * The wasm tier's inline forms (wasm-inline-forms.ts wasmForm):
 * - they cover the interpreter's 64-bit fast variants of PUSH/POP r64, MOV r64 <-> [m] and LEA r64 (push64r,
 *   pop64r, mov64load, mov64store, lea64): they are the same instructions, and without this they went through
 *   a handler import in every 64-bit block;
 * - MOVSXD/MOVSX, 64-bit shifts by a constant, TEST r/m64, TEST m8/16/32 and 64-bit ALU with a memory operand
 *   (6-7% of a Linux boot's instructions, all through the handler import), and CMP r8, m8 / m, r, NOT r64 and
 *   MOV r64, imm32 are inline, and leave registers, memory, the lazy-flags fields and faults exactly as the
 *   interpreter does, on random operands.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first and imports the harness
 * after (node --test runs each file in a process of its own).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededInt32 } from '../../../util/seeded-random.test-util.js';
import type { Case } from './wasm-form-cases.test-util.js';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { load, makeCpu, makeLong64Cpu } = await import('../cpu-harness.test-util.js');
const { decodeBlock } = await import('../decoder.js');
const { wasmForm } = await import('./wasm-inline-forms.js');
const { DATA, SETCC, caseRunner, hex8, hex32 } = await import('./wasm-form-cases.test-util.js');

test('the 64-bit fast variants have the wasm inline forms of the instructions they stand for', () => {
  const t = makeLong64Cpu();
  // push rbx | pop rbx | mov rax,[rbx] | mov [rbx],rax | lea rax,[rbx+rcx*2] | ret
  load(t.mem, 0x1000, '53 5b 48 8b 03 48 89 03 48 8d 04 4b c3');
  const ins = decodeBlock(t.cpu, 0x1000, 0x1000).insns;
  assert.deepEqual(
    ins.map((x) => wasmForm(x)),
    ['push', 'pop', 'load64', 'store64', 'lea64', 'ret'],
    ins.map((x) => x.fn.name).join(', '),
  );
});

/** [hex, form] of each new inline form (and of neighbours that must stay with their handler). */
const FORMS: readonly (readonly [string, string])[] = [
  ['48 63 c1', 'movsx'], // movsxd rax, ecx
  ['48 63 43 08', 'movsx'], // movsxd rax, [rbx+8]
  ['48 0f be c5', 'movsx'], // movsx rax, bpl
  ['0f bf 03', 'movsx'], // movsx eax, word [rbx]
  ['48 c1 e0 05', 'shift64'], // shl rax, 5
  ['48 d1 e8', 'shift64'], // shr rax, 1
  ['48 c1 f9 3f', 'shift64'], // sar rcx, 63
  ['48 c1 e0 40', ''], // shl rax, 64: masked to 0, changes nothing
  ['48 d3 e0', 'shiftcl'], // shl rax, cl
  ['d3 f8', 'shiftcl'], // sar eax, cl
  ['48 d3 c0', ''], // rol rax, cl
  ['d3 23', 'shiftclm'], // shl dword [rbx], cl
  ['d3 03', ''], // rol dword [rbx], cl
  ['48 d3 23', ''], // shl qword [rbx], cl
  ['66 d3 e0', ''], // shl ax, cl
  ['48 0f af c1', 'imul64'], // imul rax, rcx
  ['48 0f af 43 08', 'imul64'], // imul rax, [rbx+8]
  ['48 6b c1 f9', 'imul64'], // imul rax, rcx, -7
  ['48 69 03 00 00 00 80', 'imul64'], // imul rax, [rbx], -2^31
  ['0f af c1', 'imul32'], // imul eax, ecx
  ['f7 63 04', 'mul32'], // mul dword [rbx+4]
  ['f7 e9', ''], // imul ecx (one operand)
  ['01 03', 'alu32m'], // add [rbx], eax
  ['83 6b 04 05', 'alu32m'], // sub dword [rbx+4], 5
  ['f0 81 0b 00 01 00 00', 'alu32m'], // lock or dword [rbx], 0x100
  ['83 3b 05', 'cmp-mi'], // cmp dword [rbx], 5
  ['11 03', ''], // adc [rbx], eax
  ['13 03', 'alucm'], // adc eax, [rbx]
  ['66 01 03', 'alunm'], // add [rbx], ax
  ['0f b1 0b', 'cmpxchg32m'], // cmpxchg [rbx], ecx
  ['f0 0f b1 53 04', 'cmpxchg32m'], // lock cmpxchg [rbx+4], edx
  ['48 0f b1 0b', 'cmpxchg64m'], // cmpxchg [rbx], rcx
  ['0f b1 c8', ''], // cmpxchg eax, ecx
  ['48 ff c0', 'incdec64'], // inc rax
  ['49 ff cf', 'incdec64'], // dec r15
  ['8c d8', 'movsreg'], // mov eax, ds
  ['48 8c e0', 'movsreg'], // mov rax, fs
  ['66 8c d1', 'movsreg'], // mov cx, ss
  ['8c 1b', ''], // mov [rbx], ds
  ['8c f0', ''], // mov eax, Sreg 6 (#UD)
  ['66 3d 34 12', 'alu8'], // cmp ax, 0x1234
  ['66 83 f9 ff', 'alu8'], // cmp cx, -1
  ['66 39 d1', 'alu8'], // cmp cx, dx
  ['66 85 c0', 'alu8'], // test ax, ax
  ['66 81 e1 ff 00', 'alu8'], // and cx, 0xff
  ['66 83 d1 01', ''], // adc cx, 1
  ['6a 05', 'push'], // push 5
  ['68 00 00 00 80', 'push'], // push -2^31
  ['0f 94 03', 'setccm'], // sete [rbx]
  ['48 f7 d9', 'neg64'], // neg rcx
  ['48 c1 c0 05', ''], // rol rax, 5
  ['48 85 c8', 'test64'], // test rax, rcx
  ['48 a9 00 00 00 80', 'test64'], // test rax, -2^31
  ['48 f7 03 ff 00 00 00', 'test64'], // test qword [rbx], 0xff
  ['f6 03 80', 'testm'], // test byte [rbx], 0x80
  ['84 23', 'testm'], // test [rbx], ah
  ['66 f7 43 02 01 80', 'testm'], // test word [rbx+2], 0x8001
  ['48 03 03', 'alu64m'], // add rax, [rbx]
  ['48 29 03', 'alu64m'], // sub [rbx], rax
  ['48 83 3b 05', 'alu64m'], // cmp qword [rbx], 5
  ['48 81 23 00 ff ff ff', 'alu64m'], // and qword [rbx], -256
  ['48 13 03', ''], // adc rax, [rbx]
  ['3a 03', 'cmpm'], // cmp al, [rbx]
  ['39 4b 04', 'cmpm'], // cmp [rbx+4], ecx
  ['38 23', 'cmpm'], // cmp [rbx], ah
  ['48 f7 d1', 'not64'], // not rcx
  ['48 c7 c0 00 00 00 80', 'movri64'], // mov rax, -2^31
  ['8a 03', 'loadn'], // mov al, [rbx]
  ['8a 63 01', 'loadn'], // mov ah, [rbx+1]
  ['40 8a 73 02', 'loadn'], // mov sil, [rbx+2]
  ['66 8b 4b 02', 'loadn'], // mov cx, [rbx+2]
  ['8a c1', 'mov8'], // mov al, cl
  ['88 e1', 'mov8'], // mov cl, ah
  ['b4 80', 'mov8'], // mov ah, 0x80
  ['ff 03', 'incdecm'], // inc dword [rbx]
  ['f0 ff 4b 04', 'incdecm'], // lock dec dword [rbx+4]
  ['48 ff 03', 'incdecm64'], // inc qword [rbx]
  ['fe c0', 'incdec8'], // inc al
  ['fe cc', 'incdec8'], // dec ah
  ['40 fe ce', 'incdec8'], // dec sil
  ['66 ff c1', 'incdec8'], // inc cx
  ['66 41 ff cf', 'incdec8'], // dec r15w
  ['fe 03', 'incdecm'], // inc byte [rbx]
  ['c0 e0 03', 'shift8'], // shl al, 3
  ['d0 ec', 'shift8'], // shr ah, 1
  ['66 c1 f9 11', 'shift8'], // sar cx, 17
  ['c0 e0 20', ''], // shl al, 32: masked to 0, changes nothing
  ['c0 c0 03', ''], // rol al, 3
  ['d2 e0', ''], // shl al, cl
  ['c0 23 03', ''], // shl byte [rbx], 3
];

test('MOVSXD, 64-bit shifts by a constant, TEST r/m64, TEST m, 64-bit ALU with memory, CMP m, NOT r64 and MOV r64, imm are inline wasm forms', () => {
  const t = makeLong64Cpu();
  // Each alone (a block holds a bounded number of instructions).
  for (const [h, f] of FORMS) {
    load(t.mem, 0x1000, h + ' c3');
    const x = decodeBlock(t.cpu, 0x1000, 0x1000).insns[0]!;
    assert.equal(wasmForm(x), f, `${h} (${x.fn.name})`);
  }
});

test('near CALL, RET and JMP through registers or memory are inline block ends (chained runs go on into their targets)', () => {
  const t = makeLong64Cpu();
  for (const [h, f] of [['41 ff d0', 'callr'], ['ff d0', 'callr'], ['ff 14 24', 'callind'], ['ff 10', 'callind'], ['ff e0', 'jmpind'], ['ff 24 c5 00 20 00 00', 'jmpind'], ['c3', 'ret'], ['c2 08 00', '']] as const) {
    load(t.mem, 0x1000, h);
    const x = decodeBlock(t.cpu, 0x1000, 0x1000).insns[0]!;
    assert.equal(wasmForm(x), f, `64-bit ${h}`);
  }
  const u = makeCpu();
  u.cpu.setFlat32();
  for (const [h, f] of [['e8 00 01 00 00', 'call32'], ['c3', 'ret32'], ['c2 08 00', 'ret32'], ['ff d0', 'callind'], ['ff 10', 'callind'], ['ff e0', 'jmpind'], ['ff 24 85 00 20 00 00', 'jmpind'], ['66 c3', ''], ['66 ff e0', ''], ['66 e8 00 01', '']] as const) {
    load(u.mem, 0x1000, h);
    const x = decodeBlock(u.cpu, 0x1000, 0x1000).insns[0]!;
    assert.equal(wasmForm(x), f, `32-bit ${h}`);
  }
});

// ------------------------------------------------------------------ compiled vs interpreted, random operands


const SPECIAL = [0, 1, -1, 0x7fffffff, -0x80000000, 0x80, 0xff, 0x8000];
const runCase = caseRunner(SPECIAL, 2);

function cases(): Case[] {
  const r = seededInt32(0x5eed);
  const out: Case[] = [];
  const body: string[] = [];
  // MOVSXD / MOVSX from registers and memory.
  body.push('48 63 c1', '48 63 03', '48 63 43 04', '48 0f be c5', '48 0f bf 4b 02', '0f be 03', '0f bf c2', '48 0f be c4');
  // SHL/SAL/SHR/SAR r64 by constants (0, 1, 31, 63 and masked counts), and by 1.
  for (const m of [0xe0, 0xf0, 0xe8, 0xf8, 0xe1, 0xef, 0xfe])
    for (const n of [0, 1, 2, 31, 32, 33, 63, 64, 65, 95, 127, 255, (r() >>> 0) % 256]) body.push(`48 c1 ${hex8(m)} ${hex8(n)}`);
  body.push('48 d1 e0', '48 d1 e8', '48 d1 f8', '49 d1 e7');
  // TEST r64, r64 / r/m64, imm / m64, r64.
  body.push('48 85 c8', '48 85 c0', '4d 85 c9', `48 a9 ${hex32(r())}`, `48 f7 c1 ${hex32(r())}`, '48 85 03', `48 f7 43 08 ${hex32(r())}`);
  // TEST m8/m16/m32 with an immediate or a register (AH included).
  for (const ib of [0x80, 0x01, 0xff, 0x00, r() & 0xff]) body.push(`f6 03 ${hex8(ib)}`, `f6 43 05 ${hex8(ib)}`);
  body.push('84 0b', '84 23', `66 f7 43 02 ${hex32(r()).slice(0, 5)}`, `f7 03 ${hex32(r())}`, '85 43 04', '66 85 13');
  // 8-bit register AND/OR/XOR/TEST (AH and imm8 included): their conditions are inline too.
  body.push('20 c8', '08 e1', '30 d2', '84 c0', '84 e4', 'a8 80', '80 e1 f0', '80 c9 80', '80 f2 ff', `80 e3 ${hex8(r())}`);
  // INC/DEC m32 (LOCK included).
  body.push('ff 03', 'ff 4b 04', 'f0 ff 43 08', 'f0 ff 0b', 'ff 43 1c');
  // ADC/SBB r32, m32.
  body.push('13 03', '1b 4b 04', '44 13 43 08');
  // SHL/SHR/SAR m32 by CL (ECX random: 0 once masked now and then), and after CL = 0.
  body.push('d3 23', 'd3 2b', 'd3 7b 04', 'd3 63 08', 'b1 00 d3 2b', 'b1 20 d3 23', 'b1 1f d3 3b');
  // MOV r8/r16, m (AH and a REX byte register included).
  body.push('8a 03', '8a 63 01', '8a 7b 05', '40 8a 73 02', '44 8a 43 07', '66 8b 4b 02', '66 44 8b 4b 06');
  // CMP r8, m8; CMP m8/m32, r; NOT r64; MOV r64, imm32.
  body.push('3a 03', '3a 63 01', '38 0b', '39 4b 04', '39 03', '48 f7 d1', '49 f7 d0', `48 c7 c0 ${hex32(r())}`, '48 c7 c1 00 00 00 80');
  // ADD/OR/AND/SUB/XOR/CMP with a 64-bit memory operand: G,E; E,G; E,Ib; E,Id.
  for (const op of [0, 1, 4, 5, 6, 7]) {
    body.push(`48 ${hex8(op * 8 + 3)} 03`, `48 ${hex8(op * 8 + 3)} 4b 08`, `48 ${hex8(op * 8 + 1)} 03`, `48 ${hex8(op * 8 + 1)} 53 10`);
    body.push(`48 83 ${hex8(0x03 | (op << 3))} ${hex8(r())}`, `48 81 ${hex8(0x43 | (op << 3))} 18 ${hex32(r())}`);
  }
  // IMUL r64 (0F AF, 6B, 69) from registers and memory.
  body.push('48 0f af c1', '48 0f af ca', '4d 0f af c1', '48 0f af c0', '48 0f af 03', '48 0f af 4b 08', `48 6b c1 ${hex8(r())}`, '48 6b d2 ff');
  body.push(`48 69 c2 ${hex32(r())}`, '48 69 c9 00 00 00 80', `48 69 43 08 ${hex32(r())}`, '48 6b 03 81');
  // ADD/OR/AND/SUB/XOR m32, r32 / imm8 / imm32 (LOCK included).
  for (const op of [0, 1, 4, 5, 6]) body.push(`${hex8(op * 8 + 1)} 03`, `${hex8(op * 8 + 1)} 4b 04`, `83 ${hex8(0x03 | (op << 3))} ${hex8(r())}`, `81 ${hex8(0x43 | (op << 3))} 18 ${hex32(r())}`);
  body.push('f0 01 0b', 'f0 83 6b 1c 01');
  // SHL/SAL/SHR/SAR/ROL/ROR r32 by constants (flags inline for the shifts, through sh for the rotates).
  for (const m of [0xe0, 0xf0, 0xe8, 0xf8, 0xc0, 0xc9]) for (const n of [0, 1, 2, 31, 32, 33, (r() >>> 0) % 256]) body.push(`c1 ${hex8(m)} ${hex8(n)}`);
  body.push('d1 e0', 'd1 ea', 'd1 fe');
  // SHL/SAL/SHR/SAR r32/r64 by CL (ECX random: 0, masked to 0, 1-31/63), also of RCX itself.
  for (const m of [0xe0, 0xf0, 0xe8, 0xf8, 0xe1, 0xe9, 0xf9]) body.push(`48 d3 ${hex8(m)}`, `d3 ${hex8(m)}`);
  body.push('49 d3 e7', '41 d3 ef');
  for (const n of [0, 1, 31, 32, 33, 63, 64, 0xe0]) for (const m of ['48 d3 e0', '48 d3 e8', '48 d3 f8', 'd3 e0', 'd3 ea', 'd3 fe']) body.push(`b1 ${hex8(n)} ${m}`);
  // CMPXCHG m32, r32: EAX unequal (random) and equal (loaded from the operand first).
  body.push('0f b1 0b', 'f0 0f b1 53 04', '8b 03 0f b1 0b', '8b 43 04 f0 0f b1 63 04', '8b 43 08 0f b1 43 08');
  // INC/DEC r64 (the carry they keep from what is known, or through the import).
  body.push('48 ff c0', '48 ff c8', '49 ff c7', '48 ff c9', '48 ff c4');
  // 16-bit register ALU/TEST with registers, imm8 (sign-extended to 16 bits) and imm16.
  for (const op of [0, 1, 4, 5, 6, 7]) body.push(`66 ${hex8(op * 8 + 1)} d1`, `66 83 ${hex8(0xc1 | (op << 3))} ${hex8(r())}`, `66 81 ${hex8(0xc6 | (op << 3))} ${hex32(r()).slice(0, 5)}`, `66 ${hex8(op * 8 + 5)} ${hex32(r()).slice(0, 5)}`);
  body.push('66 85 c0', '66 85 ca', '66 a9 00 80', '66 f7 c1 01 00', '66 83 f9 ff', '66 3d 00 80');
  // PUSH imm8 / imm32 (read back by a POP), SETcc m8, NEG r64.
  body.push('6a f0 41 5f', '68 78 56 34 92 41 5e', '6a 7f', '0f 94 03', '0f 9c 43 05', '0f 92 03', '0f 97 43 1f', '48 f7 d9', '49 f7 df', '48 f7 d8');
  // MOV r16/r32/r64, Sreg.
  body.push('8c d8', '8c c0', '48 8c e0', '66 8c d1', '8c e9', '49 8c d7', '8c f0');
  // IMUL r32 (0F AF, 6B, 69) and MUL r/m32 from registers and memory.
  body.push('0f af c1', '0f af ca', '44 0f af c1', '0f af c0', '0f af 03', '0f af 4b 08', `6b c1 ${hex8(r())}`, '6b d2 ff', `69 c2 ${hex32(r())}`, '69 c9 00 00 00 80', `69 43 08 ${hex32(r())}`, '6b 03 81');
  body.push('f7 e1', 'f7 e0', 'f7 e2', '41 f7 e7', 'f7 23', 'f7 63 04');
  // INC/DEC r8/r16 (AH..BH, REX byte registers; 0x7f/0x80/0xff/0 edges come with the random operands).
  body.push('fe c0', 'fe c8', 'fe c4', 'fe cf', '40 fe c6', '41 fe c8', '66 ff c1', '66 ff c8', '66 41 ff cf', 'b0 ff fe c0', 'b4 80 fe cc', 'b1 7f fe c1', '66 b9 ff 7f 66 ff c1', '66 31 c0 66 ff c8');
  // SHL/SAL/SHR/SAR r8/r16 by constants (AH..BH, REX byte registers; counts past the width, masked counts).
  for (const m of [0xe0, 0xf0, 0xe8, 0xf8, 0xe4, 0xef, 0xfc]) for (const n of [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, (r() >>> 0) % 256]) body.push(`c0 ${hex8(m)} ${hex8(n)}`, `66 c1 ${hex8(m & 0xfb)} ${hex8(n)}`);
  body.push('d0 e0', 'd0 ec', 'd0 f9', '66 d1 e0', '66 d1 ea', '66 d1 fe', '40 c0 e6 03', '41 c0 f8 05', '66 41 c1 e7 04', 'b0 80 d0 e0', 'b0 81 d0 e8', 'b0 80 c0 f8 07');
  // MOV between byte registers (AH..BH and REX byte registers included) and MOV r8, imm8.
  body.push('88 c8', '88 e1', '88 cc', '8a c4', '8a e3', '40 88 f7', '44 88 c0', '45 8a c7', 'b0 7f', 'b4 80', '41 b7 ff', '40 b6 12');
  for (const b of body) {
    out.push({ code: b }, { code: `${b} ${SETCC}` });
    // A producer whose flags stay recorded (a load after it may fault) before this instruction.
    out.push({ code: `48 01 d1 48 8b 73 08 ${b}` }, { code: `31 d1 48 8b 73 08 ${b} ${SETCC}` });
  }
  // A shift by CL of 0 leaves the flags of the producer before it, also when nothing may fault in between.
  for (const n of [0, 0x40, 5]) for (const m of ['48 d3 e0', 'd3 e8', '48 d3 f8']) out.push({ code: `b1 ${hex8(n)} 48 01 d0 ${m} ${SETCC}` }, { code: `b1 ${hex8(n)} 29 d0 ${m} 31 c0 ${m} ${SETCC}` });
  // A carry-in not known in the block (INC/DEC, SBB after a block start): from the flags record the block before
  // left (a chained run), else through the import; after every kind of producer.
  for (const p of ['48 01 d1', '48 29 d1', '01 d1', '29 d1', '28 d1', '38 0b', '39 0b', '48 ff c1', '48 ff c9', 'ff 0b', '31 d1', 'c1 e1 05', '48 0f af ca', '11 d1', '19 d1', '48 d3 e2'])
    for (const q of ['ff 03', 'f0 ff 4b 04', '83 d9 00', '13 cb', '48 ff c0', 'ff c8', 'fe c9', '66 ff c0']) out.push({ code: `${p} eb 00 ${q} ${SETCC}`, passes: 4 }, { code: `${p} eb 00 ${q} eb 00 ${SETCC}`, passes: 4 });
  // IMUL r64 at the edges of overflow: rax = a, rcx = s (movabs), both orders, flags read by every condition.
  const I64 = (v: bigint): string => Array.from({ length: 8 }, (_, i) => hex8(Number((BigInt.asUintN(64, v) >> BigInt(8 * i)) & 0xffn))).join(' ');
  const edges: [bigint, bigint][] = [
    [-(2n ** 63n), -1n],
    [2n ** 32n, 2n ** 31n],
    [2n ** 32n, 2n ** 31n - 1n],
    [-(2n ** 32n), 2n ** 31n],
    [3n, 0x2aaa_aaaa_aaaa_aaabn],
    [3n, 0x2aaa_aaaa_aaaa_aaaan],
    [-1n, 2n ** 40n],
    [0n, -(2n ** 63n)],
    [2n ** 31n, 2n ** 31n],
    [-(2n ** 31n), -(2n ** 31n)],
    [0x1_0000_0001n, 0xffff_ffffn],
    [-3n, 0x2aaa_aaaa_aaaa_aaabn],
  ];
  for (const [a, s] of edges) for (const m of ['48 0f af c1', '48 0f af c8']) out.push({ code: `48 b8 ${I64(a)} 48 b9 ${I64(s)} ${m} ${SETCC}` });
  // IMUL r32 and MUL r32 at the edges of overflow: eax = a, ecx = s.
  const e32: [number, number][] = [[-0x8000_0000, -1], [0x10000, 0x8000], [0x10000, 0x7fff], [-0x10000, 0x8000], [3, 0x2aaa_aaab], [3, 0x2aaa_aaaa], [-1, -1], [0, -0x8000_0000], [0xffff, 0x10001], [-0x8000_0000, -0x8000_0000]];
  for (const [a, s] of e32) for (const m of ['0f af c1', '0f af c8', 'f7 e1']) out.push({ code: `b8 ${hex32(a)} b9 ${hex32(s)} ${m} ${SETCC}` });
  // Faults: a page fault (unmapped), a write to a read-only page, a non-canonical address (#GP).
  for (const b of ['0f 94 03', '13 03', 'd3 2b', 'b1 00 d3 23', '0f b1 0b', 'f0 0f b1 53 04', '01 03', 'f0 83 6b 04 05', '48 0f af 03', '48 69 03 05 00 00 00', '0f af 03', 'f7 23', 'ff 03', 'f0 ff 4b 04', '8a 63 01', '66 8b 4b 02', '48 63 03', '48 f7 03 01 00 00 00', 'f6 03 01', '48 03 03', '48 01 03', '48 83 3b 05', '48 83 03 05', '3a 03', '39 03']) {
    for (const base of [0x400000, 0x200000, 0x200ffc, 0x0000_8000_0000_0000, -0x0000_8000_0000_0000 - 4096]) {
      out.push({ code: `48 01 d1 ${b}`, base });
      // Its flags dead (XOR overwrites them): a read-modify-write still records them before a write that faults.
      out.push({ code: `48 01 d1 ${b} 31 c9`, base, live: 'read' });
    }
  }
  // FS and GS overrides with their base added inline (TLS, the stack protector's canary at fs:0x28, per-CPU
  // data through GS); a base that makes the address non-canonical faults through ea().
  for (const b of ['64 48 8b 03', '64 48 89 0b', '65 48 03 43 08', '65 48 83 03 05', '64 0f b6 43 01', '64 f6 03 80', '65 48 63 43 04']) {
    out.push({ code: `${b} ${SETCC}`, base: DATA - 0x800, fs: 0x800, gs: 0x800 });
    out.push({ code: b, base: 0x2000, fs: 0x7fff_ffff_f000, gs: -0x8000_0000_0000 - 0x3000 });
  }
  out.push({ code: `64 48 8b 04 25 28 00 00 00 ${SETCC}`, fs: DATA - 0x28 });
  out.push({ code: '65 48 8b 04 25 10 00 00 00', gs: DATA });
  return out;
}

test('the new wasm forms leave registers, memory, the lazy flags and faults as the interpreter does', () => {
  const all = cases();
  for (let i = 0; i < all.length; i++) {
    const c = all[i]!;
    for (let s = 1; s <= 2; s++) {
      const seed = (i + 1) * 7919 + s;
      assert.deepEqual(runCase(true, c, seed), runCase(false, c, seed), `${c.code} base=${(c.base ?? DATA).toString(16)} seed=${seed}`);
    }
  }
});

test('compiled code ran: the blocks of the cases compiled to wasm', () => {
  const t = makeLong64Cpu();
  t.cpu.compile = true;
  load(t.mem, 0x1000, '48 63 c1 48 c1 e0 05 48 85 c8 f4');
  t.cpu.gpr[2 * 3] = DATA;
  t.cpu.run(100);
  assert.ok(t.cpu.jitStats.regions >= 1, JSON.stringify(t.cpu.jitStats));
});
