/**
 * A virtio-net backend over a stream socket (Node only), so two tsvmm VMs share an Ethernet segment
 * without root: each frame is a 4-byte big-endian length and the frame, the framing QEMU's
 * `-netdev stream` uses, so a tsvmm VM can also talk to a QEMU one. One side listens on a Unix
 * socket path (or host:port), the other connects; frames sent before the peer is there are dropped,
 * as on an unplugged cable, and the link reads down. A connecting side whose peer goes away (the other
 * VM stopped) keeps trying to connect again, as QEMU's `-netdev stream,reconnect=1` does; a listening
 * side takes the next peer that connects.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { existsSync, unlinkSync } from 'node:fs';
import type { NetBackend } from '../../devices/virtio/backends/net-backend.js';
import { log } from '../../util/log.js';

export type StreamAddress = { readonly path: string } | { readonly host: string; readonly port: number };

export interface StreamNetOptions {
  readonly mode: 'listen' | 'connect';
  readonly address: StreamAddress;
  /** Quick connect retries at the start (the listener may start a moment later), default 50 x 100 ms. */
  readonly retries?: number;
  /** After those, or once a peer went away: the time between connect attempts, default 1000 ms. */
  readonly reconnectMs?: number;
  /** Where one-line notices go (a peer lost, found again); default the log's warnings. */
  readonly notice?: (line: string) => void;
}

/** Parses "/tmp/n.sock", "unix:/tmp/n.sock" or "127.0.0.1:5555". */
export function parseStreamAddress(text: string): StreamAddress {
  const t = text.startsWith('unix:') ? text.slice(5) : text;
  const m = /^([^/:]+):(\d+)$/.exec(t);
  if (m) {
    const port = Number(m[2]);
    if (port < 1 || port > 65535) throw new RangeError(`port ${m[2]} in "${text}" is not 1-65535`);
    return { host: m[1]!, port };
  }
  if (t.length === 0) throw new RangeError('an empty socket address');
  return { path: t };
}

const MAX_FRAME = 65550;
/** Bytes queued in the socket past which frames are dropped (a peer that stops reading is a full wire). */
const MAX_QUEUED = 4 << 20;

export class StreamNetBackend implements NetBackend {
  readonly description: string;
  private socket: Socket | undefined;
  private server: Server | undefined;
  private rx: (frame: Uint8Array) => void = () => {};
  private linkChanged: (up: boolean) => void = () => {};
  private retryTimer: NodeJS.Timeout | undefined;
  private everConnected = false;
  private buf: Buffer = Buffer.alloc(0);
  private closed = false;
  /** Frames dropped because no peer was connected or it stopped reading, or the peer sent a bad length. */
  dropped = 0;
  /** Resolves when a peer is connected. */
  readonly connected: Promise<void>;
  private resolveConnected!: () => void;

  constructor(private readonly opts: StreamNetOptions) {
    const a = opts.address;
    this.description = `stream ${opts.mode} ${'path' in a ? a.path : `${a.host}:${a.port}`}`;
    this.connected = new Promise((r) => (this.resolveConnected = r));
    if (opts.mode === 'listen') this.listen();
    else this.connect(opts.retries ?? 50);
  }

  private attach(s: Socket): void {
    if (this.socket) {
      s.destroy(); // one peer at a time: a second connection is refused
      return;
    }
    this.socket = s;
    s.setNoDelay(true);
    s.on('data', (d: Buffer) => this.onData(d));
    s.on('close', () => {
      if (this.socket !== s) return;
      this.socket = undefined;
      this.buf = Buffer.alloc(0);
      if (this.closed) return;
      this.linkChanged(false);
      if (this.opts.mode === 'connect') {
        this.say(`the peer went away; connecting again every ${this.reconnectMs} ms`);
        this.scheduleConnect(this.reconnectMs, 0);
      }
    });
    s.on('error', () => {});
    if (this.everConnected) this.say('connected to a peer again');
    this.everConnected = true;
    this.linkChanged(true);
    this.resolveConnected();
  }

  get linkUp(): boolean {
    return this.socket !== undefined;
  }

  onLinkChange(fn: (up: boolean) => void): void {
    this.linkChanged = fn;
  }

  private get reconnectMs(): number {
    return this.opts.reconnectMs ?? 1000;
  }

  private say(line: string): void {
    (this.opts.notice ?? log.warn)(`${this.description}: ${line}`);
  }

  private scheduleConnect(ms: number, quickRetries: number): void {
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed) this.connect(quickRetries);
    }, ms);
    this.retryTimer.unref();
  }

  private listen(): void {
    const a = this.opts.address;
    if ('path' in a && existsSync(a.path)) unlinkSync(a.path); // a stale socket from an earlier run
    this.server = createServer((s) => this.attach(s));
    this.server.on('error', (e) => process.stderr.write(`tsvmm: ${this.description}: ${e.message}\n`));
    if ('path' in a) this.server.listen(a.path);
    else this.server.listen(a.port, a.host);
    this.server.unref();
  }

  private connect(retries: number): void {
    const a = this.opts.address;
    const s = 'path' in a ? createConnection(a.path) : createConnection(a.port, a.host);
    s.once('connect', () => this.attach(s));
    s.once('error', () => {
      if (this.socket === s) return; // a connected socket's end is its 'close' handler's
      s.destroy();
      if (!this.closed) this.scheduleConnect(retries > 0 ? 100 : this.reconnectMs, Math.max(0, retries - 1));
    });
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len === 0 || len > MAX_FRAME) {
        // Lost framing: nothing after this can be trusted.
        this.dropped++;
        this.socket?.destroy();
        this.buf = Buffer.alloc(0);
        return;
      }
      if (this.buf.length < 4 + len) return;
      const frame = new Uint8Array(this.buf.subarray(4, 4 + len));
      this.buf = this.buf.subarray(4 + len);
      this.rx(frame);
    }
  }

  send(frame: Uint8Array): void {
    const s = this.socket;
    if (!s || s.destroyed || s.writableLength > MAX_QUEUED) {
      this.dropped++;
      return;
    }
    const b = Buffer.allocUnsafe(4 + frame.length);
    b.writeUInt32BE(frame.length, 0);
    b.set(frame, 4);
    s.write(b);
  }

  onReceive(fn: (frame: Uint8Array) => void): void {
    this.rx = fn;
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.socket?.destroy();
    this.server?.close();
    const a = this.opts.address;
    if (this.server && 'path' in a && existsSync(a.path)) unlinkSync(a.path);
  }
}
