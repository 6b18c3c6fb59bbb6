/**
 * The vocabulary of the VM controller: its states, the one union of actions every edge (CLI, API,
 * library) drives it with, what each action returns, and the typed error code each edge maps to
 * its own form (an exit status, an HTTP status, an exception).
 */
import type { BackendName, FeatureMode, QuitSource, VmStop } from '../cpu/vm.js';
import type { DriveSpec, NetSpec } from './config.js';

/** NotStarted → Running ⇄ Paused → Stopped (Stopped is final; NotStarted may also go straight there). */
export type VmState = 'NotStarted' | 'Running' | 'Paused' | 'Stopped';

export interface BootSourceSettings {
  /** Kernel image path; undefined boots the built-in demo guest (the CLI's default). */
  readonly kernel: string | undefined;
  readonly initrd?: string | undefined;
  readonly cmdline?: string;
}

export interface MachineSettings {
  readonly cpus: number;
  readonly memBytes: number;
  /** Accepted for Firecracker compatibility; tsvmm gives each vCPU one thread, so only false. */
  readonly smt?: boolean;
  /** Guest-write tracking for diff snapshots and live migration (the dirty log). */
  readonly trackDirtyPages?: boolean;
}

export type LogLevelName = 'Error' | 'Warning' | 'Info' | 'Debug' | 'Trace' | 'Off';

export interface LoggerSettings {
  readonly level?: LogLevelName;
  /** File (or named pipe) the log lines go to; stderr when absent. */
  readonly logPath?: string;
  readonly showLevel?: boolean;
  readonly showLogOrigin?: boolean;
  readonly module?: string;
}

export type SnapshotKind = 'full' | 'diff';

/** Every request the controller takes. Reads are actions too, so one queue orders everything. */
export type VmAction =
  | { readonly type: 'set-boot-source'; readonly bootSource: BootSourceSettings }
  /** Whole (PUT) or partial (PATCH) machine settings. */
  | { readonly type: 'set-machine'; readonly machine: Partial<MachineSettings>; readonly partial: boolean }
  | { readonly type: 'set-logger'; readonly logger: LoggerSettings }
  | { readonly type: 'set-metrics'; readonly path: string }
  /** Adds a virtio-blk disk, or replaces the one with the same id. */
  | { readonly type: 'set-drive'; readonly drive: DriveSpec }
  /** Adds a virtio-net interface, or replaces the one with the same id. */
  | { readonly type: 'set-network-interface'; readonly net: NetSpec }
  /** Adds the virtio-rng device. */
  | { readonly type: 'set-entropy' }
  | { readonly type: 'start' }
  | { readonly type: 'pause' }
  /**
   * Sets a stop point (emu): the VM pauses once exactly `instructions` instructions (all vCPUs) have
   * retired; a paused VM runs on to it. Resolves once set; the result's `reached` settles when the VM
   * pauses there.
   */
  | { readonly type: 'pause-at'; readonly instructions: number }
  | { readonly type: 'resume' }
  /** Types Ctrl+Alt+Del on the i8042 keyboard; the guest reboots through the reset line, which stops the VM. */
  | { readonly type: 'send-ctrl-alt-del' }
  | { readonly type: 'flush-metrics' }
  /** Bytes for COM1, as if typed on its line. */
  | { readonly type: 'serial-input'; readonly bytes: Uint8Array }
  | { readonly type: 'snapshot-create'; readonly snapshotPath: string; readonly memFilePath?: string; readonly kind: SnapshotKind }
  | { readonly type: 'snapshot-load'; readonly snapshotPath: string; readonly memFilePath?: string; readonly resume: boolean }
  | { readonly type: 'migrate'; readonly to: string }
  /** Waits for a migration stream (tcp:HOST:PORT or unix:PATH) and runs the VM it brings; before start only. */
  | { readonly type: 'incoming'; readonly from: string; readonly onListening?: () => void }
  /** Ends the VM (a quit); resolves once it stopped. */
  | { readonly type: 'stop'; readonly by: QuitSource; readonly reason?: string; readonly signal?: string }
  | { readonly type: 'describe' }
  | { readonly type: 'get-machine' }
  | { readonly type: 'get-config' }
  | { readonly type: 'get-features' }
  | { readonly type: 'get-stats' }
  /** The running VM's guest-visible feature set (what a snapshot or migration stream starts with). */
  | { readonly type: 'get-manifest' };

export type VmActionType = VmAction['type'];

export interface InstanceDescription {
  readonly id: string;
  readonly state: VmState;
  readonly vmmVersion: string;
  readonly appName: string;
}

export interface MachineDescription {
  readonly cpus: number;
  readonly memBytes: number;
  readonly smt: boolean;
  readonly trackDirtyPages: boolean;
}

export interface ConfigDescription {
  readonly bootSource: BootSourceSettings | undefined;
  readonly machine: MachineDescription;
  readonly logger: LoggerSettings | undefined;
  readonly metricsPath: string | undefined;
  readonly drives: readonly DriveSpec[];
  readonly nets: readonly NetSpec[];
  readonly entropy: boolean;
}

export interface FeatureReport {
  readonly backend: BackendName;
  /** Why this backend (for accel auto). */
  readonly backendReason: string;
  readonly features: readonly { readonly name: string; readonly mode: FeatureMode | null; readonly detail?: string; readonly reason?: string }[];
}

export interface PmuCounts {
  readonly vcpu: number;
  readonly version: number;
  /** General-purpose and fixed counters (decimal strings: up to 48 bits). */
  readonly gp: readonly string[];
  readonly fixed: readonly string[];
}

export interface VmStatsReport {
  readonly state: VmState;
  readonly backend: BackendName | null;
  /** VM exits (kvm) or emulated events (emu) by reason. */
  readonly exits: Readonly<Record<string, number>>;
  /** Retired guest instructions (emu counts them exactly; kvm does not count them: null). */
  readonly instructions: number | null;
  /** The emulated PMU's counters per vCPU; null without one (or on kvm, where they live in the guest's MSRs). */
  readonly pmu: readonly PmuCounts[] | null;
  readonly serialBytesOut: number;
  readonly uptimeMs: number;
  readonly stop: VmStop | null;
}

/** What each action resolves with. */
export interface VmActionResults {
  'set-boot-source': void;
  'set-machine': void;
  'set-logger': void;
  'set-metrics': void;
  'set-drive': void;
  'set-network-interface': void;
  'set-entropy': void;
  start: void;
  pause: void;
  /** Resolves once the VM is paused at the stop point; rejects (invalid-state) if it stopped or was paused before it. */
  'pause-at': { readonly reached: Promise<void> };
  resume: void;
  'send-ctrl-alt-del': void;
  'flush-metrics': void;
  'serial-input': void;
  'snapshot-create': void;
  'snapshot-load': void;
  migrate: void;
  incoming: void;
  stop: VmStop;
  describe: InstanceDescription;
  'get-machine': MachineDescription;
  'get-config': ConfigDescription;
  'get-features': FeatureReport;
  'get-stats': VmStatsReport;
  'get-manifest': import('../features/manifest.js').FeatureManifest;
}

export type ResultOf<A extends VmAction> = VmActionResults[A['type']];

/**
 * Why an action failed. Edges map the code: the CLI to an exit status (src/cli/exit-codes.ts), the
 * API to an HTTP status (src/api/http-errors.ts), the library to the thrown ControllerError itself.
 */
export type ControllerErrorCode =
  /** A value in the request is wrong; the message names the field. */
  | 'invalid-argument'
  /** The action is not possible in the VM's current state (e.g. pause before start). */
  | 'invalid-state'
  /** Start was asked before a boot source was given. */
  | 'not-configured'
  /** Something tsvmm does not do (yet): snapshots until the snapshot work lands, block devices. */
  | 'not-supported'
  /** The kernel or initrd cannot be read or booted. */
  | 'bad-image'
  /** The requested backend (or a facility of it, such as a KVM PMU) is not available on this host. */
  | 'no-backend'
  /** A device cannot take the request now (the i8042's buffer is full); retry later. */
  | 'busy'
  /** A host file could not be opened or written. */
  | 'host-io'
  /** A bug in tsvmm. */
  | 'internal';

export class ControllerError extends Error {
  readonly code: ControllerErrorCode;
  /** The request field at fault, when there is one (e.g. `vcpu_count` or `mem`). */
  readonly field: string | undefined;
  constructor(code: ControllerErrorCode, message: string, options?: { cause?: unknown; field?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = options?.field;
    this.name = 'ControllerError';
  }
}

/**
 * Snapshots and migration plug into the controller here (src/vmm/state/, next). Until a service is
 * given, the controller answers those actions with a 'not-supported' error. The controller has
 * checked the state first: create and migrate run with the VM paused, load before any start.
 */
export interface SnapshotService {
  create(ctx: SnapshotContext, request: { snapshotPath: string; memFilePath?: string; kind: SnapshotKind }): Promise<void>;
  /** Builds the VM from the snapshot (through ctx.adoptRestored) and leaves it paused. */
  load(ctx: SnapshotContext, request: { snapshotPath: string; memFilePath?: string }): Promise<void>;
}

export interface MigrationService {
  /** Runs a live migration of the running VM to `to`; on failure the VM keeps running here. */
  migrate(ctx: SnapshotContext, to: string): Promise<void>;
  /** Receives one (before start): builds the VM from the stream and hands it over running. */
  receive(ctx: SnapshotContext, from: string, onListening?: () => void): Promise<void>;
}

/** What a snapshot or migration service may touch: the built VM, its devices and config. */
export interface SnapshotContext {
  readonly built: import('./vm-builder.js').BuiltVm | undefined;
  readonly state: VmState;
  /** The VM's configuration (for a restore: the host-side settings, such as where serial output goes). */
  readonly config: import('./config.js').RunConfig;
  /** Guest writes are tracked (machine-config track_dirty_pages): diff snapshots are possible. */
  readonly trackDirtyPages: boolean;
  /** The serial sink a restored VM's COM1 writes to (the controller owns and closes it). */
  serialSink(): import('./serial-console.js').ConsoleSink;
  /** Hands the controller a VM built from a snapshot (with the configuration it was built from): it becomes the controller's VM, paused. */
  adoptRestored(built: import('./vm-builder.js').BuiltVm, config: import('./config.js').RunConfig): void;
  /** Pauses the VM (between instructions); resolves once paused. */
  pause(): Promise<void>;
  /** Resumes it. */
  resume(): void;
  /** Ends the VM after a completed migration (the guest now runs at `destination`). */
  finishMigrated(destination: string): void;
}
