import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CpuidEntry } from '../../sys/kvm-structs.js';
import { cpuFeatureStates, guestCpuid } from './cpu-model.js';

const bit = (n: number): number => (1 << n) >>> 0;
// A synthetic KVM_GET_SUPPORTED_CPUID table with known bits (SDM Vol. 2A CPUID bit positions).
const SUPPORTED: CpuidEntry[] = [
  { function: 0, index: 0, flags: 0, eax: 0xd, ebx: 0x756e6547, ecx: 0x6c65746e, edx: 0x49656e69 },
  // ECX: sse3(0) cx16(13) sse4_2(20) x2apic(21) xsave(26) avx(28) hypervisor(31); EDX: fpu(0) tsc(4) apic(9) sse2(26)
  { function: 1, index: 0, flags: 0, eax: 0x906ea, ebx: 0xff_01_0800, ecx: (bit(0) | bit(13) | bit(20) | bit(21) | bit(26) | bit(28) | bit(31)) >>> 0, edx: bit(0) | bit(4) | bit(9) | bit(26) },
  // EBX: avx2(5) erms(9)
  { function: 7, index: 0, flags: 1, eax: 0, ebx: bit(5) | bit(9), ecx: 0, edx: 0 },
  { function: 0xa, index: 0, flags: 0, eax: 0x07300805, ebx: 0, ecx: 0, edx: 0x603 },
  { function: 0xb, index: 0, flags: 1, eax: 0, ebx: 1, ecx: 0x100, edx: 7 },
  { function: 0xd, index: 0, flags: 1, eax: 7, ebx: 0x340, ecx: 0x340, edx: 0 },
  // ECX: lahf_lm(0); EDX: syscall(11) nx(20) lm(29)
  { function: 0x8000_0001, index: 0, flags: 0, eax: 0, ebx: 0, ecx: bit(0), edx: bit(11) | bit(20) | bit(29) },
];
const leaf = (t: CpuidEntry[], f: number): CpuidEntry => t.find((e) => e.function === f)!;

test('host model on a normal host keeps KVM bits and fills in the APIC id and CPU count', () => {
  const t = guestCpuid(SUPPORTED, { model: 'host', pvm: false, pmu: true }, 3, 4);
  const l1 = leaf(t, 1);
  assert.equal(l1.ebx >>> 24, 3, 'CPUID.1:EBX[31:24] is the initial APIC id');
  assert.equal((l1.ebx >>> 16) & 0xff, 4, 'logical processor count');
  assert.ok(l1.edx & bit(28), 'HTT set with more than one CPU');
  assert.ok(l1.ecx & bit(13), 'cx16 kept');
  assert.ok(l1.ecx & bit(28), 'avx kept');
  assert.equal(leaf(t, 0xb).edx, 3, 'CPUID.0BH:EDX is the x2APIC id');
  assert.equal(leaf(t, 0xa).eax, 0x07300805, 'PMU leaf kept when the guest has a PMU');
  assert.equal(leaf(SUPPORTED, 1).ebx >>> 24, 0xff, 'the input table is not modified');
});

test('pvm hosts lose cmpxchg16b and the XSAVE family; no PMU zeroes leaf 0xA', () => {
  const t = guestCpuid(SUPPORTED, { model: 'host', pvm: true, pmu: false }, 0, 1);
  const l1 = leaf(t, 1);
  assert.equal(l1.ecx & bit(13), 0, 'cx16 hidden');
  assert.equal(l1.ecx & bit(26), 0, 'xsave hidden');
  assert.equal(l1.ecx & bit(28), 0, 'avx hidden');
  assert.ok(l1.ecx & bit(20), 'sse4_2 kept');
  assert.equal(leaf(t, 7).ebx & bit(5), 0, 'avx2 hidden');
  assert.ok(leaf(t, 7).ebx & bit(9), 'erms kept');
  assert.deepEqual([leaf(t, 0xa).eax, leaf(t, 0xa).edx], [0, 0]);
  assert.equal(leaf(t, 0xd).eax, 0);
  assert.equal(l1.edx & bit(28), 0, 'no HTT with one CPU');
});

test("baseline model keeps only x86-64-v2 and system bits", () => {
  const t = guestCpuid(SUPPORTED, { model: 'baseline', pvm: false, pmu: true }, 0, 1);
  assert.equal(leaf(t, 7).ebx, 0, 'avx2 and erms are not baseline');
  assert.equal(leaf(t, 1).ecx & bit(28), 0, 'avx is not baseline');
  assert.ok(leaf(t, 1).ecx & bit(13), 'cx16 is baseline');
  assert.equal(leaf(t, 0x8000_0001).edx, bit(11) | bit(20) | bit(29));
});

test('feature states say why a feature is missing', () => {
  const states = new Map(cpuFeatureStates(SUPPORTED, { model: 'host', pvm: true, pmu: false }).map((s) => [s.name, s]));
  assert.deepEqual(states.get('sse4_2'), { name: 'sse4_2', exposed: true });
  assert.equal(states.get('cx16')?.exposed, false);
  assert.match(states.get('cx16')?.reason ?? '', /cmpxchg16b/);
  assert.match(states.get('aes')?.reason ?? '', /not supported/);
  assert.equal(states.get('lm')?.exposed, true);
});
