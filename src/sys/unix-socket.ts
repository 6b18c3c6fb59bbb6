/**
 * Unix stream sockets with file-descriptor passing (SCM_RIGHTS), which Node's `net` cannot do: the
 * vhost-user control channel (guest RAM memfds, kick and call eventfds travel with its messages).
 * Calls are synchronous and blocking, with a receive timeout, as a request/reply protocol wants; the
 * message header, iovec and control buffer live in one native page built with their addresses.
 */
import koffi from 'koffi';
import { closeFd, mmapAnonymous, munmap, plainSysError, type NativeMapping } from './libc.js';

const lib = koffi.load('libc.so.6');
const c = {
  socket: lib.func('int socket(int domain, int type, int protocol)'),
  bind: lib.func('int bind(int fd, void *addr, uint32 len)'),
  listen: lib.func('int listen(int fd, int backlog)'),
  accept: lib.func('int accept4(int fd, void *addr, void *len, int flags)'),
  connect: lib.func('int connect(int fd, void *addr, uint32 len)'),
  sendmsg: lib.func('intptr_t sendmsg(int fd, void *msg, int flags)'),
  recvmsg: lib.func('intptr_t recvmsg(int fd, void *msg, int flags)'),
  setsockopt: lib.func('int setsockopt(int fd, int level, int name, void *val, uint32 len)'),
  shutdown: lib.func('int shutdown(int fd, int how)'),
  recv: lib.func('intptr_t recv(int fd, void *buf, size_t len, int flags)'),
};

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const SO_RCVTIMEO = 20;
const MSG_NOSIGNAL = 0x4000;
const MSG_PEEK = 0x2;
const MSG_DONTWAIT = 0x40;
const MSG_CMSG_CLOEXEC = 0x40000000;
/** Most fds one message carries (vhost-user: 8 memory regions). */
export const MAX_FDS = 8;

// Offsets in the native page: struct msghdr (56 bytes), struct iovec, the control buffer, the data.
const HDR = 0;
const IOV = 64;
const CTL = 128;
const CTL_SPACE = 16 + MAX_FDS * 4;
const DATA = 256;
const PAGE = 16384;
export const MAX_CHUNK = PAGE - DATA;

export class SocketError extends Error {
  constructor(
    message: string,
    readonly code: 'closed' | 'timeout' | 'io',
  ) {
    super(message);
  }
}

function sockaddr(path: string): Uint8Array {
  const p = new TextEncoder().encode(path);
  if (p.length >= 108) throw new RangeError(`socket path ${path} is longer than 107 bytes`);
  const a = new Uint8Array(110);
  a[0] = AF_UNIX;
  a.set(p, 2);
  return a;
}

export class UnixSocket {
  private readonly page: NativeMapping;
  private readonly v: DataView;
  private closed = false;

  constructor(readonly fd: number) {
    this.page = mmapAnonymous(PAGE, 'Cannot allocate a socket message buffer');
    const b = this.page.bytes;
    this.v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  static connect(path: string): UnixSocket {
    const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) as number;
    if (fd < 0) throw plainSysError('Cannot create a unix socket');
    const a = sockaddr(path);
    if ((c.connect(fd, a, a.length) as number) < 0) {
      const e = plainSysError(`Cannot connect to ${path}`);
      closeFd(fd);
      throw e;
    }
    return new UnixSocket(fd);
  }

  /** Fails receives that wait longer than `ms` (a peer that stopped answering) with a 'timeout' error. */
  setReceiveTimeout(ms: number): void {
    const tv = new Uint8Array(16);
    const v = new DataView(tv.buffer);
    v.setBigInt64(0, BigInt(Math.floor(ms / 1000)), true);
    v.setBigInt64(8, BigInt((ms % 1000) * 1000), true);
    if ((c.setsockopt(this.fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16) as number) < 0) throw plainSysError('setsockopt(SO_RCVTIMEO) failed');
  }

  private setupMsg(len: number, fds: readonly number[] | undefined, receive: boolean): void {
    const v = this.v;
    const base = this.page.address;
    new Uint8Array(this.page.bytes.buffer, this.page.bytes.byteOffset, DATA).fill(0);
    v.setBigUint64(IOV, base + BigInt(DATA), true);
    v.setBigUint64(IOV + 8, BigInt(len), true);
    v.setBigUint64(HDR + 16, base + BigInt(IOV), true); // msg_iov
    v.setBigUint64(HDR + 24, 1n, true); // msg_iovlen
    const nfds = receive ? MAX_FDS : (fds?.length ?? 0);
    if (nfds > 0) {
      if (nfds > MAX_FDS) throw new RangeError(`at most ${MAX_FDS} fds per message`);
      v.setBigUint64(HDR + 32, base + BigInt(CTL), true); // msg_control
      v.setBigUint64(HDR + 40, BigInt(receive ? CTL_SPACE : 16 + ((nfds * 4 + 7) & ~7)), true);
      if (!receive) {
        v.setBigUint64(CTL, BigInt(16 + nfds * 4), true); // cmsg_len
        v.setInt32(CTL + 8, SOL_SOCKET, true);
        v.setInt32(CTL + 12, SCM_RIGHTS, true);
        fds!.forEach((fd, i) => v.setInt32(CTL + 16 + 4 * i, fd, true));
      }
    }
  }

  /** Sends all of `data`; `fds` go with its first byte. */
  send(data: Uint8Array, fds?: readonly number[]): void {
    let at = 0;
    let first = true;
    while (at < data.length || first) {
      const n = Math.min(data.length - at, MAX_CHUNK);
      this.setupMsg(n, first ? fds : undefined, false);
      this.page.bytes.set(data.subarray(at, at + n), DATA);
      const r = Number(c.sendmsg(this.fd, this.page.bytes, MSG_NOSIGNAL));
      if (r < 0) {
        const e = plainSysError('sendmsg failed');
        throw new SocketError(e.message, e.code === 'EPIPE' || e.code === 'ECONNRESET' ? 'closed' : 'io');
      }
      at += r;
      first = false;
      if (data.length === 0) break;
    }
  }

  /**
   * Receives exactly `into.length` bytes (blocking); returns the fds that came with them. A peer
   * that closed throws 'closed', a receive timeout 'timeout'.
   */
  recv(into: Uint8Array): number[] {
    const fds: number[] = [];
    let at = 0;
    while (at < into.length) {
      const want = Math.min(into.length - at, MAX_CHUNK);
      this.setupMsg(want, undefined, true);
      const r = Number(c.recvmsg(this.fd, this.page.bytes, MSG_CMSG_CLOEXEC));
      if (r < 0) {
        const e = plainSysError('recvmsg failed');
        if (e.code === 'EINTR') continue;
        throw new SocketError(e.message, e.code === 'EAGAIN' || e.code === 'EWOULDBLOCK' ? 'timeout' : e.code === 'ECONNRESET' ? 'closed' : 'io');
      }
      if (r === 0) throw new SocketError('the peer closed the connection', 'closed');
      into.set(this.page.bytes.subarray(DATA, DATA + r), at);
      at += r;
      const v = this.v;
      const ctlLen = Number(v.getBigUint64(HDR + 40, true));
      if (ctlLen >= 16 && v.getInt32(CTL + 8, true) === SOL_SOCKET && v.getInt32(CTL + 12, true) === SCM_RIGHTS) {
        const n = (Number(v.getBigUint64(CTL, true)) - 16) / 4;
        for (let i = 0; i < n; i++) fds.push(v.getInt32(CTL + 16 + 4 * i, true));
      }
    }
    return fds;
  }

  /** What a non-blocking peek finds: end-of-file (the peer closed), unread data, or nothing yet. */
  peek(): 'closed' | 'data' | 'empty' {
    const b = new Uint8Array(1);
    const r = Number(c.recv(this.fd, b, 1, MSG_PEEK | MSG_DONTWAIT));
    if (r === 0) return 'closed';
    if (r > 0) return 'data';
    const e = plainSysError('recv');
    return e.code === 'EAGAIN' || e.code === 'EWOULDBLOCK' || e.code === 'EINTR' ? 'empty' : 'closed';
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    c.shutdown(this.fd, 2);
    closeFd(this.fd);
    munmap(this.page);
  }
}

export class UnixListener {
  private constructor(
    readonly fd: number,
    readonly path: string,
  ) {}

  static listen(path: string): UnixListener {
    const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) as number;
    if (fd < 0) throw plainSysError('Cannot create a unix socket');
    const a = sockaddr(path);
    if ((c.bind(fd, a, a.length) as number) < 0 || (c.listen(fd, 1) as number) < 0) {
      const e = plainSysError(`Cannot listen on ${path}`);
      closeFd(fd);
      throw e;
    }
    return new UnixListener(fd, path);
  }

  /** Waits for one connection (blocking). */
  accept(): UnixSocket {
    const fd = c.accept(this.fd, null, null, SOCK_CLOEXEC) as number;
    if (fd < 0) throw plainSysError(`accept on ${this.path} failed`);
    return new UnixSocket(fd);
  }

  close(): void {
    closeFd(this.fd);
  }
}
