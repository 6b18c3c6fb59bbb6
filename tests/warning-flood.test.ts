/** A guest that hits many distinct unimplemented instructions gets a bounded number of warning lines, not a flood. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runCli } from './guest-runner.js';
import { tinyMultiboot } from './tiny-kernels.js';

/** lidt; 60 distinct `0f 38 xx /r` (unimplemented: #UD with a warning) whose #UD handler skips them; debug exit 0. */
function floodKernel(): Uint8Array {
  const base = 0x100020;
  const distinct = 60;
  const code: number[] = [];
  const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  const lidtAt = code.length;
  code.push(0x0f, 0x01, 0x1d, 0, 0, 0, 0); // lidt [idt descriptor]
  for (let i = 0; i < distinct; i++) code.push(0x0f, 0x38, 0x80 + i, 0xc0);
  code.push(0xb0, 0x00, 0xe6, 0xf4, 0xf4); // mov al, 0; out 0xf4, al; hlt
  const handler = base + code.length;
  code.push(0x83, 0x04, 0x24, 0x04, 0xcf); // add dword [esp], 4; iret
  while (code.length % 8) code.push(0x90);
  const idt = base + code.length;
  for (let v = 0; v < 8; v++) code.push(...(v === 6 ? [handler & 0xff, (handler >>> 8) & 0xff, 0x08, 0x00, 0x00, 0x8e, (handler >>> 16) & 0xff, handler >>> 24] : [0, 0, 0, 0, 0, 0, 0, 0]));
  const desc = base + code.length;
  code.push(8 * 8 - 1, 0, ...le32(idt));
  code.splice(lidtAt + 3, 4, ...le32(desc));
  return tinyMultiboot(code);
}

test('emu: 60 distinct unimplemented instructions print 32 warnings, one summary and a count, then the run ends normally', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-warn-'));
  const kernel = join(dir, 'flood.elf');
  writeFileSync(kernel, floodKernel());
  const r = await runCli(['run', '--kernel', kernel, '--accel', 'emu'], { timeoutMs: 30_000 });
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.filter((l) => /unimplemented instruction opcode 0f 38 /.test(l)).length, 32, r.stderr);
  assert.equal(lines.filter((l) => /32 distinct warnings so far: further ones are counted, not shown/.test(l)).length, 1);
  assert.match(r.stderr, /tsvmm: 28 further distinct warnings were not shown\n$/);
  assert.equal(lines.length, 34);
});

test('tsvmm stat lists each unimplemented instruction the guest hit with its count', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-warn-'));
  const kernel = join(dir, 'flood.elf');
  writeFileSync(kernel, floodKernel());
  const r = await runCli(['stat', '--json', '--', '--kernel', kernel, '--accel', 'emu'], { timeoutMs: 30_000 });
  assert.equal(r.status, 1, r.stderr);
  const json = JSON.parse(r.stderr.slice(r.stderr.indexOf('{'), r.stderr.lastIndexOf('}') + 1)) as { unimplemented: Record<string, number> };
  const names = Object.keys(json.unimplemented);
  assert.equal(names.length, 60, r.stderr);
  assert.ok(names.every((n) => /^opcode 0f 38 [89ab][0-9a-f]$/.test(n) && json.unimplemented[n] === 1), names.join(', '));
  const text = await runCli(['stat', '--', '--kernel', kernel, '--accel', 'emu'], { timeoutMs: 30_000 });
  assert.match(text.stderr, /\s60 {2}unimplemented \(#UD\)/);
  assert.match(text.stderr, /\s1 {4}opcode 0f 38 80 *\n/);
});
