/**
 * Compiled code's TLB (tlb-wasm.ts): in step with the interpreter's through every change of an entry, and what
 * compiled accesses do with it: RAM outside the wasm memory, a load across two pages mapped apart.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { load, makeLong64Cpu, runText } = await import('./cpu-harness.test-util.js');
const { EmuCpu } = await import('./cpu.js');
const { CodeCache } = await import('./code-cache.js');
const { GuestMemory } = await import('../../memory/guest-memory.js');
const { Bus } = await import('../bus.js');
const { ramAt, rd32, wr32 } = await import('./mem-access.js');
const { dropAllWriteEntries, dropWriteEntries, fill, flushTlb, invlpg } = await import('./tlb.js');
const { writeCr3, writeCr4 } = await import('./control-regs.js');
const { CR4_PAE, CR4_PCIDE, Tlb } = await import('./x86-defs.js');

type Cpu = InstanceType<typeof EmuCpu>;

/**
 * Entries where compiled code's TLB is not what the interpreter's implies (worked out here with bigints): a read tag
 * is the page where the read tag is a page and its RAM is in the memory, a write tag that where the write tag is the
 * same page too, else -1; the delta takes the linear page's low half to the wasm address.
 */
function outOfStep(c: Cpu): string[] {
  const w = c.wtlb!;
  const tags = new BigInt64Array(w.buffer, w.byteOffset, w.length / 2);
  const bad: string[] = [];
  for (let i = 0; i < Tlb.Size * 2; i++) {
    const r = c.tlbTagR[i]!;
    const a = c.tlbAddr[i]!;
    const ok = r !== -1 && a !== -1;
    const wantR = ok ? BigInt(r) : -1n;
    const wantW = ok && c.tlbTagW[i] === r ? BigInt(r) : -1n;
    const gotR = tags[i * 4]!;
    const gotW = tags[i * 4 + 1]!;
    if (gotR !== wantR || gotW !== wantW) bad.push(`entry ${i}: tags ${gotR}/${gotW}, want ${wantR}/${wantW}`);
    else if (ok && w[i * 8 + 4] !== ((a - Number(BigInt.asIntN(32, BigInt(r)))) | 0)) bad.push(`entry ${i}: delta ${w[i * 8 + 4]}`);
  }
  return bad;
}

/** Entries compiled code would hit (a read tag set). */
function held(c: Cpu): number {
  const w = c.wtlb!;
  let n = 0;
  for (let i = 0; i < Tlb.Size * 2; i++) if (w[i * 8] !== -1 || w[i * 8 + 1] !== -1) n++;
  return n;
}

test("compiled code's TLB stays in step: fills, a page turning to code, INVLPG, the dirty log read, CR3 writes, PCID switches, a global flush, RAM outside the memory", () => {
  const t = makeLong64Cpu();
  const c = t.cpu;
  const step = (what: string): void => assert.deepEqual(outOfStep(c), [], what);
  const touch = (): void => {
    rd32(c, 0x5000);
    wr32(c, 0x6000, 1);
    wr32(c, 0x7000, 2);
    rd32(c, 0x8000);
  };
  touch();
  step('filled');
  assert.equal(held(c), 4);
  dropWriteEntries(c, 6);
  step('page 0x6000 holds code');
  assert.equal(c.wtlb![(6 | c.tlbUser) * 8 + 2], -1);
  invlpg(c, 0x7000);
  step('INVLPG');
  // The pages lie in one 2 MiB page: INVLPG drops all its entries.
  assert.equal(held(c), 0);
  touch();
  dropAllWriteEntries(c);
  step('the dirty log read');
  touch();
  writeCr3(c, 0x10000);
  step('CR3 written');
  assert.equal(held(c), 0);
  // PCIDs: 1's entries saved at the switch to 2 and put back at the switch to 1.
  writeCr4(c, c.cr4 | CR4_PAE | CR4_PCIDE);
  writeCr3(c, 0x10000 + 1);
  touch();
  const one = held(c);
  writeCr3(c, 0x10000 + 2, true);
  step('PCID 2');
  rd32(c, 0x9000);
  writeCr3(c, 0x10000 + 1, true);
  step('PCID 1 again');
  assert.equal(held(c), one);
  flushTlb(c, true);
  step('global flush');
  assert.equal(held(c), 0);
  const r = ramAt(c, 0)!;
  fill(c, 0xa000, 0xa000, 1, { ...r, wasmAddr: -1 });
  step('RAM outside the memory');
  assert.equal(held(c), 0);
});

/** A 64-bit vCPU over 4 MiB of RAM outside the wasm memory (as when a VM's RAM does not fit in it). */
function outsideCpu(): Cpu {
  const cache = new CodeCache();
  const mem = new GuestMemory([{ name: 'ram', gpa: 0, size: 4 << 20, bytes: new Uint8Array(4 << 20) }]);
  const c = new EmuCpu({ memory: mem, pio: new Bus('pio'), mmio: new Bus('mmio'), cache });
  mem.writeU32(0x10000, 0x11000 | 7);
  mem.writeU32(0x11000, 0x12000 | 7);
  mem.writeU32(0x12000, 0x87);
  c.setLong64(0x10000);
  c.gpr[2 * 4] = 0x8000;
  return c;
}

// mov dword [0x5000], 0x1234 | mov eax, [0x5000] | inc eax | mov [0x5004], eax | hlt
const STORE_LOAD = 'c7 04 25 00 50 00 00 34 12 00 00 8b 04 25 00 50 00 00 ff c0 89 04 25 04 50 00 00 f4';

test('RAM outside the wasm memory: compiled loads and stores reach it through the slow paths', () => {
  const c = outsideCpu();
  c.compile = true;
  assert.equal(c.ram[0]!.wasmAddr, -1);
  load(c.memory, 0x1000, STORE_LOAD);
  for (let pass = 0; pass < 3; pass++) {
    c.memory.writeU32(0x5004, 0);
    c.halted = false;
    c.rip = 0x1000;
    assert.equal(runText(c, 100), 'hlt');
    assert.equal(c.memory.readU32(0x5004), 0x1235, `pass ${pass}`);
  }
});

test('a compiled load across two pages mapped apart reads both (the last byte is on a page of its own)', () => {
  const t = makeLong64Cpu();
  const c = t.cpu;
  c.compile = true;
  // 0x400000 -> 0x300000, 0x401000 -> 0x150000 (4 KiB pages through a page table at 0x13000).
  t.mem.writeU32(0x12000 + 2 * 8, 0x13000 | 7);
  t.mem.writeU32(0x13000, 0x300000 | 7);
  t.mem.writeU32(0x13008, 0x150000 | 7);
  t.mem.writeU32(0x300ffc, 0x22110000);
  t.mem.writeU32(0x301000, 0x99999999);
  t.mem.writeU32(0x150000, 0x00004433);
  // mov eax, [0x400ffe] | mov ebx, [0x400ffc] | hlt
  load(t.mem, 0x1000, '8b 04 25 fe 0f 40 00 8b 1c 25 fc 0f 40 00 f4');
  for (let pass = 0; pass < 3; pass++) {
    c.halted = false;
    c.rip = 0x1000;
    assert.equal(runText(c, 100), 'hlt');
    assert.equal(c.gpr[0]! >>> 0, 0x44332211, `pass ${pass}`);
    assert.equal(c.gpr[2 * 3]! >>> 0, 0x22110000, `pass ${pass}`);
  }
});
