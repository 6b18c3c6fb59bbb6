/**
 * A virtio driver written from the specification, playing the guest in unit tests: it finds the
 * virtio structures through the PCI capability list (as Linux's virtio_pci_modern does), negotiates
 * features, places split rings in guest RAM, submits descriptor chains (direct or indirect) and
 * reads the used ring. Not the acceptance test (that is Linux's own driver), but it lets every
 * device model be checked without a guest.
 */
import { Bus } from '../../../cpu/bus.js';
import { InProcessEventChannels } from '../../../cpu/bus-events.js';
import type { IrqRoute } from '../../../cpu/event-channels.js';
import { RecordingIrqLine, RecordingMsiSink } from '../../../cpu/irq.js';
import { GuestMemory } from '../../../memory/guest-memory.js';
import { PciBus } from '../../pci/pci-bus.js';
import { pciIntxGsi } from '../../pci/pci-intx.js';
import { PCI_COMMAND, PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY } from '../../pci/pci-config.js';
import { CC, VirtioPciTransport } from '../transport-pci.js';
import { VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1, bit, type VirtioDevice } from '../virtio-device.js';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../virtqueue.js';

export const RAM = 8 << 20;
const BAR1 = 0xc000_0000;
const BAR4 = 0xc001_0000;
const DEVFN = 3 << 3;

export interface DriverOptions {
  /** Use MSI-X (default) or INTx. */
  readonly msix?: boolean;
  /** Transport features the driver accepts besides VERSION_1 (default: indirect and event idx). */
  readonly ring?: bigint;
  /** Device-specific features to accept (default: all offered). */
  readonly accept?: (offered: bigint) => bigint;
  /** Queue size to set (default: the device's maximum). */
  readonly queueSize?: number;
  /** Give the transport in-process event channels (notifications become doorbells, MSIs interrupt events). */
  readonly events?: boolean;
  /** Build the event channels with this instead (e.g. to stand in for kvm's in-kernel interrupt events). */
  readonly makeEvents?: (mmio: Bus, deliver: (r: IrqRoute) => void) => InProcessEventChannels;
}

interface QueueInfo {
  size: number;
  desc: number;
  avail: number;
  used: number;
  nextDesc: number;
  availIdx: number;
  usedSeen: number;
}

export class TestDriver {
  readonly memory = new GuestMemory([{ name: 'ram', gpa: 0, size: RAM, bytes: new Uint8Array(RAM) }]);
  readonly mmio = new Bus('mmio');
  readonly msi = new RecordingMsiSink();
  readonly lines = new Map<number, RecordingIrqLine>();
  readonly pci: PciBus;
  readonly transport: VirtioPciTransport;
  readonly caps = new Map<number, { bar: number; offset: number; length: number; extra: number }>();
  readonly queues: QueueInfo[] = [];
  features = 0n;
  /** The event channels, with `events`: `dispatch()` runs the rung doorbells as emu's run loop does. */
  readonly events: InProcessEventChannels | undefined;
  private heap = 0x10000;
  private readonly v: DataView;

  constructor(
    readonly device: VirtioDevice,
    private readonly opts: DriverOptions = {},
  ) {
    this.v = new DataView(this.memory.regions[0]!.bytes.buffer);
    this.pci = new PciBus(new Bus('pio'), this.mmio, (gsi) => {
      const l = new RecordingIrqLine(gsi);
      this.lines.set(gsi, l);
      return l;
    });
    const pio = new Bus('pio');
    const deliver = (r: IrqRoute): void => (r.kind === 'msi' ? void this.msi.signalMsi(r.address, r.data) : this.lines.get(r.gsi)?.set(true));
    this.events = opts.makeEvents !== undefined ? opts.makeEvents(this.mmio, deliver) : opts.events ? new InProcessEventChannels(pio, this.mmio, deliver) : undefined;
    this.transport = new VirtioPciTransport(device, this.memory, this.msi, this.events);
    this.pci.attach(3, 0, this.transport);
  }

  cfgRead(off: number, size: number): number {
    return this.pci.configRead(DEVFN, off, size);
  }

  cfgWrite(off: number, size: number, v: number): void {
    this.pci.configWrite(DEVFN, off, size, v);
  }

  alloc(len: number, align = 16): number {
    this.heap = Math.ceil(this.heap / align) * align;
    const at = this.heap;
    this.heap += len;
    if (this.heap > RAM) throw new Error('test driver out of guest memory');
    return at;
  }

  bytes(gpa: number, len: number): Uint8Array {
    return this.memory.regions[0]!.bytes.subarray(gpa, gpa + len);
  }

  /** The INTx line of slot 3 pin A. */
  get intx(): RecordingIrqLine {
    return this.lines.get(pciIntxGsi(3, 1))!;
  }

  private cap(type: number): { bar: number; offset: number; length: number; extra: number } {
    const c = this.caps.get(type);
    if (!c) throw new Error(`no virtio capability of type ${type}`);
    return c;
  }

  common(off: number, size: 1 | 2 | 4): number {
    return this.mmio.readValue(BAR4 + this.cap(1).offset + off, size);
  }

  setCommon(off: number, size: 1 | 2 | 4, v: number): void {
    this.mmio.writeValue(BAR4 + this.cap(1).offset + off, size, v);
  }

  deviceConfig(off: number, size: 1 | 2 | 4): number {
    return this.mmio.readValue(BAR4 + this.cap(4).offset + off, size);
  }

  isr(): number {
    return this.mmio.readValue(BAR4 + this.cap(3).offset, 1);
  }

  /** Status ACK, DRIVER, features, FEATURES_OK, queues, DRIVER_OK; returns the final status. */
  init(): number {
    this.cfgWrite(0x14, 4, BAR1);
    this.cfgWrite(0x20, 4, BAR4);
    this.cfgWrite(0x24, 4, 0);
    this.cfgWrite(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    for (let at = this.cfgRead(0x34, 1); at !== 0; at = this.cfgRead(at + 1, 1)) {
      if (this.cfgRead(at, 1) !== 0x09) continue;
      const type = this.cfgRead(at + 3, 1);
      this.caps.set(type, { bar: this.cfgRead(at + 4, 1), offset: this.cfgRead(at + 8, 4), length: this.cfgRead(at + 12, 4), extra: this.cfgRead(at + 2, 1) >= 20 ? this.cfgRead(at + 16, 4) : 0 });
    }
    this.setCommon(CC.deviceStatus, 1, 0);
    this.setCommon(CC.deviceStatus, 1, 1);
    this.setCommon(CC.deviceStatus, 1, 3);
    let offered = 0n;
    for (let sel = 0; sel < 2; sel++) {
      this.setCommon(CC.deviceFeatureSelect, 4, sel);
      offered |= BigInt(this.common(CC.deviceFeature, 4)) << BigInt(32 * sel);
    }
    const ring = this.opts.ring ?? bit(VIRTIO_F_INDIRECT_DESC) | bit(VIRTIO_F_EVENT_IDX);
    const deviceBits = offered & ((1n << 24n) - 1n);
    this.features = (this.opts.accept ? this.opts.accept(deviceBits) : deviceBits) | bit(VIRTIO_F_VERSION_1) | (ring & offered);
    for (let sel = 0; sel < 2; sel++) {
      this.setCommon(CC.driverFeatureSelect, 4, sel);
      this.setCommon(CC.driverFeature, 4, Number((this.features >> BigInt(32 * sel)) & 0xffff_ffffn));
    }
    this.setCommon(CC.deviceStatus, 1, 11);
    if (!(this.common(CC.deviceStatus, 1) & 8)) return this.common(CC.deviceStatus, 1);
    const msix = this.opts.msix ?? true;
    if (msix) {
      const cap = this.transport.msix.capOffset;
      this.cfgWrite(cap + 2, 2, 0x8000);
      // Vector i: address 0xfee00000, data 0x40 + i, unmasked.
      const n = this.transport.msix.layout.vectors;
      for (let i = 0; i < n; i++) {
        this.mmio.writeValue(BAR1 + 16 * i, 4, 0xfee0_0000);
        this.mmio.writeValue(BAR1 + 16 * i + 8, 4, 0x40 + i);
        this.mmio.writeValue(BAR1 + 16 * i + 12, 4, 0);
      }
      this.setCommon(CC.msixConfig, 2, 0);
    }
    const nq = this.common(CC.numQueues, 2);
    for (let q = 0; q < nq; q++) {
      this.setCommon(CC.queueSelect, 2, q);
      const max = this.common(CC.queueSize, 2);
      const size = Math.min(this.opts.queueSize ?? max, max);
      this.setCommon(CC.queueSize, 2, size);
      const desc = this.alloc(16 * size, 16);
      const avail = this.alloc(6 + 2 * size, 2);
      const used = this.alloc(6 + 8 * size, 4);
      const w64 = (off: number, v: number) => {
        this.setCommon(off, 4, v >>> 0);
        this.setCommon(off + 4, 4, Math.floor(v / 2 ** 32));
      };
      w64(CC.queueDesc, desc);
      w64(CC.queueDriver, avail);
      w64(CC.queueDevice, used);
      if (msix) this.setCommon(CC.queueMsixVector, 2, q + 1);
      this.setCommon(CC.queueEnable, 2, 1);
      this.queues.push({ size, desc, avail, used, nextDesc: 0, availIdx: 0, usedSeen: 0 });
    }
    this.setCommon(CC.deviceStatus, 1, 15);
    return this.common(CC.deviceStatus, 1);
  }

  private putDesc(table: number, i: number, addr: number, len: number, flags: number, next: number): void {
    const d = table + 16 * i;
    this.v.setBigUint64(d, BigInt(addr), true);
    this.v.setUint32(d + 8, len, true);
    this.v.setUint16(d + 12, flags, true);
    this.v.setUint16(d + 14, next, true);
  }

  /**
   * Makes a chain available on queue `q`: `out` buffers (copied to fresh guest memory) then `inLens`
   * device-writable buffers; returns the head and the writable buffers' addresses.
   */
  submit(q: number, out: readonly Uint8Array[], inLens: readonly number[], indirect = false): { head: number; ins: number[] } {
    const Q = this.queues[q]!;
    const bufs: [number, number, number][] = [];
    for (const o of out) {
      const a = this.alloc(Math.max(o.length, 1));
      this.bytes(a, o.length).set(o);
      bufs.push([a, o.length, 0]);
    }
    const ins: number[] = [];
    for (const n of inLens) {
      const a = this.alloc(Math.max(n, 1));
      this.bytes(a, n).fill(0xee);
      ins.push(a);
      bufs.push([a, n, VIRTQ_DESC_F_WRITE]);
    }
    const head = Q.nextDesc % Q.size;
    if (indirect) {
      const t = this.alloc(16 * bufs.length);
      bufs.forEach(([a, n, f], i) => this.putDesc(t, i, a, n, f | (i + 1 < bufs.length ? VIRTQ_DESC_F_NEXT : 0), i + 1));
      this.putDesc(Q.desc, head, t, 16 * bufs.length, VIRTQ_DESC_F_INDIRECT, 0);
      Q.nextDesc++;
    } else {
      bufs.forEach(([a, n, f], i) => {
        const idx = (head + i) % Q.size;
        this.putDesc(Q.desc, idx, a, n, f | (i + 1 < bufs.length ? VIRTQ_DESC_F_NEXT : 0), (idx + 1) % Q.size);
      });
      Q.nextDesc += bufs.length;
    }
    this.v.setUint16(Q.avail + 4 + 2 * (Q.availIdx % Q.size), head, true);
    Q.availIdx = (Q.availIdx + 1) & 0xffff;
    this.v.setUint16(Q.avail + 2, Q.availIdx, true);
    return { head, ins };
  }

  /** Writes the notify register of queue `q`. */
  kick(q: number): void {
    const c = this.cap(2);
    this.mmio.writeValue(BAR4 + c.offset + q * c.extra, 2, q);
  }

  /** New used entries of queue `q` since the last call. */
  used(q: number): { id: number; len: number }[] {
    const Q = this.queues[q]!;
    const idx = this.v.getUint16(Q.used + 2, true);
    const out: { id: number; len: number }[] = [];
    while (Q.usedSeen !== idx) {
      const e = Q.used + 4 + 8 * (Q.usedSeen % Q.size);
      out.push({ id: this.v.getUint32(e, true), len: this.v.getUint32(e + 4, true) });
      Q.usedSeen = (Q.usedSeen + 1) & 0xffff;
    }
    return out;
  }

  /** Sets used_event of queue `q` (event idx: interrupt me after this used index). */
  setUsedEvent(q: number, v: number): void {
    const Q = this.queues[q]!;
    this.v.setUint16(Q.avail + 4 + 2 * Q.size, v, true);
  }

  /** The device's avail_event of queue `q`. */
  availEvent(q: number): number {
    const Q = this.queues[q]!;
    return this.v.getUint16(Q.used + 4 + 8 * Q.size, true);
  }
}
