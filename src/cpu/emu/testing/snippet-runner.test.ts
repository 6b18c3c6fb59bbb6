import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CASE_RECORD_SIZE, compareResults, decodeResultFile, encodeCaseFile, FLAG_CF, FLAG_DF, FLAG_OF, FLAG_SF, FLAGS_STATUS, RESULT_RECORD_SIZE,
  SNIPPET_CODE_BASE, SNIPPET_DATA_SIZE, SNIPPET_DEFAULT_RSP, VECTOR_BP, VECTOR_DE, VECTOR_GP, VECTOR_NONE, VECTOR_PF, type SnippetCase,
} from './snippet-case.js';
import { EmuSnippetRunner } from './snippet-runner.js';

function snippet(code: number[], regs: Record<number, bigint> = {}, rflags = 0, mode: 64 | 32 | 16 = 64): SnippetCase {
  const gpr = new BigUint64Array(16);
  gpr[4] = BigInt(SNIPPET_DEFAULT_RSP);
  for (const [k, v] of Object.entries(regs)) gpr[Number(k)] = v;
  return { name: 't', cls: 't', code: Uint8Array.from(code), gpr, rflags, data: new Uint8Array(SNIPPET_DATA_SIZE), flagsMask: FLAGS_STATUS | FLAG_DF, undefinedGprs: 0, mode };
}

const runner = new EmuSnippetRunner();

test('runs a snippet at CPL 3 to its end: add rax, rbx (48 01 d8) overflows into SF/OF', () => {
  const r = runner.run(snippet([0x48, 0x01, 0xd8], { 0: 0x7fffffffffffffffn, 3: 1n }));
  assert.equal(r.vector, VECTOR_NONE);
  assert.equal(r.rip, BigInt(SNIPPET_CODE_BASE + 3));
  assert.equal(r.gpr[0], 0x8000000000000000n);
  assert.equal(r.rflags & (FLAG_SF | FLAG_OF | FLAG_CF), FLAG_SF | FLAG_OF);
  assert.equal(r.gpr[4], BigInt(SNIPPET_DEFAULT_RSP));
});

test('reports faults with the state at the faulting instruction', () => {
  // mov eax, 1 (b8 01 00 00 00); div ecx (f7 f1) with ECX = 0: #DE at offset 5, EAX already 1.
  const de = runner.run(snippet([0xb8, 1, 0, 0, 0, 0xf7, 0xf1]));
  assert.equal(de.vector, VECTOR_DE);
  assert.equal(de.rip, BigInt(SNIPPET_CODE_BASE + 5));
  assert.equal(de.gpr[0], 1n);
  // HLT at CPL 3: #GP(0) at the instruction (not the end marker, which sits after it).
  const gp = runner.run(snippet([0xf4, 0x90]));
  assert.equal(gp.vector, VECTOR_GP);
  assert.equal(gp.rip, BigInt(SNIPPET_CODE_BASE));
  // INT3 is a trap: RIP after it.
  const bp = runner.run(snippet([0xcc]));
  assert.equal(bp.vector, VECTOR_BP);
  assert.equal(bp.rip, BigInt(SNIPPET_CODE_BASE + 1));
  // mov rax, [rbx] (48 8b 03) from an unmapped page: #PF with CR2.
  const pf = runner.run(snippet([0x48, 0x8b, 0x03], { 3: 0x300008n }));
  assert.equal(pf.vector, VECTOR_PF);
  assert.equal(pf.faultAddr, 0x300008n);
});

test('32-bit compatibility mode: 48 is DEC EAX', () => {
  const r = runner.run(snippet([0x48], { 0: 5n }, 0, 32));
  assert.equal(r.vector, VECTOR_NONE);
  assert.equal(r.gpr[0]! & 0xffffffffn, 4n);
});

test('case and result files: layout shared with the native harness', () => {
  const c = snippet([0x90], { 1: 0x1122334455667788n }, FLAG_CF | FLAG_DF);
  const f = encodeCaseFile([c]);
  assert.equal(f.length, 16 + CASE_RECORD_SIZE);
  const dv = new DataView(f.buffer);
  assert.equal(dv.getUint32(16, true), 1); // code length
  assert.equal(dv.getBigUint64(16 + 8, true), BigInt(FLAG_CF | FLAG_DF));
  assert.equal(dv.getBigUint64(16 + 16 + 8, true), 0x1122334455667788n);

  const res = new Uint8Array(16 + RESULT_RECORD_SIZE);
  res.set([...'TSDRES01'].map((ch) => ch.charCodeAt(0)));
  const rv = new DataView(res.buffer);
  rv.setUint32(8, 1, true);
  rv.setUint32(12, RESULT_RECORD_SIZE, true);
  rv.setUint32(16, 0xffffffff, true);
  rv.setBigUint64(16 + 16 + 8, 0x1122334455667788n, true);
  rv.setBigUint64(16 + 144, BigInt(SNIPPET_CODE_BASE + 1), true);
  const [r] = decodeResultFile(res);
  assert.ok(r);
  assert.equal(r.vector, VECTOR_NONE);
  assert.equal(r.gpr[1], 0x1122334455667788n);
  // compareResults: equal to itself, and masks flags outside flagsMask.
  assert.deepEqual(compareResults(c, r, r), []);
  const other = { ...r, rflags: r.rflags ^ FLAG_OF };
  assert.equal(compareResults({ ...c, flagsMask: FLAG_CF }, r, other).length, 0);
  assert.equal(compareResults(c, r, other).length, 1);
});

test('exception delivery from 32-bit and 16-bit code uses all 64 bits of TSS.RSP0 (stack above 4 GiB)', () => {
  // SDM Vol. 3 §6.14.2: in IA-32e mode the handler stack is RSP0 from the 64-bit TSS whatever the interrupted mode.
  const high = new EmuSnippetRunner({ exceptionStackAbove4G: true });
  for (const mode of [32, 16] as const) {
    const r = high.run(snippet([0x0f, 0x0b], {}, 0, mode)); // UD2
    assert.equal(r.vector, 6, `${mode}-bit UD2 should be #UD delivered on the high stack`);
  }
});
