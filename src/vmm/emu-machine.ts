/**
 * A whole emulated PC from bytes, with no Node: the emu backend, the platform and a loaded kernel.
 * This is what a browser Worker builds (src/web/), and what a library user without files can call.
 */
import { createEmuVm, type EmuVm } from '../cpu/emu/emu-vm.js';
import type { HostScheduler } from '../cpu/emu/host-scheduler.js';
import type { BootSetup } from '../boot/index.js';
import type { SerialSink } from '../devices/legacy/serial-sink.js';
import { resolvePmuConfig } from '../pmu/index.js';
import { assemblePlatform, checkImageSize, loadKernel, type AssembledVm, type ImageBytes, type MachineSpec } from './assemble.js';

export interface EmuMachineOptions extends MachineSpec {
  readonly kernel: ImageBytes;
  readonly initrd?: ImageBytes;
  /** COM1's output. */
  readonly serial: SerialSink;
  /** Virtual time from the instruction count (default false: real time). */
  readonly deterministic?: boolean;
  /** The emulator's exact architectural PMU (default true, as `tsvmm run --accel emu`). */
  readonly pmu?: boolean;
  /** How the run loop yields (default: the cheapest this host has). */
  readonly scheduler?: HostScheduler;
}

export interface EmuMachine extends AssembledVm {
  readonly vm: EmuVm;
  readonly boot: BootSetup;
}

export function createEmuMachine(o: EmuMachineOptions): EmuMachine {
  checkImageSize(o.kernel, 'kernel', o.memBytes);
  if (o.initrd) checkImageSize(o.initrd, 'initrd', o.memBytes);
  const vm = createEmuVm({
    memBytes: o.memBytes,
    cpus: o.cpus,
    deterministic: o.deterministic === true,
    ...(o.pmu === false ? {} : { pmu: { config: resolvePmuConfig({}), filter: null } }),
    ...(o.scheduler ? { scheduler: o.scheduler } : {}),
  });
  const a = assemblePlatform(vm, 'emu', 'the emulator (the only backend in a browser)', o, o.serial);
  try {
    const boot = loadKernel(a, o, o.kernel, o.initrd);
    return { ...a, vm, boot };
  } catch (e) {
    a.devices.destroy();
    vm.destroy();
    throw e;
  }
}
