import type { BusDevice } from '../../cpu/bus.js';

/** The POST diagnostic port (also Linux's default io_delay port). */
export const POST_CODE_PORT = 0x80;

/**
 * Port 0x80: firmware writes progress codes here and Linux writes it for I/O delays.
 * Writes are kept as `lastCode` (handy when a guest dies early); reads return all-ones
 * as on QEMU. Claiming it keeps this traffic out of the bus's unclaimed-port counts.
 */
export class PostCodePort implements BusDevice {
  lastCode = 0;
  writes = 0;

  read(_offset: number, data: Uint8Array): void {
    data.fill(0xff);
  }

  write(_offset: number, data: Uint8Array): void {
    this.lastCode = data[0] ?? 0;
    this.writes++;
  }
}
