/**
 * PCI INTx: the level-triggered, shareable interrupt pins INTA#-INTD# (PCI 3.0, 2.2.6), routed to
 * IOAPIC inputs the way the DSDT's _PRT tells the OS (src/vmm/platform.ts builds both from
 * `pciIntxGsi`, so they cannot disagree):
 * - device d's pin p (1 = INTA#) reaches PIRQ (d + p - 1) mod 4, the usual swizzle, and PIRQ n is
 *   GSI 16 + n (IOAPIC pins 16-19, above the ISA IRQs, level-triggered, active low to the OS; the
 *   lines carry the asserted level, as KVM_IRQ_LINE and emu's IOAPIC take it);
 * - functions on one GSI share it: the line is the OR of their pins;
 * - a function's pin follows its interrupt status, gated by COMMAND.INTx Disable.
 */
import type { IrqLine } from '../../cpu/irq.js';
import { PCI_COMMAND_INTX_DISABLE, type PciConfigSpace } from './pci-config.js';

export const PCI_INTX_GSI_BASE = 16;
export const PCI_INTX_LINES = 4;

/** The GSI device `device`'s pin `pin` (1-4) is wired to. */
export function pciIntxGsi(device: number, pin: number): number {
  return PCI_INTX_GSI_BASE + ((device + pin - 1) & 3);
}

/** A wired-OR line: asserted while any of its sources asserts it. */
export class SharedIrqLine {
  private readonly asserted = new Set<object>();
  constructor(readonly line: IrqLine) {}

  set(source: object, level: boolean): void {
    const before = this.asserted.size > 0;
    if (level) this.asserted.add(source);
    else this.asserted.delete(source);
    const after = this.asserted.size > 0;
    if (after !== before) this.line.set(after);
  }
}

/** One function's INTx pin, as the device drives it. */
export class PciIntxPin {
  private status = false;
  constructor(
    private readonly config: PciConfigSpace,
    private readonly shared: SharedIrqLine,
    readonly gsi: number,
  ) {}

  /** The device's interrupt condition: the status bit follows it; the line too unless INTx is disabled. */
  set(level: boolean): void {
    this.status = level;
    this.config.setInterruptStatus(level);
    this.update();
  }

  get level(): boolean {
    return this.status;
  }

  /** Re-applies the INTx Disable bit (after a config write). */
  update(): void {
    this.shared.set(this, this.status && (this.config.command & PCI_COMMAND_INTX_DISABLE) === 0);
  }
}
