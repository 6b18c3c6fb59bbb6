import type { PmuConfig } from './pmu-config.js';
import { anyThreadAllowed } from './pmu-config.js';
import { ARCH_EVENTS, FIXED_COUNTER_NAMES } from './arch-events.js';
import { cpuidLeaf0a } from './cpuid-leaf-0a.js';

export interface PmuEventAvailability {
  readonly name: string;
  /** "0xC0/0x00" style event select / umask. */
  readonly code: string;
  readonly available: boolean;
  /** Why not, when not available. */
  readonly reason?: string;
}

/** One line of `tsvmm caps`: a facility name and its value. */
export interface PmuFacility {
  readonly name: string;
  readonly value: string;
}

export interface PmuDescription {
  readonly version: number;
  readonly facilities: readonly PmuFacility[];
  readonly events: readonly PmuEventAvailability[];
}

const hex2 = (n: number): string => '0x' + n.toString(16).toUpperCase().padStart(2, '0');

/** What the guest PMU offers under this configuration, for `tsvmm caps` and the VM info. */
export function describePmu(c: PmuConfig): PmuDescription {
  const events: PmuEventAvailability[] = ARCH_EVENTS.map((e) => {
    const off = ((c.eventsUnavailable >>> e.ebxBit) & 1) === 1;
    const reason = !off ? undefined : e.modelled === -1 ? (e.whyNot ?? 'not modelled') : 'disabled by configuration';
    return {
      name: e.name,
      code: `${hex2(e.eventSelect)}/${hex2(e.umask)}`,
      available: c.version > 0 && !off,
      ...(c.version === 0 ? { reason: 'no PMU' } : reason ? { reason } : {}),
    };
  });
  if (c.version === 0) {
    return { version: 0, facilities: [{ name: 'architectural PMU', value: 'none (CPUID.0AH = 0)' }], events };
  }
  const l = cpuidLeaf0a(c);
  const f: PmuFacility[] = [
    { name: 'architectural PMU version', value: String(c.version) },
    { name: 'general-purpose counters', value: `${c.gpCounters} x ${c.counterWidth} bits (IA32_PMC0-${c.gpCounters - 1}, IA32_PERFEVTSEL0-${c.gpCounters - 1})` },
    {
      name: 'fixed counters',
      value: c.fixedCounters === 0 ? 'none' : `${c.fixedCounters} x ${c.counterWidth} bits (${FIXED_COUNTER_NAMES.slice(0, c.fixedCounters).join(', ')})`,
    },
    { name: 'full-width counter writes', value: c.fullWidthWrites ? 'yes (IA32_PERF_CAPABILITIES.FW_WRITE, IA32_A_PMCx)' : 'no' },
    { name: 'global control/status', value: c.version >= 2 ? 'IA32_PERF_GLOBAL_CTRL, _STATUS, ' + (c.version >= 4 ? '_STATUS_RESET, _STATUS_SET, _INUSE' : '_OVF_CTRL') : 'no (version 1)' },
    { name: 'AnyThread', value: anyThreadAllowed(c) ? 'accepted (counts this vCPU only: no SMT siblings)' : c.anyThreadDeprecated ? 'deprecated (CPUID.0AH:EDX[15]), bit reserved' : 'no (version < 3)' },
    { name: 'RDPMC', value: `GP and fixed (ECX[30])${c.rdpmcFastRead ? ', fast 32-bit reads (ECX[31])' : ''}; CR4.PCE gates CPL > 0` },
    { name: 'PMI', value: 'on overflow through the local APIC LVTPC entry (masked on delivery)' },
    { name: 'CPUID.0AH', value: `EAX=${hexWord(l.eax)} EBX=${hexWord(l.ebx)} ECX=${hexWord(l.ecx)} EDX=${hexWord(l.edx)}` },
  ];
  return { version: c.version, facilities: f, events };
}

function hexWord(n: number): string {
  return '0x' + (n >>> 0).toString(16).padStart(8, '0');
}
