import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { preferDoubleFields } from './v8-fields.js';

test('preferDoubleFields keeps the values and refuses a field that is not a number', () => {
  const o = { a: 7, b: -1, s: 'x' };
  preferDoubleFields(o, ['a', 'b']);
  assert.deepEqual(o, { a: 7, b: -1, s: 'x' });
  assert.throws(() => preferDoubleFields(o, ['s']), /s is not a number field/);
});

// V8's hidden classes are visible only through its natives syntax: a child Node with --allow-natives-syntax
// stores values past the Smi range in the fields and asks whether the object's map stayed the one a fresh
// object has. Without preferDoubleFields it does not (the first case shows the check can fail).
test('a value past the Smi range leaves the hidden class of a prepared object, and of the vCPU, unchanged', () => {
  const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
  const script = `
    const { preferDoubleFields } = await import(${JSON.stringify(here('./v8-fields.js'))});
    const { makeCpu } = await import(${JSON.stringify(here('../cpu/emu/cpu-harness.test-util.js'))});
    const { DOUBLE_FIELDS } = await import(${JSON.stringify(here('../cpu/emu/cpu.js'))});
    class Plain { constructor(prep) { this.x = 1; this.y = 2; if (prep) preferDoubleFields(this, ['x', 'y']); } }
    const out = {};
    for (const prep of [false, true]) {
      const a = new Plain(prep), b = new Plain(prep);
      a.x = 2 ** 40; a.y = 0.25;
      out[prep ? 'prepared' : 'plain'] = %HaveSameMap(a, b);
    }
    const c1 = makeCpu(1 << 20).cpu, c2 = makeCpu(1 << 20).cpu;
    const changed = [];
    for (const k of DOUBLE_FIELDS) { c1[k] = 2 ** 40 + 1; if (!%HaveSameMap(c1, c2)) { changed.push(k); break; } }
    out.cpuChanged = changed;
    console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { plain: false, prepared: true, cpuChanged: [] });
});
