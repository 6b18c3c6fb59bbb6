import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory, pcRamLayout, PAGE_SIZE, type MemoryRegion } from './guest-memory.js';

function region(name: string, gpa: number, size: number, trackDirty = false): MemoryRegion {
  return { name, gpa, size, bytes: new Uint8Array(size), trackDirty };
}

test('find and view resolve addresses inside regions and reject holes', () => {
  const m = new GuestMemory([region('a', 0, 0x10000), region('b', 0x100000, 0x10000)]);
  assert.equal(m.find(0x1234)?.name, 'a');
  assert.equal(m.find(0x100000)?.name, 'b');
  assert.equal(m.find(0x20000), undefined);
  m.writeU32(0x100010, 0xdeadbeef);
  assert.equal(m.readU32(0x100010), 0xdeadbeef);
  assert.throws(() => m.view(0xfffe, 4), /not backed by RAM/);
});

test('setMap is atomic: an overlapping map is rejected and the old one stays', () => {
  const m = new GuestMemory([region('a', 0, 0x10000)]);
  const gen = m.generation;
  assert.throws(() => m.setMap([region('x', 0, 0x2000), region('y', 0x1000, 0x2000)]), /overlap/);
  assert.equal(m.generation, gen);
  assert.equal(m.find(0x8000)?.name, 'a');
  assert.throws(() => m.setMap([region('odd', 0x10, 0x1000)]), /not page aligned/);
});

test('dirty log is range-based and bounded by a page count, leaving the rest for the next call', () => {
  const m = new GuestMemory([region('ram', 0, 16 * PAGE_SIZE, true)]);
  for (const p of [1, 3, 5, 7, 9]) m.writeU32(p * PAGE_SIZE + 8, p);
  assert.deepEqual(m.collectDirty(0, 16 * PAGE_SIZE, 2), [PAGE_SIZE, 3 * PAGE_SIZE]);
  assert.deepEqual(m.collectDirty(6 * PAGE_SIZE, 10 * PAGE_SIZE, 10), [7 * PAGE_SIZE, 9 * PAGE_SIZE]);
  assert.deepEqual(m.collectDirty(0, 16 * PAGE_SIZE, 10), [5 * PAGE_SIZE]);
  assert.deepEqual(m.collectDirty(0, 16 * PAGE_SIZE, 10), []);
});

test('dirty bits survive a map replacement that keeps the region (no lost window)', () => {
  const ram = region('ram', 0, 4 * PAGE_SIZE, true);
  const m = new GuestMemory([ram]);
  m.writeU32(2 * PAGE_SIZE, 1);
  m.setMap([ram, region('extra', 0x100000, PAGE_SIZE)]);
  assert.deepEqual(m.collectDirty(0, 4 * PAGE_SIZE, 10), [2 * PAGE_SIZE]);
});

test('pcRamLayout leaves the PCI hole below 4 GiB', () => {
  assert.deepEqual(pcRamLayout(256 << 20), [{ name: 'ram-low', gpa: 0, size: 256 << 20 }]);
  const big = pcRamLayout(4 * 1024 ** 3);
  assert.equal(big[0]!.size, 0xc000_0000);
  assert.deepEqual(big[1], { name: 'ram-high', gpa: 0x1_0000_0000, size: 0x4000_0000 });
});

test('dirty log works for regions above 2 GiB (no 32-bit signed arithmetic)', () => {
  const gpa = 0x1_0000_0000;
  const m = new GuestMemory([region('high', gpa, 4 * PAGE_SIZE, true)]);
  m.writeU32(gpa + 2 * PAGE_SIZE + 4, 7);
  assert.deepEqual(m.collectDirty(gpa, 4 * PAGE_SIZE, 10), [gpa + 2 * PAGE_SIZE]);
});

test('a listener that refuses a new map leaves the old map in place', () => {
  const m = new GuestMemory([region('a', 0, PAGE_SIZE)]);
  m.onMapChange(() => {
    throw new Error('slot table full');
  });
  assert.throws(() => m.setMap([region('b', 0, 2 * PAGE_SIZE)]), /slot table full/);
  assert.equal(m.find(0)?.name, 'a');
  assert.equal(m.find(PAGE_SIZE), undefined);
});
