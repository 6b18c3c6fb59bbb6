/**
 * The DSDT: the AML namespace the OS needs to find what the fixed tables cannot say.
 * - `\_S5`: the SLP_TYP values that put the machine in soft-off through PM1a_CNT (without it
 *   Linux's ACPI power-off is not available).
 * - `\_SB.PCI0`: the PCI root bridge (PNP0A03) with the bus numbers, I/O ports and memory
 *   windows it decodes (_CRS), so the OS scans bus 0 through ACPI and knows where BARs may go.
 * - the legacy ISA devices (COM1, PS/2 keyboard and mouse, RTC) with their ports and IRQs, so the
 *   OS's PnP layer finds them instead of probing.
 * - `_PRT` under PCI0 when the platform gives one: each slot's INTA#-INTD# straight to an IOAPIC GSI
 *   (no link devices), the same wiring src/devices/pci/pci-intx.ts raises.
 */
import { irqNoFlags, IO_ENTIRE_RANGE, MEM_CACHEABLE, MEM_READ_WRITE, RESOURCE_BUS, RESOURCE_IO, concat, device, dwordMemory, eisaId, integer, ioPort, name, pkg, resourceTemplate, scope, wordAddress } from './aml.js';
import { ACPI_HEADER_SIZE, seal, tableWithHeader } from './acpi-header.js';

export interface PciRootDescription {
  /** Last bus number behind the root bridge. */
  readonly lastBus: number;
  /** Configuration mechanism #1 ports (base, length). */
  readonly configPorts: { readonly base: number; readonly length: number };
  /** I/O port windows handed to devices, [min, max] inclusive. */
  readonly ioWindows: readonly (readonly [number, number])[];
  /** Memory windows below 4 GiB, [min, max] inclusive; `cacheable` for the legacy VGA window style ranges. */
  readonly memWindows: readonly { readonly min: number; readonly max: number; readonly cacheable: boolean }[];
  /** INTx routing (_PRT): device `device`'s pin `pin` (0 = INTA#) reaches `gsi` directly (no link devices). */
  readonly intxRoutes?: readonly { readonly device: number; readonly pin: number; readonly gsi: number }[];
}

/** A legacy ISA device the OS should find through ACPI PnP rather than by probing. */
export interface IsaDeviceDescription {
  /** Four-character ACPI name (e.g. COM1). */
  readonly name: string;
  /** PnP ID, e.g. PNP0501 (16550A UART), PNP0303 (PS/2 keyboard), PNP0F13 (PS/2 mouse), PNP0B00 (AT RTC). */
  readonly hid: string;
  readonly uid?: number;
  readonly ports: readonly (readonly [number, number])[];
  readonly irqs: readonly number[];
}

export interface DsdtOptions {
  /** SLP_TYP for PM1a_CNT (and PM1b) that means S5. */
  readonly slpTypS5: number;
  readonly pci: PciRootDescription | undefined;
  /** Legacy devices declared under \_SB with their ports and IRQs. */
  readonly isaDevices?: readonly IsaDeviceDescription[];
}

export const DSDT_REVISION = 2; // revision 2+: integers are 64 bits

export function dsdtBody(o: DsdtOptions): Uint8Array {
  const terms: Uint8Array[] = [name('\\_S5', pkg([integer(o.slpTypS5), integer(o.slpTypS5), integer(0), integer(0)]))];
  const sb: Uint8Array[] = [];
  for (const d of o.isaDevices ?? []) {
    sb.push(
      device(d.name, [
        name('_HID', integer(eisaId(d.hid))),
        ...(d.uid !== undefined ? [name('_UID', integer(d.uid))] : []),
        name('_CRS', resourceTemplate([...d.ports.map(([base, len]) => ioPort(base, len)), ...(d.irqs.length ? [irqNoFlags(d.irqs)] : [])])),
      ]),
    );
  }
  if (o.pci) {
    const p = o.pci;
    const crs = resourceTemplate([
      wordAddress(RESOURCE_BUS, 0, p.lastBus),
      ioPort(p.configPorts.base, p.configPorts.length),
      ...p.ioWindows.map(([min, max]) => wordAddress(RESOURCE_IO, min, max, IO_ENTIRE_RANGE)),
      ...p.memWindows.map((w) => dwordMemory(w.min, w.max, MEM_READ_WRITE | (w.cacheable ? MEM_CACHEABLE : 0))),
    ]);
    // _PRT entries: Package { address (device << 16 | 0xFFFF: any function), pin, source (0: a GSI), GSI }.
    const prt = (p.intxRoutes ?? []).map((r) => pkg([integer(r.device * 0x10000 + 0xffff), integer(r.pin), integer(0), integer(r.gsi)]));
    sb.unshift(
      device('PCI0', [
        name('_HID', integer(eisaId('PNP0A03'))),
        name('_ADR', integer(0)),
        name('_UID', integer(0)),
        name('_BBN', integer(0)),
        name('_CRS', crs),
        ...(prt.length ? [name('_PRT', pkg(prt))] : []),
      ]),
    );
  }
  if (sb.length) terms.push(scope('\\_SB', sb));
  return concat(terms);
}

export function buildDsdt(o: DsdtOptions): Uint8Array {
  const body = dsdtBody(o);
  const { bytes } = tableWithHeader('DSDT', ACPI_HEADER_SIZE + body.length, DSDT_REVISION);
  bytes.set(body, ACPI_HEADER_SIZE);
  return seal(bytes);
}
