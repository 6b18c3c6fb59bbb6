import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultRunConfig } from './controller.js';
import { hostManifest } from './vm-manifest.js';
import { cannotGive, diffManifests } from '../features/manifest-compare.js';
import type { FeatureManifest } from '../features/manifest.js';

const SPEC_CTRL = 1 << 26;

/** The emulator's manifest as a tsvmm without the speculation controls gave it: no IBRS/IBPB, leaf 7 without subleaves, no MSR 0x48. */
function withoutSpecCtrl(m: FeatureManifest): FeatureManifest {
  const cpuid = m.cpuid
    .filter((v) => !(v.leaf === 7 && v.subleaf > 0))
    .map((v) => (v.leaf === 7 && v.subleaf === 0 ? { ...v, eax: 0, edx: (v.edx & ~SPEC_CTRL) >>> 0 } : v));
  return { ...m, cpuid, msrs: m.msrs.filter((x) => x !== 0x48) };
}

test('the emulator\'s manifest has IBRS/IBPB, BHI_CTRL and IA32_SPEC_CTRL; a destination without them is refused by name, as for ARCH_CAPABILITIES', async () => {
  const emu = await hostManifest({ ...defaultRunConfig(), accel: 'emu', memBytes: 16 << 20, pmu: 'off' });
  const l7 = emu.cpuid.find((v) => v.leaf === 7 && v.subleaf === 0)!;
  assert.equal(l7.edx & SPEC_CTRL, SPEC_CTRL, 'spec_ctrl');
  assert.equal(l7.edx & (1 << 29), 1 << 29, 'arch_capabilities');
  assert.equal(l7.eax, 2, 'leaf 7 subleaves up to 2');
  assert.equal(emu.cpuid.find((v) => v.leaf === 7 && v.subleaf === 2)?.edx, 1 << 4, 'bhi_ctrl');
  assert.ok(emu.msrs.includes(0x48) && emu.msrs.includes(0x10a), 'SPEC_CTRL and ARCH_CAPABILITIES are readable MSRs');
  assert.ok(!emu.msrs.includes(0x49), 'PRED_CMD is write-only, so not among the readable MSRs (CPUID spec_ctrl promises it)');
  const older = withoutSpecCtrl(emu);
  const names = diffManifests(emu, older).map((d) => d.name);
  for (const n of ['cpuid.spec_ctrl', 'cpuid.bhi_ctrl', 'cpuid.leaf 7 max subleaf', 'msr 0x48']) assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
  const missing = cannotGive(emu, older);
  for (const n of ['spec_ctrl', 'bhi_ctrl', 'msrs 0x48']) assert.ok(missing.includes(n), `${n} in ${missing.join(', ')}`);
  assert.deepEqual(cannotGive(older, emu), [], 'the other way round nothing is missing');
});
