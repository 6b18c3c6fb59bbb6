import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmuCpu } from './cpu.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { Bus } from '../bus.js';
import { emuHoldsMsr, readMsr, tscNow, writeMsr } from './msr.js';
import { emuCpuid, emuFeatureList } from '../../features/emu-cpu-model.js';
import { createEmuVm } from './emu-vm.js';
import { describeRegister, MSR, msrReg } from '../registers.js';
import { restoreVcpu, saveVcpu } from './vcpu-state.js';

function cpu(): EmuCpu {
  const memory = new GuestMemory([{ name: 'ram', gpa: 0, size: 0x10000, bytes: new Uint8Array(0x10000) }]);
  return new EmuCpu({ memory, pio: new Bus('pio'), mmio: new Bus('mmio') });
}

test('IA32_BIOS_SIGN_ID (0x8B) takes the 0 write software does before CPUID(1) and reads revision 0', () => {
  const c = cpu();
  assert.equal(writeMsr(c, 0x8b, 0, 0), true);
  assert.equal(readMsr(c, 0x8b), true);
  assert.deepEqual({ ...c.msrOut }, { lo: 0, hi: 0 });
});

test('IA32_PLATFORM_ID (0x17) reads platform 0 and is read-only (#GP on write)', () => {
  const c = cpu();
  c.msrOut.lo = c.msrOut.hi = 1;
  assert.equal(readMsr(c, 0x17), true);
  assert.deepEqual({ ...c.msrOut }, { lo: 0, hi: 0 });
  assert.equal(writeMsr(c, 0x17, 0, 0), false);
});

test('IA32_ARCH_CAPABILITIES is advertised, reads the not-affected bits and is read-only', () => {
  const c = cpu();
  emuCpuid(7, 0, 0, 1, c.cpuidOut);
  assert.notEqual(c.cpuidOut[3]! & (1 << 29), 0, 'CPUID.7.0:EDX.ARCH_CAPABILITIES');
  assert.ok(readMsr(c, 0x10a));
  assert.equal(c.msrOut.lo & 1, 1, 'RDCL_NO: Linux leaves page-table isolation off');
  assert.equal(c.msrOut.lo & (1 << 5), 1 << 5, 'MDS_NO');
  assert.equal(c.msrOut.lo & 2, 2, 'IBRS_ALL: enhanced IBRS, so Linux needs no retpolines');
  assert.equal(c.msrOut.lo & (1 << 20), 1 << 20, 'BHI_NO');
  assert.equal(writeMsr(c, 0x10a, 0, 0), false, 'a write is #GP');
});

test('CPUID.7.0:EDX advertises IBRS/IBPB (spec_ctrl, bit 26) but not STIBP (27) or SSBD (31); CPUID.7.2:EDX BHI_CTRL (bit 4)', () => {
  const c = cpu();
  emuCpuid(7, 0, 0, 1, c.cpuidOut);
  const edx = c.cpuidOut[3]! >>> 0;
  assert.equal(edx & (1 << 26), 1 << 26, 'spec_ctrl');
  assert.equal(edx & (1 << 27), 0, 'STIBP');
  assert.equal(edx & (1 << 31), 0, 'SSBD');
  assert.equal(c.cpuidOut[0], 2, 'leaf 7 has subleaves up to 2');
  emuCpuid(7, 1, 0, 1, c.cpuidOut);
  assert.deepEqual([...c.cpuidOut], [0, 0, 0, 0], 'subleaf 1: nothing');
  emuCpuid(7, 2, 0, 1, c.cpuidOut);
  assert.deepEqual([...c.cpuidOut], [0, 0, 0, 1 << 4], 'subleaf 2: BHI_CTRL only');
  emuCpuid(7, 3, 0, 1, c.cpuidOut);
  assert.deepEqual([...c.cpuidOut], [0, 0, 0, 0], 'above the highest subleaf: zeros');
  for (const name of ['spec_ctrl', 'bhi_ctrl']) assert.ok(emuFeatureList().some((f) => f.name === name && /predict/.test(f.detail)), `caps lists ${name} and says why it holds`);
});

test('IA32_SPEC_CTRL (0x48) keeps IBRS and BHI_DIS_S, reads them back, and #GPs on every bit the model lacks (STIBP, SSBD, the rest, the high half)', () => {
  const c = cpu();
  assert.ok(readMsr(c, 0x48));
  assert.deepEqual({ ...c.msrOut }, { lo: 0, hi: 0 }, '0 after reset');
  assert.ok(writeMsr(c, 0x48, 1, 0), 'IBRS');
  assert.ok(readMsr(c, 0x48));
  assert.deepEqual({ ...c.msrOut }, { lo: 1, hi: 0 });
  for (const [lo, hi, what] of [[2, 0, 'STIBP'], [4, 0, 'SSBD'], [3, 0, 'IBRS with STIBP'], [1 << 6, 0, 'RRSBA_DIS_S'], [1 << 31, 0, 'bit 31'], [1, 1, 'bit 32']] as const) {
    assert.equal(writeMsr(c, 0x48, lo, hi), false, `${what} is #GP`);
    assert.ok(readMsr(c, 0x48));
    assert.deepEqual({ ...c.msrOut }, { lo: 1, hi: 0 }, `a refused write (${what}) changes nothing`);
  }
  assert.ok(writeMsr(c, 0x48, 1 | (1 << 10), 0), 'IBRS and BHI_DIS_S');
  assert.ok(readMsr(c, 0x48));
  assert.deepEqual({ ...c.msrOut }, { lo: 0x401, hi: 0 });
  assert.ok(writeMsr(c, 0x48, 0, 0));
  assert.ok(readMsr(c, 0x48));
  assert.equal(c.msrOut.lo, 0);
  assert.ok(writeMsr(c, 0x48, 1, 0));
  c.reset();
  assert.equal(c.specCtrl, 0, 'RESET/INIT clears it');
});

test('IA32_PRED_CMD (0x49) is write-only: IBPB (bit 0) and 0 are taken, reserved bits and every read are #GP', () => {
  const c = cpu();
  assert.ok(writeMsr(c, 0x49, 1, 0), 'IBPB');
  assert.ok(writeMsr(c, 0x49, 0, 0), 'no command');
  assert.equal(writeMsr(c, 0x49, 0x80, 0), false, 'SBPB (bit 7, AMD) is reserved here');
  assert.equal(writeMsr(c, 0x49, 2, 0), false);
  assert.equal(writeMsr(c, 0x49, 1, 1), false, 'the high half is reserved');
  assert.equal(readMsr(c, 0x49), false, 'RDMSR is #GP');
});

test('the register catalog: IA32_SPEC_CTRL read-write, IA32_PRED_CMD write-only; a VM lists 0x48 among its readable MSRs, not 0x49', () => {
  assert.equal(describeRegister(msrReg(MSR.IA32_SPEC_CTRL)).access, 'read-write');
  assert.equal(describeRegister(msrReg(MSR.IA32_PRED_CMD)).access, 'write-only');
  const vm = createEmuVm({ cpus: 1, memBytes: 1 << 20, deterministic: true });
  const v = vm.vcpus[0]!;
  v.setRegisters([[msrReg(MSR.IA32_SPEC_CTRL), 1n]]);
  assert.deepEqual(v.getRegisters([msrReg(MSR.IA32_SPEC_CTRL)]), [1n]);
  assert.throws(() => v.setRegisters([[msrReg(MSR.IA32_SPEC_CTRL), 4n]]), /rejects MSR 0x48/);
  v.setRegisters([[msrReg(MSR.IA32_PRED_CMD), 1n]]);
  assert.throws(() => v.getRegisters([msrReg(MSR.IA32_PRED_CMD)]), /write-only/);
  const msrs = vm.msrIndices();
  assert.ok(msrs.includes(0x48) && !msrs.includes(0x49));
  assert.ok(vm.features().some((f) => f.name === 'spec_ctrl' && f.mode === 'emulated'));
});

test('IA32_SPEC_CTRL is in the saved vCPU state: saved, restored, absent in an older state (0), refused with bits emu lacks', () => {
  const c = cpu();
  assert.ok(writeMsr(c, 0x48, 1, 0));
  const saved = saveVcpu(c);
  assert.deepEqual(saved.msrs.find((m) => m.index === 0x48), { index: 0x48, value: 1n });
  const d = cpu();
  restoreVcpu(d, saved);
  assert.equal(d.specCtrl, 1);
  restoreVcpu(d, { ...saved, msrs: saved.msrs.filter((m) => m.index !== 0x48) });
  assert.equal(d.specCtrl, 0, 'a state saved before emu had the MSR');
  assert.ok(!d.msrStore.has(0x48));
  assert.throws(() => restoreVcpu(d, { ...saved, msrs: saved.msrs.map((m) => (m.index === 0x48 ? { index: 0x48, value: 3n } : m)) }), /IA32_SPEC_CTRL 0x3 sets bits emu does not have/);
  assert.ok(emuHoldsMsr(0x48), 'a kvm state\'s SPEC_CTRL crosses to emu');
});

test('IA32_TSC_DEADLINE is a value of the vCPU\'s TSC: after an IA32_TSC write it fires when that TSC reaches it, and a later IA32_TSC write moves it', () => {
  // Deterministic: the clock stands at 0 until an instruction runs; the TSC runs at 1 GHz (one tick per ns).
  const vm = createEmuVm({ cpus: 1, memBytes: 1 << 20, deterministic: true });
  const c = vm.cpus[0]!;
  const apic = c.apic!;
  apic.mmioWrite(0xf0, 4, 0x1ff); // SVR: enabled
  apic.mmioWrite(0x320, 4, (2 << 17) | 0x40); // LVT timer: TSC-deadline mode, vector 0x40
  const split = (v: number): [number, number] => [v % 2 ** 32, Math.floor(v / 2 ** 32)];
  assert.ok(writeMsr(c, 0x10, ...split(5e9))); // IA32_TSC
  assert.equal(tscNow(c), 5e9);
  assert.ok(writeMsr(c, 0x6e0, ...split(5e9 + 1000)));
  assert.equal(apic.nextDeadlineNs(), 1000, '1000 TSC ticks from now, not when the clock reaches 5e9 + 1000 ticks');
  assert.ok(readMsr(c, 0x6e0));
  assert.equal(c.msrOut.hi * 2 ** 32 + (c.msrOut.lo >>> 0), 5e9 + 1000, 'reads back as written');
  assert.ok(writeMsr(c, 0x10, ...split(5e9 + 400)));
  assert.equal(apic.nextDeadlineNs(), 600, 'the TSC moved 400 ticks closer to the deadline');
  assert.ok(writeMsr(c, 0x10, ...split(6e9)));
  assert.ok(apic.nextDeadlineNs() <= 0, 'past it: due at once');
});

test('machine-check architecture: CPUID MCE and MCA, a read-only IA32_MCG_CAP, banks whose status takes only zeros', () => {
  const c = cpu();
  emuCpuid(1, 0, 0, 1, c.cpuidOut);
  assert.equal(c.cpuidOut[3]! & ((1 << 7) | (1 << 14)), (1 << 7) | (1 << 14), 'CPUID.1:EDX MCE and MCA');
  assert.ok(readMsr(c, MSR.IA32_MCG_CAP));
  const banks = c.msrOut.lo & 0xff;
  assert.ok(banks >= 1, 'at least one bank');
  assert.equal(c.msrOut.lo & (1 << 8), 1 << 8, 'MCG_CTL_P: IA32_MCG_CTL exists');
  assert.equal(c.msrOut.lo & ((1 << 10) | (1 << 24) | (1 << 27)), 0, 'no CMCI, software error recovery or LMCE');
  assert.equal(writeMsr(c, MSR.IA32_MCG_CAP, 0, 0), false, 'IA32_MCG_CAP is read-only');
  assert.equal(describeRegister(msrReg(MSR.IA32_MCG_CAP)).access, 'read-only-guest');
  // What Linux's MCE init writes: every bank enabled, every status cleared, global control all ones.
  assert.ok(writeMsr(c, MSR.IA32_MCG_CTL, -1, -1));
  assert.ok(writeMsr(c, MSR.IA32_MCG_STATUS, 0, 0));
  for (let i = 0; i < banks; i++) {
    assert.ok(writeMsr(c, 0x400 + 4 * i, -1, -1), `MC${i}_CTL`);
    assert.ok(writeMsr(c, 0x401 + 4 * i, 0, 0), `MC${i}_STATUS takes 0`);
    assert.equal(writeMsr(c, 0x401 + 4 * i, 0, 1 << 31), false, `MC${i}_STATUS: a 1 (VAL) is #GP`);
    assert.ok(readMsr(c, 0x401 + 4 * i));
    assert.deepEqual({ ...c.msrOut }, { lo: 0, hi: 0 }, `MC${i}_STATUS shows no error`);
    assert.ok(readMsr(c, 0x400 + 4 * i));
    assert.deepEqual({ ...c.msrOut }, { lo: -1, hi: -1 }, `MC${i}_CTL keeps what was written`);
    for (const m of [2, 3]) assert.ok(readMsr(c, 0x400 + 4 * i + m), `MC${i} ADDR/MISC`);
    assert.ok(emuHoldsMsr(0x400 + 4 * i), 'a snapshot carries the bank');
  }
  assert.equal(readMsr(c, 0x400 + 4 * banks), false, 'no bank past the count');
  assert.equal(writeMsr(c, 0x400 + 4 * banks, -1, -1), false);
});

test('the MTRRs come up enabled with write-back as the default type, as firmware leaves them', () => {
  const c = cpu();
  assert.ok(readMsr(c, MSR.IA32_MTRR_DEF_TYPE));
  assert.deepEqual({ ...c.msrOut }, { lo: (1 << 11) | 6, hi: 0 }, 'E set, FE clear, type WB');
  assert.ok(writeMsr(c, MSR.IA32_MTRR_DEF_TYPE, 0, 0), 'Linux clears E around a PAT or MTRR change');
  assert.ok(readMsr(c, MSR.IA32_MTRR_DEF_TYPE));
  assert.equal(c.msrOut.lo, 0);
  const saved = saveVcpu(c);
  const d = cpu();
  restoreVcpu(d, saved);
  assert.ok(readMsr(d, MSR.IA32_MTRR_DEF_TYPE));
  assert.equal(d.msrOut.lo, 0, 'a snapshot carries the written value, not the firmware one');
});
