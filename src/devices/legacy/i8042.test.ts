import { prepareRestore } from '../../util/persist.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../cpu/bus.js';
import { RecordingIrqLine } from '../../cpu/irq.js';
import type { VmStop } from '../../cpu/vm.js';
import { I8042 } from './i8042.js';

function setup() {
  const stops: VmStop[] = [];
  const kbd = new RecordingIrqLine(1);
  const aux = new RecordingIrqLine(12);
  const dev = new I8042({ requestStop: (s) => stops.push(s) }, { kbd, aux });
  const bus = new Bus('pio');
  bus.register(0x60, 1, dev.dataPort, 'i8042-data');
  bus.register(0x64, 1, dev.commandPort, 'i8042-cmd');
  const status = () => bus.readValue(0x64, 1);
  const cmd = (v: number) => bus.writeValue(0x64, 1, v);
  const data = () => bus.readValue(0x60, 1);
  const put = (v: number) => bus.writeValue(0x60, 1, v);
  /** Reads every byte in the output buffer. */
  const drain = () => {
    const out: number[] = [];
    while (status() & 0x01) out.push(data());
    return out;
  };
  return { stops, kbd, aux, dev, bus, status, cmd, data, put, drain };
}

test('status after POST: output buffer empty, input buffer empty, system flag, keyboard not inhibited', () => {
  const { status } = setup();
  const s = status();
  assert.equal(s & 0x01, 0, 'OBF');
  assert.equal(s & 0x02, 0, 'IBF');
  assert.equal(s & 0x04, 0x04, 'SYS');
  assert.equal(s & 0x10, 0x10, 'not inhibited');
});

test('command 0xFE pulses the reset line: the VM stops with kind reset, source i8042', () => {
  const { cmd, stops, status } = setup();
  assert.equal(status() & 0x02, 0, 'Linux kb_wait() sees IBF clear');
  cmd(0xfe);
  assert.deepEqual(stops, [{ kind: 'reset', source: 'i8042' }]);
});

test('pulse commands reset only when they select output bit 0 (0xF0-0xFF with bit 0 clear)', () => {
  const { cmd, stops } = setup();
  cmd(0xff);
  cmd(0xfd);
  cmd(0xf1);
  assert.equal(stops.length, 0);
  cmd(0xf0);
  cmd(0xfc);
  assert.equal(stops.length, 2);
});

test('self-test 0xAA answers 0x55; interface tests 0xAB/0xA9 answer 0x00', () => {
  const { cmd, drain, status } = setup();
  cmd(0xaa);
  assert.equal(status() & 0x01, 0x01);
  assert.equal(status() & 0x08, 0x08, 'last write went to the command port');
  assert.deepEqual(drain(), [0x55]);
  cmd(0xab);
  cmd(0xa9);
  assert.deepEqual(drain(), [0x00, 0x00]);
});

test('read/write command byte with 0x20/0x60, and SYS follows its bit 2', () => {
  const { cmd, put, drain, status, dev } = setup();
  cmd(0x20);
  assert.deepEqual(drain(), [0x65], 'KBDINT | SYS | AUXDIS | XLATE after POST');
  cmd(0x60);
  put(0x30);
  assert.equal(dev.commandByte, 0x30);
  assert.equal(status() & 0x04, 0);
  assert.equal(status() & 0x08, 0, 'last write was data');
  cmd(0x20);
  assert.deepEqual(drain(), [0x30]);
  cmd(0x60);
  put(0x47);
  assert.equal(status() & 0x04, 0x04);
});

test('0xA7/0xA8 and 0xAD/0xAE toggle the AUX and keyboard disable bits of the command byte', () => {
  const { cmd, drain } = setup();
  cmd(0xa7);
  cmd(0xad);
  cmd(0x20);
  assert.equal(drain()[0]! & 0x30, 0x30);
  cmd(0xa8);
  cmd(0xae);
  cmd(0x20);
  assert.equal(drain()[0]! & 0x30, 0x00);
});

test('output port 0xD0 reads reset and A20 high; 0xD1 with bit 0 clear resets, A20 is tracked', () => {
  const { cmd, put, drain, stops, dev } = setup();
  cmd(0xd0);
  assert.deepEqual(drain(), [0xcf], 'as QEMU reports it after SeaBIOS');
  cmd(0xd1);
  put(0x01); // A20 off, reset line high
  assert.equal(dev.a20Enabled, false);
  assert.equal(stops.length, 0);
  cmd(0xd0);
  assert.equal(drain()[0]! & 0x03, 0x01);
  cmd(0xd1);
  put(0x02); // reset line low
  assert.deepEqual(stops, [{ kind: 'reset', source: 'i8042' }]);
});

test('IRQ 1 follows the output buffer when the command byte enables it', () => {
  const { cmd, put, data, kbd } = setup();
  cmd(0xaa);
  assert.equal(kbd.level, true);
  data();
  assert.equal(kbd.level, false);
  cmd(0x60);
  put(0x44); // KBDINT off
  cmd(0xaa);
  assert.equal(kbd.level, false);
  data();
});

test('0xD2/0xD3 write the keyboard/AUX output buffer; AUX data sets status bit 5 and IRQ 12', () => {
  const { cmd, put, status, data, aux, kbd } = setup();
  cmd(0x60);
  put(0x47); // KBDINT | AUXINT
  cmd(0xd3);
  put(0x5a);
  assert.equal(status() & 0x21, 0x21);
  assert.equal(aux.level, true);
  assert.equal(kbd.level, false);
  assert.equal(data(), 0x5a);
  assert.equal(aux.level, false);
  cmd(0xd2);
  put(0xa5);
  assert.equal(status() & 0x21, 0x01);
  assert.equal(kbd.level, true);
  assert.equal(data(), 0xa5);
});

test('keyboard: reset answers ACK + BAT, GET_ID answers ACK AB 41/83, LEDs take a parameter, echo echoes', () => {
  const { put, drain, cmd } = setup();
  put(0xf2);
  assert.deepEqual(drain(), [0xfa, 0xab, 0x41], 'translated ID (command byte bit 6 set)');
  cmd(0x60);
  put(0x25); // translation off
  put(0xff);
  assert.deepEqual(drain(), [0xfa, 0xaa]);
  put(0xf2);
  assert.deepEqual(drain(), [0xfa, 0xab, 0x83]);
  put(0xed);
  assert.deepEqual(drain(), [0xfa]);
  put(0x07);
  assert.deepEqual(drain(), [0xfa]);
  put(0xee);
  assert.deepEqual(drain(), [0xee]);
  put(0xf0);
  put(0x00);
  assert.deepEqual(drain(), [0xfa, 0xfa, 0x02], 'scan set query');
  put(0xf5);
  put(0xf4);
  assert.deepEqual(drain(), [0xfa, 0xfa]);
  put(0x12);
  assert.deepEqual(drain(), [0xfe], 'unknown keyboard command asks for a resend');
});

test('writing to the absent mouse (0xD4) reports a timeout on the AUX channel', () => {
  const { cmd, put, status, data } = setup();
  cmd(0xd4);
  put(0xf2);
  assert.equal(status() & 0x61, 0x61);
  data();
  assert.equal(status() & 0x41, 0);
});

test('the data port repeats the last byte when empty; the output queue is bounded', () => {
  const { cmd, data, drain } = setup();
  cmd(0xaa);
  assert.equal(data(), 0x55);
  assert.equal(data(), 0x55);
  for (let i = 0; i < 1000; i++) cmd(0xaa);
  assert.ok(drain().length <= 64);
});

test('saveState/restoreState round-trips the command byte, output queue and pending commands', () => {
  const a = setup();
  a.cmd(0x60);
  a.put(0x47);
  a.put(0xf2); // ACK AB 83 queued
  a.cmd(0xd1); // waiting for the output-port byte
  const state = JSON.parse(JSON.stringify(a.dev.saveState())) as ReturnType<I8042['saveState']>;
  const b = setup();
  b.dev.restoreState(state);
  assert.equal(b.kbd.level, true, 'IRQ 1 follows the restored output buffer');
  assert.equal(b.dev.commandByte, 0x47);
  b.put(0x00); // completes the pending 0xD1: reset line low
  assert.deepEqual(b.stops, [{ kind: 'reset', source: 'i8042' }]);
  assert.deepEqual(b.drain(), [0xfa, 0xab, 0x41]);
  assert.throws(() => prepareRestore({ name: 'i8042', kind: 'i8042', version: 9, fields: state }, b.dev), /i8042: i8042 state version 9 is not supported/);
  assert.throws(() => prepareRestore({ name: 'i8042', kind: 'uart-16550a', version: 1, fields: state }, b.dev), /holds the state of a uart-16550a, not of a i8042/);
});

test('controller and keyboard replies equal what QEMU 7.2 gives after SeaBIOS (with translation on)', () => {
  // Recorded from a multiboot probe under qemu-system-x86_64 (command byte 0x61 there; ours adds SYS).
  const { cmd, put, drain } = setup();
  const steps: [() => void, number[]][] = [
    [() => cmd(0xaa), [0x55]],
    [() => cmd(0xab), [0x00]],
    [() => cmd(0xa9), [0x00]],
    [() => cmd(0xd0), [0xcf]],
    [() => (cmd(0xd2), put(0x5a)), [0x5a]],
    [() => put(0xf2), [0xfa, 0xab, 0x41]],
    [() => put(0xff), [0xfa, 0xaa]],
    [() => put(0xee), [0xee]],
    [() => (put(0xed), put(0x00)), [0xfa, 0xfa]],
  ];
  for (const [act, expected] of steps) {
    act();
    assert.deepEqual(drain(), expected);
  }
});

test('sendCtrlAltDel types the three key presses: set 1 with translation (as after POST), set 2 without', () => {
  const a = setup();
  assert.equal(a.dev.sendCtrlAltDel(), true);
  assert.equal(a.kbd.level, true, 'IRQ 1 raised');
  assert.deepEqual(a.drain(), [0x1d, 0x38, 0xe0, 0x53]);
  const b = setup();
  b.cmd(0x60);
  b.put(0x01); // keyboard interrupt, no translation
  assert.equal(b.dev.sendCtrlAltDel(), true);
  assert.deepEqual(b.drain(), [0x14, 0x11, 0xe0, 0x71]);
});

test('sendCtrlAltDel refuses, queueing nothing, when the output queue has no room for all four bytes', () => {
  const { dev, cmd, drain } = setup();
  for (let i = 0; i < 61; i++) cmd(0x20); // 61 command-byte reads fill the 64-byte queue but 3
  assert.equal(dev.sendCtrlAltDel(), false);
  assert.equal(drain().length, 61);
  assert.equal(dev.sendCtrlAltDel(), true);
});
