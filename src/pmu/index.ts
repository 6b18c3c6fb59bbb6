/** The architectural PMU model: import from here (pure TypeScript, no node:* imports). */
export { PmuError } from './pmu-error.js';
export * from './pmu-msr.js';
export { ArchEvent, ARCH_EVENTS, UNMODELLED_EVENTS_MASK, FIXED_COUNTER_NAMES, archEventOf, type ArchEventInfo } from './arch-events.js';
export {
  resolvePmuConfig,
  anyThreadAllowed,
  pmuNeedsPdcm,
  NO_PMU,
  DEFAULT_PMU_VERSION,
  type PmuConfig,
  type PmuConfigInput,
  type PmuVersion,
} from './pmu-config.js';
export { pmuMsrIndices } from './pmu-msr-list.js';
export { cpuidLeaf0a, decodeCpuidLeaf0a, type CpuidLeaf0a, type DecodedLeaf0a } from './cpuid-leaf-0a.js';
export { VirtualPmu, CycleKind, NO_OVERFLOW_LIMIT, type MsrOut, type PmuState, type VirtualPmuOptions } from './virtual-pmu.js';
export {
  loadPmuFilterJson,
  createPmuEventFilter,
  pmuFilterAllowsGp,
  pmuFilterAllowsFixed,
  toKvmFilterFields,
  encodeMaskedEntry,
  KVM_PMU_EVENT_ALLOW,
  KVM_PMU_EVENT_DENY,
  KVM_PMU_EVENT_FLAG_MASKED_EVENTS,
  KVM_PMU_EVENT_FILTER_MAX_EVENTS,
  type PmuEventFilter,
  type PmuFilterEntry,
  type PmuFilterAction,
  type KvmPmuFilterFields,
} from './event-filter.js';
export { describePmu, type PmuDescription, type PmuFacility, type PmuEventAvailability } from './describe-pmu.js';
