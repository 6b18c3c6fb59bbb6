/**
 * virtio-blk (VIRTIO 1.2, 5.2): one request queue; each request is a 16-byte header (type, reserved,
 * sector), data, and a status byte at the end of the device-writable part. Types: IN (read), OUT
 * (write), FLUSH (the backend's flush: fdatasync for a file), GET_ID (the serial, 20 bytes),
 * DISCARD and WRITE_ZEROES (ranges of {sector, count, flags}). A read-only disk offers VIRTIO_BLK_F_RO
 * and fails writes with IOERR; requests past the end of the disk fail with IOERR; unknown types
 * with UNSUPP. Requests complete synchronously, in order.
 */
import type { BlockBackend } from './backends/block-backend.js';
import { type VirtioContext, type VirtioDevice, VIRTIO_ID_BLOCK, bit, readConfigBytes } from './virtio-device.js';
import { isGuestFault, type DescriptorChain } from './virtqueue.js';

export const VIRTIO_BLK_F_SEG_MAX = 2;
export const VIRTIO_BLK_F_RO = 5;
export const VIRTIO_BLK_F_BLK_SIZE = 6;
export const VIRTIO_BLK_F_FLUSH = 9;
export const VIRTIO_BLK_F_DISCARD = 13;
export const VIRTIO_BLK_F_WRITE_ZEROES = 14;

export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;
export const VIRTIO_BLK_T_DISCARD = 11;
export const VIRTIO_BLK_T_WRITE_ZEROES = 13;

export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

export const SECTOR_SIZE = 512;
export const VIRTIO_BLK_ID_BYTES = 20;
/** Whether `s` can be a disk's serial, what GET_ID returns: printable ASCII, at most VIRTIO_BLK_ID_BYTES characters. */
export function isBlkSerial(s: string): boolean {
  return s.length <= VIRTIO_BLK_ID_BYTES && /^[\x20-\x7e]*$/.test(s);
}
export const BLK_QUEUE_SIZE = 256;
/** Largest discard / write-zeroes request: 32 MiB in sectors, one segment. */
const MAX_DISCARD_SECTORS = 65536;
const CONFIG_SIZE = 60;

export interface VirtioBlkOptions {
  readonly backend: BlockBackend;
  /** Up to 20 bytes of ASCII, what GET_ID returns (Linux: /sys/block/vda/serial). */
  readonly serial?: string;
  /** For names and messages. */
  readonly label?: string;
}

export class VirtioBlk implements VirtioDevice {
  readonly deviceType = VIRTIO_ID_BLOCK;
  readonly name: string;
  readonly queueSizes = [BLK_QUEUE_SIZE];
  readonly features: bigint;
  readonly configSize = CONFIG_SIZE;
  readonly pciClass = 0x018000; // mass storage, other
  private readonly cfg = new Uint8Array(CONFIG_SIZE);
  private readonly serial: Uint8Array;
  private ctx: VirtioContext | undefined;
  /** The last host I/O error, reported to the guest as IOERR. */
  lastError: string | undefined;
  private readonly header = new Uint8Array(16);
  private readonly headerView = new DataView(this.header.buffer);
  private readonly status = new Uint8Array(1);
  /** Completed requests by type, and failed ones (diagnostics, tests). */
  readonly stats = { reads: 0, writes: 0, flushes: 0, discards: 0, errors: 0, bytesRead: 0, bytesWritten: 0 };
  /**
   * Data moves between the image and the guest's buffers in place (no per-request buffer or copy):
   * these two run on each piece of a request, at `ioOffset` in the image. Made once, not per request.
   */
  private ioOffset = 0;
  private readonly readFromImage = (dst: Uint8Array, at: number): void => this.opts.backend.read(this.ioOffset + at, dst);
  private readonly writeToImage = (src: Uint8Array, at: number): void => this.opts.backend.write(this.ioOffset + at, src);

  constructor(private readonly opts: VirtioBlkOptions) {
    const b = opts.backend;
    this.name = `virtio-blk${opts.label ? ` (${opts.label})` : ''}`;
    const serial = opts.serial ?? '';
    if (!isBlkSerial(serial)) throw new RangeError(`disk serial "${serial}" must be at most ${VIRTIO_BLK_ID_BYTES} printable ASCII characters`);
    this.serial = new TextEncoder().encode(serial);
    this.features =
      bit(VIRTIO_BLK_F_SEG_MAX) | bit(VIRTIO_BLK_F_BLK_SIZE) | bit(VIRTIO_BLK_F_FLUSH) | (b.readOnly ? bit(VIRTIO_BLK_F_RO) : bit(VIRTIO_BLK_F_DISCARD) | bit(VIRTIO_BLK_F_WRITE_ZEROES));
    const v = new DataView(this.cfg.buffer);
    v.setBigUint64(0, BigInt(Math.floor(b.size / SECTOR_SIZE)), true); // capacity in 512-byte sectors
    v.setUint32(12, BLK_QUEUE_SIZE - 2, true); // seg_max: the header and status take two descriptors
    v.setUint32(20, SECTOR_SIZE, true); // blk_size
    v.setUint16(34, 1, true); // num_queues
    v.setUint32(36, MAX_DISCARD_SECTORS, true); // max_discard_sectors
    v.setUint32(40, 1, true); // max_discard_seg
    v.setUint32(44, 1, true); // discard_sector_alignment
    v.setUint32(48, MAX_DISCARD_SECTORS, true); // max_write_zeroes_sectors
    v.setUint32(52, 1, true); // max_write_zeroes_seg
    this.cfg[56] = 1; // write_zeroes_may_unmap
  }

  get backend(): BlockBackend {
    return this.opts.backend;
  }

  readConfig(offset: number, data: Uint8Array): void {
    readConfigBytes(this.cfg, offset, data);
  }

  writeConfig(): void {
    // writeback (CONFIG_WCE) is not offered: nothing is writable.
  }

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
    let done = 0;
    for (let chain = q.pop(); chain !== undefined; chain = q.pop()) {
      q.push(chain.head, this.handle(chain));
      done++;
    }
    if (done > 0) ctx.usedBuffers(0);
  }

  /** Serves one request; returns the bytes written into the chain (data and status). */
  private handle(c: DescriptorChain): number {
    const wlen = c.writableLength;
    if (c.read(0, this.header) < 16 || wlen < 1) {
      // No room for a status byte, or no header: nothing sensible to answer.
      this.stats.errors++;
      return 0;
    }
    const v = this.headerView;
    const type = v.getUint32(0, true);
    const sector = v.getUint32(8, true) + v.getUint32(12, true) * 0x1_0000_0000;
    const dataIn = wlen - 1; // device-writable bytes before the status
    let st = VIRTIO_BLK_S_OK;
    let written = 0;
    const b = this.opts.backend;
    const inRange = (offset: number, len: number) => Number.isSafeInteger(offset) && offset + len <= b.size;
    try {
      switch (type) {
        case VIRTIO_BLK_T_IN: {
          const off = sector * SECTOR_SIZE;
          if (dataIn % SECTOR_SIZE !== 0 || !inRange(off, dataIn)) {
            st = VIRTIO_BLK_S_IOERR;
            break;
          }
          this.ioOffset = off;
          written = c.writeInPlace(0, dataIn, this.readFromImage);
          this.stats.reads++;
          this.stats.bytesRead += dataIn;
          break;
        }
        case VIRTIO_BLK_T_OUT: {
          const off = sector * SECTOR_SIZE;
          const len = c.readableLength - 16;
          if (b.readOnly || len % SECTOR_SIZE !== 0 || !inRange(off, len)) {
            st = VIRTIO_BLK_S_IOERR;
            break;
          }
          this.ioOffset = off;
          c.readInPlace(16, len, this.writeToImage);
          this.stats.writes++;
          this.stats.bytesWritten += len;
          break;
        }
        case VIRTIO_BLK_T_FLUSH:
          b.flush();
          this.stats.flushes++;
          break;
        case VIRTIO_BLK_T_GET_ID: {
          const id = new Uint8Array(Math.min(VIRTIO_BLK_ID_BYTES, dataIn));
          id.set(this.serial.subarray(0, id.length));
          written = c.write(0, id);
          break;
        }
        case VIRTIO_BLK_T_DISCARD:
        case VIRTIO_BLK_T_WRITE_ZEROES: {
          if (b.readOnly) {
            st = VIRTIO_BLK_S_IOERR;
            break;
          }
          const segs = new Uint8Array(c.readableLength - 16);
          c.read(16, segs);
          const sv = new DataView(segs.buffer);
          if (segs.length === 0 || segs.length % 16 !== 0) {
            st = VIRTIO_BLK_S_IOERR;
            break;
          }
          for (let at = 0; at < segs.length; at += 16) {
            const s = sv.getUint32(at, true) + sv.getUint32(at + 4, true) * 0x1_0000_0000;
            const n = sv.getUint32(at + 8, true);
            const flags = sv.getUint32(at + 12, true);
            // Discard defines no flags; write-zeroes only UNMAP (bit 0).
            if (n > MAX_DISCARD_SECTORS || flags & (type === VIRTIO_BLK_T_DISCARD ? ~0 : ~1) || !inRange(s * SECTOR_SIZE, n * SECTOR_SIZE)) {
              st = type === VIRTIO_BLK_T_DISCARD && flags !== 0 ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
              break;
            }
            if (type === VIRTIO_BLK_T_DISCARD) b.discard(s * SECTOR_SIZE, n * SECTOR_SIZE);
            else b.writeZeroes(s * SECTOR_SIZE, n * SECTOR_SIZE);
          }
          if (st === VIRTIO_BLK_S_OK) this.stats.discards++;
          break;
        }
        default:
          st = VIRTIO_BLK_S_UNSUPP;
      }
    } catch (e) {
      // The guest's own mistakes (bad rings, bad memory) fail the device; a host I/O error fails the request.
      if (isGuestFault(e)) throw e;
      this.lastError = (e as Error).message;
      st = VIRTIO_BLK_S_IOERR;
    }
    if (st !== VIRTIO_BLK_S_OK) this.stats.errors++;
    this.status[0] = st;
    c.write(wlen - 1, this.status);
    return written + 1;
  }
}
