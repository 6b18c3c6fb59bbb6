/**
 * How the emulator's run loop gives the host its turn. The loop runs guest code for a few ms, then
 * yields so host I/O (serial input, pause requests, messages) is handled. The yield must cost
 * microseconds: `setTimeout(0)` is clamped by browsers to >= 4 ms once nested, which would leave the
 * vCPU idle about half the time. Node has `setImmediate`; browsers have `scheduler.postTask` (Chromium)
 * and MessageChannel (every browser, in pages and Workers). Imports nothing: it only looks at globalThis.
 */
export interface HostScheduler {
  /** Which mechanism this is (for reports and tests). */
  readonly name: string;
  /** Resolves once the host has run its pending tasks, as soon after that as the host allows. */
  yield(): Promise<void>;
  /** Resolves after about `ms` milliseconds (the vCPUs are halted, waiting for a timer or input). */
  sleep(ms: number): Promise<void>;
  /** Releases what the scheduler holds (a MessageChannel keeps a Node process alive). */
  close?(): void;
}

type Fn = () => void;
interface HostGlobals {
  setImmediate?: (f: Fn) => unknown;
  setTimeout(f: Fn, ms: number): unknown;
  scheduler?: { postTask?: (f: Fn, options?: { priority?: string }) => Promise<unknown> };
  MessageChannel?: new () => { port1: { onmessage: ((e: unknown) => void) | null; close(): void }; port2: { postMessage(m: unknown): void; close(): void } };
}
const host = globalThis as unknown as HostGlobals;

const sleepWithTimeout = (ms: number): Promise<void> => new Promise((resolve) => host.setTimeout(resolve, ms));

/** Node's check phase: runs after pending I/O callbacks, not clamped. */
export function immediateScheduler(): HostScheduler {
  const si = host.setImmediate;
  if (si === undefined) throw new Error('immediateScheduler: this host has no setImmediate');
  return { name: 'setImmediate', yield: () => new Promise((resolve) => si(resolve)), sleep: sleepWithTimeout };
}

/** A message to ourselves: a macrotask that browsers never clamp. One channel, callers queued in order. */
export function messageChannelScheduler(): HostScheduler {
  const MC = host.MessageChannel;
  if (MC === undefined) throw new Error('messageChannelScheduler: this host has no MessageChannel');
  const ch = new MC();
  const waiting: Fn[] = [];
  ch.port1.onmessage = () => waiting.shift()?.();
  return {
    name: 'MessageChannel',
    yield: () =>
      new Promise((resolve) => {
        waiting.push(resolve);
        ch.port2.postMessage(0);
      }),
    sleep: sleepWithTimeout,
    close: () => {
      ch.port1.close();
      ch.port2.close();
    },
  };
}

/** Chromium's prioritized task scheduling, at the background priority the vCPU loop deserves next to a page's UI. */
export function postTaskScheduler(priority: 'user-visible' | 'background' = 'user-visible'): HostScheduler {
  const post = host.scheduler?.postTask?.bind(host.scheduler);
  if (post === undefined) throw new Error('postTaskScheduler: this host has no scheduler.postTask');
  return { name: `scheduler.postTask(${priority})`, yield: () => post(() => undefined, { priority }).then(() => undefined), sleep: sleepWithTimeout };
}

/** setTimeout(0): clamped to >= 4 ms in browsers; kept to measure what the others save. */
export function timeoutScheduler(): HostScheduler {
  return { name: 'setTimeout(0)', yield: () => sleepWithTimeout(0), sleep: sleepWithTimeout };
}

/** The cheapest yield this host has: setImmediate (Node), else MessageChannel, else scheduler.postTask, else setTimeout. */
export function defaultHostScheduler(): HostScheduler {
  if (host.setImmediate !== undefined) return immediateScheduler();
  if (host.MessageChannel !== undefined) return messageChannelScheduler();
  if (host.scheduler?.postTask !== undefined) return postTaskScheduler();
  return timeoutScheduler();
}
