/**
 * The thread of an FdWatcher (fd-watcher.ts): poll(2) over the watched fds and the control eventfd,
 * with no JavaScript on the main thread involved until something is ready.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { POLLERR, POLLHUP, POLLIN, POLLNVAL, drainEventFd, pollFds } from './libc.js';
import { MODE_EVENTFD, MODE_FREE, MODE_ONCE, WATCH_SLOTS, W_FD, W_MODE, W_PENDING, W_READY, W_STOP } from './fd-watcher.js';

const init = workerData as { shared: SharedArrayBuffer; controlFd: number; wake: SharedArrayBuffer | undefined; wakeIndex: number };
const s = new Int32Array(init.shared);
const wake = init.wake === undefined ? undefined : new Int32Array(init.wake);
const pfds = new Uint8Array(8 * (WATCH_SLOTS + 1));
const pv = new DataView(pfds.buffer);
const slotOf = new Int32Array(WATCH_SLOTS + 1);
const counter = new Uint8Array(8);

// Loaded (koffi included): the main thread may let the process exit from now on (fd-watcher.ts).
parentPort!.postMessage('ready');

while (Atomics.load(s, W_STOP) === 0) {
  let n = 0;
  pv.setInt32(0, init.controlFd, true);
  pv.setInt16(4, POLLIN, true);
  pv.setInt16(6, 0, true);
  slotOf[n++] = -1;
  for (let i = 0; i < WATCH_SLOTS; i++) {
    if (Atomics.load(s, W_MODE + i) === MODE_FREE) continue;
    pv.setInt32(n * 8, Atomics.load(s, W_FD + i), true);
    pv.setInt16(n * 8 + 4, POLLIN, true);
    pv.setInt16(n * 8 + 6, 0, true);
    slotOf[n++] = i;
  }
  if (pollFds(pfds, n, 1000) <= 0) continue;
  let woke = false;
  for (let k = 0; k < n; k++) {
    const rev = pv.getInt16(k * 8 + 6, true);
    if (rev === 0) continue;
    const slot = slotOf[k]!;
    if (slot < 0) {
      drainEventFd(init.controlFd, counter);
      continue;
    }
    const mode = Atomics.load(s, W_MODE + slot);
    let count = 1;
    if (mode === MODE_EVENTFD && (rev & POLLIN) !== 0) count = drainEventFd(pv.getInt32(k * 8, true), counter);
    if (mode === MODE_ONCE || (rev & (POLLERR | POLLHUP | POLLNVAL)) !== 0) Atomics.store(s, W_MODE + slot, MODE_FREE);
    if (count === 0) continue;
    Atomics.add(s, W_READY + slot, count);
    woke = true;
  }
  if (woke) {
    Atomics.store(s, W_PENDING, 1);
    // A main thread asleep on the wake word looks at the ready fds when it wakes; otherwise its event loop does.
    let woken = 0;
    if (wake !== undefined) {
      Atomics.add(wake, init.wakeIndex, 1);
      woken = Atomics.notify(wake, init.wakeIndex);
    }
    if (woken === 0) parentPort!.postMessage(0);
  }
}
