/**
 * A feature manifest: the guest-visible feature set of a VM, as the seed discussion asks a VMM to
 * expose it (the filtered set, not a version number). `tsvmm caps --json` writes what a host can give
 * a VM of a configuration; `tsvmm caps --baseline` computes what every host of a pool can give;
 * `tsvmm run --cpu-model FILE` runs a VM with such a set; snapshots and migration streams start with
 * the manifest of the VM they carry, and a destination compares it with its own before any state moves.
 *
 * JSON, versioned; register values and MSR indices as hex strings (people read and edit models).
 * Files are untrusted: loadManifest() checks every field and names the first bad one.
 */
import { canonicalCpuid, type CpuidValue } from './cpuid-table.js';

export const MANIFEST_FORMAT = 'tsvmm-feature-manifest';
export const MANIFEST_VERSION = 1;

export interface PmuFeatures {
  /** Architectural PMU version (CPUID.0AH:EAX[7:0]); 0 = no PMU. */
  readonly version: number;
  readonly gpCounters: number;
  readonly gpCounterWidth: number;
  readonly fixedCounters: number;
  readonly fixedCounterWidth: number;
  /** CPUID.0AH:EBX: architectural events not available (bit i = event i). */
  readonly eventsUnavailable: number;
  /** The event filter the VM runs under (KVM_SET_PMU_EVENT_FILTER semantics), or null. */
  readonly filter: PmuFilterFeatures | null;
}

export interface PmuFilterFeatures {
  readonly action: 'allow' | 'deny';
  readonly masked: boolean;
  readonly fixedCounterBitmap: number;
  readonly entries: readonly { readonly eventSelect: number; readonly umaskMask: number; readonly umaskMatch: number; readonly exclude: boolean }[];
}

export interface DeviceFeature {
  readonly bus: 'pio' | 'mmio';
  readonly base: number;
  readonly size: number;
  readonly name: string;
}

export interface MemoryRegionFeature {
  readonly name: string;
  readonly gpa: number;
  readonly size: number;
}

export interface FeatureManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly version: typeof MANIFEST_VERSION;
  /** Where the manifest came from; informational, never compared. */
  readonly origin: {
    readonly kind: 'host' | 'baseline' | 'vm';
    readonly backend?: 'kvm' | 'emu';
    readonly hostname?: string;
    readonly created?: string;
    /** For a baseline: the manifests it was computed from. */
    readonly from?: readonly string[];
  };
  /** The VM shape the features are for. */
  readonly machine: { readonly cpus: number; readonly memBytes: number };
  /** CPUID as the guest sees it on vCPU 0, canonical (per-vCPU and run-time bits zero), sorted. */
  readonly cpuid: readonly CpuidValue[];
  /** MSR indices the guest can access, ascending. */
  readonly msrs: readonly number[];
  readonly pmu: PmuFeatures;
  /** Devices the VMM puts on the buses (the interrupt chips of both backends are implied). */
  readonly devices: readonly DeviceFeature[];
  /** Guest-physical RAM layout. */
  readonly memory: readonly MemoryRegionFeature[];
}

export class ManifestError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'ManifestError';
  }
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

/** JSON text of a manifest (hex strings for register values and MSRs). */
export function manifestToJson(m: FeatureManifest): string {
  const doc = {
    format: m.format,
    version: m.version,
    origin: m.origin,
    machine: m.machine,
    cpuid: m.cpuid.map((v) => ({ leaf: hex(v.leaf), subleaf: v.subleaf, eax: hex(v.eax), ebx: hex(v.ebx), ecx: hex(v.ecx), edx: hex(v.edx) })),
    msrs: m.msrs.map(hex),
    pmu: m.pmu,
    devices: m.devices.map((d) => ({ bus: d.bus, base: hex(d.base), size: d.size, name: d.name })),
    memory: m.memory.map((r) => ({ name: r.name, gpa: hex(r.gpa), size: r.size })),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

// ---- loading (untrusted) -------------------------------------------------------------------

type Obj = Record<string, unknown>;

function fail(source: string, field: string, what: string): never {
  throw new ManifestError(field, `${source}: ${field}: ${what}`);
}

function obj(source: string, field: string, v: unknown, keys: readonly string[], optional: readonly string[] = []): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(source, field, `expected an object, got ${JSON.stringify(v)?.slice(0, 40)}`);
  const o = v as Obj;
  for (const k of Object.keys(o)) if (!keys.includes(k) && !optional.includes(k)) fail(source, `${field}.${k}`, `unknown field (known: ${[...keys, ...optional].join(', ')})`);
  for (const k of keys) if (!Object.hasOwn(o, k)) fail(source, `${field}.${k}`, 'missing');
  return o;
}

function int(source: string, field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(source, field, `expected an integer ${min}-${max}, got ${JSON.stringify(v)}`);
  return v as number;
}

/** A u32 (or up to 2^53) written as a hex string "0x..." (or a plain number). */
function hexNum(source: string, field: string, v: unknown, max = 0xffff_ffff): number {
  if (typeof v === 'number') return int(source, field, v, 0, max);
  if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{1,16}$/.test(v)) fail(source, field, `expected a hex string such as "0x1f", got ${JSON.stringify(v)}`);
  const n = Number.parseInt((v as string).slice(2), 16);
  if (!Number.isSafeInteger(n) || n > max) fail(source, field, `${v as string} is out of range (at most 0x${max.toString(16)})`);
  return n;
}

function list(source: string, field: string, v: unknown, max: number): unknown[] {
  if (!Array.isArray(v)) fail(source, field, 'expected a list');
  if ((v as unknown[]).length > max) fail(source, field, `more than ${max} entries`);
  return v as unknown[];
}

function str(source: string, field: string, v: unknown, max = 256): string {
  if (typeof v !== 'string' || v.length > max) fail(source, field, `expected a string of at most ${max} characters`);
  return v as string;
}

function bool(source: string, field: string, v: unknown): boolean {
  if (typeof v !== 'boolean') fail(source, field, 'expected true or false');
  return v as boolean;
}

/** Parses and checks a manifest file; every problem names the file and the field. */
export function loadManifest(text: string, source: string): FeatureManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ManifestError('', `${source}: not valid JSON (${(e as Error).message})`);
  }
  const d = obj(source, 'manifest', doc, ['format', 'version', 'machine', 'cpuid', 'msrs', 'pmu', 'devices', 'memory'], ['origin']);
  if (d['format'] !== MANIFEST_FORMAT) fail(source, 'format', `expected "${MANIFEST_FORMAT}" (a file written by tsvmm caps --json), got ${JSON.stringify(d['format'])}`);
  if (d['version'] !== MANIFEST_VERSION) fail(source, 'version', `version ${JSON.stringify(d['version'])} is not supported (this tsvmm reads version ${MANIFEST_VERSION})`);
  const originIn = d['origin'] === undefined ? {} : obj(source, 'origin', d['origin'], [], ['kind', 'backend', 'hostname', 'created', 'from']);
  const kind = originIn['kind'] ?? 'host';
  if (kind !== 'host' && kind !== 'baseline' && kind !== 'vm') fail(source, 'origin.kind', 'expected host, baseline or vm');
  const backend = originIn['backend'];
  if (backend !== undefined && backend !== 'kvm' && backend !== 'emu') fail(source, 'origin.backend', 'expected kvm or emu');
  const origin = {
    kind: kind as 'host' | 'baseline' | 'vm',
    ...(backend !== undefined ? { backend: backend as 'kvm' | 'emu' } : {}),
    ...(originIn['hostname'] !== undefined ? { hostname: str(source, 'origin.hostname', originIn['hostname']) } : {}),
    ...(originIn['created'] !== undefined ? { created: str(source, 'origin.created', originIn['created']) } : {}),
    ...(originIn['from'] !== undefined ? { from: list(source, 'origin.from', originIn['from'], 1024).map((x, i) => str(source, `origin.from[${i}]`, x, 4096)) } : {}),
  };
  const mc = obj(source, 'machine', d['machine'], ['cpus', 'memBytes']);
  const machine = { cpus: int(source, 'machine.cpus', mc['cpus'], 1, 4096), memBytes: int(source, 'machine.memBytes', mc['memBytes'], 4096, Number.MAX_SAFE_INTEGER) };
  const seen = new Set<string>();
  const cpuid = list(source, 'cpuid', d['cpuid'], 4096).map((e, i) => {
    const at = `cpuid[${i}]`;
    const o = obj(source, at, e, ['leaf', 'subleaf', 'eax', 'ebx', 'ecx', 'edx']);
    const v: CpuidValue = {
      leaf: hexNum(source, `${at}.leaf`, o['leaf']),
      subleaf: int(source, `${at}.subleaf`, o['subleaf'], 0, 0xffff_ffff),
      eax: hexNum(source, `${at}.eax`, o['eax']),
      ebx: hexNum(source, `${at}.ebx`, o['ebx']),
      ecx: hexNum(source, `${at}.ecx`, o['ecx']),
      edx: hexNum(source, `${at}.edx`, o['edx']),
    };
    const key = `${v.leaf}:${v.subleaf}`;
    if (seen.has(key)) fail(source, at, `leaf 0x${v.leaf.toString(16)} subleaf ${v.subleaf} appears twice`);
    seen.add(key);
    return v;
  });
  if (!seen.has('0:0')) fail(source, 'cpuid', 'has no leaf 0 (vendor and highest leaf)');
  const msrs = [...new Set(list(source, 'msrs', d['msrs'], 65536).map((x, i) => hexNum(source, `msrs[${i}]`, x)))].sort((a, b) => a - b);
  const p = obj(source, 'pmu', d['pmu'], ['version', 'gpCounters', 'gpCounterWidth', 'fixedCounters', 'fixedCounterWidth', 'eventsUnavailable', 'filter']);
  let filter: PmuFilterFeatures | null = null;
  if (p['filter'] !== null) {
    const fo = obj(source, 'pmu.filter', p['filter'], ['action', 'masked', 'fixedCounterBitmap', 'entries']);
    if (fo['action'] !== 'allow' && fo['action'] !== 'deny') fail(source, 'pmu.filter.action', 'expected allow or deny');
    filter = {
      action: fo['action'] as 'allow' | 'deny',
      masked: bool(source, 'pmu.filter.masked', fo['masked']),
      fixedCounterBitmap: int(source, 'pmu.filter.fixedCounterBitmap', fo['fixedCounterBitmap'], 0, 0xffff_ffff),
      entries: list(source, 'pmu.filter.entries', fo['entries'], 300).map((x, i) => {
        const at = `pmu.filter.entries[${i}]`;
        const e = obj(source, at, x, ['eventSelect', 'umaskMask', 'umaskMatch', 'exclude']);
        return { eventSelect: int(source, `${at}.eventSelect`, e['eventSelect'], 0, 0xfff), umaskMask: int(source, `${at}.umaskMask`, e['umaskMask'], 0, 0xff), umaskMatch: int(source, `${at}.umaskMatch`, e['umaskMatch'], 0, 0xff), exclude: bool(source, `${at}.exclude`, e['exclude']) };
      }),
    };
  }
  const pmu: PmuFeatures = {
    version: int(source, 'pmu.version', p['version'], 0, 255),
    gpCounters: int(source, 'pmu.gpCounters', p['gpCounters'], 0, 255),
    gpCounterWidth: int(source, 'pmu.gpCounterWidth', p['gpCounterWidth'], 0, 255),
    fixedCounters: int(source, 'pmu.fixedCounters', p['fixedCounters'], 0, 31),
    fixedCounterWidth: int(source, 'pmu.fixedCounterWidth', p['fixedCounterWidth'], 0, 255),
    eventsUnavailable: int(source, 'pmu.eventsUnavailable', p['eventsUnavailable'], 0, 0xffff_ffff),
    filter,
  };
  const devices = list(source, 'devices', d['devices'], 1024).map((x, i) => {
    const at = `devices[${i}]`;
    const o = obj(source, at, x, ['bus', 'base', 'size', 'name']);
    if (o['bus'] !== 'pio' && o['bus'] !== 'mmio') fail(source, `${at}.bus`, 'expected pio or mmio');
    return { bus: o['bus'] as 'pio' | 'mmio', base: hexNum(source, `${at}.base`, o['base'], Number.MAX_SAFE_INTEGER), size: int(source, `${at}.size`, o['size'], 1, Number.MAX_SAFE_INTEGER), name: str(source, `${at}.name`, o['name']) };
  });
  const memory = list(source, 'memory', d['memory'], 64).map((x, i) => {
    const at = `memory[${i}]`;
    const o = obj(source, at, x, ['name', 'gpa', 'size']);
    return { name: str(source, `${at}.name`, o['name']), gpa: hexNum(source, `${at}.gpa`, o['gpa'], Number.MAX_SAFE_INTEGER), size: int(source, `${at}.size`, o['size'], 1, Number.MAX_SAFE_INTEGER) };
  });
  return { format: MANIFEST_FORMAT, version: MANIFEST_VERSION, origin, machine, cpuid: canonicalCpuid(cpuid), msrs, pmu, devices, memory };
}
