#!/usr/bin/env node
// Fetches the Linux guest `tsvmm run --linux` boots and the Linux tests use, into .cache/:
//   .cache/debian-kernel/vmlinuz            Debian 12's kernel (scripts/fetch-debian-kernel.mjs)
//   .cache/linux-guest/busybox              Debian's busybox-static (apt-get download, SHA-256 checked
//                                           against the package index)
//   .cache/linux-guest/initramfs.cpio       /init, busybox and a few files, written by tsvmm's own cpio writer
//   .cache/linux-guest/manifest.json        SHA-256 of each, verified on every later run
// Idempotent: a second run only verifies. Needs the compiled tree (npm run build).
// Usage: node scripts/fetch-linux-guest.mjs [--quiet]
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const mod = join(root, 'dist', 'src', 'vmm', 'linux-guest.js');
if (!existsSync(mod)) {
  process.stderr.write('fetch-linux-guest: dist/ is missing: run npm run build first\n');
  process.exit(1);
}
const { ensureLinuxGuest } = await import(pathToFileURL(mod).href);
try {
  const g = ensureLinuxGuest((m) => {
    if (!quiet) process.stderr.write(`fetch-linux-guest: ${m}\n`);
  });
  if (!quiet) process.stderr.write(`fetch-linux-guest: ready: ${g.kernelVersion}, busybox ${g.busyboxVersion}\n`);
  process.stdout.write(`${g.kernel}\n${g.initrd}\n`);
} catch (e) {
  process.stderr.write(`fetch-linux-guest: error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
