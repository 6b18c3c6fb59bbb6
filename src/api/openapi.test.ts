import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkResponse, openApi, operation, type HttpMethod } from './openapi.js';
import { ROUTES } from './routes.js';
import { TSVMM_VERSION } from '../util/version.js';

test('the document loads, uses only validated keywords, and its version is tsvmm\'s', () => {
  const doc = openApi();
  assert.match(doc.openapi, /^3\.0\./);
  assert.equal((doc as unknown as { info: { version: string } }).info.version, TSVMM_VERSION);
});

test('every route the server has is in the document, and every operation of the document has a route', () => {
  const doc = openApi();
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
  const served = ROUTES.map((r) => `${r.method} ${r.path}`);
  assert.deepEqual([...served].sort(), [...documented].sort());
  for (const r of ROUTES) {
    const op = operation(r.method as HttpMethod, r.path)!;
    assert.equal(op.requestBody !== undefined, r.hasBody, `${r.method} ${r.path}: a body exactly when the route takes one`);
    if (r.hasBody) assert.ok(op.responses['204'] && op.responses['400'], `${r.method} ${r.path}: 204 and 400 documented`);
  }
});

test('checkResponse finds undocumented statuses, stray bodies and bodies that do not conform', () => {
  assert.equal(checkResponse('GET', '/', 200, '{"id":"a","state":"Running","vmm_version":"1","app_name":"tsvmm"}'), undefined);
  assert.match(checkResponse('GET', '/', 200, '{"id":"a","state":"Busy","vmm_version":"1","app_name":"tsvmm"}')!, /unknown variant `Busy`/);
  assert.match(checkResponse('PUT', '/actions', 204, '{}')!, /must have no body/);
  assert.equal(checkResponse('PUT', '/actions', 400, '{"fault_message":"x"}'), undefined);
  assert.equal(checkResponse('PUT', '/actions', 500, '{"fault_message":"x"}'), undefined, 'default: Error');
  assert.equal(checkResponse('GET', undefined, 400, '{"fault_message":"x"}'), undefined);
  assert.match(checkResponse('GET', undefined, 404, '')!, /not documented/);
  assert.match(checkResponse('GET', '/stats', 200, 'nope')!, /not JSON/);
});
