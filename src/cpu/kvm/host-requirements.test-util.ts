/**
 * What tests that need KVM, a guest PMU or root check before running: each returns the
 * reason the test cannot run on this host (for `{ skip }`), or false when it can. They
 * look at the host directly (open /dev/kvm, read KVM's module parameters) rather than
 * through the code under test, so a bug there cannot turn a test into a silent skip.
 */
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';

export const KVM_DEVICE_PATH = '/dev/kvm';

/** Why /dev/kvm cannot be used by this process, or false. Opens it read-write, as tsvmm does. */
export function kvmMissing(device = KVM_DEVICE_PATH): string | false {
  if (!existsSync(device)) return `no ${device} on this host`;
  try {
    closeSync(openSync(device, 'r+'));
    return false;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    return `${device} exists but cannot be opened read-write here (${code}: run as root or join the kvm group)`;
  }
}

/** KVM's enable_pmu module parameter: true (Y), false (N) or undefined (no kvm module parameters). */
export function kvmEnablePmu(): boolean | undefined {
  try {
    const v = readFileSync('/sys/module/kvm/parameters/enable_pmu', 'utf8').trim();
    return v === 'Y' || v === 'y' || v === '1';
  } catch {
    return undefined;
  }
}

/** Why KVM cannot give a guest a PMU here (no usable KVM first, then no vPMU), or false. */
export function kvmGuestPmuMissing(): string | false {
  const kvm = kvmMissing();
  if (kvm) return kvm;
  const pmu = kvmEnablePmu();
  if (pmu === false) return "this host's KVM has no guest PMU (kvm.enable_pmu=N)";
  if (pmu === undefined) return "this host's KVM does not report enable_pmu (no /sys/module/kvm/parameters)";
  return false;
}

/** Why a test that needs root cannot run, or false. */
export function notRoot(): string | false {
  return process.getuid?.() === 0 ? false : 'needs root';
}
