/**
 * The comparison harness of the wasm inline-form tests: a case's code run compiled and interpreted from the same
 * random state, and what each left (registers, flags record, memory, fault) as lines to compare.
 *
 * The tier is picked from TSVMM_JIT when cpu.ts loads: a test sets it, then imports this module.
 */
import { seededInt32 } from '../../../util/seeded-random.test-util.js';
import { load, makeLong64Cpu, runText } from '../cpu-harness.test-util.js';

type TestCpu = ReturnType<typeof makeLong64Cpu>;

/** Where RBX points unless a case says otherwise: 32 random bytes the forms read and write. */
export const DATA = 0x3000;
// seto r8b, setb r9b, setz r10b, setbe r11b, sets r12b, setp r13b, setl r14b, setle r15b (conditions from
// what the compiler knows of the producer, with no call out).
export const SETCC = '41 0f 90 c0 41 0f 92 c1 41 0f 94 c2 41 0f 96 c3 41 0f 98 c4 41 0f 9a c5 41 0f 9c c6 41 0f 9e c7';

export interface Case {
  code: string;
  /** RBX (the memory operand's base); DATA unless a fault is wanted. */
  base?: number;
  /**
   * Whether every field of the lazy-flags record must be equal (the default), or only those its kind reads:
   * a producer whose flags are dead is not recorded by compiled code, so when a later one sets fewer fields
   * (a 32-bit logic operation: op, size and result) the others differ from the interpreter's, unread.
   */
  live?: 'all' | 'read';
  /** Runs from the same state (the runner's default unless given: the TLB cold, then warm, then chained). */
  passes?: number;
  /** FS and GS bases (0 unless given). */
  fs?: number;
  gs?: number;
}

/** The lazy-flags fields that the recorded kind reads (lazy-flags.ts). */
function readFields(x: TestCpu['cpu']): string {
  const f: (string | number)[] = [`fop=${x.fop}`, `fres=${x.fres}`];
  if (x.fop === 0) return f.join(' ');
  f.push(`fsz=${x.fsz}`);
  if (x.fsz === 8) f.push(`fresH=${x.fresH}`);
  if (x.fop !== 5) f.push(`fdst=${x.fdst} fsrc=${x.fsrc}`, ...(x.fsz === 8 ? [`fdstH=${x.fdstH} fsrcH=${x.fsrcH}`] : []));
  if (x.fop === 6 || x.fop === 7) f.push(`fcin=${x.fcin}`);
  return f.join(' ');
}

/**
 * A runner of cases: `code; hlt` run `c.passes ?? passes` times on one vCPU from the same state, with register and
 * memory halves random but biased towards `special` (values at the flags' edges); returns what each pass left.
 */
export function caseRunner(special: readonly number[], passes: number): (compile: boolean, c: Case, seed: number) => string[] {
  const val = (r: () => number): number => ((r() >>> 0) % 4 === 0 ? special[(r() >>> 0) % special.length]! : r());
  return (compile, c, seed) => {
    const t: TestCpu = makeLong64Cpu();
    // 2-4 MiB mapped read-only: writes there fault (CR0.WP), reads do not.
    t.mem.writeU32(0x12008, 0x200000 | 0x85);
    t.cpu.cr0 |= 1 << 16;
    t.cpu.compile = compile;
    load(t.mem, 0x1000, c.code + ' f4');
    const out: string[] = [];
    for (let pass = 0; pass < (c.passes ?? passes); pass++) {
      const r = seededInt32(seed);
      for (let k = 0; k < 16; k++) {
        t.cpu.gpr[k << 1] = val(r);
        t.cpu.gpr[(k << 1) | 1] = val(r);
      }
      t.cpu.gpr[2 * 4] = 0x8000;
      t.cpu.gpr[2 * 4 + 1] = 0;
      const base = c.base ?? DATA;
      t.cpu.gpr[2 * 3] = base | 0;
      t.cpu.gpr[2 * 3 + 1] = Math.floor(base / 2 ** 32) | 0;
      for (let a = DATA; a < DATA + 32; a += 4) t.mem.writeU32(a, val(r) >>> 0);
      // A lazy-flags state of an earlier instruction (what an eager writer keeps).
      t.cpu.fop = 5;
      t.cpu.fsz = 4;
      t.cpu.fres = val(r);
      t.cpu.fdst = val(r);
      t.cpu.fsrc = val(r);
      t.cpu.fresH = val(r);
      t.cpu.fdstH = val(r);
      t.cpu.fsrcH = val(r);
      t.cpu.fcin = 1;
      t.cpu.segBase[4] = c.fs ?? 0; // FS
      t.cpu.segBase[5] = c.gs ?? 0; // GS
      t.cpu.rip = 0x1000;
      t.cpu.halted = false;
      const res = runText(t.cpu, 1000);
      const x = t.cpu;
      const mem: number[] = [];
      for (let a = DATA; a < DATA + 32; a += 4) mem.push(t.mem.readU32(a));
      out.push(
        `${res} rip=${x.rip.toString(16)} n=${x.instructions} shutdown=${x.shutdownReason ?? ''} cr2=${x.cr2.toString(16)}`,
        `gpr=${[...x.gpr].join(',')}`,
        (c.live === 'read' ? readFields(x) : `fop=${x.fop} fsz=${x.fsz} fres=${x.fres} fdst=${x.fdst} fsrc=${x.fsrc} fresH=${x.fresH} fdstH=${x.fdstH} fsrcH=${x.fsrcH} fcin=${x.fcin}`) +
          ` rflags=${x.getRflags().toString(16)}`,
        `mem=${mem.join(',')}`,
      );
    }
    return out;
  };
}

export function hex8(v: number): string {
  return (v & 0xff).toString(16).padStart(2, '0');
}

/** The little-endian bytes of a 32-bit value, as hex for a case's code. */
export function hex32(v: number): string {
  return [0, 8, 16, 24].map((s) => hex8(v >>> s)).join(' ');
}
