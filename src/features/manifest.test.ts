import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalCpuid, enumerateCpuid, lookupCpuid, presentCpuid, type CpuidValue } from './cpuid-table.js';
import { MANIFEST_FORMAT, MANIFEST_VERSION, ManifestError, loadManifest, manifestToJson, type FeatureManifest } from './manifest.js';
import { cannotGive, diffManifests } from './manifest-compare.js';
import { BaselineError, baselineManifest } from './baseline.js';
import { emuCpuid } from './emu-cpu-model.js';

const V = (leaf: number, subleaf: number, eax: number, ebx: number, ecx: number, edx: number): CpuidValue => ({ leaf, subleaf, eax, ebx, ecx, edx });
// "GenuineIntel": EBX "Genu", EDX "ineI", ECX "ntel".
const INTEL = [0x756e6547, 0x6c65746e, 0x49656e69] as const;

function manifest(cpuid: CpuidValue[], extra: Partial<FeatureManifest> = {}): FeatureManifest {
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    origin: { kind: 'host' },
    machine: { cpus: 1, memBytes: 64 << 20 },
    cpuid: canonicalCpuid(cpuid),
    msrs: [0x10, 0x1b, 0x277],
    pmu: { version: 2, gpCounters: 4, gpCounterWidth: 48, fixedCounters: 3, fixedCounterWidth: 48, eventsUnavailable: 0x58, filter: null },
    devices: [{ bus: 'pio', base: 0x3f8, size: 8, name: 'com1' }],
    memory: [{ name: 'ram-low', gpa: 0, size: 64 << 20 }],
    ...extra,
  };
}

/** A host: max leaf 7, AVX2 + BMI2 + SSE4.2 + POPCNT, 40/48 address bits. */
function hostA(): FeatureManifest {
  return manifest([
    V(0, 0, 7, INTEL[0], INTEL[1], INTEL[2]),
    V(1, 0, 0x906ea, 0x0500_0800, (1 << 20) | (1 << 23) | (1 << 27), (1 << 0) | (1 << 4)),
    V(7, 0, 0, (1 << 5) | (1 << 8), 0, 0),
    V(0x8000_0000, 0, 0x8000_0008, 0, 0, 0),
    V(0x8000_0008, 0, 0x3028, 0, 0, 0),
  ]);
}
/** Another: max leaf 0xd, no AVX2, SSE4.2 + POPCNT + MOVBE, 39/48 bits, XSAVE x87+SSE+AVX. */
function hostB(): FeatureManifest {
  return manifest(
    [
      V(0, 0, 0xd, INTEL[0], INTEL[1], INTEL[2]),
      V(1, 0, 0x306a9, 0x0100_0800, (1 << 20) | (1 << 22) | (1 << 23), (1 << 0) | (1 << 4)),
      V(7, 0, 0, 1 << 8, 0, 0),
      V(0xd, 0, 7, 0x340, 0x340, 0),
      V(0xd, 1, 1, 0, 0, 0),
      V(0xd, 2, 256, 576, 0, 0),
      V(0x8000_0000, 0, 0x8000_0008, 0, 0, 0),
      V(0x8000_0008, 0, 0x3027, 0, 0, 0),
    ],
    { pmu: { version: 4, gpCounters: 8, gpCounterWidth: 48, fixedCounters: 3, fixedCounterWidth: 48, eventsUnavailable: 0x18, filter: null }, msrs: [0x10, 0x1b, 0x277, 0x10a] },
  );
}

test('enumerateCpuid reads every leaf and subleaf a CPU reports (the emulator model)', () => {
  const out = new Int32Array(4);
  const t = enumerateCpuid((l, s) => {
    emuCpuid(l, s, 0, 2, out);
    return [out[0]!, out[1]!, out[2]!, out[3]!];
  });
  const max = t.find((v) => v.leaf === 0)!.eax;
  assert.ok(t.some((v) => v.leaf === max));
  assert.ok(!t.some((v) => v.leaf > max && v.leaf < 0x4000_0000), 'nothing above the highest basic leaf');
  // The hypervisor range holds one leaf: its own maximum and tsvmm's signature.
  const hv = t.filter((v) => v.leaf >= 0x4000_0000 && v.leaf < 0x8000_0000);
  assert.deepEqual(hv.map((v) => v.leaf), [0x4000_0000]);
  assert.equal(Buffer.from(new Int32Array([hv[0]!.ebx, hv[0]!.ecx, hv[0]!.edx]).buffer).toString('latin1'), 'TSVMMTSVMM\0\0');
  assert.deepEqual(t.filter((v) => v.leaf === 0xb).map((v) => v.subleaf), [0, 1], 'topology levels until type 0');
  assert.ok(t.some((v) => v.leaf === 0x8000_0004), 'the brand string leaves');
});

test('canonical tables zero the per-vCPU and run-time bits; presenting a table keeps them live', () => {
  const [c] = canonicalCpuid([V(1, 0, 0x6f1, 0x0310_0800, (1 << 27) | (1 << 23), 0)]);
  assert.equal(c!.ebx, 0x0010_0800, 'APIC id gone');
  assert.equal(c!.ecx, 1 << 23, 'OSXSAVE gone');
  const table = [V(0, 0, 1, 1, 2, 3), V(1, 0, 0x111, 0x0000_0800, 1 << 23, 0)];
  assert.deepEqual(presentCpuid(table, 1, 0, [0, 0x0500_0000, 1 << 27, 0xffff]), [0x111, 0x0500_0800, (1 << 23) | (1 << 27), 0], 'APIC id and OSXSAVE from the live vCPU');
  assert.deepEqual(lookupCpuid(table, 0x20, 0), table[1], 'above the highest leaf: the highest basic leaf (as Intel CPUs answer)');
  assert.deepEqual(lookupCpuid(table, 0x8000_0001, 0), table[1], 'no extended range either');
});

test('a manifest round-trips through JSON; a bad file is refused naming the field', () => {
  const m = hostB();
  const back = loadManifest(manifestToJson(m), 'b.json');
  assert.deepEqual(diffManifests(m, back), []);
  assert.deepEqual(back.cpuid, m.cpuid);
  const bad = (mutate: (d: Record<string, unknown>) => void): string => {
    const d = JSON.parse(manifestToJson(m)) as Record<string, unknown>;
    mutate(d);
    try {
      loadManifest(JSON.stringify(d), 'm.json');
    } catch (e) {
      assert.ok(e instanceof ManifestError);
      return e.message;
    }
    throw new Error('accepted');
  };
  assert.equal(bad((d) => (d['format'] = 'x')), 'm.json: format: expected "tsvmm-feature-manifest" (a file written by tsvmm caps --json), got "x"');
  assert.equal(bad((d) => (d['version'] = 2)), 'm.json: version: version 2 is not supported (this tsvmm reads version 1)');
  assert.match(bad((d) => ((d['cpuid'] as Record<string, unknown>[])[1]!['ecx'] = 'zz')), /m\.json: cpuid\[1\]\.ecx: expected a hex string/);
  assert.match(bad((d) => ((d['pmu'] as Record<string, unknown>)['gpCounters'] = -1)), /m\.json: pmu\.gpCounters: expected an integer 0-255, got -1/);
  assert.match(bad((d) => (d['extra'] = 1)), /m\.json: manifest\.extra: unknown field/);
  assert.match(bad((d) => (d['cpuid'] = (d['cpuid'] as unknown[]).slice(1))), /has no leaf 0/);
  assert.match(bad((d) => (d['cpuid'] = [...(d['cpuid'] as unknown[]), (d['cpuid'] as unknown[])[0]])), /leaf 0x0 subleaf 0 appears twice/);
  assert.throws(() => loadManifest('{', 'm.json'), /m\.json: not valid JSON/);
});

test('diffManifests names every guest-visible difference; origin and dynamic bits do not count', () => {
  const a = hostA();
  assert.deepEqual(diffManifests(a, { ...a, origin: { kind: 'vm', hostname: 'elsewhere' } }), []);
  const d = diffManifests(hostA(), hostB());
  const names = d.map((x) => x.name);
  for (const n of ['cpuid.max basic leaf', 'cpuid.signature', 'cpuid.movbe', 'cpuid.avx2', 'cpuid.physical address bits', 'cpuid.xsave.x87', 'msr 0x10a', 'pmu.version', 'pmu.gpCounters', 'pmu.eventsUnavailable']) {
    assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
  }
  assert.deepEqual(d.find((x) => x.name === 'cpuid.avx2'), { name: 'cpuid.avx2', a: 'yes', b: 'no' });
  assert.ok(!names.some((n) => /apic|osxsave/i.test(n)), 'no dynamic bits');
  const moved = diffManifests(a, { ...a, machine: { cpus: 2, memBytes: a.machine.memBytes }, devices: [] });
  assert.deepEqual(moved.map((x) => x.name), ['machine.cpus', 'device pio 0x3f8+8 com1']);
});

test('the baseline of a pool: flags AND, limits min, unavailability OR, XSAVE re-sized, MSRs intersected', () => {
  const b = baselineManifest([
    { name: 'a.json', manifest: hostA() },
    { name: 'b.json', manifest: hostB() },
  ]);
  const get = (l: number, s = 0): CpuidValue => b.cpuid.find((v) => v.leaf === l && v.subleaf === s)!;
  assert.equal(get(0).eax, 7, 'highest leaf: the smaller');
  assert.equal(get(1).ecx, (1 << 20) | (1 << 23), 'sse4_2 and popcnt; movbe (B only) gone');
  assert.equal(get(7).ebx, 1 << 8, 'bmi2 kept, avx2 (A only) gone');
  assert.equal(get(1).eax, 0x906ea, 'signature: the first manifest\'s');
  assert.equal(get(0x8000_0008).eax, 0x3027, '39 physical address bits');
  assert.equal(b.cpuid.some((v) => v.leaf === 0xd), false, 'leaf 0xd is above the common highest leaf');
  assert.deepEqual(b.msrs, [0x10, 0x1b, 0x277]);
  assert.deepEqual({ ...b.pmu }, { version: 2, gpCounters: 4, gpCounterWidth: 48, fixedCounters: 3, fixedCounterWidth: 48, eventsUnavailable: 0x58, filter: null });
  assert.deepEqual(b.origin.from, ['a.json', 'b.json']);
  // Every host can give the baseline; neither gives the other's extras.
  assert.deepEqual(cannotGive(b, hostA()), []);
  assert.deepEqual(cannotGive(b, hostB()), []);
  assert.deepEqual(cannotGive(hostA(), hostB()), ['avx2', 'cpuid.physical address bits 0x28 (this host: 0x27)']);
  assert.deepEqual(cannotGive(hostB(), hostA()), [
    'cpuid.max basic leaf 0xd (this host: 0x7)',
    'movbe',
    'xsave.x87',
    'xsave.sse',
    'xsave.avx',
    'cpuid.xsave area size 0x340 (this host: 0x0)',
    'xsaveopt',
    'cpuid.xsave avx layout 0x100 (this host: 0x0)',
    'cpuid.xsave avx layout 0x240 (this host: 0x0)',
    'msrs 0x10a',
    'pmu.version 4 (this host: 2)',
    'pmu.gpCounters 8 (this host: 4)',
    'pmu events 0x40 (unavailable on this host)',
  ]);
});

test('a model without a PMU (a VM run with --pmu off) needs none of the host\'s PMU events', () => {
  const noPmu = { ...hostA(), pmu: { version: 0, gpCounters: 0, gpCounterWidth: 0, fixedCounters: 0, fixedCounterWidth: 0, eventsUnavailable: 0, filter: null } };
  assert.deepEqual(cannotGive(noPmu, hostA()), [], 'hostA lacks events 0x58: nothing this model counts');
  assert.deepEqual(cannotGive({ ...noPmu, pmu: { ...hostA().pmu, eventsUnavailable: 0 } }, hostA()), ['pmu events 0x58 (unavailable on this host)'], 'with a PMU they are missed');
});

test('XSAVE: components every host has stay, and the area size is recomputed for them', () => {
  const withXsave = (comps: number, avx: boolean): FeatureManifest =>
    manifest([V(0, 0, 0xd, INTEL[0], INTEL[1], INTEL[2]), V(1, 0, 0, 0, 1 << 26, 0), V(0xd, 0, comps, 0, avx ? 0x340 : 0x240, 0), V(0xd, 1, 1, 0, 0, 0), ...(avx ? [V(0xd, 2, 256, 576, 0, 0)] : [])]);
  const b = baselineManifest([
    { name: 'x', manifest: withXsave(7, true) },
    { name: 'y', manifest: withXsave(3, false) },
  ]);
  const d0 = b.cpuid.find((v) => v.leaf === 0xd && v.subleaf === 0)!;
  assert.equal(d0.eax, 3);
  assert.equal(d0.ecx, 576, 'legacy area + header only');
  assert.equal(b.cpuid.some((v) => v.leaf === 0xd && v.subleaf === 2), false);
});

test('a pool with different vendors, machines or PMU filters has no baseline, and says why', () => {
  const amd = manifest([V(0, 0, 7, 0x68747541, 0x444d4163, 0x69746e65)]);
  assert.throws(() => baselineManifest([{ name: 'a.json', manifest: hostA() }, { name: 'amd.json', manifest: amd }]), (e: unknown) => e instanceof BaselineError && /a\.json \(GenuineIntel\) and amd\.json \(AuthenticAMD\) have different CPU vendors/.test(e.message));
  const big = { ...hostA(), machine: { cpus: 1, memBytes: 128 << 20 } };
  assert.throws(() => baselineManifest([{ name: 'a.json', manifest: hostA() }, { name: 'big.json', manifest: big }]), /describe different machines \(machine\.memBytes/);
  const filtered = { ...hostA(), pmu: { ...hostA().pmu, filter: { action: 'deny' as const, masked: false, fixedCounterBitmap: 0, entries: [] } } };
  assert.throws(() => baselineManifest([{ name: 'a.json', manifest: hostA() }, { name: 'f.json', manifest: filtered }]), /different PMU event filters/);
  assert.throws(() => baselineManifest([]), /no manifests/);
});
