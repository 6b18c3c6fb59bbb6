/**
 * Between the guest's serial console and the host while gdb may replay recorded history: output
 * the guest prints during a replay was printed when the run first got there, so it is dropped;
 * input typed during a replay waits until the run is live again (a replay must not see it).
 */
export class ReplayGate {
  private on = false;
  private readonly held: { bytes: Uint8Array; deliver: (b: Uint8Array) => void }[] = [];
  /** Told when host input reaches the guest (the history then cannot replay what came before it). */
  onInput: (() => void) | null = null;

  get replaying(): boolean {
    return this.on;
  }

  set replaying(v: boolean) {
    this.on = v;
    if (v) return;
    while (this.held.length > 0 && !this.on) {
      const h = this.held.shift()!;
      this.onInput?.();
      h.deliver(h.bytes);
    }
  }

  /** Guest output: shown unless replaying. */
  output(bytes: Uint8Array, write: (b: Uint8Array) => void): void {
    if (!this.on) write(bytes);
  }

  /** Host input for the guest: delivered now, or once the run is live again. */
  input(bytes: Uint8Array, deliver: (b: Uint8Array) => void): void {
    if (this.on) {
      this.held.push({ bytes: bytes.slice(), deliver });
      return;
    }
    this.onInput?.();
    deliver(bytes);
  }
}
