import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkSchemaKeywords, validate, type Schema } from './json-schema.js';

const defs: Record<string, Schema> = {
  Inner: { type: 'object', additionalProperties: false, required: ['kind'], properties: { kind: { type: 'string', enum: ['File', 'Uffd'] } } },
};
const resolve = (ref: string): Schema => defs[ref.replace('#/components/schemas/', '')]!;
const S: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['n'],
  properties: {
    n: { type: 'integer', minimum: 1, maximum: 64 },
    s: { type: 'string', minLength: 1, maxLength: 5 },
    lvl: { type: 'string', enum: ['Info', 'Off'], 'x-case-insensitive': true },
    digits: { type: 'string', pattern: '^[0-9]+$' },
    list: { type: 'array', maxItems: 2, items: { type: 'boolean' } },
    inner: { $ref: '#/components/schemas/Inner' },
    maybe: { type: 'number', nullable: true },
    map: { type: 'object', additionalProperties: { type: 'integer' } },
  },
};
const issue = (v: unknown): string | undefined => validate(S, v, resolve)?.message;

test('a conforming value has no issue', () => {
  assert.equal(issue({ n: 3, s: 'ab', lvl: 'info', digits: '042', list: [true], inner: { kind: 'File' }, maybe: null, map: { a: 1 } }), undefined);
});

test('each kind of mistake is named with its field', () => {
  assert.equal(issue([]), 'invalid type: a list, expected a JSON object');
  assert.equal(issue({}), 'missing field `n`');
  assert.equal(issue({ n: 1, x: 1 }), 'unknown field `x`, expected one of `n`, `s`, `lvl`, `digits`, `list`, `inner`, `maybe`, `map`');
  assert.equal(issue({ n: '1' }), 'field `n`: invalid type: string "1", expected an integer');
  assert.equal(issue({ n: 1.5 }), 'field `n`: invalid type: number 1.5, expected an integer');
  assert.equal(issue({ n: 65 }), 'field `n`: 65 is out of range (1 to 64)');
  assert.equal(issue({ n: 1, s: '' }), 'field `s`: must not be empty');
  assert.equal(issue({ n: 1, s: 'abcdef' }), 'field `s`: longer than 5 characters');
  assert.equal(issue({ n: 1, lvl: 'loud' }), 'field `lvl`: unknown variant `loud`, expected one of `Info`, `Off`');
  assert.equal(issue({ n: 1, digits: '12a' }), 'field `digits`: string "12a" does not match ^[0-9]+$');
  assert.equal(issue({ n: 1, list: [true, false, true] }), 'field `list`: has 3 items, at most 2 allowed');
  assert.equal(issue({ n: 1, list: [1] }), 'field `list[0]`: invalid type: integer 1, expected true or false');
  assert.equal(issue({ n: 1, inner: { kind: 'Disk' } }), 'field `inner.kind`: unknown variant `Disk`, expected one of `File`, `Uffd`');
  assert.equal(issue({ n: 1, inner: {} }), 'field `inner`: missing field `kind`');
  assert.equal(issue({ n: 1, maybe: 'x' }), 'field `maybe`: invalid type: string "x", expected a number');
  assert.equal(issue({ n: 1, map: { a: 'b' } }), 'field `map.a`: invalid type: string "b", expected an integer');
  assert.equal(issue({ n: 1, lvl: null }), 'field `lvl`: invalid type: null, expected a string');
});

test('a keyword the validator does not implement is refused when the schema is loaded', () => {
  assert.throws(() => checkSchemaKeywords({ type: 'object', properties: { a: { oneOf: [] } as unknown as Schema } }, 'X'), /X\.properties\.a: JSON Schema keyword "oneOf" is not supported/);
  checkSchemaKeywords(S, 'S');
});
