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
