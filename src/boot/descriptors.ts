/**
 * Segment descriptors in the two encodings a loader needs: the VMX access-rights layout
 * of the register catalog (bits 0-3 type, 4 S, 5-6 DPL, 7 P, 12 AVL, 13 L, 14 D/B, 15 G)
 * and the 8-byte GDT descriptor the guest reloads from memory (Intel SDM vol. 3, 3.4.5).
 * Both come from the same attrs so a loaded register always matches its GDT entry.
 */
import { MSR, REG, SEG_ATTR_UNUSABLE, msrReg, segmentBatch, type RegId, type SegName, type SegmentValue } from '../cpu/registers.js';

export const SEG_TYPE_DATA_RW_ACCESSED = 0x3;
export const SEG_TYPE_CODE_RX_ACCESSED = 0xb;
/** System segment type 0xb: busy 32-bit TSS in legacy mode, busy 64-bit TSS in long mode. */
export const SEG_TYPE_TSS_BUSY = 0xb;
export const SEG_ATTR_S = 1 << 4;
export const SEG_ATTR_P = 1 << 7;
export const SEG_ATTR_L = 1 << 13;
export const SEG_ATTR_DB = 1 << 14;
export const SEG_ATTR_G = 1 << 15;

/** Flat 4 GiB 32-bit code: base 0, limit 0xffffffff, G=1, D=1. */
export const FLAT_CODE32_ATTRS = SEG_TYPE_CODE_RX_ACCESSED | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G;
/** 64-bit code: L=1 requires D=0. */
export const CODE64_ATTRS = SEG_TYPE_CODE_RX_ACCESSED | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_L | SEG_ATTR_G;
/** Flat 4 GiB data, usable as a 32-bit stack (B=1). */
export const FLAT_DATA_ATTRS = SEG_TYPE_DATA_RW_ACCESSED | SEG_ATTR_S | SEG_ATTR_P | SEG_ATTR_DB | SEG_ATTR_G;
export const TSS_BUSY_ATTRS = SEG_TYPE_TSS_BUSY | SEG_ATTR_P;
/** Minimum TSS limit (104 bytes, no I/O bitmap); the same for the 32- and 64-bit TSS. */
export const TSS_LIMIT = 0x67;

/** The 8-byte descriptor for a segment; `limit` is the byte-granular limit the register holds. */
export function encodeDescriptor(base: number, limit: number, attrs: number): Uint8Array {
  const g = (attrs & SEG_ATTR_G) !== 0;
  if (g && (limit & 0xfff) !== 0xfff) throw new RangeError(`limit 0x${limit.toString(16)} is not page granular`);
  const raw = g ? limit >>> 12 : limit;
  if (raw > 0xfffff) throw new RangeError(`limit 0x${limit.toString(16)} needs G=1`);
  const lo = (((base & 0xffff) << 16) | (raw & 0xffff)) >>> 0;
  const hi =
    ((base & 0xff00_0000) |
      (((attrs >>> 12) & 0xf) << 20) |
      (((raw >>> 16) & 0xf) << 16) |
      ((attrs & 0xff) << 8) |
      ((base >>> 16) & 0xff)) >>>
    0;
  const out = new Uint8Array(8);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, lo, true);
  dv.setUint32(4, hi, true);
  return out;
}

/** Decodes an 8-byte descriptor back to base, byte-granular limit and VMX attrs (tests, debugging). */
export function decodeDescriptor(bytes: Uint8Array): SegmentValue {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const base = ((hi & 0xff00_0000) | ((hi & 0xff) << 16) | (lo >>> 16)) >>> 0;
  const attrs = ((hi >>> 8) & 0xff) | (((hi >>> 20) & 0xf) << 12);
  const raw = (lo & 0xffff) | (hi & 0xf_0000);
  const limit = attrs & SEG_ATTR_G ? ((raw << 12) | 0xfff) >>> 0 : raw;
  return { selector: 0, base: BigInt(base), limit, attrs };
}

/** A GDT being assembled: descriptors at selector / 8, as bytes ready to write into guest memory. */
export class GdtBuilder {
  private readonly bytes: Uint8Array;

  constructor(entries: number) {
    this.bytes = new Uint8Array(entries * 8);
  }

  set(selector: number, base: number, limit: number, attrs: number): SegmentValue {
    this.bytes.set(encodeDescriptor(base, limit, attrs), selector);
    return { selector, base: BigInt(base), limit, attrs };
  }

  /** A long-mode system descriptor takes two slots; the second holds base bits 63:32 (0 here). */
  setSystem64(selector: number, base: number, limit: number, attrs: number): SegmentValue {
    const v = this.set(selector, base, limit, attrs);
    this.bytes.fill(0, selector + 8, selector + 16);
    return v;
  }

  get table(): Uint8Array {
    return this.bytes;
  }

  /** GDTR.limit: the table's size minus one. */
  get limit(): number {
    return this.bytes.length - 1;
  }
}

/** LDTR at reset-like state: marked unusable so VM entry skips its checks. */
export const UNUSABLE_LDTR: SegmentValue = { selector: 0, base: 0n, limit: 0xffff, attrs: SEG_ATTR_UNUSABLE };

export function segments(entries: readonly [SegName, SegmentValue][]): [RegId, bigint][] {
  return entries.flatMap(([name, v]) => segmentBatch(name, v));
}

/** RFLAGS with only the always-one bit 1: interrupts off, as both boot protocols require. */
export const RFLAGS_FIXED = 0x2;

/** The entry state both loaders hand over: flat segments from their GDT, no IDT, interrupts off. */
export interface FlatEntryState {
  readonly rax?: number;
  readonly rbx?: number;
  readonly rsi?: number;
  readonly rsp: number;
  readonly rip: number;
  readonly cs: SegmentValue;
  readonly ds: SegmentValue;
  readonly tr: SegmentValue;
  readonly gdtBase: number;
  readonly gdtLimit: number;
  readonly cr0: number;
  readonly cr3: number;
  readonly cr4: number;
  readonly efer: number;
}

/** vCPU 0's register batch for a flat entry state; every register not named is zero. */
export function flatEntryRegisters(s: FlatEntryState): [RegId, bigint][] {
  const big = (v: number | undefined): bigint => BigInt((v ?? 0) >>> 0);
  return [
    [REG.rax, big(s.rax)],
    [REG.rbx, big(s.rbx)],
    [REG.rcx, 0n],
    [REG.rdx, 0n],
    [REG.rsi, big(s.rsi)],
    [REG.rdi, 0n],
    [REG.rbp, 0n],
    [REG.rsp, big(s.rsp)],
    [REG.rip, big(s.rip)],
    [REG.rflags, BigInt(RFLAGS_FIXED)],
    ...segments([
      ['cs', s.cs],
      ['ds', s.ds],
      ['es', s.ds],
      ['fs', s.ds],
      ['gs', s.ds],
      ['ss', s.ds],
      ['tr', s.tr],
      ['ldtr', UNUSABLE_LDTR],
    ]),
    [REG.gdtrBase, big(s.gdtBase)],
    [REG.gdtrLimit, big(s.gdtLimit)],
    [REG.idtrBase, 0n],
    [REG.idtrLimit, 0n],
    [REG.cr0, big(s.cr0)],
    [REG.cr3, big(s.cr3)],
    [REG.cr4, big(s.cr4)],
    [msrReg(MSR.IA32_EFER), big(s.efer)],
  ];
}
