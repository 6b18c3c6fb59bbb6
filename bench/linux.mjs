// `npm run bench -- linux`: Linux to a shell prompt and to power-off, side by side, with the same kernel
// (Debian 12 bzImage), initramfs and command line:
//   tsvmm emu, tsvmm decompressing the bzImage (the default)
//   tsvmm emu, the kernel's own decompressor running in the guest (--kernel-decompress guest)
//   QEMU TCG (-kernel bzImage)
// At the prompt each machine runs a shell pipeline (PIPELINE below: many short kernel and user blocks,
// context switches through pipes, page faults) and its wall time is reported too (power-off comes after it).
// Times are from process start; RSS is read when the prompt appears. Ratios are against QEMU TCG. A machine
// that does not reach the prompt within the timeout is reported with the reason. Also times tsvmm's
// host-side decompression of the kernel payload. emu runs in its default real-time mode, as a user gets it.
// Options: --cpus N (default 1), --timeout S (default 900 per machine), --rounds N (default 3: medians and the
// spread of the time to the prompt; the host's load moves single runs by tens of percent).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchArgs, cpuSeconds, has, printTable, root, rssKiB } from './lib.mjs';

const { values: opt } = benchArgs('bench/linux.mjs', { options: { cpus: { type: 'string', default: '1' }, timeout: { type: 'string', default: '900' }, rounds: { type: 'string', default: '3' } } });
const whole = (name, min) => {
  const n = Number(opt[name]);
  if (!Number.isInteger(n) || n < min) {
    console.error(`bench linux: --${name} ${opt[name]}: expected a whole number, at least ${min}`);
    process.exit(2);
  }
  return n;
};
const cpus = whole('cpus', 1);
const timeoutMs = whole('timeout', 1) * 1000;
const rounds = whole('rounds', 1);

const dist = (p) => pathToFileURL(join(root, 'dist', p)).href;
const { ShellSession, machineName, SHELL_PROMPT } = await import(dist('tests/linux/shell-session.js'));
const { CACHE_DIR, KERNEL_DIR, LINUX_GUEST_CMDLINE } = await import(dist('src/vmm/linux-guest.js'));
const { decompressPayload } = await import(dist('src/boot/decompress/kernel-payload.js'));

const kernel = join(KERNEL_DIR, 'vmlinuz');
const initrd = join(CACHE_DIR, 'initramfs.cpio');
if (!existsSync(kernel) || !existsSync(initrd)) {
  console.log('bench linux: no Linux guest in .cache/ (node scripts/fetch-linux-guest.mjs): skipped');
  process.exit(0);
}

// Host-side decompression of the kernel payload (what tsvmm does before the guest runs).
{
  const img = readFileSync(kernel);
  const setup = ((img[0x1f1] || 4) + 1) * 512;
  const payload = new Uint8Array(img.subarray(setup + img.readUInt32LE(0x248), setup + img.readUInt32LE(0x248) + img.readUInt32LE(0x24c)));
  const times = [];
  let r;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    r = decompressPayload(payload);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const rows = [
    ['decoder', 'compressed', 'decompressed', 'min ms', 'median ms', 'MB/s out', 'x peer'],
    [`tsvmm (${r.method})`, `${(payload.length / 1e6).toFixed(1)} MB`, `${(r.data.length / 1e6).toFixed(1)} MB`, times[0].toFixed(0), times[1].toFixed(0), (r.data.length / 1e3 / times[1]).toFixed(1), ''],
  ];
  // The peer: the C decoder of the same format (xz-utils for xz), fed the same payload through a pipe.
  const peer = { xz: ['xz', ['-dc', '--single-stream']], gzip: ['gzip', ['-dc']], zstd: ['zstd', ['-dc']], lz4: ['lz4', ['-dc']] }[r.method];
  if (peer !== undefined && has(peer[0])) {
    const { spawnSync } = await import('node:child_process');
    const pt = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const p = spawnSync(peer[0], peer[1], { input: payload, maxBuffer: 1 << 30 });
      pt.push(performance.now() - t0);
      if (p.status !== 0 || p.stdout.length !== r.data.length) pt[i] = NaN; // not a fair time: it failed
    }
    pt.sort((a, b) => a - b);
    rows.push([`${peer[0]} (C, through a pipe)`, '', '', pt[0].toFixed(0), pt[1].toFixed(0), (r.data.length / 1e3 / pt[1]).toFixed(1), (times[1] / pt[1]).toFixed(2)]);
  }
  printTable(`host decompression of ${kernel} (3 runs each; load ${(await import('node:os')).loadavg()[0].toFixed(1)})`, rows);
}

const spec = { kernel, initrd, cmdline: LINUX_GUEST_CMDLINE, cpus, memMiB: 256 };
const PIPELINE = 'seq 1 10000 | gzip -c | gunzip -c | sha256sum';
const PIPELINE_SUM = '8060aa0ac20a3e5db2b67325c98a0122f2d09a612574458225dcb9a086f87cc3';
const machines = [
  { kind: 'tsvmm', accel: 'emu', decompress: 'host' },
  { kind: 'tsvmm', accel: 'emu', decompress: 'guest' },
  ...(has('qemu-system-x86_64') ? [{ kind: 'qemu-tcg' }] : []),
];
const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** One boot of machine `m`: times from process start, CPU seconds of the whole process at the prompt, RSS there. */
async function boot(m) {
  const s = new ShellSession(m, spec);
  const row = { prompt: NaN, cpu: NaN, pipe: NaN, off: NaN, rss: NaN, note: '' };
  try {
    row.prompt = (await s.waitFor(SHELL_PROMPT, timeoutMs)).ms;
    row.rss = rssKiB(s.child.pid);
    row.cpu = cpuSeconds(s.child.pid);
    const t0 = performance.now();
    const r = await s.run(PIPELINE, timeoutMs);
    row.pipe = performance.now() - t0;
    if (!r.output.includes(PIPELINE_SUM)) row.note = `pipeline printed ${JSON.stringify(r.output.slice(-120))}`;
    s.type('poweroff\n');
    let timer;
    const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`still running ${timeoutMs / 1000} s after poweroff`)), timeoutMs)));
    const e = await Promise.race([s.exited, late]).finally(() => clearTimeout(timer));
    row.off = e.ms;
    if (e.status !== 0) row.note = `exit status ${e.status}`;
  } catch (e) {
    row.note = `${Number.isFinite(row.prompt) ? 'no power-off' : 'no prompt'}: ${String(e.message).split('\n')[0]}`;
  } finally {
    s.kill();
  }
  return row;
}

// Rounds run the machines one after another, in reverse order every other round, so that a change in the
// host's load falls on all of them; the table gives each machine's median and its spread.
const runs = machines.map(() => []);
for (let round = 0; round < rounds; round++) {
  const order = machines.map((_, i) => i);
  if (round % 2 === 1) order.reverse();
  for (const i of order) {
    const row = await boot(machines[i]);
    runs[i].push(row);
    console.error(`bench linux: round ${round + 1}/${rounds}: ${machineName(machines[i])}: prompt ${(row.prompt / 1000).toFixed(1)} s, ${row.cpu.toFixed(1)} s CPU ${row.note}`);
  }
}

const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v.length % 2 === 1 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const results = machines.map((m, i) => {
  const r = runs[i];
  const col = (k) => r.map((x) => x[k]);
  const fin = (k) => col(k).filter(Number.isFinite);
  return {
    name: machineName(m),
    prompt: median(col('prompt')),
    promptMin: Math.min(...fin('prompt')),
    promptMax: Math.max(...fin('prompt')),
    cpu: median(col('cpu')),
    pipe: median(col('pipe')),
    off: median(col('off')),
    rss: median(col('rss')),
    note: [...new Set(r.map((x) => x.note).filter((n) => n !== ''))].join('; '),
  };
});
const q = results.find((r) => r.name === 'QEMU TCG');
const sec = (ms) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : '-');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) ? `${(a / b).toFixed(2)}x` : '-');
const spread = (r) => (rounds > 1 && Number.isFinite(r.promptMin) ? `${(r.promptMin / 1000).toFixed(1)}-${(r.promptMax / 1000).toFixed(1)} s` : '');
const rows = [['machine', 'to prompt', 'spread', 'vs QEMU', 'CPU to prompt', 'vs QEMU', 'pipeline', 'vs QEMU', 'to power-off', 'vs QEMU', 'RSS at prompt', 'note']];
for (const r of results) {
  rows.push([r.name, sec(r.prompt), spread(r), ratio(r.prompt, q?.prompt), Number.isFinite(r.cpu) ? `${r.cpu.toFixed(1)} s` : '-', ratio(r.cpu, q?.cpu), sec(r.pipe), ratio(r.pipe, q?.pipe), sec(r.off), ratio(r.off, q?.off), Number.isFinite(r.rss) ? `${(r.rss / 1024).toFixed(0)} MiB` : '-', r.note]);
}
printTable(`Linux to a shell prompt, \`${PIPELINE}\` at it, and power-off, ${cpus} vCPU(s), from process start; medians of ${rounds} round(s); CPU is the whole process's (all threads) at the prompt (load before ${loadBefore}, after ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')})`, rows);
