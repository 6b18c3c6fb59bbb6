/**
 * The messages between a page (BrowserVm) and the machine's Worker (machine-host.ts). Images cross
 * as transferred ArrayBuffers; COM1 crosses two ByteRings when the page is cross-origin isolated
 * (SharedArrayBuffer available), else `serial` and `input` messages.
 */
import type { VmStop } from '../cpu/vm.js';

export type SchedulerChoice = 'auto' | 'message-channel' | 'post-task' | 'timeout';

export interface ImageTransfer {
  readonly name: string;
  readonly data: ArrayBuffer;
}

export interface BootRequest {
  readonly type: 'boot';
  readonly kernel: ImageTransfer;
  readonly initrd?: ImageTransfer;
  readonly cmdline: string;
  readonly memBytes: number;
  readonly cpus: number;
  readonly deterministic?: boolean;
  /** COM1 rings: guest output to the page, page input to the guest (absent: messages). */
  readonly rings?: { readonly toPage: SharedArrayBuffer; readonly toGuest: SharedArrayBuffer };
  readonly scheduler?: SchedulerChoice;
  /** How often the worker sends `stats` (ms, default 500; 0: only on request). */
  readonly statsEveryMs?: number;
}

export type ToWorker =
  | BootRequest
  | { readonly type: 'pause' }
  | { readonly type: 'resume' }
  /** Power-cycles the machine: a new one from the same images, running. */
  | { readonly type: 'reset' }
  | { readonly type: 'stop' }
  | { readonly type: 'stats' }
  | { readonly type: 'input'; readonly bytes: Uint8Array };

export interface PmuCounts {
  readonly vcpu: number;
  /** The fixed counters (instructions retired, core cycles, reference cycles), as the guest programmed them. */
  readonly fixed: readonly number[];
  readonly gp: readonly number[];
  readonly eventSelects: readonly number[];
}

export interface MachineStats {
  readonly state: 'running' | 'paused' | 'stopped';
  /** Instructions retired by every vCPU (string iterations counted once per instruction). */
  readonly instructions: number;
  /** The guest's clock (ns since power-on). */
  readonly guestNs: number;
  /** Wall time the machine has been running (ms, pauses excluded). */
  readonly runMs: number;
  /** VM exits and events by reason (port I/O, MMIO, HLT, interrupts, exceptions, ...). */
  readonly exits: Readonly<Record<string, number>>;
  readonly pmu: readonly PmuCounts[];
  /** Time the run loop handed the host: yields and sleeps while halted. */
  readonly host: { readonly scheduler: string; readonly yields: number; readonly yieldMs: number; readonly sleepMs: number };
  /** How COM1 crosses to the page. */
  readonly console: 'shared-memory' | 'messages';
}

export type FromWorker =
  /**
   * A machine was built and starts now. `outputFrom`: the output ring's write cursor at that moment, so the
   * page can drop what an earlier machine (before a reset or a new boot) wrote and it had not read yet.
   */
  | { readonly type: 'booted'; readonly description: string; readonly loadMs: number; readonly outputFrom?: number }
  | { readonly type: 'serial'; readonly bytes: Uint8Array }
  | { readonly type: 'stats'; readonly stats: MachineStats }
  | { readonly type: 'stopped'; readonly stop: VmStop; readonly message: string }
  | { readonly type: 'error'; readonly message: string };
