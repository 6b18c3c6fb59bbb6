#!/usr/bin/env node
// Makes a fresh clone ready: npm packages, compiled TypeScript, guest images; with --test also
// the Debian packages the test suite compares against (QEMU). Fast when everything is up to date.
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, join, dirname } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, staleReason } from './build.mjs';
import { staleGuests } from './build-guests.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// `--run ARGS...` (the ./tsvmm wrapper): once everything is ready, run the CLI with ARGS in this process.
const argv = process.argv.slice(2);
const runAt = argv.indexOf('--run');
const args = new Set(runAt >= 0 ? argv.slice(0, runAt) : argv);
const quiet = args.has('--quiet');
const say = (m) => {
  if (!quiet) console.error(`setup: ${m}`);
};

/** Runs a step; returns null when it worked, else why not (with `optional`), else exits. */
function run(cmd, argv, what, { optional = false } = {}) {
  say(`${what}: ${cmd} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, { cwd: root, stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit' });
  if (r.error || r.status !== 0) {
    const why = `${what} failed (${r.error ? r.error.message : `exit status ${r.status}`})`;
    if (optional) return why;
    console.error(`setup: ${why}; see the output above`);
    process.exit(1);
  }
  return null;
}

/** True when `cmd` is an executable file in a $PATH directory (as `command -v` finds it, without a shell per question). */
function has(cmd) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir || '.', cmd), constants.X_OK);
      return statSync(join(dir || '.', cmd)).isFile();
    } catch {
      return false;
    }
  });
}

// 1. npm packages
const lock = join(root, 'package-lock.json');
const stamp = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(join(root, 'node_modules', 'typescript')) || !existsSync(join(root, 'node_modules', 'koffi')) || (existsSync(lock) && existsSync(stamp) && statSync(lock).mtimeMs > statSync(stamp).mtimeMs + 1000)) {
  run('npm', existsSync(lock) ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund'], 'installing npm packages');
}

// 2. TypeScript → a clean dist/ (scripts/build.mjs decides, as for run-tests.mjs)
const stale = staleReason();
if (stale !== null) {
  say(`compiling TypeScript into a clean dist/ (${stale})`);
  build({ quiet });
}

// 3. guests (C/assembly → multiboot ELF) with the machine's gcc/binutils, when one is missing or older than its
//    sources (checked here: an up-to-date tree starts no compiler and no second Node process).
const staleGuestList = staleGuests();
if (staleGuestList.length > 0) {
  if (!has('gcc') || !has('ld') || !has('objcopy')) {
    if (process.getuid?.() === 0 && has('apt-get')) run('apt-get', ['install', '-y', '--no-install-recommends', 'gcc', 'binutils', 'make'], 'installing gcc/binutils');
    else {
      console.error('setup: gcc and binutils are needed to build the guest programs: install them (Debian: apt-get install gcc binutils)');
      process.exit(1);
    }
  }
  run(process.execPath, [join(root, 'scripts', 'build-guests.mjs')], `building guests (${staleGuestList.join(', ')})`);
}

// 4. test-only peers: QEMU for the emulator's differential tests, Debian's chromium for the browser tests
// (tests/browser/, driven by the playwright-core devDependency) and the browser benchmark, and the tools the
// ACPI/SMBIOS and initramfs tests check tsvmm's output with. Installed where
// this can (root, apt, network); elsewhere the tests that need them skip and say so, and so does this line.
if (args.has('--test') || args.has('--bench')) {
  const want = [];
  if (!has('qemu-system-x86_64')) want.push('qemu-system-x86');
  if (!existsSync('/usr/bin/chromium') && !process.env.CHROMIUM_PATH) want.push('chromium');
  // Independent readers of what tsvmm writes: iasl disassembles the DSDT, dmidecode reads the SMBIOS tables,
  // GNU cpio lists and extracts the initramfs.
  if (args.has('--test') && !has('iasl')) want.push('acpica-tools');
  if (args.has('--test') && !has('dmidecode') && !existsSync('/usr/sbin/dmidecode')) want.push('dmidecode');
  if (args.has('--test') && !has('cpio')) want.push('cpio');
  if (args.has('--bench') && !existsSync('/usr/share/seabios/bios.bin')) want.push('seabios');
  if (args.has('--bench') && !existsSync('/usr/bin/time')) want.push('time');
  if (want.length) {
    let why = null;
    if (process.getuid?.() === 0 && has('apt-get')) {
      why = run('apt-get', ['update'], 'updating the Debian package lists', { optional: true }) ??
        run('apt-get', ['install', '-y', '--no-install-recommends', ...want], `installing ${want.join(', ')}`, { optional: true });
    } else {
      why = process.getuid?.() === 0 ? 'no apt-get on this host' : 'not root';
    }
    if (why !== null) {
      console.error(`setup: cannot install ${want.join(', ')} (${why}): the tests and benchmarks that compare against it will be skipped (Debian: sudo apt-get install ${want.join(' ')})`);
    }
  }
}

// 5. test-only guest images: the Linux guest (Debian 12 kernel, busybox-static, tsvmm's initramfs) for
//    tests/linux/, fetched once into .cache/ with apt-get download and checked by SHA-256 on every run.
if (args.has('--test') || args.has('--bench')) {
  say('fetching the Linux guest images (once, about 70 MB): scripts/fetch-linux-guest.mjs');
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'fetch-linux-guest.mjs'), '--quiet'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.error || r.status !== 0) console.error('setup: the Linux guest images could not be fetched (see above): the Linux tests and benchmarks will be skipped');
  else if (args.has('--test')) {
    // The virtio test's guest: the kernel package's virtio/ext4 modules (once, about 70 MB) and an ext4 root (mkfs.ext4 -d).
    say('building the virtio Linux guest (once): scripts/fetch-linux-disk.mjs');
    const d = spawnSync(process.execPath, [join(root, 'scripts', 'fetch-linux-disk.mjs'), '--quiet'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    if (d.error || d.status !== 0) console.error('setup: the virtio Linux guest could not be built (see above): tests/linux/virtio.test.ts will be skipped');
  }
}

// 6. --run: the CLI itself, here rather than in a second Node process (~0.1 s of start-up each), as bin/tsvmm.js
//    would run it (it reads its arguments from process.argv).
if (runAt >= 0) {
  const bin = join(root, 'bin', 'tsvmm.js');
  process.argv = [process.argv[0], bin, ...argv.slice(runAt + 1)];
  await import(pathToFileURL(bin).href);
}
