import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Body, moduleBytes, tableOfHostFunctions, T, W, wasmApi, type FnType } from './wasm-encoder.js';

// Host functions of three signatures; the block (a, x) -> f64 calls each of them once and combines the results.
const TYPES: readonly FnType[] = [
  [[T.I32], [T.I32]],
  [[T.I32, T.F64], [T.F64]],
  [[], [T.I32]],
  [[T.I32, T.F64], [T.F64]],
];
const IMPORTS = [
  ['inc', 0],
  ['scale', 1],
  ['seven', 2],
] as const;
const MAIN = 3;

function block(): Body {
  const b = new Body(2);
  b.get(0).call(0); // inc(a)
  b.get(1).call(1); // scale(inc(a), x)
  b.call(2).op(W.F64ConvertI32U, W.F64Add); // + seven()
  return b;
}

function hostCalls(): { fns: Record<string, unknown>; seen: string[] } {
  const seen: string[] = [];
  const fns = {
    inc: (a: number): number => (seen.push(`inc ${a}`), a + 1),
    scale: (a: number, x: number): number => (seen.push(`scale ${a} ${x}`), a * x),
    seven: (): number => (seen.push('seven'), 7),
  };
  return { fns, seen };
}

test('a module reaching the host functions through a table computes what one importing them does, and imports no function', () => {
  const memory = new wasmApi!.Memory({ initial: 1, maximum: 1 });
  const direct = hostCalls();
  const viaImports = new wasmApi!.Instance(new wasmApi!.Module(moduleBytes(TYPES, IMPORTS, MAIN, [block()])), { e: { m: memory, ...direct.fns } });
  const tabled = hostCalls();
  const u = tableOfHostFunctions(wasmApi!, TYPES, IMPORTS, tabled.fns);
  const bytes = moduleBytes(TYPES, IMPORTS, MAIN, [block(), block()], [], true);
  const mod = new wasmApi!.Module(bytes);
  const viaTable = new wasmApi!.Instance(mod, { e: { m: memory, u } });
  for (const [a, x] of [
    [3, 0.5],
    [-2147483648, -1.25],
    [41, 1e300],
  ] as const) {
    const want = (viaImports.exports['f0'] as (a: number, x: number) => number)(a, x);
    assert.equal((viaTable.exports['f0'] as (a: number, x: number) => number)(a, x), want);
    assert.equal((viaTable.exports['f1'] as (a: number, x: number) => number)(a, x), want);
  }
  // Each case's three host calls, once for f0 and once for f1, with the same arguments.
  const twice = direct.seen.flatMap((_, i, all) => (i % 3 === 0 ? [...all.slice(i, i + 3), ...all.slice(i, i + 3)] : []));
  assert.deepEqual(tabled.seen, twice);
  // The only imports are the memory and the table: V8 compiles no JS-call wrapper into the module.
  const api = (globalThis as unknown as { WebAssembly: { Module: { imports(m: object): { name: string; kind: string }[] } } }).WebAssembly;
  const kinds = api.Module.imports(mod).map((i) => `${i.name}:${i.kind}`);
  assert.deepEqual(kinds, ['m:memory', 'u:table']);
});
