/**
 * Test support: random snippet cases (testing/snippet-case.ts, 64-bit mode, CPL 3) that run one
 * instance of a table row, for checking the row's declared flags against what emu (unit tests)
 * and the host CPU (tests/differential) do. Memory operands are [rBX] into the data page; rSI
 * and rDI point into it too; the other registers, the data and the input flags are random.
 */
import { FLAGS_INPUT, FLAGS_STATUS, SNIPPET_DATA_BASE, SNIPPET_DATA_SIZE, type SnippetCase } from '../testing/snippet-case.js';
import { encodeRow } from './row-encoder.test-util.js';
import type { Row } from './row.js';

/** Rows whose instances can run in a plain CPL-3 snippet (no I/O, no system state, no control transfer). */
export function runnableAtCpl3(r: Row): boolean {
  if (r.fn === null || r.invalid || (r.modes & 4) === 0 || r.priv || r.branch !== 'none') return false;
  if (r.ops.some((o) => 'OASCD'.includes(o.kind) || /^[ECSDFG]S$/.test(o.kind) || o.kind === 'DX')) return false;
  return !['IN', 'OUT', 'INS', 'OUTS', 'HLT', 'CLI', 'STI', 'POPF', 'LSS', 'LFS', 'LGS', 'CPUID', 'RDTSC', 'RDTSCP', 'RDPMC', 'UD2', 'FWAIT'].includes(r.mn);
}

/** A seeded xorshift32 generator. */
export function prng(seed: number): () => number {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

/** `n` random cases running an instance of `r` (register and, where allowed, memory forms alternating). */
export function rowCases(r: Row, n: number, seed: number): SnippetCase[] {
  const rnd = prng(seed);
  const out: SnippetCase[] = [];
  for (let k = 0; k < n; k++) {
    const imm = rnd();
    const inst = encodeRow(r, { mode: 2, mem: (k & 1) === 1, reg: 2, rm: 1, imm: (j) => (imm >>> ((j & 3) * 8)) & 0xff });
    if (inst === null) return [];
    const gpr = new BigUint64Array(16);
    for (let i = 0; i < 16; i++) gpr[i] = (BigInt(rnd()) << 32n) | BigInt(rnd());
    gpr[3] = BigInt(SNIPPET_DATA_BASE + 64); // rBX: memory operands
    gpr[4] = BigInt(SNIPPET_DATA_BASE + SNIPPET_DATA_SIZE); // rSP: top of the data area
    gpr[6] = BigInt(SNIPPET_DATA_BASE + 128); // rSI, rDI: string operands
    gpr[7] = BigInt(SNIPPET_DATA_BASE + 256);
    if ((k & 3) === 0) gpr[1] = BigInt(rnd() & 0x3f); // small CL counts too
    const data = new Uint8Array(SNIPPET_DATA_SIZE);
    for (let i = 0; i < data.length; i++) data[i] = rnd() & 0xff;
    out.push({ name: `table/${r.mn} ${r.enc} #${k}`, cls: `table/${r.mn}`, code: inst.bytes, gpr, rflags: rnd() & FLAGS_INPUT, data, flagsMask: FLAGS_STATUS, undefinedGprs: 0, mode: 64 });
  }
  return out;
}
