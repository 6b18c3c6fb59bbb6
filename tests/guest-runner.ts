/** Runs project guests through the real CLI (as a user would) and reads the manifest. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kvmMissing } from '../src/cpu/kvm/host-requirements.test-util.js';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const tsvmmBin = join(repoRoot, 'bin', 'tsvmm.js');

export interface GuestRun {
  id: string;
  cmdline: string;
  stdin: string;
  cpus: number;
  mem?: string;
  expect: { exact?: string; regex?: string };
  exitStatus: number;
  deterministic: boolean;
  timeoutSec?: number;
  /** Extra tsvmm flags for this run (e.g. --pmu-version 2, --pmu-filter guests/pmu/filters/x.json). */
  tsvmmArgs?: string[];
  /** Backends this run is meant for (default: every backend the guest suits). PMU runs are emu-only here. */
  accel?: ('kvm' | 'emu')[];
}
export interface GuestEntry {
  name: string;
  description: string;
  kvm: boolean;
  kvmNote?: string;
  runs: GuestRun[];
}

export function loadManifest(): GuestEntry[] {
  const m = JSON.parse(readFileSync(join(repoRoot, 'guests', 'manifest.json'), 'utf8')) as { guests: GuestEntry[] };
  return m.guests;
}

export function guestPath(name: string): string {
  return join(repoRoot, 'guests', 'build', `${name}.elf`);
}

/** Why the KVM backend cannot run here (no /dev/kvm, or not permitted), or false. */
export const kvmUnusable: string | false = kvmMissing();
/** Whether the KVM backend can run here (skip with `kvmUnusable`, which says why not). */
export const kvmPresent = kvmUnusable === false;

export interface CliResult {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

export interface RunOptions {
  stdin?: string | Uint8Array;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Runs `tsvmm <args>` with `stdin` piped in; kills it after `timeoutMs`. */
export function runCli(args: string[], opts: RunOptions = {}): Promise<CliResult> {
  return runNodeScript(tsvmmBin, args, opts);
}

/** Runs the Node script `script` with `args` in a process of its own (`env` added to this one's); kills it after `timeoutMs`. */
export function runNodeScript(script: string, args: string[], opts: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 30_000);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => {});
    if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
    else child.stdin.end();
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout: Buffer.concat(out).toString('latin1'), stderr: Buffer.concat(err).toString('utf8'), timedOut, ms: Date.now() - t0 });
    });
  });
}

export function runArgs(guest: GuestEntry, run: GuestRun, accel: 'kvm' | 'emu', extra: string[] = []): string[] {
  const args = ['run', '--kernel', guestPath(guest.name), '--accel', accel, '--cpus', String(run.cpus), '--serial', 'stdio'];
  if (run.cmdline) args.push('--cmdline', run.cmdline);
  if (run.mem) args.push('--mem', run.mem);
  // Paths in tsvmmArgs are relative to the repo root.
  const more = (run.tsvmmArgs ?? []).map((a) => (a.startsWith('guests/') ? join(repoRoot, a) : a));
  return [...args, ...more, ...extra];
}

/** Describes how an output differs from the expectation (empty when it matches). */
export function runsOn(run: GuestRun, accel: 'kvm' | 'emu'): boolean {
  return run.accel === undefined || run.accel.includes(accel);
}

export function outputMismatch(run: GuestRun, stdout: string): string {
  if (run.expect.exact !== undefined) {
    return stdout === run.expect.exact ? '' : `expected ${JSON.stringify(run.expect.exact)}\n     got ${JSON.stringify(stdout)}`;
  }
  if (run.expect.regex !== undefined) {
    return new RegExp(run.expect.regex, 's').test(stdout) ? '' : `expected /${run.expect.regex}/s\n     got ${JSON.stringify(stdout)}`;
  }
  return '';
}
