import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../cpu/bus.js';
import { RecordingIrqLine } from '../../cpu/irq.js';
import { CmosRtc, type RtcTimers } from './cmos-rtc.js';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

class FakeTimers implements RtcTimers {
  pending: { fn: () => void; at: number; id: number }[] = [];
  private next = 1;
  /** exactMs: timers on a virtual clock (the emulator's chips.timers in a deterministic run). */
  constructor(
    private readonly clock: { t: number },
    readonly exactMs = false,
  ) {}
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.push({ fn, at: this.clock.t + ms, id });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.pending = this.pending.filter((p) => p.id !== h);
  }
  /** Advances the clock to `t`, firing due timers in order. */
  advanceTo(t: number): void {
    for (;;) {
      this.pending.sort((a, b) => a.at - b.at);
      const p = this.pending[0];
      if (!p || p.at > t) break;
      this.pending.shift();
      this.clock.t = p.at;
      p.fn();
    }
    this.clock.t = t;
  }
}

// 2024-02-29 (a Thursday) 13:45:30.250 UTC
const T0 = Date.UTC(2024, 1, 29, 13, 45, 30, 250);

function setup(memBytes = 256 * MIB, t = T0) {
  const clock = { t };
  const irq = new RecordingIrqLine(8);
  const timers = new FakeTimers(clock);
  const rtc = new CmosRtc({ memBytes, clock: () => clock.t, irq, timers });
  const bus = new Bus('pio');
  bus.register(0x70, 2, rtc, 'cmos');
  const rd = (reg: number) => {
    bus.writeValue(0x70, 1, reg);
    return bus.readValue(0x71, 1);
  };
  const wr = (reg: number, v: number) => {
    bus.writeValue(0x70, 1, reg);
    bus.writeValue(0x71, 1, v);
  };
  return { clock, irq, timers, rtc, bus, rd, wr };
}

test('reads the injected clock in BCD, 24-hour mode by default (register B = 0x02)', () => {
  const { rd } = setup();
  assert.equal(rd(0x0b), 0x02);
  assert.equal(rd(0x00), 0x30);
  assert.equal(rd(0x02), 0x45);
  assert.equal(rd(0x04), 0x13);
  assert.equal(rd(0x06), 0x05, 'Thursday = 5 (Sunday = 1)');
  assert.equal(rd(0x07), 0x29);
  assert.equal(rd(0x08), 0x02);
  assert.equal(rd(0x09), 0x24);
  assert.equal(rd(0x32), 0x20, 'century');
});

test('binary mode (B.DM = 1) and 12-hour mode with the PM bit', () => {
  const { rd, wr } = setup();
  wr(0x0b, 0x06); // binary, 24h
  assert.equal(rd(0x00), 30);
  assert.equal(rd(0x04), 13);
  assert.equal(rd(0x09), 24);
  assert.equal(rd(0x32), 20);
  wr(0x0b, 0x04); // binary, 12h
  assert.equal(rd(0x04), 0x80 | 1);
  wr(0x0b, 0x00); // BCD, 12h
  assert.equal(rd(0x04), 0x81);
});

test('12-hour mode encodes midnight as 12 AM and noon as 12 PM', () => {
  const midnight = setup(256 * MIB, Date.UTC(2023, 0, 1, 0, 5, 0));
  midnight.wr(0x0b, 0x00);
  assert.equal(midnight.rd(0x04), 0x12);
  const noon = setup(256 * MIB, Date.UTC(2023, 0, 1, 12, 5, 0));
  noon.wr(0x0b, 0x00);
  assert.equal(noon.rd(0x04), 0x92);
});

test('the clock runs: a second later the seconds register has advanced', () => {
  const { rd, clock } = setup();
  clock.t += 1000;
  assert.equal(rd(0x00), 0x31);
  clock.t += 30_000;
  assert.equal(rd(0x00), 0x01);
  assert.equal(rd(0x02), 0x46);
});

test('register A: UIP only in the last ms before a second boundary; bit 7 is read-only', () => {
  const { rd, wr, clock } = setup();
  assert.equal(rd(0x0a), 0x26);
  clock.t = Date.UTC(2024, 1, 29, 13, 45, 30, 999);
  assert.equal(rd(0x0a), 0xa6);
  clock.t += 1;
  assert.equal(rd(0x0a), 0x26);
  wr(0x0a, 0xa3);
  assert.equal(rd(0x0a), 0x23);
});

test('register D reports valid RAM and time; writes to C and D are ignored', () => {
  const { rd, wr } = setup();
  assert.equal(rd(0x0d), 0x80);
  wr(0x0d, 0);
  wr(0x0c, 0xff);
  assert.equal(rd(0x0d), 0x80);
  assert.equal(rd(0x0c), 0x00);
});

test('setting the time with SET: the clock stops, takes the written fields, and runs on from them', () => {
  const { rd, wr, clock, rtc } = setup();
  wr(0x0b, 0x82); // SET, BCD, 24h
  clock.t += 5000;
  assert.equal(rd(0x00), 0x30, 'frozen while SET');
  assert.equal(rd(0x0a) & 0x80, 0, 'no update in progress while SET');
  wr(0x00, 0x00);
  wr(0x02, 0x00);
  wr(0x04, 0x08);
  wr(0x07, 0x01);
  wr(0x08, 0x03);
  wr(0x09, 0x99);
  wr(0x32, 0x19);
  wr(0x0b, 0x02);
  assert.equal(rtc.nowMs(), Date.UTC(1999, 2, 1, 8, 0, 0));
  clock.t += 61_000;
  assert.equal(rd(0x02), 0x01);
  assert.equal(rd(0x00), 0x01);
  assert.equal(rd(0x09), 0x99);
  assert.equal(rd(0x06), 0x02, '1999-03-01 was a Monday');
});

test('SET clears UIE', () => {
  const { rd, wr } = setup();
  wr(0x0b, 0x92);
  assert.equal(rd(0x0b), 0x82);
});

test('writing a time field without SET changes that field and keeps the clock running', () => {
  const { rd, wr, clock } = setup();
  wr(0x04, 0x02);
  assert.equal(rd(0x04), 0x02);
  assert.equal(rd(0x02), 0x45);
  clock.t += 2000;
  assert.equal(rd(0x00), 0x32);
});

test('index port: bit 7 disables NMI and is not part of the index; reads of 0x70 return all-ones', () => {
  const { bus, rtc } = setup();
  bus.writeValue(0x70, 1, 0x80 | 0x0d);
  assert.equal(rtc.nmiDisabled, true);
  assert.equal(bus.readValue(0x71, 1), 0x80);
  bus.writeValue(0x70, 1, 0x0d);
  assert.equal(rtc.nmiDisabled, false);
  assert.equal(bus.readValue(0x70, 1), 0xff);
});

test('NVRAM bytes 0x0e-0x7f keep what the guest writes', () => {
  const { rd, wr } = setup();
  for (const reg of [0x0e, 0x0f, 0x40, 0x7f]) {
    wr(reg, reg ^ 0xa5);
    assert.equal(rd(reg), reg ^ 0xa5);
  }
});

test('memory size bytes for 32 MiB and 256 MiB as a PC BIOS reports them', () => {
  const small = setup(32 * MIB);
  assert.equal(small.rd(0x17) | (small.rd(0x18) << 8), 31 * 1024);
  assert.equal(small.rd(0x30) | (small.rd(0x31) << 8), 31 * 1024);
  assert.equal(small.rd(0x34) | (small.rd(0x35) << 8), (16 * MIB) / 65536);
  const { rd } = setup(256 * MIB);
  assert.equal(rd(0x15) | (rd(0x16) << 8), 640);
  assert.equal(rd(0x17) | (rd(0x18) << 8), 0xffff, 'capped at 65535 KiB');
  assert.equal(rd(0x30) | (rd(0x31) << 8), 0xffff);
  assert.equal(rd(0x34) | (rd(0x35) << 8), (240 * MIB) / 65536);
  assert.equal(rd(0x5b) | (rd(0x5c) << 8) | (rd(0x5d) << 16), 0);
});

test('memory size bytes for 8 GiB: extended memory capped at 65535 KiB, the rest above 4 GiB', () => {
  const { rd } = setup(8 * GIB);
  assert.equal(rd(0x17) | (rd(0x18) << 8), 0xffff);
  assert.equal(rd(0x34) | (rd(0x35) << 8), (3 * GIB - 16 * MIB) / 65536);
  assert.equal(rd(0x5b) | (rd(0x5c) << 8) | (rd(0x5d) << 16), (5 * GIB) / 65536);
});

test('checksum at 0x2e/0x2f is the big-endian sum of 0x10-0x2d', () => {
  const { rd } = setup(64 * MIB);
  let sum = 0;
  for (let i = 0x10; i <= 0x2d; i++) sum += rd(i);
  assert.equal((rd(0x2e) << 8) | rd(0x2f), sum);
  assert.ok(sum > 0);
});

test('register C: update-ended flag after a second boundary, read clears it (polling, no IRQ enabled)', () => {
  const { rd, clock, irq } = setup();
  assert.equal(rd(0x0c), 0x00);
  clock.t += 800;
  assert.equal(rd(0x0c), 0x50, 'UF (and PF: the 1024 Hz tap runs whatever PIE says) without IRQF');
  assert.equal(rd(0x0c), 0x00);
  assert.equal(irq.level, false);
});

test('update-ended interrupt on IRQ 8 with UIE: raised at the boundary, lowered by reading C', () => {
  const { rd, wr, timers, irq, clock } = setup();
  wr(0x0a, 0x20); // periodic rate off, so C holds only UF
  wr(0x0b, 0x12);
  assert.equal(irq.level, false);
  timers.advanceTo(clock.t + 749);
  assert.equal(irq.level, false);
  timers.advanceTo(clock.t + 2);
  assert.equal(irq.level, true);
  assert.equal(rd(0x0c), 0x90);
  assert.equal(irq.level, false);
  timers.advanceTo(clock.t + 1000);
  assert.equal(irq.edges, 2);
});

test('periodic interrupt: rate select 6 = 1024 Hz, 15 = 2 Hz; PF sets IRQF only with PIE', () => {
  const { rd, wr, timers, irq, clock, rtc } = setup();
  assert.ok(Math.abs(rtc.periodicMs - 1000 / 1024) < 1e-9);
  wr(0x0a, 0x2f);
  assert.equal(rtc.periodicMs, 500);
  rd(0x0c);
  wr(0x0b, 0x42);
  timers.advanceTo(clock.t + 500);
  assert.equal(irq.level, true);
  assert.equal(rd(0x0c) & 0xc0, 0xc0);
  wr(0x0a, 0x20); // rate 0: periodic off
  assert.equal(rtc.periodicMs, 0);
});

test('alarm interrupt when h:m:s match, with 0xC0-0xFF as "don\'t care"', () => {
  const { rd, wr, timers, irq, clock } = setup();
  wr(0x01, 0x35); // second 35
  wr(0x03, 0xc0); // any minute
  wr(0x05, 0xff); // any hour
  wr(0x0b, 0x22); // AIE
  rd(0x0c);
  timers.advanceTo(clock.t + 3900); // to :34.150
  assert.equal(irq.level, false);
  timers.advanceTo(clock.t + 1000); // past :35
  assert.equal(irq.level, true);
  assert.equal(rd(0x0c) & 0xa0, 0xa0);
});

test('alarm flag is also found by polling after several seconds without reads', () => {
  const { rd, wr, clock } = setup();
  wr(0x01, 0x40);
  wr(0x03, 0x45);
  wr(0x05, 0x13);
  rd(0x0c);
  clock.t += 20_000; // passes 13:45:40
  assert.equal(rd(0x0c) & 0x30, 0x30);
  clock.t += 20_000;
  assert.equal(rd(0x0c) & 0x20, 0, 'no match in the next 20 s');
});

test('without an injected clock it reads the real date', () => {
  const rtc = new CmosRtc({ memBytes: 64 * MIB });
  const before = new Date();
  const year = ((rtc.readRegister(0x32) >> 4) * 10 + (rtc.readRegister(0x32) & 15)) * 100 + (rtc.readRegister(0x09) >> 4) * 10 + (rtc.readRegister(0x09) & 15);
  assert.ok(Math.abs(year - before.getUTCFullYear()) <= 1);
  rtc.destroy();
});

test('0x5f holds the CPU count minus one; a bad memory size is refused', () => {
  const rtc = new CmosRtc({ memBytes: 64 * MIB, cpus: 4, clock: () => T0 });
  assert.equal(rtc.readRegister(0x5f), 3);
  assert.equal(rtc.readRegister(0x14), 0x02, 'equipment byte: FPU present, no floppy');
  assert.throws(() => new CmosRtc({ memBytes: -1 }), RangeError);
});

test('saveState/restoreState keeps NVRAM, the guest clock offset and pending flags', () => {
  const a = setup();
  a.wr(0x40, 0x5a);
  a.wr(0x04, 0x02); // guest sets hours: offset from the host clock
  a.wr(0x0a, 0x20);
  a.clock.t += 1500; // an update happened, UF pending
  const state = JSON.parse(JSON.stringify(a.rtc.saveState())) as ReturnType<CmosRtc['saveState']>;
  const b = setup(256 * MIB, a.clock.t);
  b.rtc.restoreState(state);
  assert.equal(b.rd(0x40), 0x5a);
  assert.equal(b.rd(0x04), 0x02);
  assert.equal(b.rd(0x02), a.rd(0x02));
  assert.equal(b.rd(0x0c) & 0x10, 0x10);
  assert.throws(() => b.rtc.restoreState({ ...state, ram: [1, 2] }), RangeError);
});

test('memory and CPU bytes equal what QEMU 7.2 reports for -m 256 -smp 2 (read back from a guest)', () => {
  // inb(0x71) after outb(0x70, reg) in a multiboot probe under qemu-system-x86_64 -m 256 -smp 2.
  const qemu: Record<number, number> = { 0x0a: 0x26, 0x0b: 0x02, 0x0d: 0x80, 0x15: 0x80, 0x16: 0x02, 0x17: 0xff, 0x18: 0xff, 0x30: 0xff, 0x31: 0xff, 0x34: 0x00, 0x35: 0x0f, 0x5b: 0, 0x5c: 0, 0x5d: 0, 0x5f: 0x01 };
  const rtc = new CmosRtc({ memBytes: 256 * MIB, cpus: 2, clock: () => T0 });
  for (const [reg, value] of Object.entries(qemu)) assert.equal(rtc.readRegister(Number(reg)), value, `register 0x${Number(reg).toString(16)}`);
});

/** 1 s of clock time with timers that take fractional delays, the guest acknowledging each IRQ 8 by reading C. */
function periodicSecond(exactMs: boolean): number[] {
  const clock = { t: T0 };
  const irq = new RecordingIrqLine(8);
  const timers = new FakeTimers(clock, exactMs);
  const rtc = new CmosRtc({ memBytes: 64 * MIB, clock: () => clock.t, irq, timers });
  const bus = new Bus('pio');
  bus.register(0x70, 2, rtc, 'cmos');
  const wr = (reg: number, v: number): void => {
    bus.writeValue(0x70, 1, reg);
    bus.writeValue(0x71, 1, v);
  };
  wr(0x0a, 0x26); // 1024 Hz
  wr(0x0b, 0x42); // PIE, 24-hour
  const at: number[] = [];
  for (let t = T0; t < T0 + 1000; ) {
    t = Math.min(T0 + 1000, t + 0.01);
    timers.advanceTo(t);
    if (irq.level) {
      at.push(clock.t);
      bus.writeValue(0x70, 1, 0x0c);
      bus.readValue(0x71, 1);
    }
  }
  return at;
}

test('timers on a virtual clock (exactMs) keep the periodic rate: 1024 interrupts a second, the same times every run; host timers give whole ms', () => {
  const a = periodicSecond(true);
  assert.equal(a.length, 1024);
  assert.deepEqual(periodicSecond(true), a, 'the same timeline gives the same interrupts');
  const host = periodicSecond(false).length;
  assert.ok(host >= 990 && host <= 1000, `whole-millisecond host timers: at most one a millisecond (${host})`);
});
