import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { VmController } from '../controller.js';
import { ControllerError } from '../controller-types.js';
import type { ConsoleSink } from '../serial-console.js';
import type { RunConfig } from '../config.js';
import type { EmuVm } from '../../cpu/emu/emu-vm.js';
import { guestElf, tickerOutput } from '../ticker.test-util.js';
import { readElfSymbols } from '../profiling/elf-symbols.js';
import { MachineState } from './machine-state.js';
import { captureConsole } from '../console-capture.test-util.js';
import { seededRandom } from '../../util/seeded-random.test-util.js';

interface Case {
  readonly name: string;
  readonly guest: string;
  readonly cmdline: string;
  readonly cpus: number;
  readonly config?: Partial<RunConfig>;
  /** How many snapshot points, drawn at random (seeded) over the reference run's instruction count. */
  readonly points: number;
  /** Points of its own (20 000: where vCPU 0's first 20 000-instruction slice ends). */
  readonly fixed?: readonly number[];
  /** A situation (see situations()) one more point must land in: found by probing, then snapshotted like the others. */
  readonly find?: string;
}

/** `onStart` runs before the run loop's first round: a pause point set there cannot be overrun by a fast guest. */
function controller(c: Case, sink: ConsoleSink, trackDirtyPages = false, onStart?: (vm: EmuVm) => void): VmController {
  const v = new VmController({
    config: { kernel: guestElf(c.guest), cmdline: c.cmdline, accel: 'emu', deterministic: true, memBytes: 32 << 20, serial: { kind: 'none' }, cpus: c.cpus, ...c.config },
    bootSourceGiven: true,
    serialSink: sink,
    ...(onStart !== undefined ? { hooks: { onStart: (b) => onStart(b.vm as EmuVm) } } : {}),
  });
  if (trackDirtyPages) void v.dispatch({ type: 'set-machine', machine: { trackDirtyPages: true }, partial: true });
  return v;
}

/**
 * Starts `c` and waits until it pauses with exactly `point` instructions retired (or ends first:
 * `vm.paused` says which). The pause point is set before the run loop's first round.
 */
async function startUntil(c: Case, sink: ConsoleSink, point: number, trackDirtyPages = false): Promise<{ src: VmController; vm: EmuVm }> {
  let reached: Promise<void> = Promise.resolve();
  let vm: EmuVm | undefined;
  const src = controller(c, sink, trackDirtyPages, (v) => {
    vm = v;
    reached = v.pauseAt(point);
  });
  await src.dispatch({ type: 'start' });
  await reached;
  return { src, vm: vm! };
}

/**
 * What a finished run must agree on: output, stop, instructions, events (code-cache statistics aside),
 * PMU counts, and the machine itself: every vCPU, chip and PMU register (the backend's state) and all of RAM.
 */
async function outcome(v: VmController, text: () => string, vm: EmuVm): Promise<{ summary: unknown; ram: Buffer[] }> {
  const stop = await v.stopped;
  const s = await v.dispatch({ type: 'get-stats' });
  const exits = { ...s.exits };
  delete exits['code-invalidations'];
  const json = (x: unknown): string => JSON.stringify(x, (_k, val: unknown) => (typeof val === 'bigint' ? val.toString() : val instanceof Uint8Array ? Buffer.from(val).toString('hex') : val));
  const machine = vm.saveState().sections.map((x) => ({ ...x, fields: json(x.fields) }));
  return { summary: { text: text(), stop, instructions: s.instructions, exits, pmu: s.pmu, machine }, ram: vm.memory.regions.map((r) => Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength)) };
}

/** `got` equals `want`: the summaries deeply, RAM byte for byte. */
function assertSameOutcome(got: { summary: unknown; ram: Buffer[] }, want: { summary: unknown; ram: Buffer[] }, what: string): void {
  assert.deepEqual(got.summary, want.summary, what);
  assert.equal(got.ram.length, want.ram.length, `${what}: RAM regions`);
  got.ram.forEach((r, i) => assert.ok(r.equals(want.ram[i]!), `${what}: RAM region ${i} differs`));
}

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-snap-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** rep-irq's REP instructions under timer interrupts: where each is and how many iterations it starts with. */
const repSites = ((): Map<number, number> => {
  const count: Record<string, number> = { site_t_movsb: 64 << 10, site_t_movsq: 8 << 10, site_t_stosq: 8 << 10 };
  const out = new Map<number, number>();
  for (const sym of readElfSymbols(readFileSync(guestElf('rep-irq')), 'rep-irq.elf')) if (count[sym.name] !== undefined) out.set(sym.addr, count[sym.name]!);
  return out;
})();

/** What the VM is in the middle of at a snapshot point: a REP string instruction, a pending interrupt, a PMU counter close to overflowing. */
function situations(vm: EmuVm, guest: string): string[] {
  const out: string[] = [];
  vm.cpus.forEach((c, i) => {
    // Part of its iterations done: RIP still at the REP, RCX between its first value and 0.
    const first = guest === 'rep-irq' ? repSites.get(c.rip) : undefined;
    if (first !== undefined && c.gpr[2 * 1] !== 0 && c.gpr[2 * 1]! < first && c.gpr[2 * 1 + 1] === 0) out.push('mid-REP');
    if (vm.chips.localApic(i).hasInterrupt()) out.push('interrupt pending');
  });
  for (const p of vm.pmus) {
    for (let i = 0; i < p.config.gpCounters; i++) if (2 ** p.config.counterWidth - p.gpCounterValue(i) < 100_000 && p.gpCounterValue(i) > 0) out.push('PMU counter near overflow');
    for (let i = 0; i < p.config.fixedCounters; i++) if (2 ** p.config.counterWidth - p.fixedCounterValue(i) < 100_000 && p.fixedCounterValue(i) > 0) out.push('PMU counter near overflow');
  }
  if (vm.cpus.length >= 4) out.push('4 vCPUs');
  return out;
}

/**
 * The first point found that lands in `want`, in one run paused every `total / 4000` instructions; where
 * REP iterations ran since the last such pause, it steps on one instruction at a time for a while (a
 * REP retires nothing while it runs, so the points inside it are the few after an interrupt taken in it).
 */
async function findPoint(c: Case, want: string, total: number): Promise<number | undefined> {
  const stride = Math.max(1, Math.floor(total / 4000));
  const { src, vm } = await startUntil(c, captureConsole(), 0);
  const work = (): number => vm.cpus.reduce((n, x) => n + x.stringIters, 0);
  const to = async (point: number): Promise<void> => {
    const next = vm.pauseAt(point);
    vm.resume();
    await next;
  };
  try {
    let iters = work();
    let stepsLeft = 0;
    while (vm.paused) {
      if (situations(vm, c.guest).includes(want)) return vm.instructionsRetired;
      if (work() - iters >= 1024) stepsLeft = 2 * stride;
      iters = work();
      if (stepsLeft > 0) stepsLeft--;
      await to(vm.instructionsRetired + (stepsLeft > 0 ? 1 : stride));
    }
  } finally {
    await src.dispatch({ type: 'stop', by: 'library' });
  }
  return undefined;
}

/**
 * Runs `c` once undisturbed, then for each point: runs it until exactly that many instructions have
 * retired, snapshots, ends it, restores the snapshot in a new controller and lets it finish. The two
 * halves of the output and the restored run's final counts, registers and RAM must be the reference's.
 */
async function checkRestoredRuns(c: Case, seed: number, seen: Set<string>): Promise<number> {
  const refSink = captureConsole();
  let refVm: EmuVm | undefined;
  const ref = controller(c, refSink, false, (v) => (refVm = v));
  await ref.dispatch({ type: 'start' });
  await ref.stopped;
  const expected = await outcome(ref, () => refSink.text(), refVm!);
  const total = (await ref.dispatch({ type: 'get-stats' })).instructions!;
  const rnd = seededRandom(seed);
  const points = [...(c.fixed ?? []), ...Array.from({ length: c.points }, () => 1 + Math.floor(rnd() * (total - 1)))];
  if (c.find !== undefined) {
    const found = await findPoint(c, c.find, total);
    assert.ok(found !== undefined, `${c.name}: no point found that lands in "${c.find}"`);
    points.push(found);
  }
  let restored = 0;
  for (const point of points) {
    const path = join(dir, `${c.name}-${point}.snap`);
    const a = captureConsole();
    const { src, vm } = await startUntil(c, a, point);
    assert.ok(vm.paused, `${c.name}: stopped before instruction ${point} (at ${vm.instructionsRetired})`);
    assert.equal(vm.instructionsRetired, point, `${c.name}: paused at exactly the instruction asked for`);
    await src.dispatch({ type: 'pause' });
    for (const x of situations(vm, c.guest)) seen.add(x);
    if (vm.roundAt >= 0) seen.add(vm.sliceOpen ? 'inside a slice' : vm.roundAt < c.cpus ? 'between two slices of a round' : 'after the last slice of a round');
    await src.dispatch({ type: 'snapshot-create', snapshotPath: path, kind: 'full' });
    await src.dispatch({ type: 'stop', by: 'library' });
    const b = captureConsole();
    let dstVm: EmuVm | undefined;
    const dst = new VmController({ config: { accel: 'emu', serial: { kind: 'none' } }, serialSink: b, hooks: { onStart: (x) => (dstVm = x.vm as EmuVm) } });
    await dst.dispatch({ type: 'snapshot-load', snapshotPath: path, resume: true });
    assertSameOutcome(await outcome(dst, () => a.text() + b.text(), dstVm!), expected, `${c.name}: restored at instruction ${point}`);
    restored++;
  }
  return restored;
}

test('deterministic runs restored from snapshots at any instruction count end exactly as undisturbed runs', async () => {
  const cases: Case[] = [
    { name: 'ticker', guest: 'ticker', cmdline: 'lines=8 work=30000', cpus: 1, points: 4, fixed: [20_000] },
    { name: 'ticker-4cpu', guest: 'ticker', cmdline: 'lines=6 work=20000', cpus: 4, points: 3, fixed: [20_000] },
    { name: 'smp-4', guest: 'smp', cmdline: '', cpus: 4, points: 4 },
    // REP string instructions interrupted by timer interrupts and page faults (snapshots with IRQs pending),
    // and one point inside a 64 KiB REP (after a timer interrupt taken in it returned).
    { name: 'rep-irq', guest: 'rep-irq', cmdline: '', cpus: 1, points: 3, find: 'mid-REP' },
    { name: 'apic-timer', guest: 'apic-timer', cmdline: 'ticks=25', cpus: 1, points: 3 },
    // Counters programmed to overflow (PMIs through the LVT); part F keeps fixed counter 0 within 150 000
    // instructions of overflowing, re-armed by each PMI, and prints where the PMIs landed.
    { name: 'pmu-overflow', guest: 'pmu-overflow', cmdline: 'version=4 long=400000', cpus: 1, config: { pmu: 'on' }, points: 3, find: 'PMU counter near overflow' },
  ];
  const seen = new Set<string>();
  let seed = 0x5eed;
  for (const c of cases) {
    const n = await checkRestoredRuns(c, seed++, seen);
    assert.equal(n, c.points + (c.fixed?.length ?? 0) + (c.find !== undefined ? 1 : 0), `${c.name}: every point restored`);
  }
  // What the points landed in, checked on the VM at the snapshot rather than assumed.
  const where = ['inside a slice', 'between two slices of a round', 'after the last slice of a round'];
  for (const want of ['4 vCPUs', 'interrupt pending', 'mid-REP', 'PMU counter near overflow', ...where]) assert.ok(seen.has(want), `no point landed in "${want}": ${[...seen].join(', ')}`);
  console.error(`snapshot points landed in: ${[...seen].sort().join(', ')}`);
});

test('a snapshot is refused whole: corrupt, truncated, unknown version, another machine', async () => {
  const c: Case = { name: 'bad', guest: 'ticker', cmdline: 'lines=0 work=2000', cpus: 1, points: 0 };
  const { src } = await startUntil(c, captureConsole(), 200_000);
  await src.dispatch({ type: 'pause' });
  const path = join(dir, 'good.snap');
  await src.dispatch({ type: 'snapshot-create', snapshotPath: path, kind: 'full' });
  await src.dispatch({ type: 'stop', by: 'library' });
  const good = new Uint8Array(readFileSync(path));
  const load = async (bytes: Uint8Array, re: RegExp): Promise<void> => {
    const p = join(dir, 'bad.snap');
    writeFileSync(p, bytes);
    const dst = new VmController({ config: { accel: 'emu', serial: { kind: 'none' } }, serialSink: captureConsole() });
    await assert.rejects(dst.dispatch({ type: 'snapshot-load', snapshotPath: p, resume: true }), (e: unknown) => {
      assert.ok(e instanceof ControllerError);
      assert.ok(e.code === 'invalid-argument' || (e.code === 'no-backend' && /cannot give/.test(e.message)), e.message);
      assert.match(e.message, re);
      assert.ok(!e.message.includes('\n'), 'one line');
      return true;
    });
    assert.equal(dst.state, 'NotStarted', 'nothing was loaded');
  };
  const flipped = good.slice();
  flipped[Math.floor(flipped.length / 2)]! ^= 0x40;
  await load(flipped, /corrupt \(CRC32 mismatch\)/);
  await load(good.subarray(0, good.length - 100), /truncated|end marker/);
  const future = good.slice();
  new DataView(future.buffer).setUint32(8, 99, true);
  await load(future, /header is corrupt|format version 99/);
  // A section of a newer version than this tsvmm reads: re-encoded so every CRC is right.
  const st = MachineState.decode(good, 'good');
  const bumped = new MachineState(st.sections.map((s) => (s.name === 'lapic.0' ? { ...s, version: 7 } : s)));
  await load(bumped.encodeToBytes(), /lapic\.0: emu-local-apic state version 7 is not supported/);
  // The saved feature set differs from what this host's VM would be: refused, naming the differences.
  const manifest = st.section('manifest') as unknown as { fields: { json: string } };
  const m = JSON.parse(manifest.fields.json) as { cpuid: { leaf: number; subleaf: number; ecx: number }[] };
  const leaf1 = m.cpuid.find((v) => v.leaf === 1 && v.subleaf === 0)!;
  leaf1.ecx = (leaf1.ecx | (1 << 28)) >>> 0; // AVX, which emu does not have
  const foreign = new MachineState(st.sections.map((s) => (s.name === 'manifest' ? { ...s, fields: { json: JSON.stringify(m) } } : s)));
  await load(foreign.encodeToBytes(), /cannot give.*avx/i);
});

test('diff snapshots hold the pages written since the previous one and restore through the chain', async () => {
  const c: Case = { name: 'diff', guest: 'ticker', cmdline: 'lines=10 work=20000', cpus: 1, points: 0 };
  const refSink = captureConsole();
  let refVm: EmuVm | undefined;
  const ref = controller(c, refSink, false, (v) => (refVm = v));
  await ref.dispatch({ type: 'start' });
  await ref.stopped;
  const expected = await outcome(ref, () => refSink.text(), refVm!);
  const total = (await ref.dispatch({ type: 'get-stats' })).instructions!;

  const a = captureConsole();
  const { src, vm } = await startUntil(c, a, Math.floor(total * 0.2), true);
  const full = join(dir, 'chain-full.snap');
  const d1 = join(dir, 'chain-d1.snap');
  const d2 = join(dir, 'chain-d2.snap');
  await src.dispatch({ type: 'pause' });
  await src.dispatch({ type: 'snapshot-create', snapshotPath: full, kind: 'full' });
  // Armed while paused, so the guest cannot run past it first.
  const atFour = vm.pauseAt(Math.floor(total * 0.4));
  await src.dispatch({ type: 'resume' });
  await atFour;
  await src.dispatch({ type: 'pause' });
  await src.dispatch({ type: 'snapshot-create', snapshotPath: d1, kind: 'diff' });
  // Armed while paused, so the guest cannot run past it first.
  const atSix = vm.pauseAt(Math.floor(total * 0.6));
  await src.dispatch({ type: 'resume' });
  await atSix;
  await src.dispatch({ type: 'pause' });
  await src.dispatch({ type: 'snapshot-create', snapshotPath: d2, kind: 'diff' });
  await src.dispatch({ type: 'stop', by: 'library' });
  const sizes = [full, d1, d2].map((p) => readFileSync(p).length);
  assert.ok(sizes[1]! < sizes[0]! && sizes[2]! < sizes[0]!, `diffs are smaller than the full snapshot: ${sizes.join(', ')}`);
  assert.equal(MachineState.decode(readFileSync(d2), 'd2').diff, true);

  const b = captureConsole();
  let dstVm: EmuVm | undefined;
  const dst = new VmController({ config: { accel: 'emu', serial: { kind: 'none' } }, serialSink: b, hooks: { onStart: (x) => (dstVm = x.vm as EmuVm) } });
  await dst.dispatch({ type: 'snapshot-load', snapshotPath: d2, resume: true });
  assertSameOutcome(await outcome(dst, () => a.text() + b.text(), dstVm!), expected, 'restored through the chain');
  assert.equal(a.text() + b.text(), tickerOutput(10, 20000));
});

test('Firecracker\'s two files: the memory file holds RAM, a diff updates it in place', async () => {
  const c: Case = { name: 'memfile', guest: 'ticker', cmdline: 'lines=6 work=20000', cpus: 1, points: 0 };
  const a = captureConsole();
  const { src, vm } = await startUntil(c, a, 300_000, true);
  const state = join(dir, 'fc.state');
  const state2 = join(dir, 'fc2.state');
  const mem = join(dir, 'fc.mem');
  await src.dispatch({ type: 'pause' });
  await src.dispatch({ type: 'snapshot-create', snapshotPath: state, memFilePath: mem, kind: 'full' });
  assert.equal(readFileSync(mem).length, 32 << 20);
  // Armed while paused, so the guest cannot run past it first.
  const second = vm.pauseAt(600_000);
  await src.dispatch({ type: 'resume' });
  await second;
  await src.dispatch({ type: 'pause' });
  await src.dispatch({ type: 'snapshot-create', snapshotPath: state2, memFilePath: mem, kind: 'diff' });
  await src.dispatch({ type: 'stop', by: 'library' });
  const b = captureConsole();
  const dst = new VmController({ config: { accel: 'emu', serial: { kind: 'none' } }, serialSink: b });
  await assert.rejects(dst.dispatch({ type: 'snapshot-load', snapshotPath: state2, resume: true }), /give mem_file_path/);
  await dst.dispatch({ type: 'snapshot-load', snapshotPath: state2, memFilePath: mem, resume: true });
  await dst.stopped;
  assert.equal(a.text() + b.text(), tickerOutput(6, 20000));
});

test('a VM run with --pmu off restores from its snapshot (FileSnapshots: the saved feature set, with no PMU, is checked)', async () => {
  const c: Case = { name: 'pmu-off', guest: 'ticker', cmdline: 'lines=4 work=20000', cpus: 1, points: 0, config: { pmu: 'off' } };
  const a = captureConsole();
  const { src } = await startUntil(c, a, 150_000);
  const path = join(dir, 'pmu-off.snap');
  await src.dispatch({ type: 'pause' });
  await src.dispatch({ type: 'snapshot-create', snapshotPath: path, kind: 'full' });
  await src.dispatch({ type: 'stop', by: 'library' });
  const b = captureConsole();
  const dst = new VmController({ config: { accel: 'emu', serial: { kind: 'none' } }, serialSink: b });
  await dst.dispatch({ type: 'snapshot-load', snapshotPath: path, resume: true });
  assert.deepEqual(await dst.stopped, { kind: 'debug-exit', value: 0 });
  assert.equal(a.text() + b.text(), tickerOutput(4, 20000));
});
