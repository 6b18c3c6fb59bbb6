import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuidLeaf0a } from './cpuid-leaf-0a.js';
import { resolvePmuConfig } from './pmu-config.js';

test('CPUID.0AH: version 0 is all zero', () => {
  assert.deepEqual(cpuidLeaf0a(resolvePmuConfig({ version: 0 })), { eax: 0, ebx: 0, ecx: 0, edx: 0 });
});

test('CPUID.0AH: version 1 has EAX/EBX only (EDX is defined from version 2)', () => {
  // EAX: version 1, 2 counters, 40 bits, EBX length 7.
  assert.deepEqual(cpuidLeaf0a(resolvePmuConfig({ version: 1, gpCounters: 2, counterWidth: 40 })), { eax: 0x07280201, ebx: 0x58, ecx: 0, edx: 0 });
});

test('CPUID.0AH: versions 2-4 add EDX fixed counters and width', () => {
  assert.deepEqual(cpuidLeaf0a(resolvePmuConfig({ version: 2, gpCounters: 4 })), { eax: 0x07300402, ebx: 0x58, ecx: 0, edx: 0x603 });
  assert.deepEqual(cpuidLeaf0a(resolvePmuConfig({ version: 3, eventsUnavailable: 0x20 })), { eax: 0x07300803, ebx: 0x78, ecx: 0, edx: 0x603 });
  assert.deepEqual(cpuidLeaf0a(resolvePmuConfig({ version: 4 })), { eax: 0x07300804, ebx: 0x58, ecx: 0, edx: 0x603 });
  assert.deepEqual(cpuidLeaf0a(resolvePmuConfig({ version: 4, fixedCounters: 1, counterWidth: 40 })).edx, 0x501);
});

test('CPUID.0AH: version 5 enumerates the fixed-counter bitmask in ECX and AnyThread deprecation in EDX[15]', () => {
  assert.deepEqual(cpuidLeaf0a(resolvePmuConfig({ version: 5 })), { eax: 0x07300805, ebx: 0x58, ecx: 0x7, edx: 0x8603 });
  assert.deepEqual(cpuidLeaf0a(resolvePmuConfig({ version: 5, fixedCounters: 2, anyThreadDeprecated: false })), { eax: 0x07300805, ebx: 0x58, ecx: 0x3, edx: 0x602 });
});

test('decodeCpuidLeaf0a inverts cpuidLeaf0a and reads host leaves', async () => {
  const { decodeCpuidLeaf0a } = await import('./cpuid-leaf-0a.js');
  for (const version of [1, 2, 3, 4, 5] as const) {
    const c = resolvePmuConfig({ version, gpCounters: 6, counterWidth: 44 });
    const d = decodeCpuidLeaf0a(cpuidLeaf0a(c));
    assert.deepEqual(
      [d.version, d.gpCounters, d.gpWidth, d.fixedCounters, d.fixedWidth, d.eventsUnavailable, d.anyThreadDeprecated],
      [version, 6, 44, c.fixedCounters, version >= 2 ? 44 : 0, 0x58, version >= 5],
    );
  }
  // A Sapphire-Rapids-like host leaf: v5, 8 x 48-bit GP, EBX length 8 (0 unavailable), 4 fixed via ECX 0xF.
  const host = decodeCpuidLeaf0a({ eax: 0x08300805, ebx: 0, ecx: 0xf, edx: 0x8603 });
  assert.deepEqual([host.version, host.gpCounters, host.ebxLength, host.fixedCounters, host.fixedWidth, host.anyThreadDeprecated], [5, 8, 8, 4, 48, true]);
  // A short EBX vector: events beyond the length are unavailable.
  assert.equal(decodeCpuidLeaf0a({ eax: 0x05300402, ebx: 0, ecx: 0, edx: 0 }).eventsUnavailable, 0x60);
  assert.equal(decodeCpuidLeaf0a({ eax: 0, ebx: 0, ecx: 0, edx: 0 }).version, 0);
});
