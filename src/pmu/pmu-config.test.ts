import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolvePmuConfig, NO_PMU, anyThreadAllowed, pmuNeedsPdcm } from './pmu-config.js';
import { PmuError } from './pmu-error.js';
import { VmmError } from '../util/errors.js';

test('defaults: version 4, 8 GP + 3 fixed counters, 48 bits, full-width writes, unmodelled events unavailable', () => {
  const c = resolvePmuConfig();
  assert.equal(c.version, 4);
  assert.equal(c.gpCounters, 8);
  assert.equal(c.fixedCounters, 3);
  assert.equal(c.counterWidth, 48);
  assert.equal(c.fullWidthWrites, true);
  assert.equal(c.eventsUnavailable, 0x58); // LLC reference (3), LLC misses (4), branch misses (6)
  assert.equal(c.anyThreadDeprecated, false);
  assert.equal(anyThreadAllowed(c), true);
  assert.equal(pmuNeedsPdcm(c), true);
});

test('version 1 defaults to no fixed counters; version 5 deprecates AnyThread by default', () => {
  assert.equal(resolvePmuConfig({ version: 1 }).fixedCounters, 0);
  const v5 = resolvePmuConfig({ version: 5 });
  assert.equal(v5.anyThreadDeprecated, true);
  assert.equal(anyThreadAllowed(v5), false);
  assert.equal(anyThreadAllowed(resolvePmuConfig({ version: 2 })), false);
});

test('version 0 is the no-PMU config and rejects other fields', () => {
  assert.equal(resolvePmuConfig({ version: 0 }), NO_PMU);
  assert.equal(pmuNeedsPdcm(NO_PMU), false);
  assert.throws(() => resolvePmuConfig({ version: 0, gpCounters: 2 }), /pmu\.gpCounters: has no meaning with pmu\.version 0/);
});

test('validation errors name the field and the accepted range', () => {
  const cases: [Record<string, unknown>, RegExp, string][] = [
    [{ version: 6 }, /^pmu\.version: expected an integer 0-5, got 6$/, 'pmu.version'],
    [{ gpCounters: 9 }, /^pmu\.gpCounters: expected an integer 0-8, got 9$/, 'pmu.gpCounters'],
    [{ gpCounters: 2.5 }, /pmu\.gpCounters: expected an integer 0-8, got 2\.5/, 'pmu.gpCounters'],
    [{ fixedCounters: 4 }, /pmu\.fixedCounters: expected an integer 0-3, got 4/, 'pmu.fixedCounters'],
    [{ version: 1, fixedCounters: 3 }, /version 1 has no fixed counters/, 'pmu.fixedCounters'],
    [{ counterWidth: 64 }, /pmu\.counterWidth: expected an integer 32-48, got 64/, 'pmu.counterWidth'],
    [{ fullWidthWrites: 'yes' }, /pmu\.fullWidthWrites: expected true or false, got "yes"/, 'pmu.fullWidthWrites'],
    [{ eventsUnavailable: 0x80 }, /pmu\.eventsUnavailable: expected an integer 0-127, got 128/, 'pmu.eventsUnavailable'],
    [{ version: 1, anyThreadDeprecated: true }, /pmu\.anyThreadDeprecated: .*version 2\+/, 'pmu.anyThreadDeprecated'],
    [{ gpcounters: 2 }, /pmu\.gpcounters: unknown field/, 'pmu.gpcounters'],
  ];
  for (const [input, re, field] of cases) {
    assert.throws(
      () => resolvePmuConfig(input),
      (e: unknown) => e instanceof PmuError && e instanceof VmmError && re.test(e.message) && e.field === field && e.kind === 'pmu',
      JSON.stringify(input),
    );
  }
});

test('eventsUnavailable adds to the always-unavailable unmodelled events', () => {
  assert.equal(resolvePmuConfig({ eventsUnavailable: 0x20 }).eventsUnavailable, 0x78);
});
