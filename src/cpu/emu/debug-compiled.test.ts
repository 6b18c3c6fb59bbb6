/**
 * Compiled blocks under data watchpoints and host breakpoints (debug-regs.ts compiledWhileArmed): a watch hit
 * inside a compiled block, a self-loop's later pass or a block on its own page, and a breakpoint in or out of the
 * running blocks, stop the vCPU exactly where the interpreter does, with the same registers, RIP and counts, and
 * the run resumed from there goes on as the interpreter's does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCpu, load } from './cpu-harness.test-util.js';
import type { EmuCpu } from './cpu.js';
import { HostBreakpoints, HostStop, refreshDebug, type HostWatch } from './debug-regs.js';
import { getFlags } from './lazy-flags.js';
import { ipLin } from './run-loop.js';
import { Bit } from './flags.js';
import { loggingPmu, writePmuMsr } from './pmu-slices.test-util.js';
import type { VirtualPmu } from '../../pmu/virtual-pmu.js';
import { envUsesWasm } from './jit/jit-mode.js';

/** Only the wasm tier runs compiled blocks while armed: under TSVMM_JIT=off or js there is nothing to compare. */
const NO_WASM = envUsesWasm() ? false : 'compiled blocks run armed only in the wasm tier';

// 0x1000: mov eax,[esi] | add eax,1 | mov [edi],eax | add ebx,eax | rdtsc | mov ebp,eax | jmp 0x1040 (a block that
// does not loop; RDTSC reads the clock, which in the rest of a cut block runs from the cut basic block's start)
// 0x1040: add esi,4 | add edi,4 | dec ecx | jnz 0x1000 | hlt
const TWO_BLOCKS = { 0x1000: '8b06 83c001 8907 01c3 0f31 89c5 eb31', 0x1040: '83c604 83c704 49 75b7 f4' };
// The same with CMPXCHG8B [edi] (run by its handler) for the store: 0x1000: mov eax,[esi] | add eax,1 |
// cmpxchg8b [edi] | add ebx,eax | rdtsc | mov ebp,eax | jmp 0x1040
const HANDLER = { 0x1000: '8b06 83c001 0fc70f 01c3 0f31 89c5 eb30', 0x1040: TWO_BLOCKS[0x1040] };
// 0x1000: mov eax,[esi] | add eax,1 | mov [edi],eax | add esi,4 | add edi,4 | dec ecx | jnz 0x1000 | hlt (a
// self-loop: the pass that first reaches a watched page is a later one)
const SELF_LOOP = { 0x1000: '8b06 83c001 8907 83c604 83c704 49 75f0 f4' };
// 0x1000: mov [esi],ecx | mov eax,imm32 (imm at 0x1003) | add ebx,eax | dec ecx | jnz 0x1000 | hlt: with esi = 0x1003
// each pass writes the next pass's immediate (jit-smc.test.ts)
const SMC = { 0x1000: '890e b800000000 01c3 49 75f4 f4' };

const SRC = 0x20000;
const DST = 0x30000;

interface Case {
  prog: Record<number, string>;
  esi: number;
  edi: number;
  ecx: number;
  watches: HostWatch[];
  /** Host instruction breakpoints. */
  bps?: number[];
  /** A PMU counting instructions and branches retired (its counts are part of each state). */
  pmu?: boolean;
  /** Instructions run before the watches are set (the blocks get compiled meanwhile). */
  warm: number;
}

/** What the run shows at each return of run/runMore: result, RIP, counts, the rest of a cut block and its clock, registers and flags. */
function state(c: EmuCpu, r: string, pmu: VirtualPmu | null): string {
  let counters = '';
  if (pmu !== null) {
    const v = { lo: 0, hi: 0 };
    for (const msr of [0xc1, 0xc2]) {
      pmu.readMsr(msr, v);
      counters += ` pmc=${v.hi}:${v.lo >>> 0}`;
    }
  }
  const regs = Array.from({ length: 8 }, (_, i) => (c.gpr[2 * i]! >>> 0).toString(16)).join(' ');
  return `${r} rip=${c.rip.toString(16)} n=${c.instructions} ret=${c.retired[0]} br=${c.branchesRetired[0]} stop=${c.hostStop} rest=${c.blockRest}/${c.blockRest !== 0 ? c.restSeg : 0} regs=${regs} fl=${(getFlags(c) & ~Bit.RF).toString(16)}${counters}`;
}

/** Runs `k` with the JIT off (compile false) or every block compiled; returns the states seen and the compiled runs made while armed. */
function run(k: Case, compile: boolean): { seen: string[]; armedRuns: number } {
  const { cpu: c, mem } = makeCpu();
  c.setFlat32();
  c.compile = compile;
  c.jitThreshold = 1;
  c.jitLate = 1;
  // The deterministic clock's time (EmuVm's): instructions retired up to the start of the running basic block.
  c.clock = { tscHz: 1e9, nowNs: () => c.instructions + c.segOff + c.stringIters };
  for (const [at, code] of Object.entries(k.prog)) load(mem, Number(at), code);
  for (let i = 0; i < 4096; i++) mem.writeU32(SRC + 4 * i, i * 3 + 1);
  c.rip = 0x1000;
  c.gpr[2 * 1] = k.ecx;
  c.gpr[2 * 6] = k.esi;
  c.gpr[2 * 7] = k.edi;
  let pmu: VirtualPmu | null = null;
  if (k.pmu === true) {
    pmu = loggingPmu(c, []);
    writePmuMsr(pmu, 0x186, 0x4300c0); // PMC0: instructions retired, EN|OS|USR
    writePmuMsr(pmu, 0x187, 0x4300c4); // PMC1: branches retired
    writePmuMsr(pmu, 0x38f, 0x3, 0);
    c.pmu = pmu;
  }
  const seen: string[] = [];
  seen.push(state(c, c.run(k.warm), pmu));
  let armedRuns = 0;
  for (const b of c.jcBlock) {
    const f = b?.exec;
    if (b === undefined || f === null || f === undefined) continue;
    b.exec = (cpu: EmuCpu): void => {
      if (cpu.debugArmed) armedRuns++;
      f(cpu);
    };
  }
  const breakpoints = new HostBreakpoints();
  for (const a of k.bps ?? []) breakpoints.add(BigInt(a));
  c.hostDebug = { breakpoints, watches: k.watches, step: false, stopAt: -1 };
  refreshDebug(c, true);
  // Slices of 700: stops inside them resume with runMore, as the stub does.
  let r = c.run(700);
  for (let n = 0; n < 1000 && !c.halted; n++) {
    seen.push(state(c, r, pmu));
    if (r === 'paused') {
      c.hostStop = HostStop.None;
      c.hostResumeAt = ipLin(c);
      r = c.runMore();
    } else r = c.run(700);
  }
  seen.push(state(c, r, pmu));
  return { seen, armedRuns };
}

function same(k: Case, stops: number, minArmedRuns = 100): void {
  const ref = run(k, false);
  const jit = run(k, true);
  assert.equal(ref.seen.filter((s) => s.startsWith('paused') && !s.includes('stop=0')).length, stops, `stops:\n${ref.seen.join('\n')}`);
  assert.deepEqual(jit.seen, ref.seen);
  assert.ok(jit.armedRuns >= minArmedRuns, `compiled blocks ran while armed: ${jit.armedRuns}`);
}

test('a write watchpoint hit in the middle of a compiled block stops right after the store, as the interpreter', { skip: NO_WASM }, () => {
  same({ prog: TWO_BLOCKS, esi: SRC, edi: DST, ecx: 3000, warm: 2000, watches: [{ lin: DST + 4 * 1500, len: 4, kind: 'write' }] }, 1);
});

test('a watch hit by an instruction its handler runs (not inline) in a compiled block stops right after it', { skip: NO_WASM }, () => {
  same({ prog: HANDLER, esi: SRC, edi: DST, ecx: 3000, warm: 2000, watches: [{ lin: DST + 4 * 1500, len: 4, kind: 'write' }] }, 2);
});

test('a read watchpoint in the middle of a compiled block, and one on the block\'s first instruction', { skip: NO_WASM }, () => {
  same({ prog: TWO_BLOCKS, esi: SRC, edi: DST, ecx: 3000, warm: 2000, watches: [{ lin: SRC + 4 * 1500 + 2, len: 1, kind: 'read' }] }, 1);
  // An access watch on both arrays: the read (the block's first instruction) and the later write stop it.
  same({ prog: TWO_BLOCKS, esi: SRC, edi: DST, ecx: 3000, warm: 2000, watches: [{ lin: SRC + 4 * 1700, len: 4, kind: 'access' }, { lin: DST + 4 * 1900, len: 2, kind: 'access' }] }, 2);
});

test('a watch hit in a compiled self-loop\'s later pass', { skip: NO_WASM }, () => {
  same({ prog: SELF_LOOP, esi: SRC, edi: DST, ecx: 3000, warm: 2000, watches: [{ lin: DST + 4 * 2345, len: 4, kind: 'write' }] }, 1);
  // At a page's first bytes: the pass that first touches the guarded page hits it.
  same({ prog: SELF_LOOP, esi: SRC, edi: DST, ecx: 3000, warm: 2000, watches: [{ lin: DST + 0x2000, len: 4, kind: 'write' }] }, 1);
  same({ prog: SELF_LOOP, esi: SRC, edi: DST, ecx: 3000, warm: 2000, watches: [{ lin: SRC + 0x2000, len: 4, kind: 'read' }] }, 1);
});

test('a watched page that is also the code page: data beside the code, and stores into the block\'s own code', { skip: NO_WASM }, () => {
  // The destination on the code page, after the code: its page is guarded and holds the running blocks.
  same({ prog: TWO_BLOCKS, esi: SRC, edi: 0x1100, ecx: 400, warm: 1000, watches: [{ lin: 0x1100 + 4 * 350, len: 4, kind: 'write' }] }, 1);
  // Each pass writes the next one's immediate: a watch there stops every pass after the warm ones, each exactly.
  same({ prog: SMC, esi: 0x1003, edi: 0, ecx: 300, warm: 500, watches: [{ lin: 0x1003, len: 4, kind: 'write' }] }, 200, 0);
});

test('host breakpoints: compiled blocks run where none lies in the block, and every pass of a self-loop stops at one', { skip: NO_WASM }, () => {
  // Never hit until the end (the HLT), in a block of its own.
  same({ prog: TWO_BLOCKS, esi: SRC, edi: DST, ecx: 3000, warm: 2000, watches: [], bps: [0x1049] }, 1);
  // In the second block (at its start and inside it): the first block still runs compiled.
  same({ prog: TWO_BLOCKS, esi: SRC, edi: DST, ecx: 400, warm: 2000, watches: [], bps: [0x1043] }, 218);
  same({ prog: TWO_BLOCKS, esi: SRC, edi: DST, ecx: 400, warm: 2000, watches: [], bps: [0x1040] }, 218);
  // At a self-loop's first instruction and inside it: resumed there, the next pass stops again.
  same({ prog: SELF_LOOP, esi: SRC, edi: DST, ecx: 300, warm: 600, watches: [], bps: [0x1000] }, 214, 0);
  same({ prog: SELF_LOOP, esi: SRC, edi: DST, ecx: 300, warm: 600, watches: [], bps: [0x1007] }, 214, 0);
});

test('a watch hit in compiled code with the PMU counting: the same instruction and branch counts at each stop', { skip: NO_WASM }, () => {
  same({ prog: TWO_BLOCKS, esi: SRC, edi: DST, ecx: 3000, warm: 2000, pmu: true, watches: [{ lin: DST + 4 * 1500, len: 4, kind: 'write' }] }, 1);
  same({ prog: SELF_LOOP, esi: SRC, edi: DST, ecx: 3000, warm: 2000, pmu: true, watches: [{ lin: SRC + 0x2000, len: 4, kind: 'read' }] }, 1);
  same({ prog: HANDLER, esi: SRC, edi: DST, ecx: 3000, warm: 2000, pmu: true, watches: [{ lin: DST + 4 * 1500, len: 4, kind: 'write' }] }, 2);
});

test('a guest DR0 instruction breakpoint at a compiled self-loop\'s head: a #DB at every pass, the handler resuming with RF', { skip: NO_WASM }, () => {
  const dbs = (compile: boolean): number => {
    const { cpu: c, mem } = makeCpu();
    c.setFlat32();
    c.compile = compile;
    c.jitThreshold = 1;
    c.jitLate = 1;
    // GDT: null, 0x08 flat code, 0x10 flat data; IDT: #DB -> 0x2000 through a 32-bit interrupt gate.
    [0, 0, 0x0000ffff, 0x00cf9a00, 0x0000ffff, 0x00cf9200].forEach((w, k) => mem.writeU32(0x500 + 4 * k, w >>> 0));
    c.gdtBase = 0x500;
    c.gdtLimit = 23;
    mem.writeU32(0x3000 + 8, (0x08 << 16) | 0x2000);
    mem.writeU32(0x3000 + 12, 0x8e00);
    c.idtBase = 0x3000;
    c.idtLimit = 0x7ff;
    // mov eax,0x1010 | mov dr0,eax | mov eax,1 | mov dr7,eax (L0: execute at 0x1010), then SELF_LOOP's body at 0x1010.
    load(mem, 0x1000, 'b810100000 0f23c0 b801000000 0f23f8 ' + SELF_LOOP[0x1000]);
    // The handler counts in EBX and returns with RF set in the frame, so the instruction runs once.
    load(mem, 0x2000, '43 814c240800000100 cf');
    for (let i = 0; i < 4096; i++) mem.writeU32(SRC + 4 * i, i);
    c.rip = 0x1000;
    c.gpr[2 * 1] = 300;
    c.gpr[2 * 4] = 0x8000;
    c.gpr[2 * 6] = SRC;
    c.gpr[2 * 7] = DST;
    for (let n = 0; n < 100 && !c.halted; n++) c.run(1000);
    assert.ok(c.halted, 'the loop ran to its HLT');
    return c.gpr[2 * 3]!;
  };
  assert.equal(dbs(false), 300, 'the interpreter: one #DB a pass');
  assert.equal(dbs(true), 300, 'compiled: one #DB a pass, as the interpreter');
});
