import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { BufferSerialSink } from '../devices/legacy/serial-sink.js';
import { createEmuMachine } from './emu-machine.js';
import { messageChannelScheduler } from '../cpu/emu/host-scheduler.js';

const root = join(import.meta.dirname, '..', '..', '..');
const demo = join(root, 'guests', 'build', 'demo.elf');

test('the demo guest boots from bytes (no paths), on a MessageChannel scheduler as in a browser', async (t) => {
  if (!existsSync(demo)) return t.skip(`${demo} is not built (node scripts/build-guests.mjs)`);
  const serial = new BufferSerialSink();
  const scheduler = messageChannelScheduler();
  const m = createEmuMachine({ kernel: { name: 'demo.elf', data: new Uint8Array(readFileSync(demo)) }, memBytes: 64 << 20, cpus: 1, cmdline: 'from-bytes', serial, scheduler });
  try {
    const stop = await m.vm.run();
    assert.equal(stop.kind, 'poweroff', JSON.stringify(stop));
    assert.match(serial.text(), /tsvmm demo guest[\s\S]*Command line : "demo.elf from-bytes"[\s\S]*All done; powering off/);
    assert.ok(m.vm.hostTime.yields >= 0);
  } finally {
    m.devices.destroy();
    m.vm.destroy();
    scheduler.close?.();
  }
});

test('a kernel bigger than the guest RAM is refused with one line naming it', () => {
  assert.throws(() => createEmuMachine({ kernel: { name: 'big.bin', data: new Uint8Array(5 << 20) }, memBytes: 4 << 20, cpus: 1, cmdline: '', serial: new BufferSerialSink() }), /^BuildError: kernel big\.bin: is 5242880 bytes, more than the guest's RAM/);
});
