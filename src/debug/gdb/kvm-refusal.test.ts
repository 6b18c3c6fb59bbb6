import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kvmGdbRefusal } from './kvm-refusal.js';
import type { KvmCapName } from '../../sys/kvm-abi.js';

test('--gdb on kvm is refused with the host\'s reason', () => {
  const host = (caps: Partial<Record<KvmCapName, number>>) => ({ checkExtension: (c: KvmCapName) => caps[c] ?? 0 });
  assert.match(kvmGdbRefusal(host({})), /this host's KVM does not allow guest debugging \(KVM_CAP_SET_GUEST_DEBUG is 0\); use --accel emu$/);
  assert.match(kvmGdbRefusal(host({ SET_GUEST_DEBUG: 1, SET_GUEST_DEBUG2: 0xf0003 })), /allows KVM_SET_GUEST_DEBUG \(enable, singlestep, use_sw_bp, use_hw_bp, inject_db, inject_bp\), but tsvmm's gdb stub drives only the emulator so far/);
  assert.match(kvmGdbRefusal(host({ SET_GUEST_DEBUG: 1 })), /\(control bits not reported\)/);
  assert.match(kvmGdbRefusal({}), /no guest-debug interface/);
});
