import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, load, makeCpu, type TestCpu } from './cpu-harness.test-util.js';
import { CR0_PG, CR4_PAE, CR4_PCIDE, CR4_PGE, FAULT, VEC_GP, VEC_PF, VEC_UD, jcSlot } from './x86-defs.js';
import { writeCr0, writeCr4 } from './control-regs.js';
import { rd32, wr32 } from './mem-access.js';
import { decodeInsn } from './decoder.js';
import { jcValid } from './run-loop.js';
import { cpuid } from './msr.js';
import { restoreVcpu, saveVcpu } from './vcpu-state.js';
import { emuHasFeature } from '../../features/emu-cpu-model.js';
import type { EmuCpu } from './cpu.js';
import { Tlb } from './x86-defs.js';

const A = 0x10000; // PML4 of address space A
const B = 0x20000; // PML4 of address space B
const PT_A = 0x13000; // A's page table for 0x200000-0x3fffff
const PT_B = 0x23000;
const PAGE = 0x200000; // a non-global page (PT entry 0)
const GLOBAL = 0x201000; // a global page (PT entry 1)
const CODE = 0x202000; // code: frame 0x310000 under A, 0x311000 under B
const OTHER = 0x203000; // code under B only
const DESC = 0x9000; // INVPCID descriptor
const NOFLUSH = 1n << 63n;

/** Frame `n` (0x300000 + n pages) holds the value 0x100 + n in its first word. */
const frame = (n: number): number => 0x300000 + n * 0x1000;

function pte(t: TestCpu, pt: number, k: number, n: number, global = false): void {
  t.mem.writeU32(pt + k * 8, frame(n) | 7 | (global ? 0x100 : 0));
}

/**
 * 64-bit mode at CPL 0 with CR4.PGE and CR4.PCIDE, CR3 = A with PCID 0. Both address spaces identity-map the
 * first 2 MiB (code, stack, descriptor) and map 0x200000-0x3fffff through a page table of their own.
 */
function setup(): TestCpu {
  const t = makeCpu(4 << 20);
  const w = (pa: number, v: number): void => t.mem.writeU32(pa, v);
  for (const [pml4, pdpt, pd, pt] of [
    [A, 0x11000, 0x12000, PT_A],
    [B, 0x21000, 0x22000, PT_B],
  ] as const) {
    w(pml4, pdpt | 7);
    w(pdpt, pd | 7);
    w(pd, 0x87);
    w(pd + 8, pt | 7);
  }
  for (let n = 0; n < 16; n++) t.mem.writeU32(frame(n), 0x100 + n);
  pte(t, PT_A, 0, 0);
  pte(t, PT_A, 1, 1, true);
  pte(t, PT_B, 0, 0);
  pte(t, PT_B, 1, 1, true);
  t.mem.writeU32(PT_A + 2 * 8, 0x310000 | 7);
  t.mem.writeU32(PT_B + 2 * 8, 0x311000 | 7);
  t.mem.writeU32(PT_B + 3 * 8, 0x312000 | 7);
  load(t.mem, 0x310000, 'b8 01000000 f4'); // mov eax, 1; hlt
  load(t.mem, 0x311000, 'b8 02000000 f4'); // mov eax, 2; hlt
  load(t.mem, 0x312000, 'b8 03000000 f4'); // mov eax, 3; hlt
  t.cpu.setLong64(A);
  t.cpu.gpr[2 * 4] = 0x8000;
  writeCr4(t.cpu, CR4_PAE | CR4_PGE | CR4_PCIDE);
  return t;
}

/** Runs one instruction's handler: undefined, or the fault it raised. */
function exec(c: EmuCpu, bytes: string): { vec: number; code: number } | undefined {
  const x = decodeInsn(hex(bytes), 2);
  try {
    x.fn(c, x);
    return undefined;
  } catch (e) {
    assert.equal(e, FAULT);
    return { vec: c.excVec, code: c.excCode };
  }
}

const GP0 = { vec: VEC_GP, code: 0 };

/** MOV CR3, RAX with RAX = `v`. */
function movCr3(c: EmuCpu, v: bigint): { vec: number; code: number } | undefined {
  c.setGpr(0, v);
  return exec(c, '0f 22 d8');
}

/** Switches to PML4 `base` with PCID `pcid`, keeping that PCID's entries when `keep`. */
function cr3(c: EmuCpu, base: number, pcid: number, keep: boolean): void {
  assert.equal(movCr3(c, BigInt(base + pcid) | (keep ? NOFLUSH : 0n)), undefined);
}

/** INVPCID RAX, [RDI] of type `type` with the descriptor (PCID, linear address as a bigint). */
function invpcid(c: EmuCpu, type: number, pcid: number, lin = 0n, reserved = 0): { vec: number; code: number } | undefined {
  c.memory.writeU32(DESC, (pcid | reserved) >>> 0);
  c.memory.writeU32(DESC + 4, 0);
  c.memory.writeU64(DESC + 8, BigInt.asUintN(64, lin));
  c.setGpr(0, BigInt(type));
  c.setGpr(7, BigInt(DESC));
  return exec(c, '66 0f 38 82 07');
}

/** Runs the code at linear `rip` to its HLT: RAX. */
function runAt(c: EmuCpu, rip: number): number {
  c.halted = false;
  c.rip = rip;
  assert.equal(c.run(100), 'hlt');
  return c.gpr[2 * 0]!;
}

test('CPUID: PCID (1:ECX.17) and INVPCID (7.0:EBX.10) are advertised, and the model lists them', () => {
  const { cpu } = makeCpu();
  cpu.setGpr(0, 1n);
  cpu.setGpr(1, 0n);
  cpuid(cpu);
  assert.equal((cpu.gpr[2 * 1]! >>> 17) & 1, 1);
  cpu.setGpr(0, 7n);
  cpu.setGpr(1, 0n);
  cpuid(cpu);
  assert.equal((cpu.gpr[2 * 3]! >>> 10) & 1, 1);
  assert.ok(emuHasFeature('pcid') && emuHasFeature('invpcid'));
});

test('CR4.PCIDE: #GP outside IA-32e mode and with CR3[11:0] != 0; CR0.PG cannot be cleared while it is set', () => {
  const t = makeCpu(4 << 20);
  const c = t.cpu;
  c.setFlat32();
  assert.throws(() => writeCr4(c, CR4_PCIDE), (e) => e === FAULT && c.excVec === VEC_GP);
  assert.equal(c.cr4 & CR4_PCIDE, 0);
  c.setLong64(A);
  c.cr3 = A + 0x18; // PWT and PCD: CR3[11:0] != 0
  assert.throws(() => writeCr4(c, CR4_PAE | CR4_PCIDE), (e) => e === FAULT && c.excVec === VEC_GP);
  c.cr3 = A;
  writeCr4(c, CR4_PAE | CR4_PCIDE);
  assert.equal(c.cr4 & CR4_PCIDE, CR4_PCIDE);
  assert.throws(() => writeCr0(c, c.cr0 & ~CR0_PG), (e) => e === FAULT && c.excVec === VEC_GP);
  assert.equal(c.cr0 & CR0_PG, CR0_PG);
  // With PCIDE set, CR3[11:0] may be anything: PCIDE stays writable.
  cr3(c, A, 0x7ff, false);
  writeCr4(c, CR4_PAE | CR4_PCIDE);
  assert.equal(c.cr3, A + 0x7ff);
});

test('MOV CR3: bit 63 is #GP without PCIDE; with it, bit 63 is not stored and CR3[11:0] is the PCID', () => {
  const t = makeCpu(4 << 20);
  const c = t.cpu;
  c.setLong64(A);
  assert.deepEqual(movCr3(c, BigInt(A) | NOFLUSH), GP0);
  assert.equal(movCr3(c, BigInt(A + 0xfff)), undefined);
  assert.equal(c.cr3, A + 0xfff, 'without PCIDE bits 11:0 are kept as written (PAE takes bits 31:5 as its table address)');
  c.cr3 = A;
  writeCr4(c, CR4_PAE | CR4_PCIDE);
  assert.equal(movCr3(c, BigInt(B + 0xabc) | NOFLUSH), undefined);
  assert.equal(c.cr3, B + 0xabc);
  c.setGpr(1, 0n);
  assert.equal(exec(c, '0f 20 d9'), undefined); // mov rcx, cr3
  assert.equal(c.getGpr(1), BigInt(B + 0xabc), 'bit 63 reads back as 0');
  assert.deepEqual(movCr3(c, (1n << 62n) | BigInt(B)), GP0, 'the other high bits stay reserved');
});

test('a translation cached under one PCID is used under it (no-flush switches) and never under another', () => {
  const t = setup();
  const c = t.cpu;
  cr3(c, A, 1, false);
  assert.equal(rd32(c, PAGE), 0x100);
  pte(t, PT_A, 0, 2); // no INVLPG: PCID 1 keeps frame 0
  assert.equal(rd32(c, PAGE), 0x100, 'stale under PCID 1');
  cr3(c, A, 2, true);
  assert.equal(rd32(c, PAGE), 0x102, 'PCID 2 walks: not PCID 1 entry');
  pte(t, PT_A, 0, 3);
  cr3(c, A, 1, true);
  assert.equal(rd32(c, PAGE), 0x100, 'PCID 1 entry again after the no-flush switch back');
  cr3(c, A, 2, true);
  assert.equal(rd32(c, PAGE), 0x102, 'PCID 2 entry likewise');
  cr3(c, A, 1, false);
  assert.equal(rd32(c, PAGE), 0x103, 'a switch without bit 63 drops the PCID entries');
  cr3(c, A, 2, true);
  assert.equal(rd32(c, PAGE), 0x102, 'and only that PCID');
  cr3(c, A, 2, false);
  assert.equal(rd32(c, PAGE), 0x103, 'a flushing MOV CR3 to the current PCID');
});

test('entries kept for a PCID through many switches among more PCIDs than it keeps are dropped, never mixed up', () => {
  const t = setup();
  const c = t.cpu;
  const seen = new Map<number, number>();
  for (let round = 0; round < 40; round++) {
    const pcid = 1 + ((round * 7) % 13);
    cr3(c, A, pcid, true);
    pte(t, PT_A, 0, round % 16);
    const v = rd32(c, PAGE);
    // Either the PCID's own earlier entry or a walk now; nothing from another PCID.
    if (seen.has(pcid)) assert.ok(v === seen.get(pcid) || v === 0x100 + (round % 16), `round ${round}`);
    else assert.equal(v, 0x100 + (round % 16));
    seen.set(pcid, v);
  }
});

test('global translations are shared by every PCID; INVLPG drops the current PCID entry and global ones', () => {
  const t = setup();
  const c = t.cpu;
  cr3(c, A, 1, false);
  assert.equal(rd32(c, GLOBAL), 0x101);
  assert.equal(rd32(c, PAGE), 0x100);
  pte(t, PT_A, 1, 4, true);
  pte(t, PT_A, 0, 5);
  cr3(c, A, 2, false);
  assert.equal(rd32(c, GLOBAL), 0x101, 'the global entry is used under PCID 2');
  assert.equal(rd32(c, PAGE), 0x105);
  pte(t, PT_A, 0, 6);
  assert.equal(exec(c, '0f 01 38'), undefined); // invlpg [rax]
  c.setGpr(0, BigInt(GLOBAL));
  assert.equal(exec(c, '0f 01 38'), undefined);
  c.setGpr(0, BigInt(PAGE));
  assert.equal(exec(c, '0f 01 38'), undefined);
  assert.equal(rd32(c, GLOBAL), 0x104, 'INVLPG dropped the global entry');
  assert.equal(rd32(c, PAGE), 0x106, 'and PCID 2 entry');
  cr3(c, A, 1, true);
  assert.equal(rd32(c, GLOBAL), 0x104, 'for every PCID');
  assert.equal(rd32(c, PAGE), 0x100, 'PCID 1 entry for the page stays');
  // Clearing CR4.PCIDE flushes everything, global entries included.
  pte(t, PT_A, 1, 7, true);
  cr3(c, A, 0, false);
  writeCr4(c, CR4_PAE | CR4_PGE);
  assert.equal(rd32(c, GLOBAL), 0x107);
});

test('INVPCID types 0-3: by address and PCID, by PCID, everything, everything but global translations', () => {
  const t = setup();
  const c = t.cpu;
  /** Fills PCID 1 and PCID 2 entries for PAGE and the global entry, then moves every mapping elsewhere. */
  const fill = (n: number): void => {
    pte(t, PT_A, 0, n);
    pte(t, PT_A, 1, n + 1, true);
    cr3(c, A, 1, false);
    c.setGpr(0, BigInt(GLOBAL));
    assert.equal(exec(c, '0f 01 38'), undefined); // invlpg [rax]: the global entry of an earlier round
    assert.equal(rd32(c, PAGE), 0x100 + n);
    assert.equal(rd32(c, GLOBAL), 0x101 + n);
    cr3(c, A, 2, false);
    assert.equal(rd32(c, PAGE), 0x100 + n);
    pte(t, PT_A, 0, n + 2);
    pte(t, PT_A, 1, n + 3, true);
  };
  // Type 0, current PCID: the address goes, global translations need not.
  fill(0);
  assert.equal(invpcid(c, 0, 2, BigInt(PAGE)), undefined);
  assert.equal(rd32(c, PAGE), 0x102);
  cr3(c, A, 1, true);
  assert.equal(rd32(c, PAGE), 0x100, 'type 0 for PCID 2 leaves PCID 1');
  // Type 0, another PCID.
  fill(4);
  assert.equal(invpcid(c, 0, 1, BigInt(PAGE)), undefined);
  assert.equal(rd32(c, PAGE), 0x104, 'PCID 2 (current) keeps its entry');
  cr3(c, A, 1, true);
  assert.equal(rd32(c, PAGE), 0x106, 'PCID 1 entry for the address is gone');
  // Type 1: one PCID's non-global entries.
  fill(8);
  assert.equal(invpcid(c, 1, 2), undefined);
  assert.equal(rd32(c, PAGE), 0x10a);
  assert.equal(rd32(c, GLOBAL), 0x109, 'global translations stay');
  cr3(c, A, 1, true);
  assert.equal(rd32(c, PAGE), 0x108, 'PCID 1 stays');
  // Type 3: every PCID, global translations stay.
  fill(0);
  assert.equal(invpcid(c, 3, 0), undefined);
  assert.equal(rd32(c, PAGE), 0x102);
  assert.equal(rd32(c, GLOBAL), 0x101);
  cr3(c, A, 1, true);
  assert.equal(rd32(c, PAGE), 0x102, 'PCID 1 was dropped too');
  // Type 2: everything.
  fill(4);
  assert.equal(invpcid(c, 2, 0), undefined);
  assert.equal(rd32(c, PAGE), 0x106);
  assert.equal(rd32(c, GLOBAL), 0x107);
  cr3(c, A, 1, true);
  assert.equal(rd32(c, PAGE), 0x106);
});

test('INVPCID faults: CPL > 0, type > 3, reserved descriptor bits, non-canonical type 0 address, PCID without PCIDE; #UD forms', () => {
  const t = setup();
  const c = t.cpu;
  assert.deepEqual(invpcid(c, 4, 0), GP0);
  c.setGpr(0, 1n << 32n);
  assert.deepEqual(exec(c, '66 0f 38 82 07'), GP0, 'the whole 64-bit register is the type');
  assert.deepEqual(invpcid(c, 1, 1, 0n, 0x1000), GP0, 'descriptor bits 63:12 are reserved');
  assert.deepEqual(invpcid(c, 0, 1, 1n << 47n), GP0, 'type 0: non-canonical address');
  assert.equal(invpcid(c, 0, 1, -(1n << 47n)), undefined, 'canonical high half');
  assert.equal(invpcid(c, 1, 1, 1n << 47n), undefined, 'type 1 ignores the address');
  c.cpl = 3;
  assert.deepEqual(invpcid(c, 2, 0), GP0, 'CPL 3');
  c.cpl = 0;
  c.setGpr(7, 0x5000_0000n); // unmapped
  c.setGpr(0, 2n);
  assert.deepEqual(exec(c, '66 0f 38 82 07'), { vec: VEC_PF, code: 0 }, 'the descriptor read faults like any read');
  assert.deepEqual(exec(c, 'f0 66 0f 38 82 07'), { vec: VEC_UD, code: -1 }, 'LOCK');
  assert.deepEqual(exec(c, '66 0f 38 82 c7'), { vec: VEC_UD, code: -1 }, 'register operand');
  // Without PCIDE only PCID 0 exists: types 0 and 1 with another PCID fault, 2 and 3 do not look at it.
  cr3(c, A, 0, false);
  writeCr4(c, CR4_PAE | CR4_PGE);
  assert.deepEqual(invpcid(c, 0, 1, BigInt(PAGE)), GP0);
  assert.deepEqual(invpcid(c, 1, 1), GP0);
  assert.equal(invpcid(c, 1, 0), undefined);
  assert.equal(invpcid(c, 3, 5), undefined);
  pte(t, PT_A, 0, 9);
  assert.equal(rd32(c, PAGE), 0x109);
  pte(t, PT_A, 0, 10);
  assert.equal(invpcid(c, 0, 0, BigInt(PAGE)), undefined);
  assert.equal(rd32(c, PAGE), 0x10a, 'type 0 for PCID 0 without PCIDE');
});

test('code: a block found under a PCID is valid again after a no-flush switch back, never under another PCID', () => {
  const t = setup();
  const c = t.cpu;
  cr3(c, A, 1, false);
  assert.equal(runAt(c, CODE), 1);
  assert.equal(runAt(c, CODE), 1);
  const slot = jcSlot(CODE, 0);
  const blockA = c.jcBlock[slot]!;
  assert.ok(blockA !== undefined && jcValid(c, blockA, CODE), 'in the jump cache under PCID 1');
  cr3(c, B, 2, true);
  assert.equal(jcValid(c, blockA, CODE), false, 'not valid under PCID 2');
  assert.equal(runAt(c, OTHER), 3);
  cr3(c, A, 1, true);
  assert.ok(jcValid(c, blockA, CODE), 'valid again under PCID 1 without a lookup');
  assert.equal(runAt(c, CODE), 1);
  cr3(c, B, 2, true);
  assert.equal(runAt(c, CODE), 2, 'PCID 2 maps other code there');
  cr3(c, A, 1, true);
  assert.equal(runAt(c, CODE), 1);
  assert.equal(runAt(c, CODE), 1);
  const again = c.jcBlock[slot]!;
  cr3(c, A, 1, false);
  assert.equal(jcValid(c, again, CODE), false, 'a flushing switch drops it');
  assert.equal(runAt(c, CODE), 1);
});

test('a write entry kept for a PCID is not put back once its page holds code (stores there must reach the slow path)', () => {
  const t = setup();
  const c = t.cpu;
  // PAGE maps frame 0x310000 (the code frame) under A with PCID 1: a write entry for it.
  t.mem.writeU32(PT_A, 0x310000 | 7);
  cr3(c, A, 1, false);
  wr32(c, PAGE + 0x100, 5);
  const i = (PAGE >>> 12) & Tlb.Mask;
  assert.equal(c.tlbTagW[i], PAGE);
  cr3(c, A, 2, true);
  assert.equal(runAt(c, CODE), 1);
  assert.equal(runAt(c, CODE), 1); // the frame is code now
  cr3(c, A, 1, true);
  assert.notEqual(c.tlbTagW[i], PAGE, 'no write entry the fast paths match');
  assert.equal(c.tlbTagR[i], PAGE, 'the read entry is back');
  wr32(c, PAGE + 1, 0x03); // mov eax, 1 -> mov eax, 3
  cr3(c, A, 2, true);
  assert.equal(runAt(c, CODE), 3, 'the block was dropped by the store');
});

test('snapshot and restore keep CR3 (PCID) and CR4.PCIDE; the TLB starts empty', () => {
  const t = setup();
  const c = t.cpu;
  cr3(c, A, 0x5b, false);
  assert.equal(rd32(c, PAGE), 0x100);
  cr3(c, A, 0x5a, true);
  assert.equal(rd32(c, PAGE), 0x100);
  pte(t, PT_A, 0, 11);
  assert.equal(rd32(c, PAGE), 0x100);
  restoreVcpu(c, saveVcpu(c));
  assert.equal(c.cr3, A + 0x5a);
  assert.equal(c.cr4 & CR4_PCIDE, CR4_PCIDE);
  assert.equal(rd32(c, PAGE), 0x10b);
  cr3(c, A, 0x5b, true);
  assert.equal(rd32(c, PAGE), 0x10b, 'nothing kept for another PCID across the restore');
});
