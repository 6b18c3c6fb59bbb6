/**
 * A virtio-net backend on a Linux TAP interface (`--net tap:NAME`): each frame the guest sends is one
 * write to the TAP fd, each read one frame in. The fd is non-blocking; an fd-watcher thread says when
 * it is readable and the main thread then reads every frame waiting. Creating the interface needs
 * CAP_NET_ADMIN (or a persistent TAP made for this user with `ip tuntap add mode tap user ...`).
 */
import type { NetBackend } from '../../devices/virtio/backends/net-backend.js';
import { FdWatcher } from '../../sys/fd-watcher.js';
import { closeFd, openTap, readFdNonBlocking, writeFd } from '../../sys/libc.js';

const MAX_FRAME = 65550;

export class TapNetBackend implements NetBackend {
  readonly description: string;
  readonly ifname: string;
  private readonly fd: number;
  private rx: (frame: Uint8Array) => void = () => {};
  private readonly watcher = new FdWatcher();
  private unwatch: (() => void) | undefined;
  private readonly buf = new Uint8Array(MAX_FRAME);
  private closed = false;
  /** Frames the host refused (interface down: EIO), for diagnostics. */
  dropped = 0;

  constructor(name: string) {
    let t: { fd: number; name: string };
    try {
      t = openTap(name);
    } catch (e) {
      this.watcher.close();
      throw e;
    }
    this.fd = t.fd;
    this.ifname = t.name;
    this.description = `TAP interface ${t.name}`;
    this.arm();
  }

  private arm(): void {
    if (this.closed) return;
    this.unwatch = this.watcher.watch(this.fd, 'once', () => {
      this.unwatch = undefined;
      for (;;) {
        const n = readFdNonBlocking(this.fd, this.buf);
        if (n <= 0) break;
        this.rx(this.buf.slice(0, n));
      }
      this.arm();
    });
  }

  send(frame: Uint8Array): void {
    try {
      writeFd(this.fd, frame);
    } catch {
      this.dropped++;
    }
  }

  onReceive(fn: (frame: Uint8Array) => void): void {
    this.rx = fn;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unwatch?.();
    this.watcher.close();
    closeFd(this.fd);
  }
}
