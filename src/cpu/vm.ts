import type { GuestMemory } from '../memory/guest-memory.js';
import type { Bus } from './bus.js';
import type { IrqLine, MsiSink } from './irq.js';
import type { EventChannels } from './event-channels.js';
import type { RegId, RegisterBatch } from './registers.js';
import type { PersistSection } from '../util/persist.js';
import type { CpuidValue } from '../features/cpuid-table.js';

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
  /** The guest cannot make progress: every vCPU halted or spinning with nothing able to interrupt it (`detail` names each and its RIP). */
  | { readonly kind: 'hang'; readonly detail: string }
  /** KVM_EXIT_INTERNAL_ERROR, KVM_EXIT_FAIL_ENTRY or an emulator failure, with the details. */
  | { readonly kind: 'internal-error'; readonly vcpu: number; readonly detail: string }
  | { readonly kind: 'fail-entry'; readonly vcpu: number; readonly detail: string }
  /**
   * Someone asked the VM to end: the console's quit key, a POSIX signal (`signal` names it: SIGTERM,
   * SIGINT, SIGHUP), or a stop through the controller from the API or the library.
   */
  | { readonly kind: 'quit'; readonly reason: string; readonly by: QuitSource; readonly signal?: string }
  /** The VM was live-migrated: the guest runs on at `destination`, not here. */
  | { readonly kind: 'migrated'; readonly destination: string }
  /** The host ended the run for its own reasons (the VM was destroyed, a vCPU thread was lost, a test's time limit). */
  | { readonly kind: 'host-stop'; readonly reason: string };

/** Who asked a VM to quit. */
export type QuitSource = 'console' | 'signal' | 'api' | 'library';

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

/** How a guest-visible feature is provided: the four modes named in KVM's own design discussion. */
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

/**
 * A backend's share of a snapshot, as named, versioned persist sections (src/util/persist.ts):
 * the vCPUs (registers through the catalog, MSRs, FPU/SSE/XSAVE state, pending events, MP state),
 * the interrupt chips and timers, and the PMU. Guest RAM and the devices are saved by the VMM.
 */
export interface BackendState {
  readonly backend: BackendName;
  readonly sections: readonly PersistSection[];
}

/**
 * The backend contract. Devices see only the buses, IRQ lines and VmControl.
 *
 * Lifecycle: `run()` runs the vCPUs until a final stop. `pause()` parks every vCPU between
 * instructions (state is then stable and can be saved) without ending `run()`, which resumes with
 * `resume()`; a stop requested while paused ends `run()` at once. Pause is therefore not a `VmStop`.
 */
export interface Vm extends VmControl, MsiSink {
  readonly backend: BackendName;
  readonly config: VmConfig;
  readonly memory: GuestMemory;
  readonly pio: Bus;
  readonly mmio: Bus;
  readonly vcpus: readonly Vcpu[];
  /** Interrupt input `gsi` of the VM's interrupt controllers (PIC + IOAPIC). */
  irqLine(gsi: number): IrqLine;
  /**
   * Delivers a message-signalled interrupt (a PCI function's MSI/MSI-X write) to the local APICs:
   * emu through its APIC bus, kvm through KVM_SIGNAL_MSI. False when it reached no APIC (an address
   * outside 0xFEExxxxx, or a destination no APIC matches); never throws for a guest's bad message.
   */
  signalMsi(address: number, data: number): boolean;
  /** I/O events, interrupt events and coalesced zones (event-channels.ts): kvm in the kernel, emu in process. */
  readonly events: EventChannels;
  /** Runs every vCPU until the VM stops for good; resolves with why. Pauses do not resolve it. */
  run(): Promise<VmStop>;
  /**
   * Stops every vCPU between instructions and resolves once none runs guest code (KVM: pending
   * I/O completed, so registers are consistent). Before `run()`, it makes `run()` start paused.
   * Idempotent; resolves at once if the VM already stopped.
   */
  pause(): Promise<void>;
  /** Lets paused vCPUs run again (no-op when not paused). */
  resume(): void;
  /** True between a completed pause() and resume(). */
  readonly paused: boolean;
  /**
   * Saves the backend state (vCPUs, chips, PMU); only while paused or before the first run.
   * Declared for the snapshot work: a backend without it cannot snapshot yet.
   */
  saveState?(): BackendState;
  /** Restores saveState() output taken on a VM of the same shape; only while paused or before run. */
  restoreState?(state: BackendState): void;
  /** The mode of each guest-visible feature of this VM. */
  features(): readonly FeatureStatus[];
  /** Exit counters by reason, for `tsvmm stat` and diagnostics. */
  exitCounts(): Readonly<Record<string, number>>;
  /** The CPUID the guest sees on vCPU `vcpu` (default 0), every leaf and subleaf (the feature manifest reads it). */
  cpuidTable(vcpu?: number): CpuidValue[];
  /** MSR indices the guest can read, ascending; the x2APIC range (0x800-0x8ff) is not listed (CPUID's x2apic bit says it). */
  msrIndices(): number[];
  /** Makes every vCPU see this CPUID (a CPU model; per-vCPU and run-time bits stay live). Before the first run only. */
  setCpuidTable(table: readonly CpuidValue[]): void;
  destroy(): void;
}
