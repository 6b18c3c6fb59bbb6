import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBlockBackend } from './backends/block-backend.js';
import { CC } from './transport-pci.js';
import { TestDriver } from './testing/virtio-driver.test-util.js';
import { VirtioBlk } from './virtio-blk.js';
import { DescriptorChain, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from './virtqueue.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { GuestDma } from '../../memory/dma.js';
import { VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, bit } from './virtio-device.js';

const blk = () => new VirtioBlk({ backend: new MemoryBlockBackend(new Uint8Array(64 * 512)) });
const readReq = (sector = 0) => {
  const h = new Uint8Array(16);
  new DataView(h.buffer).setBigUint64(8, BigInt(sector), true);
  return h;
};

test('event idx: interrupts only when used idx passes used_event; avail_event tracks the device', () => {
  const d = new TestDriver(blk());
  d.init();
  assert.ok(d.features & bit(VIRTIO_F_EVENT_IDX));
  d.setUsedEvent(0, 2); // interrupt me once the third used entry (index 2) is written
  d.submit(0, [readReq()], [512, 1]);
  d.kick(0);
  assert.equal(d.msi.messages.length, 1, 'the first decision after DRIVER_OK always interrupts');
  d.submit(0, [readReq()], [512, 1]);
  d.kick(0);
  assert.equal(d.msi.messages.length, 1, 'used idx 2 has not passed used_event 2');
  d.submit(0, [readReq()], [512, 1]);
  d.kick(0);
  assert.equal(d.msi.messages.length, 2, 'used idx 3 passed used_event 2');
  assert.equal(d.availEvent(0), 3, 'the device asks to be notified at the next index');
  assert.equal(d.used(0).length, 3);
});

test('without event idx: NO_INTERRUPT in the avail flags suppresses interrupts', () => {
  const d = new TestDriver(blk(), { ring: bit(VIRTIO_F_INDIRECT_DESC) });
  d.init();
  assert.equal(d.features & bit(VIRTIO_F_EVENT_IDX), 0n);
  const q = d.queues[0]!;
  d.bytes(q.avail, 2).set([1, 0]);
  d.submit(0, [readReq()], [512, 1]);
  d.kick(0);
  assert.equal(d.msi.messages.length, 0);
  assert.equal(d.used(0).length, 1);
});

test('broken rings set DEVICE_NEEDS_RESET and stop the device; a reset brings it back', () => {
  for (const breakIt of ['loop', 'readable-after-writable', 'bad-head', 'not-ram'] as const) {
    const d = new TestDriver(blk());
    d.init();
    const q = d.queues[0]!;
    const v = new DataView(d.bytes(0, 1).buffer);
    const put = (i: number, addr: number, len: number, flags: number, next: number) => {
      const at = q.desc + 16 * i;
      v.setBigUint64(at, BigInt(addr), true);
      v.setUint32(at + 8, len, true);
      v.setUint16(at + 12, flags, true);
      v.setUint16(at + 14, next, true);
    };
    let head = 0;
    if (breakIt === 'loop') {
      put(0, 0x1000, 16, VIRTQ_DESC_F_NEXT, 1);
      put(1, 0x2000, 16, VIRTQ_DESC_F_NEXT, 0);
    } else if (breakIt === 'readable-after-writable') {
      put(0, 0x1000, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
      put(1, 0x2000, 16, 0, 0);
    } else if (breakIt === 'bad-head') head = 9999;
    else put(0, 0xffff_0000_0000, 16, 0, 0);
    v.setUint16(q.avail + 4, head, true);
    v.setUint16(q.avail + 2, 1, true);
    d.kick(0);
    const status = d.common(CC.deviceStatus, 1);
    assert.equal(status & 0x40, 0x40, `${breakIt}: DEVICE_NEEDS_RESET`);
    assert.ok(d.transport.failure, breakIt);
    assert.equal(d.msi.messages.at(-1)?.data, 0x40, `${breakIt}: the configuration-change vector tells the driver`);
    d.setCommon(CC.deviceStatus, 1, 0);
    assert.equal(d.common(CC.deviceStatus, 1), 0);
    assert.equal(d.transport.failure, undefined);
  }
});

test('features: FEATURES_OK is refused without VERSION_1 or with bits not offered; queue size and vectors are checked', () => {
  const d = new TestDriver(blk(), { accept: () => 1n << 20n });
  assert.equal(d.init() & 8, 0, 'bit 20 was not offered: FEATURES_OK stays clear');
  const e = new TestDriver(blk(), { queueSize: 64 });
  e.init();
  e.setCommon(CC.queueSelect, 2, 0);
  assert.equal(e.common(CC.queueSize, 2), 64);
  e.setCommon(CC.queueSelect, 2, 5);
  assert.equal(e.common(CC.queueSize, 2), 0, 'a queue that does not exist has size 0');
  e.setCommon(CC.queueSelect, 2, 0);
  e.setCommon(CC.queueMsixVector, 2, 77);
  assert.equal(e.common(CC.queueMsixVector, 2), 0xffff, 'a vector past the table is refused');
  assert.equal(e.common(CC.numQueues, 2), 1);
  // Status 0 resets everything the driver set.
  e.setCommon(CC.deviceStatus, 1, 0);
  assert.equal(e.common(CC.queueEnable, 2), 0);
  assert.equal(e.common(CC.queueSize, 2), 256);
  const snap = e.transport.saveState();
  assert.equal(snap.queues.length, 1);
});

test('PCI config access capability reads the common config through config space', () => {
  const d = new TestDriver(blk());
  d.init();
  let cap = 0;
  for (let at = d.cfgRead(0x34, 1); at !== 0; at = d.cfgRead(at + 1, 1)) if (d.cfgRead(at, 1) === 9 && d.cfgRead(at + 3, 1) === 5) cap = at;
  assert.ok(cap > 0);
  d.cfgWrite(cap + 4, 1, 4); // BAR 4
  d.cfgWrite(cap + 8, 4, CC.numQueues);
  d.cfgWrite(cap + 12, 4, 2);
  assert.equal(d.cfgRead(cap + 16, 2), 1);
});

test('chains move data in place: guest memory itself where a buffer is in one region, a copy across regions; writes are reported first', () => {
  const lo = new Uint8Array(4096);
  const hi = new Uint8Array(4096);
  const memory = new GuestMemory([
    { name: 'lo', gpa: 0, size: 4096, bytes: lo },
    { name: 'hi', gpa: 4096, size: 4096, bytes: hi },
  ]);
  const reported: [number, number][] = [];
  memory.onHostWrite((gpa, len) => reported.push([gpa, len]));
  const c = new DescriptorChain(0, new GuestDma(memory));
  c.writable.push({ addr: 100, len: 8 }, { addr: 4092, len: 8 }); // the second straddles the regions
  const seen: { inRam: boolean; at: number; len: number }[] = [];
  const n = c.writeInPlace(2, 12, (dst, at) => {
    seen.push({ inRam: dst.buffer === lo.buffer || dst.buffer === hi.buffer, at, len: dst.length });
    for (let i = 0; i < dst.length; i++) dst[i] = 0x10 + at + i;
  });
  assert.equal(n, 12);
  assert.deepEqual(seen, [{ inRam: true, at: 0, len: 6 }, { inRam: false, at: 6, len: 6 }]);
  assert.deepEqual([...lo.subarray(102, 108)], [0x10, 0x11, 0x12, 0x13, 0x14, 0x15]);
  assert.deepEqual([...lo.subarray(4092), ...hi.subarray(0, 2)], [0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b]);
  assert.deepEqual(reported, [[102, 6], [4092, 6]]);
  // A fill that fails half-way has still been reported (the pages may have changed).
  reported.length = 0;
  assert.throws(() => c.writeInPlace(0, 4, () => { throw new Error('EIO'); }), /EIO/);
  assert.deepEqual(reported, [[100, 4]]);
  // Reads hand over the same pieces, readable side.
  c.readable.push({ addr: 102, len: 6 }, { addr: 4092, len: 6 });
  const got: number[] = [];
  assert.equal(c.readInPlace(1, 20, (src) => got.push(...src)), 11);
  assert.deepEqual(got, [0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b]);
});
