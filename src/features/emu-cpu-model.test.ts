import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EMU_MAX_BASIC_LEAF, emuCpuid } from './emu-cpu-model.js';

const cpuid = (leaf: number, tscHz?: number) => {
  const o = new Int32Array(4);
  emuCpuid(leaf, 0, 0, 1, o, tscHz);
  return [...o].map((x) => x >>> 0);
};

test('leaf 0x15 gives the TSC as crystal * EBX / EAX, the crystal being the APIC timer clock', () => {
  assert.ok(EMU_MAX_BASIC_LEAF >= 0x16);
  assert.equal(cpuid(0)[0], EMU_MAX_BASIC_LEAF);
  for (const hz of [1e9, 2.5e9, 3_000_000_000, 1_234_567_000]) {
    const [den, num, crystal] = cpuid(0x15, hz);
    assert.equal(crystal, 1e9);
    assert.ok(den! > 0 && num! > 0);
    assert.equal((crystal! * num!) / den!, hz);
  }
  assert.deepEqual(cpuid(0x15), [1, 1, 1e9, 0], 'the default 1 GHz TSC runs at the crystal rate');
});

test('leaf 0x16 gives base and maximum MHz and the bus clock', () => {
  assert.deepEqual(cpuid(0x16), [1000, 1000, 1000, 0]);
  assert.deepEqual(cpuid(0x16, 2.5e9), [2500, 2500, 1000, 0]);
});
