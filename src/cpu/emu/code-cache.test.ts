import { test } from 'node:test';
import assert from 'node:assert/strict';
// emu-vm first: the instruction table must initialise through the decoder, not directly.
import { createEmuVm, codeCacheCapacity } from './emu-vm.js';
import { CodeCache, type CodeCacheClient } from './code-cache.js';
import { Block, Insn } from './insn.js';
import { REG, segmentBatch } from '../registers.js';
import { hex } from './cpu-harness.test-util.js';

function block(phys: number, insns: number): Block {
  const b = new Block(phys, 1);
  for (let i = 0; i < insns; i++) b.add(new Insn(() => {}));
  return b;
}

function client(): CodeCacheClient & { flushed: number; pages: number[] } {
  return {
    flushed: 0,
    pages: [],
    dropWriteEntries() {},
    pageInvalidated(pp) {
      this.pages.push(pp);
    },
    codeWritten() {
      return false;
    },
    cacheFlushed() {
      this.flushed++;
    },
  };
}

test('a block is kept the second time its address is decoded (one in 32 at once); its page is tracked either way', () => {
  const cache = new CodeCache(1000);
  const c = client();
  cache.attach(c);
  const kept = [];
  for (let i = 0; i < 64; i++) kept.push(cache.put(block(0x10000 + i * 16, 4), c));
  assert.equal(kept.filter(Boolean).length, 2, 'one new block in 32 is kept at once');
  assert.ok(cache.isCode(0x10000), 'the page of a block that was not kept is still code');
  assert.equal(cache.put(block(0x10000 + 16, 4), c), true, 'kept the second time');
  assert.notEqual(cache.get(0x10000 + 16, 1), undefined);
});

test('the cache never holds more than its capacity: when full it empties itself and tells its clients', () => {
  const cache = new CodeCache(640);
  const c = client();
  cache.attach(c);
  for (let round = 0; round < 2; round++) for (let i = 0; i < 400; i++) cache.put(block(0x100000 + i * 64, 8), c);
  assert.ok(cache.size <= 640, `holds ${cache.size}`);
  assert.ok(cache.flushes >= 3 && c.flushed === cache.flushes, `${cache.flushes} flushes`);
  const held = [];
  for (let i = 0; i < 400; i++) {
    const b = cache.get(0x100000 + i * 64, 1);
    if (b !== undefined) held.push(b);
  }
  assert.ok(held.length > 0 && held.length * 8 <= 640, `${held.length} blocks held`);
});

test('invalidating a page frees its blocks, tells the clients, and pages that keep being rewritten get one-instruction blocks', () => {
  const cache = new CodeCache(1000);
  const c = client();
  cache.attach(c);
  for (let i = 0; i < 2; i++) cache.put(block(0x20010, 10), c);
  assert.equal(cache.size, 10);
  const b = cache.get(0x20010, 1)!;
  b.exec = () => {};
  cache.invalidatePage(0x20000, c);
  assert.equal(cache.size, 0);
  assert.equal(cache.get(0x20010, 1), undefined);
  assert.deepEqual([b.valid, b.insns.length, b.exec], [false, 0, null], 'the dropped block let go of its instructions and compiled code');
  assert.deepEqual(c.pages, [0x20000]);
  assert.equal(cache.blockLimit(0x20000), 64);
  for (let i = 0; i < 20; i++) {
    cache.put(block(0x20010, 1), c);
    cache.invalidatePage(0x20000, c);
  }
  assert.equal(cache.blockLimit(0x20000), 1);
});

test('a store to code bytes drops only the blocks holding them; stores from other pages never shorten the blocks', () => {
  const cache = new CodeCache(1000);
  const c = client();
  cache.attach(c);
  const at = (phys: number, insns: number, len: number): Block => {
    const first = block(phys, insns); // decoded once: not kept yet
    first.len = len;
    cache.put(first, c);
    const b = block(phys, insns);
    b.len = len;
    assert.equal(cache.put(b, c), true);
    return b;
  };
  const a = at(0x30000, 4, 16);
  const b = at(0x30010, 4, 16);
  const mid = at(0x30008, 2, 24); // overlaps both (a jump into the middle of a)
  cache.codeWrite(0x30100, 4, false); // bytes no block holds
  assert.deepEqual([a.valid, b.valid, mid.valid], [true, true, true]);
  cache.codeWrite(0x3000e, 4, false); // the last bytes of a, the first of b, inside mid
  assert.deepEqual([a.valid, b.valid, mid.valid], [false, false, false]);
  const d = at(0x30040, 3, 8);
  cache.codeWrite(0x30020, 1, false); // mid's bytes are gone with it: nothing left there
  assert.equal(d.valid, true);
  assert.equal(cache.get(0x30040, 1), d);
  assert.equal(cache.size, 3);
  for (let i = 0; i < 40; i++) {
    at(0x30040, 3, 8);
    cache.codeWrite(0x30042, 1, false);
  }
  assert.equal(cache.blockLimit(0x30000), 64, 'code patched from elsewhere (a kernel patching its call sites) keeps full blocks');
  for (let i = 0; i < 20; i++) {
    at(0x30040, 3, 8);
    cache.codeWrite(0x30042, 1, true);
  }
  assert.equal(cache.blockLimit(0x30000), 1, 'code that keeps rewriting its own page gets one-instruction blocks');
});

test('the capacity is a bounded fraction of guest RAM', () => {
  assert.equal(codeCacheCapacity(16 << 20), 1 << 16);
  assert.equal(codeCacheCapacity(128 << 20), 1 << 18);
  assert.equal(codeCacheCapacity(64 * 2 ** 30), 1 << 19);
});

test('a store that leaves code bytes as they are keeps the blocks; one that changes them drops them', async () => {
  const vm = createEmuVm({ memBytes: 8 << 20, cpus: 1, deterministic: true });
  vm.pio.register(0xf4, 1, { read: (_o, d) => d.fill(0), write: (_o, d) => vm.requestStop({ kind: 'debug-exit', value: d[0]! }) }, 'debug-exit');
  // mov ecx, 1000; l: mov byte [0x100010], 0x90 (the NOP below, unchanged); nop; loop l;
  // then mov byte [0x100010], 0x90 again and mov byte [0x100011], 0xcc (a change); mov al, 0; out 0xf4, al
  vm.memory.write(0x100000, hex('b9 e8030000  c6 05 10001000 90  90 90 90  e2 f4  c6 05 11001000 cc  b0 00 e6 f4'));
  vm.vcpus[0]!.setRegisters([
    [REG.rip, 0x100000n],
    [REG.rflags, 2n],
    [REG.cr0, 0x11n],
    ...segmentBatch('cs', { selector: 0x08, base: 0n, limit: 0xffffffff, attrs: 0xc09b }),
    ...segmentBatch('ds', { selector: 0x10, base: 0n, limit: 0xffffffff, attrs: 0xc093 }),
    ...segmentBatch('ss', { selector: 0x10, base: 0n, limit: 0xffffffff, attrs: 0xc093 }),
  ]);
  assert.deepEqual(await vm.run(), { kind: 'debug-exit', value: 0 });
  assert.equal(vm.cache.invalidations > 0, true, 'the changing store invalidated');
  assert.ok(vm.cache.invalidations <= 4, `1000 unchanged stores invalidated nothing (${vm.cache.invalidations} invalidations)`);
});

/** Runs flat 32-bit code at 0x100000 (no paging) until it writes AL to port 0xf4; returns AL and the vCPU. */
async function runFlat(code: Uint8Array, extra: [number, Uint8Array][]): Promise<{ al: number; vm: ReturnType<typeof createEmuVm> }> {
  const vm = createEmuVm({ memBytes: 8 << 20, cpus: 1, deterministic: true });
  vm.pio.register(0xf4, 1, { read: (_o, d) => d.fill(0), write: (_o, d) => vm.requestStop({ kind: 'debug-exit', value: d[0]! }) }, 'debug-exit');
  vm.memory.write(0x100000, code);
  for (const [gpa, bytes] of extra) vm.memory.write(gpa, bytes);
  vm.vcpus[0]!.setRegisters([
    [REG.rip, 0x100000n],
    [REG.rflags, 2n],
    [REG.rsp, 0x180000n],
    [REG.cr0, 0x11n],
    ...segmentBatch('cs', { selector: 0x08, base: 0n, limit: 0xffffffff, attrs: 0xc09b }),
    ...segmentBatch('ds', { selector: 0x10, base: 0n, limit: 0xffffffff, attrs: 0xc093 }),
    ...segmentBatch('ss', { selector: 0x10, base: 0n, limit: 0xffffffff, attrs: 0xc093 }),
  ]);
  const stop = await vm.run();
  assert.equal(stop.kind, 'debug-exit');
  return { al: (stop as { value: number }).value, vm };
}

/** `call` at `at` to `to` (rel32). */
function call(at: number, to: number): string {
  const rel = (to - (at + 5)) >>> 0;
  return 'e8 ' + [0, 8, 16, 24].map((s) => ((rel >>> s) & 0xff).toString(16).padStart(2, '0')).join(' ');
}

test('stores to a code page go through its write entry without a new translation, and still drop the blocks whose bytes they change', async () => {
  // f at 0x100100: mov al, 1; ret. The loop calls it 100 times and stores to 0x100800 (a byte of the same page
  // that no block holds: after the first, through the code page's write entry), then changes f's immediate to
  // 2 from the same page and calls it once more: bl = 100 * 1 + 2.
  const code = hex(
    'b9 64000000' + // mov ecx, 100
      call(0x100005, 0x100100) +
      '01 c3' + // l+5: add ebx, eax
      '88 0d 00081000' + // mov [0x100800], cl
      'e2 f1' + // loop l
      'c6 05 01011000 02' + // mov byte [0x100101], 2
      call(0x10001b, 0x100100) +
      '01 c3 88 d8 e6 f4', // add ebx, eax; mov al, bl; out 0xf4, al
  );
  const { al, vm } = await runFlat(code, [[0x100100, hex('b0 01 c3')]]);
  assert.equal(al, 102, 'the store to the immediate of f (decoded, kept) was seen');
  assert.ok(vm.cpus[0]!.tlbTagW.includes(0x100001), 'the code page has a write entry only the slow path matches (page + 1)');
});

test('a page whose blocks were all dropped by a store is no longer tracked; code decoded there again is', async () => {
  // q at 0x200000: mov al, 5; ret, called 3 times; a store changes it to mov al, 7 (its only block goes, so
  // does the page), 3 more calls; then a store changes it to mov al, 1 (decoded again: tracked again), a last
  // call, and a store drops it again: bl = 3 * 5 + 3 * 7 + 1.
  const q = 0x200000;
  const code = hex(
    'b9 03000000' + // mov ecx, 3
      call(0x100005, q) +
      '01 c3 e2 f7' + // add ebx, eax; loop
      'c6 05 01002000 07' + // mov byte [q + 1], 7
      'b9 03000000' +
      call(0x10001a, q) +
      '01 c3 e2 f7' +
      'c6 05 01002000 01' + // mov byte [q + 1], 1
      call(0x10002a, q) +
      '01 c3' +
      'c6 05 01002000 09' + // mov byte [q + 1], 9: q goes again, and its page
      '88 d8 e6 f4',
  );
  const { al, vm } = await runFlat(code, [[q, hex('b0 05 c3')]]);
  assert.equal(al, 37);
  assert.equal(vm.cache.isCode(q), false, 'no block is left on the page');
  assert.equal(vm.cache.isCode(0x100000), true);
});
