import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamNetBackend } from './stream-net-backend.js';
import { VirtioNet, VIRTIO_NET_S_LINK_UP } from '../../devices/virtio/virtio-net.js';
import { until as pollUntil } from '../../util/until.test-util.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const until = (cond: () => boolean, what: string, ms = 10_000): Promise<void> => pollUntil(cond, what, ms, 5);

/** A listening end that records what it receives. */
function listener(path: string): { b: StreamNetBackend; got: number[][] } {
  const got: number[][] = [];
  const b = new StreamNetBackend({ mode: 'listen', address: { path }, notice: () => {} });
  b.onReceive((f) => got.push([...f]));
  return { b, got };
}

test('stream backend: the link is down without a peer, up with one; a connecting side finds a restarted peer again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-stream-'));
  const path = join(dir, 'net.sock');
  const notices: string[] = [];
  const client = new StreamNetBackend({ mode: 'connect', address: { path }, retries: 2, reconnectMs: 50, notice: (l) => notices.push(l) });
  const changes: boolean[] = [];
  client.onLinkChange((up) => changes.push(up));
  try {
    // The listener starts after the quick retries ran out: the slow retries still find it.
    await sleep(400);
    assert.equal(client.linkUp, false, 'no peer: the link is down');
    client.send(new Uint8Array([1]));
    assert.equal(client.dropped, 1, 'a frame with no peer is dropped');
    const one = listener(path);
    await until(() => client.linkUp, 'the client to find the listener');
    assert.equal(client.linkUp, true);
    client.send(new Uint8Array([2, 3]));
    await until(() => one.got.length === 1, 'the first peer to receive a frame');
    assert.deepEqual(one.got[0], [2, 3]);

    one.b.close(); // the peer VM stops
    await until(() => !client.linkUp, 'the link to go down');
    const two = listener(path);
    try {
      await until(() => client.linkUp, 'the client to connect to the new peer');
      client.send(new Uint8Array([4]));
      await until(() => two.got.length === 1, 'the second peer to receive a frame');
      assert.deepEqual(two.got[0], [4]);
      assert.deepEqual(changes, [true, false, true]);
      assert.ok(notices.some((n) => /peer went away; connecting again every 50 ms/.test(n)), notices.join('\n'));
      assert.ok(notices.some((n) => /connected to a peer again/.test(n)), notices.join('\n'));
    } finally {
      two.b.close();
    }
  } finally {
    client.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('virtio-net reports its backend\'s link in the status field and signals each change as a config change', () => {
  let up = false;
  let notify: (u: boolean) => void = () => {};
  const backend = {
    description: 'test',
    get linkUp() {
      return up;
    },
    send: () => {},
    onReceive: () => {},
    onLinkChange: (fn: (u: boolean) => void) => void (notify = fn),
    close: () => {},
  };
  const net = new VirtioNet(backend, Uint8Array.of(0x52, 0x54, 0, 1, 2, 3));
  const status = (): number => {
    const b = new Uint8Array(2);
    net.readConfig(6, b);
    return b[0]! | (b[1]! << 8);
  };
  assert.equal(status(), 0, 'down at the start');
  let changes = 0;
  net.activate({ queues: [], dma: undefined as never, features: 0n, usedBuffers: () => {}, interruptQueue: () => {}, configChanged: () => changes++, fail: () => {} });
  up = true;
  notify(true);
  assert.equal(status(), VIRTIO_NET_S_LINK_UP);
  assert.equal(changes, 1);
  notify(false);
  assert.equal(status(), 0);
  assert.equal(changes, 2);
});
