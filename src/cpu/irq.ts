/**
 * An interrupt input of the VM's interrupt controllers (a GSI: ISA IRQs 0-15 go to
 * both the PIC pair and the IOAPIC, 16-23 to the IOAPIC only). Devices receive one
 * and never see the controller behind it.
 */
export interface IrqLine {
  readonly gsi: number;
  /** Drives the line to a level (level-triggered sources keep it high while pending). */
  set(level: boolean): void;
}

/** An IrqLine that records its level; for device unit tests. */
export class RecordingIrqLine implements IrqLine {
  level = false;
  edges = 0;
  constructor(readonly gsi = 0) {}
  set(level: boolean): void {
    if (level && !this.level) this.edges++;
    this.level = level;
  }
}

/**
 * A message-signalled interrupt as a PCI function writes it (PCI 3.0 6.8; on x86 the address is in
 * 0xFEExxxxx: bits 19:12 destination, bit 3 redirection hint, bit 2 logical; data bits 7:0 vector,
 * 10:8 delivery mode, 15 level trigger). `address` is the full 64-bit address as a number.
 */
export interface MsiMessage {
  readonly address: number;
  readonly data: number;
}

/** Where a device sends its MSIs (a `Vm` is one). Devices receive it and never see the controller. */
export interface MsiSink {
  /** Delivers one message; false when it reached no local APIC (not an interrupt address, or no destination). */
  signalMsi(address: number, data: number): boolean;
}

/** The x86 interrupt address window: an MSI write outside it is a memory write, not an interrupt. */
export const MSI_ADDRESS_BASE = 0xfee0_0000;
export const MSI_ADDRESS_MASK = 0xfff0_0000;

/** The fields of an x86 MSI (Intel SDM vol. 3, 11.11 "Message Signalled Interrupts"). */
export interface MsiFields {
  readonly dest: number;
  readonly logical: boolean;
  readonly redirectionHint: boolean;
  readonly vector: number;
  readonly deliveryMode: number;
  readonly levelTrigger: boolean;
  readonly assert: boolean;
}

/** Decodes an MSI; undefined when `address` is outside the interrupt window. */
export function decodeMsi(address: number, data: number): MsiFields | undefined {
  if (address > 0xffff_ffff || (address & MSI_ADDRESS_MASK) >>> 0 !== MSI_ADDRESS_BASE) return undefined;
  return {
    dest: (address >>> 12) & 0xff,
    logical: (address & 0x4) !== 0,
    redirectionHint: (address & 0x8) !== 0,
    vector: data & 0xff,
    deliveryMode: (data >>> 8) & 7,
    levelTrigger: (data & 0x8000) !== 0,
    assert: (data & 0x4000) !== 0,
  };
}

/** An MsiSink that records messages; for device unit tests. */
export class RecordingMsiSink implements MsiSink {
  readonly messages: MsiMessage[] = [];
  signalMsi(address: number, data: number): boolean {
    this.messages.push({ address, data });
    return true;
  }
}
