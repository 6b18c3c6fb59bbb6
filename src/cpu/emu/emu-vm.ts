/**
 * The emu backend: a Vm whose vCPUs are EmuCpu interpreters and whose interrupt
 * controllers and timers are the chips of ./chips/. All vCPUs run round-robin in
 * slices on the calling thread, so a run is deterministic when `deterministic` is set
 * (virtual time = instructions retired; halts skip ahead to the next timer deadline).
 * The loop yields to the host every few milliseconds so host I/O keeps working, through an
 * injected HostScheduler (setImmediate in Node, MessageChannel in browsers: never a clamped setTimeout).
 */
import type { BackendName, BackendState, FeatureStatus, Vm, VmConfig, VmStop } from '../vm.js';
import { restoreEmuVmState, saveEmuVmState } from './emu-vm-state.js';
import { Bus } from '../bus.js';
import { InProcessEventChannels } from '../bus-events.js';
import type { IrqLine } from '../irq.js';
import { GuestMemory, pcRamLayout, type MemoryRegion } from '../../memory/guest-memory.js';
import { EmuCpu } from './cpu.js';
import { Bit } from './flags.js';
import { CodeCache } from './code-cache.js';
import { applyCpuModelGates, cpuModelGates } from './cpu-model-gates.js';
import { envUsesWasm } from './jit/jit-mode.js';
import { provideArena } from './jit/wasm-arena.js';
import type { JitStats } from './jit/jit-stats.js';
import { spinsForever } from './spin-check.js';
import { Gp } from './x86-defs.js';
import type { EmuChipSet, EmuClock } from './chips/chip-types.js';
import { createEmuChipSet, FERR_IRQ } from './chips/chip-set.js';
import { EMU_LA57_DETAIL, emuFeatureList } from '../../features/emu-cpu-model.js';
import { VirtualPmu, cpuidLeaf0a, pmuNeedsPdcm, type PmuConfig, type PmuEventFilter } from '../../pmu/index.js';
import { VmmError } from '../../util/errors.js';
import { cpuid, readMsr } from './msr.js';
import { enumerateCpuid, presentCpuid, type CpuidValue } from '../../features/cpuid-table.js';
import { defaultHostScheduler, type HostScheduler } from './host-scheduler.js';

export class EmuVmError extends VmmError {
  constructor(message: string) {
    super('emu-vm', message);
  }
}

export interface EmuVmConfig extends VmConfig {
  /** Virtual time from the instruction count (reproducible runs). Default false: real time. */
  readonly deterministic?: boolean;
  /** TSC frequency reported to the guest (default 1 GHz). */
  readonly tscHz?: number;
  /** Decoded instructions the code cache holds at most (default: codeCacheCapacity(memBytes)). */
  readonly codeCacheInsns?: number;
  /** Instructions per vCPU slice (default 20000). */
  readonly sliceInstructions?: number;
  /** Guest PMU (exact, emulated): one VirtualPmu per vCPU with this shape and optional event filter. */
  readonly pmu?: { readonly config: PmuConfig; readonly filter?: PmuEventFilter | null };
  /** How the run loop yields to the host and sleeps while halted (default: the cheapest this host has). */
  readonly scheduler?: HostScheduler;
  /** 5-level paging: CPUID advertises LA57 and CR4.LA57 is writable (default false, see EMU_LA57_DETAIL). */
  readonly la57?: boolean;
  /** Allocates each RAM region's bytes (default: an ArrayBuffer); the VMM gives shared memory for vhost-user. */
  readonly ramAllocator?: (size: number, name: string) => Uint8Array;
}

/**
 * Decoded instructions the code cache may hold for a guest of `memBytes`: one per 512 bytes of guest RAM,
 * at least 64k and at most 512k. At ~280 host bytes per instruction (block and compiled code included) the
 * live cache stays near half of guest RAM, and the garbage collector's slack at most doubles that.
 */
export function codeCacheCapacity(memBytes: number): number {
  return Math.max(1 << 16, Math.min(1 << 19, Math.floor(memBytes / 512)));
}

/** Nanoseconds of virtual time per retired instruction in deterministic mode (a 1000-MIPS virtual CPU). */
export const NS_PER_INSTRUCTION = 1;
/** Virtual cost of one port access in deterministic mode (an ISA bus cycle takes about 1 us on hardware). */
export const NS_PER_PORT_IO = 1000;
/** Rounds between checks for vCPUs that spin for ever (spin-check.ts). */
const SPIN_CHECK_ROUNDS = 32;
/** Real time between yields to the host event loop. */
const YIELD_MS = 4;

const now = (): number => globalThis.performance.now();

class VmClock implements EmuClock {
  readonly tscHz: number;
  /** Virtual ns skipped while every vCPU was halted (deterministic mode). */
  skippedNs = 0;
  private startMs = now();
  private pausedAtMs = -1;
  cpus: EmuCpu[] = [];

  constructor(
    readonly deterministic: boolean,
    tscHz: number,
  ) {
    this.tscHz = tscHz;
  }

  /** Guest time stands still while the VM is paused (real-time mode; deterministic time only moves with instructions). */
  freeze(): void {
    if (this.pausedAtMs < 0) this.pausedAtMs = now();
  }
  thaw(): void {
    if (this.pausedAtMs >= 0) this.startMs += now() - this.pausedAtMs;
    this.pausedAtMs = -1;
  }

  /**
   * Makes the clock read `ns` now (a restored snapshot): real time restarts from there; deterministic
   * time is the instruction counts (restored with the vCPUs) plus `skippedNs`, which is set here.
   */
  setNowNs(ns: number, skippedNs: number): void {
    if (this.deterministic) {
      this.skippedNs = skippedNs;
      return;
    }
    this.startMs = (this.pausedAtMs >= 0 ? this.pausedAtMs : now()) - ns / 1e6;
  }

  nowNs(): number {
    if (!this.deterministic) return ((this.pausedAtMs >= 0 ? this.pausedAtMs : now()) - this.startMs) * 1e6;
    let n = 0;
    for (const c of this.cpus) n += (c.instructions + c.segOff + c.stringIters) * NS_PER_INSTRUCTION + c.counts.io * NS_PER_PORT_IO;
    return n + this.skippedNs;
  }
}

export class EmuVm implements Vm {
  readonly backend: BackendName = 'emu';
  readonly config: EmuVmConfig;
  readonly memory: GuestMemory;
  readonly pio = new Bus('pio');
  readonly mmio = new Bus('mmio');
  readonly chips: EmuChipSet;
  /** I/O events ring between slices, coalesced writes are replayed before any other bus access. */
  readonly events: InProcessEventChannels;
  readonly cpus: EmuCpu[] = [];
  readonly clock: VmClock;
  readonly cache: CodeCache;
  /** The per-vCPU PMUs when config.pmu is set. */
  readonly pmus: VirtualPmu[] = [];
  private stop: VmStop | undefined;
  /** The vCPU inside cpu.run(), if any. */
  private runningCpu: EmuCpu | undefined;
  spinCheckIn = SPIN_CHECK_ROUNDS;
  private running = false;
  /** pause() asked the run loop to park between slices; `paused` once it has. */
  private pauseWanted = false;
  private isPaused = false;
  private pauseWaiters: (() => void)[] = [];
  /** pauseAt(): park once exactly this many instructions (all vCPUs) have retired (-1: none). */
  private pauseTarget = -1;
  /**
   * Where the round in progress stands when a stop point paused it (-1: between rounds): the vCPU to run
   * next (cpus.length: all ran, the end-of-round checks are next), whether that vCPU's slice is open
   * (cut at the stop point: it goes on rather than starting anew), the round's budget and progress, and
   * the open slice's start (instructions, halted) for its PMU accounting. Snapshots carry all of it.
   */
  roundAt = -1;
  roundBudget = 0;
  roundProgressed = false;
  sliceOpen = false;
  sliceBefore = 0;
  sliceWasHalted = false;
  private wake: (() => void) | undefined;
  /** Ends the current idle sleep early (set while every vCPU is halted and run() sleeps). */
  private sleepWake: (() => void) | undefined;
  private readonly slice: number;
  readonly scheduler: HostScheduler;
  /** Time the run loop handed to the host: yields (their count and ms) and sleeps while every vCPU was halted. */
  readonly hostTime = { yields: 0, yieldMs: 0, sleepMs: 0 };
  private runStartedMs = -1;
  private runAccumMs = 0;
  /**
   * A vCPU stopped for the host debug client (EmuCpu.hostStop: a breakpoint, watchpoint or step of
   * the gdb stub): the VM pauses (no other vCPU runs on) and this is called once it has.
   */
  onDebugStop: ((cpu: EmuCpu) => void) | null = null;

  constructor(config: EmuVmConfig) {
    if (!Number.isInteger(config.cpus) || config.cpus < 1) throw new RangeError(`emu: --cpus must be a positive integer, got ${config.cpus}`);
    if (!Number.isFinite(config.memBytes) || config.memBytes < 4096 || config.memBytes % 4096 !== 0) {
      throw new RangeError(`emu: guest RAM must be a positive multiple of 4 KiB, got ${config.memBytes}`);
    }
    this.config = config;
    this.cache = new CodeCache(config.codeCacheInsns ?? codeCacheCapacity(config.memBytes));
    const regions: MemoryRegion[] = [];
    // The wasm tier keeps RAM in its memory when it fits, so compiled loads and stores hit it inline.
    const arena = envUsesWasm() ? provideArena(this.cache, config.cpus, config.ramAllocator === undefined ? config.memBytes : 0) : null;
    for (const l of pcRamLayout(config.memBytes)) {
      let bytes: Uint8Array;
      try {
        bytes = config.ramAllocator !== undefined ? config.ramAllocator(l.size, l.name) : (arena?.takeRam(l.size) ?? new Uint8Array(new ArrayBuffer(l.size)));
      } catch (e) {
        throw new EmuVmError(`Cannot allocate ${l.size} bytes of guest RAM for the emulator (${(e as Error).message}): use a smaller --mem`);
      }
      regions.push({ name: l.name, gpa: l.gpa, size: l.size, bytes });
    }
    this.memory = new GuestMemory(regions);
    // Device DMA and loaders write RAM behind the vCPUs' backs: decoded code there is stale.
    const cache = this.cache;
    this.memory.onHostWrite((gpa, len) => cache.invalidateRange(gpa, len));
    // Every guest write reaches markDirty at its write translation (tlb.ts fill), so the memory
    // knows which pages were ever written: a full snapshot reads only those.
    this.memory.guestWritesMarked = true;
    this.clock = new VmClock(config.deterministic === true, config.tscHz ?? 1e9);
    this.slice = config.sliceInstructions ?? 20000;
    this.scheduler = config.scheduler ?? defaultHostScheduler();
    this.chips = createEmuChipSet({ cpus: config.cpus, clock: this.clock, pio: this.pio, mmio: this.mmio });
    const chipSet = this.chips;
    this.events = new InProcessEventChannels(this.pio, this.mmio, (r) => {
      if (r.kind === 'msi') chipSet.deliverMsi(r.address, r.data);
      else {
        chipSet.setIrq(r.gsi, true);
        chipSet.setIrq(r.gsi, false);
      }
    });
    // A doorbell ends the ringing vCPU's slice after its current block: the device then runs next,
    // never inside the vCPU's access (and without a whole slice of polling first).
    this.events.onRing = () => {
      const c = this.runningCpu;
      if (c !== undefined) c.breakRun = true;
      this.sleepWake?.();
    };
    for (let i = 0; i < config.cpus; i++) {
      const chips = this.chips;
      const cpu = new EmuCpu({
        memory: this.memory, pio: this.pio, mmio: this.mmio, index: i, cpus: config.cpus, apic: chips.localApic(i), clock: this.clock, cache: this.cache,
        ferr: (level) => chips.setIrq(FERR_IRQ, level),
      });
      cpu.la57 = config.la57 === true;
      // Application processors wait for INIT/SIPI, as after a real reset.
      if (i > 0) cpu.waitSipi = true;
      if (config.pmu !== undefined) {
        const apic = this.chips.localApic(i);
        const clock = this.clock;
        const pmu = new VirtualPmu(config.pmu.config, {
          onPmi: () => apic.raisePmi(),
          filter: config.pmu.filter ?? null,
          // Reference cycles tick with the TSC (without the guest's TSC writes) while the vCPU runs.
          refClock: () => Math.floor((clock.nowNs() * clock.tscHz) / 1e9),
        });
        this.pmus.push(pmu);
        cpu.pmu = pmu;
        const l = cpuidLeaf0a(config.pmu.config);
        cpu.pmuCpuid0a = [l.eax | 0, l.ebx | 0, l.ecx | 0, l.edx | 0];
        cpu.pdcm = pmuNeedsPdcm(config.pmu.config);
      }
      this.cpus.push(cpu);
    }
    this.clock.cpus = this.cpus;
  }

  /** The JIT's counters: compile time, generated code, compiled units (the bench reads them). */
  jitStats(): JitStats {
    return this.cache.jit;
  }

  get vcpus(): readonly EmuCpu[] {
    return this.cpus;
  }

  irqLine(gsi: number): IrqLine {
    const chips = this.chips;
    return {
      gsi,
      set: (level: boolean) => {
        chips.setIrq(gsi, level);
        if (level) this.sleepWake?.();
      },
    };
  }

  signalMsi(address: number, data: number): boolean {
    const r = this.chips.deliverMsi(address, data);
    this.sleepWake?.();
    return r;
  }

  /**
   * The idle sleep while every vCPU is halted: up to `ms`, or until a device raises an interrupt from the
   * host side (serial input, a network packet, a doorbell). Sleeping out the whole timeout instead cost an
   * interactive guest up to one sleep per round trip: ~5 ms per typed character echoed by a Linux shell.
   */
  private sleepUntilIrq(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        if (this.sleepWake !== done) return;
        this.sleepWake = undefined;
        resolve();
      };
      this.sleepWake = done;
      void this.scheduler.sleep(ms).then(done);
    });
  }

  requestStop(stop: VmStop): void {
    if (this.stop === undefined) this.stop = stop;
    for (const c of this.cpus) c.breakRun = true;
    this.wake?.();
    this.sleepWake?.();
  }

  /** run() is in progress (paused or not). */
  get isRunning(): boolean {
    return this.running;
  }

  get paused(): boolean {
    return this.isPaused;
  }

  /** Why the VM stopped, once it has. */
  get stopped(): VmStop | undefined {
    return this.stop;
  }

  /** Wall time run() has spent running (halted vCPUs included, pauses not), in ms. */
  get runMs(): number {
    return this.runAccumMs + (this.runStartedMs >= 0 ? now() - this.runStartedMs : 0);
  }

  private runClockStop(): void {
    if (this.runStartedMs >= 0) this.runAccumMs += now() - this.runStartedMs;
    this.runStartedMs = -1;
  }

  pause(): Promise<void> {
    if (this.stop !== undefined || this.isPaused) return Promise.resolve();
    // Taken between rounds, never inside a slice: slice boundaries are where interrupts are polled,
    // so cutting one short would change a deterministic run.
    this.pauseWanted = true;
    if (!this.running) {
      // Not running: nothing to wait for; run() will start parked.
      this.parked();
      return Promise.resolve();
    }
    this.sleepWake?.();
    return new Promise((resolve) => this.pauseWaiters.push(resolve));
  }

  /**
   * Pauses with exactly `instructions` instructions retired, all vCPUs together (a REP instruction
   * retires once, when it completes), before anything after the last of them happens: in the middle
   * of a vCPU's slice, or between two vCPUs' slices of a round. The run is not changed by it: a
   * resume (or a snapshot taken there and restored) goes on with the round exactly as it would have,
   * so a deterministic run gives the same output and final state as one that never paused.
   * Resolves once paused there (a paused VM stays paused until resume()), or once the VM stopped.
   */
  pauseAt(instructions: number): Promise<void> {
    if (!Number.isSafeInteger(instructions) || instructions < 0) throw new RangeError(`emu: pauseAt needs a whole instruction count, got ${instructions}`);
    const done = this.instructionsRetired;
    if (instructions < done) throw new RangeError(`emu: cannot pause at instruction ${instructions}: ${done} have already retired`);
    if (this.stop !== undefined || (this.isPaused && instructions === done)) return Promise.resolve();
    this.pauseTarget = instructions;
    return new Promise((resolve) => this.pauseWaiters.push(resolve));
  }

  /** Instructions retired by every vCPU together. */
  get instructionsRetired(): number {
    let n = 0;
    for (const c of this.cpus) n += c.instructions;
    return n;
  }

  resume(): void {
    this.pauseWanted = false;
    if (!this.isPaused) return;
    this.isPaused = false;
    this.clock.thaw();
    this.wake?.();
  }

  /** The run loop has stopped between slices: time stands still until resume(). */
  private parked(): void {
    // A paused VM's devices hold every write the guest made (snapshots read them); coalesced writes
    // may reach them at any time. Doorbells ring between rounds: inside one (a stop point) they wait.
    this.events.flushCoalesced();
    if (this.roundAt < 0) this.events.dispatch();
    this.runClockStop();
    // A pause of any kind settles pauseAt()'s promise: its stop point is spent.
    this.pauseTarget = -1;
    this.isPaused = true;
    this.clock.freeze();
    const waiters = this.pauseWaiters;
    this.pauseWaiters = [];
    for (const w of waiters) w();
  }

  /** Parks the run loop until resume() or a stop. */
  private async waitWhilePaused(): Promise<void> {
    if (!this.isPaused) this.parked();
    while (this.isPaused && this.stop === undefined) await new Promise<void>((resolve) => (this.wake = resolve));
    this.wake = undefined;
  }

  async run(): Promise<VmStop> {
    if (this.running) throw new EmuVmError('emu: run() is already in progress for this VM');
    this.running = true;
    this.runStartedMs = now();
    try {
      while (this.stop === undefined) {
        if (this.pauseWanted) {
          await this.waitWhilePaused();
          this.runStartedMs = now();
          continue;
        }
        const t0 = now();
        while (this.stop === undefined && !this.pauseWanted && now() - t0 < YIELD_MS) {
          const progressed = this.round();
          if (progressed === 'paused') {
            this.pauseTarget = -1;
            this.pauseWanted = true;
          }
          if (this.stop !== undefined || this.pauseWanted) break;
          if (!progressed) {
            const wait = this.idle();
            if (wait === 'hang') break;
            if (wait > 0) {
              const s0 = now();
              await this.sleepUntilIrq(wait);
              this.hostTime.sleepMs += now() - s0;
              break;
            }
          }
        }
        if (this.stop === undefined && !this.pauseWanted) {
          const y0 = now();
          await this.scheduler.yield();
          this.hostTime.yieldMs += now() - y0;
          this.hostTime.yields++;
        }
      }
    } finally {
      this.runClockStop();
      this.running = false;
      // A stop that raced a pause still settles the pause: nothing runs any more.
      if (this.pauseWaiters.length) this.parked();
      this.isPaused = false;
      this.pauseWanted = false;
    }
    return this.stop!;
  }

  /**
   * One round-robin pass over the vCPUs, or the rest of the one a stop point paused. Returns true when
   * some vCPU executed instructions, 'paused' when it stopped at the pause target (roundAt says where).
   */
  private round(): boolean | 'paused' {
    let i = this.roundAt;
    let budget = this.roundBudget;
    let progressed = this.roundProgressed;
    if (i < 0) {
      if (this.pauseTarget >= 0 && this.instructionsRetired >= this.pauseTarget) return 'paused';
      // Doorbells the guest rang in the last slice: the devices run here, between slices, not inside the
      // vCPU's access (emu's ioeventfd). Coalesced writes reach their devices at least once per round.
      this.events.dispatch();
      this.events.flushCoalesced();
      this.chips.advance();
      progressed = false;
      budget = this.slice;
      if (this.clock.deterministic) {
        const dl = this.chips.nextDeadlineNs();
        if (dl !== Infinity) {
          const left = Math.ceil((dl - this.clock.nowNs()) / NS_PER_INSTRUCTION / this.cpus.length);
          budget = Math.max(64, Math.min(budget, left));
        }
      }
      i = 0;
    }
    this.roundAt = -1;
    for (; i < this.cpus.length; i++) {
      const cpu = this.cpus[i]!;
      if (this.stop !== undefined) return progressed;
      if (this.pauseTarget >= 0) {
        const want = this.pauseTarget - this.instructionsRetired;
        if (want <= 0) return this.roundPaused(i, budget, progressed, this.sliceOpen);
        cpu.stopAt = cpu.instructions + want;
      }
      const open = this.sliceOpen;
      this.sliceOpen = false;
      const before = open ? this.sliceBefore : cpu.instructions;
      const wasHalted = open ? this.sliceWasHalted : cpu.halted || cpu.waitSipi;
      const pmu = this.pmus.length === 0 ? undefined : this.pmus[cpu.index];
      let r: string;
      try {
        this.runningCpu = cpu;
        if (open) r = cpu.runMore();
        else {
          pmu?.runStart();
          r = cpu.run(budget);
        }
        this.runningCpu = undefined;
        cpu.stopAt = -1;
        if (r === 'paused') {
          // At the pause target, or stopped for the debug client: either way a stop point of the slice.
          this.sliceBefore = before;
          this.sliceWasHalted = wasHalted;
          if (cpu.hostStop !== 0) this.debugStopped(cpu);
          return this.roundPaused(i, budget, progressed, true);
        }
        pmu?.runEnd(cpu.cpl, cpu.halted || cpu.waitSipi, !wasHalted || cpu.instructions !== before);
      } catch (e) {
        this.runningCpu = undefined;
        cpu.stopAt = -1;
        this.stop = { kind: 'internal-error', vcpu: cpu.index, detail: `emulator failure at rip 0x${cpu.getRip().toString(16)}: ${(e as Error).stack ?? String(e)}` };
        return progressed;
      }
      if (r === 'shutdown') {
        // Not the guest's doing when emu reached a limit of its own (exceptions.ts unrepresentable()).
        this.stop ??= { kind: cpu.emulationLimit ? 'internal-error' : 'shutdown', vcpu: cpu.index, detail: cpu.shutdownReason };
        return progressed;
      }
      if (cpu.instructions !== before || r === 'budget') progressed = true;
      if (cpu.hostStop !== 0) {
        // The slice ended where the vCPU stopped: the round goes on with the next vCPU.
        this.debugStopped(cpu);
        return this.roundPaused(i + 1, budget, progressed, false);
      }
    }
    if (this.pauseTarget >= 0 && this.instructionsRetired >= this.pauseTarget) return this.roundPaused(this.cpus.length, budget, progressed, false);
    if (progressed) this.checkSpinning();
    return progressed;
  }

  /**
   * `cpu` stopped for the debug client: the VM pauses where the round stands (a stop point, so the run
   * goes on as if it never stopped) and onDebugStop is told once it has.
   */
  private debugStopped(cpu: EmuCpu): void {
    void this.pause().then(() => this.onDebugStop?.(cpu));
  }

  /** The round stops at the pause target before vCPU `at` runs (or inside its slice: `open`). */
  private roundPaused(at: number, budget: number, progressed: boolean, open: boolean): 'paused' {
    this.roundAt = at;
    this.roundBudget = budget;
    this.roundProgressed = progressed;
    this.sliceOpen = open;
    return 'paused';
  }

  /** Whether an interrupt may still reach vCPU `i` without it executing anything (chips that cannot say: yes). */
  private mayInterrupt(i: number): boolean {
    return this.chips.mayInterrupt === undefined || this.chips.mayInterrupt(i);
  }

  /** Why vCPU `c` cannot run on by itself (halted for good, or spinning for ever), or undefined when it can. */
  private stuck(c: EmuCpu, loops: boolean): string | undefined {
    const at = `rip 0x${c.getRip().toString(16)}`;
    if (c.waitSipi) return `vCPU ${c.index} waits for a SIPI`;
    const irqOff = (c.flags & Bit.IF) === 0;
    if (c.halted) {
      if (c.wakeable()) return undefined;
      if (irqOff) return `vCPU ${c.index} halted with interrupts disabled at ${at}`;
      if (!this.mayInterrupt(c.index)) return `vCPU ${c.index} halted at ${at} with every interrupt source masked`;
      return undefined;
    }
    if (!loops || (!irqOff && this.mayInterrupt(c.index))) return undefined;
    // With a debug client attached or debug features armed, a spin is left to the debug client (it may
    // interrupt and change it), and stepping the loop here could hit one of its breakpoints.
    if (this.onDebugStop !== null || c.debugArmed || !spinsForever(c)) return undefined;
    return `vCPU ${c.index} loops at ${at} with ${irqOff ? 'interrupts disabled' : 'every interrupt source masked'} and no side effect`;
  }

  /** Every vCPU stuck: the guest can never make progress again, which is a hang (74), not a silent spin. */
  private checkSpinning(): void {
    // Every SPIN_CHECK_ROUNDS rounds (a few ms of guest time): cheap enough not to show in any benchmark.
    if (--this.spinCheckIn > 0) return;
    this.spinCheckIn = SPIN_CHECK_ROUNDS;
    // Cheap test first: a vCPU that may be interrupted, or is not spinning with nothing to stop it, ends it.
    for (const c of this.cpus) {
      if (c.waitSipi) continue;
      if (c.halted ? c.wakeable() || ((c.flags & Bit.IF) !== 0 && this.mayInterrupt(c.index)) : (c.flags & Bit.IF) !== 0 && this.mayInterrupt(c.index)) return;
    }
    const why: string[] = [];
    for (const c of this.cpus) {
      const w = this.stuck(c, true);
      if (w === undefined) return;
      why.push(w);
    }
    this.stop ??= { kind: 'hang', detail: `no vCPU can make progress: ${why.join('; ')}` };
  }

  /** All vCPUs are halted: decide what to do. Returns ms to sleep, 0 to retry now, or 'hang'. */
  private idle(): number | 'hang' {
    if (this.events.hasPending) return 0;
    for (const c of this.cpus) if (!c.waitSipi && c.wakeable()) return 0;
    const dl = this.chips.nextDeadlineNs();
    const t = this.clock.nowNs();
    const why: string[] = [];
    for (const c of this.cpus) {
      const w = this.stuck(c, false);
      if (w === undefined) break;
      why.push(w);
    }
    if (why.length === this.cpus.length) {
      this.stop = { kind: 'hang', detail: `no vCPU can make progress: ${why.join('; ')}` };
      return 'hang';
    }
    if (dl !== Infinity) {
      if (this.clock.deterministic) {
        if (dl > t) this.clock.skippedNs += dl - t;
        this.chips.advance();
        return 0;
      }
      const ms = (dl - t) / 1e6;
      if (ms <= 0.05) {
        this.chips.advance();
        return 0;
      }
      return Math.min(ms, 10);
    }
    // Waiting for a host event (e.g. serial input).
    return 5;
  }

  features(): readonly FeatureStatus[] {
    const list: FeatureStatus[] = emuFeatureList().map((f) => ({ name: f.name, mode: f.mode, detail: f.detail }));
    list.push(this.config.la57 === true ? { name: 'la57', mode: 'emulated', detail: EMU_LA57_DETAIL } : { name: 'la57', mode: undefined, reason: `not advertised unless asked for with --la57: ${EMU_LA57_DETAIL}` });
    list.push({ name: 'smp', mode: 'emulated', detail: `${this.config.cpus} vCPU(s), round-robin slices on one thread` });
    list.push({ name: 'irqchip', mode: 'emulated', detail: 'local APIC (xAPIC/x2APIC), IOAPIC, 8259 pair, 8254 PIT' });
    const pc = this.config.pmu?.config;
    list.push(
      pc !== undefined && pc.version > 0
        ? { name: 'pmu', mode: 'emulated', detail: `architectural PMU v${pc.version}: ${pc.gpCounters} GP + ${pc.fixedCounters} fixed counters, exact instruction/branch counts` }
        : { name: 'pmu', mode: undefined, reason: 'no guest PMU configured' },
    );
    list.push({ name: 'deterministic', mode: this.clock.deterministic ? 'emulated' : undefined, ...(this.clock.deterministic ? { detail: 'virtual time from the instruction count' } : { reason: 'real-time clock (use deterministic mode)' }) });
    return list;
  }

  cpuidTable(vcpu = 0): CpuidValue[] {
    return enumerateCpuid((leaf, subleaf) => this.queryCpuid(vcpu, leaf, subleaf));
  }

  /** Runs the CPUID instruction's own code on a vCPU (registers saved and restored around it). */
  private queryCpuid(vcpu: number, leaf: number, subleaf: number): [number, number, number, number] {
    const c = this.cpus[vcpu];
    if (c === undefined) throw new RangeError(`emu: no vCPU ${vcpu}`);
    const saved = c.gpr.slice(0, 8);
    c.gpr[Gp.AxLo] = leaf | 0;
    c.gpr[Gp.CxLo] = subleaf | 0;
    cpuid(c);
    // GPR order: rax, rcx, rdx, rbx.
    const out: [number, number, number, number] = [c.gpr[Gp.AxLo]! >>> 0, c.gpr[Gp.BxLo]! >>> 0, c.gpr[Gp.CxLo]! >>> 0, c.gpr[Gp.DxLo]! >>> 0];
    c.gpr.set(saved, 0);
    return out;
  }

  msrIndices(): number[] {
    const c = this.cpus[0]!;
    const out: number[] = [];
    for (const [from, to] of [[0, 0x2000], [0xc000_0000, 0xc000_2000]] as const) {
      for (let i = from; i < to; i++) if ((i < 0x800 || i > 0x8ff) && readMsr(c, i)) out.push(i);
    }
    return out;
  }

  setCpuidTable(table: readonly CpuidValue[]): void {
    const model = table.slice();
    // Control bits and instructions follow the model too; code decoded before it was decoded without it.
    applyCpuModelGates(this.cpus, cpuModelGates(model));
    this.cache.clear();
    for (const c of this.cpus) {
      c.cpuidFilter = (leaf, subleaf, out) => {
        const v = presentCpuid(model, leaf, subleaf, [out[0]!, out[1]!, out[2]!, out[3]!]);
        for (let i = 0; i < 4; i++) out[i] = v[i]! | 0;
      };
    }
  }

  exitCounts(): Readonly<Record<string, number>> {
    const out: Record<string, number> = { instructions: 0, io: 0, mmio: 0, hlt: 0, interrupts: 0, exceptions: 0, nmi: 0, init: 0, sipi: 0, 'code-invalidations': this.cache.invalidations, 'code-cache-flushes': this.cache.flushes };
    for (const c of this.cpus) {
      out.instructions! += c.instructions;
      for (const [k, v] of Object.entries(c.counts)) out[k] = (out[k] ?? 0) + v;
      c.exceptionsByVector.forEach((n, v) => {
        if (n > 0) out[`exception-${v}`] = (out[`exception-${v}`] ?? 0) + n;
      });
    }
    return out;
  }

  /** #UDs raised for instructions emu does not implement, by name, over all vCPUs (`tsvmm stat`). */
  unimplementedCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.cpus) for (const [k, v] of c.unimplementedCounts) out[k] = (out[k] ?? 0) + v;
    return out;
  }

  saveState(): BackendState {
    return saveEmuVmState(this);
  }

  restoreState(state: BackendState): void {
    restoreEmuVmState(this, state);
  }

  destroy(): void {
    this.requestStop({ kind: 'host-stop', reason: 'destroyed' });
    this.cache.clear();
  }
}

/** Creates an emu VM: RAM per the PC layout, buses, chips, vCPUs (vCPU 0 runs, APs wait for SIPI). */
export function createEmuVm(config: EmuVmConfig): EmuVm {
  return new EmuVm(config);
}
