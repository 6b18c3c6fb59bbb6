/**
 * 64-bit values without BigInt on hot paths: a value is two unsigned 32-bit halves.
 * BigInt is fine at API edges (register batches, config), never per instruction.
 */
export const TWO_32 = 0x1_0000_0000;

export function hi32(v: bigint): number {
  return Number((v >> 32n) & 0xffff_ffffn);
}
export function lo32(v: bigint): number {
  return Number(v & 0xffff_ffffn);
}
export function join64(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
/** Exact for values below 2^53; used for addresses and sizes. */
export function toSafeNumber(v: bigint, what: string): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${what} ${v} does not fit in a safe integer`);
  return Number(v);
}
export function readU64(view: DataView, off: number): bigint {
  return view.getBigUint64(off, true);
}
export function hex(v: number | bigint, width = 0): string {
  const s = (typeof v === 'bigint' || v < 0x1_0000_0000 ? v : v).toString(16);
  return '0x' + s.padStart(width, '0');
}
