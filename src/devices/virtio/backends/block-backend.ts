/**
 * Where a virtio-blk device keeps its bytes. The device model sees only this interface, so it runs
 * wherever a backend exists: a raw image file on a Node host (src/vmm/host-devices/), bytes in
 * memory in a browser or a test (MemoryBlockBackend). Calls are synchronous: the emulator runs the
 * device inside the vCPU's access, and a request completes before the guest's next instruction.
 */
export interface BlockBackend {
  /** Size in bytes (a multiple of 512). */
  readonly size: number;
  readonly readOnly: boolean;
  /** Reads `dst.length` bytes at `offset` (inside the image). */
  read(offset: number, dst: Uint8Array): void;
  write(offset: number, src: Uint8Array): void;
  /** Makes every acknowledged write durable (a file: fdatasync). */
  flush(): void;
  /** The guest no longer needs [offset, offset+length): its contents become unspecified (here: zero). */
  discard(offset: number, length: number): void;
  /** [offset, offset+length) reads back as zeros. */
  writeZeroes(offset: number, length: number): void;
  close(): void;
}

export class BlockBackendError extends Error {}

/** An image held in memory (tests, browsers). */
export class MemoryBlockBackend implements BlockBackend {
  flushes = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly readOnly = false,
  ) {
    if (bytes.length % 512 !== 0) throw new BlockBackendError(`a disk image must be a multiple of 512 bytes (this one is ${bytes.length})`);
  }
  get size(): number {
    return this.bytes.length;
  }
  read(offset: number, dst: Uint8Array): void {
    dst.set(this.bytes.subarray(offset, offset + dst.length));
  }
  write(offset: number, src: Uint8Array): void {
    this.bytes.set(src, offset);
  }
  flush(): void {
    this.flushes++;
  }
  discard(offset: number, length: number): void {
    this.bytes.fill(0, offset, offset + length);
  }
  writeZeroes(offset: number, length: number): void {
    this.bytes.fill(0, offset, offset + length);
  }
  close(): void {}
}
