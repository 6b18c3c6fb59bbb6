import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeRegister, registerByName, REG, RegSet, msrReg, MSR, segReg, regSet, regNumber, segmentBatch } from './registers.js';

test('ids carry set, number, size and access', () => {
  const rip = describeRegister(REG.rip);
  assert.equal(rip.set, RegSet.SPECIAL);
  assert.equal(rip.size, 8);
  assert.equal(rip.access, 'read-write');
  const cs = describeRegister(segReg('cs', 'selector'));
  assert.equal(cs.name, 'cs.selector');
  assert.equal(cs.size, 2);
  const caps = describeRegister(msrReg(MSR.IA32_PERF_CAPABILITIES));
  assert.equal(caps.access, 'read-only-guest');
  assert.equal(regSet(msrReg(MSR.IA32_EFER)), RegSet.MSR);
  assert.equal(regNumber(msrReg(MSR.IA32_EFER)), 0xc0000080);
});

test('any MSR is addressable; unknown ids are rejected', () => {
  assert.equal(describeRegister(msrReg(0x38f)).name, 'msr 0x38f');
  assert.equal(registerByName('msr:0x38f').number, 0x38f);
  assert.equal(registerByName('RAX').number, 0);
  assert.throws(() => describeRegister(REG.rip + 77), /not in the register catalog/);
  assert.throws(() => registerByName('xmm99'), /unknown register/);
});

test('segmentBatch expands one segment into its four catalog registers', () => {
  const b = segmentBatch('ds', { selector: 0x10, base: 0n, limit: 0xffffffff, attrs: 0xc093 });
  assert.deepEqual(b.map(([id]) => describeRegister(id).name), ['ds.selector', 'ds.base', 'ds.limit', 'ds.attrs']);
  assert.equal(b[2]![1], 0xffffffffn);
});
