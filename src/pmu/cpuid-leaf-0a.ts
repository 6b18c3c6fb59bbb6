import type { PmuConfig } from './pmu-config.js';
import { ARCH_EVENTS_EBX_LENGTH } from './arch-events.js';

/** CPUID leaf 0AH output registers (unsigned 32-bit values). */
export interface CpuidLeaf0a {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

/**
 * CPUID.0AH for a configuration (SDM vol. 2A CPUID, leaf 0AH "Architectural Performance
 * Monitoring"):
 * - EAX[7:0] version, [15:8] GP counters per logical processor, [23:16] GP counter width,
 *   [31:24] length of the EBX event vector.
 * - EBX: bit i set = architectural event i not available.
 * - ECX (version 5+): fixed counter i supported if ECX[i] or EDX[4:0] > i.
 * - EDX (version 2+): [4:0] contiguous fixed counters, [12:5] their width, [15] AnyThread deprecation.
 * Version 0 is all zeros (no architectural PMU).
 */
export function cpuidLeaf0a(c: PmuConfig): CpuidLeaf0a {
  if (c.version === 0) return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
  const eax = (c.version | (c.gpCounters << 8) | (c.counterWidth << 16) | (ARCH_EVENTS_EBX_LENGTH << 24)) >>> 0;
  const ebx = c.eventsUnavailable & ((1 << ARCH_EVENTS_EBX_LENGTH) - 1);
  const ecx = c.version >= 5 ? (1 << c.fixedCounters) - 1 : 0;
  const edx = c.version >= 2 ? (c.fixedCounters | (c.counterWidth << 5) | (c.anyThreadDeprecated ? 1 << 15 : 0)) >>> 0 : 0;
  return { eax, ebx, ecx, edx };
}

/** What a CPUID.0AH value (e.g. the host's, from KVM_GET_SUPPORTED_CPUID) describes. */
export interface DecodedLeaf0a {
  version: number;
  gpCounters: number;
  gpWidth: number;
  /** Architectural events the leaf marks unavailable, over the enumerated EBX length (bits beyond it count as unavailable). */
  eventsUnavailable: number;
  ebxLength: number;
  /** Contiguous fixed counters usable (EDX[4:0], extended by a v5 ECX bitmask that continues them). */
  fixedCounters: number;
  fixedWidth: number;
  anyThreadDeprecated: boolean;
}

/**
 * Decodes a CPUID.0AH value, so the KVM backend can intersect the requested PmuConfig with what
 * the host offers (version = min, counters = min, ...). Fields that a version does not define
 * decode as 0.
 */
export function decodeCpuidLeaf0a(l: CpuidLeaf0a): DecodedLeaf0a {
  const version = l.eax & 0xff;
  const ebxLength = (l.eax >>> 24) & 0xff;
  const lengthMask = ebxLength >= 32 ? 0xffff_ffff : (1 << ebxLength) - 1;
  let fixedCounters = version >= 2 ? l.edx & 0x1f : 0;
  if (version >= 5) while (fixedCounters < 32 && ((l.ecx >>> fixedCounters) & 1) === 1) fixedCounters++;
  return {
    version,
    gpCounters: version >= 1 ? (l.eax >>> 8) & 0xff : 0,
    gpWidth: version >= 1 ? (l.eax >>> 16) & 0xff : 0,
    eventsUnavailable: version >= 1 ? ((l.ebx & lengthMask) | (~lengthMask & 0x7f)) >>> 0 : 0x7f,
    ebxLength,
    fixedCounters,
    fixedWidth: version >= 2 ? (l.edx >>> 5) & 0xff : 0,
    anyThreadDeprecated: version >= 2 && ((l.edx >>> 15) & 1) === 1,
  };
}
