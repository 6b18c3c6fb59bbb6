/**
 * The one persistence interface of tsvmm: every component with guest-visible state (devices,
 * interrupt chips, vCPUs, the PMU) saves it as named fields under a schema with a version, and
 * restores it only after the whole saved record was checked against that schema. The container
 * that puts sections in a file (versions, CRC32s, RAM) is src/vmm/state/machine-state.ts; this
 * module imports nothing, so devices, chips and the emulator can all implement it.
 *
 * Rules for a component:
 * - `saveState()` returns plain data (numbers, booleans, strings, bigints, byte arrays, arrays and
 *   records of those) under the field names of its schema; nothing host-specific (file descriptors,
 *   timers, host clock readings: times are saved in VM time).
 * - A layout change bumps `version` and adds an `upgrade` step from the previous version, so older
 *   files still restore; a file from a newer version is refused by name.
 * - `restoreState()` receives fields already checked against the schema (types, ranges, lengths),
 *   so it never sees malformed input; it still refuses values its own invariants forbid.
 */

/** A value a persisted field may hold. */
export type PersistValue = number | boolean | string | bigint | Uint8Array | readonly PersistValue[] | PersistRecord;
export interface PersistRecord {
  readonly [field: string]: PersistValue;
}

/** What a field may contain; restores check every saved field against it before anything is loaded. */
export type FieldSpec =
  | { readonly type: 'int'; readonly min: number; readonly max: number }
  | { readonly type: 'number' }
  | { readonly type: 'bool' }
  | { readonly type: 'string'; readonly maxLength: number }
  | { readonly type: 'u64' }
  | { readonly type: 'bytes'; readonly maxLength: number }
  | { readonly type: 'array'; readonly of: FieldSpec; readonly maxLength: number }
  | { readonly type: 'record'; readonly fields: FieldSpecs };

export type FieldSpecs = Readonly<Record<string, FieldSpec>>;

/** Field spec constructors, so schemas read like the state they describe. */
export const field = {
  int: (min: number, max: number) => ({ type: 'int', min, max }) as const,
  u8: () => ({ type: 'int', min: 0, max: 0xff }) as const,
  u16: () => ({ type: 'int', min: 0, max: 0xffff }) as const,
  u32: () => ({ type: 'int', min: 0, max: 0xffff_ffff }) as const,
  number: () => ({ type: 'number' }) as const,
  bool: () => ({ type: 'bool' }) as const,
  string: (maxLength: number) => ({ type: 'string', maxLength }) as const,
  u64: () => ({ type: 'u64' }) as const,
  bytes: (maxLength: number) => ({ type: 'bytes', maxLength }) as const,
  array: <F extends FieldSpec>(of: F, maxLength: number) => ({ type: 'array', of, maxLength }) as const,
  record: <R extends FieldSpecs>(fields: R) => ({ type: 'record', fields }) as const,
};

/** The TypeScript type of a value a spec accepts. */
export type ValueOf<F extends FieldSpec> = F extends { readonly type: 'int' | 'number' }
  ? number
  : F extends { readonly type: 'bool' }
    ? boolean
    : F extends { readonly type: 'string' }
      ? string
      : F extends { readonly type: 'u64' }
        ? bigint
        : F extends { readonly type: 'bytes' }
          ? Uint8Array
          : F extends { readonly type: 'array'; readonly of: infer O extends FieldSpec }
            ? ValueOf<O>[]
            : F extends { readonly type: 'record'; readonly fields: infer R extends FieldSpecs }
              ? FieldsOf<R>
              : never;

/** The saved state a set of field specs describes. */
export type FieldsOf<R extends FieldSpecs> = { [K in keyof R]: ValueOf<R[K]> };

export interface PersistSchema<R extends FieldSpecs = FieldSpecs> {
  /** What kind of component saved it (e.g. 'uart-16550a'); a section of another kind is refused. */
  readonly kind: string;
  /** Layout version of `fields`; bumped on any change, with an upgrade step from the previous one. */
  readonly version: number;
  readonly fields: R;
  /** upgrade[v] turns the fields of version v into those of version v + 1. */
  readonly upgrade?: Readonly<Record<number, (old: PersistRecord) => PersistRecord>>;
}

/** A component with persistent state. */
export interface Persist<R extends FieldSpecs = FieldSpecs> {
  readonly persistSchema: PersistSchema<R>;
  saveState(): FieldsOf<R>;
  /** Called with fields already checked against the schema. */
  restoreState(state: FieldsOf<R>): void;
}

/** Any component, for lists of components of different kinds (the schema still checks each one's fields). */
export function anyPersist<R extends FieldSpecs>(p: Persist<R>): Persist {
  return p as unknown as Persist;
}

/** One saved component: its instance name in the machine (e.g. 'com1'), kind, version and fields. */
export interface PersistSection {
  readonly name: string;
  readonly kind: string;
  readonly version: number;
  readonly fields: PersistRecord;
}

/** A saved state that cannot be restored; `path` names the section and field (e.g. `com1.rxFifo[3]`). */
export class PersistError extends Error {
  readonly code: 'persist-invalid' | 'persist-version' | 'persist-kind';
  readonly path: string;
  constructor(code: PersistError['code'], path: string, message: string) {
    super(message);
    this.code = code;
    this.path = path;
    this.name = 'PersistError';
  }
}

/** Saves one component as a section named `name`. */
export function saveSection<R extends FieldSpecs>(name: string, component: Persist<R>): PersistSection {
  const s = component.persistSchema;
  return { name, kind: s.kind, version: s.version, fields: component.saveState() as PersistRecord };
}

/**
 * Checks a section against the component's schema (kind, version with upgrades, every field) and
 * returns the step that restores it, so a caller can check every section before loading any.
 */
export function prepareRestore<R extends FieldSpecs>(section: PersistSection, component: Persist<R>): () => void {
  const schema = component.persistSchema;
  if (section.kind !== schema.kind) {
    throw new PersistError('persist-kind', section.name, `${section.name}: holds the state of a ${section.kind}, not of a ${schema.kind}`);
  }
  let fields = section.fields;
  let v = section.version;
  if (!Number.isInteger(v) || v < 1 || v > schema.version) {
    throw new PersistError('persist-version', section.name, `${section.name}: ${schema.kind} state version ${String(v)} is not supported (this tsvmm reads versions up to ${schema.version})`);
  }
  for (; v < schema.version; v++) {
    const step = schema.upgrade?.[v];
    if (step === undefined) throw new PersistError('persist-version', section.name, `${section.name}: ${schema.kind} state version ${v} is too old (no upgrade to ${v + 1}; this tsvmm reads version ${schema.version})`);
    fields = step(fields);
  }
  const checked = checkRecord(schema.fields, fields, section.name) as FieldsOf<R>;
  return () => component.restoreState(checked);
}

/** Restores one section into a component after checking it. */
export function restoreSection<R extends FieldSpecs>(section: PersistSection, component: Persist<R>): void {
  prepareRestore(section, component)();
}

/** Checks `value` against `spec`; returns it (records without unknown fields) or throws PersistError naming the field. */
export function checkField(spec: FieldSpec, value: unknown, path: string): PersistValue {
  const bad = (what: string): never => {
    throw new PersistError('persist-invalid', path, `${path}: expected ${what}, got ${describe(value)}`);
  };
  switch (spec.type) {
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < spec.min || value > spec.max) bad(`an integer from ${spec.min} to ${spec.max}`);
      return value as number;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) bad('a finite number');
      return value as number;
    case 'bool':
      if (typeof value !== 'boolean') bad('true or false');
      return value as boolean;
    case 'string':
      if (typeof value !== 'string' || value.length > spec.maxLength) bad(`a string of at most ${spec.maxLength} characters`);
      return value as string;
    case 'u64':
      if (typeof value !== 'bigint' || value < 0n || value > 0xffff_ffff_ffff_ffffn) bad('an unsigned 64-bit integer');
      return value as bigint;
    case 'bytes':
      if (!(value instanceof Uint8Array) || value.length > spec.maxLength) bad(`at most ${spec.maxLength} bytes`);
      return value as Uint8Array;
    case 'array': {
      if (!Array.isArray(value) || value.length > spec.maxLength) bad(`a list of at most ${spec.maxLength} items`);
      return (value as unknown[]).map((v, i) => checkField(spec.of, v, `${path}[${i}]`));
    }
    case 'record':
      return checkRecord(spec.fields, value, path);
  }
}

function checkRecord(fields: FieldSpecs, value: unknown, path: string): PersistRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new PersistError('persist-invalid', path, `${path}: expected a record of fields, got ${describe(value)}`);
  }
  const rec = value as Record<string, unknown>;
  for (const k of Object.keys(rec)) {
    if (!Object.hasOwn(fields, k)) throw new PersistError('persist-invalid', `${path}.${k}`, `${path}: unknown field "${k}" (known: ${Object.keys(fields).join(', ')})`);
  }
  const out: Record<string, PersistValue> = {};
  for (const [k, spec] of Object.entries(fields)) {
    if (!Object.hasOwn(rec, k)) throw new PersistError('persist-invalid', `${path}.${k}`, `${path}: field "${k}" is missing`);
    out[k] = checkField(spec, rec[k], `${path}.${k}`);
  }
  return out;
}

function describe(v: unknown): string {
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'object' && v !== null) return 'a record';
  return String(v);
}

/** A typed array's bytes as a copy (for `bytes` fields). */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}

/** Loads saved bytes into a typed array of the same byte length; throws PersistError naming `path` otherwise. */
export function loadBytes(a: ArrayBufferView, b: Uint8Array, path: string): void {
  if (b.length !== a.byteLength) throw new PersistError('persist-invalid', path, `${path}: expected ${a.byteLength} bytes, got ${b.length}`);
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(b);
}

/**
 * A time or deadline that may be "never": Infinity is saved as -1 (fields hold finite numbers only). A deadline
 * before the clock's time 0 is already due, as 0 is: it is saved as 0, not as a negative that reads as "never".
 */
export function saveDeadline(t: number): number {
  return t === Infinity ? -1 : Math.max(0, t);
}
export function loadDeadline(t: number): number {
  return t < 0 ? Infinity : t;
}
