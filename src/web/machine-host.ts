/**
 * The machine side of a browser VM, inside a Worker: builds an emulated PC from the images the page
 * sent, runs it, moves COM1's bytes (ByteRings or messages), answers pause/resume/reset, and sends
 * figures. Everything reaches the page through `post`, so it runs under node:test as well.
 */
import { createEmuMachine, type EmuMachine } from '../vmm/emu-machine.js';
import { defaultHostScheduler, messageChannelScheduler, postTaskScheduler, timeoutScheduler, type HostScheduler } from '../cpu/emu/host-scheduler.js';
import type { VmStop } from '../cpu/vm.js';
import { ByteRing } from './byte-ring.js';
import type { BootRequest, FromWorker, MachineStats, PmuCounts, SchedulerChoice, ToWorker } from './protocol.js';

export type Post = (m: FromWorker, transfer?: ArrayBuffer[]) => void;

function pickScheduler(choice: SchedulerChoice | undefined): HostScheduler {
  switch (choice ?? 'auto') {
    case 'message-channel':
      return messageChannelScheduler();
    case 'post-task':
      return postTaskScheduler();
    case 'timeout':
      return timeoutScheduler();
    default:
      return defaultHostScheduler();
  }
}

/** A stop in words, as the CLI says it. */
export function stopText(stop: VmStop): string {
  switch (stop.kind) {
    case 'poweroff':
      return 'the guest powered off';
    case 'debug-exit':
      return `the guest exited with code ${stop.value} (isa-debug-exit)`;
    case 'reset':
      return `the guest asked for a reset (${stop.source})`;
    case 'shutdown':
      return `the guest shut down abnormally on vCPU ${stop.vcpu} (triple fault): ${stop.detail}`;
    case 'hang':
      return `the guest hung: ${stop.detail}`;
    case 'internal-error':
      return `emulation failure on vCPU ${stop.vcpu}: ${stop.detail}`;
    case 'fail-entry':
      return `the CPU refused to enter the guest on vCPU ${stop.vcpu}: ${stop.detail}`;
    case 'quit':
      return stop.reason;
    case 'migrated':
      return `the guest was migrated to ${stop.destination}`;
    case 'host-stop':
      return stop.reason;
  }
}

/** Guest output waiting for the ring or the next message; flushed at each yield of the run loop. */
class OutputPump {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly post: Post,
    private readonly ring: ByteRing | undefined,
  ) {}

  write(bytes: Uint8Array): void {
    // The UART reuses its buffer: keep a copy.
    this.pending.push(bytes.slice());
    this.pendingBytes += bytes.length;
  }

  flush(): void {
    if (this.pendingBytes === 0) return;
    const all = new Uint8Array(this.pendingBytes);
    let o = 0;
    for (const p of this.pending) {
      all.set(p, o);
      o += p.length;
    }
    if (this.ring) {
      // What does not fit waits for the page to drain the ring: output is never dropped.
      const n = this.ring.write(all);
      this.pending = n < all.length ? [all.subarray(n)] : [];
      this.pendingBytes = all.length - n;
      return;
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.post({ type: 'serial', bytes: all }, [all.buffer as ArrayBuffer]);
  }
}

export class MachineHost {
  private request: BootRequest | undefined;
  private machine: EmuMachine | undefined;
  private pump: OutputPump | undefined;
  private input: ByteRing | undefined;
  private statsTimer: ReturnType<typeof setInterval> | undefined;
  private generation = 0;

  constructor(private readonly post: Post) {}

  handle(m: ToWorker): void {
    try {
      switch (m.type) {
        case 'boot':
          this.request = m;
          this.start();
          break;
        case 'reset':
          if (this.request) this.start();
          break;
        case 'pause':
          void this.machine?.vm.pause().then(() => this.sendStats());
          break;
        case 'resume':
          this.machine?.vm.resume();
          this.sendStats();
          break;
        case 'stop':
          this.machine?.vm.requestStop({ kind: 'quit', by: 'api', reason: 'stopped from the page' });
          break;
        case 'stats':
          this.sendStats();
          break;
        case 'input':
          this.machine?.devices.uart.receive(m.bytes);
          break;
      }
    } catch (e) {
      this.post({ type: 'error', message: e instanceof Error ? e.message : String(e) });
    }
  }

  /** Builds a machine from the boot request (destroying any previous one) and runs it. */
  private start(): void {
    const r = this.request!;
    this.teardown();
    const gen = ++this.generation;
    const t0 = performance.now();
    const outRing = r.rings ? new ByteRing(r.rings.toPage) : undefined;
    this.input = r.rings ? new ByteRing(r.rings.toGuest) : undefined;
    const pump = new OutputPump(this.post, outRing);
    this.pump = pump;
    const base = pickScheduler(r.scheduler);
    // Each turn the run loop gives the host also moves COM1's bytes both ways.
    const scheduler: HostScheduler = {
      name: base.name,
      yield: () => base.yield().then(() => this.exchange()),
      sleep: (ms) => base.sleep(ms).then(() => this.exchange()),
      ...(base.close ? { close: () => base.close!() } : {}),
    };
    const machine = createEmuMachine({
      kernel: { name: r.kernel.name, data: new Uint8Array(r.kernel.data) },
      ...(r.initrd ? { initrd: { name: r.initrd.name, data: new Uint8Array(r.initrd.data) } } : {}),
      cmdline: r.cmdline,
      memBytes: r.memBytes,
      cpus: r.cpus,
      deterministic: r.deterministic === true,
      serial: pump,
      scheduler,
    });
    this.machine = machine;
    this.post({ type: 'booted', description: machine.boot.summary, loadMs: performance.now() - t0, ...(outRing ? { outputFrom: outRing.writeCursor } : {}) });
    const every = r.statsEveryMs ?? 500;
    if (every > 0) this.statsTimer = setInterval(() => this.sendStats(), every);
    machine.vm.run().then(
      (stop) => {
        if (gen !== this.generation) return;
        this.exchange();
        this.sendStats();
        this.post({ type: 'stopped', stop, message: stopText(stop) });
        this.stopTimer();
      },
      (e: unknown) => this.post({ type: 'error', message: e instanceof Error ? e.message : String(e) }),
    );
  }

  private exchange(): void {
    this.pump?.flush();
    const m = this.machine;
    if (this.input && m && this.input.available > 0) m.devices.uart.receive(this.input.read());
  }

  private stopTimer(): void {
    if (this.statsTimer !== undefined) clearInterval(this.statsTimer);
    this.statsTimer = undefined;
  }

  private teardown(): void {
    this.stopTimer();
    const m = this.machine;
    this.machine = undefined;
    if (!m) return;
    m.vm.destroy();
    m.devices.destroy();
    m.vm.scheduler.close?.();
  }

  stats(): MachineStats | undefined {
    const m = this.machine;
    if (!m) return undefined;
    const vm = m.vm;
    const exits = vm.exitCounts();
    const pmu: PmuCounts[] = vm.pmus.map((p, vcpu) => ({
      vcpu,
      fixed: Array.from({ length: p.config.fixedCounters }, (_, i) => p.fixedCounterValue(i)),
      gp: Array.from({ length: p.config.gpCounters }, (_, i) => p.gpCounterValue(i)),
      eventSelects: p.saveState().eventSelects,
    }));
    const stopped = vm.stopped !== undefined;
    return {
      state: stopped ? 'stopped' : vm.paused ? 'paused' : 'running',
      instructions: exits['instructions'] ?? 0,
      guestNs: vm.clock.nowNs(),
      runMs: vm.runMs,
      exits,
      pmu,
      host: { scheduler: vm.scheduler.name, ...vm.hostTime },
      console: this.input ? 'shared-memory' : 'messages',
    };
  }

  private sendStats(): void {
    const s = this.stats();
    if (s) this.post({ type: 'stats', stats: s });
  }

  dispose(): void {
    this.generation++;
    this.teardown();
  }
}
