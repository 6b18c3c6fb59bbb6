import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory, type MemoryRegion } from './guest-memory.js';
import { DmaError, GuestDma } from './dma.js';

const region = (name: string, gpa: number, size: number): MemoryRegion => ({ name, gpa, size, bytes: new Uint8Array(size), trackDirty: true });

test('DMA writes mark pages dirty and reach host-write observers; reads do not', () => {
  const m = new GuestMemory([region('low', 0, 0x10000), region('next', 0x10000, 0x4000), region('high', 0x100000, 0x1000)]);
  const seen: string[] = [];
  m.onHostWrite((gpa, len) => seen.push(`${gpa.toString(16)}+${len}`));
  const dma = new GuestDma(m);
  dma.write(0x2ffe, Uint8Array.of(1, 2, 3, 4));
  dma.writeU16(0x5000, 0xbeef);
  dma.writeU32(0x6000, 0xdead_beef);
  const b = new Uint8Array(4);
  dma.read(0x2ffe, b);
  assert.deepEqual([...b], [1, 2, 3, 4]);
  assert.equal(dma.readU16(0x5000), 0xbeef);
  assert.equal(dma.readU32(0x6000), 0xdead_beef);
  dma.write(0x6008, Uint8Array.of(0x78, 0x56, 0x34, 0x12, 5, 0, 0, 0));
  assert.equal(dma.readU64(0x6008), 0x5_1234_5678);
  assert.deepEqual(seen, ['2ffe+4', '5000+2', '6000+4', '6008+8']);
  assert.deepEqual(m.collectDirty(0, 0x20000, 16), [0x2000, 0x3000, 0x5000, 0x6000]);
  // Contiguous regions: one access may span them; a hole may not.
  dma.write(0xfffe, Uint8Array.of(9, 9, 9, 9));
  assert.equal(m.find(0x10001)!.name, 'next');
  assert.equal(dma.readU8(0x10001), 9);
  dma.zero(0xffff, 2);
  assert.equal(dma.readU8(0xfffe), 9);
  assert.equal(dma.readU8(0xffff), 0);
  assert.equal(dma.readU8(0x10000), 0);
  assert.throws(() => dma.write(0x13ffe, new Uint8Array(4)), DmaError);
  assert.throws(() => dma.readU32(0x20000), /0x20000\+4 is not guest RAM/);
  assert.throws(() => dma.read(-1, new Uint8Array(1)), DmaError);
  assert.equal(dma.view(0x100000, 0x1000)?.length, 0x1000);
  assert.equal(dma.view(0x100800, 0x1000), undefined);
});
