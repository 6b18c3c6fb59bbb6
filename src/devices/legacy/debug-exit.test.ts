import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../cpu/bus.js';
import type { VmStop } from '../../cpu/vm.js';
import { DEBUG_EXIT_PORT, DebugExit } from './debug-exit.js';

function setup(len: number) {
  const stops: VmStop[] = [];
  const bus = new Bus('pio');
  bus.register(DEBUG_EXIT_PORT, len, new DebugExit({ requestStop: (s) => stops.push(s) }), 'debug-exit');
  return { bus, stops };
}

test('a byte write of v requests a debug-exit stop with value v', () => {
  const { bus, stops } = setup(1);
  bus.writeValue(0xf4, 1, 0x10);
  assert.deepEqual(stops, [{ kind: 'debug-exit', value: 0x10 }]);
});

test('2- and 4-byte writes carry the whole little-endian value', () => {
  const { bus, stops } = setup(4);
  bus.writeValue(0xf4, 2, 0x1234);
  bus.writeValue(0xf4, 4, 0xdeadbeef);
  assert.deepEqual(stops, [
    { kind: 'debug-exit', value: 0x1234 },
    { kind: 'debug-exit', value: 0xdeadbeef },
  ]);
});

test('reads return all-ones and do not stop the VM', () => {
  const { bus, stops } = setup(1);
  assert.equal(bus.readValue(0xf4, 1), 0xff);
  assert.equal(stops.length, 0);
});
