// Long-mode gates and the addresses they load: IDT gate targets, stacks from the TSS (RSP0-2, IST) and
// 64-bit call gates are checked for canonical form before anything is pushed (SDM vol. 2, INT n and CALL).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, makeLong64Cpu, type TestCpu } from './cpu-harness.test-util.js';
import { CR4_LA57, CS, SS, TR } from './x86-defs.js';

const GDT = 0x500;
const IDT = 0x3000;
const TSS = 0x4000;
const NONCANON_HI = 0x00008000; // high dword of 0x0000_8000_xxxx_xxxx: just past the 48-bit canonical range

/** Long mode, identity-mapped first 2 MiB, a GDT, a 64-bit TSS and an IDT of 16-byte gates; ring 0 at 0x1000. */
function long64(): TestCpu {
  const t = makeLong64Cpu();
  const { mem, cpu } = t;
  const d: [number, number][] = [
    [0, 0],
    [0x0000ffff, 0x00cf9a00], // 0x08 code32, ring 0
    [0x0000ffff, 0x00cf9200], // 0x10 data, ring 0
    [0x0000ffff, 0x00af9a00], // 0x18 code64, ring 0
    [(TSS << 16) | 0x67, 0x00008b00], // 0x20 TSS64 (2 slots)
    [0, 0],
    [0x0000ffff, 0x00affa00], // 0x30 code64, ring 3
    [0x0000ffff, 0x00cff200], // 0x38 data, ring 3
    [0, 0], // 0x40 call gate (2 slots), written by the tests
    [0, 0],
  ];
  d.forEach(([lo, hi], i) => {
    mem.writeU32(GDT + i * 8, lo >>> 0);
    mem.writeU32(GDT + i * 8 + 4, hi >>> 0);
  });
  cpu.gdtBase = GDT;
  cpu.gdtLimit = d.length * 8 - 1;
  cpu.setSegRaw(CS, 0x18, 0, 0xffffffff, 0xa09b);
  cpu.setSegRaw(TR, 0x20, TSS, 0x67, 0x8b);
  cpu.idtBase = IDT;
  cpu.idtLimit = 256 * 16 - 1;
  // Handlers: error-code vectors record [rsp] (code) and [rsp+8] (RIP); the others [rsp] (RIP). Then HLT.
  for (const vec of [10, 12, 13]) {
    const h = 0x2000 + vec * 0x20;
    gate64(t, vec, h, 0, vec === 12 ? 1 : 0);
    load(mem, h, '48 8b 04 24  48 8b 5c 24 08  48 8b 4c 24 10  f4'); // mov rax,[rsp]; mov rbx,[rsp+8]; mov rcx,[rsp+16]; hlt
  }
  mem.writeU32(TSS + 0x24, 0x9000); // IST1, for #SS (its handler must not use the stack that faulted)
  return t;
}

function gate64(t: TestCpu, vec: number, offLo: number, offHi: number, ist = 0, dpl = 0): void {
  t.mem.writeU32(IDT + vec * 16, ((0x18 << 16) | (offLo & 0xffff)) >>> 0);
  t.mem.writeU32(IDT + vec * 16 + 4, ((offLo & 0xffff0000) | 0x8e00 | (dpl << 13) | ist) >>> 0);
  t.mem.writeU32(IDT + vec * 16 + 8, offHi >>> 0);
  t.mem.writeU32(IDT + vec * 16 + 12, 0);
}

/** A 64-bit call gate at selector 0x40 (DPL 3) to `tsel:offHi:offLo`; `upper` is its last dword. */
function callGate64(t: TestCpu, tsel: number, offLo: number, offHi: number, upper = 0): void {
  t.mem.writeU32(GDT + 0x40, ((tsel << 16) | (offLo & 0xffff)) >>> 0);
  t.mem.writeU32(GDT + 0x44, ((offLo & 0xffff0000) | 0xec00) >>> 0);
  t.mem.writeU32(GDT + 0x48, offHi >>> 0);
  t.mem.writeU32(GDT + 0x4c, upper >>> 0);
}

function halt(t: TestCpu): void {
  const r = t.cpu.runUntilHalt(1000);
  assert.equal(r, 'hlt', `${r}: ${t.cpu.shutdownReason} ${JSON.stringify(t.cpu.exceptionLog)}`);
}

test('INT n through a gate whose target is not canonical: #GP(0) at the INT', () => {
  const t = long64();
  gate64(t, 0x80, 0x5000, NONCANON_HI);
  load(t.mem, 0x1000, 'cd 80');
  halt(t);
  assert.equal(t.cpu.getGpr(0), 0n, 'error code 0 (software interrupt: EXT clear)');
  assert.equal(t.cpu.getGpr(3), 0x1000n, '#GP points at the INT');
});

test('an exception whose gate target is not canonical: #GP with EXT set', () => {
  const t = long64();
  gate64(t, 6, 0x5000, NONCANON_HI);
  load(t.mem, 0x1000, '0f 0b'); // ud2
  halt(t);
  assert.equal(t.cpu.getGpr(0), 1n, 'error code EXT');
  assert.equal(t.cpu.getGpr(3), 0x1000n);
});

test('an IST stack that is not canonical: #SS(0) before the frame is pushed', () => {
  const t = long64();
  gate64(t, 0x80, 0x5000, 0, 2);
  t.mem.writeU32(TSS + 0x2c, 0); // IST2 = 0x0000_8000_0000_0000
  t.mem.writeU32(TSS + 0x30, NONCANON_HI);
  load(t.mem, 0x1000, 'cd 80');
  halt(t);
  assert.equal(t.cpu.getGpr(0), 0n);
  assert.equal(t.cpu.getGpr(3), 0x1000n);
  assert.equal(t.cpu.gpr[2 * 4], 0x9000 - 48, '#SS ran on its own IST stack (6 qwords with the error code)');
});

test('an IST slot beyond the TSS limit: #TS with the TSS selector', () => {
  const t = long64();
  gate64(t, 0x80, 0x5000, 0, 7); // IST7 is at 0x54..0x5b
  t.cpu.setSegRaw(TR, 0x20, TSS, 0x57, 0x8b);
  load(t.mem, 0x1000, 'cd 80');
  halt(t);
  assert.equal(t.cpu.getGpr(0), 0x20n);
  assert.equal(t.cpu.getGpr(3), 0x1000n);
});

/** Ring 3 at 0x1000 with RSP 0x7000, calling far through the gate at 0x40 (`call far [0x600]`). */
function ring3Call(t: TestCpu): void {
  t.cpu.setSegRaw(CS, 0x33, 0, 0xffffffff, 0xa0fb);
  t.cpu.setSegRaw(SS, 0x3b, 0, 0xffffffff, 0xc0f3);
  t.cpu.gpr[2 * 4] = 0x7000;
  t.mem.writeU32(0x600, 0);
  t.mem.writeU32(0x604, 0x43);
  load(t.mem, 0x1000, 'ff 1c 25 00 06 00 00'); // call far [0x600] (m16:32; a gate ignores the offset)
}

test('a 64-bit call gate from ring 3: the ring-0 stack from RSP0 holds SS, RSP, CS and RIP', () => {
  const t = long64();
  t.mem.writeU32(TSS + 4, 0xa000);
  callGate64(t, 0x18, 0x5000, 0);
  ring3Call(t);
  load(t.mem, 0x5000, '48 8b 04 24  48 8b 5c 24 08  48 8b 4c 24 10  48 8b 54 24 18  f4');
  halt(t);
  assert.equal(t.cpu.cpl, 0);
  assert.equal(t.cpu.gpr[2 * 4], 0xa000 - 32);
  assert.deepEqual([t.cpu.getGpr(0), t.cpu.getGpr(3), t.cpu.getGpr(1), t.cpu.getGpr(2)], [0x1007n, 0x33n, 0x7000n, 0x3bn]);
});

test('a 64-bit call gate to a non-canonical target: #GP(0), still in ring 3 state', () => {
  const t = long64();
  t.mem.writeU32(TSS + 4, 0xa000);
  callGate64(t, 0x18, 0x5000, NONCANON_HI);
  t.mem.writeU32(TSS + 0x24, 0x9000);
  gate64(t, 13, 0x2000 + 13 * 0x20, 0, 1); // run #GP on IST1 so that the frame shows the faulting state
  ring3Call(t);
  halt(t);
  assert.equal(t.cpu.getGpr(0), 0n);
  assert.equal(t.cpu.getGpr(3), 0x1000n);
  assert.equal(t.cpu.getGpr(1), 0x33n, 'CS in the frame is still ring 3');
});

test('a 64-bit call gate whose new stack is not canonical: #SS(0)', () => {
  const t = long64();
  t.mem.writeU32(TSS + 4, 0x1000); // RSP0 = 0x0000_8000_0000_1000: the 32 bytes below it are not canonical
  t.mem.writeU32(TSS + 8, NONCANON_HI);
  callGate64(t, 0x18, 0x5000, 0);
  ring3Call(t);
  halt(t);
  assert.equal(t.cpu.getGpr(0), 0n);
  assert.equal(t.cpu.getGpr(3), 0x1000n);
  assert.equal(t.cpu.getGpr(1), 0x33n);
});

test('a 64-bit call gate to 32-bit code, or with a non-zero type in its upper half: #GP', () => {
  const t = long64();
  t.mem.writeU32(TSS + 0x24, 0x9000);
  gate64(t, 13, 0x2000 + 13 * 0x20, 0, 1);
  callGate64(t, 0x08, 0x5000, 0);
  ring3Call(t);
  halt(t);
  assert.equal(t.cpu.getGpr(0), 0x08n, 'the target code segment is not 64-bit');

  const u = long64();
  u.mem.writeU32(TSS + 0x24, 0x9000);
  gate64(u, 13, 0x2000 + 13 * 0x20, 0, 1);
  callGate64(u, 0x18, 0x5000, 0, 0x0c00);
  ring3Call(u);
  halt(u);
  assert.equal(u.cpu.getGpr(0), 0x40n, 'the gate selector');
});

/** long64() under 5-level paging: a PML5 at 0x20000 whose entries 0 and 0x1a0 lead to the same 4-level tree. */
function long64la57(): TestCpu {
  const t = long64();
  t.mem.writeU32(0x20000, 0x10000 | 7);
  t.mem.writeU32(0x20000 + 0x1a0 * 8, 0x10000 | 7);
  const c = t.cpu;
  c.la57 = true;
  c.cr3 = 0x20000;
  c.cr4 |= CR4_LA57;
  c.updateMode();
  return t;
}

test('5-level paging: an IST stack at 0xffa0000000009000 (beyond +-2^53) takes the frame exactly, IRETQ pops it', () => {
  const t = long64la57();
  gate64(t, 0x80, 0x5000, 0, 2);
  t.mem.writeU32(TSS + 0x2c, 0x9000); // IST2 = 0xffa0_0000_0000_9000
  t.mem.writeU32(TSS + 0x30, 0xffa00000);
  load(t.mem, 0x5000, '48 89 e0  48 8b 1c 24  48 cf'); // mov rax, rsp; mov rbx, [rsp]; iretq
  load(t.mem, 0x1000, 'cd 80  f4');
  halt(t);
  assert.equal(t.cpu.getGpr(0), 0xffa0_0000_0000_9000n - 40n, 'RSP of the handler: five qwords below the IST');
  assert.equal(t.cpu.getGpr(3), 0x1002n, 'the return RIP on that stack');
  assert.equal(t.mem.readU32(0x9000 - 40), 0x1002, 'in memory through the alias');
  assert.equal(t.cpu.getGpr(4), 0x8000n, 'IRETQ restored the old RSP');
});

test('5-level paging: an IST stack not canonical with 57 bits (2^56 + 0x9000): #SS(0)', () => {
  const t = long64la57();
  gate64(t, 0x80, 0x5000, 0, 2);
  t.mem.writeU32(TSS + 0x2c, 0x9000);
  t.mem.writeU32(TSS + 0x30, 0x01000000);
  load(t.mem, 0x1000, 'cd 80');
  halt(t);
  assert.equal(t.cpu.getGpr(0), 0n);
  assert.equal(t.cpu.getGpr(3), 0x1000n);
  assert.equal(t.cpu.gpr[2 * 4], 0x9000 - 48, '#SS ran on its own IST stack');
});
