// Runs the Linux guest (Debian kernel + busybox initramfs, deterministic) for exactly N instructions on emu in this
// process, under whatever TSVMM_JIT this process has, and prints the machine's state there as one JSON line:
// hashes of guest RAM and of the saved VM state (registers, chips, PMU, clock) and the serial output so far.
// linux-jit-three-way.test.ts runs it under each JIT mode and compares.
//
//   node dist/tests/linux/jit-state-probe.js INSTRUCTIONS
import { createHash } from 'node:crypto';
import { buildVm } from '../../src/vmm/vm-builder.js';
import type { EmuVm } from '../../src/cpu/emu/emu-vm.js';
import { CACHE_DIR, KERNEL_DIR, LINUX_GUEST_CMDLINE } from '../../src/vmm/linux-guest.js';
import { envJitMode } from '../../src/cpu/emu/jit/jit-mode.js';

export interface JitStateReport {
  jit: string;
  instructions: number;
  ram: string;
  state: string;
  serial: string;
  stop?: string;
}

async function main(): Promise<void> {
  const n = Number(process.argv[2]);
  if (!Number.isInteger(n) || n < 1) {
    console.error('jit-state-probe: expected a number of instructions, at least 1');
    process.exit(2);
  }
  let serial = '';
  const sink = {
    write(b: Uint8Array): void {
      serial += Buffer.from(b).toString('latin1');
    },
    close(): void {},
  };
  const built = await buildVm(
    { kernel: `${KERNEL_DIR}/vmlinuz`, initrd: `${CACHE_DIR}/initramfs.cpio`, cmdline: LINUX_GUEST_CMDLINE, memBytes: 256 << 20, cpus: 1, accel: 'emu', serial: { kind: 'none' }, deterministic: true, pmu: 'off', pmuShape: {}, pmuFilter: undefined, kernelDecompress: 'host' },
    sink,
  );
  const vm = built.vm as EmuVm;
  const run = vm.run();
  let stop: string | undefined;
  await Promise.race([vm.pauseAt(n), run.then((s) => void (stop = s.kind))]);
  const ram = createHash('sha256');
  for (const r of vm.memory.regions) ram.update(r.bytes);
  const state = createHash('sha256').update(JSON.stringify(vm.saveState(), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v))).digest('hex');
  const report: JitStateReport = { jit: envJitMode(), instructions: vm.instructionsRetired, ram: ram.digest('hex').slice(0, 16), state: state.slice(0, 16), serial, ...(stop !== undefined ? { stop } : {}) };
  console.log(JSON.stringify(report));
  process.exit(0);
}

await main();
