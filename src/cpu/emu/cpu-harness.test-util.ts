/** Test-only helpers: an EmuCpu on plain RAM with a capture port, and byte assembly from hex. */
import { Bus } from '../bus.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { EmuCpu } from './cpu.js';
import { CodeCache } from './code-cache.js';
import { envUsesWasm } from './jit/jit-mode.js';
import { provideArena } from './jit/wasm-arena.js';
import { CR0_PG, CR0_WP } from './x86-defs.js';

export interface TestCpu {
  cpu: EmuCpu;
  mem: GuestMemory;
  pio: Bus;
  mmio: Bus;
  /** Bytes written to port 0x3f8. */
  out: number[];
}

export function makeCpu(memBytes = 4 << 20): TestCpu {
  // Under TSVMM_JIT=wasm the RAM lives in the wasm tier's memory, as in an EmuVm, so compiled code hits it inline.
  const cache = new CodeCache();
  const bytes = (envUsesWasm() ? provideArena(cache, 1, memBytes).takeRam(memBytes) : null) ?? new Uint8Array(memBytes);
  const mem = new GuestMemory([{ name: 'ram', gpa: 0, size: memBytes, bytes }]);
  const pio = new Bus('pio');
  const mmio = new Bus('mmio');
  const out: number[] = [];
  pio.register(0x3f8, 1, { read: (_o, d) => d.fill(0), write: (_o, d) => void out.push(d[0]!) }, 'uart');
  const cpu = new EmuCpu({ memory: mem, pio, mmio, cache });
  return { cpu, mem, pio, mmio, out };
}

/** Bytes from a hex string; spaces and `;` comments to the end of a line are ignored. */
/** Where setupFlat32 puts its descriptor tables. */
const FLAT32_GDT = 0x500;
const FLAT32_IDT = 0x3000;

/**
 * Makes vCPU `c` a flat 32-bit protected-mode one over `mem`: a GDT at FLAT32_GDT (0x08 code, 0x10 data, base 0,
 * 4 GiB), an IDT at FLAT32_IDT with a ring-0 interrupt gate to each [vector, handler], ESP 0x8000 and EIP `rip`.
 */
export function setupFlat32(c: EmuCpu, mem: GuestMemory, rip: number, gates: readonly (readonly [number, number])[] = []): void {
  const gdt: [number, number][] = [
    [0, 0],
    [0x0000ffff, 0x00cf9a00], // 0x08 code32
    [0x0000ffff, 0x00cf9200], // 0x10 data
  ];
  gdt.forEach(([lo, hi], i) => {
    mem.writeU32(FLAT32_GDT + i * 8, lo >>> 0);
    mem.writeU32(FLAT32_GDT + i * 8 + 4, hi >>> 0);
  });
  for (const [vec, at] of gates) {
    mem.writeU32(FLAT32_IDT + vec * 8, ((0x08 << 16) | (at & 0xffff)) >>> 0);
    mem.writeU32(FLAT32_IDT + vec * 8 + 4, ((at & 0xffff0000) | 0x8e00) >>> 0);
  }
  c.setFlat32();
  c.gdtBase = FLAT32_GDT;
  c.gdtLimit = gdt.length * 8 - 1;
  c.idtBase = FLAT32_IDT;
  c.idtLimit = 256 * 8 - 1;
  c.gpr[2 * 4] = 0x8000;
  c.rip = rip;
}

/**
 * A flat 32-bit vCPU with 4 KiB paging (CR0.WP set) over 0-4 MiB, ESP 0x8000: 0x200000-0x200fff read-only,
 * 0x300000-0x300fff not present; the page tables at 0x10000.
 */
export function makePagedFlat32Cpu(): TestCpu {
  const t = makeCpu();
  t.cpu.setFlat32();
  const pd = 0x10000;
  const pt = 0x11000;
  t.mem.writeU32(pd, pt | 7);
  for (let p = 0; p < 1024; p++) t.mem.writeU32(pt + p * 4, p === 0x300 ? 0 : ((p << 12) | (p === 0x200 ? 5 : 7)) >>> 0);
  t.cpu.cr3 = pd;
  t.cpu.cr0 = t.cpu.cr0 | CR0_PG | CR0_WP;
  t.cpu.gpr[2 * 4] = 0x8000;
  return t;
}

/** Runs up to `budget` instructions: why the run stopped, or `threw <message>` when it threw. */
export function runText(c: EmuCpu, budget: number): string {
  try {
    return c.run(budget);
  } catch (e) {
    return `threw ${(e as Error).message}`;
  }
}

export function hex(s: string): Uint8Array {
  const clean = s.replace(/;[^\n]*/g, '').replace(/\s+/g, '');
  if (clean.length % 2 !== 0) throw new RangeError(`odd hex length in "${s}"`);
  return Uint8Array.from(clean.match(/../g) ?? [], (h) => parseInt(h, 16));
}

export function load(mem: GuestMemory, gpa: number, code: string | Uint8Array): void {
  mem.write(gpa, typeof code === 'string' ? hex(code) : code);
}

export function u32le(v: number): string {
  const b = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  return b.map((x) => x.toString(16).padStart(2, '0')).join('');
}

/** Runs `code` (hex) at 0x1000 in 32-bit flat mode with the given registers; returns the cpu after HLT. */
export function run32(code: string, regs: Partial<Record<number, number>> = {}, flags = 2): EmuCpu {
  const t = makeCpu();
  load(t.mem, 0x1000, code + '\n f4');
  t.cpu.setFlat32();
  t.cpu.gpr[2 * 4] = 0x8000;
  for (const [r, v] of Object.entries(regs)) t.cpu.gpr[Number(r) << 1] = v!;
  t.cpu.setRflags(flags);
  t.cpu.rip = 0x1000;
  const r = t.cpu.runUntilHalt(1_000_000);
  if (r !== 'hlt') throw new Error(`did not halt: ${r}`);
  return t.cpu;
}

/** A vCPU in 64-bit mode at CPL 0, the first 2 MiB identity-mapped, RSP 0x8000 and RIP 0x1000. */
export function makeLong64Cpu(): TestCpu {
  const t = makeCpu();
  // PML4 at 0x10000 -> PDPT 0x11000 -> PD 0x12000 with one 2 MiB page at 0 (RW, user).
  t.mem.writeU32(0x10000, 0x11000 | 7);
  t.mem.writeU32(0x11000, 0x12000 | 7);
  t.mem.writeU32(0x12000, 0x87);
  t.cpu.setLong64(0x10000);
  t.cpu.gpr[2 * 4] = 0x8000;
  t.cpu.rip = 0x1000;
  return t;
}

/** Runs `code` at 0x1000 in 64-bit mode (identity-mapped first 2 MiB); returns the cpu after HLT. */
export function run64(code: string, setup?: (t: TestCpu) => void): EmuCpu {
  const t = makeLong64Cpu();
  load(t.mem, 0x1000, code + '\n f4');
  setup?.(t);
  const r = t.cpu.runUntilHalt(1_000_000);
  if (r !== 'hlt') throw new Error(`did not halt: ${r}`);
  return t.cpu;
}
