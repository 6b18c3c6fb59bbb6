import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pmuMsrIndices } from './pmu-msr-list.js';
import { resolvePmuConfig } from './pmu-config.js';
import { VirtualPmu } from './virtual-pmu.js';

test('pmuMsrIndices lists exactly the MSRs VirtualPmu reads without #GP', () => {
  for (const cfg of [{ version: 0 }, { version: 1, gpCounters: 2 }, { version: 2 }, { version: 3, fullWidthWrites: false }, { version: 4 }, { version: 5, gpCounters: 4, fixedCounters: 2 }] as const) {
    const c = resolvePmuConfig(cfg);
    const pmu = new VirtualPmu(c);
    const out = { lo: 0, hi: 0 };
    const readable: number[] = [];
    for (let i = 0; i < 0x1000; i++) if (pmu.isPmuMsr(i) && pmu.readMsr(i, out)) readable.push(i);
    assert.deepEqual(pmuMsrIndices(c), readable, JSON.stringify(cfg));
  }
});

test('pmuMsrIndices(state) is the save set', () => {
  assert.deepEqual(
    pmuMsrIndices(resolvePmuConfig({ version: 2, gpCounters: 2, fixedCounters: 1 }), true),
    [0xc1, 0xc2, 0x186, 0x187, 0x309, 0x38d, 0x38e, 0x38f],
  );
  assert.deepEqual(pmuMsrIndices(resolvePmuConfig({ version: 1, gpCounters: 1 }), true), [0xc1, 0x186]);
});
