import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { ByteRing } from './byte-ring.js';

test('bytes come out in order across the wrap, and a full ring takes no more', () => {
  const ring = new ByteRing(ByteRing.allocate(16));
  assert.equal(ring.write(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)), 10);
  assert.deepEqual([...ring.read(4)], [1, 2, 3, 4]);
  // 6 buffered, 10 free: this write wraps and is cut at 10.
  assert.equal(ring.write(Uint8Array.from({ length: 12 }, (_, i) => 100 + i)), 10);
  assert.equal(ring.available, 16);
  assert.equal(ring.write(Uint8Array.of(0)), 0);
  assert.deepEqual([...ring.read()], [5, 6, 7, 8, 9, 10, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109]);
  assert.equal(ring.read().length, 0);
  assert.throws(() => ByteRing.allocate(100), /not a power of two/);
});

test('a writer on another thread and a reader here: every byte, in order, with the cursors wrapping at 2^32', async () => {
  const sab = ByteRing.allocate(1024);
  // Start the cursors near 2^31 so the Int32 cursors overflow during the run.
  const c = new Int32Array(sab, 0, 2);
  c[0] = c[1] = 0x7fffff00;
  const total = 100_000;
  // The writer is ByteRing itself, on a worker thread, writing runs of 37 that the full ring cuts short.
  const src = `
    const { workerData } = require('node:worker_threads');
    import(workerData.url).then(({ ByteRing }) => {
      const ring = new ByteRing(workerData.sab);
      const buf = new Uint8Array(37);
      let w = 0;
      while (w < ${total}) {
        const n = Math.min(buf.length, ${total} - w);
        for (let i = 0; i < n; i++) buf[i] = ((w + i) * 31) & 255;
        let done = 0;
        while (done < n) done += ring.write(buf.subarray(done, n));
        w += n;
      }
    });`;
  const worker = new Worker(src, { eval: true, workerData: { sab, url: new URL('./byte-ring.js', import.meta.url).href } });
  const ring = new ByteRing(sab);
  let got = 0;
  let bad = -1;
  const deadline = Date.now() + 120_000;
  while (got < total && Date.now() < deadline) {
    const b = ring.read();
    for (let i = 0; i < b.length; i++) if (bad < 0 && b[i] !== (((got + i) * 31) & 255)) bad = got + i;
    got += b.length;
    if (b.length === 0) await new Promise((r) => setImmediate(r));
  }
  await worker.terminate();
  assert.equal(bad, -1, `first wrong byte at ${bad}`);
  assert.equal(got, total);
});

test('discardBefore drops what was written before a write cursor and keeps what came after', () => {
  const ring = new ByteRing(ByteRing.allocate(16));
  ring.write(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
  assert.deepEqual([...ring.read(10)], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  ring.write(new Uint8Array([13, 14]));
  const mark = ring.writeCursor; // a new machine starts here (the ring has wrapped)
  ring.write(new Uint8Array([20, 21, 22]));
  ring.discardBefore(mark);
  assert.deepEqual([...ring.read()], [20, 21, 22]);
  // A cursor the reader is already past (or one from nowhere) changes nothing.
  ring.write(new Uint8Array([30]));
  ring.discardBefore(mark);
  ring.discardBefore(mark + 1000);
  assert.deepEqual([...ring.read()], [30]);
});
