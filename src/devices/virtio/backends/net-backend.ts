/**
 * Where a virtio-net device's Ethernet frames go and come from. The device model sees only this, so
 * it runs over any transport of frames: a stream socket to another VM (src/vmm/host-devices/, Node),
 * a TAP device, or a test's in-memory pair (`netPair`).
 */
export interface NetBackend {
  /** Sends one frame (without the virtio header). */
  send(frame: Uint8Array): void;
  /** Registers the receiver of incoming frames (one receiver; set by the device). */
  onReceive(fn: (frame: Uint8Array) => void): void;
  /** What the backend is connected to, for messages. */
  readonly description: string;
  /** Whether frames can reach a peer now (a stream socket with no peer: down). A backend without it is always up. */
  readonly linkUp?: boolean;
  /** Registers the receiver of link changes (one receiver; set by the device). */
  onLinkChange?(fn: (up: boolean) => void): void;
  close(): void;
}

/** Two backends wired to each other (tests, two VMs in one process). */
export function netPair(): [NetBackend, NetBackend] {
  const rx: ((f: Uint8Array) => void)[] = [() => {}, () => {}];
  const mk = (me: number): NetBackend => ({
    description: `in-memory pair end ${me}`,
    send: (frame) => rx[1 - me]!(frame.slice()),
    onReceive: (fn) => void (rx[me] = fn),
    close: () => void (rx[me] = () => {}),
  });
  return [mk(0), mk(1)];
}
