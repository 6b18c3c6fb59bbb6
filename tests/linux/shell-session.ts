// Drives a Linux guest's serial console like a person at a terminal: boots it (tsvmm or QEMU as a child
// process, the console on its stdio), waits for the shell prompt, types commands and collects what each
// prints. Used by the Linux shell test and `npm run bench -- linux`.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { INIT_MARKER, SHELL_PROMPT } from '../../src/vmm/linux-guest.js';
import type { JitMode } from '../../src/cpu/emu/jit/jit-mode.js';

export { INIT_MARKER, SHELL_PROMPT };

/**
 * `deterministic` (emu): guest time follows the instruction count (`--deterministic`), so the guest's own
 * timeouts (soft-lockup and RCU-stall watchdogs, the crypto manager's 60 s wait, the 250 Hz tick's share of
 * the work) do not depend on how fast the host is. On the real-time clock a loaded host (load 16 on 2
 * cores) left emu ~0.2-0.4 MIPS per vCPU: the tick took nearly all of it, soft-lockup and RCU-stall
 * reports followed, and 4 vCPUs never reached the prompt in 15 min. The emu tests use it.
 */
export type Machine =
  | { kind: 'tsvmm'; accel: 'emu' | 'kvm'; decompress: 'host' | 'guest'; deterministic?: boolean; jit?: JitMode }
  | { kind: 'qemu-tcg' };

export interface BootSpec {
  kernel: string;
  initrd: string;
  cmdline: string;
  cpus: number;
  memMiB: number;
  /** More `tsvmm run` options (tsvmm machines only), e.g. the PMU's shape and filter. */
  tsvmmArgs?: readonly string[];
}

const TSVMM = fileURLToPath(new URL('../../../bin/tsvmm.js', import.meta.url));

/** The command line that boots `spec` on `m`, with the console on stdio. */
export function commandFor(m: Machine, spec: BootSpec): { cmd: string; args: string[] } {
  if (m.kind === 'qemu-tcg') {
    return {
      cmd: 'qemu-system-x86_64',
      args: ['-accel', 'tcg', '-m', `${spec.memMiB}M`, '-smp', String(spec.cpus), '-nodefaults', '-nographic', '-no-reboot', '-serial', 'stdio', '-monitor', 'none', '-kernel', spec.kernel, '-initrd', spec.initrd, '-append', spec.cmdline],
    };
  }
  return {
    cmd: process.execPath,
    args: [TSVMM, 'run', '--kernel', spec.kernel, '--initrd', spec.initrd, '--cmdline', spec.cmdline, '--cpus', String(spec.cpus), '--mem', `${spec.memMiB}M`, '--accel', m.accel, '--kernel-decompress', m.decompress, '--serial', 'stdio', ...(m.deterministic === true ? ['--deterministic'] : []), ...(spec.tsvmmArgs ?? [])],
  };
}

export function machineName(m: Machine): string {
  return m.kind === 'qemu-tcg' ? 'QEMU TCG' : `tsvmm ${m.accel} (${m.decompress} decompression${m.jit !== undefined ? `, TSVMM_JIT=${m.jit}` : ''})`;
}

/** The end of the echoed command line: `$?@@"` and its newline, with a wrap's line break anywhere in it. */
const ECHOED_MARKER_END = new RegExp([...'$?@@"'].map((ch) => ch.replace(/[$?]/, '\\$&')).join('\n?') + '\n');

/** Terminal control sequences (ash asks for the cursor position, QEMU's firmware clears the screen). */
const ESCAPES = /\x1b\[[0-9;?]*[A-Za-z]|\x1bc|\r/g;

export class ShellSession {
  readonly child: ChildProcess;
  private raw = '';
  private consumed = 0;
  readonly started = performance.now();
  readonly exited: Promise<{ status: number | null; signal: NodeJS.Signals | null; ms: number }>;
  private waiters: (() => void)[] = [];

  /** `command` overrides the machine's usual command line (e.g. with devices added). */
  constructor(
    readonly machine: Machine,
    spec: BootSpec,
    command?: { cmd: string; args: string[] },
  ) {
    const { cmd, args } = command ?? commandFor(machine, spec);
    // `jit`: the emulator's JIT mode for this machine (the child's TSVMM_JIT), whatever this process runs with.
    const env = machine.kind === 'tsvmm' && machine.jit !== undefined ? { ...process.env, TSVMM_JIT: machine.jit } : process.env;
    this.child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    const take = (d: Buffer) => {
      this.raw += d.toString('latin1');
      for (const w of this.waiters.splice(0)) w();
    };
    this.child.stdout!.on('data', take);
    this.child.stderr!.on('data', take);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (status, signal) => {
        for (const w of this.waiters.splice(0)) w();
        resolve({ status, signal, ms: performance.now() - this.started });
      });
      this.child.on('error', () => resolve({ status: null, signal: null, ms: performance.now() - this.started }));
    });
  }

  /** Everything printed so far, control sequences and carriage returns removed. */
  get text(): string {
    return this.raw.replace(ESCAPES, '');
  }

  /** Resolves with the ms since start when `pattern` appears after what earlier waits consumed. */
  async waitFor(pattern: string | RegExp, timeoutMs: number): Promise<{ ms: number; match: RegExpExecArray | string }> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const t = this.text;
      const rest = t.slice(this.consumed);
      if (typeof pattern === 'string') {
        const i = rest.indexOf(pattern);
        if (i >= 0) {
          this.consumed += i + pattern.length;
          return { ms: performance.now() - this.started, match: pattern };
        }
      } else {
        const m = new RegExp(pattern.source, pattern.flags.replace('g', '')).exec(rest);
        if (m) {
          this.consumed += m.index + m[0].length;
          return { ms: performance.now() - this.started, match: m };
        }
      }
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`${machineName(this.machine)} exited (status ${this.child.exitCode}) before printing ${String(pattern)}; last output:\n${t.slice(-2000)}`);
      const left = deadline - performance.now();
      if (left <= 0) {
        const state = await this.machineState();
        throw new Error(`${machineName(this.machine)}: no ${String(pattern)} within ${(timeoutMs / 1000).toFixed(0)} s; last output:\n${t.slice(-2000)}${state}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * For a failure message: tsvmm's state report (SIGUSR1) twice, a second apart, so whether the guest
   * still runs (its instruction counts) and where its console interrupt stands can be read from it.
   */
  private async machineState(): Promise<string> {
    if (this.machine.kind !== 'tsvmm' || this.child.exitCode !== null || this.child.signalCode !== null) return '';
    const from = this.raw.length;
    for (let k = 0; k < 2; k++) {
      this.child.kill('SIGUSR1');
      await new Promise((r) => setTimeout(r, 1000));
    }
    return `\n--- tsvmm's state reports (SIGUSR1, 1 s apart):\n${this.raw.slice(from).replace(ESCAPES, '')}`;
  }

  type(text: string): void {
    this.child.stdin!.write(text);
  }

  /**
   * Runs one shell command at the prompt (the caller has waited for the first one) and returns what it
   * printed and its exit status: the command is followed by an echo of a marker with `$?`, whose expanded
   * form cannot appear in the command's own echo. Returns once the next prompt is there, so the next
   * command is typed into the line editor and echoed once.
   */
  async run(command: string, timeoutMs = 120_000): Promise<{ output: string; status: number }> {
    this.type(`${command}; echo "@@tsvmm-done $?@@"\n`);
    // The shell echoes the line first; its unexpanded marker ends it. The line editor wraps a long line at
    // 80 columns (it cannot ask a pipe for its width), and the break may fall inside the marker.
    await this.waitFor(ECHOED_MARKER_END, timeoutMs);
    const start = this.consumed;
    const { match } = await this.waitFor(/@@tsvmm-done (\d+)@@\n/, timeoutMs);
    const m = match as RegExpExecArray;
    const body = this.text.slice(start, this.consumed - m[0].length);
    await this.waitFor(SHELL_PROMPT, timeoutMs);
    return { output: body.replace(/\n$/, ''), status: Number(m[1]) };
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
