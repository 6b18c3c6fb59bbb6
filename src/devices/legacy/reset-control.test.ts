import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../cpu/bus.js';
import type { VmStop } from '../../cpu/vm.js';
import { RESET_CONTROL_PORT, ResetControl } from './reset-control.js';

function setup() {
  const stops: VmStop[] = [];
  const bus = new Bus('pio');
  bus.register(RESET_CONTROL_PORT, 1, new ResetControl({ requestStop: (s) => stops.push(s) }), 'reset-control');
  return { bus, stops };
}

test('0x02 alone does not reset; 0x06 then resets (Linux reboot=pci sequence)', () => {
  const { bus, stops } = setup();
  bus.writeValue(0xcf9, 1, 0x02);
  assert.equal(stops.length, 0);
  assert.equal(bus.readValue(0xcf9, 1), 0x02);
  bus.writeValue(0xcf9, 1, 0x06);
  assert.deepEqual(stops, [{ kind: 'reset', source: 'cf9' }]);
});

test('0x0E (full reset) resets; RST_CPU never reads back as 1', () => {
  const { bus, stops } = setup();
  bus.writeValue(0xcf9, 1, 0x0e);
  assert.equal(stops.length, 1);
  assert.equal(bus.readValue(0xcf9, 1), 0x0a);
});

test('saveState/restoreState keeps SYS_RST/FULL_RST', () => {
  const a = setup();
  a.bus.writeValue(0xcf9, 1, 0x0a);
  const dev = new ResetControl({ requestStop: () => undefined });
  dev.restoreState({ value: 0x0a });
  const out = new Uint8Array(1);
  dev.read(0, out);
  assert.equal(out[0], 0x0a);
  assert.equal(a.bus.readValue(0xcf9, 1), 0x0a);
});
