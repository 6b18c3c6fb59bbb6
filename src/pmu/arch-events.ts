/**
 * The pre-defined architectural performance events (SDM vol. 3B, "Pre-defined Architectural
 * Performance Events"), in CPUID.0AH:EBX bit order. EBX bit i set means event i is NOT available.
 */

/** The architectural events tsvmm counts (values are stable: used as table indexes). */
export const ArchEvent = {
  INSTRUCTIONS: 0,
  CORE_CYCLES: 1,
  REF_CYCLES: 2,
  BRANCHES: 3,
} as const;
export type ArchEvent = (typeof ArchEvent)[keyof typeof ArchEvent];

export interface ArchEventInfo {
  /** CPUID.0AH:EBX bit. */
  readonly ebxBit: number;
  readonly name: string;
  readonly eventSelect: number;
  readonly umask: number;
  /** The ArchEvent tsvmm counts it as, or -1 when tsvmm has no model for it (always unavailable). */
  readonly modelled: ArchEvent | -1;
  /** Why it is unavailable when it is not modelled. */
  readonly whyNot?: string;
}

export const ARCH_EVENTS: readonly ArchEventInfo[] = [
  { ebxBit: 0, name: 'UnHalted Core Cycles', eventSelect: 0x3c, umask: 0x00, modelled: ArchEvent.CORE_CYCLES },
  { ebxBit: 1, name: 'Instruction Retired', eventSelect: 0xc0, umask: 0x00, modelled: ArchEvent.INSTRUCTIONS },
  { ebxBit: 2, name: 'UnHalted Reference Cycles', eventSelect: 0x3c, umask: 0x01, modelled: ArchEvent.REF_CYCLES },
  { ebxBit: 3, name: 'LLC Reference', eventSelect: 0x2e, umask: 0x4f, modelled: -1, whyNot: 'no cache model' },
  { ebxBit: 4, name: 'LLC Misses', eventSelect: 0x2e, umask: 0x41, modelled: -1, whyNot: 'no cache model' },
  { ebxBit: 5, name: 'Branch Instruction Retired', eventSelect: 0xc4, umask: 0x00, modelled: ArchEvent.BRANCHES },
  { ebxBit: 6, name: 'Branch Misses Retired', eventSelect: 0xc5, umask: 0x00, modelled: -1, whyNot: 'no branch predictor model' },
];

/** Number of EBX bits enumerated in CPUID.0AH:EAX[31:24] (bits 0-6; top-down slots, bit 7, is not enumerated). */
export const ARCH_EVENTS_EBX_LENGTH = 7;

/** EBX bits tsvmm always sets: events it has no model for. */
export const UNMODELLED_EVENTS_MASK = ARCH_EVENTS.reduce((m, e) => (e.modelled === -1 ? m | (1 << e.ebxBit) : m), 0);

/** Fixed counter i counts this event (0 instructions, 1 core cycles, 2 reference cycles at the TSC rate). */
export const FIXED_COUNTER_EVENTS: readonly ArchEvent[] = [ArchEvent.INSTRUCTIONS, ArchEvent.CORE_CYCLES, ArchEvent.REF_CYCLES];
export const FIXED_COUNTER_NAMES: readonly string[] = ['INST_RETIRED.ANY', 'CPU_CLK_UNHALTED.THREAD', 'CPU_CLK_UNHALTED.REF_TSC'];

/**
 * The ArchEvent a general-purpose selector (event select, umask) counts, or -1. `unavailableMask`
 * is CPUID.0AH:EBX: an event the guest was told is unavailable counts nothing.
 */
export function archEventOf(eventSelect: number, umask: number, unavailableMask: number): ArchEvent | -1 {
  for (const e of ARCH_EVENTS) {
    if (e.eventSelect === eventSelect && e.umask === umask) {
      if ((unavailableMask >>> e.ebxBit) & 1) return -1;
      return e.modelled;
    }
  }
  return -1;
}
