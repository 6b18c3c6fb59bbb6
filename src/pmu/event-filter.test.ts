import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  loadPmuFilterJson,
  pmuFilterAllowsGp,
  pmuFilterAllowsFixed,
  toKvmFilterFields,
  encodeMaskedEntry,
  createPmuEventFilter,
  KVM_PMU_EVENT_ALLOW,
  KVM_PMU_EVENT_DENY,
  KVM_PMU_EVENT_FLAG_MASKED_EVENTS,
} from './event-filter.js';
import { PmuError } from './pmu-error.js';

const load = (o: unknown) => loadPmuFilterJson(JSON.stringify(o), 'pmu-filter.json');

test('ALLOW list: only listed event select + umask pairs count', () => {
  const f = load({ action: 'allow', events: [{ event: '0xC0', umask: 0 }, { event: 0x3c, umask: 1 }] });
  assert.equal(pmuFilterAllowsGp(f, 0xc0, 0), true);
  assert.equal(pmuFilterAllowsGp(f, 0x3c, 1), true);
  assert.equal(pmuFilterAllowsGp(f, 0x3c, 0), false, 'umask must match');
  assert.equal(pmuFilterAllowsGp(f, 0xc4, 0), false);
});

test('DENY list: listed pairs are blocked, everything else counts', () => {
  const f = load({ action: 'deny', events: [{ event: 0xc4 }] });
  assert.equal(pmuFilterAllowsGp(f, 0xc4, 0), false);
  assert.equal(pmuFilterAllowsGp(f, 0xc4, 1), true);
  assert.equal(pmuFilterAllowsGp(f, 0xc0, 0), true);
});

test('fixed counter i counts iff (ALLOW and bit i) or (DENY and not bit i)', () => {
  for (let bitmap = 0; bitmap < 8; bitmap++) {
    const allow = load({ action: 'allow', fixedCounterBitmap: bitmap });
    const deny = load({ action: 'deny', fixedCounterBitmap: bitmap });
    for (let i = 0; i < 3; i++) {
      const bit = ((bitmap >> i) & 1) === 1;
      assert.equal(pmuFilterAllowsFixed(allow, i), bit);
      assert.equal(pmuFilterAllowsFixed(deny, i), !bit);
    }
  }
  // The events list does not affect fixed counters: an ALLOW list naming INST_RETIRED still blocks fixed 0 without its bit.
  const f = load({ action: 'allow', events: [{ event: 0xc0 }] });
  assert.equal(pmuFilterAllowsFixed(f, 0), false);
  assert.equal(load({ action: 'allow', fixedCounters: [0, 2] }).fixedCounterBitmap, 5);
});

test('masked events: umask & mask == match, include and exclude entries', () => {
  // Include every umask of 0xD0 except those with bit 0 set (MEM_INST_RETIRED-style).
  const f = load({
    action: 'allow',
    maskedEvents: [
      { event: 0xd0, mask: 0x00, match: 0x00 },
      { event: 0xd0, mask: 0x01, match: 0x01, exclude: true },
      { event: 0xc0, mask: 0xf0, match: 0x80 },
    ],
  });
  assert.equal(f.masked, true);
  assert.equal(pmuFilterAllowsGp(f, 0xd0, 0x82), true);
  assert.equal(pmuFilterAllowsGp(f, 0xd0, 0x81), false, 'excluded');
  assert.equal(pmuFilterAllowsGp(f, 0xd0, 0x00), true);
  assert.equal(pmuFilterAllowsGp(f, 0xc0, 0x85), true);
  assert.equal(pmuFilterAllowsGp(f, 0xc0, 0x05), false);
  assert.equal(pmuFilterAllowsGp(f, 0xc4, 0x00), false, 'not in the list');
  // Same entries as a DENY filter invert the verdict.
  const d = createPmuEventFilter({ action: 'deny', maskedEvents: f.entries });
  assert.equal(pmuFilterAllowsGp(d, 0xd0, 0x82), false);
  assert.equal(pmuFilterAllowsGp(d, 0xd0, 0x81), true, 'excluded from the deny list, so it counts');
  assert.equal(pmuFilterAllowsGp(d, 0xc4, 0x00), true);
  // An exclude entry alone filters nothing in.
  const onlyExclude = load({ action: 'allow', maskedEvents: [{ event: 0xc0, mask: 0xff, match: 0, exclude: true }] });
  assert.equal(pmuFilterAllowsGp(onlyExclude, 0xc0, 0), false);
});

test('KVM encoding: action, flags, bitmap, plain and masked events', () => {
  const plain = toKvmFilterFields(load({ action: 'deny', events: [{ event: 0xc4, umask: 0 }, { event: 0x3c, umask: 1 }], fixedCounterBitmap: 0x80000001 }));
  assert.deepEqual(plain, { action: KVM_PMU_EVENT_DENY, flags: 0, fixedCounterBitmap: 0x80000001, events: [0xc4n, 0x013cn] });
  const masked = toKvmFilterFields(load({ action: 'allow', maskedEvents: [{ event: 0xd0, mask: 0x0f, match: 0x01, exclude: true }] }));
  assert.equal(masked.action, KVM_PMU_EVENT_ALLOW);
  assert.equal(masked.flags, KVM_PMU_EVENT_FLAG_MASKED_EVENTS);
  // bits 7:0 select 0xD0, 15:8 match 0x01, 55 exclude, 63:56 mask 0x0F.
  assert.deepEqual(masked.events, [0x0f80_0000_0000_01d0n]);
  assert.equal(encodeMaskedEntry(0x1d0, 0xff, 0x12, false), 0xff00_0001_0000_12d0n, 'select bits 11:8 go to 35:32');
});

test('JSON validation names the file and the field', () => {
  const cases: [string, RegExp][] = [
    ['{', /^pmu-filter\.json: not valid JSON/],
    ['[]', /^pmu-filter\.json: \(top level\): expected an object/],
    ['{"events": []}', /^pmu-filter\.json: action: expected "allow" or "deny", got undefined$/],
    ['{"action": "ALLOW"}', /^pmu-filter\.json: action: expected "allow" or "deny", got "ALLOW"$/],
    ['{"action": "allow", "fixed": 1}', /^pmu-filter\.json: fixed: unknown field/],
    ['{"action": "allow", "events": {}}', /^pmu-filter\.json: events: expected an array/],
    [
      '{"action": "allow", "events": [{"event": 1}, {"event": 2}, {"event": 3}, {"event": 4, "umask": 300}]}',
      /^pmu-filter\.json: events\[3\]\.umask: expected 0-255, got 300$/,
    ],
    ['{"action": "allow", "events": [{"event": "0x1C4"}]}', /^pmu-filter\.json: events\[0\]\.event: expected 0-255, got 0x1C4$/],
    ['{"action": "allow", "events": [{"event": "branches"}]}', /^pmu-filter\.json: events\[0\]\.event: expected an integer 0-255/],
    ['{"action": "allow", "events": [{"event": 1, "unmask": 2}]}', /^pmu-filter\.json: events\[0\]\.unmask: unknown field/],
    ['{"action": "allow", "events": [], "maskedEvents": []}', /^pmu-filter\.json: maskedEvents: cannot be combined with "events"/],
    ['{"action": "allow", "maskedEvents": [{"event": 1}]}', /^pmu-filter\.json: maskedEvents\[0\]\.mask: required/],
    ['{"action": "allow", "maskedEvents": [{"event": 1, "mask": 15, "match": 16}]}', /^pmu-filter\.json: maskedEvents\[0\]\.match: 0x10 has bits outside mask 0xf/],
    ['{"action": "allow", "maskedEvents": [{"event": 1, "mask": 1, "exclude": "yes"}]}', /^pmu-filter\.json: maskedEvents\[0\]\.exclude: expected true or false/],
    ['{"action": "allow", "fixedCounters": [0, 32]}', /^pmu-filter\.json: fixedCounters\[1\]: expected 0-31, got 32$/],
    ['{"action": "allow", "fixedCounters": [0], "fixedCounterBitmap": 1}', /^pmu-filter\.json: fixedCounterBitmap: give either/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => loadPmuFilterJson(text, 'pmu-filter.json'), (e: unknown) => e instanceof PmuError && re.test(e.message), text);
  }
  const tooMany = { action: 'deny', events: Array.from({ length: 301 }, (_, i) => ({ event: i & 0xff, umask: i >> 8 })) };
  assert.throws(() => load(tooMany), /pmu-filter\.json: events: 301 entries, at most 300 \(KVM_PMU_EVENT_FILTER_MAX_EVENTS\)/);
  assert.equal(load({ ...tooMany, events: tooMany.events.slice(0, 300) }).entries.length, 300);
});

test('a documented example file loads (names are comments)', () => {
  const f = loadPmuFilterJson(
    `{
      "action": "allow",
      "events": [
        { "name": "instructions", "event": "0xC0", "umask": "0x00" },
        { "name": "branches", "event": "0xC4" }
      ],
      "fixedCounters": [0, 1, 2]
    }`,
    'allow-basic.json',
  );
  assert.equal(f.action, 'allow');
  assert.equal(f.entries.length, 2);
  assert.equal(f.fixedCounterBitmap, 7);
});
