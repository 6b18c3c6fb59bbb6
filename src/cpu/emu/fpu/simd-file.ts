/**
 * The XMM register file as one buffer seen through every lane type. Registers 0-15 are
 * the architectural XMM0-XMM15; 16-19 are scratch registers the handlers use for a
 * memory source operand (XMM_SRC), a result that must not be committed before the
 * exception checks (XMM_RES) and intermediate values (XMM_TMP, XMM_TMP2).
 *
 * Lane k of register r is at index r * (16 / laneBytes) + k in each view. The views
 * share the buffer, so the lane layout is the host's byte order; x86 lanes are
 * little-endian and every JavaScript engine in use runs little-endian, which the
 * constructor checks rather than assumes.
 */

export const XMM_COUNT = 16;
export const XMM_SRC = 16;
export const XMM_RES = 17;
export const XMM_TMP = 18;
export const XMM_TMP2 = 19;
export const XMM_FILE_REGS = 20;
/** Bytes of the file (registers and scratch). */
export const XMM_FILE_BYTES = XMM_FILE_REGS * 16;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class XmmFile {
  readonly u8: Uint8Array;
  readonly i8: Int8Array;
  readonly u16: Uint16Array;
  readonly i16: Int16Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly f32: Float32Array;
  readonly f64: Float64Array;
  /** XMM0-XMM15 as 64 dwords (the shape `EmuCpu.xmm` had before this file existed). */
  readonly arch: Int32Array;

  /**
   * A file of its own, or the XMM_FILE_BYTES at byte `offset` (a multiple of 16) of `buf`: the wasm tier keeps
   * it in the vCPU's slot of its memory (jit/wasm-arena.ts Slot.Xmm), where compiled code reads and writes it.
   * That memory never grows, so these views never detach.
   */
  constructor(buf?: ArrayBuffer, offset = 0) {
    if (!LITTLE_ENDIAN) throw new Error('the XMM register file needs a little-endian host (typed-array lanes mirror x86 lanes)');
    if (buf === undefined) buf = new ArrayBuffer(XMM_FILE_BYTES);
    else if (offset % 16 !== 0 || offset + XMM_FILE_BYTES > buf.byteLength) throw new RangeError(`XMM register file at ${offset}: not 16-byte aligned or past the buffer`);
    const o = offset;
    this.u8 = new Uint8Array(buf, o, XMM_FILE_BYTES);
    this.i8 = new Int8Array(buf, o, XMM_FILE_BYTES);
    this.u16 = new Uint16Array(buf, o, XMM_FILE_BYTES / 2);
    this.i16 = new Int16Array(buf, o, XMM_FILE_BYTES / 2);
    this.u32 = new Uint32Array(buf, o, XMM_FILE_BYTES / 4);
    this.i32 = new Int32Array(buf, o, XMM_FILE_BYTES / 4);
    this.f32 = new Float32Array(buf, o, XMM_FILE_BYTES / 4);
    this.f64 = new Float64Array(buf, o, XMM_FILE_BYTES / 8);
    this.arch = new Int32Array(buf, o, XMM_COUNT * 4);
  }

  /** Copies register s to register d (all 128 bits). */
  copy(d: number, s: number): void {
    const x = this.i32;
    const a = d * 4;
    const b = s * 4;
    x[a] = x[b]!;
    x[a + 1] = x[b + 1]!;
    x[a + 2] = x[b + 2]!;
    x[a + 3] = x[b + 3]!;
  }

  /** Sets register r from four dwords (low first). */
  set(r: number, d0: number, d1: number, d2: number, d3: number): void {
    const x = this.i32;
    const a = r * 4;
    x[a] = d0;
    x[a + 1] = d1;
    x[a + 2] = d2;
    x[a + 3] = d3;
  }
}

/** Every packed operation has this shape: d is the destination (and first source), s the second source, both register numbers of the file. */
export type SimdOp = (x: XmmFile, d: number, s: number, imm: number) => void;
