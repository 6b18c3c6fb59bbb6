#!/usr/bin/env node
// What the gdb stub costs the guest: the bench-loop guest on emu run plain, with gdb attached and nothing set,
// with a write watchpoint on the GDT, which shares its page with the start of the sieve bitmap (the page is
// guarded: every access to it takes the
// checking slow path), and with a breakpoint that is never hit. Measures the tsvmm process's CPU time
// (user + sys), rounds interleaved so host load drifts hit every configuration alike.
//
// With --deterministic every run is deterministic, and with gdb attached the stub records the run for
// reverse execution (checkpoints every 2M instructions or more, see src/debug/gdb/README.md): that cost shows.
//
//   node bench/emu/gdb-overhead.mjs [--rounds 3] [--iters 5000000] [--deterministic]
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { benchArgs } from '../lib.mjs';

const root = new URL('../..', import.meta.url).pathname;
const { values } = benchArgs('bench/emu/gdb-overhead.mjs', { options: { rounds: { type: 'string', default: '3' }, iters: { type: 'string', default: '5000000' }, deterministic: { type: 'boolean', default: false } } });
const elf = join(root, 'guests/build/bench-loop.elf');
const tsvmm = join(root, 'bin/tsvmm.js');
const dir = mkdtempSync(join(tmpdir(), 'tsvmm-gdb-bench-'));
// Symbol addresses from the ELF (gdb reads the 32-bit ELF's symbols but, set to x86-64, cannot cast them).
const syms = new Map(execFileSync('nm', [elf], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')).filter((p) => p.length === 3).map((p) => [p[2], `0x${p[0]}`]));

function cpuOf(args, gdbCommands) {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'CPU %U %S', process.execPath, tsvmm, 'run', '--accel', 'emu', '--kernel', elf, '--cmdline', `iters=${values.iters}`, '--serial', 'stdio', ...(values.deterministic ? ['--deterministic'] : []), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      err += d;
      const m = /gdb stub on tcp:127\.0\.0\.1:(\d+)/.exec(err);
      if (m && gdbCommands && !child.gdbStarted) {
        child.gdbStarted = true;
        const f = join(dir, 'cmds');
        writeFileSync(f, ['set architecture i386:x86-64', `target remote 127.0.0.1:${m[1]}`, ...gdbCommands, 'continue'].join('\n') + '\n');
        spawn('gdb', ['-batch', '-nx', '-x', f, elf], { stdio: 'ignore' });
      }
    });
    child.on('close', () => {
      const m = /CPU ([\d.]+) ([\d.]+)/.exec(err);
      if (!m || !/sieve below/.test(out)) return reject(new Error(`run failed: ${err}`));
      resolve(Number(m[1]) + Number(m[2]));
    });
  });
}

const configs = [
  ['plain', [], null],
  ['gdb attached, nothing set', ['--gdb', 'tcp:127.0.0.1:0', '--gdb-wait'], []],
  ['write watchpoint on the sieve bitmap\'s first page', ['--gdb', 'tcp:127.0.0.1:0', '--gdb-wait'], [`watch *(int *)${syms.get('gdt')}`]],
  ['breakpoint never hit', ['--gdb', 'tcp:127.0.0.1:0', '--gdb-wait'], [`break *${syms.get('halt_forever')}`]],
];
const times = configs.map(() => []);
for (let r = 0; r < Number(values.rounds); r++) {
  for (let i = 0; i < configs.length; i++) times[i].push(await cpuOf(configs[i][1], configs[i][2]));
}
rmSync(dir, { recursive: true, force: true });
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const base = med(times[0]);
console.log(`bench-loop iters=${values.iters} on emu${values.deterministic ? ' --deterministic' : ''}, ${values.rounds} rounds, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
configs.forEach(([name], i) => {
  const t = times[i];
  console.log(`${name.padEnd(40)} CPU s median ${med(t).toFixed(2)} (${t.map((x) => x.toFixed(2)).join(', ')})  x${(med(t) / base).toFixed(2)}`);
});
