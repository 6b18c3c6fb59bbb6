/**
 * virtio-rng, the entropy device (VIRTIO 1.2, 5.4): one request queue; the device fills each
 * device-writable buffer with random bytes. The source is the host's CSPRNG (Web Crypto's
 * getRandomValues, present in Node and browsers) unless a test injects one.
 */
import { type VirtioContext, type VirtioDevice, VIRTIO_ID_RNG } from './virtio-device.js';

/** Web Crypto's limit per getRandomValues call. */
const CRYPTO_CHUNK = 65536;
/** Per request: Linux asks for small amounts; a huge buffer gets this much. */
const MAX_REQUEST = 1 << 20;

export type EntropySource = (dst: Uint8Array) => void;

export const hostEntropy: EntropySource = (dst) => {
  for (let at = 0; at < dst.length; at += CRYPTO_CHUNK) globalThis.crypto.getRandomValues(dst.subarray(at, Math.min(dst.length, at + CRYPTO_CHUNK)));
};

export class VirtioRng implements VirtioDevice {
  readonly deviceType = VIRTIO_ID_RNG;
  readonly name = 'virtio-rng';
  readonly queueSizes = [64];
  readonly features = 0n;
  readonly configSize = 0;
  readonly pciClass = 0x00ff00; // unclassified
  private ctx: VirtioContext | undefined;
  /** Bytes handed to the guest. */
  bytesServed = 0;

  constructor(private readonly source: EntropySource = hostEntropy) {}

  readConfig(_offset: number, data: Uint8Array): void {
    data.fill(0);
  }

  writeConfig(): void {}

  activate(ctx: VirtioContext): void {
    this.ctx = ctx;
  }

  reset(): void {
    this.ctx = undefined;
  }

  queueNotified(index: number): void {
    const ctx = this.ctx;
    if (!ctx || index !== 0) return;
    const q = ctx.queues[0]!;
    let n = 0;
    for (let c = q.pop(); c !== undefined; c = q.pop()) {
      const buf = new Uint8Array(Math.min(c.writableLength, MAX_REQUEST));
      this.source(buf);
      const w = c.write(0, buf);
      this.bytesServed += w;
      q.push(c.head, w);
      n++;
    }
    if (n > 0) ctx.usedBuffers(0);
  }
}
