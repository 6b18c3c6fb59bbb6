import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFields, encodeFields, StateFileError } from './field-codec.js';
import { MachineState, isRawSection } from './machine-state.js';
import { prepareDeviceRestore, saveDevices } from './device-state.js';
import { VmController } from '../controller.js';
import { assembleVm } from '../vm-builder.js';
import { defaultRunConfig } from '../controller.js';
import { guestElf } from '../ticker.test-util.js';
import type { PersistRecord } from '../../util/persist.js';
import { crc32 } from '../../util/crc32.js';

const RECORD: PersistRecord = {
  yes: true,
  no: false,
  small: -5,
  big: 2 ** 40 + 0.5,
  negZero: -0,
  text: 'héllo',
  u64: 0xffff_ffff_ffff_fff0n,
  bytes: Uint8Array.of(1, 2, 3),
  list: [1, [2, 3], { a: 'b' }],
  nested: { deeper: { deepest: [true, false] } },
};

function seeded(seed: number): () => number {
  let s = seed;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

test('field codec: every value kind round-trips, and -0 stays -0', () => {
  const back = decodeFields(encodeFields(RECORD), 'x');
  assert.deepEqual(back, RECORD);
  assert.ok(Object.is(back['negZero'], -0));
});

test('field codec: every truncation and any corruption is a StateFileError, never a crash or a huge allocation (seed 5)', () => {
  const bytes = encodeFields(RECORD);
  for (let n = 0; n < bytes.length; n++) assert.throws(() => decodeFields(bytes.subarray(0, n), 'cut'), StateFileError, `cut at ${n}`);
  const rnd = seeded(5);
  for (let i = 0; i < 2000; i++) {
    const b = bytes.slice();
    for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    try {
      decodeFields(b, 'flipped');
    } catch (e) {
      assert.ok(e instanceof StateFileError, `case ${i}: ${String(e)}`);
    }
  }
  // A list claiming 4 billion items in a few bytes is refused before anything is allocated.
  assert.throws(() => decodeFields(Uint8Array.of(8, 1, 0, 0, 0, 1, 0, 0x61, 7, 0xff, 0xff, 0xff, 0xff), 'count'), /a list of 4294967295 items in 0 bytes/);
  const deep = Uint8Array.from([...Array.from({ length: 40 }, () => [7, 1, 0, 0, 0]).flat(), 0]);
  assert.throws(() => decodeFields(deep, 'deep'), /nested deeper than 32/);
  assert.throws(() => decodeFields(Uint8Array.of(8, 2, 0, 0, 0, 2, 0, 0x61, 0x61, 0, 2, 0, 0x61, 0x61, 1), 'dup'), /field "aa" appears twice/);
  assert.throws(() => decodeFields(Uint8Array.of(8, 1, 0, 0, 0, 9, 0, ...new TextEncoder().encode('__proto__'), 0), 'proto'), /"__proto__" is not allowed/);
  assert.throws(() => decodeFields(Uint8Array.of(7, 0, 0, 0, 0), 'list'), /not a record/);
  assert.throws(() => decodeFields(Uint8Array.of(8, 0, 0, 0, 0, 9), 'tail'), /1 bytes after the fields/);
});

test('machine state: sections round-trip; corrupt, truncated, foreign and future files fail before anything is used', () => {
  const ram = new Uint8Array(3 * 4096).map((_, i) => (i * 7) & 0xff);
  const state = new MachineState([{ name: 'device.x', kind: 'thing', version: 3, fields: RECORD }, { name: 'ram.low', kind: 'ram', version: 1, raw: ram }], true);
  const bytes = state.encodeToBytes();
  const back = MachineState.decode(bytes, 'snap');
  assert.equal(back.diff, true);
  assert.deepEqual(back.section('device.x'), { name: 'device.x', kind: 'thing', version: 3, fields: RECORD });
  const r = back.section('ram.low')!;
  assert.ok(isRawSection(r) && r.raw.every((b, i) => b === ram[i]));

  const fails = (b: Uint8Array, re: RegExp, what: string): void => assert.throws(() => MachineState.decode(b, 'snap'), (e: unknown) => e instanceof StateFileError && re.test(e.message), what);
  for (let n = 0; n < bytes.length; n += n < 200 ? 1 : 997) fails(bytes.subarray(0, n), /^snap: /, `truncated at ${n}`);
  const flip = (at: number): Uint8Array => {
    const b = bytes.slice();
    b[at]! ^= 0x40;
    return b;
  };
  fails(flip(0), /not a tsvmm state file/, 'magic');
  fails(flip(9), /the header is corrupt/, 'header');
  fails(flip(60), /section device\.x \(thing\) is corrupt \(CRC32 mismatch\)|section device\.x/, 'a field byte');
  fails(flip(bytes.length - 100), /section ram\.low \(ram\) is corrupt \(CRC32 mismatch\)/, 'a RAM byte');
  fails(Uint8Array.from([...bytes, 0]), /1 bytes after the end marker/, 'trailing byte');
  const future = bytes.slice();
  const dv = new DataView(future.buffer);
  dv.setUint32(8, 2, true);
  dv.setUint32(20, crc32(future.subarray(0, 20)), true); // re-sealed: only the version is wrong
  fails(future, /state file format version 2 is not supported \(this tsvmm reads version 1\)/, 'future version');
  assert.throws(() => new MachineState([{ name: 'a', kind: 'k', version: 1, fields: {} }, { name: 'a', kind: 'k', version: 1, fields: {} }]), /appears twice/);
});

test('devices: a running VM\'s device state saves, survives the file, and restores into a new VM only if every section is valid', { timeout: 60_000 }, async () => {
  let out = '';
  const c = new VmController({
    config: { kernel: guestElf('ticker'), cmdline: 'lines=0 work=3000', accel: 'emu', memBytes: 32 << 20, serial: { kind: 'none' } },
    bootSourceGiven: true,
    serialSink: { write: (b) => void (out += Buffer.from(b).toString('latin1')), close() {} },
  });
  await c.dispatch({ type: 'start' });
  while (!out.includes('tick 2 ')) await new Promise((r) => setTimeout(r, 5));
  await c.dispatch({ type: 'pause' });
  const src = c.built!.devices;
  // Leave state worth saving: host input queued for COM1 and keys in the i8042's buffer.
  src.uart.receive(new TextEncoder().encode('queued input'));
  src.i8042.sendCtrlAltDel();
  const saved = saveDevices(src);
  const pending = src.uart.hostInputPending;
  assert.ok(pending > 0);
  const file = new MachineState(saved).encodeToBytes();
  await c.dispatch({ type: 'stop', by: 'library' });

  const target = await assembleVm({ ...defaultRunConfig(), accel: 'emu', memBytes: 32 << 20, serial: { kind: 'none' } }, { write() {} });
  try {
    const loaded = MachineState.decode(file, 'devices.snap');
    // The RTC runs on in real time: compare everything else exactly.
    const norm = (ss: typeof saved) => ss.map((x) => (x.name === 'device.cmos-rtc' ? { ...x, fields: { ...x.fields, timeMs: 0 } } : x));
    // One bad field anywhere, and nothing is loaded.
    const broken = new MachineState(loaded.sections.map((s) => (s.name === 'device.pci-host' && !isRawSection(s) ? { ...s, fields: { address: -1 } } : s)));
    const before = saveDevices(target.devices);
    assert.throws(() => prepareDeviceRestore(target.devices, broken), /device\.pci-host\.address: expected an integer from 0 to 4294967295, got -1/);
    assert.deepEqual(norm(saveDevices(target.devices)), norm(before), 'nothing was loaded');
    assert.throws(() => prepareDeviceRestore(target.devices, new MachineState(loaded.sections.filter((s) => s.name !== 'device.i8042'))), /the state has no section device\.i8042 \(i8042\)/);

    prepareDeviceRestore(target.devices, loaded)();
    const after = saveDevices(target.devices);
    assert.deepEqual(norm(after), norm(saved), 'every device is where it was');
    const t0 = (saved.find((s) => s.name === 'device.cmos-rtc')!.fields['timeMs'] as number);
    const t1 = (after.find((s) => s.name === 'device.cmos-rtc')!.fields['timeMs'] as number);
    assert.ok(t1 >= t0 && t1 - t0 < 5000, 'the RTC goes on from the saved time (VM time), not from the host clock');
    assert.equal(target.devices.uart.hostInputPending, pending, 'COM1\'s queued host input came along');
  } finally {
    target.devices.destroy();
    target.vm.destroy();
  }
});
