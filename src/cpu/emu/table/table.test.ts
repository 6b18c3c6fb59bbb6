/**
 * Walks the instruction table: every row decodes to itself, LOCK is #UD wherever a row does
 * not allow it, the rows agree with each other and with the CPU model's features, privileged
 * rows fault at CPL 3, and each row's declared flags match what its handler does on random
 * operands. (tests/differential/table-native.test.ts checks the same flags on the host CPU.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { specialRows, tableRows } from './index.js';
import { MAP_1B, MOD_ANY, type Row } from './row.js';
import { encodeRow } from './row-encoder.test-util.js';
import { rowCases, runnableAtCpl3 } from './row-cases.test-util.js';
import { decodeInsn, dispatchFor } from '../decoder.js';
import { invalidOpcode } from '../ops-system.js';
import { FAULT, VEC_GP, VEC_UD } from '../x86-defs.js';
import { makeCpu } from '../cpu-harness.test-util.js';
import { EmuSnippetRunner } from '../testing/snippet-runner.js';
import { FLAGS_INPUT, VECTOR_NONE } from '../testing/snippet-case.js';
import { EMU_CPU_FEATURES, emuHasFeature } from '../../../features/emu-cpu-model.js';

const ROWS = tableRows();
const ROW_UNIMPLEMENTED = specialRows().unimplemented;
const MODES = [0, 1, 2];
const MODE_NAME = ['16-bit', '32-bit', '64-bit'];

/** Features of the CPU model that are not instruction sets (paging, APIC, ...): no rows expected. */
const SYSTEM_FEATURES = new Set(['de', 'pse', 'pae', 'pcid', 'apic', 'mce', 'mtrr', 'pge', 'mca', 'pat', 'x2apic', 'tsc-deadline', 'nx', 'pdpe1gb', 'lm', 'spec_ctrl', 'bhi_ctrl', 'arch_capabilities', 'hypervisor']);
/** Feature names rows may use before the model advertises them (the x87/SSE work adds them). */
const NOT_YET_ADVERTISED = new Set(['fpu']);

const hex = (b: Uint8Array): string => [...b].map((v) => v.toString(16).padStart(2, '0')).join(' ');

/** The handlers a decoded instance of `r` may carry: its own and its fast variants'. */
function handlersOf(r: Row): Set<unknown> {
  return new Set([r.fn, ...r.fast.map((f) => f.fn)]);
}

test('table: every row decodes to itself (and its length) in every mode it exists in, with and without a memory operand', () => {
  let checked = 0;
  const problems: string[] = [];
  for (const r of ROWS) {
    let seen = false;
    for (const mode of MODES) {
      for (const mem of [false, true]) {
        if (mem && (!r.modrm || r.mod !== MOD_ANY)) continue;
        const inst = encodeRow(r, { mode, mem });
        if (inst === null) continue;
        seen = true;
        checked++;
        const x = decodeInsn(inst.bytes, mode);
        const want = r.fn === null && !r.invalid ? ROW_UNIMPLEMENTED : r;
        const what = `${r.mn} (${r.enc}) ${MODE_NAME[mode]}: ${hex(inst.bytes)}`;
        if (x.row !== want) problems.push(`${what} decoded to ${x.row.mn} (${x.row.enc})`);
        else if (x.end !== inst.bytes.length) problems.push(`${what} decoded ${x.end} bytes`);
        else if (r.fn !== null && !handlersOf(r).has(x.fn)) problems.push(`${what} got handler ${x.fn.name}`);
      }
    }
    if (!seen) problems.push(`${r.mn} (${r.enc}) has no encodable mode`);
  }
  assert.deepEqual(problems, []);
  assert.ok(checked > ROWS.length, `${checked} instances`);
});

test('table: LOCK is #UD on every row that does not allow it, and on register forms of those that do', () => {
  const problems: string[] = [];
  let lockable = 0;
  for (const r of ROWS) {
    if (r.fn === null || r.invalid) continue;
    for (const mode of MODES) {
      for (const mem of [true, false]) {
        const inst = encodeRow(r, { mode, mem, lock: true });
        if (inst === null) continue;
        const x = decodeInsn(inst.bytes, mode);
        const legal = r.lock && inst.mem;
        if (legal) lockable++;
        if (legal ? x.fn === invalidOpcode || x.row !== r : x.fn !== invalidOpcode) problems.push(`LOCK ${r.mn} (${r.enc}) ${MODE_NAME[mode]} ${hex(inst.bytes)}: ${legal ? 'refused' : 'accepted'}`);
      }
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(lockable > 0);
});

test('table: rows are consistent (no ambiguous encodings, lock/memory-write need an E operand, feature names known)', () => {
  const problems: string[] = [];
  const keys = new Map<string, Row>();
  for (const r of ROWS) {
    for (const mode of MODES) {
      if ((r.modes & (1 << mode)) === 0) continue;
      const k = [mode, r.map, r.op, r.plusR, r.pfx, r.reg, r.rm, r.mod, r.w, r.b0].join(':');
      const other = keys.get(k);
      if (other !== undefined) problems.push(`${r.mn} (${r.enc}) and ${other.mn} (${other.enc}) share an encoding in ${MODE_NAME[mode]}`);
      keys.set(k, r);
    }
    const hasE = r.ops.some((o) => 'EMW'.includes(o.kind));
    if (r.lock && !hasE) problems.push(`${r.mn} (${r.enc}) is lockable without a memory-capable operand`);
    if (r.mw && !hasE) problems.push(`${r.mn} (${r.enc}) writes memory without a memory operand`);
    if (r.jit !== null && r.fn === null) problems.push(`${r.mn} (${r.enc}) has a jit form but no handler`);
    if (r.branch !== 'none' && !r.ends) problems.push(`${r.mn} (${r.enc}) branches without ending its block`);
    if (r.feature !== null && !emuHasFeature(r.feature) && !NOT_YET_ADVERTISED.has(r.feature)) problems.push(`${r.mn} (${r.enc}): unknown feature ${r.feature}`);
    if (r.ungated !== null && (r.feature === null || emuHasFeature(r.feature))) problems.push(`${r.mn} (${r.enc}) is ungated though its feature ${r.feature} is advertised: drop the ungated note`);
  }
  assert.deepEqual(problems, []);
});

test('honesty: every instruction feature the CPU model advertises has rows, and without it they decode to #UD (or to the base instruction)', () => {
  const problems: string[] = [];
  const cpu = makeCpu().cpu;
  const insnFeatures = EMU_CPU_FEATURES.map((f) => f.name).filter((n) => !SYSTEM_FEATURES.has(n));
  for (const s of SYSTEM_FEATURES) if (!emuHasFeature(s)) problems.push(`system feature ${s} is no longer advertised: drop it from the list`);
  for (const f of insnFeatures) {
    const rows = ROWS.filter((r) => r.feature === f);
    if (rows.length === 0) {
      problems.push(`advertised feature ${f} has no table rows`);
      continue;
    }
    const without = dispatchFor((n) => n !== f && emuHasFeature(n));
    for (const r of rows) {
      for (const mode of MODES) {
        const inst = encodeRow(r, { mode, mem: r.mod !== 1 });
        if (inst === null) continue;
        const x = decodeInsn(inst.bytes, mode, without);
        if (x.row === r) problems.push(`${r.mn} without ${f}: still decodes`);
        else if (x.row === ROW_UNIMPLEMENTED) {
          // Executing it raises #UD and names the missing feature.
          cpu.unimplementedCounts.clear();
          try {
            x.fn(cpu, x);
            problems.push(`${r.mn} without ${f}: no fault`);
          } catch (e) {
            if (e !== FAULT || cpu.excVec !== VEC_UD) problems.push(`${r.mn} without ${f}: not #UD`);
          }
          if (![...cpu.unimplementedCounts.keys()].some((k) => k.includes(`${f} not advertised`))) problems.push(`${r.mn} without ${f}: #UD does not name the feature`);
        } else if (x.row.feature !== null) problems.push(`${r.mn} without ${f}: decodes to ${x.row.mn}, which needs ${x.row.feature}`);
      }
    }
  }
  assert.deepEqual(problems, []);
  // The rows that run although their feature is not advertised, and why (until fpu/ advertises them).
  const ungated = ROWS.filter((r) => r.ungated !== null);
  assert.ok(ungated.every((r) => r.feature !== null && NOT_YET_ADVERTISED.has(r.feature)), 'ungated rows are x87/SSE rows');
});

test('unimplemented instructions raise #UD and are counted per name', () => {
  const cpu = makeCpu().cpu;
  for (const [bytes, name] of [
    [[0x0f, 0x0a], 'opcode 0f 0a'],
    [[0x0f, 0x37], 'opcode 0f 37'],
    [[0x0f, 0x01, 0xc8], 'MONITOR/MWAIT'],
    [[0x0f, 0x38, 0x00, 0xc1], 'opcode 0f 38 00'],
  ] as const) {
    const x = decodeInsn(Uint8Array.from(bytes), 1);
    for (let k = 0; k < 2; k++) {
      assert.throws(() => x.fn(cpu, x), (e) => e === FAULT);
      assert.equal(cpu.excVec, VEC_UD);
    }
    assert.equal(cpu.unimplementedCounts.get(name), 2, name);
  }
});

test('privileged rows raise #GP(0) at CPL 3 (64-bit)', () => {
  const runner = new EmuSnippetRunner();
  const problems: string[] = [];
  let n = 0;
  for (const r of ROWS.filter((x) => x.priv && x.fn !== null)) {
    const c = rowCases({ ...r, priv: false, branch: 'none' }, 1, 7)[0];
    if (c === undefined) continue;
    n++;
    const res = runner.run(c);
    if (res.vector !== VEC_GP) problems.push(`${r.mn} (${r.enc}) ${hex(c.code)}: vector ${res.vector}`);
  }
  assert.deepEqual(problems, []);
  assert.ok(n > 10, `${n} privileged rows`);
});

test('declared flags match the handlers on random operands: untouched flags stay, written flags change', () => {
  const runner = new EmuSnippetRunner();
  const problems: string[] = [];
  let rows = 0;
  let ran = 0;
  for (const r of ROWS.filter(runnableAtCpl3)) {
    if (r.map === MAP_1B && r.op === 0x9d) continue; // POPF (excluded by name too)
    const cases = rowCases(r, 48, 0x7ab1e000 + rows);
    rows++;
    const may = r.fw | r.fu;
    let changedAny = 0;
    let ok = 0;
    for (const c of cases) {
      const res = runner.run(c);
      if (res.vector !== VECTOR_NONE) continue;
      ok++;
      const changed = (res.rflags ^ c.rflags) & FLAGS_INPUT;
      changedAny |= changed;
      if ((changed & ~may) !== 0) problems.push(`${r.mn} (${r.enc}) ${hex(c.code)}: flags 0x${(changed & ~may).toString(16)} changed, declared 0x${may.toString(16)}`);
    }
    ran += ok;
    if (ok >= 8 && (r.fw & ~changedAny) !== 0) problems.push(`${r.mn} (${r.enc}): declared-written flags 0x${(r.fw & ~changedAny).toString(16)} never changed in ${ok} runs`);
  }
  assert.deepEqual([...new Set(problems)].slice(0, 40), []);
  assert.ok(rows > 150 && ran > rows * 10, `${rows} rows, ${ran} runs`);
});
