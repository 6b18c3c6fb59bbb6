import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kvmGdbCheck } from './kvm-refusal.js';
import type { KvmCapName } from '../../sys/kvm-abi.js';
import type { GuestDebugProbe } from '../../cpu/kvm/guest-debug-probe.js';

test("--gdb on kvm: refused with the host's reason, or the probe's facilities", () => {
  const host = (caps: Partial<Record<KvmCapName, number>>) => ({ checkExtension: (c: KvmCapName) => caps[c] ?? 0 });
  let probed = 0;
  const probe = (p: GuestDebugProbe) => () => (probed++, p);
  const bad = kvmGdbCheck(host({}), probe({ ok: true, support: undefined as never }));
  assert.deepEqual(bad, { ok: false, reason: "--gdb on kvm: this host's KVM does not allow guest debugging (KVM_CAP_SET_GUEST_DEBUG is 0); use --accel emu" });
  assert.equal(probed, 0, 'no probe guest without the capability');
  const refused = kvmGdbCheck(host({ SET_GUEST_DEBUG: 1 }), probe({ ok: false, reason: 'a probe guest shows it does not work here (single-step: ran on to the OUT)' }));
  assert.deepEqual(refused, { ok: false, reason: '--gdb on kvm: a probe guest shows it does not work here (single-step: ran on to the OUT); use --accel emu' });
  const support = { singleStep: true, hwBreak: true, hwWatch: false, swBreak: false, blockIrq: true, notes: [] };
  assert.deepEqual(kvmGdbCheck(host({ SET_GUEST_DEBUG: 1 }), probe({ ok: true, support })), { ok: true, support });
  assert.match((kvmGdbCheck({}) as { reason: string }).reason, /no guest-debug interface/);
});
