import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../../memory/guest-memory.js';
import type { BackendState } from '../../cpu/vm.js';
import { CheckpointStore } from './checkpoints.js';

const PAGE = 4096;

/** 64 pages of RAM whose writes are all reported (as on emu), and a backend state that is a counter. */
function host(marked: boolean): { mem: GuestMemory; bytes: Uint8Array; regs: { n: number }; store: CheckpointStore<string> } {
  const bytes = new Uint8Array(64 * PAGE);
  const mem = new GuestMemory([{ name: 'ram', gpa: 0, size: bytes.length, bytes }]);
  mem.guestWritesMarked = marked;
  const regs = { n: 0 };
  const store = new CheckpointStore<string>(
    {
      memory: mem,
      saveState: (): BackendState => ({ backend: 'emu', sections: [{ name: 'r', kind: 'k', version: 1, fields: { n: regs.n } }] }),
      restoreState: (s) => void (regs.n = s.sections[0]!.fields['n'] as number),
      devices: [],
    },
    { maxCount: 3, maxBytes: 1 << 30 },
  );
  return { mem, bytes, regs, store };
}

for (const marked of [true, false]) {
  test(`checkpoints ${marked ? 'with every write reported (emu: only written pages are looked at)' : 'comparing every page'}: restore gives back RAM and state exactly, pages are shared, the oldest goes past the bound`, () => {
    const { mem, bytes, regs, store } = host(marked);
    mem.write(0, new Uint8Array(3 * PAGE).fill(7));
    regs.n = 1;
    const a = store.take(100, 'a');
    const ramA = bytes.slice();
    assert.equal(a.ownBytes, 3 * PAGE, 'three written pages');
    mem.write(PAGE + 5, Uint8Array.of(1, 2, 3)); // page 1 changes
    mem.write(10 * PAGE, Uint8Array.of(9)); // page 10 is new
    mem.write(2 * PAGE, new Uint8Array(PAGE)); // page 2 back to zero
    regs.n = 2;
    const b = store.take(200, 'b');
    const ramB = bytes.slice();
    assert.equal(b.ownBytes, 2 * PAGE, 'pages 1 and 10 copied; page 0 shared, page 2 zero');
    assert.equal(b.pages[0]![0], a.pages[0]![0], 'an unchanged page is the same copy');
    assert.equal(b.pages[0]![2], undefined);
    mem.write(30 * PAGE, Uint8Array.of(4));
    regs.n = 3;
    store.restore(a);
    assert.deepEqual(bytes, ramA);
    assert.equal(regs.n, 1);
    store.restore(b);
    assert.deepEqual(bytes, ramB);
    assert.equal(regs.n, 2);
    store.restore(a);
    mem.write(PAGE, Uint8Array.of(5)); // a new future after going back
    store.restore(b);
    assert.deepEqual(bytes, ramB);
    assert.equal(store.atOrBefore(150), a);
    assert.equal(store.after(150), b);
    // Bounded: a fourth checkpoint drops the first, whose shared pages now count for the second.
    store.take(300, 'c');
    store.take(400, 'd');
    assert.deepEqual(store.all.map((c) => c.extra), ['b', 'c', 'd']);
    assert.equal(b.ownBytes, 3 * PAGE, 'page 0, first copied for a, is b\'s own now');
    store.dropAfter(300);
    assert.deepEqual(store.all.map((c) => c.extra), ['b', 'c']);
    assert.equal(store.pageBytes, store.all.reduce((s, c) => s + c.ownBytes, 0));
  });
}
