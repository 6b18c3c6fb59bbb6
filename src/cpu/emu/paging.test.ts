import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, makeCpu, type TestCpu } from './cpu-harness.test-util.js';
import { decodeInsn } from './decoder.js';
import { type EmuCpu } from './cpu.js';
import { CR0_PG, CR0_WP, CR4_PAE, CR4_PGE, CR4_PSE, EFER_LMA, EFER_LME, EFER_NXE, FAULT, VEC_PF, VLin, jcSlot } from './x86-defs.js';
import { Block } from './insn.js';
import { translate } from './paging.js';
import { writeCr0, writeCr3, writeCr4 } from './control-regs.js';
import { probeWrite, rd32, wr32 } from './mem-access.js';
import { invlpg } from './tlb.js';

const READ = 0;
const WRITE = 1;
const FETCH = 2;

/** Translates and returns the physical address, or the #PF error code as a negative number - 1. */
function xlate(c: EmuCpu, lin: number, acc: number): { phys?: number; code?: number; cr2?: number } {
  try {
    return { phys: translate(c, lin, acc) };
  } catch (e) {
    assert.equal(e, FAULT);
    assert.equal(c.excVec, VEC_PF);
    return { code: c.excCode, cr2: c.cr2 };
  }
}

function paging32(): TestCpu {
  const t = makeCpu(16 << 20);
  const { mem, cpu } = t;
  cpu.setFlat32();
  // Page directory at 0x20000; PT at 0x21000 maps 0x00400000.. (PDE 1)
  mem.writeU32(0x20000 + 1 * 4, 0x21000 | 0x7); // P RW US
  mem.writeU32(0x21000 + 0 * 4, 0x100000 | 0x7); // 0x400000 -> 0x100000 user rw
  mem.writeU32(0x21000 + 1 * 4, 0x101000 | 0x5); // 0x401000 -> 0x101000 user ro
  mem.writeU32(0x21000 + 2 * 4, 0x102000 | 0x3); // 0x402000 -> 0x102000 supervisor rw
  mem.writeU32(0x20000 + 2 * 4, 0x00c00000 | 0x83); // 4 MiB page 0x800000 -> 0xc00000 (PS)
  cpu.cr3 = 0x20000;
  writeCr4(cpu, CR4_PSE);
  writeCr0(cpu, cpu.cr0 | CR0_PG);
  return t;
}

test('32-bit paging: translation, 4 MiB pages, A/D bits', () => {
  const { cpu, mem } = paging32();
  assert.equal(xlate(cpu, 0x400123, READ).phys, 0x100123);
  assert.equal(mem.readU32(0x21000) & 0x60, 0x20, 'read sets A only');
  assert.equal(xlate(cpu, 0x400123, WRITE).phys, 0x100123);
  assert.equal(mem.readU32(0x21000) & 0x60, 0x60, 'write sets D');
  assert.equal(mem.readU32(0x20004) & 0x20, 0x20, 'PDE accessed');
  assert.equal(xlate(cpu, 0x812345, READ).phys, 0xc12345);
});

test('32-bit paging: #PF error codes and CR2 (not present, WP, U/S)', () => {
  const { cpu } = paging32();
  assert.deepEqual(xlate(cpu, 0x403000, READ), { code: 0, cr2: 0x403000 });
  assert.deepEqual(xlate(cpu, 0x1000000, WRITE), { code: 2, cr2: 0x1000000 });
  // CR0.WP=0: supervisor may write a read-only page; WP=1: #PF P|W
  assert.equal(xlate(cpu, 0x401000, WRITE).phys, 0x101000);
  writeCr0(cpu, cpu.cr0 | CR0_WP);
  assert.deepEqual(xlate(cpu, 0x401010, WRITE), { code: 3, cr2: 0x401010 });
  // CPL 3
  cpu.tlbUser = 1024;
  assert.deepEqual(xlate(cpu, 0x402000, READ), { code: 5, cr2: 0x402000 });
  assert.deepEqual(xlate(cpu, 0x401000, WRITE), { code: 7, cr2: 0x401000 });
  assert.equal(xlate(cpu, 0x400000, WRITE).phys, 0x100000);
});

test('TLB: a changed PTE is not seen until INVLPG; CR3 writes flush non-global entries', () => {
  const { cpu, mem } = paging32();
  mem.writeU32(0x100000, 0x11111111);
  mem.writeU32(0x102000, 0x22222222);
  assert.equal(rd32(cpu, 0x400000), 0x11111111);
  mem.writeU32(0x21000, 0x102000 | 0x7);
  assert.equal(rd32(cpu, 0x400000), 0x11111111, 'stale TLB entry');
  invlpg(cpu, 0x400000);
  assert.equal(rd32(cpu, 0x400000), 0x22222222);
  mem.writeU32(0x21000, 0x100000 | 0x7);
  writeCr3(cpu, 0x20000);
  assert.equal(rd32(cpu, 0x400000), 0x11111111);
});

function paePaging(long: boolean): TestCpu {
  const t = makeCpu(16 << 20);
  const { mem, cpu } = t;
  cpu.setFlat32();
  if (long) {
    mem.writeU32(0x30000, 0x31000 | 7); // PML4[0]
    mem.writeU32(0x31000, 0x32000 | 7); // PDPT[0]
    mem.writeU32(0x31000 + 8, 0x40000000 | 0x87); // PDPT[1]: 1 GiB page at 0x40000000
  } else {
    mem.writeU32(0x30000, 0x32000 | 1); // PDPTE[0]
  }
  const pd = 0x32000;
  mem.writeU32(pd + 0, 0x33000 | 7); // PT for 0..2M
  mem.writeU32(pd + 8, 0x200000 | 0x87); // 2 MiB page at 2M
  mem.writeU32(pd + 16, 0x400000 | 0x87 | 0x2000); // 2 MiB page with reserved bit 13
  const pt = 0x33000;
  mem.writeU32(pt + 5 * 8, 0x105000 | 7);
  mem.writeU32(pt + 6 * 8, 0x106000 | 7);
  mem.writeU32(pt + 6 * 8 + 4, 0x80000000 | 0); // XD
  cpu.cr3 = 0x30000;
  writeCr4(cpu, CR4_PAE);
  if (long) cpu.efer = EFER_LME | EFER_NXE;
  else cpu.efer = EFER_NXE;
  writeCr0(cpu, cpu.cr0 | CR0_PG);
  if (long) assert.equal(cpu.efer & EFER_LMA, EFER_LMA, 'LMA set when paging is enabled with LME');
  return t;
}

test('PAE paging: 4K and 2 MiB pages, NX fetch fault, reserved bit', () => {
  const { cpu } = paePaging(false);
  assert.equal(xlate(cpu, 0x5123, READ).phys, 0x105123);
  assert.equal(xlate(cpu, 0x234567, READ).phys, 0x234567);
  assert.equal(xlate(cpu, 0x6000, READ).phys, 0x106000);
  assert.deepEqual(xlate(cpu, 0x6000, FETCH), { code: 0x11, cr2: 0x6000 });
  assert.deepEqual(xlate(cpu, 0x400000, READ), { code: 0x9, cr2: 0x400000 });
});

test('4-level paging: 1 GiB pages, non-canonical addresses #GP', () => {
  const { cpu } = paePaging(true);
  assert.equal(xlate(cpu, 0x5123, READ).phys, 0x105123);
  assert.equal(xlate(cpu, 0x40001234, READ).phys, 0x40001234);
  assert.deepEqual(xlate(cpu, 0x8000000000, READ), { code: 0, cr2: 0x8000000000 });
  try {
    translate(cpu, 0x800000000000, READ);
    assert.fail('expected #GP');
  } catch (e) {
    assert.equal(e, FAULT);
    assert.equal(cpu.excVec, 13);
  }
});

test('accessed bits: a leaf is not marked when the access faults on its permissions; the entries above it are', () => {
  for (const long of [false, true]) {
    const { cpu, mem } = paePaging(long);
    const pte5 = 0x33000 + 5 * 8;
    // A user access to a supervisor page and an NX fetch: both fault, neither marks the leaf.
    mem.writeU32(pte5, 0x105000 | 3); // P RW, supervisor
    cpu.tlbUser = 1024;
    assert.deepEqual(xlate(cpu, 0x5000, READ), { code: 5, cr2: 0x5000 });
    cpu.tlbUser = 0;
    assert.equal(mem.readU32(pte5) & 0x60, 0, `${long ? '4-level' : 'PAE'}: faulting PTE not accessed`);
    assert.equal(mem.readU32(0x32000) & 0x20, 0x20, 'the PDE above it is');
    assert.deepEqual(xlate(cpu, 0x6000, FETCH), { code: 0x11, cr2: 0x6000 });
    assert.equal(mem.readU32(0x33000 + 6 * 8) & 0x20, 0, 'NX fetch: PTE not accessed');
    // A 2 MiB leaf written through a read-only mapping with CR0.WP.
    mem.writeU32(0x32000 + 8, 0x200000 | 0x85); // P US PS, read-only
    writeCr0(cpu, cpu.cr0 | CR0_WP);
    assert.deepEqual(xlate(cpu, 0x234567, WRITE), { code: 3, cr2: 0x234567 });
    assert.equal(mem.readU32(0x32000 + 8) & 0x60, 0, '2 MiB leaf not accessed');
    assert.equal(xlate(cpu, 0x234567, READ).phys, 0x234567);
    assert.equal(mem.readU32(0x32000 + 8) & 0x60, 0x20, 'a successful read marks it');
    if (long) {
      // 1 GiB leaf: write to a read-only one.
      mem.writeU32(0x31000 + 8, 0x40000000 | 0x85);
      assert.deepEqual(xlate(cpu, 0x40001234, WRITE), { code: 3, cr2: 0x40001234 });
      assert.equal(mem.readU32(0x31000 + 8) & 0x60, 0, '1 GiB leaf not accessed');
    }
  }
});

test('a write probe of a page the TLB maps for writing walks nothing, as a store there would not', () => {
  const { cpu, mem } = paging32();
  wr32(cpu, 0x400000, 1);
  assert.equal(mem.readU32(0x21000) & 0x60, 0x60, 'A and D set by the store');
  mem.writeU32(0x21000, 0x100000 | 0x7); // A and D cleared, no INVLPG: the TLB entry stands
  probeWrite(cpu, 0x400010, 16);
  assert.equal(mem.readU32(0x21000) & 0x60, 0, 'no walk set them again');
  probeWrite(cpu, 0x400ff8, 16); // into the next page: both are walked
  assert.equal(mem.readU32(0x21000) & 0x60, 0x60);
});

test('INVLPG inside a large page drops every TLB entry of it; INVLPG of a 4 KiB page leaves them', () => {
  const { cpu, mem } = paging32();
  // 0x800000 (4 MiB page) -> 0xc00000; a second 4 MiB at 0x400000 in RAM to move it to.
  mem.writeU32(0xc00000, 0x11111111);
  mem.writeU32(0xdff000, 0x22222222);
  mem.writeU32(0x400000, 0x33333333);
  mem.writeU32(0x5ff000, 0x44444444);
  assert.equal(rd32(cpu, 0x800000), 0x11111111);
  assert.equal(rd32(cpu, 0x9ff000), 0x22222222);
  mem.writeU32(0x20000 + 2 * 4, 0x00400000 | 0x83);
  invlpg(cpu, 0x402000); // a 4 KiB page: the large page's entries stay
  assert.equal(rd32(cpu, 0x800000), 0x11111111, 'stale large-page entry');
  assert.equal(rd32(cpu, 0x9ff000), 0x22222222, 'stale large-page entry');
  invlpg(cpu, 0x800123); // anywhere in it drops both pieces
  assert.equal(rd32(cpu, 0x800000), 0x33333333);
  assert.equal(rd32(cpu, 0x9ff000), 0x44444444);
  mem.writeU32(0x20000 + 2 * 4, 0x00c00000 | 0x83);
  invlpg(cpu, 0x9ff004); // the page was translated again since: INVLPG drops it again
  assert.equal(rd32(cpu, 0x800000), 0x11111111);
});

test('INVLPG drops exactly the jump-cache slots of blocks on the page and the page before (4 KiB pages)', () => {
  const { cpu } = paging32();
  const slots = new Map<number, { lin: number; b: Block }>();
  // Blocks all over the address space, at both CPLs, long-mode kernel addresses included.
  const pages = [0x400000, 0x401000, 0x402000, 0x3ff000, 0x7f0000, 0x12345000, 0xb876000, 0xb877000, 0x6c3ff000, -0x777800000000, -0x777800000000 + 4096, -0x7f000000, -0x7f001000, 0x7fff_ffff_f000];
  let seed = 1;
  for (let n = 0; n < 20000; n++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const lin = pages[seed % pages.length]! + ((seed >>> 8) & 0xfff);
    const cpl = (seed >>> 20) & 1 ? 3 : 0;
    const j = jcSlot(lin, cpl);
    const b = new Block(0, 0);
    b.vLo = lin | 0;
    b.vHi = (lin - (lin | 0)) / 4294967296;
    cpu.jcTag[j] = lin;
    cpu.jcBlock[j] = b;
    slots.set(j, { lin, b });
  }
  for (const target of [0x401234, 0xb877ffc, 0x6c3ff000, -0x777800000000 + 4096 + 7, -0x7f000000 + 0x800]) {
    invlpg(cpu, target);
    const page = Math.floor(target / 4096) * 4096;
    for (const [j, { lin, b }] of slots) {
      const gone = lin >= page - 4096 && lin < page + 4096;
      if (gone) {
        assert.equal(cpu.jcTag[j], -1, `slot of ${lin.toString(16)} dropped`);
        assert.equal(b.vHi, VLin.None, `block at ${lin.toString(16)} no longer found there`);
      } else if (cpu.jcTag[j] !== -1) assert.equal(cpu.jcTag[j], lin);
      else assert.fail(`slot of ${lin.toString(16)} dropped by INVLPG of ${target.toString(16)}`);
    }
    for (const [j, { lin }] of slots) if (lin >= page - 4096 && lin < page + 4096) slots.delete(j);
  }
});

test('a CR3 write drops the non-global TLB entries filled since the last one, and keeps the global ones', () => {
  const { cpu, mem } = paging32();
  writeCr4(cpu, cpu.cr4 | CR4_PGE);
  mem.writeU32(0x21000 + 4 * 4, 0x104000 | 0x3); // 0x404000 -> 0x104000, not global
  mem.writeU32(0x21000 + 5 * 4, 0x105000 | 0x103); // 0x405000 -> 0x105000, global
  mem.writeU32(0x104000, 0x11);
  mem.writeU32(0x105000, 0x22);
  mem.writeU32(0x106000, 0x33);
  mem.writeU32(0x107000, 0x44);
  assert.equal(rd32(cpu, 0x404000), 0x11);
  assert.equal(rd32(cpu, 0x405000), 0x22);
  mem.writeU32(0x21000 + 5 * 4, 0x107000 | 0x103);
  // Each round moves the non-global page to the other frame without an INVLPG: the TLB keeps the old one
  // until a CR3 write (entries filled after one are dropped by the next one too).
  for (let round = 0; round < 4; round++) {
    const [from, to] = round % 2 === 0 ? [0x11, 0x33] : [0x33, 0x11];
    mem.writeU32(0x21000 + 4 * 4, (round % 2 === 0 ? 0x106000 : 0x104000) | 0x3);
    assert.equal(rd32(cpu, 0x404000), from, `round ${round}: the stale non-global entry is used before the CR3 write`);
    writeCr3(cpu, cpu.cr3);
    assert.equal(rd32(cpu, 0x404000), to, `round ${round}: non-global: walked again after the CR3 write`);
    assert.equal(rd32(cpu, 0x405000), 0x22, `round ${round}: global: kept over the CR3 write`);
  }
  // A full flush (CR4.PGE cleared) drops the global one too.
  writeCr4(cpu, cpu.cr4 & ~CR4_PGE);
  assert.equal(rd32(cpu, 0x405000), 0x44);
});

test('MOV CR3 keeps the bits it was given: PAE paging finds a 32-byte-aligned PDPT in bits 31:5', () => {
  const { mem, cpu } = paePaging(false);
  // A second PDPT at 0x30020 (not page-aligned): its PDPTE 0 points at a page directory mapping 0..2M to 0x600000.
  mem.writeU32(0x30020, 0x34000 | 1);
  mem.writeU32(0x34000, 0x600000 | 0x87);
  cpu.gpr[2 * 0] = 0x30020 | 0x18; // PCD and PWT too
  const x = decodeInsn(hex('0f 22 d8'), 1); // mov cr3, eax
  x.fn(cpu, x);
  assert.equal(cpu.cr3, 0x30038, 'read back as written');
  assert.equal(xlate(cpu, 0x5123, READ).phys, 0x605123, 'walked from the table at 0x30020');
});
