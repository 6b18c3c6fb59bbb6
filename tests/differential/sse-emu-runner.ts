/**
 * A scalar-SSE subset (xmm0 op= xmm1 or [rdi]) run through the binary32/binary64 API of
 * src/cpu/emu/fpu/ieee-binary.ts, to check that API against the host CPU: add/sub/mul/div/
 * min/max/sqrt (sd/ss), comis/ucomis, cmpsd/cmpss, cvtsd2ss/cvtss2sd, cvt(t)sd2si/cvt(t)ss2si,
 * cvtsi2sd/cvtsi2ss (memory source), roundsd/roundss.
 */
import {
  CMP_EQ, CMP_GT, CMP_LT, f32Add, f32Compare, f32Div, f32MinMax, f32Mul, f32RoundInt, f32Sqrt, f32Sub, f32ToF64, f32ToInt,
  f64Add, f64Compare, f64Div, f64MinMax, f64Mul, f64RoundInt, f64Sqrt, f64Sub, f64ToF32, f64ToInt, intToF32, intToF64, cvt,
} from '../../src/cpu/emu/fpu/ieee-binary.js';
import type { X87State } from '../../src/cpu/emu/fpu/fpu-state.js';
import type { FpuCase, FpuResult } from './x87-case.js';

type Fail = (vector: number, mxcsr: number, xmm0: Uint8Array) => FpuResult;
type Done = (mxcsr: number, rflags: number, raxLo: number, raxHi: number, xmm0: Uint8Array) => FpuResult;

const CF = 0x001;
const PF = 0x004;
const AF = 0x010;
const ZF = 0x040;
const SF = 0x080;
const OF = 0x800;

/** Runs the SSE instruction at code[k...]. */
export function runSseCase(c: FpuCase, _s: X87State, mem: Uint8Array, k: number, fail: Fail, done: Done): FpuResult {
  const code = c.code;
  let pfx = 0;
  let rexW = false;
  for (;;) {
    const b = code[k]!;
    if (b === 0x66 || b === 0xf2 || b === 0xf3) pfx = b;
    else if ((b & 0xf0) === 0x40) rexW = (b & 8) !== 0;
    else break;
    k++;
  }
  if (code[k] !== 0x0f) return fail(6, c.mxcsr, c.xmm);
  let op = code[k + 1]!;
  let k2 = k + 2;
  let three = false;
  if (op === 0x3a) {
    three = true;
    op = code[k2]!;
    k2++;
  }
  const modrm = code[k2]!;
  const imm = code[k2 + 1] ?? 0;
  const x = new Int32Array(Uint8Array.from(c.xmm).buffer); // xmm0 = x[0..3], xmm1 = x[4..7]
  const m = new Int32Array(Uint8Array.from(mem.subarray(0, 16)).buffer);
  const src = modrm >= 0xc0 ? x : m;
  const si = modrm >= 0xc0 ? 4 : 0;
  const d = new Int32Array(4);
  d.set(x.subarray(0, 4));
  const mx = c.mxcsr;
  let flags = 0;
  let rflags = c.rflags;
  let raxLo = c.rax;
  let raxHi = 0;
  let writesXmm = true;
  const dbl = pfx === 0xf2 || (pfx === 0x66 && !three);
  if (three) {
    if (op === 0x0b) flags = f64RoundInt(d, 0, src, si, imm, mx);
    else flags = f32RoundInt(d, 0, src, si, imm, mx);
  } else {
    switch (op) {
      case 0x58:
        flags = dbl ? f64Add(d, 0, x, 0, src, si, mx) : f32Add(d, 0, x, 0, src, si, mx);
        break;
      case 0x59:
        flags = dbl ? f64Mul(d, 0, x, 0, src, si, mx) : f32Mul(d, 0, x, 0, src, si, mx);
        break;
      case 0x5c:
        flags = dbl ? f64Sub(d, 0, x, 0, src, si, mx) : f32Sub(d, 0, x, 0, src, si, mx);
        break;
      case 0x5e:
        flags = dbl ? f64Div(d, 0, x, 0, src, si, mx) : f32Div(d, 0, x, 0, src, si, mx);
        break;
      case 0x5d:
      case 0x5f:
        flags = dbl ? f64MinMax(d, 0, x, 0, src, si, mx, op === 0x5f ? 1 : 0) : f32MinMax(d, 0, x, 0, src, si, mx, op === 0x5f ? 1 : 0);
        break;
      case 0x51:
        flags = dbl ? f64Sqrt(d, 0, src, si, mx) : f32Sqrt(d, 0, src, si, mx);
        break;
      case 0x5a:
        flags = pfx === 0xf2 ? f64ToF32(d, 0, src, si, mx) : f32ToF64(d, 0, src, si, mx);
        break;
      case 0x2e:
      case 0x2f: {
        const r = pfx === 0x66 ? f64Compare(x, 0, src, si, mx, op === 0x2f) : f32Compare(x, 0, src, si, mx, op === 0x2f);
        flags = r >>> 2;
        const rel = r & 3;
        rflags &= ~(CF | PF | AF | ZF | SF | OF);
        if (rel === CMP_LT) rflags |= CF;
        else if (rel === CMP_EQ) rflags |= ZF;
        else if (rel !== CMP_GT) rflags |= ZF | PF | CF;
        writesXmm = false;
        break;
      }
      case 0xc2: {
        const signal = imm === 1 || imm === 2 || imm === 5 || imm === 6;
        const r = dbl ? f64Compare(x, 0, src, si, mx, signal) : f32Compare(x, 0, src, si, mx, signal);
        flags = r >>> 2;
        const rel = r & 3;
        const un = rel === 3;
        let t: boolean;
        switch (imm & 7) {
          case 0:
            t = rel === CMP_EQ;
            break;
          case 1:
            t = rel === CMP_LT;
            break;
          case 2:
            t = rel === CMP_LT || rel === CMP_EQ;
            break;
          case 3:
            t = un;
            break;
          case 4:
            t = rel !== CMP_EQ;
            break;
          case 5:
            t = !(rel === CMP_LT);
            break;
          case 6:
            t = !(rel === CMP_LT || rel === CMP_EQ);
            break;
          default:
            t = !un;
        }
        d[0] = t ? -1 : 0;
        if (dbl) d[1] = t ? -1 : 0;
        break;
      }
      case 0x2c:
      case 0x2d: {
        const bits = rexW ? 64 : 32;
        flags = dbl ? f64ToInt(src, si, bits, op === 0x2c, mx) : f32ToInt(src, si, bits, op === 0x2c, mx);
        raxLo = cvt.lo >>> 0;
        raxHi = bits === 64 ? cvt.hi >>> 0 : 0;
        writesXmm = false;
        break;
      }
      case 0x2a: {
        const lo = m[0]!;
        const hi = rexW ? m[1]! : 0;
        flags = dbl ? intToF64(d, 0, lo, hi, rexW ? 64 : 32, mx) : intToF32(d, 0, lo, hi, rexW ? 64 : 32, mx);
        break;
      }
      default:
        return fail(6, mx, c.xmm);
    }
  }
  const mxOut = mx | (flags & 0x3f);
  if ((flags & ~(mx >>> 7) & 0x3f) !== 0) return fail(19, mxOut, c.xmm);
  const out = new Uint8Array(16);
  out.set(new Uint8Array((writesXmm ? d : x.subarray(0, 4)).slice().buffer));
  if ((op === 0x2c || op === 0x2d) && !rexW) raxHi = 0;
  return done(mxOut, rflags, raxLo, raxHi, out);
}
