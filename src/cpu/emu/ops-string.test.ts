// REP STOS/MOVS a page at a time (ops-string.ts bulk) against the element loop: seeded random cases in
// 64-bit mode over 4 KiB pages, with page-crossing elements, overlapping moves, runs past the 1024-element
// chunk, non-uniform fill values and a page that is not present (the fault must stop both at the same element).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, makeLong64Cpu, type TestCpu } from './cpu-harness.test-util.js';
import { repBulk } from './ops-string.js';
import { seededRandom } from '../../util/seeded-random.test-util.js';

const AREA = 0x100000;
const AREA_PAGES = 8;
const HOLE = AREA + 0x5000;

interface Case {
  movs: boolean;
  size: 1 | 2 | 4 | 8;
  src: number;
  dst: number;
  count: number;
  rax: [number, number];
  hole: boolean;
  fill: number;
}

const ENC: Record<string, string> = {
  'movs1': 'f3 a4', 'movs2': '66 f3 a5', 'movs4': 'f3 a5', 'movs8': 'f3 48 a5',
  'stos1': 'f3 aa', 'stos2': '66 f3 ab', 'stos4': 'f3 ab', 'stos8': 'f3 48 ab',
};

/** 4 KiB pages for the first 2 MiB (a page table instead of makeLong64Cpu's 2 MiB page), optionally one not present. */
function machine(k: Case): TestCpu {
  const t = makeLong64Cpu();
  const pt = 0x13000;
  for (let p = 0; p < 512; p++) t.mem.writeU32(pt + p * 8, p * 4096 === HOLE && k.hole ? 0 : (p * 4096) | 7);
  t.mem.writeU32(0x12000, pt | 7);
  const r = seededRandom(k.fill);
  for (let a = AREA; a < AREA + AREA_PAGES * 4096; a += 4) t.mem.writeU32(a, (r() * 4294967296) >>> 0);
  load(t.mem, 0x1000, `${ENC[(k.movs ? 'movs' : 'stos') + k.size]} f4`);
  t.cpu.gpr[2 * 6] = k.src;
  t.cpu.gpr[2 * 7] = k.dst;
  t.cpu.gpr[2 * 1] = k.count;
  t.cpu.gpr[2 * 0] = k.rax[0];
  t.cpu.gpr[2 * 0 + 1] = k.rax[1];
  return t;
}

function outcome(k: Case, bulk: boolean): string {
  repBulk.enabled = bulk;
  try {
    const t = machine(k);
    const r = t.cpu.runUntilHalt(100_000);
    const c = t.cpu;
    const mem = Buffer.from(t.mem.read(AREA, AREA_PAGES * 4096)).toString('hex');
    return JSON.stringify({ r, rcx: c.getGpr(1).toString(16), rsi: c.getGpr(6).toString(16), rdi: c.getGpr(7).toString(16), cr2: c.cr2, insns: c.instructions, iters: c.stringIters, ex: c.exceptionLog, mem });
  } finally {
    repBulk.enabled = true;
  }
}

function randomCase(r: () => number, i: number): Case {
  const size = ([1, 2, 4, 8] as const)[Math.floor(r() * 4)]!;
  const movs = r() < 0.5;
  // Near page boundaries half the time, so elements straddle them.
  const at = (): number => AREA + (r() < 0.5 ? Math.floor(r() * 7) * 4096 + 4096 - Math.floor(r() * 24) : Math.floor(r() * 0x6800));
  const src = at();
  const dst = movs && r() < 0.3 ? src + Math.floor(r() * 33) - 16 : at();
  const span = AREA + AREA_PAGES * 4096 - Math.max(src, dst);
  const cap = Math.max(0, Math.floor(span / size) - 1);
  const pick = r();
  const count = Math.min(cap, pick < 0.3 ? Math.floor(r() * 20) : pick < 0.7 ? Math.floor(r() * 700) : 1000 + Math.floor(r() * 3000));
  const u = r();
  const lo = u < 0.3 ? 0 : u < 0.4 ? -1 : u < 0.5 ? 0x41414141 : (r() * 4294967296) | 0;
  const hi = u < 0.3 ? 0 : u < 0.4 ? -1 : u < 0.5 && r() < 0.5 ? 0x41414141 : (r() * 4294967296) | 0;
  return { movs, size, src, dst, count, rax: [lo, hi], hole: r() < 0.2, fill: i + 1 };
}

test('REP STOS/MOVS a page at a time leave memory, registers, faults and counts as the element loop does', () => {
  const r = seededRandom(0x5eed5);
  let faults = 0;
  for (let i = 0; i < 300; i++) {
    const k = randomCase(r, i);
    const fast = outcome(k, true);
    const slow = outcome(k, false);
    if (fast.includes('"vector":14')) faults++;
    assert.equal(fast, slow, `case ${i}: ${JSON.stringify(k)}`);
  }
  assert.ok(faults > 10, `the cases include faults on the missing page (${faults})`);
});

test('REP MOVSB onto the next byte repeats the first byte, as element by element', () => {
  const k: Case = { movs: true, size: 1, src: AREA + 0x10, dst: AREA + 0x11, count: 5000, rax: [0, 0], hole: false, fill: 7 };
  const t = machine(k);
  const first = t.mem.read(AREA + 0x10, 1)[0]!;
  t.cpu.runUntilHalt(100_000);
  const out = t.mem.read(AREA + 0x11, 5000);
  assert.ok(out.every((b) => b === first));
});

test('REP STOSQ of a long run restarts every 1024 elements: one instruction, every element counted', () => {
  const k: Case = { movs: false, size: 8, src: 0, dst: AREA, count: 3000, rax: [0x12345678, 0x9abcdef0], hole: false, fill: 9 };
  const t = machine(k);
  t.cpu.runUntilHalt(100_000);
  assert.equal(t.cpu.stringIters, 3000);
  assert.equal(t.cpu.instructions, 2, 'REP STOSQ and HLT');
  assert.equal(t.cpu.getGpr(7), BigInt(AREA + 3000 * 8));
  assert.equal(t.mem.readU32(AREA + 2999 * 8 + 4), 0x9abcdef0);
});
