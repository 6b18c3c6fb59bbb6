/** tsvmm stat and tsvmm record on project guests. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runCli, guestPath } from './guest-runner.js';

interface StatJson {
  stop: string;
  instructions: { total: number; user: number; kernel: number };
  branches: { total: number; user: number; kernel: number };
  cycles: { total: number };
  exits: Record<string, number>;
}

function statJson(stderr: string): StatJson {
  return JSON.parse(stderr.slice(stderr.indexOf('{'))) as StatJson;
}

test('stat counts a guest run with a user/kernel split, and the same run counts the same again', async () => {
  const args = ['stat', '--json', '--', '--kernel', guestPath('alu'), '--cmdline', 'n=100 sieve=2000 crc=512', '--deterministic'];
  const a = await runCli(args, { timeoutMs: 60_000 });
  assert.equal(a.status, 1, a.stderr);
  const s = statJson(a.stderr);
  assert.equal(s.stop, 'debug-exit');
  assert.equal(s.instructions.total, s.instructions.user + s.instructions.kernel);
  assert.ok(s.instructions.user > 0 && s.instructions.kernel > 0, 'alu runs its work in ring 3 and its setup in ring 0');
  assert.ok(s.branches.total > 0 && s.branches.total < s.instructions.total);
  assert.ok((s.exits['io'] ?? 0) > 0, 'serial output is port I/O');
  const b = statJson((await runCli(args, { timeoutMs: 60_000 })).stderr);
  assert.deepEqual(b.instructions, s.instructions, 'deterministic runs count identically');
  assert.deepEqual(b.branches, s.branches);
});

test('record samples exactly every N instructions and symbolises with the guest ELF', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-record-'));
  const folded = join(dir, 'out.folded');
  const stat = statJson((await runCli(['stat', '--json', '--', '--kernel', guestPath('hello'), '--deterministic'], { timeoutMs: 60_000 })).stderr);
  const every = 97;
  const r = await runCli(['record', '--every', String(every), '-o', folded, '--', '--kernel', guestPath('hello'), '--deterministic'], { timeoutMs: 60_000 });
  assert.equal(r.status, 1, r.stderr);
  const lines = readFileSync(folded, 'utf8').trim().split('\n');
  const total = lines.reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  assert.equal(total, Math.floor(stat.instructions.total / every), 'one sample per N retired instructions');
  assert.ok(lines.every((l) => /^guest;(user|kernel);\S+ \d+$/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /;(serial_putc|kprintf|serial_write|outb|emit_\w+|format\S*) /.test(l)), `printing functions appear: ${lines.join('\n')}`);
  assert.match(r.stderr, /samples, one every 97 instructions, \d+ symbols/);
});

test('stat refuses --accel kvm with a reason', async () => {
  const r = await runCli(['stat', '--', '--kernel', guestPath('hello'), '--accel', 'kvm'], { timeoutMs: 20_000 });
  assert.equal(r.status, 64);
  assert.match(r.stderr, /tsvmm stat needs the emulator's exact counters/);
});
