/**
 * Test-only: a guest that reads the deterministic clock inside loops the compilers run without returning to the
 * run loop, on a deterministic VM under the JIT mode of this process (TSVMM_JIT, read when cpu.ts loads: run it
 * in a Worker or process of its own per mode). Flat 32-bit, interrupts off:
 *
 *     LAPIC on, timer one-shot (masked) from 0x7fffffff at divide 1 (its current count falls with the clock)
 *     edi = 0x10000, esi = OUTER
 *   outer: ecx = INNER
 *   inner: eax = [LAPIC current count]   (an MMIO load: the clock)   | a block that loops on itself:
 *          [edi] = eax; edi += 4; ecx--; jnz inner                   | compiled, it runs its passes in one call
 *          rdtsc (ends its block); [edi] = eax; edi += 4; esi--; jnz outer (two blocks: a chain in wasm)
 *     hlt (with IF = 0: the run ends as a hang)
 *
 * Every value is stored: OUTER * (INNER + 1) dwords at 0x10000.
 */
import { createEmuVm } from '../emu-vm.js';
import { hex, setupFlat32, u32le } from '../cpu-harness.test-util.js';

export const OUTER = 1500;
export const INNER = 10;
export const BUF = 0x10000;

export interface ClockLoopRun {
  readonly instructions: number;
  readonly stop: string;
  /** The stored clock readings, in order. */
  readonly values: number[];
}

export async function runClockLoop(): Promise<ClockLoopRun> {
  const vm = createEmuVm({ cpus: 1, memBytes: 4 << 20, deterministic: true });
  const m = vm.memory;
  setupFlat32(vm.cpus[0]!, m, 0x1000);
  const code = [
    'c7 05 f000e0fe ff010000', // mov dword [0xfee000f0], 0x1ff (SVR: enabled)
    'c7 05 e003e0fe 0b000000', // mov dword [0xfee003e0], 0xb (divide by 1)
    'c7 05 2003e0fe 40000100', // mov dword [0xfee00320], 0x10040 (one-shot, masked)
    'c7 05 8003e0fe ffffff7f', // mov dword [0xfee00380], 0x7fffffff (initial count)
    `bf ${u32le(BUF)}`, // mov edi, BUF
    `be ${u32le(OUTER)}`, // mov esi, OUTER
    `b9 ${u32le(INNER)}`, // outer: mov ecx, INNER
    '8b 05 9003e0fe', // inner: mov eax, [0xfee00390]
    '89 07', // mov [edi], eax
    '83 c7 04', // add edi, 4
    '49', // dec ecx
    '75 f2', // jnz inner
    '0f 31', // rdtsc
    '89 07', // mov [edi], eax
    '83 c7 04', // add edi, 4
    '4e', // dec esi
    '75 e3', // jnz outer
    'f4', // hlt
  ].join(' ');
  m.write(0x1000, hex(code));
  const stop = await vm.run();
  const values: number[] = [];
  for (let i = 0; i < OUTER * (INNER + 1); i++) values.push(m.readU32(BUF + 4 * i));
  return { instructions: vm.instructionsRetired, stop: stop.kind, values };
}
