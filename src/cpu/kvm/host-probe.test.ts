import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { probeKvmHost } from './host-probe.js';
import { kvmEnablePmu, kvmMissing } from './host-requirements.test-util.js';

test('a missing device is reported, not thrown', () => {
  const info = probeKvmHost('/nonexistent/kvm');
  assert.equal(info.present, false);
  assert.equal(info.permitted, false);
  assert.match(info.error ?? '', /does not exist/);
  assert.equal(info.pmu.kind, 'none', 'no KVM, no guest PMU');
  assert.equal(info.pmu.reason, 'KVM is unavailable');
});

const skip = kvmMissing();

test('probing /dev/kvm: API 12, the capabilities tsvmm needs, PMU and pvm from sysfs', { skip }, () => {
  const info = probeKvmHost();
  assert.equal(info.present, true);
  assert.equal(info.permitted, true, info.error);
  assert.equal(info.apiVersion, 12);
  assert.equal(info.capabilities.IRQCHIP, 1);
  assert.ok((info.maxVcpus ?? 0) >= 1);
  assert.equal(info.pvm, existsSync('/sys/module/kvm_pvm'));
  assert.ok(info.cpuFeatures.some((f) => f.name === 'lm' && f.exposed), 'a 64-bit host offers long mode');
  const enable = kvmEnablePmu();
  if (enable === false) {
    assert.equal(info.pmu.kind, 'none');
    assert.equal(info.pmu.reason, 'host kvm.enable_pmu=N');
  } else if (enable === true) {
    assert.notEqual(info.pmu.kind, 'none');
  } else {
    assert.equal(info.pmu.kind, 'none');
    assert.match(info.pmu.reason ?? '', /enable_pmu/);
  }
});
