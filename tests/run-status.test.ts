/**
 * Every way a run ends has an honest status: a signal ends tsvmm as that signal (a shell shows
 * 128 + its number) after saying so, the console's quit key gives 130, and 0 stays the guest's own
 * power-off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { guestPath, tsvmmBin, kvmUnusable } from './guest-runner.js';

/** The echo guest polls COM1 for input forever once its input ends: a run only the host can end. */
const ECHO_READY = 'echo: ready';

function startEcho(accel: 'emu' | 'kvm', viaShell: boolean) {
  const args = [tsvmmBin, 'run', '--kernel', guestPath('echo'), '--accel', accel, '--serial', 'stdio'];
  const child = viaShell
    ? spawn('/bin/sh', ['-c', `"${process.execPath}" ${args.map((a) => `"${a}"`).join(' ')}; echo "status $?" >&2`], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the echo guest did not start: ${stderr}`)), 20_000);
    child.stdout.on('data', () => {
      if (stdout.includes(ECHO_READY)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  const closed = new Promise<{ status: number | null; signal: string | null }>((resolve) => child.on('close', (status, signal) => resolve({ status, signal })));
  return { child, ready, closed, out: () => ({ stdout, stderr }) };
}

const noKvm = kvmUnusable;

for (const accel of ['emu', 'kvm'] as const) {
  for (const [signal, number] of [['SIGTERM', 15], ['SIGINT', 2], ['SIGHUP', 1]] as const) {
    test(`${accel}: ${signal} stops the run, says so and ends tsvmm by ${signal} (status ${128 + number})`, { skip: accel === 'kvm' ? noKvm : false, timeout: 40_000 }, async () => {
      const run = startEcho(accel, false);
      await run.ready;
      const t0 = Date.now();
      run.child.kill(signal);
      const end = await run.closed;
      const { stderr } = run.out();
      assert.equal(end.signal, signal, `ends by the signal; status ${end.status}, stderr: ${stderr}`);
      assert.ok(Date.now() - t0 < 10_000, 'promptly');
      assert.match(stderr, new RegExp(`^tsvmm: stopped by ${signal} \\(exit status ${128 + number}\\)\\n$`));
    });
  }
}

test('emu: SIGUSR1 prints the machine state (vCPUs, the serial port and its interrupt path) and the guest runs on', { timeout: 40_000 }, async () => {
  const run = startEcho('emu', false);
  try {
    await run.ready;
    run.child.kill('SIGUSR1');
    const t0 = Date.now();
    while (!/^COM1: /m.test(run.out().stderr) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
    const { stderr } = run.out();
    assert.match(stderr, /^tsvmm: machine state\nvCPU 0: rip 0x[0-9a-f]+ cpl 0 (running|halted), interrupts (on|off), \d+ instructions\n/m);
    assert.match(stderr, /^I\/O APIC pin 4 \(COM1\): vector \d+, (masked|unmasked)/m);
    assert.match(stderr, /^COM1: IER 0x[0-9a-f]+ .* \d+ bytes sent$/m);
    // Still running: the guest echoes what it is sent after the report.
    run.child.stdin.write('after');
    const t1 = Date.now();
    while (!run.out().stdout.includes('after') && Date.now() - t1 < 10_000) await new Promise((r) => setTimeout(r, 50));
    assert.ok(run.out().stdout.includes('after'), `the guest still echoes: ${run.out().stdout}`);
  } finally {
    run.child.kill('SIGKILL');
    await run.closed;
  }
});

test('emu: a shell sees 143 for a run SIGTERM ended', { timeout: 40_000 }, async () => {
  const run = startEcho('emu', true);
  await run.ready;
  // Signal tsvmm itself (the shell's child), as `kill PID` or a service manager would.
  const pid = spawnSync('pgrep', ['-P', String(run.child.pid)], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
  assert.ok(pid, 'tsvmm runs under the shell');
  process.kill(Number(pid), 'SIGTERM');
  const end = await run.closed;
  assert.equal(end.status, 0, 'the shell itself exits normally');
  // (The shell may add its own "Terminated" line.)
  assert.match(run.out().stderr, /^tsvmm: stopped by SIGTERM \(exit status 143\)\n(Terminated\n)?status 143\n$/);
});

/**
 * `script` gives tsvmm a terminal, so the console is in raw mode and Ctrl-A x is the quit key. The probe opens one:
 * a host (or a namespace with its own /dev) may have script(1) but no usable /dev/ptmx.
 */
function noPseudoTerminal(): string | false {
  const r = spawnSync('script', ['-qec', 'true', '/dev/null'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error !== undefined) return `needs script(1) for a pseudo-terminal (${r.error.message})`;
  if (r.status !== 0) return `script(1) cannot open a pseudo-terminal on this host: ${(r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n')[0]}`;
  return false;
}

test('emu: Ctrl-A x on the console quits with status 130, not the guest power-off status 0', { skip: noPseudoTerminal(), timeout: 40_000 }, async () => {
  const command = [process.execPath, tsvmmBin, 'run', '--kernel', guestPath('echo'), '--accel', 'emu'].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qefc', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
  child.stderr.on('data', (d: Buffer) => (out += d.toString('latin1')));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the echo guest did not start: ${out}`)), 20_000);
    child.stdout.on('data', () => {
      if (out.includes(ECHO_READY)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  child.stdin.write('hi');
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (/ready.*hi/s.test(out)) {
        clearInterval(poll);
        resolve();
      }
    }, 20);
  });
  child.stdin.write('\x01x');
  const status = await new Promise<number | null>((resolve) => child.on('close', (s) => resolve(s)));
  assert.equal(status, 130, out);
  assert.match(out, /tsvmm: quit by the user \(Ctrl-A x\) \(exit status 130\)/);
});
