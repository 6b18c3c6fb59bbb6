import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../cpu/bus.js';
import type { VmStop } from '../../cpu/vm.js';
import { ACPI_PM1A_CNT_PORT, BOCHS_POWEROFF_PORT, PowerOffPort } from './power-off.js';

function setup() {
  const stops: VmStop[] = [];
  const vm = { requestStop: (s: VmStop) => stops.push(s) };
  const bus = new Bus('pio');
  const pm = new PowerOffPort(vm);
  bus.register(ACPI_PM1A_CNT_PORT, 2, pm, 'pm1a_cnt');
  bus.register(BOCHS_POWEROFF_PORT, 2, new PowerOffPort(vm), 'bochs poweroff');
  return { bus, stops, pm };
}

test('outw(0x604, 0x2000) powers off as under QEMU (SLP_EN, SLP_TYP = S5 = 0)', () => {
  const { bus, stops } = setup();
  bus.writeValue(0x604, 2, 0x2000);
  assert.deepEqual(stops, [{ kind: 'poweroff' }]);
});

test('Bochs port 0xB004 with 0x2000 powers off too', () => {
  const { bus, stops } = setup();
  bus.writeValue(0xb004, 2, 0x2000);
  assert.deepEqual(stops, [{ kind: 'poweroff' }]);
});

test('writes without SLP_EN, and S3 (SLP_TYP 1), do not stop the VM; SLP_EN reads 0', () => {
  const { bus, stops, pm } = setup();
  bus.writeValue(0x604, 2, 0x0001);
  assert.equal(bus.readValue(0x604, 2), 0x0001);
  bus.writeValue(0x604, 2, 0x2000 | (1 << 10));
  assert.equal(stops.length, 0);
  assert.equal(pm.ignoredSleeps, 1);
  assert.equal(bus.readValue(0x604, 2), 1 << 10);
});

test('byte writes assemble the register: SLP_EN in the high byte triggers', () => {
  const { bus, stops } = setup();
  bus.writeValue(0x604, 1, 0x00);
  assert.equal(stops.length, 0);
  bus.writeValue(0x605, 1, 0x20);
  assert.deepEqual(stops, [{ kind: 'poweroff' }]);
});
