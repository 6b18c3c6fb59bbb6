import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus, type BusDevice } from './bus.js';

class Recorder implements BusDevice {
  log: string[] = [];
  read(offset: number, data: Uint8Array): void {
    this.log.push(`r${offset}:${data.length}`);
    data.fill(0x5a);
  }
  write(offset: number, data: Uint8Array): void {
    this.log.push(`w${offset}:${[...data].join(',')}`);
  }
}

test('port bus dispatches with offsets relative to the base', () => {
  const bus = new Bus('pio');
  const d = new Recorder();
  bus.register(0x3f8, 8, d, 'uart');
  bus.writeValue(0x3fb, 1, 0x83);
  assert.equal(bus.readValue(0x3f9, 2), 0x5a5a);
  assert.deepEqual(d.log, ['w3:131', 'r1:2']);
});

test('unclaimed ports read all-ones and are counted', () => {
  const bus = new Bus('pio');
  assert.equal(bus.readValue(0x1234, 4), 0xffffffff);
  bus.writeValue(0x80, 1, 0x12);
  assert.equal(bus.stats.unclaimedReads, 1);
  assert.equal(bus.stats.unclaimedWrites, 1);
  assert.ok(bus.stats.unclaimedAddresses.has(0x1234));
});

test('overlapping registrations throw and name both devices', () => {
  const bus = new Bus('mmio');
  bus.register(0xfec00000, 0x1000, new Recorder(), 'ioapic');
  assert.throws(() => bus.register(0xfec00800, 0x100, new Recorder(), 'other'), /"other" overlaps "ioapic"/);
  bus.register(0xfed00000, 0x400, new Recorder(), 'hpet');
  assert.equal(bus.claims(0xfed00010), true);
  assert.equal(bus.claims(0xfec01000), false);
});

test('unregister frees the range for a new mapping and makes it unclaimed', () => {
  const bus = new Bus('pio');
  const d = new Recorder();
  bus.register(0xc000, 0x20, d, 'bar');
  assert.equal(bus.unregister(0xc000, d), true);
  assert.equal(bus.claims(0xc010), false);
  assert.equal(bus.readValue(0xc010, 1), 0xff);
  assert.equal(bus.unregister(0xc000, d), false);
  bus.register(0xc000, 0x40, d, 'bar moved');
  assert.equal(bus.claims(0xc03f), true);
  const mmio = new Bus('mmio');
  mmio.register(0xfe000000, 0x1000, d, 'mmio bar');
  assert.equal(mmio.readValue(0xfe000010, 4), 0x5a5a5a5a);
  assert.equal(mmio.unregister(0xfe000000, d), true);
  assert.equal(mmio.claims(0xfe000010), false);
});

test('move: a mapping changes base keeping its length; an overlapping target leaves it where it was', () => {
  for (const kind of ['pio', 'mmio'] as const) {
    const bus = new Bus(kind);
    const a = new Recorder();
    const b = new Recorder();
    bus.register(0x1000, 0x20, a, 'a');
    bus.register(0x2000, 0x10, b, 'b');
    assert.equal(bus.move(0x1000, a, 0x3000), true);
    assert.equal(bus.claims(0x1000), false);
    bus.writeValue(0x301f, 1, 7);
    assert.deepEqual(a.log, ['w31:7']);
    assert.throws(() => bus.move(0x3000, a, 0x1ff8), /overlaps "b"/);
    assert.equal(bus.claims(0x3000), true, 'the refused move kept the old range');
    assert.equal(bus.move(0x1000, a, 0x4000), false, 'no mapping at the old base');
    assert.equal(bus.move(0x3000, b, 0x4000), false, 'another device is not moved');
    assert.deepEqual(bus.list().map((m) => m.base), [0x2000, 0x3000]);
  }
});
