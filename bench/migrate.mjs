// `npm run bench -- migrate`: snapshot/restore and live migration, tsvmm (emu, and kvm where /dev/kvm opens) beside QEMU TCG.
// - kvm rows: 256 MiB, the idle guest (and the touching one where KVM is hardware-backed: on kvm_pvm guest ring 0
//   runs at ~3 MIPS, too slow to write 64 MiB), snapshot/restore and kvm -> kvm live migration.
// - Snapshots of 256 MiB and 1 GiB guests, idle (the ticker guest) and touching memory (memtouch writes
//   64 MiB): create time and file size, and restore time until the guest runs again. QEMU: its migration
//   stream to a file (`migrate exec:cat > FILE`, what savevm writes without a qcow2 disk) and
//   `-incoming exec:cat FILE` until `info status` says running.
// - Live migration of a 256 MiB guest to a second process on this machine: idle, and dirtying memory
//   at 10 MiB/s (memtouch dirty=10240 rate=10240, paced by the TSC), and rewriting 10 MiB as fast as the CPU
//   runs it (no rate: tsvmm's auto-converge throttles it): total time and downtime. QEMU: two TCG processes,
//   `migrate unix:`, its own `info migrate` figures (auto-converge on for the flat-out guest).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { root, tsvmmBin, has, printTable, median } from './lib.mjs';

const dist = (p) => join(root, 'dist', 'src', p);
const { VmController } = await import(dist('vmm/controller.js'));
const { SocketMigration } = await import(dist('vmm/state/migration.js'));
const ticker = join(root, 'guests', 'build', 'ticker.elf');
const memtouch = join(root, 'guests', 'build', 'memtouch.elf');
const dir = mkdtempSync(join(tmpdir(), 'tsvmm-bench-mig-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const runs = Number(process.env.BENCH_RUNS ?? 2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sink = () => {
  let text = '';
  return { write: (b) => (text += Buffer.from(b).toString('latin1')), close() {}, text: () => text };
};
async function until(cond, what, ms = 120_000) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const GUESTS = {
  idle: { kernel: ticker, cmdline: 'lines=0 work=200000', ready: 'tick 1 ' },
  touching: { kernel: memtouch, cmdline: 'kib=65536', ready: 'touched' },
  dirtying: { kernel: memtouch, cmdline: 'kib=10240 dirty=10240 rate=10240', ready: 'touched' },
  flatout: { kernel: memtouch, cmdline: 'kib=10240 dirty=10240', ready: 'touched' },
};
/** QEMU TCG's TSC is the host's: the paced guest needs its rate (CPUID leaf 15H is not in QEMU's default model). */
const hostTscMhz = (() => {
  try {
    const m = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? Math.round(Number(m[1])) : 1000;
  } catch {
    return 1000;
  }
})();

function source(g, memBytes, s, accel) {
  return new VmController({ config: { kernel: g.kernel, cmdline: g.cmdline, accel, memBytes, serial: { kind: 'none' }, cpus: 1 }, bootSourceGiven: true, serialSink: s });
}

/** Whether /dev/kvm opens here, and whether it is kvm_pvm (guest ring 0 in software). */
const kvm = (() => {
  try {
    closeSync(openSync('/dev/kvm', 'r+'));
  } catch (e) {
    return { usable: false, why: `no usable /dev/kvm (${e.code ?? e.message})` };
  }
  return { usable: true, pvm: existsSync('/sys/module/kvm_pvm') };
})();

async function tsvmmSnapshot(g, memBytes, accel = 'emu') {
  const s = sink();
  const src = source(g, memBytes, s, accel);
  await src.dispatch({ type: 'start' });
  await until(() => s.text().includes(g.ready), g.ready);
  await src.dispatch({ type: 'pause' });
  const file = join(dir, 'bench.snap');
  let t = performance.now();
  await src.dispatch({ type: 'snapshot-create', snapshotPath: file, kind: 'full' });
  const createMs = performance.now() - t;
  const bytes = statSync(file).size;
  await src.dispose();
  const dst = new VmController({ config: { accel, serial: { kind: 'none' } }, serialSink: sink() });
  t = performance.now();
  await dst.dispatch({ type: 'snapshot-load', snapshotPath: file, resume: true });
  const restoreMs = performance.now() - t;
  await dst.dispose();
  return { createMs, restoreMs, bytes };
}

// ---- QEMU (TCG), driven through its human monitor on a unix socket ----
class Hmp {
  static async open(path) {
    const h = new Hmp();
    await until(() => existsSync(path), 'the QEMU monitor', 30_000);
    h.sock = connect(path);
    h.buf = '';
    h.sock.on('data', (d) => (h.buf += d.toString()));
    await until(() => h.buf.includes('(qemu)'), 'the monitor prompt', 30_000);
    return h;
  }
  async cmd(line) {
    this.buf = '';
    this.sock.write(`${line}\n`);
    await until(() => /\(qemu\) $/.test(this.buf.replace(/\r/g, '')), `"${line}"`, 300_000);
    return this.buf;
  }
  close() {
    this.sock.destroy();
  }
}

function qemu(memMiB, g, extra) {
  if (g === GUESTS.dirtying) g = { ...g, cmdline: `${g.cmdline} tsc_mhz=${hostTscMhz}` };
  const mon = join(dir, `qemu-${Math.random().toString(36).slice(2)}.mon`);
  const args = ['-accel', 'tcg', '-m', String(memMiB), '-display', 'none', '-serial', 'none', '-monitor', `unix:${mon},server,nowait`, '-kernel', g.kernel, '-append', g.cmdline, '-device', 'isa-debug-exit', ...extra];
  const child = spawn('qemu-system-x86_64', args, { stdio: 'ignore' });
  return { child, mon };
}

async function qemuMigrateStats(h) {
  for (;;) {
    const out = await h.cmd('info migrate');
    if (/Migration status: completed/.test(out)) {
      const total = /total time: (\d+)/.exec(out);
      const down = /downtime: (\d+)/.exec(out);
      const bytes = /transferred ram: (\d+)/.exec(out);
      return { totalMs: total ? Number(total[1]) : NaN, downtimeMs: down ? Number(down[1]) : NaN, kbytes: bytes ? Number(bytes[1]) : NaN };
    }
    if (/failed|cancelled/.test(out)) throw new Error(`QEMU migration: ${out.trim()}`);
    await sleep(20);
  }
}

async function qemuSnapshot(g, memMiB) {
  const q = qemu(memMiB, g, []);
  try {
    const h = await Hmp.open(q.mon);
    await sleep(g === GUESTS.touching ? 8000 : 1500); // let the guest get going (no serial to watch)
    const file = join(dir, 'qemu.state');
    await h.cmd('stop');
    const t = performance.now();
    await h.cmd(`migrate "exec:cat > ${file}"`);
    await qemuMigrateStats(h);
    const createMs = performance.now() - t;
    h.close();
    q.child.kill('SIGKILL');
    const bytes = statSync(file).size;
    const r = qemu(memMiB, g, ['-incoming', `exec:cat ${file}`]);
    try {
      const t1 = performance.now();
      const h2 = await Hmp.open(r.mon);
      for (;;) {
        const st = await h2.cmd('info status');
        if (/paused \(postmigrate|paused \(prelaunch|status: paused/.test(st) && !/inmigrate/.test(st)) break;
        if (/running/.test(st)) break;
        await sleep(5);
      }
      await h2.cmd('cont');
      const restoreMs = performance.now() - t1;
      h2.close();
      return { createMs, restoreMs, bytes };
    } finally {
      r.child.kill('SIGKILL');
    }
  } finally {
    q.child.kill('SIGKILL');
  }
}

async function tsvmmMigrate(g, memBytes, accel = 'emu') {
  const addr = join(dir, `in-${Math.random().toString(36).slice(2)}.sock`);
  const dst = spawn(process.execPath, [tsvmmBin, 'run', '--incoming', `unix:${addr}`, '--serial', 'none'], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    await until(() => existsSync(addr), 'the destination', 30_000);
    const s = sink();
    const migration = new SocketMigration();
    const src = new VmController({ config: { kernel: g.kernel, cmdline: g.cmdline, accel, memBytes, serial: { kind: 'none' }, cpus: 1 }, bootSourceGiven: true, serialSink: s, migration });
    await src.dispatch({ type: 'start' });
    await until(() => s.text().includes(g.ready), g.ready);
    await sleep(300);
    await src.dispatch({ type: 'migrate', to: `unix:${addr}` });
    await src.stopped;
    return migration.lastReport;
  } finally {
    dst.kill('SIGKILL');
  }
}

async function qemuMigrate(g, memMiB) {
  const sock = join(dir, `q-${Math.random().toString(36).slice(2)}.mig`);
  const d = qemu(memMiB, g, ['-incoming', `unix:${sock}`]);
  const s = qemu(memMiB, g, []);
  try {
    const hs = await Hmp.open(s.mon);
    await until(() => existsSync(sock), 'the QEMU destination', 30_000);
    await sleep(g === GUESTS.idle ? 1500 : 4000);
    await hs.cmd('migrate_set_parameter downtime-limit 50');
    if (g === GUESTS.flatout) await hs.cmd('migrate_set_capability auto-converge on');
    await hs.cmd(`migrate -d unix:${sock}`);
    const st = await qemuMigrateStats(hs);
    hs.close();
    return { totalMs: st.totalMs, downtimeMs: st.downtimeMs, rounds: '-' };
  } finally {
    s.child.kill('SIGKILL');
    d.child.kill('SIGKILL');
  }
}

const load = () => loadavg()[0].toFixed(1);
const haveQemu = has('qemu-system-x86_64');
const fmt = (x) => (Number.isFinite(x) ? x.toFixed(0) : '-');
// Warm-up: the first snapshot loads the state modules.
await tsvmmSnapshot(GUESTS.idle, 64 << 20);
const rows = [['guest', 'RAM', 'VMM', 'create ms', 'restore ms', 'file MiB', 'load']];
for (const [name, g] of [['idle', GUESTS.idle], ['touching 64 MiB', GUESTS.touching]]) {
  for (const mib of [256, 1024]) {
    const xs = [];
    for (let i = 0; i < runs; i++) xs.push(await tsvmmSnapshot(g, mib << 20));
    rows.push([name, `${mib} MiB`, 'tsvmm emu', fmt(median(xs.map((x) => x.createMs))), fmt(median(xs.map((x) => x.restoreMs))), (median(xs.map((x) => x.bytes)) / 2 ** 20).toFixed(1), load()]);
    if (kvm.usable && mib === 256 && (g === GUESTS.idle || !kvm.pvm)) {
      const ks = [];
      for (let i = 0; i < runs; i++) ks.push(await tsvmmSnapshot(g, mib << 20, 'kvm'));
      rows.push(['', '', `tsvmm kvm${kvm.pvm ? ' (kvm_pvm)' : ''}`, fmt(median(ks.map((x) => x.createMs))), fmt(median(ks.map((x) => x.restoreMs))), (median(ks.map((x) => x.bytes)) / 2 ** 20).toFixed(1), load()]);
    }
    if (haveQemu) {
      try {
        const q = await qemuSnapshot(g, mib);
        rows.push(['', '', 'QEMU TCG', fmt(q.createMs), fmt(q.restoreMs), (q.bytes / 2 ** 20).toFixed(1), load()]);
      } catch (e) {
        rows.push(['', '', 'QEMU TCG', `failed: ${e.message.slice(0, 60)}`, '-', '-', load()]);
      }
    }
  }
}
printTable(`Snapshot and restore (median of ${runs}; restore = until the guest runs again)`, rows);

const mrows = [['guest (256 MiB)', 'VMM', 'total ms', 'downtime ms (each run)', 'until resumed', 'rounds', 'last pages', 'throttle', 'load']];
for (const [name, g] of [['idle', GUESTS.idle], ['dirtying 10 MiB/s', GUESTS.dirtying], ['rewriting 10 MiB flat out', GUESTS.flatout]]) {
  const xs = [];
  for (let i = 0; i < runs; i++) xs.push(await tsvmmMigrate(g, 256 << 20));
  mrows.push([name, 'tsvmm emu', fmt(median(xs.map((x) => x.totalMs))), `${fmt(median(xs.map((x) => x.downtimeMs)))} (${xs.map((x) => fmt(x.downtimeMs)).join(', ')})`, `${fmt(median(xs.map((x) => x.stoppedMs)))} (${xs.map((x) => fmt(x.stoppedMs)).join(', ')})`, String(median(xs.map((x) => x.rounds))), String(median(xs.map((x) => x.phases.finalPages))), median(xs.map((x) => x.throttle)).toFixed(2), load()]);
  if (haveQemu) {
    try {
      const q = await qemuMigrate(g, 256);
      mrows.push(['', 'QEMU TCG', fmt(q.totalMs), `${fmt(q.downtimeMs)} (its own figure: stop to last byte sent)`, '-', '-', '-', g === GUESTS.flatout ? 'auto-converge' : '-', load()]);
    } catch (e) {
      mrows.push(['', 'QEMU TCG', `failed: ${e.message.slice(0, 60)}`, '-', '-', '-', '-', '-', load()]);
    }
  }
  if (kvm.usable && (g === GUESTS.idle || !kvm.pvm)) {
    const ks = [];
    for (let i = 0; i < runs; i++) ks.push(await tsvmmMigrate(g, 256 << 20, 'kvm'));
    mrows.push(['', `tsvmm kvm${kvm.pvm ? ' (kvm_pvm)' : ''}`, fmt(median(ks.map((x) => x.totalMs))), `${fmt(median(ks.map((x) => x.downtimeMs)))} (${ks.map((x) => fmt(x.downtimeMs)).join(', ')})`, `${fmt(median(ks.map((x) => x.stoppedMs)))} (${ks.map((x) => fmt(x.stoppedMs)).join(', ')})`, String(median(ks.map((x) => x.rounds))), String(median(ks.map((x) => x.phases.finalPages))), median(ks.map((x) => x.throttle)).toFixed(2), load()]);
  }
}
printTable(`Live migration to a second process on this machine (median of ${runs}; target downtime 50 ms)`, mrows);
if (!haveQemu) console.log('QEMU: qemu-system-x86_64 is not installed; no QEMU rows.');
if (!kvm.usable) console.log(`kvm: ${kvm.why}; no kvm rows.`);
else if (kvm.pvm) console.log('kvm: kvm_pvm (guest ring 0 emulated in software at ~3 MIPS): kvm rows for the idle guest only.');
process.exit(0);
