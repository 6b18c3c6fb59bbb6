/**
 * Feature manifests through the CLI: `caps --json` writes one, `caps --baseline` combines a pool's,
 * and `run --cpu-model` gives a guest exactly that CPU, which real guests check (the demo prints the
 * CPUID it sees; pmu-msrs checks every PMU MSR and CPUID.0AH against the expected shape).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { guestPath, loadManifest as loadGuestManifest, tsvmmBin, kvmUnusable } from './guest-runner.js';

interface Json {
  [k: string]: unknown;
}
type Leaf = { leaf: string; subleaf: number; eax: string; ebx: string; ecx: string; edx: string };

function tsvmm(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [tsvmmBin, ...args], { encoding: 'latin1', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function caps(args: readonly string[]): Json {
  const r = tsvmm(['caps', '--json', ...args]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Json;
}

function leaf(m: Json, l: number, s = 0): Leaf {
  const v = (m['cpuid'] as Leaf[]).find((x) => Number(x.leaf) === l && x.subleaf === s);
  assert.ok(v, `leaf 0x${l.toString(16)}.${s}`);
  return v;
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

/** What the manifest of guests/ expects from a pmu-msrs run. */
function pmuMsrsExpected(id: string): string {
  const run = loadGuestManifest()
    .flatMap((g) => g.runs)
    .find((r) => r.id === id);
  assert.ok(run?.expect.exact, id);
  return run.expect.exact;
}

test('emu: caps --json, run --cpu-model: the guest sees the model\'s CPUID (brand, highest leaf) and PMU', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-model-'));
  try {
    // A model with its own brand string and a lower highest leaf: descriptive values any host can give.
    const m = caps(['--accel', 'emu']);
    assert.equal(m['format'], 'tsvmm-feature-manifest');
    const brand = 'tsvmm test CPU model'.padEnd(48, '\0');
    for (let i = 0; i < 3; i++) {
      const v = leaf(m, 0x8000_0002 + i);
      const word = (k: number): string => hex([0, 1, 2, 3].reduce((acc, j) => acc + brand.charCodeAt(i * 16 + k * 4 + j) * 2 ** (8 * j), 0));
      v.eax = word(0);
      v.ebx = word(1);
      v.ecx = word(2);
      v.edx = word(3);
    }
    leaf(m, 0).eax = '0xb';
    const model = join(dir, 'model.json');
    writeFileSync(model, JSON.stringify(m));
    const demo = tsvmm(['run', '--accel', 'emu', '--cpu-model', model, '--kernel', guestPath('demo')]);
    assert.equal(demo.status, 0, demo.stderr);
    assert.match(demo.stdout, /CPU vendor {3}: GenuineIntel \(max leaf 0xb\)/);
    assert.match(demo.stdout, /CPU brand {4}: tsvmm test CPU model\r?\n/);

    // The PMU follows the model: version 3 with 2 + 1 counters, checked MSR by MSR by the guest.
    const p = caps(['--accel', 'emu', '--pmu-version', '3', '--pmu-counters', '2', '--pmu-fixed', '1']);
    assert.deepEqual(p['pmu'], { version: 3, gpCounters: 2, gpCounterWidth: 48, fixedCounters: 1, fixedCounterWidth: 48, eventsUnavailable: 0x58, filter: null });
    const pmuModel = join(dir, 'pmu.json');
    writeFileSync(pmuModel, JSON.stringify(p));
    const r = tsvmm(['run', '--accel', 'emu', '--cpu-model', pmuModel, '--kernel', guestPath('pmu-msrs'), '--cmdline', 'version=3 counters=2 fixed=1', '--mem', '128M']);
    assert.equal(r.stdout, pmuMsrsExpected('pmu-msrs-v3-2gp-1fixed'));
    assert.equal(r.status, 1, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('emu: run --cpu-model without PSE: the guest\'s MOV to CR4 setting PSE is #GP, as on a CPU with that CPUID', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-nopse-'));
  try {
    // paging-edge sets CR4.PSE without asking CPUID: under emu's own model it passes, without PSE it faults.
    const m = caps(['--accel', 'emu', '--mem', '64M']);
    const own = join(dir, 'own.json');
    writeFileSync(own, JSON.stringify(m));
    const ok = tsvmm(['run', '--accel', 'emu', '--mem', '64M', '--cpu-model', own, '--kernel', guestPath('paging-edge')]);
    assert.equal(ok.status, 1, ok.stderr);
    assert.match(ok.stdout, /paging-edge: all as expected/);
    leaf(m, 1).edx = hex(Number(leaf(m, 1).edx) & ~(1 << 3));
    const noPse = join(dir, 'no-pse.json');
    writeFileSync(noPse, JSON.stringify(m));
    const r = tsvmm(['run', '--accel', 'emu', '--mem', '64M', '--cpu-model', noPse, '--kernel', guestPath('paging-edge')]);
    assert.notEqual(r.status, 1);
    assert.match(r.stdout, /paging off: read of physical 0xe0000000 +no fault, reads 0xffffffff\r?\n\r? +vector 13 +FAIL/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('caps --baseline over a pool (emu and a richer host): the guest gets what both can give; more is refused by name', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-baseline-'));
  try {
    const emu = caps(['--accel', 'emu', '--mem', '128M']);
    // Another host of the pool: AVX2, MOVBE gone, BMI2, a PMU of version 2 with 4 + 2 counters.
    const other = JSON.parse(JSON.stringify(emu)) as Json;
    leaf(other, 7).ebx = hex(Number(leaf(other, 7).ebx) | (1 << 5) | (1 << 8));
    leaf(other, 1).ecx = hex(Number(leaf(other, 1).ecx) & ~(1 << 22));
    other['pmu'] = { version: 2, gpCounters: 4, gpCounterWidth: 48, fixedCounters: 2, fixedCounterWidth: 48, eventsUnavailable: 0x58, filter: null };
    const a = leaf(other, 0xa);
    a.eax = '0x7300402';
    a.edx = '0x602';
    a.ecx = '0x0';
    const files = [join(dir, 'emu.json'), join(dir, 'other.json')];
    writeFileSync(files[0]!, JSON.stringify(emu));
    writeFileSync(files[1]!, JSON.stringify(other));
    const b = tsvmm(['caps', '--baseline', ...files]);
    assert.equal(b.status, 0, b.stderr);
    const base = JSON.parse(b.stdout) as Json;
    assert.deepEqual((base['origin'] as Json)['from'], files);
    assert.equal(Number(leaf(base, 7).ebx) & ((1 << 5) | (1 << 8)), 0, 'AVX2 and BMI2 only on one host: gone');
    assert.equal(Number(leaf(base, 1).ecx) & (1 << 22), 0, 'MOVBE missing on one host: gone');
    assert.deepEqual(base['pmu'], other['pmu'], 'the smaller PMU');
    const baseFile = join(dir, 'base.json');
    writeFileSync(baseFile, b.stdout);
    const r = tsvmm(['run', '--accel', 'emu', '--cpu-model', baseFile, '--kernel', guestPath('pmu-msrs'), '--cmdline', 'version=2 counters=4 fixed=2', '--mem', '128M']);
    assert.equal(r.stdout, pmuMsrsExpected('pmu-msrs-v2-4gp-2fixed'));
    assert.equal(r.status, 1, r.stderr);

    // The richer host's own manifest is more than the emulator can give: refused, naming what.
    const refused = tsvmm(['run', '--accel', 'emu', '--cpu-model', files[1]!, '--kernel', guestPath('hello')]);
    assert.equal(refused.status, 68);
    assert.equal(refused.stderr, `tsvmm: --cpu-model ${files[1]}: this host cannot give avx2, bmi2 (make the model a baseline that includes this host: tsvmm caps --baseline)\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad models and pools are one line naming the file and the field', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-badmodel-'));
  try {
    const m = caps(['--accel', 'emu']);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...m, pmu: { ...(m['pmu'] as Json), gpCounters: 'eight' } }));
    const r = tsvmm(['run', '--accel', 'emu', '--cpu-model', bad]);
    assert.equal(r.status, 64);
    assert.equal(r.stderr, `tsvmm: --cpu-model ${bad}: pmu.gpCounters: expected an integer 0-255, got "eight"\n`);
    const missing = tsvmm(['run', '--accel', 'emu', '--cpu-model', join(dir, 'none.json')]);
    assert.equal(missing.status, 64);
    assert.match(missing.stderr, /^tsvmm: --cpu-model .*none\.json: no such file\n$/);
    const shaped = tsvmm(['run', '--accel', 'emu', '--cpu-model', bad, '--pmu-version', '2']);
    assert.equal(shaped.status, 64);
    const small = join(dir, 'small.json');
    writeFileSync(small, JSON.stringify(caps(['--accel', 'emu', '--mem', '64M'])));
    const pool = tsvmm(['caps', '--baseline', small, bad]);
    assert.equal(pool.status, 64);
    assert.match(pool.stderr, /^tsvmm: .*bad\.json: pmu\.gpCounters: expected an integer/);
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify(m));
    const mixed = tsvmm(['caps', '--baseline', small, good]);
    assert.equal(mixed.status, 64);
    assert.match(mixed.stderr, /describe different machines \(machine\.memBytes: 67108864 vs 268435456\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kvm: caps --json writes the host\'s filtered set and run --cpu-model applies it with KVM_SET_CPUID2', { skip: kvmUnusable, timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-kvm-model-'));
  try {
    const m = caps(['--accel', 'kvm']);
    assert.equal((m['origin'] as Json)['backend'], 'kvm');
    leaf(m, 0).eax = hex(Math.min(Number(leaf(m, 0).eax), 0xd));
    const model = join(dir, 'kvm.json');
    writeFileSync(model, JSON.stringify(m));
    const demo = tsvmm(['run', '--accel', 'kvm', '--cpu-model', model, '--kernel', guestPath('demo')]);
    assert.equal(demo.status, 0, demo.stderr);
    assert.match(demo.stdout, /\(max leaf 0xd\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
