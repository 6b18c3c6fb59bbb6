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
