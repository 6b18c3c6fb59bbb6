import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnixListener, UnixSocket, SocketError } from './unix-socket.js';
import { EFD_CLOEXEC, EFD_NONBLOCK, closeFd, drainEventFd, eventfd, memfdMapping, mmapShared, munmap, signalEventFd } from './libc.js';

test('unix sockets carry bytes and file descriptors (SCM_RIGHTS): an eventfd and a memfd shared across the socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-sock-'));
  const path = join(dir, 's');
  const l = UnixListener.listen(path);
  const a = UnixSocket.connect(path);
  const b = l.accept();
  const ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  const mem = memfdMapping('test-ram', 1 << 16);
  try {
    mem.bytes[4096] = 0xab;
    const big = new Uint8Array(40000).map((_, i) => i & 0xff);
    a.send(new Uint8Array([1, 2, 3]), [ev, mem.fd]);
    a.send(big);
    const got = new Uint8Array(3);
    const fds = b.recv(got);
    assert.deepEqual([...got], [1, 2, 3]);
    assert.equal(fds.length, 2);
    const bigGot = new Uint8Array(big.length);
    assert.deepEqual(b.recv(bigGot), []);
    assert.deepEqual(bigGot, big);
    // The received eventfd is the same counter; the received memfd maps the same pages.
    signalEventFd(fds[0]!);
    assert.equal(drainEventFd(ev), 1);
    const peer = mmapShared(fds[1]!, 1 << 16, 0, 'map peer');
    assert.equal(peer.bytes[4096], 0xab);
    peer.bytes[8] = 0x77;
    assert.equal(mem.bytes[8], 0x77);
    munmap(peer);
    for (const f of fds) closeFd(f);
    b.setReceiveTimeout(50);
    assert.throws(() => b.recv(new Uint8Array(1)), (e: unknown) => e instanceof SocketError && e.code === 'timeout');
    a.close();
    assert.throws(() => b.recv(new Uint8Array(1)), (e: unknown) => e instanceof SocketError && e.code === 'closed');
  } finally {
    a.close();
    b.close();
    l.close();
    closeFd(ev);
    closeFd(mem.fd);
    munmap(mem);
    rmSync(dir, { recursive: true, force: true });
  }
});
