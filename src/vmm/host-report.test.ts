import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KvmHostInfo } from '../cpu/kvm/host-probe.js';
import { describeKvmHost } from './host-report.js';

const perfPmu = { enablePmu: true, capability: 1, mediated: false, kind: 'perf' } as const;

test('without a usable /dev/kvm every KVM line says unavailable, the PMU included, whatever the module parameters say', () => {
  for (const p of [
    { present: false, permitted: false, error: '/dev/kvm does not exist (KVM is not available: ...)' },
    { present: true, permitted: false, error: 'Cannot open /dev/kvm: permission denied (run as root or add yourself to the kvm group)' },
    { present: true, permitted: true, error: 'KVM API version 11 is not the supported version 12' },
  ]) {
    const info: KvmHostInfo = { device: '/dev/kvm', ...p, capabilities: {}, modules: ['kvm_pvm'], pvm: true, apicv: false, pmu: perfPmu, cpuFeatures: [] };
    const facts = describeKvmHost(info);
    assert.deepEqual(facts.map((f) => f.name), ['KVM', 'KVM guest PMU']);
    for (const f of facts) assert.match(f.value, /^unavailable: /, `${f.name}: ${f.value}`);
    assert.doesNotMatch(facts.map((f) => f.value).join('\n'), /perf events|paravirtual|capabilities/);
  }
});

test('with a usable KVM the PMU line says how the guest PMU is provided', () => {
  const info: KvmHostInfo = {
    device: '/dev/kvm', present: true, permitted: true, apiVersion: 12, capabilities: { IRQCHIP: 1 }, maxVcpus: 8, recommendedVcpus: 4,
    modules: ['kvm_amd'], pvm: false, apicv: true, pmu: perfPmu, cpuFeatures: [],
  };
  const facts = new Map(describeKvmHost(info).map((f) => [f.name, f.value]));
  assert.match(facts.get('KVM') ?? '', /hardware-backed \(kvm_amd\)/);
  assert.equal(facts.get('KVM guest PMU'), 'emulated through host perf events');
  const none = new Map(describeKvmHost({ ...info, pmu: { enablePmu: false, capability: 0, mediated: false, kind: 'none', reason: 'host kvm.enable_pmu=N' } }).map((f) => [f.name, f.value]));
  assert.equal(none.get('KVM guest PMU'), 'unavailable: host kvm.enable_pmu=N');
});
