import { kvmAvailability } from '../vmm/backends.js';

export interface HostFact {
  readonly name: string;
  readonly value: string;
}

/** What this host offers tsvmm, as lines for `tsvmm caps`. */
export async function describeHost(): Promise<HostFact[]> {
  const facts: HostFact[] = [];
  const { probeKvmHost, describeKvmHost } = await import('../cpu/kvm/host-probe.js');
  const probe = probeKvmHost();
  facts.push(...describeKvmHost(probe));
  facts.push({ name: 'emulator', value: 'available (pure TypeScript interpreter, no FFI)' });
  const kvm = await kvmAvailability();
  facts.push({ name: 'auto picks', value: kvm.usable && !kvm.paravirtual ? 'kvm (hardware-backed)' : `emu (${kvm.usable ? 'KVM is paravirtual here' : kvm.reason ?? 'no KVM'})` });
  return facts;
}
