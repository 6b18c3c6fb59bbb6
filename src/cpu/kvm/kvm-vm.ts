/**
 * The KVM backend: a Vm whose vCPUs run under /dev/kvm. Every vCPU, vCPU 0 included, runs its KVM_RUN
 * loop on a worker_thread of its own (vcpu-worker.ts) and forwards IO/MMIO/debug exits through a
 * SharedArrayBuffer channel (vcpu-channel.ts) to the main thread, which runs the devices, the ioeventfd
 * dispatch, timers and the API: a device's work for a doorbell never holds up a vCPU. README.md beside
 * this file explains the threads and what they cost.
 */
import { Worker } from 'node:worker_threads';
import {
  KVM_API_VERSION,
  KVM_CAP,
  KVM_CHECK_EXTENSION,
  KVM_CREATE_IRQCHIP,
  KVM_CREATE_PIT2,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_ENABLE_CAP,
  KVM_EXIT_NAMES,
  KVM_GET_API_VERSION,
  KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
  KVM_GET_DIRTY_LOG,
  KVM_GET_MSR_INDEX_LIST,
  KVM_GET_SUPPORTED_CPUID,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_IDENTITY_MAP_ADDR,
  KVM_IRQ_LINE,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_PIT_SPEAKER_DUMMY,
  KVM_PMU_CAP_DISABLE,
  KVM_SET_IDENTITY_MAP_ADDR,
  KVM_SET_PMU_EVENT_FILTER,
  KVM_SET_SIGNAL_MASK,
  KVM_SET_TSS_ADDR,
  KVM_SET_USER_MEMORY_REGION,
  KVM_SIGNAL_MSI,
  KVM_TSS_ADDR,
  KVM_RUN as KVM_RUN_IOCTL,
  type KvmCapName,
} from '../../sys/kvm-abi.js';
import { KVM_MSI_SIZE, KVM_RUN, allocCpuid2, decodeDebugExit, encodeDirtyLog, encodeMsi, decodeCpuid2, encodeEnableCap, encodeIrqLevel, encodePitConfig, encodePmuEventFilter, encodeUserspaceMemoryRegion, type CpuidEntry, type KvmDebugExit, type PmuEventFilter } from '../../sys/kvm-structs.js';
import {
  EAGAIN,
  EINTR,
  KICK_SIGNAL,
  O_CLOEXEC,
  O_RDWR,
  SysError,
  closeFd,
  discardPages,
  installKickSignal,
  ioctlInt,
  ioctlIntRaw,
  ioctlPtr,
  ioctlPtrRaw,
  lastErrno,
  mmapAnonymous,
  mmapFd,
  openFile,
  signalThread,
  sysError,
  type NativeMapping,
  withKickPending,
} from '../../sys/libc.js';
import { GuestMemory, pcRamLayout, type MemoryRegion } from '../../memory/guest-memory.js';
import { Bus } from '../bus.js';
import { MSI_ADDRESS_BASE, MSI_ADDRESS_MASK, type IrqLine } from '../irq.js';
import { MSR } from '../registers.js';
import type { BackendState, FeatureStatus, Vm, VmConfig, VmStop } from '../vm.js';
import { restoreKvmVmState, saveKvmVmState } from './kvm-vm-state.js';
import { guardPieces } from './page-guard.js';
import { cpuFeatureStates, guestCpuid, type CpuModelName, type CpuPolicy } from './cpu-model.js';
import { KVM_DEVICE, hostApicv, hostPmu, isPvmHost, type KvmHostPmu } from './host-probe.js';
import { KvmError } from './kvm-error.js';
import { EXIT } from '../../util/errors.js';
import { KvmVcpu } from './kvm-vcpu.js';
import { KvmEventChannels } from './kvm-events.js';
import { KVM_COALESCED_MMIO_PAGE_OFFSET } from '../../sys/kvm-abi.js';
import { hasSubleaves, type CpuidValue } from '../../features/cpuid-table.js';
import {
  CH_ADDR_HI,
  CH_ADDR_LO,
  CH_COUNT,
  CH_DETAIL_LEN,
  CH_EPOCH,
  CH_HELD,
  CH_KIND,
  CH_SIZE,
  CH_STATE,
  CH_STATUS,
  CH_PARKED,
  CH_TID,
  CH_WRITE,
  G_EPOCH,
  G_HOLD,
  G_INTS,
  G_QUIT,
  G_RUN,
  G_STOP,
  G_STOP_FINAL,
  G_STOP_PAUSE,
  G_WAKE,
  KIND_DEBUG,
  KIND_IO,
  KIND_MMIO,
  KIND_EMULATION_FAILURE,
  KIND_STOP,
  STATE_DONE,
  STATE_REQUEST,
  STATUS_EXITED,
  STATUS_STUCK,
  TICK_MS,
  createChannel,
  type VcpuChannel,
} from './vcpu-channel.js';

export type KvmPmuRequest = 'on' | 'off' | 'auto';

export interface KvmVmOptions extends VmConfig {
  /** CPUID model (default 'host'). */
  readonly cpuModel?: CpuModelName;
  /** 'on' requires a guest PMU, 'off' disables KVM's vPMU, 'auto' (default) takes what the host gives. */
  readonly pmu?: KvmPmuRequest;
  /** Defaults to /dev/kvm. */
  readonly device?: string;
  /** Allocates each RAM region (default: anonymous memory); the VMM gives memfds for vhost-user. */
  readonly ramAllocator?: (size: number, name: string) => NativeMapping;
  /** 'in-process': no KVM_IOEVENTFD/KVM_IRQFD/coalesced MMIO, the event channels take the exit path (for comparison). */
  readonly eventChannels?: 'kernel' | 'in-process';
}

/** Capabilities the backend cannot work without, and why. */
const REQUIRED_CAPS: readonly [KvmCapName, string][] = [
  ['USER_MEMORY', 'guest RAM as memory slots'],
  ['IRQCHIP', 'the in-kernel interrupt controllers'],
  ['PIT2', 'the in-kernel PIT'],
  ['MP_STATE', 'starting APs with INIT/SIPI'],
  ['EXT_CPUID', 'setting the guest CPUID'],
  ['IMMEDIATE_EXIT', 'stopping vCPUs promptly'],
  ['SET_TSS_ADDR', 'real-mode guests'],
];

/** Host-side MSR defaults for every vCPU (architectural reset values a VMM is expected to set). */
const MSR_SETUP: readonly [number, bigint][] = [
  [MSR.IA32_SYSENTER_CS, 0n],
  [MSR.IA32_SYSENTER_ESP, 0n],
  [MSR.IA32_SYSENTER_EIP, 0n],
  [MSR.IA32_STAR, 0n],
  [MSR.IA32_LSTAR, 0n],
  [MSR.IA32_CSTAR, 0n],
  [MSR.IA32_FMASK, 0n],
  [MSR.IA32_KERNEL_GS_BASE, 0n],
  [MSR.IA32_TSC, 0n],
  // IA32_MISC_ENABLE.FAST_STRING (bit 0), set by firmware on real machines.
  [MSR.IA32_MISC_ENABLE, 1n],
];

interface Slot {
  readonly slot: number;
  readonly region: MemoryRegion;
  /** Native bitmap KVM_GET_DIRTY_LOG fills, for regions with trackDirty. */
  bitmap?: NativeMapping;
}

interface VcpuThread {
  readonly index: number;
  readonly worker: Worker;
  readonly channel: VcpuChannel;
  /** The channel's data area cut to 0-8 bytes (one IO or MMIO access each, without a new view per exit). */
  readonly views: readonly Uint8Array[];
  dead: boolean;
}

const SLICE_MS = 10;


function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class KvmVm implements Vm {
  readonly backend = 'kvm' as const;
  readonly pio = new Bus('pio');
  readonly mmio = new Bus('mmio');
  readonly memory: GuestMemory;
  readonly vcpus: KvmVcpu[] = [];
  readonly cpuPolicy: CpuPolicy;
  readonly supportedCpuid: readonly CpuidEntry[];
  readonly hostPmu: KvmHostPmu;
  /** Whether KVM's vPMU was switched off with KVM_CAP_PMU_CAPABILITY. */
  readonly pmuDisabled: boolean;

  private readonly native = new Map<ArrayBufferLike, NativeMapping>();
  private readonly slots = new Map<MemoryRegion, Slot>();
  private freeSlots: number[] = [];
  private nextSlot = 0;
  private readonly irqLines = new Map<number, IrqLine>();
  private stopReason: VmStop | undefined;
  /** vCPUs must leave KVM_RUN: a stop or a pause was requested. */
  private halting = false;
  private pauseWanted = false;
  private isPaused = false;
  private pauseWaiters: (() => void)[] = [];
  private wake: (() => void) | undefined;
  private running = false;
  private destroyed = false;
  private readonly g = new Int32Array(new SharedArrayBuffer(G_INTS * 4));
  /** By vCPU index; kept across pauses and runs (parked in between), ended by destroy(). */
  private readonly threads: (VcpuThread | undefined)[] = [];
  /** Exit counts of threads that died (the live ones count in their channels). */
  private readonly counts = new Float64Array(64);
  private hangEpoch = 0;
  private hangRounds = 0;
  /** The main thread is answering a vCPU exit (that vCPU is out of KVM_RUN; see withVcpusOut). */
  private servicing = false;
  private threadsReady: Promise<void>;
  /** The CPU model set with setCpuidTable, if any. */
  private cpuModel: CpuidValue[] | undefined;

  /** ioeventfd, irqfd and coalesced MMIO (kvm-events.ts). */
  readonly events: KvmEventChannels;
  /**
   * Takes KVM_EXIT_DEBUG (guest debugging armed by the gdb stub, src/debug/gdb/kvm-target.ts), on the main thread
   * while that vCPU is out of KVM_RUN; it pauses the VM to stop, or returns to let the vCPU go on.
   */
  debugExit: ((vcpu: number, exit: KvmDebugExit) => void) | undefined;
  /** Completes an MMIO exit of vCPU `vcpu` on a guarded page (guardPages) against RAM; false: not a guarded page. */
  guardAccess: ((vcpu: number, addr: number, data: Uint8Array, write: boolean) => boolean) | undefined;
  /**
   * An emulation failure of vCPU `vcpu` at `rip` (KVM_EXIT_INTERNAL_ERROR): true when the hook takes it (an instruction
   * fetch from a guarded page: it pauses the VM and unguards the page, and the vCPU runs that instruction again).
   */
  emulationFailure: ((vcpu: number, rip: bigint) => boolean) | undefined;
  /** Regions split around guarded pages: the slots of their pieces (the region's own slot is empty meanwhile). */
  private readonly guardSlots = new Map<MemoryRegion, number[]>();

  constructor(
    readonly config: KvmVmOptions,
    /** The /dev/kvm fd. */
    readonly kvmFd: number,
    /** The VM fd. */
    readonly vmFd: number,
    readonly runSize: number,
    readonly maxVcpus: number,
  ) {
    this.hostPmu = hostPmu(this.checkExtension('PMU_CAPABILITY'));
    this.pmuDisabled = config.pmu === 'off' ? disableKvmPmu(this) : false;
    if (config.pmu === 'on' && this.hostPmu.kind === 'none') {
      throw new KvmError(`--pmu on needs a guest PMU, but this host has none (${this.hostPmu.reason}); use --accel emu for an emulated PMU`);
    }
    this.cpuPolicy = { model: config.cpuModel ?? 'host', pvm: isPvmHost(), pmu: this.hostPmu.kind !== 'none' && !this.pmuDisabled };

    ioctlInt(vmFd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR, 'KVM_SET_TSS_ADDR failed');
    // Only VMX uses the identity map; other hosts may refuse it harmlessly.
    const idmap = new Uint8Array(8);
    new DataView(idmap.buffer).setBigUint64(0, BigInt(KVM_IDENTITY_MAP_ADDR), true);
    ioctlPtrRaw(vmFd, KVM_SET_IDENTITY_MAP_ADDR, idmap);
    ioctlInt(vmFd, KVM_CREATE_IRQCHIP, 0, 'KVM_CREATE_IRQCHIP failed (cannot create the in-kernel PIC/IOAPIC/local APIC)');
    ioctlPtr(vmFd, KVM_CREATE_PIT2, encodePitConfig(KVM_PIT_SPEAKER_DUMMY), 'KVM_CREATE_PIT2 failed (cannot create the in-kernel PIT)');

    const regions = pcRamLayout(config.memBytes).map((l) => ({ name: l.name, gpa: l.gpa, size: l.size, bytes: this.allocateNative(l.size, l.name) }));
    this.memory = new GuestMemory(regions);
    this.applyMap([], this.memory.regions);
    this.memory.onMapChange((old, next) => this.applyMap(old, next));

    this.supportedCpuid = this.getSupportedCpuid();
    for (let i = 0; i < config.cpus; i++) {
      const fd = ioctlInt(vmFd, KVM_CREATE_VCPU, i, `KVM_CREATE_VCPU ${i} failed`);
      const run = mmapFd(fd, runSize, `Cannot map kvm_run of vCPU ${i}`);
      const vcpu = new KvmVcpu(i, fd, run);
      vcpu.setCpuid(guestCpuid(this.supportedCpuid, this.cpuPolicy, i, config.cpus));
      vcpu.trySetMsrs(MSR_SETUP);
      this.vcpus.push(vcpu);
    }
    // KVM fills the coalesced ring through any vCPU's mapping; vCPU 0's is at hand here.
    const run0 = this.vcpus[0]!.run.bytes;
    const ringAt = KVM_COALESCED_MMIO_PAGE_OFFSET * 4096;
    const irqLine = (gsi: number): IrqLine => this.irqLine(gsi);
    this.events = new KvmEventChannels({
      vmFd,
      pio: this.pio,
      mmio: this.mmio,
      has: (cap) => config.eventChannels !== 'in-process' && this.checkExtension(cap) > 0,
      wake: { words: this.g, index: G_WAKE },
      ringPage: runSize >= ringAt + 4096 ? run0.subarray(ringAt, ringAt + 4096) : undefined,
      irqPulse: (gsi) => {
        const l = irqLine(gsi);
        l.set(true);
        l.set(false);
      },
      signalMsi: (a, d) => this.signalMsi(a, d),
    });
    // A thread takes some 50 ms to start (a new V8 isolate, koffi): start them now, while the VMM sets up.
    this.threadsReady = this.startThreads();
    this.threadsReady.catch(() => undefined);
  }

  checkExtension(cap: KvmCapName): number {
    const r = ioctlIntRaw(this.vmFd, KVM_CHECK_EXTENSION, KVM_CAP[cap]);
    return r < 0 ? 0 : r;
  }

  /** Native (mmap'd) memory KVM can map into the guest; use it for regions given to memory.setMap. */
  allocateNative(size: number, name = 'ram'): Uint8Array {
    const alloc = this.config.ramAllocator;
    const m = alloc !== undefined ? alloc(size, name) : mmapAnonymous(size, `Cannot allocate ${size} bytes of guest memory (try a smaller --mem)`);
    this.native.set(m.bytes.buffer, m);
    return m.bytes;
  }

  private hostAddress(r: MemoryRegion): bigint {
    const m = this.native.get(r.bytes.buffer);
    if (!m) throw new KvmError(`memory region "${r.name}" is not native memory, so KVM cannot map it; allocate its bytes with KvmVm.allocateNative()`);
    return m.address + BigInt(r.bytes.byteOffset);
  }

  private setSlot(slot: number, flags: number, gpa: number, size: number, addr: bigint, what: string): void {
    ioctlPtr(this.vmFd, KVM_SET_USER_MEMORY_REGION, encodeUserspaceMemoryRegion(slot, flags, gpa, size, addr), what);
  }

  /** Replaces KVM memory slots to follow a GuestMemory map change: removed regions first, then added ones. */
  private applyMap(old: readonly MemoryRegion[], next: readonly MemoryRegion[]): void {
    this.withVcpusOut(() => this.replaceSlots(old, next));
  }

  private replaceSlots(old: readonly MemoryRegion[], next: readonly MemoryRegion[]): void {
    const keep = new Set(next);
    for (const r of old) {
      const s = this.slots.get(r);
      if (!s || keep.has(r)) continue;
      this.unsplit(r, false);
      this.setSlot(s.slot, 0, r.gpa, 0, 0n, `Cannot remove memory slot for "${r.name}"`);
      if (s.bitmap) discardPages(s.bitmap);
      this.slots.delete(r);
      this.freeSlots.push(s.slot);
    }
    for (const r of next) {
      if (this.slots.has(r)) continue;
      const slot = this.freeSlots.pop() ?? this.nextSlot++;
      const flags = (r.readonly ? KVM_MEM_READONLY : 0) | (r.trackDirty ? KVM_MEM_LOG_DIRTY_PAGES : 0);
      this.setSlot(slot, flags, r.gpa, r.size, this.hostAddress(r), `Cannot map "${r.name}" at 0x${r.gpa.toString(16)} (${r.size} bytes) into the guest`);
      this.slots.set(r, { slot, region: r });
    }
  }

  /**
   * Takes `pages` (page-aligned guest-physical addresses of KVM-mapped RAM) out of the memory slots, putting back
   * those guarded before: every access to them becomes an MMIO exit, completed by `guardAccess`. Refused for a
   * region KVM logs dirty pages of (a migration or dirty tracking is on: its bitmap is per slot).
   */
  guardPages(pages: readonly number[]): void {
    if (pages.length === 0 && this.guardSlots.size === 0) return;
    const byRegion = new Map<MemoryRegion, number[]>();
    for (const p of pages) {
      const r = this.memory.find(p);
      const s = r === undefined ? undefined : this.slots.get(r);
      if (r === undefined || s === undefined) throw new KvmError(`guest-physical page 0x${p.toString(16)} is not RAM KVM maps`);
      if (r.trackDirty) throw new KvmError(`"${r.name}" has dirty logging on (a migration or dirty tracking runs): its pages cannot be guarded`);
      if (r.readonly) throw new KvmError(`"${r.name}" is read-only memory: its pages cannot be guarded`);
      byRegion.set(r, [...(byRegion.get(r) ?? []), p]);
    }
    this.withVcpusOut(() => {
      for (const r of [...this.guardSlots.keys()]) if (!byRegion.has(r)) this.unsplit(r, true);
      for (const [r, ps] of byRegion) {
        this.unsplit(r, false);
        const own = this.slots.get(r)!;
        this.setSlot(own.slot, 0, r.gpa, 0, 0n, `Cannot unmap "${r.name}" to guard pages in it`);
        const host = this.hostAddress(r);
        const ids: number[] = [];
        for (const piece of guardPieces(r.gpa, r.size, ps)) {
          const id = this.freeSlots.pop() ?? this.nextSlot++;
          ids.push(id);
          this.setSlot(id, 0, piece.gpa, piece.size, host + BigInt(piece.offset), `Cannot map part of "${r.name}" around guarded pages`);
        }
        this.guardSlots.set(r, ids);
      }
    });
  }

  /** Removes a split region's pieces; with `remap`, maps the region whole on its own slot again. */
  private unsplit(r: MemoryRegion, remap: boolean): void {
    const ids = this.guardSlots.get(r);
    if (ids === undefined) return;
    for (const id of ids) {
      this.setSlot(id, 0, r.gpa, 0, 0n, `Cannot remove a piece of "${r.name}"`);
      this.freeSlots.push(id);
    }
    this.guardSlots.delete(r);
    const own = this.slots.get(r);
    if (remap && own !== undefined) this.setSlot(own.slot, 0, r.gpa, r.size, this.hostAddress(r), `Cannot map "${r.name}" again after guarding pages`);
  }

  /**
   * Merges KVM's dirty bitmaps (guest writes since the last call) into memory's dirty log
   * for every region with trackDirty; read them with memory.collectDirty().
   */
  syncDirtyLog(): void {
    this.withVcpusOut(() => this.readDirtyLogs());
  }

  private readDirtyLogs(): void {
    for (const s of this.slots.values()) {
      if (!s.region.trackDirty) continue;
      const pages = s.region.size / 4096;
      const bytes = Math.ceil(pages / 64) * 8;
      s.bitmap ??= mmapAnonymous(Math.ceil(bytes / 4096) * 4096, 'Cannot allocate a dirty bitmap');
      ioctlPtr(this.vmFd, KVM_GET_DIRTY_LOG, encodeDirtyLog(s.slot, s.bitmap.address), `KVM_GET_DIRTY_LOG for "${s.region.name}" failed`);
      this.memory.mergeDirtyBitmap(s.region, s.bitmap.bytes.subarray(0, bytes));
    }
  }

  /**
   * Runs `fn` with every vCPU out of KVM_RUN: its thread kicked (immediate_exit and the kick signal) and held
   * until `fn` returns, or already out (parked, waiting for a device answer). kvm_pvm failed to emulate guest
   * instructions ("instruction emulation failed", the guest stopped mid-migration) when KVM_GET_DIRTY_LOG or a
   * memory-slot change ran while a vCPU was inside KVM_RUN; when vCPU 0 ran on the main thread that never
   * happened with one vCPU. Synchronous: it waits (at most a second) on G_WAKE, which a held thread bumps.
   */
  private withVcpusOut<T>(fn: () => T): T {
    if (!this.running || this.isPaused || this.servicing) return fn();
    const g = this.g;
    Atomics.store(g, G_HOLD, 1);
    try {
      for (const v of this.vcpus) v.run.bytes[KVM_RUN.IMMEDIATE_EXIT] = 1;
      for (const t of this.threads) {
        const tid = t === undefined || t.dead ? 0 : Atomics.load(t.channel.ctl, CH_TID);
        if (tid > 0) signalThread(tid, KICK_SIGNAL);
      }
      const t0 = performance.now();
      for (;;) {
        const seen = Atomics.load(g, G_WAKE);
        if (this.threads.every((t) => t === undefined || t.dead || this.isOut(t))) break;
        if (performance.now() - t0 > 1000) break;
        Atomics.wait(g, G_WAKE, seen, 5);
      }
      return fn();
    } finally {
      if (!this.halting) for (const v of this.vcpus) v.run.bytes[KVM_RUN.IMMEDIATE_EXIT] = 0;
      Atomics.store(g, G_HOLD, 0);
      Atomics.notify(g, G_HOLD);
    }
  }

  /** A vCPU thread that is not in KVM_RUN and will not enter it while G_HOLD is set. */
  private isOut(t: VcpuThread): boolean {
    const ctl = t.channel.ctl;
    return Atomics.load(ctl, CH_HELD) === 1 || Atomics.load(ctl, CH_STATE) === STATE_REQUEST || Atomics.load(ctl, CH_PARKED) === Atomics.load(this.g, G_RUN) || Atomics.load(ctl, CH_STATUS) === STATUS_EXITED;
  }

  private getSupportedCpuid(): CpuidEntry[] {
    for (let cap = 128; cap <= 4096; cap *= 2) {
      const buf = allocCpuid2(cap);
      if (ioctlPtrRaw(this.kvmFd, KVM_GET_SUPPORTED_CPUID, buf) >= 0) return decodeCpuid2(buf);
      const e = lastErrno();
      if (e !== 7 /* E2BIG */) throw sysError('KVM_GET_SUPPORTED_CPUID failed', e);
    }
    throw new KvmError('KVM_GET_SUPPORTED_CPUID returned more than 4096 entries');
  }

  irqLine(gsi: number): IrqLine {
    const known = this.irqLines.get(gsi);
    if (known) return known;
    if (!Number.isInteger(gsi) || gsi < 0 || gsi > 23) throw new RangeError(`GSI ${gsi} does not exist (the in-kernel IOAPIC has inputs 0-23)`);
    const buf = new Uint8Array(8);
    const vmFd = this.vmFd;
    const line: IrqLine = {
      gsi,
      set(level: boolean): void {
        encodeIrqLevel(gsi, level ? 1 : 0, buf);
        ioctlPtr(vmFd, KVM_IRQ_LINE, buf, `KVM_IRQ_LINE ${gsi} failed`);
      },
    };
    this.irqLines.set(gsi, line);
    return line;
  }

  /**
   * KVM_SIGNAL_MSI: the in-kernel local APICs take the message as a PCI function's write would reach
   * them. The ioctl returns >0 when delivered, 0 when the guest blocked it (no destination), <0 on
   * error. Untested here (no /dev/kvm on the development machine); the encoding is checked against
   * the UAPI header in src/sys/kvm-structs.test.ts.
   */
  signalMsi(address: number, data: number): boolean {
    if (address > 0xffff_ffff || (address & MSI_ADDRESS_MASK) >>> 0 !== MSI_ADDRESS_BASE) return false;
    const r = ioctlPtrRaw(this.vmFd, KVM_SIGNAL_MSI, encodeMsi(address, data, this.msiBuf));
    if (r < 0) throw sysError('KVM_SIGNAL_MSI failed');
    return r > 0;
  }
  private readonly msiBuf = new Uint8Array(KVM_MSI_SIZE);

  requestStop(stop: VmStop): void {
    if (this.stopReason) return;
    this.stopReason = stop;
    this.kick(G_STOP_FINAL);
    this.wake?.();
  }

  /** Makes every vCPU leave KVM_RUN (or not enter it): immediate_exit, then the kick signal to its thread. */
  private kick(why: typeof G_STOP_FINAL | typeof G_STOP_PAUSE): void {
    this.halting = true;
    Atomics.store(this.g, G_STOP, why);
    for (const v of this.vcpus) v.run.bytes[KVM_RUN.IMMEDIATE_EXIT] = 1;
    for (const t of this.threads) {
      if (t === undefined) continue;
      const tid = Atomics.load(t.channel.ctl, CH_TID);
      if (tid > 0 && !t.dead) signalThread(tid, KICK_SIGNAL);
      Atomics.notify(t.channel.ctl, CH_STATE);
    }
  }

  get paused(): boolean {
    return this.isPaused;
  }

  /**
   * Pauses as a stop does (immediate_exit and the kick signal), except that a vCPU thread first gets the
   * answer to the device request it waits for, then parks; run() then completes every vCPU's pending I/O and
   * flushes KVM's pending timers here, and parks until resume(). The threads stay; resume() lets them run.
   */
  pause(): Promise<void> {
    if (this.destroyed || this.stopReason !== undefined || this.isPaused) return Promise.resolve();
    this.pauseWanted = true;
    if (!this.running) {
      this.isPaused = true;
      return Promise.resolve();
    }
    if (!this.halting) this.kick(G_STOP_PAUSE);
    return new Promise((resolve) => this.pauseWaiters.push(resolve));
  }

  /** The vCPUs, in-kernel chips and clock as the KVM structures (kvm-vm-state.ts); paused or before the first run. */
  saveState(): BackendState {
    if (this.running && !this.isPaused) throw new KvmError('kvm: saveState needs the VM paused (or not yet run)');
    return saveKvmVmState(this);
  }

  /** Loads saveState() output of a kvm VM, or of an emu VM converted to the KVM structures; every section is checked first. */
  restoreState(state: BackendState): void {
    if (this.running && !this.isPaused) throw new KvmError('kvm: restoreState needs the VM paused (or not yet run)');
    restoreKvmVmState(this, state);
  }

  resume(): void {
    this.pauseWanted = false;
    if (!this.isPaused) return;
    this.isPaused = false;
    this.wake?.();
  }

  async run(): Promise<VmStop> {
    if (this.destroyed) throw new KvmError('this VM was destroyed; create a new one');
    if (this.running) throw new KvmError('this VM is already running');
    this.running = true;
    // A VM whose run ended can run again: clear the previous stop.
    this.stopReason = undefined;
    try {
      await this.threadsReady;
      if (this.threads.some((t) => t === undefined || t.dead)) await (this.threadsReady = this.startThreads());
      for (const t of this.threads) t?.worker.ref();
      while (this.stopReason === undefined) {
        if (this.pauseWanted) {
          this.settlePause();
          while (this.isPaused && this.stopReason === undefined) await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = undefined;
          continue;
        }
        await this.runPhase();
        if (this.stopReason === undefined && this.pauseWanted) this.completePendingIo();
      }
    } catch (e) {
      this.requestStop({ kind: 'internal-error', vcpu: 0, detail: `host error while running the vCPUs: ${e instanceof Error ? e.message : String(e)}` });
    } finally {
      // Parked threads wait for the next run() without keeping the process alive.
      for (const t of this.threads) t?.worker.unref();
      this.running = false;
      if (this.pauseWaiters.length) this.settlePause();
      this.isPaused = false;
      this.pauseWanted = false;
    }
    return this.stopReason!;
  }

  /**
   * Lets every vCPU thread run (a new G_RUN generation) and answers their exits here, on the main thread,
   * until a stop or a pause has parked them all. Between exits the main thread sleeps in Atomics.wait on
   * G_WAKE, which a vCPU thread's request and the fd watcher's doorbells bump: a futex wake-up, cheaper than
   * one through the event loop. Every SLICE_MS it lets the event loop run (device timers, the API, gdb), as
   * it did when vCPU 0 ran here in slices of KVM_RUN.
   */
  private async runPhase(): Promise<void> {
    const g = this.g;
    this.halting = false;
    this.hangEpoch = 0;
    this.hangRounds = 0;
    Atomics.store(g, G_STOP, 0);
    for (const v of this.vcpus) v.run.bytes[KVM_RUN.IMMEDIATE_EXIT] = 0;
    const gen = Atomics.add(g, G_RUN, 1) + 1;
    Atomics.notify(g, G_RUN);
    const events = this.events;
    let sliceEnd = performance.now() + SLICE_MS;
    let lastHangCheck = performance.now();
    for (;;) {
      const seen = Atomics.load(g, G_WAKE);
      const served = this.serviceVcpus();
      // Doorbells (ioeventfd) and fallback events: their devices run here while the vCPUs go on.
      if (events.pending) events.dispatch();
      if (this.halting && this.allParked(gen)) return;
      const now = performance.now();
      if (!this.halting && now - lastHangCheck >= TICK_MS) {
        lastHangCheck = now;
        this.checkHang();
      }
      if (now >= sliceEnd) {
        await yieldToEventLoop();
        sliceEnd = performance.now() + SLICE_MS;
        continue;
      }
      if (served) continue;
      Atomics.wait(g, G_WAKE, seen, sliceEnd - now);
    }
  }

  /** Every vCPU thread has left KVM_RUN for generation `gen` (or is gone). */
  private allParked(gen: number): boolean {
    for (const t of this.threads) {
      if (t === undefined || t.dead) continue;
      const ctl = t.channel.ctl;
      if (Atomics.load(ctl, CH_PARKED) !== gen && Atomics.load(ctl, CH_STATUS) !== STATUS_EXITED) return false;
    }
    return true;
  }

  /**
   * Re-enters KVM_RUN once per vCPU (here, its thread parked) with immediate_exit set: KVM finishes an I/O or
   * MMIO instruction whose data userspace supplied and returns EINTR without running the guest, so the saved
   * state of a paused VM never holds a half-done instruction (the KVM API asks this before migration).
   */
  private completePendingIo(): void {
    for (const v of this.vcpus) {
      v.run.bytes[KVM_RUN.IMMEDIATE_EXIT] = 1;
      if (ioctlIntRaw(v.fd, KVM_RUN_IOCTL, 0) < 0) {
        const e = lastErrno();
        if (e !== EINTR && e !== EAGAIN) this.requestStop({ kind: 'internal-error', vcpu: v.index, detail: `KVM_RUN (completing I/O for a pause) failed on vCPU ${v.index}: ${sysError('KVM_RUN', e).message}` });
      }
    }
    this.flushPendingTimers();
  }

  /**
   * A LAPIC (or PIT) timer that fired while a vCPU was out of KVM_RUN waits in KVM until the vCPU's next
   * entry, and KVM_GET_LAPIC does not show it: a snapshot would lose that interrupt. So each vCPU enters
   * KVM_RUN once more with a kick signal pending that its KVM signal mask lets through: KVM moves pending
   * timers into the IRR (or starts delivering the interrupt, which VCPU_EVENTS then shows) and returns
   * EINTR without running guest code. Done here, right before the pause settles (and a snapshot may be
   * read), to keep the window for a timer to fire unseen as short as it can be.
   */
  private flushPendingTimers(): void {
    installKickSignal();
    const unblocked = new Uint8Array(12); // kvm_signal_mask {len = 8; sigset = nothing blocked}
    new DataView(unblocked.buffer).setUint32(0, 8, true);
    for (const v of this.vcpus) {
      if (ioctlPtrRaw(v.fd, KVM_SET_SIGNAL_MASK, unblocked) < 0) return; // without it the flush cannot be done safely
      try {
        withKickPending(() => {
          v.run.bytes[KVM_RUN.IMMEDIATE_EXIT] = 0;
          const r = ioctlIntRaw(v.fd, KVM_RUN_IOCTL, 0);
          v.run.bytes[KVM_RUN.IMMEDIATE_EXIT] = 1;
          if (r >= 0) this.requestStop({ kind: 'internal-error', vcpu: v.index, detail: `vCPU ${v.index} ran guest code while its timers were flushed for a pause (exit ${new DataView(v.run.bytes.buffer, v.run.bytes.byteOffset).getUint32(KVM_RUN.EXIT_REASON, true)})` });
        });
      } finally {
        ioctlIntRaw(v.fd, KVM_SET_SIGNAL_MASK, 0);
      }
    }
  }

  private settlePause(): void {
    this.isPaused = true;
    const waiters = this.pauseWaiters;
    this.pauseWaiters = [];
    for (const w of waiters) w();
  }

  private onDebugExit(vcpu: number, exit: KvmDebugExit): void {
    if (this.debugExit !== undefined) this.debugExit(vcpu, exit);
    else this.requestStop({ kind: 'internal-error', vcpu, detail: `KVM_EXIT_DEBUG on vCPU ${vcpu} at 0x${exit.pc.toString(16)} while gdb is not attached` });
  }

  private safeRip(index: number): bigint | undefined {
    try {
      return this.vcpus[index]!.rip();
    } catch {
      return undefined;
    }
  }

  /**
   * Stops with 'hang' when every vCPU is halted with interrupts off (or waits for a SIPI nobody will
   * send). Each thread measures its vCPU on its tick and notes the epoch it read; the verdict needs
   * every vCPU stuck in reports taken after two successive epochs were opened, so a vCPU another woke
   * between two reports (its last report a stale "stuck") cannot cause a false hang.
   */
  private checkHang(): void {
    let fresh = true;
    for (const t of this.threads) {
      if (t === undefined || t.dead) continue;
      const s = Atomics.load(t.channel.ctl, CH_STATUS);
      if (s === STATUS_EXITED) continue;
      if (s !== STATUS_STUCK) {
        this.hangEpoch = 0;
        this.hangRounds = 0;
        return;
      }
      if (Atomics.load(t.channel.ctl, CH_EPOCH) < this.hangEpoch) fresh = false;
    }
    if (!fresh) return; // not all measured since the epoch opened; ask again next tick
    if (this.hangRounds < 2) {
      this.hangRounds++;
      this.hangEpoch = Atomics.add(this.g, G_EPOCH, 1) + 1;
      return;
    }
    const rip = this.safeRip(0);
    this.requestStop({
      kind: 'hang',
      detail: `every vCPU is halted with interrupts disabled (vCPU 0 at rip 0x${(rip ?? 0n).toString(16)}); nothing can wake the guest`,
    });
  }

  // ------------------------------------------------------------ vCPU threads
  /** Starts a thread for each vCPU that has none (at creation, or for one whose thread died); threads live until destroy(). */
  private async startThreads(): Promise<void> {
    const url = new URL('./vcpu-worker.js', import.meta.url);
    const ready: Promise<void>[] = [];
    for (const v of this.vcpus) {
      const have = this.threads[v.index];
      if (have !== undefined && !have.dead) continue;
      // A dead thread's exit counters stay counted.
      if (have !== undefined) have.channel.counts.forEach((n, r) => (this.counts[r]! += n));
      const channel = createChannel();
      const worker = new Worker(url, {
        workerData: { index: v.index, fd: v.fd, runSize: this.runSize, g: this.g.buffer, channel: channel.sab, gen: Atomics.load(this.g, G_RUN) },
      });
      // Parked threads do not keep the process alive; run() holds them while the VM runs.
      worker.unref();
      const t: VcpuThread = { index: v.index, worker, channel, views: [0, 1, 2, 3, 4, 5, 6, 7, 8].map((n) => channel.data.subarray(0, n)), dead: false };
      worker.once('exit', () => {
        t.dead = true;
        Atomics.add(this.g, G_WAKE, 1);
        Atomics.notify(this.g, G_WAKE);
      });
      ready.push(
        new Promise((resolve, reject) => {
          worker.once('message', () => resolve());
          worker.once('error', (e) => reject(new KvmError(`vCPU ${v.index} thread failed: ${e.message}`, { cause: e })));
        }),
      );
      worker.on('error', (e) => this.requestStop({ kind: 'internal-error', vcpu: v.index, detail: `vCPU ${v.index} thread failed: ${e.message}` }));
      this.threads[v.index] = t;
    }
    await Promise.all(ready);
  }

  /** Runs the devices for every posted vCPU exit (main thread); returns how many there were. */
  private serviceVcpus(): number {
    let served = 0;
    for (const t of this.threads) {
      if (t === undefined) continue;
      const ctl = t.channel.ctl;
      if (Atomics.load(ctl, CH_STATE) !== STATE_REQUEST) continue;
      served++;
      this.servicing = true;
      try {
        this.serviceRequest(t);
      } catch (e) {
        this.requestStop({ kind: 'internal-error', vcpu: t.index, detail: `host error while handling an exit of vCPU ${t.index}: ${e instanceof Error ? e.message : String(e)}` });
      } finally {
        this.servicing = false;
      }
      Atomics.store(ctl, CH_STATE, STATE_DONE);
      Atomics.notify(ctl, CH_STATE);
    }
    return served;
  }

  private serviceRequest(t: VcpuThread): void {
    const ctl = t.channel.ctl;
    // Buffered writes reach their devices before any other access does.
    if (this.events.hasZones) this.events.flushCoalesced();
    const kind = ctl[CH_KIND];
    const data = t.channel.data;
    if (kind === KIND_IO) {
      const port = ctl[CH_ADDR_LO]!;
      const size = ctl[CH_SIZE]!;
      const count = ctl[CH_COUNT]!;
      const write = ctl[CH_WRITE] === 1;
      if (count === 1) {
        const d = t.views[size]!;
        if (write) this.pio.write(port, d);
        else this.pio.read(port, d);
        return;
      }
      for (let i = 0; i < count; i++) {
        const d = data.subarray(i * size, (i + 1) * size);
        if (write) this.pio.write(port, d);
        else this.pio.read(port, d);
      }
    } else if (kind === KIND_MMIO) {
      const addr = (ctl[CH_ADDR_LO]! >>> 0) + (ctl[CH_ADDR_HI]! >>> 0) * 0x1_0000_0000;
      const d = t.views[ctl[CH_SIZE]!]!;
      if (this.guardSlots.size > 0 && this.guardAccess?.(t.index, addr, d, ctl[CH_WRITE] === 1) === true) return;
      if (ctl[CH_WRITE] === 1) this.mmio.write(addr, d);
      else this.mmio.read(addr, d);
    } else if (kind === KIND_DEBUG) {
      this.onDebugExit(t.index, decodeDebugExit(data));
    } else if (kind === KIND_EMULATION_FAILURE) {
      const rip = new DataView(data.buffer, data.byteOffset).getBigUint64(0, true);
      data[0] = this.guardSlots.size > 0 && this.emulationFailure?.(t.index, rip) === true ? 1 : 0;
    } else if (kind === KIND_STOP) {
      const text = new TextDecoder().decode(data.slice(0, ctl[CH_DETAIL_LEN]!));
      this.requestStop(JSON.parse(text) as VmStop);
    }
  }

  // ------------------------------------------------------------ reporting
  exitCounts(): Readonly<Record<string, number>> {
    const out: Record<string, number> = {};
    const add = (reason: number, n: number): void => {
      if (!n) return;
      const name = KVM_EXIT_NAMES[reason] ?? `exit-${reason}`;
      out[name] = (out[name] ?? 0) + n;
    };
    this.counts.forEach((n, r) => add(r, n));
    for (const t of this.threads) if (t !== undefined && !t.dead) t.channel.counts.forEach((n, r) => add(r, n));
    return out;
  }

  features(): readonly FeatureStatus[] {
    const pvm = this.cpuPolicy.pvm;
    const apicv = hostApicv();
    const out: FeatureStatus[] = [
      {
        name: 'cpu',
        mode: 'virtualized',
        detail: pvm
          ? 'kvm_pvm: guest ring-3 code runs natively, ring-0 code is emulated by KVM in software (~3 MIPS)'
          : `hardware virtualization, CPU model '${this.cpuPolicy.model}'`,
      },
      apicv
        ? { name: 'local-apic', mode: 'virtualized', detail: 'in-kernel local APIC with APICv/AVIC' }
        : { name: 'local-apic', mode: 'emulated', detail: 'in-kernel local APIC (KVM)' },
      { name: 'ioapic', mode: 'emulated', detail: 'in-kernel IOAPIC (KVM)' },
      { name: 'pic', mode: 'emulated', detail: 'in-kernel 8259 pair (KVM)' },
      { name: 'pit', mode: 'emulated', detail: 'in-kernel 8254 PIT (KVM)' },
    ];
    const pmu = this.hostPmu;
    if (this.pmuDisabled) out.push({ name: 'pmu', mode: undefined, reason: 'disabled with --pmu off (KVM_CAP_PMU_CAPABILITY)' });
    else if (pmu.kind === 'none') out.push({ name: 'pmu', mode: undefined, reason: pmu.reason ?? 'no guest PMU on this host' });
    else if (pmu.kind === 'mediated') out.push({ name: 'pmu', mode: 'mediated', detail: 'KVM mediated vPMU: the guest owns the hardware counters' });
    else out.push({ name: 'pmu', mode: 'emulated', detail: 'KVM vPMU emulated with host perf events' });
    for (const f of cpuFeatureStates(this.supportedCpuid, this.cpuPolicy)) {
      out.push(f.exposed ? { name: `cpuid.${f.name}`, mode: 'virtualized' } : { name: `cpuid.${f.name}`, mode: undefined, reason: f.reason ?? 'not exposed' });
    }
    return out;
  }

  /** The CPUID table vCPU `index` was given (for `tsvmm caps` / info). */
  guestCpuid(index = 0): CpuidEntry[] {
    if (this.cpuModel !== undefined) return modelEntries(this.cpuModel, index);
    return guestCpuid(this.supportedCpuid, this.cpuPolicy, index, this.config.cpus);
  }

  cpuidTable(vcpu = 0): CpuidValue[] {
    return this.guestCpuid(vcpu).map((e) => ({ leaf: e.function, subleaf: e.index, eax: e.eax >>> 0, ebx: e.ebx >>> 0, ecx: e.ecx >>> 0, edx: e.edx >>> 0 }));
  }

  /** A CPU model (--cpu-model): KVM_SET_CPUID2 on every vCPU with its table (before the first KVM_RUN). */
  setCpuidTable(table: readonly CpuidValue[]): void {
    this.cpuModel = table.slice();
    for (const v of this.vcpus) v.setCpuid(modelEntries(this.cpuModel, v.index));
  }

  /** KVM_GET_MSR_INDEX_LIST, kept to the MSRs vCPU 0 can read under its CPUID (KVM_GET_MSRS one by one). */
  msrIndices(): number[] {
    let n = 512;
    let list: number[] = [];
    for (;;) {
      const buf = new Uint8Array(4 + 4 * n);
      const dv = new DataView(buf.buffer);
      dv.setUint32(0, n, true);
      if (ioctlPtrRaw(this.kvmFd, KVM_GET_MSR_INDEX_LIST, buf) >= 0) {
        const count = dv.getUint32(0, true);
        list = Array.from({ length: count }, (_, i) => dv.getUint32(4 + 4 * i, true));
        break;
      }
      const e = lastErrno();
      const need = dv.getUint32(0, true);
      if (e !== 7 /* E2BIG */ || need <= n || need > 65536) throw sysError('KVM_GET_MSR_INDEX_LIST failed', e);
      n = need;
    }
    const v0 = this.vcpus[0]!;
    return list
      .filter((i) => i < 0x800 || i > 0x8ff)
      .filter((i) => {
        try {
          v0.getMsrs([i]);
          return true;
        } catch {
          return false;
        }
      })
      .sort((a, b) => a - b);
  }

  destroy(): void {
    if (this.destroyed) return;
    if (this.running) this.requestStop({ kind: 'host-stop', reason: 'VM destroyed' });
    this.destroyed = true;
    this.events.close();
    Atomics.store(this.g, G_QUIT, 1);
    Atomics.notify(this.g, G_RUN);
    for (const t of this.threads) if (t !== undefined) void t.worker.terminate();
    for (const v of this.vcpus) closeFd(v.fd);
    closeFd(this.vmFd);
    closeFd(this.kvmFd);
    // Views of guest RAM may still be referenced; drop the pages but keep the address range
    // mapped, so a late access reads zeros instead of crashing the process.
    for (const m of this.native.values()) discardPages(m);
  }
}

/** A CPU model's table as KVM_SET_CPUID2 entries for vCPU `apicId` (APIC ids filled in, OSXSAVE left to KVM). */
function modelEntries(table: readonly CpuidValue[], apicId: number): CpuidEntry[] {
  return table.map((v) => {
    const e: CpuidEntry = { function: v.leaf, index: v.subleaf, flags: hasSubleaves(v.leaf) ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0, eax: v.eax, ebx: v.ebx, ecx: v.ecx, edx: v.edx };
    if (v.leaf === 1) {
      e.ebx = ((e.ebx & 0x00ff_ffff) | ((apicId & 0xff) << 24)) >>> 0;
      e.ecx = (e.ecx & ~(1 << 27)) >>> 0;
    } else if (v.leaf === 0xb || v.leaf === 0x1f) {
      e.edx = apicId >>> 0;
    }
    return e;
  });
}

/** Switches KVM's vPMU off for this VM (must run before vCPUs exist). Returns true, or throws saying why it cannot. */
export function disableKvmPmu(vm: { readonly vmFd: number; readonly hostPmu: KvmHostPmu; readonly vcpus: readonly unknown[] }): boolean {
  if (vm.vcpus.length) throw new KvmError('the KVM vPMU can only be disabled before vCPUs are created');
  if (!(vm.hostPmu.capability & KVM_PMU_CAP_DISABLE)) {
    if (vm.hostPmu.kind === 'none') return false; // nothing to disable: the guest has no PMU anyway
    throw new KvmError('this host KVM cannot disable the vPMU per VM (no KVM_CAP_PMU_CAPABILITY); the guest will see the host vPMU');
  }
  ioctlPtr(vm.vmFd, KVM_ENABLE_CAP, encodeEnableCap(KVM_CAP.PMU_CAPABILITY, [BigInt(KVM_PMU_CAP_DISABLE)]), 'KVM_ENABLE_CAP(KVM_CAP_PMU_CAPABILITY, DISABLE) failed');
  return true;
}

/**
 * Applies a PMU event filter with KVM_SET_PMU_EVENT_FILTER. Refuses on a host without a
 * guest PMU (KVM accepts the ioctl there but the filter would have no effect).
 */
export function setKvmPmuEventFilter(vm: KvmVm, filter: PmuEventFilter): void {
  if (vm.hostPmu.kind === 'none') {
    throw new KvmError(`cannot apply a PMU event filter on kvm: the guest has no PMU (${vm.hostPmu.reason}); use --accel emu for filtered counters`);
  }
  if (vm.pmuDisabled) throw new KvmError('cannot apply a PMU event filter: the vPMU is disabled (--pmu off)');
  if (!vm.checkExtension('PMU_EVENT_FILTER')) throw new KvmError('this host KVM has no KVM_CAP_PMU_EVENT_FILTER');
  ioctlPtr(vm.vmFd, KVM_SET_PMU_EVENT_FILTER, encodePmuEventFilter(filter), 'KVM_SET_PMU_EVENT_FILTER failed (check the action, flags and event encoding)');
}

/** Opens /dev/kvm, checks the API and capabilities, and builds a VM with `config.cpus` vCPUs and `config.memBytes` of RAM. */
export function createKvmVm(config: KvmVmOptions): KvmVm {
  const device = config.device ?? KVM_DEVICE;
  let kvmFd: number;
  try {
    kvmFd = openKvm(device);
  } catch (e) {
    if (e instanceof SysError) {
      if (e.code === 'ENOENT') throw new KvmError(`${device} does not exist: KVM is not available on this host (load kvm_intel or kvm_amd, or use --accel emu)`, { cause: e });
      throw new KvmError(`Cannot open ${device}: ${e.message.replace(/^[^:]*: /, '')}`, { cause: e });
    }
    throw e;
  }
  let vmFd = -1;
  try {
    const api = ioctlIntRaw(kvmFd, KVM_GET_API_VERSION, 0);
    if (api !== KVM_API_VERSION) throw new KvmError(`${device} speaks KVM API version ${api}; tsvmm needs version ${KVM_API_VERSION}`);
    for (const [cap, why] of REQUIRED_CAPS) {
      if (ioctlIntRaw(kvmFd, KVM_CHECK_EXTENSION, KVM_CAP[cap]) <= 0) throw new KvmError(`host KVM lacks KVM_CAP_${cap}, needed for ${why}; use --accel emu`);
    }
    const maxVcpus = Math.max(ioctlIntRaw(kvmFd, KVM_CHECK_EXTENSION, KVM_CAP.MAX_VCPUS), ioctlIntRaw(kvmFd, KVM_CHECK_EXTENSION, KVM_CAP.NR_VCPUS), 4);
    if (!Number.isInteger(config.cpus) || config.cpus < 1 || config.cpus > maxVcpus) {
      throw new KvmError(`--cpus ${config.cpus} is out of range: this host's KVM allows 1 to ${maxVcpus} vCPUs`, { exitCode: EXIT.USAGE });
    }
    if (config.memBytes < 1 << 20 || config.memBytes % 4096 !== 0) {
      throw new KvmError(`guest memory of ${config.memBytes} bytes is invalid: use at least 1M, a multiple of 4K`, { exitCode: EXIT.USAGE });
    }
    const runSize = ioctlInt(kvmFd, KVM_GET_VCPU_MMAP_SIZE, 0, 'KVM_GET_VCPU_MMAP_SIZE failed');
    vmFd = ioctlInt(kvmFd, KVM_CREATE_VM, 0, 'KVM_CREATE_VM failed');
    return new KvmVm(config, kvmFd, vmFd, runSize, maxVcpus);
  } catch (e) {
    if (vmFd >= 0) closeFd(vmFd);
    closeFd(kvmFd);
    if (e instanceof SysError) throw new KvmError(e.message, { cause: e });
    throw e;
  }
}

function openKvm(device: string): number {
  return openFile(device, O_RDWR | O_CLOEXEC, `Cannot open ${device}`);
}
