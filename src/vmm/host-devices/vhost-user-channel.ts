/**
 * One end of a vhost-user connection: messages (protocol.ts) over a Unix socket with SCM_RIGHTS
 * (src/sys/unix-socket.ts). The front-end sends requests and waits for replies synchronously, as the
 * protocol is strictly request/reply on this socket; with REPLY_ACK negotiated, requests without a
 * reply of their own ask for an acknowledgement so a back-end's failure is seen at once.
 */
import { SocketError, UnixSocket } from '../../sys/unix-socket.js';
import { REQ_NAMES, VHOST_USER_HEADER_SIZE, VHOST_USER_NEED_REPLY, VHOST_USER_REPLY, VhostUserError, decodeHeader, encodeHeader, readU64, type Header } from '../../devices/vhost-user/protocol.js';

export interface Message {
  readonly header: Header;
  readonly payload: Uint8Array;
  readonly fds: number[];
}

export class VhostUserChannel {
  /** Set once REPLY_ACK is negotiated: requests without a reply ask for an acknowledgement. */
  replyAck = false;

  constructor(readonly socket: UnixSocket) {}

  static connect(path: string, timeoutMs = 10_000): VhostUserChannel {
    const s = UnixSocket.connect(path);
    s.setReceiveTimeout(timeoutMs);
    return new VhostUserChannel(s);
  }

  send(request: number, payload: Uint8Array, fds?: readonly number[], flags = 0): void {
    const msg = new Uint8Array(VHOST_USER_HEADER_SIZE + payload.length);
    msg.set(encodeHeader(request, flags, payload.length));
    msg.set(payload, VHOST_USER_HEADER_SIZE);
    this.socket.send(msg, fds);
  }

  /** Reads one whole message (the back-end's loop; the front-end's replies). */
  receive(): Message {
    const hb = new Uint8Array(VHOST_USER_HEADER_SIZE);
    const fds = this.socket.recv(hb);
    const header = decodeHeader(hb);
    const payload = new Uint8Array(header.size);
    if (header.size > 0) fds.push(...this.socket.recv(payload));
    return { header, payload, fds };
  }

  /** A request with a reply: returns the reply's payload. */
  call(request: number, payload: Uint8Array = new Uint8Array(0), fds?: readonly number[]): Uint8Array {
    this.send(request, payload, fds);
    return this.awaitReply(request);
  }

  /** A request without a reply of its own (acknowledged when REPLY_ACK is on). */
  tell(request: number, payload: Uint8Array = new Uint8Array(0), fds?: readonly number[]): void {
    this.send(request, payload, fds, this.replyAck ? VHOST_USER_NEED_REPLY : 0);
    if (!this.replyAck) return;
    const ack = readU64(this.awaitReply(request), `${REQ_NAMES[request]} acknowledgement`);
    if (ack !== 0n) throw new VhostUserError(`the vhost-user back-end refused ${REQ_NAMES[request] ?? request} (status ${ack})`);
  }

  private awaitReply(request: number): Uint8Array {
    const m = this.receive();
    for (const fd of m.fds) void fd; // replies to our requests carry no fds
    if (!(m.header.flags & VHOST_USER_REPLY) || m.header.request !== request) {
      throw new VhostUserError(`expected the reply to ${REQ_NAMES[request] ?? request}, got ${REQ_NAMES[m.header.request] ?? m.header.request} (flags 0x${m.header.flags.toString(16)})`);
    }
    return m.payload;
  }

  /** The back-end's answer to a message. */
  reply(request: number, payload: Uint8Array): void {
    this.send(request, payload, undefined, VHOST_USER_REPLY);
  }

  close(): void {
    this.socket.close();
  }
}

export { SocketError };
