import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualTimers } from './virtual-timers.js';

function clockAt(ns = 0): { ns: number; nowNs(): number; tscHz: number } {
  return { ns, nowNs() { return this.ns; }, tscHz: 1e9 };
}

test('virtual timers fire in deadline order (ties in arming order) once the VM clock reaches them', () => {
  const clock = clockAt();
  const t = new VirtualTimers(clock);
  const fired: string[] = [];
  t.setTimeout(() => fired.push('b'), 2);
  t.setTimeout(() => fired.push('a'), 0.5);
  t.setTimeout(() => fired.push('c'), 2);
  const gone = t.setTimeout(() => fired.push('x'), 1);
  t.clearTimeout(gone);
  assert.equal(t.nextDeadlineNs(), 500_000);
  clock.ns = 499_999;
  t.advance();
  assert.deepEqual(fired, []);
  clock.ns = 2_000_000;
  t.advance();
  assert.deepEqual(fired, ['a', 'b', 'c']);
  assert.equal(t.nextDeadlineNs(), Infinity);
});

test('a timer armed from a callback for a time already reached fires in the same advance', () => {
  const clock = clockAt(10);
  const t = new VirtualTimers(clock);
  let n = 0;
  const again = (): void => {
    if (++n < 3) t.setTimeout(again, 0);
  };
  t.setTimeout(again, 0);
  t.advance();
  assert.equal(n, 3);
  assert.equal(t.size, 0);
});
