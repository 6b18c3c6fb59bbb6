/**
 * The state instructions of SSE and the XSAVE feature set, for the x87 (component 0) and
 * SSE (component 1) state: FXSAVE/FXRSTOR in both layouts, XSAVE/XSAVEOPT/XRSTOR in the
 * standard form and XCR0 (XGETBV/XSETBV); CPUID leaf 0xD is in the CPU model. SDM Vol. 1 §10.5 (FXSAVE area)
 * and chapter 13 (XSAVE); the x87 part of the legacy region is the x87 module's.
 *
 * Memory goes through a bus of linear-address accessors that may throw guest faults; every
 * instruction reads (or probes) all its memory before it changes any register, so a page
 * fault leaves the state as it was.
 */
import type { XmmFile } from './simd-file.js';
import { EMU_XCR0_SUPPORTED, EMU_XSAVE_AREA_SIZE } from '../../../features/emu-cpu-model.js';

/** Guest memory (the shape of the x87 module's X87Bus). */
export interface StateBus {
  rd8(a: number): number;
  rd32(a: number): number;
  wr8(a: number, v: number): void;
  wr32(a: number, v: number): void;
  /** a + k with the current address-size wrap-around. */
  add(a: number, k: number): number;
  /** Faults (throws) unless all n bytes at a are writable. */
  probeWrite(a: number, n: number): void;
}

/** The x87 state as the legacy region sees it (an adapter over the x87 module). */
export interface LegacyX87 {
  /** Writes bytes 0-23 and 32-159 of the legacy region at a (rexW: 64-bit FIP/FDP layout). */
  save(bus: StateBus, a: number, rexW: boolean): void;
  /** Reads them back (everything is read before anything changes). */
  restore(bus: StateBus, a: number, rexW: boolean): void;
  /** The initial configuration (as FNINIT, plus FOP/FIP/FDP cleared and ST0-7 zero). */
  init(): void;
  /** Whether the state differs from its initial configuration (XINUSE[0]). */
  inUse(): boolean;
}

/** XINUSE[1]: SSE state is in its initial configuration when every XMM register is zero (MXCSR aside). */
function sseInUse(x: XmmFile, nXmm: number): boolean {
  const i = x.i32;
  for (let k = 0; k < nXmm * 4; k++) if (i[k] !== 0) return true;
  return false;
}

/** MXCSR bits that may be set (DAZ included); FXSAVE stores this as MXCSR_MASK. */
export const MXCSR_MASK = 0xffff;
export const MXCSR_DEFAULT = 0x1f80;
/** XCR0 bits this CPU supports (x87 and SSE state) and the XSAVE area they need (CPUID leaf 0xD). */
export const XCR0_SUPPORTED = EMU_XCR0_SUPPORTED;
export const XSAVE_AREA_SIZE = EMU_XSAVE_AREA_SIZE;

const OFF_MXCSR = 24;
const OFF_XMM = 160;
const OFF_HEADER = 512;

/** What an instruction decided: done, or the #GP(0) it must raise. */
export const STATE_OK = 0;
export const STATE_GP = 1;

const xmmBuf = new Int32Array(64);

function saveXmm(x: XmmFile, bus: StateBus, a: number, n: number): void {
  const i = x.i32;
  for (let k = 0; k < n * 4; k++) bus.wr32(bus.add(a, OFF_XMM + k * 4), i[k]!);
}
function readXmm(bus: StateBus, a: number, n: number): void {
  for (let k = 0; k < n * 4; k++) xmmBuf[k] = bus.rd32(bus.add(a, OFF_XMM + k * 4));
}
function applyXmm(x: XmmFile, n: number): void {
  x.i32.set(xmmBuf.subarray(0, n * 4), 0);
}

/**
 * FXSAVE: the 512-byte legacy region at a (16-byte aligned: checked by the caller). nXmm is
 * 16 in 64-bit mode and 8 otherwise; bytes 288-511 beyond the saved registers are untouched.
 */
export function fxsave(bus: StateBus, a: number, x87: LegacyX87, x: XmmFile, mxcsr: number, rexW: boolean, nXmm: number): void {
  bus.probeWrite(a, OFF_XMM + nXmm * 16);
  x87.save(bus, a, rexW);
  bus.wr32(bus.add(a, OFF_MXCSR), mxcsr);
  bus.wr32(bus.add(a, OFF_MXCSR + 4), MXCSR_MASK);
  saveXmm(x, bus, a, nXmm);
}

/** FXRSTOR: returns the new MXCSR, or -1 for #GP (a reserved MXCSR bit set; nothing loaded). */
export function fxrstor(bus: StateBus, a: number, x87: LegacyX87, x: XmmFile, rexW: boolean, nXmm: number): number {
  const mx = bus.rd32(bus.add(a, OFF_MXCSR));
  if ((mx & ~MXCSR_MASK) !== 0) return -1;
  readXmm(bus, a, nXmm);
  x87.restore(bus, a, rexW);
  applyXmm(x, nXmm);
  return mx >>> 0;
}

/**
 * XCR0 value check for XSETBV: x87 must stay enabled, nothing outside `supported` (the VM's CPUID leaf 0xD
 * subleaf 0 EAX), and AVX state (bit 2) only with SSE state.
 */
export function xcr0Valid(lo: number, hi: number, supported = XCR0_SUPPORTED): boolean {
  return hi === 0 && (lo & ~supported) === 0 && (lo & 1) !== 0 && (lo & 6) !== 4;
}

/**
 * XSAVE / XSAVEOPT (`opt`) in the standard form, requested-feature bitmap rfbm = XCR0 &
 * EDX:EAX. XSTATE_BV is read and written back with its rfbm bits set to XINUSE, which this
 * CPU computes exactly: a component is in use when it differs from its initial
 * configuration. XSAVEOPT uses the init optimization (a component not in use is not
 * written; MXCSR, which no component's init state covers, still is) but not the modified
 * optimization.
 */
export function xsave(bus: StateBus, a: number, rfbm: number, x87: LegacyX87, x: XmmFile, mxcsr: number, rexW: boolean, nXmm: number, opt: boolean): void {
  bus.probeWrite(a, XSAVE_AREA_SIZE);
  const bvAddr = bus.add(a, OFF_HEADER);
  const bv = bus.rd8(bvAddr);
  const inUse = (x87.inUse() ? 1 : 0) | (sseInUse(x, nXmm) ? 2 : 0);
  if ((rfbm & 1) !== 0 && (!opt || (inUse & 1) !== 0)) x87.save(bus, a, rexW);
  if ((rfbm & 2) !== 0) {
    bus.wr32(bus.add(a, OFF_MXCSR), mxcsr);
    bus.wr32(bus.add(a, OFF_MXCSR + 4), MXCSR_MASK);
    if (!opt || (inUse & 2) !== 0) saveXmm(x, bus, a, nXmm);
  }
  bus.wr8(bvAddr, (bv & ~rfbm) | (rfbm & inUse));
}

/** Result of the last `xrstor`: the MXCSR to install, or -1 to leave MXCSR alone. */
export const xrstorOut = { mxcsr: -1 };

/**
 * XRSTOR (standard form). #GP when XCOMP_BV[63] asks for the compacted form (not
 * supported), when bytes 8-23 of the header are not zero, when XSTATE_BV sets a bit that
 * XCR0 does not, or when MXCSR (loaded whenever rfbm has SSE) has a reserved bit. For each
 * requested component, XSTATE_BV[i] = 1 loads it, 0 puts it in its initial configuration.
 */
export function xrstor(bus: StateBus, a: number, rfbm: number, xcr0: number, x87: LegacyX87, x: XmmFile, rexW: boolean, nXmm: number): number {
  const h = bus.add(a, OFF_HEADER);
  const bvLo = bus.rd32(h);
  const bvHi = bus.rd32(bus.add(h, 4));
  for (let k = 8; k < 24; k += 4) if (bus.rd32(bus.add(h, k)) !== 0) return STATE_GP;
  if (bvHi !== 0 || (bvLo & ~xcr0) !== 0) return STATE_GP;
  xrstorOut.mxcsr = -1;
  if ((rfbm & 2) !== 0) {
    const mx = bus.rd32(bus.add(a, OFF_MXCSR));
    if ((mx & ~MXCSR_MASK) !== 0) return STATE_GP;
    xrstorOut.mxcsr = mx >>> 0;
    if ((bvLo & 2) !== 0) readXmm(bus, a, nXmm);
    else xmmBuf.fill(0);
  }
  if ((rfbm & 1) !== 0) {
    if ((bvLo & 1) !== 0) x87.restore(bus, a, rexW);
    else x87.init();
  }
  if ((rfbm & 2) !== 0) applyXmm(x, nXmm);
  return STATE_OK;
}
