/**
 * The firmware tables a PC guest looks for, laid out in the reserved BIOS area at 0xF0000: the
 * MP floating pointer and configuration table first, then the ACPI tables with the RSDP on a
 * 16-byte boundary, then the SMBIOS entry point and structures (all inside 0xE0000-0xFFFFF, where
 * kernels scan for them).
 */
import type { GuestMemory } from '../../memory/guest-memory.js';
import { layoutAcpiTables, type PlacedBlob, type PlatformDescription } from './acpi-tables.js';
import { MP_FLOATING_SIZE, buildMpConfigTable, buildMpFloatingPointer, type MpOptions } from './mp-table.js';
import { SMBIOS3_ENTRY_SIZE, buildSmbios3Entry, buildSmbiosTable, type SmbiosOptions } from './smbios.js';

/** Start of the system BIOS window; the e820 map reserves it. */
export const FIRMWARE_TABLES_BASE = 0xf0000;
export const FIRMWARE_TABLES_END = 0x100000;

export interface FirmwareTables {
  readonly blobs: readonly PlacedBlob[];
  readonly rsdpAddr: number;
  readonly mpFloatingAddr: number;
  readonly smbiosEntryAddr: number;
  /** First byte after the tables. */
  readonly end: number;
}

export function buildFirmwareTables(p: PlatformDescription, mp: MpOptions, smbios: Omit<SmbiosOptions, 'cpus' | 'cpuSignature' | 'cpuFeatures'>, base = FIRMWARE_TABLES_BASE): FirmwareTables {
  const mpConfigAddr = base + MP_FLOATING_SIZE;
  const mpConfig = buildMpConfigTable(p, mp);
  const acpi = layoutAcpiTables(p, mpConfigAddr + mpConfig.length);
  const smbiosEntryAddr = Math.ceil(acpi.end / 16) * 16;
  const smbiosTable = buildSmbiosTable({ ...smbios, cpus: p.cpus, ...mp });
  const smbiosTableAddr = smbiosEntryAddr + SMBIOS3_ENTRY_SIZE;
  const end = smbiosTableAddr + smbiosTable.length;
  if (end > FIRMWARE_TABLES_END) throw new RangeError(`the firmware tables need ${end - base} bytes, more than the BIOS area from 0x${base.toString(16)} holds`);
  return {
    blobs: [
      { address: base, bytes: buildMpFloatingPointer(mpConfigAddr), name: 'MP floating pointer' },
      { address: mpConfigAddr, bytes: mpConfig, name: 'MP configuration table' },
      ...acpi.blobs,
      { address: smbiosEntryAddr, bytes: buildSmbios3Entry(smbiosTableAddr, smbiosTable.length), name: 'SMBIOS 3.0 entry point' },
      { address: smbiosTableAddr, bytes: smbiosTable, name: 'SMBIOS structure table' },
    ],
    rsdpAddr: acpi.rsdpAddr,
    mpFloatingAddr: base,
    smbiosEntryAddr,
    end,
  };
}

/** Writes the tables into guest RAM (the BIOS area is RAM in tsvmm's layout, reserved in e820). */
export function installFirmwareTables(memory: GuestMemory, t: FirmwareTables): void {
  for (const b of t.blobs) memory.write(b.address, b.bytes);
}
