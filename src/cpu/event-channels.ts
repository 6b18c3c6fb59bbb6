/**
 * Event channels: the next-generation API's way for devices and vCPUs to meet without a round trip
 * through the VMM's run loop.
 * - An **I/O event** turns a guest write to one address (optionally with one value) into a doorbell:
 *   the vCPU goes on at once and the device's work runs later, off the vCPU's path (kvm: KVM_IOEVENTFD,
 *   the kernel signals an eventfd; emu: the bus records the ring and the run loop rings it between slices).
 * - An **interrupt event** is a line anybody may pull: `trigger()` injects its route's interrupt, from
 *   the main thread, another thread or (through `fd` on kvm, KVM_IRQFD) another process.
 * - A **coalesced zone** buffers guest writes to a device that does not need them at once (kvm:
 *   KVM_REGISTER_COALESCED_MMIO and its ring page; emu: `CoalescedRing`); every buffered write reaches
 *   the device before any other access to the buses, so the device never sees them out of order.
 * Devices see none of this: the VMM wires a device's doorbells and interrupts through these.
 */

/** What an I/O event rings: an in-process handler, or an eventfd (`fd`) another thread or process reads. */
export interface EventSink {
  /** Rings the doorbell (called on the VM's main thread). */
  signal(): void;
  /** An eventfd behind this sink: kvm then registers it in the kernel and no userspace code runs per write. */
  readonly fd?: number;
}

export interface IoEventSpec {
  readonly space: 'pio' | 'mmio';
  readonly address: number;
  /** Access width that matches (1, 2, 4 or 8 bytes). */
  readonly size: 1 | 2 | 4 | 8;
  /** Only writes of this value match (others reach the bus device as usual). */
  readonly datamatch?: number;
}

export interface IoEventHandle {
  readonly spec: IoEventSpec;
  /** True when the kernel handles the write (kvm); false for the in-process channel. */
  readonly inKernel: boolean;
  close(): void;
}

export type IrqRoute = { readonly kind: 'gsi'; readonly gsi: number } | { readonly kind: 'msi'; readonly address: number; readonly data: number };

export interface IrqEvent {
  readonly route: IrqRoute;
  /** Injects the interrupt (edge: a GSI is pulsed). Safe to call at any time on the main thread. */
  trigger(): void;
  /** Points the line at another interrupt (an MSI-X table entry the guest rewrote). */
  setRoute(route: IrqRoute): void;
  /** kvm: the eventfd bound with KVM_IRQFD; any thread or process that writes it injects the interrupt. */
  readonly fd: number | undefined;
  close(): void;
}

export interface CoalescedZoneSpec {
  readonly space: 'pio' | 'mmio';
  readonly address: number;
  readonly size: number;
}

export interface CoalescedZoneHandle {
  readonly spec: CoalescedZoneSpec;
  readonly inKernel: boolean;
  close(): void;
}

/** A VM's event channels (`Vm.events`). */
export interface EventChannels {
  ioEvent(spec: IoEventSpec, sink: EventSink): IoEventHandle;
  irqEvent(route: IrqRoute): IrqEvent;
  coalesce(zone: CoalescedZoneSpec): CoalescedZoneHandle;
  /** Writes buffered by coalesced zones reach their devices now (the VMM calls this before it reads device state). */
  flushCoalesced(): void;
  /** Counters for diagnostics and tests. */
  readonly stats: EventStats;
}

export interface EventStats {
  /** Guest writes that rang an I/O event (emu counts each; kvm counts signals its poller saw). */
  ioEvents: number;
  irqEvents: number;
  coalescedWrites: number;
  coalescedFlushes: number;
}

export function newEventStats(): EventStats {
  return { ioEvents: 0, irqEvents: 0, coalescedWrites: 0, coalescedFlushes: 0 };
}

/** Does a write of `data` match `spec`'s width and value? */
export function ioEventMatches(spec: IoEventSpec, data: Uint8Array): boolean {
  if (data.length !== spec.size) return false;
  if (spec.datamatch === undefined) return true;
  let v = 0;
  for (let i = data.length - 1; i >= 0; i--) v = v * 256 + data[i]!;
  return v === spec.datamatch;
}
