/**
 * Fuzz scenarios: what the `fuzz` guest (guests/fuzz/) runs. A scenario is a paging mode, a CPL, control-register
 * and flag values, entry points, registers, an optional SIPI vector for the other CPUs, and memory chunks
 * (random code, page tables, real-mode code for APs). `generateScenario(seed, index)` is a pure function of its
 * arguments, so a failure is replayed from two numbers; `encodeScenario` writes the module the guest reads
 * (layout: guests/fuzz/fuzz.h).
 */
import { Prng } from '../differential/prng.js';
import { randomCode, randomRealModeCode, type CodeContext } from './code-gen.js';
import { PageTables, type PagingMode } from './page-tables.js';

export type FuzzMode = 'flat32' | PagingMode;
const MODE_NUMBER: Record<FuzzMode, number> = { flat32: 0, paging32: 1, pae: 2, long: 3 };

export interface Chunk {
  readonly dst: number;
  readonly bytes: Uint8Array;
  readonly what: string;
}

export interface Scenario {
  readonly seed: number;
  readonly index: number;
  /** What is special about it, for reports (e.g. "long cpl3 smp zero-jump"). */
  readonly kind: string;
  readonly memMiB: number;
  readonly cpus: number;
  readonly deterministic: boolean;
  readonly mode: FuzzMode;
  readonly cpl: 0 | 3;
  readonly cr0: number;
  readonly cr3: number;
  readonly cr4: number;
  readonly efer: number;
  readonly rflags: number;
  readonly recoveries: number;
  readonly sipi: number | null;
  readonly entries: readonly bigint[];
  readonly stack: bigint;
  readonly regs: readonly number[];
  readonly chunks: readonly Chunk[];
}

const MiB = 1024 * 1024;
/** Where the generator puts things (all above the harness's 4 MiB). */
const TABLES_AT = 0x400000;
const CODE_AT = 0x500000;
const CODE_STRIDE = 0x2000;
const STACK_PAGE = 0x600000;
/** Zeroed RAM from here to the end: where "jump into zeros" lands. */
const ZEROS_AT = 0x800000;

const CR0_PE = 0x1;
const CR0_ET = 0x10;
const CR0_NE = 0x20;
const CR0_WP = 0x10000;
const CR0_AM = 0x40000;
const CR0_PG = 0x80000000;
const CR4_PSE = 0x10;
const CR4_PAE = 0x20;
const CR4_PGE = 0x80;
const CR4_PCE = 0x100;
const CR4_TSD = 0x4;
const CR4_DE = 0x8;
const EFER_SCE = 0x1;
const EFER_LME = 0x100;
const EFER_NXE = 0x800;

/** A random page-aligned linear address for code in `mode` (outside the harness's low 4 MiB). */
function aliasLinear(rng: Prng, mode: FuzzMode): bigint {
  if (mode === 'long') {
    const low = BigInt(rng.range(0x400, 0x7ffffff)) << 12n; // up to 2^39
    return rng.chance(0.5) ? low : 0xffff_8000_0000_0000n + (BigInt(rng.u32()) << 12n);
  }
  return BigInt(rng.range(0x1000, 0xbfff0)) << 12n;
}

export function generateScenario(seed: number, index: number): Scenario {
  const rng = new Prng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const tags: string[] = [];
  const mode = rng.pick<FuzzMode>(['flat32', 'paging32', 'pae', 'long']);
  const cpl = rng.chance(0.5) ? 3 : 0;
  const memMiB = rng.pick([16, 16, 32, 64]);
  const ram = memMiB * MiB;
  const smp = rng.chance(0.2);
  const cpus = smp ? rng.range(2, 3) : 1;
  const chunks: Chunk[] = [];

  let nextTable = TABLES_AT;
  const tables = mode === 'flat32' ? undefined : new PageTables(mode, () => ((nextTable += 0x1000), nextTable - 0x1000));
  const pse = mode === 'paging32' && rng.chance(0.7);
  if (tables) {
    // The harness: identity, supervisor, kept intact.
    if (mode === 'paging32') tables.map(0n, 0, 4 * MiB, { user: false, keep: true, ...(pse ? { pageSize: 4 * MiB } : {}) });
    else tables.map(0n, 0, 4 * MiB, { user: false, keep: true, pageSize: 2 * MiB });
    // The APIC and IOAPIC, most of the time (user-accessible now and then).
    for (const mmio of [0xfee00000, 0xfec00000]) if (rng.chance(0.7)) tables.map(BigInt(mmio), mmio, 0x1000, { user: rng.chance(0.3) });
    // Zeroed RAM, identity, for jumps into zeros.
    tables.map(BigInt(ZEROS_AT), ZEROS_AT, Math.min(ram - ZEROS_AT, 4 * MiB), { user: cpl === 3, ...(mode === 'paging32' ? {} : {}) });
    tables.map(BigInt(STACK_PAGE), STACK_PAGE, 0x1000, { user: cpl === 3, keep: true });
  }

  const nEntries = rng.range(1, 8);
  const entries: bigint[] = [];
  const codePhys = Array.from({ length: nEntries }, (_, i) => CODE_AT + i * CODE_STRIDE);
  const targets = [...codePhys, ZEROS_AT, ZEROS_AT + rng.below(0x100000), 0x100000, 0];
  const zeroJump = rng.chance(0.08);
  if (zeroJump) tags.push('zero-jump');
  for (let i = 0; i < nEntries; i++) {
    const phys = codePhys[i]!;
    let linear = BigInt(phys);
    if (tables) {
      tables.map(linear, phys, CODE_STRIDE, { user: cpl === 3 });
      if (rng.chance(0.5)) {
        linear = aliasLinear(rng, mode);
        tables.map(linear, phys, CODE_STRIDE, { user: cpl === 3 });
      }
    }
    entries.push(linear);
    const ctx: CodeContext = { selfLinear: phys, targets, long: mode === 'long' };
    const code =
      zeroJump && i === 0
        ? Uint8Array.from([0x31, 0xc0, 0xbb, ...le32(ZEROS_AT), 0xff, 0xe3]) // xor eax,eax; mov ebx, zeros; jmp ebx
        : randomCode(rng, rng.range(32, 4096), ctx);
    chunks.push({ dst: phys, bytes: code, what: `code ${i}` });
  }

  let sipi: number | null = null;
  if (smp) {
    sipi = rng.pick([0x00, 0xa0, 0xff, 0x10 + rng.below(0x8f), 0x10 + rng.below(0x8f)]);
    tags.push(`smp sipi 0x${sipi.toString(16)}`);
    if (sipi >= 0x10 && sipi < 0xa0) chunks.push({ dst: sipi * 0x1000, bytes: randomRealModeCode(rng, rng.range(16, 2048)), what: 'AP real-mode code' });
  }

  if (tables) {
    const damage = rng.chance(0.7) ? rng.range(1, 64) : 0;
    if (damage) tags.push(`${damage} damaged entries`);
    tables.damage(rng, damage, ram);
    for (const t of tables.chunks()) chunks.push({ dst: t.phys, bytes: t.bytes, what: `page table at 0x${t.phys.toString(16)}` });
  }

  const paging = mode !== 'flat32';
  const cr0 = (CR0_PE | CR0_ET | (paging ? CR0_PG : 0) | (rng.chance(0.5) ? CR0_WP : 0) | (rng.chance(0.3) ? CR0_NE : 0) | (rng.chance(0.15) ? CR0_AM : 0)) >>> 0;
  const cr4 = (mode === 'pae' || mode === 'long' ? CR4_PAE : 0) | (pse ? CR4_PSE : 0) | (rng.chance(0.3) ? CR4_PGE : 0) | (rng.chance(0.3) ? CR4_PCE : 0) | (rng.chance(0.1) ? CR4_TSD : 0) | (rng.chance(0.1) ? CR4_DE : 0);
  const efer = (mode === 'long' ? EFER_LME : 0) | (rng.chance(0.4) ? EFER_NXE : 0) | (rng.chance(0.3) ? EFER_SCE : 0);
  const iopl = cpl === 3 && rng.chance(0.5) ? 3 : 0;
  const rflags = 0x2 | (rng.chance(0.5) ? 0x200 : 0) | (iopl << 12) | (rng.chance(0.05) ? 0x100 : 0) | (rng.chance(0.1) ? 0x40000 : 0);
  if (rflags & 0x100) tags.push('single-step');

  return {
    seed,
    index,
    kind: [mode, `cpl${cpl}`, `${memMiB}M`, ...tags].join(' '),
    memMiB,
    cpus,
    deterministic: rng.chance(0.75),
    mode,
    cpl,
    cr0,
    cr3: tables?.root ?? 0,
    cr4,
    efer,
    rflags,
    recoveries: rng.range(50, 3000),
    sipi,
    entries,
    stack: BigInt(STACK_PAGE + 0x1000 - 16 * rng.below(8)),
    regs: Array.from({ length: 8 }, () => rng.u32()),
    chunks,
  };
}

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

export const HEADER_BYTES = 216;

/** The multiboot module the fuzz guest reads (guests/fuzz/fuzz.h). */
export function encodeScenario(s: Scenario): Uint8Array {
  const size = HEADER_BYTES + s.chunks.reduce((n, c) => n + 8 + ((c.bytes.length + 3) & ~3), 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  const words = [0x31305a46, MODE_NUMBER[s.mode], s.cpl, s.cr0, s.cr3, s.cr4, s.efer, s.rflags, s.recoveries, s.sipi ?? 0xffffffff, s.entries.length];
  words.forEach((w, i) => v.setUint32(i * 4, w >>> 0, true));
  s.entries.forEach((e, i) => v.setBigUint64(44 + i * 8, BigInt.asUintN(64, e), true));
  v.setBigUint64(172, BigInt.asUintN(64, s.stack), true);
  s.regs.forEach((r, i) => v.setUint32(180 + i * 4, r >>> 0, true));
  v.setUint32(212, s.chunks.length, true);
  let at = HEADER_BYTES;
  for (const c of s.chunks) {
    v.setUint32(at, c.dst >>> 0, true);
    v.setUint32(at + 4, c.bytes.length, true);
    out.set(c.bytes, at + 8);
    at += 8 + ((c.bytes.length + 3) & ~3);
  }
  return out;
}
