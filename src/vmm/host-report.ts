import type { KvmHostInfo } from '../cpu/kvm/host-probe.js';

export interface HostFact {
  readonly name: string;
  readonly value: string;
}

/** Host facts about KVM for `tsvmm caps`, in plain words. */
export function describeKvmHost(p: KvmHostInfo): HostFact[] {
  const facts: HostFact[] = [];
  if (!p.present || !p.permitted || p.error) {
    facts.push({ name: 'KVM', value: `unavailable: ${p.error ?? 'unknown reason'}` });
    // Module parameters may say what a KVM would offer, but without a usable /dev/kvm a guest gets none of it.
    facts.push({ name: 'KVM guest PMU', value: 'unavailable: KVM is unavailable (see above)' });
    return facts;
  }
  const kind = p.pvm ? 'paravirtual (kvm_pvm)' : `hardware-backed (${p.modules.join(', ') || 'kvm'})`;
  facts.push({ name: 'KVM', value: `${p.device}: API ${p.apiVersion}, ${kind}` });
  if (p.pvmDetail) facts.push({ name: 'KVM caveat', value: p.pvmDetail });
  facts.push({ name: 'KVM max vCPUs', value: `${p.maxVcpus ?? '?'} (recommended ${p.recommendedVcpus ?? '?'})` });
  const caps = Object.entries(p.capabilities)
    .filter(([, v]) => (v ?? 0) > 0)
    .map(([k]) => k);
  facts.push({ name: 'KVM capabilities', value: caps.join(' ') || 'none' });
  facts.push({ name: 'KVM APIC', value: p.apicv ? 'virtualized (APICv/AVIC)' : 'emulated in the kernel (no APICv/AVIC)' });
  const pmu = p.pmu;
  facts.push({
    name: 'KVM guest PMU',
    value: pmu.kind === 'none' ? `unavailable: ${pmu.reason ?? 'no guest PMU'}` : pmu.kind === 'mediated' ? 'mediated vPMU (guest owns the counters, KVM filters the selectors)' : 'emulated through host perf events',
  });
  return facts;
}

/** What this host offers tsvmm, as lines for `tsvmm caps`. */
export async function describeHost(): Promise<HostFact[]> {
  const { probeKvmHost } = await import('../cpu/kvm/host-probe.js');
  const probe = probeKvmHost();
  const facts = describeKvmHost(probe);
  facts.push({ name: 'emulator', value: 'available (pure TypeScript x86-64 interpreter, no FFI)' });
  const kvmUsable = probe.present && probe.permitted && !probe.error;
  facts.push({
    name: '--accel auto picks',
    value: kvmUsable && !probe.pvm ? 'kvm (hardware-backed)' : kvmUsable ? 'emu (KVM here is paravirtual; its software ring-0 emulation is slower)' : 'emu (no usable KVM)',
  });
  return facts;
}
