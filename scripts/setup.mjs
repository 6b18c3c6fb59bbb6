#!/usr/bin/env node
// Makes a fresh clone ready: npm packages, compiled TypeScript, guest images; with --test also
// the Debian packages the test suite compares against (QEMU). Fast when everything is up to date.
import { existsSync, statSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const quiet = args.has('--quiet');
const say = (m) => {
  if (!quiet) console.error(`setup: ${m}`);
};

function run(cmd, argv, what) {
  say(`${what}: ${cmd} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, { cwd: root, stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit' });
  if (r.error || r.status !== 0) {
    console.error(`setup: ${what} failed (${r.error ? r.error.message : `exit status ${r.status}`}); see the output above`);
    process.exit(1);
  }
}

function newestMtime(dir, exts) {
  let newest = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'build') walk(p);
      } else if (exts.some((x) => e.name.endsWith(x))) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  if (existsSync(dir)) walk(dir);
  return newest;
}

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

// 1. npm packages
const lock = join(root, 'package-lock.json');
const stamp = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(join(root, 'node_modules', 'typescript')) || !existsSync(join(root, 'node_modules', 'koffi')) || (existsSync(lock) && existsSync(stamp) && statSync(lock).mtimeMs > statSync(stamp).mtimeMs + 1000)) {
  run('npm', existsSync(lock) ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund'], 'installing npm packages');
}

// 2. TypeScript → dist/
const srcNewest = Math.max(newestMtime(join(root, 'src'), ['.ts']), newestMtime(join(root, 'tests'), ['.ts']), newestMtime(join(root, 'bench'), ['.ts']), statSync(join(root, 'tsconfig.json')).mtimeMs);
const distMain = join(root, 'dist', 'src', 'cli', 'main.js');
if (!existsSync(distMain) || statSync(distMain).mtimeMs < srcNewest) {
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], 'compiling TypeScript');
}

// 3. guests (C/assembly → multiboot ELF) with the machine's gcc/binutils
if (!has('gcc') || !has('ld') || !has('objcopy')) {
  if (process.getuid?.() === 0 && has('apt-get')) run('apt-get', ['install', '-y', '--no-install-recommends', 'gcc', 'binutils', 'make'], 'installing gcc/binutils');
  else {
    console.error('setup: gcc and binutils are needed to build the guest programs: install them (Debian: apt-get install gcc binutils)');
    process.exit(1);
  }
}
run(process.execPath, [join(root, 'scripts', 'build-guests.mjs')], 'building guests');

// 4. test-only peers: QEMU for the emulator's differential tests
if (args.has('--test') || args.has('--bench')) {
  const want = [];
  if (!has('qemu-system-x86_64')) want.push('qemu-system-x86');
  if (args.has('--bench') && !existsSync('/usr/share/seabios/bios.bin')) want.push('seabios');
  if (args.has('--bench') && !existsSync('/usr/bin/time')) want.push('time');
  if (want.length) {
    if (process.getuid?.() === 0 && has('apt-get')) {
      run('apt-get', ['update'], 'updating the Debian package lists');
      run('apt-get', ['install', '-y', '--no-install-recommends', ...want], `installing ${want.join(', ')}`);
    } else {
      console.error(`setup: the tests compare against ${want.join(', ')}: install it (Debian: sudo apt-get install ${want.join(' ')})`);
      process.exit(1);
    }
  }
}
