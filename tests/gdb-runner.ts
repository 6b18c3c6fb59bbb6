/** What the gdb test files share: whether gdb is here, why the stub cannot run on kvm, starting a stub, its exit, running gdb. */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { kvmUnusable, tsvmmBin } from './guest-runner.js';
import { guestDebugSupport } from '../src/cpu/kvm/guest-debug-probe.js';

const gdbVersion = spawnSync('gdb', ['--version'], { encoding: 'utf8' });
export const noGdb: string | false = gdbVersion.status === 0 ? false : 'no gdb on this host (apt-get install gdb)';

/** Why the stub cannot run on kvm here, or false. */
export function kvmStubSkip(): string | false {
  if (kvmUnusable !== false) return kvmUnusable;
  const p = guestDebugSupport();
  return p.ok ? false : `--gdb on kvm is refused here: ${p.reason}`;
}

export interface StartedStub {
  child: ChildProcess;
  port: number;
  /** Everything the guest printed so far (stdout). */
  output: () => string;
}

/** Starts `tsvmm run --accel ACCEL --gdb tcp:127.0.0.1:0 ARGS...` and resolves with the port it printed. */
export function startGdbStub(args: string[], accel = 'emu'): Promise<StartedStub> {
  const child = spawn(process.execPath, [tsvmmBin, 'run', '--accel', accel, '--gdb', 'tcp:127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('latin1')));
  return new Promise((resolve, reject) => {
    // Generous: a loaded CI host can take long to start Node and load the guest; a child that never gets
    // that far is killed here (the caller never sees it).
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the stub did not start in 120 s: ${err}`));
    }, 120_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /gdb stub on tcp:127\.0\.0\.1:(\d+)/.exec(err);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), output: () => out });
      }
    });
    child.on('exit', () => reject(new Error(`tsvmm exited: ${err}`)));
  });
}

export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.on('exit', (code) => resolve(code));
  });
}

/**
 * What gdb printed. gdb writes a `monitor` command's output (the stub's console output) to stderr and the rest
 * (`p`, `x`, stops) to stdout; in what order the two pipes' data reach this process depends on the host's load
 * (a busy test process reads each pipe's pile at once), so anything whose order matters across both is read
 * from each stream apart. `text` is both, as they arrived: for what the output contains, not where.
 */
export interface GdbOutput {
  readonly stdout: string;
  readonly stderr: string;
  readonly text: string;
}

/** Runs gdb with `args` (batch mode) to its end, killing it after `ms`. */
export function runGdbBatch(args: string[], ms: number): Promise<GdbOutput> {
  return new Promise((resolve) => {
    const g = spawn('gdb', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let text = '';
    g.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      text += d.toString();
    });
    g.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      text += d.toString();
    });
    const timer = setTimeout(() => g.kill('SIGKILL'), ms);
    g.on('close', () => {
      clearTimeout(timer);
      resolve({ stdout, stderr, text });
    });
  });
}

/** The per-vCPU counts of each `monitor icount` in gdb's output, in order (`vcpus` lines each). */
export function icounts(out: GdbOutput, vcpus = 1): number[][] {
  const lines = [...out.stderr.matchAll(/^vCPU (\d+): (\d+)$/gm)].map((m) => [Number(m[1]), Number(m[2])] as const);
  const all: number[][] = [];
  for (let i = 0; i + vcpus <= lines.length; i += vcpus) {
    const group = lines.slice(i, i + vcpus);
    assert.deepEqual(group.map((l) => l[0]), [...Array(vcpus).keys()], `monitor icount lists vCPU 0..${vcpus - 1}: ${out.stderr}`);
    all.push(group.map((l) => l[1]));
  }
  return all;
}
