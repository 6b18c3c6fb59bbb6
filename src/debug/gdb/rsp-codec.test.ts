import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RspDecoder, encodePacket, fromHex, parseHexNumber, unescapeBinary } from './rsp-codec.js';

const bytes = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));
const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

test('packets are framed with a modulo-256 checksum and decoded across chunk boundaries', () => {
  const framed = encodePacket('qSupported:multiprocess+');
  assert.equal(text(framed), '$qSupported:multiprocess+#c6');
  const d = new RspDecoder();
  const evs = [...d.feed(framed.subarray(0, 5)), ...d.feed(framed.subarray(5, framed.length - 1)), ...d.feed(framed.subarray(framed.length - 1))];
  assert.equal(evs.length, 1);
  assert.equal(evs[0]!.kind, 'packet');
  assert.equal(text((evs[0] as { data: Uint8Array }).data), 'qSupported:multiprocess+');
});

test('acks, Ctrl-C, bad checksums and line noise between packets', () => {
  const d = new RspDecoder();
  const evs = d.feed(bytes('+-\x03junk$g#00$g#67'));
  assert.deepEqual(evs.map((e) => e.kind), ['ack', 'nack', 'interrupt', 'bad-checksum', 'packet']);
  // A non-hex checksum digit never matches.
  assert.deepEqual(new RspDecoder().feed(bytes('$g#6z')).map((e) => e.kind), ['bad-checksum']);
});

test('binary payloads: $ # } * are escaped on the way out and unescaped from X packets', () => {
  const payload = Uint8Array.of(0x24, 0x23, 0x7d, 0x2a, 0x00, 0xff);
  const framed = encodePacket(payload);
  const ev = new RspDecoder().feed(framed)[0] as { kind: string; data: Uint8Array };
  assert.equal(ev.kind, 'packet');
  assert.deepEqual([...unescapeBinary(ev.data)], [...payload]);
});

test('hex helpers refuse malformed input', () => {
  assert.deepEqual([...fromHex('00ff10')!], [0, 255, 16]);
  assert.equal(fromHex('abc'), null);
  assert.equal(fromHex('zz'), null);
  assert.equal(parseHexNumber('ffffffff81000000'), 0xffffffff81000000n);
  assert.equal(parseHexNumber('1ffffffffffffffff'), null);
  assert.equal(parseHexNumber(''), null);
});
