import type { GuestMemory } from '../memory/guest-memory.js';
import type { Bus } from './bus.js';
import type { IrqLine } from './irq.js';
import type { RegId, RegisterBatch } from './registers.js';

export type BackendName = 'kvm' | 'emu';

/**
 * Why a VM stopped running. Every stop the guest or host can cause has a kind here;
 * the CLI maps each to an exit status and a one-line message.
 */
export type VmStop =
  /** QEMU isa-debug-exit: the guest wrote `value` to port 0xf4; the process exits with (value << 1) | 1. */
  | { readonly kind: 'debug-exit'; readonly value: number }
  /** The guest powered off (ACPI/QEMU-style shutdown port). */
  | { readonly kind: 'poweroff' }
  /** The guest asked for a reboot (i8042 pulse, port 0xcf9, ...). */
  | { readonly kind: 'reset'; readonly source: string }
  /** Triple fault or KVM_EXIT_SHUTDOWN. */
  | { readonly kind: 'shutdown'; readonly vcpu: number; readonly detail: string }
  /** The guest cannot make progress: every vCPU halted with interrupts disabled. */
  | { readonly kind: 'hang'; readonly detail: string }
  /** KVM_EXIT_INTERNAL_ERROR, KVM_EXIT_FAIL_ENTRY or an emulator failure, with the details. */
  | { readonly kind: 'internal-error'; readonly vcpu: number; readonly detail: string }
  | { readonly kind: 'fail-entry'; readonly vcpu: number; readonly detail: string }
  /**
   * The host stopped the VM: `signal` names the POSIX signal (SIGTERM, SIGINT, SIGHUP) that ended
   * the run, `userQuit` is the console's quit key; neither for any other host request.
   */
  | { readonly kind: 'host-stop'; readonly reason: string; readonly signal?: string; readonly userQuit?: boolean };

/**
 * One exit from a vCPU, as a backend's vCPU loop decodes it. IO and MMIO exits carry
 * a `data` view the caller fills (reads) or consumes (writes) in place; a backend
 * that dispatches these itself (emu calls the buses directly) never returns them.
 */
export type VcpuExit =
  | { readonly kind: 'io'; readonly port: number; readonly size: 1 | 2 | 4; readonly write: boolean; readonly count: number; readonly data: Uint8Array }
  | { readonly kind: 'mmio'; readonly address: number; readonly write: boolean; readonly data: Uint8Array }
  | { readonly kind: 'hlt' }
  | { readonly kind: 'shutdown'; readonly detail: string }
  | { readonly kind: 'fail-entry'; readonly detail: string }
  | { readonly kind: 'internal-error'; readonly detail: string }
  | { readonly kind: 'interrupted' }
  | { readonly kind: 'stopped' };

export interface Vcpu {
  readonly index: number;
  /** Reads a batch of registers (values are zero-extended to 64 bits). */
  getRegisters(ids: readonly RegId[]): bigint[];
  /** Writes a batch; 'read-only' registers throw, 'read-only-guest' registers are host-writable. */
  setRegisters(batch: RegisterBatch): void;
}

/** How a guest-visible feature is provided (see ../shared/seeds: the KVM naming discussion). */
export type FeatureMode = 'virtualized' | 'emulated' | 'mediated' | 'passthrough';

export interface FeatureStatus {
  readonly name: string;
  /** Undefined when the feature is unavailable; `reason` then says why. */
  readonly mode: FeatureMode | undefined;
  readonly detail?: string;
  readonly reason?: string;
}

export interface VmConfig {
  /** Guest RAM in bytes. */
  readonly memBytes: number;
  readonly cpus: number;
}

/** Devices stop the VM through this, never through the backend itself. */
export interface VmControl {
  requestStop(stop: VmStop): void;
}

/** The backend contract. Devices see only the buses, IRQ lines and VmControl. */
export interface Vm extends VmControl {
  readonly backend: BackendName;
  readonly config: VmConfig;
  readonly memory: GuestMemory;
  readonly pio: Bus;
  readonly mmio: Bus;
  readonly vcpus: readonly Vcpu[];
  /** Interrupt input `gsi` of the VM's interrupt controllers (PIC + IOAPIC). */
  irqLine(gsi: number): IrqLine;
  /** Runs every vCPU until the VM stops; resolves with why. */
  run(): Promise<VmStop>;
  /** The mode of each guest-visible feature of this VM. */
  features(): readonly FeatureStatus[];
  /** Exit counters by reason, for `tsvmm stat` and diagnostics. */
  exitCounts(): Readonly<Record<string, number>>;
  destroy(): void;
}
