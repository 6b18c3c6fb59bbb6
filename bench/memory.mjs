// VMM memory: RSS of tsvmm running a 128 MiB guest that has touched 1 MiB, against a bare `node`
// process (target: <= 20 MiB above it). The memtouch guest touches the memory, prints "touched",
// then waits for a byte on COM1, so RSS is read while the VM is live.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { root, tsvmmBin, rssKiB, printTable, median } from './lib.mjs';

const kernel = join(root, 'guests', 'build', 'memtouch.elf');
if (!existsSync(kernel)) {
  console.error('memory bench: guests/build/memtouch.elf missing (node scripts/build-guests.mjs)');
  process.exit(1);
}

function measure(cmd, args, readyText) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let seen = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no "${readyText}" within 60 s: ${err.trim()}`));
    }, 60_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (!seen && out.includes(readyText)) {
        seen = true;
        // Let the VMM settle (GC, lazy pages) before reading RSS.
        setTimeout(() => {
          const kib = rssKiB(child.pid);
          clearTimeout(timer);
          child.stdin.end('q');
          setTimeout(() => child.kill('SIGKILL'), 2000).unref();
          resolve(kib);
        }, 300);
      }
    });
    child.stderr.on('data', (d) => (err += d));
  });
}

const runs = Number(process.env.BENCH_RUNS ?? 3);
const bare = [];
const rows = [];
for (let i = 0; i < runs; i++) bare.push(await measure(process.execPath, ['-e', 'console.log("ready"); process.stdin.once("data", () => process.exit(0))'], 'ready'));
const bareKiB = median(bare);
rows.push(['bare node', (bareKiB / 1024).toFixed(1), '-', '-']);
for (const accel of ['kvm', 'emu']) {
  const xs = [];
  try {
    for (let i = 0; i < runs; i++) xs.push(await measure(process.execPath, [tsvmmBin, 'run', '--kernel', kernel, '--accel', accel, '--mem', '128M', '--cmdline', 'kib=1024'], 'touched'));
    const kib = median(xs);
    const above = (kib - bareKiB) / 1024;
    rows.push([`tsvmm --accel ${accel}`, (kib / 1024).toFixed(1), above.toFixed(1), above <= 20 ? 'yes' : 'NO']);
  } catch (e) {
    rows.push([`tsvmm --accel ${accel}`, `failed: ${e.message}`, '-', '-']);
  }
}
printTable(`VMM memory (RSS MiB, median of ${runs}), 128 MiB guest touching 1 MiB`, [['process', 'RSS MiB', 'above bare node', '<= 20 MiB'], ...rows]);
