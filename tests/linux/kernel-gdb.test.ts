// Debian's real gdb in batch mode on the real Debian kernel with its symbols: break at start_kernel, read
// init_task.comm, step, watch a variable. Debian's symbols live in its -dbg package (~860 MB); this test makes
// a small symbol file from the bzImage alone (kallsyms for addresses, BTF for task_struct.comm's offset:
// kernel-gdb-symbols.ts). Needs .cache/debian-kernel/vmlinuz (node scripts/fetch-debian-kernel.mjs), gdb and
// gcc; skipped with the reason otherwise. About 20 s: decompressing the kernel twice (here and in tsvmm) is most of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsvmmBin } from '../guest-runner.js';
import { icounts, runGdbBatch, type GdbOutput } from '../gdb-runner.js';
import { btfMemberOffset, elfSections, kallsyms, vmlinuxOf, writeGdbSymbolFile } from './kernel-gdb-symbols.js';
import { DEFAULT_CMDLINE } from './boot-probe.js';

const vmlinuz = fileURLToPath(new URL('../../../.cache/debian-kernel/vmlinuz', import.meta.url));
const has = (cmd: string): boolean => spawnSync(cmd, ['--version'], { encoding: 'utf8' }).status === 0;
const skip = !existsSync(vmlinuz)
  ? 'no Debian kernel in .cache/debian-kernel (node scripts/fetch-debian-kernel.mjs)'
  : !has('gdb')
    ? 'no gdb on this host (apt-get install gdb)'
    : !has('gcc')
      ? 'no gcc on this host'
      : false;

/** Boots the kernel under the stub (with `extra` options) and runs gdb with `script` (after connecting); resolves with what gdb printed. */
async function kernelGdb(extra: string[], script: (port: number) => string[]): Promise<GdbOutput> {
  const vmlinux = vmlinuxOf(readFileSync(vmlinuz));
  const sec = elfSections(vmlinux);
  const ro = sec.get('.rodata')!;
  const btf = sec.get('.BTF')!;
  const syms = kallsyms(vmlinux.subarray(ro.offset, ro.offset + ro.size));
  const addr = (n: string): bigint => {
    const s = syms.get(n);
    assert.ok(s !== undefined, `kallsyms has ${n}`);
    return s[0];
  };
  const comm = btfMemberOffset(vmlinux.subarray(btf.offset, btf.offset + btf.size), 'task_struct', 'comm');
  // The first thing start_kernel writes that the test can name: `early_boot_irqs_disabled = true` after local_irq_disable().
  const symFile = writeGdbSymbolFile(new Map([['start_kernel', addr('start_kernel')]]), new Map([['early_boot_irqs_disabled', [addr('early_boot_irqs_disabled'), '_Bool']]]), addr('init_task'), comm);
  const child: ChildProcess = spawn(process.execPath, [tsvmmBin, 'run', '--accel', 'emu', '--kernel', vmlinuz, '--mem', '512M', '--cmdline', DEFAULT_CMDLINE, '--serial', 'none', '--gdb', 'tcp:127.0.0.1:0', '--gdb-wait', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-kgdb-'));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`the stub did not start in 5 min: ${err}`)), 300_000);
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /gdb stub on tcp:127\.0\.0\.1:(\d+)/.exec(err);
        if (m !== null) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.on('exit', () => reject(new Error(`tsvmm exited: ${err}`)));
    });
    const cmds = join(dir, 'cmds.gdb');
    writeFileSync(cmds, ['set pagination off', 'set confirm off', `target remote 127.0.0.1:${port}`, ...script(port)].join('\n') + '\n');
    return await runGdbBatch(['-batch', '-nx', '-x', cmds, symFile], 300_000);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    rmSync(dirname(symFile), { recursive: true, force: true });
  }
}

test('real gdb on the Debian kernel: break start_kernel, init_task.comm, stepi, a watchpoint', { skip, timeout: 600_000 }, async () => {
  const run = await kernelGdb([], () => [
    'break start_kernel',
    'continue',
    'p $pc == start_kernel',
    'p init_task.comm',
    'stepi',
    'p $pc != start_kernel',
    'watch early_boot_irqs_disabled',
    'continue',
    'p early_boot_irqs_disabled',
    'kill',
  ]);
  const out = run.text;
  const values = [...run.stdout.matchAll(/^\$\d+ = (.*)$/gm)].map((m) => m[1]);
  assert.deepEqual(values, ['1', '"swapper\\000\\000\\000\\000\\000\\000\\000\\000"', '1', 'true'], out);
  assert.match(out, /Breakpoint 1, start_kernel \(\)/);
  assert.match(run.stdout, /Hardware watchpoint 2: early_boot_irqs_disabled\s+Old value = false\s+New value = true/);
});

test('real gdb on the Debian kernel with --deterministic: the watchpoint in reverse, reverse-continue to start_kernel, forward again to the same write', { skip, timeout: 600_000 }, async () => {
  const regs = ['p/x $pc', 'p/x $rsp', 'p/x $rax', 'p/x $eflags', 'monitor icount'];
  const run = await kernelGdb(['--deterministic'], () => [
    'break start_kernel',
    'continue',
    ...regs, // A: start_kernel
    'watch early_boot_irqs_disabled',
    'continue', // the write false -> true
    ...regs, // B
    'reverse-continue', // back before that write: true -> false
    'p early_boot_irqs_disabled',
    'reverse-continue', // back to start_kernel
    ...regs, // = A
    'continue', // forward (replayed) to the write again
    ...regs, // = B
    'stepi',
    'reverse-stepi',
    ...regs, // = B
    'kill',
  ]);
  const out = run.text;
  // Per group: four values of gdb's (stdout) and the instruction count of the stub's monitor reply (stderr).
  const seen = [...run.stdout.matchAll(/^\$\d+ = (.*)$/gm)].map((m) => m[1]!);
  const counts = icounts(run);
  assert.equal(counts.length, 5, out);
  // Values: A, B, then the value of early_boot_irqs_disabled (one item) shifts the rest by one.
  const group = (k: number): string => [...seen.slice(k < 2 ? k * 4 : k * 4 + 1).slice(0, 4), `vCPU 0: ${counts[k]![0]}`].join(' ');
  const a = group(0);
  const b = group(1);
  assert.notEqual(a, b, out);
  assert.equal(seen[8], 'false', out);
  assert.equal(group(2), a, 'reverse-continue lands on start_kernel exactly');
  assert.equal(group(3), b, 'forward again stops after the same write, exactly');
  assert.equal(group(4), b, 'stepi and reverse-stepi');
  assert.match(run.stdout, /Old value = true\s+New value = false/);
  assert.match(out, /Breakpoint 1, start_kernel \(\)/);
  assert.doesNotMatch(out, /diverged/);
});
