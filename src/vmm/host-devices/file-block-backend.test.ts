import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBlockBackend } from './file-block-backend.js';

const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');

test('file backend: a flush is an fdatasync of the image (a write acknowledged after it is on the disk)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-blk-'));
  const real = fs.fdatasyncSync;
  const synced: number[] = [];
  try {
    const path = join(dir, 'disk.img');
    writeFileSync(path, new Uint8Array(4096));
    const f = new FileBlockBackend(path, false);
    fs.fdatasyncSync = (fd: number) => {
      synced.push(fd);
      real(fd);
    };
    syncBuiltinESMExports();
    f.write(512, Uint8Array.of(5));
    assert.equal(synced.length, 0, 'a write alone does not sync');
    f.flush();
    assert.equal(synced.length, 1);
    assert.equal(fs.fstatSync(synced[0]!).ino, fs.statSync(path).ino, 'the image is what was synced');
    f.close();
  } finally {
    fs.fdatasyncSync = real;
    syncBuiltinESMExports();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A loop device over a new 8 MiB image, or why there is none (needs root and losetup). */
function loopDevice(image: string): { dev: string } | { why: string } {
  if (process.getuid?.() !== 0) return { why: 'a loop device needs root' };
  writeFileSync(image, new Uint8Array(8 << 20));
  const r = spawnSync('losetup', ['--find', '--show', image], { encoding: 'utf8' });
  if (r.error) return { why: `losetup not installed (${(r.error as NodeJS.ErrnoException).code}; Debian: mount)` };
  if (r.status !== 0) return { why: `losetup could not attach a loop device: ${r.stderr.trim()}` };
  return { dev: r.stdout.trim() };
}

test('file backend: a host block device is a drive of its real size', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-blk-'));
  const image = join(dir, 'loop.img');
  const loop = loopDevice(image);
  // Detached once only: a second detach could take the same device number from another process that attached it since.
  let attached = 'dev' in loop;
  try {
    if ('why' in loop) return t.skip(loop.why);
    const f = new FileBlockBackend(loop.dev, false);
    assert.equal(f.size, 8 << 20, 'not fstat\'s 0');
    f.write(f.size - 512, new Uint8Array(512).fill(7));
    f.flush();
    const b = new Uint8Array(2);
    f.read(f.size - 513, b);
    assert.deepEqual([...b], [0, 7]);
    f.close();
    const ro = new FileBlockBackend(loop.dev, true);
    assert.equal(ro.size, 8 << 20);
    ro.close();
    spawnSync('losetup', ['--detach', loop.dev]);
    attached = false;
    assert.equal(readFileSync(image)[(8 << 20) - 1], 7, 'the write reached the image under the device');
  } finally {
    if (attached && 'dev' in loop) spawnSync('losetup', ['--detach', loop.dev]);
    rmSync(dir, { recursive: true, force: true });
  }
});
