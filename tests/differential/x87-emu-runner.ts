/**
 * Runs an FPU case (x87-case.ts) on tsvmm's soft-float implementation, producing the same
 * result record the native harness produces: the x87 instruction through `x87Execute` (with
 * the #UD and pending-exception (#MF) decisions the CPU makes first), scalar SSE instructions
 * through the binary32/binary64 API of `ieee-binary.ts`.
 */
import { X87State } from '../../src/cpu/emu/fpu/fpu-state.js';
import { X87Ctx, type X87Bus } from '../../src/cpu/emu/fpu/x87-core.js';
import { frstor, fnsave, fxsaveX87 } from '../../src/cpu/emu/fpu/x87-env.js';
import { XC_WAITING, X87_AX, X87_EFLAGS, x87Class, x87Execute, x87Pending } from '../../src/cpu/emu/fpu/x87.js';
import { runSseCase } from './sse-emu-runner.js';
import { CODE_ADDR, DATA_ADDR, MEM_LEN, type FpuCase, type FpuResult } from './x87-case.js';

/** A flat byte buffer at a fixed base address. */
export class BufBus implements X87Bus {
  readonly v: DataView;
  constructor(readonly base: number, readonly bytes: Uint8Array) {
    this.v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private off(a: number, n: number): number {
    const o = a - this.base;
    if (o < 0 || o + n > this.bytes.length) throw new RangeError(`access ${a.toString(16)}+${n} outside the test buffer`);
    return o;
  }
  rd8(a: number): number {
    return this.v.getUint8(this.off(a, 1));
  }
  rd16(a: number): number {
    return this.v.getUint16(this.off(a, 2), true);
  }
  rd32(a: number): number {
    return this.v.getUint32(this.off(a, 4), true);
  }
  wr8(a: number, x: number): void {
    this.v.setUint8(this.off(a, 1), x & 0xff);
  }
  wr16(a: number, x: number): void {
    this.v.setUint16(this.off(a, 2), x & 0xffff, true);
  }
  wr32(a: number, x: number): void {
    this.v.setUint32(this.off(a, 4), x >>> 0, true);
  }
  add(a: number, k: number): number {
    return a + k;
  }
  probeWrite(a: number, n: number): void {
    this.off(a, n);
  }
}

const USER_CS = 0x33;

/** Loads a case's FRSTOR image into a fresh state. */
export function stateFromImage(img: Uint8Array): X87State {
  const s = new X87State();
  const buf = new Uint8Array(108);
  buf.set(img.subarray(0, 108));
  frstor(s, new BufBus(0, buf), 0, new X87Ctx());
  return s;
}

/** The FNSAVE image (32-bit protected layout) of a state, without disturbing it. */
export function imageOf(s: X87State): Uint8Array {
  const copy = new X87State();
  copy.copyFrom(s);
  const buf = new Uint8Array(108);
  fnsave(copy, new BufBus(0, buf), 0, new X87Ctx());
  return buf;
}

function fxImage(s: X87State, mxcsr: number): Uint8Array {
  const buf = new Uint8Array(160);
  fxsaveX87(s, new BufBus(0, buf), 0, false);
  const v = new DataView(buf.buffer);
  v.setUint32(24, mxcsr >>> 0, true);
  v.setUint32(28, 0x0002ffff, true);
  return buf;
}

/** Runs one case; the result mirrors what the native harness records. */
export function runEmuCase(c: FpuCase): FpuResult {
  const code = c.code;
  const mem = new Uint8Array(MEM_LEN);
  mem.set(c.mem.subarray(0, MEM_LEN));
  const s = stateFromImage(c.fsave);
  let k = 0;
  let op16 = false;
  while (code[k] === 0x66) {
    op16 = true;
    k++;
  }
  const b0 = code[k]!;
  if (b0 < 0xd8 || b0 > 0xdf) {
    if (b0 === 0x9b) {
      // FWAIT
      if (x87Pending(s)) return exception(16, s, c.mxcsr, c.xmm, mem);
      return done(s, c.mxcsr, c.rflags, c.rax, 0, c.xmm.subarray(0, 16), mem);
    }
    return runSseCase(c, s, mem, 0, (vec, m, x) => exception(vec, s, m, x, mem), (m, fl, raxLo, raxHi, x) => done(s, m, fl, raxLo, raxHi, x, mem));
  }
  const modrm = code[k + 1]!;
  const cls = x87Class(b0, modrm);
  if (cls === 0) return exception(6, s, c.mxcsr, c.xmm, mem);
  if ((cls & XC_WAITING) !== 0 && x87Pending(s)) return exception(16, s, c.mxcsr, c.xmm, mem);
  const ctx = new X87Ctx();
  ctx.op16 = op16;
  ctx.ipLo = CODE_ADDR;
  ctx.cs = USER_CS;
  ctx.dpLo = modrm < 0xc0 ? DATA_ADDR : 0;
  ctx.ds = 0;
  ctx.eflags = c.rflags;
  const r = x87Execute(s, new BufBus(DATA_ADDR, mem), b0, modrm, DATA_ADDR, ctx);
  const rflags = (r & X87_EFLAGS) !== 0 ? ctx.eflags : c.rflags;
  const rax = (r & X87_AX) !== 0 ? ((c.rax & ~0xffff) | (ctx.ax & 0xffff)) >>> 0 : c.rax;
  return done(s, c.mxcsr, rflags, rax, 0, c.xmm.subarray(0, 16), mem);
}

function done(s: X87State, mxcsr: number, rflags: number, rax: number, raxHi: number, xmm0: Uint8Array, mem: Uint8Array): FpuResult {
  return {
    vector: 0,
    mxcsr,
    rflags: (rflags | 0x200) >>> 0,
    rax: rax >>> 0,
    raxHi: raxHi >>> 0,
    fsave: imageOf(s),
    fx: fxImage(s, mxcsr),
    xmm0: Uint8Array.from(xmm0),
    mem,
  };
}

function exception(vector: number, s: X87State, mxcsr: number, xmm: Uint8Array, mem: Uint8Array): FpuResult {
  return {
    vector,
    mxcsr,
    rflags: 0,
    rax: 0,
    raxHi: 0,
    fsave: new Uint8Array(108),
    fx: fxImage(s, mxcsr),
    xmm0: Uint8Array.from(xmm.subarray(0, 16)),
    mem,
  };
}
