/**
 * The thread of one vCPU: a synchronous KVM_RUN loop that forwards IO, MMIO and debug exits to the
 * main thread through its channel and reports stops there. Every vCPU, vCPU 0 included, has one, so
 * the main thread (devices, ioeventfd dispatch, timers, API) never sits in KVM_RUN: a doorbell's
 * device work runs while the vCPU that rang it goes on. Between runs (a pause, a stop) the thread
 * parks, and the main thread may use the vCPU fd (kvm-vm.ts completes its pending I/O for a pause).
 * Started by KvmVm; never imported by anything else.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { KVM_EXIT, KVM_EXIT_IO_OUT, KVM_INTERNAL_ERROR, KVM_RUN as KVM_RUN_IOCTL } from '../../sys/kvm-abi.js';
import { KVM_RUN } from '../../sys/kvm-structs.js';
import { EAGAIN, EINTR, gettid, installKickSignal, ioctlIntRaw, lastErrno, mmapFd, startThreadTimer, sysError } from '../../sys/libc.js';
import type { VmStop } from '../vm.js';
import { stopForExit } from './exit-decode.js';
import { KvmVcpu } from './kvm-vcpu.js';
import {
  CH_ADDR_HI,
  CH_ADDR_LO,
  CH_COUNT,
  CH_DETAIL_LEN,
  CH_EPOCH,
  CH_HELD,
  CH_KIND,
  CH_PARKED,
  CH_SIZE,
  CH_STATE,
  CH_STATUS,
  CH_TID,
  CH_WRITE,
  G_EPOCH,
  G_HOLD,
  G_QUIT,
  G_RUN,
  G_STOP,
  G_STOP_FINAL,
  G_WAKE,
  KIND_DEBUG,
  KIND_IO,
  KIND_MMIO,
  KIND_EMULATION_FAILURE,
  KIND_STOP,
  STATE_IDLE,
  STATE_REQUEST,
  STATUS_EXITED,
  STATUS_RUNNING,
  STATUS_STUCK,
  TICK_MS,
  createChannel,
} from './vcpu-channel.js';

interface WorkerInit {
  index: number;
  fd: number;
  runSize: number;
  g: SharedArrayBuffer;
  channel: SharedArrayBuffer;
  /** G_RUN when the thread was started: it parks until the next generation. */
  gen: number;
}

const init = workerData as WorkerInit;
const g = new Int32Array(init.g);
const ch = createChannel(init.channel);
const ctl = ch.ctl;
const run = mmapFd(init.fd, init.runSize, `Cannot map kvm_run of vCPU ${init.index}`);
const vcpu = new KvmVcpu(init.index, init.fd, run);
const rb = run.bytes;
const rv = new DataView(rb.buffer, rb.byteOffset, rb.byteLength);

installKickSignal();
const tid = gettid();
Atomics.store(ctl, CH_TID, tid);
const timer = startThreadTimer(tid, TICK_MS);

function wakeMain(): void {
  Atomics.add(g, G_WAKE, 1);
  Atomics.notify(g, G_WAKE);
}

/** Posts the current request and sleeps until the main thread answers (or the VM stops). */
function request(): boolean {
  Atomics.store(ctl, CH_STATE, STATE_REQUEST);
  wakeMain();
  while (Atomics.load(ctl, CH_STATE) === STATE_REQUEST) {
    if (Atomics.load(g, G_STOP) === G_STOP_FINAL) return false;
    Atomics.wait(ctl, CH_STATE, STATE_REQUEST, 50);
  }
  Atomics.store(ctl, CH_STATE, STATE_IDLE);
  return true;
}

function postStop(stop: VmStop): void {
  const bytes = new TextEncoder().encode(JSON.stringify(stop));
  const n = Math.min(bytes.length, ch.data.length);
  ch.data.set(bytes.subarray(0, n));
  ctl[CH_DETAIL_LEN] = n;
  ctl[CH_KIND] = KIND_STOP;
  request();
}

function safeRip(): bigint | undefined {
  try {
    return vcpu.rip();
  } catch {
    return undefined;
  }
}

/** Stays out of KVM_RUN while the main thread holds the vCPUs (G_HOLD). */
function hold(): void {
  Atomics.store(ctl, CH_HELD, 1);
  wakeMain();
  while (Atomics.load(g, G_HOLD) !== 0) Atomics.wait(g, G_HOLD, 1, 50);
  Atomics.store(ctl, CH_HELD, 0);
}

/** Runs the vCPU until the VM pauses or stops (G_STOP), or a stop of its own. */
function loop(): void {
  const counts = ch.counts;
  while (Atomics.load(g, G_STOP) === 0) {
    if (Atomics.load(g, G_HOLD) !== 0) {
      hold();
      continue;
    }
    if (ioctlIntRaw(init.fd, KVM_RUN_IOCTL, 0) < 0) {
      const e = lastErrno();
      if (e !== EINTR && e !== EAGAIN) {
        postStop({ kind: 'internal-error', vcpu: init.index, detail: `KVM_RUN failed on vCPU ${init.index}: ${sysError('KVM_RUN', e).message}` });
        return;
      }
      counts[KVM_EXIT.INTR]!++;
      if (Atomics.load(g, G_STOP) !== 0) return;
      const epoch = Atomics.load(g, G_EPOCH);
      Atomics.store(ctl, CH_STATUS, vcpu.isStuck() ? STATUS_STUCK : STATUS_RUNNING);
      Atomics.store(ctl, CH_EPOCH, epoch);
      continue;
    }
    const reason = rv.getUint32(KVM_RUN.EXIT_REASON, true);
    counts[reason]!++;
    Atomics.store(ctl, CH_STATUS, STATUS_RUNNING);
    if (reason === KVM_EXIT.IO) {
      const size = rb[KVM_RUN.IO_SIZE]!;
      const count = rv.getUint32(KVM_RUN.IO_COUNT, true);
      const off = rv.getUint32(KVM_RUN.IO_DATA_OFFSET, true);
      const len = size * count;
      const out = rb[KVM_RUN.IO_DIRECTION] === KVM_EXIT_IO_OUT;
      ctl[CH_KIND] = KIND_IO;
      ctl[CH_ADDR_LO] = rv.getUint16(KVM_RUN.IO_PORT, true);
      ctl[CH_SIZE] = size;
      ctl[CH_COUNT] = count;
      ctl[CH_WRITE] = out ? 1 : 0;
      if (out) ch.data.set(rb.subarray(off, off + len));
      if (!request()) return;
      if (!out) rb.set(ch.data.subarray(0, len), off);
    } else if (reason === KVM_EXIT.MMIO) {
      const len = Math.min(rv.getUint32(KVM_RUN.MMIO_LEN, true), 8);
      const write = rb[KVM_RUN.MMIO_IS_WRITE] !== 0;
      ctl[CH_KIND] = KIND_MMIO;
      ctl[CH_ADDR_LO] = rv.getInt32(KVM_RUN.MMIO_PHYS_ADDR, true);
      ctl[CH_ADDR_HI] = rv.getInt32(KVM_RUN.MMIO_PHYS_ADDR + 4, true);
      ctl[CH_SIZE] = len;
      ctl[CH_WRITE] = write ? 1 : 0;
      if (write) ch.data.set(rb.subarray(KVM_RUN.MMIO_DATA, KVM_RUN.MMIO_DATA + len));
      if (!request()) return;
      if (!write) rb.set(ch.data.subarray(0, len), KVM_RUN.MMIO_DATA);
    } else if (reason === KVM_EXIT.DEBUG) {
      // A gdb stop or step-over: the main thread decides (it pauses the VM to stop) while this vCPU waits.
      ch.data.set(rb.subarray(0, KVM_RUN.DEBUG_DR7 + 8));
      ctl[CH_KIND] = KIND_DEBUG;
      if (!request()) return;
    } else {
      if (reason === KVM_EXIT.INTERNAL_ERROR && rv.getUint32(KVM_RUN.INTERNAL_SUBERROR, true) === KVM_INTERNAL_ERROR.EMULATION) {
        // Maybe caused by a page the gdb stub guards (a fetch from it): the main thread may take it and run the vCPU again.
        const rip = safeRip();
        if (rip !== undefined) {
          new DataView(ch.data.buffer, ch.data.byteOffset).setBigUint64(0, rip, true);
          ctl[CH_KIND] = KIND_EMULATION_FAILURE;
          if (!request()) return;
          if (ch.data[0] === 1) continue;
        }
      }
      const stop = stopForExit(reason, rb, init.index, safeRip());
      if (stop) {
        postStop(stop);
        return;
      }
    }
  }
}

/** Runs a generation of G_RUN, then parks until the next one; ends when the VM is destroyed. */
function serve(): void {
  let gen = init.gen;
  for (;;) {
    for (;;) {
      if (Atomics.load(g, G_QUIT) !== 0) return;
      const now = Atomics.load(g, G_RUN);
      if (now !== gen) {
        gen = now;
        break;
      }
      Atomics.wait(g, G_RUN, gen, 1000);
    }
    Atomics.store(ctl, CH_STATUS, STATUS_RUNNING);
    loop();
    Atomics.store(ctl, CH_PARKED, gen);
    wakeMain();
  }
}

try {
  parentPort!.postMessage('ready');
  serve();
} catch (e) {
  postStop({ kind: 'internal-error', vcpu: init.index, detail: `vCPU ${init.index} thread failed: ${e instanceof Error ? e.message : String(e)}` });
} finally {
  timer.stop();
  Atomics.store(ctl, CH_STATUS, STATUS_EXITED);
  wakeMain();
}
