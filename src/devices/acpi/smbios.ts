/**
 * SMBIOS (DMTF DSP0134 3.x) tables, so the OS finds the platform's identity instead of reporting "DMI not
 * present": the 64-bit "_SM3_" entry point (found by scanning 0xF0000-0xFFFFF on 16-byte boundaries) and a
 * structure table with BIOS information (type 0), system information (1), a chassis (3), a processor per vCPU
 * (4), system boot information (32) and the end-of-table marker (127). Each structure is its formatted area
 * followed by its strings, each NUL-terminated, and a final NUL.
 */
import { checksum } from './acpi-header.js';

export const SMBIOS3_ENTRY_SIZE = 24;
const TYPE_BIOS = 0;
const TYPE_SYSTEM = 1;
const TYPE_CHASSIS = 3;
const TYPE_PROCESSOR = 4;
const TYPE_BOOT = 32;
const TYPE_END = 127;

export interface SmbiosOptions {
  readonly cpus: number;
  /** CPUID(1).EAX and .EDX, for the processor ID field (0 when unknown). */
  readonly cpuSignature: number;
  readonly cpuFeatures: number;
  readonly vendor: string;
  readonly product: string;
  readonly version: string;
  /** BIOS release date, MM/DD/YYYY as SMBIOS wants it. */
  readonly releaseDate: string;
}

/** One structure: `formatted` (after the 4-byte header) and its strings, numbered from 1 in order. */
function structure(type: number, handle: number, formatted: number[], strings: string[]): Uint8Array {
  const head = [type, 4 + formatted.length, handle & 0xff, handle >> 8];
  const enc = new TextEncoder();
  const strs = strings.flatMap((s) => [...enc.encode(s), 0]);
  // No strings: the formatted area is followed by two NULs.
  return Uint8Array.from([...head, ...formatted, ...(strs.length ? strs : [0]), 0]);
}

const u16 = (v: number) => [v & 0xff, (v >> 8) & 0xff];
const u32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

export function buildSmbiosTable(o: SmbiosOptions): Uint8Array {
  const parts: Uint8Array[] = [];
  let handle = 0;
  // Type 0: vendor (1), version (2), BIOS segment 0xE800, date (3), 64 KiB ROM, characteristics: PCI (bit 7),
  // extension byte 1: ACPI (bit 0); extension byte 2: targeted content distribution (bit 2), virtual machine
  // (bit 4); release 0.0.
  parts.push(structure(TYPE_BIOS, handle++, [1, 2, ...u16(0xe800), 3, 0, ...u32(1 << 7), ...u32(0), 0x01, 0x14, 0, 0, 0xff, 0xff], [o.vendor, o.version, o.releaseDate]));
  // Type 1: manufacturer (1), product (2), version (3), serial (none), UUID (zero: set but not assigned),
  // wake-up type 6 (power switch), SKU (none), family (4).
  parts.push(structure(TYPE_SYSTEM, handle++, [1, 2, 3, 0, ...new Array<number>(16).fill(0), 6, 0, 4], [o.vendor, o.product, o.version, 'Virtual Machine']));
  // Type 3: manufacturer (1), type 1 (other), no version/serial/asset, states safe (3), security none (3).
  parts.push(structure(TYPE_CHASSIS, handle++, [1, 1, 0, 0, 0, 3, 3, 3, 3, ...u32(0), 0, 0, 0, 0], [o.vendor]));
  for (let i = 0; i < o.cpus; i++) {
    // Type 4 (2.6 layout): socket (1), central processor (3), family "other" (1), manufacturer (2), ID (CPUID 1
    // EAX, EDX), no version string, voltage and clocks unknown, socket populated and CPU enabled (0x41), upgrade
    // "other" (1), no cache handles (0xFFFF), no serial/asset/part, 1 core, 1 enabled, 1 thread, characteristics:
    // 64-bit capable (bit 2), processor family 2 "other" (1).
    parts.push(
      structure(
        TYPE_PROCESSOR,
        handle++,
        [1, 3, 1, 2, ...u32(o.cpuSignature), ...u32(o.cpuFeatures), 0, 0, ...u16(0), ...u16(0), ...u16(0), 0x41, 1, ...u16(0xffff), ...u16(0xffff), ...u16(0xffff), 0, 0, 0, 1, 1, 1, ...u16(1 << 2), ...u16(1)],
        [`CPU ${i}`, o.vendor],
      ),
    );
  }
  parts.push(structure(TYPE_BOOT, handle++, [0, 0, 0, 0, 0, 0, 0], []));
  parts.push(structure(TYPE_END, handle++, [], []));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The SMBIOS 3.0 entry point for a structure table of `tableLength` bytes at `tableAddr`. */
export function buildSmbios3Entry(tableAddr: number, tableLength: number): Uint8Array {
  const e = new Uint8Array(SMBIOS3_ENTRY_SIZE);
  const v = new DataView(e.buffer);
  e.set(new TextEncoder().encode('_SM3_'), 0);
  e[6] = SMBIOS3_ENTRY_SIZE;
  e[7] = 3; // major
  e[8] = 0; // minor
  e[9] = 0; // docrev
  e[10] = 1; // entry point revision: SMBIOS 3.0
  v.setUint32(12, tableLength, true);
  v.setBigUint64(16, BigInt(tableAddr), true);
  e[5] = checksum(e);
  return e;
}
