import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmuCpu } from './cpu.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { Bus } from '../bus.js';
import { readMsr, tscNow, writeMsr } from './msr.js';
import { emuCpuid } from '../../features/emu-cpu-model.js';
import { createEmuVm } from './emu-vm.js';

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

test('IA32_TSC_DEADLINE is a value of the vCPU\'s TSC: after an IA32_TSC write it fires when that TSC reaches it, and a later IA32_TSC write moves it', () => {
  // Deterministic: the clock stands at 0 until an instruction runs; the TSC runs at 1 GHz (one tick per ns).
  const vm = createEmuVm({ cpus: 1, memBytes: 1 << 20, deterministic: true });
  const c = vm.cpus[0]!;
  const apic = c.apic!;
  apic.mmioWrite(0xf0, 4, 0x1ff); // SVR: enabled
  apic.mmioWrite(0x320, 4, (2 << 17) | 0x40); // LVT timer: TSC-deadline mode, vector 0x40
  const split = (v: number): [number, number] => [v % 2 ** 32, Math.floor(v / 2 ** 32)];
  assert.ok(writeMsr(c, 0x10, ...split(5e9))); // IA32_TSC
  assert.equal(tscNow(c), 5e9);
  assert.ok(writeMsr(c, 0x6e0, ...split(5e9 + 1000)));
  assert.equal(apic.nextDeadlineNs(), 1000, '1000 TSC ticks from now, not when the clock reaches 5e9 + 1000 ticks');
  assert.ok(readMsr(c, 0x6e0));
  assert.equal(c.msrOut.hi * 2 ** 32 + (c.msrOut.lo >>> 0), 5e9 + 1000, 'reads back as written');
  assert.ok(writeMsr(c, 0x10, ...split(5e9 + 400)));
  assert.equal(apic.nextDeadlineNs(), 600, 'the TSC moved 400 ticks closer to the deadline');
  assert.ok(writeMsr(c, 0x10, ...split(6e9)));
  assert.ok(apic.nextDeadlineNs() <= 0, 'past it: due at once');
});
