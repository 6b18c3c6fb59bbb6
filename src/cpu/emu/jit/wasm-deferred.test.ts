/**
 * Deferred flags records (wasm-emit-state.ts `pendingRec`): a producer whose flags only the slow path of a later
 * memory access could see records them in that slow path. Against the interpreter in flat 32-bit code with
 * paging: the flags a fault shows (unmapped and read-only pages), a slow path that does not fault (a page
 * crossing), a DS base (ea()), and the flags read after the block (SETcc), with ALU, TEST, CMP and ROL/ROR producers.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first and imports the harness after.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { DATA, SETCC, runPagedCase } = await import('./paged-flat32-case.test-util.js');

/** The case's EBX and DS base, always given here. */
interface Case {
  code: string;
  bx: number;
  ds: number;
}

// add/sub/xor/test/cmp r32, add r32, imm; cmp eax, [ebx+4]; cmp byte [ebx+1], 26; rol/ror eax, imm
const PRODUCERS = ['01 d0', '29 d0', '31 d0', '85 d0', '39 c8', '83 c0 05', '3b 43 04', '80 7b 01 1a', 'c1 c0 03', 'c1 c8 05'];
// mov ecx, [ebx]; mov [ebx+8], ecx; movzx ecx, byte [ebx+2]; mov cl, [ebx+3]
const ACCESSES = ['8b 0b', '89 4b 08', '0f b6 4b 02', '8a 4b 03'];
// mov esi, eax; lea edi, [ebx+8]
const BETWEEN = ['', '89 c6 ', '8d 7b 08 '];

function cases(): Case[] {
  const out: Case[] = [];
  for (const p of PRODUCERS)
    for (const m of ACCESSES)
      for (const mid of BETWEEN) {
        const code = `${p} ${mid}${m}`;
        // A hit (flags read after), an unmapped page, a read-only one, a page crossing, DS with a base.
        out.push({ code: `${code} ${SETCC}`, bx: DATA, ds: 0 });
        out.push({ code, bx: 0x300000, ds: 0 }, { code, bx: 0x200000, ds: 0 }, { code: `${code} ${SETCC}`, bx: 0x200ffe, ds: 0 });
        out.push({ code, bx: DATA, ds: 0x2fd000 });
      }
  // Two producers before one access (the second replaces the first; a rotate merges into it), and an access
  // between them; a shift (recorded inline) after a deferred one.
  for (const p of PRODUCERS)
    for (const q of ['31 c8', 'c1 c0 07', '8b 0b 01 c8', '8b 0b c1 c8 02', 'c1 e0 04'])
      for (const bx of [DATA, 0x300000, 0x200ffe]) out.push({ code: `${p} ${q} 8b 53 04 ${SETCC}`, bx, ds: 0 });
  return out;
}

test('deferred flags records: faults, slow paths and later readers see the flags the interpreter leaves', () => {
  const all = cases();
  for (let i = 0; i < all.length; i++) {
    const c = all[i]!;
    const seed = (i + 1) * 7919;
    // Every arithmetic flag at random before the code (the flags a fault shows may be the old ones).
    assert.deepEqual(runPagedCase(true, c, seed, 0x8d5), runPagedCase(false, c, seed, 0x8d5), `${c.code} bx=${c.bx.toString(16)} ds=${c.ds.toString(16)}`);
  }
});
