import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApicBus } from './apic-bus.js';
import { IoApic } from './ioapic.js';
import { APIC_EOI, APIC_IRR, APIC_LDR, APIC_SVR, APIC_TMR, LocalApic } from './local-apic.js';

class FakeClock {
  t = 0;
  readonly tscHz = 1e9;
  nowNs(): number {
    return this.t;
  }
}

function setup(cpus = 2): { io: IoApic; apics: LocalApic[]; sel: (r: number) => void; rdw: (r: number) => number; wrw: (r: number, v: number) => void } {
  const bus = new ApicBus();
  const clock = new FakeClock();
  const apics: LocalApic[] = [];
  for (let i = 0; i < cpus; i++) {
    const a = new LocalApic({ apicId: i, bsp: i === 0, clock, bus });
    a.mmioWrite(APIC_SVR, 4, 0x1ff);
    apics.push(a);
  }
  const io = new IoApic(bus, 0);
  bus.eoiListener = (v) => io.eoi(v);
  const b1 = new Uint8Array(1);
  const b4 = new Uint8Array(4);
  const sel = (r: number): void => {
    b1[0] = r;
    io.write(0x00, b1);
  };
  const rdw = (r: number): number => {
    sel(r);
    io.read(0x10, b4);
    return (b4[0]! | (b4[1]! << 8) | (b4[2]! << 16) | (b4[3]! << 24)) >>> 0;
  };
  const wrw = (r: number, v: number): void => {
    sel(r);
    b4[0] = v;
    b4[1] = v >>> 8;
    b4[2] = v >>> 16;
    b4[3] = v >>> 24;
    io.write(0x10, b4);
  };
  return { io, apics, sel, rdw, wrw };
}

const irrBit = (a: LocalApic, v: number): boolean => ((a.mmioRead(APIC_IRR + ((v >> 5) << 4), 4) >>> (v & 31)) & 1) === 1;

test('ID, version (0x11, 24 entries), arbitration, IOREGSEL read-back', () => {
  const { rdw, wrw, io } = setup();
  assert.equal(rdw(0x01), 0x00170011);
  assert.equal(rdw(0x00), 0);
  wrw(0x00, 0x0f00_0000 | 0xff);
  assert.equal(rdw(0x00), 0x0f000000, 'only bits 27:24 of the ID are writable');
  assert.equal(rdw(0x02), 0x0f000000, 'arbitration ID follows the ID');
  wrw(0x01, 0);
  assert.equal(rdw(0x01), 0x00170011, 'version is read-only');
  const b = new Uint8Array(1);
  io.read(0x00, b);
  assert.equal(b[0], 0x01);
  // Every redirection entry starts masked.
  for (let pin = 0; pin < 24; pin++) assert.equal(rdw(0x10 + 2 * pin), 0x00010000);
  assert.equal(rdw(0x10 + 2 * 24), 0, 'past the last entry');
});

test('edge-triggered fixed delivery, physical and logical; masked edges are lost', () => {
  const { io, apics, wrw, rdw } = setup();
  const [a0, a1] = apics as [LocalApic, LocalApic];
  wrw(0x10 + 2 * 4, 0x31); // pin 4: vector 0x31, fixed, physical, edge, unmasked
  wrw(0x11 + 2 * 4, 1 << 24); // to APIC 1
  assert.equal(rdw(0x11 + 2 * 4), 1 << 24);
  io.setIrq(4, true);
  assert.ok(irrBit(a1, 0x31) && !irrBit(a0, 0x31));
  assert.equal(a1.acknowledge(), 0x31);
  io.setIrq(4, true); // still high: no new edge
  assert.equal(irrBit(a1, 0x31), false);
  // Logical flat destination 0x01 -> APIC 0 (LDR 0x01).
  a0.mmioWrite(APIC_LDR, 4, 0x01000000);
  wrw(0x10 + 2 * 5, 0x800 | 0x32);
  wrw(0x11 + 2 * 5, 0x01 << 24);
  io.setIrq(5, true);
  assert.ok(irrBit(a0, 0x32) && !irrBit(a1, 0x32));
  // Masked edge: lost, not delivered on unmask.
  wrw(0x10 + 2 * 6, 0x10000 | 0x33);
  io.setIrq(6, true);
  io.setIrq(6, false);
  wrw(0x10 + 2 * 6, 0x33);
  assert.equal(irrBit(a0, 0x33), false);
});

test('level-triggered: remote IRR set on delivery, cleared by the EOI message, re-delivered while asserted', () => {
  const { io, apics, wrw, rdw } = setup();
  const a0 = apics[0]!;
  wrw(0x10 + 2 * 9, 0x8000 | 0x2000 | 0x41); // level, active low (stored), vector 0x41
  io.setIrq(9, true);
  assert.equal(rdw(0x10 + 2 * 9) & 0x4000, 0x4000, 'remote IRR');
  assert.ok(irrBit(a0, 0x41));
  assert.equal(((a0.mmioRead(APIC_TMR + 0x20, 4) >>> 1) & 1), 1, 'TMR marks the vector level-triggered');
  assert.equal(a0.acknowledge(), 0x41);
  io.setIrq(9, true); // asserted again: waits for the EOI
  assert.equal(irrBit(a0, 0x41), false);
  a0.mmioWrite(APIC_EOI, 4, 0); // EOI -> IOAPIC: line still high -> delivered again
  assert.ok(irrBit(a0, 0x41));
  assert.equal(rdw(0x10 + 2 * 9) & 0x4000, 0x4000);
  assert.equal(a0.acknowledge(), 0x41);
  io.setIrq(9, false);
  a0.mmioWrite(APIC_EOI, 4, 0);
  assert.equal(rdw(0x10 + 2 * 9) & 0x4000, 0, 'remote IRR cleared');
  assert.equal(irrBit(a0, 0x41), false);
  // Remote IRR and delivery status are read-only.
  wrw(0x10 + 2 * 9, 0x8000 | 0x4000 | 0x1000 | 0x41);
  assert.equal(rdw(0x10 + 2 * 9), 0x8041);
});

test('unmasking an asserted level pin delivers it; NMI and INIT delivery modes', () => {
  const { io, apics, wrw } = setup();
  const [a0, a1] = apics as [LocalApic, LocalApic];
  wrw(0x10 + 2 * 11, 0x18000 | 0x51); // level, masked
  io.setIrq(11, true);
  assert.equal(irrBit(a0, 0x51), false);
  wrw(0x10 + 2 * 11, 0x8000 | 0x51);
  assert.ok(irrBit(a0, 0x51));
  wrw(0x10 + 2 * 12, 0x400); // NMI
  wrw(0x11 + 2 * 12, 1 << 24);
  io.setIrq(12, true);
  assert.equal(a1.takeNmi(), true);
  wrw(0x10 + 2 * 13, 0x500); // INIT
  wrw(0x11 + 2 * 13, 1 << 24);
  io.setIrq(13, true);
  assert.equal(a1.takeInit(), true);
});

test('a level interrupt dropped by a software-disabled APIC leaves remote IRR clear', () => {
  const { io, apics, wrw, rdw } = setup(1);
  const a0 = apics[0]!;
  a0.mmioWrite(APIC_SVR, 4, 0xff); // software-disabled
  wrw(0x10 + 2 * 10, 0x8000 | 0x61);
  io.setIrq(10, true);
  assert.equal(rdw(0x10 + 2 * 10) & 0x4000, 0);
  a0.mmioWrite(APIC_SVR, 4, 0x1ff);
  io.setIrq(10, true); // still asserted: delivered now
  assert.equal(rdw(0x10 + 2 * 10) & 0x4000, 0x4000);
  assert.equal(a0.acknowledge(), 0x61);
});
