/**
 * A validator for the subset of JSON Schema (OpenAPI 3.0 flavour) that src/api/openapi.json uses.
 * The server checks request bodies with it and the tests check every response with it, so the
 * document is the one description of the API. A keyword outside the subset is refused when the
 * document is loaded, so a schema can never be silently half-checked.
 */

export interface Schema {
  readonly type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  readonly enum?: readonly unknown[];
  readonly nullable?: boolean;
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | Schema;
  readonly items?: Schema;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly $ref?: string;
  readonly allOf?: readonly Schema[];
  /** tsvmm: an enum of strings matched without regard to case (Firecracker's logger level). */
  readonly 'x-case-insensitive'?: boolean;
  readonly description?: string;
  readonly default?: unknown;
}

const KEYWORDS = new Set([
  'type', 'enum', 'nullable', 'properties', 'required', 'additionalProperties', 'items', 'minItems', 'maxItems', 'minimum', 'maximum',
  'minLength', 'maxLength', 'pattern', '$ref', 'allOf', 'x-case-insensitive', 'description', 'default',
]);

/** Resolves `#/components/schemas/Name` references against the document. */
export type SchemaResolver = (ref: string) => Schema;

/** The first problem found: where (a field path such as `mem_backend.backend_type`, '' for the whole body) and what. */
export interface SchemaIssue {
  readonly path: string;
  readonly message: string;
}

/** Throws naming the first keyword of `schema` (or a schema inside it) the validator does not implement. */
export function checkSchemaKeywords(schema: Schema, where: string): void {
  for (const k of Object.keys(schema)) if (!KEYWORDS.has(k)) throw new Error(`${where}: JSON Schema keyword "${k}" is not supported by src/api/json-schema.ts`);
  for (const [name, s] of Object.entries(schema.properties ?? {})) checkSchemaKeywords(s, `${where}.properties.${name}`);
  if (typeof schema.additionalProperties === 'object') checkSchemaKeywords(schema.additionalProperties, `${where}.additionalProperties`);
  if (schema.items) checkSchemaKeywords(schema.items, `${where}.items`);
  schema.allOf?.forEach((s, i) => checkSchemaKeywords(s, `${where}.allOf[${i}]`));
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number') return Number.isInteger(v) ? `integer ${v}` : `number ${v}`;
  return `${typeof v} ${String(v)}`;
}

const EXPECTED: Record<NonNullable<Schema['type']>, string> = {
  object: 'a JSON object',
  array: 'a list',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
};

function typeMatches(type: NonNullable<Schema['type']>, v: unknown): boolean {
  switch (type) {
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
  }
}

/** Validates `value`; returns the first issue, or undefined when it conforms. */
export function validate(schema: Schema, value: unknown, resolve: SchemaResolver, path = ''): SchemaIssue | undefined {
  const at = (message: string): SchemaIssue => ({ path, message: path === '' ? message : `field \`${path}\`: ${message}` });
  if (schema.$ref !== undefined) return validate(resolve(schema.$ref), value, resolve, path);
  if (value === null && schema.nullable === true) return undefined;
  for (const sub of schema.allOf ?? []) {
    const issue = validate(sub, value, resolve, path);
    if (issue) return issue;
  }
  if (schema.type !== undefined && !typeMatches(schema.type, value)) return at(`invalid type: ${describe(value)}, expected ${EXPECTED[schema.type]}`);
  if (schema.enum !== undefined) {
    const ci = schema['x-case-insensitive'] === true && typeof value === 'string';
    const ok = schema.enum.some((e) => e === value || (ci && typeof e === 'string' && e.toLowerCase() === (value as string).toLowerCase()));
    if (!ok) return at(`unknown variant ${typeof value === 'string' ? `\`${value}\`` : describe(value)}, expected ${schema.enum.length === 1 ? '' : 'one of '}${schema.enum.map((e) => `\`${String(e)}\``).join(', ')}`);
  }
  if (typeof value === 'number') {
    if ((schema.minimum !== undefined && value < schema.minimum) || (schema.maximum !== undefined && value > schema.maximum)) {
      return at(`${value} is out of range (${schema.minimum ?? '-inf'} to ${schema.maximum ?? 'inf'})`);
    }
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) return at(schema.minLength === 1 ? 'must not be empty' : `shorter than ${schema.minLength} characters`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) return at(`longer than ${schema.maxLength} characters`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) return at(`${describe(value)} does not match ${schema.pattern}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) return at(`has ${value.length} items, at least ${schema.minItems} expected`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) return at(`has ${value.length} items, at most ${schema.maxItems} allowed`);
    if (schema.items !== undefined) {
      for (let i = 0; i < value.length; i++) {
        const issue = validate(schema.items, value[i], resolve, `${path}[${i}]`);
        if (issue) return issue;
      }
    }
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    const props = schema.properties ?? {};
    const join = (k: string): string => (path === '' ? k : `${path}.${k}`);
    for (const k of Object.keys(obj)) {
      if (Object.hasOwn(props, k)) continue;
      if (schema.additionalProperties === false) {
        const known = Object.keys(props);
        return at(`unknown field \`${k}\`, expected ${known.length === 1 ? '' : 'one of '}${known.map((p) => `\`${p}\``).join(', ')}`);
      }
      if (typeof schema.additionalProperties === 'object') {
        const issue = validate(schema.additionalProperties, obj[k], resolve, join(k));
        if (issue) return issue;
      }
    }
    for (const r of schema.required ?? []) if (!Object.hasOwn(obj, r)) return at(`missing field \`${r}\``);
    for (const [k, s] of Object.entries(props)) {
      if (!Object.hasOwn(obj, k)) continue;
      const issue = validate(s, obj[k], resolve, join(k));
      if (issue) return issue;
    }
  }
  return undefined;
}
