/**
 * virtio-console (VIRTIO 1.2, 5.3) with one port, which Linux's virtio_console makes hvc0: the
 * receive queue (0) takes host input, the transmit queue (1) carries guest output to a sink.
 * VIRTIO_CONSOLE_F_SIZE gives the guest the console size; VIRTIO_CONSOLE_F_EMERG_WRITE lets it write
 * a character through the configuration space before the queues are up. Host input arriving with
 * no receive buffer waits (bounded) until the driver adds one.
 */
import type { SerialSink } from '../legacy/serial-sink.js';
import { type VirtioContext, type VirtioDevice, VIRTIO_ID_CONSOLE, bit, readConfigBytes } from './virtio-device.js';

export const VIRTIO_CONSOLE_F_SIZE = 0;
export const VIRTIO_CONSOLE_F_EMERG_WRITE = 2;
const RX = 0;
const TX = 1;
/** Host input kept while the guest has no receive buffers; older bytes are dropped past this. */
export const CONSOLE_INPUT_LIMIT = 64 * 1024;

export class VirtioConsole implements VirtioDevice {
  readonly deviceType = VIRTIO_ID_CONSOLE;
  readonly name = 'virtio-console';
  readonly queueSizes = [64, 64];
  readonly features = bit(VIRTIO_CONSOLE_F_SIZE) | bit(VIRTIO_CONSOLE_F_EMERG_WRITE);
  readonly configSize = 12;
  readonly pciClass = 0x078000; // communication controller, other
  private readonly cfg = new Uint8Array(12);
  private ctx: VirtioContext | undefined;
  private pending: number[] = [];
  /** Input bytes dropped because the guest read nothing for too long. */
  dropped = 0;

  constructor(
    private readonly sink: SerialSink,
    size: { cols: number; rows: number } = { cols: 80, rows: 25 },
  ) {
    const v = new DataView(this.cfg.buffer);
    v.setUint16(0, size.cols, true);
    v.setUint16(2, size.rows, true);
    v.setUint32(4, 1, true); // max_nr_ports (only meaningful with MULTIPORT)
  }

  readConfig(offset: number, data: Uint8Array): void {
    readConfigBytes(this.cfg, offset, data);
  }

  writeConfig(offset: number, data: Uint8Array): void {
    // emerg_wr (offset 8): one character out, even before the queues exist.
    if (offset === 8 && data.length >= 1) this.sink.write(data.subarray(0, 1));
  }

  /** Host input (a terminal, a test): delivered into the guest's receive buffers. */
  input(bytes: Uint8Array): void {
    for (const b of bytes) this.pending.push(b);
    if (this.pending.length > CONSOLE_INPUT_LIMIT) {
      this.dropped += this.pending.length - CONSOLE_INPUT_LIMIT;
      this.pending = this.pending.slice(this.pending.length - CONSOLE_INPUT_LIMIT);
    }
    this.fillReceive();
  }

  activate(ctx: VirtioContext): void {
    this.ctx = ctx;
    this.fillReceive();
  }

  reset(): void {
    this.ctx = undefined;
  }

  queueNotified(index: number): void {
    const ctx = this.ctx;
    if (!ctx) return;
    if (index === RX) return this.fillReceive();
    if (index !== TX) return;
    const q = ctx.queues[TX]!;
    let n = 0;
    for (let c = q.pop(); c !== undefined; c = q.pop()) {
      this.sink.write(c.readAll());
      q.push(c.head, 0);
      n++;
    }
    if (n > 0) ctx.usedBuffers(TX);
  }

  private fillReceive(): void {
    const ctx = this.ctx;
    if (!ctx || this.pending.length === 0) return;
    const q = ctx.queues[RX]!;
    let n = 0;
    while (this.pending.length > 0) {
      const c = q.pop();
      if (c === undefined) break;
      const take = Math.min(c.writableLength, this.pending.length);
      const w = c.write(0, Uint8Array.from(this.pending.slice(0, take)));
      this.pending = this.pending.slice(take);
      q.push(c.head, w);
      n++;
    }
    if (n > 0) ctx.usedBuffers(RX);
  }
}
