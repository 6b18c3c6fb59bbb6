import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BufferSerialSink } from '../legacy/serial-sink.js';
import { netPair } from './backends/net-backend.js';
import { StreamNetBackend, parseStreamAddress } from '../../vmm/host-devices/stream-net-backend.js';
import { TestDriver } from './testing/virtio-driver.test-util.js';
import { VirtioConsole } from './virtio-console.js';
import { VIRTIO_NET_HDR_SIZE, VirtioNet, parseMac } from './virtio-net.js';
import { VirtioRng } from './virtio-rng.js';

test('virtio-rng fills each writable buffer from its source', () => {
  let n = 0;
  const d = new TestDriver(new VirtioRng((dst) => dst.forEach((_, i) => (dst[i] = (n++ * 13) & 0xff))));
  assert.equal(d.init(), 15);
  assert.equal(d.cfgRead(2, 2), 0x1044);
  const a = d.submit(0, [], [16]);
  const b = d.submit(0, [], [5]);
  d.kick(0);
  assert.deepEqual(d.used(0), [{ id: a.head, len: 16 }, { id: b.head, len: 5 }]);
  assert.deepEqual([...d.bytes(b.ins[0]!, 5)], [16, 17, 18, 19, 20].map((i) => (i * 13) & 0xff));
  // The host source: 4 KiB that are not all one value.
  const h = new TestDriver(new VirtioRng());
  h.init();
  const c = h.submit(0, [], [4096]);
  h.kick(0);
  assert.equal(h.used(0)[0]!.len, 4096);
  assert.ok(new Set(h.bytes(c.ins[0]!, 4096)).size > 200);
});

test('virtio-console: guest output to the sink, host input waits for receive buffers, size and emergency write', () => {
  const sink = new BufferSerialSink();
  const con = new VirtioConsole(sink, { cols: 132, rows: 43 });
  const d = new TestDriver(con);
  d.init();
  assert.equal(d.deviceConfig(0, 2), 132);
  assert.equal(d.deviceConfig(2, 2), 43);
  d.submit(1, [new TextEncoder().encode('hello '), new TextEncoder().encode('hvc0\n')], []);
  d.kick(1);
  assert.equal(sink.text(), 'hello hvc0\n');
  con.input(new TextEncoder().encode('ls -l\n'));
  const r = d.submit(0, [], [4]);
  const r2 = d.submit(0, [], [64]);
  d.kick(0);
  assert.deepEqual(d.used(0), [{ id: r.head, len: 4 }, { id: r2.head, len: 2 }]);
  assert.equal(new TextDecoder().decode(d.bytes(r.ins[0]!, 4)) + new TextDecoder().decode(d.bytes(r2.ins[0]!, 2)), 'ls -l\n');
  d.setCommon(0, 4, 0); // (any common write leaves the device alone)
  const cfgBase = 8;
  con.writeConfig(cfgBase, Uint8Array.of(0x21));
  assert.equal(sink.text().at(-1), '!');
});

function frame(dst: Uint8Array, src: Uint8Array, payload: string): Uint8Array {
  const p = new TextEncoder().encode(payload);
  const f = new Uint8Array(14 + p.length);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x88;
  f[13] = 0xb5; // local experimental ethertype
  f.set(p, 14);
  return f;
}

test('virtio-net: two NICs on an in-memory wire; MAC and link status; frames wait for rx buffers', () => {
  const [ea, eb] = netPair();
  const macA = parseMac('52:54:00:00:00:0a');
  const macB = parseMac('52:54:00:00:00:0b');
  const a = new TestDriver(new VirtioNet(ea, macA));
  const nb = new VirtioNet(eb, macB);
  const b = new TestDriver(nb);
  a.init();
  b.init();
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => a.deviceConfig(i, 1)), [...macA]);
  assert.equal(a.deviceConfig(6, 2), 1, 'link up');
  const f1 = frame(macB, macA, 'first');
  const f2 = frame(macB, macA, 'second frame');
  a.submit(1, [new Uint8Array(VIRTIO_NET_HDR_SIZE), f1], []);
  a.submit(1, [new Uint8Array(VIRTIO_NET_HDR_SIZE), f2], []);
  a.kick(1);
  assert.equal(a.used(1).length, 2);
  assert.equal(b.used(0).length, 0, 'no receive buffers yet: the frames wait');
  const r1 = b.submit(0, [], [1526]);
  const r2 = b.submit(0, [], [1526]);
  b.kick(0);
  assert.deepEqual(b.used(0), [{ id: r1.head, len: VIRTIO_NET_HDR_SIZE + f1.length }, { id: r2.head, len: VIRTIO_NET_HDR_SIZE + f2.length }]);
  assert.deepEqual(b.bytes(r2.ins[0]! + VIRTIO_NET_HDR_SIZE, f2.length), f2);
  assert.equal(new DataView(b.bytes(r1.ins[0]!, 12).slice().buffer).getUint16(10, true), 1, 'num_buffers');
  assert.equal(nb.stats.rxFrames, 2);
  assert.throws(() => parseMac('01:00:5e:00:00:01'), /multicast/);
  assert.throws(() => parseMac('52:54:00'), /six hex bytes/);
});

test('stream backend: two NICs over a Unix socket with QEMU stream framing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-net-'));
  const path = join(dir, 'n.sock');
  const l = new StreamNetBackend({ mode: 'listen', address: parseStreamAddress(path) });
  const c = new StreamNetBackend({ mode: 'connect', address: parseStreamAddress(`unix:${path}`) });
  try {
    await Promise.all([l.connected, c.connected]);
    const got: Uint8Array[] = [];
    l.onReceive((f) => got.push(f));
    const big = new Uint8Array(9000).map((_, i) => i & 0xff);
    c.send(Uint8Array.of(1, 2, 3));
    c.send(big);
    for (let i = 0; i < 100 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got, [Uint8Array.of(1, 2, 3), big]);
    assert.deepEqual(parseStreamAddress('127.0.0.1:5555'), { host: '127.0.0.1', port: 5555 });
  } finally {
    c.close();
    l.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
