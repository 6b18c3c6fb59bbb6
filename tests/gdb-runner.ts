/** What the gdb test files share: whether gdb is here, why the stub cannot run on kvm, starting a stub, its exit. */
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
