/**
 * Test-only: one case of a compiled-against-interpreted comparison in flat 32-bit code with paging
 * (makePagedFlat32Cpu's map: RAM at DATA, a read-only page at 0x200000, nothing at 0x300000). Import it after
 * setting TSVMM_JIT: cpu.ts picks the tier when it loads.
 */
import { seededInt32 } from '../../../util/seeded-random.test-util.js';
import { Seg } from '../x86-defs.js';
import { load, makePagedFlat32Cpu, runText } from '../cpu-harness.test-util.js';
import { setFlagsRaw } from '../lazy-flags.js';

export const DATA = 0x3000;

/** setb cl, seto dl, sets dh, setz ch: the flags after the code, read inline or through an import. */
export const SETCC = '0f 92 c1 0f 90 c2 0f 98 c6 0f 94 c5';

export interface PagedCase {
  code: string;
  /** EBX (the memory operands' base register); DATA by default. */
  bx?: number;
  /** DS's base; 0 by default. */
  ds?: number;
}

/**
 * Runs `code; hlt` three times (TLB cold, warm, chained) from the same seeded state, the flags at random within
 * `flagsMask`; returns what it left (result, RIP, counts, CR2, RFLAGS, registers, the memory around DATA).
 */
export function runPagedCase(compile: boolean, c: PagedCase, seed: number, flagsMask: number): string[] {
  const t = makePagedFlat32Cpu();
  t.cpu.compile = compile;
  load(t.mem, 0x1000, c.code + ' f4');
  const out: string[] = [];
  for (let pass = 0; pass < 3; pass++) {
    const r = seededInt32(seed);
    for (let k = 0; k < 8; k++) {
      t.cpu.gpr[k << 1] = r();
      t.cpu.gpr[(k << 1) | 1] = r();
    }
    t.cpu.gpr[2 * 4] = 0x8000;
    t.cpu.gpr[2 * 3] = c.bx ?? DATA;
    t.cpu.setSegRaw(Seg.DS, 0x10, c.ds ?? 0, 0xffffffff, 0xc093);
    for (let a = DATA - 16; a < DATA + 48; a += 4) t.mem.writeU32(a, r() >>> 0);
    setFlagsRaw(t.cpu, 2 | (r() & flagsMask));
    t.cpu.rip = 0x1000;
    t.cpu.halted = false;
    const res = runText(t.cpu, 1000);
    const x = t.cpu;
    const mem: number[] = [];
    for (let a = DATA - 16; a < DATA + 48; a += 4) mem.push(t.mem.readU32(a));
    out.push(
      `${res} rip=${x.rip.toString(16)} n=${x.instructions} shutdown=${x.shutdownReason ?? ''} cr2=${x.cr2.toString(16)} rflags=${x.getRflags().toString(16)}`,
      `gpr=${[...x.gpr.slice(0, 16)].join(',')}`,
      `mem=${mem.join(',')}`,
    );
  }
  return out;
}
