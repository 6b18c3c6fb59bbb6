// `node bench/decompress-cold.mjs [--runs N]`: host decompression of the Debian kernel's payload as `tsvmm run`
// does it, once per fresh Node process (V8's warm-up of the decoders included: a boot decompresses once), into an
// output buffer that is already resident (the loader has guest RAM prefaulted on another thread). Reports the
// process CPU (all threads: V8 compiles on background threads) and wall time, min/median/max of N runs, and
// xz-utils decoding the same payload (`xz -dc`, its user + system time) as the peer. Runs alternate tsvmm and xz.
// bench/linux.mjs times the same decompression warm, three times in one process.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir, loadavg } from 'node:os';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { benchArgs, has, median, printTable, root } from './lib.mjs';

const { values } = benchArgs('bench/decompress-cold.mjs', { options: { runs: { type: 'string' }, child: { type: 'boolean' } } });
const kernel = join(root, '.cache', 'debian-kernel', 'vmlinuz');

function payloadOf(img) {
  const setup = ((img[0x1f1] || 4) + 1) * 512;
  const off = setup + img.readUInt32LE(0x248);
  return img.subarray(off, off + img.readUInt32LE(0x24c));
}

if (values.child) {
  // One decompression in this fresh process; prints {cpu, wall} in ms.
  const payload = payloadOf(readFileSync(kernel));
  const out = new Uint8Array(payload.readUInt32LE(payload.length - 4)).fill(1);
  const { decompressPayload } = await import(pathToFileURL(join(root, 'dist/src/boot/decompress/kernel-payload.js')).href);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  decompressPayload(payload, undefined, () => out);
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  console.log(JSON.stringify({ cpu: (c.user + c.system) / 1000, wall }));
  process.exit(0);
}

let img;
try {
  img = readFileSync(kernel);
} catch {
  console.log(`bench decompress-cold: no ${kernel} (node scripts/fetch-linux-guest.mjs): skipped`);
  process.exit(0);
}
const runs = Number(values.runs ?? 7);
const dir = mkdtempSync(join(tmpdir(), 'tsvmm-decompress-'));
const xzFile = join(dir, 'payload.xz');
const payload = payloadOf(img);
writeFileSync(xzFile, payload.subarray(0, payload.length - 4)); // without the appended size
const peer = has('xz') && payload[0] === 0xfd && payload[1] === 0x37;
const load0 = loadavg()[0];
const ours = [];
const theirs = [];
for (let i = 0; i < runs; i++) {
  const r = spawnSync(process.execPath, [join(root, 'bench', 'decompress-cold.mjs'), '--child'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  ours.push(JSON.parse(r.stdout));
  if (peer) {
    // bash's `times`: the children's user and system time after xz ran.
    const t0 = performance.now();
    const x = spawnSync('bash', ['-c', `xz -dc --single-stream '${xzFile}' > /dev/null && times`], { encoding: 'utf8' });
    const wall = performance.now() - t0;
    const m = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(x.stdout.trim());
    if (x.status === 0 && m) theirs.push({ cpu: (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000, wall });
  }
}
rmSync(dir, { recursive: true, force: true });
const stats = (xs, k) => {
  const v = xs.map((x) => x[k]);
  return `${Math.min(...v).toFixed(0)} / ${median(v).toFixed(0)} / ${Math.max(...v).toFixed(0)}`;
};
const rows = [
  ['decoder', 'CPU ms min/med/max', 'wall ms min/med/max', 'CPU x peer'],
  ['tsvmm (fresh process each)', stats(ours, 'cpu'), stats(ours, 'wall'), theirs.length ? (median(ours.map((o) => o.cpu)) / median(theirs.map((t) => t.cpu))).toFixed(2) : '-'],
];
if (theirs.length) rows.push(['xz -dc (xz-utils)', stats(theirs, 'cpu'), stats(theirs, 'wall'), '1.00']);
printTable(`cold host decompression of ${kernel}, ${runs} runs each (load ${load0.toFixed(1)} -> ${loadavg()[0].toFixed(1)})`, rows);
