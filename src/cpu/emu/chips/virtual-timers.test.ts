import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualTimers } from './virtual-timers.js';
import { CmosRtc } from '../../../devices/legacy/cmos-rtc.js';
import { RecordingIrqLine } from '../../irq.js';
import { Bus } from '../../bus.js';

function clockAt(ns = 0): { ns: number; nowNs(): number; tscHz: number } {
  return { ns, nowNs() { return this.ns; }, tscHz: 1e9 };
}

test('virtual timers fire in deadline order (ties in arming order) once the VM clock reaches them', () => {
  const clock = clockAt();
  const t = new VirtualTimers(clock);
  const fired: string[] = [];
  t.setTimeout(() => fired.push('b'), 2);
  t.setTimeout(() => fired.push('a'), 0.5);
  t.setTimeout(() => fired.push('c'), 2);
  const gone = t.setTimeout(() => fired.push('x'), 1);
  t.clearTimeout(gone);
  assert.equal(t.nextDeadlineNs(), 500_000);
  clock.ns = 499_999;
  t.advance();
  assert.deepEqual(fired, []);
  clock.ns = 2_000_000;
  t.advance();
  assert.deepEqual(fired, ['a', 'b', 'c']);
  assert.equal(t.nextDeadlineNs(), Infinity);
});

test('a timer armed from a callback for a time already reached fires in the same advance', () => {
  const clock = clockAt(10);
  const t = new VirtualTimers(clock);
  let n = 0;
  const again = (): void => {
    if (++n < 3) t.setTimeout(again, 0);
  };
  t.setTimeout(again, 0);
  t.advance();
  assert.equal(n, 3);
  assert.equal(t.size, 0);
});

/** 1 s of VM time in steps of `stepNs`, the guest acknowledging each IRQ 8 by reading register C. */
function periodicRun(stepNs: number): number[] {
  const clock = clockAt();
  const timers = new VirtualTimers(clock);
  const irq = new RecordingIrqLine(8);
  const rtc = new CmosRtc({ memBytes: 64 << 20, clock: () => Date.UTC(2026, 0, 1) + clock.nowNs() / 1e6, irq, timers });
  const bus = new Bus('pio');
  bus.register(0x70, 2, rtc, 'cmos');
  const wr = (reg: number, v: number): void => {
    bus.writeValue(0x70, 1, reg);
    bus.writeValue(0x71, 1, v);
  };
  wr(0x0a, 0x26); // 1024 Hz
  wr(0x0b, 0x42); // PIE, 24-hour
  const at: number[] = [];
  while (clock.ns < 1e9) {
    clock.ns = Math.min(1e9, clock.ns + stepNs);
    timers.advance();
    if (irq.level) {
      at.push(clock.ns);
      bus.writeValue(0x70, 1, 0x0c);
      bus.readValue(0x71, 1);
    }
  }
  return at;
}

test('the RTC on virtual timers: 1024 periodic interrupts in a second of VM time (host timers give ~1000), at the same times every run', () => {
  const a = periodicRun(10_000);
  assert.equal(a.length, 1024);
  assert.deepEqual(periodicRun(10_000), a, 'the same VM timeline gives the same interrupts');
});
