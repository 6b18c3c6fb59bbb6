/**
 * The wasm tier's bound on compiled code (wasm-code-book.ts): blocks compiled and released in a loop reuse their
 * chain table indices and their modules are let go with their generation, under the cap; evicting generations
 * over the cap (blocks back to the interpreter, their indices reused while links and the last-exit record still
 * name them) changes nothing a guest can see.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first and imports the harness after.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Block } from '../insn.js';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { makeLong64Cpu, load, u32le } = await import('../cpu-harness.test-util.js');
const { bookOf, MODULE_COST } = await import('./wasm-code-book.js');

// 0x1000: mov ecx,N
// loop:   call 0x2000 | inc dword [0x2001] (the immediate of `add eax`: drops that block) | dec ecx | jnz loop | hlt
// 0x2000: add eax,1 | ret
const rewriting = (n: number): [string, string] => [`b9${u32le(n)} e8f60f0000 ff042501200000 ffc9 75f0 f4`, '0501000000 c3'];

function run(n: number, compile: boolean, slice: number, capMiB?: string) {
  if (capMiB === undefined) delete process.env['TSVMM_WASM_CODE_MB'];
  else process.env['TSVMM_WASM_CODE_MB'] = capMiB;
  const t = makeLong64Cpu();
  const cpu = t.cpu;
  assert.ok(cpu.wasm !== null, 'the vCPU runs with the wasm tier');
  cpu.compile = compile;
  const [main, callee] = rewriting(n);
  load(t.mem, 0x1000, main);
  load(t.mem, 0x2000, callee);
  const lines: string[] = [];
  for (let guard = 0; guard < 1_000_000; guard++) {
    const r = cpu.run(slice);
    const regs = [0, 1, 2, 3, 4].map((i) => `${cpu.gpr[i << 1]}:${cpu.gpr[(i << 1) | 1]}`).join(' ');
    lines.push(`${r} n=${cpu.instructions} br=${cpu.branchesRetired.join('/')} rip=${cpu.rip.toString(16)} ${regs} fl=${cpu.getRflags().toString(16)}`);
    if (r !== 'budget') break;
  }
  return { lines, eax: cpu.gpr[2 * 0]!, stats: cpu.jitStats, book: bookOf(cpu.wasm) };
}

test('blocks compiled and released in a loop reuse their table indices and stay under the cap', () => {
  const n = 3000;
  const r = run(n, true, 1e9, '1');
  assert.match(r.lines.at(-1)!, /^hlt /);
  assert.equal(r.eax, (n * (n + 1)) / 2);
  const s = r.stats;
  assert.ok(s.regions >= n, `the rewritten block compiled at each call (${s.regions} compiles)`);
  assert.ok(r.book.indexHigh <= 8, `chain indices are reused (highest ${r.book.indexHigh - 1})`);
  assert.ok(s.liveBlocks <= 8, `blocks held compiled: ${s.liveBlocks}`);
  // Released blocks' modules count until their generation goes: the cap (1 MiB) plus the open generation (1/16).
  assert.equal(r.book.liveCost, s.liveBytes + s.liveModules * MODULE_COST);
  assert.ok(r.book.liveCost <= (1 << 20) * (1 + 1 / 16) + 2 * MODULE_COST, `live ${r.book.liveCost} bytes in ${s.liveModules} modules, ${r.book.generations} generations`);
  assert.ok(s.liveModules < n / 4, `modules of released blocks were let go (${s.liveModules} of ${s.regions} live)`);
});

test('evicting modules over the cap leaves every slice end as the interpreter has it', () => {
  for (const slice of [1e9, 7, 100]) {
    const ref = run(300, false, slice);
    // A cap of 1 byte: each compile evicts every older module, while the chained runs' links still name them.
    const jit = run(300, true, slice, '0.000001');
    assert.deepEqual(jit.lines, ref.lines, `slice ${slice}`);
    assert.ok(jit.stats.evictions > 300, `modules evicted (${jit.stats.evictions})`);
    assert.ok(jit.book.generations <= 2, `the open generation left, and the one before (${jit.book.generations})`);
    assert.ok(jit.book.indexHigh <= 8, `chain indices are reused (highest ${jit.book.indexHigh - 1})`);
  }
});

test('the default cap holds what a small program compiles without evicting it', () => {
  const r = run(300, true, 1e9);
  assert.equal(r.stats.evictions, 0);
});

test('a chain index is reused only after reclaim(), with a new tag (what a stale last-exit record is told apart by)', () => {
  const t = makeLong64Cpu();
  const book = bookOf(t.cpu.wasm!);
  const b = { exec: null, wl: null, hits: 5 } as unknown as Block; // drop() touches only these
  book.imports(() => ({}));
  const i = book.takeIndex();
  const tag = book.tags[i]!;
  assert.equal(tag & 0xffff, i);
  book.add(0, [b], [i]);
  book.drop(b, true);
  assert.equal(book.tags[i], 0, 'a dropped index has no tag');
  assert.equal(b.hits, 0, 'an evicted block counts its runs toward a compile again');
  const other = book.takeIndex();
  assert.notEqual(other, i, 'not reused before the next compile (a chained run may still be in the block)');
  book.reclaim();
  assert.equal(book.takeIndex(), i);
  assert.ok(book.tags[i] !== tag && (book.tags[i]! & 0xffff) === i, 'the reused index has a new tag');
});
