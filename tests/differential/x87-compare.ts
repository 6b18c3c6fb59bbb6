/**
 * Compares an emulated FPU result with the native one: everything bit for bit (vector, FNSAVE
 * image with the status/control/tag words and last-instruction pointers, FXSAVE header and
 * register slots, MXCSR, XMM0, RFLAGS, RAX, memory), except that transcendental results may
 * differ from the host's by a few ulps: those are measured instead.
 */
import { runFpuNative, type FpuCase, type FpuResult } from './x87-case.js';

export interface Verdict {
  /** Exact differences (empty when the case matches). */
  diffs: string[];
  /** For transcendental cases: the largest ulp distance among the result registers (0 if equal). */
  ulps: number;
  /** Transcendental results equal but C1 (rounded up) differs: the host rounded its own approximation. */
  c1Differs: boolean;
}

const hex = (b: Uint8Array, o: number, n: number): string =>
  Array.from(b.subarray(o, o + n)).reverse().map((x) => x.toString(16).padStart(2, '0')).join('');

/** Distance in units in the last place between two 80-bit values (Infinity when incomparable). */
export function ulpDistance(a: Uint8Array, ao: number, b: Uint8Array, bo: number): number {
  const key = (x: Uint8Array, o: number): [number, bigint] => {
    let sig = 0n;
    for (let i = 7; i >= 0; i--) sig = (sig << 8n) | BigInt(x[o + i]!);
    const se = x[o + 8]! | (x[o + 9]! << 8);
    const e = se & 0x7fff;
    if (e === 0x7fff || (e !== 0 && sig < 1n << 63n)) return [-1, 0n];
    const k = e === 0 ? sig : (BigInt(e) << 63n) + (sig - (1n << 63n));
    return [se >>> 15, k];
  };
  const [sa, ka] = key(a, ao);
  const [sb, kb] = key(b, bo);
  if (sa < 0 || sb < 0) return hex(a, ao, 10) === hex(b, bo, 10) ? 0 : Infinity;
  const va = sa ? -ka : ka;
  const vb = sb ? -kb : kb;
  const d = va > vb ? va - vb : vb - va;
  return d > 1000000n ? Infinity : Number(d);
}

function same(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Fast path: identical in every compared field. */
function identical(emu: FpuResult, nat: FpuResult): boolean {
  if (emu.vector !== nat.vector || emu.mxcsr !== nat.mxcsr || !same(emu.xmm0, nat.xmm0, 16) || !same(emu.mem, nat.mem, nat.mem.length)) return false;
  if (nat.vector === 0) {
    if (!same(emu.fsave, nat.fsave, 108) || (emu.rflags & 0x8d5) !== (nat.rflags & 0x8d5) || emu.rax !== nat.rax || emu.raxHi !== nat.raxHi) return false;
  }
  if (!same(emu.fx, nat.fx, 5)) return false;
  for (let i = 0; i < 8; i++) {
    const o = 32 + i * 16;
    for (let j = 0; j < 10; j++) if (emu.fx[o + j] !== nat.fx[o + j]) return false;
  }
  return true;
}

export function compareResults(emu: FpuResult, nat: FpuResult, transcendental: boolean): Verdict {
  if (identical(emu, nat)) return { diffs: [], ulps: 0, c1Differs: false };
  const diffs: string[] = [];
  let ulps = 0;
  if (emu.vector !== nat.vector) {
    diffs.push(`vector emu ${emu.vector} native ${nat.vector}`);
    return { diffs, ulps, c1Differs: false };
  }
  const regDiff = new Set<number>();
  let c1Differs = false;
  if (nat.vector === 0) {
    const e = emu.fsave;
    const n = nat.fsave;
    const fields: [string, number, number][] = [['fcw', 0, 4], ['fsw', 4, 4], ['ftw', 8, 4], ['fip', 12, 4], ['fcs/fop', 16, 4], ['fdp', 20, 4], ['fds', 24, 4]];
    let c1Only = false;
    for (const [name, o, len] of fields) {
      if (hex(e, o, len) !== hex(n, o, len)) {
        if (name === 'fsw' && transcendental && ((e[o + 1]! ^ n[o + 1]!) & ~0x02) === 0 && e[o] === n[o]) {
          c1Only = true;
          continue;
        }
        diffs.push(`${name} emu ${hex(e, o, len)} native ${hex(n, o, len)}`);
      }
    }
    for (let i = 0; i < 8; i++) {
      const o = 28 + i * 10;
      if (hex(e, o, 10) !== hex(n, o, 10)) regDiff.add(i);
    }
    if (transcendental && regDiff.size > 0 && [...regDiff].every((i) => i < 2)) {
      for (const i of regDiff) ulps = Math.max(ulps, ulpDistance(e, 28 + i * 10, n, 28 + i * 10));
      if (!Number.isFinite(ulps)) for (const i of regDiff) diffs.push(`st${i} emu ${hex(e, 28 + i * 10, 10)} native ${hex(n, 28 + i * 10, 10)}`);
    } else {
      for (const i of regDiff) diffs.push(`st${i} emu ${hex(e, 28 + i * 10, 10)} native ${hex(n, 28 + i * 10, 10)}`);
    }
    c1Differs = c1Only && regDiff.size === 0;
    if ((emu.rflags & 0x8d5) !== (nat.rflags & 0x8d5)) diffs.push(`rflags emu ${emu.rflags.toString(16)} native ${nat.rflags.toString(16)}`);
    if (emu.rax !== nat.rax || emu.raxHi !== nat.raxHi) diffs.push(`rax emu ${emu.raxHi.toString(16)}:${emu.rax.toString(16)} native ${nat.raxHi.toString(16)}:${nat.rax.toString(16)}`);
  }
  // FXSAVE: control/status/abridged tag and the register slots (FOP/FIP/FDP are not saved by this
  // host's FXSAVE unless an exception is pending, so they are compared through FNSAVE above).
  const ef = emu.fx;
  const nf = nat.fx;
  for (const [name, o, len] of [['fx.fcw', 0, 2], ['fx.fsw', 2, 2], ['fx.ftw', 4, 1]] as [string, number, number][]) {
    if (hex(ef, o, len) !== hex(nf, o, len) && !(transcendental && name === 'fx.fsw' && ((ef[3]! ^ nf[3]!) & ~0x02) === 0 && ef[2] === nf[2])) {
      diffs.push(`${name} emu ${hex(ef, o, len)} native ${hex(nf, o, len)}`);
    }
  }
  for (let i = 0; i < 8; i++) {
    const o = 32 + i * 16;
    if (hex(ef, o, 10) !== hex(nf, o, 10) && !(transcendental && regDiff.has(i) && ulps !== Infinity)) {
      diffs.push(`fx.st${i} emu ${hex(ef, o, 10)} native ${hex(nf, o, 10)}`);
    }
  }
  if (emu.mxcsr !== nat.mxcsr) diffs.push(`mxcsr emu ${emu.mxcsr.toString(16)} native ${nat.mxcsr.toString(16)}`);
  if (hex(emu.xmm0, 0, 16) !== hex(nat.xmm0, 0, 16)) diffs.push(`xmm0 emu ${hex(emu.xmm0, 0, 16)} native ${hex(nat.xmm0, 0, 16)}`);
  if (hex(emu.mem, 0, emu.mem.length) !== hex(nat.mem, 0, nat.mem.length)) {
    for (let i = 0; i < nat.mem.length; i += 16) {
      if (hex(emu.mem, i, 16) !== hex(nat.mem, i, 16)) diffs.push(`mem[${i}] emu ${hex(emu.mem, i, 16)} native ${hex(nat.mem, i, 16)}`);
    }
  }
  return { diffs, ulps, c1Differs };
}

/**
 * A preemption between the instruction and the native harness's FNSAVE loses FIP/FDP/FOP on an AMD
 * host (it keeps them only with an exception pending). Re-runs the cases at `suspects` natively twice
 * and, where the two re-runs agree with each other but not with the first run, takes the re-run's result
 * into `native`. Returns how many results it replaced.
 */
export function rerunNatively(suspects: readonly number[], cases: readonly FpuCase[], native: FpuResult[], bin: string): number {
  if (suspects.length === 0) return 0;
  const again = runFpuNative([...suspects, ...suspects].map((k) => cases[k]!), bin);
  let replaced = 0;
  suspects.forEach((k, j) => {
    const r1 = again[j]!;
    const r2 = again[j + suspects.length]!;
    if (compareResults(r1, r2, false).diffs.length === 0 && compareResults(r1, native[k]!, false).diffs.length > 0) {
      native[k] = r1;
      replaced++;
    }
  });
  return replaced;
}
