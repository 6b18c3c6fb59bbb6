/**
 * The VM controller: one state machine (NotStarted → Running ⇄ Paused → Stopped) driven by one union
 * of actions (controller-types.ts). The CLI, the REST API and the library all go through it, so a
 * VM behaves the same whoever drives it. Mutating actions run one at a time in arrival order; reads
 * answer at once. Errors are ControllerErrors with a code each edge maps to its own form.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import type { QuitSource, VmStop } from '../cpu/vm.js';
import { setLogLevel, setLogSink, type LogLevel } from '../util/log.js';
import { TSVMM_VERSION } from '../util/version.js';
import { DEFAULT_MEM, MAX_CPUS, MAX_MEM_BYTES, MIN_MEM_BYTES, parseMem, type RunConfig } from './config.js';
import { openSerialSink, type ConsoleSink } from './serial-console.js';
import { buildVm, type BuiltVm } from './vm-builder.js';
import { builtFeatures, configFeatures, vmStats } from './vm-reports.js';
import { openHostOutput, type HostOutput } from './host-output.js';
import { toControllerError } from './controller-errors.js';
import { FileSnapshots } from './state/snapshot.js';
import { SocketMigration } from './state/migration.js';
import {
  ControllerError,
  type BootSourceSettings,
  type ConfigDescription,
  type LoggerSettings,
  type MachineDescription,
  type MachineSettings,
  type MigrationService,
  type ResultOf,
  type SnapshotContext,
  type SnapshotService,
  type VmAction,
  type VmState,
  type VmStatsReport,
} from './controller-types.js';

export interface ControllerHooks {
  /** The VM is built and about to run (profilers attach here). */
  onStart?(built: BuiltVm): void;
  /** The VM stopped; called before it is torn down (reports read it here). */
  onStop?(built: BuiltVm, stop: VmStop, wallMs: number): void;
}

export interface ControllerOptions {
  /** Defaults for everything actions do not set (the CLI's flags, the library's options). */
  readonly config?: Partial<RunConfig>;
  /** The boot source in `config` counts as given (the CLI: no --kernel means the demo guest). */
  readonly bootSourceGiven?: boolean;
  /** Instance id, as Firecracker's --id (default "anonymous-instance"). */
  readonly id?: string;
  /** Where COM1 output goes; default: a sink opened from config.serial at start and closed at stop. */
  readonly serialSink?: ConsoleSink;
  readonly hooks?: ControllerHooks;
  readonly snapshots?: SnapshotService;
  readonly migration?: MigrationService;
}

/** Actions that only read: answered at once, not queued behind a start or a stop. */
const READS: ReadonlySet<VmAction['type']> = new Set(['describe', 'get-machine', 'get-config', 'get-features', 'get-stats', 'get-manifest']);
const LOG_LEVELS: Record<NonNullable<LoggerSettings['level']>, LogLevel | 'off'> = { Error: 'error', Warning: 'warn', Info: 'info', Debug: 'debug', Trace: 'debug', Off: 'off' };
/** Firecracker flushes metrics every minute, on FlushMetrics and at exit; so does tsvmm. */
const METRICS_PERIOD_MS = 60_000;

export function defaultRunConfig(): RunConfig {
  return { kernel: undefined, initrd: undefined, cmdline: '', memBytes: parseMem(DEFAULT_MEM), cpus: 1, accel: 'auto', serial: { kind: 'stdio' }, deterministic: false, pmu: 'auto', pmuShape: {}, pmuFilter: undefined };
}

export class VmController {
  readonly id: string;
  /** Snapshots to files (state/snapshot.ts) unless the options give another service. */
  readonly snapshots: SnapshotService;
  /** Live migration over sockets (state/migration.ts) unless the options give another service. */
  readonly migration: MigrationService;
  private stateNow: VmState = 'NotStarted';
  private config: RunConfig;
  private bootSourceGiven: boolean;
  private smt = false;
  private trackDirtyPages = false;
  private builtVm: BuiltVm | undefined;
  private ownedSink: ConsoleSink | undefined;
  private startedAt = 0;
  private stopInfo: VmStop | undefined;
  private finalStats: VmStatsReport | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private logger: LoggerSettings | undefined;
  private logOutput: HostOutput | undefined;
  private metrics: HostOutput | undefined;
  private metricsTimer: ReturnType<typeof setInterval> | undefined;
  private resolveStopped!: (stop: VmStop) => void;
  /** Resolves with the stop once the VM stopped (for good) and was torn down. */
  readonly stopped: Promise<VmStop>;

  constructor(private readonly opts: ControllerOptions = {}) {
    this.id = opts.id ?? 'anonymous-instance';
    this.snapshots = opts.snapshots ?? new FileSnapshots();
    this.migration = opts.migration ?? new SocketMigration();
    this.config = { ...defaultRunConfig(), ...opts.config };
    this.bootSourceGiven = opts.bootSourceGiven === true;
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
  }

  get state(): VmState {
    return this.stateNow;
  }

  /** The running VM (undefined before start and after stop). */
  get built(): BuiltVm | undefined {
    return this.builtVm;
  }

  /** Why the VM stopped, once it has. */
  get stop(): VmStop | undefined {
    return this.stopInfo;
  }

  /** Performs one action. Rejects with a ControllerError. */
  dispatch<A extends VmAction>(action: A): Promise<ResultOf<A>> {
    if (READS.has(action.type)) return this.guard(() => this.execute(action));
    const run = this.queue.then(() => this.guard(() => this.execute(action)));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw toControllerError(e);
    }
  }

  private async execute<A extends VmAction>(action: A): Promise<ResultOf<A>> {
    type R = ResultOf<A>;
    const a = action as VmAction;
    switch (a.type) {
      case 'set-boot-source':
        this.setBootSource(a.bootSource);
        return undefined as R;
      case 'set-machine':
        this.setMachine(a.machine, a.partial);
        return undefined as R;
      case 'set-logger':
        this.setLogger(a.logger);
        return undefined as R;
      case 'set-metrics':
        this.setMetrics(a.path);
        return undefined as R;
      case 'set-drive': {
        this.requireNotStarted('add a drive');
        const d = a.drive;
        checkReadable(d.path, `drive ${d.id}`);
        const drives = (this.config.drives ?? []).filter((x) => x.id !== d.id);
        const at = (this.config.drives ?? []).findIndex((x) => x.id === d.id);
        drives.splice(at < 0 ? drives.length : at, 0, d);
        this.config = { ...this.config, drives };
        return undefined as R;
      }
      case 'set-network-interface': {
        this.requireNotStarted('add a network interface');
        const n = a.net;
        const nets = (this.config.nets ?? []).filter((x) => x.id !== n.id);
        const at = (this.config.nets ?? []).findIndex((x) => x.id === n.id);
        nets.splice(at < 0 ? nets.length : at, 0, n);
        this.config = { ...this.config, nets };
        return undefined as R;
      }
      case 'set-entropy':
        this.requireNotStarted('add an entropy device');
        this.config = { ...this.config, rng: true };
        return undefined as R;
      case 'start':
        await this.start();
        return undefined as R;
      case 'pause':
        await this.pause();
        return undefined as R;
      case 'pause-at':
        return this.pauseAt(a.instructions) as R;
      case 'resume':
        this.resume();
        return undefined as R;
      case 'send-ctrl-alt-del': {
        const built = this.requireBuilt('send Ctrl+Alt+Del');
        if (!built.devices.i8042.sendCtrlAltDel()) throw new ControllerError('busy', 'the i8042 keyboard buffer is full (the guest is not reading it); try again later');
        return undefined as R;
      }
      case 'flush-metrics':
        if (this.metrics === undefined) throw new ControllerError('invalid-state', 'metrics are not configured: set a metrics path first (PUT /metrics)');
        this.flushMetrics();
        return undefined as R;
      case 'serial-input':
        this.requireBuilt('send serial input').devices.uart.receive(a.bytes);
        return undefined as R;
      case 'snapshot-create':
        return (await this.snapshotCreate(a)) as R;
      case 'snapshot-load':
        return (await this.snapshotLoad(a)) as R;
      case 'migrate':
        this.requireState('migrate', ['Running', 'Paused']);
        await this.migration.migrate(this.snapshotContext(), a.to);
        return undefined as R;
      case 'incoming':
        this.requireState('receive a migration', ['NotStarted']);
        await this.migration.receive(this.snapshotContext(), a.from, a.onListening);
        return undefined as R;
      case 'stop':
        return (await this.quit(a.by, a.reason, a.signal)) as R;
      case 'describe':
        return { id: this.id, state: this.stateNow, vmmVersion: TSVMM_VERSION, appName: 'tsvmm' } as R;
      case 'get-machine':
        return this.machine() as R;
      case 'get-config':
        return this.describeConfig() as R;
      case 'get-features':
        return (this.builtVm !== undefined ? builtFeatures(this.builtVm) : await configFeatures(this.config)) as R;
      case 'get-stats':
        return this.stats() as R;
      case 'get-manifest': {
        const built = this.requireBuilt('describe the VM\'s features');
        const { builtVmManifest } = await import('./vm-manifest.js');
        return (await builtVmManifest(built, this.config)) as R;
      }
    }
  }

  // ---- configuration (NotStarted only) -------------------------------------------------

  private requireNotStarted(what: string): void {
    if (this.stateNow !== 'NotStarted') throw new ControllerError('invalid-state', `cannot ${what}: the VM has ${this.stateNow === 'Stopped' ? 'stopped' : 'started'} (configuration is accepted before start only)`);
  }

  private setBootSource(b: BootSourceSettings): void {
    this.requireNotStarted('change the boot source');
    if (b.kernel !== undefined) checkReadable(b.kernel, 'kernel image');
    if (b.initrd !== undefined) checkReadable(b.initrd, 'initrd');
    this.config = { ...this.config, kernel: b.kernel, initrd: b.initrd, cmdline: b.cmdline ?? '' };
    this.bootSourceGiven = true;
  }

  private setMachine(m: Partial<MachineSettings>, partial: boolean): void {
    this.requireNotStarted('change the machine configuration');
    if (!partial) {
      if (m.cpus === undefined) throw new ControllerError('invalid-argument', 'the vCPU count is required', { field: 'cpus' });
      if (m.memBytes === undefined) throw new ControllerError('invalid-argument', 'the memory size is required', { field: 'memBytes' });
    }
    if (m.cpus !== undefined && (!Number.isInteger(m.cpus) || m.cpus < 1 || m.cpus > MAX_CPUS)) {
      throw new ControllerError('invalid-argument', `vCPU count ${m.cpus} is out of range: give 1 to ${MAX_CPUS}`, { field: 'cpus' });
    }
    if (m.memBytes !== undefined && (!Number.isInteger(m.memBytes) || m.memBytes < MIN_MEM_BYTES || m.memBytes > MAX_MEM_BYTES || m.memBytes % 4096 !== 0)) {
      throw new ControllerError('invalid-argument', `memory size ${m.memBytes} bytes is out of range: give 4 MiB to 64 GiB in whole 4 KiB pages`, { field: 'memBytes' });
    }
    if (m.smt === true) throw new ControllerError('not-supported', 'SMT is not offered: each tsvmm vCPU is one thread (use smt false)', { field: 'smt' });
    const def = defaultRunConfig();
    this.config = { ...this.config, cpus: m.cpus ?? (partial ? this.config.cpus : def.cpus), memBytes: m.memBytes ?? (partial ? this.config.memBytes : def.memBytes) };
    // PUT resets what it leaves out to the defaults, as Firecracker's does; PATCH keeps it.
    if (m.smt !== undefined || !partial) this.smt = false;
    if (m.trackDirtyPages !== undefined || !partial) this.trackDirtyPages = m.trackDirtyPages === true;
  }

  private setLogger(l: LoggerSettings): void {
    const level = LOG_LEVELS[l.level ?? 'Info'];
    const out = l.logPath !== undefined ? openHostOutput(l.logPath, 'log path') : undefined;
    this.logOutput?.close();
    this.logOutput = out;
    const withLevel = l.showLevel === true;
    const write = out !== undefined ? (line: string) => out.writeLine(line) : (line: string) => globalThis.console.error(line);
    setLogSink(level === 'off' ? () => {} : withLevel ? write : (line) => write(line.replace(/^tsvmm: (error|warn|debug): /, 'tsvmm: ')));
    if (level !== 'off') setLogLevel(level);
    this.logger = l;
  }

  private setMetrics(path: string): void {
    if (this.metrics !== undefined) throw new ControllerError('invalid-state', `metrics are already configured (to ${this.metrics.path}); they can be set once`);
    this.metrics = openHostOutput(path, 'metrics path');
    this.metricsTimer = setInterval(() => this.flushMetrics(), METRICS_PERIOD_MS);
    this.metricsTimer.unref();
  }

  /** One JSON line per flush: time, state and the run's counters. */
  private flushMetrics(): void {
    const m = this.metrics;
    if (m === undefined) return;
    const s = this.stats();
    m.writeLine(JSON.stringify({ utc_timestamp_ms: Date.now(), id: this.id, state: s.state, backend: s.backend, uptime_ms: Math.round(s.uptimeMs), instructions: s.instructions, serial_bytes_out: s.serialBytesOut, exits: s.exits }));
  }

  // ---- lifecycle -----------------------------------------------------------------------

  private requireState(what: string, allowed: readonly VmState[]): void {
    if (allowed.includes(this.stateNow)) return;
    const now = this.stateNow === 'NotStarted' ? 'has not started' : this.stateNow === 'Stopped' ? 'has stopped' : `is ${this.stateNow.toLowerCase()}`;
    throw new ControllerError('invalid-state', `cannot ${what}: the VM ${now} (possible when it is ${allowed.join(' or ')})`);
  }

  private requireBuilt(what: string): BuiltVm {
    this.requireState(what, ['Running', 'Paused']);
    return this.builtVm!;
  }

  private async start(): Promise<void> {
    this.requireState('start the VM', ['NotStarted']);
    if (!this.bootSourceGiven) throw new ControllerError('not-configured', 'cannot start the VM without a kernel: set the boot source first');
    const sink = this.opts.serialSink ?? openSerialSink(this.config.serial);
    let built: BuiltVm;
    try {
      built = await buildVm(this.config, sink);
    } catch (e) {
      if (this.opts.serialSink === undefined) sink.close();
      throw e;
    }
    if (this.opts.serialSink === undefined) this.ownedSink = sink;
    if (this.trackDirtyPages) built.vm.memory.startDirtyLog();
    this.launch(built, false);
  }

  /** Makes `built` the controller's VM and runs it (parked first when `paused`). */
  private launch(built: BuiltVm, paused: boolean): void {
    this.builtVm = built;
    try {
      this.opts.hooks?.onStart?.(built);
    } catch (e) {
      this.teardown();
      throw e;
    }
    if (paused) void built.vm.pause();
    this.stateNow = paused ? 'Paused' : 'Running';
    this.startedAt = performance.now();
    built.vm.run().then(
      (stop) => this.finish(stop),
      (e: unknown) => this.finish({ kind: 'internal-error', vcpu: 0, detail: `the run failed: ${e instanceof Error ? e.message : String(e)}` }),
    );
  }

  private async pause(): Promise<void> {
    if (this.stateNow === 'Paused') return;
    const built = this.requireBuilt('pause the VM');
    await built.vm.pause();
    // The guest may have stopped while its vCPUs were being parked.
    if (this.stateNow === 'Running') this.stateNow = 'Paused';
  }

  /**
   * Arms the VM's stop point (emu's pauseAt) and lets a paused VM run on to it, without holding the
   * queue: reaching it may take long, and other actions (a stop among them) go on meanwhile. The state
   * becomes Paused when it is reached.
   */
  private pauseAt(instructions: number): { reached: Promise<void> } {
    const built = this.requireBuilt('pause at an instruction count');
    const vm = built.vm as { pauseAt?: (n: number) => Promise<void>; instructionsRetired?: number; paused?: boolean };
    if (typeof vm.pauseAt !== 'function' || vm.instructionsRetired === undefined) {
      throw new ControllerError('not-supported', 'pausing at an instruction count needs the emu backend (--accel emu), which counts retired instructions exactly');
    }
    if (!Number.isSafeInteger(instructions) || instructions < 0) throw new ControllerError('invalid-argument', `the instruction count must be a whole number >= 0, got ${instructions}`, { field: 'instructions' });
    const done = vm.instructionsRetired;
    if (instructions < done) throw new ControllerError('invalid-argument', `${done} instructions have already retired: pick a count of at least that`, { field: 'instructions' });
    const reached = vm.pauseAt(instructions).then(() => {
      const at = vm.instructionsRetired;
      if (vm.paused === true && at === instructions) {
        if (this.stateNow === 'Running') this.stateNow = 'Paused';
        return;
      }
      throw new ControllerError('invalid-state', vm.paused === true ? `the VM was paused at instruction ${at}, before it reached ${instructions}` : `the VM stopped at instruction ${at}, before it reached ${instructions}`);
    });
    // Whoever armed it may not wait for it.
    reached.catch(() => undefined);
    if (this.stateNow === 'Paused' && instructions > done) this.resume();
    return { reached };
  }

  private resume(): void {
    if (this.stateNow === 'Running') return;
    const built = this.requireBuilt('resume the VM');
    built.vm.resume();
    this.stateNow = 'Running';
  }

  private async quit(by: QuitSource, reason: string | undefined, signal: string | undefined): Promise<VmStop> {
    const stop: VmStop = { kind: 'quit', by, reason: reason ?? `stopped through the ${by}`, ...(signal !== undefined ? { signal } : {}) };
    if (this.stateNow === 'NotStarted') {
      this.stateNow = 'Stopped';
      this.stopInfo = stop;
      this.closeOutputs();
      this.resolveStopped(stop);
      return stop;
    }
    if (this.builtVm !== undefined) this.builtVm.vm.requestStop(stop);
    return this.stopped;
  }

  private finish(stop: VmStop): void {
    const built = this.builtVm;
    this.stopInfo = stop;
    this.stateNow = 'Stopped';
    if (built !== undefined) {
      const wallMs = performance.now() - this.startedAt;
      try {
        this.opts.hooks?.onStop?.(built, stop, wallMs);
      } finally {
        this.finalStats = this.stats();
        this.flushMetrics();
        this.teardown();
      }
    }
    this.closeOutputs();
    this.resolveStopped(stop);
  }

  private teardown(): void {
    const built = this.builtVm;
    this.builtVm = undefined;
    built?.devices.destroy();
    built?.vm.destroy();
    this.ownedSink?.close();
    this.ownedSink = undefined;
  }

  private closeOutputs(): void {
    if (this.metricsTimer !== undefined) clearInterval(this.metricsTimer);
    this.metricsTimer = undefined;
    this.metrics?.close();
  }

  /** Ends the VM if it runs and releases everything; resolves once stopped. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.stateNow === 'Running' || this.stateNow === 'Paused') this.builtVm?.vm.requestStop({ kind: 'host-stop', reason: 'the controller was disposed' });
    else if (this.stateNow === 'NotStarted') await this.dispatch({ type: 'stop', by: 'library', reason: 'the controller was disposed' });
    await this.stopped;
    this.logOutput?.close();
  }

  // ---- snapshots (services plugged in by src/vmm/state/) ---------------------------------

  private snapshotContext(): SnapshotContext {
    return {
      built: this.builtVm,
      state: this.stateNow,
      config: this.config,
      trackDirtyPages: this.trackDirtyPages,
      serialSink: () => {
        if (this.opts.serialSink !== undefined) return this.opts.serialSink;
        this.ownedSink ??= openSerialSink(this.config.serial);
        return this.ownedSink;
      },
      adoptRestored: (built, config) => {
        this.requireState('restore a snapshot', ['NotStarted']);
        this.config = config;
        this.bootSourceGiven = true;
        if (this.trackDirtyPages) built.vm.memory.startDirtyLog();
        this.launch(built, true);
      },
      pause: () => this.pause(),
      resume: () => this.resume(),
      finishMigrated: (destination) => {
        this.builtVm?.vm.requestStop({ kind: 'migrated', destination });
      },
    };
  }

  private async snapshotCreate(a: VmAction & { type: 'snapshot-create' }): Promise<void> {
    this.requireState('create a snapshot', ['Paused']);
    await this.snapshots.create(this.snapshotContext(), { snapshotPath: a.snapshotPath, ...(a.memFilePath !== undefined ? { memFilePath: a.memFilePath } : {}), kind: a.kind });
  }

  private async snapshotLoad(a: VmAction & { type: 'snapshot-load' }): Promise<void> {
    this.requireState('load a snapshot', ['NotStarted']);
    await this.snapshots.load(this.snapshotContext(), { snapshotPath: a.snapshotPath, ...(a.memFilePath !== undefined ? { memFilePath: a.memFilePath } : {}) });
    if (a.resume) this.resume();
  }

  // ---- reports -------------------------------------------------------------------------

  private machine(): MachineDescription {
    return { cpus: this.config.cpus, memBytes: this.config.memBytes, smt: this.smt, trackDirtyPages: this.trackDirtyPages };
  }

  private describeConfig(): ConfigDescription {
    const c = this.config;
    return {
      bootSource: this.bootSourceGiven ? { kernel: c.kernel, initrd: c.initrd, cmdline: c.cmdline } : undefined,
      machine: this.machine(),
      logger: this.logger,
      metricsPath: this.metrics?.path,
      drives: c.drives ?? [],
      nets: c.nets ?? [],
      entropy: c.rng === true,
    };
  }

  private stats(): VmStatsReport {
    const built = this.builtVm;
    if (built === undefined) return this.finalStats ?? vmStats(undefined, this.stateNow, 0, 0, this.stopInfo);
    return vmStats(built.vm, this.stateNow, built.devices.uart.bytesTransmitted, performance.now() - this.startedAt, this.stopInfo);
  }
}

function checkReadable(path: string, what: string): void {
  if (path.length === 0) throw new ControllerError('invalid-argument', `${what}: the path is empty`);
  try {
    accessSync(path, fsConstants.R_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ControllerError('bad-image', `${what} ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : `cannot be read (${code ?? 'error'})`}`, { cause: e });
  }
}
