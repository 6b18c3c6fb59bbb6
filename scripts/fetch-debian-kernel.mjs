#!/usr/bin/env node
// Fetches the current Debian 12 (bookworm) amd64 kernel into .cache/debian-kernel/:
//   vmlinuz      the bzImage (what `tsvmm run --kernel` boots)
//   System.map   its symbol table (to name the raw addresses `tsvmm record` prints for a bzImage)
//   config       the kernel's build configuration
//   VERSION      the package name and version it came from
// The package is resolved through apt: linux-image-amd64 depends on exactly one linux-image-6.1.0-N-amd64,
// which is downloaded with `apt-get download` and unpacked with `dpkg-deb -x` (no root needed for either,
// no install). Idempotent: when vmlinuz is present nothing is fetched (pass --force to refetch).
// Debian's linux-image package ships only a stub System.map ("The real System.map is in the
// linux-image-<version>-dbg package"); --symbols also downloads that -dbg package (about 860 MB, kept only
// in a scratch folder) and extracts its real System.map (a minute of xz), for naming `tsvmm record` samples.
// Usage: node scripts/fetch-debian-kernel.mjs [--force] [--symbols] [--quiet]
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, '.cache', 'debian-kernel');
const META_PACKAGE = 'linux-image-amd64';
const IMAGE_PACKAGE_RE = /^linux-image-\d+\.\d+\.\d+-\d+-amd64$/;

const args = process.argv.slice(2);
const force = args.includes('--force');
const quiet = args.includes('--quiet');
const symbols = args.includes('--symbols');
for (const a of args) {
  if (a !== '--force' && a !== '--quiet' && a !== '--symbols') fail(`unknown option ${a} (usage: node scripts/fetch-debian-kernel.mjs [--force] [--symbols] [--quiet])`);
}

function say(msg) { if (!quiet) process.stderr.write(`fetch-debian-kernel: ${msg}\n`); }
function fail(msg) { process.stderr.write(`fetch-debian-kernel: error: ${msg}\n`); process.exit(1); }

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) {
    if (r.error.code === 'ENOENT') fail(`${cmd} not found: this script needs a Debian/Ubuntu host with apt-get and dpkg-deb`);
    fail(`${cmd} ${argv.join(' ')}: ${r.error.message}`);
  }
  return r;
}

const vmlinuzPath = join(OUT_DIR, 'vmlinuz');
const versionPath = join(OUT_DIR, 'VERSION'); // written last, so its presence means a complete fetch
if (existsSync(vmlinuzPath) && existsSync(versionPath) && !force) {
  const version = readFileSync(versionPath, 'utf8').trim();
  say(`already present: ${vmlinuzPath} (${version}); pass --force to refetch`);
  if (symbols && !hasRealSystemMap()) fetchSymbols(version.split(' ')[0]);
  process.stdout.write(`${vmlinuzPath}\n`);
  process.exit(0);
}
if (existsSync(vmlinuzPath) && !force) say(`${vmlinuzPath} exists but without VERSION (not fetched by this script, or interrupted): refetching`);

// 1. Resolve the image package the meta package depends on.
let dep = run('apt-cache', ['depends', META_PACKAGE]);
let image = parseImageDependency(dep.stdout);
if (!image) {
  say('apt-cache knows no linux-image-amd64 dependency: running apt-get update once');
  const upd = run('apt-get', ['update', '-q']);
  if (upd.status !== 0) fail(`apt-get update failed (exit ${upd.status}; are you root?):\n${upd.stderr.trim()}`);
  dep = run('apt-cache', ['depends', META_PACKAGE]);
  image = parseImageDependency(dep.stdout);
}
if (!image) fail(`cannot resolve the kernel package: \`apt-cache depends ${META_PACKAGE}\` names no linux-image-X.Y.Z-N-amd64 (is this a Debian host with bookworm sources?)\n${dep.stdout}${dep.stderr}`);

const policy = run('apt-cache', ['policy', image]).stdout;
const candidate = /Candidate:\s*(\S+)/.exec(policy)?.[1] ?? 'unknown';
say(`kernel package: ${image} ${candidate}`);

// 2. Download and unpack in a scratch directory next to the output (same filesystem for the final rename).
mkdirSync(join(ROOT, '.cache'), { recursive: true });
const work = mkdtempSync(join(ROOT, '.cache', 'debian-kernel-tmp-'));
chmodSync(work, 0o777); // apt-get download drops to the _apt user, which must be able to write here
try {
  say('apt-get download (about 70 MB)...');
  const dl = run('apt-get', ['download', '-q', image], { cwd: work });
  if (dl.status !== 0) fail(`apt-get download ${image} failed (exit ${dl.status}); check the package registry is reachable:\n${dl.stderr.trim()}`);
  const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
  if (!deb) fail(`apt-get download ${image} produced no .deb in ${work}`);

  const tree = join(work, 'tree');
  const x = run('dpkg-deb', ['-x', join(work, deb), tree]);
  if (x.status !== 0) fail(`dpkg-deb -x ${deb} failed (exit ${x.status}):\n${x.stderr.trim()}`);

  const boot = join(tree, 'boot');
  const files = existsSync(boot) ? readdirSync(boot) : [];
  const pick = (prefix) => files.find((f) => f.startsWith(prefix));
  const vmlinuz = pick('vmlinuz-');
  if (!vmlinuz) fail(`${deb} has no boot/vmlinuz-* (found: ${files.join(', ') || 'no boot/ folder'})`);

  const stage = join(work, 'out');
  mkdirSync(stage);
  copyFileSync(join(boot, vmlinuz), join(stage, 'vmlinuz'));
  const map = pick('System.map-');
  if (map) copyFileSync(join(boot, map), join(stage, 'System.map'));
  const config = pick('config-');
  if (config) copyFileSync(join(boot, config), join(stage, 'config'));
  writeFileSync(join(stage, 'VERSION'), `${image} ${candidate} ${vmlinuz.slice('vmlinuz-'.length)}\n`);

  // Replace the output folder in one step so an interrupted fetch never leaves a half-written vmlinuz.
  rmSync(OUT_DIR, { recursive: true, force: true });
  renameSync(stage, OUT_DIR);
  say(`wrote ${OUT_DIR}/{vmlinuz${map ? ',System.map' : ''}${config ? ',config' : ''},VERSION}`);
  if (symbols && !hasRealSystemMap()) fetchSymbols(image);
  process.stdout.write(`${vmlinuzPath}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** Debian's stub System.map is one line; the real one has ~100,000. */
function hasRealSystemMap() {
  const p = join(OUT_DIR, 'System.map');
  return existsSync(p) && readFileSync(p, 'utf8').length > 100_000;
}

/** Downloads IMAGE-dbg into a scratch folder and extracts only its System.map. */
function fetchSymbols(image) {
  const dbg = `${image}-dbg`;
  const tmp = mkdtempSync(join(ROOT, '.cache', 'debian-kernel-dbg-'));
  chmodSync(tmp, 0o777);
  try {
    say(`apt-get download ${dbg} (about 860 MB, deleted afterwards) for the real System.map...`);
    const dl = run('apt-get', ['download', '-q', dbg], { cwd: tmp });
    if (dl.status !== 0) fail(`apt-get download ${dbg} failed (exit ${dl.status}):\n${dl.stderr.trim()}`);
    const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (!deb) fail(`apt-get download ${dbg} produced no .deb`);
    say('extracting usr/lib/debug/boot/System.map-* (a minute of xz)...');
    const sh = run('sh', ['-c', `dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards './usr/lib/debug/boot/System.map-*'`, 'sh', join(tmp, deb), tmp]);
    if (sh.status !== 0) fail(`extracting System.map from ${deb} failed (exit ${sh.status}):\n${sh.stderr.trim()}`);
    const dir = join(tmp, 'usr', 'lib', 'debug', 'boot');
    const map = existsSync(dir) ? readdirSync(dir).find((f) => f.startsWith('System.map-')) : undefined;
    if (!map) fail(`${deb} has no usr/lib/debug/boot/System.map-*`);
    copyFileSync(join(dir, map), join(OUT_DIR, 'System.map'));
    say(`wrote ${OUT_DIR}/System.map (from ${dbg})`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function parseImageDependency(text) {
  for (const line of text.split('\n')) {
    const m = /^\s*Depends:\s*(\S+)/.exec(line);
    if (m && IMAGE_PACKAGE_RE.test(m[1])) return m[1];
  }
  return undefined;
}
