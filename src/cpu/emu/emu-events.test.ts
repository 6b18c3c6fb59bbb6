import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEmuVm } from './emu-vm.js';
import { REG, segmentBatch } from '../registers.js';
import { hex } from './cpu-harness.test-util.js';

function flat32(entry: number): [number, bigint][] {
  return [
    [REG.rip, BigInt(entry)],
    [REG.rflags, 2n],
    [REG.cr0, 0x11n],
    [REG.rsp, 0x8000n],
    ...segmentBatch('cs', { selector: 0x08, base: 0n, limit: 0xffffffff, attrs: 0xc09b }),
    ...segmentBatch('ds', { selector: 0x10, base: 0n, limit: 0xffffffff, attrs: 0xc093 }),
    ...segmentBatch('ss', { selector: 0x10, base: 0n, limit: 0xffffffff, attrs: 0xc093 }),
  ];
}

test('emu: a doorbell write does not stop the vCPU, coalesced port writes reach the device before its next read', async () => {
  const vm = createEmuVm({ memBytes: 8 << 20, cpus: 1, deterministic: true });
  const log: string[] = [];
  vm.pio.register(0x80, 1, { read: (_o, d) => void (log.push('r'), d.fill(7)), write: (_o, d) => void log.push(`w${d[0]}`) }, 'post');
  vm.pio.register(0xf4, 1, { read: (_o, d) => d.fill(0), write: (_o, d) => vm.requestStop({ kind: 'debug-exit', value: d[0]! }) }, 'debug-exit');
  const doorbellDevice: number[] = [];
  vm.mmio.register(0xfe00_3000, 0x1000, { read: (_o, d) => d.fill(0), write: (o) => void doorbellDevice.push(o) }, 'notify');
  vm.events.coalesce({ space: 'pio', address: 0x80, size: 1 });
  let rangAt = -1;
  vm.events.ioEvent({ space: 'mmio', address: 0xfe00_3000, size: 2 }, {
    signal: () => {
      rangAt = vm.instructionsRetired;
      vm.memory.write(0x5000, new Uint8Array([1])); // the "device" completes: the guest polls this byte
    },
  });
  // prettier-ignore
  vm.memory.write(0x100000, hex(`
    66 ba 80 00   b0 01 ee   b0 02 ee   b0 03 ee   ec
    66 a3 00 30 00 fe
    b9 e8 03 00 00   49   75 fd
    80 3d 00 50 00 00 01   75 f7
    b0 00 e6 f4`));
  vm.vcpus[0]!.setRegisters(flat32(0x100000));
  const stop = await vm.run();
  assert.deepEqual(stop, { kind: 'debug-exit', value: 0 });
  assert.deepEqual(log, ['w1', 'w2', 'w3', 'r'], 'three buffered writes, flushed in order before the read');
  assert.deepEqual(doorbellDevice, [], 'the doorbell write never reached the bus device');
  // The write is instruction 10: the device ran after it retired (the slice ends at the block's end),
  // not inside the access, and once, before the guest's polling loop could spin for a whole slice.
  assert.ok(rangAt > 10 && rangAt < 10 + 2000, `the doorbell rang at instruction ${rangAt}`);
  assert.equal(vm.events.stats.ioEvents, 1);
  assert.equal(vm.events.stats.coalescedWrites, 3);
});
