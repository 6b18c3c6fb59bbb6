/**
 * The integer forms of wasm-int-forms.ts (CBW/CWD and wider, BSWAP, ADC/SBB r64, ALU and INC/DEC with 8- and 16-bit
 * memory operands, DIV/IDIV r32/r64, MUL r/m64, CMPXCHG m64, SHLD/SHRD, BT/BTS/BTR/BTC, BSF/BSR/TZCNT/LZCNT/POPCNT,
 * PUSHFQ, PUSH m64, LEAVE, XCHG m, XADD m, INC/DEC m64, CMOVcc r, m; the fences) are inline, and leave registers, memory,
 * the lazy-flags fields and faults (#DE, #PF, #GP) exactly as the interpreter does, on random and edge operands.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first and imports the harness after.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededInt32 } from '../../../util/seeded-random.test-util.js';
import type { Case } from './wasm-form-cases.test-util.js';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { load, makeLong64Cpu } = await import('../cpu-harness.test-util.js');
const { decodeBlock } = await import('../decoder.js');
const { wasmForm } = await import('./wasm-inline-forms.js');
const { DATA, SETCC, caseRunner, hex8, hex32 } = await import('./wasm-form-cases.test-util.js');

/** [hex, form] of each form (and of neighbours that stay with their handler). */
const FORMS: readonly (readonly [string, string])[] = [
  ['98', 'cbw'], // cwde
  ['66 98', 'cbw'], // cbw
  ['48 98', 'cbw'], // cdqe
  ['99', 'cbw'], // cdq
  ['48 99', 'cbw'], // cqo
  ['0f c8', 'bswap'], // bswap eax
  ['49 0f cf', 'bswap'], // bswap r15
  ['66 0f c8', ''], // bswap ax (undefined; the handler)
  ['48 11 c8', 'aluc64'], // adc rax, rcx
  ['48 83 d9 ff', 'aluc64'], // sbb rcx, -1
  ['48 1b 03', ''], // sbb rax, [rbx]
  ['08 03', 'alunm'], // or [rbx], al
  ['80 23 7f', 'alunm'], // and byte [rbx], 0x7f
  ['22 63 01', 'alunm'], // and ah, [rbx+1]
  ['66 83 3b 05', 'alunm'], // cmp word [rbx], 5
  ['66 0b 4b 02', 'alunm'], // or cx, [rbx+2]
  ['f0 66 01 0b', 'alunm'], // lock add [rbx], cx
  ['10 03', ''], // adc [rbx], al
  ['66 ff 03', 'incdecm'], // inc word [rbx]
  ['f0 fe 4b 01', 'incdecm'], // lock dec byte [rbx+1]
  ['f7 f1', 'divide'], // div ecx
  ['48 f7 f9', 'divide'], // idiv rcx
  ['f7 33', ''], // div dword [rbx]
  ['66 f7 f1', ''], // div cx
  ['48 f7 e1', 'mul64'], // mul rcx
  ['48 f7 63 08', 'mul64'], // mul qword [rbx+8]
  ['48 f7 e9', ''], // imul rcx (one operand)
  ['f0 48 0f b1 0b', 'cmpxchg64m'], // lock cmpxchg [rbx], rcx
  ['48 0f a4 c8 05', 'shld'], // shld rax, rcx, 5
  ['0f ad d1', 'shld'], // shrd ecx, edx, cl
  ['48 0f a4 c8 40', ''], // shld rax, rcx, 64: masked to 0
  ['0f a4 0b 05', ''], // shld [rbx], ecx, 5
  ['66 0f a4 c8 05', ''], // shld ax, cx, 5
  ['48 0f ba e0 05', 'bt'], // bt rax, 5
  ['f0 48 0f ab 0b', 'bt'], // lock bts [rbx], rcx
  ['0f b3 c8', 'bt'], // btr eax, ecx
  ['67 0f a3 0b', ''], // bt [ebx], ecx (32-bit addressing)
  ['66 0f a3 c8', ''], // bt ax, cx
  ['48 0f bc c1', 'bitscan'], // bsf rax, rcx
  ['0f bd 03', 'bitscan'], // bsr eax, [rbx]
  ['f3 48 0f bc c1', 'bitscan'], // tzcnt rax, rcx
  ['f3 0f b8 c1', 'bitscan'], // popcnt eax, ecx
  ['66 0f bc c1', ''], // bsf ax, cx
  ['9c', 'pushf'], // pushfq
  ['66 9c', ''], // pushf (16-bit)
  ['ff 33', 'pushm'], // push qword [rbx]
  ['c9', 'leave'], // leave
  ['87 0b', 'xchgm'], // xchg [rbx], ecx
  ['48 87 0b', 'xchgm'], // xchg [rbx], rcx
  ['f0 48 0f c1 0b', 'xaddm'], // lock xadd [rbx], rcx
  ['0f c1 c8', ''], // xadd eax, ecx
  ['65 48 ff 03', 'incdecm64'], // inc qword gs:[rbx]
  ['48 0f 44 03', 'cmovm'], // cmove rax, [rbx]
  ['0f 45 4b 04', 'cmovm'], // cmovne ecx, [rbx+4]
  ['66 0f 44 03', ''], // cmove ax, [rbx]
  ['0f ae e8', 'nop'], // lfence
  ['0f ae f0', 'nop'], // mfence
  ['0f ae 3b', ''], // clflush [rbx]
];

test('CBW/CWD, BSWAP, ADC/SBB r64, ALU m8/m16, INC/DEC m8/m16, DIV/IDIV r, MUL r/m64, CMPXCHG m64 and SHLD/SHRD are inline wasm forms', () => {
  const t = makeLong64Cpu();
  for (const [h, f] of FORMS) {
    load(t.mem, 0x1000, h + ' c3');
    const x = decodeBlock(t.cpu, 0x1000, 0x1000).insns[0]!;
    assert.equal(wasmForm(x), f, `${h} (${x.fn.name})`);
  }
});

// ------------------------------------------------------------------ compiled vs interpreted

const SPECIAL = [0, 1, -1, 0x7fffffff, -0x80000000, 0x80, 0xff, 0x8000, 0x7f, 0xffff, 0x7fff];
const runCase = caseRunner(SPECIAL, 3);

function hex64(v: bigint): string {
  return Array.from({ length: 8 }, (_, i) => hex8(Number((BigInt.asUintN(64, v) >> BigInt(8 * i)) & 0xffn))).join(' ');
}

function cases(): Case[] {
  const r = seededInt32(0x1e7);
  const out: Case[] = [];
  const body: string[] = [];
  // CBW/CWDE/CDQE, CWD/CDQ/CQO.
  body.push('98', '66 98', '48 98', '99', '66 99', '48 99');
  // BSWAP r32/r64.
  body.push('0f c8', '0f cb', '41 0f c9', '48 0f c8', '49 0f cf', '48 0f cc');
  // ADC/SBB r64, r64 / imm8 / imm32 (the carry-in known from a producer before, or not).
  body.push('48 11 c8', '48 19 d1', '48 13 c1', '48 1b ca', '48 83 d0 05', '48 83 d9 ff', `48 81 d2 ${hex32(r())}`, '49 83 d7 00', '48 19 c0', '4d 11 c8');
  // ALU with an 8- or 16-bit memory operand: E,G; G,E; E,I (AH..BH and LOCK included).
  for (const op of [0, 1, 4, 5, 6, 7]) {
    body.push(`${hex8(op * 8)} 03`, `${hex8(op * 8)} 63 01`, `${hex8(op * 8 + 2)} 03`, `${hex8(op * 8 + 2)} 7b 05`, `66 ${hex8(op * 8 + 1)} 03`, `66 ${hex8(op * 8 + 3)} 4b 02`);
    // (CMP m8, imm is 'cmp-mi8'.)
    if (op !== 7) body.push(`80 ${hex8(0x03 | (op << 3))} ${hex8(r())}`, `80 ${hex8(0x43 | (op << 3))} 07 80`);
    body.push(`66 83 ${hex8(0x43 | (op << 3))} 04 ${hex8(r())}`, `66 81 ${hex8(0x03 | (op << 3))} ${hex32(r()).slice(0, 5)}`);
  }
  body.push('f0 80 0b 01', 'f0 66 83 43 02 01', 'f0 66 29 4b 06', '40 00 73 03', '44 2a 43 01');
  // INC/DEC m8/m16 (LOCK included).
  body.push('fe 03', 'fe 4b 05', 'f0 fe 03', '66 ff 03', '66 ff 4b 02', 'f0 66 ff 43 1e');
  // DIV/IDIV r32/r64: random (mostly #DE), EDX/RDX cleared or the sign, by 0, overflow, RDX not 0 (the handler).
  body.push('f7 f1', 'f7 f9', '48 f7 f1', '48 f7 f9', '31 d2 f7 f1', '99 f7 f9', '31 d2 48 f7 f1', '48 99 48 f7 f9', '31 d2 41 f7 f7', '99 41 f7 ff');
  body.push('31 c9 31 d2 f7 f1', '31 c9 99 f7 f9', '31 c9 31 d2 48 f7 f1', '31 c9 48 99 48 f7 f9', 'ba 01 00 00 00 48 f7 f1', 'b9 01 00 00 00 ba 01 00 00 00 48 f7 f1');
  body.push('b8 00 00 00 80 b9 ff ff ff ff 99 f7 f9', `48 b8 ${hex64(-(2n ** 63n))} 48 c7 c1 ff ff ff ff 48 99 48 f7 f9`, 'b8 00 00 00 80 b9 ff ff ff ff 99 48 f7 f9', '99 f7 f8', '31 d2 f7 f0', 'ba 00 00 00 80 31 c0 b9 ff ff ff ff f7 f9');
  // MUL r/m64.
  body.push('48 f7 e1', '48 f7 e0', '49 f7 e7', '48 f7 e2', '48 f7 23', '48 f7 63 08', `48 b8 ${hex64(-1n)} 48 f7 e0`, `48 b8 ${hex64(2n ** 32n)} 48 b9 ${hex64(2n ** 32n - 1n)} 48 f7 e1`, '48 31 c0 48 f7 e1', 'b8 ff ff ff ff 48 f7 e0');
  // CMPXCHG m64: RAX random (unequal) and equal (loaded from the operand first).
  body.push('48 0f b1 0b', 'f0 48 0f b1 53 08', '48 8b 03 48 0f b1 0b', '48 8b 43 10 f0 4c 0f b1 43 10', '48 8b 43 08 48 0f b1 43 08');
  // SHLD/SHRD r32/r64 by constants and by CL (0, masked to 0, the widths' edges).
  for (const n of [1, 5, 31, 33, 63, 95]) body.push(`48 0f a4 c8 ${hex8(n)}`, `48 0f ac d1 ${hex8(n)}`, `0f a4 c8 ${hex8(n)}`, `0f ac d1 ${hex8(n)}`, `4d 0f a4 c8 ${hex8(n)}`);
  for (const n of [0, 1, 31, 32, 33, 63, 64, 0xe1]) for (const m of ['48 0f a5 c8', '48 0f ad d1', '0f a5 d0', '0f ad c2', '48 0f ad c9']) body.push(`b1 ${hex8(n)} ${m}`);
  body.push('48 0f a5 c8', '0f ad d1');
  // BT/BTS/BTR/BTC r/m32, r/m64 with a register (a signed offset into memory, a few operands either way) or an
  // immediate bit offset.
  for (const op of [0, 1, 2, 3]) {
    const g = hex8(0xa3 + op * 8);
    body.push(`48 0f ${g} c8`, `0f ${g} d1`, `48 0f ba ${hex8(0xe0 | ((op + 4) << 3))} ${hex8(r())}`, `0f ba ${hex8(0xe1 | ((op + 4) << 3))} ${hex8(r())}`);
    body.push(`48 0f ba ${hex8(0x23 | ((op + 4) << 3))} ${hex8(r())}`, `0f ba ${hex8(0x63 | ((op + 4) << 3))} 04 ${hex8(r())}`, `f0 48 0f ba ${hex8(0x2b | ((op + 4) << 3))} 3f`);
    for (const off of [0, 5, 63, 64, 127, 255, -1, -64, -65]) body.push(`48 c7 c1 ${hex32(off)} 48 0f ${g} 4b 08`, `b9 ${hex32(off)} 0f ${g} 4b 08`);
  }
  // BSF/BSR/TZCNT/LZCNT/POPCNT r32/r64 from registers and memory (0 included).
  for (const o of ['0f bc', '0f bd', 'f3 0f bc', 'f3 0f bd', 'f3 0f b8']) {
    const [p, q] = o.startsWith('f3') ? ['f3 ', o.slice(3)] : ['', o];
    body.push(`${p}48 ${q} c1`, `${p}${q} ca`, `${p}48 ${q} 03`, `${p}${q} 4b 04`, `${p}48 31 c9 48 ${q} c1`.replace('48 31 c9', '31 c9'), `31 c9 ${p}${q} c1`, `${p}4c ${q} f8`);
  }
  // PUSHFQ after each kind of producer (read back by POP), PUSH m64, LEAVE.
  body.push('9c 41 5f', '48 01 d1 9c 41 5f', '31 c9 9c 41 5f', '48 ff c1 9c 41 5e', 'f9 9c 41 5f', 'fd 9c 41 5f fc');
  body.push('ff 33 41 5f', 'ff 73 08 41 5e', '65 ff 33 41 5f', 'ff 34 24 41 5f');
  body.push('48 89 e5 48 83 ed 10 48 89 5d 00 c9', '48 8d 6c 24 f0 c9');
  // XCHG m, r; XADD m, r (LOCK included); INC/DEC m64.
  body.push('87 0b', '48 87 0b', 'f0 87 53 04', '4c 87 43 08', '0f c1 0b', '48 0f c1 0b', 'f0 48 0f c1 53 08', 'f0 0f c1 43 04');
  body.push('48 ff 03', '48 ff 4b 08', 'f0 48 ff 03', 'f0 48 ff 4b 18');
  // CMOVcc r, m (every condition, after the producer before), the fences.
  for (let cc = 0; cc < 16; cc++) body.push(`48 0f ${hex8(0x40 + cc)} 03`, `0f ${hex8(0x40 + cc)} 4b 04`);
  body.push('0f ae e8', '0f ae f0', '0f ae f8');
  for (const b of body) {
    // A case that clears a register with XOR first: the producer before it is not recorded (its flags are dead),
    // so the fields its kind does not read differ from the interpreter's, unread.
    const live = /(^| )31 [c-f]/.test(b) ? 'read' : 'all';
    out.push({ code: b, live }, { code: `${b} ${SETCC}`, live });
    // A producer whose flags stay recorded (a load after it may fault) before this instruction; one known in the
    // block (the carry-in of ADC/SBB), not recorded when this instruction writes every flag.
    out.push({ code: `48 01 d1 48 8b 73 08 ${b}`, live }, { code: `31 d1 48 8b 73 08 ${b} ${SETCC}`, live }, { code: `48 29 d1 ${b} ${SETCC}`, live: 'read' });
  }
  // Faults: a page fault (unmapped), a write to a read-only page, a non-canonical address (#GP).
  for (const b of ['fe 03', '66 ff 03', '00 03', '80 03 01', '02 03', '66 3b 03', '66 83 3b 05', '48 0f b1 0b', 'f0 48 0f b1 0b', '48 f7 23', '48 0f a3 0b', '48 0f ab 0b', '0f ba 2b 05', '48 0f bc 03', 'ff 33', '48 87 0b', '0f c1 0b', '48 ff 03', 'f0 48 ff 0b', '48 0f 44 03', '0f 4d 03']) {
    for (const base of [0x400000, 0x200000, 0x200fff, 0x200ffe, 0x0000_8000_0000_0000, -0x0000_8000_0000_0000 - 4096]) {
      out.push({ code: `48 01 d1 ${b}`, base });
      out.push({ code: `48 01 d1 ${b} 31 c9`, base, live: 'read' });
    }
  }
  // PUSHF, PUSH m64 and LEAVE with the stack on a read-only or unmapped page, non-canonical, or across a page end.
  for (const sp of ['00 00 20 00', '04 00 20 00', '00 00 40 00', '00 00 00 80', '03 10 00 00']) {
    out.push({ code: `48 c7 c4 ${sp} 9c` }, { code: `48 c7 c4 ${sp} ff 33` }, { code: `48 c7 c5 ${sp} c9` });
  }
  out.push({ code: `48 bc ${hex64(0x0000_8000_0000_0008n)} 9c` }, { code: `48 bd ${hex64(0x0000_8000_0000_0000n)} c9` });
  return out;
}

test('the forms leave registers, memory, the lazy flags and faults as the interpreter does', () => {
  const all = cases();
  for (let i = 0; i < all.length; i++) {
    const c = all[i]!;
    for (let s = 1; s <= 2; s++) {
      const seed = (i + 1) * 7919 + s;
      assert.deepEqual(runCase(true, c, seed), runCase(false, c, seed), `${c.code} base=${(c.base ?? DATA).toString(16)} seed=${seed}`);
    }
  }
});
