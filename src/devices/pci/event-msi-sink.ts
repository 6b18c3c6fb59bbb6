/**
 * MSI delivery through interrupt events (event-channels.ts): each distinct message a function sends
 * gets an interrupt event routed to it (kvm: an irqfd with an MSI routing entry), so interrupts leave
 * the device the way an out-of-process device's would. A small cache: messages change only when the
 * guest reprograms its MSI-X table; the oldest route is dropped past the bound.
 */
import type { EventChannels, IrqEvent } from '../../cpu/event-channels.js';
import { decodeMsi, type MsiSink } from '../../cpu/irq.js';

const MAX_ROUTES = 64;

export class EventMsiSink implements MsiSink {
  private readonly routes = new Map<string, IrqEvent>();
  /** Set when the host refused an interrupt event (e.g. no routing entry left): messages go to `fallback`. */
  refused: string | undefined;

  constructor(
    private readonly events: EventChannels,
    private readonly fallback: MsiSink,
  ) {}

  signalMsi(address: number, data: number): boolean {
    if (decodeMsi(address, data) === undefined) return false;
    if (this.refused !== undefined) return this.fallback.signalMsi(address, data);
    const key = `${address}:${data}`;
    let ev = this.routes.get(key);
    if (ev === undefined) {
      if (this.routes.size >= MAX_ROUTES) {
        const [oldest, e] = this.routes.entries().next().value as [string, IrqEvent];
        e.close();
        this.routes.delete(oldest);
      }
      try {
        ev = this.events.irqEvent({ kind: 'msi', address, data });
      } catch (e) {
        this.refused = (e as Error).message;
        return this.fallback.signalMsi(address, data);
      }
      this.routes.set(key, ev);
    }
    ev.trigger();
    return true;
  }

  close(): void {
    for (const e of this.routes.values()) e.close();
    this.routes.clear();
  }
}
