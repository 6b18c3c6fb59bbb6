/**
 * Architectural performance-monitoring MSRs and their bit fields (Intel SDM vol. 3B,
 * "Performance Monitoring", architectural performance monitoring versions 1-5, and the
 * architectural MSR table in vol. 4). Names follow the SDM.
 */

/** General-purpose counters IA32_PMC0.. (legacy alias: WRMSR sign-extends EAX to the counter width). */
export const MSR_IA32_PMC0 = 0x0c1;
/** Full-width aliases IA32_A_PMC0.. (only if IA32_PERF_CAPABILITIES.FW_WRITE[13] = 1). */
export const MSR_IA32_A_PMC0 = 0x4c1;
/** Event selects IA32_PERFEVTSEL0.. */
export const MSR_IA32_PERFEVTSEL0 = 0x186;
/** Fixed-function counters IA32_FIXED_CTR0.. (version 2+): 0 INST_RETIRED.ANY, 1 CPU_CLK_UNHALTED.THREAD, 2 CPU_CLK_UNHALTED.REF_TSC, 3 TOPDOWN.SLOTS. */
export const MSR_IA32_FIXED_CTR0 = 0x309;
export const MSR_IA32_PERF_CAPABILITIES = 0x345;
export const MSR_IA32_FIXED_CTR_CTRL = 0x38d;
export const MSR_IA32_PERF_GLOBAL_STATUS = 0x38e;
export const MSR_IA32_PERF_GLOBAL_CTRL = 0x38f;
/** IA32_PERF_GLOBAL_OVF_CTRL in versions 2-3; renamed IA32_PERF_GLOBAL_STATUS_RESET in version 4+. */
export const MSR_IA32_PERF_GLOBAL_OVF_CTRL = 0x390;
export const MSR_IA32_PERF_GLOBAL_STATUS_RESET = 0x390;
/** Version 4+. */
export const MSR_IA32_PERF_GLOBAL_STATUS_SET = 0x391;
/** Version 4+. */
export const MSR_IA32_PERF_GLOBAL_INUSE = 0x392;

/** Architectural limits of the MSR address blocks: 8 PMCs at 0xC1-0xC8 and 8 selects at 0x186-0x18D. */
export const MAX_GP_COUNTERS = 8;
/** Fixed counters 0-2 are modelled; counter 3 (TOPDOWN.SLOTS, 0x30C) is not (see README). */
export const MAX_FIXED_COUNTERS = 3;
/** Highest fixed-counter MSR the PMU claims (0x30C, TOPDOWN.SLOTS), so accesses to it #GP here. */
export const ARCH_FIXED_COUNTER_SLOTS = 4;

// IA32_PERFEVTSELx (low 32 bits; bits 63:32 are reserved: IN_TX/IN_TXCP need TSX, not modelled).
export const EVTSEL_EVENT_MASK = 0xff;
export const EVTSEL_UMASK_SHIFT = 8;
export const EVTSEL_USR = 1 << 16;
export const EVTSEL_OS = 1 << 17;
export const EVTSEL_EDGE = 1 << 18;
export const EVTSEL_PC = 1 << 19;
export const EVTSEL_INT = 1 << 20;
/** AnyThread: version 3+, and reserved when CPUID.0AH:EDX[15] (AnyThread deprecation) = 1. */
export const EVTSEL_ANY = 1 << 21;
export const EVTSEL_EN = 1 << 22;
export const EVTSEL_INV = 1 << 23;
export const EVTSEL_CMASK_SHIFT = 24;

// IA32_FIXED_CTR_CTRL: one 4-bit field per fixed counter i at bits 4i+3:4i.
export const FIXED_CTRL_OS = 0x1;
export const FIXED_CTRL_USR = 0x2;
/** AnyThread (version 3+, reserved when deprecated). */
export const FIXED_CTRL_ANY = 0x4;
export const FIXED_CTRL_PMI = 0x8;

// IA32_PERF_GLOBAL_STATUS high-half bits (bit n of the MSR is bit n-32 of the high half).
/** Bit 58 LBR_Frz (version 4+). */
export const STATUS_HI_LBR_FRZ = 1 << (58 - 32);
/** Bit 59 CTR_Frz (version 4+): while set, no core counter counts. */
export const STATUS_HI_CTR_FRZ = 1 << (59 - 32);
/** Bit 61 Ovf_Uncore (version 3+). */
export const STATUS_HI_OVF_UNCORE = 1 << (61 - 32);
/** Bit 62 OvfBuf (DS save area buffer overflow). */
export const STATUS_HI_OVF_BUF = 1 << (62 - 32);
/** Bit 63 CondChgd. */
export const STATUS_HI_COND_CHGD = (1 << (63 - 32)) >>> 0;

// IA32_PERF_GLOBAL_INUSE bit 63: PMI_InUse.
export const INUSE_HI_PMI = (1 << (63 - 32)) >>> 0;

/** IA32_PERF_CAPABILITIES bit 13 FW_WRITE: full-width writes through IA32_A_PMCx. */
export const PERF_CAP_FW_WRITE = 1 << 13;

/** RDPMC ECX: bit 30 selects the fixed-function counters (type 4000H), bit 31 the "fast" 32-bit read. */
export const RDPMC_FIXED = 0x4000_0000;
export const RDPMC_FAST = 0x8000_0000;
