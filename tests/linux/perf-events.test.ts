// Linux's own perf_event subsystem drives emu's virtual PMU: the Debian kernel and tsvmm's busybox initramfs,
// plus tests/linux/perf-probe.c (built here, static, with the machine's gcc) in a second cpio archive that the
// kernel unpacks over the first. The probe counts instructions, branches and cycles in user mode (read(2), and
// RDPMC through the event's user page), takes overflow interrupts with a sample period (each a queued signal;
// the kernel's PMI is an NMI through the LVTPC), and opens more events than there are counters so that the
// kernel multiplexes them. emu's PMU is exact, so the probe's differences (the same code around two loop
// lengths) must be exact too. A second boot gives the guest a version 2 PMU without fixed counters and an event
// filter that denies branches (KVM's semantics: the event counts nothing). QEMU TCG offers no PMU and kvm_pvm
// none either, so only emu runs it (deterministic, so a loaded host changes nothing the guest sees).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CpioWriter } from '../../src/boot/initramfs/cpio-newc.js';
import { CACHE_DIR, INITRAMFS_FILE, KERNEL_DIR, LINUX_GUEST_CMDLINE, REPO_ROOT } from '../../src/vmm/linux-guest.js';
import { INIT_MARKER, SHELL_PROMPT, ShellSession } from './shell-session.js';

const kernel = join(KERNEL_DIR, 'vmlinuz');
const initrd = join(CACHE_DIR, INITRAMFS_FILE);
const noImages = 'no Linux guest in .cache/ (node scripts/fetch-linux-guest.mjs fetches it; node scripts/setup.mjs --test does too)';
const BOOT_MS = 900_000;
const CMD_MS = 600_000;

/** The probe's loop lengths and sampling parameters (perf-probe.c). */
const N1 = 100_000;
const N2 = 1_100_000;
const MUX_N = 50_000_000;

/** Where the probe and the initramfs with it are built. */
const PROBE_DIR = join(REPO_ROOT, '.cache', 'perf-probe');

let probeInitrd: { initrd: string } | { skip: string } | undefined;

/**
 * The guest's initramfs with the probe appended as a second newc archive (the kernel unpacks both into the same
 * rootfs), built once: the probe static with gcc into .cache/ (keyed by its source); or why it cannot be.
 */
function initrdWithProbe(): { initrd: string } | { skip: string } {
  if (probeInitrd !== undefined) return probeInitrd;
  const src = join(REPO_ROOT, 'tests', 'linux', 'perf-probe.c');
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 16);
  const bin = join(PROBE_DIR, `perf-probe-${hash}`);
  if (!existsSync(bin)) {
    mkdirSync(PROBE_DIR, { recursive: true });
    try {
      execFileSync('gcc', ['-O2', '-static', '-Wall', '-Wextra', '-Werror', '-o', bin, src], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
      return (probeInitrd = { skip: `cannot build tests/linux/perf-probe.c static with gcc (needs gcc and libc6-dev): ${stderr || String(e)}` });
    }
  }
  const extra = new CpioWriter().file('perf-probe', readFileSync(bin), 0o755).finish();
  const both = join(PROBE_DIR, 'initramfs-perf.cpio');
  writeFileSync(both, Buffer.concat([readFileSync(initrd), extra]));
  return (probeInitrd = { initrd: both });
}

/** "name value" lines of the probe's output. */
function parse(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) m.set(line.slice(0, sp), line.slice(sp + 1).trim());
  }
  return m;
}

/** The PMI and NMI counts of /proc/interrupts, summed over CPUs. */
function interruptCounts(out: string): { pmi: number; nmi: number } {
  const sum = (name: string): number => {
    const line = out.split('\n').find((l) => l.trim().startsWith(`${name}:`));
    if (line === undefined) return -1;
    return line
      .trim()
      .slice(name.length + 1)
      .trim()
      .split(/\s+/)
      .filter((w) => /^\d+$/.test(w))
      .reduce((s, w) => s + Number(w), 0);
  };
  return { pmi: sum('PMI'), nmi: sum('NMI') };
}

/** A PMU configuration to boot with, and what the probe must then see. */
interface Scenario {
  name: string;
  args: (dir: string) => string[];
  /** Branches are denied by the event filter: they count nothing, multiplexed or not. */
  branchesDenied: boolean;
}

const SCENARIOS: Scenario[] = [
  { name: 'the default PMU (version 4, 8 general-purpose and 3 fixed counters)', args: () => [], branchesDenied: false },
  {
    name: 'version 2, 4 general-purpose counters, no fixed ones, branches denied by the event filter',
    args: (dir) => {
      const filter = join(dir, 'deny-branches.json');
      writeFileSync(filter, JSON.stringify({ action: 'deny', events: [{ name: 'branches', event: '0xC4', umask: '0x00' }] }));
      return ['--pmu-version', '2', '--pmu-counters', '4', '--pmu-fixed', '0', '--pmu-filter', filter];
    },
    branchesDenied: true,
  },
];

for (const sc of SCENARIOS) {
  test(`Linux perf_event on emu, ${sc.name}: exact user-mode counts (read and RDPMC), overflow interrupts, multiplexing`, { skip: existsSync(kernel) && existsSync(initrd) ? false : noImages, timeout: 1_800_000 }, async (t) => {
    const probe = initrdWithProbe();
    if ('skip' in probe) {
      t.skip(probe.skip);
      return;
    }
    const s = new ShellSession({ kind: 'tsvmm', accel: 'emu', decompress: 'host', deterministic: true }, { kernel, initrd: probe.initrd, cmdline: LINUX_GUEST_CMDLINE, cpus: 1, memMiB: 256, tsvmmArgs: sc.args(PROBE_DIR) });
    try {
      await s.waitFor(INIT_MARKER, BOOT_MS);
      await s.waitFor(SHELL_PROMPT, BOOT_MS);
      const before = interruptCounts((await s.run('cat /proc/interrupts', CMD_MS)).output);
      const r = await s.run('/perf-probe', CMD_MS);
      const after = interruptCounts((await s.run('cat /proc/interrupts', CMD_MS)).output);
      t.diagnostic(r.output.replace(/\n/g, ' | '));
      assert.equal(r.status, 0, r.output);
      assert.ok(r.output.includes('perf-probe done'), r.output);
      const p = parse(r.output);
      const num = (k: string): number => {
        const v = p.get(k);
        assert.ok(v !== undefined && /^-?\d+$/.test(v), `perf-probe printed no number for ${k}: ${JSON.stringify(r.output)}`);
        return Number(v);
      };
      const branches = sc.branchesDenied ? 0 : N2 - N1;

      // Counting: the same code around two loop lengths, so the differences are the loops' alone.
      assert.equal(num('count.instructions.diff'), 2 * (N2 - N1), 'user-mode instructions retired by 2 * (N2 - N1) more dec/jnz');
      assert.equal(num('count.branches.diff'), branches, sc.branchesDenied ? 'a denied event counts nothing' : 'one branch per iteration');
      assert.ok(num('count.instructions.n1') >= 2 * N1, 'the count covers the whole loop');
      assert.ok(num('count.cycles.diff') >= N2 - N1, 'core cycles advance with the loop');
      // RDPMC in user mode (CR4.PCE, the counter index from the event's user page) sees the same counters.
      assert.equal(num('rdpmc.instructions.diff'), 2 * (N2 - N1));
      assert.equal(num('rdpmc.branches.diff'), branches);

      // Overflow interrupts: one per sample period retired, each delivered as a signal before the count is read.
      const count = num('sample.instructions.count');
      const period = num('sample.instructions.period');
      assert.equal(num('sample.instructions.overflows'), Math.floor(count / period), `overflows of ${count} instructions at period ${period}`);
      assert.ok(before.pmi >= 0 && after.pmi - before.pmi >= Math.floor(count / period), `/proc/interrupts PMI ${before.pmi} -> ${after.pmi}`);

      // Multiplexing: 12 events, fewer counters; each ran part of the time and its scaled count estimates the whole.
      assert.equal(num('mux.partial'), num('mux.events'), 'every event was rotated out some of the time');
      const lo = num('mux.estimate.min');
      const hi = num('mux.estimate.max');
      if (sc.branchesDenied) assert.equal(hi, 0, 'a denied event counts nothing when multiplexed either');
      else assert.ok(lo > MUX_N * 0.75 && hi < MUX_N * 1.25, `scaled estimates ${lo}..${hi} of ${MUX_N} branches`);
    } finally {
      s.kill();
    }
  });
}
