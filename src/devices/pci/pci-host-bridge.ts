/**
 * The PCI host bridge: configuration mechanism #1 on ports 0xCF8-0xCFF (PCI Local Bus
 * Specification 3.0, 3.2.2.3.2) and the host-bridge function at 00:00.0.
 * - CONFIG_ADDRESS (0xCF8) is latched only by dword accesses: bit 31 enable, bits 23:16 bus,
 *   15:11 device, 10:8 function, 7:2 register; bits 30:24 and 1:0 read back 0.
 * - CONFIG_DATA (0xCFC-0xCFF) accesses of 1, 2 or 4 bytes reach the register selected by the
 *   latch plus the port offset, while the enable bit is set; otherwise reads are all-ones and
 *   writes are dropped. Only bus 0 exists: other buses read all-ones ("no device").
 * - Byte accesses to 0xCF9 go to the reset control register (the PC chipset's neighbour of
 *   CONFIG_ADDRESS); other non-dword accesses to 0xCF8-0xCFB decode nothing.
 */
import { field, type FieldsOf, type Persist, type PersistSchema } from '../../util/persist.js';
import type { BusDevice } from '../../cpu/bus.js';
import { PciBus, type PciFunction } from './pci-bus.js';
import { PciConfigSpace } from './pci-config.js';

export const PCI_CONFIG_ADDRESS_PORT = 0xcf8;
export const PCI_CONFIG_PORTS = 8;
export const PCI_CONFIG_ENABLE = 0x8000_0000;
/** Bits of CONFIG_ADDRESS that hold state: enable, bus, device, function, register. */
const ADDRESS_MASK = 0x80ff_fffc;
/** Red Hat's PCI vendor ID and its "generic host bridge" device ID: a host bridge with no chipset quirks. */
export const HOST_BRIDGE_VENDOR_ID = 0x1b36;
export const HOST_BRIDGE_DEVICE_ID = 0x0008;
export const PCI_CLASS_BRIDGE_HOST = 0x060000;

export function createHostBridgeFunction(): PciFunction {
  return {
    name: 'host bridge',
    config: new PciConfigSpace({ vendorId: HOST_BRIDGE_VENDOR_ID, deviceId: HOST_BRIDGE_DEVICE_ID, classCode: PCI_CLASS_BRIDGE_HOST }),
  };
}

const PCI_HOST_FIELDS = { address: field.u32() } as const;
/** The CONFIG_ADDRESS register. The functions' configuration spaces are saved apart (not yet: src/vmm/state/README.md). */
export const PCI_HOST_PERSIST: PersistSchema<typeof PCI_HOST_FIELDS> = { kind: 'pci-host-bridge', version: 1, fields: PCI_HOST_FIELDS };

export class PciHostBridge implements BusDevice, Persist<typeof PCI_HOST_FIELDS> {
  readonly persistSchema = PCI_HOST_PERSIST;
  private address = 0;

  /** `resetControl` receives byte accesses to 0xCF9 (port offset 1). */
  constructor(
    readonly bus: PciBus,
    private readonly resetControl: BusDevice | undefined,
  ) {}

  read(offset: number, data: Uint8Array): void {
    const size = data.length;
    if (offset === 0 && size === 4) return put(data, this.address);
    if (offset === 1 && size === 1 && this.resetControl) return this.resetControl.read(0, data);
    if (offset >= 4 && this.address & PCI_CONFIG_ENABLE) {
      const target = this.target(offset);
      if (target !== undefined) return put(data, this.bus.configRead(target.devfn, target.reg, size));
    }
    data.fill(0xff);
  }

  write(offset: number, data: Uint8Array): void {
    const size = data.length;
    if (offset === 0 && size === 4) {
      this.address = (get(data) & ADDRESS_MASK) >>> 0;
      return;
    }
    if (offset === 1 && size === 1 && this.resetControl) return this.resetControl.write(0, data);
    if (offset >= 4 && this.address & PCI_CONFIG_ENABLE) {
      const target = this.target(offset);
      if (target !== undefined) this.bus.configWrite(target.devfn, target.reg, size, get(data));
    }
  }

  /** The function and register a CONFIG_DATA access at port offset `offset` selects (bus 0 only). */
  private target(offset: number): { devfn: number; reg: number } | undefined {
    const busNo = (this.address >>> 16) & 0xff;
    if (busNo !== 0) return undefined;
    return { devfn: (this.address >>> 8) & 0xff, reg: (this.address & 0xfc) + (offset - 4) };
  }

  saveState(): FieldsOf<typeof PCI_HOST_FIELDS> {
    return { address: this.address };
  }

  restoreState(s: FieldsOf<typeof PCI_HOST_FIELDS>): void {
    this.address = (s.address & ADDRESS_MASK) >>> 0;
  }
}

function put(data: Uint8Array, v: number): void {
  for (let i = 0; i < data.length; i++) data[i] = (v >>> (8 * i)) & 0xff;
}

function get(data: Uint8Array): number {
  let v = 0;
  for (let i = data.length - 1; i >= 0; i--) v = (v << 8) | data[i]!;
  return v >>> 0;
}
