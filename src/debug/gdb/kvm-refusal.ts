/**
 * Whether `--gdb` can drive the kvm backend here, and why not where it cannot, in the host's own terms:
 * KVM_CHECK_EXTENSION(KVM_CAP_SET_GUEST_DEBUG) first, then a probe guest that shows whether single-step and
 * hardware breakpoints really work (guest-debug-probe.ts: kvm_pvm reports the capability but differs).
 */
import type { KvmCapName } from '../../sys/kvm-abi.js';
import { guestDebugSupport, type GuestDebugProbe, type GuestDebugSupport } from '../../cpu/kvm/guest-debug-probe.js';

/** What the check needs from a KVM VM (KvmVm.checkExtension). */
export interface CapabilityHost {
  checkExtension(cap: KvmCapName): number;
}

export type KvmGdbCheck = { readonly ok: true; readonly support: GuestDebugSupport } | { readonly ok: false; readonly reason: string };

export function kvmGdbCheck(vm: Partial<CapabilityHost>, probe: () => GuestDebugProbe = guestDebugSupport): KvmGdbCheck {
  if (vm.checkExtension === undefined) return { ok: false, reason: '--gdb needs the emulator (--accel emu): this backend has no guest-debug interface' };
  if (vm.checkExtension('SET_GUEST_DEBUG') <= 0) {
    return { ok: false, reason: "--gdb on kvm: this host's KVM does not allow guest debugging (KVM_CAP_SET_GUEST_DEBUG is 0); use --accel emu" };
  }
  const p = probe();
  return p.ok ? p : { ok: false, reason: `--gdb on kvm: ${p.reason}; use --accel emu` };
}
