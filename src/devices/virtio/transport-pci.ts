/**
 * The virtio PCI transport, modern interface only (VIRTIO 1.2, 4.1): a PCI function with vendor
 * 0x1AF4 and device ID 0x1040 + device type, whose virtio structures are found through vendor
 * capabilities (cfg_type 1 common, 2 notify, 3 ISR, 4 device-specific, 5 PCI config access).
 * - BAR 4 (64-bit memory, 16 KiB): common configuration at 0x0000, ISR at 0x1000, the device's
 *   configuration at 0x2000, queue notifications at 0x3000 (queue n at n * 4);
 * - BAR 1 (32-bit memory, 4 KiB): the MSI-X table at 0 and the PBA at 0x800, one vector per queue
 *   plus one for configuration changes; without MSI-X, INTx with the ISR status;
 * - feature negotiation (VERSION_1 required, INDIRECT_DESC and EVENT_IDX offered), the status
 *   state machine (reset on 0, FEATURES_OK refused for features not offered, DRIVER_OK activates
 *   the device), queue setup, and DEVICE_NEEDS_RESET when the guest breaks a ring.
 */
import type { BusDevice } from '../../cpu/bus.js';
import type { MsiSink } from '../../cpu/irq.js';
import type { EventChannels, EventSink, IoEventHandle, IrqEvent } from '../../cpu/event-channels.js';
import { EventMsiSink } from '../pci/event-msi-sink.js';
import { GuestDma } from '../../memory/dma.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { field, type FieldsOf, type Persist, type PersistSchema } from '../../util/persist.js';
import { MSIX_PERSIST, Msix } from '../pci/msix.js';
import type { PciFunction } from '../pci/pci-bus.js';
import { PCI_HEADER_END, PciConfigSpace, type PciBarRange } from '../pci/pci-config.js';
import type { PciIntxPin } from '../pci/pci-intx.js';
import {
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_VERSION_1,
  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
  VIRTIO_STATUS_DRIVER_OK,
  VIRTIO_STATUS_FEATURES_OK,
  bit,
  type VirtioContext,
  type VirtioDevice,
} from './virtio-device.js';
import { Virtqueue, isGuestFault } from './virtqueue.js';

export const VIRTIO_PCI_VENDOR_ID = 0x1af4;
export const VIRTIO_PCI_DEVICE_ID_BASE = 0x1040;
export const VIRTIO_MSI_NO_VECTOR = 0xffff;

export const VIRTIO_PCI_CAP_COMMON_CFG = 1;
export const VIRTIO_PCI_CAP_NOTIFY_CFG = 2;
export const VIRTIO_PCI_CAP_ISR_CFG = 3;
export const VIRTIO_PCI_CAP_DEVICE_CFG = 4;
export const VIRTIO_PCI_CAP_PCI_CFG = 5;

export const VIRTIO_BAR = 4;
export const VIRTIO_BAR_SIZE = 0x4000;
export const MSIX_BAR = 1;
export const COMMON_OFFSET = 0x0000;
export const COMMON_SIZE = 0x40;
export const ISR_OFFSET = 0x1000;
export const DEVICE_CFG_OFFSET = 0x2000;
export const NOTIFY_OFFSET = 0x3000;
export const NOTIFY_MULTIPLIER = 4;

// Common configuration register offsets (4.1.4.3).
export const CC = {
  deviceFeatureSelect: 0x00,
  deviceFeature: 0x04,
  driverFeatureSelect: 0x08,
  driverFeature: 0x0c,
  msixConfig: 0x10,
  numQueues: 0x12,
  deviceStatus: 0x14,
  configGeneration: 0x15,
  queueSelect: 0x16,
  queueSize: 0x18,
  queueMsixVector: 0x1a,
  queueEnable: 0x1c,
  queueNotifyOff: 0x1e,
  queueDesc: 0x20,
  queueDriver: 0x28,
  queueDevice: 0x30,
  queueNotifyData: 0x38,
  queueReset: 0x3a,
} as const;

const TRANSPORT_FEATURES = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_INDIRECT_DESC) | bit(VIRTIO_F_EVENT_IDX);

const QUEUE_FIELDS = field.record({
  size: field.u16(),
  enabled: field.bool(),
  vector: field.u16(),
  desc: field.number(),
  avail: field.number(),
  used: field.number(),
  lastAvail: field.u16(),
  usedIdx: field.u16(),
});
const VIRTIO_PCI_FIELDS = {
  config: field.bytes(256),
  status: field.u8(),
  deviceFeatureSelect: field.u32(),
  driverFeatureSelect: field.u32(),
  driverFeatures: field.u64(),
  configVector: field.u16(),
  configGeneration: field.u8(),
  queueSelect: field.u16(),
  isr: field.u8(),
  queues: field.array(QUEUE_FIELDS, 1024),
  msix: field.record(MSIX_PERSIST.fields),
} as const;

export class VirtioPciError extends Error {}

/** A virtio device on PCI. Attach `function` to a PciBus slot. */
export class VirtioPciTransport implements PciFunction, Persist<typeof VIRTIO_PCI_FIELDS> {
  readonly persistSchema: PersistSchema<typeof VIRTIO_PCI_FIELDS>;
  readonly name: string;
  readonly config: PciConfigSpace;
  readonly msix: Msix;
  readonly queues: Virtqueue[];
  readonly dma: GuestDma;
  private readonly vectors: number[];
  private intx: PciIntxPin | undefined;
  private status = 0;
  private deviceFeatureSelect = 0;
  private driverFeatureSelect = 0;
  private driverFeatures = 0n;
  private configVector = VIRTIO_MSI_NO_VECTOR;
  private configGeneration = 0;
  private queueSelect = 0;
  private isr = 0;
  private active = false;
  /** Why the device stopped (DEVICE_NEEDS_RESET), for diagnostics. */
  failure: string | undefined;
  /** Notifications received, interrupts sent (diagnostics). */
  readonly stats = { notifications: 0, interrupts: 0 };
  private readonly pciCfgCap: number;
  private readonly region: BusDevice = { read: (o, d) => this.regionRead(o, d), write: (o, d) => this.regionWrite(o, d) };
  /** The I/O events of the notify registers, while BAR 4 decodes and the VM has event channels. */
  private notifyEvents: IoEventHandle[] = [];
  private readonly eventMsi: EventMsiSink | undefined;
  /** Queue interrupts handed out as in-kernel eventfds (interruptFd), with who to tell when the vector changes. */
  private readonly kernelIrqs = new Map<number, { readonly ev: IrqEvent; readonly vector: number; readonly lost: () => void }>();
  private msixControl = 0;

  /**
   * With `events`, queue notifications are I/O events (the guest's write rings the device without
   * running it inside the vCPU's access; kvm: ioeventfd) and MSI-X messages leave through interrupt
   * events (kvm: irqfd).
   */
  constructor(
    readonly device: VirtioDevice,
    memory: GuestMemory,
    msi: MsiSink,
    private readonly events?: EventChannels,
  ) {
    if (events !== undefined) msi = this.eventMsi = new EventMsiSink(events, msi);
    this.name = device.name;
    this.dma = new GuestDma(memory);
    const nq = device.queueSizes.length;
    if (nq < 1 || nq * NOTIFY_MULTIPLIER > 0x1000) throw new RangeError(`${device.name}: ${nq} queues do not fit the notify region`);
    if (device.configSize > 0x1000) throw new RangeError(`${device.name}: config space of ${device.configSize} bytes is larger than its 4 KiB window`);
    this.queues = device.queueSizes.map((n) => new Virtqueue(this.dma, n));
    this.vectors = new Array<number>(nq).fill(VIRTIO_MSI_NO_VECTOR);
    this.config = new PciConfigSpace({
      vendorId: VIRTIO_PCI_VENDOR_ID,
      deviceId: VIRTIO_PCI_DEVICE_ID_BASE + device.deviceType,
      classCode: device.pciClass,
      revision: 1,
      subsystemVendorId: VIRTIO_PCI_VENDOR_ID,
      subsystemId: 0x40,
      interruptPin: 1,
    });
    this.config.addBar(MSIX_BAR, { kind: 'mem32', size: 0x1000 });
    this.config.addBar(VIRTIO_BAR, { kind: 'mem64', size: VIRTIO_BAR_SIZE });
    this.msix = new Msix(this.config, { vectors: nq + 1, bar: MSIX_BAR, tableOffset: 0, pbaOffset: 0x800 }, msi);
    this.msix.onVectorWritten = (v) => this.dropKernelIrqs((k) => k.vector === v);
    this.addVirtioCap(VIRTIO_PCI_CAP_COMMON_CFG, COMMON_OFFSET, COMMON_SIZE);
    this.addVirtioCap(VIRTIO_PCI_CAP_NOTIFY_CFG, NOTIFY_OFFSET, nq * NOTIFY_MULTIPLIER, NOTIFY_MULTIPLIER);
    this.addVirtioCap(VIRTIO_PCI_CAP_ISR_CFG, ISR_OFFSET, 1);
    if (device.configSize > 0) this.addVirtioCap(VIRTIO_PCI_CAP_DEVICE_CFG, DEVICE_CFG_OFFSET, device.configSize);
    // The PCI configuration access capability: bar, offset and length select a window into the BARs
    // that pci_cfg_data reads and writes (for drivers that cannot map BARs).
    const wm = new Uint8Array(18);
    wm[2] = 0xff; // bar
    wm.fill(0xff, 6, 14); // offset, length
    wm.fill(0xff, 14, 18); // data
    this.pciCfgCap = this.addVirtioCap(VIRTIO_PCI_CAP_PCI_CFG, 0, 0, undefined, wm);
    this.persistSchema = { kind: `virtio-pci-${device.deviceType}`, version: 1, fields: VIRTIO_PCI_FIELDS };
  }

  private addVirtioCap(type: number, offset: number, length: number, extra?: number, wmask?: Uint8Array): number {
    const body = new Uint8Array(extra !== undefined || type === VIRTIO_PCI_CAP_PCI_CFG ? 18 : 14);
    const v = new DataView(body.buffer);
    body[0] = body.length + 2; // cap_len
    body[1] = type;
    body[2] = type === VIRTIO_PCI_CAP_PCI_CFG ? 0 : VIRTIO_BAR;
    v.setUint32(6, offset, true);
    v.setUint32(10, length, true);
    if (extra !== undefined) v.setUint32(14, extra, true);
    return this.config.addCapability(0x09, body, wmask);
  }

  // ---- PciFunction
  barDevice(index: number): BusDevice | undefined {
    return index === MSIX_BAR ? this.msix.device : index === VIRTIO_BAR ? this.region : undefined;
  }

  barMoved(index: number, range: PciBarRange | undefined): void {
    if (index !== VIRTIO_BAR || this.events === undefined) return;
    this.closeNotifyEvents();
    if (range === undefined || range.space !== 'mem') return;
    const events = this.events;
    this.notifyEvents = this.queues.map((_, i) => {
      // The driver writes the queue's index, 16 bits (4.1.5.2), at its own address.
      const sink: EventSink = this.device.notifySink?.(i) ?? { signal: () => this.notify(i) };
      return events.ioEvent({ space: 'mmio', address: range.base + NOTIFY_OFFSET + i * NOTIFY_MULTIPLIER, size: 2 }, sink);
    });
  }

  private closeNotifyEvents(): void {
    for (const h of this.notifyEvents) h.close();
    this.notifyEvents = [];
  }

  /** Releases the event channels (the VM is going away). */
  close(): void {
    this.closeNotifyEvents();
    this.closeKernelIrqs();
    this.eventMsi?.close();
  }

  attachIntx(pin: PciIntxPin): void {
    this.intx = pin;
  }

  configWritten(offset: number, size: number): void {
    if (offset < this.msix.capOffset + 4 && offset + size > this.msix.capOffset + 2) {
      this.msix.deliverPending();
      // MSI-X enable or the function mask changed: in-kernel queue interrupts no longer follow the guest's wishes.
      const control = this.config.read(this.msix.capOffset + 2, 2) & 0xc000;
      if (control !== this.msixControl) this.dropKernelIrqs(() => true);
      this.msixControl = control;
    }
    const data = this.pciCfgCap + 16;
    if (offset >= data && offset < data + 4) this.pciCfgAccess(true);
  }

  configReading(offset: number, size: number): void {
    const data = this.pciCfgCap + 16;
    if (offset < data + 4 && offset + size > data) this.pciCfgAccess(false);
  }

  /** A pci_cfg_data access: reads the selected BAR window into the data field, or writes it out. */
  private pciCfgAccess(write: boolean): void {
    const c = this.pciCfgCap;
    const bar = this.config.bytes[c + 4]!;
    const v = new DataView(this.config.bytes.buffer);
    const offset = v.getUint32(c + 8, true);
    const length = v.getUint32(c + 12, true);
    const dev = this.barDevice(bar);
    if (dev === undefined || (length !== 1 && length !== 2 && length !== 4) || offset % length !== 0) return;
    const buf = this.config.bytes.subarray(c + 16, c + 16 + length);
    if (write) dev.write(offset, buf.slice());
    else dev.read(offset, buf);
  }

  // ---- BAR 4
  private regionRead(offset: number, data: Uint8Array): void {
    if (offset < COMMON_SIZE) return this.commonRead(offset, data);
    if (offset >= ISR_OFFSET && offset < ISR_OFFSET + 4) {
      data.fill(0);
      if (offset === ISR_OFFSET) {
        data[0] = this.isr;
        // Reading the ISR acknowledges it and deasserts INTx.
        this.isr = 0;
        this.intx?.set(false);
      }
      return;
    }
    if (offset >= DEVICE_CFG_OFFSET && offset < DEVICE_CFG_OFFSET + 0x1000) return this.device.readConfig(offset - DEVICE_CFG_OFFSET, data);
    data.fill(0);
  }

  private regionWrite(offset: number, data: Uint8Array): void {
    if (offset < COMMON_SIZE) return this.commonWrite(offset, data);
    if (offset >= DEVICE_CFG_OFFSET && offset < DEVICE_CFG_OFFSET + 0x1000) return this.device.writeConfig(offset - DEVICE_CFG_OFFSET, data);
    if (offset >= NOTIFY_OFFSET && offset < NOTIFY_OFFSET + this.queues.length * NOTIFY_MULTIPLIER) this.notify((offset - NOTIFY_OFFSET) / NOTIFY_MULTIPLIER);
  }

  private get offered(): bigint {
    return this.device.features | TRANSPORT_FEATURES;
  }

  private get selected(): Virtqueue | undefined {
    return this.queues[this.queueSelect];
  }

  /** The common configuration as bytes, for reads of any width. */
  private commonBytes(): Uint8Array {
    const b = new Uint8Array(COMMON_SIZE);
    const v = new DataView(b.buffer);
    const sel = this.deviceFeatureSelect;
    v.setUint32(CC.deviceFeatureSelect, sel, true);
    v.setUint32(CC.deviceFeature, sel < 2 ? Number((this.offered >> BigInt(32 * sel)) & 0xffff_ffffn) : 0, true);
    v.setUint32(CC.driverFeatureSelect, this.driverFeatureSelect, true);
    const dsel = this.driverFeatureSelect;
    v.setUint32(CC.driverFeature, dsel < 2 ? Number((this.driverFeatures >> BigInt(32 * dsel)) & 0xffff_ffffn) : 0, true);
    v.setUint16(CC.msixConfig, this.configVector, true);
    v.setUint16(CC.numQueues, this.queues.length, true);
    b[CC.deviceStatus] = this.status;
    b[CC.configGeneration] = this.configGeneration;
    v.setUint16(CC.queueSelect, this.queueSelect, true);
    const q = this.selected;
    if (q) {
      v.setUint16(CC.queueSize, q.size, true);
      v.setUint16(CC.queueMsixVector, this.vectors[this.queueSelect]!, true);
      v.setUint16(CC.queueEnable, q.ready ? 1 : 0, true);
      v.setUint16(CC.queueNotifyOff, this.queueSelect, true);
      v.setUint32(CC.queueDesc, q.descAddr >>> 0, true);
      v.setUint32(CC.queueDesc + 4, Math.floor(q.descAddr / 2 ** 32), true);
      v.setUint32(CC.queueDriver, q.availAddr >>> 0, true);
      v.setUint32(CC.queueDriver + 4, Math.floor(q.availAddr / 2 ** 32), true);
      v.setUint32(CC.queueDevice, q.usedAddr >>> 0, true);
      v.setUint32(CC.queueDevice + 4, Math.floor(q.usedAddr / 2 ** 32), true);
      v.setUint16(CC.queueNotifyData, this.queueSelect, true);
    } else {
      v.setUint16(CC.queueMsixVector, VIRTIO_MSI_NO_VECTOR, true);
    }
    return b;
  }

  private commonRead(offset: number, data: Uint8Array): void {
    const b = this.commonBytes();
    for (let i = 0; i < data.length; i++) data[i] = offset + i < COMMON_SIZE ? b[offset + i]! : 0;
  }

  private commonWrite(offset: number, data: Uint8Array): void {
    let v = 0;
    for (let i = data.length - 1; i >= 0; i--) v = v * 256 + data[i]!;
    const size = data.length;
    const q = this.selected;
    const setHalf = (cur: number, base: number): number | undefined => {
      // 64-bit queue addresses: written as two dwords (or one qword).
      if (offset === base && size === 4) return Math.floor(cur / 2 ** 32) * 2 ** 32 + v;
      if (offset === base + 4 && size === 4) return v * 2 ** 32 + (cur % 2 ** 32);
      if (offset === base && size === 8) return v;
      return undefined;
    };
    switch (offset) {
      case CC.deviceFeatureSelect:
        if (size === 4) this.deviceFeatureSelect = v;
        return;
      case CC.driverFeatureSelect:
        if (size === 4) this.driverFeatureSelect = v;
        return;
      case CC.driverFeature:
        if (size !== 4 || this.status & VIRTIO_STATUS_FEATURES_OK) return;
        if (this.driverFeatureSelect < 2) {
          const shift = BigInt(32 * this.driverFeatureSelect);
          this.driverFeatures = (this.driverFeatures & ~(0xffff_ffffn << shift)) | (BigInt(v) << shift);
        }
        return;
      case CC.msixConfig:
        if (size === 2) this.configVector = v < this.msix.layout.vectors ? v : VIRTIO_MSI_NO_VECTOR;
        return;
      case CC.deviceStatus:
        if (size === 1) this.writeStatus(v);
        return;
      case CC.queueSelect:
        if (size === 2) this.queueSelect = v;
        return;
      case CC.queueSize:
        if (size === 2 && q && !q.ready && v > 0 && v <= q.maxSize && (v & (v - 1)) === 0) q.size = v;
        return;
      case CC.queueMsixVector:
        if (size === 2 && q) {
          this.vectors[this.queueSelect] = v < this.msix.layout.vectors ? v : VIRTIO_MSI_NO_VECTOR;
          const selected = this.queueSelect;
          this.dropKernelIrqs((_k, i) => i === selected);
        }
        return;
      case CC.queueEnable:
        if (size === 2 && q && v === 1) q.ready = true;
        return;
    }
    if (!q || q.ready) return;
    const d = setHalf(q.descAddr, CC.queueDesc);
    if (d !== undefined) q.descAddr = d;
    const a = setHalf(q.availAddr, CC.queueDriver);
    if (a !== undefined) q.availAddr = a;
    const u = setHalf(q.usedAddr, CC.queueDevice);
    if (u !== undefined) q.usedAddr = u;
  }

  private writeStatus(v: number): void {
    if (v === 0) return this.reset();
    let next = v;
    if (next & VIRTIO_STATUS_FEATURES_OK && !(this.status & VIRTIO_STATUS_FEATURES_OK)) {
      const f = this.driverFeatures;
      // The driver may accept only what was offered, and a modern device needs VERSION_1.
      if ((f & ~this.offered) !== 0n || (f & bit(VIRTIO_F_VERSION_1)) === 0n) next &= ~VIRTIO_STATUS_FEATURES_OK;
    }
    next |= this.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    const wasOk = (this.status & VIRTIO_STATUS_DRIVER_OK) !== 0;
    this.status = next & 0xff;
    if (!wasOk && next & VIRTIO_STATUS_DRIVER_OK && next & VIRTIO_STATUS_FEATURES_OK) this.activate();
  }

  private activate(): void {
    const eventIdx = (this.driverFeatures & bit(VIRTIO_F_EVENT_IDX)) !== 0n;
    try {
      for (const q of this.queues) {
        q.eventIdx = eventIdx;
        if (q.ready) q.checkRings();
      }
    } catch (e) {
      if (!isGuestFault(e)) throw e;
      return this.fail((e as Error).message);
    }
    this.active = true;
    const ctx: VirtioContext = {
      queues: this.queues,
      dma: this.dma,
      features: this.driverFeatures,
      usedBuffers: (i) => this.usedBuffers(i),
      interruptQueue: (i) => {
        if (i >= 0 && i < this.queues.length) this.interrupt(this.vectors[i]!, 1);
      },
      configChanged: () => this.configChanged(),
      fail: (reason) => this.fail(reason),
      interruptFd: (i, lost) => this.interruptFd(i, lost),
    };
    this.device.activate(ctx);
  }

  private interruptFd(index: number, lost: () => void): number | undefined {
    const vector = this.vectors[index];
    if (this.events === undefined || vector === undefined || vector === VIRTIO_MSI_NO_VECTOR) return undefined;
    const m = this.msix.message(vector);
    if (m === undefined) return undefined;
    let ev: IrqEvent;
    try {
      ev = this.events.irqEvent({ kind: 'msi', address: m.address, data: m.data });
    } catch {
      return undefined;
    }
    if (ev.fd === undefined) {
      ev.close();
      return undefined;
    }
    this.dropKernelIrqs((_k, i) => i === index);
    this.kernelIrqs.set(index, { ev, vector, lost });
    return ev.fd;
  }

  /** The guest changed what some in-kernel queue interrupts stand for: their holders stop using them first. */
  private dropKernelIrqs(which: (k: { readonly vector: number }, index: number) => boolean): void {
    for (const [i, k] of [...this.kernelIrqs]) {
      if (!which(k, i)) continue;
      this.kernelIrqs.delete(i);
      k.lost();
      k.ev.close();
    }
  }

  private closeKernelIrqs(): void {
    for (const k of this.kernelIrqs.values()) k.ev.close();
    this.kernelIrqs.clear();
  }

  /** Status 0: the device and every queue back to their reset state; interrupts withdrawn. */
  reset(): void {
    if (this.active) this.device.reset();
    this.closeKernelIrqs();
    this.active = false;
    this.failure = undefined;
    this.status = 0;
    this.driverFeatures = 0n;
    this.deviceFeatureSelect = this.driverFeatureSelect = 0;
    this.configVector = VIRTIO_MSI_NO_VECTOR;
    this.queueSelect = 0;
    this.isr = 0;
    this.intx?.set(false);
    for (const q of this.queues) q.reset();
    this.vectors.fill(VIRTIO_MSI_NO_VECTOR);
  }

  get driverOk(): boolean {
    return this.active;
  }

  get deviceStatus(): number {
    return this.status;
  }

  private notify(index: number): void {
    this.stats.notifications++;
    if (!this.active || this.failure !== undefined) return;
    try {
      this.device.queueNotified(index);
    } catch (e) {
      if (!isGuestFault(e)) throw e;
      this.fail((e as Error).message);
    }
  }

  /** The interrupt for queue `index`, if the driver wants one now. */
  private usedBuffers(index: number): void {
    const q = this.queues[index];
    if (!q) return;
    let want: boolean;
    try {
      want = q.needsInterrupt();
    } catch (e) {
      if (!isGuestFault(e)) throw e;
      return this.fail((e as Error).message);
    }
    if (want) this.interrupt(this.vectors[index]!, 1);
  }

  private configChanged(): void {
    this.configGeneration = (this.configGeneration + 1) & 0xff;
    this.interrupt(this.configVector, 2);
  }

  private interrupt(vector: number, isrBit: number): void {
    this.stats.interrupts++;
    if (this.msix.enabled) {
      if (vector !== VIRTIO_MSI_NO_VECTOR) this.msix.notify(vector);
      return;
    }
    this.isr |= isrBit;
    this.intx?.set(true);
  }

  private fail(reason: string): void {
    if (this.failure !== undefined) return;
    this.failure = reason;
    this.status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    if (this.active) this.device.reset();
    this.active = false;
    this.configChanged();
  }

  saveState(): FieldsOf<typeof VIRTIO_PCI_FIELDS> {
    if (this.active) this.device.syncQueues?.();
    return {
      config: this.config.bytes.slice(),
      status: this.status,
      deviceFeatureSelect: this.deviceFeatureSelect,
      driverFeatureSelect: this.driverFeatureSelect,
      driverFeatures: this.driverFeatures,
      configVector: this.configVector,
      configGeneration: this.configGeneration,
      queueSelect: this.queueSelect,
      isr: this.isr,
      queues: this.queues.map((q, i) => ({ size: q.size, enabled: q.ready, vector: this.vectors[i]!, desc: q.descAddr, avail: q.availAddr, used: q.usedAddr, lastAvail: q.lastAvail, usedIdx: q.usedIdx })),
      msix: this.msix.saveState(),
    };
  }

  /** Restores the transport and re-activates the device when the driver had it running. */
  restoreState(s: FieldsOf<typeof VIRTIO_PCI_FIELDS>): void {
    if (s.queues.length !== this.queues.length) throw new VirtioPciError(`${this.name}: saved state has ${s.queues.length} queues, this device ${this.queues.length}`);
    this.reset();
    // Only the guest-writable part of config space can differ; PCI_HEADER_END on are capabilities.
    this.config.bytes.set(s.config.subarray(0, PCI_HEADER_END), 0);
    this.config.bytes.set(s.config.subarray(PCI_HEADER_END), PCI_HEADER_END);
    this.msix.restoreState(s.msix);
    this.deviceFeatureSelect = s.deviceFeatureSelect;
    this.driverFeatureSelect = s.driverFeatureSelect;
    this.driverFeatures = s.driverFeatures;
    this.configVector = s.configVector;
    this.configGeneration = s.configGeneration;
    this.queueSelect = s.queueSelect;
    this.isr = s.isr;
    s.queues.forEach((sq, i) => {
      const q = this.queues[i]!;
      q.size = sq.size;
      q.ready = sq.enabled;
      q.descAddr = sq.desc;
      q.availAddr = sq.avail;
      q.usedAddr = sq.used;
      q.lastAvail = sq.lastAvail;
      q.usedIdx = sq.usedIdx;
      this.vectors[i] = sq.vector;
    });
    this.status = s.status & ~VIRTIO_STATUS_DRIVER_OK;
    if (s.status & VIRTIO_STATUS_DRIVER_OK) this.writeStatus(s.status);
    if (this.isr !== 0) this.intx?.set(true);
  }
}
