/**
 * The machine around a backend VM, from bytes: the PC platform (legacy devices, ACPI/MP/SMBIOS tables)
 * and a kernel loaded into guest RAM. No files, no Node: the CLI's builder reads files and passes their
 * bytes here, and a browser passes what it fetched or what the user dropped on the page.
 */
import type { Vm, BackendName } from '../cpu/vm.js';
import { VmmError, EXIT } from '../util/errors.js';
import { detectKernelFormat, linuxRngSeed, loadMultiboot, loadLinux, loadVmlinux, type BootSetup, type LinuxOptions } from '../boot/index.js';
import { installLegacyDevices, type LegacyDevices } from '../devices/device-manager.js';
import type { SerialSink } from '../devices/legacy/serial-sink.js';
import type { RtcTimers } from '../devices/legacy/cmos-rtc.js';
import { buildFirmwareTables, installFirmwareTables, type FirmwareTables } from '../devices/acpi/firmware-tables.js';
import { EMU_SIGNATURE, emuCpuid } from '../features/emu-cpu-model.js';
import { pcPlatform, smbiosIdentity } from './platform.js';
import type { DeviceFeature } from '../features/manifest.js';

export class BuildError extends VmmError {}

/** A kernel or initrd image: its name (for messages) and its bytes. */
export interface ImageBytes {
  readonly name: string;
  readonly data: Uint8Array;
}

/** What the platform and the loaders need to know about the machine. */
export interface MachineSpec {
  readonly memBytes: number;
  readonly cpus: number;
  readonly cmdline: string;
  /** Who decompresses a bzImage: tsvmm ('host', the default) or the kernel's own decompressor ('guest'). */
  readonly kernelDecompress?: 'host' | 'guest';
}

/** Where the RTC of a --deterministic emu VM starts: 2026-01-01 00:00:00 UTC. */
export const DETERMINISTIC_RTC_BASE_MS = Date.UTC(2026, 0, 1);

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

function busEntries(vm: Vm): DeviceFeature[] {
  return [...vm.pio.list().map((d) => ({ bus: 'pio' as const, base: d.base, size: d.len, name: d.name })), ...vm.mmio.list().map((d) => ({ bus: 'mmio' as const, base: d.base, size: d.len, name: d.name }))];
}

/** Puts the platform on a freshly created backend VM: devices and firmware tables. Nothing runs yet; destroys `vm` on failure. */
export function assemblePlatform(vm: Vm, backend: BackendName, backendReason: string, spec: MachineSpec, serial: SerialSink): AssembledVm {
  try {
    const backendOwn = new Set(busEntries(vm).map((d) => `${d.bus}:${d.base}`));
    // The emulator has its own guest clock (virtual in --deterministic mode); KVM guests run on host time.
    const emuClock = (vm as { clock?: { nowNs(): number; readonly deterministic?: boolean } }).clock;
    const guestClockNs = emuClock ? () => emuClock.nowNs() : undefined;
    // A deterministic run must not read the host's date either: its RTC starts at a fixed instant and
    // runs on the virtual clock, as QEMU's -rtc base=...,clock=vm.
    const rtcClock = emuClock?.deterministic === true ? () => DETERMINISTIC_RTC_BASE_MS + emuClock.nowNs() / 1e6 : undefined;
    // Its interrupts (periodic, alarm, update-ended) then come from timers on that clock, not the host's.
    const rtcTimers = rtcClock ? (vm as { chips?: { timers?: RtcTimers } }).chips?.timers : undefined;
    const devices = installLegacyDevices(vm, { memBytes: spec.memBytes, cpus: spec.cpus, cmdline: spec.cmdline, serial, ...(guestClockNs ? { guestClockNs } : {}), ...(rtcClock ? { clock: rtcClock } : {}), ...(rtcTimers ? { rtcTimers } : {}) });
    const firmware = buildFirmwareTables(pcPlatform(backend, spec.cpus), mpCpuIdentity(backend), smbiosIdentity(backend));
    installFirmwareTables(vm.memory, firmware);
    const platformDevices = busEntries(vm).filter((d) => !backendOwn.has(`${d.bus}:${d.base}`));
    return { vm, backend, backendReason, devices, firmware, platformDevices };
  } catch (e) {
    vm.destroy();
    throw e;
  }
}

/** Loads a kernel (multiboot ELF, bzImage or vmlinux, told apart by content) and sets vCPU 0's boot registers. */
export function loadKernel(a: AssembledVm, spec: MachineSpec, kernel: ImageBytes, initrd?: ImageBytes, host: Pick<LinuxOptions, 'prefault'> = {}): BootSetup {
  const vm = a.vm;
  const format = detectKernelFormat(kernel.data, kernel.name);
  const deterministic = (vm as { clock?: { readonly deterministic?: boolean } }).clock?.deterministic === true;
  const rngSeed = linuxRngSeed(deterministic);
  const linuxOptions = { fileName: kernel.name, cmdline: spec.cmdline, memBytes: spec.memBytes, acpiRsdpAddr: a.firmware.rsdpAddr, rngSeed, ...(initrd ? { initrd } : {}), ...host };
  const boot =
    format === 'linux'
      ? loadLinux(vm.memory, kernel.data, { ...linuxOptions, decompress: spec.kernelDecompress ?? 'host' })
      : format === 'vmlinux'
        ? loadVmlinux(vm.memory, kernel.data, linuxOptions)
        : loadMultiboot(vm.memory, kernel.data, { fileName: kernel.name, cmdline: spec.cmdline, modules: initrd ? [initrd] : [], memBytes: spec.memBytes });
  const bsp = vm.vcpus[0];
  if (!bsp) throw new BuildError('no-vcpu', 'the VM has no vCPU 0');
  bsp.setRegisters(boot.registers);
  return boot;
}

/** A kernel or initrd no bigger than the guest's RAM (it could not be loaded anyway). */
export function checkImageSize(image: ImageBytes, what: string, memBytes: number): void {
  if (image.data.length > memBytes) {
    throw new BuildError('image-too-big', `${what} ${image.name}: is ${image.data.length} bytes, more than the guest's RAM (${memBytes} bytes)`, { exitCode: EXIT.BAD_IMAGE });
  }
}

/** CPUID(1) signature and EDX for the MP table's processor entries: emu's model, or 0 (unknown) under KVM. */
function mpCpuIdentity(backend: BackendName): { cpuSignature: number; cpuFeatures: number } {
  if (backend !== 'emu') return { cpuSignature: 0, cpuFeatures: 0 };
  const out = new Int32Array(4);
  emuCpuid(1, 0, 0, 1, out);
  return { cpuSignature: EMU_SIGNATURE, cpuFeatures: out[3]! >>> 0 };
}
