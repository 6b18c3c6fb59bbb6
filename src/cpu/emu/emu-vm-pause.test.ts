import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEmuVm, type EmuVm } from './emu-vm.js';
import { hex, setupFlat32 } from './cpu-harness.test-util.js';
import type { VmStop } from '../vm.js';

const RESULT = 0x5000;
/** What the handler stores: the INCs in the IPI's block, which the decoder ends after 64 instructions. */
const TAKEN_AT = 63;

/**
 * A flat 32-bit guest whose interrupt lands where a run's blocks end: it enables its local APIC, sends
 * itself an IPI (an APIC write asks for an interrupt check) and goes on with 70 INC ECX; the interrupt
 * is taken where that block ends (64 instructions: the decoder's longest), and the handler stores ECX
 * and halts. A run stopped inside the block that checked interrupts there, or that ran a block decoded
 * from the stop point to its own end, would store another count.
 */
function guest(deterministic = true, code = ' 41'.repeat(70)): EmuVm {
  const vm = createEmuVm({ cpus: 1, memBytes: 4 << 20, deterministic });
  const m = vm.memory;
  setupFlat32(vm.cpus[0]!, m, 0x1000, [[0x40, 0x2000]]);
  // mov dword [0xfee000f0], 0x1ff (SVR: enabled) | sti | nop (in STI's shadow, run alone) |
  // mov dword [0xfee00300], 0x40040 (ICR: fixed, to self, vector 0x40) | inc ecx x 70 | jmp $
  m.write(0x1000, hex('c7 05 f000e0fe ff010000  fb 90  c7 05 0003e0fe 40000400' + code + ' eb fe'));
  // 0x2000: mov [RESULT], ecx | hlt
  m.write(0x2000, hex('89 0d 00500000  f4'));
  return vm;
}

/** Runs `vm` to its end (the handler halts with interrupts off: the run loop calls that a hang) and says what the guest stored. */
async function finish(vm: EmuVm, run: Promise<VmStop>): Promise<{ ecx: number; stop: string; instructions: number }> {
  if (vm.paused) vm.resume();
  const stop = await run;
  return { ecx: vm.memory.readU32(RESULT), stop: stop.kind, instructions: vm.instructionsRetired };
}

test('a VM paused at any instruction count, then resumed or snapshotted and restored, runs exactly as one never paused', async () => {
  const ref = guest();
  const expected = await finish(ref, ref.run());
  assert.deepEqual(expected, { ecx: TAKEN_AT, stop: 'hang', instructions: 4 + TAKEN_AT + 2 }, 'the interrupt is taken where the block ends');
  const last = expected.instructions;
  // The points around the IPI's block (3 to 67), its middle and the handler's (a VM costs tens of ms to build).
  for (const k of [0, 1, 2, 3, 4, 5, 17, 40, 65, 66, 67, 68, last]) {
    // Resumed in place.
    const a = guest();
    const reached = a.pauseAt(k);
    const runA = a.run();
    await reached;
    assert.ok(a.paused, `paused at ${k}`);
    assert.equal(a.instructionsRetired, k, 'exactly there');
    const state = a.saveState();
    const ram = Uint8Array.from(a.memory.regions[0]!.bytes);
    assert.deepEqual(await finish(a, runA), expected, `resumed at ${k}`);
    // Restored into a new VM.
    const b = guest();
    b.restoreState(state);
    b.memory.regions[0]!.bytes.set(ram);
    assert.deepEqual(await finish(b, b.run()), expected, `restored at ${k}`);
  }
  // Stopped at every count in turn: a block is cut again inside what an earlier stop cut off.
  const c = guest();
  let next = c.pauseAt(0);
  const runC = c.run();
  for (let k = 0; k < last; k++) {
    await next;
    assert.equal(c.instructionsRetired, k);
    next = c.pauseAt(k + 1);
    c.resume();
  }
  await next;
  assert.deepEqual(await finish(c, runC), expected, 'stopped at every count');
});

test('pauseAt refuses a count that has passed or is not a whole number', async () => {
  const vm = guest();
  const reached = vm.pauseAt(5);
  const run = vm.run();
  await reached;
  assert.throws(() => vm.pauseAt(4), /cannot pause at instruction 4: 5 have already retired/);
  assert.throws(() => vm.pauseAt(5.5), /whole instruction count/);
  await vm.pauseAt(5); // there already
  assert.equal(vm.instructionsRetired, 5);
  await finish(vm, run);
});

test('the deterministic clock inside a block a pause cut reads as in the uncut block (RDTSC after the stop point)', async () => {
  // inc ecx x 20 | rdtsc | mov [RESULT], eax | mov [RESULT+4], edx | hlt (IF = 0: the run ends as a hang). One block:
  // the clock reads its start (time moves by basic blocks), so a rest run after a cut must read it too.
  const make = (): EmuVm => {
    const vm = createEmuVm({ cpus: 1, memBytes: 4 << 20, deterministic: true });
    vm.memory.write(0x1000, hex('41 '.repeat(20) + '0f 31  a3 00500000  89 15 04500000  f4'));
    const c = vm.cpus[0]!;
    c.setFlat32();
    c.rip = 0x1000;
    return vm;
  };
  const tsc = (vm: EmuVm): string => `${vm.memory.readU32(RESULT + 4)}:${vm.memory.readU32(RESULT)}`;
  const ref = make();
  await ref.run();
  const expected = tsc(ref);
  for (let k = 1; k <= 22; k++) {
    const vm = make();
    const reached = vm.pauseAt(k);
    const run = vm.run();
    await reached;
    assert.equal(vm.instructionsRetired, k);
    vm.resume();
    await run;
    assert.equal(tsc(vm), expected, `paused at ${k}`);
  }
});

test('a pause right after a taken side exit leaves nothing of the block to run before the interrupt check', async () => {
  // After the IPI: inc ecx x 5 | cmp ecx, ecx | je +1 (taken: a side exit ends the block) | nop | inc ecx x 60.
  // The interrupt is taken at the branch target with ECX = 5; a stop point at the branch must not run the
  // block's fall-through rest from the target unchecked.
  const code = ' 41'.repeat(5) + ' 39 c9  74 01  90' + ' 41'.repeat(60);
  const ref = guest(true, code);
  const expected = await finish(ref, ref.run());
  assert.equal(expected.ecx, 5);
  for (let k = 1; k < expected.instructions; k++) {
    const a = guest(true, code);
    const reached = a.pauseAt(k);
    const run = a.run();
    await reached;
    assert.deepEqual(await finish(a, run), expected, `paused at ${k}`);
  }
});
