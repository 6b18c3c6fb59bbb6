import type { RegisterBatch } from '../cpu/registers.js';

/** What a loader hands back after writing the guest image into memory. */
export interface BootSetup {
  /** Initial state of vCPU 0, applied the same way on KVM and on the emulator. */
  registers: RegisterBatch;
  /** Guest-physical address of the first instruction. */
  entry: number;
  /** One line describing what was loaded where, for `-v` output. */
  summary: string;
}

/** A named blob handed to the guest: a multiboot module or a Linux initrd. */
export interface BootBlob {
  name: string;
  data: Uint8Array;
}
