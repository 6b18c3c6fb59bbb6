import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmuCpu } from './cpu.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { Bus } from '../bus.js';
import { readMsr, writeMsr } from './msr.js';

function cpu(): EmuCpu {
  const memory = new GuestMemory([{ name: 'ram', gpa: 0, size: 0x10000, bytes: new Uint8Array(0x10000) }]);
  return new EmuCpu({ memory, pio: new Bus('pio'), mmio: new Bus('mmio') });
}

test('IA32_BIOS_SIGN_ID (0x8B) takes the 0 write software does before CPUID(1) and reads revision 0', () => {
  const c = cpu();
  assert.equal(writeMsr(c, 0x8b, 0, 0), true);
  assert.equal(readMsr(c, 0x8b), true);
  assert.deepEqual({ ...c.msrOut }, { lo: 0, hi: 0 });
});

test('IA32_PLATFORM_ID (0x17) reads platform 0 and is read-only (#GP on write)', () => {
  const c = cpu();
  c.msrOut.lo = c.msrOut.hi = 1;
  assert.equal(readMsr(c, 0x17), true);
  assert.deepEqual({ ...c.msrOut }, { lo: 0, hi: 0 });
  assert.equal(writeMsr(c, 0x17, 0, 0), false);
});
