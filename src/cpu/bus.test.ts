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
