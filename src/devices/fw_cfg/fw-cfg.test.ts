import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../cpu/bus.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { FwCfg, FwCfgError, type FwCfgOptions } from './fw-cfg.js';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

function setup(opts: Partial<FwCfgOptions> = {}) {
  const fw = new FwCfg({ memBytes: 128 * MIB, cpus: 2, ...opts });
  const bus = new Bus('pio');
  bus.register(0x510, 2, fw.ioPort, 'fw_cfg');
  bus.register(0x514, 8, fw.dmaPort, 'fw_cfg-dma');
  const select = (key: number) => bus.writeValue(0x510, 2, key);
  const readBytes = (n: number) => Array.from({ length: n }, () => bus.readValue(0x511, 1));
  const item = (key: number, n: number) => {
    select(key);
    return Uint8Array.from(readBytes(n));
  };
  const le = (b: Uint8Array) => b.reduceRight((acc, x) => acc * 256 + x, 0);
  return { fw, bus, select, readBytes, item, le };
}

/** Reads the directory the way firmware does: be32 count, then 64-byte entries. */
function readDirectory(item: (key: number, n: number) => Uint8Array) {
  const count = new DataView(item(0x19, 4).buffer).getUint32(0, false);
  const raw = item(0x19, 4 + 64 * count);
  const dv = new DataView(raw.buffer);
  const out: { name: string; size: number; select: number }[] = [];
  for (let i = 0; i < count; i++) {
    const at = 4 + i * 64;
    const nameBytes = raw.subarray(at + 8, at + 64);
    const end = nameBytes.indexOf(0);
    out.push({
      size: dv.getUint32(at, false),
      select: dv.getUint16(at + 4, false),
      name: String.fromCharCode(...nameBytes.subarray(0, end)),
    });
  }
  return out;
}

test('signature: selecting key 0 and reading 4 bytes gives "QEMU"', () => {
  const { item } = setup();
  assert.equal(String.fromCharCode(...item(0x0000, 4)), 'QEMU');
});

test('FW_CFG_ID: traditional interface bit 0; DMA bit 1 only with guest memory', () => {
  const a = setup();
  assert.equal(a.le(a.item(0x0001, 4)), 0x01);
  const b = setup({ memory: new GuestMemory([{ name: 'ram', gpa: 0, size: 4096, bytes: new Uint8Array(4096) }]) });
  assert.equal(b.le(b.item(0x0001, 4)), 0x03);
});

test('RAM size (u64 LE), CPU count and max CPUs (u16 LE)', () => {
  const { item, le } = setup({ memBytes: 6 * GIB, cpus: 3, maxCpus: 8 });
  assert.equal(le(item(0x0003, 8)), 6 * GIB);
  assert.equal(le(item(0x0005, 2)), 3);
  assert.equal(le(item(0x000f, 2)), 8);
});

test('command line: size includes the NUL, data is NUL-terminated, address entries when known', () => {
  const { item, le } = setup({ cmdline: 'console=ttyS0 quiet', cmdlineAddr: 0x20000 });
  assert.equal(le(item(0x0014, 4)), 20);
  const data = item(0x0015, 20);
  assert.equal(String.fromCharCode(...data.subarray(0, 19)), 'console=ttyS0 quiet');
  assert.equal(data[19], 0);
  assert.equal(le(item(0x0013, 4)), 0x20000);
  assert.equal(le(item(0x0009, 4)), 0x20000);
});

test('the data offset auto-increments, resets on select, and reads past the end return 0', () => {
  const { select, readBytes } = setup();
  select(0);
  assert.deepEqual(readBytes(2), [0x51, 0x45]);
  assert.deepEqual(readBytes(4), [0x4d, 0x55, 0, 0]);
  select(0);
  assert.deepEqual(readBytes(1), [0x51]);
});

test('an unknown key reads as zeros; the write-channel bit selects the same item', () => {
  const { item } = setup();
  assert.deepEqual([...item(0x1234, 3)], [0, 0, 0]);
  assert.equal(String.fromCharCode(...item(0x4000, 4)), 'QEMU');
});

test('data-port writes are ignored (QEMU >= 2.4)', () => {
  const { bus, item, select, readBytes } = setup();
  select(0);
  bus.writeValue(0x511, 1, 0x00);
  assert.deepEqual(readBytes(4), [0x51, 0x45, 0x4d, 0x55]);
  assert.equal(String.fromCharCode(...item(0, 4)), 'QEMU');
});

test('a 4-byte read of the data port returns the next 4 bytes in order', () => {
  const { bus, select } = setup();
  select(0);
  assert.equal(bus.readValue(0x511, 4), 0x554d4551);
});

test('file directory: be32 count, sorted 64-byte entries with be32 size and be16 select', () => {
  const { fw, item } = setup();
  const k1 = fw.addFile('opt/org.tsvmm/hello', new Uint8Array([1, 2, 3]));
  const k2 = fw.addFile('etc/boot-fail-wait', new Uint8Array(4));
  assert.ok(k1 >= 0x20 && k2 === k1 + 1);
  const dir = readDirectory(item);
  assert.deepEqual(
    dir.map((d) => d.name),
    ['etc/boot-fail-wait', 'etc/e820', 'opt/org.tsvmm/hello'],
  );
  const hello = dir.find((d) => d.name === 'opt/org.tsvmm/hello')!;
  assert.equal(hello.size, 3);
  assert.equal(hello.select, k1);
  assert.deepEqual([...item(hello.select, 3)], [1, 2, 3]);
});

test('addFile rejects duplicates, empty, too long and non-ASCII names', () => {
  const { fw } = setup();
  fw.addFile('opt/x', new Uint8Array(1));
  assert.throws(() => fw.addFile('opt/x', new Uint8Array(1)), FwCfgError);
  assert.throws(() => fw.addFile('', new Uint8Array(1)), FwCfgError);
  assert.throws(() => fw.addFile('opt/' + 'a'.repeat(52), new Uint8Array(1)), FwCfgError);
  assert.doesNotThrow(() => fw.addFile('opt/' + 'a'.repeat(51), new Uint8Array(1)));
  assert.throws(() => fw.addFile('opt/é', new Uint8Array(1)), FwCfgError);
});

test('etc/e820 lists RAM below the 3 GiB hole and above 4 GiB (20-byte entries)', () => {
  const { item } = setup({ memBytes: 4 * GIB });
  const e = readDirectory(item).find((d) => d.name === 'etc/e820')!;
  assert.equal(e.size, 40);
  const raw = item(e.select, 40);
  const dv = new DataView(raw.buffer);
  const u64 = (at: number) => dv.getUint32(at, true) + dv.getUint32(at + 4, true) * 2 ** 32;
  assert.deepEqual([u64(0), u64(8), dv.getUint32(16, true)], [0, 3 * GIB, 1]);
  assert.deepEqual([u64(20), u64(28), dv.getUint32(36, true)], [4 * GIB, GIB, 1]);
});

test('max RAM: etc/reserved-memory-end appears only when maxMemBytes exceeds memBytes', () => {
  const a = setup();
  assert.equal(readDirectory(a.item).some((d) => d.name === 'etc/reserved-memory-end'), false);
  const b = setup({ memBytes: 512 * MIB, maxMemBytes: 2 * GIB });
  const e = readDirectory(b.item).find((d) => d.name === 'etc/reserved-memory-end')!;
  assert.equal(e.size, 8);
  // Hotplug area starts at 4 GiB (no RAM above 4 GiB) and is 1.5 GiB: end rounded up to 6 GiB.
  assert.equal(b.le(b.item(e.select, 8)), 6 * GIB);
  assert.throws(() => setup({ memBytes: GIB, maxMemBytes: MIB }), RangeError);
});

test('bad sizes are refused with RangeError', () => {
  assert.throws(() => setup({ cpus: 0 }), RangeError);
  assert.throws(() => setup({ memBytes: 0 }), RangeError);
  assert.throws(() => setup({ cpus: 4, maxCpus: 2 }), RangeError);
});

function dmaSetup() {
  const bytes = new Uint8Array(64 * 1024);
  const memory = new GuestMemory([{ name: 'ram', gpa: 0, size: bytes.length, bytes }]);
  const env = setup({ memory, cmdline: 'root=/dev/vda' });
  /** Writes an FWCfgDmaAccess at `at` and triggers it with two bswapped 32-bit port writes. */
  const dma = (at: number, control: number, length: number, address: number) => {
    const dv = new DataView(bytes.buffer, at, 16);
    dv.setUint32(0, control, false);
    dv.setUint32(4, length, false);
    dv.setUint32(8, 0, false);
    dv.setUint32(12, address, false);
    const be32 = (v: number) => ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
    env.bus.writeValue(0x514, 4, be32(0));
    env.bus.writeValue(0x518, 4, be32(at) >>> 0);
    return new DataView(bytes.buffer, at, 4).getUint32(0, false);
  };
  return { ...env, bytes, dma };
}

test('DMA register reads back "QEMU CFG" (big-endian 0x51454d5520434647)', () => {
  const { bus } = dmaSetup();
  const be = (v: number) => ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
  assert.equal(be(bus.readValue(0x514, 4)) >>> 0, 0x51454d55);
  assert.equal(be(bus.readValue(0x518, 4)) >>> 0, 0x20434647);
  const plain = setup();
  assert.equal(plain.bus.readValue(0x514, 4), 0xffffffff, 'no DMA without guest memory');
});

test('DMA select+read copies the item into guest memory and clears control', () => {
  const { dma, bytes } = dmaSetup();
  const control = dma(0x100, (0x0015 << 16) | 0x08 | 0x02, 14, 0x1000);
  assert.equal(control, 0);
  assert.equal(String.fromCharCode(...bytes.subarray(0x1000, 0x100d)), 'root=/dev/vda');
  assert.equal(bytes[0x100d], 0);
});

test('DMA read past the end fills zeros; skip advances the offset; offsets continue across requests', () => {
  const { dma, bytes } = dmaSetup();
  bytes.fill(0xee, 0x2000, 0x2010);
  assert.equal(dma(0x100, (0x0000 << 16) | 0x08 | 0x04, 2, 0), 0); // select signature, skip "QE"
  assert.equal(dma(0x100, 0x02, 6, 0x2000), 0);
  assert.deepEqual([...bytes.subarray(0x2000, 0x2007)], [0x4d, 0x55, 0, 0, 0, 0, 0xee]);
});

test('DMA write to a read-only item and a read into unbacked memory set the error bit', () => {
  const { dma, fw } = dmaSetup();
  assert.equal(dma(0x100, (0x0000 << 16) | 0x08 | 0x10, 4, 0x3000), 0x01);
  assert.equal(dma(0x100, (0x0000 << 16) | 0x08 | 0x02, 4, 0x100000), 0x01);
  assert.equal(fw.dmaErrors, 2);
});

test('DMA file read through the directory, the way firmware loads etc/ files', () => {
  const { dma, bytes, fw } = dmaSetup();
  const key = fw.addFile('opt/org.tsvmm/blob', Uint8Array.from({ length: 300 }, (_, i) => i & 0xff));
  assert.equal(dma(0x100, (0x0019 << 16) | 0x08 | 0x02, 4, 0x4000), 0);
  const count = new DataView(bytes.buffer, 0x4000, 4).getUint32(0, false);
  assert.equal(count, 2);
  assert.equal(dma(0x100, 0x02, 64 * count, 0x4004), 0);
  const found = [0, 1].map((i) => {
    const at = 0x4004 + i * 64;
    const dv = new DataView(bytes.buffer, at, 8);
    const nb = bytes.subarray(at + 8, at + 64);
    return { name: String.fromCharCode(...nb.subarray(0, nb.indexOf(0))), size: dv.getUint32(0, false), sel: dv.getUint16(4, false) };
  });
  const blob = found.find((f) => f.name === 'opt/org.tsvmm/blob')!;
  assert.deepEqual(blob, { name: 'opt/org.tsvmm/blob', size: 300, sel: key });
  assert.equal(dma(0x100, (key << 16) | 0x08 | 0x02, 300, 0x5000), 0);
  assert.equal(bytes[0x5000 + 299], 299 & 0xff);
});

test('saveState/restoreState keeps the selected item and data offset', () => {
  const a = setup();
  a.select(0);
  a.readBytes(2);
  const b = setup();
  b.fw.restoreState(JSON.parse(JSON.stringify(a.fw.saveState())) as ReturnType<FwCfg['saveState']>);
  assert.deepEqual(b.readBytes(2), [0x4d, 0x55]);
});

test('like QEMU, the port pair decodes by width: byte writes never select, byte reads at 0x510 read data', () => {
  const { bus, select, readBytes } = setup();
  select(0);
  bus.writeValue(0x510, 1, 0x05);
  assert.deepEqual(readBytes(1), [0x51], 'still the signature');
  assert.equal(bus.readValue(0x510, 1), 0x45);
  bus.writeValue(0x511, 2, 0x0005); // a 16-bit write selects at either port
  assert.deepEqual(readBytes(2), [2, 0]);
});

test('the first items read byte by byte as QEMU 7.2 reports them for -m 256 -smp 2 (with DMA)', () => {
  // outw(0x510, key); inb(0x511) × n in a multiboot probe under qemu-system-x86_64 -m 256 -smp 2.
  const qemu: [number, number[]][] = [
    [0x00, [0x51, 0x45, 0x4d, 0x55]],
    [0x01, [0x03, 0x00, 0x00, 0x00]],
    [0x03, [0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00]],
    [0x05, [0x02, 0x00]],
    [0x0f, [0x02, 0x00]],
  ];
  const memory = new GuestMemory([{ name: 'ram', gpa: 0, size: 4096, bytes: new Uint8Array(4096) }]);
  const { item, bus } = setup({ memBytes: 256 * MIB, cpus: 2, memory });
  for (const [key, bytes] of qemu) assert.deepEqual([...item(key, bytes.length)], bytes, `key 0x${key.toString(16)}`);
  const dma = Array.from({ length: 8 }, (_, i) => bus.readValue(0x514 + i, 1));
  assert.deepEqual(dma, [0x51, 0x45, 0x4d, 0x55, 0x20, 0x43, 0x46, 0x47]);
});
