/* nmi (64-bit guest): NMI delivery and blocking through the local APIC (SDM 6.7.1, 10.6.1): an NMI IPI to the
 * vCPU's own APIC id (physical destination, delivery mode NMI) is delivered exactly once, at once, whatever IF
 * says; an NMI sent from inside the NMI handler is held until the handler's IRET and then delivered once (no
 * nesting); two NMIs sent while blocked collapse into one pending NMI. */
#include "rt.h"
#include "trap.h"

#define LAPIC 0xFEE00000u
#define LAPIC_ID 0x020
#define LAPIC_SVR 0x0F0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_DM_NMI (4u << 8)
#define ICR_ASSERT (1u << 14)

static int failures;
static void check(const char *what, int ok) {
  kprintf("nmi: %-64s %s\n", what, ok ? "ok" : "FAIL");
  failures += !ok;
}

static uint32_t my_id;
static void send_nmi_self(void) {
  mmio_write32(LAPIC + LAPIC_ICR_HI, my_id << 24);
  mmio_write32(LAPIC + LAPIC_ICR_LO, ICR_DM_NMI | ICR_ASSERT);
}

static volatile unsigned nmis, depth, max_depth, resend;
static void on_nmi(struct trap_frame *f) {
  (void)f;
  depth++;
  if (depth > max_depth) max_depth = depth;
  nmis++;
  while (resend) {
    resend--;
    send_nmi_self();
    /* still blocked: nothing may arrive before this handler's IRET */
    for (volatile int i = 0; i < 1000; i++) pause();
  }
  depth--;
}

void kmain(uint32_t magic, uint32_t info) {
  (void)magic; (void)info;
  serial_init();
  outb(0x21, 0xFF);
  outb(0xA1, 0xFF);
  trap_init();
  trap_set_handler(2, on_nmi);
  mmio_write32(LAPIC + LAPIC_SVR, 0x1FF);
  my_id = mmio_read32(LAPIC + LAPIC_ID) >> 24;
  kprintf("nmi: 64-bit guest\n");

  cli();
  nmis = 0;
  send_nmi_self();
  for (volatile int i = 0; i < 1000; i++) pause();
  check("NMI IPI to self with IF = 0: delivered exactly once", nmis == 1);

  nmis = 0;
  resend = 1;
  max_depth = 0;
  send_nmi_self();
  for (volatile int i = 0; i < 10000; i++) pause();
  check("an NMI sent inside the handler is held until IRET, then taken once", nmis == 2 && max_depth == 1);

  nmis = 0;
  resend = 2;
  max_depth = 0;
  send_nmi_self();
  for (volatile int i = 0; i < 10000; i++) pause();
  check("two NMIs sent while blocked collapse into one pending NMI", nmis == 2 && max_depth == 1);

  if (failures) {
    kprintf("nmi: %d FAILED\n", failures);
    debug_exit(EXIT_FAILURE_CODE);
  }
  kprintf("nmi: all as expected\n");
  debug_exit(EXIT_SUCCESS_CODE);
}
