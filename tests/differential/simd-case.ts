/**
 * Snippet cases with x87/SSE state: a SnippetCase plus the 512-byte FXSAVE image loaded
 * before the snippet runs (natively with FXRSTOR64, under emu into the CPU's registers),
 * and the comparison of the image at the end: MXCSR and XMM0-XMM15.
 *
 * FXSAVE layout (SDM Vol. 1 Table 10-2): FCW +0, FSW +2, abridged FTW +4, MXCSR +24,
 * MXCSR_MASK +28, ST0-ST7 at +32 (16 bytes each), XMM0-XMM15 at +160 (16 bytes each).
 */
import type { SnippetCase, SnippetDifference, SnippetResult } from '../../src/cpu/emu/testing/snippet-case.js';

export const FX_SIZE = 512;
export const FX_MXCSR = 24;
export const FX_XMM = 160;
export const MXCSR_DEFAULT = 0x1f80;

export interface FxCase extends SnippetCase {
  /** The FXSAVE image loaded before the snippet. */
  fx: Uint8Array;
  /** Bit i set: compare XMMi at the end (default all 16). */
  xmmCompared?: number;
  /** MXCSR bits compared at the end (default all). */
  mxcsrCompared?: number;
  /** Data-area byte ranges [offset, length] not compared (vendor-specific bytes of a saved image). */
  dataIgnored?: readonly (readonly [number, number])[];
}

/** The result with the case's ignored data bytes zeroed (for comparing). */
export function maskData<R extends SnippetResult>(c: FxCase, r: R): R {
  if (c.dataIgnored === undefined) return r;
  const data = r.data.slice();
  for (const [o, n] of c.dataIgnored) data.fill(0, Math.max(0, o), Math.min(data.length, o + n));
  return { ...r, data };
}

export interface FxResult extends SnippetResult {
  /** The FXSAVE image at the end (or at the fault). */
  fx: Uint8Array;
}

/** A reset-state image (FCW 0x37f, MXCSR 0x1f80, everything else zero). */
export function defaultFx(): Uint8Array {
  const fx = new Uint8Array(FX_SIZE);
  fx[0] = 0x7f;
  fx[1] = 0x03;
  new DataView(fx.buffer).setUint32(FX_MXCSR, MXCSR_DEFAULT, true);
  return fx;
}

export const fxMxcsr = (fx: Uint8Array): number => new DataView(fx.buffer, fx.byteOffset).getUint32(FX_MXCSR, true);
export function setFxMxcsr(fx: Uint8Array, v: number): void {
  new DataView(fx.buffer, fx.byteOffset).setUint32(FX_MXCSR, v >>> 0, true);
}
/** XMM register r of an image, as 16 bytes (a view). */
export const fxXmm = (fx: Uint8Array, r: number): Uint8Array => fx.subarray(FX_XMM + r * 16, FX_XMM + r * 16 + 16);

const hex16 = (b: Uint8Array): string => {
  let s = '';
  for (let i = 15; i >= 0; i--) s += (b[i] ?? 0).toString(16).padStart(2, '0') + (i === 8 ? '_' : '');
  return s;
};

/** MXCSR bits by name, for mismatch reports. */
export function mxcsrNames(v: number): string {
  const flags = ['IE', 'DE', 'ZE', 'OE', 'UE', 'PE'].filter((_, i) => v & (1 << i));
  const masks = ['IM', 'DM', 'ZM', 'OM', 'UM', 'PM'].filter((_, i) => v & (1 << (i + 7)));
  const rc = ['RN', 'RD', 'RU', 'RZ'][(v >> 13) & 3];
  return `0x${v.toString(16)} [${[...flags, ...masks, rc, v & 0x40 ? 'DAZ' : '', v & 0x8000 ? 'FTZ' : ''].filter(Boolean).join(' ')}]`;
}

/** Differences in the SSE state: MXCSR (the compared bits) and the compared XMM registers. */
export function compareFx(c: FxCase, ref: Uint8Array, got: Uint8Array): SnippetDifference[] {
  const d: SnippetDifference[] = [];
  const m = c.mxcsrCompared ?? 0xffffffff;
  const a = fxMxcsr(ref) & m;
  const b = fxMxcsr(got) & m;
  if (a !== b) d.push({ what: 'mxcsr', expected: mxcsrNames(a), actual: mxcsrNames(b) });
  const regs = c.xmmCompared ?? 0xffff;
  for (let r = 0; r < 16; r++) {
    if (((regs >> r) & 1) === 0) continue;
    const x = fxXmm(ref, r);
    const y = fxXmm(got, r);
    for (let i = 0; i < 16; i++) {
      if (x[i] !== y[i]) {
        d.push({ what: `xmm${r}`, expected: hex16(x), actual: hex16(y) });
        break;
      }
    }
  }
  return d;
}

/** Concatenates the cases' images into the harness's FX_IN file body. */
export function encodeFxFile(cases: readonly FxCase[]): Uint8Array {
  const out = new Uint8Array(cases.length * FX_SIZE);
  cases.forEach((c, i) => {
    if (c.fx.length !== FX_SIZE) throw new RangeError(`${c.name}: the FX image must be ${FX_SIZE} bytes`);
    out.set(c.fx, i * FX_SIZE);
  });
  return out;
}
