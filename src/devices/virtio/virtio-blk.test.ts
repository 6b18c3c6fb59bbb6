import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlockBackend } from './backends/block-backend.js';
import { FileBlockBackend } from '../../vmm/host-devices/file-block-backend.js';
import { TestDriver } from './testing/virtio-driver.test-util.js';
import { VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_RO, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_WRITE_ZEROES, VirtioBlk } from './virtio-blk.js';

function hdr(type: number, sector: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint32(0, type, true);
  v.setBigUint64(8, BigInt(sector), true);
  return b;
}

function seg(sector: number, count: number, flags = 0): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(sector), true);
  v.setUint32(8, count, true);
  v.setUint32(12, flags, true);
  return b;
}

function disk(sectors = 64, readOnly = false): MemoryBlockBackend {
  const b = new Uint8Array(sectors * 512);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7 + (i >> 9)) & 0xff;
  return new MemoryBlockBackend(b, readOnly);
}

test('virtio-blk: config space, features, read/write/flush/get-id/discard/write-zeroes through the rings', () => {
  const backend = disk();
  const blk = new VirtioBlk({ backend, serial: 'TSVMM-SERIAL-0001' });
  const d = new TestDriver(blk);
  assert.equal(d.init(), 15, 'ACK|DRIVER|FEATURES_OK|DRIVER_OK');
  assert.equal(d.cfgRead(0, 4), 0x1042_1af4, 'vendor 0x1af4, device 0x1040 + 2');
  assert.equal(d.deviceConfig(0, 4), 64, 'capacity in sectors');
  assert.equal(d.deviceConfig(20, 4), 512, 'blk_size');
  assert.ok(d.features & (1n << BigInt(VIRTIO_BLK_F_DISCARD)));
  // Read sectors 2-3 with the data split over two writable buffers.
  const r = d.submit(0, [hdr(VIRTIO_BLK_T_IN, 2)], [700, 324, 1]);
  d.kick(0);
  assert.deepEqual(d.used(0), [{ id: r.head, len: 1025 }]);
  const got = new Uint8Array([...d.bytes(r.ins[0]!, 700), ...d.bytes(r.ins[1]!, 324)]);
  assert.deepEqual(got, backend.bytes.subarray(1024, 2048));
  assert.equal(d.bytes(r.ins[2]!, 1)[0], VIRTIO_BLK_S_OK);
  assert.deepEqual(d.msi.messages.at(-1), { address: 0xfee0_0000, data: 0x41 }, 'queue 0 interrupts on vector 1');
  // Write one sector through an indirect table, then flush.
  const data = new Uint8Array(512).fill(0xa5);
  const w = d.submit(0, [hdr(VIRTIO_BLK_T_OUT, 5), data], [1], true);
  const f = d.submit(0, [hdr(VIRTIO_BLK_T_FLUSH, 0)], [1]);
  d.kick(0);
  assert.deepEqual(d.used(0), [{ id: w.head, len: 1 }, { id: f.head, len: 1 }]);
  assert.deepEqual(backend.bytes.subarray(5 * 512, 6 * 512), data);
  assert.equal(backend.flushes, 1);
  // GET_ID, discard, write zeroes, an unknown type, a read past the end.
  const id = d.submit(0, [hdr(VIRTIO_BLK_T_GET_ID, 0)], [20, 1]);
  const disc = d.submit(0, [hdr(VIRTIO_BLK_T_DISCARD, 0), seg(8, 2)], [1]);
  const wz = d.submit(0, [hdr(VIRTIO_BLK_T_WRITE_ZEROES, 0), seg(12, 1, 1)], [1]);
  const bad = d.submit(0, [hdr(99, 0)], [1]);
  const past = d.submit(0, [hdr(VIRTIO_BLK_T_IN, 63)], [1024, 1]);
  d.kick(0);
  assert.equal(d.used(0).length, 5);
  assert.equal(new TextDecoder().decode(d.bytes(id.ins[0]!, 17)), 'TSVMM-SERIAL-0001');
  assert.equal(d.bytes(id.ins[0]!, 20)[17], 0, 'shorter serials are NUL-padded');
  assert.ok(backend.bytes.subarray(8 * 512, 10 * 512).every((x) => x === 0));
  assert.ok(backend.bytes.subarray(12 * 512, 13 * 512).every((x) => x === 0));
  assert.notEqual(backend.bytes[13 * 512 + 1], 0);
  for (const [c, want] of [[disc, VIRTIO_BLK_S_OK], [wz, VIRTIO_BLK_S_OK], [bad, VIRTIO_BLK_S_UNSUPP]] as const) assert.equal(d.bytes(c.ins[0]!, 1)[0], want);
  assert.equal(d.bytes(past.ins[1]!, 1)[0], VIRTIO_BLK_S_IOERR);
  assert.equal(blk.stats.errors, 2);
});

test('virtio-blk read-only: RO offered, writes and discards fail with IOERR, the image is untouched', () => {
  const backend = disk(8, true);
  const before = backend.bytes.slice();
  const d = new TestDriver(new VirtioBlk({ backend }));
  d.init();
  assert.ok(d.features & (1n << BigInt(VIRTIO_BLK_F_RO)));
  assert.equal(d.features & (1n << BigInt(VIRTIO_BLK_F_DISCARD)), 0n);
  const w = d.submit(0, [hdr(VIRTIO_BLK_T_OUT, 0), new Uint8Array(512)], [1]);
  const disc = d.submit(0, [hdr(VIRTIO_BLK_T_DISCARD, 0), seg(0, 1)], [1]);
  d.kick(0);
  assert.equal(d.bytes(w.ins[0]!, 1)[0], VIRTIO_BLK_S_IOERR);
  assert.equal(d.bytes(disc.ins[0]!, 1)[0], VIRTIO_BLK_S_IOERR);
  assert.deepEqual(backend.bytes, before);
});

test('virtio-blk with INTx: the ISR says why, reading it lowers the line', () => {
  const d = new TestDriver(new VirtioBlk({ backend: disk(8) }), { msix: false });
  d.init();
  d.submit(0, [hdr(VIRTIO_BLK_T_IN, 0)], [512, 1]);
  d.kick(0);
  assert.equal(d.intx.level, true);
  assert.equal(d.msi.messages.length, 0);
  assert.equal(d.isr(), 1);
  assert.equal(d.intx.level, false);
  assert.equal(d.isr(), 0);
});

test('file backend: positioned I/O on a raw image, flush is fdatasync, bad images are refused in one line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-blk-'));
  try {
    const path = join(dir, 'disk.img');
    writeFileSync(path, new Uint8Array(4096).fill(1));
    const f = new FileBlockBackend(path, false);
    assert.equal(f.size, 4096);
    f.write(1000, Uint8Array.of(9, 8, 7));
    f.writeZeroes(2048, 512);
    f.flush();
    const b = new Uint8Array(4);
    f.read(999, b);
    assert.deepEqual([...b], [1, 9, 8, 7]);
    f.close();
    const onDisk = readFileSync(path);
    assert.equal(onDisk[2048], 0);
    assert.equal(onDisk[2560], 1);
    writeFileSync(join(dir, 'odd.img'), new Uint8Array(1000));
    assert.throws(() => new FileBlockBackend(join(dir, 'odd.img'), true), /^Error: --drive .*odd\.img: a raw image must be a non-empty multiple of 512 bytes \(it is 1000\)$/);
    assert.throws(() => new FileBlockBackend(join(dir, 'none.img'), true), /cannot open the image: no such file/);
    assert.throws(() => new FileBlockBackend(dir, true), /not a regular file|directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('virtio-blk with event channels: the notify write is a doorbell, the request completes when it is rung, the MSI leaves as an interrupt event', () => {
  const backend = disk();
  const d = new TestDriver(new VirtioBlk({ backend }), { events: true });
  d.init();
  const sent = d.msi.messages.length;
  const r = d.submit(0, [hdr(VIRTIO_BLK_T_IN, 1)], [512, 1]);
  d.kick(0);
  assert.deepEqual(d.used(0), [], 'nothing happens inside the notifying access');
  assert.equal(d.events!.stats.ioEvents, 1);
  d.events!.dispatch();
  assert.deepEqual(d.used(0), [{ id: r.head, len: 513 }]);
  assert.deepEqual(d.bytes(r.ins[0]!, 512), backend.bytes.subarray(512, 1024));
  assert.deepEqual(d.msi.messages.slice(sent), [{ address: 0xfee0_0000, data: 0x41 }]);
  assert.equal(d.events!.stats.irqEvents, 1, 'through an interrupt event');
});
