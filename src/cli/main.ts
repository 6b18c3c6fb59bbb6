import { parseArgs } from 'node:util';
import { VmmError, EXIT, errorMessage } from '../util/errors.js';
import { setLogLevel } from '../util/log.js';
import { ConfigError, DEFAULT_MEM, parseAccel, parseCpus, parseMem, parsePmu, parseSerial, parseSmallInt, type RunConfig } from '../vmm/config.js';
import { runCommand } from './run-command.js';
import { capsCommand } from './caps-command.js';
import { statCommand, recordCommand } from './profile-commands.js';

export const USAGE = `tsvmm: a virtual machine monitor in TypeScript (KVM or its own x86-64 emulator)

Usage:
  tsvmm run [--kernel FILE] [options]     boot a guest (the demo guest when no kernel is given)
  tsvmm caps [--accel kvm|emu|auto] [--cpus N] [--mem SIZE] [--json]
                                          what this host offers, and each feature's mode for such a VM
  tsvmm stat [--json] -- RUN-OPTIONS      run a guest on the emulator and count its events (like perf stat):
                                          instructions, branches, cycles, user/kernel split, exits, time
  tsvmm record [--every N] [-o FILE] -- RUN-OPTIONS
                                          sample the guest IP every N instructions (default 10000), print
                                          the top functions (ELF symbols) and write folded stacks (FILE,
                                          default tsvmm.folded) for flame-graph tools
  tsvmm help | --help                     this text
  tsvmm version | --version

Run options:
  --kernel FILE      multiboot v1 kernel (ELF) or Linux bzImage
  --initrd FILE      initrd (Linux) or first module (multiboot)
  --cmdline STRING   kernel command line
  --mem SIZE         guest RAM, e.g. 256M (default ${DEFAULT_MEM})
  --cpus N           number of vCPUs (default 1)
  --accel BACKEND    kvm, emu or auto (default auto: KVM when hardware-backed, else the emulator)
  --serial WHERE     COM1 goes to stdio (default), file:PATH or none
  --deterministic    emulator: time derives from the instruction count, so runs repeat exactly
  --pmu on|off|auto  guest performance counters (auto: what the backend offers; on: required,
                     so --accel auto picks a backend that has one)
  --pmu-version N    architectural PMU version 1-5 (default 4); --pmu-counters N general-purpose
                     counters (default 8); --pmu-fixed N fixed counters (default 3)
  --pmu-filter FILE  event filter JSON (allow/deny lists, fixed-counter bitmap, masked events;
                     schema in src/pmu/README.md)
  -v, --verbose      say which backend runs and why, and how the guest was loaded

On the console, Ctrl-A x quits, Ctrl-A h shows the escape keys.
Exit status: the guest's debug-exit status ((value << 1) | 1, always odd), 0 on guest poweroff or
reset, or an even error status with a one-line reason: 2 failure, 64 usage, 66 bad kernel/initrd,
68 backend unavailable, 70 emulation failure, 72 guest triple fault, 74 guest hang, 76 VM entry failure.
`;

function runConfigFrom(values: Record<string, string | boolean | undefined>, positionals: string[]): RunConfig {
  const str = (k: string): string | undefined => {
    const v = values[k];
    return typeof v === 'string' ? v : undefined;
  };
  if (positionals.length > 1) throw new ConfigError(`unexpected arguments: ${positionals.slice(1).join(' ')}`);
  const kernel = str('kernel') ?? positionals[0];
  return {
    kernel,
    initrd: str('initrd'),
    cmdline: str('cmdline') ?? '',
    memBytes: parseMem(str('mem') ?? DEFAULT_MEM),
    cpus: parseCpus(str('cpus') ?? '1'),
    accel: parseAccel(str('accel') ?? 'auto'),
    serial: parseSerial(str('serial') ?? 'stdio'),
    deterministic: values['deterministic'] === true,
    pmu: parsePmu(str('pmu') ?? 'auto'),
    pmuShape: {
      ...(str('pmu-version') !== undefined ? { version: parseSmallInt('--pmu-version', str('pmu-version')!, 0, 5) } : {}),
      ...(str('pmu-counters') !== undefined ? { gpCounters: parseSmallInt('--pmu-counters', str('pmu-counters')!, 0, 8) } : {}),
      ...(str('pmu-fixed') !== undefined ? { fixedCounters: parseSmallInt('--pmu-fixed', str('pmu-fixed')!, 0, 3) } : {}),
    },
    pmuFilter: str('pmu-filter'),
  };
}

const RUN_OPTIONS = {
  kernel: { type: 'string' },
  initrd: { type: 'string' },
  cmdline: { type: 'string' },
  mem: { type: 'string' },
  cpus: { type: 'string' },
  accel: { type: 'string' },
  serial: { type: 'string' },
  deterministic: { type: 'boolean' },
  pmu: { type: 'string' },
  'pmu-version': { type: 'string' },
  'pmu-counters': { type: 'string' },
  'pmu-fixed': { type: 'string' },
  'pmu-filter': { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  json: { type: 'boolean' },
} as const;

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
        process.stdout.write('tsvmm 0.1.0\n');
        return EXIT.OK;
      case 'run': {
        const { values, positionals } = parseArgs({ args: rest, options: RUN_OPTIONS, allowPositionals: true, strict: true });
        if (values.verbose) setLogLevel('info');
        return await runCommand(runConfigFrom(values, positionals), { verbose: values.verbose === true });
      }
      case 'stat':
      case 'record': {
        const sep = rest.indexOf('--');
        const own = sep < 0 ? [] : rest.slice(0, sep);
        const runArgs = sep < 0 ? rest : rest.slice(sep + 1);
        const { values, positionals } = parseArgs({ args: runArgs, options: RUN_OPTIONS, allowPositionals: true, strict: true });
        const config = runConfigFrom(values, positionals);
        if (command === 'stat') {
          const { values: sv } = parseArgs({ args: own, options: { json: { type: 'boolean' } }, strict: true });
          return await statCommand(config, { json: sv.json === true, verbose: values.verbose === true });
        }
        return await recordCommand(config, own, { verbose: values.verbose === true });
      }
      case 'caps': {
        const { values, positionals } = parseArgs({ args: rest, options: RUN_OPTIONS, allowPositionals: true, strict: true });
        return await capsCommand(runConfigFrom(values, positionals), { json: values.json === true });
      }
      default:
        throw new ConfigError(`unknown command "${command}": use run, caps, stat, record or help`);
    }
  } catch (e) {
    return reportError(e);
  }
}

export function reportError(e: unknown): number {
  if (e instanceof ConfigError || (e instanceof TypeError && 'code' in e && String((e as { code: unknown }).code).startsWith('ERR_PARSE_ARGS'))) {
    process.stderr.write(`tsvmm: ${errorMessage(e)}\n(see tsvmm help)\n`);
    return EXIT.USAGE;
  }
  if (e instanceof VmmError) {
    process.stderr.write(`tsvmm: ${e.message}\n`);
    return e.exitCode;
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
