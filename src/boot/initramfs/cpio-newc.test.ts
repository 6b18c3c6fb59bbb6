import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpioWriter } from './cpio-newc.js';

function sample(): Uint8Array {
  const big = Uint8Array.from({ length: 70_001 }, (_, i) => (i * 131 + 7) & 0xff);
  return new CpioWriter(1_700_000_000)
    .dir('bin')
    .dir('dev')
    .file('bin/tool', big, 0o755)
    .file('init', '#!/bin/sh\necho hi\n', 0o755)
    .symlink('bin/sh', 'tool')
    .device('dev/console', 'char', 5, 1)
    .file('odd-name.txt', 'x')
    .finish();
}

test('layout: 110-byte headers, 4-byte alignment, the trailer last', () => {
  const a = sample();
  const text = new TextDecoder('latin1').decode(a);
  assert.equal(text.slice(0, 6), '070701');
  assert.equal(a.length % 4, 0);
  // Every header starts on a 4-byte boundary.
  let at = 0;
  const names: string[] = [];
  while (at < a.length) {
    assert.equal(at % 4, 0);
    assert.equal(text.slice(at, at + 6), '070701');
    const field = (i: number) => parseInt(text.slice(at + 6 + 8 * i, at + 14 + 8 * i), 16);
    const namesize = field(11);
    const filesize = field(6);
    names.push(text.slice(at + 110, at + 110 + namesize - 1));
    at += 110 + namesize;
    at += (4 - (at & 3)) & 3;
    at += filesize;
    at += (4 - (at & 3)) & 3;
  }
  assert.equal(at, a.length);
  assert.deepEqual(names, ['bin', 'dev', 'bin/tool', 'init', 'bin/sh', 'dev/console', 'odd-name.txt', 'TRAILER!!!']);
  assert.throws(() => new CpioWriter().file('a/../b', ''), /without empty/);
  assert.throws(() => new CpioWriter().file('a', '').file('/a', ''), /added twice/);
});

test('GNU cpio lists and extracts the archive: contents, modes, symlink and device node', (t) => {
  if (spawnSync('cpio', ['--version'], { stdio: 'ignore' }).error) return t.skip('cpio not installed (Debian: apt-get install cpio)');
  const a = sample();
  const list = spawnSync('cpio', ['-t', '-v', '--quiet'], { input: a, encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  const lines = list.stdout.trim().split('\n');
  assert.equal(lines.length, 7);
  assert.match(lines[0]!, /^drwxr-xr-x .* bin$/);
  assert.match(lines[2]!, /^-rwxr-xr-x .* 70001 .* bin\/tool$/);
  assert.match(lines[4]!, /^lrwxrwxrwx .* bin\/sh -> tool$/);
  assert.match(lines[5]!, /^crw------- .* 5,\s+1 .* dev\/console$/);
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-cpio-'));
  try {
    // Device nodes need root to create; extract everything else.
    const x = spawnSync('cpio', ['-i', '-d', '--quiet', '--no-absolute-filenames', '-D', dir, '--nonmatching', 'dev/console'], { input: a, encoding: 'utf8' });
    assert.equal(x.status, 0, x.stderr);
    assert.equal(readFileSync(join(dir, 'init'), 'utf8'), '#!/bin/sh\necho hi\n');
    assert.equal(statSync(join(dir, 'init')).mode & 0o777, 0o755);
    assert.ok(readFileSync(join(dir, 'bin/tool')).equals(Buffer.from(Uint8Array.from({ length: 70_001 }, (_, i) => (i * 131 + 7) & 0xff))));
    assert.equal(readlinkSync(join(dir, 'bin/sh')), 'tool');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
