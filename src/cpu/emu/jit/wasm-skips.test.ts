/**
 * Forward branches inside a compiled block (wasm-skips.ts): a Jcc whose target is a later instruction of its own
 * block goes there inside the block's function. The instructions and branches it goes over must not retire, the
 * flags at the join must be what either path left, a fault after the join must count exactly what ran, and the
 * PMU must see the interpreter's counts and raise its PMIs at the same instructions, in a self-loop and not, at
 * every slice end.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads, so this file sets it first and imports the harness
 * after (node --test runs each file in a process of its own).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

process.env['TSVMM_JIT'] = 'wasm-eager';
const { makeCpu, setupFlat32, load, hex, u32le } = await import('../cpu-harness.test-util.js');
const { createEmuVm } = await import('../emu-vm.js');
const { loggingPmu, runSlicesClearingOverflows, writePmuMsr } = await import('../pmu-slices.test-util.js');
const { Slot } = await import('./wasm-arena.js');
const { CR0_PG } = await import('../x86-defs.js');

// Flat 32-bit code with paging (0x300000 not present), a #PF handler at 0x1800.
// 0x1000: mov ecx,400 | jmp loop
// loop:   mov eax,ecx | and eax,3 | jnz skip (over 5, a branch among them) | add ebx,7 | test bl,1 | jz skip (over 2)
//         | add edx,ebx | mov [0x3000],edx
// skip:   add esi,eax | test al,1 | jz skip2 (over 1) | inc edi
// skip2:  dec ecx (its CF from either path: TEST's or INC's) | jnz loop          (a self-loop from its block's start)
//         mov ecx,200 | jmp outer
// outer:  mov ebp,0x300000 | mov eax,ecx | and eax,7 | jnz j1 (over 3) | add ebx,eax | imul ebx,ebx,3 | mov ebp,0x2000
// j1:     mov eax,[ebp] (taken: #PF, the handler sets ebp = 0x2000 and returns) | add edx,eax | dec ecx | jz done | jmp outer
// done:   hlt
// 0x1800: mov ebp,0x2000 | add esp,4 | iret
const PROG =
  'b9 90010000 eb00' +
  '89c8 83e003 7510 83c307 f6c301 7408 01da 891500300000' +
  '01c6 a801 7401 47' +
  '49 75df' +
  'b9 c8000000 eb00' +
  'bd 00003000 89c8 83e007 750a 01c3 6bdb03 bd00200000' +
  '8b4500 01c2 49 7402 ebe0' +
  'f4';
const HANDLER = 'bd00200000 83c404 cf';

function setup(compile: boolean): ReturnType<typeof makeCpu> {
  const t = makeCpu();
  const { cpu, mem } = t;
  assert.ok(cpu.wasm !== null, 'the vCPU runs with the wasm tier');
  cpu.compile = compile;
  setupFlat32(cpu, mem, 0x1000, [[14, 0x1800]]);
  mem.writeU32(0x10000, 0x11000 | 7);
  for (let p = 0; p < 1024; p++) mem.writeU32(0x11000 + p * 4, p === 0x300 ? 0 : ((p << 12) | 7) >>> 0);
  cpu.cr3 = 0x10000;
  cpu.cr0 = cpu.cr0 | CR0_PG;
  load(mem, 0x1000, PROG);
  load(mem, 0x1800, HANDLER);
  return t;
}

function trace(compile: boolean, slice: number): string[] {
  const { cpu, mem } = setup(compile);
  const out: string[] = [];
  for (let guard = 0; guard < 100000; guard++) {
    const r = cpu.run(slice);
    const regs = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => cpu.gpr[i << 1]).join(' ');
    out.push(`${r} n=${cpu.instructions} br=${cpu.branchesRetired.join('/')} rip=${cpu.rip.toString(16)} ${regs} fl=${cpu.getRflags().toString(16)} m=${mem.readU32(0x3000)}`);
    if (r !== 'budget') break;
  }
  return out;
}

test('forward branches inside compiled blocks retire what the interpreter retires, to the same state', () => {
  const ref = trace(false, 1e9);
  // loop: 400 passes of 3, + 3 when jnz is not taken (eax = 0: 100), + 2 more when jz is not taken then (bl odd:
  // 50), + 3, + 1 when the second jz is not taken (eax odd: 200), + 2. outer: 200 runs of 4, + 3 when jnz is not
  // taken (25), + 4, + the jmp (all but the last); when taken (175) a #PF: the load does not retire, the handler's 3
  // instructions do, then the load again.
  const loop = 400 * (3 + 3 + 2) + 100 * 3 + 50 * 2 + 200;
  const outer = 200 * (4 + 4) + 25 * 3 + 199 + 175 * 3;
  assert.match(ref.at(-1)!, new RegExp(`^hlt n=${2 + loop + 2 + outer + 1} `));
  const { cpu } = setup(true);
  assert.equal(cpu.run(1e9), 'hlt');
  assert.deepEqual(trace(true, 1e9), ref);
  // The last run of the outer block went over its three instructions in wasm (and faulted after the join).
  assert.equal(cpu.wasm!.i32[(cpu.wslot + Slot.Skip) >> 2], 3, 'the taken branch went to its target inside the block');
});

test('forward branches inside compiled blocks stop exactly at slice boundaries', () => {
  for (const slice of [1, 2, 7, 13, 47, 100, 1000]) assert.deepEqual(trace(true, slice), trace(false, slice), `slice ${slice}`);
});

function pmuLog(compile: boolean, slice: number): string[] {
  const { cpu } = setup(compile);
  const log: string[] = [];
  const pmu = loggingPmu(cpu, log);
  writePmuMsr(pmu, 0x38d, 0xbbb); // fixed 0-2: OS|USR|PMI
  writePmuMsr(pmu, 0x186, 0x5300c0); // PMC0: instructions retired
  writePmuMsr(pmu, 0x187, 0x5300c4); // PMC1: branches retired
  writePmuMsr(pmu, 0x4c1, 0xfffffc00, 0xffff); // PMC0: 1024 instructions before overflow
  writePmuMsr(pmu, 0xc2, 0xfffffe00, 0xffff); // PMC1: 512 branches
  writePmuMsr(pmu, 0x38f, 0x3, 0x7);
  cpu.pmu = pmu;
  runSlicesClearingOverflows(cpu, pmu, slice, [0xc1, 0xc2, 0x309, 0x30a, 0x38e], log);
  log.push(`insns ${cpu.instructions} br ${cpu.branchesRetired.join('/')}`);
  return log;
}

test('the PMU counts what the interpreter counts and overflows at the same instructions', () => {
  for (const slice of [1e9, 333, 37]) {
    const ref = pmuLog(false, slice);
    assert.ok(ref.some((l) => l.startsWith('pmi at')), 'overflows raise PMIs');
    assert.deepEqual(pmuLog(true, slice), ref, `slice ${slice}`);
  }
});

/**
 * The deterministic clock (the LAPIC's current count, an MMIO load) read after a join: the interpreter's block at
 * the target starts there, so the reading's basic block starts at the target, less what the branch went over.
 */
async function clockReadings(compile: boolean): Promise<{ n: number; values: number[] }> {
  const vm = createEmuVm({ cpus: 1, memBytes: 4 << 20, deterministic: true });
  const m = vm.memory;
  const cpu = vm.cpus[0]!;
  setupFlat32(cpu, m, 0x1000);
  cpu.compile = compile;
  const code = [
    'c7 05 f000e0fe ff010000', // LAPIC on (SVR)
    'c7 05 e003e0fe 0b000000', // divide by 1
    'c7 05 2003e0fe 40000100', // one-shot, masked
    'c7 05 8003e0fe ffffff7f', // initial count
    `bf ${u32le(0x10000)} b9 c8000000 eb00`, // mov edi, buffer | mov ecx, 200 | jmp loop
    '89c8 83e003 7408 83c303 83c305 01c3', // loop: mov eax,ecx | and eax,3 | jz j (over 3) | add ebx,3 | add ebx,5 | add ebx,eax
    '8b05 9003e0fe 8907 83c704 49 75e3', // j: mov eax,[current count] | mov [edi],eax | add edi,4 | dec ecx | jnz loop
    'f4',
  ].join(' ');
  m.write(0x1000, hex(code));
  await vm.run();
  const values: number[] = [];
  for (let i = 0; i < 200; i++) values.push(m.readU32(0x10000 + 4 * i));
  return { n: vm.instructionsRetired, values };
}

test('the deterministic clock read after a join is the interpreter\'s', async () => {
  const ref = await clockReadings(false);
  assert.ok(ref.values.every((v, i) => i === 0 || v < ref.values[i - 1]!), 'the current count falls');
  assert.deepEqual(await clockReadings(true), ref);
});
