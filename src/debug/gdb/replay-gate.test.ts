import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayGate } from './replay-gate.js';

test('replay gate: output dropped and input held while replaying; held input reaches the guest, in order, once live', () => {
  const g = new ReplayGate();
  const shown: number[] = [];
  const guest: number[] = [];
  let told = 0;
  g.onInput = () => told++;
  const show = (b: Uint8Array): void => void shown.push(...b);
  const deliver = (b: Uint8Array): void => void guest.push(...b);
  g.output(Uint8Array.of(1), show);
  g.input(Uint8Array.of(10), deliver);
  assert.deepEqual([shown, guest, told], [[1], [10], 1]);
  g.replaying = true;
  g.output(Uint8Array.of(2), show);
  const typed = Uint8Array.of(11, 12);
  g.input(typed, deliver);
  typed[0] = 99; // the feed may reuse its buffer
  g.input(Uint8Array.of(13), deliver);
  assert.deepEqual([shown, guest, told], [[1], [10], 1], 'nothing passes during a replay');
  g.replaying = false;
  assert.deepEqual([shown, guest, told], [[1], [10, 11, 12, 13], 3]);
  g.output(Uint8Array.of(3), show);
  assert.deepEqual(shown, [1, 3]);
});
