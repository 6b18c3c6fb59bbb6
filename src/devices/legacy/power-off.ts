import type { BusDevice } from '../../cpu/bus.js';
import type { VmControl } from '../../cpu/vm.js';

/**
 * A power-off port guests hard-code: 0xB004, the PM1a control register at the PM base of
 * older QEMU/Bochs that osdev code still uses. (The real ACPI PM1a control at 0x604, where
 * QEMU's PIIX4 PM has it and `outw(0x604, 0x2000)` powers QEMU 7.2 off, is acpi/pm1.ts,
 * which the FADT describes; this class can serve that port too.) Writing
 * SLP_EN with SLP_TYP = 0 (QEMU's \_S5 value) stops the VM with `{ kind: 'poweroff' }`.
 * Other sleep types (S3 = 1 suspends QEMU) are counted and ignored: no suspend here.
 */
export const ACPI_PM1A_CNT_PORT = 0x604;
export const BOCHS_POWEROFF_PORT = 0xb004;
export const ACPI_PM1_CNT_SCI_EN = 0x0001;
export const ACPI_PM1_CNT_SLP_TYP_SHIFT = 10;
export const ACPI_PM1_CNT_SLP_TYP_MASK = 0x1c00;
export const ACPI_PM1_CNT_SLP_EN = 0x2000;
/** SLP_TYP that QEMU's DSDT gives \_S5 (soft off). */
export const QEMU_SLP_TYP_S5 = 0;

export class PowerOffPort implements BusDevice {
  private value = 0;
  /** Sleep requests with a type other than S5 (ignored), for diagnostics. */
  ignoredSleeps = 0;

  constructor(private readonly vm: VmControl) {}

  read(offset: number, data: Uint8Array): void {
    // SLP_EN is write-only and reads 0.
    const v = this.value & ~ACPI_PM1_CNT_SLP_EN;
    for (let i = 0; i < data.length; i++) data[i] = offset + i < 2 ? (v >> ((offset + i) * 8)) & 0xff : 0xff;
  }

  write(offset: number, data: Uint8Array): void {
    let v = this.value;
    for (let i = 0; i < data.length && offset + i < 2; i++) {
      const shift = (offset + i) * 8;
      v = (v & ~(0xff << shift)) | (data[i]! << shift);
    }
    this.value = v & 0xffff;
    if (!(v & ACPI_PM1_CNT_SLP_EN)) return;
    if ((v & ACPI_PM1_CNT_SLP_TYP_MASK) >> ACPI_PM1_CNT_SLP_TYP_SHIFT === QEMU_SLP_TYP_S5) this.vm.requestStop({ kind: 'poweroff' });
    else this.ignoredSleeps++;
  }
}
