import { MAX_FIXED_COUNTERS, MAX_GP_COUNTERS } from './pmu-msr.js';
import { UNMODELLED_EVENTS_MASK } from './arch-events.js';
import { PmuError } from './pmu-error.js';

export type PmuVersion = 0 | 1 | 2 | 3 | 4 | 5;

/** A validated, complete per-VM PMU configuration (what CPUID.0AH and the MSRs expose). */
export interface PmuConfig {
  /** Architectural performance monitoring version, CPUID.0AH:EAX[7:0]; 0 = no PMU. */
  readonly version: PmuVersion;
  /** General-purpose counters, CPUID.0AH:EAX[15:8] (0-8). */
  readonly gpCounters: number;
  /** Fixed-function counters, CPUID.0AH:EDX[4:0] (0-3; always 0 below version 2). */
  readonly fixedCounters: number;
  /** Counter width in bits, CPUID.0AH:EAX[23:16] and EDX[12:5] (32-48). */
  readonly counterWidth: number;
  /** IA32_PERF_CAPABILITIES.FW_WRITE[13]: full-width writes through IA32_A_PMCx (0x4C1+). */
  readonly fullWidthWrites: boolean;
  /**
   * CPUID.0AH:EBX: bit i set = architectural event i not available. Always includes the events
   * tsvmm has no model for (LLC reference/miss, branch misses: UNMODELLED_EVENTS_MASK).
   */
  readonly eventsUnavailable: number;
  /** CPUID.0AH:EDX[15]: AnyThread deprecated, the AnyThread bits become reserved (#GP). */
  readonly anyThreadDeprecated: boolean;
  /** RDPMC ECX[31] "fast" 32-bit reads (pre-2019 SDM wording); false = ECX[31] is an unknown type and #GPs (current SDM, KVM). */
  readonly rdpmcFastRead: boolean;
}

/** What a user or the VM config may specify; everything is optional except nothing. */
export type PmuConfigInput = { [K in keyof PmuConfig]?: unknown };

export const DEFAULT_PMU_VERSION: PmuVersion = 4;
export const DEFAULT_GP_COUNTERS = 8;
export const DEFAULT_FIXED_COUNTERS = 3;
export const DEFAULT_COUNTER_WIDTH = 48;
export const MIN_COUNTER_WIDTH = 32;
/** Counters are kept as exact doubles; 48 bits leaves room for any increment below 2^52. */
export const MAX_COUNTER_WIDTH = 48;

/** The PMU switched off: CPUID.0AH all zero, every PMU MSR #GPs. */
export const NO_PMU: PmuConfig = Object.freeze({
  version: 0,
  gpCounters: 0,
  fixedCounters: 0,
  counterWidth: 0,
  fullWidthWrites: false,
  eventsUnavailable: 0,
  anyThreadDeprecated: false,
  rdpmcFastRead: false,
});

const KNOWN_KEYS: ReadonlySet<string> = new Set([
  'version', 'gpCounters', 'fixedCounters', 'counterWidth', 'fullWidthWrites', 'eventsUnavailable', 'anyThreadDeprecated', 'rdpmcFastRead',
]);

function intField(prefix: string, key: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new PmuError(`${prefix}.${key}`, `${prefix}.${key}: expected an integer ${min}-${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}
function boolField(prefix: string, key: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new PmuError(`${prefix}.${key}`, `${prefix}.${key}: expected true or false, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Fills defaults and validates. Throws PmuError naming the field (`pmu.gpCounters: expected an
 * integer 0-8, got 9`). `prefix` is how the caller names the object in messages.
 */
export function resolvePmuConfig(input: PmuConfigInput = {}, prefix = 'pmu'): PmuConfig {
  for (const k of Object.keys(input)) {
    if (!KNOWN_KEYS.has(k)) throw new PmuError(`${prefix}.${k}`, `${prefix}.${k}: unknown field (known: ${[...KNOWN_KEYS].join(', ')})`);
  }
  const version = (input.version === undefined ? DEFAULT_PMU_VERSION : intField(prefix, 'version', input.version, 0, 5)) as PmuVersion;
  if (version === 0) {
    for (const k of Object.keys(input)) {
      if (k !== 'version' && input[k as keyof PmuConfig] !== undefined) {
        throw new PmuError(`${prefix}.${k}`, `${prefix}.${k}: has no meaning with ${prefix}.version 0 (no PMU); remove it or pick a version 1-5`);
      }
    }
    return NO_PMU;
  }
  const gpCounters = input.gpCounters === undefined ? DEFAULT_GP_COUNTERS : intField(prefix, 'gpCounters', input.gpCounters, 0, MAX_GP_COUNTERS);
  let fixedCounters: number;
  if (input.fixedCounters === undefined) fixedCounters = version >= 2 ? DEFAULT_FIXED_COUNTERS : 0;
  else {
    fixedCounters = intField(prefix, 'fixedCounters', input.fixedCounters, 0, MAX_FIXED_COUNTERS);
    if (version < 2 && fixedCounters !== 0) {
      throw new PmuError(`${prefix}.fixedCounters`, `${prefix}.fixedCounters: architectural PMU version 1 has no fixed counters (got ${fixedCounters}); use 0 or version 2+`);
    }
  }
  const counterWidth = input.counterWidth === undefined ? DEFAULT_COUNTER_WIDTH : intField(prefix, 'counterWidth', input.counterWidth, MIN_COUNTER_WIDTH, MAX_COUNTER_WIDTH);
  const fullWidthWrites = input.fullWidthWrites === undefined ? true : boolField(prefix, 'fullWidthWrites', input.fullWidthWrites);
  const extra = input.eventsUnavailable === undefined ? 0 : intField(prefix, 'eventsUnavailable', input.eventsUnavailable, 0, 0x7f);
  const anyThreadDeprecated = input.anyThreadDeprecated === undefined ? version >= 5 : boolField(prefix, 'anyThreadDeprecated', input.anyThreadDeprecated);
  if (anyThreadDeprecated && version < 2) {
    throw new PmuError(`${prefix}.anyThreadDeprecated`, `${prefix}.anyThreadDeprecated: reported in CPUID.0AH:EDX, which version 1 does not have; use version 2+`);
  }
  const rdpmcFastRead = input.rdpmcFastRead === undefined ? true : boolField(prefix, 'rdpmcFastRead', input.rdpmcFastRead);
  return Object.freeze({
    version,
    gpCounters,
    fixedCounters,
    counterWidth,
    fullWidthWrites,
    eventsUnavailable: extra | UNMODELLED_EVENTS_MASK,
    anyThreadDeprecated,
    rdpmcFastRead,
  });
}

/** The AnyThread bits (IA32_PERFEVTSELx[21], IA32_FIXED_CTR_CTRL bit 4i+2) are writable. */
export function anyThreadAllowed(c: PmuConfig): boolean {
  return c.version >= 3 && !c.anyThreadDeprecated;
}

/**
 * IA32_PERF_CAPABILITIES exists only when CPUID.01H:ECX.PDCM[15] = 1: the CPUID builder must set
 * PDCM exactly when this returns true.
 */
export function pmuNeedsPdcm(c: PmuConfig): boolean {
  return c.version >= 1;
}
