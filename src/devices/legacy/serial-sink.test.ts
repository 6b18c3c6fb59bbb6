import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchingSerialSink, BufferSerialSink } from './serial-sink.js';

const str = (b: Uint8Array) => String.fromCharCode(...b);
const byte = (c: string) => Uint8Array.of(c.charCodeAt(0));

test('BufferSerialSink keeps every byte and decodes Latin-1 text', () => {
  const s = new BufferSerialSink();
  s.write(Uint8Array.of(0x68, 0x69));
  s.write(Uint8Array.of(0xe9));
  assert.equal(s.text(), 'hi\u00e9');
  assert.equal(s.bytes.length, 3);
  s.clear();
  assert.equal(s.text(), '');
});

test('BatchingSerialSink flushes whole lines in one write', () => {
  const out: string[] = [];
  const s = new BatchingSerialSink((b) => out.push(str(b)));
  for (const c of 'hello\nworld') s.write(byte(c));
  assert.deepEqual(out, ['hello\n']);
  s.flush();
  assert.deepEqual(out, ['hello\n', 'world']);
  s.flush();
  assert.equal(out.length, 2, 'nothing left to flush');
});

test('BatchingSerialSink flushes a prompt without newline in a microtask', async () => {
  const out: string[] = [];
  const s = new BatchingSerialSink((b) => out.push(str(b)));
  for (const c of 'login: ') s.write(byte(c));
  assert.deepEqual(out, []);
  await Promise.resolve();
  assert.deepEqual(out, ['login: ']);
});

test('BatchingSerialSink flushes when the buffer fills and hands out copies', () => {
  const out: Uint8Array[] = [];
  const s = new BatchingSerialSink((b) => out.push(b), 4);
  s.write(Uint8Array.of(1, 2, 3, 4, 5, 6));
  assert.deepEqual(out.map((b) => [...b]), [[1, 2, 3, 4]]);
  s.write(Uint8Array.of(7, 8));
  assert.deepEqual(out.map((b) => [...b]), [[1, 2, 3, 4], [5, 6, 7, 8]]);
  assert.throws(() => new BatchingSerialSink(() => undefined, 0), RangeError);
});
