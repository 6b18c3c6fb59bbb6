import { test } from 'node:test';
import assert from 'node:assert/strict';
import { E820_RAM, E820_RESERVED, pcMemoryMap, ramSpan } from './memory-map.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

test('a small guest: conventional memory, EBDA and BIOS holes, RAM from 1 MiB', () => {
  assert.deepEqual(pcMemoryMap(64 * MiB), [
    { base: 0, length: 0x9fc00, type: E820_RAM },
    { base: 0x9fc00, length: 0x400, type: E820_RESERVED },
    { base: 0xf0000, length: 0x10000, type: E820_RESERVED },
    { base: MiB, length: 63 * MiB, type: E820_RAM },
  ]);
});

test('RAM past the 3 GiB PCI hole continues at 4 GiB', () => {
  const map = pcMemoryMap(5 * GiB);
  assert.deepEqual(map.slice(3), [
    { base: MiB, length: 3 * GiB - MiB, type: E820_RAM },
    { base: 4 * GiB, length: 2 * GiB, type: E820_RAM },
  ]);
  assert.deepEqual(ramSpan(5 * GiB), { lowEnd: 3 * GiB, highBytes: 2 * GiB, highStart: 4 * GiB });
});
