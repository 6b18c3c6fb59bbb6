import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApicBus } from './apic-bus.js';
import type { MsrValue } from './chip-types.js';
import {
  APIC_APR,
  APIC_DFR,
  APIC_EOI,
  APIC_ESR,
  APIC_ICR_HI,
  APIC_ICR_LO,
  APIC_ID,
  APIC_IRR,
  APIC_ISR,
  APIC_LDR,
  APIC_LVR,
  APIC_LVT_LINT0,
  APIC_LVT_PMC,
  APIC_LVT_TIMER,
  APIC_PPR,
  APIC_SVR,
  APIC_TIMER_CCR,
  APIC_TIMER_DCR,
  APIC_TIMER_ICR,
  APIC_TMR,
  APIC_TPR,
  LocalApic,
} from './local-apic.js';

class FakeClock {
  t = 0;
  readonly tscHz = 2e9;
  nowNs(): number {
    return this.t;
  }
}

function system(n: number): { clock: FakeClock; bus: ApicBus; apics: LocalApic[] } {
  const clock = new FakeClock();
  const bus = new ApicBus();
  const apics: LocalApic[] = [];
  for (let i = 0; i < n; i++) apics.push(new LocalApic({ apicId: i, bsp: i === 0, clock, bus }));
  return { clock, bus, apics };
}

const rd = (a: LocalApic, reg: number): number => a.mmioRead(reg, 4);
const wr = (a: LocalApic, reg: number, v: number): void => a.mmioWrite(reg, 4, v);
const enable = (a: LocalApic): void => wr(a, APIC_SVR, 0x1ff);
const bitSet = (a: LocalApic, base: number, v: number): boolean => ((rd(a, base + ((v >> 5) << 4)) >>> (v & 31)) & 1) === 1;
/** Sends a fixed IPI to self through the ICR (shorthand self). */
const selfIpi = (a: LocalApic, v: number): void => wr(a, APIC_ICR_LO, 0x40000 | v);

test('power-up register values', () => {
  const { apics } = system(2);
  const a = apics[1]!;
  assert.equal(rd(a, APIC_ID), 1 << 24);
  assert.equal(rd(a, APIC_LVR), 0x00050014);
  assert.equal(rd(a, APIC_SVR), 0xff);
  assert.equal(rd(a, APIC_DFR), 0xffffffff);
  assert.equal(rd(a, APIC_LVT_TIMER), 0x10000);
  assert.equal(rd(a, APIC_LVT_LINT0), 0x10000);
  const base: MsrValue = { lo: 0, hi: 0 };
  apics[0]!.getApicBase(base);
  assert.deepEqual(base, { lo: 0xfee00900, hi: 0 });
  a.getApicBase(base);
  assert.deepEqual(base, { lo: 0xfee00800, hi: 0 });
  assert.equal(a.waitingForSipi, true);
  assert.equal(apics[0]!.waitingForSipi, false);
  // Byte reads of a register; bytes 4..15 of a slot read 0; sub-dword writes are dropped.
  assert.equal(a.mmioRead(APIC_LVR, 1), 0x14);
  assert.equal(a.mmioRead(APIC_LVR + 2, 1), 0x05);
  a.mmioWrite(APIC_TPR, 1, 0x20);
  assert.equal(rd(a, APIC_TPR), 0);
});

test('software disable: LVT masks stick and fixed interrupts are dropped', () => {
  const { apics } = system(1);
  const a = apics[0]!;
  wr(a, APIC_LVT_TIMER, 0x30);
  assert.equal(rd(a, APIC_LVT_TIMER), 0x10030);
  selfIpi(a, 0x40);
  assert.equal(a.hasInterrupt(), false);
  enable(a);
  wr(a, APIC_LVT_TIMER, 0x30);
  assert.equal(rd(a, APIC_LVT_TIMER), 0x30);
  wr(a, APIC_SVR, 0xff);
  assert.equal(rd(a, APIC_LVT_TIMER), 0x10030, 'clearing SVR bit 8 masks every LVT');
});

test('TPR/PPR/APR, acceptance by priority class, EOI of the highest ISR bit', () => {
  const { apics } = system(1);
  const a = apics[0]!;
  enable(a);
  selfIpi(a, 0x45);
  selfIpi(a, 0x32);
  assert.ok(bitSet(a, APIC_IRR, 0x45) && bitSet(a, APIC_IRR, 0x32));
  wr(a, APIC_TPR, 0x50);
  assert.equal(a.hasInterrupt(), false, 'class 4 is not above TPR class 5');
  assert.equal(rd(a, APIC_APR), 0x50);
  wr(a, APIC_TPR, 0x3a);
  assert.equal(rd(a, APIC_PPR), 0x3a);
  assert.equal(rd(a, APIC_APR), 0x40, 'IRRV class 4 > TPR class 3');
  assert.equal(a.hasInterrupt(), true);
  assert.equal(a.acknowledge(), 0x45);
  assert.ok(bitSet(a, APIC_ISR, 0x45) && !bitSet(a, APIC_IRR, 0x45));
  assert.equal(rd(a, APIC_PPR), 0x40);
  assert.equal(a.hasInterrupt(), false, '0x32 is below the in-service class');
  wr(a, APIC_EOI, 0);
  assert.equal(bitSet(a, APIC_ISR, 0x45), false);
  assert.equal(rd(a, APIC_PPR), 0x3a);
  assert.equal(a.hasInterrupt(), false, 'class 3 is not above TPR class 3');
  a.setCr8(2);
  assert.equal(rd(a, APIC_TPR), 0x20);
  assert.equal(a.getCr8(), 2);
  assert.equal(a.acknowledge(), 0x32);
  // Nothing deliverable: acknowledge returns the spurious vector and sets no ISR bit.
  wr(a, APIC_SVR, 0x1e7);
  assert.equal(a.acknowledge(), 0xe7);
  wr(a, APIC_EOI, 0);
  assert.equal(rd(a, APIC_ISR + 0x10), 0);
});

test('illegal vectors set ESR send/receive bits (latched by an ESR write)', () => {
  const { apics } = system(2);
  const [a, b] = apics as [LocalApic, LocalApic];
  enable(a);
  enable(b);
  wr(a, APIC_ICR_HI, 1 << 24);
  wr(a, APIC_ICR_LO, 0x0005); // fixed, vector 5
  assert.equal(rd(a, APIC_ESR), 0, 'not visible before the ESR write');
  wr(a, APIC_ESR, 0);
  assert.equal(rd(a, APIC_ESR), 0x20);
  wr(a, APIC_ESR, 0);
  assert.equal(rd(a, APIC_ESR), 0);
  // An error LVT delivers an interrupt on the error.
  wr(a, 0x370, 0xfe);
  wr(a, APIC_ICR_LO, 0x0003);
  assert.equal(a.acknowledge(), 0xfe);
});

test('fixed IPIs: physical, logical flat, logical cluster, broadcast, shorthands', () => {
  const { apics } = system(3);
  for (const a of apics) enable(a);
  const [a0, a1, a2] = apics as [LocalApic, LocalApic, LocalApic];
  // Physical.
  wr(a0, APIC_ICR_HI, 2 << 24);
  wr(a0, APIC_ICR_LO, 0x51);
  assert.equal(rd(a0, APIC_ICR_LO) & (1 << 12), 0, 'delivery status idle');
  assert.ok(bitSet(a2, APIC_IRR, 0x51) && !bitSet(a1, APIC_IRR, 0x51));
  // Logical flat: LDR bits.
  wr(a1, APIC_LDR, 0x02 << 24);
  wr(a2, APIC_LDR, 0x04 << 24);
  wr(a0, APIC_ICR_HI, 0x06 << 24);
  wr(a0, APIC_ICR_LO, 0x800 | 0x52);
  assert.ok(bitSet(a1, APIC_IRR, 0x52) && bitSet(a2, APIC_IRR, 0x52) && !bitSet(a0, APIC_IRR, 0x52));
  // Logical cluster (DFR model 0): cluster 1 member bit 0 only matches a2.
  for (const a of apics) wr(a, APIC_DFR, 0x0fffffff);
  assert.equal(rd(a1, APIC_DFR), 0x0fffffff);
  wr(a1, APIC_LDR, 0x02 << 24); // cluster 0, member 1
  wr(a2, APIC_LDR, 0x11 << 24); // cluster 1, member 0
  wr(a0, APIC_ICR_HI, 0x11 << 24);
  wr(a0, APIC_ICR_LO, 0x800 | 0x53);
  assert.ok(bitSet(a2, APIC_IRR, 0x53) && !bitSet(a1, APIC_IRR, 0x53));
  // Physical broadcast 0xFF.
  wr(a0, APIC_ICR_HI, 0xff << 24);
  wr(a0, APIC_ICR_LO, 0x54);
  assert.ok(apics.every((a) => bitSet(a, APIC_IRR, 0x54)));
  // Shorthand all excluding self.
  wr(a0, APIC_ICR_LO, 0xc0000 | 0x55);
  assert.ok(!bitSet(a0, APIC_IRR, 0x55) && bitSet(a1, APIC_IRR, 0x55) && bitSet(a2, APIC_IRR, 0x55));
  // Shorthand all including self.
  wr(a1, APIC_ICR_LO, 0x80000 | 0x56);
  assert.ok(apics.every((a) => bitSet(a, APIC_IRR, 0x56)));
});

test('lowest priority goes to the APIC with the lowest processor priority', () => {
  const { apics } = system(3);
  for (const a of apics) enable(a);
  const [a0, a1, a2] = apics as [LocalApic, LocalApic, LocalApic];
  wr(a0, APIC_TPR, 0x20);
  wr(a1, APIC_TPR, 0x40);
  wr(a2, APIC_TPR, 0x10);
  wr(a0, APIC_ICR_HI, 0xff << 24);
  wr(a0, APIC_ICR_LO, 0x100 | 0x61);
  assert.ok(bitSet(a2, APIC_IRR, 0x61));
  assert.ok(!bitSet(a0, APIC_IRR, 0x61) && !bitSet(a1, APIC_IRR, 0x61));
});

test('INIT / INIT de-assert / SIPI / SIPI bring-up sequence', () => {
  const { apics } = system(2);
  const [bsp, ap] = apics as [LocalApic, LocalApic];
  enable(bsp);
  wr(ap, APIC_TPR, 0x30);
  wr(bsp, APIC_ICR_HI, 1 << 24);
  wr(bsp, APIC_ICR_LO, 0xc500); // INIT, level assert, level trigger
  wr(bsp, APIC_ICR_LO, 0x8500); // INIT level de-assert: ignored by the target
  wr(bsp, APIC_ICR_LO, 0x4608); // SIPI vector 8
  wr(bsp, APIC_ICR_LO, 0x4609); // second SIPI: ignored, the AP already started
  assert.equal(ap.takeInit(), true);
  assert.equal(ap.takeInit(), false);
  assert.equal(ap.takeSipi(), 0x08);
  assert.equal(ap.takeSipi(), -1);
  assert.equal(rd(ap, APIC_TPR), 0, 'INIT reset the APIC registers');
  assert.equal(rd(ap, APIC_ID), 1 << 24, 'but not the ID');
  // A SIPI without INIT is ignored; the BSP does not wait for SIPI after INIT.
  wr(bsp, APIC_ICR_LO, 0x4610);
  assert.equal(ap.takeSipi(), -1);
  wr(ap, APIC_ICR_HI, 0);
  enable(ap);
  wr(ap, APIC_ICR_LO, 0x4500);
  assert.equal(bsp.takeInit(), true);
  assert.equal(bsp.waitingForSipi, false);
  // NMI IPI.
  wr(bsp, APIC_ICR_HI, 1 << 24);
  wr(bsp, APIC_ICR_LO, 0x400);
  assert.equal(ap.takeNmi(), true);
  assert.equal(ap.takeNmi(), false);
});

test('IA32_APIC_BASE transitions and #GP rules', () => {
  const { apics } = system(2);
  const a = apics[1]!;
  assert.equal(a.setApicBase(0xfee00c00 | 0x200, 0), false, 'bit 9 reserved');
  assert.equal(a.setApicBase(0xfee00800, 0x100), false, 'above MAXPHYADDR 40');
  assert.equal(a.setApicBase(0xfee00400, 0), false, 'EXTD without EN is invalid');
  assert.equal(a.setApicBase(0xfee00c00, 0), true, 'xAPIC -> x2APIC');
  assert.equal(a.x2apicMode, true);
  assert.equal(a.mmioActive, false);
  assert.equal(a.setApicBase(0xfee00800, 0), false, 'x2APIC -> xAPIC is illegal');
  wr(a, APIC_SVR, 0x1ff); // MMIO is not decoded in x2APIC mode
  const v: MsrValue = { lo: 0, hi: 0 };
  assert.ok(a.readMsr(0x80f, v));
  assert.equal(v.lo, 0xff);
  assert.equal(a.setApicBase(0xfee00000, 0), true, 'x2APIC -> disabled');
  assert.equal(a.onBus, false);
  assert.equal(a.setApicBase(0xfee00c00, 0), false, 'disabled -> x2APIC is illegal');
  assert.equal(a.hasInterrupt(), false);
  const b = apics[0]!;
  assert.equal(b.setApicBase(0xfee00100, 0), true, 'xAPIC -> disabled');
  assert.equal(b.setApicBase(0xfee00d00, 0), false, 'disabled -> x2APIC is illegal');
  assert.equal(b.setApicBase(0xfed00900, 0), true, 'disabled -> xAPIC at a new base');
  assert.equal(b.mmioBase, 0xfed00000);
  assert.equal(rd(b, APIC_SVR), 0xff, 'power-up state after re-enable');
});

test('x2APIC MSRs: ID, derived LDR, #GP cases, 64-bit ICR, SELF IPI', () => {
  const { apics } = system(18);
  const v: MsrValue = { lo: 0, hi: 0 };
  const a = apics[17]!;
  const z = apics[0]!;
  assert.equal(a.readMsr(0x802, v), false, 'x2APIC MSRs #GP in xAPIC mode');
  for (const x of [a, z]) assert.ok(x.setApicBase(x === z ? 0xfee00d00 : 0xfee00c00, 0));
  assert.ok(a.readMsr(0x802, v));
  assert.equal(v.lo, 17);
  assert.ok(a.readMsr(0x80d, v));
  assert.equal(v.lo, (1 << 16) | (1 << 1), 'LDR: cluster 1, bit 1');
  assert.ok(a.readMsr(0x803, v));
  assert.equal(v.lo, 0x00050014);
  assert.equal(a.readMsr(0x80e, v), false, 'no DFR');
  assert.equal(a.readMsr(0x831, v), false, 'no ICR high');
  assert.equal(a.readMsr(0x80b, v), false, 'EOI is write-only');
  assert.equal(a.readMsr(0x83f, v), false, 'SELF IPI is write-only');
  assert.equal(a.readMsr(0x809, v), false, 'no APR');
  assert.equal(a.readMsr(0x82f, v), false, 'no LVT CMCI');
  assert.equal(a.writeMsr(0x802, 5, 0), false, 'ID is read-only');
  assert.equal(a.writeMsr(0x80d, 5, 0), false, 'LDR is read-only');
  assert.equal(a.writeMsr(0x808, 0x100, 0), false, 'TPR bits 31:8 reserved');
  assert.equal(a.writeMsr(0x808, 0x10, 1), false, 'bits 63:32 reserved');
  assert.equal(a.writeMsr(0x80b, 1, 0), false, 'EOI non-zero');
  assert.equal(a.writeMsr(0x828, 1, 0), false, 'ESR non-zero');
  assert.equal(a.writeMsr(0x80f, 0x11ff, 0), false, 'SVR bit 12 (no EOI-broadcast suppression)');
  assert.ok(a.writeMsr(0x80f, 0x1ff, 0));
  assert.ok(z.writeMsr(0x80f, 0x1ff, 0));
  assert.ok(a.writeMsr(0x808, 0x10, 0));
  // 64-bit ICR: fixed physical to x2APIC ID 17.
  assert.ok(z.writeMsr(0x830, 0x71, 17));
  assert.ok(bitSet17(a, 0x71));
  assert.ok(z.readMsr(0x830, v));
  assert.deepEqual(v, { lo: 0x71, hi: 17 });
  assert.equal(z.writeMsr(0x830, 0x1071, 17), false, 'ICR bit 12 reserved in x2APIC');
  // Logical x2APIC cluster: cluster 1, bit 1 -> APIC 17.
  assert.ok(z.writeMsr(0x830, 0x800 | 0x72, (1 << 16) | 2));
  assert.ok(bitSet17(a, 0x72));
  // SELF IPI.
  assert.ok(a.writeMsr(0x83f, 0x73, 0));
  assert.equal(a.writeMsr(0x83f, 0x173, 0), false);
  assert.ok(bitSet17(a, 0x73));
  assert.equal(a.acknowledge(), 0x73);
  assert.ok(a.writeMsr(0x80b, 0, 0));
  function bitSet17(x: LocalApic, vec: number): boolean {
    assert.ok(x.readMsr(0x820 + (vec >> 5), v));
    return ((v.lo >>> (vec & 31)) & 1) === 1;
  }
});

test('timer one-shot: current count from virtual time, divide configuration, expiry', () => {
  const { clock, apics } = system(1);
  const a = apics[0]!;
  enable(a);
  wr(a, APIC_TIMER_DCR, 0x3); // divide by 16
  wr(a, APIC_LVT_TIMER, 0x40);
  wr(a, APIC_TIMER_ICR, 1000);
  assert.equal(a.nextDeadlineNs(), 16000);
  clock.t = 8000;
  assert.equal(rd(a, APIC_TIMER_CCR), 500);
  a.advance();
  assert.equal(a.hasInterrupt(), false);
  clock.t = 16000;
  a.advance();
  assert.equal(rd(a, APIC_TIMER_CCR), 0);
  assert.equal(a.acknowledge(), 0x40);
  assert.equal(a.nextDeadlineNs(), Infinity);
  // Divider table.
  assert.deepEqual([0, 1, 2, 3, 8, 9, 10, 11].map((d) => LocalApic.divisor(d)), [2, 4, 8, 16, 32, 64, 128, 1]);
  // A write of 0 to the initial count stops the timer.
  wr(a, APIC_TIMER_ICR, 10);
  wr(a, APIC_TIMER_ICR, 0);
  assert.equal(a.nextDeadlineNs(), Infinity);
});

test('timer periodic: reloads, one interrupt per expiry, masked timer still counts', () => {
  const { clock, apics } = system(1);
  const a = apics[0]!;
  enable(a);
  wr(a, APIC_TIMER_DCR, 0xb); // divide by 1
  wr(a, APIC_LVT_TIMER, 0x20000 | 0x41);
  wr(a, APIC_TIMER_ICR, 100);
  clock.t = 250;
  assert.equal(rd(a, APIC_TIMER_CCR), 50);
  a.advance();
  assert.equal(a.nextDeadlineNs(), 300);
  assert.equal(a.acknowledge(), 0x41);
  wr(a, APIC_EOI, 0);
  clock.t = 300;
  a.advance();
  assert.equal(rd(a, APIC_TIMER_CCR), 100);
  assert.equal(a.acknowledge(), 0x41);
  wr(a, APIC_EOI, 0);
  wr(a, APIC_LVT_TIMER, 0x30000 | 0x41); // masked, still periodic
  clock.t = 400;
  a.advance();
  assert.equal(a.hasInterrupt(), false);
  assert.equal(a.nextDeadlineNs(), 500);
  // Changing the mode (periodic -> one-shot) disarms.
  wr(a, APIC_LVT_TIMER, 0x41);
  assert.equal(a.nextDeadlineNs(), Infinity);
  assert.equal(rd(a, APIC_TIMER_CCR), 0);
});

test('timer TSC-deadline: arms on MSR write, fires at the TSC, clears the MSR', () => {
  const { clock, apics } = system(1);
  const a = apics[0]!;
  enable(a);
  const v: MsrValue = { lo: 1, hi: 1 };
  a.setTscDeadline(4000, 0);
  a.getTscDeadline(v);
  assert.deepEqual(v, { lo: 0, hi: 0 }, 'reads 0 and ignores writes outside TSC-deadline mode');
  wr(a, APIC_LVT_TIMER, 0x40000 | 0x42);
  wr(a, APIC_TIMER_ICR, 1234);
  assert.equal(rd(a, APIC_TIMER_ICR), 0, 'initial count writes are ignored');
  a.setTscDeadline(4000, 0); // tscHz 2 GHz -> 2000 ns
  a.getTscDeadline(v);
  assert.deepEqual(v, { lo: 4000, hi: 0 });
  assert.equal(a.nextDeadlineNs(), 2000);
  clock.t = 1999;
  a.advance();
  assert.equal(a.hasInterrupt(), false);
  clock.t = 2000;
  a.advance();
  assert.equal(a.acknowledge(), 0x42);
  a.getTscDeadline(v);
  assert.deepEqual(v, { lo: 0, hi: 0 });
  // A deadline in the past fires at the next advance; 0 disarms.
  a.setTscDeadline(10, 0);
  a.advance();
  assert.equal(bitSet(a, APIC_IRR, 0x42), true);
  a.setTscDeadline(1, 1);
  a.setTscDeadline(0, 0);
  assert.equal(a.nextDeadlineNs(), Infinity);
});

test('PMI through LVTPC: fixed or NMI, then the mask bit is set', () => {
  const { apics } = system(1);
  const a = apics[0]!;
  enable(a);
  wr(a, APIC_LVT_PMC, 0xf0);
  a.raisePmi();
  assert.equal(rd(a, APIC_LVT_PMC), 0x100f0);
  assert.equal(a.acknowledge(), 0xf0);
  wr(a, APIC_EOI, 0);
  a.raisePmi();
  assert.equal(a.hasInterrupt(), false, 'masked LVTPC delivers nothing');
  wr(a, APIC_LVT_PMC, 0x400); // NMI
  a.raisePmi();
  assert.equal(a.takeNmi(), true);
  assert.equal(rd(a, APIC_LVT_PMC), 0x10400);
});

test('LINT0 ExtINT pulls the vector from the PIC; LINT1 NMI; TMR for level IPIs', () => {
  const { apics, bus } = system(1);
  const a = apics[0]!;
  let out = true;
  a.extIntSource = {
    get output() {
      return out;
    },
    acknowledge: () => {
      out = false;
      return 0x08;
    },
  };
  assert.equal(rd(a, APIC_LVT_LINT0), 0x700, 'the BSP starts in virtual-wire mode (as KVM and PC firmware leave it)');
  assert.equal(rd(a, 0x360), 0x400, 'LINT1 delivers NMI after reset');
  assert.equal(a.hasInterrupt(), true);
  enable(a);
  wr(a, APIC_LVT_LINT0, 0x10700);
  assert.equal(a.hasInterrupt(), false, 'LINT0 masked');
  wr(a, APIC_LVT_LINT0, 0x700);
  wr(a, APIC_TPR, 0xf0); // ExtINT ignores the TPR
  assert.equal(a.hasInterrupt(), true);
  assert.equal(a.acknowledge(), 0x08);
  assert.equal(a.hasInterrupt(), false);
  wr(a, 0x360, 0x400);
  a.setLint1(true);
  assert.equal(a.takeNmi(), true);
  // Level-triggered fixed message: TMR set, EOI broadcast to the IOAPIC side.
  wr(a, APIC_TPR, 0);
  const eois: number[] = [];
  bus.eoiListener = (vec) => eois.push(vec);
  a.accept(0, 0x91, true, true);
  assert.equal(bitSet(a, APIC_TMR, 0x91), true);
  assert.equal(a.acknowledge(), 0x91);
  wr(a, APIC_EOI, 0);
  assert.deepEqual(eois, [0x91]);
  a.accept(0, 0x92, false, true);
  a.acknowledge();
  wr(a, APIC_EOI, 0);
  assert.deepEqual(eois, [0x91], 'no EOI message for edge vectors');
});

test('only the BSP comes up in virtual-wire mode; APs have every LVT masked', () => {
  const { apics } = system(2);
  assert.equal(rd(apics[0]!, APIC_LVT_LINT0), 0x700);
  assert.equal(rd(apics[1]!, APIC_LVT_LINT0), 0x10000);
  assert.equal(rd(apics[1]!, 0x360), 0x10000);
});
