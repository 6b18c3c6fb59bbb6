// Blocks whose instruction crosses into the next page: kept in the code cache, dropped by a store to either
// page's bytes, and found again only while the next linear page maps where it did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PD, PT, pagedCpu, runPaged } from './page-crossing.test-util.js';
import { CodeCache, type CodeCacheClient } from './code-cache.js';
import { Block, Insn } from './insn.js';
import { writeCr3 } from './control-regs.js';
import { invlpg } from './tlb.js';

function client(): CodeCacheClient {
  return { dropWriteEntries() {}, pageInvalidated() {}, codeWritten: () => false, cacheFlushed() {} };
}

/** A one-instruction block at `phys`, `len` bytes long, its last bytes on the page at `phys2`. */
function crossing(phys: number, len: number, phys2: number): Block {
  const b = new Block(phys, 1);
  b.add(new Insn(() => {}));
  b.len = len;
  b.phys2 = phys2;
  return b;
}

test('code cache: a block crossing pages is kept, and a store to its bytes on either page drops it', () => {
  const cache = new CodeCache(1000);
  const c = client();
  cache.attach(c);
  const kept = (): Block => {
    cache.put(crossing(0x30ffe, 5, 0x31000), c); // decoded once: not kept yet
    const b = crossing(0x30ffe, 5, 0x31000);
    assert.equal(cache.put(b, c), true);
    return b;
  };
  let b = kept();
  assert.equal(cache.isCode(0x31000), true, 'its second page is code: stores there take the slow path');
  cache.codeWrite(0x31003, 1, false); // past its 3 bytes there
  assert.equal(b.valid, true);
  assert.equal(cache.get(0x30ffe, 1), b);
  cache.codeWrite(0x31002, 1, false); // its last byte
  assert.equal(b.valid, false);
  assert.equal(cache.get(0x30ffe, 1), undefined);
  b = kept();
  cache.codeWrite(0x30fff, 1, false); // a byte on its first page
  assert.equal(b.valid, false);
  b = kept();
  cache.invalidatePage(0x31000); // a device wrote the second page
  assert.equal(b.valid, false);
  assert.equal(cache.get(0x30ffe, 1), undefined);
  b = kept();
  cache.invalidatePage(0x30000);
  assert.equal(cache.size, 0, 'each block is counted once, on its first page');
  assert.equal(b.valid, false);
});


test('a crossing instruction in a loop runs from the code cache, and a store to its bytes on the next page is seen at once', () => {
  const t = pagedCpu(2);
  assert.equal(runPaged(t), (100 * 0x22110001 + 100 * 0x33110001) >>> 0);
  const b = t.cpu.cache.get(0x100ffd, t.cpu.modeKey);
  assert.ok(b !== undefined && b.valid && b.phys2 === 0x101000, 'the crossing block is kept, with its second page');
});

test('a crossing block is not run through a stale mapping of its second page (INVLPG, CR3 write)', () => {
  const t = pagedCpu(1);
  const { mem, cpu } = t;
  assert.equal(runPaged(t), (100 * 0x22110001) >>> 0);
  mem.writeU32(PT + 1 * 4, 0x102000 | 7);
  invlpg(cpu, 0x401000);
  assert.equal(runPaged(t), (100 * 0x44330001) >>> 0, 'after INVLPG of the second page, its new bytes');
  mem.writeU32(PT + 1 * 4, 0x101000 | 7);
  writeCr3(cpu, PD);
  assert.equal(runPaged(t), (100 * 0x22110001) >>> 0, 'after a CR3 write, the first mapping again');
});
