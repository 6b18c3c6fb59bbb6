/**
 * Random guest code for the fuzzer: raw bytes, opcode-led bytes, and recipes that reach the VMM's edges (port
 * and MMIO traffic to every device and chip, MSRs, control registers, descriptor-table loads, tight loops,
 * jumps into zeroed memory, self-modifying stores). Every recipe uses encodings that mean the same in 32-bit
 * and 64-bit mode (`mov r32, imm32` zero-extends, `mov [rbx], eax` is `mov [ebx], eax`), so one generator
 * serves every paging mode; 16-bit real-mode code (for APs) is raw and opcode-led bytes only.
 */
import type { Prng } from '../differential/prng.js';

/** Ports with a device or chip behind them (and a few without), weighted by how often they are picked. */
const PORTS: readonly (readonly [number, number])[] = [
  [0x20, 4], [0x21, 4], [0xa0, 3], [0xa1, 3], [0x4d0, 1], [0x4d1, 1], // 8259 pair, ELCR
  [0x40, 3], [0x41, 1], [0x42, 1], [0x43, 4], [0x61, 2], // 8254, port 61
  [0x3f8, 3], [0x3f9, 3], [0x3fa, 2], [0x3fb, 2], [0x3fc, 2], [0x3fd, 2], [0x3fe, 1], [0x3ff, 1], // COM1
  [0x60, 2], [0x64, 2], // i8042 (0xfe at 0x64 resets: a documented end)
  [0x70, 3], [0x71, 3], // CMOS/RTC
  [0x510, 3], [0x511, 3], [0x514, 2], [0x518, 3], // fw_cfg and its DMA
  [0x80, 1], [0xcf8, 1], [0xcfc, 1], [0x2f8, 1], [0x1f0, 1], // POST, PCI config, COM2, IDE: nothing or little there
  [0xf4, 1], [0xcf9, 1], [0x604, 1], [0xb004, 1], // debug exit, reset, power-off: documented ends
];
const PORT_TOTAL = PORTS.reduce((s, [, w]) => s + w, 0);

/** MMIO targets: the local APIC and IOAPIC registers, the MMIO hole, and addresses past RAM. */
const MMIO = [0xfee00000, 0xfee00020, 0xfee00080, 0xfee000b0, 0xfee000f0, 0xfee00300, 0xfee00310, 0xfee00320, 0xfee00350, 0xfee00360, 0xfee00370, 0xfee00380, 0xfee003e0, 0xfec00000, 0xfec00010, 0xfed00000, 0xe0000000, 0xfffffff0];

const MSRS = [0x10, 0x1b, 0x3a, 0x8b, 0xc1, 0xc2, 0xfe, 0x174, 0x175, 0x176, 0x186, 0x187, 0x1a0, 0x1d9, 0x200, 0x2ff, 0x277, 0x309, 0x38d, 0x38f, 0x390, 0x6e0, 0x802, 0x808, 0x80b, 0x80f, 0x830, 0x832, 0x838, 0xc0000080, 0xc0000081, 0xc0000082, 0xc0000084, 0xc0000100, 0xc0000101, 0xc0000102, 0xc0000103];

/** First bytes that lead to interesting decoder/handler paths (system, string, control flow, prefixes). */
const OPCODE_LEADS: readonly number[][] = [
  [0x0f, 0x00], [0x0f, 0x01], [0x0f, 0x02], [0x0f, 0x03], [0x0f, 0x05], [0x0f, 0x06], [0x0f, 0x07], [0x0f, 0x08], [0x0f, 0x09], [0x0f, 0x0b], [0x0f, 0x0d],
  [0x0f, 0x20], [0x0f, 0x21], [0x0f, 0x22], [0x0f, 0x23], [0x0f, 0x30], [0x0f, 0x31], [0x0f, 0x32], [0x0f, 0x33], [0x0f, 0x34], [0x0f, 0x35], [0x0f, 0x37],
  [0x0f, 0xa2], [0x0f, 0xae], [0x0f, 0xb2], [0x0f, 0xb4], [0x0f, 0xb5], [0x0f, 0xc7], [0x0f, 0x38], [0x0f, 0x3a], [0x0f, 0x10], [0x0f, 0x28], [0x0f, 0x6f], [0x0f, 0xd8], [0x0f, 0x18],
  [0xd8], [0xd9], [0xdb], [0xdd], [0xdf], [0xc4], [0xc5], [0x62], [0x8f],
  [0x8e], [0x8c], [0xc6], [0xc7], [0xcd], [0xcc], [0xce], [0xcf], [0xca], [0xcb], [0xc2], [0xc3], [0xea], [0x9a], [0xff], [0xfe],
  [0xf3, 0xa4], [0xf3, 0xa5], [0xf3, 0xaa], [0xf3, 0xab], [0xf2, 0xa6], [0xf3, 0x6c], [0xf3, 0x6e], [0xf3, 0x6d], [0xf3, 0x6f],
  [0xf0], [0x66], [0x67], [0x2e], [0x36], [0x3e], [0x26], [0x64], [0x65], [0x48], [0x4f], [0x40],
  [0xe4], [0xe5], [0xe6], [0xe7], [0xec], [0xed], [0xee], [0xef], [0xf4], [0xfa], [0xfb], [0x9c], [0x9d], [0x1f], [0x07], [0x17],
  [0x00], [0x00, 0x00], [0xd4], [0xd5], [0x27], [0x62], [0x63], [0xc8], [0xc9], [0x0e],
];

const u32le = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const movImm = (reg: number, v: number): number[] => [0xb8 + reg, ...u32le(v >>> 0)];
const EAX = 0;
const ECX = 1;
const EDX = 2;
const EBX = 3;
const ESI = 6;
const EDI = 7;

function pickPort(rng: Prng): number {
  if (rng.chance(0.08)) return rng.below(0x10000);
  let r = rng.below(PORT_TOTAL);
  for (const [p, w] of PORTS) {
    if (r < w) return p;
    r -= w;
  }
  return 0x80;
}

/** A value worth writing: 0, all-ones, small, a single bit, or random. */
function value(rng: Prng): number {
  switch (rng.below(6)) {
    case 0:
      return 0;
    case 1:
      return 0xffffffff;
    case 2:
      return rng.below(256);
    case 3:
      return (1 << rng.below(32)) >>> 0;
    default:
      return rng.u32();
  }
}

/** What the code knows about where it runs: linear addresses of useful places. */
export interface CodeContext {
  /** Linear address of this piece of code's chunk (for self-modifying stores and string sources). */
  readonly selfLinear: number;
  /** Linear addresses worth jumping to or pointing at: other chunks, zeroed memory, the harness. */
  readonly targets: readonly number[];
  /** 64-bit mode: register forms stay the same, but some one-byte opcodes mean REX there. */
  readonly long: boolean;
}

type Recipe = (rng: Prng, ctx: CodeContext) => number[];

const RECIPES: readonly (readonly [Recipe, number])[] = [
  // Raw random bytes.
  [(rng) => [...rng.bytes(rng.range(1, 24))], 10],
  // An opcode lead plus random operand bytes.
  [(rng) => [...rng.pick(OPCODE_LEADS), ...rng.bytes(rng.range(0, 8))], 10],
  // Port output or input of each width, now and then a short REP OUTS/INS.
  [
    (rng, ctx) => {
      const out: number[] = [...movImm(EDX, pickPort(rng)), ...movImm(EAX, value(rng))];
      const w = rng.below(3);
      const write = rng.chance(0.6);
      if (rng.chance(0.1)) {
        out.push(...movImm(ECX, rng.range(1, 64)), ...movImm(write ? ESI : EDI, rng.chance(0.5) ? ctx.selfLinear : rng.pick(ctx.targets)));
        out.push(0xf3, ...(w === 1 ? [0x66] : []), write ? (w === 0 ? 0x6e : 0x6f) : w === 0 ? 0x6c : 0x6d);
        return out;
      }
      if (w === 1) out.push(0x66);
      out.push(write ? (w === 0 ? 0xee : 0xef) : w === 0 ? 0xec : 0xed);
      return out;
    },
    12,
  ],
  // fw_cfg DMA aimed anywhere: the 64-bit address register is big-endian, the write to 0x518 starts it.
  [
    (rng) => [...movImm(EDX, 0x514), ...movImm(EAX, value(rng)), 0xef, ...movImm(EDX, 0x518), ...movImm(EAX, value(rng)), 0xef],
    2,
  ],
  // MMIO store or load through EBX, of each width.
  [
    (rng) => {
      const addr = (rng.pick(MMIO) + (rng.chance(0.2) ? rng.below(0x1000) & ~3 : 0)) >>> 0;
      const out = [...movImm(EBX, addr), ...movImm(EAX, value(rng))];
      const w = rng.below(3);
      if (w === 1) out.push(0x66);
      out.push(rng.chance(0.7) ? (w === 0 ? 0x88 : 0x89) : w === 0 ? 0x8a : 0x8b, 0x03);
      return out;
    },
    8,
  ],
  // RDMSR/WRMSR of architectural, PMU, APIC and random MSRs.
  [(rng) => [...movImm(ECX, rng.chance(0.85) ? rng.pick(MSRS) : rng.u32()), ...movImm(EAX, value(rng)), ...movImm(EDX, value(rng)), 0x0f, rng.chance(0.6) ? 0x30 : 0x32], 5],
  // MOV to CR0/CR3/CR4 (and reads of CR2).
  [(rng) => [...movImm(EAX, value(rng)), 0x0f, rng.chance(0.8) ? 0x22 : 0x20, 0xc0 | (rng.pick([0, 2, 3, 4]) << 3)], 3],
  // LGDT/LIDT/LLDT/LTR with random operands.
  [(rng, ctx) => [...movImm(EBX, rng.chance(0.5) ? ctx.selfLinear : value(rng)), 0x0f, rng.chance(0.7) ? 0x01 : 0x00, rng.pick([0x13, 0x1b, 0x13, 0x03, 0x0b])], 2],
  // Far JMP/CALL/RET, IRET, INT n: selectors and gates.
  [(rng) => (rng.chance(0.5) ? [0xcd, rng.below(256)] : [rng.pick([0xcf, 0xcb, 0xca, 0xcc, 0xce]), ...rng.bytes(2)]), 3],
  // Tight loops: jmp $, pause loops, loop $, hlt with and without interrupts, and long REP stores.
  [
    (rng, ctx) => {
      switch (rng.below(7)) {
        case 0:
          return [0xeb, 0xfe];
        case 1:
          return [0xf3, 0x90, 0xeb, 0xfc];
        case 2:
          return [...movImm(ECX, rng.u32()), 0xe2, 0xfe];
        case 3:
          return [0xfb, 0xf4];
        case 4:
          return [0xfa, 0xf4];
        case 5:
          return [...movImm(ECX, rng.range(1, 1 << 20)), ...movImm(EDI, rng.pick(ctx.targets)), ...movImm(EAX, value(rng)), 0xf3, 0xab];
        default:
          return [0xfb, 0xeb, 0xfe];
      }
    },
    2,
  ],
  // Jump somewhere else: another chunk, zeroed RAM (the `xor eax,eax; jmp` case), the harness.
  [(rng, ctx) => [...(rng.chance(0.5) ? [0x31, 0xc0] : []), ...movImm(EBX, rng.chance(0.9) ? rng.pick(ctx.targets) : value(rng)), 0xff, rng.chance(0.8) ? 0xe3 : 0xd3], 3],
  // Store into this very code (self-modifying code) or another chunk.
  [(rng, ctx) => [...movImm(EBX, (rng.chance(0.6) ? ctx.selfLinear + rng.below(256) : rng.pick(ctx.targets)) >>> 0), ...movImm(EAX, value(rng)), 0x89, 0x03], 3],
  // CPUID, RDTSC, RDPMC, XGETBV-ish system reads.
  [(rng) => [...movImm(EAX, rng.chance(0.5) ? rng.below(0x20) : (0x80000000 + rng.below(9)) >>> 0), ...movImm(ECX, rng.below(4)), 0x0f, rng.pick([0xa2, 0x31, 0x33, 0x01])], 3],
];
const RECIPE_TOTAL = RECIPES.reduce((s, [, w]) => s + w, 0);

/** Protected/long-mode code of about `length` bytes. */
export function randomCode(rng: Prng, length: number, ctx: CodeContext): Uint8Array {
  const out: number[] = [];
  while (out.length < length) {
    let r = rng.below(RECIPE_TOTAL);
    for (const [recipe, w] of RECIPES) {
      if (r < w) {
        out.push(...recipe(rng, ctx));
        break;
      }
      r -= w;
    }
  }
  return Uint8Array.from(out.slice(0, length));
}

/** Real-mode code (what APs started at a SIPI vector run): raw and opcode-led bytes with port traffic. */
export function randomRealModeCode(rng: Prng, length: number): Uint8Array {
  const out: number[] = [];
  while (out.length < length) {
    const k = rng.below(4);
    if (k === 0) out.push(...rng.bytes(rng.range(1, 16)));
    else if (k === 1) out.push(...rng.pick(OPCODE_LEADS), ...rng.bytes(rng.range(0, 6)));
    else if (k === 2) out.push(0xba, ...u32le(pickPort(rng)).slice(0, 2), 0xb0, rng.below(256), 0xee); // mov dx, port; mov al, v; out dx, al
    else out.push(0xfa, 0xf4); // cli; hlt
  }
  return Uint8Array.from(out.slice(0, length));
}
