import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../bus.js';
import { createEmuChipSet, EmuChipError, ioapicPinFor } from './chip-set.js';
import { APIC_LVT_LINT0, APIC_LVT_TIMER, APIC_SVR, APIC_TIMER_DCR, APIC_TIMER_ICR } from './local-apic.js';
import { PIT_HZ } from './pit-8254.js';

class FakeClock {
  t = 0;
  readonly tscHz = 1e9;
  nowNs(): number {
    return this.t;
  }
}

function setup(cpus = 2): { clock: FakeClock; pio: Bus; mmio: Bus; chips: ReturnType<typeof createEmuChipSet> } {
  const clock = new FakeClock();
  const pio = new Bus('pio');
  const mmio = new Bus('mmio');
  const chips = createEmuChipSet({ cpus, clock, pio, mmio });
  return { clock, pio, mmio, chips };
}

function initPic(pio: Bus): void {
  for (const [p, v] of [
    [0x20, 0x11], [0x21, 0x20], [0x21, 0x04], [0x21, 0x01],
    [0xa0, 0x11], [0xa1, 0x28], [0xa1, 0x02], [0xa1, 0x01],
    [0x21, 0x00], [0xa1, 0x00],
  ] as const) pio.writeValue(p, 1, v);
}

test('registers the legacy ports and the IOAPIC window, not the LAPIC page', () => {
  const { pio, mmio } = setup();
  assert.deepEqual(
    pio.list().map((m) => [m.base, m.len, m.name]),
    [[0x20, 2, 'pic-master'], [0x40, 4, 'pit'], [0x61, 1, 'port61'], [0xa0, 2, 'pic-slave'], [0xf0, 1, 'fpu-error'], [0x4d0, 2, 'elcr']],
  );
  assert.deepEqual(mmio.list(), [{ base: 0xfec00000, len: 0x100, name: 'ioapic' }]);
  assert.equal(mmio.claims(0xfee00000), false);
  mmio.writeValue(0xfec00000, 4, 1);
  assert.equal(mmio.readValue(0xfec00010, 4), 0x00170011);
  assert.throws(() => createEmuChipSet({ cpus: 0, clock: new FakeClock(), pio: new Bus('pio'), mmio: new Bus('mmio') }), EmuChipError);
});

test('GSI routing: ISA IRQ0 -> IOAPIC pin 2, IRQ2 is the cascade, 16-23 IOAPIC only', () => {
  assert.equal(ioapicPinFor(0), 2);
  assert.equal(ioapicPinFor(2), -1);
  assert.equal(ioapicPinFor(4), 4);
  assert.equal(ioapicPinFor(19), 19);
  assert.equal(ioapicPinFor(24), -1);
  const { chips } = setup();
  chips.setIrq(20, true);
  assert.equal(chips.ioapic.lineLevel(20), true);
  chips.setIrq(0, true);
  assert.equal(chips.ioapic.lineLevel(2), true);
  assert.equal(chips.ioapic.lineLevel(0), false);
});

test('PIT IRQ0 through the PIC to the BSP (virtual wire, LINT0 ExtINT)', () => {
  const { clock, pio, chips } = setup();
  initPic(pio);
  const bsp = chips.localApic(0);
  bsp.mmioWrite(APIC_SVR, 4, 0x1ff);
  bsp.mmioWrite(APIC_LVT_LINT0, 4, 0x700);
  pio.writeValue(0x43, 1, 0x34);
  pio.writeValue(0x40, 1, 1193 & 0xff);
  pio.writeValue(0x40, 1, 1193 >> 8);
  // The mode write raised OUT (an edge): take and EOI that one first.
  if (bsp.hasInterrupt()) {
    assert.equal(bsp.acknowledge(), 0x20);
    pio.writeValue(0x20, 1, 0x20);
  }
  assert.equal(bsp.hasInterrupt(), false);
  const d = chips.nextDeadlineNs();
  assert.ok(Math.abs(d - (1193 * 1e9) / PIT_HZ) < 1e-3);
  clock.t = d;
  chips.advance();
  assert.equal(bsp.hasInterrupt(), true);
  assert.equal(chips.localApic(1).hasInterrupt(), false, 'the AP leaves LINT0 masked');
  assert.equal(bsp.acknowledge(), 0x20);
  assert.equal(bsp.hasInterrupt(), false);
  pio.writeValue(0x20, 1, 0x20);
});

test('PIT IRQ0 through IOAPIC pin 2 to an AP; nextDeadline covers the APIC timers', () => {
  const { clock, pio, mmio, chips } = setup();
  pio.writeValue(0x21, 1, 0xff); // PIC fully masked (uninitialised anyway)
  const ap = chips.localApic(1);
  ap.mmioWrite(APIC_SVR, 4, 0x1ff);
  mmio.writeValue(0xfec00000, 4, 0x10 + 2 * 2);
  mmio.writeValue(0xfec00010, 4, 0x30);
  mmio.writeValue(0xfec00000, 4, 0x11 + 2 * 2);
  mmio.writeValue(0xfec00010, 4, 1 << 24);
  pio.writeValue(0x43, 1, 0x34);
  pio.writeValue(0x40, 1, 0x00);
  pio.writeValue(0x40, 1, 0x10); // 4096 ticks
  if (ap.hasInterrupt()) {
    ap.acknowledge();
    ap.mmioWrite(0xb0, 4, 0);
  }
  // An APIC timer that expires earlier than the PIT.
  const bsp = chips.localApic(0);
  bsp.mmioWrite(APIC_SVR, 4, 0x1ff);
  bsp.mmioWrite(APIC_TIMER_DCR, 4, 0xb);
  bsp.mmioWrite(APIC_LVT_TIMER, 4, 0xef);
  bsp.mmioWrite(APIC_TIMER_ICR, 4, 1000);
  assert.equal(chips.nextDeadlineNs(), 1000);
  clock.t = 1000;
  chips.advance();
  assert.equal(bsp.acknowledge(), 0xef);
  const d = chips.nextDeadlineNs();
  assert.ok(Math.abs(d - (4096 * 1e9) / PIT_HZ) < 1e-3);
  clock.t = d;
  chips.advance();
  assert.equal(ap.acknowledge(), 0x30);
});

test('ExtINT message from the IOAPIC makes the target APIC run the PIC INTA cycle', () => {
  const { pio, mmio, chips } = setup();
  initPic(pio);
  const ap = chips.localApic(1);
  ap.mmioWrite(APIC_SVR, 4, 0x1ff);
  mmio.writeValue(0xfec00000, 4, 0x10 + 2 * 3);
  mmio.writeValue(0xfec00010, 4, 0x700); // ExtINT
  mmio.writeValue(0xfec00000, 4, 0x11 + 2 * 3);
  mmio.writeValue(0xfec00010, 4, 1 << 24);
  chips.setIrq(3, true);
  assert.equal(ap.hasInterrupt(), true);
  assert.equal(ap.acknowledge(), 0x23);
});

test('a globally disabled APIC passes the PIC INTR straight through (LINT0 as INTR)', () => {
  const { pio, chips } = setup(1);
  initPic(pio);
  const bsp = chips.localApic(0);
  assert.equal(bsp.setApicBase(0xfee00100, 0), true);
  chips.setIrq(1, true);
  assert.equal(bsp.hasInterrupt(), true);
  assert.equal(bsp.acknowledge(), 0x21);
});

test('MSI: physical and logical destinations, NMI mode, and what is not an interrupt', () => {
  const { chips } = setup(2);
  const [bsp, ap] = [chips.localApic(0), chips.localApic(1)];
  bsp.mmioWrite(APIC_SVR, 4, 0x1ff);
  ap.mmioWrite(APIC_SVR, 4, 0x1ff);
  // Physical destination 1, fixed, edge, vector 0x41.
  assert.equal(chips.deliverMsi(0xfee0_1000, 0x0041), true);
  assert.equal(bsp.hasInterrupt(), false);
  assert.equal(ap.acknowledge(), 0x41);
  // Logical flat: LDR bit 1 on the AP.
  ap.mmioWrite(0xd0, 4, 0x0200_0000);
  ap.mmioWrite(0xe0, 4, 0xffff_ffff);
  assert.equal(chips.deliverMsi(0xfee0_200c, 0x0052), true);
  assert.equal(ap.acknowledge(), 0x52);
  // No APIC with ID 7; SMI mode; an address outside the interrupt window (a memory write).
  assert.equal(chips.deliverMsi(0xfee0_7000, 0x0041), false);
  assert.equal(chips.deliverMsi(0xfee0_0000, 0x0241), false);
  assert.equal(chips.deliverMsi(0xfed0_0000, 0x0041), false);
  assert.equal(chips.deliverMsi(0x1_fee0_0000, 0x0041), false);
  assert.equal(chips.msiDropped, 4);
  assert.equal(bsp.hasInterrupt() || ap.hasInterrupt(), false);
});
