/**
 * PMU event filter with the semantics of KVM_SET_PMU_EVENT_FILTER (Linux
 * Documentation/virt/kvm/api.rst and arch/x86/include/uapi/asm/kvm.h): an ALLOW or DENY list of
 * event selects, a fixed-counter bitmap, and optionally the "masked events" encoding. The emulator
 * applies it at count time; the KVM backend passes toKvmFilterFields() to the ioctl.
 */
import { PmuError } from './pmu-error.js';

export const KVM_PMU_EVENT_ALLOW = 0;
export const KVM_PMU_EVENT_DENY = 1;
export const KVM_PMU_EVENT_FLAG_MASKED_EVENTS = 1 << 0;
export const KVM_PMU_EVENT_FILTER_MAX_EVENTS = 300;

/** Masked entry layout: 7:0 event select (low), 15:8 umask match, 35:32 event select (high), 55 exclude, 63:56 umask mask. */
export const KVM_PMU_MASKED_ENTRY_UMASK_MATCH_SHIFT = 8n;
export const KVM_PMU_MASKED_ENTRY_EXCLUDE_BIT = 55n;
export const KVM_PMU_MASKED_ENTRY_UMASK_MASK_SHIFT = 56n;

export type PmuFilterAction = 'allow' | 'deny';

/**
 * One entry in the common (masked) form: a guest event (select S, umask U) matches it when
 * S == eventSelect and (U & umaskMask) == umaskMatch. A plain entry is umaskMask 0xFF,
 * umaskMatch = its umask, exclude false (that is how KVM converts plain lists).
 */
export interface PmuFilterEntry {
  readonly eventSelect: number;
  readonly umaskMask: number;
  readonly umaskMatch: number;
  readonly exclude: boolean;
}

export interface PmuEventFilter {
  readonly action: PmuFilterAction;
  /** KVM_PMU_EVENT_FLAG_MASKED_EVENTS: entries came from the masked format (exclude allowed). */
  readonly masked: boolean;
  /** fixed_counter_bitmap (u32). */
  readonly fixedCounterBitmap: number;
  readonly entries: readonly PmuFilterEntry[];
}

function entryMatches(e: PmuFilterEntry, eventSelect: number, umask: number): boolean {
  return e.eventSelect === eventSelect && (umask & e.umaskMask) === e.umaskMatch;
}

/**
 * Whether a general-purpose counter programmed with (eventSelect, umask) may count. The event is
 * "filtered in" when it matches at least one include entry and no exclude entry; an ALLOW filter
 * lets exactly the filtered-in events count, a DENY filter lets exactly the others count.
 */
export function pmuFilterAllowsGp(f: PmuEventFilter, eventSelect: number, umask: number): boolean {
  let included = false;
  for (const e of f.entries) {
    if (!entryMatches(e, eventSelect, umask)) continue;
    if (e.exclude) return f.action === 'deny';
    included = true;
  }
  return included ? f.action === 'allow' : f.action === 'deny';
}

/** Fixed counter i counts iff (ALLOW and bit i) or (DENY and not bit i); the events list plays no part. */
export function pmuFilterAllowsFixed(f: PmuEventFilter, index: number): boolean {
  const bit = index < 32 ? (f.fixedCounterBitmap >>> index) & 1 : 0;
  return f.action === 'allow' ? bit === 1 : bit === 0;
}

/** KVM_PMU_ENCODE_MASKED_ENTRY(event_select, mask, match, exclude). */
export function encodeMaskedEntry(eventSelect: number, mask: number, match: number, exclude: boolean): bigint {
  const sel = BigInt(eventSelect);
  return (
    (sel & 0xffn) |
    ((sel & 0xf00n) << 24n) |
    ((BigInt(mask) & 0xffn) << KVM_PMU_MASKED_ENTRY_UMASK_MASK_SHIFT) |
    ((BigInt(match) & 0xffn) << KVM_PMU_MASKED_ENTRY_UMASK_MATCH_SHIFT) |
    ((exclude ? 1n : 0n) << KVM_PMU_MASKED_ENTRY_EXCLUDE_BIT)
  );
}

/** The raw fields of struct kvm_pmu_event_filter for KVM_SET_PMU_EVENT_FILTER. */
export interface KvmPmuFilterFields {
  action: number;
  flags: number;
  fixedCounterBitmap: number;
  /** nevents = events.length; plain entries are eventsel | umask << 8, masked ones KVM_PMU_ENCODE_MASKED_ENTRY. */
  events: bigint[];
}

export function toKvmFilterFields(f: PmuEventFilter): KvmPmuFilterFields {
  return {
    action: f.action === 'allow' ? KVM_PMU_EVENT_ALLOW : KVM_PMU_EVENT_DENY,
    flags: f.masked ? KVM_PMU_EVENT_FLAG_MASKED_EVENTS : 0,
    fixedCounterBitmap: f.fixedCounterBitmap >>> 0,
    events: f.entries.map((e) =>
      f.masked ? encodeMaskedEntry(e.eventSelect, e.umaskMask, e.umaskMatch, e.exclude) : BigInt(e.eventSelect | (e.umaskMatch << 8)),
    ),
  };
}

/** Builds a filter from already-typed parts, with the same checks as the JSON loader. */
export function createPmuEventFilter(spec: {
  action: PmuFilterAction;
  events?: readonly { eventSelect: number; umask: number }[];
  maskedEvents?: readonly PmuFilterEntry[];
  fixedCounterBitmap?: number;
}): PmuEventFilter {
  return loadPmuFilterObject(
    {
      action: spec.action,
      ...(spec.events ? { events: spec.events.map((e) => ({ event: e.eventSelect, umask: e.umask })) } : {}),
      ...(spec.maskedEvents
        ? { maskedEvents: spec.maskedEvents.map((e) => ({ event: e.eventSelect, mask: e.umaskMask, match: e.umaskMatch, exclude: e.exclude })) }
        : {}),
      ...(spec.fixedCounterBitmap !== undefined ? { fixedCounterBitmap: spec.fixedCounterBitmap } : {}),
    },
    'pmu filter',
  );
}

/**
 * Parses a `--pmu-filter FILE.json` (schema in src/pmu/README.md). Every problem throws a PmuError
 * naming the file and the field: `pmu-filter.json: events[3].umask: expected 0-255, got 300`.
 */
export function loadPmuFilterJson(text: string, sourceName: string): PmuEventFilter {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new PmuError('', `${sourceName}: not valid JSON (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  return loadPmuFilterObject(doc, sourceName);
}

const TOP_KEYS = ['action', 'events', 'maskedEvents', 'fixedCounters', 'fixedCounterBitmap'];

function fail(source: string, field: string, what: string): never {
  throw new PmuError(field, `${source}: ${field}: ${what}`);
}
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
/** Integers may be JSON numbers or strings "0xC4" / "196" (hex is how event codes are written). */
function intValue(source: string, field: string, v: unknown, min: number, max: number): number {
  let n: number | undefined;
  if (typeof v === 'number' && Number.isInteger(v)) n = v;
  else if (typeof v === 'string' && /^(0[xX][0-9a-fA-F]+|[0-9]+)$/.test(v.trim())) n = Number(v.trim());
  if (n === undefined) fail(source, field, `expected an integer ${min}-${max} (number or "0x.." string), got ${JSON.stringify(v)}`);
  if (n < min || n > max) fail(source, field, `expected ${min}-${max}, got ${typeof v === 'string' ? v : n}`);
  return n;
}
function checkKeys(source: string, field: string, o: Record<string, unknown>, known: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) fail(source, field ? `${field}.${k}` : k, `unknown field (known: ${known.join(', ')})`);
  }
}

function loadPmuFilterObject(doc: unknown, source: string): PmuEventFilter {
  if (!isObject(doc)) fail(source, '(top level)', 'expected an object like {"action": "allow", "events": [...]}');
  checkKeys(source, '', doc, TOP_KEYS);
  const action = doc.action;
  if (action !== 'allow' && action !== 'deny') fail(source, 'action', `expected "allow" or "deny", got ${JSON.stringify(action)}`);
  if (doc.events !== undefined && doc.maskedEvents !== undefined) {
    fail(source, 'maskedEvents', 'cannot be combined with "events" (KVM takes one format per filter); write plain events as masked entries with "mask": 255');
  }
  const entries: PmuFilterEntry[] = [];
  let masked = false;
  if (doc.events !== undefined) {
    if (!Array.isArray(doc.events)) fail(source, 'events', 'expected an array of {"event": .., "umask": ..}');
    doc.events.forEach((e: unknown, i: number) => {
      const f = `events[${i}]`;
      if (!isObject(e)) fail(source, f, 'expected an object {"event": .., "umask": ..}');
      checkKeys(source, f, e, ['event', 'umask', 'name']);
      if (e.name !== undefined && typeof e.name !== 'string') fail(source, `${f}.name`, 'expected a string (a comment for humans)');
      const eventSelect = intValue(source, `${f}.event`, e.event, 0, 255);
      const umask = e.umask === undefined ? 0 : intValue(source, `${f}.umask`, e.umask, 0, 255);
      entries.push({ eventSelect, umaskMask: 0xff, umaskMatch: umask, exclude: false });
    });
  }
  if (doc.maskedEvents !== undefined) {
    masked = true;
    if (!Array.isArray(doc.maskedEvents)) fail(source, 'maskedEvents', 'expected an array of {"event", "mask", "match", "exclude"}');
    doc.maskedEvents.forEach((e: unknown, i: number) => {
      const f = `maskedEvents[${i}]`;
      if (!isObject(e)) fail(source, f, 'expected an object {"event": .., "mask": .., "match": .., "exclude": ..}');
      checkKeys(source, f, e, ['event', 'mask', 'match', 'exclude', 'name']);
      if (e.name !== undefined && typeof e.name !== 'string') fail(source, `${f}.name`, 'expected a string (a comment for humans)');
      const eventSelect = intValue(source, `${f}.event`, e.event, 0, 255);
      if (e.mask === undefined) fail(source, `${f}.mask`, 'required: the umask bits to compare (255 compares the whole umask)');
      const umaskMask = intValue(source, `${f}.mask`, e.mask, 0, 255);
      const umaskMatch = e.match === undefined ? 0 : intValue(source, `${f}.match`, e.match, 0, 255);
      if ((umaskMatch & ~umaskMask) !== 0) {
        fail(source, `${f}.match`, `0x${umaskMatch.toString(16)} has bits outside mask 0x${umaskMask.toString(16)}, so it can never match`);
      }
      if (e.exclude !== undefined && typeof e.exclude !== 'boolean') fail(source, `${f}.exclude`, `expected true or false, got ${JSON.stringify(e.exclude)}`);
      entries.push({ eventSelect, umaskMask, umaskMatch, exclude: e.exclude === true });
    });
  }
  if (entries.length > KVM_PMU_EVENT_FILTER_MAX_EVENTS) {
    fail(source, masked ? 'maskedEvents' : 'events', `${entries.length} entries, at most ${KVM_PMU_EVENT_FILTER_MAX_EVENTS} (KVM_PMU_EVENT_FILTER_MAX_EVENTS)`);
  }
  if (doc.fixedCounters !== undefined && doc.fixedCounterBitmap !== undefined) {
    fail(source, 'fixedCounterBitmap', 'give either "fixedCounters" (a list of indexes) or "fixedCounterBitmap", not both');
  }
  let fixedCounterBitmap = 0;
  if (doc.fixedCounterBitmap !== undefined) {
    fixedCounterBitmap = intValue(source, 'fixedCounterBitmap', doc.fixedCounterBitmap, 0, 0xffff_ffff) >>> 0;
  } else if (doc.fixedCounters !== undefined) {
    if (!Array.isArray(doc.fixedCounters)) fail(source, 'fixedCounters', 'expected an array of fixed counter indexes, e.g. [0, 1]');
    doc.fixedCounters.forEach((v: unknown, i: number) => {
      fixedCounterBitmap = (fixedCounterBitmap | (1 << intValue(source, `fixedCounters[${i}]`, v, 0, 31))) >>> 0;
    });
  }
  return Object.freeze({ action, masked, fixedCounterBitmap, entries: Object.freeze(entries) });
}
