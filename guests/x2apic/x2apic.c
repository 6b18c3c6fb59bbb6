/* x2apic: the local APIC through its x2APIC MSR interface (QEMU 7.2 TCG has none, so the reference here is KVM).
 * Enables x2APIC mode (IA32_APIC_BASE.EXTD), reads the 32-bit ID (MSR 0x802) against CPUID.0BH and the logical
 * destination register (MSR 0x80D, derived from the ID), sends a self IPI through the SELF IPI MSR (0x83F) and
 * through the 64-bit ICR MSR (0x830), counts exactly N periodic LAPIC timer interrupts programmed through MSRs,
 * and checks that leaving x2APIC mode straight to xAPIC mode is refused with #GP. Self-checking. */
#include "rt.h"
#include "trap.h"

#define MSR_APIC_BASE 0x1B
#define APIC_BASE_EN (1u << 11)
#define APIC_BASE_EXTD (1u << 10)
#define X2APIC_ID 0x802
#define X2APIC_VERSION 0x803
#define X2APIC_EOI 0x80B
#define X2APIC_LDR 0x80D
#define X2APIC_SVR 0x80F
#define X2APIC_ICR 0x830
#define X2APIC_LVT_TIMER 0x832
#define X2APIC_TIMER_ICR 0x838
#define X2APIC_TIMER_DCR 0x83E
#define X2APIC_SELF_IPI 0x83F
#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define ICR_SELF 0x00040000u
#define VEC_TIMER 0x40
#define VEC_IPI 0x41
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PORT_61 0x61

static int failures;
static void check(const char *what, int ok) {
  kprintf("x2apic: %-50s %s\n", what, ok ? "ok" : "FAIL");
  failures += !ok;
}

static volatile uint32_t count, target, late;
static void on_timer(struct trap_frame *f) {
  (void)f;
  if (count >= target) late++;
  else if (++count >= target) wrmsr(X2APIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
  wrmsr(X2APIC_EOI, 0);
}
static void on_ipi(struct trap_frame *f) { (void)f; count++; wrmsr(X2APIC_EOI, 0); }

static jmp_buf jb;
static volatile uint32_t gp_seen;
static void on_gp(struct trap_frame *f) { (void)f; gp_seen++; longjmp(jb, 1); }

static void wait_count(uint32_t timeout_ms) {
  sti();
  for (uint32_t ms = 0; ms < timeout_ms && count < target; ms += 10) {
    outb(PORT_61, (inb(PORT_61) & ~0x02u) | 0x01);
    outb(PIT_CMD, 0xB0);
    outb(PIT_CH2, (uint8_t)11932);
    outb(PIT_CH2, (uint8_t)(11932 >> 8)); /* 10 ms */
    while (!(inb(PORT_61) & 0x20) && count < target) pause();
  }
  cli();
}

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  uint32_t n = cmdline_get_u32(mb_cmdline(magic, info), "ticks", 10);
  if (n == 0 || n > 1000) n = 10;
  outb(0x21, 0xFF); /* 8259s masked */
  outb(0xA1, 0xFF);
  trap_init();
  trap_set_handler(VEC_TIMER, on_timer);
  trap_set_handler(VEC_IPI, on_ipi);
  trap_set_handler(13, on_gp);
  uint32_t r[4];
  cpuid(1, 0, r);
  int has = (r[2] >> 21) & 1;
  check("CPUID.01H:ECX.x2APIC[21] = 1", has);
  if (!has) { kprintf("x2apic: FAIL\n"); debug_exit(EXIT_FAILURE_CODE); }
  uint32_t max_leaf;
  cpuid(0, 0, r);
  max_leaf = r[0];
  uint32_t cpuid_id = 0;
  if (max_leaf >= 0xB) { cpuid(0xB, 0, r); cpuid_id = r[3]; }
  else { cpuid(1, 0, r); cpuid_id = r[1] >> 24; }

  uint64_t base = rdmsr(MSR_APIC_BASE);
  wrmsr(MSR_APIC_BASE, base | APIC_BASE_EN | APIC_BASE_EXTD);
  uint64_t base2 = rdmsr(MSR_APIC_BASE);
  check("IA32_APIC_BASE.EN|EXTD set (x2APIC mode)", (base2 & (APIC_BASE_EN | APIC_BASE_EXTD)) == (APIC_BASE_EN | APIC_BASE_EXTD));
  wrmsr(X2APIC_SVR, 0x1FF); /* software enable, spurious vector 0xFF */

  uint32_t id = (uint32_t)rdmsr(X2APIC_ID);
  uint32_t ldr = (uint32_t)rdmsr(X2APIC_LDR);
  uint32_t want_ldr = ((id >> 4) << 16) | (1u << (id & 15));
  kprintf("x2apic: ID = %u, LDR = 0x%08x\n", id, ldr);
  check("x2APIC ID (MSR 0x802) = CPUID x2APIC id", id == cpuid_id);
  check("LDR (MSR 0x80D) = cluster << 16 | 1 << (id & 15)", ldr == want_ldr);
  check("version (MSR 0x803) >= 0x10", ((uint32_t)rdmsr(X2APIC_VERSION) & 0xFF) >= 0x10);

  count = 0; target = 1;
  wrmsr(X2APIC_SELF_IPI, VEC_IPI);
  wait_count(1000);
  check("self IPI through SELF IPI MSR (0x83F): 1 interrupt", count == 1);

  count = 0; target = 1;
  wrmsr(X2APIC_ICR, ICR_SELF | VEC_IPI); /* one 64-bit write: no delivery-status polling in x2APIC mode */
  wait_count(1000);
  check("self IPI through the ICR MSR (0x830): 1 interrupt", count == 1);

  count = 0; target = n; late = 0;
  wrmsr(X2APIC_TIMER_DCR, 0x3); /* divide by 16 */
  wrmsr(X2APIC_LVT_TIMER, LVT_PERIODIC | VEC_TIMER);
  wrmsr(X2APIC_TIMER_ICR, 200000);
  wait_count(3000);
  wrmsr(X2APIC_TIMER_ICR, 0);
  kprintf("x2apic: periodic timer through MSRs: got %u of %u\n", count, n);
  check("periodic timer count", count == n);

  /* x2APIC -> xAPIC directly is an invalid transition: #GP (SDM: the APIC must be disabled in between) */
  gp_seen = 0;
  if (setjmp(jb) == 0) wrmsr(MSR_APIC_BASE, (base2 & ~(uint64_t)APIC_BASE_EXTD) | APIC_BASE_EN);
  check("x2APIC -> xAPIC without disabling: #GP", gp_seen == 1 && (rdmsr(MSR_APIC_BASE) & APIC_BASE_EXTD));

  kprintf("x2apic: %s\n", failures ? "FAIL" : "all as expected");
  debug_exit(failures ? EXIT_FAILURE_CODE : EXIT_SUCCESS_CODE);
}
