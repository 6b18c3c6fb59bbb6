import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describePmu } from './describe-pmu.js';
import { resolvePmuConfig } from './pmu-config.js';

test('describePmu lists facilities and which architectural events count', () => {
  const d = describePmu(resolvePmuConfig({ version: 4 }));
  assert.equal(d.version, 4);
  const byName = new Map(d.facilities.map((f) => [f.name, f.value]));
  assert.match(byName.get('general-purpose counters') ?? '', /^8 x 48 bits/);
  assert.match(byName.get('fixed counters') ?? '', /^3 x 48 bits \(INST_RETIRED\.ANY, CPU_CLK_UNHALTED\.THREAD, CPU_CLK_UNHALTED\.REF_TSC\)/);
  assert.equal(byName.get('CPUID.0AH'), 'EAX=0x07300804 EBX=0x00000058 ECX=0x00000000 EDX=0x00000603');
  const ev = new Map(d.events.map((e) => [e.code, e]));
  assert.equal(ev.get('0xC0/0x00')?.available, true);
  assert.equal(ev.get('0xC4/0x00')?.available, true);
  assert.equal(ev.get('0xC5/0x00')?.available, false);
  assert.equal(ev.get('0xC5/0x00')?.reason, 'no branch predictor model');
  assert.equal(ev.get('0x2E/0x4F')?.reason, 'no cache model');
  assert.equal(describePmu(resolvePmuConfig({ eventsUnavailable: 1 })).events[0]?.reason, 'disabled by configuration');
});

test('describePmu for no PMU', () => {
  const d = describePmu(resolvePmuConfig({ version: 0 }));
  assert.equal(d.version, 0);
  assert.ok(d.events.every((e) => !e.available && e.reason === 'no PMU'));
});
