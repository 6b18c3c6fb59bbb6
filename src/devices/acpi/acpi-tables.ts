/**
 * ACPI tables (ACPI 6.4, chapter 5.2) built from a description of the platform: RSDP, XSDT and
 * RSDT, FADT with FACS and DSDT, and the MADT. Each builder returns the finished table with its
 * checksum; `layoutAcpiTables` places them in a firmware area and fills in the pointers.
 */
import { buildDsdt, type DsdtOptions } from './dsdt.js';
import { ACPI_HEADER_SIZE, ACPI_OEM_ID, ascii, checksum, seal, tableWithHeader } from './acpi-header.js';

export const RSDP_SIZE = 36;
export const FADT_SIZE = 276;
export const FACS_SIZE = 64;
/** FADT revision 6 with minor version 4 (ACPI 6.4). */
export const FADT_REVISION = 6;
export const FADT_MINOR_REVISION = 4;
export const LOCAL_APIC_DEFAULT_ADDRESS = 0xfee00000;

// MADT structure types (ACPI 6.4, 5.2.12).
export const MADT_LOCAL_APIC = 0;
export const MADT_IO_APIC = 1;
export const MADT_INTERRUPT_OVERRIDE = 2;
export const MADT_LOCAL_APIC_NMI = 4;
export const MADT_PCAT_COMPAT = 1;
/** MPS INTI flags: polarity bits 1:0 (01 high, 11 low), trigger mode bits 3:2 (01 edge, 11 level); 0 = bus default. */
export const MPS_INTI_ACTIVE_HIGH = 0x1;
export const MPS_INTI_ACTIVE_LOW = 0x3;
export const MPS_INTI_EDGE = 0x4;
export const MPS_INTI_LEVEL = 0xc;

// FADT flags (5.2.9, table 5.10) and IA-PC boot architecture flags (table 5.11).
export const FADT_WBINVD = 1 << 0;
export const FADT_PROC_C1 = 1 << 2;
export const FADT_PWR_BUTTON = 1 << 4;
export const FADT_SLP_BUTTON = 1 << 5;
export const FADT_TMR_VAL_EXT = 1 << 8;
export const FADT_RESET_REG_SUP = 1 << 10;
export const IAPC_LEGACY_DEVICES = 1 << 0;
export const IAPC_8042 = 1 << 1;
export const IAPC_VGA_NOT_PRESENT = 1 << 2;

/** Generic Address Structure address space ids. */
export const GAS_SYSTEM_IO = 1;
/** GAS access size: 1 byte, 2 word, 3 dword. */
export const GAS_ACCESS_BYTE = 1;
export const GAS_ACCESS_WORD = 2;
export const GAS_ACCESS_DWORD = 3;

export interface IsaOverride {
  /** ISA IRQ (bus-relative source). */
  readonly irq: number;
  readonly gsi: number;
  /** MPS INTI flags. */
  readonly flags: number;
}

/** What the tables describe. Everything here must be true of the VM the guest runs in. */
export interface PlatformDescription {
  /** vCPUs; vCPU i has local APIC ID i and ACPI processor UID i. */
  readonly cpus: number;
  readonly localApicAddress: number;
  readonly ioapic: { readonly id: number; readonly address: number; readonly gsiBase: number; readonly pins: number };
  /** How ISA IRQs reach IOAPIC inputs where they are not identity-mapped or not edge/high. */
  readonly isaOverrides: readonly IsaOverride[];
  /** The local APIC input the platform NMI is wired to (LINT1 on a PC), or undefined for none. */
  readonly nmiLint: number | undefined;
  /** The SCI's ISA IRQ. */
  readonly sciIrq: number;
  /** PM1a event block (4 ports: status, enable) and control block (2 ports). */
  readonly pm1aEventPort: number;
  readonly pm1aControlPort: number;
  /** ACPI PM timer port (4 ports, 32-bit counter). */
  readonly pmTimerPort: number;
  /** ACPI reset register (an I/O port) and the value that resets. */
  readonly resetPort: number;
  readonly resetValue: number;
  /** Index of the century byte in CMOS RAM (0 = none). */
  readonly rtcCentury: number;
  readonly dsdt: DsdtOptions;
}

export function buildRsdp(rsdtAddr: number, xsdtAddr: number): Uint8Array {
  const b = new Uint8Array(RSDP_SIZE);
  const v = new DataView(b.buffer);
  ascii(b, 0, 'RSD PTR ', 8);
  ascii(b, 9, ACPI_OEM_ID, 6);
  b[15] = 2; // revision 2: ACPI 2.0+ with XSDT
  v.setUint32(16, rsdtAddr, true);
  v.setUint32(20, RSDP_SIZE, true);
  v.setBigUint64(24, BigInt(xsdtAddr), true);
  b[8] = checksum(b, 0, 20); // ACPI 1.0 checksum over the first 20 bytes
  b[32] = checksum(b, 0, RSDP_SIZE); // extended checksum over the whole structure
  return b;
}

export function buildXsdt(entries: readonly number[]): Uint8Array {
  const { bytes, view } = tableWithHeader('XSDT', ACPI_HEADER_SIZE + 8 * entries.length, 1);
  entries.forEach((a, i) => view.setBigUint64(ACPI_HEADER_SIZE + 8 * i, BigInt(a), true));
  return seal(bytes);
}

export function buildRsdt(entries: readonly number[]): Uint8Array {
  const { bytes, view } = tableWithHeader('RSDT', ACPI_HEADER_SIZE + 4 * entries.length, 1);
  entries.forEach((a, i) => view.setUint32(ACPI_HEADER_SIZE + 4 * i, a, true));
  return seal(bytes);
}

/** FACS (5.2.10): no checksum; the hardware signature changes when the platform does. */
export function buildFacs(hardwareSignature: number): Uint8Array {
  const b = new Uint8Array(FACS_SIZE);
  const v = new DataView(b.buffer);
  ascii(b, 0, 'FACS', 4);
  v.setUint32(4, FACS_SIZE, true);
  v.setUint32(8, hardwareSignature >>> 0, true);
  b[32] = 2; // version
  return b;
}

function setGas(v: DataView, at: number, space: number, bitWidth: number, accessSize: number, address: number): void {
  v.setUint8(at, space);
  v.setUint8(at + 1, bitWidth);
  v.setUint8(at + 2, 0); // bit offset
  v.setUint8(at + 3, accessSize);
  v.setBigUint64(at + 4, BigInt(address), true);
}

/** FADT ("FACP", 5.2.9), revision 6: PM1a blocks, SCI, reset register; ACPI mode always on (SMI_CMD 0). */
export function buildFadt(p: PlatformDescription, facsAddr: number, dsdtAddr: number): Uint8Array {
  const { bytes, view: v } = tableWithHeader('FACP', FADT_SIZE, FADT_REVISION);
  v.setUint32(36, facsAddr, true);
  v.setUint32(40, dsdtAddr, true);
  bytes[45] = 0; // preferred PM profile: unspecified
  v.setUint16(46, p.sciIrq, true);
  v.setUint32(48, 0, true); // SMI_CMD 0: no SMI, the hardware is in ACPI mode from reset
  v.setUint32(56, p.pm1aEventPort, true);
  v.setUint32(64, p.pm1aControlPort, true);
  v.setUint32(76, p.pmTimerPort, true);
  bytes[88] = 4; // PM1_EVT_LEN
  bytes[89] = 2; // PM1_CNT_LEN
  bytes[91] = 4; // PM_TMR_LEN
  v.setUint16(96, 101, true); // P_LVL2_LAT > 100: C2 not supported
  v.setUint16(98, 1001, true); // P_LVL3_LAT > 1000: C3 not supported
  bytes[108] = p.rtcCentury;
  v.setUint16(109, IAPC_LEGACY_DEVICES | IAPC_8042 | IAPC_VGA_NOT_PRESENT, true);
  v.setUint32(112, FADT_WBINVD | FADT_PROC_C1 | FADT_PWR_BUTTON | FADT_SLP_BUTTON | FADT_TMR_VAL_EXT | FADT_RESET_REG_SUP, true);
  setGas(v, 116, GAS_SYSTEM_IO, 8, GAS_ACCESS_BYTE, p.resetPort);
  bytes[128] = p.resetValue;
  bytes[131] = FADT_MINOR_REVISION;
  v.setBigUint64(132, BigInt(facsAddr), true);
  v.setBigUint64(140, BigInt(dsdtAddr), true);
  setGas(v, 148, GAS_SYSTEM_IO, 32, GAS_ACCESS_WORD, p.pm1aEventPort);
  setGas(v, 172, GAS_SYSTEM_IO, 16, GAS_ACCESS_WORD, p.pm1aControlPort);
  setGas(v, 208, GAS_SYSTEM_IO, 32, GAS_ACCESS_DWORD, p.pmTimerPort);
  ascii(bytes, 268, 'TSVMM', 5); // hypervisor vendor identity (8 bytes, the rest 0)
  return seal(bytes);
}

/** MADT ("APIC", 5.2.12): every vCPU's local APIC, the IOAPIC, the ISA overrides and the LINT NMI. */
export function buildMadt(p: PlatformDescription): Uint8Array {
  const entries: Uint8Array[] = [];
  for (let i = 0; i < p.cpus; i++) entries.push(Uint8Array.of(MADT_LOCAL_APIC, 8, i, i, 1, 0, 0, 0)); // UID i, APIC ID i, enabled
  {
    const e = new Uint8Array(12);
    const v = new DataView(e.buffer);
    e[0] = MADT_IO_APIC;
    e[1] = 12;
    e[2] = p.ioapic.id;
    v.setUint32(4, p.ioapic.address, true);
    v.setUint32(8, p.ioapic.gsiBase, true);
    entries.push(e);
  }
  for (const o of p.isaOverrides) {
    const e = new Uint8Array(10);
    const v = new DataView(e.buffer);
    e[0] = MADT_INTERRUPT_OVERRIDE;
    e[1] = 10;
    e[2] = 0; // bus: ISA
    e[3] = o.irq;
    v.setUint32(4, o.gsi, true);
    v.setUint16(8, o.flags, true);
    entries.push(e);
  }
  if (p.nmiLint !== undefined) entries.push(Uint8Array.of(MADT_LOCAL_APIC_NMI, 6, 0xff, 0, 0, p.nmiLint)); // all processors
  const bodyLen = entries.reduce((n, e) => n + e.length, 0);
  const { bytes, view } = tableWithHeader('APIC', ACPI_HEADER_SIZE + 8 + bodyLen, 5);
  view.setUint32(36, p.localApicAddress, true);
  view.setUint32(40, MADT_PCAT_COMPAT, true); // the 8259 pair is there too
  let at = ACPI_HEADER_SIZE + 8;
  for (const e of entries) {
    bytes.set(e, at);
    at += e.length;
  }
  return seal(bytes);
}

export interface PlacedBlob {
  readonly address: number;
  readonly bytes: Uint8Array;
  readonly name: string;
}

/**
 * Places the ACPI tables from `base` upward (RSDP first, 16-byte aligned, so it lies in the
 * area guests scan), returns the blobs to write and the RSDP address.
 */
export function layoutAcpiTables(p: PlatformDescription, base: number): { blobs: PlacedBlob[]; rsdpAddr: number; end: number } {
  const align = (v: number, a: number) => Math.ceil(v / a) * a;
  let at = align(base, 16);
  const rsdpAddr = at;
  at += RSDP_SIZE;
  const facsAddr = align(at, 64); // FACS must be 64-byte aligned
  at = facsAddr + FACS_SIZE;
  const dsdt = buildDsdt(p.dsdt);
  const dsdtAddr = align(at, 8);
  at = dsdtAddr + dsdt.length;
  const fadtAddr = align(at, 8);
  at = fadtAddr + FADT_SIZE;
  const madt = buildMadt(p);
  const madtAddr = align(at, 8);
  at = madtAddr + madt.length;
  const tables = [fadtAddr, madtAddr];
  const xsdt = buildXsdt(tables);
  const xsdtAddr = align(at, 8);
  at = xsdtAddr + xsdt.length;
  const rsdt = buildRsdt(tables);
  const rsdtAddr = align(at, 8);
  at = rsdtAddr + rsdt.length;
  // The FACS hardware signature: a digest of the tables that describe the hardware.
  const facs = buildFacs(checksum32([madt, dsdt]));
  return {
    rsdpAddr,
    end: at,
    blobs: [
      { address: rsdpAddr, bytes: buildRsdp(rsdtAddr, xsdtAddr), name: 'ACPI RSDP' },
      { address: facsAddr, bytes: facs, name: 'ACPI FACS' },
      { address: dsdtAddr, bytes: dsdt, name: 'ACPI DSDT' },
      { address: fadtAddr, bytes: buildFadt(p, facsAddr, dsdtAddr), name: 'ACPI FADT' },
      { address: madtAddr, bytes: madt, name: 'ACPI MADT' },
      { address: xsdtAddr, bytes: xsdt, name: 'ACPI XSDT' },
      { address: rsdtAddr, bytes: rsdt, name: 'ACPI RSDT' },
    ],
  };
}

/** A simple 32-bit digest (FNV-1a) of byte arrays. */
function checksum32(parts: readonly Uint8Array[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) for (const b of p) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}
