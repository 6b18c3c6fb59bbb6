import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCpu, type TestCpu } from './cpu-harness.test-util.js';
import { CR0_PE, CR0_PG, CR4_LA57, CR4_PAE, EFER_LME, FAULT, VEC_GP, VEC_PF } from './x86-defs.js';
import { translate } from './paging.js';
import { writeCr0, writeCr4 } from './control-regs.js';
import { cpuid, readMsr, writeMsr } from './msr.js';
import { canonicalTarget } from './address.js';
import { peekTranslate } from './debug-translate.js';
import { MSR } from '../registers.js';
import { restoreVcpu, saveVcpu } from './vcpu-state.js';

const READ = 0;
const WRITE = 1;
const TWO52 = 2 ** 52;

/** The fault a call raised, as vector and code (or the value it returned). */
function outcome(f: () => number, c: TestCpu['cpu']): { v?: number; vec?: number; code?: number } {
  try {
    return { v: f() };
  } catch (e) {
    assert.equal(e, FAULT);
    return { vec: c.excVec, code: c.excCode };
  }
}

/**
 * A vCPU that offers LA57, switched into long mode with 5-level paging the architectural way (CR4 first,
 * then EFER.LME, then CR0.PG). PML5 at 0x10000; its entry 0 and entry 511 lead to 4-level trees:
 * - 2^52 + 0x1000 (PML5 16, beyond 48 bits) -> 0x50000 via PML4 0x11000 / PDPT 0x12000 / PD 0x13000 / PT 0x14000;
 * - 0xfff0_0000_0000_0000 + 0x2000 (PML5 496) -> 0x60000 through the same lower tables;
 * - 0x3000 (PML5 0) -> 0x70000 through PML4 0x15000 / PDPT 0x16000 / PD 0x17000 / PT 0x18000.
 */
function fiveLevel(): TestCpu {
  const t = makeCpu(1 << 20);
  const w = (pa: number, lo: number): void => t.mem.writeU32(pa, lo);
  w(0x10000 + 16 * 8, 0x11000 | 7);
  w(0x10000 + 496 * 8, 0x11000 | 7);
  w(0x11000, 0x12000 | 7);
  w(0x12000, 0x13000 | 7);
  w(0x13000, 0x14000 | 7);
  w(0x14000 + 1 * 8, 0x50000 | 7);
  w(0x14000 + 2 * 8, 0x60000 | 7);
  w(0x10000, 0x15000 | 7);
  w(0x15000, 0x16000 | 7);
  w(0x16000, 0x17000 | 7);
  w(0x17000, 0x18000 | 7);
  w(0x18000 + 3 * 8, 0x70000 | 7);
  const c = t.cpu;
  c.la57 = true;
  c.setFlat32();
  c.cr3 = 0x10000;
  writeCr4(c, CR4_PAE | CR4_LA57);
  assert.ok(writeMsr(c, MSR.IA32_EFER, EFER_LME, 0));
  writeCr0(c, c.cr0 | CR0_PE | CR0_PG);
  return t;
}

test('CR4.LA57: #GP where the model does not offer it, writable outside long mode, fixed inside it', () => {
  const t = makeCpu();
  const c = t.cpu;
  c.setFlat32();
  assert.deepEqual(outcome(() => (writeCr4(c, CR4_LA57), 0), c), { vec: VEC_GP, code: 0 }, 'not offered: reserved');
  c.la57 = true;
  writeCr4(c, CR4_LA57);
  assert.equal(c.cr4 & CR4_LA57, CR4_LA57);
  assert.equal(c.canonLim, 2 ** 56, 'the canonical bound follows CR4.LA57');
  writeCr4(c, 0);
  assert.equal(c.canonLim, 2 ** 47);
  const l = fiveLevel().cpu;
  assert.deepEqual(outcome(() => (writeCr4(l, CR4_PAE), 0), l), { vec: VEC_GP, code: 0 }, 'clearing LA57 with EFER.LMA = 1');
  const f = makeCpu().cpu;
  f.la57 = true;
  f.setLong64(0x10000);
  assert.deepEqual(outcome(() => (writeCr4(f, CR4_PAE | CR4_LA57), 0), f), { vec: VEC_GP, code: 0 }, 'setting LA57 with EFER.LMA = 1');
});

test('5-level walk: addresses beyond 48 bits, the top of the space, the low half, A bits on all five levels', () => {
  const t = fiveLevel();
  const c = t.cpu;
  assert.equal(translate(c, TWO52 + 0x1abc, READ), 0x50abc);
  assert.equal(translate(c, -TWO52 + 0x2123, WRITE), 0x60123);
  assert.equal(translate(c, 0x3456, READ), 0x70456);
  for (const a of [0x10000 + 16 * 8, 0x11000, 0x12000, 0x13000, 0x14000 + 8]) assert.equal(t.mem.readU32(a) & 0x20, 0x20, `A bit at 0x${a.toString(16)}`);
  assert.equal(t.mem.readU32(0x14000 + 16) & 0x40, 0x40, 'D bit of the written page');
});

test('5-level walk: #PF through a PML5 entry that is not present, RSVD for PS in a PML5E', () => {
  const t = fiveLevel();
  const c = t.cpu;
  const lin = 3 * 2 ** 48 + 0x10; // PML5 entry 3: not present
  assert.deepEqual(outcome(() => translate(c, lin, WRITE), c), { vec: VEC_PF, code: 2 });
  assert.equal(c.cr2, lin);
  t.mem.writeU32(0x10000 + 3 * 8, 0x11000 | 0x87);
  assert.deepEqual(outcome(() => translate(c, lin, READ), c), { vec: VEC_PF, code: 1 | 8 });
});

test('canonical checks are 57-bit under CR4.LA57 and 48-bit without', () => {
  const c = fiveLevel().cpu;
  assert.equal(canonicalTarget(c, 2 ** 47), 2 ** 47, '2^47 is canonical with 57 bits');
  assert.equal(canonicalTarget(c, -(2 ** 56)), -(2 ** 56));
  assert.deepEqual(outcome(() => canonicalTarget(c, 2 ** 56), c), { vec: VEC_GP, code: 0 });
  assert.deepEqual(outcome(() => translate(c, 2 ** 56 + 2 ** 40, READ), c), { vec: VEC_GP, code: 0 });
  // WRMSR of an address MSR: canonical by the high half, exactly.
  assert.equal(writeMsr(c, MSR.IA32_FS_BASE, 0x1000, 0x100000), true, 'FS base 2^52 + 0x1000');
  assert.ok(readMsr(c, MSR.IA32_FS_BASE));
  assert.deepEqual([c.msrOut.lo, c.msrOut.hi], [0x1000, 0x100000]);
  assert.equal(writeMsr(c, MSR.IA32_LSTAR, 0, 0x01000000), false, '2^56 is not canonical');
  assert.equal(writeMsr(c, MSR.IA32_LSTAR, 0, -0x1fffff), true, '0xffe0_0001_0000_0000 is');
  const f = makeCpu().cpu;
  f.setLong64(0x10000);
  assert.equal(f.canonLim, 2 ** 47);
  assert.deepEqual(outcome(() => canonicalTarget(f, 2 ** 47), f), { vec: VEC_GP, code: 0 });
  assert.equal(writeMsr(f, MSR.IA32_FS_BASE, 0x1000, 0x100000), false);
  assert.equal(writeMsr(f, MSR.IA32_KERNEL_GS_BASE, 0, 0x7fff), true);
  assert.equal(writeMsr(f, MSR.IA32_KERNEL_GS_BASE, 0, 0x8000), false);
});

test('an address beyond +-2^53 stops the vCPU by name instead of touching a rounded address', () => {
  const c = fiveLevel().cpu;
  assert.deepEqual(outcome(() => translate(c, 2 ** 54 + 0x1000, READ), c), { vec: -1, code: -1 });
  assert.match(c.shutdownReason, /^emu: linear address 0x40000000001000 \(rounded\) lies beyond \+-2\^53/);
  assert.equal(c.breakRun, true);
  const d = fiveLevel().cpu;
  assert.deepEqual(outcome(() => (writeMsr(d, MSR.IA32_GS_BASE, 0, -0xef0000) ? 1 : 0), d), { vec: -1, code: -1 }, 'GS base 0xff11_0000_0000_0000');
});

test('CPUID advertises LA57 and 57 linear-address bits only where the model offers it', () => {
  const c = makeCpu().cpu;
  const ask = (leaf: number): Int32Array => {
    c.rl[0] = leaf;
    c.rl[1] = 0;
    cpuid(c);
    return Int32Array.of(c.rl[0]!, c.rl[3]!, c.rl[1]!, c.rl[2]!);
  };
  assert.equal(ask(7)[2]! & (1 << 16), 0);
  assert.equal((ask(0x8000_0008)[0]! >> 8) & 0xff, 48);
  c.la57 = true;
  assert.equal(ask(7)[2]! & (1 << 16), 1 << 16);
  assert.equal((ask(0x8000_0008)[0]! >> 8) & 0xff, 57);
  assert.equal(ask(0x8000_0008)[0]! & 0xff, 40, 'physical bits unchanged');
});

test('the debug walk (gdb) follows the PML5 and is exact for every 57-bit address, even beyond +-2^53', () => {
  const t = fiveLevel();
  const c = t.cpu;
  assert.equal(peekTranslate(c, TWO52 + 0x1abc), 0x50abc);
  assert.equal(peekTranslate(c, 0xfff0_0000_0000_2123n), 0x60123);
  // 0xff11_0000_0000_1123 (Linux's 5-level direct map) through PML5 entry 0x111 -> the same lower tables.
  t.mem.writeU32(0x10000 + 0x111 * 8, 0x11000 | 7);
  assert.equal(peekTranslate(c, 0xff11_0000_0000_1123n), 0x50123);
  assert.equal(peekTranslate(c, 0x0100_0000_0000_1123n), -1, 'non-canonical with 57 bits');
  assert.equal(peekTranslate(c, 3n << 48n), -1, 'PML5 entry not present');
});

test('a saved vCPU under 5-level paging restores with its PML5 walk and 57-bit canonical bound', () => {
  const t = fiveLevel();
  const saved = saveVcpu(t.cpu);
  const u = makeCpu(1 << 20);
  u.mem.write(0, t.mem.regions[0]!.bytes);
  u.cpu.la57 = true;
  restoreVcpu(u.cpu, saved);
  assert.equal(u.cpu.cr4 & CR4_LA57, CR4_LA57);
  assert.equal(u.cpu.canonLim, 2 ** 56);
  assert.equal(translate(u.cpu, -TWO52 + 0x2123, READ), 0x60123);
});
