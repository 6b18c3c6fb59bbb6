/**
 * The fd watcher's thread ends once closed, whenever close() comes: also before it has loaded its modules, when
 * it is left to finish loading (koffi's native module: a thread ended in its initialisation aborts the process)
 * and ends by itself. That race itself (a process exiting while the thread loads) could not be reproduced on
 * demand; these check the paths around it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FdWatcher } from './fd-watcher.js';
import { EFD_CLOEXEC, EFD_NONBLOCK, closeFd, eventfd, signalEventFd } from './libc.js';

test('a watcher closed at once lets its thread finish loading and end by itself (exit code 0, not terminated)', async () => {
  const w = new FdWatcher();
  w.close();
  assert.equal(await w.exited, 0);
});

test('a watcher reports an eventfd, and its thread ends after close()', async () => {
  const w = new FdWatcher();
  const fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  try {
    // The watcher's thread does not hold the process once loaded: a timer does, until the report comes.
    const keep = setTimeout(() => undefined, 10_000);
    const got = new Promise<number>((resolve) => w.watch(fd, 'eventfd', resolve));
    signalEventFd(fd);
    assert.ok((await got) >= 1);
    clearTimeout(keep);
  } finally {
    w.close();
    await w.exited;
    closeFd(fd);
  }
});
