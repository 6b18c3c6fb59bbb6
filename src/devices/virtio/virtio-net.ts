/**
 * virtio-net (VIRTIO 1.2, 5.1) with one receive queue (0) and one transmit queue (1), no offloads:
 * every frame carries the 12-byte virtio_net_hdr (VERSION_1 layout, num_buffers included) with no
 * checksum or segmentation work asked. VIRTIO_NET_F_MAC gives the guest its address,
 * VIRTIO_NET_F_STATUS says whether the link is up (the backend's: a stream socket without a peer is down, and a
 * change interrupts the driver, which turns the carrier off or on). Frames from the backend wait (bounded) for receive
 * buffers; frames larger than a receive buffer are dropped and counted, as a NIC drops them.
 */
import type { NetBackend } from './backends/net-backend.js';
import { type VirtioContext, type VirtioDevice, VIRTIO_ID_NET, bit, readConfigBytes } from './virtio-device.js';

export const VIRTIO_NET_F_MAC = 5;
export const VIRTIO_NET_F_STATUS = 16;
export const VIRTIO_NET_S_LINK_UP = 1;
export const VIRTIO_NET_HDR_SIZE = 12;
const RX = 0;
const TX = 1;
/** Received frames kept while the guest has no buffers. */
export const NET_RX_BACKLOG = 256;
/** Largest frame accepted from the guest or the backend (no TSO: an Ethernet frame with VLAN tag, and slack). */
export const NET_MAX_FRAME = 65550;

/** Parses "52:54:00:12:34:56" into 6 bytes; throws a one-line error naming the text. */
export function parseMac(text: string): Uint8Array {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(text);
  if (!m) throw new RangeError(`MAC address "${text}" is not six hex bytes separated by colons (e.g. 52:54:00:12:34:56)`);
  const b = Uint8Array.from(m.slice(1), (x) => parseInt(x, 16));
  if (b[0]! & 1) throw new RangeError(`MAC address "${text}" is a multicast address; a NIC needs a unicast one (even first byte)`);
  return b;
}

export function formatMac(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export class VirtioNet implements VirtioDevice {
  readonly deviceType = VIRTIO_ID_NET;
  readonly name: string;
  readonly queueSizes = [256, 256];
  readonly features = bit(VIRTIO_NET_F_MAC) | bit(VIRTIO_NET_F_STATUS);
  readonly configSize = 8;
  readonly pciClass = 0x020000; // Ethernet controller
  private readonly cfg = new Uint8Array(8);
  private ctx: VirtioContext | undefined;
  private backlog: Uint8Array[] = [];
  private readonly hdr = new Uint8Array(VIRTIO_NET_HDR_SIZE);
  readonly stats = { txFrames: 0, rxFrames: 0, txBytes: 0, rxBytes: 0, rxDropped: 0, txDropped: 0 };

  constructor(
    readonly backend: NetBackend,
    readonly mac: Uint8Array,
  ) {
    this.name = `virtio-net (${formatMac(mac)}, ${backend.description})`;
    this.cfg.set(mac, 0);
    this.setLinkStatus(backend.linkUp !== false);
    new DataView(this.hdr.buffer).setUint16(10, 1, true); // num_buffers = 1
    backend.onReceive((frame) => this.receive(frame));
    backend.onLinkChange?.((up) => {
      this.setLinkStatus(up);
      this.ctx?.configChanged();
    });
  }

  private setLinkStatus(up: boolean): void {
    new DataView(this.cfg.buffer).setUint16(6, up ? VIRTIO_NET_S_LINK_UP : 0, true);
  }

  readConfig(offset: number, data: Uint8Array): void {
    readConfigBytes(this.cfg, offset, data);
  }

  writeConfig(): void {}

  activate(ctx: VirtioContext): void {
    this.ctx = ctx;
    this.deliver();
  }

  reset(): void {
    this.ctx = undefined;
    this.backlog = [];
  }

  queueNotified(index: number): void {
    const ctx = this.ctx;
    if (!ctx) return;
    if (index === RX) return this.deliver();
    if (index !== TX) return;
    const q = ctx.queues[TX]!;
    let n = 0;
    for (let c = q.pop(); c !== undefined; c = q.pop()) {
      const len = c.readableLength - VIRTIO_NET_HDR_SIZE;
      if (len <= 0 || len > NET_MAX_FRAME) this.stats.txDropped++;
      else {
        const frame = new Uint8Array(len);
        c.read(VIRTIO_NET_HDR_SIZE, frame);
        this.stats.txFrames++;
        this.stats.txBytes += len;
        this.backend.send(frame);
      }
      q.push(c.head, 0);
      n++;
    }
    if (n > 0) ctx.usedBuffers(TX);
  }

  /** A frame from the backend. */
  private receive(frame: Uint8Array): void {
    if (frame.length > NET_MAX_FRAME || this.ctx === undefined || this.backlog.length >= NET_RX_BACKLOG) {
      this.stats.rxDropped++;
      return;
    }
    this.backlog.push(frame);
    this.deliver();
  }

  private deliver(): void {
    const ctx = this.ctx;
    if (!ctx) return;
    const q = ctx.queues[RX]!;
    let n = 0;
    try {
      while (this.backlog.length > 0) {
        const c = q.pop();
        if (c === undefined) break;
        const frame = this.backlog.shift()!;
        if (c.writableLength < VIRTIO_NET_HDR_SIZE + frame.length) {
          this.stats.rxDropped++;
          q.push(c.head, 0);
        } else {
          c.write(0, this.hdr);
          c.write(VIRTIO_NET_HDR_SIZE, frame);
          q.push(c.head, VIRTIO_NET_HDR_SIZE + frame.length);
          this.stats.rxFrames++;
          this.stats.rxBytes += frame.length;
        }
        n++;
      }
    } catch (e) {
      ctx.fail((e as Error).message);
      return;
    }
    if (n > 0) ctx.usedBuffers(RX);
  }
}
