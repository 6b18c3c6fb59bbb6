/**
 * One fuzz run, in its own process (started by driver.ts with an IPC channel): builds the VM exactly as
 * `tsvmm run --accel emu` does, runs it, and tells the parent how it is going every 200 ms (instructions
 * retired, virtual time, whether every vCPU waits for a timer) and how it ended (the stop and the exit
 * status the CLI would give). At its time limit it stops the VM itself; the parent kills it only if that
 * does not work, which means the VMM stopped answering.
 *
 * usage (from the driver): node child.js '{"kernel":..,"initrd":..,"memMiB":16,"cpus":1,"deterministic":true,"seconds":5}'
 */
import { buildVm, describeStop, type BuiltVm } from '../../src/vmm/vm-builder.js';
import { reportError } from '../../src/cli/main.js';
import type { EmuVm } from '../../src/cpu/emu/emu-vm.js';
import type { VmStop } from '../../src/cpu/vm.js';
import { EXIT } from '../../src/util/errors.js';

export interface ChildRequest {
  readonly kernel: string;
  readonly initrd?: string;
  readonly memMiB: number;
  readonly cpus: number;
  readonly deterministic: boolean;
  readonly seconds: number;
  readonly decompress?: 'host' | 'guest';
}

export interface ChildProgress {
  readonly type: 'progress';
  readonly ms: number;
  readonly instructions: number;
  readonly virtualNs: number;
  /** Every vCPU is halted (or waits for SIPI) and a timer or a device can still wake one: idle, not stuck. */
  readonly waitingForTimer: boolean;
  /** The most CPU time (ms) spent between two 200 ms ticks so far (how long the VMM kept the host waiting). */
  readonly maxBlockCpuMs: number;
}

export interface ChildEnd {
  readonly type: 'end';
  readonly stop: VmStop['kind'] | 'build-error';
  readonly status: number;
  readonly message: string | undefined;
  readonly instructions: number;
  /** The run reached the time limit (the child stopped it). */
  readonly timeLimit: boolean;
  /** At the time limit: instructions retired over (at least) the last second, and whether the guest was waiting for a timer. */
  readonly lastSecondInstructions: number;
  readonly waitingForTimer: boolean;
  /** Each vCPU at the end: rip, halted, IF, waiting for SIPI (for reading failures). */
  readonly vcpus: string;
  readonly maxBlockCpuMs: number;
}

export const TIME_LIMIT_REASON = 'fuzz time limit';

function send(msg: ChildProgress | ChildEnd): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) {
      process.stdout.write(JSON.stringify(msg) + '\n', () => resolve());
      return;
    }
    process.send(msg, undefined, {}, () => resolve());
  });
}

/** Work the vCPUs did: retired instructions, REP iterations, and exceptions and interrupts delivered. */
function instructions(vm: EmuVm): number {
  let n = 0;
  for (const c of vm.cpus) n += c.instructions + c.stringIters + c.counts.exceptions + c.counts.interrupts;
  return n;
}

/**
 * Every vCPU is halted (or waits for SIPI) and something can still wake one: a chip timer is due, or a halted
 * vCPU with interrupts enabled has an unmasked interrupt input a device may drive (an idle guest waiting for
 * input, as a shell waits for a key). Idle, not stuck: the VMM reports stuck guests as hangs (74) itself.
 */
function waitingForTimer(vm: EmuVm): boolean {
  if (!vm.cpus.every((c) => c.halted || c.waitSipi)) return false;
  if (vm.chips.nextDeadlineNs() !== Infinity) return true;
  return vm.cpus.some((c) => c.halted && (c.flags & 0x200) !== 0 && vm.chips.mayInterrupt?.(c.index) === true);
}

function vcpuStates(vm: EmuVm): string {
  return vm.cpus.map((c) => `${c.index}: rip 0x${c.rip.toString(16)}${c.halted ? ' halted' : ''}${c.waitSipi ? ' wait-sipi' : ''} IF=${(c.flags >> 9) & 1}`).join('; ');
}

async function main(): Promise<void> {
  const req = JSON.parse(process.argv[2] ?? '{}') as ChildRequest;
  const sink = { write(): void {}, close(): void {} };
  let built: BuiltVm;
  try {
    built = await buildVm(
      {
        kernel: req.kernel,
        initrd: req.initrd,
        cmdline: '',
        memBytes: req.memMiB * 1024 * 1024,
        cpus: req.cpus,
        accel: 'emu',
        serial: { kind: 'none' },
        deterministic: req.deterministic,
        pmu: 'auto',
        pmuShape: {},
        pmuFilter: undefined,
        ...(req.decompress !== undefined ? { kernelDecompress: req.decompress } : {}),
      },
      sink,
    );
  } catch (e) {
    const status = reportError(e);
    await send({ type: 'end', stop: 'build-error', status, message: undefined, instructions: 0, timeLimit: false, lastSecondInstructions: 0, waitingForTimer: false, vcpus: '', maxBlockCpuMs: 0 });
    process.exitCode = status;
    process.disconnect?.();
    return;
  }
  const vm = built.vm as EmuVm;
  const t0 = performance.now();
  const history: { ms: number; insn: number }[] = [{ ms: 0, insn: 0 }];
  let atLimit = { last: 0, waiting: false };
  // CPU time the process spent between two turns of the event loop: the VMM must yield to the host often.
  let cpuAt = process.cpuUsage();
  let maxBlockCpuMs = 0;
  const ticker = setInterval(() => {
    const ms = performance.now() - t0;
    const insn = instructions(vm);
    history.push({ ms, insn });
    if (history.length > 50) history.shift();
    const cpu = process.cpuUsage(cpuAt);
    cpuAt = process.cpuUsage();
    maxBlockCpuMs = Math.max(maxBlockCpuMs, (cpu.user + cpu.system) / 1000);
    void send({ type: 'progress', ms, instructions: insn, virtualNs: vm.clock.nowNs(), waitingForTimer: waitingForTimer(vm), maxBlockCpuMs });
  }, 200);
  const limit = setTimeout(() => {
    const insn = instructions(vm);
    const ms = performance.now() - t0;
    // Progress over at least the last second: against the newest sample that is a second old or more.
    const then = [...history].reverse().find((h) => ms - h.ms >= 1000) ?? { ms: 0, insn: 0 };
    atLimit = { last: insn - then.insn, waiting: waitingForTimer(vm) };
    vm.requestStop({ kind: 'host-stop', reason: TIME_LIMIT_REASON });
  }, req.seconds * 1000);
  let stop: VmStop;
  try {
    stop = await vm.run();
  } finally {
    clearInterval(ticker);
    clearTimeout(limit);
  }
  const timeLimit = stop.kind === 'host-stop' && stop.reason === TIME_LIMIT_REASON;
  const { status, message } = timeLimit ? { status: EXIT.OK, message: undefined } : describeStop(stop);
  if (message !== undefined) process.stderr.write(`tsvmm: ${message}\n`);
  await send({ type: 'end', stop: stop.kind, status, message, instructions: instructions(vm), timeLimit, lastSecondInstructions: atLimit.last, waitingForTimer: atLimit.waiting, vcpus: vcpuStates(vm), maxBlockCpuMs });
  built.devices.destroy();
  vm.destroy();
  process.exitCode = status;
  process.disconnect?.();
}

await main();
