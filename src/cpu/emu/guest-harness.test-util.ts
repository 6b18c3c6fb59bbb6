/**
 * Test-only harness: boots a multiboot guest ELF on an EmuVm with a minimal COM1
 * (THR/RBR, LSR) and the isa-debug-exit port, and collects serial output.
 */
import { createEmuVm, type EmuVm } from './emu-vm.js';
import { loadMultiboot } from '../../boot/multiboot.js';
import type { VmStop } from '../vm.js';
import { NO_PMU, resolvePmuConfig, type PmuConfig, type PmuEventFilter } from '../../pmu/index.js';

export interface GuestRunResult {
  stop: VmStop;
  output: string;
  status: number;
  vm: EmuVm;
  ms: number;
}

export interface GuestRunOptions {
  fileName: string;
  cmdline?: string;
  cpus?: number;
  stdin?: string;
  memBytes?: number;
  timeoutMs?: number;
  deterministic?: boolean;
  pmu?: { config: PmuConfig; filter?: PmuEventFilter | null };
  /** 5-level paging offered (--la57). */
  la57?: boolean;
}

/** PMU options from a manifest run's tsvmmArgs (--pmu on|off, --pmu-version/-counters/-fixed); the filter is loaded by the caller. */
export function pmuFromArgs(args: readonly string[]): PmuConfig | undefined {
  const at = (flag: string): string | undefined => {
    const k = args.indexOf(flag);
    return k >= 0 ? args[k + 1] : undefined;
  };
  const mode = at('--pmu');
  if (mode === undefined) return undefined;
  if (mode === 'off') return NO_PMU;
  const input: Record<string, unknown> = {};
  const v = at('--pmu-version');
  const g = at('--pmu-counters');
  const f = at('--pmu-fixed');
  if (v !== undefined) input['version'] = Number(v);
  if (g !== undefined) input['gpCounters'] = Number(g);
  if (f !== undefined) input['fixedCounters'] = Number(f);
  return resolvePmuConfig(input);
}

export async function runGuest(image: Uint8Array, opts: GuestRunOptions): Promise<GuestRunResult> {
  const memBytes = opts.memBytes ?? 128 << 20;
  const vm = createEmuVm({ memBytes, cpus: opts.cpus ?? 1, deterministic: opts.deterministic ?? true, ...(opts.pmu !== undefined ? { pmu: opts.pmu } : {}), ...(opts.la57 === true ? { la57: true } : {}) });
  const setup = loadMultiboot(vm.memory, image, { fileName: opts.fileName, cmdline: opts.cmdline ?? '', modules: [], memBytes });
  vm.cpus[0]!.setRegisters(setup.registers);
  let out = '';
  const input = [...(opts.stdin ?? '')].map((ch) => ch.charCodeAt(0));
  let lcr = 0;
  vm.pio.register(0x3f8, 8, {
    read: (off, d) => {
      if (off === 5) d[0] = 0x60 | (input.length > 0 ? 1 : 0);
      else if (off === 0 && (lcr & 0x80) === 0) d[0] = input.shift() ?? 0;
      else if (off === 3) d[0] = lcr;
      else d[0] = 0;
    },
    write: (off, d) => {
      if (off === 0 && (lcr & 0x80) === 0) out += String.fromCharCode(d[0]!);
      else if (off === 3) lcr = d[0]!;
    },
  }, 'com1');
  vm.pio.register(0xf4, 4, { read: (_o, d) => d.fill(0), write: (_o, d) => vm.requestStop({ kind: 'debug-exit', value: d[0]! }) }, 'debug-exit');
  const t0 = performance.now();
  const timer = setTimeout(() => vm.requestStop({ kind: 'host-stop', reason: 'timeout' }), opts.timeoutMs ?? 30000);
  const stop = await vm.run();
  clearTimeout(timer);
  const status = stop.kind === 'debug-exit' ? (stop.value << 1) | 1 : -1;
  return { stop, output: out, status, vm, ms: performance.now() - t0 };
}
