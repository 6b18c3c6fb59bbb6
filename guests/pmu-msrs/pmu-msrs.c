/* pmu-msrs: every architectural PMU MSR and bit against the configured PMU shape (cmdline version=V counters=G
 * fixed=F, matching the run's --pmu-version/--pmu-counters/--pmu-fixed; version=0 for --pmu off). Counter width 48.
 * Facts: Intel SDM vol. 3B "Performance Monitoring" (versions 1-5), vol. 4 MSR table, vol. 2 CPUID leaf 0AH;
 * choices where the SDM leaves one: src/pmu/README.md "Decisions" (global MSRs from version 2, full-width-write
 * bits above the width #GP, STATUS_SET has no CondChgd, AnyThread reserved in v1-2 and when deprecated (v5)).
 * Nothing counts here (no selector has EN with a modelled event while GLOBAL_CTRL enables it, except where
 * noted), so every value read back is exact. */
#include "rt.h"
#include "trap.h"
#include "../pmu/pmu-guest.h"

static unsigned V, G, F;

static void check_cpuid(void) {
  uint32_t r[4];
  kprintf("CPUID:\n");
  cpuid(0, 0, r);
  int leaf_ok = r[0] >= 0xA;
  kprintf("  max basic leaf >= 0xA: %s\n", leaf_ok ? "yes" : "no  FAIL");
  pmu_failures += !leaf_ok;
  cpuid(1, 0, r);
  check_u64("CPUID.01H:ECX.PDCM", (r[2] >> 15) & 1, V >= 1);
  cpuid(0xA, 0, r);
  uint32_t eax = V ? (V | G << 8 | COUNTER_WIDTH << 16 | 7u << 24) : 0;
  uint32_t ebx = V ? 0x58 : 0; /* LLC reference (3), LLC misses (4), branch misses (6): no model */
  uint32_t ecx = V >= 5 ? (1u << F) - 1 : 0;
  uint32_t edx = V >= 2 ? (F | COUNTER_WIDTH << 5 | (V >= 5 ? 1u << 15 : 0)) : 0;
  check_u64("CPUID.0AH:EAX", r[0], eax);
  check_u64("CPUID.0AH:EBX", r[1], ebx);
  check_u64("CPUID.0AH:ECX", r[2], ecx);
  check_u64("CPUID.0AH:EDX", r[3], edx);
}

static void check_perf_caps(void) {
  uint64_t v;
  kprintf("IA32_PERF_CAPABILITIES:\n");
  int ok = rdmsr_safe(MSR_IA32_PERF_CAPABILITIES, &v);
  check_gp("read", ok, V >= 1);
  if (ok && V >= 1) check_u64("value (FW_WRITE[13] only)", v, PERF_CAP_FW_WRITE);
  check_gp("write (read-only)", wrmsr_safe(MSR_IA32_PERF_CAPABILITIES, PERF_CAP_FW_WRITE), 0);
}

static int any_allowed(void) { return V == 3 || V == 4; } /* v5: AnyThread deprecated by default */

static void check_gp_counters(void) {
  char what[80];
  uint64_t v;
  for (unsigned i = 0; i < G; i++) {
    kprintf("IA32_PMC%u / IA32_A_PMC%u / IA32_PERFEVTSEL%u:\n", i, i, i);
    /* Legacy alias: EAX sign-extended from bit 31 to the width; EDX ignored. */
    wrmsr_safe(MSR_IA32_PMC0 + i, 0x12345678ull << 32 | 0x80000001u);
    rdmsr_safe(MSR_IA32_PMC0 + i, &v);
    check_u64("PMC <- EDX:EAX 0x12345678:0x80000001 reads", v, 0xFFFF80000001ull);
    wrmsr_safe(MSR_IA32_PMC0 + i, 0xFFFFFFFFull << 32 | 0x7FFFFFFEu);
    rdmsr_safe(MSR_IA32_PMC0 + i, &v);
    check_u64("PMC <- EDX:EAX 0xffffffff:0x7ffffffe reads", v, 0x7FFFFFFEull);
    /* Full-width alias (FW_WRITE = 1). */
    check_gp("A_PMC <- 0xabcd12345678", wrmsr_safe(MSR_IA32_A_PMC0 + i, 0xABCD12345678ull), 1);
    rdmsr_safe(MSR_IA32_PMC0 + i, &v);
    check_u64("PMC reads", v, 0xABCD12345678ull);
    rdmsr_safe(MSR_IA32_A_PMC0 + i, &v);
    check_u64("A_PMC reads", v, 0xABCD12345678ull);
    check_gp("A_PMC <- bit 48 (above the width)", wrmsr_safe(MSR_IA32_A_PMC0 + i, 1ull << 48), 0);
    wrmsr_safe(MSR_IA32_PMC0 + i, 0);
    /* Event select: every defined bit but ANY and EN is writable; EN with an unmodelled event counts nothing. */
    uint32_t all = 0xFF | 0xFF00 | EVTSEL_USR | EVTSEL_OS | EVTSEL_EDGE | EVTSEL_PC | EVTSEL_INT | EVTSEL_INV | EVTSEL_CMASK(0xFF);
    check_gp("PERFEVTSEL <- 0xff9fffff (all fields but ANY, EN)", wrmsr_safe(MSR_IA32_PERFEVTSEL0 + i, all), 1);
    rdmsr_safe(MSR_IA32_PERFEVTSEL0 + i, &v);
    check_u64("PERFEVTSEL reads", v, all);
    ksnprintf(what, sizeof what, "PERFEVTSEL <- ANY (bit 21), version %u", V);
    check_gp(what, wrmsr_safe(MSR_IA32_PERFEVTSEL0 + i, EVTSEL_ANY), any_allowed());
    check_gp("PERFEVTSEL <- bit 32 (reserved)", wrmsr_safe(MSR_IA32_PERFEVTSEL0 + i, 1ull << 32), 0);
    check_gp("PERFEVTSEL <- bit 63 (reserved)", wrmsr_safe(MSR_IA32_PERFEVTSEL0 + i, 1ull << 63), 0);
    wrmsr_safe(MSR_IA32_PERFEVTSEL0 + i, 0);
  }
  /* The first index past the configured counters does not exist (8 is past the architectural block). */
  if (G < 8) {
    kprintf("counter %u (absent):\n", G);
    check_gp("IA32_PMC read", rdmsr_safe(MSR_IA32_PMC0 + G, &v), 0);
    check_gp("IA32_PMC write", wrmsr_safe(MSR_IA32_PMC0 + G, 0), 0);
    check_gp("IA32_A_PMC write", wrmsr_safe(MSR_IA32_A_PMC0 + G, 0), 0);
    check_gp("IA32_PERFEVTSEL read", rdmsr_safe(MSR_IA32_PERFEVTSEL0 + G, &v), 0);
    check_gp("IA32_PERFEVTSEL write", wrmsr_safe(MSR_IA32_PERFEVTSEL0 + G, 0), 0);
  }
}

static void check_fixed(void) {
  char what[80];
  uint64_t v;
  unsigned nf = V >= 2 ? F : 0;
  for (unsigned i = 0; i < nf; i++) {
    kprintf("IA32_FIXED_CTR%u:\n", i);
    check_gp("<- 0x800000001234 (full width)", wrmsr_safe(MSR_IA32_FIXED_CTR0 + i, 0x800000001234ull), 1);
    rdmsr_safe(MSR_IA32_FIXED_CTR0 + i, &v);
    check_u64("reads", v, 0x800000001234ull);
    check_gp("<- bit 48 (above the width)", wrmsr_safe(MSR_IA32_FIXED_CTR0 + i, 1ull << 48), 0);
    wrmsr_safe(MSR_IA32_FIXED_CTR0 + i, 0);
  }
  kprintf("IA32_FIXED_CTR%u (absent):\n", nf);
  check_gp("read", rdmsr_safe(MSR_IA32_FIXED_CTR0 + nf, &v), 0);
  check_gp("write", wrmsr_safe(MSR_IA32_FIXED_CTR0 + nf, 0), 0);

  kprintf("IA32_FIXED_CTR_CTRL:\n");
  int ok = rdmsr_safe(MSR_IA32_FIXED_CTR_CTRL, &v);
  check_gp("read", ok, V >= 2);
  if (V < 2) {
    check_gp("write", wrmsr_safe(MSR_IA32_FIXED_CTR_CTRL, 0), 0);
    return;
  }
  check_u64("reset value", v, 0);
  /* PMI | USR | OS per present counter (GLOBAL_CTRL is 0 here, so nothing counts). */
  wrmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, 0);
  uint32_t all = 0;
  for (unsigned i = 0; i < F; i++) all |= (FIXED_PMI | FIXED_USR | FIXED_OS) << (4 * i);
  ksnprintf(what, sizeof what, "<- 0x%x (PMI|USR|OS per counter)", all);
  check_gp(what, wrmsr_safe(MSR_IA32_FIXED_CTR_CTRL, all), 1);
  rdmsr_safe(MSR_IA32_FIXED_CTR_CTRL, &v);
  check_u64("reads", v, all);
  if (F > 0) {
    ksnprintf(what, sizeof what, "<- ANY of counter 0 (bit 2), version %u", V);
    check_gp(what, wrmsr_safe(MSR_IA32_FIXED_CTR_CTRL, FIXED_ANY), any_allowed());
  }
  if (F < 4) {
    ksnprintf(what, sizeof what, "<- OS of absent counter %u (bit %u)", F, 4 * F);
    check_gp(what, wrmsr_safe(MSR_IA32_FIXED_CTR_CTRL, (uint64_t)FIXED_OS << (4 * F)), 0);
  }
  check_gp("<- bit 32 (reserved)", wrmsr_safe(MSR_IA32_FIXED_CTR_CTRL, 1ull << 32), 0);
  wrmsr_safe(MSR_IA32_FIXED_CTR_CTRL, 0);
}

static void check_global(void) {
  char what[96];
  uint64_t v;
  const uint64_t gp_mask = (1ull << G) - 1, fx_mask = ((1ull << F) - 1) << 32;
  kprintf("IA32_PERF_GLOBAL_CTRL:\n");
  int ok = rdmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, &v);
  check_gp("read", ok, V >= 2);
  if (V < 2) {
    check_gp("write", wrmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, 0), 0);
    kprintf("IA32_PERF_GLOBAL_STATUS / OVF_CTRL / STATUS_SET / INUSE (version 1: none):\n");
    check_gp("GLOBAL_STATUS read", rdmsr_safe(MSR_IA32_PERF_GLOBAL_STATUS, &v), 0);
    check_gp("GLOBAL_OVF_CTRL write", wrmsr_safe(MSR_IA32_PERF_GLOBAL_OVF_CTRL, 0), 0);
    check_gp("GLOBAL_STATUS_SET write", wrmsr_safe(MSR_IA32_PERF_GLOBAL_STATUS_SET, 0), 0);
    check_gp("GLOBAL_INUSE read", rdmsr_safe(MSR_IA32_PERF_GLOBAL_INUSE, &v), 0);
    return;
  }
  ksnprintf(what, sizeof what, "<- 0x%llx (every counter)", (unsigned long long)(gp_mask | fx_mask));
  check_gp(what, wrmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, gp_mask | fx_mask), 1);
  rdmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, &v);
  check_u64("reads", v, gp_mask | fx_mask);
  if (G < 32) {
    ksnprintf(what, sizeof what, "<- bit %u (no GP counter %u)", G, G);
    check_gp(what, wrmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, 1ull << G), 0);
  }
  ksnprintf(what, sizeof what, "<- bit %u (no fixed counter %u)", 32 + F, F);
  check_gp(what, wrmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, 1ull << (32 + F)), 0);
  check_gp("<- bit 63 (reserved)", wrmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, 1ull << 63), 0);
  wrmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, 0);

  kprintf("IA32_PERF_GLOBAL_STATUS:\n");
  rdmsr_safe(MSR_IA32_PERF_GLOBAL_STATUS, &v);
  check_u64("reads", v, 0);
  check_gp("write (read-only)", wrmsr_safe(MSR_IA32_PERF_GLOBAL_STATUS, 0), 0);

  kprintf("IA32_PERF_GLOBAL_STATUS_SET (version 4+):\n");
  ok = wrmsr_safe(MSR_IA32_PERF_GLOBAL_STATUS_SET, 1);
  ksnprintf(what, sizeof what, "<- bit 0, version %u", V);
  check_gp(what, ok, V >= 4);
  check_gp("read", rdmsr_safe(MSR_IA32_PERF_GLOBAL_STATUS_SET, &v), V >= 4);
  if (V >= 4) {
    check_u64("reads", v, 0);
    /* counter bits, 58 LBR_Frz, 59 CTR_Frz, 61 Ovf_Uncore, 62 OvfBuf; not 63 CondChgd */
    uint64_t set = gp_mask | fx_mask | 1ull << 58 | 1ull << 59 | 1ull << 61 | 1ull << 62;
    ksnprintf(what, sizeof what, "<- 0x%llx", (unsigned long long)set);
    check_gp(what, wrmsr_safe(MSR_IA32_PERF_GLOBAL_STATUS_SET, set), 1);
    rdmsr_safe(MSR_IA32_PERF_GLOBAL_STATUS, &v);
    check_u64("GLOBAL_STATUS reads", v, set);
    check_gp("<- bit 63 (CondChgd cannot be set)", wrmsr_safe(MSR_IA32_PERF_GLOBAL_STATUS_SET, 1ull << 63), 0);
    if (G < 32) {
      ksnprintf(what, sizeof what, "<- bit %u (no GP counter %u)", G, G);
      check_gp(what, wrmsr_safe(MSR_IA32_PERF_GLOBAL_STATUS_SET, 1ull << G), 0);
    }
    /* GLOBAL_STATUS_RESET clears them again. */
    kprintf("IA32_PERF_GLOBAL_STATUS_RESET:\n");
    check_gp("<- the same bits", wrmsr_safe(MSR_IA32_PERF_GLOBAL_OVF_CTRL, set), 1);
    rdmsr_safe(MSR_IA32_PERF_GLOBAL_STATUS, &v);
    check_u64("GLOBAL_STATUS reads", v, 0);
  } else {
    kprintf("IA32_PERF_GLOBAL_OVF_CTRL:\n");
  }
  /* OVF_CTRL (v2-3) / STATUS_RESET (v4+): counter bits, 62, 63; v3+ 61; v4+ 58, 59; others #GP. */
  ok = rdmsr_safe(MSR_IA32_PERF_GLOBAL_OVF_CTRL, &v);
  check_gp("read", ok, 1);
  check_u64("reads", v, 0);
  uint64_t base = gp_mask | fx_mask | 1ull << 62 | 1ull << 63;
  ksnprintf(what, sizeof what, "<- 0x%llx (counters, OvfBuf, CondChgd)", (unsigned long long)base);
  check_gp(what, wrmsr_safe(MSR_IA32_PERF_GLOBAL_OVF_CTRL, base), 1);
  ksnprintf(what, sizeof what, "<- bit 61 (Ovf_Uncore), version %u", V);
  check_gp(what, wrmsr_safe(MSR_IA32_PERF_GLOBAL_OVF_CTRL, 1ull << 61), V >= 3);
  ksnprintf(what, sizeof what, "<- bit 59 (CTR_Frz), version %u", V);
  check_gp(what, wrmsr_safe(MSR_IA32_PERF_GLOBAL_OVF_CTRL, 1ull << 59), V >= 4);
  ksnprintf(what, sizeof what, "<- bit 58 (LBR_Frz), version %u", V);
  check_gp(what, wrmsr_safe(MSR_IA32_PERF_GLOBAL_OVF_CTRL, 1ull << 58), V >= 4);
  check_gp("<- bit 40 (reserved)", wrmsr_safe(MSR_IA32_PERF_GLOBAL_OVF_CTRL, 1ull << 40), 0);

  kprintf("IA32_PERF_GLOBAL_INUSE (version 4+):\n");
  ok = rdmsr_safe(MSR_IA32_PERF_GLOBAL_INUSE, &v);
  check_gp("read", ok, V >= 4);
  if (V >= 4) {
    check_u64("reads (nothing programmed)", v, 0);
    /* PERFEVTSEL0 event 0xC0 -> bit 0; FIXED_CTR_CTRL counter 0 OS -> bit 32; an INT bit -> bit 63. */
    wrmsr_safe(MSR_IA32_PERFEVTSEL0, 0xC0);
    if (G > 1) wrmsr_safe(MSR_IA32_PERFEVTSEL0 + 1, 0xC4 | EVTSEL_INT);
    if (F > 0) wrmsr_safe(MSR_IA32_FIXED_CTR_CTRL, FIXED_OS);
    rdmsr_safe(MSR_IA32_PERF_GLOBAL_INUSE, &v);
    uint64_t want = 1 | (G > 1 ? 2ull | 1ull << 63 : 0) | (F > 0 ? 1ull << 32 : 0);
    check_u64("reads (PERFEVTSEL0=0xC0, PERFEVTSEL1=0xC4|INT, FIXED_CTR_CTRL=OS)", v, want);
    check_gp("write (read-only)", wrmsr_safe(MSR_IA32_PERF_GLOBAL_INUSE, 0), 0);
    wrmsr_safe(MSR_IA32_PERFEVTSEL0, 0);
    if (G > 1) wrmsr_safe(MSR_IA32_PERFEVTSEL0 + 1, 0);
    wrmsr_safe(MSR_IA32_FIXED_CTR_CTRL, 0);
  }
}

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  const char *cl = mb_cmdline(magic, info);
  pmu_trap_init();
  V = cmdline_get_u32(cl, "version", 4);
  G = cmdline_get_u32(cl, "counters", V ? 8 : 0);
  F = cmdline_get_u32(cl, "fixed", V >= 2 ? 3 : 0);
  kprintf("pmu-msrs: expecting version %u, %u GP counters, %u fixed counters, width %u\n", V, G, F, V ? COUNTER_WIDTH : 0);
  check_cpuid();
  check_perf_caps();
  if (V >= 2) { /* RESET value: every GP enable set (src/pmu/README.md "Decisions"), fixed enables clear */
    uint64_t v;
    kprintf("IA32_PERF_GLOBAL_CTRL at reset:\n");
    rdmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, &v);
    check_u64("reads", v, (1ull << G) - 1);
  }
  if (V == 0) {
    uint64_t v;
    /* "p6-legacy" (KVM runs): Linux KVM accepts the legacy P6 MSRs PERFCTR0/1 (0xC1/0xC2) and EVNTSEL0/1
     * (0x186/0x187) without a vPMU (reads 0, writes ignored: kvm_get/set_msr_common); everything else #GPs. */
    int p6 = cmdline_has_word(cl, "p6-legacy");
    kprintf("no PMU: every PMU MSR #GPs%s:\n", p6 ? " (but KVM's legacy P6 PERFCTR0/1, EVNTSEL0/1)" : "");
    int ok = rdmsr_safe(MSR_IA32_PMC0, &v);
    check_gp("IA32_PMC0 read", ok, p6);
    if (ok && p6) check_u64("IA32_PMC0", v, 0);
    check_gp("IA32_PERFEVTSEL0 write", wrmsr_safe(MSR_IA32_PERFEVTSEL0, 0), p6);
    check_gp("IA32_PMC2 read", rdmsr_safe(MSR_IA32_PMC0 + 2, &v), 0);
    check_gp("IA32_PERFEVTSEL2 write", wrmsr_safe(MSR_IA32_PERFEVTSEL0 + 2, 0), 0);
    check_gp("IA32_A_PMC0 read", rdmsr_safe(MSR_IA32_A_PMC0, &v), 0);
    check_gp("IA32_FIXED_CTR0 read", rdmsr_safe(MSR_IA32_FIXED_CTR0, &v), 0);
    check_gp("IA32_PERF_GLOBAL_CTRL read", rdmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, &v), 0);
    check_gp("IA32_PERF_GLOBAL_STATUS read", rdmsr_safe(MSR_IA32_PERF_GLOBAL_STATUS, &v), 0);
    pmu_finish("pmu-msrs");
  }
  check_gp_counters();
  check_fixed();
  check_global();
  pmu_finish("pmu-msrs");
}
