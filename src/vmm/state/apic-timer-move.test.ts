/**
 * The apic-timer guest (guests/apic-timer: exact counts of the LAPIC timer periodic and one-shot, a self IPI,
 * the PIT through the IOAPIC and through the 8259 and LINT0) snapshotted on emu in each of its timer phases
 * and restored on a new emu VM: its output must be exact and it must exit with 0. The emu -> emu half of
 * cross-engine.test.ts's kvm -> emu move of the same guest, which needs /dev/kvm; this one runs anywhere.
 * - Real time (the default): paused when each phase's line appears and at seeded delays after it, so the
 *   pause falls before, at and after the timers' expiries (the one-shot fires 1.6 ms after its line).
 * - Deterministic: paused at instruction counts where each line appears and densely around the one-shot
 *   timer's expiry (due, requested, in service, masked by its handler, after its EOI).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { VmController } from '../controller.js';
import type { ConsoleSink } from '../serial-console.js';
import type { RunConfig } from '../config.js';
import type { VmStop } from '../../cpu/vm.js';
import type { EmuVm } from '../../cpu/emu/emu-vm.js';
import type { EmuChips } from '../../cpu/emu/chips/chip-set.js';
import { guestElf } from '../ticker.test-util.js';
import { captureConsole } from '../console-capture.test-util.js';
import { seededRandom } from '../../util/seeded-random.test-util.js';
import { emuSectionsToKvm } from '../../cpu/emu/kvm-forms.js';
import type { PersistSection } from '../../util/persist.js';
import { readStateFile, writeStateFile } from './snapshot.js';
import { MachineState, isRawSection } from './machine-state.js';
import { UncheckedSnapshots } from './unchecked-snapshots.test-util.js';
import { APIC_TIMER_OUTPUT, APIC_TIMER_PHASES } from './apic-timer-guest.test-util.js';
import { until } from '../../util/until.test-util.js';

const ONE_SHOT_VECTOR = 0x40;
const DONE: VmStop = { kind: 'debug-exit', value: 0 };

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-apic-timer-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const controllers: VmController[] = [];
after(async () => {
  for (const c of controllers) if (c.state === 'Running' || c.state === 'Paused') await c.dispatch({ type: 'stop', by: 'library' }).catch(() => undefined);
});

function source(sink: ConsoleSink, extra: Partial<RunConfig>, onStart?: (vm: EmuVm) => void): VmController {
  const c = new VmController({
    config: { kernel: guestElf('apic-timer'), cmdline: '', accel: 'emu', memBytes: 128 << 20, serial: { kind: 'none' }, cpus: 1, ...extra },
    bootSourceGiven: true,
    serialSink: sink,
    ...(onStart !== undefined ? { hooks: { onStart: (b) => onStart(b.vm as EmuVm) } } : {}),
  });
  controllers.push(c);
  return c;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The state file at `path` as kvm would have saved the same machine: the backend's sections in the KVM
 * structures (kvm-forms.ts, as a restore on kvm converts them), marked as saved on kvm, which runs in real time.
 */
function asKvmState(path: string): string {
  const st = readStateFile(path);
  const backend = (s: (typeof st.sections)[number]): s is PersistSection => !isRawSection(s) && s.name !== 'manifest' && s.name !== 'machine' && !s.name.startsWith('device.');
  const kvm = emuSectionsToKvm(st.sections.filter(backend));
  const rest = st.sections.filter((s) => !backend(s)).map((s) => (s.name === 'machine' && 'fields' in s ? { ...s, fields: { ...s.fields, backend: 'kvm', deterministic: false } } : s));
  const out = path.replace(/\.snap$/, '-kvm.snap');
  writeStateFile(out, new MachineState([...rest, ...kvm], false));
  return out;
}

/**
 * Snapshots the paused `src`, stops it, restores the snapshot on a new emu controller (`kvmShaped`: in the KVM
 * structures, see asKvmState) and runs that to its end; what the two printed and how the second ended.
 */
async function move(src: VmController, before: () => string, name: string, kvmShaped = false): Promise<{ text: string; stop: VmStop | 'timeout' }> {
  let path = join(dir, `${name}.snap`);
  await src.dispatch({ type: 'snapshot-create', snapshotPath: path, kind: 'full' });
  await src.dispatch({ type: 'stop', by: 'library' });
  if (kvmShaped) path = asKvmState(path);
  const b = captureConsole();
  const dst = new VmController({ config: { accel: 'emu', serial: { kind: 'none' } }, serialSink: b, ...(kvmShaped ? { snapshots: new UncheckedSnapshots() } : {}) });
  controllers.push(dst);
  await dst.dispatch({ type: 'snapshot-load', snapshotPath: path, resume: true });
  let timer: NodeJS.Timeout | undefined;
  const stop = await Promise.race([dst.stopped, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 60_000)))]);
  clearTimeout(timer);
  if (stop === 'timeout') await dst.dispatch({ type: 'stop', by: 'library' });
  return { text: before() + b.text(), stop };
}

test('emu -> emu in real time: the apic-timer guest moved in each of its timer phases (when its line appears, and at seeded delays after) still counts every interrupt source exactly', async (t) => {
  const rnd = seededRandom(0xa71c);
  let n = 0;
  for (const phase of APIC_TIMER_PHASES) {
    // When the line appears, then at delays up to 12 ms: before, around and after the one-shot's 1.6 ms.
    for (const delayMs of [0, rnd() * 3, rnd() * 12]) {
      const a = captureConsole();
      const src = source(a, {});
      await src.dispatch({ type: 'start' });
      // Polled every millisecond, so that the pause follows the phase's line closely.
      await until(() => a.text().includes(phase) || src.state === 'Stopped', `"${phase}"`, 60_000, 1);
      if (delayMs > 0) await sleep(delayMs);
      await src.dispatch({ type: 'pause' }).catch(() => undefined);
      if (src.state !== 'Paused') assert.fail(`the run ended before it could be paused in phase "${phase}" (${delayMs.toFixed(2)} ms after its line): ${JSON.stringify(a.text())}`);
      const { text, stop } = await move(src, () => a.text(), `rt-${n++}`);
      const where = `moved in phase "${phase}", ${delayMs.toFixed(2)} ms after its line (the guest ended with ${JSON.stringify(stop)})`;
      assert.equal(text, APIC_TIMER_OUTPUT, where);
      assert.deepEqual(stop, DONE, where);
    }
  }
  t.diagnostic(`${n} moves`);
});

/** A deterministic run of the guest paused at instruction `point` (set before the first round: a fast guest cannot overrun it). */
async function deterministicAt(sink: ConsoleSink, point: number): Promise<{ c: VmController; vm: EmuVm }> {
  let vm: EmuVm | undefined;
  let reached: Promise<void> = Promise.resolve();
  const c = source(sink, { deterministic: true }, (v) => {
    vm = v;
    reached = v.pauseAt(point);
  });
  await c.dispatch({ type: 'start' });
  await reached;
  return { c, vm: vm! };
}

/**
 * In deterministic mode: the instruction count at the end of each line the guest prints, and the count at which
 * the one-shot timer's interrupt is taken (the first acknowledge of its vector after the periodic phase's line).
 */
async function deterministicMarks(): Promise<{ lines: number[]; oneShotTaken: number; total: number }> {
  let text = '';
  const lines: number[] = [];
  let vm: EmuVm | undefined;
  let oneShotTaken = -1;
  const sink: ConsoleSink = {
    write(bytes) {
      text += Buffer.from(bytes).toString('latin1');
      if (text.endsWith('\n')) lines.push(vm!.instructionsRetired);
    },
    close() {},
  };
  const ref = await deterministicAt(sink, 0);
  vm = ref.vm;
  const apic = (vm.chips as EmuChips).apics[0]!;
  const acknowledge = apic.acknowledge.bind(apic);
  apic.acknowledge = (): number => {
    const v = acknowledge();
    if (v === ONE_SHOT_VECTOR && lines.length === 2 && oneShotTaken < 0) oneShotTaken = vm!.instructionsRetired;
    return v;
  };
  vm.resume();
  assert.deepEqual(await ref.c.stopped, DONE);
  assert.equal(text, APIC_TIMER_OUTPUT, 'the deterministic run itself');
  assert.ok(oneShotTaken > lines[1]!, 'the one-shot\'s interrupt was taken after the periodic phase\'s line');
  return { lines, oneShotTaken, total: vm.instructionsRetired };
}

let marks: Promise<{ lines: number[]; oneShotTaken: number; total: number }> | undefined;

/** Runs `point` instructions of a deterministic run, pauses it there and moves it (move()). */
async function moveAt(point: number, kvmShaped = false, extra: Partial<RunConfig> = {}): Promise<{ text: string; stop: VmStop | 'timeout' }> {
  const a = captureConsole();
  let reached: Promise<void> = Promise.resolve();
  let vm: EmuVm | undefined;
  const src = source(a, { deterministic: true, ...extra }, (v) => {
    vm = v;
    reached = v.pauseAt(point);
  });
  await src.dispatch({ type: 'start' });
  await reached;
  assert.ok(vm!.paused && vm!.instructionsRetired === point, `paused at instruction ${point}`);
  await src.dispatch({ type: 'pause' });
  return move(src, () => a.text(), `det-${point}${kvmShaped ? '-kvm' : ''}`, kvmShaped);
}

test('emu -> emu in deterministic mode: the apic-timer guest moved at each line and all around the one-shot timer\'s expiry counts every interrupt source exactly', async (t) => {
  const { lines, oneShotTaken, total } = await (marks ??= deterministicMarks());
  assert.equal(lines.length, APIC_TIMER_OUTPUT.split('\n').length - 1);
  const rnd = seededRandom(0x1e55);
  // Each line, all around the one-shot's interrupt, and a few anywhere. Around the interrupt (the offsets as this
  // guest build runs): the timer due but not yet fired (before 0: timers fire between rounds), the interrupt in
  // service (1 to about 36), the handler's mask written with the interrupt still in service (about 37), after its
  // EOI (about 38 on).
  const around = [-40, -9, -3, -2, -1, 0, 1, 2, 4, 7, 11, 16, 23, 31, 34, 35, 36, 37, 38, 39, 45, 60].map((d) => oneShotTaken + d);
  const points = [...new Set([...lines.slice(0, -1), ...around, ...Array.from({ length: 4 }, () => 1 + Math.floor(rnd() * (total - 1)))])].sort((x, y) => x - y);
  for (const point of points) {
    const { text, stop } = await moveAt(point);
    const where = `moved at instruction ${point} (the one-shot's interrupt is taken at ${oneShotTaken}; the guest ended with ${JSON.stringify(stop)})`;
    assert.equal(text, APIC_TIMER_OUTPUT, where);
    assert.deepEqual(stop, DONE, where);
  }
  t.diagnostic(`${points.length} moves; the one-shot's interrupt is taken at instruction ${oneShotTaken} of ${total}`);
});

test('emu state in the KVM structures -> emu: a one-shot that expired while the vCPU was out of KVM_RUN (current count 0, nothing in IRR or ISR) still interrupts the guest once', async (t) => {
  // Paused with the one-shot due but not yet fired, emu's state converts to the register page KVM_GET_LAPIC gives
  // for a one-shot whose hrtimer fired while the vCPU was out of KVM_RUN (KVM keeps that expiry in a pending
  // count no ioctl reports): current count 0, the vector in neither IRR nor ISR. Then in service (a second
  // interrupt would be counted: "got 2"), masked by the handler, after its EOI.
  const { oneShotTaken } = await (marks ??= deterministicMarks());
  for (const d of [-5, 0, 5, 37, 60]) {
    const { text, stop } = await moveAt(oneShotTaken + d, true, { pmu: 'off' });
    const where = `moved ${d} instruction(s) from the one-shot's interrupt (the guest ended with ${JSON.stringify(stop)})`;
    assert.equal(text, APIC_TIMER_OUTPUT, where);
    assert.deepEqual(stop, DONE, where);
  }
  t.diagnostic(`the one-shot's interrupt is taken at instruction ${oneShotTaken}`);
});
