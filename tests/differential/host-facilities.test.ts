/** Which native results are excused on a host that lacks a facility, and that nothing is on a host that has them all. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SNIPPET_CODE_BASE, SNIPPET_DATA_SIZE, VECTOR_BP, VECTOR_GP, VECTOR_NONE, VECTOR_NP, VECTOR_UNSUPPORTED, type SnippetCase, type SnippetResult } from '../../src/cpu/emu/testing/snippet-case.js';
import { FACILITIES, HostFacilities, NotCompared, type Facility } from './host-facilities.js';

function host(missing: readonly Facility[]): HostFacilities {
  return new HostFacilities(FACILITIES.map((name) => ({
    name, ok: !missing.includes(name),
    ran: name === 'ldt' ? 'mov es, 0x0f (LDT data selector); mov ecx, es' : `${name} step`,
    observed: missing.includes(name) ? '#GP(0xc) in snippet +0x0' : 'no exception, ended at snippet +0x7 with rax 0xf, cs 0x33',
  })));
}

function snippet(code: number[], mode: 64 | 32 | 16 = 64): SnippetCase {
  return { name: 'c', cls: 'x', code: Uint8Array.from(code), gpr: new BigUint64Array(16), rflags: 0, data: new Uint8Array(SNIPPET_DATA_SIZE), flagsMask: 0, undefinedGprs: 0, mode };
}

function result(vector: number, errorCode = 0, ripOffset = 0): SnippetResult {
  return { vector, errorCode, gpr: new BigUint64Array(16), rflags: 0, rip: BigInt(SNIPPET_CODE_BASE + ripOffset), faultAddr: 0n, data: new Uint8Array(SNIPPET_DATA_SIZE) };
}

const MOV_ES = [0x8e, 0xc0];
const IRETQ = [0x48, 0xcf];

test('a host with every facility excuses nothing: every case is compared', () => {
  const all = host([]);
  assert.equal(all.unusable(), null);
  for (const [c, r] of [
    [snippet(MOV_ES), result(VECTOR_GP, 0x0c)],
    [snippet(MOV_ES), result(VECTOR_NP, 0x14)],
    [snippet(IRETQ), result(VECTOR_GP, 0x20)],
    [snippet([0xcd, 0x21]), result(VECTOR_GP, 0x10a)],
    [snippet([0x90], 32), result(VECTOR_NONE, 0, 1)],
    [snippet([0x90], 16), result(VECTOR_NONE, 0, 1)],
  ] as const) assert.equal(all.missingFor(c, r), null);
});

test('without LDT selectors: faults naming an LDT selector are excused, GDT ones are not', () => {
  const h = host(['ldt', 'mode16']);
  assert.equal(h.missingFor(snippet(MOV_ES), result(VECTOR_GP, 0x0c)), 'ldt');
  assert.equal(h.missingFor(snippet(MOV_ES), result(VECTOR_GP, 0x14)), 'ldt', 'beyond the LDT limit: this host would fault anyway');
  assert.equal(h.missingFor(snippet(MOV_ES), result(VECTOR_GP, 0x08)), null, 'a GDT selector is a valid reference');
  assert.equal(h.missingFor(snippet(MOV_ES), result(VECTOR_GP, 0)), null);
  assert.equal(h.missingFor(snippet(MOV_ES), result(VECTOR_GP, 0x0e)), null, 'IDT-related error code (bit 1)');
  assert.equal(h.missingFor(snippet(MOV_ES), result(VECTOR_NONE, 0, 2)), null);
  assert.equal(h.missingFor(snippet([0x90], 16), result(VECTOR_UNSUPPORTED)), 'mode16');
  assert.equal(h.missingFor(snippet([0x90], 32), result(VECTOR_NONE, 0, 1)), null);
  assert.match(h.reason('ldt'), /^this host cannot load LDT selectors natively: mov es, 0x0f \(LDT data selector\) raised #GP\(0xc\)$/);
});

test('without compatibility mode: 32-bit cases and faults naming 0x20-0x23 are excused; IRETQ only on its own', () => {
  const h = host(['compat32', 'iret-compat']);
  assert.equal(h.missingFor(snippet([0x90], 32), result(VECTOR_UNSUPPORTED)), 'compat32');
  assert.equal(h.missingFor(snippet(MOV_ES), result(VECTOR_GP, 0x20)), 'compat32');
  const iretOnly = host(['iret-compat']);
  assert.equal(iretOnly.missingFor(snippet(IRETQ), result(VECTOR_GP, 0x20)), 'iret-compat');
  assert.equal(iretOnly.missingFor(snippet(MOV_ES), result(VECTOR_GP, 0x20)), null, 'a far JMP/MOV fault is genuine where compatibility mode works');
});

test('the harness reporting a mode unsupported that the probe found working is an error, not a skip', () => {
  assert.throws(() => host([]).missingFor(snippet([0x90], 32), result(VECTOR_UNSUPPORTED)), /probe said it works/);
});

test('INT n faults are excused only where INT gates differ from Linux', () => {
  const h = host(['int-gates']);
  assert.equal(h.missingFor(snippet([0xcd, 0x21]), result(VECTOR_GP, 0x10a, 0)), 'int-gates');
  assert.equal(h.missingFor(snippet([0x90, 0xcc]), result(VECTOR_BP, 0, 2)), 'int-gates');
  assert.equal(h.missingFor(snippet([0x0f, 0x0b]), result(6, 0, 0)), null);
});

test('port I/O that does not fault makes the harness unusable; counts are worded per facility', () => {
  assert.match(host(['cpl3-io']).unusable() ?? '', /I\/O ports/);
  const h = host(['ldt']);
  const nc = new NotCompared(h);
  nc.add('ldt');
  nc.add('ldt');
  assert.equal(nc.total, 2);
  assert.deepEqual(nc.lines(), ['2 cases not compared: this host cannot load LDT selectors natively: mov es, 0x0f (LDT data selector) raised #GP(0xc)']);
});
