import { existsSync } from 'node:fs';
import { readInputFile } from './input-file.js';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants as osConstants } from 'node:os';
import { EXIT } from '../util/errors.js';
import type { VmStop } from '../cpu/vm.js';
import type { RunConfig } from './config.js';
import { chooseBackend, createBackendVm } from './backends.js';
import { detectKernelFormat, prepareBzImageDecompression, type BootSetup } from '../boot/index.js';
import type { SerialSink } from '../devices/legacy/serial-sink.js';
import { assemblePlatform, BuildError, loadKernel, type AssembledVm, type ImageBytes } from './assemble.js';
import { installVirtioDevices } from './virtio-devices.js';
import { adviseHugePages, prefaultInBackground } from '../sys/libc.js';
import { installNativeCrc32 } from './native-crc32.js';

export { BuildError, type AssembledVm };

// Decompressed kernels and snapshots are checked with zlib's CRC-32.
installNativeCrc32();

const here = dirname(fileURLToPath(import.meta.url));
/** The repo root as seen from dist/src/vmm/. */
const repoRoot = join(here, '..', '..', '..');

/** The guest `tsvmm run` boots when no --kernel is given. */
export function defaultGuestPath(): string {
  return join(repoRoot, 'guests', 'build', 'demo.elf');
}

export interface BuiltVm extends AssembledVm {
  readonly boot: BootSetup;
  readonly kernelPath: string;
}

/** A kernel or initrd: a regular file no bigger than the guest's RAM (it could not be loaded anyway). */
function readImage(path: string, what: string, memBytes: number): ImageBytes {
  return { name: path, data: readInputFile(path, what, { bytes: memBytes, why: "the guest's RAM" }) };
}

/** Creates the backend VM and puts the platform on it: devices and firmware tables. Nothing runs yet. */
export async function assembleVm(config: RunConfig, serial: SerialSink): Promise<AssembledVm> {
  const choice = await chooseBackend(config.accel, config.pmu);
  const vm = await createBackendVm(choice.backend, config);
  // The emulator's RAM is ordinary memory the guest faults in as it touches it: in 2 MiB pages, 512 times fewer faults.
  if (choice.backend === 'emu') for (const r of vm.memory.regions) adviseHugePages(r.bytes);
  const a = assemblePlatform(vm, choice.backend, choice.reason, config, serial);
  // The virtio devices need host backends (files, sockets), so they go on here rather than in assemble.ts.
  const before = new Set(vm.mmio.list().map((m) => m.base));
  let virtio: ReturnType<typeof installVirtioDevices>;
  try {
    virtio = installVirtioDevices(vm, a.devices.pci, config);
  } catch (e) {
    a.devices.destroy();
    vm.destroy();
    throw e;
  }
  const legacyDestroy = a.devices.destroy;
  const bars = vm.mmio.list().filter((m) => !before.has(m.base)).map((m) => ({ bus: 'mmio' as const, base: m.base, size: m.len, name: m.name }));
  return {
    ...a,
    // destroy() also closes the virtio devices' backends (the controller tears the VM down through it).
    devices: {
      ...a.devices,
      destroy: () => {
        legacyDestroy();
        virtio.close();
      },
    },
    platformDevices: [...a.platformDevices, ...bars],
  };
}

/** Assembles a VM from a validated config: reads the images, then backend, devices, kernel, boot state. Nothing runs yet. */
export async function buildVm(config: RunConfig, serial: SerialSink): Promise<BuiltVm> {
  const kernelPath = config.kernel ?? defaultGuestPath();
  if (config.kernel === undefined && !existsSync(kernelPath)) {
    throw new BuildError('no-default-guest', `the default guest ${kernelPath} is not built: run ./tsvmm (it builds the guests) or node scripts/build-guests.mjs`, { exitCode: EXIT.BAD_IMAGE });
  }
  const kernel = readImage(kernelPath, 'kernel', config.memBytes);
  // A kernel of no known format is refused before any VM exists (loadKernel detects it again).
  const format = detectKernelFormat(kernel.data, kernel.name);
  // Its decoder is compiled in the background while the VM is set up (host decompression is the default).
  if (format === 'linux' && config.kernelDecompress !== 'guest') prepareBzImageDecompression(kernel.data);
  const initrd = config.initrd === undefined ? undefined : readImage(config.initrd, 'initrd', config.memBytes);
  const a = await assembleVm(config, serial);
  try {
    // The kernel is decompressed straight into guest RAM: the page faults of that RAM are taken on another thread.
    const boot = loadKernel(a, config, kernel, initrd, { prefault: (ram) => prefaultInBackground(ram) });
    return { ...a, boot, kernelPath };
  } catch (e) {
    a.devices.destroy();
    a.vm.destroy();
    throw e;
  }
}

/** 128 + the signal's number, as a shell reports a process a signal ended. */
export function signalExitStatus(signal: string): number {
  const n = (osConstants.signals as Record<string, number | undefined>)[signal];
  return 128 + (n ?? 0);
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
    case 'migrated':
      return { status: EXIT.OK, message: `the guest was migrated to ${stop.destination} and runs there now` };
    case 'host-stop':
      return { status: EXIT.FAILURE, message: `${stop.reason} (exit status ${EXIT.FAILURE})` };
  }
}
