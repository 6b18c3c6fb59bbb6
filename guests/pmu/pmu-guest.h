/* Shared helpers of the PMU guests (pmu-msrs, pmu-rdpmc, pmu-overflow, pmu-exact/pmu-filter): MSR numbers from
 * the Intel SDM vol. 4 architectural MSR table, #GP-tolerant RDMSR/WRMSR/RDPMC, and check lines.
 * A #GP is expected only from RDMSR/WRMSR/RDPMC (2-byte opcodes 0F 32 / 0F 30 / 0F 33): the handler counts it
 * and resumes after the instruction; a #GP anywhere else is a failure. */
#ifndef PMU_GUEST_H
#define PMU_GUEST_H
#include "rt.h"
#include "trap.h"

#define MSR_IA32_PMC0 0xC1u
#define MSR_IA32_A_PMC0 0x4C1u
#define MSR_IA32_PERFEVTSEL0 0x186u
#define MSR_IA32_FIXED_CTR0 0x309u
#define MSR_IA32_PERF_CAPABILITIES 0x345u
#define MSR_IA32_FIXED_CTR_CTRL 0x38Du
#define MSR_IA32_PERF_GLOBAL_STATUS 0x38Eu
#define MSR_IA32_PERF_GLOBAL_CTRL 0x38Fu
#define MSR_IA32_PERF_GLOBAL_OVF_CTRL 0x390u /* v2-v3 name; v4+: IA32_PERF_GLOBAL_STATUS_RESET */
#define MSR_IA32_PERF_GLOBAL_STATUS_SET 0x391u
#define MSR_IA32_PERF_GLOBAL_INUSE 0x392u

#define EVTSEL_USR (1u << 16)
#define EVTSEL_OS (1u << 17)
#define EVTSEL_EDGE (1u << 18)
#define EVTSEL_PC (1u << 19)
#define EVTSEL_INT (1u << 20)
#define EVTSEL_ANY (1u << 21)
#define EVTSEL_EN (1u << 22)
#define EVTSEL_INV (1u << 23)
#define EVTSEL_CMASK(c) ((uint32_t)(c) << 24)
#define FIXED_OS 0x1u
#define FIXED_USR 0x2u
#define FIXED_ANY 0x4u
#define FIXED_PMI 0x8u
#define PERF_CAP_FW_WRITE (1u << 13)
#define CR4_PCE (1u << 8)
#define COUNTER_WIDTH 48
#define CTR_MASK ((1ull << COUNTER_WIDTH) - 1)

static volatile uint32_t pmu_gp_faults;
static int pmu_failures;

static void pmu_on_gp(struct trap_frame *f) {
  const uint8_t *p = (const uint8_t *)(uintptr_t)f->ip;
  if (p[0] == 0x0F && (p[1] == 0x30 || p[1] == 0x32 || p[1] == 0x33) && f->error == 0) {
    pmu_gp_faults++;
    f->ip += 2;
    return;
  }
  kprintf("FAIL: unexpected #GP error=0x%x at %p\n", (unsigned)f->error, (void *)(uintptr_t)f->ip);
  debug_exit(EXIT_FAILURE_CODE);
}

static inline void pmu_trap_init(void) {
  trap_init();
  trap_set_handler(13, pmu_on_gp);
}

/* 1 = the access completed, 0 = it raised #GP(0). */
static inline int rdmsr_safe(uint32_t msr, uint64_t *v) {
  uint32_t before = pmu_gp_faults, lo = 0, hi = 0;
  __asm__ volatile("rdmsr" : "+a"(lo), "+d"(hi) : "c"(msr) : "memory");
  *v = ((uint64_t)hi << 32) | lo;
  return pmu_gp_faults == before;
}
static inline int wrmsr_safe(uint32_t msr, uint64_t v) {
  uint32_t before = pmu_gp_faults;
  __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
  return pmu_gp_faults == before;
}
static inline int rdpmc_safe(uint32_t ecx, uint64_t *v) {
  uint32_t before = pmu_gp_faults, lo = 0, hi = 0;
  __asm__ volatile("rdpmc" : "+a"(lo), "+d"(hi) : "c"(ecx) : "memory");
  *v = ((uint64_t)hi << 32) | lo;
  return pmu_gp_faults == before;
}

static inline void check_u64(const char *what, uint64_t got, uint64_t want) {
  if (got == want) {
    kprintf("  %s = 0x%llx\n", what, (unsigned long long)got);
  } else {
    kprintf("  %s = 0x%llx  FAIL (expected 0x%llx)\n", what, (unsigned long long)got, (unsigned long long)want);
    pmu_failures++;
  }
}
static inline void check_dec(const char *what, uint64_t got, uint64_t want) {
  if (got == want) {
    kprintf("  %s = %llu\n", what, (unsigned long long)got);
  } else {
    kprintf("  %s = %llu  FAIL (expected %llu)\n", what, (unsigned long long)got, (unsigned long long)want);
    pmu_failures++;
  }
}
/* ok = the access completed; prints "ok" or "#GP" and checks it against the expectation. */
static inline void check_gp(const char *what, int ok, int want_ok) {
  if (ok == want_ok) {
    kprintf("  %s: %s\n", what, ok ? "ok" : "#GP");
  } else {
    kprintf("  %s: %s  FAIL (expected %s)\n", what, ok ? "ok" : "#GP", want_ok ? "ok" : "#GP");
    pmu_failures++;
  }
}

static inline void pmu_finish(const char *name) {
  kprintf("%s: %s\n", name, pmu_failures ? "FAIL" : "all as expected");
  debug_exit(pmu_failures ? EXIT_FAILURE_CODE : EXIT_SUCCESS_CODE);
}

/* Everything off and zero (v2+ global MSRs only where they exist). */
static inline void pmu_quiesce(unsigned version, unsigned gp, unsigned fixed) {
  if (version >= 2) wrmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, 0);
  for (unsigned i = 0; i < gp; i++) {
    wrmsr_safe(MSR_IA32_PERFEVTSEL0 + i, 0);
    wrmsr_safe(MSR_IA32_PMC0 + i, 0);
  }
  if (version >= 2) {
    wrmsr_safe(MSR_IA32_FIXED_CTR_CTRL, 0);
    for (unsigned i = 0; i < fixed; i++) wrmsr_safe(MSR_IA32_FIXED_CTR0 + i, 0);
    wrmsr_safe(MSR_IA32_PERF_GLOBAL_OVF_CTRL, 0);
  }
}
#endif
