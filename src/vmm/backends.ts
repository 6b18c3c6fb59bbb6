import { VmmError, EXIT } from '../util/errors.js';
import type { BackendName, Vm } from '../cpu/vm.js';
import type { AccelChoice, RunConfig } from './config.js';

export class BackendError extends VmmError {}

/** What the host's /dev/kvm offers, as far as choosing a backend needs. */
export interface KvmAvailability {
  readonly usable: boolean;
  /** Why KVM cannot be used, or a caveat when it can (e.g. paravirtual). */
  readonly reason: string | undefined;
  /** kvm_pvm: ring-0 guest code runs in KVM's software emulator (~3 MIPS). */
  readonly paravirtual: boolean;
}

export async function kvmAvailability(): Promise<KvmAvailability> {
  const { probeKvmHost } = await import('../cpu/kvm/host-probe.js');
  const p = probeKvmHost();
  if (!p.present || !p.permitted || p.error) return { usable: false, reason: p.error ?? 'KVM is not usable', paravirtual: false };
  return { usable: true, reason: undefined, paravirtual: p.pvm };
}

/**
 * `auto` prefers KVM where it is hardware-backed, and the emulator where KVM is absent,
 * not permitted, or paravirtual (its ring-0 emulation is slower than tsvmm's own).
 */
export async function chooseBackend(accel: AccelChoice): Promise<{ backend: BackendName; reason: string }> {
  if (accel === 'emu') return { backend: 'emu', reason: 'requested with --accel emu' };
  const kvm = await kvmAvailability();
  if (accel === 'kvm') {
    if (!kvm.usable) throw new BackendError('no-kvm', `--accel kvm: ${kvm.reason ?? 'KVM is not usable'} (or use --accel emu)`, { exitCode: EXIT.NO_BACKEND });
    return { backend: 'kvm', reason: 'requested with --accel kvm' };
  }
  if (!kvm.usable) return { backend: 'emu', reason: `auto: KVM not usable (${kvm.reason}), using the emulator` };
  if (kvm.paravirtual) {
    return { backend: 'emu', reason: 'auto: /dev/kvm is paravirtual (kvm_pvm) and runs guest ring-0 code in software at ~3 MIPS; the emulator is faster' };
  }
  return { backend: 'kvm', reason: 'auto: hardware-backed KVM is available' };
}

export async function createBackendVm(backend: BackendName, config: RunConfig): Promise<Vm> {
  if (backend === 'kvm') {
    const { createKvmVm } = await import('../cpu/kvm/kvm-vm.js');
    return createKvmVm({ memBytes: config.memBytes, cpus: config.cpus });
  }
  const { createEmuVm } = await import('../cpu/emu/emu-vm.js');
  return createEmuVm({ memBytes: config.memBytes, cpus: config.cpus, deterministic: config.deterministic });
}
