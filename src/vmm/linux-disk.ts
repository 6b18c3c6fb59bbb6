/**
 * The Linux guest for the virtio tests: Debian 12's kernel, whose virtio drivers are modules, boots an
 * initramfs that loads them and switches to an ext4 root on the first virtio disk.
 * - modules: the kernel package's virtio (pci, blk, net, console, rng) and ext4 modules with their
 *   dependencies, in modules.dep order, taken from the linux-image .deb (apt-get download, checked
 *   against the package index's SHA-256);
 * - initramfs (tsvmm's cpio writer): busybox, the modules, /init that insmods them, prints
 *   MODULES_MARKER, mounts /dev/vda (ext4) and switch_roots into it;
 * - root.ext4: `mkfs.ext4 -d` of a busybox tree (Debian's e2fsprogs) whose /sbin/init counts boots in
 *   /var/boots, prints ROOT_MARKER and runs a shell on the console.
 * Everything lives in .cache/linux-disk/ and is rebuilt only when the recipe or the kernel changes.
 * Tests copy root.ext4 before writing to it.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CpioWriter } from '../boot/initramfs/cpio-newc.js';
import { INITRAMFS_FILE, REPO_ROOT, SHELL_PROMPT, ensureLinuxGuest, LinuxGuestError, LINUX_GUEST_CMDLINE } from './linux-guest.js';

export const DISK_DIR = join(REPO_ROOT, '.cache', 'linux-disk');
export const MODULES_MARKER = 'tsvmm-virtio: modules loaded';
export const ROOT_MARKER = 'tsvmm-root: init on the ext4 root, boot';
export { SHELL_PROMPT };
/** The kernel command line: the busybox guest's (the initramfs finds the root itself). */
export const LINUX_DISK_CMDLINE = LINUX_GUEST_CMDLINE;
export const ROOT_IMAGE_MIB = 48;

/** The modules to load, by name; their dependencies come first (from modules.dep). */
// crc32c: ext4 and jbd2 ask the crypto API for it (metadata checksums); without modprobe it must be loaded first.
const WANTED = ['virtio_pci', 'virtio_blk', 'virtio_net', 'virtio_console', 'virtio-rng', 'crc32c_generic', 'ext4'];

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m.ko || echo "tsvmm-virtio: insmod $m failed"; done
echo "${MODULES_MARKER}"
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
mkdir -p /newroot
if mount -t ext4 /dev/vda /newroot; then
  umount /proc /sys
  mount --move /dev /newroot/dev
  exec switch_root /newroot /sbin/init
fi
echo "tsvmm-virtio: no ext4 root on /dev/vda"
exec sh
`;

const ROOT_INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -o remount,rw /
n=$(cat /var/boots 2>/dev/null || echo 0)
n=$((n+1))
echo $n > /var/boots
sync
trap 'sync; halt -f' USR1
trap 'sync; poweroff -f' USR2
trap 'sync; reboot -f' TERM
echo "${ROOT_MARKER} $n"
cd /root
setsid cttyhack sh -l &
wait
sync
poweroff -f
`;

const PROFILE = `export PS1='${SHELL_PROMPT}'
export PATH=/bin:/sbin HOME=/root
`;

const RECIPE_VERSION = 2;

export interface LinuxDisk {
  readonly kernel: string;
  readonly initrd: string;
  /** The pristine root image: copy it before booting from it. */
  readonly rootImage: string;
  readonly cmdline: string;
  readonly modules: readonly string[];
}

function run(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw new LinuxGuestError(`${cmd}: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not installed (Debian: e2fsprogs, apt, dpkg)' : r.error.message}`);
  if (r.status !== 0) throw new LinuxGuestError(`${cmd} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`);
  return r.stdout;
}

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/** A module's name as the kernel knows it (dashes and underscores are the same). */
const moduleName = (file: string): string => file.split('/').pop()!.replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_');

/** The `depends=` entry of a module's .modinfo section (what depmod would read; Debian ships no modules.dep). */
export function moduleDepends(ko: Uint8Array): string[] {
  const text = Buffer.from(ko.buffer, ko.byteOffset, ko.byteLength).toString('latin1');
  const at = text.indexOf('\0depends=');
  if (at < 0) return [];
  const end = text.indexOf('\0', at + 1);
  return text.slice(at + 9, end).split(',').filter(Boolean).map(moduleName);
}

/** Paths (relative to `dir`) of the wanted modules and their dependencies, each after what it needs. */
export function loadOrder(dir: string, wanted: readonly string[]): string[] {
  const pathOf = new Map<string, string>();
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else if (e.name.endsWith('.ko')) pathOf.set(moduleName(e.name), r);
    }
  };
  walk('');
  const out: string[] = [];
  const visit = (n: string, chain: string[]) => {
    if (out.includes(n)) return;
    if (chain.includes(n)) throw new LinuxGuestError(`module dependencies loop through ${n}`);
    const p = pathOf.get(n);
    if (p === undefined) throw new LinuxGuestError(`module ${n} is not in the kernel package (is it built in, or renamed?)`);
    for (const d of moduleDepends(new Uint8Array(readFileSync(join(dir, p))))) visit(d, [...chain, n]);
    out.push(n);
  };
  for (const w of wanted) visit(moduleName(w), []);
  return out.map((n) => pathOf.get(n)!);
}

/** Fetches and builds what is missing; `say` reports progress. */
export function ensureLinuxDisk(say: (m: string) => void = () => {}): LinuxDisk {
  const g = ensureLinuxGuest(say);
  const version = g.kernelVersion.split(' ')[0]!; // "linux-image-6.1.0-57-amd64"
  const release = version.replace(/^linux-image-/, '');
  const busybox = join(DISK_DIR, '..', 'linux-guest', 'busybox');
  const recipe = sha256(JSON.stringify([RECIPE_VERSION, INIT, ROOT_INIT, PROFILE, WANTED, g.kernelVersion, ROOT_IMAGE_MIB]));
  const manifestPath = join(DISK_DIR, 'manifest.json');
  const files = [INITRAMFS_FILE, 'root.ext4'];
  if (existsSync(manifestPath)) {
    const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as { recipe: string; files: Record<string, string>; modules: string[] };
    if (m.recipe === recipe && files.every((f) => existsSync(join(DISK_DIR, f)) && sha256(readFileSync(join(DISK_DIR, f))) === m.files[f])) {
      return { kernel: g.kernel, initrd: join(DISK_DIR, INITRAMFS_FILE), rootImage: join(DISK_DIR, 'root.ext4'), cmdline: LINUX_DISK_CMDLINE, modules: m.modules };
    }
  }
  mkdirSync(DISK_DIR, { recursive: true });
  const work = mkdtempSync(join(DISK_DIR, 'tmp-'));
  chmodSync(work, 0o777); // apt-get download drops to the _apt user
  try {
    // The kernel package, checked against the index, for its modules.
    const show = run('apt-cache', ['show', '--no-all-versions', version]);
    const expected = /^SHA256:\s*([0-9a-f]{64})/m.exec(show)?.[1];
    if (!expected) throw new LinuxGuestError(`apt-cache has no SHA256 for ${version}`);
    // The .deb stays in .cache/linux-disk/ until a build succeeds, so a failed build does not fetch it again.
    let deb = readdirSync(DISK_DIR).find((f) => f.startsWith(`${version}_`) && f.endsWith('.deb'));
    if (deb === undefined || sha256(readFileSync(join(DISK_DIR, deb))) !== expected) {
      say(`apt-get download ${version} (about 70 MB, for its virtio and ext4 modules)...`);
      run('apt-get', ['download', '-q', version], { cwd: work });
      deb = readdirSync(work).find((f) => f.endsWith('.deb'));
      if (!deb) throw new LinuxGuestError(`apt-get download ${version} produced no .deb`);
      const got = sha256(readFileSync(join(work, deb)));
      if (got !== expected) throw new LinuxGuestError(`${deb}: SHA-256 ${got} differs from the package index's ${expected}; refusing it`);
      copyFileSync(join(work, deb), join(DISK_DIR, deb));
      rmSync(join(work, deb));
    }
    run('dpkg-deb', ['-x', join(DISK_DIR, deb), join(work, 'pkg')]);
    const modDir = join(work, 'pkg', 'lib', 'modules', release);
    const order = loadOrder(modDir, WANTED);
    const names = order.map((p) => p.split('/').pop()!.replace(/\.ko$/, ''));
    say(`modules: ${names.join(' ')}`);

    const bb = new Uint8Array(readFileSync(busybox));
    const w = new CpioWriter();
    for (const d of ['bin', 'sbin', 'dev', 'proc', 'sys', 'newroot', 'lib', 'lib/modules']) w.dir(d, 0o755);
    w.device('dev/console', 'char', 5, 1);
    w.file('bin/busybox', bb, 0o755);
    w.file('init', INIT, 0o755);
    w.file('modules.order', names.join('\n') + '\n');
    for (const p of order) w.file(`lib/modules/${p.split('/').pop()!}`, new Uint8Array(readFileSync(join(modDir, p))));
    writeFileSync(join(DISK_DIR, INITRAMFS_FILE), w.finish());
    rmSync(join(DISK_DIR, 'initramfs.cpio.gz'), { force: true }); // the gzip'd one of earlier versions

    // The root tree, then mkfs.ext4 -d (no root privileges needed).
    const tree = join(work, 'root');
    for (const d of ['bin', 'sbin', 'dev', 'proc', 'sys', 'tmp', 'root', 'etc', 'var']) mkdirSync(join(tree, d), { recursive: true });
    copyFileSync(busybox, join(tree, 'bin', 'busybox'));
    chmodSync(join(tree, 'bin', 'busybox'), 0o755);
    writeFileSync(join(tree, 'sbin', 'init'), ROOT_INIT, { mode: 0o755 });
    writeFileSync(join(tree, 'etc', 'profile'), PROFILE);
    writeFileSync(join(tree, 'etc', 'tsvmm-disk.txt'), 'tsvmm: an ext4 root on virtio-blk\n');
    const img = join(DISK_DIR, 'root.ext4');
    rmSync(img, { force: true });
    run('mkfs.ext4', ['-q', '-F', '-L', 'tsvmm-root', '-E', 'root_owner=0:0', '-d', tree, img, `${ROOT_IMAGE_MIB}M`]);
    const m = { recipe, kernelVersion: g.kernelVersion, modules: names, files: Object.fromEntries(files.map((f) => [f, sha256(readFileSync(join(DISK_DIR, f)))])) };
    writeFileSync(manifestPath, JSON.stringify(m, null, 2) + '\n');
    rmSync(join(DISK_DIR, deb), { force: true });
    say(`wrote ${DISK_DIR}/{${INITRAMFS_FILE},root.ext4,manifest.json}`);
    return { kernel: g.kernel, initrd: join(DISK_DIR, INITRAMFS_FILE), rootImage: img, cmdline: LINUX_DISK_CMDLINE, modules: names };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
