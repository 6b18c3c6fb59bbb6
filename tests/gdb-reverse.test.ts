/**
 * Reverse execution in the gdb stub with Debian's real gdb in batch mode, on the `debuggee` guest (kmain calls
 * bump(1..4), each adding to `counter`): registers and memory after reverse-stepi equal the ones recorded on the
 * way forward, exactly; reverse-continue goes back to the earlier breakpoint hit; a write watchpoint hit in
 * reverse stops before the writing instruction (gdb shows the value going back); forward again reaches the same
 * state; the guest's output is printed once. And the refusal without --deterministic: gdb names the reason
 * and the VM runs on unaffected, and on kvm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guestPath } from './guest-runner.js';
import { exited, icounts, kvmStubSkip, noGdb, runGdbBatch, startGdbStub, type GdbOutput, type StartedStub } from './gdb-runner.js';

/** The stub, paused until gdb continues it, on `guest` with the console on stdout. */
function startStub(args: string[], guest = 'debuggee', accel = 'emu'): Promise<StartedStub> {
  return startGdbStub(['--gdb-wait', '--serial', 'stdio', '--kernel', guestPath(guest), ...args], accel);
}

/** gdb in batch mode with one -ex per command (an error in one, such as a refused reverse-stepi, does not end the session). */
function runGdb(port: number, cmds: string[], file = guestPath('debuggee').replace(/\.elf$/, '.elf64'), arch: string[] = []): Promise<GdbOutput> {
  const args = ['-batch', '-nx', '-ex', 'set pagination off', '-ex', 'set confirm off', ...arch, '-ex', `target remote 127.0.0.1:${port}`];
  for (const c of cmds) args.push('-ex', c);
  args.push(file);
  return runGdbBatch(args, 150_000);
}

/** The values of gdb's `p` commands ($N = ...), in order. */
const values = (out: GdbOutput): string[] => [...out.stdout.matchAll(/^\$\d+ = (.*)$/gm)].map((m) => m[1]!);

const snap = ['p/x $pc', 'p/x $rsp', 'p/x $rax', 'p/x $rdi', 'p/x $eflags', 'p *(unsigned int *)&counter'];

test('gdb reverse execution on emu --deterministic: reverse-stepi restores registers and memory exactly, reverse-continue, a watchpoint in reverse, forward again', { skip: noGdb, timeout: 240_000 }, async () => {
  const { child, port, output } = await startStub(['--deterministic']);
  try {
    const run = await runGdb(port, [
      'break bump',
      'continue',
      'continue', // bump(2)
      ...snap, // A: at bump(2)'s first instruction
      'stepi',
      ...snap, // B
      'stepi',
      ...snap, // C
      'stepi',
      ...snap, // D: after the store to counter
      'reverse-stepi',
      ...snap, // = C
      'reverse-stepi',
      ...snap, // = B
      'reverse-stepi',
      ...snap, // = A
      'stepi',
      'stepi',
      'stepi',
      ...snap, // = D: forward again from the past
      'continue', // bump(3)
      'p $rdi',
      'reverse-continue', // back to bump(2)
      'p $rdi',
      ...snap, // = A
      'reverse-continue', // bump(1)
      'p $rdi',
      'delete',
      'stepi',
      'reverse-finish', // back out of bump(1) to its call in kmain
      'x/i $pc',
      'p $rdi',
      'reverse-nexti', // the mov $1,%edi before the call
      'x/i $pc',
      'nexti',
      'nexti', // over the call: replayed to the return breakpoint gdb sets
      'p *(unsigned int *)&counter',
      'reverse-continue', // nothing earlier: the start of the history
      'info symbol $pc',
      'continue', // from the start (replayed) to the end: live after the frontier
    ]);
    const out = run.text;
    const v = values(run);
    const n = snap.length;
    const at = (k: number): string[] => v.slice(k * n, (k + 1) * n);
    const [a, b, c, d, c2, b2, a2, d2] = [0, 1, 2, 3, 4, 5, 6, 7].map(at);
    assert.equal(a![3], '0x2', `bump(2): ${out}`);
    assert.notDeepEqual(a, b);
    assert.notDeepEqual(d![5], a![5], 'the counter changed on the way');
    assert.deepEqual(c2, c, out);
    assert.deepEqual(b2, b, out);
    assert.deepEqual(a2, a, out);
    assert.deepEqual(d2, d, out);
    const rest = v.slice(8 * n);
    assert.deepEqual(rest.slice(0, 2), ['3', '2'], out);
    assert.deepEqual(rest.slice(2, 2 + n), a, 'reverse-continue lands exactly where the forward run stopped');
    assert.equal(rest[2 + n], '1');
    assert.deepEqual(rest.slice(3 + n), ['1', '1'], out);
    assert.match(out, /^_start in section \.text/m, 'the history starts where the guest starts');
    assert.match(out, /=> 0x[0-9a-f]+ <kmain\+\d+>:\s+call\s+0x[0-9a-f]+ <bump>/);
    assert.match(out, /=> 0x[0-9a-f]+ <kmain\+\d+>:\s+mov\s+\$0x1,%edi/);
    assert.match(out, /No more reverse-execution history\./);
    assert.match(out, /at the start of the recorded history \(instruction 0\)/);
    assert.match(out, /\[Inferior 1 \(Remote target\) exited with code 01\]/);
    assert.equal(await exited(child), 1);
    // Printed once, though the end of the run was replayed before it ran live.
    assert.equal(output(), 'debuggee: counter = 10\r\n');
  } finally {
    child.kill('SIGKILL');
  }
});

test('gdb reverse execution: a write watchpoint hit in reverse stops before the write, gdb shows the value going back', { skip: noGdb, timeout: 240_000 }, async () => {
  const { child, port, output } = await startStub(['--deterministic']);
  try {
    const run = await runGdb(port, [
      'break bump',
      'continue',
      'continue',
      'continue', // bump(3): counter = 3
      'delete',
      'p *(unsigned int *)&counter',
      'watch *(unsigned int *)&counter',
      'reverse-continue', // bump(2)'s store: 3 back to 1
      'p *(unsigned int *)&counter',
      'p/x $pc',
      'stepi', // the store again
      'p *(unsigned int *)&counter',
      'reverse-stepi',
      'p *(unsigned int *)&counter',
      'delete',
      'monitor reverse',
      'continue',
    ]);
    const out = run.text;
    const v = values(run);
    assert.deepEqual([v[0], v[1], v[3], v[4]], ['3', '1', '3', '1'], out);
    assert.match(run.stdout, /Hardware watchpoint 2: \*\(unsigned int \*\)&counter\s+Old value = 3\s+New value = 1/);
    assert.match(out, /reverse execution: on; history from instruction 0/);
    assert.equal(await exited(child), 1);
    assert.equal(output(), 'debuggee: counter = 10\r\n');
  } finally {
    child.kill('SIGKILL');
  }
});

test('gdb reverse execution with interrupts (apic-timer: LAPIC timer, PIT, IPIs): reverse-continue and reverse-stepi land exactly', { skip: noGdb, timeout: 240_000 }, async () => {
  const { child, port, output } = await startStub(['--deterministic'], 'apic-timer');
  try {
    const regs = ['p/x $pc', 'p/x $rsp', 'p/x $eflags', 'p/x $rax', 'x/wx (long)&count', 'monitor icount'];
    // An ELF32 guest: gdb is told the architecture (the target description is always x86-64).
    const run = await runGdb(
      port,
      [
        'break *(long)&on_lapic_timer',
        'continue',
        'continue',
        ...regs, // the second timer interrupt
        'stepi',
        'stepi',
        ...regs,
        'continue',
        'continue', // the fourth
        'reverse-continue',
        'reverse-continue', // back to the second
        ...regs,
        'stepi',
        'stepi',
        ...regs,
        'reverse-stepi',
        'reverse-stepi',
        ...regs,
        'delete',
        'continue',
      ],
      guestPath('apic-timer'),
      ['-ex', 'set architecture i386:x86-64'],
    );
    const out = run.text;
    // Per group: five values of gdb's (stdout) and the instruction count of the stub's monitor reply (stderr).
    const shown = [...run.stdout.matchAll(/^(\$\d+ = .*|0x[0-9a-f]+ <count>:\s+0x[0-9a-f]+)$/gm)].map((m) => m[1]!.replace(/^\$\d+ = /, ''));
    const counts = icounts(run);
    assert.equal(counts.length, 5, out);
    const lines = (k: number): string => [...shown.slice(k * 5, (k + 1) * 5), `vCPU 0: ${counts[k]![0]}`].join(' ');
    const second = lines(0);
    assert.match(second, /^0x[0-9a-f]+ /, out);
    assert.notEqual(lines(1), second);
    assert.equal(lines(2), second, 'reverse-continue twice: the second interrupt, exactly (registers, memory, instruction count)');
    assert.equal(lines(3), lines(1), 'forward again from there');
    assert.equal(lines(4), second, 'and back again');
    assert.doesNotMatch(out, /diverged/);
    assert.equal(await exited(child), 1);
    assert.match(output(), /apic-timer: all as expected/);
    assert.equal(output().split('apic-timer: local APIC timer, periodic').length, 2, 'printed once');
  } finally {
    child.kill('SIGKILL');
  }
});

test('gdb reverse execution with 2 vCPUs (smp): reverse-continue back to the other vCPU\'s breakpoint hit, reverse-stepi and stepi by the VM\'s instruction count', { skip: noGdb, timeout: 240_000 }, async () => {
  const { child, port, output } = await startStub(['--deterministic', '--cpus', '2'], 'smp');
  try {
    const run = await runGdb(
      port,
      [
        'break *(long)&ap_main',
        'continue', // the AP (thread 2) reaches ap_main
        'delete',
        'break *(long)&kprintf',
        'continue', // the AP prints "AP 1 online"
        'monitor icount',
        'p/x $pc',
        'continue', // the BSP prints
        'monitor icount',
        'reverse-continue', // back to the AP's kprintf
        'monitor icount',
        'p/x $pc',
        'reverse-stepi',
        'monitor icount',
        'stepi',
        'monitor icount',
        'delete',
        'continue',
      ],
      guestPath('smp'),
      ['-ex', 'set architecture i386:x86-64'],
    );
    const out = run.text;
    const counts = icounts(run, 2);
    assert.equal(counts.length, 5, out);
    const [apHit, bspHit, back, stepBack, stepOn] = counts as [number, number][];
    assert.ok(bspHit![0] > apHit![0], out);
    assert.deepEqual(back, apHit, 'reverse-continue lands on the AP\'s hit exactly');
    assert.match(run.stdout, /Thread 2 hit Breakpoint 2, 0x[0-9a-f]+ in kprintf \(\)[\s\S]*Thread 1 hit Breakpoint 2[\s\S]*Thread 2 hit Breakpoint 2/);
    assert.equal(stepBack![0] + stepBack![1], apHit![0] + apHit![1] - 1, 'one instruction of the VM back');
    assert.deepEqual(stepOn, apHit, 'and forward again');
    assert.equal(await exited(child), 1);
    assert.equal(output().split('AP 1 online').length, 2, `printed once: ${output()}`);
  } finally {
    child.kill('SIGKILL');
  }
});

for (const accel of ['emu', 'kvm'] as const) {
  test(`gdb reverse execution on ${accel}${accel === 'emu' ? ' without --deterministic' : ''}: refused with the reason, the VM runs on unaffected`, { skip: noGdb || (accel === 'kvm' && kvmStubSkip()), timeout: 180_000 }, async () => {
    const { child, port, output } = await startStub(accel === 'kvm' ? ['--deterministic'] : [], 'debuggee', accel);
    try {
      const run = await runGdb(port, [
        'break bump',
        'continue',
        'reverse-stepi', // not advertised: gdb refuses by itself
        'set remote reverse-step-packet on',
        'reverse-stepi', // sent anyway: the stub says why
        'p $rdi',
        'info symbol $pc',
        'monitor info',
        'delete',
        'continue',
      ]);
      const out = run.text;
      assert.match(out, /Target remote does not support this command\./);
      assert.match(out, /tsvmm: reverse execution needs --accel emu --deterministic/);
      assert.match(out, /reverse execution: off \((reverse execution needs|it needs) --accel emu --deterministic/);
      assert.deepEqual(values(run), ['1'], out);
      assert.match(out, /^bump in section \.text/m, 'still at the breakpoint');
      assert.equal(await exited(child), 1);
      assert.equal(output(), 'debuggee: counter = 10\r\n');
    } finally {
      child.kill('SIGKILL');
    }
  });
}
