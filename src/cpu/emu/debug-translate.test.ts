import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCpu } from './cpu-harness.test-util.js';
import { peekTranslate } from './debug-translate.js';

test('peekTranslate walks the upper half of the address space exactly (a kernel at 0xffffffff8xxxxxxx)', () => {
  const t = makeCpu();
  const ram = t.mem.regions[0]!.bytes;
  const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  const put = (pa: number, v: number): void => dv.setUint32(pa, v, true);
  // PML4 at 0x1000: entry 511 -> PDPT 0x2000; entry 510 -> PD 0x3000; PD entry 1 -> PT 0x4000 (4 KiB pages),
  // PD entry 2 a 2 MiB page at 0x200000. So 0xffffffff80201000 -> 0x5000, 0xffffffff80400000 + x -> 0x200000 + x.
  put(0x1000 + 511 * 8, 0x2003);
  put(0x2000 + 510 * 8, 0x3003);
  put(0x3000 + 1 * 8, 0x4003);
  put(0x3000 + 2 * 8, 0x200083);
  put(0x4000 + 1 * 8, 0x5003);
  t.cpu.setLong64(0x1000);
  const hi = (low32: number): number => low32 - 2 ** 32; // emu's signed canonical form of 0xffffffff_xxxxxxxx
  assert.equal(peekTranslate(t.cpu, hi(0x80201abc)), 0x5abc);
  assert.equal(peekTranslate(t.cpu, hi(0x80400000 + 0x12345)), 0x212345);
  assert.equal(peekTranslate(t.cpu, hi(0x80200abc)), -1, 'PT entry 0 not present');
  assert.equal(peekTranslate(t.cpu, 0x1234), -1, 'PML4 entry 0 not present');
});
