/**
 * A vCPU's x87/SSE state as the guest has it, for snapshots and the gdb stub. KVM_GET_FPU copies KVM's saved
 * FXSAVE image as it is: on a vCPU that never used SSE it gives MXCSR 0, where the architectural value is the
 * init state's 0x1f80. KVM_GET_XSAVE (or KVM_GET_XSAVE2, sized by KVM_CAP_XSAVE2) gives the XSAVE area, whose
 * header (XSTATE_BV) says which components are in their init state; KVM_GET_FPU is the fallback where KVM has
 * neither (measured 2026-12-07 on kvm_pvm: KVM_GET_FPU MXCSR 0, KVM_GET_XSAVE MXCSR 0x1f80 with XSTATE_BV 0).
 */
import { KVM_GET_FPU, KVM_GET_XSAVE, KVM_GET_XSAVE2, KVM_SET_FPU, KVM_SET_XSAVE } from '../../sys/kvm-abi.js';
import { KVM_FPU_SIZE, KVM_XSAVE_SIZE, XSAVE_HEADER_XSTATE_BV, fxsaveFromKvmFpu, kvmFpuFromFxsave, xsaveFromFxsave } from '../../sys/kvm-structs.js';
import { ioctlPtr } from '../../sys/libc.js';

/** How a vCPU's FPU state is read and written on this KVM. */
export type FpuAccess = { readonly kind: 'xsave2'; readonly size: number } | { readonly kind: 'xsave' } | { readonly kind: 'fpu' };

/** XSTATE_BV bits of the two components the 512-byte legacy region holds. */
export const XSTATE_X87 = 1n;
export const XSTATE_SSE = 2n;

/**
 * KVM_GET_XSAVE2 where KVM_CAP_XSAVE2 gives a size, KVM_GET_XSAVE where KVM_CAP_XSAVE is set, else KVM_GET_FPU.
 * `fixedSize` (snapshots, whose format holds a 4 KiB area) never picks KVM_GET_XSAVE2.
 */
export function fpuAccess(checkExtension: (cap: 'XSAVE' | 'XSAVE2') => number, fixedSize = false): FpuAccess {
  const size = fixedSize ? 0 : checkExtension('XSAVE2');
  if (size >= KVM_XSAVE_SIZE) return { kind: 'xsave2', size };
  return checkExtension('XSAVE') > 0 ? { kind: 'xsave' } : { kind: 'fpu' };
}

/** The vCPU's XSAVE area (standard form, at least 4 KiB); through KVM_GET_FPU, an area with XSTATE_BV = x87|SSE. */
export function readXsaveArea(fd: number, access: FpuAccess, what: string): Uint8Array {
  if (access.kind === 'fpu') {
    const fpu = new Uint8Array(KVM_FPU_SIZE);
    ioctlPtr(fd, KVM_GET_FPU, fpu, `KVM_GET_FPU on ${what} failed`);
    return xsaveFromFxsave(fxsaveFromKvmFpu(fpu));
  }
  const area = new Uint8Array(access.kind === 'xsave2' ? access.size : KVM_XSAVE_SIZE);
  const [req, name] = access.kind === 'xsave2' ? [KVM_GET_XSAVE2, 'KVM_GET_XSAVE2'] : [KVM_GET_XSAVE, 'KVM_GET_XSAVE'];
  ioctlPtr(fd, req, area, `${name} on ${what} failed`);
  return area;
}

/** Loads an area read by readXsaveArea (KVM_SET_XSAVE, which takes the KVM_CAP_XSAVE2 size too; or KVM_SET_FPU). */
export function writeXsaveArea(fd: number, access: FpuAccess, area: Uint8Array, what: string): void {
  if (access.kind === 'fpu') ioctlPtr(fd, KVM_SET_FPU, kvmFpuFromFxsave(area.subarray(0, 512)), `KVM_SET_FPU on ${what} failed`);
  else ioctlPtr(fd, KVM_SET_XSAVE, area, `KVM_SET_XSAVE on ${what} failed`);
}

const xstateBv = (area: Uint8Array): bigint => new DataView(area.buffer, area.byteOffset).getBigUint64(XSAVE_HEADER_XSTATE_BV, true);

/**
 * The 64-bit FXSAVE image of the state the guest has: a component whose XSTATE_BV bit is clear is in its init
 * state whatever the area's bytes say (SDM vol. 1 13.6: x87 FCW 0x37f, FSW 0, all registers empty, FOP/FIP/FDP
 * and ST0-7 0; SSE XMM0-15 0). MXCSR is taken as it is: XSAVE writes it whenever SSE or AVX is requested, in
 * init state or not (and Linux fills 0x1f80 where neither is in use).
 */
export function legacyImage(area: Uint8Array): Uint8Array {
  const fx = area.slice(0, 512);
  const bv = xstateBv(area);
  if ((bv & XSTATE_X87) === 0n) {
    fx.fill(0, 0, 24);
    fx.fill(0, 32, 160);
    new DataView(fx.buffer).setUint16(0, 0x37f, true);
  }
  if ((bv & XSTATE_SSE) === 0n) fx.fill(0, 160, 416);
  return fx;
}

/** Puts a (changed) legacy image into the area, its components marked in use so XRSTOR loads them. */
export function setLegacyImage(area: Uint8Array, fx: Uint8Array, components: bigint): void {
  area.set(fx.subarray(0, 512));
  new DataView(area.buffer, area.byteOffset).setBigUint64(XSAVE_HEADER_XSTATE_BV, xstateBv(area) | components, true);
}
