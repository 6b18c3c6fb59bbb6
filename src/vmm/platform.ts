/**
 * The PC platform a VM presents, described once for the firmware tables (ACPI, MP) so they say
 * what the backend really wires:
 * - emu: its chip set routes ISA IRQ0 (the PIT) to IOAPIC pin 2, the usual override;
 * - kvm: the in-kernel irqchip's default GSI routing is the identity (the PIT's GSI 0 reaches
 *   IOAPIC pin 0), so IRQ0 needs no override.
 * Both: one IOAPIC (ID 0, 24 pins at 0xFEC00000), NMI on LINT1, the SCI on IRQ 9 (level,
 * active high), the PM1a blocks and reset register of src/devices, PCI bus 0 on mechanism #1.
 */
import type { BackendName } from '../cpu/vm.js';
import { LOCAL_APIC_DEFAULT_ADDRESS, MPS_INTI_ACTIVE_HIGH, MPS_INTI_LEVEL, type IsaOverride, type PlatformDescription } from '../devices/acpi/acpi-tables.js';
import { PM1_CNT, PM1_DEFAULT_BASE, PM1_SLP_TYP_S5 } from '../devices/acpi/pm1.js';
import { ACPI_SCI_IRQ, PM_TIMER_PORT } from '../devices/device-manager.js';
import { RTC_CENTURY } from '../devices/legacy/cmos-rtc.js';
import { RESET_CONTROL_PORT, RST_CNT_RST_CPU, RST_CNT_SYS_RST } from '../devices/legacy/reset-control.js';
import { PCI_CONFIG_ADDRESS_PORT, PCI_CONFIG_PORTS } from '../devices/pci/pci-host-bridge.js';
import { pciIntxGsi } from '../devices/pci/pci-intx.js';

export const IOAPIC_ADDRESS = 0xfec00000;
export const IOAPIC_PINS = 24;
/** The PCI memory hole below 4 GiB starts where pcRamLayout stops low RAM. */
export const PCI_MMIO_START = 0xc0000000;
/** It ends below the IOAPIC (0xFEC00000), which, with the local APIC and the BIOS, fills the top. */
export const PCI_MMIO_END = 0xfebfffff;

/** How ISA IRQ `irq` reaches the IOAPIC on `backend` (GSI), where it differs from the identity. */
export function isaIrqOverrides(backend: BackendName): IsaOverride[] {
  const out: IsaOverride[] = [];
  if (backend === 'emu') out.push({ irq: 0, gsi: 2, flags: 0 });
  out.push({ irq: ACPI_SCI_IRQ, gsi: ACPI_SCI_IRQ, flags: MPS_INTI_ACTIVE_HIGH | MPS_INTI_LEVEL });
  return out;
}

export function pcPlatform(backend: BackendName, cpus: number): PlatformDescription {
  return {
    cpus,
    localApicAddress: LOCAL_APIC_DEFAULT_ADDRESS,
    ioapic: { id: 0, address: IOAPIC_ADDRESS, gsiBase: 0, pins: IOAPIC_PINS },
    isaOverrides: isaIrqOverrides(backend),
    nmiLint: 1,
    sciIrq: ACPI_SCI_IRQ,
    pm1aEventPort: PM1_DEFAULT_BASE,
    pm1aControlPort: PM1_DEFAULT_BASE + PM1_CNT,
    pmTimerPort: PM_TIMER_PORT,
    resetPort: RESET_CONTROL_PORT,
    resetValue: RST_CNT_SYS_RST | RST_CNT_RST_CPU,
    rtcCentury: RTC_CENTURY,
    dsdt: {
      slpTypS5: PM1_SLP_TYP_S5,
      isaDevices: [
        { name: 'COM1', hid: 'PNP0501', uid: 1, ports: [[0x3f8, 8]], irqs: [4] },
        { name: 'KBD', hid: 'PNP0303', ports: [[0x60, 1], [0x64, 1]], irqs: [1] },
        { name: 'MOU', hid: 'PNP0F13', ports: [], irqs: [12] },
        { name: 'RTC', hid: 'PNP0B00', ports: [[0x70, 2]], irqs: [8] },
      ],
      pci: {
        lastBus: 0,
        configPorts: { base: PCI_CONFIG_ADDRESS_PORT, length: PCI_CONFIG_PORTS },
        // Every port except the config ports: devices' I/O BARs are assigned from here.
        ioWindows: [
          [0x0000, PCI_CONFIG_ADDRESS_PORT - 1],
          [PCI_CONFIG_ADDRESS_PORT + PCI_CONFIG_PORTS, 0xffff],
        ],
        memWindows: [
          { min: 0xa0000, max: 0xbffff, cacheable: true }, // legacy VGA window
          { min: PCI_MMIO_START, max: PCI_MMIO_END, cacheable: false },
        ],
        intxRoutes: pciIntxRoutes(),
      },
    },
  };
}

/** The _PRT: every slot but the host bridge's, each of its four pins, to the GSI the PCI bus wires it to. */
export function pciIntxRoutes(): { device: number; pin: number; gsi: number }[] {
  const out: { device: number; pin: number; gsi: number }[] = [];
  for (let device = 1; device < 32; device++) for (let pin = 0; pin < 4; pin++) out.push({ device, pin, gsi: pciIntxGsi(device, pin + 1) });
  return out;
}

/** The platform identity the SMBIOS tables give (what Linux prints as "DMI: ..."). */
export function smbiosIdentity(backend: BackendName): { vendor: string; product: string; version: string; releaseDate: string } {
  return { vendor: 'tsvmm', product: `tsvmm ${backend} virtual machine`, version: '0.1.0', releaseDate: '12/01/2026' };
}
