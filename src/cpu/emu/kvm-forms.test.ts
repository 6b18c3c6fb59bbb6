/**
 * A kvm state converted to emu's chips (kvmSectionsToEmu): the local APIC timer as KVM_GET_LAPIC reports it.
 * There is no /dev/kvm needed: the KVM-shaped state is an emu VM's own state converted to the KVM structures
 * (emuSectionsToKvm), with its register page then set to what KVM returns in the case under test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEmuVm, type EmuVm } from './emu-vm.js';
import { emuSectionsToKvm } from './kvm-forms.js';
import { APIC_REG, lapicVector, setLapicReg, setLapicVector } from '../../sys/kvm-structs.js';
import type { LocalApic } from './chips/local-apic.js';
import type { EmuChips } from './chips/chip-set.js';
import type { PersistSection } from '../../util/persist.js';

const VEC = 0x40;
const MSR_TSC_DEADLINE = 0x6e0;
const ONE_SHOT = VEC;
const PERIODIC = (1 << 17) | VEC;
/** Divide by 16 (TDCR 3): one tick is 16 ns of KVM's (and emu's) 1 GHz APIC bus. */
const TDCR_16 = 3;
const TICK_NS = 16;

interface KvmTimer {
  lvt: number;
  initial: number;
  current: number;
  /** Vectors to set in the page's ISR / IRR. */
  isr?: number[];
  irr?: number[];
  /** The vCPU's IA32_TSC and IA32_TSC_DEADLINE. */
  tsc?: bigint;
  tscDeadline?: bigint;
}

/** A KVM-shaped state of a 1-vCPU VM whose LAPIC (software-enabled, xAPIC) has the timer `t`. */
function kvmState(t: KvmTimer): PersistSection[] {
  const src = createEmuVm({ cpus: 1, memBytes: 4 << 20 });
  const sections = emuSectionsToKvm(src.saveState().sections);
  const lapic = sections.find((s) => s.name === 'lapic.0')!;
  const page = Uint8Array.from(lapic.fields['regs'] as Uint8Array);
  setLapicReg(page, APIC_REG.SVR, 0x1ff);
  setLapicReg(page, APIC_REG.LVT_TIMER, t.lvt);
  setLapicReg(page, APIC_REG.TDCR, TDCR_16);
  setLapicReg(page, APIC_REG.TMICT, t.initial);
  setLapicReg(page, APIC_REG.TMCCT, t.current);
  for (const [reg, vectors] of [[APIC_REG.ISR, t.isr], [APIC_REG.IRR, t.irr]] as const) {
    const bits = lapicVector(page, reg);
    for (const v of vectors ?? []) bits[v >> 3]! |= 1 << (v & 7);
    setLapicVector(page, reg, bits);
  }
  const vcpu = sections.find((s) => s.name === 'vcpu.0')!;
  const msrs = (vcpu.fields['msrs'] as { index: number; value: bigint }[]).filter((m) => m.index !== MSR_TSC_DEADLINE);
  if (t.tscDeadline !== undefined) msrs.push({ index: MSR_TSC_DEADLINE, value: t.tscDeadline });
  const vcpuFields = { ...vcpu.fields, msrs, ...(t.tsc !== undefined ? { tsc: t.tsc } : {}) };
  return sections.map((s) => (s === lapic ? { ...s, fields: { regs: page } } : s === vcpu ? { ...s, fields: vcpuFields } : s));
}

/**
 * `t` restored on a new emu VM: its APIC, and the VM time the state was saved at (KVM_GET_CLOCK's, where the
 * restored clock starts; the timers restart there) and the time the restore ended (real time went on meanwhile).
 */
function restored(t: KvmTimer): { vm: EmuVm; apic: LocalApic; savedAt: number; loadedAt: number } {
  const vm = createEmuVm({ cpus: 1, memBytes: 4 << 20 });
  const sections = kvmState(t);
  vm.restoreState({ backend: 'kvm', sections });
  const savedAt = Number(sections.find((s) => s.name === 'clock')!.fields['ns'] as bigint);
  return { vm, apic: (vm.chips as EmuChips).apics[0]!, savedAt, loadedAt: vm.clock.nowNs() };
}

/** Whether `vector` is requested (IRR) on `apic`. */
const requested = (apic: LocalApic, vector: number): boolean => ((apic.mmioRead(0x200 + (vector >> 5) * 16, 4) >>> (vector & 31)) & 1) === 1;
const current = (apic: LocalApic): number => apic.mmioRead(0x390, 4);

test('kvm -> emu: a one-shot timer KVM reports at current count 0 fires once at the restore (as KVM_SET_LAPIC does), not never', () => {
  // KVM_GET_LAPIC reads a current count of 0 once the one-shot's hrtimer has expired, and also in its last
  // tick; an expiry KVM has not yet injected (the vCPU was out of KVM_RUN: its timer-pending count) is in
  // neither IRR nor ISR. KVM_SET_LAPIC restarts such a timer with no time left, so it fires at once.
  const { apic, loadedAt } = restored({ lvt: ONE_SHOT, initial: 100_000, current: 0 });
  assert.ok(apic.nextDeadlineNs() <= loadedAt, `the timer is due at the restore (deadline ${apic.nextDeadlineNs()}, restored at ${loadedAt})`);
  assert.equal(current(apic), 0, 'the current count reads 0 as it did on kvm');
  apic.advance();
  assert.ok(requested(apic, VEC), 'the expiry is requested');
  assert.equal(apic.acknowledge(), VEC);
  apic.mmioWrite(0xb0, 4, 0); // EOI
  apic.advance();
  assert.equal(apic.nextDeadlineNs(), Infinity, 'a one-shot fires once');
  assert.ok(!apic.hasInterrupt());
});

test('kvm -> emu: a one-shot at count 0 whose vector is in service (its handler runs) or requested does not fire a second time', () => {
  for (const where of ['isr', 'irr'] as const) {
    const { apic } = restored({ lvt: ONE_SHOT, initial: 100_000, current: 0, [where]: [VEC] });
    apic.advance();
    if (where === 'isr') {
      assert.ok(!requested(apic, VEC), 'in service: its expiry was delivered, nothing new is requested');
      apic.mmioWrite(0xb0, 4, 0);
      assert.ok(!apic.hasInterrupt(), 'nothing after the EOI');
    } else {
      assert.equal(apic.acknowledge(), VEC, 'requested once');
      apic.mmioWrite(0xb0, 4, 0);
      apic.advance();
      assert.ok(!apic.hasInterrupt(), 'and only once');
    }
  }
});

test('kvm -> emu: a masked one-shot at count 0 delivers nothing', () => {
  const { apic } = restored({ lvt: ONE_SHOT | (1 << 16), initial: 100_000, current: 0 });
  apic.advance();
  assert.ok(!requested(apic, VEC));
  assert.equal(apic.nextDeadlineNs(), Infinity);
});

test('kvm -> emu: a running one-shot goes on from its current count; one KVM stopped (initial count 0) stays stopped', () => {
  const { apic, savedAt } = restored({ lvt: ONE_SHOT, initial: 100_000, current: 5000 });
  assert.equal(apic.nextDeadlineNs() - savedAt, 5000 * TICK_NS, 'due 5000 ticks after the saved time');
  const stopped = restored({ lvt: ONE_SHOT, initial: 0, current: 0 }).apic;
  stopped.advance();
  assert.equal(stopped.nextDeadlineNs(), Infinity);
  assert.ok(!stopped.hasInterrupt());
});

test('kvm -> emu: a periodic timer at count 0 restarts with a whole period (as KVM_SET_LAPIC does), not stopped', () => {
  const { apic, savedAt } = restored({ lvt: PERIODIC, initial: 200_000, current: 0 });
  assert.equal(apic.nextDeadlineNs() - savedAt, 200_000 * TICK_NS, 'the next tick a period after the saved time');
  assert.ok(current(apic) > 0, 'it counts');
});

test('kvm -> emu: a current count above the initial count starts from the initial count (as KVM_SET_LAPIC does)', () => {
  const { apic, savedAt } = restored({ lvt: ONE_SHOT, initial: 1000, current: 50_000 });
  assert.equal(apic.nextDeadlineNs() - savedAt, 1000 * TICK_NS);
});

test('kvm -> emu: a TSC deadline is a value of the vCPU\'s TSC (KVM\'s, at its own rate since the VM started), not of emu\'s clock', () => {
  // A kvm guest's TSC counts at the host's rate from its own start: 7e9 ticks here while KVM's clock reads a few ms.
  // The deadline 1e6 ticks ahead is 1e6 ticks of emu's TSC (1 GHz: 1 ms) after the saved time.
  const { vm, apic, savedAt } = restored({ lvt: (2 << 17) | VEC, initial: 0, current: 0, tsc: 7_000_000_000n, tscDeadline: 7_001_000_000n });
  assert.equal(vm.clock.tscHz, 1e9);
  assert.ok(Math.abs(apic.nextDeadlineNs() - savedAt - 1e6) < 1e-3, `due 1 ms after the saved time, not at the clock's 7.001 s (${apic.nextDeadlineNs() - savedAt} ns after it)`);
  const v = { lo: 0, hi: 0 };
  apic.getTscDeadline(v);
  assert.equal(v.hi * 2 ** 32 + v.lo, 7_001_000_000, 'IA32_TSC_DEADLINE reads as KVM saved it');
  // One that had passed (KVM had not injected its interrupt yet: it clears the MSR when it does) fires at once.
  // Also one due before the VM's time 0 (KVM's clock had read less than the deadline's lateness): still due.
  for (const tscDeadline of [6_999_000_000n, 1n]) {
    const past = restored({ lvt: (2 << 17) | VEC, initial: 0, current: 0, tsc: 7_000_000_000n, tscDeadline });
    assert.ok(past.apic.nextDeadlineNs() <= past.loadedAt, `deadline ${tscDeadline}: due at the restore`);
    past.apic.advance();
    assert.equal(past.apic.acknowledge(), VEC);
  }
});
