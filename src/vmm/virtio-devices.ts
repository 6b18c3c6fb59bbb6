/**
 * Puts the virtio devices a RunConfig asks for on the VM's PCI bus (slots 1 up, in the order
 * drives, network interfaces, rng, console) with their host backends: raw image files, stream
 * sockets, the host CSPRNG, a console sink. BARs get addresses as firmware would give them. The
 * device models themselves (src/devices/virtio/) know nothing of files or sockets.
 */
import type { Vm } from '../cpu/vm.js';
import type { PciBus } from '../devices/pci/pci-bus.js';
import { devfn } from '../devices/pci/pci-bus.js';
import { PciBarAllocator } from '../devices/pci/pci-firmware.js';
import { FileBlockBackend } from './host-devices/file-block-backend.js';
import { StreamNetBackend, parseStreamAddress } from './host-devices/stream-net-backend.js';
import { TapNetBackend } from './host-devices/tap-net-backend.js';
import type { BlockBackend } from '../devices/virtio/backends/block-backend.js';
import type { NetBackend } from '../devices/virtio/backends/net-backend.js';
import { VirtioPciTransport } from '../devices/virtio/transport-pci.js';
import type { VirtioDevice } from '../devices/virtio/virtio-device.js';
import { VirtioBlk } from '../devices/virtio/virtio-blk.js';
import { VirtioConsole } from '../devices/virtio/virtio-console.js';
import { VirtioNet, parseMac } from '../devices/virtio/virtio-net.js';
import { VirtioRng } from '../devices/virtio/virtio-rng.js';
import { FdWatcher } from '../sys/fd-watcher.js';
import { VhostUserBlk } from './host-devices/vhost-user-blk.js';
import { sharedRamRegions } from './shared-ram.js';
import { EXIT, VmmError } from '../util/errors.js';
import type { DriveSpec, NetSpec, RunConfig } from './config.js';
import { PCI_MMIO_END, PCI_MMIO_START } from './platform.js';
import { openSerialSink, type ConsoleSink } from './serial-console.js';

export class VirtioSetupError extends VmmError {}

export interface InstalledVirtio {
  readonly transports: readonly VirtioPciTransport[];
  readonly blks: readonly VirtioBlk[];
  readonly nets: readonly VirtioNet[];
  readonly console: VirtioConsole | undefined;
  readonly rng: VirtioRng | undefined;
  readonly vhostUser: readonly VhostUserBlk[];
  /** Closes the backends (files, sockets, the console sink). */
  close(): void;
}

/** A locally administered MAC for interface `index` when none is given: 52:54:00:ts:vm:index. */
export function defaultMac(index: number): string {
  return `52:54:00:7e:00:${(index & 0xff).toString(16).padStart(2, '0')}`;
}

export function installVirtioDevices(vm: Vm, pci: PciBus, config: RunConfig): InstalledVirtio {
  const closers: (() => void)[] = [];
  const transports: VirtioPciTransport[] = [];
  const alloc = new PciBarAllocator({ min: PCI_MMIO_START, max: PCI_MMIO_END });
  let slot = 1;
  const add = (dev: VirtioDevice): void => {
    if (slot >= 32) throw new VirtioSetupError('too-many-devices', `too many PCI devices: ${dev.name} would need slot ${slot}, bus 0 has 31`, { exitCode: EXIT.USAGE });
    const t = new VirtioPciTransport(dev, vm.memory, vm, vm.events);
    pci.attach(slot, 0, t);
    alloc.assign(pci, devfn(slot, 0));
    transports.push(t);
    slot++;
  };
  const blks: VirtioBlk[] = [];
  const nets: VirtioNet[] = [];
  let console: VirtioConsole | undefined;
  let rng: VirtioRng | undefined;
  const vhostUser: VhostUserBlk[] = [];
  try {
    for (const d of config.drives ?? []) {
      const backend = openDrive(d);
      closers.push(() => backend.close());
      const blk = new VirtioBlk({ backend, label: d.path, ...(d.serial !== undefined ? { serial: d.serial } : {}) });
      blks.push(blk);
      add(blk);
    }
    (config.nets ?? []).forEach((n, i) => {
      const backend = openNet(n);
      closers.push(() => backend.close());
      const net = new VirtioNet(backend, parseMac(n.mac ?? defaultMac(i)));
      nets.push(net);
      add(net);
    });
    if ((config.vhostUserBlks?.length ?? 0) > 0) {
      // Interrupts from the back-ends arrive on eventfds this thread must not block on: kvm's own
      // watcher (it kicks vCPU 0 out of KVM_RUN), or one of ours for emu (its messages wake the event loop).
      const events = vm.events as { fdWatcher?: () => FdWatcher };
      let watcher: FdWatcher;
      if (events.fdWatcher !== undefined) watcher = events.fdWatcher();
      else {
        const own = new FdWatcher();
        closers.push(() => own.close());
        watcher = own;
      }
      for (const socket of config.vhostUserBlks ?? []) {
        const dev = new VhostUserBlk({ socket, ram: () => sharedRamRegions(vm.memory), watcher });
        closers.push(() => dev.close());
        vhostUser.push(dev);
        add(dev);
      }
    }
    if (config.rng) add((rng = new VirtioRng()));
    if (config.virtioConsole !== undefined) {
      let sink: ConsoleSink;
      try {
        sink = openSerialSink(config.virtioConsole);
      } catch (e) {
        throw new VirtioSetupError('console', (e as Error).message.replace('--serial', '--virtio-console'), { exitCode: EXIT.USAGE });
      }
      closers.push(() => sink.close());
      add((console = new VirtioConsole(sink)));
    }
  } catch (e) {
    for (const c of closers) c();
    throw e;
  }
  return {
    transports,
    blks,
    nets,
    console,
    rng,
    vhostUser,
    close: () => {
      for (const t of transports) {
        t.reset();
        t.close();
      }
      for (const c of closers) c();
      closers.length = 0;
    },
  };
}

function openDrive(d: DriveSpec): BlockBackend {
  try {
    return new FileBlockBackend(d.path, d.readOnly);
  } catch (e) {
    throw new VirtioSetupError('bad-drive', (e as Error).message, { exitCode: EXIT.BAD_IMAGE });
  }
}

function openNet(n: NetSpec): NetBackend {
  const b = n.backend;
  if (b.kind === 'tap') {
    try {
      return new TapNetBackend(b.ifname);
    } catch (e) {
      throw new VirtioSetupError('bad-net', `--net tap:${b.ifname}: ${(e as Error).message}`, { exitCode: EXIT.USAGE });
    }
  }
  try {
    return new StreamNetBackend({ mode: b.mode, address: parseStreamAddress(b.address) });
  } catch (e) {
    throw new VirtioSetupError('bad-net', `--net ${b.mode}=${b.address}: ${(e as Error).message}`, { exitCode: EXIT.USAGE });
  }
}
