import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMem, parseCpus, parseAccel, parseSerial, parseEventChannels, ConfigError } from './config.js';

test('parseMem accepts binary-suffixed sizes and rejects nonsense and tiny guests', () => {
  assert.equal(parseMem('256M'), 256 * 1024 * 1024);
  assert.equal(parseMem('1G'), 1024 ** 3);
  assert.throws(() => parseMem('lots'), /--mem "lots" is not a size/);
  assert.throws(() => parseMem('1M'), /too small/);
  assert.throws(() => parseMem('1000'), ConfigError);
});

test('parseCpus rejects 0, negatives and words', () => {
  assert.equal(parseCpus('4'), 4);
  assert.throws(() => parseCpus('0'), /out of range/);
  assert.throws(() => parseCpus('-1'), /not a number/);
  assert.throws(() => parseCpus('9999'), /out of range/);
});

test('parseAccel and parseSerial name the bad value', () => {
  assert.equal(parseAccel('emu'), 'emu');
  assert.throws(() => parseAccel('tcg'), /--accel "tcg"/);
  assert.deepEqual(parseSerial('file:/tmp/x'), { kind: 'file', path: '/tmp/x' });
  assert.throws(() => parseSerial('pty'), /--serial "pty"/);
});

test('--drive and --net: options, defaults and one-line refusals', async () => {
  const { parseDrive, parseNet } = await import('./config.js');
  assert.deepEqual(parseDrive('/d/root.img', 0), { id: 'drive0', path: '/d/root.img', readOnly: false });
  assert.deepEqual(parseDrive('x.img,ro,serial=DISK-1', 2), { id: 'drive2', path: 'x.img', readOnly: true, serial: 'DISK-1' });
  assert.throws(() => parseDrive(',ro', 0), /names no image/);
  assert.throws(() => parseDrive('x.img,serial=' + 'a'.repeat(21), 0), /1-20 printable ASCII/);
  assert.throws(() => parseDrive('x.img,cache=none', 0), /"cache=none" is not understood/);
  assert.deepEqual(parseNet('stream:listen=/tmp/n.sock', 0), { id: 'net0', backend: { kind: 'stream', mode: 'listen', address: '/tmp/n.sock' } });
  assert.deepEqual(parseNet('stream:connect=127.0.0.1:5000,mac=52:54:00:aa:bb:cc', 1), { id: 'net1', backend: { kind: 'stream', mode: 'connect', address: '127.0.0.1:5000' }, mac: '52:54:00:aa:bb:cc' });
  assert.deepEqual(parseNet('tap:tap0,mac=52:54:00:aa:bb:cd', 2), { id: 'net2', backend: { kind: 'tap', ifname: 'tap0' }, mac: '52:54:00:aa:bb:cd' });
  assert.throws(() => parseNet('tap:' + 'x'.repeat(16), 0), /use stream:listen=PATH .* or tap:NAME/);
  assert.throws(() => parseNet('udp:1.2.3.4:5', 0), /is not understood/);
  assert.throws(() => parseNet('stream:listen=/x,mac=01:00:00:00:00:00', 0), /unicast/);
});

test('parseEventChannels: kernel or in-process, anything else a one-line usage error', () => {
  assert.equal(parseEventChannels('kernel'), 'kernel');
  assert.equal(parseEventChannels('in-process'), 'in-process');
  assert.throws(() => parseEventChannels('irqfd'), (e: unknown) => e instanceof ConfigError && /^--event-channels "irqfd" is not understood: use kernel \(KVM_IOEVENTFD\/KVM_IRQFD\) or in-process$/.test(e.message));
});
