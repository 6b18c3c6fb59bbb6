/**
 * Test-only: the values C expressions take against this host's <linux/kvm.h>, from a program gcc compiles
 * (sizeof, offsetof, ioctl numbers, capability constants). Without gcc or the headers the test is skipped
 * with the reason and the result is null.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export function uapiValues(t: TestContext, exprs: readonly string[]): number[] | null {
  if (!existsSync('/usr/include/linux/kvm.h') || spawnSync('gcc', ['--version']).status !== 0) {
    t.skip('no gcc or no /usr/include/linux/kvm.h (linux-libc-dev)');
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-kvmprobe-'));
  try {
    const body = exprs.map((e) => `  printf("%lu\\n", (unsigned long)(${e}));`);
    writeFileSync(join(dir, 'p.c'), ['#include <stdio.h>', '#include <stddef.h>', '#include <linux/kvm.h>', 'int main(void) {', ...body, '  return 0;', '}'].join('\n'));
    const cc = spawnSync('gcc', ['-o', join(dir, 'p'), join(dir, 'p.c')], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
    return spawnSync(join(dir, 'p'), { encoding: 'utf8' }).stdout.trim().split('\n').map(Number);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
