/**
 * Test-only harness: boots a multiboot guest ELF on an EmuVm with a minimal COM1
 * (THR/RBR, LSR) and the isa-debug-exit port, and collects serial output.
 */
import { createEmuVm, type EmuVm } from './emu-vm.js';
import { loadMultiboot } from '../../boot/multiboot.js';
import type { VmStop } from '../vm.js';

export interface GuestRunResult {
  stop: VmStop;
  output: string;
  status: number;
  vm: EmuVm;
  ms: number;
}

export async function runGuest(image: Uint8Array, opts: { fileName: string; cmdline?: string; cpus?: number; stdin?: string; memBytes?: number; timeoutMs?: number; deterministic?: boolean }): Promise<GuestRunResult> {
  const memBytes = opts.memBytes ?? 128 << 20;
  const vm = createEmuVm({ memBytes, cpus: opts.cpus ?? 1, deterministic: opts.deterministic ?? true });
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
