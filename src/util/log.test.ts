import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setLogSink, warnOnce, unshownWarnings, WARN_ONCE_LIMIT } from './log.js';

test('warnOnce: each key once, then past the limit one summary line and a count, never a flood', () => {
  const lines: string[] = [];
  setLogSink((l) => lines.push(l));
  for (let round = 0; round < 3; round++) for (let i = 0; i < WARN_ONCE_LIMIT + 40; i++) warnOnce(`k${i}`, `warning ${i}`);
  assert.equal(lines.length, WARN_ONCE_LIMIT + 1);
  assert.equal(lines[0], 'tsvmm: warn: warning 0');
  assert.match(lines[WARN_ONCE_LIMIT]!, /32 distinct warnings so far: further ones are counted, not shown/);
  assert.equal(unshownWarnings(), 40);
});
