/**
 * Whether a vCPU spins in a loop that provably repeats for ever: the decoded block at RIP branches back to
 * its own start, every instruction in it only reads and writes registers and flags (no memory operand but
 * LEA, no I/O, no MSR or time read, no system instruction), and one pass through it leaves every register,
 * RIP and RFLAGS as they were. Such a loop has no effect and nothing inside it can change, so unless an
 * interrupt breaks it (the caller checks IF and the interrupt sources) it never ends: `cli; jmp $`, a
 * `cli; pause` loop, `l: add eax, 0; jnz l`. A loop that polls a port or memory, counts, or reads the TSC
 * is not pure and is left alone (a device or another vCPU may end it).
 */
import type { EmuCpu } from './cpu.js';
import type { Block, Insn } from './insn.js';
import { jcSlot } from './x86-defs.js';
import { ipLin, jcValid } from './run-loop.js';

/** Register-only forms that cannot touch memory, ports or time (with a register operand, or none). */
const PURE_JIT = new Set(['alu', 'test', 'incdec', 'neg', 'not', 'mov', 'movri', 'lea', 'movzx', 'shift']);
const PURE_NO_OPERANDS = new Set(['NOP', 'CLC', 'STC', 'CMC', 'CLD', 'STD', 'CLI']);

function pure(x: Insn): boolean {
  const r = x.row;
  if (r.jit === 'lea' || r.jit === 'movri') return true;
  if (r.jit !== null && PURE_JIT.has(r.jit)) return x.mod === 3;
  return PURE_NO_OPERANDS.has(r.mn) && (x.mod === 3 || !r.modrm);
}

/** The block the vCPU would run next, if the jump cache has it (nothing is decoded or translated here). */
function blockAtRip(c: EmuCpu): Block | undefined {
  const lin = ipLin(c);
  const j = jcSlot(lin, c.cpl);
  const b = c.jcBlock[j];
  return b !== undefined && jcValid(c, b, lin) ? b : undefined;
}

/** The block is a self-loop of pure instructions: its last instruction is a JMP/Jcc back to its first byte. */
export function isPureSelfLoop(b: Block): boolean {
  const n = b.insns.length;
  const last = b.insns[n - 1];
  if (last === undefined || (last.row.branch !== 'jmp' && last.row.branch !== 'jcc')) return false;
  if (last.end + last.imm !== 0) return false; // the target is the block's start
  for (let k = 0; k < n - 1; k++) if (!pure(b.insns[k]!)) return false;
  return true;
}

const snap = new Int32Array(34);

/**
 * True when the vCPU is in a pure self-loop that one pass leaves unchanged. Runs the guest's own next
 * instructions (up to 8 to reach the loop's start, then one pass), so call it only when no interrupt can
 * arrive meanwhile.
 */
export function spinsForever(c: EmuCpu): boolean {
  if (c.halted || c.waitSipi) return false;
  let b = blockAtRip(c);
  // A slice may always end at the same instruction inside the loop (an even budget, a two-instruction
  // loop): step to the loop's start, a few instructions at most.
  for (let k = 0; k < 8 && (b === undefined || !isPureSelfLoop(b)); k++) {
    if (c.run(1) !== 'budget') return false;
    b = blockAtRip(c);
  }
  if (b === undefined || !isPureSelfLoop(b)) return false;
  const rip = c.rip;
  snap.set(c.gpr, 0);
  snap[32] = c.getRflags();
  const before = c.instructions;
  c.run(b.insns.length);
  if (c.instructions - before !== b.insns.length || c.rip !== rip || c.getRflags() !== snap[32]) return false;
  for (let i = 0; i < 32; i++) if (c.gpr[i] !== snap[i]) return false;
  return true;
}
