import type { RunConfig } from '../vmm/config.js';
import { buildVm, describeStop, type BuiltVm } from '../vmm/vm-builder.js';
import { openSerialSink, feedStdin, type StdinFeed } from '../vmm/serial-console.js';
import type { VmStop } from '../cpu/vm.js';

/** Hooks for commands that run a guest and look at it (stat, record). */
export interface RunObserver {
  /** Called once the VM is built, before it runs. */
  attach(built: BuiltVm): void;
  /** Called after the VM stopped, before it is destroyed. */
  report(built: BuiltVm, stop: VmStop, wallMs: number): void;
}

export async function runCommand(config: RunConfig, opts: { verbose: boolean; observer?: RunObserver }): Promise<number> {
  const sink = openSerialSink(config.serial);
  let feed: StdinFeed | undefined;
  let built: BuiltVm | undefined;
  const onSignal = (sig: string) => () => built?.vm.requestStop({ kind: 'host-stop', reason: `stopped by ${sig}` });
  const onInt = onSignal('SIGINT');
  const onTerm = onSignal('SIGTERM');
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
        () => vmRef.requestStop({ kind: 'host-stop', reason: 'quit by the user (Ctrl-A x)' }),
        (msg) => process.stderr.write(`\r\ntsvmm: ${msg}\r\n`),
      );
    }
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    opts.observer?.attach(built);
    const t0 = performance.now();
    const stop: VmStop = await vm.run();
    const wallMs = performance.now() - t0;
    feed?.stop();
    feed = undefined;
    const { status, message } = describeStop(stop);
    if (message) process.stderr.write(`${process.stdout.isTTY ? '\r\n' : ''}tsvmm: ${message}\n`);
    opts.observer?.report(built, stop, wallMs);
    return status;
  } finally {
    feed?.stop();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    built?.devices.destroy();
    built?.vm.destroy();
    sink.close();
  }
}
