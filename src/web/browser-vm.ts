/**
 * The page side of a browser VM: drives the machine's Worker (machine-worker.ts) and carries COM1.
 * Cross-origin isolated pages (COOP/COEP headers) get SharedArrayBuffer, so COM1 crosses two ByteRings
 * and no message is sent per keystroke or output burst; other pages fall back to messages.
 */
import { ByteRing } from './byte-ring.js';
import type { FromWorker, MachineStats, SchedulerChoice, ToWorker } from './protocol.js';
import type { VmStop } from '../cpu/vm.js';

/** What BrowserVm needs of a Worker (a DOM Worker satisfies it). */
export interface WorkerLike {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  addEventListener(type: 'message', listener: (e: { data: unknown }) => void): void;
  addEventListener(type: 'error', listener: (e: { message?: string }) => void): void;
  terminate(): void;
}

export interface BrowserVmEvents {
  onSerial?(bytes: Uint8Array): void;
  onBooted?(description: string, loadMs: number): void;
  onStats?(stats: MachineStats): void;
  onStop?(stop: VmStop, message: string): void;
  onError?(message: string): void;
}

export interface Image {
  readonly name: string;
  readonly data: Uint8Array;
}

export interface BootOptions {
  readonly kernel: Image;
  readonly initrd?: Image;
  readonly cmdline?: string;
  /** Guest RAM in bytes (default 256 MiB). */
  readonly memBytes?: number;
  readonly cpus?: number;
  readonly deterministic?: boolean;
  readonly scheduler?: SchedulerChoice;
  readonly statsEveryMs?: number;
}

const RING_BYTES = 1 << 20;

const copy = (d: Uint8Array): ArrayBuffer => d.slice().buffer as ArrayBuffer;

export class BrowserVm {
  /** How COM1 crosses: shared memory when the page is cross-origin isolated, else messages. */
  readonly console: 'shared-memory' | 'messages';
  private readonly toPage: ByteRing | undefined;
  private readonly toGuest: ByteRing | undefined;
  private inputBacklog: Uint8Array[] = [];
  private polling = false;
  private disposed = false;
  /** Set from a boot or reset until the worker says the new machine started: output meanwhile is the old one's. */
  private awaitingBoot = false;

  constructor(
    private readonly worker: WorkerLike,
    private readonly events: BrowserVmEvents = {},
  ) {
    const g = globalThis as { crossOriginIsolated?: boolean; SharedArrayBuffer?: unknown };
    const shared = g.crossOriginIsolated === true && typeof g.SharedArrayBuffer === 'function';
    this.console = shared ? 'shared-memory' : 'messages';
    if (shared) {
      this.toPage = new ByteRing(ByteRing.allocate(RING_BYTES));
      this.toGuest = new ByteRing(ByteRing.allocate(RING_BYTES));
    }
    worker.addEventListener('message', (e) => this.onMessage(e.data as FromWorker));
    worker.addEventListener('error', (e) => this.events.onError?.(`the machine's worker failed: ${e.message ?? 'unknown error'}`));
  }

  private send(m: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(m, transfer);
  }

  /** Builds the machine from these images and starts it (the images are copied, the caller keeps them). */
  boot(o: BootOptions): void {
    const kernel = { name: o.kernel.name, data: copy(o.kernel.data) };
    const initrd = o.initrd ? { name: o.initrd.name, data: copy(o.initrd.data) } : undefined;
    this.awaitingBoot = true;
    this.send(
      {
        type: 'boot',
        kernel,
        ...(initrd ? { initrd } : {}),
        cmdline: o.cmdline ?? '',
        memBytes: o.memBytes ?? 256 << 20,
        cpus: o.cpus ?? 1,
        deterministic: o.deterministic === true,
        ...(o.scheduler ? { scheduler: o.scheduler } : {}),
        ...(o.statsEveryMs !== undefined ? { statsEveryMs: o.statsEveryMs } : {}),
        ...(this.toPage && this.toGuest ? { rings: { toPage: this.toPage.buffer, toGuest: this.toGuest.buffer } } : {}),
      },
      [kernel.data, ...(initrd ? [initrd.data] : [])],
    );
    this.startPolling();
  }

  pause(): void {
    this.send({ type: 'pause' });
  }
  resume(): void {
    this.send({ type: 'resume' });
  }
  /** Power-cycles: a fresh machine from the same images. */
  reset(): void {
    this.awaitingBoot = true;
    this.send({ type: 'reset' });
  }
  stop(): void {
    this.send({ type: 'stop' });
  }
  requestStats(): void {
    this.send({ type: 'stats' });
  }

  /** Keys for COM1. */
  sendInput(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (!this.toGuest) {
      this.send({ type: 'input', bytes: bytes.slice() });
      return;
    }
    this.inputBacklog.push(bytes.slice());
    this.pushInput();
  }

  private pushInput(): void {
    while (this.toGuest && this.inputBacklog.length) {
      const b = this.inputBacklog[0]!;
      const n = this.toGuest.write(b);
      if (n < b.length) {
        this.inputBacklog[0] = b.subarray(n);
        return;
      }
      this.inputBacklog.shift();
    }
  }

  /** Reads the output ring whenever the worker writes (Atomics.waitAsync), or every few ms where that is missing. */
  private startPolling(): void {
    if (!this.toPage || this.polling) return;
    this.polling = true;
    const ring = this.toPage;
    const waitAsync = (Atomics as unknown as { waitAsync?: (a: Int32Array, i: number, v: number, t?: number) => { async: boolean; value: Promise<string> | string } }).waitAsync;
    const step = (): void => {
      if (this.disposed) return;
      // Until the new machine says it started, what is in the ring may be the old machine's.
      if (ring.available > 0 && !this.awaitingBoot) this.events.onSerial?.(ring.read());
      this.pushInput();
      const w = ring.waitTarget;
      if (waitAsync !== undefined) {
        const r = waitAsync(w.array, w.index, w.value, 250);
        if (r.async) void (r.value as Promise<string>).then(step);
        else setTimeout(step, 0);
      } else setTimeout(step, 8);
    };
    step();
  }

  private onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'serial':
        if (!this.awaitingBoot) this.events.onSerial?.(m.bytes);
        break;
      case 'booted':
        // Messages keep their order, so every serial message before this one was the old machine's.
        this.awaitingBoot = false;
        if (this.toPage && m.outputFrom !== undefined) this.toPage.discardBefore(m.outputFrom);
        this.events.onBooted?.(m.description, m.loadMs);
        break;
      case 'stats':
        this.events.onStats?.(m.stats);
        break;
      case 'stopped':
        // The last output first: it was written before the stop.
        if (this.toPage && this.toPage.available > 0 && !this.awaitingBoot) this.events.onSerial?.(this.toPage.read());
        this.events.onStop?.(m.stop, m.message);
        break;
      case 'error':
        this.events.onError?.(m.message);
        break;
    }
  }

  dispose(): void {
    this.disposed = true;
    this.worker.terminate();
  }
}
