import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultHostScheduler, immediateScheduler, messageChannelScheduler, timeoutScheduler, type HostScheduler } from './host-scheduler.js';

async function meanYieldMs(s: HostScheduler, n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await s.yield();
  return (performance.now() - t0) / n;
}

test('Node picks setImmediate', () => {
  assert.equal(defaultHostScheduler().name, 'setImmediate');
});

test('every scheduler resumes its callers in order, and lets other tasks run in between', async (t) => {
  for (const s of [immediateScheduler(), messageChannelScheduler(), timeoutScheduler()]) {
    let other = 0;
    const tick = setInterval(() => other++, 0);
    try {
      const order: number[] = [];
      await Promise.all([0, 1, 2, 3].map((i) => s.yield().then(() => order.push(i))));
      const t1 = performance.now();
      while (other === 0 && performance.now() - t1 < 2000) await s.yield();
      clearInterval(tick);
      assert.deepEqual(order, [0, 1, 2, 3], s.name);
      // A yield that never let a timer run would starve host I/O.
      assert.ok(other > 0, `${s.name}: other tasks ran`);
      const t0 = performance.now();
      await s.sleep(15);
      assert.ok(performance.now() - t0 >= 14, `${s.name}: sleep waits`);
      t.diagnostic(`${s.name}: ${(await meanYieldMs(s, 50)).toFixed(3)} ms per yield`);
    } finally {
      clearInterval(tick);
      s.close?.();
    }
  }
});
