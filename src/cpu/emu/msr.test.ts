import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmuCpu } from './cpu.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { Bus } from '../bus.js';
import { readMsr, writeMsr } from './msr.js';
import { emuCpuid } from '../../features/emu-cpu-model.js';

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

test('IA32_ARCH_CAPABILITIES is advertised, reads the not-affected bits and is read-only', () => {
  const c = cpu();
  emuCpuid(7, 0, 0, 1, c.cpuidOut);
  assert.notEqual(c.cpuidOut[3]! & (1 << 29), 0, 'CPUID.7.0:EDX.ARCH_CAPABILITIES');
  assert.ok(readMsr(c, 0x10a));
  assert.equal(c.msrOut.lo & 1, 1, 'RDCL_NO: Linux leaves page-table isolation off');
  assert.equal(c.msrOut.lo & (1 << 5), 1 << 5, 'MDS_NO');
  assert.equal(c.msrOut.lo & 2, 0, 'IBRS_ALL is not claimed (no IA32_SPEC_CTRL)');
  assert.equal(writeMsr(c, 0x10a, 0, 0), false, 'a write is #GP');
});
