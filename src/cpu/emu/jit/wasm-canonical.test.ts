/**
 * Compiled 64-bit memory accesses at non-canonical addresses fault as the interpreter's do: #GP(0) at the access,
 * #SS(0) for a stack-relative one, nothing written, at the faulting instruction's RIP. Compiled code checks only
 * stack-relative addresses for canonical form before the access; the others rely on a TLB hit implying a canonical
 * address and on the slow paths' checks, so the cases put a canonical page's entry at the same TLB index first (or
 * not), under 4-level and 5-level paging, near the bounds and far beyond +-2^53.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first and imports the harness after.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { load, makeLong64Cpu, runText } = await import('../cpu-harness.test-util.js');
const { CR4_LA57, VEC_GP, VEC_SS } = await import('../x86-defs.js');

const DATA = 0x3000;
/** Which register holds the address: RBX for plain operands, RBP and RSP for stack-relative ones. */
type Reg = 3 | 4 | 5;

interface Case {
  /** The access (its address in `reg`), after a load and a store at DATA that fill its TLB entries, or alone. */
  code: string;
  reg: Reg;
  addr: bigint;
  la57: boolean;
  warm: boolean;
}

/** What each of three passes left: result, RIP, the first exception logged (vector, code, RIP), registers, DATA. */
function run(compile: boolean, c: Case): string[] {
  const t = makeLong64Cpu();
  if (c.la57) {
    // A PML5 above the 4-level tree, whose entry 0 leads to it: the same identity-mapped 2 MiB.
    t.mem.writeU32(0x14000, 0x10000 | 7);
    t.cpu.la57 = true;
    t.cpu.setLong64(0x14000);
    t.cpu.cr4 |= CR4_LA57;
    t.cpu.updateMode();
  }
  t.cpu.compile = compile;
  // mov rcx, [rdi]; mov [rdi], rcx (RDI = DATA: read and write entries at TLB index 3, which the addresses share).
  load(t.mem, 0x1000, `${c.warm ? '48 8b 0f 48 89 0f ' : ''}${c.code} f4`);
  const out: string[] = [];
  for (let pass = 0; pass < 3; pass++) {
    for (let k = 0; k < 16; k++) {
      t.cpu.gpr[k << 1] = 0x1111 * (k + 1);
      t.cpu.gpr[(k << 1) | 1] = 0;
    }
    t.cpu.gpr[2 * 4] = 0x8000;
    t.cpu.gpr[2 * 7] = DATA;
    t.cpu.gpr[c.reg << 1] = Number(BigInt.asIntN(32, c.addr));
    t.cpu.gpr[(c.reg << 1) | 1] = Number(BigInt.asIntN(32, c.addr >> 32n));
    for (let a = DATA; a < DATA + 32; a += 4) t.mem.writeU32(a, 0xa5a5_0000 + a);
    t.cpu.exceptionLog.length = 0;
    t.cpu.shutdownReason = '';
    t.cpu.rip = 0x1000;
    t.cpu.halted = false;
    const res = runText(t.cpu, 1000);
    const x = t.cpu;
    const e = x.exceptionLog[0];
    const mem: number[] = [];
    for (let a = DATA; a < DATA + 32; a += 4) mem.push(t.mem.readU32(a));
    out.push(
      `${res} rip=${x.rip.toString(16)} exc=${e === undefined ? '-' : `${e.vector}/${e.code}@${e.rip.toString(16)}`} cr2=${x.cr2.toString(16)}`,
      `gpr=${[...x.gpr].join(',')}`,
      `mem=${mem.join(',')}`,
    );
  }
  return out;
}

/** Loads, stores and read-modify-writes of 1-8 bytes through RBX; the same through RBP and RSP. */
const PLAIN = ['48 8b 03', '8b 03', '0f b6 03', '48 8b 43 f8', '48 89 03', '89 03', '88 03', '48 01 03', '01 03', '48 ff 03', '48 85 03'];
const STACK: readonly (readonly [string, Reg])[] = [
  ['48 8b 45 00', 5],
  ['48 89 45 08', 5],
  ['48 01 45 00', 5],
  ['48 8b 04 24', 4],
  ['48 89 44 24 08', 4],
];

/**
 * Non-canonical addresses at TLB index 3 (DATA's) and others, and canonical ones next to the bounds. Just below
 * -2^56 it is -2^56 - 16, an exact double: -2^56 - 8 rounds to the canonical -2^56, where the interpreter stops at
 * its emulation limit (exceptions.ts unrepresentable), compiled code as well.
 */
const ADDRS_48 = [1n << 47n, (1n << 47n) + 0x3000n, (1n << 47n) - 4n, -(1n << 47n) - 0x40_0000n + 0x3000n, -(1n << 47n) - 8n, (1n << 53n) + 0x3000n, 0x1234_5678_0000_3000n, -(1n << 63n) + 0x3000n];
const ADDRS_57 = [1n << 56n, (1n << 56n) + 0x3000n, (1n << 56n) - 4n, -(1n << 56n) - 0x40_0000n + 0x3000n, -(1n << 56n) - 16n, (1n << 47n) + 0x3000n, 0x1234_5678_0000_3000n];

function cases(): Case[] {
  const out: Case[] = [];
  for (const la57 of [false, true]) {
    for (const addr of la57 ? ADDRS_57 : ADDRS_48) {
      for (const warm of [true, false]) {
        for (const code of PLAIN) out.push({ code, reg: 3, addr, la57, warm });
        for (const [code, reg] of STACK) out.push({ code, reg, addr, la57, warm });
      }
    }
  }
  return out;
}

test('64-bit accesses at non-canonical addresses fault as in the interpreter, TLB entry at their index or not', () => {
  for (const c of cases()) {
    const what = `${c.code} at ${c.addr.toString(16)} la57=${c.la57} warm=${c.warm}`;
    assert.deepEqual(run(true, c), run(false, c), what);
  }
});

test('a non-canonical address faults #GP(0), or #SS(0) relative to RSP or RBP, at the access and writes nothing', () => {
  const bound = (la57: boolean): bigint => 1n << (la57 ? 56n : 47n);
  for (const c of cases()) {
    const b = bound(c.la57);
    // The operand's first byte (displacements: 0, -8 and +8).
    const d = c.code === '48 8b 43 f8' ? -8n : c.code.endsWith(' 08') ? 8n : 0n;
    const a = BigInt.asIntN(64, c.addr + d);
    if (a >= -b && a < b) continue;
    for (const compile of [true, false]) {
      const out = run(compile, c);
      const at = c.warm ? 0x1006 : 0x1000;
      const vec = c.reg === 3 ? VEC_GP : VEC_SS;
      for (let p = 0; p < out.length; p += 3) {
        assert.match(out[p]!, new RegExp(`exc=${vec}/0@${at.toString(16)} `), `${c.code} at ${a.toString(16)} la57=${c.la57} compiled=${compile}`);
        assert.equal(out[p + 2], `mem=${Array.from({ length: 8 }, (_, k) => 0xa5a5_0000 + DATA + 4 * k).join(',')}`);
      }
    }
  }
});
