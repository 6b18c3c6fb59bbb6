#!/usr/bin/env node
// Runs every guest run listed in guests/manifest.json under QEMU TCG (the reference) and compares serial output
// and exit status with the manifest. --record rewrites the "exact" expectation of deterministic runs with
// QEMU's output (review the diff before committing). Build first: node scripts/build-guests.mjs
//
// --accel kvm runs only the runs suitable for this host's KVM (guest.kvm, and run.accel absent or including
// "kvm") under QEMU's KVM accelerator
// (slow to start here: SeaBIOS runs in this host's emulated ring 0) and never records.
//
// --tsvmm kvm|emu runs the same runs through tsvmm itself (bin/tsvmm.js, build it first) instead of QEMU.
//
// usage: node guests/tools/qemu-check.mjs [--record] [--verbose] [--accel kvm] [--tsvmm kvm|emu] [name|run-id ...]
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const GUESTS = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MANIFEST = join(GUESTS, 'manifest.json');
const args = process.argv.slice(2);
const record = args.includes('--record');
const verbose = args.includes('--verbose');
const accelIdx = args.indexOf('--accel');
const tsvmmIdx = args.indexOf('--tsvmm');
const tsvmm = tsvmmIdx >= 0 ? args[tsvmmIdx + 1] : undefined;
const accel = tsvmm ?? (accelIdx >= 0 ? args[accelIdx + 1] : 'tcg');
const only = args.filter((a, i) => !a.startsWith('--') && !(accelIdx >= 0 && i === accelIdx + 1) && !(tsvmmIdx >= 0 && i === tsvmmIdx + 1));
const TSVMM_BIN = join(GUESTS, '..', 'bin', 'tsvmm.js');

/** The `tsvmm run` command line for one manifest run. */
export function tsvmmArgs(elf, run, accel) {
  const a = [TSVMM_BIN, 'run', '--kernel', elf, '--accel', accel, '--cpus', String(run.cpus ?? 1), '--serial', 'stdio'];
  if (run.cmdline) a.push('--cmdline', run.cmdline);
  if (run.mem) a.push('--mem', run.mem);
  for (const x of run.tsvmmArgs ?? []) a.push(x.startsWith('guests/') ? join(GUESTS, '..', x) : x);
  return a;
}

/** The QEMU command line equivalent of `tsvmm run` for one manifest run. */
export function qemuArgs(elf, run, accel = 'tcg') {
  const a = ['-accel', accel, '-kernel', elf, '-display', 'none', '-serial', 'stdio', '-monitor', 'none',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-no-reboot', '-m', run.mem ?? '128M', '-smp', String(run.cpus ?? 1)];
  if (run.cmdline) a.push('-append', run.cmdline);
  if (run.qemuCpu) a.push('-cpu', run.qemuCpu);
  return a;
}

export function matches(expect, out) {
  if (expect.exact !== undefined) return out === expect.exact;
  if (expect.regex !== undefined) return new RegExp(expect.regex, 's').test(out);
  return false;
}

function main() {
  const manifest = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  let failures = 0;
  let count = 0;
  for (const g of manifest.guests) {
    const elf = join(GUESTS, 'build', `${g.name}.elf`);
    for (const run of g.runs) {
      if (only.length && !only.includes(g.name) && !only.includes(run.id)) continue;
      // QEMU cannot stand in for runs that need tsvmm-only flags or devices (e.g. the PMU guests): a guest or run
      // with "qemu": false, or a run with tsvmmArgs (unless its qemuCpu gives QEMU the same CPU), is only run with --tsvmm.
      if (!tsvmm && (g.qemu === false || run.qemu === false || ((run.tsvmmArgs ?? []).length > 0 && run.qemuCpu === undefined))) continue;
      if (accel === 'kvm' && !(g.kvm && (run.accel === undefined || run.accel.includes('kvm')))) continue;
      if (accel === 'emu' && run.accel !== undefined && !run.accel.includes('emu')) continue;
      if (!existsSync(elf)) {
        console.log(`FAIL ${run.id}: ${elf} missing (node scripts/build-guests.mjs)`);
        failures++;
        continue;
      }
      count++;
      const t0 = Date.now();
      const timeout = (run.timeoutSec ?? 30) * 1000 * (accel === 'tcg' ? 1 : 6);
      const r = tsvmm
        ? spawnSync(process.execPath, tsvmmArgs(elf, run, tsvmm), { input: run.stdin ?? '', encoding: 'latin1', timeout })
        : spawnSync('qemu-system-x86_64', qemuArgs(elf, run, accel), { input: run.stdin ?? '', encoding: 'latin1', timeout });
      const ms = Date.now() - t0;
      const out = r.stdout ?? '';
      if (record && !tsvmm && accel === 'tcg' && run.deterministic && r.status === run.exitStatus) run.expect = { exact: out };
      const ok = r.status === run.exitStatus && matches(run.expect, out);
      if (!ok) failures++;
      console.log(`${ok ? 'ok  ' : 'FAIL'} ${run.id} (${ms} ms, status ${r.status}${r.signal ? ' ' + r.signal : ''})`);
      if (!ok || verbose) {
        process.stdout.write(out.replace(/^/gm, '     | ') + '\n');
        if (r.stderr) process.stdout.write(r.stderr.replace(/^/gm, '     ! ') + '\n');
      }
    }
  }
  if (record) writeFileSync(MANIFEST, JSON.stringify(manifest, null, 2) + '\n');
  console.log(`qemu-check (${tsvmm ? 'tsvmm ' : ''}${accel}): ${count - failures}/${count} runs match${record ? ' (recorded)' : ''}`);
  process.exit(failures ? 1 : 0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
