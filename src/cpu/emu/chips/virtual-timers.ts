/**
 * One-shot device timers on the VM's clock instead of the host's: what a device outside the chip set
 * (the CMOS RTC's IRQ 8) arms in a --deterministic run, so its interrupts land at the same instruction
 * counts every run. The run loop fires them between rounds (advance) and ends rounds at the earliest
 * (nextDeadlineNs), as it does for the PIT and the LAPIC timers. Same shape as setTimeout/clearTimeout.
 */
import type { EmuClock } from './chip-types.js';

interface Pending {
  readonly atNs: number;
  readonly seq: number;
  readonly fn: () => void;
}

export class VirtualTimers {
  /** Delays may be fractional milliseconds (RtcTimers.exactMs). */
  readonly exactMs = true;
  private pending: Pending[] = [];
  private seq = 0;

  constructor(private readonly clock: EmuClock) {}

  setTimeout(fn: () => void, ms: number): unknown {
    const t: Pending = { atNs: this.clock.nowNs() + Math.max(0, ms) * 1e6, seq: this.seq++, fn };
    this.pending.push(t);
    // Deadline order; equal deadlines fire in the order they were armed.
    this.pending.sort((a, b) => a.atNs - b.atNs || a.seq - b.seq);
    return t;
  }

  clearTimeout(handle: unknown): void {
    const i = this.pending.indexOf(handle as Pending);
    if (i >= 0) this.pending.splice(i, 1);
  }

  nextDeadlineNs(): number {
    return this.pending.length !== 0 ? this.pending[0]!.atNs : Infinity;
  }

  /** Fires every timer that is due (a timer a callback arms for now fires in this call too). */
  advance(): void {
    for (;;) {
      const t = this.pending[0];
      if (t === undefined || t.atNs > this.clock.nowNs()) return;
      this.pending.shift();
      t.fn();
    }
  }

  get size(): number {
    return this.pending.length;
  }
}
