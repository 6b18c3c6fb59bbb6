/**
 * Watches file descriptors from a thread of its own, so the main thread never blocks on them: the
 * eventfds KVM signals for I/O events, a vhost-user backend's interrupt ("call") eventfds, the
 * backend's socket (to notice it died). The worker polls, drains an eventfd's counter (or, for other
 * fds, stops watching after one report), marks the slot ready in shared memory and wakes the main
 * thread's event loop with a message, and also bumps and notifies a word the main thread may be waiting
 * on with Atomics.wait (`wake`: the kvm backend's, while it answers vCPU exits). `dispatch()` on the main
 * thread runs the callbacks of ready slots.
 */
import { Worker } from 'node:worker_threads';
import { EFD_CLOEXEC, EFD_NONBLOCK, closeFd, eventfd, signalEventFd } from './libc.js';

export const WATCH_SLOTS = 64;
/** Int32 layout of the shared block. */
export const W_STOP = 0;
export const W_GENERATION = 1;
export const W_PENDING = 3;
export const W_FD = 8;
export const W_MODE = W_FD + WATCH_SLOTS;
export const W_READY = W_MODE + WATCH_SLOTS;
export const W_INTS = W_READY + WATCH_SLOTS;
/** Slot modes: free, an eventfd (drained on every wake-up), any other fd (reported once, then left alone). */
export const MODE_FREE = 0;
export const MODE_EVENTFD = 1;
export const MODE_ONCE = 2;

export class FdWatcher {
  private readonly shared = new Int32Array(new SharedArrayBuffer(W_INTS * 4));
  private readonly callbacks: (((count: number) => void) | undefined)[] = new Array(WATCH_SLOTS).fill(undefined);
  private readonly controlFd: number;
  private readonly worker: Worker;
  private closed = false;
  /** The worker has loaded its modules (libc through koffi) and runs its loop. */
  private ready = false;
  /** Settles with the worker's exit code when its thread has ended. */
  readonly exited: Promise<number>;

  constructor(wake?: { readonly words: Int32Array; readonly index: number }) {
    this.controlFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    const workerData = { shared: this.shared.buffer, controlFd: this.controlFd, wake: wake?.words.buffer, wakeIndex: wake?.index ?? 0 };
    this.worker = new Worker(new URL('./fd-watcher-worker.js', import.meta.url), { workerData });
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
    // The worker keeps the process alive until it has loaded: a thread ended while koffi's native module
    // initialises (the process exiting, or terminate()) aborts the whole process with a fatal N-API error. Once
    // loaded it does not hold the process, as before.
    this.worker.on('message', (m) => {
      if (m === 'ready') {
        // Closed before this: the thread has seen W_STOP (set before it entered its loop, or signalled to it there) and ends by itself.
        this.ready = true;
        if (!this.closed) this.worker.unref();
        return;
      }
      this.dispatch();
    });
    this.worker.on('error', () => undefined);
    void this.exited.then(() => {
      if (this.closed) closeFd(this.controlFd);
    });
  }

  /**
   * Calls `onReady(count)` on the main thread when `fd` becomes readable: for an eventfd with the
   * counter it drained (signals that arrived together ring once), for another fd once (with 1), after
   * which the fd is no longer watched. Returns the function that stops watching.
   */
  watch(fd: number, mode: 'eventfd' | 'once', onReady: (count: number) => void): () => void {
    if (this.closed) throw new Error('the fd watcher is closed');
    const s = this.shared;
    let slot = -1;
    for (let i = 0; i < WATCH_SLOTS; i++) if (Atomics.load(s, W_MODE + i) === MODE_FREE && this.callbacks[i] === undefined) {
      slot = i;
      break;
    }
    if (slot < 0) throw new RangeError(`cannot watch more than ${WATCH_SLOTS} file descriptors`);
    this.callbacks[slot] = onReady;
    Atomics.store(s, W_READY + slot, 0);
    Atomics.store(s, W_FD + slot, fd);
    Atomics.store(s, W_MODE + slot, mode === 'eventfd' ? MODE_EVENTFD : MODE_ONCE);
    this.poke();
    return () => {
      if (this.callbacks[slot] !== onReady) return;
      this.callbacks[slot] = undefined;
      Atomics.store(s, W_MODE + slot, MODE_FREE);
      Atomics.store(s, W_READY + slot, 0);
      this.poke();
    };
  }

  private poke(): void {
    Atomics.add(this.shared, W_GENERATION, 1);
    signalEventFd(this.controlFd);
  }

  /** True when some fd is ready and its callback has not run yet. */
  get pending(): boolean {
    return Atomics.load(this.shared, W_PENDING) !== 0;
  }

  /** Runs the callbacks of ready fds (main thread). */
  dispatch(): void {
    const s = this.shared;
    if (Atomics.exchange(s, W_PENDING, 0) === 0) return;
    for (let i = 0; i < WATCH_SLOTS; i++) {
      const n = Atomics.exchange(s, W_READY + i, 0);
      if (n === 0) continue;
      const cb = this.callbacks[i];
      if (cb === undefined) continue;
      if (Atomics.load(s, W_MODE + i) === MODE_FREE) this.callbacks[i] = undefined; // a 'once' slot the worker retired
      cb(n);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.shared, W_STOP, 1);
    signalEventFd(this.controlFd);
    // The worker closes nothing of ours; it exits at its next wake-up, which the control fd gives it now. One
    // still loading is left to finish loading (see the constructor): it sees W_STOP then and ends by itself.
    // The thread is held until it has ended, so that its control fd is closed (and `exited` settles) before the
    // process exits.
    this.worker.ref();
    if (this.ready) void this.worker.terminate();
  }
}
