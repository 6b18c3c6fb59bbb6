/**
 * What a virtio device type implements, apart from any transport (VIRTIO 1.2 chapter 5 for the
 * types; kvmtool's split of `virtio_ops` from the transport): its type, feature bits, queues,
 * configuration space and what it does when a queue is notified. A transport (PCI today) owns
 * feature negotiation, status, queue setup and interrupts, and hands the device a context once the
 * driver sets DRIVER_OK.
 */
import type { EventSink } from '../../cpu/event-channels.js';
import type { GuestDma } from '../../memory/dma.js';
import type { Virtqueue } from './virtqueue.js';

export const VIRTIO_ID_NET = 1;
export const VIRTIO_ID_BLOCK = 2;
export const VIRTIO_ID_CONSOLE = 3;
export const VIRTIO_ID_RNG = 4;

/** Device-independent feature bits (VIRTIO 1.2, 6 "Reserved Feature Bits"). */
export const VIRTIO_F_INDIRECT_DESC = 28;
export const VIRTIO_F_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;

/** Device status bits (2.1). */
export const VIRTIO_STATUS_ACKNOWLEDGE = 1;
export const VIRTIO_STATUS_DRIVER = 2;
export const VIRTIO_STATUS_DRIVER_OK = 4;
export const VIRTIO_STATUS_FEATURES_OK = 8;
export const VIRTIO_STATUS_DEVICE_NEEDS_RESET = 0x40;
export const VIRTIO_STATUS_FAILED = 0x80;

export const bit = (n: number): bigint => 1n << BigInt(n);

/** What a running device may use: its queues, guest memory, the interrupt paths. */
export interface VirtioContext {
  readonly queues: readonly Virtqueue[];
  readonly dma: GuestDma;
  /** The features the driver accepted (device-specific and transport bits). */
  readonly features: bigint;
  /** Used buffers were added to queue `index`: interrupt the driver if it wants one. */
  usedBuffers(index: number): void;
  /** Interrupts the driver for queue `index` unconditionally (an out-of-process device already applied the suppression rules). */
  interruptQueue(index: number): void;
  /** The configuration space changed (e.g. console size, link status). */
  configChanged(): void;
  /** The guest broke the protocol (bad ring, bad memory): the device stops until the driver resets it. */
  fail(reason: string): void;
  /**
   * kvm: an eventfd bound in the kernel (KVM_IRQFD with an MSI route) to queue `index`'s MSI-X vector as the guest
   * set it, for a device in another process to signal directly; undefined where there is none (emu, MSI-X off or
   * masked). `lost` is called when the guest changes or masks that vector: from then on the fd must not be used.
   */
  interruptFd?(index: number, lost: () => void): number | undefined;
}

export interface VirtioDevice {
  readonly deviceType: number;
  /** For bus listings and messages, e.g. "virtio-blk (disk.img)". */
  readonly name: string;
  /** Maximum size of each queue; the length is the number of queues. */
  readonly queueSizes: readonly number[];
  /** Device-specific feature bits offered (the transport adds VERSION_1, INDIRECT_DESC, EVENT_IDX). */
  readonly features: bigint;
  /** Length of the device configuration space. */
  readonly configSize: number;
  readConfig(offset: number, data: Uint8Array): void;
  writeConfig(offset: number, data: Uint8Array): void;
  /** DRIVER_OK: the queues are set up; the device may start using them. */
  activate(ctx: VirtioContext): void;
  /** The driver notified queue `index` (new available buffers). */
  queueNotified(index: number): void;
  /**
   * An out-of-process device's doorbell for queue `index` (a vhost-user kick eventfd): the transport's
   * I/O event rings it directly, so the guest's notification never reaches this process on kvm.
   */
  notifySink?(index: number): EventSink | undefined;
  /**
   * An out-of-process device, whose back-end keeps the queues' positions: bring the queues' lastAvail and
   * usedIdx up to date from it (a snapshot of the paused VM reads them). The rings keep running.
   */
  syncQueues?(): void;
  /** The driver reset the device (status 0), or the VM is going away: forget the context. */
  reset(): void;
  /** PCI class code for the function (base class, subclass, interface). */
  readonly pciClass: number;
}

/** Config-space helper: reads `data.length` bytes of `bytes` at `offset` (zeros past the end). */
export function readConfigBytes(bytes: Uint8Array, offset: number, data: Uint8Array): void {
  for (let i = 0; i < data.length; i++) data[i] = offset + i < bytes.length ? bytes[offset + i]! : 0;
}
