import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus, BusError } from '../cpu/bus.js';
import { RecordingIrqLine } from '../cpu/irq.js';
import type { Vm, VmStop } from '../cpu/vm.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { installLegacyDevices, type LegacyDeviceTarget } from './device-manager.js';

// A backend's Vm is a valid target (checked by the compiler).
export const vmIsTarget = (vm: Vm): LegacyDeviceTarget => vm;
import { BufferSerialSink } from './legacy/serial-sink.js';

function target(withMemory = false) {
  const lines = new Map<number, RecordingIrqLine>();
  const stops: VmStop[] = [];
  const pio = new Bus('pio');
  const t = {
    pio,
    irqLine: (gsi: number) => {
      let l = lines.get(gsi);
      if (!l) lines.set(gsi, (l = new RecordingIrqLine(gsi)));
      return l;
    },
    requestStop: (s: VmStop) => stops.push(s),
    ...(withMemory ? { memory: new GuestMemory([{ name: 'ram', gpa: 0, size: 0x10000, bytes: new Uint8Array(0x10000) }]) } : {}),
  };
  return { t, lines, stops, pio };
}

const opts = { memBytes: 64 * 1024 * 1024, cpus: 2, cmdline: 'console=ttyS0', clock: () => Date.UTC(2025, 5, 1, 12, 0, 0) };

test('installs every legacy device at its PC port, in order, with the right IRQ lines', () => {
  const { t, pio, lines } = target(true);
  const serial = new BufferSerialSink();
  const devs = installLegacyDevices(t, { ...opts, serial });
  assert.deepEqual(
    pio.list().map((m) => [m.base, m.len]),
    [
      [0x60, 1],
      [0x64, 1],
      [0x70, 2],
      [0x80, 1],
      [0xf4, 1],
      [0x3f8, 8],
      [0x510, 2],
      [0x514, 8],
      [0x600, 6],
      [0x608, 4],
      [0xcf8, 8],
      [0xb004, 2],
    ],
  );
  assert.deepEqual([...lines.keys()].sort((a, b) => a - b), [1, 4, 8, 9, 12, 16, 17, 18, 19]); // 16-19: the PCI INTx lines
  pio.writeValue(0x3f8, 1, 0x4f);
  pio.writeValue(0x3f8, 1, 0x4b);
  assert.equal(serial.text(), 'OK');
  devs.uart.receive(Uint8Array.of(0x61));
  assert.equal(pio.readValue(0x3fd, 1) & 1, 1);
  devs.destroy();
});

test('guest-visible behaviour through the bus: debug exit, reset, RTC, fw_cfg', () => {
  const { t, pio, stops } = target();
  installLegacyDevices(t, { ...opts, serial: new BufferSerialSink() });
  pio.writeValue(0xf4, 1, 7);
  pio.writeValue(0x64, 1, 0xfe);
  pio.writeValue(0xcf9, 1, 0x06);
  pio.writeValue(0x604, 2, 0x2000);
  assert.deepEqual(stops, [
    { kind: 'debug-exit', value: 7 },
    { kind: 'reset', source: 'i8042' },
    { kind: 'reset', source: 'cf9' },
    { kind: 'poweroff' },
  ]);
  pio.writeValue(0x70, 1, 0x09);
  assert.equal(pio.readValue(0x71, 1), 0x25);
  pio.writeValue(0x510, 2, 0x0000);
  assert.equal(pio.readValue(0x511, 4), 0x554d4551);
  assert.equal(pio.claims(0x514), false, 'no DMA without guest memory');
  // PCI configuration mechanism #1 next to the reset control: the host bridge at 00:00.0.
  pio.writeValue(0xcf8, 4, 0x8000_0000);
  assert.equal(pio.readValue(0xcfc, 4), 0x0008_1b36);
  assert.equal(pio.readValue(0xcf8, 4), 0x8000_0000);
  assert.equal(stops.length, 4, 'a dword write at 0xcf8 is not a reset');
});

test('installing twice on one bus throws the overlap error', () => {
  const { t } = target();
  installLegacyDevices(t, { ...opts, serial: new BufferSerialSink() });
  assert.throws(() => installLegacyDevices(t, { ...opts, serial: new BufferSerialSink() }), BusError);
});
