/** What tests count in the wasm tier's module bytes: the modules a run compiles, and loads at a given offset. */

/** Module bytes compiled while `f` runs. */
export function modulesOf(f: () => void): Uint8Array[] {
  const api = (globalThis as unknown as { WebAssembly: { Module: new (b: Uint8Array) => unknown } }).WebAssembly;
  const M = api.Module;
  const out: Uint8Array[] = [];
  api.Module = function (b: Uint8Array) {
    out.push(b.slice());
    return new M(b);
  } as unknown as typeof M;
  try {
    f();
  } finally {
    api.Module = M;
  }
  return out;
}

/** wasm load opcodes the tests look for. */
export const I64_LOAD = 0x29;
export const F64_LOAD = 0x2b;

/** How often the load `opcode` (alignment 2^3) from memory offset `offset` appears in the bytes. */
export function loadsAt(bytes: Uint8Array, opcode: number, offset: number): number {
  const seq = [opcode, 0x03];
  for (let v = offset; ; v >>= 7) {
    if (v < 0x80) {
      seq.push(v);
      break;
    }
    seq.push(0x80 | (v & 0x7f));
  }
  let n = 0;
  for (let i = 0; i + seq.length <= bytes.length; i++) if (seq.every((v, j) => bytes[i + j] === v)) n++;
  return n;
}
