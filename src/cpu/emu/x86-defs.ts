/**
 * Constants of the emu engine: segment register indices, control-register and EFER bits,
 * exception vectors, the unwinding sentinels, and the numeric limits the address arithmetic
 * uses. This module imports nothing, so every other emu module can import it at any point of
 * module initialisation; modules import cpu.ts for its types only.
 */

// Segment register indices (x86 encoding order, matching SEG_NAMES of the register catalog).
export const ES = 0;
export const CS = 1;
export const SS = 2;
export const DS = 3;
export const FS = 4;
export const GS = 5;
export const LDTR = 6;
export const TR = 7;
/** Pseudo segment with base 0 and no checks (64-bit mode memory operands without FS/GS). */
export const SEG_FLAT = 8;
/** Like SEG_FLAT for stack-relative operands (RSP/RBP base) in 64-bit mode: non-canonical is #SS, not #GP. */
export const SEG_FLAT_SS = 9;

export const CR0_PE = 1 << 0;
export const CR0_MP = 1 << 1;
export const CR0_EM = 1 << 2;
export const CR0_TS = 1 << 3;
export const CR0_ET = 1 << 4;
export const CR0_NE = 1 << 5;
export const CR0_WP = 1 << 16;
export const CR0_AM = 1 << 18;
export const CR0_NW = 1 << 29;
export const CR0_CD = 1 << 30;
export const CR0_PG = 1 << 31;
export const CR4_TSD = 1 << 2;
export const CR4_DE = 1 << 3;
export const CR4_PSE = 1 << 4;
export const CR4_PAE = 1 << 5;
export const CR4_MCE = 1 << 6;
export const CR4_PGE = 1 << 7;
export const CR4_OSFXSR = 1 << 9;
export const CR4_OSXMMEXCPT = 1 << 10;
/** 5-level paging (57-bit linear addresses); changes only outside long mode. */
export const CR4_LA57 = 1 << 12;
/** Process-context identifiers: CR3[11:0] is the PCID (pcid.ts); set only in IA-32e mode with CR3[11:0] = 0. */
export const CR4_PCIDE = 1 << 17;
export const CR4_OSXSAVE = 1 << 18;
export const EFER_SCE = 1 << 0;
export const EFER_LME = 1 << 8;
export const EFER_LMA = 1 << 10;
export const EFER_NXE = 1 << 11;
/**
 * CR4 bits emu implements, LA57 aside (offered per VM: EmuCpu.la57): bits 0-10, PCIDE and OSXSAVE. UMIP,
 * VMXE/SMXE, FSGSBASE, SMEP, SMAP, PKE, CET and the reserved bits are #GP.
 */
export const CR4_IMPLEMENTED = 0x7ff | CR4_PCIDE | CR4_OSXSAVE;
/** EFER bits emu implements (LMA is written as it is, the CPU sets it). */
export const EFER_IMPLEMENTED = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;

export const VEC_DE = 0;
export const VEC_DB = 1;
export const VEC_NMI = 2;
export const VEC_BP = 3;
export const VEC_OF = 4;
export const VEC_BR = 5;
export const VEC_UD = 6;
export const VEC_NM = 7;
export const VEC_DF = 8;
export const VEC_TS = 10;
export const VEC_NP = 11;
export const VEC_SS = 12;
export const VEC_GP = 13;
export const VEC_PF = 14;
export const VEC_MF = 16;
export const VEC_AC = 17;
export const VEC_XM = 19;

/** Thrown (a preallocated sentinel, never an Error) to unwind a faulting instruction. */
export const FAULT = { fault: true } as const;

/** Why EmuCpu.run() returned ('paused': at the stop point EmuCpu.stopAt, inside the slice). */
export type RunResult = 'hlt' | 'budget' | 'shutdown' | 'stop' | 'paused';

/**
 * Inline-dispatch kinds of hot instructions (Insn.k; 0 = call Insn.fn): the run loop calls these
 * handlers directly (inline-kinds.ts). A `const enum` so that the run loop's switch compares
 * against constants (an imported `const` is a module-cell load and a hole check per case in V8's
 * optimized code).
 */
export const enum K {
  Call = 0,
  AddRR = 1,
  SubRR = 2,
  CmpRR = 3,
  LogicRR = 4,
  AddRI = 5,
  SubRI = 6,
  CmpRI = 7,
  LogicRI = 8,
  IncDecR = 9,
  MovRR = 10,
  Jnz = 11,
  Jz = 12,
  /** A conditional branch inside its block (a side exit, Block.sideExits): the run loop evaluates it inline. */
  Side = 13,
  AluEI = 14,
  Movzx = 15,
  AluEG = 16,
  MovEG = 17,
  TestEG = 18,
  Shift32RI = 19,
  Mov32Load = 20,
  Lea64 = 21,
  Mov64Store = 22,
  Lea = 23,
  Mov64Load = 24,
  Mov32Store = 25,
  Push64R = 26,
  Pop64R = 27,
  JmpRel = 28,
  Ret64 = 29,
  CallRel64 = 30,
  ShiftE = 31,
  AluGE = 32,
  JmpE = 33,
  ImulGE = 34,
  MovRI = 35,
  ImulGEI = 36,
  Push32R = 37,
  Pop32R = 38,
  RetNear = 39,
  CallRel = 40,
  MovGE = 41,
  TestEI = 42,
  MovEI = 43,
  Movsx = 44,
  Nop = 45,
}

/**
 * The hot constants again as const enums: tsc writes their values into the code, where an
 * imported `const` costs a module-cell load (and a hole check) in V8's optimized code. Hot paths
 * use these; the plain constants are for everything else.
 */
export const enum Seg {
  ES = 0,
  CS = 1,
  SS = 2,
  DS = 3,
  FS = 4,
  GS = 5,
  LDTR = 6,
  TR = 7,
  Flat = 8,
  FlatSS = 9,
}
/**
 * Indices into EmuCpu.gpr, the register file, of the registers instructions use by name: register n's low half is
 * at 2n and its high half at 2n + 1, so that in the wasm tier's memory the two are the little-endian i64 at byte 8n.
 */
export const enum Gp {
  AxLo = 0,
  AxHi = 1,
  CxLo = 2,
  CxHi = 3,
  DxLo = 4,
  DxHi = 5,
  BxLo = 6,
  BxHi = 7,
  SpLo = 8,
  SpHi = 9,
  BpLo = 10,
  BpHi = 11,
  R11Lo = 22,
}
/**
 * Address registers with exact halves beyond +-2^53 (cpu.ts bigAd): the segments by Seg (FS/GS bases, the
 * LDTR/TR bases), then these (GDTR and IDTR bases, DR0-DR3 at Dr0 + n, SYSENTER_ESP).
 */
export const enum BigAd {
  KernelGs = 10,
  Cr2 = 11,
  Gdt = 12,
  Idt = 13,
  Dr0 = 14,
  SysenterEsp = 18,
  Count = 19,
}
/** Block.vHi of a block no jump-cache slot holds (a linear address's high half is within +-2^25). */
export const enum VLin {
  None = 0x40000000,
}
export const enum Tlb {
  Bits = 10,
  Size = 1 << 10,
  Mask = (1 << 10) - 1,
}
export const enum Pow {
  Two32 = 4294967296,
  Two45 = 35184372088832,
  Two47 = 140737488355328,
  Two52 = 4503599627370496,
  /** Past this magnitude a double no longer holds every integer: the end of emu's exact linear addresses. */
  Two53 = 9007199254740992,
  Two56 = 72057594037927936,
  Two63 = 9223372036854775808,
  Two64 = 18446744073709551616,
}

/** TLB: entries per privilege (user/supervisor halves), index mask. */
export const TLB_BITS = 10;
export const TLB_SIZE = 1 << TLB_BITS;
export const TLB_MASK = TLB_SIZE - 1;
/**
 * Entries per privilege of the per-vCPU direct-mapped jump cache (linear RIP -> block). A Linux boot to its
 * prompt missed it ~752 k times at 8192 (684 k of them a slot holding another block: a code-cache lookup each),
 * ~303 k at 32768 (counted); the deterministic Debian boot to the prompt 410 k times at 32768 (329 k a slot
 * holding another block), 196 k at 65536 (102 k). A power of two of at least 4096 (INVLPG in tlb.ts relies on it).
 */
export const JC_SIZE = 65536;
/**
 * The jump cache slot of linear RIP `lin` at CPL `cpl`. Page bits are folded in, so that blocks at the same
 * offset of different pages do not all compete for one slot; user and supervisor halves are apart, so a
 * block found at CPL 0 is never run at CPL 3 without the fetch's permission check. (The region compiler
 * emits the same expression.) The addresses of one 4 KiB page take one aligned run of 4096 slots in each
 * half (the offset's bits 0-11 give bits 0-11 of the slot, bit 11 flipping bit 0 besides; the page's bits
 * only XOR the rest): jcPageRun.
 */
export function jcSlot(lin: number, cpl: number): number {
  return ((lin ^ (lin >>> 11)) & (JC_SIZE - 1)) | (cpl === 3 ? JC_SIZE : 0);
}

/** The first of the 4096 supervisor-half slots that jcSlot gives the addresses of the page at base `page`. */
export function jcPageRun(page: number): number {
  return (page ^ (page >>> 11)) & (JC_SIZE - 1) & ~0xfff;
}

export const TWO32 = 4294967296;
export const TWO63 = 9223372036854775808;
export const TWO64 = 18446744073709551616;
