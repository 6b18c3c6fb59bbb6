import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus, type BusDevice } from './bus.js';
import { COALESCED_RING_ENTRIES, InProcessEventChannels } from './bus-events.js';
import type { IrqRoute } from './event-channels.js';

/** A device that logs every access it sees, in order. */
function logger(log: string[], name: string): BusDevice {
  return {
    read: (o, d) => {
      log.push(`${name} r${o}`);
      d.fill(0x5a);
    },
    write: (o, d) => void log.push(`${name} w${o}=${[...d].join(',')}`),
  };
}

function setup(): { pio: Bus; mmio: Bus; ev: InProcessEventChannels; log: string[]; irqs: IrqRoute[] } {
  const pio = new Bus('pio');
  const mmio = new Bus('mmio');
  const log: string[] = [];
  const irqs: IrqRoute[] = [];
  pio.register(0x80, 4, logger(log, 'post'), 'post');
  mmio.register(0x1000, 0x100, logger(log, 'dev'), 'dev');
  return { pio, mmio, log, irqs, ev: new InProcessEventChannels(pio, mmio, (r) => irqs.push(r)) };
}

test('an I/O event takes matching writes; the sink rings once per dispatch; other widths and values reach the device', () => {
  const { mmio, ev, log } = setup();
  let rings = 0;
  const h = ev.ioEvent({ space: 'mmio', address: 0x1010, size: 2, datamatch: 3 }, { signal: () => rings++ });
  mmio.writeValue(0x1010, 2, 3);
  mmio.writeValue(0x1010, 2, 3);
  assert.equal(rings, 0, 'the doorbell rings later, not inside the access');
  assert.deepEqual(log, []);
  assert.ok(ev.hasPending);
  ev.dispatch();
  assert.equal(rings, 1, 'two writes before a dispatch ring once (an eventfd counter)');
  mmio.writeValue(0x1010, 2, 4); // another value
  mmio.writeValue(0x1010, 4, 3); // another width
  assert.deepEqual(log, ['dev w16=4,0', 'dev w16=3,0,0,0']);
  h.close();
  mmio.writeValue(0x1010, 2, 3);
  ev.dispatch();
  assert.equal(rings, 1);
  assert.equal(mmio.hooks, undefined, 'no hooks left once nothing is registered');
  assert.throws(() => {
    ev.ioEvent({ space: 'pio', address: 0x80, size: 1 }, { signal: () => undefined });
    ev.ioEvent({ space: 'pio', address: 0x80, size: 1 }, { signal: () => undefined });
  }, /already registered/);
});

test('doorbells rung but not yet dispatched are listed in order and can be marked rung again (a snapshot taken inside a round)', () => {
  const a = setup();
  a.ev.ioEvent({ space: 'mmio', address: 0x1010, size: 2, datamatch: 3 }, { signal: () => undefined });
  a.ev.ioEvent({ space: 'pio', address: 0x84, size: 1 }, { signal: () => undefined });
  a.pio.writeValue(0x84, 1, 9);
  a.mmio.writeValue(0x1010, 2, 3);
  const pending = a.ev.pendingSpecs();
  assert.deepEqual(pending, [{ space: 'pio', address: 0x84, size: 1 }, { space: 'mmio', address: 0x1010, size: 2, datamatch: 3 }]);
  // The same machine built again: its doorbells ring at its first dispatch, in the same order.
  const b = setup();
  const rang: string[] = [];
  b.ev.ioEvent({ space: 'mmio', address: 0x1010, size: 2, datamatch: 3 }, { signal: () => rang.push('mmio') });
  b.ev.ioEvent({ space: 'pio', address: 0x84, size: 1 }, { signal: () => rang.push('pio') });
  for (const spec of pending) assert.ok(b.ev.markPending(spec));
  assert.equal(b.ev.markPending({ space: 'mmio', address: 0x1010, size: 2, datamatch: 4 }), false, 'no such doorbell');
  b.ev.dispatch();
  assert.deepEqual(rang, ['pio', 'mmio']);
  assert.deepEqual(b.ev.pendingSpecs(), []);
});

test('coalesced writes reach the device in order before any other access to it, on either bus', () => {
  const { pio, mmio, ev, log } = setup();
  ev.coalesce({ space: 'pio', address: 0x80, size: 1 });
  pio.writeValue(0x80, 1, 1);
  pio.writeValue(0x80, 1, 2);
  assert.deepEqual(log, [], 'buffered');
  assert.equal(pio.readValue(0x80, 1), 0x5a);
  assert.deepEqual(log, ['post w0=1', 'post w0=2', 'post r0'], 'flushed before the read');
  log.length = 0;
  pio.writeValue(0x80, 1, 3);
  pio.writeValue(0x81, 1, 9); // the same device, outside the zone
  assert.deepEqual(log, ['post w0=3', 'post w1=9']);
  log.length = 0;
  pio.writeValue(0x80, 1, 4);
  mmio.readValue(0x1000, 4);
  assert.deepEqual(log, ['post w0=4', 'dev r0'], 'an access on the other bus flushes too');
  log.length = 0;
  for (let i = 0; i < COALESCED_RING_ENTRIES + 5; i++) pio.writeValue(0x80, 1, i & 0xff);
  assert.equal(log.length, COALESCED_RING_ENTRIES, 'a full ring is flushed to make room');
  ev.flushCoalesced();
  assert.equal(log.length, COALESCED_RING_ENTRIES + 5);
  assert.deepEqual(log.slice(-2), [`post w0=${COALESCED_RING_ENTRIES + 3}`, `post w0=${COALESCED_RING_ENTRIES + 4}`]);
  assert.equal(ev.stats.coalescedWrites, COALESCED_RING_ENTRIES + 9);
});

test('interrupt events deliver their current route', () => {
  const { ev, irqs } = setup();
  const e = ev.irqEvent({ kind: 'gsi', gsi: 5 });
  e.trigger();
  e.setRoute({ kind: 'msi', address: 0xfee0_0000, data: 0x41 });
  e.trigger();
  e.close();
  e.trigger();
  assert.deepEqual(irqs, [{ kind: 'gsi', gsi: 5 }, { kind: 'msi', address: 0xfee0_0000, data: 0x41 }]);
});
