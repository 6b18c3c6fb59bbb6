import { VmmError, EXIT, errorMessage } from '../util/errors.js';
import { setLogLevel } from '../util/log.js';
import { ConfigError, DEFAULT_MEM, parseAccel, parseCpus, parseDrive, parseKernelDecompress, parseEventChannels, parseNet, parseMem, parsePmu, parseSerial, parseSmallInt, type RunConfig } from '../vmm/config.js';
import { runCommand, type RunOptions } from './run-command.js';
export { takeExitSignal } from './run-command.js';
import { HelpRequested, parseOptions, type OptionSpecs, type ParsedOptions } from './options.js';
import { ControllerError } from '../vmm/controller-types.js';
import { hostErrorMessage } from '../vmm/controller-errors.js';
import { EXIT_STATUS_OF } from './exit-codes.js';
import { TSVMM_VERSION } from '../util/version.js';

export const USAGE = `tsvmm: a virtual machine monitor in TypeScript (KVM or its own x86-64 emulator)

Usage:
  tsvmm run [--kernel FILE] [options]     boot a guest (the demo guest when no kernel is given)
  tsvmm run --linux [options]             boot Linux to a busybox shell on the console (Debian 12 kernel
                                          and busybox-static, fetched and built into .cache/ on first use)
  tsvmm api --api-sock PATH [options]     serve the control API and wait to be configured and started
                                          (Firecracker-compatible REST over a Unix socket)
  tsvmm run --restore FILE [--mem-file FILE]
                                          carry on from a snapshot (refused, naming them, where this host
                                          cannot give the saved feature set)
  tsvmm run --incoming tcp:HOST:PORT|unix:PATH
                                          wait for a live migration and run the guest it brings
  tsvmm snapshot --api-sock PATH FILE [--mem-file FILE] [--diff] [--at-instruction N]
                                          snapshot a running tsvmm (run --api-sock): pause, save, resume;
                                          --diff: the pages written since its last snapshot; --at-instruction
                                          (emu): pause once exactly N instructions have retired
  tsvmm migrate --api-sock PATH --to tcp:HOST:PORT|unix:PATH
                                          live-migrate a running tsvmm's guest (pre-copy); it exits 0
  tsvmm caps [--accel kvm|emu|auto] [--cpus N] [--mem SIZE] [--json]
                                          what this host offers, and each feature's mode for such a VM;
                                          --json: the host's feature manifest (what it can give the VM)
  tsvmm caps --baseline A.json B.json ... the largest feature set every one of those hosts can give
                                          (a manifest for --cpu-model; rules in src/features/README.md)
  tsvmm stat [--json] -- RUN-OPTIONS      run a guest on the emulator and count its events (like perf stat):
                                          instructions, branches, cycles, user/kernel split, exits, time
  tsvmm record [--every N] [-o FILE] [--symbols FILE] -- RUN-OPTIONS
                                          sample the guest IP every N instructions (default 10000), print
                                          the top functions (the kernel's ELF symbols, a bzImage's kallsyms,
                                          or --symbols: an ELF or nm/System.map file) and write folded
                                          stacks (FILE, default tsvmm.folded) for flame-graph tools
  tsvmm device vhost-user-blk --socket PATH --image FILE [--ro] [--serial S]
                                          serve a raw image as a vhost-user virtio-blk back-end
                                          (for tsvmm --vhost-user-blk, QEMU's vhost-user-blk-pci, ...)
  tsvmm help | --help                     this text
  tsvmm version | --version

Run options:
  --kernel FILE      multiboot v1 kernel (ELF), Linux bzImage or x86-64 vmlinux (ELF64; PVH entry
                     when it has the Xen PVH note)
  --kernel-decompress host|guest
                     bzImage: tsvmm decompresses it (host, default: gzip, xz, zstd, lz4, lzma) or
                     the kernel's own decompressor runs in the guest
  --initrd FILE      initrd (Linux) or first module (multiboot)
  --cmdline STRING   kernel command line
  --mem SIZE         guest RAM, e.g. 256M (default ${DEFAULT_MEM})
  --cpus N           number of vCPUs (default 1)
  --accel BACKEND    kvm, emu or auto (default auto: KVM when hardware-backed, else the emulator)
  --serial WHERE     COM1 goes to stdio (default), file:PATH or none
  --drive PATH[,ro][,serial=S]
                     a virtio-blk disk on a raw image or a host block device (repeatable; Linux: vda,
                     vdb, ...); ro makes it read-only; flushes are fdatasync
  --net stream:listen=ADDR | stream:connect=ADDR | tap:NAME [,mac=M]
                     a virtio-net interface wired over a stream socket (a Unix socket path or
                     host:port) to another tsvmm VM (or QEMU's -netdev stream), or to a TAP
                     interface (created if missing: needs CAP_NET_ADMIN); repeatable. The link
                     is down while a stream has no peer; a connecting side keeps reconnecting
  --vhost-user-blk SOCKET
                     a virtio-blk disk served by a vhost-user back-end on that Unix socket
                     (qemu-storage-daemon, tsvmm device vhost-user-blk, ...); guest RAM becomes
                     shared memory (memfd) the back-end maps; repeatable
  --rng              a virtio-rng device fed from the host's CSPRNG
  --virtio-console WHERE
                     a virtio console (Linux hvc0); its output goes to stdio, file:PATH or none
  --event-channels kernel|in-process
                     kvm: virtio notifications and interrupts through KVM_IOEVENTFD/KVM_IRQFD (kernel,
                     the default) or through tsvmm's exit path (in-process, for comparison)
  --deterministic    emulator: time derives from the instruction count, so runs repeat exactly
  --la57             emulator: offer 5-level paging (CPUID LA57): Linux booted with
                     --kernel-decompress guest then runs with 5 levels; code beyond +-2^53 runs interpreted
  --pmu on|off|auto  guest performance counters (auto: what the backend offers; on: required,
                     so --accel auto picks a backend that has one)
  --pmu-version N    architectural PMU version 1-5 (default 4); --pmu-counters N general-purpose
                     counters (default 8); --pmu-fixed N fixed counters (default 3)
  --pmu-filter FILE  event filter JSON (allow/deny lists, fixed-counter bitmap, masked events;
                     schema in src/pmu/README.md)
  --cpu-model FILE   give the guest the CPU features of a manifest (caps --json or --baseline):
                     CPUID and PMU; refused, naming them, if this host cannot give them all
  -v, --verbose      say which backend runs and why, and how the guest was loaded
  --api-sock PATH    (run) serve the control API on this Unix socket while the VM runs
                     (src/api/README.md)
  --gdb tcp:HOST:PORT|unix:PATH
                     (run) serve gdb's remote protocol: target remote HOST:PORT;
                     breakpoints, watchpoints, stepping, vCPUs as threads; on kvm where
                     KVM_SET_GUEST_DEBUG works (src/debug/gdb/README.md); reverse-stepi and
                     reverse-continue need --accel emu --deterministic (not implied: it
                     changes the guest's clock), elsewhere gdb is told why
  --gdb-wait         (run) start paused until gdb attaches and continues the guest

On the console, Ctrl-A x quits, Ctrl-A i (or SIGUSR1) prints the machine's state, Ctrl-A h shows the
escape keys.
Exit status: the guest's debug-exit status ((value << 1) | 1, always odd), 0 on guest poweroff or
reset, or an even error status with a one-line reason: 2 failure, 64 usage, 66 bad kernel/initrd,
68 backend unavailable, 70 emulation failure, 72 guest triple fault, 74 guest hang, 76 VM entry failure,
130 Ctrl-A x. SIGTERM, SIGINT and SIGHUP stop the guest and end tsvmm by that signal (status 128 + N).
`;

function runConfigFrom(values: Record<string, string | boolean | undefined>, positionals: readonly string[], lists: Record<string, string[]> = {}): RunConfig {
  const str = (k: string): string | undefined => {
    const v = values[k];
    return typeof v === 'string' ? v : undefined;
  };
  const kernel = str('kernel') ?? positionals[0];
  if (str('kernel') !== undefined && positionals[0] !== undefined) throw new ConfigError(`two kernels given: --kernel ${str('kernel')} and "${positionals[0]}"`);
  return {
    kernel,
    initrd: str('initrd'),
    cmdline: str('cmdline') ?? '',
    memBytes: parseMem(str('mem') ?? DEFAULT_MEM),
    cpus: parseCpus(str('cpus') ?? '1'),
    accel: parseAccel(str('accel') ?? 'auto'),
    serial: parseSerial(str('serial') ?? 'stdio'),
    deterministic: values['deterministic'] === true,
    ...(values['la57'] === true ? { la57: true } : {}),
    pmu: parsePmu(str('pmu') ?? 'auto'),
    pmuShape: {
      ...(str('pmu-version') !== undefined ? { version: parseSmallInt('--pmu-version', str('pmu-version')!, 0, 5) } : {}),
      ...(str('pmu-counters') !== undefined ? { gpCounters: parseSmallInt('--pmu-counters', str('pmu-counters')!, 0, 8) } : {}),
      ...(str('pmu-fixed') !== undefined ? { fixedCounters: parseSmallInt('--pmu-fixed', str('pmu-fixed')!, 0, 3) } : {}),
    },
    pmuFilter: str('pmu-filter'),
    ...(str('cpu-model') !== undefined ? { cpuModel: str('cpu-model')! } : {}),
    ...(str('kernel-decompress') !== undefined ? { kernelDecompress: parseKernelDecompress(str('kernel-decompress')!) } : {}),
    ...(lists['drive'] ? { drives: lists['drive'].map((d, i) => parseDrive(d, i)) } : {}),
    ...(lists['net'] ? { nets: lists['net'].map((n, i) => parseNet(n, i)) } : {}),
    ...(lists['vhost-user-blk'] ? { vhostUserBlks: lists['vhost-user-blk'] } : {}),
    ...(values['rng'] === true ? { rng: true } : {}),
    ...(str('virtio-console') !== undefined ? { virtioConsole: parseSerial(str('virtio-console')!, '--virtio-console') } : {}),
    ...(str('event-channels') !== undefined ? { eventChannels: parseEventChannels(str('event-channels')!) } : {}),
  };
}

/**
 * --linux: tsvmm's ready-made Linux guest (Debian 12 kernel, busybox initramfs), fetched and built
 * into .cache/ on first use with progress on stderr; --cmdline adds to its command line.
 */
async function runConfigWithLinux(values: Record<string, string | boolean | undefined>, positionals: readonly string[], lists: Record<string, string[]> = {}): Promise<RunConfig> {
  const config = runConfigFrom(values, positionals, lists);
  if (values['linux'] !== true) return config;
  if (config.kernel !== undefined || config.initrd !== undefined) throw new ConfigError('--linux boots tsvmm\'s own Linux guest: leave out --kernel and --initrd (or boot your kernel without --linux)');
  const { ensureLinuxGuest } = await import('../vmm/linux-guest.js');
  const g = ensureLinuxGuest((m) => process.stderr.write(`tsvmm: ${m}\n`));
  return { ...config, kernel: g.kernel, initrd: g.initrd, cmdline: config.cmdline ? `${g.cmdline} ${config.cmdline}` : g.cmdline };
}

/** The options that shape a VM (what `caps` describes). */
const VM_OPTIONS = {
  mem: { type: 'string', value: 'SIZE' },
  cpus: { type: 'string', value: 'N' },
  accel: { type: 'string', value: 'kvm|emu|auto' },
  deterministic: { type: 'boolean' },
  la57: { type: 'boolean' },
  pmu: { type: 'string', value: 'on|off|auto' },
  'pmu-version': { type: 'string', value: 'N' },
  'pmu-counters': { type: 'string', value: 'N' },
  'pmu-fixed': { type: 'string', value: 'N' },
  'pmu-filter': { type: 'string', value: 'FILE' },
  'cpu-model': { type: 'string', value: 'FILE' },
  verbose: { type: 'boolean', short: 'v' },
} as const satisfies OptionSpecs;

/** Everything `run` takes; stat and record take the same after their own options. */
export const RUN_OPTIONS = {
  kernel: { type: 'string', value: 'FILE' },
  initrd: { type: 'string', value: 'FILE' },
  cmdline: { type: 'string', value: 'STRING' },
  serial: { type: 'string', value: 'stdio|file:PATH|none' },
  'kernel-decompress': { type: 'string', value: 'host|guest' },
  linux: { type: 'boolean' },
  drive: { type: 'string', value: 'PATH[,ro][,serial=S]', repeatable: true },
  net: { type: 'string', value: 'stream:listen=ADDR|stream:connect=ADDR|tap:NAME[,mac=M]', repeatable: true },
  'vhost-user-blk': { type: 'string', value: 'SOCKET', repeatable: true },
  rng: { type: 'boolean' },
  'virtio-console': { type: 'string', value: 'stdio|file:PATH|none' },
  'event-channels': { type: 'string', value: 'kernel|in-process' },
  ...VM_OPTIONS,
} as const satisfies OptionSpecs;

/** `run` itself also serves the API and the gdb stub on request (stat and record do not). */
const RUN_COMMAND_OPTIONS = {
  ...RUN_OPTIONS,
  'api-sock': { type: 'string', value: 'PATH' },
  gdb: { type: 'string', value: 'tcp:HOST:PORT|unix:PATH' },
  'gdb-wait': { type: 'boolean' },
  restore: { type: 'string', value: 'FILE' },
  'mem-file': { type: 'string', value: 'FILE' },
  incoming: { type: 'string', value: 'tcp:HOST:PORT|unix:PATH' },
} as const satisfies OptionSpecs;

/** `snapshot` and `migrate` talk to a running tsvmm through its API socket. */
const SNAPSHOT_OPTIONS = { 'api-sock': { type: 'string', value: 'PATH' }, 'mem-file': { type: 'string', value: 'FILE' }, diff: { type: 'boolean' }, 'at-instruction': { type: 'string', value: 'N' } } as const satisfies OptionSpecs;
const DEVICE_OPTIONS = { socket: { type: 'string', value: 'PATH' }, image: { type: 'string', value: 'FILE' }, ro: { type: 'boolean' }, serial: { type: 'string', value: 'S' } } as const satisfies OptionSpecs;
const MIGRATE_OPTIONS = { 'api-sock': { type: 'string', value: 'PATH' }, to: { type: 'string', value: 'tcp:HOST:PORT|unix:PATH' } } as const satisfies OptionSpecs;

/** --gdb and --gdb-wait as run options. */
async function gdbOption(values: Record<string, string | boolean | undefined>): Promise<RunOptions['gdb']> {
  const where = values['gdb'];
  if (typeof where !== 'string') {
    if (values['gdb-wait'] === true) throw new ConfigError('--gdb-wait needs --gdb tcp:HOST:PORT or unix:PATH');
    return undefined;
  }
  const { parseGdbAddress } = await import('../debug/gdb/gdb-server.js');
  try {
    return { address: parseGdbAddress(where), wait: values['gdb-wait'] === true };
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
}

/** `api`: the VM's shape from the command line; the kernel and everything else from the API. */
const API_OPTIONS = { ...VM_OPTIONS, serial: RUN_OPTIONS.serial, 'api-sock': { type: 'string', value: 'PATH' } } as const satisfies OptionSpecs;

const CAPS_OPTIONS = { ...VM_OPTIONS, json: { type: 'boolean' }, baseline: { type: 'boolean' } } as const satisfies OptionSpecs;
const STAT_OPTIONS = { json: { type: 'boolean' } } as const satisfies OptionSpecs;

/**
 * `stat`/`record` take their own options, then `--` and run options; without `--` both kinds may
 * be mixed (each word goes to whichever set knows it).
 */
function splitProfileArgs(command: string, rest: readonly string[], own: OptionSpecs): { own: ParsedOptions; run: ParsedOptions } {
  const sep = rest.indexOf('--');
  if (sep >= 0) return { own: parseOptions(command, rest.slice(0, sep), own, 0), run: parseOptions(command, rest.slice(sep + 1), RUN_OPTIONS, 1, 'kernel', false) };
  const both = parseOptions(command, rest, { ...RUN_OPTIONS, ...own }, 1, 'kernel');
  const pick = (specs: OptionSpecs): Record<string, string | boolean | undefined> => Object.fromEntries(Object.entries(both.values).filter(([k]) => Object.hasOwn(specs, k)));
  return { own: { values: pick(own), positionals: [], lists: {} }, run: { values: pick(RUN_OPTIONS), positionals: both.positionals, lists: both.lists } };
}

/** Runs the CLI; resolves with the process exit status. Never throws. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return command === undefined ? EXIT.USAGE : EXIT.OK;
      case 'version':
      case '--version':
        process.stdout.write(`tsvmm ${TSVMM_VERSION}\n`);
        return EXIT.OK;
      case 'run': {
        const { values, positionals, lists } = parseOptions('run', rest, RUN_COMMAND_OPTIONS, 1, 'kernel');
        if (values['verbose']) setLogLevel('info');
        const apiSocket = typeof values['api-sock'] === 'string' ? values['api-sock'] : undefined;
        const restore = typeof values['restore'] === 'string' ? values['restore'] : undefined;
        const incoming = typeof values['incoming'] === 'string' ? values['incoming'] : undefined;
        const memFile = typeof values['mem-file'] === 'string' ? values['mem-file'] : undefined;
        if (restore !== undefined || incoming !== undefined) {
          if (restore !== undefined && incoming !== undefined) throw new ConfigError('--restore and --incoming both bring a VM: give one');
          for (const k of ['kernel', 'initrd', 'linux', 'cmdline', 'mem', 'cpus', 'pmu', 'pmu-version', 'pmu-counters', 'pmu-fixed', 'pmu-filter', 'cpu-model', 'deterministic', 'la57']) {
            if (values[k] !== undefined) throw new ConfigError(`--${k} does not go with --${restore !== undefined ? 'restore' : 'incoming'}: the VM comes as it was saved (its machine and feature set)`);
          }
          if (positionals.length) throw new ConfigError(`a kernel does not go with --${restore !== undefined ? 'restore' : 'incoming'}`);
        }
        if (memFile !== undefined && restore === undefined) throw new ConfigError('--mem-file goes with --restore (the memory file of that snapshot)');
        const gdb = await gdbOption(values);
        return await runCommand(await runConfigWithLinux(values, positionals, lists), {
          verbose: values['verbose'] === true,
          ...(apiSocket !== undefined ? { apiSocket } : {}),
          ...(gdb !== undefined ? { gdb } : {}),
          ...(restore !== undefined ? { restore: { path: restore, ...(memFile !== undefined ? { memFile } : {}) } } : {}),
          ...(incoming !== undefined ? { incoming } : {}),
        });
      }
      case 'snapshot': {
        const { values, positionals } = parseOptions('snapshot', rest, SNAPSHOT_OPTIONS, 1, 'FILE');
        const sock = values['api-sock'];
        if (typeof sock !== 'string') throw new ConfigError('tsvmm snapshot needs --api-sock PATH (the API socket of the running tsvmm: run --api-sock)');
        if (positionals[0] === undefined) throw new ConfigError('tsvmm snapshot needs the FILE to write the snapshot to');
        const atText = values['at-instruction'];
        const at = typeof atText === 'string' ? Number(atText) : undefined;
        if (at !== undefined && (!/^[0-9]+$/.test(atText as string) || !Number.isSafeInteger(at))) throw new ConfigError(`--at-instruction needs a whole instruction count, got '${String(atText)}'`);
        const { snapshotCommand } = await import('./client-commands.js');
        return await snapshotCommand(sock, positionals[0], { ...(typeof values['mem-file'] === 'string' ? { memFile: values['mem-file'] } : {}), diff: values['diff'] === true, ...(at !== undefined ? { atInstruction: at } : {}) });
      }
      case 'migrate': {
        const { values } = parseOptions('migrate', rest, MIGRATE_OPTIONS, 0);
        const sock = values['api-sock'];
        const to = values['to'];
        if (typeof sock !== 'string' || typeof to !== 'string') throw new ConfigError('tsvmm migrate needs --api-sock PATH (the running tsvmm) and --to tcp:HOST:PORT|unix:PATH (where tsvmm run --incoming waits)');
        const { migrateCommand } = await import('./client-commands.js');
        return await migrateCommand(sock, to);
      }
      case 'api': {
        const { values, positionals } = parseOptions('api', rest, API_OPTIONS, 0);
        if (values['verbose']) setLogLevel('info');
        const apiSocket = values['api-sock'];
        if (typeof apiSocket !== 'string') throw new ConfigError('tsvmm api needs --api-sock PATH (the Unix socket to serve the API on)');
        return await runCommand(runConfigFrom(values, positionals), { verbose: values['verbose'] === true, apiSocket, waitForApi: true });
      }
      case 'stat': {
        const { own, run } = splitProfileArgs('stat', rest, STAT_OPTIONS);
        if (run.values['verbose']) setLogLevel('info');
        const { statCommand } = await import('./profile-commands.js');
        return await statCommand(await runConfigWithLinux(run.values, run.positionals, run.lists), { json: own.values['json'] === true, verbose: run.values['verbose'] === true });
      }
      case 'record': {
        const { recordCommand, recordOptions, RECORD_OPTIONS } = await import('./profile-commands.js');
        const { own, run } = splitProfileArgs('record', rest, RECORD_OPTIONS);
        if (run.values['verbose']) setLogLevel('info');
        return await recordCommand(await runConfigWithLinux(run.values, run.positionals, run.lists), recordOptions(own.values), { verbose: run.values['verbose'] === true });
      }
      case 'device': {
        const kind = rest[0];
        if (kind !== 'vhost-user-blk') throw new ConfigError(`tsvmm device needs a kind: vhost-user-blk (got ${kind === undefined ? 'nothing' : `"${kind}"`})`);
        const { values } = parseOptions('device vhost-user-blk', rest.slice(1), DEVICE_OPTIONS, 0);
        const socket = values['socket'];
        const image = values['image'];
        if (typeof socket !== 'string' || typeof image !== 'string') throw new ConfigError('tsvmm device vhost-user-blk needs --socket PATH (where to listen) and --image FILE (a raw disk image)');
        const serial = typeof values['serial'] === 'string' ? values['serial'] : undefined;
        const { serveVhostUserBlk } = await import('../vmm/vhost-user-backend.js');
        serveVhostUserBlk({ socket, image, readOnly: values['ro'] === true, ...(serial !== undefined ? { serial } : {}) });
        return EXIT.OK;
      }
      case 'caps': {
        const baseline = rest.includes('--baseline');
        const { values, positionals } = parseOptions('caps', rest, CAPS_OPTIONS, baseline ? Infinity : 0);
        const { capsCommand } = await import('./caps-command.js');
        if (baseline) return await capsCommand(runConfigFrom({}, []), { json: true, baseline: positionals });
        return await capsCommand(runConfigFrom(values, positionals), { json: values['json'] === true });
      }
      default:
        throw new ConfigError(`unknown command "${command}": use run, api, snapshot, migrate, device, caps, stat, record or help`);
    }
  } catch (e) {
    // `tsvmm run --help` asks for the usage, as every other tool's `CMD --help` does.
    if (e instanceof HelpRequested) {
      process.stdout.write(USAGE);
      return EXIT.OK;
    }
    return reportError(e);
  }
}

export function reportError(e: unknown): number {
  if (e instanceof ConfigError) {
    process.stderr.write(`tsvmm: ${errorMessage(e)}\n`);
    return EXIT.USAGE;
  }
  if (e instanceof ControllerError) {
    process.stderr.write(`tsvmm: ${e.message}${e.code === 'internal' ? ' (set TSVMM_DEBUG=1 for the stack)' : ''}\n`);
    if (e.code === 'internal' && process.env['TSVMM_DEBUG']) process.stderr.write(`${((e.cause as Error | undefined) ?? e).stack ?? ''}\n`);
    return EXIT_STATUS_OF[e.code];
  }
  if (e instanceof VmmError) {
    process.stderr.write(`tsvmm: ${e.message}\n`);
    return e.exitCode;
  }
  const host = hostErrorMessage(e);
  if (host !== undefined) {
    process.stderr.write(`tsvmm: ${host}\n`);
    return EXIT.FAILURE;
  }
  if (e instanceof RangeError) {
    process.stderr.write(`tsvmm: ${e.message}\n`);
    return EXIT.FAILURE;
  }
  // Unexpected: still one line, plus a hint where the stack can be seen.
  process.stderr.write(`tsvmm: internal error: ${errorMessage(e)} (set TSVMM_DEBUG=1 for the stack)\n`);
  if (process.env['TSVMM_DEBUG']) process.stderr.write(`${(e as Error).stack ?? ''}\n`);
  return EXIT.INTERNAL;
}
