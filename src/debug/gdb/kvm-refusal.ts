/**
 * Why `--gdb` is refused on the kvm backend, in the host's own terms: KVM_CHECK_EXTENSION says whether its
 * KVM allows KVM_SET_GUEST_DEBUG (KVM_CAP_SET_GUEST_DEBUG) and which control bits (KVM_CAP_SET_GUEST_DEBUG2).
 */
import { KVM_GUESTDBG, type KvmCapName } from '../../sys/kvm-abi.js';

/** What the check needs from a KVM VM (KvmVm.checkExtension). */
export interface GuestDebugProbe {
  checkExtension(cap: KvmCapName): number;
}

export function kvmGdbRefusal(vm: Partial<GuestDebugProbe>): string {
  if (vm.checkExtension === undefined) return '--gdb needs the emulator (--accel emu): this backend has no guest-debug interface';
  if (vm.checkExtension('SET_GUEST_DEBUG') <= 0) {
    return "--gdb on kvm: this host's KVM does not allow guest debugging (KVM_CAP_SET_GUEST_DEBUG is 0); use --accel emu";
  }
  const bits = vm.checkExtension('SET_GUEST_DEBUG2');
  const names = Object.entries(KVM_GUESTDBG)
    .filter(([, v]) => bits > 0 && (bits & v) !== 0)
    .map(([k]) => k.toLowerCase());
  return (
    `--gdb on kvm: this host allows KVM_SET_GUEST_DEBUG (${names.length > 0 ? names.join(', ') : 'control bits not reported'}), ` +
    "but tsvmm's gdb stub drives only the emulator so far; use --accel emu"
  );
}
