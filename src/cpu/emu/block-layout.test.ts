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
