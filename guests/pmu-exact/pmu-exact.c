/* pmu-exact (and pmu-filter, built from this folder): exact instruction and branch counts of known code, in
 * ring 0 (OS) and ring 3 (USR), on fixed counters 0-2 and eight general-purpose counters with CMASK/INV/EDGE
 * variants; a REP MOVSB retires as one instruction. With filter=NAME on the cmdline (pmu-filter runs, started
 * with --pmu-filter guests/pmu/filters/NAME.json) the counters the filter blocks must read 0 while their
 * selectors still read back as written.
 *
 * Expected counts come from the code below and these rules:
 *  - An instruction is counted under the PMU state in effect before it executes: the WRMSR that enables
 *    GLOBAL_CTRL is not counted, the WRMSR that disables it is (what hardware does; Linux's KVM selftest
 *    pmu_counters_test counts "2 XOR, 1 WRMSR" after the loop and nothing before it).
 *  - USR counts at CPL > 0, OS at CPL 0, by the CPL an instruction executes at; a faulting instruction (the UD2
 *    that ends run_user) does not retire.
 *  - Branches: every retired control transfer (Jcc taken or not, RET, ...). REP MOVSB is one instruction.
 *  - src/pmu/README.md: one instruction per core cycle (the measured code charges no STALL cycles), so core
 *    cycles = instructions. CMASK=c>0 counts cycles with inc >= c (INV: inc < c); EDGE counts rising edges of
 *    that condition. Reference cycles count TSC ticks while the vCPU runs: the runs use --deterministic (1 tick
 *    per instruction or REP iteration), so ref cycles = instructions + REP iterations, give or take the few
 *    instructions by which the tick count is taken at block boundaries (REF_SLACK).
 * Configuration needed: version >= 2, 8 general-purpose and 3 fixed counters (the default, version 4). */
#include "rt.h"
#include "trap.h"
#include "user.h"
#include "../pmu/pmu-guest.h"

#define NGP 8
#define NFIXED 3
#define N1 1000u
#define N2 1010u
#define REP_BYTES 100u

/* ---- measured code ---- */
/* uint32_t measure_r0(uint32_t n, uint32_t en_lo, uint32_t en_hi): WRMSR GLOBAL_CTRL <- en; a loop of n
 * iterations of 4 instructions (one branch); WRMSR GLOBAL_CTRL <- 0. Counted (state before each instruction):
 * MOV ECX + 4n + MOV ECX, XOR, XOR, WRMSR = 4n + 5 instructions, n branches. */
uint32_t measure_r0(uint32_t n, uint32_t en_lo, uint32_t en_hi);
__asm__(".text\n.globl measure_r0\nmeasure_r0:\n"
        "  push %ebx\n  push %esi\n"
        "  mov 12(%esp), %esi\n  mov 16(%esp), %eax\n  mov 20(%esp), %edx\n"
        "  mov $0x38f, %ecx\n"
        "  wrmsr\n"                        /* enable: not counted */
        "  mov %esi, %ecx\n"               /* 1 */
        "1: add $1, %ebx\n  nop\n  dec %ecx\n  jnz 1b\n" /* 4n, n branches */
        "  mov $0x38f, %ecx\n  xor %eax, %eax\n  xor %edx, %edx\n" /* 3 */
        "  wrmsr\n"                        /* disable: counted (1) */
        "  mov %ebx, %eax\n  pop %esi\n  pop %ebx\n  ret\n");
#define R0_INSNS(n) (4ull * (n) + 5)
#define R0_BRANCHES(n) ((uint64_t)(n))

/* REP MOVSB of REP_BYTES bytes between enable and disable: MOV ECX, REP MOVSB, MOV ECX, XOR, XOR, WRMSR = 6
 * instructions, no branch. */
void measure_rep(void *dst, const void *src, uint32_t en_lo, uint32_t en_hi);
__asm__(".text\n.globl measure_rep\nmeasure_rep:\n"
        "  push %esi\n  push %edi\n"
        "  mov 12(%esp), %edi\n  mov 16(%esp), %esi\n  mov 20(%esp), %eax\n  mov 24(%esp), %edx\n"
        "  mov $0x38f, %ecx\n  cld\n"
        "  wrmsr\n"
        "  mov $100, %ecx\n"
        "  rep movsb\n"
        "  mov $0x38f, %ecx\n  xor %eax, %eax\n  xor %edx, %edx\n"
        "  wrmsr\n"
        "  pop %edi\n  pop %esi\n  ret\n");
#define REP_INSNS 6ull

/* Ring 3: MOV ECX + 4n + RET = 4n + 2 instructions, n + 1 branches (the UD2 it returns to faults). */
uintptr_t user_loop(uintptr_t n);
__asm__(".text\n.globl user_loop\nuser_loop:\n"
        "  mov 4(%esp), %ecx\n"
        "1: add $1, %eax\n  nop\n  dec %ecx\n  jnz 1b\n"
        "  ret\n");
#define R3_INSNS(n) (4ull * (n) + 2)
#define R3_BRANCHES(n) ((uint64_t)(n) + 1)

/* ---- counters ---- */
struct gp_def { const char *name; uint32_t sel; int event; /* 0xC0, 0xC4, 0x3C: what a filter matches */ };
static const struct gp_def gps[NGP] = {
  {"gp0 insts (C0)", 0xC0, 0xC0},
  {"gp1 branches (C4)", 0xC4, 0xC4},
  {"gp2 insts cmask=1", 0xC0 | EVTSEL_CMASK(1), 0xC0},
  {"gp3 insts cmask=2", 0xC0 | EVTSEL_CMASK(2), 0xC0},
  {"gp4 insts inv cmask=1", 0xC0 | EVTSEL_INV | EVTSEL_CMASK(1), 0xC0},
  {"gp5 branches inv cmask=1", 0xC4 | EVTSEL_INV | EVTSEL_CMASK(1), 0xC4},
  {"gp6 branches edge cmask=1", 0xC4 | EVTSEL_EDGE | EVTSEL_CMASK(1), 0xC4},
  {"gp7 core cycles (3C)", 0x3C, 0x3C},
};
static const char *const fixed_names[NFIXED] = {"fixed0 insts", "fixed1 core cycles", "fixed2 ref cycles"};

/* What each filter lets count (src/pmu/README.md "Event filter"; the JSON files are in guests/pmu/filters/). */
struct filter_def { const char *name; int c0, c4, c3c; uint32_t fixed; };
static const struct filter_def filters[] = {
  {"none", 1, 1, 1, 7},
  /* allow [C4], no fixed bitmap: only C4 counts; allow + bit clear -> no fixed counter counts */
  {"allow-branches", 0, 1, 0, 0},
  /* deny [C0], no fixed bitmap: all but C0; deny + bit clear -> every fixed counter counts */
  {"deny-instructions", 0, 1, 1, 7},
  /* allow [], fixedCounters [1]: no GP event; fixed 1 only */
  {"allow-fixed-1", 0, 0, 0, 2},
  /* deny [], fixedCounters [0, 2]: every GP event; fixed 1 only */
  {"deny-fixed-0-2", 1, 1, 1, 2},
  /* masked allow: include C0 any umask, exclude C0 umask 0 (mask FF match 00), include C4 umask&F0 == 00;
   * 3C not included; fixedCounters [0] */
  {"masked-allow", 0, 1, 0, 1},
};

static const struct filter_def *flt;
static uint64_t results[NGP + NFIXED];

static int gp_counts(unsigned i) {
  int e = gps[i].event;
  return e == 0xC0 ? flt->c0 : e == 0xC4 ? flt->c4 : flt->c3c;
}

/* Programs every counter with ring bits `gp_ring` (EVTSEL_OS/USR) and `fx_ring` (FIXED_OS/USR), zeroes them. */
static void program(uint32_t gp_ring, uint32_t fx_ring) {
  wrmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, 0);
  for (unsigned i = 0; i < NGP; i++) {
    wrmsr_safe(MSR_IA32_PERFEVTSEL0 + i, gps[i].sel | gp_ring | EVTSEL_EN);
    wrmsr_safe(MSR_IA32_PMC0 + i, 0);
  }
  uint32_t fc = 0;
  for (unsigned i = 0; i < NFIXED; i++) {
    fc |= fx_ring << (4 * i);
    wrmsr_safe(MSR_IA32_FIXED_CTR0 + i, 0);
  }
  wrmsr_safe(MSR_IA32_FIXED_CTR_CTRL, fc);
}

static void collect(void) {
  for (unsigned i = 0; i < NGP; i++) rdmsr_safe(MSR_IA32_PMC0 + i, &results[i]);
  for (unsigned i = 0; i < NFIXED; i++) rdmsr_safe(MSR_IA32_FIXED_CTR0 + i, &results[NGP + i]);
}

/* Expected values for `insns` instructions and `branches` branches of which `edges` start a run of branch
 * cycles, with no STALL cycles (see the header). */
#define REF_SLACK 8
static void expect_ticks(const char *title, uint64_t insns, uint64_t branches, uint64_t edges, uint64_t ticks) {
  const uint64_t gp_want[NGP] = {insns, branches, insns, 0, 0, insns - branches, edges, insns};
  const uint64_t fx_want[NFIXED] = {insns, insns, ticks};
  kprintf("%s:\n", title);
  for (unsigned i = 0; i < NGP; i++) check_dec(gps[i].name, results[i], gp_counts(i) ? gp_want[i] : 0);
  for (unsigned i = 0; i < NFIXED; i++) {
    uint64_t want = (flt->fixed >> i) & 1 ? fx_want[i] : 0, got = results[NGP + i];
    if (i != 2 || want == 0) {
      check_dec(fixed_names[i], got, want);
    } else if (got + REF_SLACK >= want && got <= want + REF_SLACK) {
      kprintf("  %s = TSC ticks (%llu +- %u): ok\n", fixed_names[i], (unsigned long long)want, REF_SLACK);
    } else {
      kprintf("  %s = %llu  FAIL (expected %llu +- %u TSC ticks)\n", fixed_names[i], (unsigned long long)got, (unsigned long long)want, REF_SLACK);
      pmu_failures++;
    }
  }
}
static void expect(const char *title, uint64_t insns, uint64_t branches, uint64_t edges) {
  expect_ticks(title, insns, branches, edges, insns);
}

static uint8_t rep_src[REP_BYTES], rep_dst[REP_BYTES];

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  const char *cl = mb_cmdline(magic, info);
  pmu_trap_init();
  char fname[32] = "none";
  cmdline_get(cl, "filter", fname, sizeof fname);
  flt = 0;
  for (unsigned i = 0; i < sizeof filters / sizeof filters[0]; i++)
    if (strcmp(filters[i].name, fname) == 0) flt = &filters[i];
  if (!flt) {
    kprintf("FAIL: unknown filter=%s\n", fname);
    debug_exit(EXIT_FAILURE_CODE);
  }
  kprintf(GUEST_NAME ": filter %s\n", flt->name);
  uint32_t r[4];
  cpuid(0xA, 0, r);
  unsigned version = r[0] & 0xFF, ngp = (r[0] >> 8) & 0xFF, nfixed = r[3] & 0x1F;
  if (version < 2 || ngp < NGP || nfixed < NFIXED) {
    kprintf("FAIL: needs PMU version >= 2 with %u GP and %u fixed counters; CPUID.0AH reports version %u, %u GP, %u fixed\n",
            NGP, NFIXED, version, ngp, nfixed);
    debug_exit(EXIT_FAILURE_CODE);
  }
  const uint32_t en_lo = (1u << NGP) - 1, en_hi = (1u << NFIXED) - 1;

  /* Selectors read back as written, filtered or not. */
  program(EVTSEL_OS, FIXED_OS);
  int sel_ok = 1;
  for (unsigned i = 0; i < NGP; i++) {
    uint64_t v;
    rdmsr_safe(MSR_IA32_PERFEVTSEL0 + i, &v);
    if (v != (gps[i].sel | EVTSEL_OS | EVTSEL_EN)) {
      kprintf("  PERFEVTSEL%u = 0x%llx  FAIL (expected 0x%x)\n", i, (unsigned long long)v, gps[i].sel | EVTSEL_OS | EVTSEL_EN);
      sel_ok = 0;
      pmu_failures++;
    }
  }
  kprintf("selectors read back: %s\n", sel_ok ? "ok" : "FAIL");

  /* Ring 0, OS: two loop lengths. In the loop every JNZ follows a DEC: each branch starts a run (edges = n). */
  uint64_t a[NGP + NFIXED];
  measure_r0(N1, en_lo, en_hi);
  collect();
  expect("ring 0, OS, n=1000", R0_INSNS(N1), R0_BRANCHES(N1), N1);
  for (unsigned i = 0; i < NGP + NFIXED; i++) a[i] = results[i];
  program(EVTSEL_OS, FIXED_OS);
  measure_r0(N2, en_lo, en_hi);
  collect();
  expect("ring 0, OS, n=1010", R0_INSNS(N2), R0_BRANCHES(N2), N2);
  /* The constant overhead cancels: 10 more iterations are exactly 40 instructions and 10 branches. */
  kprintf("difference n=1010 - n=1000:\n");
  check_dec("gp0 insts", results[0] - a[0], flt->c0 ? 40 : 0);
  check_dec("gp1 branches", results[1] - a[1], flt->c4 ? 10 : 0);
  check_dec("fixed0 insts", results[NGP] - a[NGP], (flt->fixed & 1) ? 40 : 0);

  /* Ring 0 code with USR-only counters: nothing counts. */
  program(EVTSEL_USR, FIXED_USR);
  measure_r0(N1, en_lo, en_hi);
  collect();
  expect("ring 0 code, USR only", 0, 0, 0);

  /* GLOBAL_CTRL gates every counter: EN set, the WRMSRs write 0 to GLOBAL_CTRL: nothing counts. */
  program(EVTSEL_OS, FIXED_OS);
  measure_r0(N1, 0, 0);
  collect();
  expect("ring 0, OS, GLOBAL_CTRL = 0", 0, 0, 0);

  /* Version 4+: while GLOBAL_STATUS.CTR_Frz (bit 59, set through GLOBAL_STATUS_SET) is set, nothing counts. */
  if (version >= 4) {
    program(EVTSEL_OS, FIXED_OS);
    wrmsr_safe(MSR_IA32_PERF_GLOBAL_STATUS_SET, 1ull << 59);
    measure_r0(N1, en_lo, en_hi);
    wrmsr_safe(MSR_IA32_PERF_GLOBAL_OVF_CTRL, 1ull << 59);
    collect();
    expect("ring 0, OS, CTR_Frz set", 0, 0, 0);
  }

  /* Ring 3, USR: the RET right after the last (not-taken) JNZ is a back-to-back branch: edges = n. */
  program(EVTSEL_USR, FIXED_USR);
  wrmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, ((uint64_t)en_hi << 32) | en_lo);
  run_user(user_loop, N1);
  wrmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, 0);
  collect();
  expect("ring 3, USR, n=1000", R3_INSNS(N1), R3_BRANCHES(N1), N1);

  /* REP MOVSB: one instruction however many bytes it moves. */
  for (unsigned i = 0; i < REP_BYTES; i++) rep_src[i] = (uint8_t)(i * 7 + 1);
  program(EVTSEL_OS, FIXED_OS);
  measure_rep(rep_dst, rep_src, en_lo, en_hi);
  collect();
  expect_ticks("ring 0, OS, REP MOVSB of 100 bytes", REP_INSNS, 0, 0, REP_INSNS + REP_BYTES);
  int copied = memcmp(rep_dst, rep_src, REP_BYTES) == 0;
  kprintf("  rep movsb copied %u bytes: %s\n", REP_BYTES, copied ? "ok" : "FAIL");
  pmu_failures += !copied;

  pmu_finish(GUEST_NAME);
}
