/**
 * PCI bus 0 behind the host bridge: up to 32 devices of up to 8 functions each. Config
 * accesses reach a function's `PciConfigSpace`; after every write the bus re-decodes the
 * function's BARs and moves their mappings on the VM's port and MMIO buses, so a device only
 * declares its BARs and the handler behind each one.
 *
 * A function is what a later issue adds for virtio-pci: its config space (with BARs and an
 * MSI-X capability), a `BusDevice` per BAR, and hooks for config writes it must see.
 */
import type { Bus, BusDevice } from '../../cpu/bus.js';
import type { IrqLine } from '../../cpu/irq.js';
import { PCI_BAR_COUNT, PCI_INTERRUPT_LINE, PCI_INTERRUPT_PIN, type PciBarRange, type PciConfigSpace } from './pci-config.js';
import { PCI_INTX_LINES, PciIntxPin, SharedIrqLine, pciIntxGsi } from './pci-intx.js';

export const PCI_DEVICES_PER_BUS = 32;
export const PCI_FUNCTIONS_PER_DEVICE = 8;

export interface PciFunction {
  readonly name: string;
  readonly config: PciConfigSpace;
  /** The handler for BAR `index` (offsets relative to the BAR's base), for every declared BAR. */
  barDevice?(index: number): BusDevice | undefined;
  /** Called before a guest config read of [offset, offset+size), for registers whose value is computed. */
  configReading?(offset: number, size: number): void;
  /** Called after a guest config write, once the BARs have been re-decoded (e.g. MSI-X enable). */
  configWritten?(offset: number, size: number, value: number): void;
  /** Called when BAR `index` starts decoding at a new range or stops (undefined). */
  barMoved?(index: number, range: PciBarRange | undefined): void;
  /** Receives the function's INTx pin when it declares one (config interrupt pin 1-4) and the bus routes INTx. */
  attachIntx?(pin: PciIntxPin): void;
}

interface Slot {
  readonly fn: PciFunction;
  readonly intx: PciIntxPin | undefined;
  /** The range each BAR is mapped at now. */
  readonly mapped: (PciBarRange | undefined)[];
}

/** devfn = device << 3 | function, as in configuration addresses. */
export function devfn(device: number, fn: number): number {
  return (device << 3) | fn;
}

export class PciBus {
  private readonly slots = new Map<number, Slot>();
  private readonly intxLines: SharedIrqLine[] = [];

  /** `irqLine` gives the VM's interrupt inputs; without it INTx pins are not connected. */
  constructor(
    private readonly pio: Bus,
    private readonly mmio: Bus,
    irqLine?: (gsi: number) => IrqLine,
  ) {
    if (irqLine) for (let i = 0; i < PCI_INTX_LINES; i++) this.intxLines.push(new SharedIrqLine(irqLine(pciIntxGsi(0, 1 + i))));
  }

  /** Puts `fn` at device `device`, function `func`; function 0 must exist before the others. */
  attach(device: number, func: number, fn: PciFunction): void {
    if (!Number.isInteger(device) || device < 0 || device >= PCI_DEVICES_PER_BUS) throw new RangeError(`PCI device number ${device} must be 0-31`);
    if (!Number.isInteger(func) || func < 0 || func >= PCI_FUNCTIONS_PER_DEVICE) throw new RangeError(`PCI function number ${func} must be 0-7`);
    const df = devfn(device, func);
    const taken = this.slots.get(df);
    if (taken) throw new RangeError(`PCI slot 00:${hex2(device)}.${func} for "${fn.name}" is taken by "${taken.fn.name}"`);
    if (func !== 0 && !this.slots.has(devfn(device, 0))) throw new RangeError(`PCI function 00:${hex2(device)}.${func} needs function 0 first (the OS scans function 0 only)`);
    const pin = fn.config.read(PCI_INTERRUPT_PIN, 1);
    let intx: PciIntxPin | undefined;
    if (pin >= 1 && pin <= 4 && this.intxLines.length > 0) {
      const gsi = pciIntxGsi(device, pin);
      intx = new PciIntxPin(fn.config, this.intxLines[gsi - pciIntxGsi(0, 1)]!, gsi);
      // What firmware leaves in Interrupt Line for the OS: the GSI (ACPI's _PRT says the same).
      fn.config.bytes[PCI_INTERRUPT_LINE] = gsi;
    }
    this.slots.set(df, { fn, intx, mapped: new Array<PciBarRange | undefined>(PCI_BAR_COUNT).fill(undefined) });
    if (intx) fn.attachIntx?.(intx);
    this.remap(df);
  }

  /** The function at `devfn`, if any. */
  function(df: number): PciFunction | undefined {
    return this.slots.get(df)?.fn;
  }

  /** Functions in devfn order (for listing). */
  list(): { devfn: number; name: string }[] {
    return [...this.slots.entries()].sort((a, b) => a[0] - b[0]).map(([df, s]) => ({ devfn: df, name: s.fn.name }));
  }

  /** A config read; absent functions read all-ones (the vendor ID 0xFFFF says "no device"). */
  configRead(df: number, offset: number, size: number): number {
    const s = this.slots.get(df);
    if (!s) return size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
    s.fn.configReading?.(offset, size);
    return s.fn.config.read(offset, size);
  }

  configWrite(df: number, offset: number, size: number, value: number): void {
    const s = this.slots.get(df);
    if (!s) return;
    s.fn.config.write(offset, size, value);
    this.remap(df);
    s.intx?.update();
    s.fn.configWritten?.(offset, size, value);
  }

  /**
   * Config space of `df` was loaded wholesale (a snapshot restore), not written by the guest: decode its
   * BARs and INTx pin from it again, as a guest write would have.
   */
  configLoaded(df: number): void {
    const s = this.slots.get(df);
    if (!s) return;
    this.remap(df);
    s.intx?.update();
  }

  private remap(df: number): void {
    const s = this.slots.get(df)!;
    for (let i = 0; i < PCI_BAR_COUNT; i++) {
      const want = s.fn.config.barRange(i);
      const have = s.mapped[i];
      if (want?.space === have?.space && want?.base === have?.base && want?.size === have?.size) continue;
      const dev = s.fn.barDevice?.(i);
      if (!dev) continue;
      if (have) (have.space === 'io' ? this.pio : this.mmio).unregister(have.base, dev);
      s.mapped[i] = undefined;
      if (want) {
        // A BAR placed over something else (another BAR, a chip) does not decode: the OS assigned
        // overlapping resources, and the first owner keeps the range.
        try {
          (want.space === 'io' ? this.pio : this.mmio).register(want.base, want.size, dev, `pci 00:${hex2(df >> 3)}.${df & 7} ${s.fn.name} BAR${i}`);
          s.mapped[i] = want;
        } catch {
          s.mapped[i] = undefined;
        }
      }
      s.fn.barMoved?.(i, s.mapped[i]);
    }
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
