/**
 * What the run loop reads of blocks and instructions stays cheap to reach: small integer fields stay
 * small integers in V8 (not boxed doubles), and a block's instructions are linked first -> nx in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Block, Insn } from './insn.js';

// Runs a 64-bit loop through the interpreter (decoder, jump cache), then prints V8's view of one block and
// one instruction. %DebugPrint needs --allow-natives-syntax, so this runs in a child process.
const CHILD = `
const dir = process.argv[1];
const { makeLong64Cpu, load } = await import(dir + '/cpu-harness.test-util.js');
const t = makeLong64Cpu();
// mov ecx,100 | l: add eax,[rip+0x100] | dec ecx | jnz l | hlt
load(t.mem, 0x1000, 'b9 64000000 0305 00010000 ffc9 75f8 f4');
t.cpu.runUntilHalt(100000);
const b = t.cpu.jcBlock.find((x) => x !== undefined);
const print = new Function('o', '%DebugPrint(o)');
print(b);
print(b.insns[0]);
`;

test('Block.vHi, Block.len, Insn.start and Insn.end are small integers in V8, not boxed doubles', (t) => {
  const dir = pathToFileURL(dirname(fileURLToPath(import.meta.url))).href;
  const env = { ...process.env, TSVMM_JIT: 'off' };
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', CHILD, dir], { encoding: 'utf8', env });
  const fields = ['vHi', 'len', 'start', 'end'];
  const lines = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const m = /#(\w+): (.*)$/.exec(line);
    if (m !== null && fields.includes(m[1]!)) lines.set(m[1]!, m[2]!);
  }
  if (lines.size !== fields.length) {
    t.skip(`this node's %DebugPrint does not list the fields (status ${r.status}): ${r.stderr.slice(0, 200)}`);
    return;
  }
  // A double stored once into such a field makes it a boxed double in every object of the map: an extra
  // dependent memory access per read, a host cache miss in code that runs warm.
  for (const f of fields) assert.doesNotMatch(lines.get(f)!, /HeapNumber/, `${f}: ${lines.get(f)}`);
});

test('Block.add links the instructions first -> nx in order and counts them; the array holds the same', () => {
  const b = new Block(0x1000, 2);
  const none = b.first;
  assert.equal(none, null, 'an empty block has no first instruction');
  const xs = [0, 1, 2].map(() => new Insn(() => {}));
  for (const x of xs) b.add(x);
  assert.equal(b.count, 3);
  assert.deepEqual(b.insns, xs);
  const walked: Insn[] = [];
  for (let x: Insn | null = b.first; x !== null; x = x.nx) walked.push(x);
  assert.deepEqual(walked, xs);
});

// Makes enough instructions for V8 to finish the map's slack tracking (a new map reserves spare fields at
// first), then prints one: its instance size is what each decoded instruction costs.
const SIZE_CHILD = `
const { Insn } = await import(process.argv[1] + '/insn.js');
const xs = [];
for (let n = 0; n < 64; n++) xs.push(new Insn(() => {}));
new Function('o', '%DebugPrint(o)')(xs[63]);
`;

test('an Insn is at most 160 bytes (it was 256): the boot interprets cold code, each host cache line a likely miss', (t) => {
  const dir = pathToFileURL(dirname(fileURLToPath(import.meta.url))).href;
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', SIZE_CHILD, dir], { encoding: 'utf8' });
  const m = /instance size: (\d+)/.exec(r.stdout);
  if (m === null) {
    t.skip(`this node's %DebugPrint does not print the instance size (status ${r.status}): ${r.stderr.slice(0, 200)}`);
    return;
  }
  assert.ok(Number(m[1]) <= 160, `instance size ${m[1]}`);
});

test('the packed Insn fields read back what was stored, each one apart from the others', () => {
  const x = new Insn(() => {});
  assert.deepEqual([x.mod, x.base, x.index, x.seg, x.ak, x.osz, x.msz, x.rep, x.lock, x.mw, x.ripRel], [3, -1, -1, 3, 1, 4, 1, 0, false, false, false]);
  // Each field's extremes, stored in turn: every other field keeps its value.
  const fields: [keyof Insn, number | boolean][] = [
    ['mod', 0], ['mod', 3], ['reg', 19], ['rm', 19], ['rm', 0], ['base', 15], ['base', -1], ['index', 15], ['index', -1],
    ['scale', 3], ['seg', 9], ['seg', 0], ['ak', 3], ['ripRel', true], ['ripRel', false], ['osz', 8], ['osz', 1], ['op', 255],
    ['op', 0], ['msz', 108], ['msz', 255], ['rep', 2], ['lock', true], ['mw', true], ['modrm', 0xff], ['idx', 63],
    ['brThrough', 64], ['opc', 0xdf], ['opc', 0x0fae], ['opc', 0x0f38f0], ['opc', 0x0f3a0f],
  ];
  const want = new Map<string, number | boolean>();
  const rec = x as unknown as Record<string, number | boolean>;
  for (const [f, v] of fields) {
    rec[f] = v;
    want.set(f, v);
    for (const [g, w] of want) assert.equal(rec[g], w, `${g} after ${f} = ${String(v)}`);
  }
});

// Decodes the loop of CHILD's and prints its block's instruction array.
const ARRAY_CHILD = `
const dir = process.argv[1];
const { makeLong64Cpu, load } = await import(dir + '/cpu-harness.test-util.js');
const t = makeLong64Cpu();
load(t.mem, 0x1000, 'b9 64000000 0305 00010000 ffc9 75f8 f4');
t.cpu.runUntilHalt(100000);
const b = t.cpu.jcBlock.find((x) => x !== undefined);
console.log('count ' + b.insns.length);
new Function('o', '%DebugPrint(o)')(b.insns);
`;

test("a decoded block's instruction array is allocated at its size, without holes (not grown one push at a time)", (t) => {
  const dir = pathToFileURL(dirname(fileURLToPath(import.meta.url))).href;
  const env = { ...process.env, TSVMM_JIT: 'off' };
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', ARRAY_CHILD, dir], { encoding: 'utf8', env });
  const count = /count (\d+)/.exec(r.stdout);
  const elements = /- elements: \S+ <FixedArray\[(\d+)\]> \[(\w+)\]/.exec(r.stdout);
  if (count === null || elements === null) {
    t.skip(`this node's %DebugPrint does not print the elements (status ${r.status}): ${r.stderr.slice(0, 200)}`);
    return;
  }
  assert.equal(elements[1], count[1], 'backing store capacity = instructions');
  assert.equal(elements[2], 'PACKED_ELEMENTS');
});
