/**
 * KVM's event channels (event-channels.ts):
 * - I/O events are KVM_IOEVENTFD registrations: the guest's write signals an eventfd inside the kernel
 *   and the vCPU re-enters the guest without leaving KVM_RUN. A sink with its own fd (a vhost-user
 *   backend's kick fd) gets the write directly; an in-process sink gets an eventfd of ours, which the
 *   fd watcher's thread polls and hands to the main thread, where the device runs while the vCPU goes on.
 * - Interrupt events are eventfds bound with KVM_IRQFD; MSI routes get GSIs from 24 up in a routing
 *   table (KVM_SET_GSI_ROUTING replaces the whole table, so the default PIC/IOAPIC routes are in it).
 * - Coalesced zones are KVM_REGISTER_COALESCED_MMIO zones (pio for port ranges); the kernel appends the
 *   writes to the ring page of the vCPU mapping, which `flushCoalesced` replays into the buses, and the
 *   main thread calls before it handles any other exit.
 * A host without a capability (or a VM made with eventChannels 'in-process') gets the in-process channel for
 * that part (bus-events.ts). kvm-events.test.ts runs ioeventfd and irqfd on a real /dev/kvm; coalesced MMIO
 * and MSI routes are not tested there yet (the structs are checked against the UAPI headers in
 * src/sys/kvm-structs.test.ts).
 */
import { InProcessEventChannels } from '../bus-events.js';
import type { Bus } from '../bus.js';
import {
  newEventStats,
  type CoalescedZoneHandle,
  type CoalescedZoneSpec,
  type EventChannels,
  type EventSink,
  type EventStats,
  type IoEventHandle,
  type IoEventSpec,
  type IrqEvent,
  type IrqRoute,
} from '../event-channels.js';
import {
  KVM_IOEVENTFD,
  KVM_IOEVENTFD_FLAG_DATAMATCH,
  KVM_IOEVENTFD_FLAG_DEASSIGN,
  KVM_IOEVENTFD_FLAG_PIO,
  KVM_IRQCHIP_IOAPIC,
  KVM_IRQCHIP_PIC_MASTER,
  KVM_IRQCHIP_PIC_SLAVE,
  KVM_IRQFD,
  KVM_IRQFD_FLAG_DEASSIGN,
  KVM_REGISTER_COALESCED_MMIO,
  KVM_SET_GSI_ROUTING,
  KVM_UNREGISTER_COALESCED_MMIO,
} from '../../sys/kvm-abi.js';
import { COALESCED_RING, encodeCoalescedZone, encodeIoeventfd, encodeIrqRouting, encodeIrqfd, type KvmRoute } from '../../sys/kvm-structs.js';
import { EFD_CLOEXEC, EFD_NONBLOCK, closeFd, eventfd, ioctlPtr, signalEventFd } from '../../sys/libc.js';
import { FdWatcher } from '../../sys/fd-watcher.js';
import { log } from '../../util/log.js';

export interface KvmEventHost {
  readonly vmFd: number;
  readonly pio: Bus;
  readonly mmio: Bus;
  /** KVM_CHECK_EXTENSION on the VM fd. */
  has(cap: 'IOEVENTFD' | 'IRQFD' | 'IRQ_ROUTING' | 'COALESCED_MMIO' | 'COALESCED_PIO'): boolean;
  /** The word the main thread waits on between vCPU exits: the fd watcher bumps and notifies it too. */
  readonly wake?: { readonly words: Int32Array; readonly index: number };
  /** The coalesced ring page (vCPU 0's mapping at KVM_COALESCED_MMIO_PAGE_OFFSET), when mapped. */
  readonly ringPage: Uint8Array | undefined;
  /** The fallback's deliveries: a GSI pulse, an MSI. */
  irqPulse(gsi: number): void;
  signalMsi(address: number, data: number): boolean;
}

/** GSIs the in-kernel irqchip routes by default (PIC pins for 0-15, IOAPIC pins 0-23). */
const IRQCHIP_GSIS = 24;
const FIRST_MSI_GSI = 24;

export class KvmEventChannels implements EventChannels {
  readonly stats: EventStats = newEventStats();
  readonly fallback: InProcessEventChannels;
  private watcher: FdWatcher | undefined;
  private readonly msiRoutes = new Map<number, KvmRoute>();
  private nextMsiGsi = FIRST_MSI_GSI;
  private freeMsiGsis: number[] = [];
  private zones = 0;
  private readonly view: DataView | undefined;

  constructor(private readonly host: KvmEventHost) {
    this.fallback = new InProcessEventChannels(host.pio, host.mmio, (r) => (r.kind === 'gsi' ? host.irqPulse(r.gsi) : void host.signalMsi(r.address, r.data)));
    const p = host.ringPage;
    this.view = p === undefined ? undefined : new DataView(p.buffer, p.byteOffset, p.byteLength);
  }

  /**
   * The watcher thread for eventfds of ours (started on first use). It wakes the main thread, which runs the
   * devices; no vCPU thread is disturbed (they all run off the main thread, kvm-vm.ts).
   */
  fdWatcher(): FdWatcher {
    this.watcher ??= new FdWatcher(this.host.wake);
    return this.watcher;
  }

  /** True when something the run loop must hand to a device is waiting (watcher, fallback). */
  get pending(): boolean {
    return (this.watcher?.pending ?? false) || this.fallback.hasPending;
  }

  /** Runs what is waiting: in-process sinks of signalled eventfds, fallback doorbells. */
  dispatch(): void {
    this.watcher?.dispatch();
    this.fallback.dispatch();
  }

  get hasZones(): boolean {
    return this.zones > 0;
  }

  ioEvent(spec: IoEventSpec, sink: EventSink): IoEventHandle {
    if (!this.host.has('IOEVENTFD')) return this.fallback.ioEvent(spec, sink);
    let fd = sink.fd;
    let own: (() => void) | undefined;
    if (fd === undefined) {
      const efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      const unwatch = this.fdWatcher().watch(efd, 'eventfd', () => {
        this.stats.ioEvents++;
        sink.signal();
      });
      fd = efd;
      own = () => {
        unwatch();
        closeFd(efd);
      };
    }
    const flags = (spec.space === 'pio' ? KVM_IOEVENTFD_FLAG_PIO : 0) | (spec.datamatch !== undefined ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0);
    const req = { datamatch: spec.datamatch ?? 0, addr: spec.address, len: spec.size, fd, flags };
    try {
      ioctlPtr(this.host.vmFd, KVM_IOEVENTFD, encodeIoeventfd(req), `KVM_IOEVENTFD at ${spec.space} 0x${spec.address.toString(16)} failed`);
    } catch (e) {
      own?.();
      // The in-process channel does the same job through the exit path; the device still works.
      log.warn(`${(e as Error).message}; using the in-process channel for it`);
      return this.fallback.ioEvent(spec, sink);
    }
    let closed = false;
    return {
      spec,
      inKernel: true,
      close: () => {
        if (closed) return;
        closed = true;
        ioctlPtr(this.host.vmFd, KVM_IOEVENTFD, encodeIoeventfd({ ...req, flags: req.flags | KVM_IOEVENTFD_FLAG_DEASSIGN }), 'KVM_IOEVENTFD (deassign) failed');
        own?.();
      },
    };
  }

  irqEvent(route: IrqRoute): IrqEvent {
    if (!this.host.has('IRQFD') || (route.kind === 'msi' && !this.host.has('IRQ_ROUTING'))) return this.fallback.irqEvent(route);
    const fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    let current = route;
    let gsi = this.bindRoute(route, undefined);
    const bind = (g: number, deassign: boolean): void => {
      ioctlPtr(this.host.vmFd, KVM_IRQFD, encodeIrqfd(fd, g, deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0), `KVM_IRQFD on GSI ${g} failed`);
    };
    bind(gsi, false);
    let closed = false;
    const stats = this.stats;
    return {
      get route() {
        return current;
      },
      fd,
      trigger(): void {
        if (closed) return;
        stats.irqEvents++;
        signalEventFd(fd);
      },
      setRoute: (r: IrqRoute): void => {
        if (closed) return;
        const next = this.bindRoute(r, gsi);
        if (next !== gsi) {
          bind(gsi, true);
          if (gsi >= FIRST_MSI_GSI && current.kind === 'msi' && r.kind !== 'msi') this.releaseMsiGsi(gsi);
          bind(next, false);
          gsi = next;
        }
        current = r;
      },
      close: (): void => {
        if (closed) return;
        closed = true;
        bind(gsi, true);
        if (current.kind === 'msi') this.releaseMsiGsi(gsi);
        closeFd(fd);
      },
    };
  }

  /** The GSI that carries `route`: a GSI route is itself; an MSI gets (or keeps) a routing entry. */
  private bindRoute(route: IrqRoute, have: number | undefined): number {
    if (route.kind === 'gsi') {
      if (!Number.isInteger(route.gsi) || route.gsi < 0 || route.gsi >= IRQCHIP_GSIS) throw new RangeError(`GSI ${route.gsi} does not exist (the in-kernel IOAPIC has inputs 0-23)`);
      return route.gsi;
    }
    const gsi = have !== undefined && have >= FIRST_MSI_GSI ? have : (this.freeMsiGsis.pop() ?? this.nextMsiGsi++);
    this.msiRoutes.set(gsi, { gsi, type: 'msi', address: route.address, data: route.data });
    this.applyRouting();
    return gsi;
  }

  private releaseMsiGsi(gsi: number): void {
    if (this.msiRoutes.delete(gsi)) {
      this.freeMsiGsis.push(gsi);
      this.applyRouting();
    }
  }

  /** KVM_SET_GSI_ROUTING with the irqchip's default routes and every MSI route. */
  private applyRouting(): void {
    const routes: KvmRoute[] = [];
    for (let g = 0; g < IRQCHIP_GSIS; g++) {
      if (g < 8) routes.push({ gsi: g, type: 'irqchip', irqchip: KVM_IRQCHIP_PIC_MASTER, pin: g });
      else if (g < 16) routes.push({ gsi: g, type: 'irqchip', irqchip: KVM_IRQCHIP_PIC_SLAVE, pin: g - 8 });
      // KVM's default table is the identity on the IOAPIC (src/vmm/platform.ts describes no override).
      routes.push({ gsi: g, type: 'irqchip', irqchip: KVM_IRQCHIP_IOAPIC, pin: g });
    }
    for (const r of this.msiRoutes.values()) routes.push(r);
    ioctlPtr(this.host.vmFd, KVM_SET_GSI_ROUTING, encodeIrqRouting(routes), 'KVM_SET_GSI_ROUTING failed');
  }

  coalesce(spec: CoalescedZoneSpec): CoalescedZoneHandle {
    const pio = spec.space === 'pio';
    if (this.view === undefined || !this.host.has(pio ? 'COALESCED_PIO' : 'COALESCED_MMIO')) return this.fallback.coalesce(spec);
    const zone = encodeCoalescedZone(spec.address, spec.size, pio);
    try {
      ioctlPtr(this.host.vmFd, KVM_REGISTER_COALESCED_MMIO, zone, `KVM_REGISTER_COALESCED_MMIO at ${spec.space} 0x${spec.address.toString(16)} failed`);
    } catch (e) {
      log.warn(`${(e as Error).message}; buffering those writes in process instead`);
      return this.fallback.coalesce(spec);
    }
    this.zones++;
    let closed = false;
    return {
      spec,
      inKernel: true,
      close: () => {
        if (closed) return;
        closed = true;
        this.flushCoalesced();
        ioctlPtr(this.host.vmFd, KVM_UNREGISTER_COALESCED_MMIO, zone, 'KVM_UNREGISTER_COALESCED_MMIO failed');
        this.zones--;
      },
    };
  }

  /** Replays the kernel's ring (entries from `first` to `last`) into the buses, then the fallback's. */
  flushCoalesced(): void {
    this.fallback.flushCoalesced();
    const v = this.view;
    if (v === undefined || this.zones === 0) return;
    const R = COALESCED_RING;
    let first = v.getUint32(R.FIRST, true);
    const last = v.getUint32(R.LAST, true);
    if (first === last) return;
    this.stats.coalescedFlushes++;
    const page = this.host.ringPage!;
    while (first !== last) {
      const o = R.ENTRIES + first * R.ENTRY_SIZE;
      const addr = v.getUint32(o + R.E_ADDR, true) + v.getUint32(o + R.E_ADDR + 4, true) * 0x1_0000_0000;
      const len = Math.min(v.getUint32(o + R.E_LEN, true), 8);
      const data = page.slice(o + R.E_DATA, o + R.E_DATA + len);
      (v.getUint32(o + R.E_PIO, true) !== 0 ? this.host.pio : this.host.mmio).deliver(addr, data);
      this.stats.coalescedWrites++;
      first = (first + 1) % R.MAX;
    }
    // The kernel reads `first` to know the room it has; publish it after the entries were consumed.
    v.setUint32(R.FIRST, first, true);
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }
}
