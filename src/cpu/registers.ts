/**
 * The register catalog: every piece of vCPU state is addressed by a tagged id
 * (set, number, size, access), read and written in batches. This is the "state
 * accessors" design of the next-generation KVM API: one scatter/gather call instead
 * of a pile of per-structure ioctls.
 */

export const enum RegSet {
  /** RAX..R15 by their encoding number 0..15. */
  GPR = 1,
  /** RIP, RFLAGS and other single special registers. */
  SPECIAL = 2,
  /** Segment registers: number = seg * 4 + field (selector, base, limit, attributes). */
  SEGMENT = 3,
  /** GDTR/IDTR: number = table * 2 + field (base, limit). */
  DTABLE = 4,
  /** CR0, CR2, CR3, CR4, CR8 by number; EFER is an MSR. */
  CONTROL = 5,
  /** Model-specific registers: number = MSR index. */
  MSR = 6,
  /** Debug registers DR0-DR7 by number. */
  DEBUG = 7,
  /** Pending-event state: interrupt shadow, halted, pending interrupt. */
  EVENT = 8,
}

/**
 * 'read-only-guest': the guest reads it, only the host writes it (capability MSRs). 'write-only': a
 * command register with no state (IA32_PRED_CMD): guest and host may write it, reading it fails.
 */
export type RegAccess = 'read-write' | 'read-only' | 'read-only-guest' | 'write-only';

/** A register id: set * 2^32 + number (exact in a double). */
export type RegId = number;

export interface RegisterInfo {
  readonly id: RegId;
  readonly name: string;
  readonly set: RegSet;
  readonly number: number;
  /** Size in bytes. */
  readonly size: 1 | 2 | 4 | 8;
  readonly access: RegAccess;
}

const SET_SHIFT = 0x1_0000_0000;

export function regId(set: RegSet, number: number): RegId {
  return set * SET_SHIFT + (number >>> 0);
}
export function regSet(id: RegId): RegSet {
  return Math.floor(id / SET_SHIFT) as RegSet;
}
export function regNumber(id: RegId): number {
  return id % SET_SHIFT;
}

export const GPR_NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;
export const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'ldtr', 'tr'] as const;
export const SEG_FIELDS = ['selector', 'base', 'limit', 'attrs'] as const;
export type SegName = (typeof SEG_NAMES)[number];
export type SegField = (typeof SEG_FIELDS)[number];

export const SPECIAL_RIP = 0;
export const SPECIAL_RFLAGS = 1;

export const EVENT_INTERRUPT_SHADOW = 0;
export const EVENT_HALTED = 1;

/**
 * Segment attributes use the VMX access-rights layout: bits 0-3 type, 4 S, 5-6 DPL,
 * 7 P, 12 AVL, 13 L, 14 D/B, 15 G, 16 unusable.
 */
export const SEG_ATTR_UNUSABLE = 1 << 16;

export function segReg(seg: SegName, field: SegField): RegId {
  return regId(RegSet.SEGMENT, SEG_NAMES.indexOf(seg) * 4 + SEG_FIELDS.indexOf(field));
}

const catalog = new Map<RegId, RegisterInfo>();
const byName = new Map<string, RegisterInfo>();

function add(set: RegSet, number: number, name: string, size: 1 | 2 | 4 | 8, access: RegAccess = 'read-write'): RegId {
  const id = regId(set, number);
  const info: RegisterInfo = { id, name, set, number, size, access };
  catalog.set(id, info);
  byName.set(name, info);
  return id;
}

GPR_NAMES.forEach((n, i) => add(RegSet.GPR, i, n, 8));
add(RegSet.SPECIAL, SPECIAL_RIP, 'rip', 8);
add(RegSet.SPECIAL, SPECIAL_RFLAGS, 'rflags', 8);
SEG_NAMES.forEach((s, i) => {
  add(RegSet.SEGMENT, i * 4 + 0, `${s}.selector`, 2);
  add(RegSet.SEGMENT, i * 4 + 1, `${s}.base`, 8);
  add(RegSet.SEGMENT, i * 4 + 2, `${s}.limit`, 4);
  add(RegSet.SEGMENT, i * 4 + 3, `${s}.attrs`, 4);
});
(['gdtr', 'idtr'] as const).forEach((t, i) => {
  add(RegSet.DTABLE, i * 2, `${t}.base`, 8);
  add(RegSet.DTABLE, i * 2 + 1, `${t}.limit`, 2);
});
for (const n of [0, 2, 3, 4, 8]) add(RegSet.CONTROL, n, `cr${n}`, 8);
for (const n of [0, 1, 2, 3, 6, 7]) add(RegSet.DEBUG, n, `dr${n}`, 8);
add(RegSet.EVENT, EVENT_INTERRUPT_SHADOW, 'interrupt-shadow', 1);
add(RegSet.EVENT, EVENT_HALTED, 'halted', 1);

/** MSRs tsvmm names; any other MSR index is still addressable as msr(index). */
export const MSR = {
  IA32_TSC: 0x10,
  IA32_APIC_BASE: 0x1b,
  IA32_FEATURE_CONTROL: 0x3a,
  IA32_TSC_ADJUST: 0x3b,
  IA32_SPEC_CTRL: 0x48,
  IA32_PRED_CMD: 0x49,
  IA32_SYSENTER_CS: 0x174,
  IA32_SYSENTER_ESP: 0x175,
  IA32_SYSENTER_EIP: 0x176,
  IA32_MCG_CAP: 0x179,
  IA32_MCG_STATUS: 0x17a,
  IA32_MCG_CTL: 0x17b,
  IA32_MISC_ENABLE: 0x1a0,
  IA32_PAT: 0x277,
  IA32_MTRR_DEF_TYPE: 0x2ff,
  IA32_PERF_CAPABILITIES: 0x345,
  IA32_TSC_DEADLINE: 0x6e0,
  IA32_EFER: 0xc000_0080,
  IA32_STAR: 0xc000_0081,
  IA32_LSTAR: 0xc000_0082,
  IA32_CSTAR: 0xc000_0083,
  IA32_FMASK: 0xc000_0084,
  IA32_FS_BASE: 0xc000_0100,
  IA32_GS_BASE: 0xc000_0101,
  IA32_KERNEL_GS_BASE: 0xc000_0102,
  IA32_TSC_AUX: 0xc000_0103,
} as const;

/**
 * IA32_MTRR_DEF_TYPE as tsvmm's firmware leaves it on every vCPU: MTRRs enabled (bit 11), fixed ranges off,
 * write-back as the default type (6). It powers on as 0 and real firmware enables it; Linux skips PAT when
 * MTRRs are disabled ("x86/PAT: MTRRs disabled, skipping PAT initialization too").
 */
export const FIRMWARE_MTRR_DEF_TYPE = (1 << 11) | 6;

/** MSRs the guest may read but only the host may change (capability/identity MSRs). */
const GUEST_READ_ONLY_MSRS = new Set<number>([MSR.IA32_PERF_CAPABILITIES, 0x10a /* ARCH_CAPABILITIES */, MSR.IA32_MCG_CAP]);

/** Command MSRs: written, never read (RDMSR is #GP), and no state to save. */
const WRITE_ONLY_MSRS = new Set<number>([MSR.IA32_PRED_CMD]);

for (const [name, index] of Object.entries(MSR)) add(RegSet.MSR, index, name.toLowerCase(), 8, GUEST_READ_ONLY_MSRS.has(index) ? 'read-only-guest' : WRITE_ONLY_MSRS.has(index) ? 'write-only' : 'read-write');

export function msrReg(index: number): RegId {
  return regId(RegSet.MSR, index);
}

/** Describes any register id; MSRs outside the named list are described generically. */
export function describeRegister(id: RegId): RegisterInfo {
  const known = catalog.get(id);
  if (known) return known;
  if (regSet(id) === RegSet.MSR) {
    const n = regNumber(id);
    return { id, name: `msr 0x${n.toString(16)}`, set: RegSet.MSR, number: n, size: 8, access: 'read-write' };
  }
  throw new RangeError(`register id ${id} (set ${regSet(id)}, number ${regNumber(id)}) is not in the register catalog`);
}

export function registerByName(name: string): RegisterInfo {
  const r = byName.get(name.toLowerCase());
  if (r) return r;
  const m = /^msr[: ]?(0x[0-9a-f]+|\d+)$/i.exec(name);
  if (m) return describeRegister(msrReg(Number(m[1])));
  throw new RangeError(`unknown register "${name}"`);
}

export function allRegisters(): readonly RegisterInfo[] {
  return [...catalog.values()];
}

/** Named register ids for code that sets up vCPU state. */
export const REG = {
  rax: regId(RegSet.GPR, 0),
  rcx: regId(RegSet.GPR, 1),
  rdx: regId(RegSet.GPR, 2),
  rbx: regId(RegSet.GPR, 3),
  rsp: regId(RegSet.GPR, 4),
  rbp: regId(RegSet.GPR, 5),
  rsi: regId(RegSet.GPR, 6),
  rdi: regId(RegSet.GPR, 7),
  rip: regId(RegSet.SPECIAL, SPECIAL_RIP),
  rflags: regId(RegSet.SPECIAL, SPECIAL_RFLAGS),
  cr0: regId(RegSet.CONTROL, 0),
  cr2: regId(RegSet.CONTROL, 2),
  cr3: regId(RegSet.CONTROL, 3),
  cr4: regId(RegSet.CONTROL, 4),
  cr8: regId(RegSet.CONTROL, 8),
  gdtrBase: regId(RegSet.DTABLE, 0),
  gdtrLimit: regId(RegSet.DTABLE, 1),
  idtrBase: regId(RegSet.DTABLE, 2),
  idtrLimit: regId(RegSet.DTABLE, 3),
  efer: regId(RegSet.MSR, MSR.IA32_EFER),
} as const;

export type RegisterBatch = ReadonlyArray<readonly [RegId, bigint]>;

/** A full segment, as loaders describe it; expanded to four catalog registers. */
export interface SegmentValue {
  selector: number;
  base: bigint;
  limit: number;
  attrs: number;
}

export function segmentBatch(seg: SegName, v: SegmentValue): [RegId, bigint][] {
  return [
    [segReg(seg, 'selector'), BigInt(v.selector)],
    [segReg(seg, 'base'), v.base],
    [segReg(seg, 'limit'), BigInt(v.limit >>> 0)],
    [segReg(seg, 'attrs'), BigInt(v.attrs >>> 0)],
  ];
}
