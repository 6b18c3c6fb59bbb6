/**
 * What a PC's firmware does for PCI before the OS starts, which tsvmm (having no firmware) does
 * itself: gives every BAR an address from the root bridge's windows (the ones the DSDT's _CRS
 * declares), naturally aligned, and turns on I/O and memory decoding. The OS keeps these
 * assignments, as it keeps a BIOS's. Bus mastering is left for the driver to enable.
 */
import type { PciBus } from './pci-bus.js';
import { PCI_BAR0, PCI_BAR_COUNT, PCI_COMMAND, PCI_COMMAND_IO, PCI_COMMAND_MEMORY } from './pci-config.js';

export class PciResourceError extends RangeError {}

export class PciBarAllocator {
  private mem: number;
  private io: number;

  constructor(
    private readonly memWindow: { readonly min: number; readonly max: number },
    private readonly ioWindow: { readonly min: number; readonly max: number } = { min: 0xc000, max: 0xffff },
  ) {
    this.mem = memWindow.min;
    this.io = ioWindow.min;
  }

  /** Assigns every declared BAR of the function at `devfn` and enables decoding. */
  assign(pci: PciBus, devfn: number): void {
    const fn = pci.function(devfn);
    if (!fn) throw new PciResourceError(`no PCI function at devfn ${devfn}`);
    let command = fn.config.command;
    for (let i = 0; i < PCI_BAR_COUNT; i++) {
      const spec = fn.config.barSpec(i);
      if (!spec) continue;
      const io = spec.kind === 'io';
      const at = Math.ceil((io ? this.io : this.mem) / spec.size) * spec.size;
      const end = at + spec.size - 1;
      if (end > (io ? this.ioWindow.max : this.memWindow.max)) throw new PciResourceError(`no room for ${fn.name}'s BAR ${i} (${spec.size} bytes) in the PCI ${io ? 'I/O' : 'memory'} window`);
      if (io) this.io = end + 1;
      else this.mem = end + 1;
      pci.configWrite(devfn, PCI_BAR0 + 4 * i, 4, at >>> 0);
      if (spec.kind === 'mem64') pci.configWrite(devfn, PCI_BAR0 + 4 * i + 4, 4, Math.floor(at / 2 ** 32));
      command |= io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
    }
    pci.configWrite(devfn, PCI_COMMAND, 2, command);
  }
}
