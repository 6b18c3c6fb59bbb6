import type { RunConfig } from '../vmm/config.js';
import { describeStop, type BuiltVm } from '../vmm/vm-builder.js';
import { feedStdin, openSerialSink, type ConsoleSink, type StdinFeed } from '../vmm/serial-console.js';
import type { VmStop } from '../cpu/vm.js';
import { unshownWarnings } from '../util/log.js';
import { VmController } from '../vmm/controller.js';
import type { ControllerOptions } from '../vmm/controller.js';
import { ConfigError } from '../vmm/config.js';
import type { GdbListenAddress, GdbServer } from '../debug/gdb/gdb-server.js';
import type { CapabilityHost } from '../debug/gdb/kvm-refusal.js';
import type { EndableTarget } from '../debug/gdb/gdb-server.js';
import type { EmuVm } from '../cpu/emu/emu-vm.js';
import type { KvmVm } from '../cpu/kvm/kvm-vm.js';
import { describeMachineState } from '../vmm/state-report.js';
import { devicePersists } from '../vmm/state/device-state.js';
import { ReplayGate } from '../debug/gdb/replay-gate.js';

/** Hooks for commands that run a guest and look at it (stat, record). */
export interface RunObserver {
  /** Called once the VM is built, before it runs. */
  attach(built: BuiltVm): void;
  /** Called after the VM stopped, before it is destroyed. */
  report(built: BuiltVm, stop: VmStop, wallMs: number): void;
}

export interface RunOptions {
  readonly verbose: boolean;
  readonly observer?: RunObserver;
  /** Serve the control API on this Unix socket while the VM runs (tsvmm run --api-sock). */
  readonly apiSocket?: string;
  /** Wait for the API to configure and start the VM (tsvmm api): no kernel from the command line. */
  readonly waitForApi?: boolean;
  /** Serve the gdb remote protocol here (tsvmm run --gdb); `wait`: start paused until gdb continues. */
  readonly gdb?: { readonly address: GdbListenAddress; readonly wait: boolean };
  /** Start from a snapshot instead of booting (tsvmm run --restore FILE [--mem-file FILE]). */
  readonly restore?: { readonly path: string; readonly memFile?: string };
  /** Wait for a live migration and run the VM it brings (tsvmm run --incoming ADDR). */
  readonly incoming?: string;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** The control API (src/api/), loaded only when asked for. */
async function serveApi(controller: VmController, socketPath: string): Promise<{ close(): Promise<void> }> {
  const { startApiServer } = await import('../api/server.js');
  return startApiServer(controller, { socketPath });
}

let exitSignal: NodeJS.Signals | undefined;

/**
 * The signal that ended the last run, if one did: the entry point re-raises it once everything is
 * cleaned up, so the parent sees the process ended by that signal (a shell shows 128 + its number)
 * and a script run from a shell stops on Ctrl-C as it should.
 */
export function takeExitSignal(): NodeJS.Signals | undefined {
  const s = exitSignal;
  exitSignal = undefined;
  return s;
}

async function loadGdbStub() {
  const [server, emu, refusal, kvm] = await Promise.all([import('../debug/gdb/gdb-server.js'), import('../debug/gdb/emu-target.js'), import('../debug/gdb/kvm-refusal.js'), import('../debug/gdb/kvm-target.js')]);
  return { GdbServer: server.GdbServer, describeAddress: server.describeAddress, EmuGdbTarget: emu.EmuGdbTarget, kvmGdbCheck: refusal.kvmGdbCheck, KvmGdbTarget: kvm.KvmGdbTarget };
}

/**
 * `tsvmm run` (and stat, record, api): the VM lives in a controller; this edge adds the terminal
 * (stdin to COM1, Ctrl-A x), the signals and the optional API socket, and maps the stop to a status.
 */
export async function runCommand(config: RunConfig, opts: RunOptions): Promise<number> {
  let gdb: GdbServer | undefined;
  // The gdb stub's modules (a dozen) are loaded only for --gdb.
  const stub = opts.gdb === undefined ? undefined : await loadGdbStub();
  if (opts.gdb !== undefined && stub !== undefined) {
    const { GdbServer } = stub;
    gdb = new GdbServer(opts.gdb.address, (m) => process.stderr.write(`${process.stdout.isTTY ? '\r\n' : ''}tsvmm: ${m}\n`));
    try {
      await gdb.listen();
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
  }
  const sink = openSerialSink(config.serial);
  // With gdb's reverse execution, a replay of recorded history re-runs what the guest printed: dropped here.
  const gate = new ReplayGate();
  const guestSink: ConsoleSink = opts.gdb === undefined ? sink : { write: (bytes) => gate.output(bytes, (b) => sink.write(b)), close: () => sink.close() };
  let feed: StdinFeed | undefined;
  let reported = false;
  const report = (stop: VmStop): void => {
    if (reported) return;
    reported = true;
    feed?.stop();
    feed = undefined;
    const unshown = unshownWarnings();
    if (unshown > 0) process.stderr.write(`tsvmm: ${unshown} further distinct warning${unshown === 1 ? ' was' : 's were'} not shown\n`);
    const { message } = describeStop(stop);
    if (message) process.stderr.write(`${process.stdout.isTTY ? '\r\n' : ''}tsvmm: ${message}\n`);
  };
  const options: ControllerOptions = {
    config,
    bootSourceGiven: opts.waitForApi !== true,
    serialSink: guestSink,
    hooks: {
      onStart(built) {
        if (opts.verbose) {
          process.stderr.write(`tsvmm: backend ${built.backend} (${built.backendReason})\n`);
          process.stderr.write(`tsvmm: ${built.boot.summary}\n`);
        }
        if (config.serial.kind === 'stdio') {
          feed = feedStdin(
            (bytes) => gate.input(bytes, (b) => built.devices.uart.receive(b)),
            () => void controller.dispatch({ type: 'stop', by: 'console', reason: 'quit by the user (Ctrl-A x)' }).catch(() => undefined),
            (msg) => process.stderr.write(`\r\ntsvmm: ${msg}\r\n`),
            () => describeMachineState(built),
          );
        }
        opts.observer?.attach(built);
        if (gdb !== undefined && opts.gdb !== undefined && stub !== undefined) {
          const { EmuGdbTarget, KvmGdbTarget, kvmGdbCheck, describeAddress } = stub;
          const kill = (): void => void controller.dispatch({ type: 'stop', by: 'api', reason: 'killed from gdb' }).catch(() => undefined);
          let target: EndableTarget;
          let vm: EmuVm | KvmVm;
          if (built.backend === 'emu') {
            vm = built.vm as EmuVm;
            // Reverse execution (bs/bc) works when the run repeats exactly: the target refuses it otherwise.
            target = new EmuGdbTarget(vm, { kill }, { devices: devicePersists(built.devices), gate });
          } else {
            // KVM_SET_GUEST_DEBUG where a probe guest shows it works; otherwise the reason, in the host's terms.
            const check = kvmGdbCheck(built.backend === 'kvm' ? (built.vm as Partial<CapabilityHost>) : {});
            if (!check.ok) throw new ConfigError(check.reason);
            vm = built.vm as KvmVm;
            target = new KvmGdbTarget(vm, check.support, { kill });
          }
          if (opts.gdb.wait) void vm.pause();
          // Connections are taken from now on (gdb-server.ts: not while the VM was being built).
          const server = gdb;
          const wait = opts.gdb.wait;
          void server.attach(target, { pause: () => vm.pause() }).then(
            () => process.stderr.write(`tsvmm: gdb stub on ${describeAddress(server.boundAddress())}${wait ? ': the VM waits for gdb to continue it' : ''}\n`),
            (e: unknown) => {
              process.stderr.write(`tsvmm: ${(e as Error).message}\n`);
              void controller.dispatch({ type: 'stop', by: 'api', reason: 'the gdb stub cannot listen' }).catch(() => undefined);
            },
          );
        }
      },
      onStop(built, stop, wallMs) {
        report(stop);
        gdb?.vmEnded(describeStop(stop).status, describeStop(stop).message ?? '');
        opts.observer?.report(built, stop, wallMs);
      },
    },
  };
  const controller = new VmController(options);
  // The first SIGINT/SIGTERM/SIGHUP stops the VM (the console and terminal are restored, the stop is
  // reported) and the process then ends by that signal; a second one ends it at once.
  const handlers = STOP_SIGNALS.map((sig) => {
    const handler = (): void => {
      process.off(sig, handler);
      exitSignal ??= sig;
      void controller.dispatch({ type: 'stop', by: 'signal', reason: `stopped by ${sig}`, signal: sig }).catch(() => undefined);
    };
    return [sig, handler] as const;
  });
  // SIGUSR1 prints the machine's state (a guest that seems stuck can be looked at without stopping it).
  const onUsr1 = (): void => {
    const built = controller.built;
    process.stderr.write(built === undefined ? 'tsvmm: no VM is running\n' : `tsvmm: machine state\n${describeMachineState(built)}\n`);
  };
  let api: { close(): Promise<void> } | undefined;
  try {
    for (const [sig, handler] of handlers) process.on(sig, handler);
    process.on('SIGUSR1', onUsr1);
    if (opts.apiSocket !== undefined) api = await serveApi(controller, opts.apiSocket);
    if (opts.restore !== undefined) {
      await controller.dispatch({ type: 'snapshot-load', snapshotPath: opts.restore.path, ...(opts.restore.memFile !== undefined ? { memFilePath: opts.restore.memFile } : {}), resume: true });
    } else if (opts.incoming !== undefined) {
      const from = opts.incoming;
      await controller.dispatch({ type: 'incoming', from, onListening: () => opts.verbose && process.stderr.write(`tsvmm: waiting for a migration on ${from}\n`) });
    } else if (opts.waitForApi !== true) await controller.dispatch({ type: 'start' });
    const stop = await controller.stopped;
    report(stop);
    return describeStop(stop).status;
  } finally {
    feed?.stop();
    for (const [sig, handler] of handlers) process.off(sig, handler);
    process.off('SIGUSR1', onUsr1);
    await api?.close();
    await gdb?.close();
    await controller.dispose();
    sink.close();
  }
}
