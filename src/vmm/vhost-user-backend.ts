/**
 * `tsvmm device vhost-user-blk --socket PATH --image FILE`: a vhost-user back-end of tsvmm's own. It
 * listens on a Unix socket; a front-end (tsvmm, QEMU, cloud-hypervisor) connects, passes its guest RAM
 * as memfds and each queue's kick and call eventfds, and this process serves the virtio-blk queue with
 * the same device model tsvmm runs in process (src/devices/virtio/virtio-blk.ts) over a raw image file.
 * It is one synchronous poll(2) loop over the socket and the kick fds: no event loop, no threads.
 * A front-end that goes away releases its memory; the next one may connect.
 */
import { existsSync, rmSync, statSync } from 'node:fs';
import { GuestMemory, type MemoryRegion } from '../memory/guest-memory.js';
import { GuestDma } from '../memory/dma.js';
import { POLLIN, closeFd, drainEventFd, mmapShared, munmap, pollFds, signalEventFd, type NativeMapping } from '../sys/libc.js';
import { UnixListener } from '../sys/unix-socket.js';
import {
  PROTOCOL_F,
  REQ,
  REQ_NAMES,
  VHOST_USER_F_PROTOCOL_FEATURES,
  VHOST_USER_NEED_REPLY,
  VRING_NOFD,
  VhostUserError,
  decodeConfig,
  decodeMemTable,
  decodeVringAddr,
  encodeConfig,
  readU64,
  readVringState,
  u64,
  vringState,
} from '../devices/vhost-user/protocol.js';
import { VirtioBlk, BLK_QUEUE_SIZE, isBlkSerial } from '../devices/virtio/virtio-blk.js';
import { VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1, bit, type VirtioContext } from '../devices/virtio/virtio-device.js';
import { Virtqueue } from '../devices/virtio/virtqueue.js';
import { FileBlockBackend } from './host-devices/file-block-backend.js';
import { VhostUserChannel, type Message } from './host-devices/vhost-user-channel.js';
import { SocketError } from '../sys/unix-socket.js';
import { VmmError, EXIT } from '../util/errors.js';

export interface VhostUserBlkBackendOptions {
  readonly socket: string;
  readonly image: string;
  readonly readOnly?: boolean;
  readonly serial?: string;
  /** Serve one front-end and return (tests); default: accept the next one. */
  readonly once?: boolean;
  /** Where progress lines go (default stderr). */
  readonly log?: (line: string) => void;
}

const OFFERED_PROTOCOL = bit(PROTOCOL_F.CONFIG) | bit(PROTOCOL_F.REPLY_ACK) | bit(PROTOCOL_F.MQ);

interface Ring {
  num: number;
  base: number;
  addr: { desc: bigint; used: bigint; avail: bigint } | undefined;
  kick: number;
  call: number;
  enabled: boolean;
  queue: Virtqueue | undefined;
}

export class BackendSetupError extends VmmError {}

/** Serves front-ends on `opts.socket` until the process is stopped (or one session, with `once`). */
export function serveVhostUserBlk(opts: VhostUserBlkBackendOptions): void {
  const say = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  // Checked before listening: the device model would refuse it only when a front-end connects.
  if (opts.serial !== undefined && (opts.serial === '' || !isBlkSerial(opts.serial))) {
    throw new BackendSetupError('vhost-user-backend', `--serial "${opts.serial}" must be 1-20 printable ASCII characters`, { exitCode: EXIT.USAGE });
  }
  let disk: FileBlockBackend;
  try {
    disk = new FileBlockBackend(opts.image, opts.readOnly === true);
  } catch (e) {
    throw new BackendSetupError('vhost-user-backend', (e as Error).message.replace('--drive', '--image'), { exitCode: EXIT.BAD_IMAGE });
  }
  if (existsSync(opts.socket)) {
    if (!statSync(opts.socket).isSocket()) throw new BackendSetupError('vhost-user-backend', `--socket ${opts.socket} exists and is not a socket`, { exitCode: EXIT.USAGE });
    rmSync(opts.socket);
  }
  let listener: UnixListener;
  try {
    listener = UnixListener.listen(opts.socket);
  } catch (e) {
    disk.close();
    throw new BackendSetupError('vhost-user-backend', `--socket ${opts.socket}: cannot listen there: ${(e as Error).message.replace(/^[^:]*: /, '')}`, { exitCode: EXIT.USAGE });
  }
  say(`vhost-user-blk: serving ${opts.image} (${disk.size} bytes${opts.readOnly ? ', read-only' : ''}) on ${opts.socket}`);
  try {
    for (;;) {
      const channel = new VhostUserChannel(listener.accept());
      const session = new Session(channel, disk, opts.serial, say);
      try {
        session.run();
      } finally {
        session.close();
      }
      if (opts.once) return;
    }
  } finally {
    listener.close();
    disk.close();
    rmSync(opts.socket, { force: true });
  }
}

class Session {
  private features = 0n;
  private protocol = 0n;
  private maps: NativeMapping[] = [];
  private regions: { gpa: number; size: number; user: bigint }[] = [];
  private memory = new GuestMemory();
  private dma = new GuestDma(this.memory);
  private readonly rings: Ring[] = [{ num: 0, base: 0, addr: undefined, kick: -1, call: -1, enabled: false, queue: undefined }];
  private readonly blk: VirtioBlk;
  private active = false;

  constructor(
    private readonly channel: VhostUserChannel,
    disk: FileBlockBackend,
    serial: string | undefined,
    private readonly say: (l: string) => void,
  ) {
    this.blk = new VirtioBlk({ backend: disk, label: disk.path, ...(serial !== undefined ? { serial } : {}) });
  }

  private get offered(): bigint {
    return this.blk.features | bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_INDIRECT_DESC) | bit(VIRTIO_F_EVENT_IDX) | bit(VHOST_USER_F_PROTOCOL_FEATURES);
  }

  run(): void {
    const pfds = new Uint8Array(8 * 2);
    const pv = new DataView(pfds.buffer);
    const counter = new Uint8Array(8);
    for (;;) {
      const ring = this.rings[0]!;
      const kick = ring.queue !== undefined ? ring.kick : -1;
      pv.setInt32(0, this.channel.socket.fd, true);
      pv.setInt16(4, POLLIN, true);
      pv.setInt16(6, 0, true);
      let n = 1;
      if (kick >= 0) {
        pv.setInt32(8, kick, true);
        pv.setInt16(12, POLLIN, true);
        pv.setInt16(14, 0, true);
        n = 2;
      }
      if (pollFds(pfds, n, 1000) <= 0) continue;
      if (n === 2 && pv.getInt16(14, true) !== 0) {
        drainEventFd(kick, counter);
        this.blk.queueNotified(0);
      }
      if (pv.getInt16(6, true) !== 0) {
        let m: Message;
        try {
          m = this.channel.receive();
        } catch (e) {
          if (e instanceof SocketError && e.code === 'closed') {
            this.say('vhost-user-blk: the front-end disconnected');
            return;
          }
          throw e;
        }
        this.handle(m);
      }
    }
  }

  private handle(m: Message): void {
    const { request, flags } = m.header;
    const p = m.payload;
    let replied = false;
    const reply = (payload: Uint8Array): void => {
      this.channel.reply(request, payload);
      replied = true;
    };
    let status = 0n;
    try {
      switch (request) {
        case REQ.GET_FEATURES:
          reply(u64(this.offered));
          break;
        case REQ.SET_FEATURES:
          this.features = readU64(p, 'SET_FEATURES');
          if (this.features & ~this.offered) throw new VhostUserError(`SET_FEATURES 0x${this.features.toString(16)} has bits not offered`);
          break;
        case REQ.GET_PROTOCOL_FEATURES:
          reply(u64(OFFERED_PROTOCOL));
          break;
        case REQ.SET_PROTOCOL_FEATURES:
          this.protocol = readU64(p, 'SET_PROTOCOL_FEATURES') & OFFERED_PROTOCOL;
          break;
        case REQ.GET_QUEUE_NUM:
          reply(u64(1));
          break;
        case REQ.SET_OWNER:
        case REQ.RESET_OWNER:
        case REQ.RESET_DEVICE:
          if (request !== REQ.SET_OWNER) this.stopRing(0);
          break;
        case REQ.SET_MEM_TABLE:
          this.setMemTable(p, m.fds);
          m.fds.length = 0;
          break;
        case REQ.SET_VRING_NUM: {
          const s = readVringState(p, 'SET_VRING_NUM');
          const r = this.ring(s.index);
          if (s.num < 1 || s.num > BLK_QUEUE_SIZE || (s.num & (s.num - 1)) !== 0) throw new VhostUserError(`SET_VRING_NUM ${s.num}: a power of two up to ${BLK_QUEUE_SIZE}`);
          r.num = s.num;
          break;
        }
        case REQ.SET_VRING_BASE: {
          const s = readVringState(p, 'SET_VRING_BASE');
          this.ring(s.index).base = s.num & 0xffff;
          break;
        }
        case REQ.SET_VRING_ADDR: {
          const a = decodeVringAddr(p);
          this.ring(a.index).addr = { desc: a.desc, used: a.used, avail: a.avail };
          break;
        }
        case REQ.GET_VRING_BASE: {
          const s = readVringState(p, 'GET_VRING_BASE');
          const r = this.ring(s.index);
          const base = r.queue?.lastAvail ?? r.base;
          this.stopRing(s.index);
          reply(vringState(s.index, base));
          break;
        }
        case REQ.SET_VRING_KICK:
        case REQ.SET_VRING_CALL:
        case REQ.SET_VRING_ERR: {
          const v = Number(readU64(p, REQ_NAMES[request]!));
          const r = this.ring(v & 0xff);
          const fd = v & VRING_NOFD ? -1 : (m.fds.shift() ?? -1);
          if (request === REQ.SET_VRING_ERR) {
            if (fd >= 0) closeFd(fd);
            break;
          }
          const key = request === REQ.SET_VRING_KICK ? 'kick' : 'call';
          if (r[key] >= 0) closeFd(r[key]);
          r[key] = fd;
          // Without the protocol-feature extension a ring starts with its kick fd; with it, when enabled.
          if (request === REQ.SET_VRING_KICK && !(this.features & bit(VHOST_USER_F_PROTOCOL_FEATURES))) r.enabled = true;
          this.maybeStart(v & 0xff);
          break;
        }
        case REQ.SET_VRING_ENABLE: {
          const s = readVringState(p, 'SET_VRING_ENABLE');
          this.ring(s.index).enabled = s.num !== 0;
          if (s.num !== 0) this.maybeStart(s.index);
          else this.stopRing(s.index);
          break;
        }
        case REQ.GET_CONFIG: {
          const c = decodeConfig(p);
          const out = new Uint8Array(c.size);
          this.blk.readConfig(c.offset, out);
          reply(encodeConfig(c.offset, out, c.flags));
          break;
        }
        case REQ.SET_CONFIG:
          break;
        default:
          this.say(`vhost-user-blk: ignoring message ${REQ_NAMES[request] ?? request}`);
          status = 1n;
      }
    } catch (e) {
      if (!(e instanceof VhostUserError) && !(e instanceof RangeError)) throw e;
      this.say(`vhost-user-blk: ${REQ_NAMES[request] ?? request}: ${e.message}`);
      status = 1n;
    } finally {
      for (const fd of m.fds) closeFd(fd);
    }
    if (!replied && flags & VHOST_USER_NEED_REPLY && this.protocol & bit(PROTOCOL_F.REPLY_ACK)) this.channel.reply(request, u64(status));
  }

  private ring(index: number): Ring {
    const r = this.rings[index];
    if (r === undefined) throw new VhostUserError(`queue ${index} does not exist (this device has ${this.rings.length})`);
    return r;
  }

  private setMemTable(p: Uint8Array, fds: number[]): void {
    const table = decodeMemTable(p);
    if (fds.length !== table.length) throw new VhostUserError(`SET_MEM_TABLE with ${table.length} regions and ${fds.length} fds`);
    this.unmapAll();
    const regions: MemoryRegion[] = [];
    table.forEach((t, i) => {
      const m = mmapShared(fds[i]!, t.size + t.mmapOffset, 0, `Cannot map guest memory region ${i} (${t.size} bytes)`);
      closeFd(fds[i]!);
      this.maps.push(m);
      this.regions.push({ gpa: t.guestAddr, size: t.size, user: t.userAddr });
      regions.push({ name: `region${i}`, gpa: t.guestAddr, size: t.size, bytes: m.bytes.subarray(t.mmapOffset, t.mmapOffset + t.size) });
    });
    this.memory = new GuestMemory(regions);
    this.dma = new GuestDma(this.memory);
  }

  /** A front-end virtual address as a guest-physical one. */
  private gpa(user: bigint, what: string): number {
    for (const r of this.regions) if (user >= r.user && user < r.user + BigInt(r.size)) return r.gpa + Number(user - r.user);
    throw new VhostUserError(`${what} at front-end address 0x${user.toString(16)} is in no memory region`);
  }

  private maybeStart(index: number): void {
    const r = this.ring(index);
    if (r.queue !== undefined || !r.enabled || r.kick < 0 || r.addr === undefined || r.num === 0) return;
    const q = new Virtqueue(this.dma, BLK_QUEUE_SIZE);
    q.size = r.num;
    q.descAddr = this.gpa(r.addr.desc, 'descriptor table');
    q.availAddr = this.gpa(r.addr.avail, 'available ring');
    q.usedAddr = this.gpa(r.addr.used, 'used ring');
    q.eventIdx = (this.features & bit(VIRTIO_F_EVENT_IDX)) !== 0n;
    q.ready = true;
    q.checkRings();
    q.lastAvail = r.base;
    q.usedIdx = this.dma.readU16(q.usedAddr + 2);
    r.queue = q;
    const ring = r;
    const ctx: VirtioContext = {
      queues: [q],
      dma: this.dma,
      features: this.features,
      usedBuffers: () => {
        if (ring.call >= 0 && q.needsInterrupt()) signalEventFd(ring.call);
      },
      interruptQueue: () => {
        if (ring.call >= 0) signalEventFd(ring.call);
      },
      configChanged: () => undefined,
      fail: (why) => {
        this.say(`vhost-user-blk: queue ${index} stopped: ${why}`);
        this.stopRing(index);
      },
    };
    this.blk.activate(ctx);
    this.active = true;
    // Requests may have been queued before the ring started.
    this.blk.queueNotified(0);
  }

  private stopRing(index: number): void {
    const r = this.ring(index);
    if (r.queue !== undefined) r.base = r.queue.lastAvail;
    r.queue = undefined;
    if (this.active) this.blk.reset();
    this.active = false;
  }

  private unmapAll(): void {
    for (const m of this.maps) munmap(m);
    this.maps = [];
    this.regions = [];
  }

  close(): void {
    this.stopRing(0);
    for (const r of this.rings) {
      if (r.kick >= 0) closeFd(r.kick);
      if (r.call >= 0) closeFd(r.call);
      r.kick = r.call = -1;
    }
    this.unmapAll();
    this.channel.close();
  }
}
