/**
 * `tsvmm run --gdb tcp:HOST:PORT|unix:PATH [--gdb-wait]`: listens for one gdb at a time. A
 * connecting gdb finds the VM paused (all-stop); when it detaches the VM runs on without its
 * breakpoints. When the VM ends, an attached gdb is told (`W` with tsvmm's exit status).
 *
 * The address is checked (bound and released) before the VM is built, but connections are taken only
 * once it exists: building a large VM keeps the event loop busy for seconds, and a gdb connected then
 * would get no answer to its first packets (its 2 s remote timeout). Until then a TCP connection is
 * refused, which gdb retries (`set tcp auto-retry`, `tcp connect-timeout`, 15 s by default).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { existsSync, unlinkSync } from 'node:fs';
import { GdbSession, SIGTRAP } from './gdb-session.js';
import type { GdbTarget } from './gdb-target.js';

export type GdbListenAddress = { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };

/** Parses the --gdb value; throws an Error with a one-line message naming the option. */
export function parseGdbAddress(text: string): GdbListenAddress {
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (path === '') throw new Error('--gdb unix:PATH needs a socket path');
    return { kind: 'unix', path };
  }
  const m = /^tcp:(.*):(\d+)$/.exec(text);
  if (m !== null) {
    const port = Number(m[2]);
    if (port > 65535) throw new Error(`--gdb: port ${m[2]} is outside 0-65535 (0 picks a free one)`);
    const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
    return { kind: 'tcp', host: host === '' ? '127.0.0.1' : host, port };
  }
  throw new Error(`--gdb takes tcp:HOST:PORT or unix:PATH (got "${text}")`);
}

export function describeAddress(a: GdbListenAddress): string {
  return a.kind === 'unix' ? `unix:${a.path}` : `tcp:${a.host}:${a.port}`;
}

export interface GdbServerControl {
  /** Pauses the VM (resolves once it is parked). */
  pause(): Promise<void>;
}

export type EndableTarget = GdbTarget & { vmEnded(status: number, detail: string): void };

export class GdbServer {
  private server: Server | undefined;
  private socket: Socket | undefined;
  private session: GdbSession | undefined;
  private ended: { status: number; detail: string } | undefined;
  private target: EndableTarget | undefined;
  private control: GdbServerControl | undefined;
  /** The address with the port `listen` found (tcp port 0 picks one). */
  private bound: GdbListenAddress;
  /** attach's listening in progress (close waits for it). */
  private opening: Promise<void> | undefined;

  /** `listen` first (so a bad address fails before the VM is built), then `attach` the VM's target. */
  constructor(
    address: GdbListenAddress,
    private readonly log: (msg: string) => void,
  ) {
    this.bound = address;
  }

  /**
   * The VM exists: listens from now on (the address `listen` checked). Rejects with a one-line reason
   * when the address was taken meanwhile.
   */
  attach(target: EndableTarget, control: GdbServerControl): Promise<void> {
    this.target = target;
    this.control = control;
    this.opening = this.open(this.bound).then((server) => {
      this.server = server;
      server.on('error', (e) => this.log(`gdb stub: ${e.message}`));
    });
    return this.opening;
  }

  /** Checks the address by binding it (and releasing it); rejects with a one-line reason (address in use, bad path...). */
  async listen(): Promise<void> {
    const a = this.bound;
    if (a.kind === 'unix' && existsSync(a.path)) {
      throw new Error(`--gdb ${describeAddress(a)}: the path exists already (remove it or choose another)`);
    }
    const probe = await this.open(a);
    const info = probe.address();
    if (a.kind === 'tcp' && info !== null && typeof info === 'object') this.bound = { kind: 'tcp', host: a.host, port: info.port };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    this.removeSocketFile();
  }

  private async open(a: GdbListenAddress): Promise<Server> {
    const server = createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`--gdb ${describeAddress(a)}: cannot listen (${e.code ?? e.message})`)));
      if (a.kind === 'unix') server.listen(a.path, resolve);
      else server.listen(a.port, a.host, resolve);
    });
    return server;
  }

  /** The address gdb connects to (tcp port 0: the port `listen` found). */
  boundAddress(): GdbListenAddress {
    return this.bound;
  }

  private accept(s: Socket): void {
    if (this.socket !== undefined || this.ended !== undefined) {
      s.end();
      return;
    }
    this.socket = s;
    s.setNoDelay(true);
    s.pause();
    const close = (): void => {
      if (this.socket !== s) return;
      this.session?.disconnected();
      this.session = undefined;
      this.socket = undefined;
    };
    s.on('close', close);
    s.on('error', () => s.destroy());
    void this.control!.pause().then(() => {
      if (this.socket !== s || this.ended !== undefined) {
        s.end();
        return;
      }
      this.log('gdb stub: gdb attached, the VM is paused');
      this.session = new GdbSession(
        this.target!,
        (bytes) => {
          if (!s.destroyed) s.write(bytes);
        },
        () => s.end(),
        { kind: 'signal', thread: 1, signal: SIGTRAP },
      );
      s.on('data', (d: Buffer) => this.session?.receive(d));
      s.resume();
    });
  }

  /** The VM ended: an attached gdb gets `W` with the exit status. */
  vmEnded(status: number, detail: string): void {
    this.ended = { status, detail };
    if (this.session !== undefined) this.target?.vmEnded(status, detail);
  }

  async close(): Promise<void> {
    await this.opening?.catch(() => undefined);
    const s = this.socket;
    if (s !== undefined && !s.destroyed) await new Promise<void>((resolve) => s.end(resolve));
    await new Promise<void>((resolve) => (this.server !== undefined ? this.server.close(() => resolve()) : resolve()));
    if (this.server !== undefined) this.removeSocketFile();
  }

  private removeSocketFile(): void {
    const a = this.bound;
    if (a.kind === 'unix' && existsSync(a.path)) {
      try {
        unlinkSync(a.path);
      } catch {
        // someone else removed it
      }
    }
  }
}
