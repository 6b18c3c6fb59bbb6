/**
 * Event channels implemented in the VMM's own process (emu, and kvm hosts without KVM_CAP_IOEVENTFD /
 * KVM_CAP_COALESCED_MMIO): the buses' hooks (bus.ts) take matching guest writes.
 * - I/O events: the write is recorded and the vCPU goes on; the sink rings when the run loop calls
 *   `dispatch()` between slices, which is where ioeventfd's reader would run. Several writes before a
 *   dispatch ring once, as an eventfd's counter would.
 * - Coalesced zones: writes go into a bounded ring in order; the ring is replayed into the devices
 *   before any other bus access (read or write, either bus), when it is full, and by `flushCoalesced()`.
 * Imports nothing Node-only: emu uses it in browsers too.
 */
import type { Bus, BusHooks } from './bus.js';
import {
  ioEventMatches,
  newEventStats,
  type CoalescedZoneHandle,
  type CoalescedZoneSpec,
  type EventChannels,
  type EventSink,
  type EventStats,
  type IoEventHandle,
  type IoEventSpec,
  type IrqEvent,
  type IrqRoute,
} from './event-channels.js';

/** Entries in the ring: KVM's ring page holds (4096 - 8) / 24 = 170; the same bound here. */
export const COALESCED_RING_ENTRIES = 170;

interface IoEventEntry {
  readonly spec: IoEventSpec;
  readonly sink: EventSink;
  pending: boolean;
  closed: boolean;
}

/** A bounded ring of buffered writes, replayed in order. */
export class CoalescedRing {
  private readonly addr = new Float64Array(COALESCED_RING_ENTRIES);
  private readonly len = new Uint8Array(COALESCED_RING_ENTRIES);
  private readonly bus: (Bus | undefined)[] = new Array<Bus | undefined>(COALESCED_RING_ENTRIES).fill(undefined);
  private readonly data = new Uint8Array(COALESCED_RING_ENTRIES * 8);
  private readonly views = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((n) => new Uint8Array(n));
  count = 0;

  push(bus: Bus, addr: number, data: Uint8Array): void {
    const i = this.count++;
    this.addr[i] = addr;
    this.len[i] = data.length;
    this.bus[i] = bus;
    this.data.set(data.subarray(0, 8), i * 8);
  }

  get full(): boolean {
    return this.count >= COALESCED_RING_ENTRIES;
  }

  /** Replays every buffered write into its device, oldest first; returns how many. */
  flush(): number {
    const n = this.count;
    // Cleared first: a device the replay reaches may itself access a bus.
    this.count = 0;
    for (let i = 0; i < n; i++) {
      const l = this.len[i]!;
      const v = this.views[l]!;
      v.set(this.data.subarray(i * 8, i * 8 + l));
      this.bus[i]!.deliver(this.addr[i]!, v);
      this.bus[i] = undefined;
    }
    return n;
  }
}

export class InProcessEventChannels implements EventChannels, BusHooks {
  readonly stats: EventStats = newEventStats();
  private readonly ioEvents = new Map<Bus, Map<number, IoEventEntry[]>>();
  private readonly zones: { readonly bus: Bus; readonly spec: CoalescedZoneSpec; closed: boolean }[] = [];
  private readonly ring = new CoalescedRing();
  private pending: IoEventEntry[] = [];
  /** Called when a doorbell rings with none pending (emu ends the vCPU's slice there, so the device runs next). */
  onRing: (() => void) | undefined = undefined;

  constructor(
    private readonly pio: Bus,
    private readonly mmio: Bus,
    /** Delivers an interrupt event's route (emu: the chips; a GSI is pulsed). */
    private readonly deliverIrq: (route: IrqRoute) => void,
  ) {}

  private busOf(space: 'pio' | 'mmio'): Bus {
    return space === 'pio' ? this.pio : this.mmio;
  }

  private updateHooks(): void {
    for (const bus of [this.pio, this.mmio]) {
      // Any zone hooks both buses: its writes are flushed before an access on either.
      const used = (this.ioEvents.get(bus)?.size ?? 0) > 0 || this.zones.length > 0;
      bus.hooks = used ? this : undefined;
    }
  }

  // ---- BusHooks
  read(_bus: Bus, _addr: number): void {
    if (this.ring.count !== 0) this.flushCoalesced();
  }

  write(bus: Bus, addr: number, data: Uint8Array): boolean {
    const zones = this.zones;
    for (let i = 0; i < zones.length; i++) {
      const z = zones[i]!;
      if (z.bus === bus && addr >= z.spec.address && addr + data.length <= z.spec.address + z.spec.size) {
        if (this.ring.full) this.flushCoalesced();
        this.ring.push(bus, addr, data);
        this.stats.coalescedWrites++;
        return true;
      }
    }
    if (this.ring.count !== 0) this.flushCoalesced();
    const list = this.ioEvents.get(bus)?.get(addr);
    if (list === undefined) return false;
    for (const e of list) {
      if (!ioEventMatches(e.spec, data)) continue;
      this.stats.ioEvents++;
      if (!e.pending) {
        e.pending = true;
        this.pending.push(e);
        this.onRing?.();
      }
      return true;
    }
    return false;
  }

  // ---- EventChannels
  ioEvent(spec: IoEventSpec, sink: EventSink): IoEventHandle {
    const bus = this.busOf(spec.space);
    let byAddr = this.ioEvents.get(bus);
    if (byAddr === undefined) this.ioEvents.set(bus, (byAddr = new Map()));
    const list = byAddr.get(spec.address) ?? [];
    if (list.some((e) => e.spec.size === spec.size && (e.spec.datamatch === undefined || spec.datamatch === undefined || e.spec.datamatch === spec.datamatch))) {
      throw new RangeError(`an I/O event at ${spec.space} 0x${spec.address.toString(16)} (${spec.size} bytes) is already registered`);
    }
    const entry: IoEventEntry = { spec, sink, pending: false, closed: false };
    // Value matches before catch-alls, as KVM looks them up.
    list.push(entry);
    list.sort((a, b) => (a.spec.datamatch === undefined ? 1 : 0) - (b.spec.datamatch === undefined ? 1 : 0));
    byAddr.set(spec.address, list);
    this.updateHooks();
    return {
      spec,
      inKernel: false,
      close: () => {
        if (entry.closed) return;
        entry.closed = true;
        const l = byAddr.get(spec.address) ?? [];
        const i = l.indexOf(entry);
        if (i >= 0) l.splice(i, 1);
        if (l.length === 0) byAddr.delete(spec.address);
        this.updateHooks();
      },
    };
  }

  /** True when an I/O event rang since the last dispatch. */
  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** The I/O events that rang since the last dispatch, in order (a snapshot taken between two slices of a round carries them). */
  pendingSpecs(): IoEventSpec[] {
    return this.pending.filter((e) => !e.closed).map((e) => e.spec);
  }

  /** Marks the registered I/O event `spec` as rung (a restored snapshot's pending events); false when none matches. */
  markPending(spec: IoEventSpec): boolean {
    const list = this.ioEvents.get(this.busOf(spec.space))?.get(spec.address) ?? [];
    const e = list.find((x) => x.spec.size === spec.size && x.spec.datamatch === spec.datamatch);
    if (e === undefined) return false;
    if (!e.pending) {
      e.pending = true;
      this.pending.push(e);
    }
    return true;
  }

  /** Rings the sinks of the I/O events the guest wrote since the last call (the run loop, between slices). */
  dispatch(): void {
    if (this.pending.length === 0) return;
    const list = this.pending;
    this.pending = [];
    for (const e of list) {
      e.pending = false;
      if (!e.closed) e.sink.signal();
    }
  }

  irqEvent(route: IrqRoute): IrqEvent {
    let current = route;
    let closed = false;
    const stats = this.stats;
    const deliver = this.deliverIrq;
    return {
      get route() {
        return current;
      },
      fd: undefined,
      trigger(): void {
        if (closed) return;
        stats.irqEvents++;
        deliver(current);
      },
      setRoute(r: IrqRoute): void {
        current = r;
      },
      close(): void {
        closed = true;
      },
    };
  }

  coalesce(spec: CoalescedZoneSpec): CoalescedZoneHandle {
    if (!(spec.size > 0)) throw new RangeError(`a coalesced zone needs a positive size (got ${spec.size})`);
    const z = { bus: this.busOf(spec.space), spec, closed: false };
    this.zones.push(z);
    this.updateHooks();
    return {
      spec,
      inKernel: false,
      close: () => {
        if (z.closed) return;
        this.flushCoalesced();
        z.closed = true;
        this.zones.splice(this.zones.indexOf(z), 1);
        this.updateHooks();
      },
    };
  }

  flushCoalesced(): void {
    if (this.ring.count === 0) return;
    this.stats.coalescedFlushes++;
    this.ring.flush();
  }
}
