import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEmuVm, type EmuVm } from './emu-vm.js';
import { hex, setupFlat32 } from './cpu-harness.test-util.js';
import type { HostScheduler } from './host-scheduler.js';
import type { VmStop } from '../vm.js';

const COUNT = 0x5000;
const GSI = 10;

/**
 * A scheduler whose idle sleep never ends by itself: a halted guest then runs on only when a device's
 * interrupt ends the sleep, as serial input must on a console (waiting out each sleep cost a Linux shell
 * milliseconds per typed character).
 */
function endlessSleep(): HostScheduler {
  return { name: 'endless sleep', yield: () => new Promise((resolve) => setImmediate(resolve)), sleep: () => new Promise<void>(() => undefined) };
}

/**
 * A flat 32-bit guest that masks the 8259s, enables its local APIC, routes GSI 10 to vector 0x41 in the I/O APIC and halts with
 * interrupts on until two interrupts (vector 0x40 by MSI, 0x41 by the line) have each counted once; then it halts
 * with interrupts off, which the run loop ends as a hang.
 */
function guest(): EmuVm {
  const vm = createEmuVm({ cpus: 1, memBytes: 4 << 20, deterministic: true, scheduler: endlessSleep() });
  const m = vm.memory;
  setupFlat32(vm.cpus[0]!, m, 0x1000, [
    [0x40, 0x2000],
    [0x41, 0x2100],
  ]);
  const sel = (0x10 + 2 * GSI).toString(16).padStart(2, '0');
  const selHi = (0x11 + 2 * GSI).toString(16).padStart(2, '0');
  m.write(
    0x1000,
    hex(
      'b0 ff  e6 21  e6 a1' + // mask both 8259s (the line would reach the BSP through them as well)
        ' c7 05 f000e0fe ff010000' + // APIC SVR: enabled
        ` c7 05 0000c0fe ${sel}000000  c7 05 1000c0fe 41000000` + // I/O APIC entry low: vector 0x41, edge, unmasked
        ` c7 05 0000c0fe ${selHi}000000  c7 05 1000c0fe 00000000` + // entry high: APIC 0
        ' fb' + // sti
        ' f4  83 3d 00500000 02  75 f6' + // wait: hlt | cmp dword [COUNT], 2 | jne wait
        ' fa f4', // cli | hlt
    ),
  );
  // Both handlers: inc dword [COUNT] | EOI | iret.
  const handler = hex('ff 05 00500000  c7 05 b000e0fe 00000000  cf');
  m.write(0x2000, handler);
  m.write(0x2100, handler);
  return vm;
}

const later = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('a halted guest wakes as soon as a device raises an interrupt from the host side (MSI, then an I/O APIC line), not when the idle sleep ends', async () => {
  const vm = guest();
  const run = vm.run();
  await later(50);
  assert.equal(vm.memory.readU32(COUNT), 0, 'the guest waits, halted');
  vm.signalMsi(0xfee00000, 0x40);
  await later(50);
  assert.equal(vm.memory.readU32(COUNT), 1, 'the MSI ended the sleep and its handler ran');
  const line = vm.irqLine(GSI);
  line.set(true);
  line.set(false);
  const stop = await Promise.race([run, later(5000).then((): VmStop | 'asleep' => 'asleep')]);
  assert.notEqual(stop, 'asleep', 'the I/O APIC interrupt did not end the idle sleep');
  assert.equal((stop as VmStop).kind, 'hang');
  assert.equal(vm.memory.readU32(COUNT), 2);
});

test('stopping a VM whose vCPUs are all halted ends its idle sleep at once', async () => {
  const vm = guest();
  const run = vm.run();
  await later(50);
  vm.requestStop({ kind: 'quit', reason: 'test', by: 'library' });
  const stop = await Promise.race([run, later(5000).then((): VmStop | 'asleep' => 'asleep')]);
  assert.notEqual(stop, 'asleep', 'the stop did not end the idle sleep');
});
