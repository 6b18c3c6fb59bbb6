/** Little-endian byte strings of register values, as the remote protocol sends them. */

/** `v` as `n` little-endian bytes (a negative value in two's complement). */
export function leBytes(v: bigint, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = v < 0n ? v + (1n << BigInt(8 * n)) : v;
  for (let i = 0; i < n; i++) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

export function fromLe(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}
