import { existsSync } from 'node:fs';
import { readInputFile } from './input-file.js';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants as osConstants } from 'node:os';
import { VmmError, EXIT } from '../util/errors.js';
import type { Vm, BackendName, VmStop } from '../cpu/vm.js';
import type { RunConfig } from './config.js';
import { chooseBackend, createBackendVm } from './backends.js';
import { detectKernelFormat, loadMultiboot, loadLinux, loadVmlinux, type BootSetup } from '../boot/index.js';
import { installLegacyDevices, type LegacyDevices } from '../devices/device-manager.js';
import type { SerialSink } from '../devices/legacy/serial-sink.js';
import { buildFirmwareTables, installFirmwareTables, type FirmwareTables } from '../devices/acpi/firmware-tables.js';
import { EMU_SIGNATURE, emuCpuid } from '../features/emu-cpu-model.js';
import { pcPlatform, smbiosIdentity } from './platform.js';
import type { DeviceFeature } from '../features/manifest.js';

export class BuildError extends VmmError {}

const here = dirname(fileURLToPath(import.meta.url));
/** The repo root as seen from dist/src/vmm/. */
const repoRoot = join(here, '..', '..', '..');

/** The guest `tsvmm run` boots when no --kernel is given. */
export function defaultGuestPath(): string {
  return join(repoRoot, 'guests', 'build', 'demo.elf');
}

/** A VM with its backend, devices and firmware tables, before any kernel is loaded. */
export interface AssembledVm {
  readonly vm: Vm;
  readonly backend: BackendName;
  /** Why this backend was chosen (for `auto`), shown with -v. */
  readonly backendReason: string;
  readonly devices: LegacyDevices;
  /** ACPI and MP tables written into the BIOS area. */
  readonly firmware: FirmwareTables;
  /** What the VMM put on the buses (not the backend's own interrupt chips), for the feature manifest. */
  readonly platformDevices: readonly DeviceFeature[];
}

export interface BuiltVm extends AssembledVm {
  readonly boot: BootSetup;
  readonly kernelPath: string;
}

/** A kernel or initrd: a regular file no bigger than the guest's RAM (it could not be loaded anyway). */
function readImage(path: string, what: string, memBytes: number): Uint8Array {
  return readInputFile(path, what, { bytes: memBytes, why: "the guest's RAM" });
}

function busEntries(vm: Vm): DeviceFeature[] {
  return [...vm.pio.list().map((d) => ({ bus: 'pio' as const, base: d.base, size: d.len, name: d.name })), ...vm.mmio.list().map((d) => ({ bus: 'mmio' as const, base: d.base, size: d.len, name: d.name }))];
}

/** Creates the backend VM and puts the platform on it: devices and firmware tables. Nothing runs yet. */
export async function assembleVm(config: RunConfig, serial: SerialSink): Promise<AssembledVm> {
  const choice = await chooseBackend(config.accel, config.pmu);
  const vm = await createBackendVm(choice.backend, config);
  try {
    const backendOwn = new Set(busEntries(vm).map((d) => `${d.bus}:${d.base}`));
    // The emulator has its own guest clock (virtual in --deterministic mode); KVM guests run on host time.
    const emuClock = (vm as { clock?: { nowNs(): number } }).clock;
    const guestClockNs = emuClock ? () => emuClock.nowNs() : undefined;
    const devices = installLegacyDevices(vm, { memBytes: config.memBytes, cpus: config.cpus, cmdline: config.cmdline, serial, ...(guestClockNs ? { guestClockNs } : {}) });
    const firmware = buildFirmwareTables(pcPlatform(choice.backend, config.cpus), mpCpuIdentity(choice.backend), smbiosIdentity(choice.backend));
    installFirmwareTables(vm.memory, firmware);
    const platformDevices = busEntries(vm).filter((d) => !backendOwn.has(`${d.bus}:${d.base}`));
    return { vm, backend: choice.backend, backendReason: choice.reason, devices, firmware, platformDevices };
  } catch (e) {
    vm.destroy();
    throw e;
  }
}

/** Assembles a VM from a validated config: backend, devices, kernel, boot state. Nothing runs yet. */
export async function buildVm(config: RunConfig, serial: SerialSink): Promise<BuiltVm> {
  const kernelPath = config.kernel ?? defaultGuestPath();
  if (config.kernel === undefined && !existsSync(kernelPath)) {
    throw new BuildError('no-default-guest', `the default guest ${kernelPath} is not built: run ./tsvmm (it builds the guests) or node scripts/build-guests.mjs`, { exitCode: EXIT.BAD_IMAGE });
  }
  const image = readImage(kernelPath, 'kernel', config.memBytes);
  const format = detectKernelFormat(image, kernelPath);
  const initrd = config.initrd === undefined ? undefined : { name: config.initrd, data: readImage(config.initrd, 'initrd', config.memBytes) };

  const a = await assembleVm(config, serial);
  const vm = a.vm;
  try {
    const linuxOptions = { fileName: kernelPath, cmdline: config.cmdline, memBytes: config.memBytes, acpiRsdpAddr: a.firmware.rsdpAddr, ...(initrd ? { initrd } : {}) };
    const boot =
      format === 'linux'
        ? loadLinux(vm.memory, image, { ...linuxOptions, decompress: config.kernelDecompress ?? 'host' })
        : format === 'vmlinux'
          ? loadVmlinux(vm.memory, image, linuxOptions)
          : loadMultiboot(vm.memory, image, { fileName: kernelPath, cmdline: config.cmdline, modules: initrd ? [initrd] : [], memBytes: config.memBytes });
    const bsp = vm.vcpus[0];
    if (!bsp) throw new BuildError('no-vcpu', 'the VM has no vCPU 0');
    bsp.setRegisters(boot.registers);
    return { ...a, boot, kernelPath };
  } catch (e) {
    a.devices.destroy();
    vm.destroy();
    throw e;
  }
}

/** 128 + the signal's number, as a shell reports a process a signal ended. */
export function signalExitStatus(signal: string): number {
  const n = (osConstants.signals as Record<string, number | undefined>)[signal];
  return 128 + (n ?? 0);
}

/** CPUID(1) signature and EDX for the MP table's processor entries: emu's model, or 0 (unknown) under KVM. */
function mpCpuIdentity(backend: BackendName): { cpuSignature: number; cpuFeatures: number } {
  if (backend !== 'emu') return { cpuSignature: 0, cpuFeatures: 0 };
  const out = new Int32Array(4);
  emuCpuid(1, 0, 0, 1, out);
  return { cpuSignature: EMU_SIGNATURE, cpuFeatures: out[3]! >>> 0 };
}

/** The process exit status and message for a stop, as the CLI reports it. */
export function describeStop(stop: VmStop): { status: number; message: string | undefined } {
  switch (stop.kind) {
    case 'debug-exit':
      return { status: ((stop.value << 1) | 1) & 0xff, message: undefined };
    case 'poweroff':
      return { status: EXIT.OK, message: undefined };
    case 'reset':
      return { status: EXIT.OK, message: `guest requested a reset (${stop.source}); tsvmm stops the VM instead of rebooting` };
    case 'shutdown':
      return { status: EXIT.GUEST_CRASH, message: `guest shut down abnormally on vCPU ${stop.vcpu} (triple fault): ${stop.detail}` };
    case 'hang':
      return { status: EXIT.GUEST_HANG, message: `guest hung: ${stop.detail}` };
    case 'internal-error':
      return { status: EXIT.INTERNAL, message: `guest hit an emulation failure on vCPU ${stop.vcpu}: ${stop.detail}` };
    case 'fail-entry':
      return { status: EXIT.FAIL_ENTRY, message: `the CPU refused to enter the guest on vCPU ${stop.vcpu}: ${stop.detail}` };
    case 'quit': {
      // 0 stays the guest's own power-off: a run someone ended says how, with a non-zero status
      // (a signal's 128 + N; 130 for any other quit, as Ctrl-C gives).
      const status = stop.signal !== undefined ? signalExitStatus(stop.signal) : EXIT.USER_QUIT;
      return { status, message: `${stop.reason} (exit status ${status})` };
    }
    case 'host-stop':
      return { status: EXIT.FAILURE, message: `${stop.reason} (exit status ${EXIT.FAILURE})` };
  }
}
