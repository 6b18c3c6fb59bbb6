import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pit8254, PIT_HZ } from './pit-8254.js';

class FakeClock {
  t = 0;
  readonly tscHz = 1e9;
  nowNs(): number {
    return this.t;
  }
}

/** ns of PIT tick k, plus half a tick so reads land in the middle of a count. */
const at = (k: number): number => ((k + 0.5) * 1e9) / PIT_HZ;

function setup(): { clock: FakeClock; pit: Pit8254; out: (port: number, v: number) => void; inb: (port: number) => number; edges: () => number; level: () => boolean } {
  const clock = new FakeClock();
  const pit = new Pit8254(clock);
  let edges = 0;
  let level = false;
  pit.setOutListener(0, (l) => {
    if (l && !level) edges++;
    level = l;
  });
  const b = new Uint8Array(1);
  const out = (port: number, v: number): void => {
    b[0] = v;
    if (port === 0x61) pit.port61.write(0, b);
    else pit.write(port - 0x40, b);
  };
  const inb = (port: number): number => {
    if (port === 0x61) pit.port61.read(0, b);
    else pit.read(port - 0x40, b);
    return b[0]!;
  };
  return { clock, pit, out, inb, edges: () => edges, level: () => level };
}

function read16(inb: (p: number) => number, port: number): number {
  const lo = inb(port);
  return lo | (inb(port) << 8);
}

test('mode 2 rate generator: counter from virtual time, latch, one IRQ edge per period', () => {
  const { clock, pit, out, inb, edges } = setup();
  out(0x43, 0x34); // ch0, lobyte/hibyte, mode 2, binary
  out(0x40, 1193 & 0xff);
  out(0x40, 1193 >> 8);
  clock.t = at(100);
  assert.equal(read16(inb, 0x40), 1093);
  clock.t = at(500);
  out(0x43, 0x00); // latch ch0
  clock.t = at(900); // the latched value does not move
  assert.equal(read16(inb, 0x40), 693);
  assert.equal(read16(inb, 0x40), 293); // latch released: live again
  // OUT low only while the count is 1.
  clock.t = at(1191);
  assert.equal(pit.out(0), true);
  clock.t = at(1192);
  assert.equal(pit.out(0), false);
  clock.t = at(1193);
  assert.equal(pit.out(0), true);
  // The deadline is the tick where OUT rises again (1193 ticks after the load).
  clock.t = 0;
  const first = pit.nextDeadlineNs();
  assert.ok(Math.abs(first - (1193 * 1e9) / PIT_HZ) < 1e-3);
  const before = edges(); // the mode write raised OUT once (low -> high)
  clock.t = first;
  pit.advance();
  assert.equal(edges(), before + 1);
  const second = pit.nextDeadlineNs();
  assert.ok(Math.abs(second - (2 * 1193 * 1e9) / PIT_HZ) < 1e-3);
  // Several periods missed are coalesced into one edge.
  clock.t = (10.5 * 1193 * 1e9) / PIT_HZ;
  pit.advance();
  assert.equal(edges(), before + 2);
  assert.equal(read16(inb, 0x40), 597); // 12526 ticks: 12526 mod 1193 = 596
});

test('mode 0 interrupt on terminal count: OUT low until N ticks, then high; counter wraps', () => {
  const { clock, pit, out, inb, edges, level } = setup();
  out(0x43, 0x30); // ch0 lohi mode 0
  assert.equal(pit.out(0), false);
  out(0x40, 100);
  out(0x40, 0);
  clock.t = at(99);
  assert.equal(pit.out(0), false);
  assert.equal(read16(inb, 0x40), 1);
  pit.advance();
  assert.equal(edges(), 0);
  clock.t = at(100);
  assert.equal(pit.out(0), true);
  pit.advance();
  assert.equal(edges(), 1);
  assert.equal(level(), true);
  assert.equal(pit.nextDeadlineNs(), Infinity);
  clock.t = at(150);
  assert.equal(read16(inb, 0x40), 65536 - 50);
  // Writing the first byte of a new count drives OUT low and stops counting.
  out(0x40, 10);
  assert.equal(level(), false);
  clock.t = at(200);
  out(0x40, 0);
  clock.t = at(209);
  assert.equal(pit.out(0), false);
  clock.t = at(210);
  assert.equal(pit.out(0), true);
});

test('mode 3 square wave: even and odd counts', () => {
  const { clock, pit, out, inb } = setup();
  out(0x43, 0x36); // ch0 lohi mode 3
  out(0x40, 10);
  out(0x40, 0);
  const vals: number[] = [];
  const outs: boolean[] = [];
  for (let k = 0; k < 12; k++) {
    clock.t = at(k);
    vals.push(read16(inb, 0x40));
    outs.push(pit.out(0));
  }
  assert.deepEqual(vals, [10, 8, 6, 4, 2, 10, 8, 6, 4, 2, 10, 8]);
  assert.deepEqual(outs, [true, true, true, true, true, false, false, false, false, false, true, true]);
  // Odd count 5: high for 3 clocks (5, 4, 2), low for 2 (5, 2).
  clock.t = at(20);
  out(0x43, 0x36);
  out(0x40, 5);
  out(0x40, 0);
  const v2: number[] = [];
  const o2: boolean[] = [];
  for (let k = 0; k < 6; k++) {
    clock.t = at(20) + (k * 1e9) / PIT_HZ;
    v2.push(read16(inb, 0x40));
    o2.push(pit.out(0));
  }
  assert.deepEqual(v2, [5, 4, 2, 5, 2, 5]);
  assert.deepEqual(o2, [true, true, true, false, false, true]);
});

test('mode 4 software strobe: OUT low for one clock at terminal count, edge after it', () => {
  const { clock, pit, out, edges } = setup();
  out(0x43, 0x38); // ch0 lohi mode 4
  out(0x40, 50);
  out(0x40, 0);
  const e0 = edges();
  clock.t = at(49);
  assert.equal(pit.out(0), true);
  clock.t = at(50);
  assert.equal(pit.out(0), false);
  clock.t = at(51);
  assert.equal(pit.out(0), true);
  assert.ok(Math.abs(pit.nextDeadlineNs() - (51 * 1e9) / PIT_HZ) < 1e-3);
  pit.advance();
  assert.equal(edges(), e0 + 1);
});

test('read-back command latches status (OUT, null count, control bits) and count', () => {
  const { clock, out, inb } = setup();
  out(0x43, 0x34); // ch0 lohi mode 2
  out(0x43, 0xe2); // read-back status only, ch0
  assert.equal(inb(0x40), 0x80 | 0x40 | 0x34); // OUT high, null count, rw=3 mode=2
  out(0x40, 0x00);
  out(0x40, 0x10); // 4096
  clock.t = at(96);
  out(0x43, 0xc2); // status + count of ch0
  assert.equal(inb(0x40), 0x80 | 0x34);
  assert.equal(read16(inb, 0x40), 4000);
  // Mode 6 behaves as mode 2 but the status reports the control bits exactly as written.
  out(0x43, 0x7c); // ch1 lohi mode 6
  out(0x41, 10);
  out(0x41, 0);
  out(0x43, 0xe4);
  assert.equal(inb(0x41), 0x80 | 0x3c);
  clock.t = at(96) + (9 * 1e9) / PIT_HZ;
  assert.equal(read16(inb, 0x41), 1, 'mode 2 count sequence');
});

test('BCD counting', () => {
  const { clock, out, inb } = setup();
  out(0x43, 0x31); // ch0 lohi mode 0 BCD
  out(0x40, 0x00);
  out(0x40, 0x10); // 1000 in BCD
  clock.t = at(1);
  assert.equal(read16(inb, 0x40), 0x0999);
  clock.t = at(1001); // wrapped past 0 -> 9999
  assert.equal(read16(inb, 0x40), 0x9999);
});

test('lobyte-only and hibyte-only access modes', () => {
  const { clock, out, inb } = setup();
  out(0x43, 0x54); // ch1 lobyte mode 2
  out(0x41, 200);
  clock.t = at(50);
  assert.equal(inb(0x41), 150);
  out(0x43, 0x64); // ch1 hibyte mode 2
  out(0x41, 2); // 512
  clock.t = at(50) + (12 * 1e9) / PIT_HZ;
  assert.equal(inb(0x41), 1); // 500 >> 8
});

test('port 0x61: gate 2 controls channel 2, bit 5 shows OUT2 (calibration loop)', () => {
  const { clock, out, inb } = setup();
  out(0x61, 0x00); // gate low
  out(0x43, 0xb0); // ch2 lohi mode 0
  out(0x42, 0xe8);
  out(0x42, 0x03); // 1000
  clock.t = at(2000);
  assert.equal(inb(0x61) & 0x20, 0, 'gate low: not counting');
  out(0x61, 0x01); // gate high at tick 2000
  clock.t = at(2999);
  assert.equal(inb(0x61) & 0x21, 0x01);
  clock.t = at(3000);
  assert.equal(inb(0x61) & 0x20, 0x20);
  // Refresh toggle bit 4 changes with time.
  const r0 = inb(0x61) & 0x10;
  clock.t += (18 * 1e9) / PIT_HZ;
  assert.notEqual(inb(0x61) & 0x10, r0);
});

test('mode 1 one-shot starts on the gate rising edge', () => {
  const { clock, out, inb } = setup();
  out(0x61, 0x00);
  out(0x43, 0xb2); // ch2 lohi mode 1
  out(0x42, 100);
  out(0x42, 0);
  clock.t = at(500);
  assert.equal(inb(0x61) & 0x20, 0x20, 'OUT high before the trigger');
  out(0x61, 0x01); // trigger
  clock.t = at(501);
  assert.equal(inb(0x61) & 0x20, 0);
  clock.t = at(600);
  assert.equal(inb(0x61) & 0x20, 0x20);
});

test('mode 2: a new count takes effect at the end of the current period', () => {
  const { clock, out, inb, pit } = setup();
  out(0x43, 0x34);
  out(0x40, 100);
  out(0x40, 0);
  clock.t = at(30);
  out(0x40, 50);
  out(0x40, 0);
  clock.t = at(60);
  assert.equal(read16(inb, 0x40), 40); // still the old period
  clock.t = at(120); // new period started at 100 with count 50
  assert.equal(read16(inb, 0x40), 30);
  assert.equal(pit.out(0), true);
});
