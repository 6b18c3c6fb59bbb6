/**
 * Intel MultiProcessor Specification 1.4 tables, for kernels that look for them instead of ACPI
 * (or with acpi=off): the MP floating pointer structure ("_MP_", 16 bytes, found by scanning
 * 0xF0000-0xFFFFF on 16-byte boundaries) and the configuration table ("PCMP") with one processor
 * entry per vCPU, the ISA bus, the IOAPIC, an I/O interrupt entry per ISA IRQ as the platform routes
 * it, and the local interrupts (ExtINT on LINT0, NMI on LINT1).
 */
import { checksum } from './acpi-header.js';
import type { PlatformDescription } from './acpi-tables.js';

export const MP_FLOATING_SIZE = 16;
export const MP_SPEC_REV_1_4 = 4;
const MP_CONFIG_HEADER_SIZE = 44;
const MP_PROCESSOR = 0;
const MP_BUS = 1;
const MP_IOAPIC = 2;
const MP_IO_INTERRUPT = 3;
const MP_LOCAL_INTERRUPT = 4;
const MP_INT = 0;
const MP_NMI = 1;
const MP_EXTINT = 3;
const CPU_ENABLED = 1;
const CPU_BSP = 2;
/** Local APIC version of an integrated xAPIC (as CPUs since the P6 report). */
export const MP_LAPIC_VERSION = 0x14;
/** The emulator's and KVM's IOAPIC version register. */
export const MP_IOAPIC_VERSION = 0x11;
const ISA_BUS_ID = 0;
const ISA_IRQS = 16;
const PIC_CASCADE_IRQ = 2;

export interface MpOptions {
  /** CPUID(1).EAX and .EDX for the processor entries (0 when unknown). */
  readonly cpuSignature: number;
  readonly cpuFeatures: number;
}

function ascii(out: Uint8Array, at: number, s: string, len: number): void {
  for (let i = 0; i < len; i++) out[at + i] = i < s.length ? s.charCodeAt(i) : 0x20;
}

/** The configuration table (header and entries), checksummed. */
export function buildMpConfigTable(p: PlatformDescription, o: MpOptions): Uint8Array {
  const entries: Uint8Array[] = [];
  for (let i = 0; i < p.cpus; i++) {
    const e = new Uint8Array(20);
    const v = new DataView(e.buffer);
    e[0] = MP_PROCESSOR;
    e[1] = i; // local APIC ID
    e[2] = MP_LAPIC_VERSION;
    e[3] = CPU_ENABLED | (i === 0 ? CPU_BSP : 0);
    v.setUint32(4, o.cpuSignature >>> 0, true);
    v.setUint32(8, o.cpuFeatures >>> 0, true);
    entries.push(e);
  }
  {
    const e = new Uint8Array(8);
    e[0] = MP_BUS;
    e[1] = ISA_BUS_ID;
    ascii(e, 2, 'ISA', 6);
    entries.push(e);
  }
  {
    const e = new Uint8Array(8);
    new DataView(e.buffer).setUint32(4, p.ioapic.address, true);
    e[0] = MP_IOAPIC;
    e[1] = p.ioapic.id;
    e[2] = MP_IOAPIC_VERSION;
    e[3] = 1; // usable
    entries.push(e);
  }
  const ioInt = (type: number, flags: number, irq: number, pin: number): Uint8Array => {
    const e = Uint8Array.of(MP_IO_INTERRUPT, type, flags & 0xff, flags >> 8, ISA_BUS_ID, irq, p.ioapic.id, pin);
    return e;
  };
  // The 8259's output reaches IOAPIC pin 0 as ExtINT on a PC, unless IRQ0 itself owns pin 0.
  const irq0 = p.isaOverrides.find((x) => x.irq === 0);
  if (irq0 && irq0.gsi !== 0) entries.push(ioInt(MP_EXTINT, 0, 0, 0));
  for (let irq = 0; irq < ISA_IRQS; irq++) {
    if (irq === PIC_CASCADE_IRQ) continue;
    const ov = p.isaOverrides.find((x) => x.irq === irq);
    const gsi = ov ? ov.gsi : irq;
    if (gsi - p.ioapic.gsiBase >= p.ioapic.pins) continue;
    entries.push(ioInt(MP_INT, ov ? ov.flags : 0, irq, gsi - p.ioapic.gsiBase));
  }
  const lint = (type: number, pin: number) => Uint8Array.of(MP_LOCAL_INTERRUPT, type, 0, 0, ISA_BUS_ID, 0, 0xff, pin);
  entries.push(lint(MP_EXTINT, 0));
  if (p.nmiLint !== undefined) entries.push(lint(MP_NMI, p.nmiLint));

  const len = MP_CONFIG_HEADER_SIZE + entries.reduce((n, e) => n + e.length, 0);
  const t = new Uint8Array(len);
  const v = new DataView(t.buffer);
  ascii(t, 0, 'PCMP', 4);
  v.setUint16(4, len, true);
  t[6] = MP_SPEC_REV_1_4;
  ascii(t, 8, 'TSVMM', 8);
  ascii(t, 16, 'TSVMM PC', 12);
  v.setUint16(34, entries.length, true);
  v.setUint32(36, p.localApicAddress, true);
  let at = MP_CONFIG_HEADER_SIZE;
  for (const e of entries) {
    t.set(e, at);
    at += e.length;
  }
  t[7] = checksum(t);
  return t;
}

/** The floating pointer to a configuration table at `configAddr`; feature byte 2 bit 7 clear = virtual wire mode. */
export function buildMpFloatingPointer(configAddr: number): Uint8Array {
  const f = new Uint8Array(MP_FLOATING_SIZE);
  ascii(f, 0, '_MP_', 4);
  new DataView(f.buffer).setUint32(4, configAddr, true);
  f[8] = 1; // length in 16-byte paragraphs
  f[9] = MP_SPEC_REV_1_4;
  f[10] = checksum(f);
  return f;
}
