/**
 * Page regions: the hot blocks of one code page (one decode mode) compiled into one JavaScript
 * function, entered at any of them. Inside, a block's successor on the same page, whether reached
 * by a jump, a call, a return or an indirect jump, is found by its page offset through a `switch`
 * and run without leaving the function; so calls and returns within a page, loops spanning several
 * blocks and switch dispatch stay in compiled code. The per-block code is the block compiler's
 * (block-compiler.ts emitBody: inline forms from the table's `jit` rows, dead-flag elimination,
 * handler calls for the rest).
 *
 * Exactness: each block keeps the interpreter's contract (c.bip/c.rip/c.curBlock set as execBlock
 * sets them, c.ci before anything that may fault, counts added per block), and the function leaves
 * at a block boundary whenever the run loop would do something other than run the next block: the
 * poll point (interrupts, PMU bound, REP pause, STI/MOV SS shadow), the end of the budget, a stop,
 * HLT, a mode or CPL change, a write to its own code, a TLB flush (the jump cache is emptied then,
 * and a successor is taken only from the jump cache) or a block that is not in the region.
 */
import type { EmuCpu } from '../cpu.js';
import type { Block, Insn, JitRegion } from '../insn.js';
import { canCompile, emitBody, nextSerial, RUNTIME_NAMES, RUNTIME_VALUES, type EmitOptions } from '../block-compiler.js';
import type { JitStats } from './jit-stats.js';
import { JC_SIZE } from '../x86-defs.js';

/** A region's function and what it holds. */
export class Region implements JitRegion {
  fn: (c: EmuCpu, lin: number) => void = noop;
  constructor(
    readonly blocks: readonly Block[],
    readonly bytes: number,
  ) {}
}

function noop(): void {}

/** Most blocks and instructions one region holds (bounds compile time and code per page). */
export const REGION_MAX_BLOCKS = 16;
export const REGION_MAX_INSNS = 160;

/** Rows that count the PMU at their own instruction (pmuSync): their blocks stay with execBlock. */
const PMU_SYNC = new Set(['RDMSR', 'WRMSR', 'RDPMC']);

/** Whether block `b` may be part of a region. */
export function regionable(b: Block): boolean {
  if (b.sideExits !== 0) return false; // a region's blocks end only at their last instruction
  for (const x of b.insns) if (PMU_SYNC.has(x.row.mn)) return false;
  return true;
}

/** `rip + d` wrapped at the code size (JS source). */
function wrapIp(cs: number, e: string): string {
  if (cs === 4) return `((${e}) >>> 0)`;
  if (cs === 2) return `((${e}) & 0xffff)`;
  return `(${e})`;
}

/** Code size of a decode mode key (EmuCpu.modeKey). */
function codeSizeOf(mode: number): number {
  return mode === 2 ? 8 : mode === 1 ? 4 : 2;
}

/** JS for one block's `case`. */
function emitCase(b: Block, bi: number, cs: number, mode: number): string {
  const ins = b.insns;
  const n = ins.length;
  const br = b.branches;
  const count = (m: number, branches: number): string => `c.instructions += ${m}; ret[u] += ${m};${branches !== 0 ? ` brr[u] += ${branches};` : ''}`;
  // A write to this block's page invalidated it: stop after the writing instruction.
  const smcExit = (k: number): string =>
    k + 1 < n
      ? `${count(k + 1, 0)} c.rip = ${wrapIp(cs, `bip + ${ins[k]!.end}`)}; c.smc = false; return;`
      : `${count(n, br)} c.smc = false; return;`;
  const o: EmitOptions = {
    insName: `I${bi}`,
    selfLoops: false,
    smcExit,
    afterStore: (k) => ` if (c.smc) { ${smcExit(k)} }`,
    always: true,
    call: (k) => `I${bi}[${k}].fn(c, I${bi}[${k}])`,
  };
  const e = emitBody(ins, o)!;
  const calls = e.src.includes('.fn(c,');
  const out = [`case ${b.phys & 0xfff}: {`, `c.curBlock = B${bi}; c.jitInsns = I${bi}; const bip = c.rip; c.bip = bip; c.rip = ${wrapIp(cs, `bip + ${b.len}`)};`, e.src, count(n, br)];
  if (calls) {
    // A handler may have paused a REP, stopped the run, halted, set an interrupt shadow or TF, or changed mode or CPL.
    out.push(`if (c.notRetired !== 0) { c.instructions -= c.notRetired; ret[u] -= c.notRetired; c.notRetired = 0; return; }`);
    out.push(`if (c.breakRun || c.shadow || c.halted || (c.flags & 0x100) !== 0 || c.debugArmed || c.modeKey !== ${mode} || c.cpl !== cpl) return;`);
  }
  out.push('break; }');
  return out.join('\n');
}

/** Compiles the region of `blocks` (one page, one mode); null where code generation is unavailable. */
export function compileRegion(blocks: readonly Block[], mode: number, stats: JitStats): Region | null {
  if (!canCompile || blocks.length === 0) return null;
  const t0 = performance.now();
  const cs = codeSizeOf(mode);
  const cases = blocks.map((b, bi) => emitCase(b, bi, cs, mode));
  const lin = cs === 8 ? 'lin = c.rip;' : `lin = c.rip + sb[1]; if (lin >= 4294967296) lin -= 4294967296;`;
  const src = [
    'const g = c.gpr, jcB = c.jcBlock, ret = c.retired, brr = c.branchesRetired, sb = c.segBase;',
    'const u = c.cpl === 3 ? 1 : 0, cpl = c.cpl, endW = c.jitEnd;',
    'let off = lin & 4095; const lb = lin - off;',
    'for (;;) {',
    'switch (off) {',
    ...cases,
    'default: return;',
    '}',
    // The next block: in this page, in the jump cache (so still mapped there and valid), in this region, within budget.
    'if (c.instructions >= c.pollAt) return;',
    lin,
    'off = lin - lb;',
    'if (off < 0 || off > 4095) return;',
    // jcSlot (x86-defs.ts), inline.
    `const js = ((lin ^ (lin >>> 11)) & ${JC_SIZE - 1}) | (cpl === 3 ? ${JC_SIZE} : 0);`,
    'const nb = jcB[js];',
    // jcValid (run-loop.ts), inline; the region implies the mode.
    'if (nb === undefined || nb.region !== R || nb.vLo !== (lin | 0) || nb.vHi !== (lin - (lin | 0)) / 4294967296 || !nb.valid || nb.vCpl !== cpl || (nb.vEp !== c.jcEpoch && nb.vEpG !== c.jcEpochG) || c.instructions + c.stringIters + nb.insns.length > endW) return;',
    '}',
  ].join('\n');
  const names = ['R', ...blocks.map((_, bi) => `B${bi}`), ...blocks.map((_, bi) => `I${bi}`), ...RUNTIME_NAMES];
  const region = new Region(blocks, src.length);
  try {
    const factory = new Function(...names, `// region ${nextSerial()}\nreturn function region(c, lin) {\n${src}\n};`) as (...a: unknown[]) => (c: EmuCpu, lin: number) => void;
    region.fn = factory(region, ...blocks, ...blocks.map((b): Insn[] => b.insns), ...RUNTIME_VALUES);
  } catch {
    return null;
  }
  stats.compileMs += performance.now() - t0;
  stats.codeBytes += src.length;
  stats.regions++;
  return region;
}
