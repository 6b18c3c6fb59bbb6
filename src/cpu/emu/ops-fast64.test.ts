// The 64-bit fast paths against exact 64-bit arithmetic and against the general handlers:
// - ea() sums a 64-bit address as one double while the terms are small enough; a BigInt oracle checks it
//   on seeded random registers, inside and outside that range, with and without a segment base;
// - PUSH/POP r64, CALL rel32, RET, MOV r64 <-> [m] and LEA r64 have 64-bit fast variants (table rows'
//   `fast`); each seeded case runs once with them and once with the rows' general handlers, and the
//   registers, the stack's memory and the fault (if any) must agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ea, Insn } from './insn.js';
import { ea } from './operands.js';
import { load, makeLong64Cpu, type TestCpu } from './cpu-harness.test-util.js';
import { tableRows } from './table/index.js';
import { callRel64, pop64r, push64r, ret64 } from './ops-flow.js';
import { lea64, mov64load, mov64store } from './ops-alu.js';
import type { Row } from './table/row.js';
import { decodeBlock } from './decoder.js';
import { FAULT, Seg } from './x86-defs.js';
import { seededRandom } from '../../util/seeded-random.test-util.js';

const M64 = (1n << 64n) - 1n;
const toSigned = (v: bigint): bigint => (v & M64) >= 1n << 63n ? (v & M64) - (1n << 64n) : v & M64;
const big = (lo: number, hi: number): bigint => (BigInt(hi | 0) << 32n) + BigInt(lo >>> 0);

test('ea: 64-bit addresses equal exact modular arithmetic (2000 seeded cases)', () => {
  const r = seededRandom(0x5eed64);
  const { cpu } = makeLong64Cpu();
  // High halves near zero (the double path), near the fast path's limits, and anywhere (the halves path).
  const his = [0, 0, -1, 1, 0xfffff, -0x100000, 0x100000, 0xffff, -0x10000, 0x10000, 0x7fffffff, -0x80000000];
  const pickHi = (): number => (r() < 0.7 ? his[Math.floor(r() * his.length)]! : (r() * 4294967296) | 0);
  let checked = 0;
  for (let n = 0; n < 2000; n++) {
    const x = new Insn(() => {});
    x.ak = Ea.A64;
    x.base = r() < 0.85 ? Math.floor(r() * 16) : -1;
    x.index = r() < 0.5 ? Math.floor(r() * 16) : -1;
    if (x.index === 4) x.index = -1; // no index register 4 (RSP) in a SIB
    x.scale = Math.floor(r() * 4);
    x.disp = (r() * 4294967296) | 0;
    x.seg = r() < 0.7 ? 3 : 4; // DS (base 0) or FS
    for (let g = 0; g < 16; g++) {
      cpu.gpr[g << 1] = (r() * 4294967296) | 0;
      cpu.gpr[(g << 1) | 1] = pickHi();
    }
    const fsBase = r() < 0.5 ? -(2 ** 47) + Math.floor(r() * 2 ** 40) * 8 : Math.floor(r() * 2 ** 46);
    cpu.segBase[4] = fsBase;
    let want = BigInt(x.disp) + BigInt(cpu.segBase[x.seg]!);
    if (x.base >= 0) want += big(cpu.gpr[x.base << 1]!, cpu.gpr[(x.base << 1) | 1]!);
    if (x.index >= 0) want += big(cpu.gpr[x.index << 1]!, cpu.gpr[(x.index << 1) | 1]!) << BigInt(x.scale);
    const got = ea(cpu, x);
    const exact = toSigned(want);
    // A double holds every address below 2^53 (all canonical ones); beyond, only nearly (the halves path).
    if (exact > -(1n << 53n) && exact < 1n << 53n) {
      assert.equal(BigInt(got), exact, `case ${n}`);
      checked++;
    }
  }
  assert.ok(checked > 1000, `only ${checked} cases had an address below 2^53`);
});

test('ea: a stack address outside the canonical range is #SS on the double path too', () => {
  const { cpu } = makeLong64Cpu();
  const x = new Insn(() => {});
  x.ak = Ea.A64;
  x.base = 4;
  x.seg = Seg.FlatSS;
  cpu.gpr[2 * 4] = 0;
  cpu.gpr[2 * 4 + 1] = 0x8000; // 2^47: not canonical with 4-level paging
  assert.throws(() => ea(cpu, x), (e) => e === FAULT);
});

const FAST = new Set<unknown>([push64r, pop64r, callRel64, ret64, mov64load, mov64store, lea64]);

/** Runs `f` with the new 64-bit fast variants removed from the table rows (the decoder then picks the general handlers). */
function withoutFast<T>(f: () => T): T {
  const saved: [Row, Row['fast']][] = [];
  for (const row of tableRows()) {
    if (row.fast.some((v) => FAST.has(v.fn))) {
      saved.push([row, row.fast]);
      (row as { fast: Row['fast'] }).fast = row.fast.filter((v) => !FAST.has(v.fn));
    }
  }
  try {
    return f();
  } finally {
    for (const [row, fast] of saved) (row as { fast: Row['fast'] }).fast = fast;
  }
}

/** REX.W forms over rbx/rcx/rdx/rsi/rdi/r8, with the stack and data in the identity-mapped first 2 MiB. */
const SNIPPETS = [
  '53 51 41 50 5e 5f 41 59', // push rbx; push rcx; push r8; pop rsi; pop rdi; pop r9
  '54 5c 53 5c', // push rsp; pop rsp; push rbx; pop rsp
  '50 58 48 8d 64 24 f8 5b', // push rax; pop rax; lea rsp,[rsp-8]; pop rbx
  'e8 02 00 00 00 eb 03 5a 52 c3', // call +2; jmp +3; pop rdx; push rdx; ret
  '48 8b 1e 48 89 1f 4c 8b 07 4c 89 46 08', // mov rbx,[rsi]; mov [rdi],rbx; mov r8,[rdi]; mov [rsi+8],r8
  '48 8d 44 8b 10 48 8d 14 c5 f8 ff ff ff 4c 8d 0d 00 01 00 00', // lea rax,[rbx+rcx*4+16]; lea rdx,[rax*8-8]; lea r9,[rip+256]
  '65 48 8b 03 64 48 89 0b', // mov rax,gs:[rbx]; mov fs:[rbx],rcx
];

function runCase(seed: number, code: string): string {
  const r = seededRandom(seed);
  const t: TestCpu = makeLong64Cpu();
  // The same first 2 MiB also at 0xffffffff80000000 (PML4[511] -> PDPT[510] -> PD[0]), so stack and code
  // addresses there have int32 low halves with bit 31 set and a high half of -1, as a kernel's do.
  t.mem.writeU32(0x10000 + 511 * 8, 0x14000 | 7);
  t.mem.writeU32(0x14000 + 510 * 8, 0x15000 | 7);
  t.mem.writeU32(0x15000, 0x87);
  load(t.mem, 0x1000, `${code} f4`);
  for (let g = 0; g < 16; g++) {
    if (g === 4) continue;
    // Data pointers into 0x20000-0x40000; other registers any 64-bit value.
    t.cpu.gpr[g << 1] = g === 3 || g === 6 || g === 7 ? 0x20000 + Math.floor(r() * 0x20000) : (r() * 4294967296) | 0;
    t.cpu.gpr[(g << 1) | 1] = g === 3 || g === 6 || g === 7 ? 0 : r() < 0.5 ? 0 : (r() * 4294967296) | 0;
  }
  // RSP: usually in the mapped area; sometimes at the top of the address space or non-canonical (#SS).
  const k = r();
  if (k < 0.45) {
    t.cpu.gpr[2 * 4] = 0x8000 + Math.floor(r() * 0x1000) * 8;
    t.cpu.gpr[2 * 4 + 1] = 0;
  } else if (k < 0.8) {
    t.cpu.gpr[2 * 4] = (0x80008000 + Math.floor(r() * 0x1000) * 8) | 0;
    t.cpu.gpr[2 * 4 + 1] = -1;
    if (r() < 0.5) t.cpu.rip = -0x80000000 + 0x1000; // the code through the high mapping too
  } else if (k < 0.9) {
    t.cpu.gpr[2 * 4] = 8;
    t.cpu.gpr[2 * 4 + 1] = 0;
  } else {
    t.cpu.gpr[2 * 4] = 0;
    t.cpu.gpr[2 * 4 + 1] = 0x8000;
  }
  t.cpu.segBase[4] = 0x100;
  t.cpu.segBase[5] = -0x1000 + 0x20000;
  for (let a = 0x20000; a < 0x48000; a += 4) t.mem.writeU32(a, (r() * 4294967296) >>> 0);
  const fault = t.cpu.runUntilHalt(1000);
  const regs = Array.from({ length: 16 }, (_, g) => `${g}:${t.cpu.gpr[2 * g + 1]}:${t.cpu.gpr[2 * g]}`).join(' ');
  const stack = Array.from({ length: 0x2000 / 4 }, (_, w) => t.mem.readU32(0x7000 + w * 4)).join(',');
  const data = Array.from({ length: 0x28000 / 4 }, (_, w) => t.mem.readU32(0x20000 + w * 4)).reduce((h, v) => (Math.imul(h, 31) + v) | 0, 0);
  return `rip ${t.cpu.rip} ins ${t.cpu.instructions} ${fault} | ${regs} | ${stack} | ${data}`;
}

test('64-bit fast variants agree with the general handlers (seeded cases)', () => {
  let n = 0;
  for (const code of SNIPPETS) {
    for (let s = 0; s < 25; s++) {
      const seed = 1000 * SNIPPETS.indexOf(code) + s;
      const fast = runCase(seed, code);
      const general = withoutFast(() => runCase(seed, code));
      assert.equal(fast, general, `snippet "${code}" seed ${seed}`);
      n++;
    }
  }
  assert.equal(n, SNIPPETS.length * 25);
});

test('the 64-bit fast variants are what the decoder picks in 64-bit mode', () => {
  const t = makeLong64Cpu();
  load(t.mem, 0x1000, 'e8 01 00 00 00 f4 53 5b 48 8b 03 48 89 03 48 8d 04 4b c3');
  const seen = new Set<unknown>();
  for (const at of [0x1000, 0x1006]) for (const x of decodeBlock(t.cpu, at, at).insns) seen.add(x.fn);
  for (const f of FAST) assert.ok(seen.has(f), `${(f as { name: string }).name} not chosen`);
});
