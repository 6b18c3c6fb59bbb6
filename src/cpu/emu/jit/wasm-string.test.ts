/**
 * The wasm tier's string forms (wasm-string.ts): MOVS, STOS and LODS without REP are inline in 64-bit code and in
 * flat 32-bit code, and leave registers, memory and faults as the interpreter does (DF set and clear, TLB misses,
 * page-crossing operands, faults, segments with a base, 67h address sizes, random high halves); the cpu keeps
 * DF's copy in the slot through every flag writer.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first and imports the harness
 * after (node --test runs each file in a process of its own).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededInt32 } from '../../../util/seeded-random.test-util.js';
import { CR0_WP, Seg } from '../x86-defs.js';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { load, makePagedFlat32Cpu, makeLong64Cpu, runText } = await import('../cpu-harness.test-util.js');
const { decodeBlock } = await import('../decoder.js');
const { wasmForm } = await import('./wasm-inline-forms.js');
const { setFlagsRaw } = await import('../lazy-flags.js');
type TestCpu = ReturnType<typeof makeLong64Cpu>;

/** A 64-bit vCPU (the first 2 MiB mapped), 2-4 MiB read-only, 4-6 MiB not mapped. */
function make64Cpu(): TestCpu {
  const t = makeLong64Cpu();
  t.mem.writeU32(0x12008, 0x200000 | 0x85);
  t.cpu.cr0 |= CR0_WP;
  return t;
}

test('MOVS, STOS and LODS without REP are wasm forms where their address size is 32 or 64 bits', () => {
  const t = make64Cpu();
  const form = (u: TestCpu, h: string): string => {
    load(u.mem, 0x1000, h);
    return wasmForm(decodeBlock(u.cpu, 0x1000, 0x1000).insns[0]!);
  };
  for (const [h, f] of [['a4', 'str'], ['a5', 'str'], ['48 a5', 'str'], ['66 ab', 'str'], ['aa', 'str'], ['48 ad', 'str'], ['ac', 'str'], ['67 a4', 'str'], ['64 a4', 'str'], ['f3 a4', ''], ['f3 48 ab', ''], ['a6', ''], ['ae', ''], ['6c', '']] as const) assert.equal(form(t, h), f, `64-bit ${h}`);
  const u = makePagedFlat32Cpu();
  for (const [h, f] of [['a4', 'str'], ['a5', 'str'], ['66 a5', 'str'], ['aa', 'str'], ['ab', 'str'], ['ac', 'str'], ['ad', 'str'], ['67 a4', ''], ['f3 a5', ''], ['f2 ae', '']] as const) assert.equal(form(u, h), f, `32-bit ${h}`);
});


const DATA = 0x3000;

interface Case {
  long: boolean;
  code: string;
  /** RSI and RDI (their low halves at random in 32-bit code, where the high halves are kept). */
  si: number;
  di: number;
  /** EAX's low half, when not random (a loop's end). */
  ax?: number;
  /** ES and DS bases (32-bit code; 0 unless given), FS's. */
  es?: number;
  ds?: number;
  fs?: number;
}

/** Runs `code; hlt` three times on one vCPU (TLB cold, warm, chained), from the same state; returns what it left. */
function runCase(compile: boolean, c: Case, seed: number): string[] {
  const t = c.long ? make64Cpu() : makePagedFlat32Cpu();
  t.cpu.compile = compile;
  load(t.mem, 0x1000, c.code + ' f4');
  const out: string[] = [];
  for (let pass = 0; pass < 3; pass++) {
    const r = seededInt32(seed);
    for (let k = 0; k < 16; k++) {
      t.cpu.gpr[k << 1] = r();
      t.cpu.gpr[(k << 1) | 1] = c.long ? r() : 0;
    }
    if (!c.long) for (let k = 0; k < 8; k++) t.cpu.gpr[(k << 1) | 1] = r(); // left over from long mode: kept
    t.cpu.gpr[2 * 4] = 0x8000;
    t.cpu.gpr[2 * 6] = c.si | 0;
    t.cpu.gpr[2 * 7] = c.di | 0;
    if (c.ax !== undefined) t.cpu.gpr[2 * 0] = c.ax | 0;
    if (c.long) {
      t.cpu.gpr[2 * 4 + 1] = 0;
      t.cpu.gpr[2 * 6 + 1] = Math.floor(c.si / 2 ** 32) | 0;
      t.cpu.gpr[2 * 7 + 1] = Math.floor(c.di / 2 ** 32) | 0;
      t.cpu.segBase[Seg.FS] = c.fs ?? 0;
    } else {
      t.cpu.setSegRaw(Seg.ES, 0x10, c.es ?? 0, 0xffffffff, 0xc093);
      t.cpu.setSegRaw(Seg.DS, 0x10, c.ds ?? 0, 0xffffffff, 0xc093);
      t.cpu.setSegRaw(Seg.FS, 0x10, c.fs ?? 0, 0xffffffff, 0xc093);
    }
    for (let a = DATA - 64; a < DATA + 64; a += 4) t.mem.writeU32(a, r() >>> 0);
    setFlagsRaw(t.cpu, 2);
    t.cpu.rip = 0x1000;
    t.cpu.halted = false;
    const res = runText(t.cpu, 1000);
    const x = t.cpu;
    const mem: number[] = [];
    // Around DATA, below the read-only page, the code's page after the code.
    for (const [from, to] of [[DATA - 64, DATA + 64], [0x200000 - 256, 0x200000], [0x1800, 0x1900]] as const) for (let a = from; a < to; a += 4) mem.push(t.mem.readU32(a));
    out.push(
      `${res} rip=${x.rip.toString(16)} n=${x.instructions} shutdown=${x.shutdownReason ?? ''} cr2=${x.cr2.toString(16)} rflags=${x.getRflags().toString(16)}`,
      `gpr=${[...x.gpr].join(',')}`,
      `mem=${mem.join(',')}`,
    );
  }
  return out;
}

function hex8(v: number): string {
  return (v & 0xff).toString(16).padStart(2, '0');
}

/** The string instructions of each mode (one per block: each ends its block). */
const OPS32 = ['a4', 'a5', '66 a5', 'aa', 'ab', '66 ab', 'ac', 'ad', '66 ad'];
const OPS64 = [...OPS32, '48 a5', '48 ab', '48 ad', '67 a4', '67 48 a5', '67 ab', '67 ad'];
/** DF set by STD, by POPF (0x402), then cleared by CLD. */
const DF_SET = ['', 'fd ', '68 02 04 00 00 9d ', 'fd fc '];

function cases(): Case[] {
  const out: Case[] = [];
  for (const long of [false, true]) {
    const ops = long ? OPS64 : OPS32;
    for (const df of DF_SET) {
      out.push({ long, code: df + ops.join(' '), si: DATA, di: DATA + 32 });
      // Each operand kind in both directions (STD); POPF and CLD with all of them in a row above.
      if (df !== '' && df !== 'fd ') continue;
      for (const op of ops) {
        for (const [si, di] of [
          [DATA + 8, DATA + 40],
          [DATA + 41, DATA + 9], // misaligned
          [DATA + 12, DATA + 13], // overlapping
          [0x3ffe, DATA], // the source across a page end
          [DATA, 0x2ffd], // the destination across one
          [0x200ff8, DATA], // a read-only page: reads are fine
          [DATA, 0x200000], // a write to it faults
          [long ? 0x400000 : 0x300000, DATA], // not mapped
          [DATA, long ? 0x400010 : 0x300010],
        ])
          out.push({ long, code: df + op, si: si!, di: di! });
        // Three in a row (three blocks, chained after the first pass), then one of each.
        out.push({ long, code: `${df}${op} ${op} ${op}`, si: DATA - 20, di: DATA + 20 });
      }
    }
  }
  // Loops of one block that loops on itself (a string instruction without REP goes on in its block), as gcc -m32
  // copies: movs; cmp edi, eax; jne back, and the same with stos and lods; forwards and backwards, into a page
  // that is read-only (a fault in the middle of the loop), and into the code's own page (through the handler).
  for (const long of [false, true]) {
    for (const [op, len] of [['a4', 1], ['a5', 4], ['aa', 1], ['ab', 4], ['66 a5', 2], ['48 a5', 8]] as const) {
      if (op === '48 a5' && !long) continue;
      const n = op.split(' ').length;
      const loop = `${op} 39 c7 75 ${hex8(-(n + 4))}`; // cmp edi, eax; jne to the string instruction
      for (const df of ['', 'fd ']) {
        const back = df !== '';
        out.push({ long, code: df + loop, si: DATA - 40, di: DATA + 8, ax: DATA + 8 + (back ? -24 : 24) * len });
        out.push({ long, code: df + loop, si: DATA, di: 0x200000 - 8 * len + (back ? 16 * len : 0), ax: 0x200000 + (back ? -16 : 16) * len });
      }
      out.push({ long, code: loop, si: DATA, di: 0x1800, ax: 0x1800 + 32 * len });
    }
    // lods; cmp esi, edi; jne
    out.push({ long, code: 'ac 39 fe 75 f9', si: DATA, di: DATA + 20 });
  }
  // 32-bit: segments with a base (the handler, and ES's for the destination), an FS override.
  for (const op of OPS32) {
    out.push({ long: false, code: op, si: DATA, di: DATA + 16, es: 0x100 });
    out.push({ long: false, code: op, si: DATA, di: DATA + 16, ds: 0x40 });
    out.push({ long: false, code: `64 ${op}`, si: DATA, di: DATA + 16, fs: 0x20 });
  }
  // 64-bit: high halves that a 67h address size ignores, a non-canonical index, an FS override with its base.
  for (const op of ['67 a4', '67 48 a5', '67 ab', '67 ad']) out.push({ long: true, code: op, si: 2 ** 40 + DATA, di: 2 ** 41 + DATA + 8 });
  for (const op of ['48 a5', '48 ab', 'ad']) {
    out.push({ long: true, code: op, si: 0x0000_8000_0000_0000, di: DATA });
    out.push({ long: true, code: op, si: DATA, di: -0x0000_8000_0000_0000 - 4096 });
    out.push({ long: true, code: `64 ${op}`, si: DATA - 0x100, di: DATA + 16, fs: 0x100 });
  }
  return out;
}

test('the string forms leave registers, memory and faults as the interpreter does', () => {
  const all = cases();
  for (let i = 0; i < all.length; i++) {
    const c = all[i]!;
    const seed = (i + 1) * 7919;
    assert.deepEqual(runCase(true, c, seed), runCase(false, c, seed), `${c.long ? 64 : 32}-bit ${c.code} si=${c.si.toString(16)} di=${c.di.toString(16)} es=${c.es ?? 0} ds=${c.ds ?? 0} fs=${c.fs ?? 0}`);
  }
});

test('the string forms run without their handlers (compiled blocks run with the handler replaced by a throw)', () => {
  for (const long of [false, true]) {
    const t = long ? make64Cpu() : makePagedFlat32Cpu();
    t.cpu.compile = true;
    const ops = long ? OPS64 : OPS32;
    // std; movs... (one block each); cld; the same: both directions.
    load(t.mem, 0x1000, `fd ${ops.join(' ')} fc ${ops.join(' ')} f4`);
    const run = (): void => {
      t.cpu.gpr[2 * 6] = DATA + 64;
      t.cpu.gpr[2 * 7] = DATA + 128;
      t.cpu.gpr[2 * 6 + 1] = 0;
      t.cpu.gpr[2 * 7 + 1] = 0;
      t.cpu.rip = 0x1000;
      t.cpu.halted = false;
      assert.equal(t.cpu.run(1000), 'hlt');
    };
    // Twice: the code cache keeps a block the second time it is decoded (code-cache.ts put).
    run();
    run();
    let n = 0;
    for (const b of t.cpu.jcBlock) {
      if (b === undefined || b.exec === null) continue;
      for (const x of b.insns) {
        if (wasmForm(x) !== 'str') continue;
        x.fn = (): void => assert.fail(`${x.row.mn} ran its handler`);
        n++;
      }
    }
    assert.equal(n, 2 * ops.length, `${long ? 64 : 32}-bit: compiled string instructions`);
    run();
    assert.equal(t.cpu.exceptionLog.length, 0);
    assert.equal(t.cpu.gpr[2 * 6], DATA + 64, 'RSI back where it started');
  }
});

test('the slot holds DF as every writer of RFLAGS leaves it', () => {
  const t = make64Cpu();
  const c = t.cpu;
  const df = (): number => c.dfSlot[0]!;
  assert.ok(c.dfSlot.buffer === c.wasm!.memory.buffer, 'in the wasm memory');
  // std; cld; push 0x402; popf; pushf; and [rsp], ~0x400; popf; hlt
  load(t.mem, 0x1000, 'fd f4 fc f4 68 02 04 00 00 9d f4 9c 48 81 24 24 ff fb ff ff 9d f4');
  const seen: number[] = [];
  for (let i = 0; i < 4; i++) {
    c.halted = false;
    c.run(100);
    seen.push(df());
  }
  assert.deepEqual(seen, [1, 0, 1, 0]);
  c.setRflags(0x402);
  assert.equal(df(), 1);
  setFlagsRaw(c, 2);
  assert.equal(df(), 0);
});

test('a copy loop of MOVSB / MOVSD is one compiled block that loops on itself', () => {
  for (const [op, len] of [['a4', 1], ['a5', 4]] as const) {
    const t = makePagedFlat32Cpu();
    t.cpu.compile = true;
    // movs; cmp edi, eax; jne back; hlt
    const n = op.split(' ').length;
    load(t.mem, 0x1000, `${op} 39 c7 75 ${hex8(-(n + 4))} f4`);
    t.cpu.gpr[2 * 6] = DATA;
    t.cpu.gpr[2 * 7] = DATA + 0x400;
    t.cpu.gpr[2 * 0] = DATA + 0x400 + 100 * len;
    t.cpu.rip = 0x1000;
    assert.equal(t.cpu.run(10_000), 'hlt');
    assert.equal(t.cpu.instructions, 301);
    const blk = t.cpu.cache.get(0x1000, t.cpu.modeKey)!;
    assert.equal(blk.insns.length, 3);
    assert.ok(blk.exec !== null && blk.selfLoop, `${op}: a compiled self-loop`);
  }
});
