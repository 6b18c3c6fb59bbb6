/**
 * The wasm tier's SSE forms (wasm-simd.ts) against the interpreter, on seeded random XMM and general registers
 * and memory: every integer SIMD operation, shuffle, pack, unpack, shift, the 128-bit moves, MOVD/MOVQ and MOVMSK
 * with register operands; with memory operands aligned, misaligned (#GP for the aligned forms), across a page end
 * (the handler), on an unmapped page (#PF) and a read-only one (stores #PF); and the #UD/#NM conditions, also when
 * the block itself changes CR0 before its SSE instruction.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first and imports the harness after
 * (node --test runs each file in a process of its own).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededInt32 } from '../../../util/seeded-random.test-util.js';
import { RegSet, regId } from '../../registers.js';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { load, makeLong64Cpu, runText } = await import('../cpu-harness.test-util.js');
const { decodeBlock } = await import('../decoder.js');
const { wasmForm } = await import('./wasm-inline-forms.js');
const { wasmSimd } = await import('./wasm-encoder.js');
type TestCpu = ReturnType<typeof makeLong64Cpu>;

const CR0_EM = 1 << 2;
const CR0_TS = 1 << 3;
const CR4_OSFXSR = 1 << 9;
const skip = wasmSimd ? false : 'this JavaScript engine has no WebAssembly SIMD (the tier then emits no SIMD forms)';

/** Lane edges: signed and unsigned byte/word/dword limits, and sign bits in every lane. */
const SPECIAL = [0, 1, -1, 0x7fffffff, -0x80000000, 0x80808080, 0x7f7f7f7f, 0x80007fff, 0xffff0000, 0x00ff00ff, 0x7fff8000, 0x01000040];
function val(r: () => number): number {
  const k = (r() >>> 0) % 3;
  return k === 0 ? SPECIAL[(r() >>> 0) % SPECIAL.length]! | 0 : r();
}
const h8 = (v: number): string => (v & 0xff).toString(16).padStart(2, '0');

/** Encodes `pfx [REX] 0F <op...> modrm [imm]` with xmm/gpr numbers 0-15 in reg and rm (mod 3) or [rbx] (mod 0). */
function enc(pfx: string, op: string, reg: number, rm: number | 'mem', imm?: number, w = false): string {
  const rex = 0x40 | (w ? 8 : 0) | (reg >= 8 ? 4 : 0) | (rm !== 'mem' && rm >= 8 ? 1 : 0);
  const modrm = rm === 'mem' ? ((reg & 7) << 3) | 3 : 0xc0 | ((reg & 7) << 3) | (rm & 7);
  return [pfx, rex !== 0x40 ? h8(rex) : '', '0f', op, h8(modrm), imm === undefined ? '' : h8(imm)].filter((s) => s !== '').join(' ');
}

/** [prefix, opcode bytes after 0F, has imm8] of the xmm, xmm/m forms. */
const INT: [string, string, boolean][] = [];
for (let o = 0x60; o <= 0x6d; o++) INT.push(['66', h8(o), false]);
for (const o of [0x74, 0x75, 0x76, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe])
  INT.push(['66', h8(o), false]);
for (const o of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x1c, 0x1d, 0x1e, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x28, 0x29, 0x2b, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x40, 0x41])
  INT.push(['66', `38 ${h8(o)}`, false]);
for (const o of [0x0c, 0x0d, 0x0e, 0x0f, 0x42]) INT.push(['66', `3a ${h8(o)}`, true]);
INT.push(['66', '70', true], ['f3', '70', true], ['f2', '70', true], ['', 'c6', true], ['66', 'c6', true]);
INT.push(['', '14', false], ['', '15', false], ['66', '14', false], ['66', '15', false], ['f3', '16', false], ['f3', '12', false]);
for (let o = 0x54; o <= 0x57; o++) INT.push(['', h8(o), false], ['66', h8(o), false]);
/** The 128-bit moves: [prefix, opcode, register form allowed]. */
const MOV: [string, string, boolean][] = [
  ['66', '6f', true], ['f3', '6f', true], ['66', '7f', true], ['f3', '7f', true], ['', '28', true], ['', '29', true], ['66', '28', true],
  ['', '10', true], ['', '11', true], ['66', '11', true], ['f2', 'f0', false], ['66', 'e7', false], ['66', '38 2a', false], ['', '2b', false],
];
/** Shifts by imm8 (groups 12-14): [opcode, ModRM.reg]. */
const SHI: [string, number][] = [['71', 2], ['71', 4], ['71', 6], ['72', 2], ['72', 4], ['72', 6], ['73', 2], ['73', 3], ['73', 6], ['73', 7]];
const IMMS = [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 0x1b, 0x39, 0x4e, 0x93, 0xb1, 0xff, 0x80];

const DATA = 0x3000;
const DLEN = 0x100;

interface Case {
  code: string;
  /** RBX (the memory operand's address). */
  base?: number;
  cr0?: number;
  cr4?: number;
}

/** Runs `code; hlt` twice on one vCPU (the TLB cold, then warm) from the same state; returns what it left. */
function runCase(compile: boolean, c: Case, seed: number): string[] {
  const t: TestCpu = makeLong64Cpu();
  // 2-4 MiB mapped read-only (CR0.WP): writes there fault, reads do not.
  t.mem.writeU32(0x12008, 0x200000 | 0x85);
  t.cpu.cr0 |= 1 << 16;
  t.cpu.cr4 = c.cr4 ?? t.cpu.cr4 | CR4_OSFXSR;
  if (c.cr0 !== undefined) t.cpu.cr0 |= c.cr0;
  t.cpu.compile = compile;
  load(t.mem, 0x1000, c.code + ' f4');
  const out: string[] = [];
  for (let pass = 0; pass < 2; pass++) {
    const r = seededInt32(seed);
    for (let k = 0; k < 16; k++) {
      t.cpu.gpr[k << 1] = val(r);
      t.cpu.gpr[(k << 1) | 1] = val(r);
    }
    for (let k = 0; k < 64; k++) t.cpu.xmm[k] = val(r);
    t.cpu.gpr[2 * 4] = 0x8000;
    t.cpu.gpr[2 * 4 + 1] = 0;
    const base = c.base ?? DATA;
    t.cpu.gpr[2 * 3] = base | 0;
    t.cpu.gpr[2 * 3 + 1] = Math.floor(base / 2 ** 32) | 0;
    for (let a = DATA; a < DATA + DLEN; a += 4) t.mem.writeU32(a, val(r) >>> 0);
    for (let a = 0x3ff0; a < 0x4010; a += 4) t.mem.writeU32(a, val(r) >>> 0);
    t.cpu.rip = 0x1000;
    t.cpu.halted = false;
    // A fault in the first pass ends in a triple fault: the second runs again, with the TLB warm.
    t.cpu.shutdownReason = '';
    t.cpu.exceptionLog.length = 0;
    const res = runText(t.cpu, 1000);
    const x = t.cpu;
    const mem: number[] = [];
    for (let a = DATA; a < DATA + DLEN; a += 4) mem.push(t.mem.readU32(a));
    for (let a = 0x3ff0; a < 0x4010; a += 4) mem.push(t.mem.readU32(a));
    out.push(
      `${res} rip=${x.rip.toString(16)} n=${x.instructions} shutdown=${x.shutdownReason ?? ''} cr2=${x.cr2.toString(16)} exc=${JSON.stringify(x.exceptionLog.slice(0, 2))}`,
      `gpr=${[...x.gpr].join(',')}`,
      `xmm=${[...x.xmm].join(',')}`,
      `mem=${mem.join(',')}`,
    );
  }
  return out;
}

function check(c: Case, seeds: number[]): void {
  for (const seed of seeds) assert.deepEqual(runCase(true, c, seed), runCase(false, c, seed), `${c.code} base=${(c.base ?? DATA).toString(16)} seed=${seed}`);
}

/** Every form with register operands: (1, 2), the same register twice, and REX registers. */
function regCases(): Case[] {
  const r = seededInt32(0x51d);
  const out: Case[] = [];
  for (const [p, op, imm] of INT) {
    const ims = imm ? [IMMS[(r() >>> 0) % IMMS.length]!, r() & 0xff, IMMS[(r() >>> 0) % IMMS.length]!] : [undefined, undefined, undefined];
    out.push({ code: [enc(p, op, 1, 2, ims[0]), enc(p, op, 9, 9, ims[1]), enc(p, op, 3, 12, ims[2]), enc(p, op, 14, 0, ims[0])].join(' ') });
  }
  for (const [op, g] of SHI) {
    for (let i = 0; i < IMMS.length; i += 4) out.push({ code: IMMS.slice(i, i + 4).map((n, j) => enc('66', op, g, [1, 9, 15, 0][j]!, n)).join(' ') });
  }
  for (const [p, op, reg] of MOV) if (reg) out.push({ code: [enc(p, op, 1, 2), enc(p, op, 10, 5), enc(p, op, 7, 7)].join(' ') });
  // MOVD/MOVQ xmm <-> r32/r64, MOVQ xmm, xmm both ways; PMOVMSKB, MOVMSKPS, MOVMSKPD.
  out.push({ code: [enc('66', '6e', 1, 2), enc('66', '6e', 9, 10, undefined, true), enc('66', '7e', 1, 3), enc('66', '7e', 9, 11, undefined, true), enc('66', '7e', 2, 12)].join(' ') });
  out.push({ code: [enc('f3', '7e', 1, 2), enc('f3', '7e', 9, 9), enc('66', 'd6', 3, 4), enc('66', 'd6', 13, 13)].join(' ') });
  out.push({ code: [enc('66', 'd7', 0, 1), enc('66', 'd7', 9, 10), enc('', '50', 2, 3), enc('66', '50', 11, 4)].join(' ') });
  return out;
}

/**
 * The memory forms at `base`, after a load from it (MOV EAX, [RBX]) where `warm`: the TLB then maps the page
 * (for reading) before the SIMD form, whose inline path is what is tested.
 */
function memCases(base: number, warm = true): Case[] {
  const out: Case[] = [];
  const pre = warm ? '8b 03 ' : '';
  for (const [p, op, imm] of INT) out.push({ code: pre + enc(p, op, 5, 'mem', imm ? 0x93 : undefined), base });
  for (const [p, op] of MOV) out.push({ code: pre + enc(p, op, 6, 'mem'), base });
  for (const [p, op, w] of [['66', '6e', false], ['66', '6e', true], ['66', '7e', false], ['66', '7e', true], ['f3', '7e', false], ['66', 'd6', false]] as const) {
    out.push({ code: pre + enc(p, op, 10, 'mem', undefined, w), base });
  }
  return out;
}

test('SSE instructions compiled to wasm have the SIMD form (and those without one keep their handler)', { skip }, () => {
  const t = makeLong64Cpu();
  const forms: [string, string][] = [
    [enc('66', 'fe', 1, 2), 'simd'], // paddd
    [enc('66', 'ef', 1, 'mem'), 'simd'], // pxor xmm1, [rbx]
    [enc('66', '38 00', 3, 12), 'simd'], // pshufb
    [enc('66', '70', 0, 0, 0x93), 'simd'], // pshufd
    [enc('66', '72', 2, 1, 12), 'simd'], // psrld xmm1, 12
    [enc('66', '6f', 1, 'mem'), 'simd'], // movdqa
    [enc('f3', '7f', 1, 'mem'), 'simd'], // movdqu store
    [enc('66', '6e', 4, 'mem'), 'simd'], // movd xmm4, [rbx]
    [enc('66', 'd7', 0, 1), 'simd'], // pmovmskb
    [enc('66', 'f6', 1, 2), ''], // psadbw
    [enc('66', '38 0b', 1, 2), ''], // pmulhrsw
    [enc('', '58', 1, 2), ''], // addps
  ];
  load(t.mem, 0x1000, forms.map(([h]) => h).join(' ') + ' c3');
  const ins = decodeBlock(t.cpu, 0x1000, 0x1000).insns;
  assert.deepEqual(
    ins.map((x) => wasmForm(x)),
    [...forms.map(([, f]) => f), 'ret'],
  );
});

test('SIMD forms with register operands leave the registers as the interpreter does', { skip }, () => {
  const all = regCases();
  for (let i = 0; i < all.length; i++) check(all[i]!, [(i + 1) * 7919 + 1, (i + 1) * 7919 + 2]);
});

test('SIMD forms with memory operands: aligned, misaligned (#GP for the aligned forms) and across a page end', { skip }, () => {
  const cs = [...memCases(DATA + 0x40), ...memCases(DATA + 0x44), ...memCases(DATA + 0x48), ...memCases(0x3ff8), ...memCases(0x3ffc)];
  for (let i = 0; i < cs.length; i++) check(cs[i]!, [(i + 1) * 104729 + 3]);
});

test('SIMD forms with memory operands: #PF on an unmapped page, stores to a read-only page, across the end of the mapped pages, a non-canonical address', { skip }, () => {
  // The last bytes before the unmapped page at 4 MiB: an operand across that end faults in its second page.
  const cs = [...memCases(0x400000, false), ...memCases(0x3ffff8), ...memCases(0x3ffffc), ...memCases(0x200010), ...memCases(0x0000_8000_0000_0000, false)];
  for (let i = 0; i < cs.length; i++) check(cs[i]!, [(i + 1) * 15485863 + 5]);
});

test('SIMD forms raise #UD (CR0.EM, no CR4.OSFXSR) and #NM (CR0.TS) as the handlers do, also after CLTS or MOV CR0 in the block', { skip }, () => {
  const pxor = enc('66', 'ef', 1, 2);
  const movdqa = enc('66', '6f', 1, 'mem');
  const movd = enc('66', '7e', 1, 'mem');
  for (const code of [pxor, movdqa, movd, `${pxor} ${movdqa}`]) {
    check({ code, cr0: CR0_TS }, [11]);
    check({ code, cr0: CR0_EM }, [12]);
    check({ code, cr4: 0x20 }, [13]); // PAE only
    // CLTS opens the gate inside the block; MOV CR0 with TS (from RAX) closes it.
    check({ code: `0f 06 ${code}`, cr0: CR0_TS }, [14]);
    check({ code: `0f 20 c0 48 83 c8 08 0f 22 c0 ${code}` }, [15]);
    // MOV CR4 without OSFXSR.
    check({ code: `0f 20 e0 48 25 ff fd ff ff 0f 22 e0 ${code}` }, [16]);
  }
});

test('compiled code ran: a block of SIMD forms compiled and its results are the interpreter\'s', { skip }, () => {
  const t = makeLong64Cpu();
  t.cpu.cr4 |= CR4_OSFXSR;
  t.cpu.compile = true;
  load(t.mem, 0x1000, `${enc('66', 'fe', 1, 2)} ${enc('66', 'ef', 1, 1)} f4`);
  t.cpu.xmm[4] = 5;
  t.cpu.run(100);
  assert.ok(t.cpu.jitStats.regions >= 1, JSON.stringify(t.cpu.jitStats));
  assert.deepEqual([...t.cpu.xmm.slice(4, 8)], [0, 0, 0, 0]);
});

test('the inline forms run without their handlers (a compiled block of them runs with every handler replaced by a throw)', { skip }, () => {
  const t = makeLong64Cpu();
  t.cpu.cr4 |= CR4_OSFXSR;
  t.cpu.compile = true;
  // paddd, pxor [rbx], pshufb, pshufd, psrld, movdqa load, movdqu store, movd xmm4, [rbx], pmovmskb, movq xmm, r64.
  const code = [enc('66', 'fe', 1, 2), enc('66', 'ef', 1, 'mem'), enc('66', '38 00', 3, 12), enc('66', '70', 0, 0, 0x93), enc('66', '72', 2, 1, 12), enc('66', '6f', 1, 'mem'), enc('f3', '7f', 1, 'mem'), enc('66', '6e', 4, 'mem'), enc('66', 'd7', 0, 1), enc('66', '6e', 5, 6, undefined, true)];
  load(t.mem, 0x1000, code.join(' ') + ' f4');
  t.cpu.gpr[2 * 3] = DATA;
  t.cpu.gpr[2 * 3 + 1] = 0;
  // Twice: the code cache keeps a block the second time it is decoded (code-cache.ts put).
  for (let i = 0; i < 2; i++) {
    t.cpu.rip = 0x1000;
    t.cpu.halted = false;
    assert.equal(t.cpu.run(100), 'hlt');
  }
  const blk = t.cpu.jcBlock.find((b) => b !== undefined && b.phys === 0x1000)!;
  assert.ok(blk.exec !== null, 'compiled');
  assert.equal(blk.insns.length, code.length + 1);
  for (const x of blk.insns.slice(0, -1)) x.fn = (): void => assert.fail(`${x.row.mn} ran its handler`);
  t.cpu.rip = 0x1000;
  t.cpu.halted = false;
  assert.equal(t.cpu.run(100), 'hlt');
  assert.equal(t.cpu.exceptionLog.length, 0);
});

test('the SSE gate follows CR0 and CR4 whoever writes them, and the XMM registers are in the slot', { skip }, async () => {
  const { setRegister } = await import('../register-catalog.js');
  const { restoreVcpu, saveVcpu } = await import('../vcpu-state.js');
  const t = makeLong64Cpu();
  const c = t.cpu;
  const gate = new Int32Array(c.wasm!.memory.buffer, c.wslot + 42000, 1);
  assert.equal(gate[0], 0, 'no CR4.OSFXSR');
  c.cr4 |= CR4_OSFXSR;
  assert.equal(gate[0], 1);
  c.cr0 |= CR0_TS;
  assert.equal(gate[0], 0, 'CR0.TS');
  c.cr0 &= ~CR0_TS;
  assert.equal(gate[0], 1);
  const saved = saveVcpu(c);
  setRegister(c, regId(RegSet.CONTROL, 0), BigInt(c.cr0 | CR0_EM));
  assert.equal(gate[0], 0, 'CR0.EM through the register catalog');
  restoreVcpu(c, saved);
  assert.equal(gate[0], 1, 'a restored vCPU');
  c.xmm[5] = 0x12345678;
  assert.equal(new Int32Array(c.wasm!.memory.buffer, c.wslot + 42048 + 16, 4)[1], 0x12345678);
});

test('SIMD forms in 32-bit flat protected mode (32-bit addressing) leave what the interpreter leaves', { skip }, async () => {
  const { makeCpu } = await import('../cpu-harness.test-util.js');
  const run = (compile: boolean, code: string, base: number, seed: number): string[] => {
    const t = makeCpu();
    t.cpu.setFlat32();
    t.cpu.cr4 |= CR4_OSFXSR;
    t.cpu.compile = compile;
    load(t.mem, 0x1000, code + ' f4');
    const out: string[] = [];
    for (let pass = 0; pass < 2; pass++) {
      const r = seededInt32(seed);
      for (let k = 0; k < 8; k++) t.cpu.gpr[k << 1] = val(r);
      for (let k = 0; k < 32; k++) t.cpu.xmm[k] = val(r);
      for (let a = DATA; a < DATA + DLEN; a += 4) t.mem.writeU32(a, val(r) >>> 0);
      t.cpu.gpr[2 * 4] = 0x8000;
      t.cpu.gpr[2 * 3] = base;
      t.cpu.rip = 0x1000;
      t.cpu.halted = false;
      t.cpu.shutdownReason = '';
      t.cpu.exceptionLog.length = 0;
      const res = t.cpu.run(1000);
      const mem: number[] = [];
      for (let a = DATA; a < DATA + DLEN; a += 4) mem.push(t.mem.readU32(a));
      out.push(`${res} rip=${t.cpu.rip} exc=${JSON.stringify(t.cpu.exceptionLog.slice(0, 2))} gpr=${[...t.cpu.gpr.slice(0, 16)]} xmm=${[...t.cpu.xmm.slice(0, 32)]} mem=${mem}`);
    }
    return out;
  };
  // paddd, pxor [ebx], pshufb, pshufd, psrld, movdqa [ebx], movdqu [ebx+1] store, movd xmm4, [ebx+4], movd [ebx+8], xmm5, pmovmskb, movq xmm6, [ebx]
  const code = '66 0f fe ca 8b 03 66 0f ef 0b 66 0f 38 00 df 66 0f 70 c0 93 66 0f 72 d1 0c 66 0f 6f 13 f3 0f 7f 53 01 66 0f 6e 63 04 66 0f 7e 6b 08 66 0f d7 c1 f3 0f 7e 33';
  for (const [i, base] of [DATA + 0x20, DATA + 0x24, 0x3ff8].entries()) assert.deepEqual(run(true, code, base, 31 + i), run(false, code, base, 31 + i), `base ${base.toString(16)}`);
});
