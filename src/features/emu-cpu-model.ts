/**
 * The CPU model of the emu backend: the one list of CPUID feature bits the interpreter
 * really implements. CPUID in the guest and `tsvmm caps --accel emu` both derive from
 * this table, so the guest is never told about an instruction emu cannot execute.
 */

export interface EmuFeature {
  readonly name: string;
  /** CPUID leaf, subleaf and output register the bit lives in. */
  readonly leaf: number;
  readonly subleaf: number;
  readonly reg: 'eax' | 'ebx' | 'ecx' | 'edx';
  readonly bit: number;
  readonly detail: string;
}

const f = (name: string, leaf: number, reg: EmuFeature['reg'], bit: number, detail: string): EmuFeature => ({ name, leaf, subleaf: 0, reg, bit, detail });

/**
 * Machine-check banks (IA32_MCi_CTL/STATUS/ADDR/MISC at 0x400 + 4i). An emulator has no hardware error to
 * report, but Linux gives up on its MCE subsystem ("Unable to init MCE device") without MCE and MCA, and
 * real CPUs and QEMU have them; the banks just never show an error.
 */
export const EMU_MCA_BANKS = 10;
/** IA32_MCG_CAP: the bank count and MCG_CTL_P (bit 8: IA32_MCG_CTL exists); no CMCI, LMCE or recovery. */
export const EMU_MCG_CAP = EMU_MCA_BANKS | (1 << 8);

/** Every feature bit the interpreter advertises. Anything absent here reads as 0. */
export const EMU_CPU_FEATURES: readonly EmuFeature[] = [
  f('fpu', 1, 'edx', 0, 'x87 FPU in software: 80-bit extended arithmetic, transcendentals, #MF/FERR#'),
  f('de', 1, 'edx', 2, 'debugging extensions: CR4.DE, I/O breakpoints in DR7, DR4/DR5 #UD'),
  f('pse', 1, 'edx', 3, '4 MiB pages in 32-bit paging'),
  f('tsc', 1, 'edx', 4, 'virtual TSC (deterministic mode: derived from the instruction count)'),
  f('msr', 1, 'edx', 5, 'RDMSR/WRMSR'),
  f('pae', 1, 'edx', 6, 'PAE and 4-level paging, 2 MiB pages'),
  f('mce', 1, 'edx', 7, 'machine-check exception: CR4.MCE (no error is ever signalled)'),
  f('cx8', 1, 'edx', 8, 'CMPXCHG8B'),
  f('apic', 1, 'edx', 9, 'local APIC (emulated chip)'),
  f('sep', 1, 'edx', 11, 'SYSENTER/SYSEXIT'),
  f('mtrr', 1, 'edx', 12, 'MTRR MSRs (storage only, no cache effects), enabled with write-back as the default type at power-on, as firmware leaves them'),
  f('pge', 1, 'edx', 13, 'global pages survive CR3 writes'),
  f('mca', 1, 'edx', 14, `machine-check architecture: IA32_MCG_CAP/STATUS/CTL and ${EMU_MCA_BANKS} banks, which never log an error`),
  f('cmov', 1, 'edx', 15, 'CMOVcc'),
  f('pat', 1, 'edx', 16, 'IA32_PAT (storage only)'),
  f('clfsh', 1, 'edx', 19, 'CLFLUSH (no-op)'),
  f('fxsr', 1, 'edx', 24, 'FXSAVE/FXRSTOR, 32- and 64-bit layouts'),
  f('sse', 1, 'edx', 25, 'SSE: packed/scalar single precision (MXCSR rounding, FTZ/DAZ, exceptions, #XM), RCPPS/RSQRTPS as on AMD Zen 4'),
  f('sse2', 1, 'edx', 26, 'SSE2: double precision, integer SIMD, conversions'),
  f('sse3', 1, 'ecx', 0, 'SSE3: horizontal add/sub, ADDSUB, MOVDDUP/MOVSxDUP, LDDQU'),
  f('ssse3', 1, 'ecx', 9, 'SSSE3: PSHUFB, PALIGNR, PHADD/PHSUB, PSIGN, PABS, PMULHRSW, PMADDUBSW'),
  f('sse4.1', 1, 'ecx', 19, 'SSE4.1: ROUND*, DPPS/DPPD, blends, PMOVSX/ZX, PTEST, PMIN/PMAX, inserts/extracts'),
  f('sse4.2', 1, 'ecx', 20, 'SSE4.2: PCMPESTRI/M, PCMPISTRI/M, PCMPGTQ, CRC32'),
  f('xsave', 1, 'ecx', 26, 'XSAVE/XRSTOR/XGETBV/XSETBV for x87 and SSE state (CPUID leaf 0xD, 576-byte standard area)'),
  f('cx16', 1, 'ecx', 13, 'CMPXCHG16B'),
  f('pcid', 1, 'ecx', 17, 'process-context identifiers: CR4.PCIDE, CR3[11:0] and the no-flush bit 63; each PCID keeps its TLB entries and its code found valid while another runs'),
  f('x2apic', 1, 'ecx', 21, 'x2APIC MSR interface'),
  f('movbe', 1, 'ecx', 22, 'MOVBE'),
  f('popcnt', 1, 'ecx', 23, 'POPCNT'),
  f('tsc-deadline', 1, 'ecx', 24, 'APIC timer TSC-deadline mode'),
  // A guest that sees no hypervisor trusts the model number for model-specific MSRs (Linux wrote the LBR
  // MSRs of the signature's Core 2 unchecked and logged a warning with a stack trace); under a hypervisor
  // it probes them with safe accesses first.
  f('hypervisor', 1, 'ecx', 31, 'running under a hypervisor (tsvmm; signature in leaf 0x40000000)'),
  // IBRS and IBPB with enhanced IBRS (ARCH_CAPABILITIES.IBRS_ALL): true of an interpreter, which keeps no
  // branch-target predictor and executes nothing speculatively, so no indirect branch can be steered by
  // another context. Linux then takes "Enhanced IBRS" for Spectre v2 instead of retpolines (a thunk call
  // per kernel indirect branch, which the emulator executes like any other code). STIBP and SSBD are not
  // advertised: Linux needs neither here (eIBRS covers user-mode STIBP, SSB_NO rules out SSB).
  {
    name: 'spec_ctrl',
    leaf: 7,
    subleaf: 0,
    reg: 'edx',
    bit: 26,
    detail: 'IBRS and IBPB: IA32_SPEC_CTRL (0x48, IBRS and BHI_DIS_S bits kept) and IA32_PRED_CMD (0x49, write-only IBPB), both without effect since the interpreter keeps no branch predictor and executes nothing speculatively; IBRS is always on in effect (ARCH_CAPABILITIES.IBRS_ALL), so Linux takes enhanced IBRS instead of retpolines',
  },
  // BHI_DIS_S (IA32_SPEC_CTRL bit 10): Linux 6.1 stable treats every eIBRS CPU under a hypervisor as open
  // to branch history injection whatever BHI_NO says, and without this control it runs a BHB-clearing
  // loop of calls and jumps on every system call entry.
  {
    name: 'bhi_ctrl',
    leaf: 7,
    subleaf: 2,
    reg: 'edx',
    bit: 4,
    detail: 'IA32_SPEC_CTRL.BHI_DIS_S (bit 10, kept): supervisor-mode indirect branches never predicted from branch history, true of an interpreter that predicts nothing; Linux sets it once instead of clearing the branch history on every system call',
  },
  { name: 'invpcid', leaf: 7, subleaf: 0, reg: 'ebx', bit: 10, detail: 'INVPCID: invalidation by address and PCID, by PCID, of everything, of everything but global translations' },
  { name: 'arch_capabilities', leaf: 7, subleaf: 0, reg: 'edx', bit: 29, detail: 'IA32_ARCH_CAPABILITIES (read-only): not affected by Meltdown, L1TF, MDS, TAA, SSB and the other speculative-execution flaws, and enhanced IBRS (IBRS_ALL), since the interpreter does not speculate' },
  f('lahf-lm', 0x8000_0001, 'ecx', 0, 'LAHF/SAHF in 64-bit mode'),
  f('abm', 0x8000_0001, 'ecx', 5, 'LZCNT'),
  f('syscall', 0x8000_0001, 'edx', 11, 'SYSCALL/SYSRET'),
  f('nx', 0x8000_0001, 'edx', 20, 'execute-disable pages'),
  f('pdpe1gb', 0x8000_0001, 'edx', 26, '1 GiB pages'),
  f('rdtscp', 0x8000_0001, 'edx', 27, 'RDTSCP and IA32_TSC_AUX'),
  f('lm', 0x8000_0001, 'edx', 29, 'long mode (64-bit and compatibility mode)'),
  { name: 'xsaveopt', leaf: 0xd, subleaf: 1, reg: 'eax', bit: 0, detail: 'XSAVEOPT (saves like XSAVE)' },
];

/**
 * IA32_ARCH_CAPABILITIES (MSR 0x10a): the "not affected" bits of every speculative-execution flaw the
 * MSR can report, all true of an interpreter that executes nothing speculatively. They let a guest
 * kernel skip mitigations that cost it dearly here, page-table isolation above all (two CR3 writes per
 * system call). Bits: RDCL_NO (0), SSB_NO (4), MDS_NO (5), PSCHANGE_MC_NO (6), TAA_NO (8), SBDR_SSDP_NO
 * (13), FBSDP_NO (14), PSDP_NO (15), BHI_NO (20), PBRSB_NO (24), GDS_NO (26), RFDS_NO (27), ITS_NO (62).
 * And IBRS_ALL (1), enhanced IBRS: indirect branches are never predicted from another context's
 * history whatever IA32_SPEC_CTRL.IBRS holds (the model's `spec_ctrl` feature gives that MSR), so
 * Linux sets IBRS once and drops retpolines.
 */
export const EMU_ARCH_CAPABILITIES_IBRS_ALL = 1 << 1;
export const EMU_ARCH_CAPABILITIES_LO = (1 | EMU_ARCH_CAPABILITIES_IBRS_ALL | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 13) | (1 << 14) | (1 << 15) | (1 << 20) | (1 << 24) | (1 << 26) | (1 << 27)) >>> 0;
export const EMU_ARCH_CAPABILITIES_HI = 1 << 30;
/** IA32_SPEC_CTRL bits the model has: IBRS (0) and BHI_DIS_S (10). STIBP (1) and SSBD (2) would come with their CPUID bits. */
export const EMU_SPEC_CTRL_BITS = 1 | (1 << 10);
/** IA32_PRED_CMD bits: IBPB (0). */
export const EMU_PRED_CMD_BITS = 1;
/** CPUID.(EAX=7,ECX=0):EAX, the highest subleaf of leaf 7: subleaf 2 holds bhi_ctrl. */
export const EMU_LEAF7_MAX_SUBLEAF = 2;

/** XCR0 bits the XSAVE instructions support: x87 (0) and SSE (1) state. */
export const EMU_XCR0_SUPPORTED = 3;
/** The XSAVE area for those components: the 512-byte legacy region and the 64-byte header. */
export const EMU_XSAVE_AREA_SIZE = 576;
/** CPUID.1:ECX.OSXSAVE, which mirrors CR4.OSXSAVE (set by the CPU, not a feature of the model). */
export const CPUID1_ECX_OSXSAVE = 1 << 27;

export const EMU_MAX_BASIC_LEAF = 0x16;
/** The emulator's TSC rate unless configured otherwise (its VmClock's default). */
export const EMU_DEFAULT_TSC_HZ = 1e9;
/**
 * The "core crystal clock" of leaf 0x15: the local APIC timer's input clock (1 GHz in the
 * emulator's chips). Linux takes its APIC timer period from this crystal, so it must be that clock.
 */
export const EMU_CRYSTAL_HZ = 1e9;
export const EMU_MAX_EXT_LEAF = 0x8000_0008;
export const EMU_PHYS_ADDR_BITS = 40;
export const EMU_LINEAR_ADDR_BITS = 48;
/** Linear-address width (CPUID.80000008H:EAX[15:8]) when 5-level paging is offered. */
export const EMU_LINEAR_ADDR_BITS_LA57 = 57;
/** CPUID.(EAX=7,ECX=0):ECX bit of 5-level paging. */
export const CPUID7_ECX_LA57 = 1 << 16;

/**
 * 5-level paging is implemented but advertised only on request (`--la57`, or a CPU model that has it). emu's
 * linear addresses are doubles, exact within +-2^53; beyond that (a canonical 57-bit address reaches +-2^56)
 * data accesses, stacks, FS/GS and descriptor-table bases and CR2 are carried exactly (address.ts handles,
 * big-lin.ts), and so is a RIP there (a code handle, address.ts ripOf: fetch, branches, SYSCALL/SYSENTER, IDT gates;
 * such code runs interpreted, never compiled). Linux booted through its own
 * decompressor runs with 5-level paging (direct map 0xff11000000000000) to its shell; booted as tsvmm does by
 * default, on tsvmm's 4-level tables, it stays at 4 levels.
 */
export const EMU_LA57_DETAIL = '5-level paging (PML5, CR4.LA57, 57-bit canonical checks); exact beyond +-2^53, code there included (run interpreted)';
/** Family 6, model 0x0f, stepping 1: an unremarkable P6-family signature. */
export const EMU_SIGNATURE = (6 << 8) | (0xf << 4) | 1;

const REG_INDEX = { eax: 0, ebx: 1, ecx: 2, edx: 3 } as const;

function featureWords(leaf: number, subleaf = 0): [number, number, number, number] {
  const out: [number, number, number, number] = [0, 0, 0, 0];
  for (const x of EMU_CPU_FEATURES) if (x.leaf === leaf && x.subleaf === subleaf) out[REG_INDEX[x.reg]] |= 1 << x.bit;
  return out;
}

function gcd(x: number, y: number): number {
  while (y !== 0) [x, y] = [y, x % y];
  return x;
}

function str4(s: string, at: number): number {
  let v = 0;
  for (let i = 3; i >= 0; i--) v = (v << 8) | (s.charCodeAt(at + i) || 0);
  return v | 0;
}

const BRAND = 'tsvmm emu x86-64 interpreter'.padEnd(48, '\0');
/** Leaf 0x40000000's EBX, ECX, EDX: the hypervisor's name, as KVM's "KVMKVMKVM" is its. */
export const EMU_HYPERVISOR_SIGNATURE = 'TSVMMTSVMM\0\0';
const HYPERVISOR_LEAF = 0x4000_0000;

/**
 * CPUID for vCPU `apicId` of `cpus`: writes eax, ebx, ecx, edx (as int32) into `out`.
 * Allocation-free; called by the interpreter on every CPUID instruction.
 */
export function emuCpuid(leaf: number, subleaf: number, apicId: number, cpus: number, out: Int32Array, tscHz = EMU_DEFAULT_TSC_HZ): void {
  leaf >>>= 0;
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  // The hypervisor range (0x40000000-0x4fffffff) is answered as it is: one leaf, the rest zeros (no feature lives there).
  const hypervisorRange = leaf >= HYPERVISOR_LEAF && leaf < 0x5000_0000;
  if (leaf > EMU_MAX_BASIC_LEAF && leaf < 0x8000_0000 && !hypervisorRange) leaf = EMU_MAX_BASIC_LEAF;
  if (leaf > EMU_MAX_EXT_LEAF) leaf = EMU_MAX_BASIC_LEAF;
  const coreBits = cpus <= 1 ? 0 : 32 - Math.clz32(cpus - 1);
  switch (leaf) {
    case 0:
      a = EMU_MAX_BASIC_LEAF;
      b = str4('Genu', 0);
      d = str4('ineI', 0);
      c = str4('ntel', 0);
      break;
    case 1: {
      const w = featureWords(1);
      a = EMU_SIGNATURE;
      b = ((apicId & 0xff) << 24) | ((cpus & 0xff) << 16) | (8 << 8);
      c = w[2];
      d = w[3] | (cpus > 1 ? 1 << 28 : 0);
      break;
    }
    case 0xd:
      // XSAVE state components (SDM Vol. 1 §13.2): sub-leaf 0 the supported XCR0 bits and the area
      // sizes (x87 and SSE live in the legacy region, so the size is the same whatever XCR0
      // enables), sub-leaf 1 the optional instructions; no other component exists.
      if (subleaf === 0) {
        a = EMU_XCR0_SUPPORTED;
        b = EMU_XSAVE_AREA_SIZE;
        c = EMU_XSAVE_AREA_SIZE;
      } else if (subleaf === 1) a = featureWords(0xd, 1)[0];
      break;
    case 7:
      // Structured extended features: subleaf 0 EAX is the highest subleaf; any subleaf above it reads 0.
      if (subleaf >>> 0 <= EMU_LEAF7_MAX_SUBLEAF) [a, b, c, d] = featureWords(7, subleaf >>> 0);
      if (subleaf === 0) a = EMU_LEAF7_MAX_SUBLEAF;
      break;
    case 0x15: {
      // TSC/crystal ratio (SDM vol. 2A, CPUID leaf 15H): TSC Hz = ECX * EBX / EAX, so the kernel
      // knows the TSC rate without calibrating it against the PIT.
      const g = gcd(tscHz, EMU_CRYSTAL_HZ);
      a = EMU_CRYSTAL_HZ / g;
      b = tscHz / g;
      c = EMU_CRYSTAL_HZ;
      break;
    }
    case 0x16:
      // Processor frequency information in MHz: base, maximum, bus (reference) clock.
      a = Math.round(tscHz / 1e6);
      b = a;
      c = Math.round(EMU_CRYSTAL_HZ / 1e6);
      break;
    case 0xb: {
      // x2APIC topology: level 0 = SMT (one thread per core), level 1 = core.
      const lvl = subleaf >>> 0;
      if (lvl === 0) {
        a = 0;
        b = 1;
        c = (1 << 8) | lvl;
      } else if (lvl === 1) {
        a = coreBits;
        b = cpus;
        c = (2 << 8) | lvl;
      } else {
        c = lvl & 0xff;
      }
      d = apicId;
      break;
    }
    case HYPERVISOR_LEAF:
      a = HYPERVISOR_LEAF;
      b = str4(EMU_HYPERVISOR_SIGNATURE, 0);
      c = str4(EMU_HYPERVISOR_SIGNATURE, 4);
      d = str4(EMU_HYPERVISOR_SIGNATURE, 8);
      break;
    case 0x8000_0000:
      a = EMU_MAX_EXT_LEAF;
      break;
    case 0x8000_0001: {
      const w = featureWords(0x8000_0001);
      c = w[2];
      d = w[3];
      break;
    }
    case 0x8000_0002:
    case 0x8000_0003:
    case 0x8000_0004: {
      const at = (leaf - 0x8000_0002) * 16;
      a = str4(BRAND, at);
      b = str4(BRAND, at + 4);
      c = str4(BRAND, at + 8);
      d = str4(BRAND, at + 12);
      break;
    }
    case 0x8000_0008:
      a = (EMU_LINEAR_ADDR_BITS << 8) | EMU_PHYS_ADDR_BITS;
      break;
    default: {
      const w = featureWords(leaf);
      if (subleaf === 0) [a, b, c, d] = w;
    }
  }
  out[0] = a;
  out[1] = b;
  out[2] = c;
  out[3] = d;
}

/** The features `tsvmm caps --accel emu` lists: every advertised bit, all with mode "emulated". */
export function emuFeatureList(): readonly { name: string; mode: 'emulated'; detail: string }[] {
  return EMU_CPU_FEATURES.map((x) => ({ name: x.name, mode: 'emulated' as const, detail: x.detail }));
}

/** True when the model advertises the named feature (for the interpreter's own checks and tests). */
export function emuHasFeature(name: string): boolean {
  return EMU_CPU_FEATURES.some((x) => x.name === name);
}
