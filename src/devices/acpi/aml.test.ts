import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buffer, device, eisaId, integer, name, nameString, pkg, pkgLength, scope, string } from './aml.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('PkgLength: one byte up to 63, then a lead byte with the count of following bytes', () => {
  assert.equal(hex(pkgLength(5)), '06');
  assert.equal(hex(pkgLength(62)), '3f');
  // 63-byte body: 63 + 2 = 65 = 0x41: lead 0x41 (1 following, low nibble 1), then 0x04.
  assert.equal(hex(pkgLength(63)), '4104');
  const l = pkgLength(0x1000); // 0x1000 + 3 = 0x1003
  assert.equal(l[0]! >> 6, 2);
  assert.equal((l[0]! & 0xf) | (l[1]! << 4) | (l[2]! << 12), 0x1003);
});

test('names, integers, strings and EISA IDs encode as the AML grammar says', () => {
  assert.equal(hex(nameString('_S5')), '5f53355f');
  assert.equal(hex(nameString('\\_SB')), '5c5f53425f');
  assert.equal(hex(nameString('\\_SB.PCI0')), '5c2e5f53425f50434930');
  assert.equal(hex(nameString('A.B.C')), '2f03415f5f5f425f5f5f435f5f5f');
  assert.equal(hex(integer(0)), '00');
  assert.equal(hex(integer(1)), '01');
  assert.equal(hex(integer(0x12)), '0a12');
  assert.equal(hex(integer(0x1234)), '0b3412');
  assert.equal(hex(integer(0x12345678)), '0c78563412');
  assert.equal(hex(integer(0x1_0000_0000)), '0e0000000001000000');
  assert.equal(hex(string('ab')), '0d616200');
  assert.equal(eisaId('PNP0A03'), 0x030ad041);
  assert.equal(eisaId('PNP0B00'), 0x000bd041);
  assert.throws(() => nameString('toolong'), RangeError);
  assert.throws(() => eisaId('pnp0a03'), RangeError);
});

test('Name(_S5, Package) and Scope/Device/Buffer wrap their bodies with PkgLength', () => {
  assert.equal(hex(name('_S5', pkg([integer(0), integer(0), integer(0), integer(0)]))), '085f53355f' + '12' + '06' + '04' + '00000000');
  assert.equal(hex(buffer(Uint8Array.of(0x79, 0))), '11' + '05' + '0a02' + '7900');
  const d = device('PCI0', [name('_UID', integer(0))]);
  assert.equal(hex(d.subarray(0, 3)), '5b82' + (d.length - 2).toString(16).padStart(2, '0'));
  const s = scope('\\_SB', [d]);
  assert.equal(s[0], 0x10);
  assert.equal(s[1], s.length - 1);
});
