/**
 * The API's OpenAPI document (openapi.json, beside this file in the repository) and what the server
 * and the tests ask of it: the schema of an operation's request body and of each response.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { checkSchemaKeywords, validate, type Schema, type SchemaIssue } from './json-schema.js';

export type HttpMethod = 'get' | 'put' | 'patch';

interface MediaType {
  readonly schema: Schema;
}
interface Operation {
  readonly operationId: string;
  readonly requestBody?: { readonly required?: boolean; readonly content: Readonly<Record<string, MediaType>> };
  readonly responses: Readonly<Record<string, { readonly description: string; readonly content?: Readonly<Record<string, MediaType>> }>>;
}
export interface OpenApiDocument {
  readonly openapi: string;
  readonly paths: Readonly<Record<string, Partial<Record<HttpMethod, Operation>>>>;
  readonly components: { readonly schemas: Readonly<Record<string, Schema>> };
}

/** The document in the source tree (dist/src/api/ → src/api/openapi.json). */
export const OPENAPI_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src', 'api', 'openapi.json');

let cached: OpenApiDocument | undefined;

/** Loads and checks the document once: every schema keyword must be one the validator implements. */
export function openApi(): OpenApiDocument {
  if (cached) return cached;
  const doc = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8')) as OpenApiDocument;
  for (const [name, s] of Object.entries(doc.components.schemas)) checkSchemaKeywords(s, `components.schemas.${name}`);
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const bodySchema = op.requestBody?.content['application/json']?.schema;
      if (bodySchema) checkSchemaKeywords(bodySchema, `${method} ${path} request`);
      for (const [status, r] of Object.entries(op.responses)) {
        const s = r.content?.['application/json']?.schema;
        if (s) checkSchemaKeywords(s, `${method} ${path} ${status}`);
      }
    }
  }
  cached = doc;
  return doc;
}

export function resolveRef(ref: string): Schema {
  const m = /^#\/components\/schemas\/([A-Za-z0-9_]+)$/.exec(ref);
  const s = m ? openApi().components.schemas[m[1]!] : undefined;
  if (!s) throw new Error(`openapi.json: unresolvable $ref ${ref}`);
  return s;
}

export function operation(method: HttpMethod, path: string): Operation | undefined {
  return openApi().paths[path]?.[method];
}

/** Checks a request body against the operation's schema; returns the first issue. */
export function checkRequestBody(method: HttpMethod, path: string, body: unknown): SchemaIssue | undefined {
  const schema = operation(method, path)?.requestBody?.content['application/json']?.schema;
  if (!schema) throw new Error(`openapi.json has no request body for ${method.toUpperCase()} ${path}`);
  return validate(schema, body, resolveRef);
}

/**
 * Checks a response against the document: the status must be documented for the operation (or
 * fall under `default`), a documented body must be present and conform, and an undocumented one
 * absent. Returns a description of the first mismatch, or undefined. `path` is the document's
 * path (e.g. /machine-config), or undefined for a request no operation matches (then the only
 * valid answer is a 400 Error).
 */
export function checkResponse(method: string, path: string | undefined, status: number, body: string): string | undefined {
  const op = path !== undefined ? operation(method.toLowerCase() as HttpMethod, path) : undefined;
  const responses = op?.responses ?? { '400': { description: 'no such operation', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } } };
  const r = responses[String(status)] ?? (op ? responses['default'] : undefined);
  if (!r) return `${method} ${path ?? '(unknown)'}: status ${status} is not documented`;
  const schema = r.content?.['application/json']?.schema;
  if (!schema) return body.length === 0 ? undefined : `${method} ${path}: status ${status} must have no body, got ${JSON.stringify(body.slice(0, 80))}`;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return `${method} ${path}: status ${status} body is not JSON: ${JSON.stringify(body.slice(0, 80))}`;
  }
  const issue = validate(schema, json, resolveRef);
  return issue ? `${method} ${path}: status ${status} body does not match the document: ${issue.message}` : undefined;
}
