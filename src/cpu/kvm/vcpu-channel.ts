/**
 * The shared-memory channel between a vCPU's worker thread and the main thread, where the devices
 * live. A worker posts an IO/MMIO/debug exit (or a stop) in its channel, bumps and notifies the VM-wide
 * G_WAKE counter the main thread waits on between exits, and sleeps in Atomics.wait until the main
 * thread has run the device and marked the request done.
 */

/** Int32 slots of a channel. */
export const CH_STATE = 0;
export const CH_KIND = 1;
export const CH_ADDR_LO = 2;
export const CH_ADDR_HI = 3;
export const CH_SIZE = 4;
export const CH_WRITE = 5;
export const CH_COUNT = 6;
/** The worker thread's kernel tid, for the kick signal. */
export const CH_TID = 7;
/** CH_STATUS_*: what the worker last saw of its vCPU (for hang detection). */
export const CH_STATUS = 8;
export const CH_DETAIL_LEN = 9;
/** The VM's hang-check epoch (G_EPOCH) the worker read before it measured CH_STATUS. */
export const CH_EPOCH = 10;
/** The run generation (G_RUN) after which the worker left KVM_RUN and parked (its vCPU's I/O completed for a pause). */
export const CH_PARKED = 11;
/** 1 while the worker holds its vCPU out of KVM_RUN for the main thread (G_HOLD). */
export const CH_HELD = 12;
export const CH_INTS = 16;

export const STATE_IDLE = 0;
export const STATE_REQUEST = 1;
export const STATE_DONE = 2;

export const KIND_IO = 1;
export const KIND_MMIO = 2;
export const KIND_STOP = 3;
/** KVM_EXIT_DEBUG: the data area holds kvm_run's first 64 bytes (the debug payload at its kvm_run offsets). */
export const KIND_DEBUG = 4;
/** KVM_EXIT_INTERNAL_ERROR, emulation failure: the data area holds RIP (u64); the main thread answers data[0] = 1 to retry. */
export const KIND_EMULATION_FAILURE = 5;

export const STATUS_RUNNING = 0;
/** Halted with IF=0, or waiting for INIT/SIPI: only another vCPU can wake it. */
export const STATUS_STUCK = 1;
export const STATUS_EXITED = 2;

/** Data area: one page of string I/O or a stop's JSON. */
export const CH_DATA_BYTES = 8192;
/** Exit counters by KVM exit reason. */
export const CH_COUNTERS = 64;

export interface VcpuChannel {
  readonly sab: SharedArrayBuffer;
  readonly ctl: Int32Array;
  readonly data: Uint8Array;
  readonly counts: Uint32Array;
}

export function createChannel(sab = new SharedArrayBuffer(CH_INTS * 4 + CH_DATA_BYTES + CH_COUNTERS * 4)): VcpuChannel {
  return {
    sab,
    ctl: new Int32Array(sab, 0, CH_INTS),
    data: new Uint8Array(sab, CH_INTS * 4, CH_DATA_BYTES),
    counts: new Uint32Array(sab, CH_INTS * 4 + CH_DATA_BYTES, CH_COUNTERS),
  };
}

/** Int32 slots of the VM-wide control block. */
/** 0 while vCPUs may run; G_STOP_FINAL or G_STOP_PAUSE once they must leave KVM_RUN. */
export const G_STOP = 0;
/** The VM stops: a thread waiting for a device answer gives up (the answer no longer matters). */
export const G_STOP_FINAL = 1;
/** The VM pauses: a thread first gets the answer it waits for, so no I/O is lost across the pause. */
export const G_STOP_PAUSE = 2;
/** Bumped (and notified) by a worker for each request or park: the main thread's doorbell. */
export const G_WAKE = 1;
/** The run generation: a parked worker enters KVM_RUN again when it changes. */
export const G_RUN = 2;
/** Bumped by the main thread for each round of the hang check; a vCPU's report counts from the round it read. */
export const G_EPOCH = 3;
/** Set when the VM is destroyed: parked workers end. */
export const G_QUIT = 4;
/** 1 while the main thread wants every vCPU out of KVM_RUN for a moment (KvmVm.withVcpusOut). */
export const G_HOLD = 5;
export const G_INTS = 8;

/** Milliseconds between the kick-timer signals each vCPU thread gets (hang checks, a stop that raced a KVM_RUN entry). */
export const TICK_MS = 10;
