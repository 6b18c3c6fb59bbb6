/**
 * Runs a multiboot guest (guests/build/*.elf) under QEMU TCG, the reference for the
 * system-level half of the emu differential suite: the integrator compares the serial
 * output and exit status with `tsvmm run --accel emu` / `--accel kvm`.
 *
 * QEMU is started as
 *   qemu-system-x86_64 -accel tcg -kernel ELF -display none -monitor none -no-reboot
 *     -chardev file,id=com1,path=OUT -serial chardev:com1
 *     -device isa-debug-exit,iobase=0xf4,iosize=0x04 -m MiB -smp N [-append CMDLINE]
 * so COM1 goes to a file (byte exact, nothing else mixed in). With stdin, COM1 is
 * `-chardev stdio,signal=off` instead (QEMU 7.2's file chardev has no input side):
 * the input is piped in whole (QEMU hands bytes to the UART only when it can take them)
 * and stdout, which carries nothing but COM1 with -monitor none, is the output.
 * Status is QEMU's exit status: (code << 1) | 1 after an isa-debug-exit write, 0 for a
 * normal shutdown or a triple fault with -no-reboot.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VmmError } from '../../src/util/errors.js';

export class QemuRunnerError extends VmmError {
  constructor(message: string, cause?: unknown) {
    super('qemu-runner', message, { cause });
  }
}

export interface QemuRunOptions {
  /** Multiboot command line (QEMU -append); QEMU prefixes it with the kernel path. */
  cmdline?: string;
  cpus?: number;
  memMiB?: number;
  /** Bytes fed to COM1 (latin1 when a string). */
  stdin?: string | Uint8Array;
  /** Kill QEMU after this long (default 30 s). */
  timeoutMs?: number;
  /** QEMU -cpu model (default: QEMU's own default, qemu64). */
  cpu?: string;
  /** QEMU binary (default qemu-system-x86_64 from PATH). */
  qemu?: string;
}

export interface QemuRunResult {
  /** Everything the guest wrote to COM1, one char per byte (latin1). */
  serial: string;
  /** QEMU's exit status; -1 when it was killed by the timeout. */
  status: number;
  timedOut: boolean;
  /** QEMU's own diagnostics (stderr), for failure messages. */
  stderr: string;
  ms: number;
}

/** Why QEMU cannot be the reference here (not installed), or false. */
export function qemuMissing(qemu = 'qemu-system-x86_64'): string | false {
  const found = spawnSync('sh', ['-c', `command -v ${qemu}`], { stdio: 'ignore' }).status === 0;
  return found ? false : `${qemu} is not installed (npm test installs the Debian package qemu-system-x86 when run as root)`;
}

/** The QEMU argument list for a run (exported for messages and tests). */
export function qemuArgs(kernel: string, serialPath: string | null, o: QemuRunOptions): string[] {
  const chardev = serialPath !== null ? `file,id=com1,path=${serialPath}` : 'stdio,id=com1,signal=off';
  const args = [
    '-accel', 'tcg',
    '-kernel', kernel,
    '-display', 'none',
    '-monitor', 'none',
    '-no-reboot',
    '-chardev', chardev,
    '-serial', 'chardev:com1',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
    '-m', String(o.memMiB ?? 128),
    '-smp', String(o.cpus ?? 1),
  ];
  if (o.cmdline) args.push('-append', o.cmdline);
  if (o.cpu) args.push('-cpu', o.cpu);
  return args;
}

/** Runs `kernel` under QEMU TCG and resolves with the COM1 output and the exit status. */
export function runUnderQemu(kernel: string, o: QemuRunOptions = {}): Promise<QemuRunResult> {
  if (!existsSync(kernel)) return Promise.reject(new QemuRunnerError(`Guest kernel ${kernel} not found (build the guests: node scripts/build-guests.mjs)`));
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-qemu-'));
  const input = o.stdin === undefined || o.stdin.length === 0 ? null : typeof o.stdin === 'string' ? Buffer.from(o.stdin, 'latin1') : Buffer.from(o.stdin);
  const serialPath = input === null ? join(dir, 'com1.out') : null;
  const args = qemuArgs(kernel, serialPath, o);
  const timeoutMs = o.timeoutMs ?? 30_000;
  const t0 = Date.now();
  return new Promise<QemuRunResult>((resolve, reject) => {
    const child = spawn(o.qemu ?? 'qemu-system-x86_64', args, { stdio: [input === null ? 'ignore' : 'pipe', input === null ? 'ignore' : 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    if (input !== null && child.stdin !== null) {
      child.stdin.on('error', () => {
        // QEMU exited before reading all input: the guest's output tells what happened.
      });
      child.stdin.end(input);
    }
    let stderr = '';
    let timedOut = false;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      if (stderr.length < 16384) stderr += s;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const finish = (): string => {
      clearTimeout(timer);
      let serial = Buffer.concat(out).toString('latin1');
      try {
        if (serialPath !== null) serial = existsSync(serialPath) ? readFileSync(serialPath).toString('latin1') : '';
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      return serial;
    };
    child.on('error', (e) => {
      finish();
      reject(new QemuRunnerError(`Cannot start qemu-system-x86_64 (install the Debian package qemu-system-x86): ${e.message}`, e));
    });
    child.on('close', (code) => {
      const serial = finish();
      resolve({ serial, status: timedOut ? -1 : (code ?? -1), timedOut, stderr, ms: Date.now() - t0 });
    });
  });
}
