/**
 * tsvmm as a library: `createVm()` gives a typed handle on one VM. Every method is an action of the
 * VM controller (src/vmm/controller.ts), the same the CLI and the REST API perform, and every
 * failure is a TsvmmError (the controller's error) with a typed `code`.
 */
import type { VmStop } from '../cpu/vm.js';
import type { RunConfig, SerialSpec } from '../vmm/config.js';
import { parseMem } from '../vmm/config.js';
import { VmController } from '../vmm/controller.js';
import { ControllerError, type FeatureReport, type SnapshotKind, type VmState, type VmStatsReport } from '../vmm/controller-types.js';
import type { ConsoleSink } from '../vmm/serial-console.js';

export interface CreateVmOptions {
  /** Kernel image: multiboot v1 ELF, Linux bzImage or x86-64 vmlinux. Required before start(). */
  readonly kernel?: string;
  readonly initrd?: string;
  /** Kernel command line. */
  readonly cmdline?: string;
  /** Guest RAM: bytes, or a size such as '256M' (default 256M). */
  readonly memory?: number | string;
  /** vCPUs (default 1). */
  readonly cpus?: number;
  /** 'kvm', 'emu' or 'auto' (default: KVM when hardware-backed, else the emulator). */
  readonly accel?: 'kvm' | 'emu' | 'auto';
  /** Emulator: guest time from the instruction count, so runs repeat exactly. */
  readonly deterministic?: boolean;
  /** Guest PMU: 'on' requires one, 'off' hides it, 'auto' (default) gives what the backend offers. */
  readonly pmu?: 'on' | 'off' | 'auto';
  /** Event filter JSON file (KVM_SET_PMU_EVENT_FILTER semantics; src/pmu/README.md). */
  readonly pmuFilter?: string;
  /** COM1 output: a callback (bytes valid during the call), 'stdio', or 'none' (default). */
  readonly serial?: ((bytes: Uint8Array) => void) | 'stdio' | 'none';
  /** Instance id, as the API reports it (default "anonymous-instance"). */
  readonly id?: string;
}

/** What configure() may change before start(). */
export interface VmChanges {
  readonly kernel?: string;
  readonly initrd?: string;
  readonly cmdline?: string;
  readonly memory?: number | string;
  readonly cpus?: number;
}

export interface SnapshotOptions {
  /** Guest memory in a file of its own (as Firecracker's mem_file_path). */
  readonly memFile?: string;
  /** 'full' (default) or 'diff' (pages dirtied since the last snapshot). */
  readonly kind?: SnapshotKind;
}

export interface ApiHandle {
  readonly socketPath: string;
  close(): Promise<void>;
}

/** One VM. Methods resolve once the action is done and reject with a TsvmmError. */
export interface TsvmmVm {
  readonly id: string;
  readonly state: VmState;
  /** Resolves with why the VM stopped, once it has (the guest powered off, reset, crashed, or stop()). */
  readonly stopped: Promise<VmStop>;
  /** Changes the kernel, command line, memory or vCPUs; before start() only. */
  configure(changes: VmChanges): Promise<void>;
  /** Builds the VM and starts its vCPUs; resolves once it runs. */
  start(): Promise<void>;
  /** Starts the VM if needed and resolves with its stop. */
  run(): Promise<VmStop>;
  /** Parks every vCPU between instructions; resolves once none runs guest code. */
  pause(): Promise<void>;
  /**
   * Pauses once exactly `instructions` instructions (all vCPUs) have retired (emu only): a snapshot there
   * of a deterministic run, restored, ends exactly as the run would have. Resolves once paused there.
   */
  pauseAt(instructions: number): Promise<void>;
  resume(): Promise<void>;
  /** Ends the VM (a quit) and resolves with the stop. */
  stop(reason?: string): Promise<VmStop>;
  /** Types Ctrl+Alt+Del on the i8042 keyboard (a guest OS reboots on it, which stops the VM). */
  sendCtrlAltDel(): Promise<void>;
  /** Sends bytes to COM1, as if typed on its line. */
  writeSerial(data: string | Uint8Array): Promise<void>;
  stats(): Promise<VmStatsReport>;
  /** Each guest-visible feature with its mode (virtualized, emulated, mediated, passthrough). */
  features(): Promise<FeatureReport>;
  /** Saves the paused VM to `path` (and its RAM to `memFile`, if given); `kind` 'diff' saves the pages written since the last snapshot (needs dirty tracking). */
  snapshot(path: string, options?: SnapshotOptions): Promise<void>;
  /** Loads a snapshot into a VM that has not started (refused, naming the differences, if this host cannot give its features); it stays paused unless `resume`. */
  restore(path: string, options?: { readonly memFile?: string; readonly resume?: boolean }): Promise<void>;
  /** Live-migrates the VM to `to` (tcp:HOST:PORT or unix:PATH), where `tsvmm run --incoming` waits; this VM then ends. */
  migrate(to: string): Promise<void>;
  /** Serves the REST API for this VM on a Unix socket (src/api/README.md). */
  serveApi(socketPath: string): Promise<ApiHandle>;
  /** Stops the VM if it runs and releases everything. */
  dispose(): Promise<void>;
}

const OPTION_KEYS: ReadonlySet<string> = new Set(['kernel', 'initrd', 'cmdline', 'memory', 'cpus', 'accel', 'deterministic', 'pmu', 'pmuFilter', 'serial', 'id']);
const CHANGE_KEYS: ReadonlySet<string> = new Set(['kernel', 'initrd', 'cmdline', 'memory', 'cpus']);

function checkKeys(o: object, known: ReadonlySet<string>, what: string): void {
  for (const k of Object.keys(o)) {
    if (!known.has(k)) throw new ControllerError('invalid-argument', `${what}: unknown option "${k}" (known: ${[...known].join(', ')})`, { field: k });
  }
}

function memoryBytes(m: number | string): number {
  if (typeof m === 'number') return m;
  try {
    return parseMem(m);
  } catch (e) {
    throw new ControllerError('invalid-argument', `memory: ${(e as Error).message.replace(/^--mem /, '')}`, { cause: e, field: 'memory' });
  }
}

function serialSink(s: CreateVmOptions['serial']): { spec: SerialSpec; sink?: ConsoleSink } {
  if (typeof s === 'function') return { spec: { kind: 'none' }, sink: { write: (bytes) => s(bytes), close() {} } };
  if (s === 'stdio') return { spec: { kind: 'stdio' } };
  if (s === undefined || s === 'none') return { spec: { kind: 'none' } };
  throw new ControllerError('invalid-argument', `serial: expected a function, 'stdio' or 'none', got ${JSON.stringify(s)}`, { field: 'serial' });
}

/** Creates a VM (nothing runs until start() or run()). Throws TsvmmError on a bad option. */
export async function createVm(options: CreateVmOptions = {}): Promise<TsvmmVm> {
  if (typeof options !== 'object' || options === null) throw new ControllerError('invalid-argument', 'createVm: options must be an object');
  checkKeys(options, OPTION_KEYS, 'createVm');
  const { spec, sink } = serialSink(options.serial);
  const config: Partial<RunConfig> = {
    kernel: options.kernel,
    initrd: options.initrd,
    cmdline: options.cmdline ?? '',
    serial: spec,
    ...(options.accel !== undefined ? { accel: options.accel } : {}),
    ...(options.deterministic !== undefined ? { deterministic: options.deterministic } : {}),
    ...(options.pmu !== undefined ? { pmu: options.pmu } : {}),
    ...(options.pmuFilter !== undefined ? { pmuFilter: options.pmuFilter } : {}),
  };
  if (options.accel !== undefined && !['kvm', 'emu', 'auto'].includes(options.accel)) throw new ControllerError('invalid-argument', `accel: "${String(options.accel)}" is not a backend: use kvm, emu or auto`, { field: 'accel' });
  if (options.pmu !== undefined && !['on', 'off', 'auto'].includes(options.pmu)) throw new ControllerError('invalid-argument', `pmu: "${String(options.pmu)}" is not understood: use on, off or auto`, { field: 'pmu' });
  const controller = new VmController({ config, ...(sink !== undefined ? { serialSink: sink } : {}), ...(options.id !== undefined ? { id: options.id } : {}) });
  const vm = new LibraryVm(controller);
  if (options.kernel !== undefined) await vm.configure({ kernel: options.kernel, ...(options.initrd !== undefined ? { initrd: options.initrd } : {}), cmdline: options.cmdline ?? '' });
  if (options.memory !== undefined || options.cpus !== undefined) {
    await controller.dispatch({ type: 'set-machine', partial: true, machine: { ...(options.cpus !== undefined ? { cpus: options.cpus } : {}), ...(options.memory !== undefined ? { memBytes: memoryBytes(options.memory) } : {}) } });
  }
  return vm;
}

class LibraryVm implements TsvmmVm {
  constructor(private readonly c: VmController) {}

  get id(): string {
    return this.c.id;
  }
  get state(): VmState {
    return this.c.state;
  }
  get stopped(): Promise<VmStop> {
    return this.c.stopped;
  }

  async configure(changes: VmChanges): Promise<void> {
    checkKeys(changes, CHANGE_KEYS, 'configure');
    if (changes.kernel !== undefined || changes.initrd !== undefined || changes.cmdline !== undefined) {
      const current = (await this.c.dispatch({ type: 'get-config' })).bootSource;
      const kernel = changes.kernel ?? current?.kernel;
      if (kernel === undefined) throw new ControllerError('invalid-argument', 'configure: give a kernel with the initrd or command line', { field: 'kernel' });
      await this.c.dispatch({ type: 'set-boot-source', bootSource: { kernel, initrd: changes.initrd ?? current?.initrd, cmdline: changes.cmdline ?? current?.cmdline ?? '' } });
    }
    if (changes.memory !== undefined || changes.cpus !== undefined) {
      await this.c.dispatch({ type: 'set-machine', partial: true, machine: { ...(changes.cpus !== undefined ? { cpus: changes.cpus } : {}), ...(changes.memory !== undefined ? { memBytes: memoryBytes(changes.memory) } : {}) } });
    }
  }

  start(): Promise<void> {
    return this.c.dispatch({ type: 'start' });
  }

  async run(): Promise<VmStop> {
    if (this.c.state === 'NotStarted') await this.start();
    return this.c.stopped;
  }

  pause(): Promise<void> {
    return this.c.dispatch({ type: 'pause' });
  }

  async pauseAt(instructions: number): Promise<void> {
    const { reached } = await this.c.dispatch({ type: 'pause-at', instructions });
    await reached;
  }

  resume(): Promise<void> {
    return this.c.dispatch({ type: 'resume' });
  }

  stop(reason?: string): Promise<VmStop> {
    return this.c.dispatch({ type: 'stop', by: 'library', ...(reason !== undefined ? { reason } : {}) });
  }

  sendCtrlAltDel(): Promise<void> {
    return this.c.dispatch({ type: 'send-ctrl-alt-del' });
  }

  writeSerial(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    return this.c.dispatch({ type: 'serial-input', bytes });
  }

  stats(): Promise<VmStatsReport> {
    return this.c.dispatch({ type: 'get-stats' });
  }

  features(): Promise<FeatureReport> {
    return this.c.dispatch({ type: 'get-features' });
  }

  snapshot(path: string, options: SnapshotOptions = {}): Promise<void> {
    return this.c.dispatch({ type: 'snapshot-create', snapshotPath: path, ...(options.memFile !== undefined ? { memFilePath: options.memFile } : {}), kind: options.kind ?? 'full' });
  }

  restore(path: string, options: { readonly memFile?: string; readonly resume?: boolean } = {}): Promise<void> {
    return this.c.dispatch({ type: 'snapshot-load', snapshotPath: path, ...(options.memFile !== undefined ? { memFilePath: options.memFile } : {}), resume: options.resume === true });
  }

  migrate(to: string): Promise<void> {
    return this.c.dispatch({ type: 'migrate', to });
  }

  async serveApi(socketPath: string): Promise<ApiHandle> {
    const { startApiServer } = await import('../api/server.js');
    return startApiServer(this.c, { socketPath });
  }

  dispose(): Promise<void> {
    return this.c.dispose();
  }
}

