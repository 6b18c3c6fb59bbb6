import type { RunConfig } from '../vmm/config.js';
import { buildVm, describeStop } from '../vmm/vm-builder.js';
import { openSerialSink, feedStdin, type StdinFeed } from '../vmm/serial-console.js';
import type { VmStop } from '../cpu/vm.js';

export async function runCommand(config: RunConfig, opts: { verbose: boolean }): Promise<number> {
  const sink = openSerialSink(config.serial);
  let feed: StdinFeed | undefined;
  const onSignal = (sig: string) => () => built?.vm.requestStop({ kind: 'host-stop', reason: `stopped by ${sig}` });
  const onInt = onSignal('SIGINT');
  const onTerm = onSignal('SIGTERM');
  let built: Awaited<ReturnType<typeof buildVm>> | undefined;
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
    const stop: VmStop = await vm.run();
    const { status, message } = describeStop(stop);
    if (message) process.stderr.write(`${process.stdout.isTTY ? '\r\n' : ''}tsvmm: ${message}\n`);
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
