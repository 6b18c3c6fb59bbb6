/**
 * The honesty pass: the CPU model and the instruction table together.
 * - Every CPUID feature bit the guest can see is in the model's list (features/emu-cpu-model.ts).
 * - Every advertised instruction feature is implemented: an opcode list of each feature, written here
 *   from the SDM's opcode maps (vol. 2, appendix A) independently of the table, must decode to rows
 *   with handlers in every mode the instruction exists in.
 * - Every encoding the table knows but does not implement, and every encoding it has no row for,
 *   raises #UD in the guest, counted per name (EmuCpu.unimplementedCounts, `tsvmm stat`), with one
 *   host warning per name; architecturally invalid encodings raise #UD silently.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { specialRows, tableRows } from './index.js';
import { decodeInsn } from '../decoder.js';
import { CR4_LA57, FAULT, VEC_UD } from '../x86-defs.js';
import { cpuid } from '../msr.js';
import { writeCr4 } from '../control-regs.js';
import { makeCpu } from '../cpu-harness.test-util.js';
import { EMU_CPU_FEATURES, emuCpuid, emuHasFeature, EMU_MAX_BASIC_LEAF, EMU_MAX_EXT_LEAF } from '../../../features/emu-cpu-model.js';
import { setLogSink } from '../../../util/log.js';

const SPECIAL = specialRows();

/**
 * Opcodes per advertised instruction feature. Each entry: prefix and opcode bytes, then the ModRM form:
 * 'r' register operands (ModRM C1), 'm' memory only ([eax], ModRM 00 plus reg), '/N' a group member with a
 * register, '/Nm' with memory; a trailing 'i' adds an 8-bit immediate; '64' only in 64-bit mode, '32' only
 * outside it. Ranges: '66 0F 60-6D r' expands the last opcode byte.
 */
const FEATURE_OPCODES: Record<string, string[]> = {
  cmov: ['0F 40-4F r'],
  cx8: ['0F C7 /1m'],
  cx16: ['48 0F C7 /1m 64'],
  movbe: ['0F 38 F0 m', '0F 38 F1 m'],
  popcnt: ['F3 0F B8 r'],
  abm: ['F3 0F BD r'],
  sep: ['0F 34 32', '0F 35 32'],
  syscall: ['0F 05 64', '0F 07 64'],
  rdtscp: ['0F 01 F9'],
  tsc: ['0F 31'],
  msr: ['0F 32', '0F 30'],
  clfsh: ['0F AE /7m'],
  fxsr: ['0F AE /0m', '0F AE /1m'],
  xsave: ['0F AE /4m', '0F AE /5m', '0F 01 D0', '0F 01 D1'],
  xsaveopt: ['0F AE /6m'],
  'lahf-lm': ['9E 64', '9F 64'],
  fpu: ['D8 /0-7m', 'D8 /0-7', 'D9 /0m', 'D9 /2-7m', 'D9 E0', 'D9 E1', 'D9 E4', 'D9 E5', 'D9 E8-EE', 'D9 F0-FF', 'DA /0-7m', 'DA E9',
    'DB /0-3m', 'DB /5m', 'DB /7m', 'DB E2', 'DB E3', 'DC /0-7m', 'DC /0-7', 'DD /0-4m', 'DD /6m', 'DD /7m', 'DD C0', 'DD D0', 'DD D8',
    'DE /0-7m', 'DE /0-1', 'DE /4-7', 'DE D9', 'DF /0-7m', 'DF E0', 'DF E8', 'DF F0', '9B', 'DB E8', 'DB F0', 'DA C0', 'DA C8', 'DA D0', 'DA D8',
    'DB C0', 'DB C8', 'DB D0', 'DB D8'],
  sse: ['0F 10-11 r', 'F3 0F 10-11 r', '0F 12-17 r', '0F 28-29 r', '0F 2B m', 'F3 0F 2A r', 'F3 0F 2C-2D r', '0F 2E-2F r', '0F 50 r', '0F 51-53 r',
    'F3 0F 51-53 r', '0F 54-59 r', 'F3 0F 58-59 r', '0F 5C-5F r', 'F3 0F 5C-5F r', '0F C2 r i', 'F3 0F C2 r i', '0F C6 r i', '0F AE /2m',
    '0F AE /3m', '0F AE /7', '0F 18 /0-3m'],
  sse2: ['66 0F 10-11 r', 'F2 0F 10-11 r', '66 0F 12-13 m', '66 0F 14-15 r', '66 0F 16-17 m', '66 0F 28-29 r', '66 0F 2B m', 'F2 0F 2A r',
    'F2 0F 2C-2D r', '66 0F 2E-2F r', '66 0F 50 r', '66 0F 51 r', 'F2 0F 51 r', '66 0F 54-5F r', 'F2 0F 58-5A r', 'F2 0F 5C-5F r', '0F 5A-5B r', 'F3 0F 5A-5B r',
    '66 0F 60-6F r', 'F3 0F 6F r', '66 0F 70 r i', 'F3 0F 70 r i', 'F2 0F 70 r i', '66 0F 71 /2 i', '66 0F 71 /4 i', '66 0F 71 /6 i',
    '66 0F 72 /2 i', '66 0F 72 /4 i', '66 0F 72 /6 i', '66 0F 73 /2-3 i', '66 0F 73 /6-7 i', '66 0F 74-76 r', '66 0F 7E r', 'F3 0F 7E r',
    '66 0F 7F r', 'F3 0F 7F r', '66 0F C2 r i', 'F2 0F C2 r i', '0F C3 m', '66 0F C4 r i', '66 0F C5 r i', '66 0F C6 r i', '66 0F D1-D6 r',
    '66 0F D7 r', '66 0F D8-E5 r', '66 0F E6 r', 'F3 0F E6 r', 'F2 0F E6 r', '66 0F E7 m', '66 0F E8-EF r', '66 0F F1-F6 r', '66 0F F7 r',
    '66 0F F8-FE r', '0F AE /5', '0F AE /6', 'F3 90'],
  sse3: ['66 0F D0 r', 'F2 0F D0 r', 'F2 0F F0 m', '66 0F 7C-7D r', 'F2 0F 7C-7D r', 'F3 0F 12 r', 'F3 0F 16 r', 'F2 0F 12 r', 'DB /1m',
    'DD /1m', 'DF /1m'],
  ssse3: ['66 0F 38 00-0B r', '66 0F 38 1C-1E r', '66 0F 3A 0F r i'],
  'sse4.1': ['66 0F 38 10 r', '66 0F 38 14-15 r', '66 0F 38 17 r', '66 0F 38 20-25 r', '66 0F 38 28-29 r', '66 0F 38 2A m', '66 0F 38 2B r',
    '66 0F 38 30-35 r', '66 0F 38 38-41 r', '66 0F 3A 08-0F r i', '66 0F 3A 14-17 r i', '66 0F 3A 20-22 r i', '66 0F 3A 40-42 r i'],
  'sse4.2': ['66 0F 38 37 r', 'F2 0F 38 F0-F1 r', '66 0F 3A 60-63 r i'],
  invpcid: ['66 0F 38 82 m'],
};

/** Features that are not instruction sets, and instruction features whose opcodes are listed elsewhere. */
const NO_OPCODES = new Set(['de', 'pcid', 'pse', 'pae', 'apic', 'mce', 'mtrr', 'pge', 'mca', 'pat', 'x2apic', 'tsc-deadline', 'nx', 'pdpe1gb', 'lm', 'spec_ctrl', 'bhi_ctrl', 'arch_capabilities', 'hypervisor']);

interface Enc {
  bytes: number[];
  modes: number[];
  text: string;
}

function expand(spec: string): Enc[] {
  const parts = spec.split(' ');
  let modes = [1, 2];
  if (parts.at(-1) === '64') {
    modes = [2];
    parts.pop();
  } else if (parts.at(-1) === '32') {
    modes = [1];
    parts.pop();
  }
  const imm = parts.at(-1) === 'i';
  if (imm) parts.pop();
  let form = '';
  const last = parts.at(-1)!;
  if (last === 'r' || last === 'm' || last.startsWith('/')) form = parts.pop()!;
  const out: Enc[] = [];
  const opRange = parts.at(-1)!.split('-').map((h) => parseInt(h, 16));
  const lead = parts.slice(0, -1).map((h) => parseInt(h, 16));
  const regs: [number, boolean][] = [];
  if (form === 'r') regs.push([0, false]);
  else if (form === 'm') regs.push([0, true]);
  else if (form.startsWith('/')) {
    const mem = form.endsWith('m');
    const [a, b] = form.slice(1, mem ? -1 : undefined).split('-').map(Number);
    for (let r = a!; r <= (b ?? a!); r++) regs.push([r, mem]);
  }
  for (let op = opRange[0]!; op <= (opRange[1] ?? opRange[0]!); op++) {
    if (regs.length === 0) out.push({ bytes: [...lead, op, ...(imm ? [0] : [])], modes, text: spec });
    for (const [reg, mem] of regs) {
      const modrm = mem ? (reg << 3) | 0 : 0xc0 | (reg << 3) | 1;
      out.push({ bytes: [...lead, op, modrm, ...(imm ? [1] : [])], modes, text: `${spec} (ModRM ${modrm.toString(16)})` });
    }
  }
  return out;
}

test('honesty: every CPUID feature bit the guest sees is in the CPU model list', () => {
  const flagWords: [number, number, number][] = [
    [1, 0, 2], [1, 0, 3], [7, 0, 1], [7, 0, 2], [7, 0, 3], [7, 1, 0], [7, 2, 3], [0xd, 1, 0], [0x8000_0001, 0, 2], [0x8000_0001, 0, 3],
  ];
  // Bits that describe the machine rather than a feature: HTT (several logical processors), OSXSAVE (mirrors CR4).
  const machineBits = new Set(['1.0.3.28', '1.0.2.27']);
  const known = new Set(EMU_CPU_FEATURES.map((x) => `${x.leaf}.${x.subleaf}.${['eax', 'ebx', 'ecx', 'edx'].indexOf(x.reg)}.${x.bit}`));
  const out = new Int32Array(4);
  const problems: string[] = [];
  for (const cpus of [1, 4]) {
    for (const [leaf, sub, reg] of flagWords) {
      emuCpuid(leaf, sub, 0, cpus, out);
      // Leaf 7 lies above the maximum basic leaf only if the model says so; then it reads as the top leaf's data.
      if (leaf === 7 && EMU_MAX_BASIC_LEAF < 7) continue;
      for (let bit = 0; bit < 32; bit++) {
        if (((out[reg]! >>> bit) & 1) === 0) continue;
        const key = `${leaf}.${sub}.${reg}.${bit}`;
        if (!known.has(key) && !machineBits.has(key)) problems.push(`CPUID ${leaf.toString(16)}.${sub} ${['eax', 'ebx', 'ecx', 'edx'][reg]} bit ${bit} is set but not in the model list`);
      }
    }
  }
  assert.ok(EMU_MAX_EXT_LEAF >= 0x8000_0001);
  assert.deepEqual(problems, []);
});

test('honesty: CR4.LA57 is writable exactly when the vCPU\'s CPUID reports LA57 (5-level paging is offered on request)', () => {
  for (const offered of [false, true]) {
    const c = makeCpu().cpu;
    c.la57 = offered;
    c.setFlat32();
    c.gpr[2 * 0] = 7;
    c.gpr[2 * 1] = 0;
    cpuid(c);
    const advertised = (c.gpr[2 * 1]! & (1 << 16)) !== 0;
    let writable = true;
    try {
      writeCr4(c, CR4_LA57);
    } catch (e) {
      assert.equal(e, FAULT);
      writable = false;
    }
    assert.equal(advertised, offered);
    assert.equal(writable, advertised, `offered=${offered}`);
  }
});

test('honesty: every advertised instruction feature decodes to implemented rows (opcode lists from the SDM, not from the table)', () => {
  const problems: string[] = [];
  let checked = 0;
  for (const f of EMU_CPU_FEATURES) {
    if (NO_OPCODES.has(f.name)) continue;
    const specs = FEATURE_OPCODES[f.name];
    if (specs === undefined) {
      problems.push(`advertised feature ${f.name} has no opcode list here: add the SDM's opcodes for it`);
      continue;
    }
    for (const spec of specs) {
      for (const e of expand(spec)) {
        for (const mode of e.modes) {
          const bytes = Uint8Array.from([...e.bytes, 0, 0, 0, 0, 0, 0, 0, 0]);
          const x = decodeInsn(bytes, mode);
          checked++;
          if (x.row === SPECIAL.unimplemented || x.row === SPECIAL.invalid || x.row.fn === null) {
            problems.push(`${f.name}: ${e.text} in ${mode === 2 ? '64' : '32'}-bit mode decodes to ${x.row.mn}`);
          }
        }
      }
    }
  }
  for (const name of Object.keys(FEATURE_OPCODES)) if (!emuHasFeature(name)) problems.push(`opcode list for ${name}, which is not advertised`);
  assert.deepEqual(problems.slice(0, 40), []);
  assert.ok(checked > 700, `${checked} encodings checked`);
});

test('honesty: every unimplemented encoding (rows without a handler, opcodes without a row) raises #UD, counted per name, warned once', () => {
  const warnings: string[] = [];
  setLogSink((line) => warnings.push(line));
  try {
    const cpu = makeCpu().cpu;
    const names = new Set<string>();
    let unimplemented = 0;
    let invalid = 0;
    // Every opcode of the four maps, with each mandatory prefix, register and memory ModRM, in 32- and 64-bit mode.
    const maps = [[], [0x0f], [0x0f, 0x38], [0x0f, 0x3a]];
    for (const mode of [1, 2]) {
      for (const map of maps) {
        for (const pfx of [[], [0x66], [0xf3], [0xf2]]) {
          for (let op = 0; op < 256; op++) {
            if (map.length === 0 && pfx.length === 0 && [0x0f, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3].includes(op)) continue;
            if (map.length === 0 && mode === 2 && op >= 0x40 && op <= 0x4f) continue; // REX
            for (const modrm of [0xc1, 0x00, 0xc8, 0x08]) {
              const x = decodeInsn(Uint8Array.from([...pfx, ...map, op, modrm, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), mode);
              if (x.row !== SPECIAL.unimplemented && x.row.fn !== null && x.row !== SPECIAL.invalid) continue;
              const isInvalid = x.row === SPECIAL.invalid || (x.row.fn === null && x.row.mn === '(invalid)');
              cpu.unimplementedCounts.clear();
              try {
                x.fn(cpu, x);
                assert.fail(`${x.row.mn}: no fault`);
              } catch (e) {
                if (e !== FAULT || cpu.excVec !== VEC_UD) assert.fail(`${hexOf(pfx, map, op, modrm)} (${x.row.mn}): not #UD`);
              }
              const counted = [...cpu.unimplementedCounts.entries()];
              if (isInvalid) {
                invalid++;
                assert.deepEqual(counted, [], `${hexOf(pfx, map, op, modrm)}: architecturally invalid, not counted`);
              } else {
                unimplemented++;
                assert.equal(counted.length, 1, `${hexOf(pfx, map, op, modrm)} (${x.row.mn}): counted once by name`);
                assert.equal(counted[0]![1], 1);
                names.add(counted[0]![0]);
              }
            }
          }
        }
      }
    }
    // One warning per name however often it was hit (warnOnce shows the first 32 names, then counts).
    const shown = warnings.filter((w) => /unimplemented instruction/.test(w));
    const shownNames = new Set(shown.map((w) => /unimplemented instruction (.*) at rip/.exec(w)?.[1]));
    assert.equal(shown.length, shownNames.size, 'no name warned twice');
    assert.ok(shown.length >= Math.min(names.size, 1));
    assert.ok(unimplemented > 0 && invalid > 0, `${unimplemented} unimplemented, ${invalid} invalid encodings`);
  } finally {
    setLogSink((line) => globalThis.console.error(line));
  }
});

function hexOf(...parts: (number | number[])[]): string {
  return parts.flat().map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

test('honesty: rows the table marks unimplemented (no handler) are no advertised feature', () => {
  const bad = tableRows().filter((r) => r.fn === null && r.feature !== null && emuHasFeature(r.feature));
  assert.deepEqual(bad.map((r) => `${r.mn} (${r.enc}) needs ${r.feature}`), []);
});
