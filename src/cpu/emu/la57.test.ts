import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, makeCpu, type TestCpu } from './cpu-harness.test-util.js';
import { rd32 } from './mem-access.js';
import { invlpg } from './tlb.js';
import { CR0_PE, CR0_PG, CR4_LA57, CR4_PAE, EFER_LME, FAULT, VEC_GP, VEC_PF } from './x86-defs.js';
import { translate } from './paging.js';
import { writeCr0, writeCr4 } from './control-regs.js';
import { cpuid, readMsr, writeMsr } from './msr.js';
import { canonicalTarget, codeWindowRecycles, linOf, recycleCodeWindows, ripFromU64, ripOf, ripU64, u64ToAddr } from './address.js';
import { peekTranslate } from './debug-translate.js';
import { MSR } from '../registers.js';
import { restoreVcpu, saveVcpu } from './vcpu-state.js';
import { getRegister, setRegister } from './register-catalog.js';
import { REG, msrReg } from '../registers.js';
import { HostBreakpoints, HostStop, refreshDebug, type HostDebug } from './debug-regs.js';
import { ipLin } from './run-loop.js';
import { stopEventOf } from '../../debug/gdb/emu-target.js';

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
  assert.equal(ripU64(canonicalTarget(c, -(2 ** 56))), 0xff00_0000_0000_0000n, 'a code handle there (address.ts ripOf)');
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

/** imm64 as little-endian hex. */
function q(v: bigint): string {
  let h = '';
  for (let k = 0n; k < 64n; k += 8n) h += Number((v >> k) & 0xffn).toString(16).padStart(2, '0');
  return h;
}

const A = 0xff11_0000_0000_1234n; // Linux's 5-level direct map
const B = 0xff11_0000_0000_1ffdn; // a qword across two pages
const S = 0xffa0_0000_0010_1004n; // vmalloc (kernel stacks): PUSH across two pages
const U = 0x00ff_ffff_ffff_f000n; // the top page of the user half
const V = 0x0102_0304_0506_0708n;

/**
 * A vCPU in 64-bit mode under 5-level paging: PML5 0x10000, entry 0 identity-maps the first 2 MiB (the code at
 * 0x1000); entries 0x111 (A, B) and 0x1a0 (S) share a tree whose PT 0x23000 maps index 1 -> 0x80000, 2 ->
 * 0x81000, 0x100 -> 0x82000, 0x101 -> 0x83000 (3 absent); entry 0xff leads by entries 511 to U -> 0x84000.
 */
function bigCpu(code: string): TestCpu {
  const t = makeCpu();
  const w = (pa: number, v: number): void => t.mem.writeU32(pa, v);
  w(0x10000, 0x11000 | 7);
  w(0x11000, 0x12000 | 7);
  w(0x12000, 0x13000 | 7);
  w(0x13000, 0x87);
  w(0x10000 + 0x111 * 8, 0x20000 | 7);
  w(0x10000 + 0x1a0 * 8, 0x20000 | 7);
  w(0x20000, 0x21000 | 7);
  w(0x21000, 0x22000 | 7);
  w(0x22000, 0x23000 | 7);
  w(0x23000 + 1 * 8, 0x80000 | 7);
  w(0x23000 + 2 * 8, 0x81000 | 7);
  w(0x23000 + 0x100 * 8, 0x82000 | 7);
  w(0x23000 + 0x101 * 8, 0x83000 | 7);
  w(0x10000 + 0xff * 8, 0x24000 | 7);
  w(0x24000 + 511 * 8, 0x25000 | 7);
  w(0x25000 + 511 * 8, 0x26000 | 7);
  w(0x26000 + 511 * 8, 0x27000 | 7);
  w(0x27000 + 511 * 8, 0x84000 | 7);
  const c = t.cpu;
  c.la57 = true;
  c.setLong64(0x10000);
  c.cr4 |= CR4_LA57;
  c.updateMode();
  t.mem.write(0x1000, hex(code + ' f4'));
  c.gpr[2 * 4] = 0x8000;
  c.rip = 0x1000;
  return t;
}


/** Vector `vec` of an IDT at 0x3000 goes to `handler` (hex bytes) at 0x1800 in a 64-bit code segment (GDT 0x4000). */
function withHandler(t: TestCpu, vec: number, handler: string): TestCpu['cpu'] {
  const c = t.cpu;
  t.mem.write(0x3000 + vec * 16, hex('0018 0800 008e 0000 0000 0000 0000 0000'));
  t.mem.write(0x1800, hex(handler));
  c.idtBase = 0x3000;
  c.idtLimit = 0xfff;
  t.mem.write(0x4008, hex('0000 0000 009a 2000'));
  c.gdtBase = 0x4000;
  c.gdtLimit = 0xff;
  return c;
}

test('5-level paging beyond +-2^53: loads, stores, page-crossing, PUSH/CALL/RET/POP, REP MOVSB and a GS base, exactly', () => {
  const t = bigCpu(`
    48b8${q(A)} c70044332211 488b18
    48b9${q(B)} 48ba${q(V)} 488911 4c8b01
    48bc${q(S)} 52 e802000000 eb05 4c8b1c24 c3 4159
    48be${q(A)} 48bf${q(U)} b904000000 f3a4 48bf${q(U)} 4c8b27
    b9010100c0 b800000000 ba000011ff 0f30 658b042534120000 4189c5 0f32
    48b8${q(A)} 48834008ff`);
  const c = t.cpu;
  assert.equal(c.runUntilHalt(1000), 'hlt');
  const g = (r: number): bigint => c.getGpr(r);
  assert.equal(g(3) & 0xffff_ffffn, 0x11223344n, 'a store and a load at 0xff11000000001234');
  assert.equal(t.mem.readU32(0x80234), 0x11223344);
  assert.equal(g(8), V, 'a qword across 0xff11000000001fff/2000');
  assert.deepEqual([...t.mem.read(0x80ffd, 3)], [8, 7, 6]);
  assert.deepEqual([...t.mem.read(0x81000, 5)], [5, 4, 3, 2, 1]);
  assert.equal(g(9), V, 'PUSH across 0xffa0000000100fff/1000000, then POP');
  assert.deepEqual([...t.mem.read(0x82ffc, 4)], [8, 7, 6, 5]);
  assert.deepEqual([...t.mem.read(0x83000, 4)], [4, 3, 2, 1]);
  assert.equal(g(4), S, 'RSP back where it was');
  assert.equal(g(11), BigInt(0x1000 + 61), 'CALL pushed its return address at 0xffa0000000100ff4, RET took it');
  assert.equal(t.mem.readU32(0x84000), 0x11223344, 'REP MOVSB from the direct map to 0x00fffffffffff000');
  assert.equal(g(12) & 0xffff_ffffn, 0x11223344n);
  assert.equal(g(13), 0x11223344n, 'GS:0x1234 with GS base 0xff11000000000000');
  assert.equal(g(2), 0xff110000n, 'RDMSR reads the GS base back exactly');
  assert.equal(t.mem.readU32(0x8023c), 0xffffffff, 'ADD [rax+8], -1 (read-modify-write)');
});

test('5-level paging beyond +-2^53: CMPXCHG16B checks the alignment of the exact address (as SLUB does on vmemmap)', () => {
  const t = bigCpu(`48bf${q(0xff11_0000_0000_1240n)} 31c0 31d2 bb44332211 b988776655 f0480fc70f 0f94c0`);
  const c = t.cpu;
  assert.equal(c.runUntilHalt(1000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.equal(c.getGpr(0) & 0xffn, 1n, 'ZF: the comparison matched');
  assert.deepEqual([t.mem.readU32(0x80240), t.mem.readU32(0x80248)], [0x11223344, 0x55667788]);
});

test('5-level paging beyond +-2^53: #PF with the exact CR2, MOV from CR2, INVLPG, non-canonical #GP', () => {
  // RSP within the identity map; IDT at 0x3000 with #PF (14) -> 0x1800: MOV RAX, CR2; HLT.
  const t = bigCpu(`48b8${q(0xff11_0000_0000_3008n)} 8b00`);
  const c = withHandler(t, 14, '0f20d0 f4'); // MOV RAX, CR2; HLT
  assert.equal(c.runUntilHalt(1000), 'hlt');
  assert.equal(c.getGpr(0), 0xff11_0000_0000_3008n, 'CR2 of the read at 0xff11000000003008 (PT entry 3 absent)');
  assert.equal(t.mem.readU32(0x8000 - 40), 0x1000 + 10, 'the #PF names the load');
  assert.equal(t.mem.readU32(0x8000 - 48), 0, 'error code: read, not present');
  const ra = linOf(c, 0xff11_0000 | 0, 0x1234);
  assert.equal(rd32(c, ra), 0x0);
  // A remapped page is seen after INVLPG, not before (the big TLB holds the old one).
  t.mem.writeU32(0x81234, 0x5a5a5a5a);
  t.mem.writeU32(0x23000 + 8, 0x81000 | 7);
  assert.equal(rd32(c, linOf(c, 0xff11_0000 | 0, 0x1234)), 0, 'stale until INVLPG');
  invlpg(c, linOf(c, 0xff11_0000 | 0, 0x1234));
  assert.equal(rd32(c, linOf(c, 0xff11_0000 | 0, 0x1234)), 0x5a5a5a5a);
  assert.deepEqual(outcome(() => rd32(c, linOf(c, 0x0100_0000, 0)), c), { vec: VEC_GP, code: 0 }, '2^56 is not canonical');
  const saved = saveVcpu(c);
  assert.equal(saved.cr2, 0xff11_0000_0000_3008n, 'saved exactly');
});

test('5-level paging beyond +-2^53: a DR0 write breakpoint fires exactly (DR6.B0), not on bytes a double would round onto it', () => {
  // DR0 = A (0xff11000000001234, where doubles are 8 apart), DR7: L0, R/W 01 (write), LEN 11 (4 bytes).
  // #DB (1) -> 0x1800: MOV RAX, DR6; HLT.
  const t = bigCpu(`48b8${q(A)} 0f23c0 0f21c3 b9${q(0x000d_0001n).slice(0, 8)} 0f23f9
    c7400411223344 c740fc11223344 8b10 c6400355 90`);
  const c = withHandler(t, 1, '0f21f0 f4'); // MOV RAX, DR6; HLT
  assert.equal(c.runUntilHalt(1000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.equal(c.getGpr(3), A, 'MOV from DR0 reads the exact address');
  assert.equal(c.getGpr(0), 0xffff_0ff1n, 'DR6: B0');
  assert.equal(t.mem.readU32(0x8000 - 40), 0x1000 + 44, 'a trap after the byte store at A + 3, not at A + 4 or A - 4 or the read');
  assert.equal(t.mem.read(0x80237, 1)[0], 0x55);
  assert.equal(saveVcpu(c).dr[0], A, 'saved exactly');
});

test('5-level paging beyond +-2^53: a host (gdb) write watchpoint there stops exactly and reports its exact address', () => {
  const W = A + 4n; // 0xff11000000001238: the double nearest A as well
  const t = bigCpu(`48b8${q(A)} c60055 c6400166 c6400477 90`);
  const c = t.cpu;
  const debug: HostDebug = { breakpoints: new HostBreakpoints(), watches: [{ lin: u64ToAddr(W), len: 1, kind: 'write', addr: W }], step: false, stopAt: -1 };
  c.hostDebug = debug;
  refreshDebug(c, true);
  c.run(1000);
  assert.equal(c.hostStop, HostStop.Watch, 'the store at A + 4 stops the vCPU');
  assert.equal(t.mem.read(0x80238, 1)[0], 0x77);
  assert.equal(c.rip, 0x1000 + 21, 'after that store, not after the stores at A or A + 1');
  assert.deepEqual(stopEventOf(c), { kind: 'watch', thread: 1, address: W, watch: 'write' });
});

test('5-level paging beyond +-2^53: XLAT with RBX there, ENTER nesting with RBP there', () => {
  const t = bigCpu(`48bb${q(A - 3n)} b003 d7 88c2 48bd${q(S + 0xcn)} c8100002 4c8b442418`);
  const c = t.cpu;
  t.mem.write(0x80234, Uint8Array.of(0x5a));
  t.mem.writeU32(0x83008, 0x778899aa);
  t.mem.writeU32(0x8300c, 0x11223344);
  assert.equal(c.runUntilHalt(1000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.equal(c.getGpr(2) & 0xffn, 0x5an, 'XLAT read the byte at 0xff11000000001234');
  assert.equal(c.getGpr(8), 0x1122_3344_7788_99aan, 'ENTER copied [RBP - 8] at 0xffa0000000101008');
  assert.equal(c.getGpr(5), 0x8000n - 8n, 'RBP = the frame');
});

test('5-level paging beyond +-2^53: BTS with a register bit offset reaching there', () => {
  const off = ((A - 0x1000n) * 8n + 3n) & ((1n << 64n) - 1n); // from RAX = 0x1000: the qword at A - 4, bit 35 (A's bit 3)
  const t = bigCpu(`b800100000 48b9${q(off)} 480fab08 480fa308 0f92c2`);
  const c = t.cpu;
  t.mem.write(0x80234, Uint8Array.of(0x5a));
  assert.equal(c.runUntilHalt(1000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.equal(t.mem.read(0x80234, 1)[0], 0x5a | 0x08, 'BTS set bit 3 at 0xff11000000001234');
  assert.equal(c.getGpr(2) & 0xffn, 1n, 'BT reads it back (SETC)');
});

test('a rounded linear address beyond +-2^53 (not a handle) still stops the vCPU by name; LSTAR there is held exactly', () => {
  const c = fiveLevel().cpu;
  assert.deepEqual(outcome(() => translate(c, 2 ** 54 + 0x1000, READ), c), { vec: -1, code: -1 });
  assert.match(c.shutdownReason, /^emu: linear address 0x40000000001000 \(rounded\) lies beyond \+-2\^53/);
  assert.equal(c.breakRun, true);
  const d = fiveLevel().cpu;
  assert.equal(writeMsr(d, MSR.IA32_LSTAR, 0x1235, -0xef0000), true, 'LSTAR 0xff11_0000_0000_1235');
  assert.ok(readMsr(d, MSR.IA32_LSTAR));
  assert.deepEqual([d.msrOut.lo, d.msrOut.hi], [0x1235, -0xef0000]);
  assert.equal(writeMsr(fiveLevel().cpu, MSR.IA32_GS_BASE, 0, -0xef0000), true, 'a GS base there is held exactly');
});

test('CPUID advertises LA57 and 57 linear-address bits only where the model offers it', () => {
  const c = makeCpu().cpu;
  const ask = (leaf: number): Int32Array => {
    c.gpr[2 * 0] = leaf;
    c.gpr[2 * 1] = 0;
    cpuid(c);
    return Int32Array.of(c.gpr[2 * 0]!, c.gpr[2 * 3]!, c.gpr[2 * 1]!, c.gpr[2 * 2]!);
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

/** 32-bit little-endian hex. */
function d(v: number): string {
  return q(BigInt(v >>> 0)).slice(0, 8);
}

const A0 = 0xff11_0000_0000_1000n; // PT index 1 -> 0x80000 (bigCpu)
const A2 = 0xff11_0000_0000_2000n; // PT index 2 -> 0x81000
const S2 = 0xffa0_0000_0010_1800n; // PT index 0x101 -> 0x83000

test('5-level paging beyond +-2^53: a loop over a buffer, a stack and GS data there walks and calls out only at its first touches', () => {
  const n = 3000;
  // MOV RAX, A0; MOV RSP, S2; GS base = A0 (WRMSR); MOV ECX, n; then n times: MOV EDX, [RAX]; ADD [RAX+4], EDX;
  // MOV RDI, [RAX+8]; MOV [RAX+0x10], RDI; MOV EBX, [RAX+0x1000]; PUSH RDX; POP RSI; MOV EBP, GS:[4]; LOOP.
  const t = bigCpu(`b9010100c0 b800100000 ba000011ff 0f30 48b8${q(A0)} 48bc${q(S2)} b9${d(n)}
    8b10 015004 488b7808 48897810 8b9800100000 52 5e 658b2c2504000000 ffc9 75df`);
  const c = t.cpu;
  t.mem.writeU32(0x80000, 1);
  t.mem.writeU32(0x80008, 0x5a5a5a5a);
  t.mem.writeU32(0x81000, 0x77);
  assert.equal(c.runUntilHalt(100_000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.equal(t.mem.readU32(0x80004), n);
  assert.equal(t.mem.readU32(0x80010), 0x5a5a5a5a);
  assert.equal(c.getGpr(5), BigInt(n), 'GS:[4] with GS base 0xff11000000001000');
  assert.equal(c.getGpr(3), 0x77n);
  assert.equal(c.getGpr(6), 1n, 'PUSH and POP at 0xffa0000000101800');
  assert.equal(c.getGpr(4), S2);
  // Two data pages and a stack page, read and written: a few walks (A0's entry shares its TLB index with the code's
  // page at 0x1000, which a fetch refills now and then), not one per access (7 a pass, 21 000 in all).
  assert.ok(c.bigWalks <= 20, `${c.bigWalks} walks`);
  assert.ok(c.bigCallouts <= 20, `${c.bigCallouts} calls out of compiled code`);
});

test('5-level paging beyond +-2^53: a remapped page after INVLPG and after a CR3 write, a write-protected one after INVLPG (#PF)', () => {
  // Reads [A2]; remaps PT entry 2 to 0x80000 (PT 0x23000 is identity-mapped); reads again (the TLB's), INVLPG, reads
  // (the new page); back to 0x81000, MOV CR3 (reload), reads; writes [A2+0x100]; makes the entry read-only, INVLPG,
  // writes again: #PF (P, W) with CR2 = A2 + 0x100 -> 0x1800: MOV RAX, CR2; HLT. (A2's TLB index, 2, is no other
  // page's here: nothing else drops its entry.)
  const t = bigCpu(`48b8${q(A2)} 8b18 c7042510300200${d(0x80007)} 8b08 0f0138 8b10
    c7042510300200${d(0x81007)} 0f20de 0f22de 8b38
    c78000010000${d(1)} c7042510300200${d(0x81005)} 0f0138 c78000010000${d(2)}`);
  const c = withHandler(t, 14, '0f20d0 f4'); // MOV RAX, CR2; HLT
  t.mem.writeU32(0x80000, 0x11111111);
  t.mem.writeU32(0x81000, 0x22222222);
  assert.equal(c.runUntilHalt(1000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.equal(c.getGpr(3), 0x22222222n);
  assert.equal(c.getGpr(1), 0x22222222n, 'the old page until INVLPG');
  assert.equal(c.getGpr(2), 0x11111111n, 'the new page after INVLPG');
  assert.equal(c.getGpr(7), 0x22222222n, 'the first page again after MOV CR3');
  assert.equal(t.mem.readU32(0x81100), 1, 'the write before the entry became read-only, not the one after');
  assert.equal(c.getGpr(0), A2 + 0x100n, 'CR2 exact');
  assert.equal(t.mem.readU32(0x8000 - 48), 3, 'error code: present, write');
});

test('5-level paging beyond +-2^53: INVPCID of one address there drops that page, not the PCID\'s others', () => {
  // Reads [A2] (PT entry 2 -> 0x81000) and [A100] (entry 0x100 -> 0x82000; TLB index 0x100, no other page's here);
  // swaps the two entries; INVPCID type 0 (RDI = 0) with the descriptor at 0x9000 (PCID 0, A2); reads both again:
  // A2 its new page, A100 its old entry still.
  const A100 = 0xff11_0000_0010_0000n;
  const t = bigCpu(`48b8${q(A2)} 48ba${q(A100)} 8b18 8b0a c7042510300200${d(0x82007)} c7042500380200${d(0x81007)}
    31ff 660f38823c2500900000 8b30 8b2a`);
  const c = t.cpu;
  t.mem.writeU32(0x81000, 0x22222222);
  t.mem.writeU32(0x82000, 0x33333333);
  t.mem.write(0x9000, new Uint8Array(8));
  t.mem.write(0x9008, hex(q(A2)));
  assert.equal(c.runUntilHalt(1000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.deepEqual([c.getGpr(3), c.getGpr(1)], [0x22222222n, 0x33333333n], 'before');
  assert.equal(c.getGpr(6), 0x33333333n, 'A2: its new page after INVPCID');
  assert.equal(c.getGpr(5), 0x33333333n, 'A100: its old entry (only A2 was named)');
});

test('5-level paging beyond +-2^53: A and D bits of a page there are set by its first read and its first write, as below', () => {
  const read = bigCpu(`48b8${q(A2)} 8b18`);
  read.mem.writeU32(0x23000 + 2 * 8, 0x81000 | 7);
  assert.equal(read.cpu.runUntilHalt(1000), 'hlt');
  assert.equal(read.mem.readU32(0x23000 + 2 * 8) & 0x60, 0x20, 'read: A, not D');
  const write = bigCpu(`48b8${q(A2)} 8b18 8b5808 8918 895808`);
  assert.equal(write.cpu.runUntilHalt(1000), 'hlt');
  assert.equal(write.mem.readU32(0x23000 + 2 * 8) & 0x60, 0x60, 'read, then write: A and D');
});

test('5-level paging beyond +-2^53: stores through an alias there to a page of decoded code are seen (self-modifying code)', () => {
  // PT entry 4 maps 0xff11000000004000 to 0x2000, which holds f (XOR ECX, ECX; RET) and at 0x2100 g (XOR EBX,
  // EBX; RET). Both run (decoded, compiled); a store through the alias changes g while f keeps the page code,
  // then one makes f INC ECX; RET, which the last call runs.
  const t = bigCpu(`48b8${q(0xff11_0000_0000_4000n)} b907000000 ba00200000 ffd2 be00210000 ffd6
    c78000010000${d(0xc3909090)} 66c700ffc1 b907000000 ffd2`);
  const c = t.cpu;
  t.mem.writeU32(0x23000 + 4 * 8, 0x2000 | 7);
  t.mem.write(0x2000, hex('31c9 c3'));
  t.mem.write(0x2100, hex('31db c3'));
  c.gpr[2 * 3] = 5;
  assert.equal(c.runUntilHalt(1000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.deepEqual([...t.mem.read(0x2000, 3)], [0xff, 0xc1, 0xc3]);
  assert.equal(c.getGpr(1), 8n, 'the changed f ran');
  assert.equal(c.getGpr(3), 0n, 'g ran before it changed');
});

test('5-level paging beyond +-2^53: a DR0 breakpoint on a page written before, at its end (the double rounds onto the next page)', () => {
  // DR0 = 0xff11000000001ffe (its double rounds to ...2000), DR7: L0, R/W 01 (write), LEN 01 (2 bytes). A store to
  // the page before DR7 is set gave it a write entry; then a store beside the breakpoint, one onto it (+1): #DB
  // (1) -> 0x1800: MOV RAX, DR6; HLT.
  const t = bigCpu(`48b8${q(0xff11_0000_0000_1ffen)} c740f2${d(0)} 0f23c0 b9${d(0x0005_0001)} 0f23f9
    c740f8${d(0x11223344)} c6400155 90`);
  const c = withHandler(t, 1, '0f21f0 f4'); // MOV RAX, DR6; HLT
  assert.equal(c.runUntilHalt(1000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.equal(c.getGpr(0), 0xffff_0ff1n, 'DR6: B0');
  assert.equal(t.mem.readU32(0x8000 - 40), 0x1000 + 39, 'a trap after the byte store at 0xff11000000001fff');
  assert.equal(t.mem.read(0x80fff, 1)[0], 0x55);
});

test('GS data beyond +-2^53 read on both sides of a forward branch inside a compiled block: the base is formed on every path', () => {
  // GS base = A0. n times: if ECX is even, EBX += GS:[0] (the block's first GS access, inside the branch's span);
  // then EDI += GS:[8] (after the join, where the way round it never formed the base).
  const n = 3000;
  const t = bigCpu(`b9010100c0 b800100000 ba000011ff 0f30 b9${d(n)}
    89c8 83e001 750a 658b142500000000 01d3 658b342508000000 01f7 ffc9 75e1`);
  const c = t.cpu;
  t.mem.writeU32(0x80000, 3);
  t.mem.writeU32(0x80008, 5);
  assert.equal(c.runUntilHalt(100_000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.equal(c.getGpr(3), BigInt((3 * n) / 2));
  assert.equal(c.getGpr(7), BigInt(5 * n));
});

// ------------------------------------------------------------ RIP beyond +-2^53 (code handles, address.ts ripOf)

const F = 0xff11_0000_0000_1010n; // PT index 1 -> 0x80010 (bigCpu)
const F_LOW = 0x80010n; // the same bytes through the identity map

/** Hex of the signed 32-bit displacement `v`. */
function s32(v: number): string {
  return d(v | 0);
}

test('RIP beyond +-2^53: fetch, CALL/RET, CALL rel32\'s pushed address, a hot loop with a RIP-relative operand, LEA [rip]; the same bytes at a low alias', () => {
  // F: LEA RBX,[RIP]; MOV RCX,[RSP]; CALL +0; POP RDX; MOV ESI,3000; XOR EDI,EDI;
  //    L: ADD EDI,[RIP+to F+0x200]; DEC ESI; JNZ L; LEA RAX,[RIP+0x100]; MOV ESI,[RIP+to F+0x204]; RET
  const fn = `488d1d00000000 488b0c24 e800000000 5a be${d(3000)} 31ff
    033d${s32(0x200 - 30)} ffce 75f6 488d0500010000 8b35${s32(0x204 - 47)} c3`;
  // The low alias first (hot: compiled there under the JIT), then the same physical bytes at F.
  const t = bigCpu(`48b8${q(F_LOW)} ffd0 4989f8 4989c1 48b8${q(F)} ffd0`);
  t.mem.write(0x80010, hex(fn));
  t.mem.writeU32(0x80210, 3);
  t.mem.writeU32(0x80214, 0x5a5a1234);
  const c = t.cpu;
  assert.equal(c.runUntilHalt(100_000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  const g = (r: number): bigint => c.getGpr(r);
  assert.equal(g(8), 9000n, 'the loop at the low alias');
  assert.equal(g(9), F_LOW + 0x129n);
  assert.equal(g(7), 9000n, 'the loop at F: ADD EDI,[RIP+disp] read F+0x200 each time');
  assert.equal(g(3), F + 7n, 'LEA RBX,[RIP] there');
  assert.equal(g(0), F + 0x129n, 'LEA RAX,[RIP+0x100]');
  assert.equal(g(1), 0x101en, 'CALL RAX from below pushed its return address; RET there took it');
  assert.equal(g(2), F + 16n, 'CALL rel32 there pushed its exact next RIP');
  assert.equal(g(6), 0x5a5a1234n, 'MOV ESI,[RIP+disp] there');
  assert.equal(c.getRip(), 0x101fn);
});

test('RIP beyond +-2^53: compiled code below calls, jumps and returns there (indirect CALL, PUSH+RET), exactly', () => {
  // 3000 times: CALL RAX = G (INC RBX; RET), CALL P (at 0x1100: PUSH G2; RET), G2: INC RSI; RET.
  const G = 0xff11_0000_0000_1800n;
  const G2 = 0xff11_0000_0000_1810n;
  const t = bigCpu(`b9${d(3000)} 48b8${q(G)} ffd0 e8${s32(0x1100 - 0x1016)} ffc9 75eb`);
  t.mem.write(0x1100, hex(`48b8${q(G2)} 50 c3`));
  t.mem.write(0x80800, hex('48ffc3 c3'));
  t.mem.write(0x80810, hex('48ffc6 c3'));
  const c = t.cpu;
  assert.equal(c.runUntilHalt(100_000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.equal(c.getGpr(3), 3000n);
  assert.equal(c.getGpr(6), 3000n);
  assert.equal(c.getRip(), 0x101bn);
});

test('RIP beyond +-2^53: SYSCALL with LSTAR there, SYSRET to RCX there, INT n through a gate there, IRETQ back, exactly', () => {
  const L = 0xff11_0000_0000_1400n; // -> 0x80400
  const U2 = 0x00ff_ffff_ffff_f010n; // -> 0x84010
  const H = 0xff11_0000_0000_2010n; // -> 0x81010
  // LSTAR = L; EFER.SCE; STAR: SYSCALL CS 8, SYSRET base 0x10; JMP U2.
  const t = bigCpu(`b9820000c0 b8${d(Number(L & 0xffff_ffffn))} ba${d(Number(L >> 32n))} 0f30
    b9800000c0 0f32 0d01000000 0f30 b9810000c0 31c0 ba08001000 0f30 48b8${q(U2)} ffe0`);
  const c = withHandler(t, 14, 'f4');
  t.mem.write(0x4010, hex('ffff 0000 0092 cf00')); // SS 0x10 (SYSCALL's), which IRETQ loads again
  // Gate 0x20 -> H (selector 8, 64-bit interrupt gate).
  t.mem.write(0x3000 + 0x20 * 16, hex(`1020 0800 008e 0000 ${q(H >> 32n).slice(0, 8)} 00000000`));
  // U2: SYSCALL; (back at CPL 3) LEA RDI,[RIP]; SYSCALL.
  t.mem.write(0x84010, hex('0f05 488d3d00000000 0f05'));
  // L: INC R10; CMP R10,2; JE +6; MOV R12,RCX; SYSRET; MOV R13,RCX; INT 0x20; HLT.
  t.mem.write(0x80400, hex('49ffc2 4983fa02 7406 4989cc 480f07 4989cd cd20 f4'));
  // H: MOV R14,[RSP]; IRETQ.
  t.mem.write(0x81010, hex('4c8b3424 48cf'));
  assert.equal(c.runUntilHalt(1000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  const g = (r: number): bigint => c.getGpr(r);
  assert.equal(g(10), 2n);
  assert.equal(g(12), U2 + 2n, 'RCX of the first SYSCALL: its exact next RIP');
  assert.equal(g(7), U2 + 9n, 'SYSRET went to RCX exactly (LEA RDI,[RIP] at CPL 3)');
  assert.equal(c.cpl, 0);
  assert.equal(g(13), U2 + 11n);
  assert.equal(g(14), L + 20n, 'INT 0x20 pushed its exact next RIP; the gate\'s target ran');
  assert.equal(c.getRip(), L + 21n, 'IRETQ came back there');
  const saved = saveVcpu(c);
  assert.equal(saved.rip, L + 21n, 'saved exactly');
  assert.equal(saved.msrs.find((m) => m.index === MSR.IA32_LSTAR)?.value, L);
});

test('RIP beyond +-2^53: a fetch #PF has the exact CR2 and RIP, an instruction crossing pages there, #GP for a non-canonical target', () => {
  // JMP to 0xff11000000000ff8 (-> 0x80ff8): MOV RBX, V (10 bytes, into the next page), MOV RAX, 2^56; JMP RAX: #GP.
  const t = bigCpu(`48b8${q(0xff11_0000_0000_1ff8n)} ffe0`);
  t.mem.write(0x80ff8, hex(`48bb${q(V)} 48b8${q(1n << 56n)} ffe0`));
  const c = withHandler(t, 13, 'f4');
  assert.equal(c.runUntilHalt(1000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.equal(c.getGpr(3), V, 'the instruction across 0xff11000000001fff/2000');
  const ripAt = (a: number): bigint => (BigInt(t.mem.readU32(a + 4)) << 32n) | BigInt(t.mem.readU32(a));
  assert.equal(ripAt(0x8000 - 40), 0xff11_0000_0000_2000n + 12n, '#GP at the JMP RAX, its RIP exact');
  // A fetch from 0xff11000000003000 (PT entry 3 absent): #PF, CR2 and the pushed RIP exact.
  const p = bigCpu(`48b8${q(0xff11_0000_0000_3000n)} ffe0`);
  const pc = withHandler(p, 14, '0f20d0 f4'); // MOV RAX, CR2; HLT
  assert.equal(pc.runUntilHalt(1000), 'hlt');
  assert.equal(pc.getGpr(0), 0xff11_0000_0000_3000n);
  assert.equal((BigInt(p.mem.readU32(0x8000 - 36)) << 32n) | BigInt(p.mem.readU32(0x8000 - 40)), 0xff11_0000_0000_3000n);
  assert.equal(p.mem.readU32(0x8000 - 48) & 1, 0, 'not present');
});

test('RIP beyond +-2^53: a DR0 instruction breakpoint there fires at its exact address; gdb and snapshots keep RIP exact', () => {
  const X = 0xff11_0000_0000_2045n; // -> 0x81045; doubles there are 8 apart
  // DR0 = X, DR7 = L0 (execute); JMP to X - 5 (NOPs); #DB -> 0x1800: MOV RAX, DR6; HLT.
  const t = bigCpu(`48b8${q(X)} 0f23c0 b801000000 0f23f8 48b8${q(X - 5n)} ffe0`);
  t.mem.write(0x81040, hex('90 90 90 90 90 90 90 f4'));
  const c = withHandler(t, 1, '0f21f0 f4');
  assert.equal(c.runUntilHalt(1000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.equal(c.getGpr(0) & 0xfn, 1n, 'DR6: B0');
  assert.equal((BigInt(t.mem.readU32(0x8000 - 36)) << 32n) | BigInt(t.mem.readU32(0x8000 - 40)), X, 'a fault at X, not at a neighbour');
  // The register catalog (gdb) and a save/restore hold such a RIP exactly.
  setRegister(c, REG.rip, X + 1n);
  assert.equal(getRegister(c, REG.rip), X + 1n);
  c.setRip(X + 2n);
  assert.equal(c.getRip(), X + 2n);
  const u = bigCpu('');
  restoreVcpu(u.cpu, saveVcpu(c));
  assert.equal(u.cpu.getRip(), X + 2n);
});

test('RIP beyond +-2^53: SYSENTER with SYSENTER_EIP there, SYSEXIT to RDX there, exactly', () => {
  const E = 0xff11_0000_0000_1400n; // -> 0x80400
  const U2 = 0x00ff_ffff_ffff_f010n; // -> 0x84010
  // SYSENTER_CS 8, SYSENTER_ESP 0x8000, SYSENTER_EIP E; SYSENTER.
  const t = bigCpu(`b974010000 b808000000 31d2 0f30 b975010000 b800800000 31d2 0f30
    b976010000 b8${d(Number(E & 0xffff_ffffn))} ba${d(Number(E >> 32n))} 0f30 0f34`);
  // E: INC R10; CMP R10,2; JE +13; MOV RDX,U2; SYSEXIT (64-bit); HLT.
  t.mem.write(0x80400, hex(`49ffc2 4983fa02 740d 48ba${q(U2)} 480f35 f4`));
  // U2 (CPL 3): LEA RDI,[RIP]; SYSENTER.
  t.mem.write(0x84010, hex('488d3d00000000 0f34'));
  const c = t.cpu;
  assert.equal(c.runUntilHalt(1000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.equal(c.getGpr(10), 2n);
  assert.equal(c.getGpr(7), U2 + 7n, 'SYSEXIT went to RDX exactly');
  assert.equal(c.getRip(), E + 23n, 'SYSENTER went to SYSENTER_EIP exactly');
  assert.ok(readMsr(c, MSR.IA32_SYSENTER_EIP));
  assert.deepEqual([c.msrOut.lo >>> 0, c.msrOut.hi], [Number(E & 0xffff_ffffn), -0xef0000]);
});

test('RIP beyond +-2^53: RETFQ there, LEA [rip], and a TF single-step trap whose frame holds the exact RIP', () => {
  const T = 0xff11_0000_0000_1600n; // -> 0x80600
  // PUSH 8; PUSH T; RETFQ.
  const t = bigCpu(`6a08 48b8${q(T)} 50 48cb`);
  // T: LEA RAX,[RIP]; PUSHFQ; OR QWORD [RSP],0x100 (TF); POPFQ; NOP; NOP; HLT. #DB (1) -> 0x1800: HLT.
  t.mem.write(0x80600, hex('488d0500000000 9c 48810c2400010000 9d 90 90 f4'));
  const c = withHandler(t, 1, 'f4');
  assert.equal(c.runUntilHalt(1000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.equal(c.getGpr(0), T + 7n, 'RETFQ to T; LEA RAX,[RIP] there');
  assert.equal((BigInt(t.mem.readU32(0x8000 - 36)) << 32n) | BigInt(t.mem.readU32(0x8000 - 40)), T + 18n, 'the trap after the NOP that follows POPFQ');
  assert.equal(t.mem.readU32(0x8000 - 24) & 0x100, 0x100, 'TF in the frame');
});

test('RIP beyond +-2^53: relative JMPs across +-2^53 both ways, exactly; one from there beyond 2^56 is #GP at the JMP', () => {
  const P = 2n ** 53n - 0x1000n; // PML5 entry 31 -> the user-top chain -> 0x84000
  const Q = 2n ** 53n + 0x1000n; // PML5 entry 32 -> PT index 1 -> 0x80000
  const t = bigCpu(`48b8${q(P)} ffe0`);
  t.mem.writeU32(0x10000 + 31 * 8, 0x24000 | 7);
  t.mem.writeU32(0x10000 + 32 * 8, 0x20000 | 7);
  // P: JMP Q; P + 0x20: LEA RBX,[RIP]; MOV RCX, U + 0x40; JMP RCX. Q: LEA RAX,[RIP]; JMP P + 0x20.
  t.mem.write(0x84000, hex(`e9${s32(0x2000 - 5)}`));
  t.mem.write(0x84020, hex(`488d1d00000000 48b9${q(U + 0x40n)} ffe1`));
  t.mem.write(0x80000, hex(`488d0500000000 e9${s32(-0x2000 + 0x20 - 12)}`));
  // U + 0x40 (0x00fffffffffff040, the same page): JMP +0x2000, to 0x0100000000001045: not canonical.
  t.mem.write(0x84040, hex('e900200000'));
  const c = withHandler(t, 13, 'f4');
  assert.equal(c.runUntilHalt(1000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.equal(c.getGpr(0), Q + 7n, 'JMP rel32 from below 2^53 to above it');
  assert.equal(c.getGpr(3), P + 0x27n, 'and back');
  assert.equal((BigInt(t.mem.readU32(0x8000 - 36)) << 32n) | BigInt(t.mem.readU32(0x8000 - 40)), U + 0x40n, '#GP at the JMP');
  assert.equal(t.mem.readU32(0x8000 - 48), 0);
});

test('RIP beyond +-2^53: straight-line code runs across +2^53 exactly (an instruction crossing onto the page at 2^53, odd RIPs after it)', () => {
  const P = 2n ** 53n - 0x1000n; // PML5 entry 31 -> the user-top chain -> 0x84000
  const t = bigCpu(`48b8${q(P + 0xff8n)} ffe0`);
  t.mem.writeU32(0x10000 + 31 * 8, 0x24000 | 7);
  t.mem.writeU32(0x10000 + 32 * 8, 0x20000 | 7);
  t.mem.writeU32(0x23000, 0x85000 | 7); // 2^53 -> 0x85000
  // P + 0xff8: INC RAX; INC RAX; LEA RBX,[RIP] (48 8d | 1d 00 00 00 00: crosses onto 2^53); NOP; LEA RCX,[RIP]; HLT.
  t.mem.write(0x84ff8, hex('48ffc0 48ffc0 488d'));
  t.mem.write(0x85000, hex('1d00000000 90 488d0d00000000 f4'));
  const c = t.cpu;
  assert.equal(c.runUntilHalt(1000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.equal(c.getGpr(0), P + 0xffan);
  assert.equal(c.getGpr(3), 2n ** 53n + 5n, 'LEA RBX,[RIP] crossing onto 2^53, ending at 2^53 + 5');
  assert.equal(c.getGpr(1), 2n ** 53n + 13n, 'LEA RCX,[RIP] after the NOP at 2^53 + 5');
  assert.equal(c.getRip(), 2n ** 53n + 14n, 'after the HLT at 2^53 + 13');
});

test('RIP beyond +-2^53: a host (gdb) breakpoint there stops exactly once with the exact RIP; one a double would round onto it does not', () => {
  const X = 0xff11_0000_0000_2045n; // -> 0x81045; doubles there are 8 apart: X, X + 3 and X + 4 are one double
  assert.equal(u64ToAddr(X), u64ToAddr(X + 4n));
  const sled = (bps: bigint[]): { c: TestCpu['cpu']; stops: bigint[] } => {
    // JMP X - 5: NOPs through X + 1, HLT at X + 2.
    const t = bigCpu(`48b8${q(X - 5n)} ffe0`);
    t.mem.write(0x81040, hex('90 90 90 90 90 90 90 f4'));
    const c = t.cpu;
    const breakpoints = new HostBreakpoints();
    for (const b of bps) breakpoints.add(b);
    c.hostDebug = { breakpoints, watches: [], step: false, stopAt: -1 };
    refreshDebug(c, true);
    const stops: bigint[] = [];
    let r = c.run(1000);
    while (r === 'paused') {
      assert.deepEqual(stopEventOf(c), { kind: 'breakpoint', thread: 1 });
      stops.push(c.getRip());
      c.hostStop = HostStop.None;
      c.hostResumeAt = ipLin(c); // as the stub resumes: on past the breakpoint at RIP
      r = c.runMore();
    }
    assert.equal(r, 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
    return { c, stops };
  };
  const one = sled([X]);
  assert.deepEqual(one.stops, [X], 'once, in front of X');
  assert.equal(one.c.getRip(), X + 3n, 'stepping over it ran on to the HLT');
  assert.equal(one.c.instructions, 2 + 8);
  assert.deepEqual(sled([X + 4n, X - 6n]).stops, [], 'not at an address that rounds onto X, nor at one before the sled');
  assert.deepEqual(sled([X + 1n, X - 4n]).stops, [X - 4n, X + 1n], 'each exactly where it is');
  const b = new HostBreakpoints();
  b.add(X);
  b.add(X + 4n);
  b.delete(X);
  assert.equal(b.size, 1);
  assert.equal(b.has(X + 4n), true);
  assert.equal(b.has(X), false);
});

test('SYSENTER_ESP beyond +-2^53: WRMSR/RDMSR, SYSENTER\'s RSP and a saved state keep it exactly', () => {
  const E = 0xff11_0000_0000_1400n; // -> 0x80400
  const ESP = 0xffa0_0000_0010_1ff3n; // vmalloc (S's page); doubles there are 8 apart
  const lo = (v: bigint): string => d(Number(v & 0xffff_ffffn));
  const hi = (v: bigint): string => d(Number(v >> 32n));
  // SYSENTER_CS 8, SYSENTER_ESP, SYSENTER_EIP E; RDMSR SYSENTER_ESP into R8/R9; SYSENTER.
  const t = bigCpu(`b974010000 b808000000 31d2 0f30 b975010000 b8${lo(ESP)} ba${hi(ESP)} 0f30
    b976010000 b8${lo(E)} ba${hi(E)} 0f30 b975010000 0f32 4989c0 4989d1 0f34`);
  // E: MOV RBX, RSP; HLT.
  t.mem.write(0x80400, hex('4889e3 f4'));
  const c = t.cpu;
  assert.equal(c.runUntilHalt(1000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.equal((c.getGpr(9) << 32n) | c.getGpr(8), ESP, 'RDMSR read it back exactly');
  assert.equal(c.getGpr(3), ESP, 'SYSENTER loaded RSP exactly');
  const saved = saveVcpu(c);
  assert.equal(saved.msrs.find((m) => m.index === MSR.IA32_SYSENTER_ESP)?.value, ESP, 'saved exactly');
  const u = bigCpu('');
  restoreVcpu(u.cpu, saved);
  assert.ok(readMsr(u.cpu, MSR.IA32_SYSENTER_ESP));
  assert.deepEqual([u.cpu.msrOut.lo >>> 0, u.cpu.msrOut.hi >>> 0], [Number(ESP & 0xffff_ffffn), Number(ESP >> 32n)], 'restored exactly');
  assert.equal(getRegister(u.cpu, msrReg(MSR.IA32_SYSENTER_ESP)), ESP);
  // Not canonical at 57 bits: #GP, as for the other address MSRs.
  assert.equal(writeMsr(c, MSR.IA32_SYSENTER_ESP, 0, 0x0100_0000), false);
});

test('RIP beyond +-2^53: code in 600 distinct 32 GiB windows runs exactly (the table of windows is recycled), with exact CALL return addresses', () => {
  // Windows W_i = 0xff11000000000000 + i * 2^35 (PML5 0x111, PML4 i >> 4, PDPT (i & 15) * 32) all map 0x86000.
  const W0 = 0xff11_0000_0000_0000n;
  const STRIDE = 1n << 35n;
  const N = 600; // more than the table holds (512) at once
  const L = 0xff11_0000_0000_1400n; // LSTAR, held across the recycling
  const t = bigCpu(`b9820000c0 b8${d(Number(L & 0xffff_ffffn))} ba${d(Number(L >> 32n))} 0f30
    48b8${q(W0)} 48bb${q(STRIDE)} b9${d(N)} 31f6 4d31c0 4d31d2 ffd0`);
  const w = (pa: number, v: number): void => t.mem.writeU32(pa, v);
  for (let k = 1; k <= (N - 1) >> 4; k++) w(0x20000 + k * 8, 0x21000 | 7);
  for (let k = 1; k < 16; k++) w(0x21000 + k * 32 * 8, 0x22000 | 7);
  w(0x23000, 0x86000 | 7);
  // W_i: LEA RDX,[RIP]; ADD RSI,RDX; ADD R8,[RSP]; DEC ECX; JZ ret; ADD RAX,RBX; CALL RAX; LEA R9,[RIP]; ADD R10,R9; ret: RET.
  t.mem.write(0x86000, hex('488d1500000000 4801d6 4c030424 ffc9 740f 4801d8 ffd0 4c8d0d00000000 4d01ca c3'));
  const c = t.cpu;
  const before = codeWindowRecycles();
  assert.equal(c.runUntilHalt(100_000), 'hlt', `${c.shutdownReason} ${JSON.stringify(c.exceptionLog)}`);
  assert.ok(codeWindowRecycles() > before, 'the table was recycled');
  const M = (1n << 64n) - 1n;
  let rsi = 0n;
  let r8 = 0x1000n + 52n; // window 0's return address: after the CALL RAX below
  let r10 = 0n;
  for (let i = 0n; i < BigInt(N); i++) {
    const wi = W0 + i * STRIDE;
    rsi += wi + 7n;
    if (i > 0n) r8 += wi - STRIDE + 23n;
    if (i < BigInt(N - 1)) r10 += wi + 30n;
  }
  assert.equal(c.getGpr(6), rsi & M, 'LEA [RIP] in each window: its exact address');
  assert.equal(c.getGpr(8), r8 & M, 'each CALL pushed its exact return address');
  assert.equal(c.getGpr(10), r10 & M, 'each RET came back to its window exactly (after the windows were formed again)');
  assert.equal(c.getGpr(1), 0n);
  assert.equal(c.getRip(), 0x1000n + 53n, 'back below, after the HLT');
  assert.ok(readMsr(c, MSR.IA32_LSTAR));
  assert.deepEqual([c.msrOut.lo >>> 0, c.msrOut.hi], [Number(L & 0xffff_ffffn), -0xef0000], 'LSTAR (a code handle) formed again exactly');
});

test('the table of code windows is recycled: the handles vCPUs hold are formed again exactly; more than 512 windows at once stop by name', () => {
  const c = fiveLevel().cpu;
  const c2 = fiveLevel().cpu;
  const at = (i: number): bigint => 0xff00_0000_0000_0123n + BigInt(i) * (1n << 35n);
  c.lstar = ripFromU64(at(0), c);
  c2.sysenterEip = ripFromU64(at(1), c2);
  c.setRip(at(2));
  c2.hostResumeAt = ripFromU64(at(3), c2);
  const before = codeWindowRecycles();
  for (let i = 4; i < 1200; i++) assert.equal(ripU64(ripFromU64(at(i), c)), at(i));
  assert.ok(codeWindowRecycles() >= before + 4);
  assert.equal(ripU64(c.lstar), at(0));
  assert.equal(ripU64(c2.sysenterEip), at(1));
  assert.equal(c.getRip(), at(2));
  assert.equal(ripU64(c2.hostResumeAt), at(3));
  // Formed inside an instruction (no recycling there): past the table's room the vCPU stops by name.
  let r: ReturnType<typeof outcome> = { v: 0 };
  for (let i = 0; i < 600 && r.v !== undefined; i++) r = outcome(() => (ripOf(0x0080_0000 + i * 8, 0x1000, c), 0), c);
  assert.deepEqual(r, { vec: -1, code: -1 });
  assert.match(c.shutdownReason, /^emu: code at 0x[0-9a-f]+ would need more than 512 32 GiB code windows beyond \+-2\^53 at once/);
  assert.equal(c.emulationLimit, true);
  recycleCodeWindows();
  assert.equal(ripU64(c.lstar), at(0));
});
