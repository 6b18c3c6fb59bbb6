import type { RunConfig } from '../vmm/config.js';
import { buildVm, describeStop, type BuiltVm } from '../vmm/vm-builder.js';
import { openSerialSink, feedStdin, type StdinFeed } from '../vmm/serial-console.js';
import type { VmStop } from '../cpu/vm.js';
import { unshownWarnings } from '../util/log.js';

/** Hooks for commands that run a guest and look at it (stat, record). */
export interface RunObserver {
  /** Called once the VM is built, before it runs. */
  attach(built: BuiltVm): void;
  /** Called after the VM stopped, before it is destroyed. */
  report(built: BuiltVm, stop: VmStop, wallMs: number): void;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
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

export async function runCommand(config: RunConfig, opts: { verbose: boolean; observer?: RunObserver }): Promise<number> {
  const sink = openSerialSink(config.serial);
  let feed: StdinFeed | undefined;
  let built: BuiltVm | undefined;
  // The first SIGINT/SIGTERM/SIGHUP stops the VM (the console and terminal are restored, the stop is
  // reported) and the process then ends by that signal; a second one ends it at once.
  const handlers = STOP_SIGNALS.map((sig) => {
    const handler = (): void => {
      process.off(sig, handler);
      exitSignal ??= sig;
      built?.vm.requestStop({ kind: 'host-stop', reason: `stopped by ${sig}`, signal: sig });
    };
    return [sig, handler] as const;
  });
  try {
    built = await buildVm(config, sink);
    const { vm, devices } = built;
    if (opts.verbose) {
      process.stderr.write(`tsvmm: backend ${built.backend} (${built.backendReason})\n`);
      process.stderr.write(`tsvmm: ${built.boot.summary}\n`);
    }
    if (config.serial.kind === 'stdio') {
      const vmRef = vm;
      feed = feedStdin(
        (bytes) => devices.uart.receive(bytes),
        () => vmRef.requestStop({ kind: 'host-stop', reason: 'quit by the user (Ctrl-A x)', userQuit: true }),
        (msg) => process.stderr.write(`\r\ntsvmm: ${msg}\r\n`),
      );
    }
    for (const [sig, handler] of handlers) process.on(sig, handler);
    opts.observer?.attach(built);
    const t0 = performance.now();
    const stop: VmStop = await vm.run();
    const wallMs = performance.now() - t0;
    feed?.stop();
    feed = undefined;
    const { status, message } = describeStop(stop);
    const unshown = unshownWarnings();
    if (unshown > 0) process.stderr.write(`tsvmm: ${unshown} further distinct warning${unshown === 1 ? ' was' : 's were'} not shown\n`);
    if (message) process.stderr.write(`${process.stdout.isTTY ? '\r\n' : ''}tsvmm: ${message}\n`);
    opts.observer?.report(built, stop, wallMs);
    return status;
  } finally {
    feed?.stop();
    for (const [sig, handler] of handlers) process.off(sig, handler);
    built?.devices.destroy();
    built?.vm.destroy();
    sink.close();
  }
}
