import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { probeKvmHost } from './host-probe.js';

test('a missing device is reported, not thrown', () => {
  const info = probeKvmHost('/nonexistent/kvm');
  assert.equal(info.present, false);
  assert.equal(info.permitted, false);
  assert.match(info.error ?? '', /does not exist/);
});

const skip = existsSync('/dev/kvm') ? false : 'no /dev/kvm on this host';

test('probing /dev/kvm: API 12, the capabilities tsvmm needs, PMU and pvm from sysfs', { skip }, () => {
  const info = probeKvmHost();
  assert.equal(info.present, true);
  assert.equal(info.permitted, true, info.error);
  assert.equal(info.apiVersion, 12);
  assert.equal(info.capabilities.IRQCHIP, 1);
  assert.ok((info.maxVcpus ?? 0) >= 1);
  assert.equal(info.pvm, existsSync('/sys/module/kvm_pvm'));
  assert.ok(info.cpuFeatures.some((f) => f.name === 'lm' && f.exposed), 'a 64-bit host offers long mode');
  const enable = readFileSync('/sys/module/kvm/parameters/enable_pmu', 'utf8').trim();
  if (enable === 'N') {
    assert.equal(info.pmu.kind, 'none');
    assert.equal(info.pmu.reason, 'host kvm.enable_pmu=N');
  } else {
    assert.notEqual(info.pmu.kind, 'none');
  }
});
