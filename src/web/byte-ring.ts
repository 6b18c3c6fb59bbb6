/**
 * A single-producer, single-consumer byte ring in a SharedArrayBuffer: COM1's bytes between the
 * machine's Worker and the page without a message per byte. Two Int32 cursors count bytes written and
 * read (they wrap at 2^32; the difference is what is buffered), followed by the data area of a power
 * of two bytes. The writer publishes with Atomics.store after copying, the reader frees space the same
 * way, so neither ever sees half a write. `Atomics.notify` on the write cursor wakes a reader that waits.
 */
const WRITE = 0;
const READ = 1;
const HEADER_BYTES = 8;

export class ByteRing {
  readonly capacity: number;
  private readonly cursors: Int32Array;
  private readonly data: Uint8Array;

  /** A new ring's shared memory: `capacity` bytes (a power of two) plus its header. */
  static allocate(capacity: number): SharedArrayBuffer {
    if (!Number.isInteger(Math.log2(capacity)) || capacity < 16) throw new RangeError(`ByteRing: capacity ${capacity} is not a power of two >= 16`);
    return new SharedArrayBuffer(HEADER_BYTES + capacity);
  }

  constructor(readonly buffer: SharedArrayBuffer) {
    this.capacity = buffer.byteLength - HEADER_BYTES;
    if (this.capacity < 16 || (this.capacity & (this.capacity - 1)) !== 0) throw new RangeError(`ByteRing: a ${buffer.byteLength}-byte buffer is no ring`);
    this.cursors = new Int32Array(buffer, 0, 2);
    this.data = new Uint8Array(buffer, HEADER_BYTES, this.capacity);
  }

  /** Bytes waiting to be read. */
  get available(): number {
    return (Atomics.load(this.cursors, WRITE) - Atomics.load(this.cursors, READ)) >>> 0;
  }

  /** Copies as much of `bytes` as fits; returns how many bytes were taken (the rest is the caller's to keep or drop). */
  write(bytes: Uint8Array): number {
    const w = Atomics.load(this.cursors, WRITE);
    const free = this.capacity - ((w - Atomics.load(this.cursors, READ)) >>> 0);
    const n = Math.min(free, bytes.length);
    if (n === 0) return 0;
    const at = w & (this.capacity - 1);
    const first = Math.min(n, this.capacity - at);
    this.data.set(bytes.subarray(0, first), at);
    if (n > first) this.data.set(bytes.subarray(first, n), 0);
    Atomics.store(this.cursors, WRITE, (w + n) | 0);
    Atomics.notify(this.cursors, WRITE);
    return n;
  }

  /** Takes every waiting byte (at most `max`), or an empty array. */
  read(max = this.capacity): Uint8Array {
    const r = Atomics.load(this.cursors, READ);
    const n = Math.min(max, (Atomics.load(this.cursors, WRITE) - r) >>> 0);
    const out = new Uint8Array(n);
    if (n === 0) return out;
    const at = r & (this.capacity - 1);
    const first = Math.min(n, this.capacity - at);
    out.set(this.data.subarray(at, at + first));
    if (n > first) out.set(this.data.subarray(0, n - first), first);
    Atomics.store(this.cursors, READ, (r + n) | 0);
    return out;
  }

  /** The write cursor: how many bytes were ever written (mod 2^32). */
  get writeCursor(): number {
    return Atomics.load(this.cursors, WRITE);
  }

  /** For the reader: drops what was written before write cursor `cursor` (bytes after it stay). */
  discardBefore(cursor: number): void {
    const r = Atomics.load(this.cursors, READ);
    const ahead = ((cursor | 0) - r) >>> 0;
    if (ahead > 0 && ahead <= this.available) Atomics.store(this.cursors, READ, cursor | 0);
  }

  /** For the reader: the write cursor to wait on (Atomics.waitAsync(cursors, 0, value)). */
  get waitTarget(): { readonly array: Int32Array; readonly index: number; readonly value: number } {
    return { array: this.cursors, index: WRITE, value: this.writeCursor };
  }
}
