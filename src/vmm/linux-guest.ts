/**
 * The ready-made Linux guest behind `tsvmm run --linux`: Debian 12's kernel and Debian's
 * busybox-static, fetched with `apt-get download` into .cache/, checked by SHA-256, and a small
 * initramfs built with tsvmm's own cpio writer. Everything is cached; a second call only verifies
 * the files against the hashes recorded when they were fetched, and skips re-reading a file whose
 * stat stamp is the one recorded when its hash last matched (see FileStamp).
 *
 * /init (a busybox sh script) mounts proc, sys and dev, prints INIT_MARKER and runs an interactive
 * shell on the console in its own session with the console as controlling terminal (setsid
 * cttyhack), so job control works on the serial line. `poweroff`, `reboot` and `halt` in the guest
 * signal PID 1 as busybox does; /init traps them and calls the kernel's power-off or reboot.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpioWriter } from '../boot/initramfs/cpio-newc.js';
import { LINUX_GUEST_CMDLINE } from '../boot/linux-cmdline.js';
import { EXIT, VmmError } from '../util/errors.js';

export class LinuxGuestError extends VmmError {
  constructor(message: string) {
    super('linux-guest', message, { exitCode: EXIT.FAILURE });
  }
}

const here = dirname(fileURLToPath(import.meta.url));
/** The repo root as seen from dist/src/vmm/. */
export const REPO_ROOT = join(here, '..', '..', '..');
export const CACHE_DIR = join(REPO_ROOT, '.cache', 'linux-guest');
export const KERNEL_DIR = join(REPO_ROOT, '.cache', 'debian-kernel');
export const BUSYBOX_PACKAGE = 'busybox-static';

/** Printed by /init once the shell is about to start; tests and benchmarks wait for it. */
export const INIT_MARKER = 'tsvmm-linux: init done, starting the shell';
/** The shell prompt /etc/profile sets (PS1), distinctive so a harness can find it. */
export const SHELL_PROMPT = 'tsvmm# ';
/** A file with known contents, for checksum tests. */
export const KNOWN_FILE = '/etc/tsvmm-known.txt';
export const KNOWN_FILE_TEXT = 'tsvmm: a virtual machine monitor in TypeScript\n'.repeat(64);
export { LINUX_GUEST_CMDLINE };

export interface LinuxGuest {
  readonly kernel: string;
  readonly initrd: string;
  readonly cmdline: string;
  readonly kernelVersion: string;
  readonly busyboxVersion: string;
}

const INIT_SCRIPT_VERSION = 1;
const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mount -t tmpfs -o mode=0755 tmpfs /dev
mkdir -p /dev/pts /tmp
# busybox halt, poweroff and reboot signal PID 1 with USR1, USR2 and TERM.
trap 'sync; halt -f' USR1
trap 'sync; poweroff -f' USR2
trap 'sync; reboot -f' TERM
echo "${INIT_MARKER}"
cd /root
setsid cttyhack sh -l &
wait
sync
poweroff -f
`;

const PROFILE = `export PS1='tsvmm# '
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
`;

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function run(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') throw new LinuxGuestError(`${cmd} not found: fetching the Linux guest needs a Debian/Ubuntu host with apt-get and dpkg-deb`);
    throw new LinuxGuestError(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  }
  if (r.status !== 0) throw new LinuxGuestError(`${cmd} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`);
  return r.stdout;
}

interface Manifest {
  busyboxVersion: string;
  kernelVersion: string;
  /** SHA-256 of what the initramfs is built from besides busybox (the /init script, profile, files). */
  recipe: string;
  files: Record<string, string>;
  /** Per file: its stat stamp when its SHA-256 last matched `files`. */
  checked?: Record<string, FileStamp>;
}

/**
 * What stat says of a file whose hash was checked: size, mtime, ctime and inode. Hashing the 12 MB of
 * cached kernel, busybox and initramfs took ~70 ms of every `--linux` start; a file with the same stamp
 * has not been written, replaced or renamed over since (any write moves ctime, which no user can set
 * back, so even a tool that restores mtime is seen). What a stamp cannot see is the disk changing bits
 * by itself: the kernel's xz payload carries its own CRC, which the host decompression checks on every boot.
 */
export interface FileStamp {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

export function fileStamp(path: string): FileStamp | undefined {
  try {
    const st = statSync(path);
    return st.isFile() ? { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when `path` has SHA-256 `hash`: without reading it when its stamp is `checked` (the stamp of the
 * last time it matched), else by hashing it. `stamp` is the file's stamp when the answer is true.
 */
export function fileMatchesHash(path: string, hash: string, checked: FileStamp | undefined): { ok: boolean; stamp?: FileStamp } {
  const stamp = fileStamp(path);
  if (stamp === undefined) return { ok: false };
  if (checked !== undefined && sameStamp(checked, stamp)) return { ok: true, stamp };
  const h = hashWithStamp(path);
  return h.hash === hash ? { ok: true, ...(h.stamp !== undefined ? { stamp: h.stamp } : {}) } : { ok: false };
}

function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
}

/** A file's SHA-256 and its stamp, the stamp only if the file did not change while it was read. */
function hashWithStamp(path: string): { hash: string; stamp?: FileStamp } {
  const before = fileStamp(path);
  const hash = sha256(readFileSync(path));
  const after = fileStamp(path);
  return before !== undefined && after !== undefined && sameStamp(before, after) ? { hash, stamp: after } : { hash };
}

/** Hash of the initramfs recipe, so a changed /init rebuilds the cached initramfs. */
const recipe = (): string => createHash('sha256').update(JSON.stringify([INIT_SCRIPT_VERSION, INIT_SCRIPT, PROFILE, KNOWN_FILE, KNOWN_FILE_TEXT])).digest('hex');

function readManifest(): Manifest | undefined {
  const p = join(CACHE_DIR, 'manifest.json');
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

/** Written whole under a temporary name, then renamed: a tsvmm starting beside this one reads the old or the new manifest, never half of one. */
function writeManifest(m: Manifest): void {
  const tmp = join(CACHE_DIR, `manifest.json.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(m, null, 2) + '\n');
  renameSync(tmp, join(CACHE_DIR, 'manifest.json'));
}

/** Set when verifiedFile recorded a new stamp in the manifest (ensureLinuxGuest then writes it back). */
let stampsChanged = false;

/** True when the cached file exists with the SHA-256 the manifest recorded for it (its stamp recorded when it does). */
function verifiedFile(m: Manifest | undefined, name: string, path = join(CACHE_DIR, name)): boolean {
  const hash = m?.files[name];
  if (m === undefined || hash === undefined) return false;
  const r = fileMatchesHash(path, hash, m.checked?.[name]);
  const old = m.checked?.[name];
  if (r.stamp !== undefined && (old === undefined || !sameStamp(old, r.stamp))) {
    m.checked = { ...m.checked, [name]: r.stamp };
    stampsChanged = true;
  }
  return r.ok;
}

/** The stamps of files whose hashes were just computed from their bytes as written. */
function stampsOf(paths: Record<string, string>): Record<string, FileStamp> {
  const out: Record<string, FileStamp> = {};
  for (const [name, path] of Object.entries(paths)) {
    const st = fileStamp(path);
    if (st !== undefined) out[name] = st;
  }
  return out;
}

/** Downloads busybox-static with apt-get, checks the .deb against apt's SHA256, returns the static binary. */
function fetchBusybox(say: (m: string) => void): { binary: Uint8Array; version: string } {
  let show = spawnSync('apt-cache', ['show', '--no-all-versions', BUSYBOX_PACKAGE], { encoding: 'utf8' });
  if (show.status !== 0 || !/SHA256:/.test(show.stdout)) {
    say('apt-cache knows no busybox-static: running apt-get update once');
    run('apt-get', ['update', '-q']);
    show = spawnSync('apt-cache', ['show', '--no-all-versions', BUSYBOX_PACKAGE], { encoding: 'utf8' });
  }
  const version = /^Version:\s*(\S+)/m.exec(show.stdout)?.[1];
  const expected = /^SHA256:\s*([0-9a-f]{64})/m.exec(show.stdout)?.[1];
  if (!version || !expected) throw new LinuxGuestError(`cannot resolve ${BUSYBOX_PACKAGE} with apt-cache (is this a Debian host with bookworm sources?)`);
  mkdirSync(join(REPO_ROOT, '.cache'), { recursive: true });
  const work = mkdtempSync(join(REPO_ROOT, '.cache', 'busybox-tmp-'));
  chmodSync(work, 0o777); // apt-get download drops to the _apt user
  try {
    say(`apt-get download ${BUSYBOX_PACKAGE} ${version}...`);
    run('apt-get', ['download', '-q', `${BUSYBOX_PACKAGE}=${version}`], { cwd: work });
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (!deb) throw new LinuxGuestError(`apt-get download ${BUSYBOX_PACKAGE} produced no .deb`);
    const got = sha256(readFileSync(join(work, deb)));
    if (got !== expected) throw new LinuxGuestError(`${deb}: SHA-256 ${got} differs from the package index's ${expected}; refusing it`);
    run('dpkg-deb', ['-x', join(work, deb), join(work, 'tree')]);
    const bin = join(work, 'tree', 'bin', 'busybox');
    if (!existsSync(bin)) throw new LinuxGuestError(`${deb} has no bin/busybox`);
    return { binary: new Uint8Array(readFileSync(bin)), version };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The initramfs's file name. It is an uncompressed cpio: the kernel unpacked a gzip'd one with its own inflate,
 * ~37 million instructions of every boot (7% of it on emu), to save a few MB of RAM.
 */
export const INITRAMFS_FILE = 'initramfs.cpio';

/** The initramfs: busybox, /init, /etc/profile, the known file, mount points and /dev/console. */
export function buildInitramfs(busybox: Uint8Array): Uint8Array {
  const w = new CpioWriter();
  for (const d of ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'dev', 'proc', 'sys', 'tmp', 'root', 'etc']) w.dir(d, d === 'tmp' ? 0o1777 : 0o755);
  w.device('dev/console', 'char', 5, 1);
  w.file('bin/busybox', busybox, 0o755);
  w.file('init', INIT_SCRIPT, 0o755);
  w.file('etc/profile', PROFILE);
  w.file(KNOWN_FILE.slice(1), KNOWN_FILE_TEXT);
  return w.finish();
}

/** Fetches and builds what is missing; `say` reports progress. */
export function ensureLinuxGuest(say: (m: string) => void = () => {}): LinuxGuest {
  // The kernel: the project's fetch script (apt-get download of the current bookworm kernel).
  const vmlinuz = join(KERNEL_DIR, 'vmlinuz');
  const fetchKernel = (force: boolean) => {
    say(`fetching the Debian 12 kernel (about 70 MB${force ? ', again: the cached one does not match its SHA-256' : ', once'})...`);
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'fetch-debian-kernel.mjs'), ...(force ? ['--force'] : [])], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new LinuxGuestError('fetching the Debian kernel failed (see above)');
  };
  if (!existsSync(vmlinuz) || !existsSync(join(KERNEL_DIR, 'VERSION'))) fetchKernel(false);
  let m = readManifest();
  stampsChanged = false;
  let kernelVersion = readFileSync(join(KERNEL_DIR, 'VERSION'), 'utf8').trim();
  if (m && m.kernelVersion === kernelVersion && !verifiedFile(m, 'vmlinuz', vmlinuz)) {
    fetchKernel(true);
    kernelVersion = readFileSync(join(KERNEL_DIR, 'VERSION'), 'utf8').trim();
  }
  let busybox: { binary: Uint8Array; version: string } | undefined;
  const busyboxOk = m !== undefined && verifiedFile(m, 'busybox');
  if (m && !busyboxOk) say('the cached busybox is missing or does not match its SHA-256: fetching it again');
  const upToDate = m !== undefined && busyboxOk && m.recipe === recipe() && verifiedFile(m, INITRAMFS_FILE);
  if (!upToDate) {
    // busybox is read only to build the initramfs again.
    if (busyboxOk) busybox = { binary: new Uint8Array(readFileSync(join(CACHE_DIR, 'busybox'))), version: m!.busyboxVersion };
    busybox ??= fetchBusybox(say);
    say(`building the initramfs (busybox ${busybox.version}) with tsvmm's cpio writer...`);
    const initramfs = buildInitramfs(busybox.binary);
    mkdirSync(CACHE_DIR, { recursive: true });
    writeFileSync(join(CACHE_DIR, 'busybox'), busybox.binary);
    writeFileSync(join(CACHE_DIR, INITRAMFS_FILE), initramfs);
    rmSync(join(CACHE_DIR, 'initramfs.cpio.gz'), { force: true }); // the gzip'd one of earlier versions
    const kernel = hashWithStamp(vmlinuz);
    const checked = stampsOf({ busybox: join(CACHE_DIR, 'busybox'), [INITRAMFS_FILE]: join(CACHE_DIR, INITRAMFS_FILE) });
    if (kernel.stamp !== undefined) checked['vmlinuz'] = kernel.stamp;
    m = { busyboxVersion: busybox.version, kernelVersion, recipe: recipe(), files: { busybox: sha256(busybox.binary), [INITRAMFS_FILE]: sha256(initramfs), vmlinuz: kernel.hash }, checked };
    writeManifest(m);
    say(`wrote ${CACHE_DIR}/{${INITRAMFS_FILE},busybox,manifest.json}`);
  } else if (m!.kernelVersion !== kernelVersion) {
    const kernel = hashWithStamp(vmlinuz);
    const checked = { ...m!.checked };
    if (kernel.stamp !== undefined) checked['vmlinuz'] = kernel.stamp;
    else delete checked['vmlinuz'];
    m = { ...m!, kernelVersion, files: { ...m!.files, vmlinuz: kernel.hash }, checked };
    writeManifest(m);
  } else if (stampsChanged) {
    // Only the stamps are new: files checked by hash this time are not read again next time.
    writeManifest(m!);
  }
  return { kernel: vmlinuz, initrd: join(CACHE_DIR, INITRAMFS_FILE), cmdline: LINUX_GUEST_CMDLINE, kernelVersion, busyboxVersion: m!.busyboxVersion };
}
