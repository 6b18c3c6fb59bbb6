/* pmu-overflow: counters preloaded near overflow wrap after exactly the right number of events, set their
 * IA32_PERF_GLOBAL_STATUS bit, and with INT (GP) or the PMI bit (fixed) raise a PMI through the local APIC's
 * LVTPC entry, which the APIC masks on delivery (Intel SDM vol. 3B "Performance Monitoring": counter overflow,
 * and vol. 3A "Local APIC": LVT performance counter register). The guest clears status through
 * IA32_PERF_GLOBAL_STATUS_RESET (version 4+) or IA32_PERF_GLOBAL_OVF_CTRL (versions 2-3), both MSR 0x390.
 * cmdline version=V mirrors --pmu-version (needs 2+ GP and 1+ fixed counters).
 *
 * Where the PMI lands: src/pmu/README.md defines no skid: the overflow happens on the retirement of the event
 * that wraps the counter and the PMI is taken at the next instruction boundary, so the interrupted IP is the
 * instruction after it. Branch counting (tests A, B, D) does not depend on how the enabling WRMSR is counted (it
 * is no branch); test C counts instructions and uses the hardware rule that the enabling WRMSR is not counted.
 *
 * cmdline long=N period=P (optional; snapshot and migration tests): part F computes N checksum steps with fixed
 * counter 0 re-armed at 2^48 - P by each PMI, so the counter spends most of the run close to overflow, and
 * prints how many PMIs came and a checksum of where each landed: a run that is stopped and resumed anywhere
 * prints the same line only if every PMI still lands on the same instruction. */
#include "rt.h"
#include "trap.h"
#include "user.h"
#include "gdt.h"
#include "../pmu/pmu-guest.h"

#define LAPIC 0xFEE00000u
#define LAPIC_EOI 0xB0u
#define LAPIC_SVR 0xF0u
#define LAPIC_LVTPC 0x340u
#define LVT_MASKED (1u << 16)
#define PMI_VECTOR 0x40u

static unsigned V;
static volatile uint32_t pmi_count, pmi_lvtpc;
static volatile uintptr_t pmi_ip;
static volatile uint32_t pmi_cs;

static void on_pmi(struct trap_frame *f) {
  pmi_count++;
  pmi_ip = f->ip;
  pmi_cs = (uint32_t)f->cs;
  pmi_lvtpc = mmio_read32(LAPIC + LAPIC_LVTPC);
  mmio_write32(LAPIC + LAPIC_EOI, 0);
}

static uint32_t period;
static volatile uint32_t landed_sum;
static void on_pmi_periodic(struct trap_frame *f) {
  pmi_count++;
  landed_sum = (landed_sum * 31u) ^ (uint32_t)f->ip ^ pmi_count;
  wrmsr_safe(MSR_IA32_FIXED_CTR0, (1ull << 48) - period);
  wrmsr_safe(MSR_IA32_PERF_GLOBAL_OVF_CTRL, 1ull << 32);
  mmio_write32(LAPIC + LAPIC_LVTPC, PMI_VECTOR); /* delivery masked it */
  mmio_write32(LAPIC + LAPIC_EOI, 0);
}

/* Five taken JMPs right after the WRMSR that sets GLOBAL_CTRL to en_lo; the fifth lands on site_after_5th. */
#define FIVE_JMPS(p)                                                                                     \
  "  jmp " p "1\n" p "1: jmp " p "2\n" p "2: jmp " p "3\n" p "3: jmp " p "4\n" p "4: jmp " p "5\n" p "5:\n"
void five_branches(uint32_t en_lo);
extern char site_after_5th[];
__asm__(".text\n.globl five_branches\n.globl site_after_5th\nfive_branches:\n"
        "  mov 4(%esp), %eax\n  xor %edx, %edx\n  mov $0x38f, %ecx\n"
        "  wrmsr\n" FIVE_JMPS(".Lfb")
        "site_after_5th:\n  nop\n  nop\n  nop\n  nop\n"
        "  mov $0x38f, %ecx\n  xor %eax, %eax\n  xor %edx, %edx\n  wrmsr\n  ret\n");

/* Fixed counter 0: the WRMSR enables it (not counted), then 10 NOPs; site_nop7 is the 7th. */
void ten_nops(void);
extern char site_nop7[];
__asm__(".text\n.globl ten_nops\n.globl site_nop7\nten_nops:\n"
        "  xor %eax, %eax\n  mov $1, %edx\n  mov $0x38f, %ecx\n"
        "  wrmsr\n"
        "  nop\n  nop\n  nop\n  nop\n  nop\n  nop\nsite_nop7:\n  nop\n  nop\n  nop\n  nop\n"
        "  mov $0x38f, %ecx\n  xor %eax, %eax\n  xor %edx, %edx\n  wrmsr\n  ret\n");

/* Ring 3 (run_user enters with IF = 0 and IOPL 3, so STI first): five JMPs, RET. With a USR-only counter on
 * branches preloaded with -5 the fifth JMP wraps it (PMI at user_site_after_5th, CS = ring-3 code), and the RET
 * is the one branch counted after the wrap. */
uintptr_t user_five_branches(uintptr_t arg);
extern char user_site_after_5th[];
__asm__(".text\n.globl user_five_branches\n.globl user_site_after_5th\nuser_five_branches:\n"
        "  sti\n" FIVE_JMPS(".Lub")
        "user_site_after_5th:\n  nop\n  nop\n  mov 4(%esp), %eax\n  ret\n");

static void status_check(const char *what, uint64_t want) {
  uint64_t v;
  rdmsr_safe(MSR_IA32_PERF_GLOBAL_STATUS, &v);
  check_u64(what, v, want);
}
static void status_clear(uint64_t bits) {
  char what[80];
  ksnprintf(what, sizeof what, "%s <- 0x%llx", V >= 4 ? "GLOBAL_STATUS_RESET" : "GLOBAL_OVF_CTRL", (unsigned long long)bits);
  check_gp(what, wrmsr_safe(MSR_IA32_PERF_GLOBAL_OVF_CTRL, bits), 1);
  status_check("GLOBAL_STATUS after clearing", 0);
}
static void check_pmi(const char *what, uint32_t want_count, const char *site_name, uintptr_t site) {
  char buf[96];
  ksnprintf(buf, sizeof buf, "%s: PMIs", what);
  check_dec(buf, pmi_count, want_count);
  if (want_count == 0 || pmi_count == 0) return;
  long off = (long)(pmi_ip - site);
  int ok = off == 0;
  kprintf("  interrupted IP = %s%c%ld", site_name, off < 0 ? '-' : '+', off < 0 ? -off : off);
  if (ok) kprintf("\n"); else kprintf("  FAIL (expected %s+0)\n", site_name);
  pmu_failures += !ok;
  check_u64("LVTPC in the handler (mask bit 16 set on delivery)", pmi_lvtpc, LVT_MASKED | PMI_VECTOR);
}

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  const char *cl = mb_cmdline(magic, info);
  pmu_trap_init();
  trap_set_handler(PMI_VECTOR, on_pmi);
  V = cmdline_get_u32(cl, "version", 4);
  kprintf("pmu-overflow: version %u, status cleared through %s\n", V, V >= 4 ? "IA32_PERF_GLOBAL_STATUS_RESET" : "IA32_PERF_GLOBAL_OVF_CTRL");
  pmu_quiesce(V, 2, 1);
  mmio_write32(LAPIC + LAPIC_SVR, 0x100 | 0xFF);
  mmio_write32(LAPIC + LAPIC_LVTPC, PMI_VECTOR);
  uint64_t v;
  sti();

  /* A: PMC0 on branches with INT, preloaded through the legacy alias with -5 (sign-extended to 48 bits). */
  kprintf("A: PMC0 = -5 (32-bit write), branches, INT; five JMPs:\n");
  wrmsr_safe(MSR_IA32_PMC0, 0xFFFFFFFBu);
  rdmsr_safe(MSR_IA32_PMC0, &v);
  check_u64("PMC0 before", v, 0xFFFFFFFFFFFBull);
  wrmsr_safe(MSR_IA32_PERFEVTSEL0, 0xC4 | EVTSEL_OS | EVTSEL_INT | EVTSEL_EN);
  pmi_count = 0;
  five_branches(1);
  check_pmi("A", 1, "site_after_5th", (uintptr_t)site_after_5th);
  check_u64("LVTPC after", mmio_read32(LAPIC + LAPIC_LVTPC), LVT_MASKED | PMI_VECTOR);
  status_check("GLOBAL_STATUS (bit 0)", 1);
  wrmsr_safe(MSR_IA32_PERFEVTSEL0, 0);
  status_clear(1);

  /* B: PMC1 without INT, preloaded through the full-width alias with 2^48 - 3: wraps on the third JMP, reads 2. */
  kprintf("B: A_PMC1 = 2^48-3, branches, no INT; five JMPs:\n");
  wrmsr_safe(MSR_IA32_A_PMC0 + 1, (1ull << 48) - 3);
  wrmsr_safe(MSR_IA32_PERFEVTSEL0 + 1, 0xC4 | EVTSEL_OS | EVTSEL_EN);
  pmi_count = 0;
  five_branches(2);
  check_pmi("B", 0, "", 0);
  rdmsr_safe(MSR_IA32_PMC0 + 1, &v);
  check_dec("PMC1 after (wrapped)", v, 2);
  status_check("GLOBAL_STATUS (bit 1)", 2);
  wrmsr_safe(MSR_IA32_PERFEVTSEL0 + 1, 0);
  status_clear(2);

  /* C: fixed counter 0 (instructions) with its PMI bit, preloaded with 2^48 - 6: the 6th NOP wraps it. */
  kprintf("C: FIXED_CTR0 = 2^48-6, instructions, PMI bit; ten NOPs:\n");
  mmio_write32(LAPIC + LAPIC_LVTPC, PMI_VECTOR); /* unmask again */
  wrmsr_safe(MSR_IA32_FIXED_CTR0, (1ull << 48) - 6);
  wrmsr_safe(MSR_IA32_FIXED_CTR_CTRL, FIXED_PMI | FIXED_OS);
  pmi_count = 0;
  ten_nops();
  wrmsr_safe(MSR_IA32_FIXED_CTR_CTRL, 0);
  check_pmi("C", 1, "site_nop7", (uintptr_t)site_nop7);
  status_check("GLOBAL_STATUS (bit 32)", 1ull << 32);
  status_clear(1ull << 32);

  /* D: LVTPC still masked (C's PMI masked it): an overflow with INT sets status but delivers no PMI. */
  kprintf("D: LVTPC masked, PMC0 = -5, branches, INT; five JMPs:\n");
  wrmsr_safe(MSR_IA32_PMC0, 0xFFFFFFFBu);
  wrmsr_safe(MSR_IA32_PERFEVTSEL0, 0xC4 | EVTSEL_OS | EVTSEL_INT | EVTSEL_EN);
  pmi_count = 0;
  five_branches(1);
  check_pmi("D", 0, "", 0);
  rdmsr_safe(MSR_IA32_PMC0, &v);
  check_dec("PMC0 after (wrapped on the 5th JMP)", v, 0);
  status_check("GLOBAL_STATUS (bit 0)", 1);
  wrmsr_safe(MSR_IA32_PERFEVTSEL0, 0);
  status_clear(1);

  /* E: the same in ring 3, USR only: the PMI interrupts user code; ring-0 code (handler, run_user) counts nothing. */
  kprintf("E: ring 3, PMC0 = -5, branches, USR, INT; five JMPs and RET:\n");
  mmio_write32(LAPIC + LAPIC_LVTPC, PMI_VECTOR);
  wrmsr_safe(MSR_IA32_PMC0, 0xFFFFFFFBu);
  wrmsr_safe(MSR_IA32_PERFEVTSEL0, 0xC4 | EVTSEL_USR | EVTSEL_INT | EVTSEL_EN);
  wrmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, 1);
  pmi_count = 0;
  pmi_cs = 0;
  run_user(user_five_branches, 0);
  wrmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, 0);
  check_pmi("E", 1, "user_site_after_5th", (uintptr_t)user_site_after_5th);
  check_u64("interrupted CS", pmi_cs, SEL_UCODE32);
  rdmsr_safe(MSR_IA32_PMC0, &v);
  check_dec("PMC0 after (the RET)", v, 1);
  status_check("GLOBAL_STATUS (bit 0)", 1);
  wrmsr_safe(MSR_IA32_PERFEVTSEL0, 0);
  status_clear(1);

  uint32_t steps = cmdline_get_u32(cl, "long", 0);
  if (steps) {
    period = cmdline_get_u32(cl, "period", 150000);
    kprintf("F: %u checksum steps, FIXED_CTR0 re-armed at 2^48-%u by each PMI:\n", steps, period);
    trap_set_handler(PMI_VECTOR, on_pmi_periodic);
    mmio_write32(LAPIC + LAPIC_LVTPC, PMI_VECTOR);
    pmi_count = 0;
    sti();
    wrmsr_safe(MSR_IA32_FIXED_CTR0, (1ull << 48) - period);
    wrmsr_safe(MSR_IA32_FIXED_CTR_CTRL, FIXED_PMI | FIXED_OS);
    wrmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, 1ull << 32);
    uint32_t x = 1, sum = 0;
    for (uint32_t i = 0; i < steps; i++) {
      x = x * 1664525u + 1013904223u;
      sum = ((sum ^ x) << 5) | ((sum ^ x) >> 27);
    }
    wrmsr_safe(MSR_IA32_PERF_GLOBAL_CTRL, 0);
    wrmsr_safe(MSR_IA32_FIXED_CTR_CTRL, 0);
    kprintf("  %u PMIs, landing checksum %08x, sum %08x\n", pmi_count, landed_sum, sum);
    check_dec("F: PMIs came", pmi_count > 0, 1);
    trap_set_handler(PMI_VECTOR, on_pmi);
  }

  cli();
  pmu_finish("pmu-overflow");
}
