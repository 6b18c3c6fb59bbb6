// The cached Linux guest's files are checked by SHA-256 once and then by their stat stamp: a file
// written, replaced or touched since its hash matched is hashed again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileMatchesHash } from './linux-guest.js';

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const later = () => new Promise((r) => setTimeout(r, 20)); // past the file system's time granularity

test('fileMatchesHash: hashes without a stamp, trusts a matching stamp, hashes again after any change', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-stamp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, 'vmlinuz');
  writeFileSync(f, 'kernel bytes v1');
  const MTIME = 1_700_000_000; // a whole second, which utimes sets exactly
  utimesSync(f, MTIME, MTIME);
  const good = sha('kernel bytes v1');

  const first = fileMatchesHash(f, good, undefined);
  assert.equal(first.ok, true);
  assert.ok(first.stamp, 'a matching file gets a stamp');
  assert.equal(fileMatchesHash(f, sha('other'), undefined).ok, false, 'no stamp: the hash decides');
  // With the stamp of its last match the file is not read: a wrong expected hash still says ok.
  assert.equal(fileMatchesHash(f, sha('other'), first.stamp).ok, true, 'a matching stamp is trusted');

  // Same size, content changed, mtime put back as a copy tool would: ctime still moved.
  await later();
  writeFileSync(f, 'kernel bytes v2');
  utimesSync(f, MTIME, MTIME);
  assert.equal(statSync(f).mtimeMs, first.stamp.mtimeMs, 'the same mtime');
  assert.equal(fileMatchesHash(f, good, first.stamp).ok, false, 'rewritten with the old mtime');

  // Replaced by another file (rename over it).
  writeFileSync(f, 'kernel bytes v1');
  const again = fileMatchesHash(f, good, undefined);
  assert.equal(again.ok, true);
  await later();
  writeFileSync(join(dir, 'new'), 'kernel bytes v3');
  renameSync(join(dir, 'new'), f);
  assert.equal(fileMatchesHash(f, good, again.stamp).ok, false, 'replaced');

  rmSync(f);
  assert.equal(fileMatchesHash(f, good, again.stamp).ok, false, 'missing');
});
