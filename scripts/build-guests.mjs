#!/usr/bin/env node
// Builds the project's guest programs (guests/<name>/ + guests/lib/) into multiboot v1 ELF32 kernels at
// guests/build/<name>.elf with the machine's gcc/binutils. The list of guests and their build settings come from
// guests/manifest.json. Incremental: a guest is rebuilt only when one of its inputs is newer than its ELF.
//
// usage: node scripts/build-guests.mjs [--force] [--quiet] [name ...]
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, renameSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const GUESTS = join(ROOT, 'guests');
const LIB = join(GUESTS, 'lib');
const OUT = join(GUESTS, 'build');
const SELF = fileURLToPath(import.meta.url);

const args = process.argv.slice(2);
const force = args.includes('--force');
const quiet = args.includes('--quiet');
const only = args.filter((a) => !a.startsWith('--'));

const CC = process.env.CC ?? 'gcc';
const OBJCOPY = process.env.OBJCOPY ?? 'objcopy';

function fail(msg) {
  console.error(`build-guests: ${msg}`);
  process.exit(1);
}

function requireTool(tool, pkg) {
  const r = spawnSync(tool, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    fail(`'${tool}' not found or not working (${r.error?.message ?? `exit ${r.status}`}); install ${pkg} (Debian: apt-get install ${pkg})`);
  }
}

// Code generation shared with host programs built from a guest's source (see buildNative).
const CODEGEN_FLAGS = ['-fno-builtin', '-O2', '-std=gnu11', '-Wall', '-Wextra', '-Werror'];
// Flags shared by both widths: freestanding, no PIC, sections for GC.
const COMMON_FLAGS = [
  ...CODEGEN_FLAGS, '-ffreestanding', '-nostdlib', '-nostdinc', '-static', '-fno-pic', '-fno-pie', '-no-pie',
  '-fno-stack-protector', '-fno-asynchronous-unwind-tables', '-fno-unwind-tables',
  '-ffunction-sections', '-fdata-sections', '-g0',
  '-Wl,--gc-sections', '-Wl,--build-id=none', '-Wl,-z,max-page-size=0x1000', '-Wl,-z,noexecstack',
  '-Wl,--no-warn-rwx-segments', '-I', LIB, '-T', join(LIB, 'link.ld'),
];
// The one switch for floating point and vector registers (manifest build.fpu): 'none' (the default) keeps the
// compiler to general registers, as every guest runtime needs while it does not enable x87/SSE; 'sse2' lets it
// use SSE2 (and vectorise), for guests that enable SSE themselves (realcode does when built so).
const FPU_FLAGS = {
  none: { i386: ['-mgeneral-regs-only'], x86_64: ['-mgeneral-regs-only'] },
  sse2: { i386: ['-msse2', '-mfpmath=sse'], x86_64: [] },
};
const ARCH_FLAGS = {
  i386: ['-m32', '-march=i686', '-Wl,-m,elf_i386'],
  x86_64: ['-m64', '-march=x86-64', '-mno-red-zone', '-mcmodel=small', '-Wl,-m,elf_x86_64'],
};

function gccIncludeDir() {
  // -nostdinc drops the libc headers; keep gcc's own freestanding ones (stdint.h, stddef.h, stdarg.h).
  const r = spawnSync(CC, ['-print-file-name=include'], { encoding: 'utf8' });
  return r.stdout.trim();
}

function listSources(dir, arch) {
  if (!existsSync(dir)) return [];
  const other = arch === 'i386' ? '64' : '32';
  return readdirSync(dir)
    .filter((f) => /\.(c|S)$/.test(f))
    .filter((f) => !new RegExp(`-${other}\\.(c|S)$`).test(f))
    .sort()
    .map((f) => join(dir, f));
}

function listAll(dir) {
  return existsSync(dir) ? readdirSync(dir).filter((f) => !f.startsWith('.')).map((f) => join(dir, f)).filter((p) => statSync(p).isFile()) : [];
}

function loadManifest() {
  const path = join(GUESTS, 'manifest.json');
  let m;
  try {
    m = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    fail(`cannot read ${path}: ${e.message}`);
  }
  if (!Array.isArray(m.guests)) fail(`${path}: expected a "guests" array`);
  validateManifest(m, path);
  return m;
}

// The test suites of both backends iterate over the manifest: catch malformed entries here, at build time.
function validateManifest(m, path) {
  const ids = new Set();
  for (const g of m.guests) {
    const where = `${path}: guest ${JSON.stringify(g.name)}`;
    const b = g.build ?? {};
    if (b.fpu !== undefined && !FPU_FLAGS[b.fpu]) fail(`${where}: build.fpu must be one of ${Object.keys(FPU_FLAGS).join(', ')}`);
    if (b.cflags !== undefined && (!Array.isArray(b.cflags) || !b.cflags.every((f) => typeof f === 'string' && f.startsWith('-')))) {
      fail(`${where}: build.cflags must be a list of compiler options`);
    }
    if (b.native !== undefined && typeof b.native !== 'boolean') fail(`${where}: build.native must be true or false`);
    if (typeof g.name !== 'string' || !/^[a-z0-9-]+$/.test(g.name)) fail(`${where}: name must be kebab-case`);
    if (typeof g.description !== 'string') fail(`${where}: missing description`);
    if (typeof g.kvm !== 'boolean') fail(`${where}: kvm must be true or false`);
    if (!Array.isArray(g.runs) || g.runs.length === 0) fail(`${where}: needs at least one run`);
    for (const r of g.runs) {
      const at = `${where}, run ${JSON.stringify(r.id)}`;
      if (typeof r.id !== 'string' || ids.has(r.id)) fail(`${at}: run ids must be unique strings`);
      ids.add(r.id);
      if (typeof r.cmdline !== 'string' || typeof r.stdin !== 'string') fail(`${at}: cmdline and stdin must be strings`);
      if (!Number.isInteger(r.cpus) || r.cpus < 1) fail(`${at}: cpus must be an integer >= 1`);
      if (!Number.isInteger(r.exitStatus) || r.exitStatus < 0 || r.exitStatus > 255) fail(`${at}: exitStatus must be 0..255`);
      const e = r.expect ?? {};
      if (typeof e.exact !== 'string' && typeof e.regex !== 'string') fail(`${at}: expect needs "exact" or "regex"`);
      if (typeof e.regex === 'string') {
        try { new RegExp(e.regex, 's'); } catch (err) { fail(`${at}: bad regex: ${err.message}`); }
      }
      if (typeof r.deterministic !== 'boolean') fail(`${at}: deterministic must be true or false`);
      if (r.accel !== undefined && (!Array.isArray(r.accel) || !r.accel.every((a) => a === 'kvm' || a === 'emu'))) {
        fail(`${at}: accel must be a list of "kvm" and/or "emu"`);
      }
    }
  }
}

function run(cmd, argv) {
  return new Promise((resolvePromise) => {
    const p = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.stdout.on('data', (d) => (stderr += d));
    p.on('error', (error) => resolvePromise({ status: null, error, stderr }));
    p.on('close', (status) => resolvePromise({ status, stderr }));
  });
}

const guestOutput = (g) => join(OUT, `${g.name}.elf`);
const nativeOutput = (g) => join(OUT, `${g.name}-native`);
const guestInputs = (g) => [...listAll(join(GUESTS, g.build?.dir ?? g.name)), ...listAll(LIB), SELF];
const nativeInputs = (g) => {
  const dir = join(GUESTS, g.build?.dir ?? g.name);
  return [...listAll(dir), ...listAll(join(dir, 'native')), SELF];
};

/** True when `out` exists and no input is newer. */
function upToDate(out, inputs) {
  if (!existsSync(out)) return false;
  const outTime = statSync(out).mtimeMs;
  return inputs.every((f) => statSync(f).mtimeMs <= outTime);
}

/**
 * The guests (and host programs) a build would rebuild, without running any tool: what setup.mjs asks on every
 * `./tsvmm`, so that an up-to-date tree starts no compiler, no tool probe and no second Node process.
 */
export function staleGuests() {
  const stale = [];
  for (const g of loadManifest().guests) {
    if (!existsSync(join(GUESTS, g.build?.dir ?? g.name)) || !upToDate(guestOutput(g), guestInputs(g))) stale.push(g.name);
    else if (g.build?.native && !upToDate(nativeOutput(g), nativeInputs(g))) stale.push(`${g.name}-native`);
  }
  return stale;
}

async function buildGuest(g, incDir) {
  const arch = g.build?.arch ?? 'i386';
  if (!ARCH_FLAGS[arch]) fail(`guest ${g.name}: unknown build.arch '${arch}' (use i386 or x86_64)`);
  const entry = g.build?.entry ?? 'lib';
  // build.dir lets two guests (e.g. a 32-bit and a 64-bit one) share a source folder; *-32/*-64 files pick the width.
  const dir = join(GUESTS, g.build?.dir ?? g.name);
  if (!existsSync(dir)) fail(`guest ${g.name}: directory ${dir} is missing`);
  const libSources = listSources(LIB, arch).filter((f) => !/entry(32|64)\.S$/.test(f));
  if (entry === 'lib') libSources.push(join(LIB, arch === 'i386' ? 'entry32.S' : 'entry64.S'));
  const sources = [...listSources(dir, arch), ...libSources];
  const out = guestOutput(g);
  if (!force && upToDate(out, guestInputs(g))) {
    if (!quiet) console.log(`  up to date  ${g.name}`);
    return false;
  }
  const tmp = join(OUT, `${g.name}.tmp.elf`);
  const link = arch === 'x86_64' ? join(OUT, `${g.name}.elf64`) : tmp;
  const defs = [`-DGUEST_NAME="${g.name}"`];
  const cc = await run(CC, [...COMMON_FLAGS, ...ARCH_FLAGS[arch], ...guestCodegen(g, arch), ...defs, '-isystem', incDir, '-o', link, ...sources]);
  if (cc.error) fail(`cannot run ${CC}: ${cc.error.message} (install gcc and binutils)`);
  if (cc.status !== 0) fail(`guest ${g.name}: compile/link failed:\n${cc.stderr}`);
  if (arch === 'x86_64') {
    // QEMU's multiboot loader (and tsvmm's) accept only ELF32: keep the 64-bit code, relabel the container.
    const oc = await run(OBJCOPY, ['-O', 'elf32-i386', link, tmp]);
    if (oc.error) fail(`cannot run ${OBJCOPY}: ${oc.error.message} (install binutils)`);
    if (oc.status !== 0) fail(`guest ${g.name}: objcopy failed:\n${oc.stderr}`);
  }
  renameSync(tmp, out);
  if (!quiet) console.log(`  built       ${g.name} -> ${out.slice(ROOT.length + 1)}`);
  return true;
}

/** The guest's own code-generation flags: its fpu switch and extra cflags. */
function guestCodegen(g, arch) {
  return [...FPU_FLAGS[g.build?.fpu ?? 'none'][arch], ...(g.build?.cflags ?? [])];
}

/**
 * build.native: the guest's folder also builds as a host program, guests/build/<name>-native: its C files
 * except guest-*.c, plus native/*.c (the host driver), with the guest's code-generation flags, so the host
 * CPU can check the guest's results (the realcode suite's checksums).
 */
async function buildNative(g) {
  const dir = join(GUESTS, g.build?.dir ?? g.name);
  const nativeDir = join(dir, 'native');
  const own = readdirSync(dir).filter((f) => f.endsWith('.c') && !f.startsWith('guest-')).sort().map((f) => join(dir, f));
  const driver = existsSync(nativeDir) ? readdirSync(nativeDir).filter((f) => f.endsWith('.c')).sort().map((f) => join(nativeDir, f)) : [];
  if (!driver.length) fail(`guest ${g.name}: build.native needs a host driver in ${nativeDir}/*.c`);
  const out = nativeOutput(g);
  if (!force && upToDate(out, nativeInputs(g))) {
    if (!quiet) console.log(`  up to date  ${g.name}-native`);
    return false;
  }
  const tmp = `${out}.tmp`;
  const cc = await run(CC, [...CODEGEN_FLAGS, ...guestCodegen(g, 'x86_64'), '-o', tmp, ...own, ...driver]);
  if (cc.error) fail(`cannot run ${CC}: ${cc.error.message} (install gcc)`);
  if (cc.status !== 0) fail(`guest ${g.name}: host program build failed:\n${cc.stderr}`);
  renameSync(tmp, out);
  if (!quiet) console.log(`  built       ${g.name}-native -> ${out.slice(ROOT.length + 1)}`);
  return true;
}

async function main() {
  requireTool(CC, 'gcc');
  requireTool(OBJCOPY, 'binutils');
  requireTool('ld', 'binutils');
  const manifest = loadManifest();
  const selected = only.length ? manifest.guests.filter((g) => only.includes(g.name)) : manifest.guests;
  for (const n of only) if (!manifest.guests.some((g) => g.name === n)) fail(`unknown guest '${n}' (see guests/manifest.json)`);
  mkdirSync(OUT, { recursive: true });
  const incDir = gccIncludeDir();
  // Build in parallel (one compiler per core); each guest is a single gcc invocation.
  let built = 0;
  let builtNative = 0;
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(availableParallelism(), selected.length)) }, async () => {
    while (next < selected.length) {
      const g = selected[next++];
      if (await buildGuest(g, incDir)) built++;
      if (g.build?.native && (await buildNative(g))) builtNative++;
    }
  });
  await Promise.all(workers);
  if (!quiet) console.log(`build-guests: ${built} built, ${selected.length - built} up to date${builtNative ? `; ${builtNative} host program(s) built` : ''}`);
}

// Run as a script (not when setup.mjs imports staleGuests).
if (process.argv[1] && resolve(process.argv[1]) === SELF) await main();
