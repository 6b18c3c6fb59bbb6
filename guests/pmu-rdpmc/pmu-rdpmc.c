/* pmu-rdpmc: RDPMC (Intel SDM vol. 2) with general-purpose (ECX[30] = 0) and fixed (ECX[30] = 1) indexes, the
 * "fast" 32-bit read ECX[31] (src/pmu/README.md "Decisions": rdpmcFastRead, default on: EAX = bits 31:0,
 * EDX = 0), #GP for an index past the configured counters and for unknown types (ECX[31:16] other than 0 and
 * 4000H, with ECX[31] allowed on top), #GP at CPL 3 while CR4.PCE = 0, and the same reads at CPL 3 with PCE = 1.
 * No counter counts during the test (every EN and FIXED_CTR_CTRL field is 0), so each read is the value written.
 * cmdline counters=G fixed=F mirror --pmu-counters/--pmu-fixed (defaults 8 and 3). */
#include "rt.h"
#include "trap.h"
#include "user.h"
#include "../pmu/pmu-guest.h"

static unsigned G, F;

static uint64_t gp_value(unsigned i) { return 0x100000000000ull * (i + 1) + 0x89ABCDE0u + i; }
static uint64_t fx_value(unsigned i) { return 0x0A0000000000ull * (i + 1) + 0x12345670u + i; }

/* RDPMC at CPL 3: the user function reads one index; results come back through globals. */
static volatile uint32_t u_ecx, u_ok, u_lo, u_hi;
static uintptr_t user_rdpmc(uintptr_t unused) {
  uint64_t v;
  u_ok = rdpmc_safe(u_ecx, &v);
  u_lo = (uint32_t)v;
  u_hi = (uint32_t)(v >> 32);
  return unused;
}

static void read_at(int cpl3, uint32_t ecx, int want_ok, uint64_t want) {
  char what[80];
  uint64_t v;
  int ok;
  if (cpl3) {
    u_ecx = ecx;
    run_user(user_rdpmc, 0);
    ok = (int)u_ok;
    v = ((uint64_t)u_hi << 32) | u_lo;
  } else {
    ok = rdpmc_safe(ecx, &v);
  }
  ksnprintf(what, sizeof what, "CPL %d RDPMC ECX=0x%08x", cpl3 ? 3 : 0, ecx);
  check_gp(what, ok, want_ok);
  if (ok && want_ok) check_u64("  EDX:EAX", v, want);
}

static void all_reads(int cpl3) {
  for (unsigned i = 0; i < G; i++) read_at(cpl3, i, 1, gp_value(i));
  for (unsigned i = 0; i < F; i++) read_at(cpl3, 0x40000000u | i, 1, fx_value(i));
  if (G > 0) read_at(cpl3, 0x80000000u, 1, (uint32_t)gp_value(0));
  if (F > 0) read_at(cpl3, 0xC0000000u | (F - 1), 1, (uint32_t)fx_value(F - 1));
  read_at(cpl3, G, 0, 0);                       /* first absent GP counter */
  read_at(cpl3, 0x40000000u | F, 0, 0);         /* first absent fixed counter */
  read_at(cpl3, 0x80000000u | G, 0, 0);         /* fast read of an absent counter */
  read_at(cpl3, 0x20000000u, 0, 0);             /* type 2000H (PERF_METRICS) not offered */
  read_at(cpl3, 0x00010000u, 0, 0);             /* type 0001H unknown */
}

/* A running counter: fixed counter 0 (instructions, OS) enabled by the WRMSR (not counted: the state before an
 * instruction decides), then MOV ECX + 3 NOPs retire before the first RDPMC, which reads 4; RDPMC and MOV retire
 * before the second, which reads 6. Values in r[0], r[1] (low halves). */
void running_reads(uint32_t r[2]);
__asm__(".text\n.globl running_reads\nrunning_reads:\n"
        "  push %esi\n  push %edi\n  mov 12(%esp), %edi\n"
        "  mov $0x38f, %ecx\n  xor %eax, %eax\n  mov $1, %edx\n"
        "  wrmsr\n"
        "  mov $0x40000000, %ecx\n  nop\n  nop\n  nop\n"
        "  rdpmc\n"
        "  mov %eax, %esi\n"
        "  rdpmc\n"
        "  mov %esi, (%edi)\n  mov %eax, 4(%edi)\n"
        "  mov $0x38f, %ecx\n  xor %eax, %eax\n  xor %edx, %edx\n  wrmsr\n"
        "  pop %edi\n  pop %esi\n  ret\n");

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  const char *cl = mb_cmdline(magic, info);
  pmu_trap_init();
  G = cmdline_get_u32(cl, "counters", 8);
  F = cmdline_get_u32(cl, "fixed", 3);
  kprintf("pmu-rdpmc: %u GP counters, %u fixed counters\n", G, F);
  pmu_quiesce(2, G, F);
  for (unsigned i = 0; i < G; i++) wrmsr_safe(MSR_IA32_A_PMC0 + i, gp_value(i));
  for (unsigned i = 0; i < F; i++) wrmsr_safe(MSR_IA32_FIXED_CTR0 + i, fx_value(i));

  kprintf("CPL 0:\n");
  all_reads(0);

  WRITE_CR(4, READ_CR(4) & ~CR4_PCE);
  kprintf("CPL 3, CR4.PCE=0 (every RDPMC #GPs):\n");
  read_at(1, 0, 0, 0);
  if (F > 0) read_at(1, 0x40000000u, 0, 0);
  read_at(1, 0x80000000u, 0, 0);

  WRITE_CR(4, READ_CR(4) | CR4_PCE);
  kprintf("CPL 3, CR4.PCE=1:\n");
  all_reads(1);
  WRITE_CR(4, READ_CR(4) & ~CR4_PCE);

  if (F > 0) {
    uint32_t r[2];
    kprintf("RDPMC of a running counter (fixed 0, instructions, OS):\n");
    pmu_quiesce(2, G, F);
    wrmsr_safe(MSR_IA32_FIXED_CTR_CTRL, FIXED_OS);
    running_reads(r);
    check_dec("first read (MOV + 3 NOPs retired)", r[0], 4);
    check_dec("second read (+ RDPMC, MOV)", r[1], 6);
    wrmsr_safe(MSR_IA32_FIXED_CTR_CTRL, 0);
  }

  pmu_finish("pmu-rdpmc");
}
