/**
 * virtio-blk with its queues served by another process over vhost-user (tsvmm as the front-end). The
 * PCI transport and the guest's view are tsvmm's; the back-end (qemu-storage-daemon, `tsvmm device
 * vhost-user-blk`, SPDK, ...) reads the rings in guest RAM, which it maps from the memfds that
 * SET_MEM_TABLE passes, and does the I/O.
 * - Notifications: the transport's I/O event on each notify register rings the queue's kick eventfd
 *   (kvm: in the kernel, KVM_IOEVENTFD on that fd; emu: the in-process channel writes it).
 * - Interrupts: on kvm, while the queue's MSI-X vector is enabled and unmasked, the call eventfd is an irqfd
 *   routed to the vector's message (ctx.interruptFd): the back-end injects the interrupt itself. Otherwise (emu,
 *   MSI-X off or masked, or once the guest rewrites that vector) the call eventfd is ours: the fd watcher's thread
 *   sees it and the transport sends the vector's message (masking and the PBA stay with the transport).
 * - Configuration space (capacity, limits): GET_CONFIG, so VHOST_USER_PROTOCOL_F_CONFIG is required.
 * - A back-end that dies (its socket closes, a request fails) leaves the VM running: the device takes
 *   the queues back, completes every request the back-end had not with VIRTIO_BLK_S_IOERR, and answers
 *   every later one the same way until the driver gives up; the guest sees I/O errors, not a hang.
 */
import type { EventSink } from '../../cpu/event-channels.js';
import type { FdWatcher } from '../../sys/fd-watcher.js';
import { EFD_CLOEXEC, EFD_NONBLOCK, closeFd, eventfd, signalEventFd } from '../../sys/libc.js';
import { PROTOCOL_F, REQ, VHOST_USER_F_PROTOCOL_FEATURES, VhostUserError, decodeConfig, encodeConfig, encodeMemTable, encodeVringAddr, readU64, readVringState, u64, vringState } from '../../devices/vhost-user/protocol.js';
import { VIRTIO_BLK_S_IOERR } from '../../devices/virtio/virtio-blk.js';
import { VIRTIO_ID_BLOCK, VIRTIO_F_VERSION_1, bit, readConfigBytes, type VirtioContext, type VirtioDevice } from '../../devices/virtio/virtio-device.js';
import { isGuestFault } from '../../devices/virtio/virtqueue.js';
import { log } from '../../util/log.js';
import { VmmError, EXIT } from '../../util/errors.js';
import type { SharedRamRegion } from '../shared-ram.js';
import { SocketError, VhostUserChannel } from './vhost-user-channel.js';

const BLK_CONFIG_SIZE = 60;
const QUEUE_SIZE = 256;
/** Device feature bits passed through (0-23 are device-specific); MQ is not: one queue here. */
const DEVICE_FEATURE_MASK = 0xff_ffffn & ~(1n << 12n);
const WANTED_PROTOCOL = bit(PROTOCOL_F.CONFIG) | bit(PROTOCOL_F.REPLY_ACK) | bit(PROTOCOL_F.MQ);

export class VhostUserSetupError extends VmmError {}

export interface VhostUserBlkOptions {
  readonly socket: string;
  /** Guest RAM as shared regions (asked at DRIVER_OK, when the map is final). */
  readonly ram: () => readonly SharedRamRegion[];
  readonly watcher: FdWatcher;
}

export class VhostUserBlk implements VirtioDevice {
  readonly deviceType = VIRTIO_ID_BLOCK;
  readonly name: string;
  readonly queueSizes = [QUEUE_SIZE];
  readonly features: bigint;
  readonly configSize = BLK_CONFIG_SIZE;
  readonly pciClass = 0x018000;
  private readonly channel: VhostUserChannel;
  private readonly backendFeatures: bigint;
  /** The protocol features both sides speak. */
  readonly protocolFeatures: bigint;
  private readonly config: Uint8Array;
  private readonly kick: number[];
  private calls: { fd: number; unwatch: () => void }[] = [];
  private ctx: VirtioContext | undefined;
  private unwatchSocket: (() => void) | undefined;
  private unwatchKicks: (() => void)[] = [];
  /** Why the back-end is gone, once it is. */
  dead: string | undefined;
  /** Requests this side failed with IOERR after the back-end died. */
  failedRequests = 0;
  private takenOver = false;

  constructor(private readonly opts: VhostUserBlkOptions) {
    this.name = `vhost-user-blk (${opts.socket})`;
    const what = `--vhost-user-blk ${opts.socket}`;
    try {
      this.channel = VhostUserChannel.connect(opts.socket);
    } catch (e) {
      throw new VhostUserSetupError('vhost-user', `${what}: cannot connect to the back-end: ${(e as Error).message.replace(/^[^:]*: /, '')}`, { exitCode: EXIT.USAGE });
    }
    try {
      const c = this.channel;
      this.backendFeatures = readU64(c.call(REQ.GET_FEATURES), 'GET_FEATURES');
      if (!(this.backendFeatures & bit(VIRTIO_F_VERSION_1))) throw new VhostUserError('the back-end does not offer VIRTIO_F_VERSION_1');
      let pf = 0n;
      if (this.backendFeatures & bit(VHOST_USER_F_PROTOCOL_FEATURES)) {
        pf = readU64(c.call(REQ.GET_PROTOCOL_FEATURES), 'GET_PROTOCOL_FEATURES') & WANTED_PROTOCOL;
        c.send(REQ.SET_PROTOCOL_FEATURES, u64(pf));
        c.replyAck = (pf & bit(PROTOCOL_F.REPLY_ACK)) !== 0n;
      }
      this.protocolFeatures = pf;
      if (!(pf & bit(PROTOCOL_F.CONFIG))) throw new VhostUserError('the back-end does not offer VHOST_USER_PROTOCOL_F_CONFIG (needed to read the disk capacity)');
      c.tell(REQ.SET_OWNER);
      const reply = decodeConfig(c.call(REQ.GET_CONFIG, encodeConfig(0, new Uint8Array(BLK_CONFIG_SIZE))));
      this.config = new Uint8Array(BLK_CONFIG_SIZE);
      this.config.set(reply.bytes.subarray(0, BLK_CONFIG_SIZE));
      this.features = this.backendFeatures & DEVICE_FEATURE_MASK;
      this.kick = this.queueSizes.map(() => eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    } catch (e) {
      this.channel.close();
      throw new VhostUserSetupError('vhost-user', `${what}: ${(e as Error).message}`, { exitCode: EXIT.FAILURE });
    }
    this.watchSocket();
  }

  /**
   * A readable socket outside a request is the back-end closing it (or breaking the protocol). The
   * watcher also sees the replies our own requests read: those leave nothing behind, so watch again.
   */
  private watchSocket(): void {
    this.unwatchSocket = this.opts.watcher.watch(this.channel.socket.fd, 'once', () => {
      this.unwatchSocket = undefined;
      if (this.dead !== undefined) return;
      const state = this.channel.socket.peek();
      if (state === 'empty') return this.watchSocket();
      this.backendDied(state === 'closed' ? 'the back-end closed its socket' : 'the back-end sent a message nobody asked for');
    });
  }

  get sizeBytes(): number {
    return Number(new DataView(this.config.buffer).getBigUint64(0, true)) * 512;
  }

  readConfig(offset: number, data: Uint8Array): void {
    readConfigBytes(this.config, offset, data);
  }

  writeConfig(): void {
    // writeback (CONFIG_WCE) is not passed through: nothing is writable.
  }

  notifySink(index: number): EventSink {
    const fd = this.kick[index]!;
    return { fd, signal: () => this.queueNotified(index) };
  }

  queueNotified(index: number): void {
    if (this.dead !== undefined) return this.failPending();
    const fd = this.kick[index];
    if (fd !== undefined) signalEventFd(fd);
  }

  activate(ctx: VirtioContext): void {
    this.ctx = ctx;
    if (this.dead !== undefined) return this.failPending();
    try {
      this.startRings(ctx);
    } catch (e) {
      if (isGuestFault(e)) throw e;
      this.backendDied(`starting the rings failed: ${(e as Error).message}`);
    }
  }

  private startRings(ctx: VirtioContext): void {
    const c = this.channel;
    const ram = this.opts.ram();
    const withProtocol = (this.backendFeatures & bit(VHOST_USER_F_PROTOCOL_FEATURES)) !== 0n;
    c.tell(REQ.SET_FEATURES, u64(ctx.features | (withProtocol ? bit(VHOST_USER_F_PROTOCOL_FEATURES) : 0n)));
    c.tell(
      REQ.SET_MEM_TABLE,
      encodeMemTable(ram.map((r) => ({ guestAddr: r.gpa, size: r.size, userAddr: r.address, mmapOffset: r.offset }))),
      ram.map((r) => r.fd),
    );
    const hva = (gpa: number): bigint => {
      const r = ram.find((x) => gpa >= x.gpa && gpa < x.gpa + x.size);
      if (r === undefined) throw new VhostUserError(`ring address 0x${gpa.toString(16)} is not guest RAM`);
      return r.address + BigInt(gpa - r.gpa);
    };
    ctx.queues.forEach((q, i) => {
      if (!q.ready) return;
      c.tell(REQ.SET_VRING_NUM, vringState(i, q.size));
      c.tell(REQ.SET_VRING_BASE, vringState(i, q.lastAvail));
      c.tell(REQ.SET_VRING_ADDR, encodeVringAddr({ index: i, flags: 0, desc: hva(q.descAddr), used: hva(q.usedAddr), avail: hva(q.availAddr), log: 0n }));
      c.tell(REQ.SET_VRING_KICK, u64(i), [this.kick[i]!]);
      // kvm: the back-end signals the queue's MSI-X interrupt itself (an irqfd), as a vCPU's doorbell reaches it
      // through an ioeventfd: neither passes through this process. Elsewhere, or once the guest changes that
      // vector, its call eventfd comes here and the transport sends the interrupt.
      const direct = ctx.interruptFd?.(i, () => this.callThroughProcess(i, ctx));
      if (direct !== undefined) c.tell(REQ.SET_VRING_CALL, u64(i), [direct]);
      else this.callThroughProcess(i, ctx);
      if (withProtocol) c.tell(REQ.SET_VRING_ENABLE, vringState(i, 1));
      // Requests already in the ring (a restart, a restored snapshot) get no kick of their own.
      signalEventFd(this.kick[i]!);
    });
  }

  syncQueues(): void {
    const ctx = this.ctx;
    if (ctx === undefined || this.dead !== undefined || this.takenOver) return;
    try {
      // GET_VRING_BASE stops a ring and answers where the back-end would go on; the rings start again from there.
      ctx.queues.forEach((q, i) => {
        if (!q.ready) return;
        q.lastAvail = readVringState(this.channel.call(REQ.GET_VRING_BASE, vringState(i, 0)), 'GET_VRING_BASE').num;
        q.usedIdx = ctx.dma.readU16(q.usedAddr + 2);
      });
      this.closeCalls();
      this.startRings(ctx);
    } catch (e) {
      if (isGuestFault(e)) throw e;
      this.backendDied(`reading the ring positions failed: ${(e as Error).message}`);
    }
  }

  /** Queue `index`'s call eventfd is ours: the watcher hands its signals to the transport. */
  private callThroughProcess(index: number, ctx: VirtioContext): void {
    if (this.dead !== undefined || this.ctx !== ctx) return;
    const call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    const unwatch = this.opts.watcher.watch(call, 'eventfd', () => this.ctx?.interruptQueue(index));
    this.calls.push({ fd: call, unwatch });
    try {
      this.channel.tell(REQ.SET_VRING_CALL, u64(index), [call]);
    } catch (e) {
      this.backendDied(`re-pointing the call eventfd failed: ${(e as Error).message}`);
    }
  }

  reset(): void {
    const ctx = this.ctx;
    this.ctx = undefined;
    if (ctx !== undefined && this.dead === undefined) {
      try {
        // GET_VRING_BASE stops each ring; the back-end lets go of guest memory for it.
        ctx.queues.forEach((q, i) => {
          if (q.ready) this.channel.call(REQ.GET_VRING_BASE, vringState(i, 0));
        });
      } catch (e) {
        this.backendDied(`stopping the rings failed: ${(e as Error).message}`);
      }
    }
    this.closeCalls();
    this.takenOver = false;
  }

  private closeCalls(): void {
    for (const c of this.calls) {
      c.unwatch();
      closeFd(c.fd);
    }
    this.calls = [];
  }

  /** The back-end is gone: from now on this process answers the queues, with IOERR. */
  private backendDied(why: string): void {
    if (this.dead !== undefined) return;
    this.dead = why;
    log.warn(`${this.name}: ${why}; requests now fail with an I/O error`);
    this.unwatchSocket?.();
    this.closeCalls();
    // kvm's kernel keeps writing the kick fds: notice those writes here.
    this.unwatchKicks = this.kick.map((fd) => this.opts.watcher.watch(fd, 'eventfd', () => this.failPending()));
    this.failPending();
  }

  /** Completes every request on the queues with VIRTIO_BLK_S_IOERR. */
  private failPending(): void {
    const ctx = this.ctx;
    if (ctx === undefined) return;
    try {
      ctx.queues.forEach((q, i) => {
        if (!q.ready) return;
        if (!this.takenOver) {
          // Requests the back-end completed are in the used ring; it took the rest in order from there.
          const used = ctx.dma.readU16(q.usedAddr + 2);
          q.lastAvail = used;
          q.usedIdx = used;
        }
        let n = 0;
        const status = new Uint8Array([VIRTIO_BLK_S_IOERR]);
        for (let chain = q.pop(); chain !== undefined; chain = q.pop()) {
          const w = chain.writableLength;
          if (w > 0) chain.write(w - 1, status);
          q.push(chain.head, w > 0 ? 1 : 0);
          n++;
        }
        this.failedRequests += n;
        if (n > 0) ctx.interruptQueue(i);
      });
      this.takenOver = true;
    } catch (e) {
      if (!isGuestFault(e)) throw e;
      ctx.fail((e as Error).message);
    }
  }

  close(): void {
    this.unwatchSocket?.();
    for (const u of this.unwatchKicks) u();
    this.closeCalls();
    this.channel.close();
    for (const fd of this.kick) closeFd(fd);
  }
}

export { SocketError };
