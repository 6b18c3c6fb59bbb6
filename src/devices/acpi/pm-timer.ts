/**
 * The ACPI power management timer (ACPI 6.4, 4.8.3.3): a free-running 32-bit counter at
 * 3.579545 MHz read from the PM_TMR_BLK port (FADT TMR_VAL_EXT: all 32 bits count). It counts
 * the guest's time (the emulator's virtual clock, or the host clock under KVM), so the kernel
 * has a clocksource to check the TSC against that agrees with it. Writes are ignored (read-only
 * register); the overflow status/SCI (TMR_STS/TMR_EN) is not generated.
 */
import type { BusDevice } from '../../cpu/bus.js';

export const PM_TIMER_HZ = 3_579_545;
export const PM_TIMER_PORTS = 4;

export class AcpiPmTimer implements BusDevice {
  /** `nowNs`: the guest's time in nanoseconds. */
  constructor(private readonly nowNs: () => number) {}

  /** The counter value now. */
  get value(): number {
    return Math.floor((this.nowNs() * PM_TIMER_HZ) / 1e9) % 2 ** 32;
  }

  read(offset: number, data: Uint8Array): void {
    const v = this.value;
    for (let i = 0; i < data.length; i++) data[i] = offset + i < 4 ? (v >>> ((offset + i) * 8)) & 0xff : 0xff;
  }

  write(): void {}
}
