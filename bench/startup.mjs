// Start-up: process start to the guest's first serial byte for the hello guest,
// tsvmm --accel kvm against qemu-system-x86_64 -accel kvm -kernel (and TCG for reference).
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { root, tsvmmBin, has, median, timeToFirstByte, printTable } from './lib.mjs';

const runs = Number(process.env.BENCH_RUNS ?? 10);
const kernel = join(root, 'guests', 'build', 'hello.elf');
if (!existsSync(kernel)) {
  console.error('startup bench: guests/build/hello.elf missing (node scripts/build-guests.mjs)');
  process.exit(1);
}
const qemuArgs = (accel) => ['-accel', accel, '-kernel', kernel, '-display', 'none', '-serial', 'stdio', '-monitor', 'none', '-no-reboot', '-m', '256M', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-nodefaults'];
const peers = [
  ['tsvmm --accel kvm', process.execPath, [tsvmmBin, 'run', '--kernel', kernel, '--accel', 'kvm', '--serial', 'stdio']],
  ['tsvmm --accel emu', process.execPath, [tsvmmBin, 'run', '--kernel', kernel, '--accel', 'emu', '--serial', 'stdio']],
];
if (has('qemu-system-x86_64')) {
  peers.push(['qemu -accel kvm', 'qemu-system-x86_64', qemuArgs('kvm')]);
  peers.push(['qemu -accel tcg', 'qemu-system-x86_64', qemuArgs('tcg')]);
}
const results = [];
for (const [name, cmd, args] of peers) {
  const times = [];
  let error;
  for (let i = 0; i < runs && !error; i++) {
    try {
      times.push(await timeToFirstByte(cmd, args));
    } catch (e) {
      error = e.message;
    }
  }
  results.push({ name, ms: error ? NaN : median(times), error });
}
const base = results[0].ms;
printTable(`start-up to first serial byte, median of ${runs} (hello guest)`, [
  ['peer', 'ms', 'vs tsvmm kvm'],
  ...results.map((r) => [r.name, r.error ? `failed: ${r.error}` : r.ms.toFixed(1), r.error ? '-' : (r.ms / base).toFixed(2) + 'x']),
]);
