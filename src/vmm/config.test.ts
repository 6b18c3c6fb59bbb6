import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMem, parseCpus, parseAccel, parseSerial, ConfigError } from './config.js';

test('parseMem accepts binary-suffixed sizes and rejects nonsense and tiny guests', () => {
  assert.equal(parseMem('256M'), 256 * 1024 * 1024);
  assert.equal(parseMem('1G'), 1024 ** 3);
  assert.throws(() => parseMem('lots'), /--mem "lots" is not a size/);
  assert.throws(() => parseMem('1M'), /too small/);
  assert.throws(() => parseMem('1000'), ConfigError);
});

test('parseCpus rejects 0, negatives and words', () => {
  assert.equal(parseCpus('4'), 4);
  assert.throws(() => parseCpus('0'), /out of range/);
  assert.throws(() => parseCpus('-1'), /not a number/);
  assert.throws(() => parseCpus('9999'), /out of range/);
});

test('parseAccel and parseSerial name the bad value', () => {
  assert.equal(parseAccel('emu'), 'emu');
  assert.throws(() => parseAccel('tcg'), /--accel "tcg"/);
  assert.deepEqual(parseSerial('file:/tmp/x'), { kind: 'file', path: '/tmp/x' });
  assert.throws(() => parseSerial('pty'), /--serial "pty"/);
});
