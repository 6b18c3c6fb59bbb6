#!/usr/bin/env node
// Builds the Linux guest of the virtio tests into .cache/linux-disk/ (src/vmm/linux-disk.ts): an
// initramfs that loads Debian's virtio and ext4 modules and switches to an ext4 root on /dev/vda,
// and that root image (mkfs.ext4 -d of a busybox tree). Fetches the kernel package once (about
// 70 MB, apt-get download, SHA-256 checked). Idempotent. Needs the compiled tree (npm run build).
// Usage: node scripts/fetch-linux-disk.mjs [--quiet]
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const mod = join(root, 'dist', 'src', 'vmm', 'linux-disk.js');
if (!existsSync(mod)) {
  process.stderr.write('fetch-linux-disk: dist/ is missing: run npm run build first\n');
  process.exit(1);
}
const { ensureLinuxDisk } = await import(pathToFileURL(mod).href);
try {
  const d = ensureLinuxDisk((m) => {
    if (!quiet) process.stderr.write(`fetch-linux-disk: ${m}\n`);
  });
  process.stdout.write(`${d.kernel}\n${d.initrd}\n${d.rootImage}\n`);
} catch (e) {
  process.stderr.write(`fetch-linux-disk: error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
