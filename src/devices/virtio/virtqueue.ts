/**
 * A split virtqueue, device side (Virtual I/O Device (VIRTIO) Version 1.2, 2.7 "Split Virtqueues"):
 * - the descriptor table (16 bytes each: addr u64, len u32, flags u16 NEXT/WRITE/INDIRECT, next u16),
 *   the driver's available ring (flags, idx, ring[size], used_event) and the device's used ring
 *   (flags, idx, ring[size] of {id u32, len u32}, avail_event), all in guest memory through GuestDma;
 * - chains may use indirect descriptor tables (VIRTIO_F_INDIRECT_DESC), one level deep;
 * - with VIRTIO_F_EVENT_IDX the device publishes avail_event (notify me past this index) and honours
 *   used_event (interrupt me once used idx passes it); without it, the ring flags NO_NOTIFY and
 *   NO_INTERRUPT say the same coarsely.
 * Nothing here knows the transport (PCI, MMIO) or the device type. A malformed chain (a loop, a
 * descriptor outside the table, a readable descriptor after a writable one, a nested indirect table,
 * memory that is not RAM) throws `VirtqueueError`: the transport then marks the device as needing a
 * reset, as the specification asks, instead of guessing.
 */
import { DmaError, type GuestDma } from '../../memory/dma.js';
import { VmmError } from '../../util/errors.js';

export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
export const VIRTQ_USED_F_NO_NOTIFY = 1;
export const VIRTQ_DESC_SIZE = 16;
/** The largest queue a split ring allows (queue size is a u16 power of two). */
export const VIRTQ_MAX_SIZE = 32768;

export class VirtqueueError extends VmmError {
  constructor(message: string) {
    super('virtqueue', message);
  }
}

/** One buffer of a chain: guest-physical address and length. */
export interface Segment {
  readonly addr: number;
  readonly len: number;
}

/**
 * A descriptor chain the driver made available: what the device reads (`readable`, in order) and
 * where it writes (`writable`, in order). `head` goes back in the used ring.
 */
export class DescriptorChain {
  readonly readable: Segment[] = [];
  readonly writable: Segment[] = [];
  constructor(
    readonly head: number,
    private readonly dma: GuestDma,
  ) {}

  get readableLength(): number {
    let n = 0;
    for (const s of this.readable) n += s.len;
    return n;
  }

  get writableLength(): number {
    let n = 0;
    for (const s of this.writable) n += s.len;
    return n;
  }

  /** Copies readable bytes from `offset` into `dst`; returns how many there were. */
  read(offset: number, dst: Uint8Array): number {
    return eachPiece(this.readable, offset, dst.length, (a, n, at) => this.dma.read(a, dst.subarray(at, at + n)));
  }

  /** All readable bytes, copied. */
  readAll(limit = Infinity): Uint8Array {
    const out = new Uint8Array(Math.min(this.readableLength, limit));
    this.read(0, out);
    return out;
  }

  /**
   * Hands the readable bytes [offset, offset+len) to `use(bytes, at)` piece by piece, `at` counting
   * from `offset`: guest memory itself where a buffer lies in one RAM region (no copy), a copy
   * otherwise. Returns how many bytes there were.
   */
  readInPlace(offset: number, len: number, use: (src: Uint8Array, at: number) => void): number {
    return eachPiece(this.readable, offset, len, (a, n, at) => {
      let bytes = this.dma.view(a, n);
      if (bytes === undefined) {
        bytes = new Uint8Array(n);
        this.dma.read(a, bytes);
      }
      use(bytes, at);
    });
  }

  /**
   * Fills the writable bytes [offset, offset+len) by `fill(bytes, at)` piece by piece, `at` counting
   * from `offset`: straight into guest memory where a buffer lies in one RAM region (no copy; the
   * write is reported to the DMA before `fill` runs, so a fill that fails half-way is still seen),
   * through a copy otherwise. Returns how many bytes fitted.
   */
  writeInPlace(offset: number, len: number, fill: (dst: Uint8Array, at: number) => void): number {
    return eachPiece(this.writable, offset, len, (a, n, at) => {
      const bytes = this.dma.view(a, n);
      if (bytes !== undefined) {
        this.dma.wrote(a, n);
        fill(bytes, at);
      } else {
        const tmp = new Uint8Array(n);
        fill(tmp, at);
        this.dma.write(a, tmp);
      }
    });
  }

  /** Writes `src` into the writable buffers from `offset`; returns how many bytes fitted. */
  write(offset: number, src: Uint8Array): number {
    return eachPiece(this.writable, offset, src.length, (a, n, at) => this.dma.write(a, src.subarray(at, at + n)));
  }
}

/**
 * Calls `piece(addr, n, at)` for the bytes [offset, offset+len) of the buffers `list`, one call per
 * buffer they touch (`at` counts from `offset`); returns how many bytes the buffers held.
 */
function eachPiece(list: readonly Segment[], offset: number, len: number, piece: (addr: number, n: number, at: number) => void): number {
  let done = 0;
  for (const s of list) {
    if (done === len) break;
    if (offset >= s.len) {
      offset -= s.len;
      continue;
    }
    const n = Math.min(s.len - offset, len - done);
    piece(s.addr + offset, n, done);
    done += n;
    offset = 0;
  }
  return done;
}

export class Virtqueue {
  /** Queue size the driver set (a power of two up to maxSize). */
  size: number;
  descAddr = 0;
  availAddr = 0;
  usedAddr = 0;
  ready = false;
  /** VIRTIO_F_EVENT_IDX was negotiated. */
  eventIdx = false;
  /** Next available-ring index to take (free-running u16). */
  lastAvail = 0;
  /** Next used-ring index to fill (free-running u16). */
  usedIdx = 0;
  /** The used index at the last interrupt decision, for event-idx suppression. */
  private signalledUsed = 0;
  private signalledValid = false;

  constructor(
    private readonly dma: GuestDma,
    readonly maxSize: number,
  ) {
    if (!Number.isInteger(maxSize) || maxSize < 1 || maxSize > VIRTQ_MAX_SIZE || (maxSize & (maxSize - 1)) !== 0) {
      throw new RangeError(`virtqueue size ${maxSize} must be a power of two from 1 to ${VIRTQ_MAX_SIZE}`);
    }
    this.size = maxSize;
  }

  reset(): void {
    this.size = this.maxSize;
    this.descAddr = this.availAddr = this.usedAddr = 0;
    this.ready = false;
    this.eventIdx = false;
    this.lastAvail = this.usedIdx = 0;
    this.signalledUsed = 0;
    this.signalledValid = false;
  }

  /** The driver's available index. */
  availIdx(): number {
    return this.dma.readU16(this.availAddr + 2);
  }

  /** True when the driver made buffers available that the device has not taken. */
  hasAvailable(): boolean {
    return this.ready && this.availIdx() !== this.lastAvail;
  }

  /** Takes the next available chain, or undefined when the ring is empty. */
  pop(): DescriptorChain | undefined {
    if (!this.ready) return undefined;
    const avail = this.availIdx();
    const pending = (avail - this.lastAvail) & 0xffff;
    if (pending === 0) return undefined;
    if (pending > this.size) throw new VirtqueueError(`available index ${avail} is ${pending} ahead of the device's ${this.lastAvail}, more than the queue's ${this.size} entries`);
    const head = this.dma.readU16(this.availAddr + 4 + 2 * (this.lastAvail % this.size));
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    if (this.eventIdx) this.publishAvailEvent();
    return this.walk(head);
  }

  /** Tells the driver to notify once it makes index `lastAvail` available (event idx). */
  publishAvailEvent(): void {
    this.dma.writeU16(this.usedAddr + 4 + 8 * this.size, this.lastAvail);
  }

  private walk(head: number): DescriptorChain {
    if (head >= this.size) throw new VirtqueueError(`descriptor head ${head} is outside the ${this.size}-entry table`);
    const chain = new DescriptorChain(head, this.dma);
    let table = this.descAddr;
    let tableSize = this.size;
    let i = head;
    let indirect = false;
    let seen = 0;
    for (;;) {
      if (seen++ >= tableSize) throw new VirtqueueError(`descriptor chain from ${head} is longer than its ${tableSize}-entry table (a loop?)`);
      const d = table + VIRTQ_DESC_SIZE * i;
      const addr = this.dma.readU64(d);
      const len = this.dma.readU32(d + 8);
      const flags = this.dma.readU16(d + 12);
      const next = this.dma.readU16(d + 14);
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        if (indirect) throw new VirtqueueError(`descriptor ${i} of an indirect table is itself indirect`);
        if (flags & VIRTQ_DESC_F_NEXT) throw new VirtqueueError(`indirect descriptor ${i} also has NEXT`);
        if (len === 0 || len % VIRTQ_DESC_SIZE !== 0) throw new VirtqueueError(`indirect table of ${len} bytes is not a whole number of descriptors`);
        indirect = true;
        table = addr;
        tableSize = len / VIRTQ_DESC_SIZE;
        i = 0;
        seen = 0;
        continue;
      }
      if (flags & VIRTQ_DESC_F_WRITE) chain.writable.push({ addr, len });
      else if (chain.writable.length > 0) throw new VirtqueueError(`descriptor ${i}: a device-readable buffer after a writable one`);
      else chain.readable.push({ addr, len });
      if (!(flags & VIRTQ_DESC_F_NEXT)) return chain;
      if (next >= tableSize) throw new VirtqueueError(`descriptor ${i} links to ${next}, outside its ${tableSize}-entry table`);
      i = next;
    }
  }

  /** Returns a chain to the driver with `written` bytes in its writable buffers. */
  push(head: number, written: number): void {
    const slot = this.usedAddr + 4 + 8 * (this.usedIdx % this.size);
    this.dma.writeU32(slot, head);
    this.dma.writeU32(slot + 4, written);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    // The entry is written before the index that publishes it.
    this.dma.writeU16(this.usedAddr + 2, this.usedIdx);
  }

  /**
   * Whether the driver wants an interrupt for the used entries added since the last call: with
   * event idx, when used idx moved past used_event (vring_need_event); otherwise unless NO_INTERRUPT.
   */
  needsInterrupt(): boolean {
    const now = this.usedIdx;
    const old = this.signalledUsed;
    const valid = this.signalledValid;
    this.signalledUsed = now;
    this.signalledValid = true;
    if (!this.eventIdx) return (this.dma.readU16(this.availAddr) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
    if (!valid) return true;
    const usedEvent = this.dma.readU16(this.availAddr + 4 + 2 * this.size);
    return ((now - usedEvent - 1) & 0xffff) < ((now - old) & 0xffff);
  }

  /** Guest-memory bytes the three parts take for a queue of `size` (for tests and checks). */
  static ringBytes(size: number): { desc: number; avail: number; used: number } {
    return { desc: VIRTQ_DESC_SIZE * size, avail: 6 + 2 * size, used: 6 + 8 * size };
  }

  /** The queue's addresses are RAM the DMA can reach (checked when the driver enables it). */
  checkRings(): void {
    const b = Virtqueue.ringBytes(this.size);
    for (const [what, addr, len, align] of [['descriptor table', this.descAddr, b.desc, 16], ['available ring', this.availAddr, b.avail, 2], ['used ring', this.usedAddr, b.used, 4]] as const) {
      if (addr % align !== 0) throw new VirtqueueError(`${what} at 0x${addr.toString(16)} is not ${align}-byte aligned`);
      if (this.dma.view(addr, len) === undefined) throw new VirtqueueError(`${what} at 0x${addr.toString(16)}+${len} is not guest RAM`);
    }
  }
}

/** Whether an error came from the guest's rings or memory (the device fails) rather than the host. */
export function isGuestFault(e: unknown): boolean {
  return e instanceof VirtqueueError || e instanceof DmaError;
}
