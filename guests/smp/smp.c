/* smp: the BSP starts the APs with INIT-SIPI-SIPI through the xAPIC ICR. Each AP runs a real-mode trampoline,
 * enters protected mode, registers itself (lock cmpxchg on a shared mask, lock inc on a counter) and prints
 * "AP <apic id> online" under a spinlock, in APIC-id order so that the output is deterministic. The number of
 * CPUs to wait for comes from cpus=N on the cmdline, else from fw_cfg NB_CPUS. Then the BSP sends a fixed IPI to
 * each AP (which waits in HLT with interrupts on), and each AP's handler answers with a fixed IPI to the BSP
 * (vector 0x60 + its APIC id, so that simultaneous answers do not coalesce). */
#include "rt.h"
#include "trap.h"

#define LAPIC_BASE 0xFEE00000u
#define LAPIC_ID 0x020
#define LAPIC_SVR 0x0F0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_SVR_ENABLE (1u << 8)
#define ICR_DELIVERY_PENDING (1u << 12)
#define ICR_INIT 0x00000500u
#define ICR_STARTUP 0x00000600u
#define ICR_LEVEL_ASSERT 0x00004000u
#define ICR_ALL_EXCLUDING_SELF 0x000C0000u
#define TRAMP_BASE 0x8000u
#define MAX_CPUS 16
#define LAPIC_EOI 0x0B0
#define VEC_TO_AP 0x50
#define VEC_TO_BSP 0x60 /* + AP APIC id: IPIs of one vector arriving together would coalesce in the IRR */

/* PIT channel 2 gated through port 0x61 as a one-shot delay (works before any interrupt is set up). */
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PIT_HZ 1193182u
#define PORT_61 0x61

extern char tramp_start[], tramp_end[];
volatile uint32_t ap_stack_next;
static volatile uint32_t online_count;
static volatile uint32_t online_mask; /* bit n: the AP with APIC id n is up */
static volatile uint32_t print_turn = 0xFFFFFFFFu;
static volatile uint32_t printed;
static spinlock_t print_lock;
static volatile uint32_t bsp_id;
static volatile uint32_t ap_ipis, bsp_ipis, ap_ready;

static uint32_t lapic_read(uint32_t reg) { return mmio_read32(LAPIC_BASE + reg); }
static void lapic_write(uint32_t reg, uint32_t v) { mmio_write32(LAPIC_BASE + reg, v); }
static uint32_t apic_id(void) { return lapic_read(LAPIC_ID) >> 24; }

static void delay_us(uint32_t us) {
  uint32_t ticks = (uint32_t)((uint64_t)PIT_HZ * us / 1000000u);
  if (ticks < 2) ticks = 2;
  if (ticks > 0xFFFF) ticks = 0xFFFF;
  outb(PORT_61, (inb(PORT_61) & ~0x02u) | 0x01); /* gate ch2 on, speaker off */
  outb(PIT_CMD, 0xB0);                            /* ch2, lo/hi, mode 0 (terminal count) */
  outb(PIT_CH2, (uint8_t)ticks);
  outb(PIT_CH2, (uint8_t)(ticks >> 8));
  for (uint32_t spin = 0; spin < 1000000u && !(inb(PORT_61) & 0x20); spin++) pause(); /* OUT2 goes high at 0 */
}

static void send_ipi(uint32_t lo) {
  lapic_write(LAPIC_ICR_HI, 0);
  lapic_write(LAPIC_ICR_LO, lo);
  for (uint32_t spin = 0; spin < 1000000u && (lapic_read(LAPIC_ICR_LO) & ICR_DELIVERY_PENDING); spin++) pause();
}

/* Lowest APIC id above `after` among the registered APs (after = -1: the first one). */
static void send_ipi_to(uint32_t apic, uint32_t vector) {
  lapic_write(LAPIC_ICR_HI, apic << 24);
  lapic_write(LAPIC_ICR_LO, vector); /* fixed, physical destination, edge */
  for (uint32_t spin = 0; spin < 1000000u && (lapic_read(LAPIC_ICR_LO) & ICR_DELIVERY_PENDING); spin++) pause();
}

static uint32_t next_online_after(int after) {
  uint32_t mask = online_mask;
  for (uint32_t n = (uint32_t)(after + 1); n < 32; n++)
    if (mask & (1u << n)) return n;
  return 0xFFFFFFFEu; /* none: printing is finished */
}

static void on_ipi_to_ap(struct trap_frame *f) {
  (void)f;
  __asm__ volatile("lock incl %0" : "+m"(ap_ipis) : : "memory", "cc");
  lapic_write(LAPIC_EOI, 0);
  send_ipi_to(bsp_id, VEC_TO_BSP + (apic_id() & 15));
}
static void on_ipi_to_bsp(struct trap_frame *f) {
  (void)f;
  bsp_ipis++;
  lapic_write(LAPIC_EOI, 0);
}

void ap_main(void);
void ap_main(void) {
  uint32_t id = apic_id() & 31;
  for (;;) { /* online_mask |= 1 << id, with lock cmpxchg */
    uint32_t seen = online_mask, prev = seen;
    __asm__ volatile("lock cmpxchg %2, %1" : "+a"(prev), "+m"(online_mask) : "r"(seen | (1u << id)) : "memory", "cc");
    if (prev == seen) break;
  }
  __asm__ volatile("lock incl %0" : "+m"(online_count) : : "memory", "cc");
  while (print_turn != id) pause();
  spin_lock(&print_lock);
  kprintf("AP %u online\n", id);
  printed++;
  spin_unlock(&print_lock);
  print_turn = next_online_after((int)id);
  /* wait for IPIs: local APIC on, the shared IDT, HLT with interrupts enabled */
  lapic_write(LAPIC_SVR, lapic_read(LAPIC_SVR) | LAPIC_SVR_ENABLE | 0xFF);
  trap_load();
  __asm__ volatile("lock incl %0" : "+m"(ap_ready) : : "memory", "cc");
  for (;;) __asm__ volatile("sti; hlt" ::: "memory");
}

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  /* Read everything from the multiboot info before the trampoline is copied into low memory. */
  const char *cl = mb_cmdline(magic, info);
  uint32_t expected = cmdline_get_u32(cl, "cpus", 0);
  const char *source = "cmdline";
  if (!expected && fw_cfg_present()) {
    uint16_t n = 0;
    fw_cfg_read(FW_CFG_NB_CPUS, &n, 2);
    expected = n;
    source = "fw_cfg";
  }
  if (!expected) { expected = 1; source = "default"; }
  if (expected > MAX_CPUS) expected = MAX_CPUS;

  lapic_write(LAPIC_SVR, lapic_read(LAPIC_SVR) | LAPIC_SVR_ENABLE | 0xFF);
  uint32_t bsp = apic_id();
  bsp_id = bsp;
  outb(0x21, 0xFF); /* 8259s masked: a BIOS may leave the PIT on IRQ 0 at vector 8 */
  outb(0xA1, 0xFF);
  trap_init();
  trap_set_handler(VEC_TO_AP, on_ipi_to_ap);
  for (unsigned v = 0; v < MAX_CPUS; v++) trap_set_handler(VEC_TO_BSP + v, on_ipi_to_bsp);
  kprintf("smp: BSP is APIC id %u, expecting %u CPU(s) (%s)\n", bsp, expected, source);

  if (expected > 1) {
    memcpy((void *)(uintptr_t)TRAMP_BASE, tramp_start, (size_t)(tramp_end - tramp_start));
    send_ipi(ICR_ALL_EXCLUDING_SELF | ICR_LEVEL_ASSERT | ICR_INIT);
    delay_us(10000);
    for (int i = 0; i < 2; i++) {
      send_ipi(ICR_ALL_EXCLUDING_SELF | ICR_LEVEL_ASSERT | ICR_STARTUP | (TRAMP_BASE >> 12));
      delay_us(200);
    }
    /* wait up to ~2 s (PIT-timed) for the APs to register */
    for (uint32_t slice = 0; slice < 200 && online_count < expected - 1; slice++) {
      for (uint32_t spin = 0; spin < 2000 && online_count < expected - 1; spin++) pause();
      delay_us(10000);
    }
    /* let them print in APIC-id order */
    print_turn = next_online_after(-1);
    for (uint32_t slice = 0; slice < 200 && printed < online_count; slice++) {
      for (uint32_t spin = 0; spin < 2000 && printed < online_count; spin++) pause();
      if (printed < online_count) delay_us(10000);
    }
  }
  uint32_t total = online_count + 1;
  spin_lock(&print_lock);
  kprintf("smp: %u of %u CPUs online\n", total, expected);
  spin_unlock(&print_lock);
  int ok = total == expected && printed == online_count;
  if (online_count) {
    /* IPI ping-pong: BSP -> each AP (vector 0x50), each AP -> BSP (vector 0x60 + AP id) */
    for (uint32_t slice = 0; slice < 200 && ap_ready < online_count; slice++) {
      for (uint32_t spin = 0; spin < 2000 && ap_ready < online_count; spin++) pause();
      if (ap_ready < online_count) delay_us(10000);
    }
    sti();
    uint32_t sent = 0;
    for (int id = next_online_after(-1); id >= 0 && id < 32; id = (int)next_online_after(id)) {
      send_ipi_to((uint32_t)id, VEC_TO_AP);
      sent++;
    }
    for (uint32_t slice = 0; slice < 200 && (ap_ipis < sent || bsp_ipis < sent); slice++) {
      for (uint32_t spin = 0; spin < 2000 && (ap_ipis < sent || bsp_ipis < sent); spin++) pause();
      if (ap_ipis < sent || bsp_ipis < sent) delay_us(10000);
    }
    cli();
    kprintf("smp: fixed IPIs BSP -> APs %u/%u, APs -> BSP %u/%u\n", ap_ipis, sent, bsp_ipis, sent);
    ok &= ap_ipis == sent && bsp_ipis == sent;
  }
  debug_exit(ok ? EXIT_SUCCESS_CODE : EXIT_FAILURE_CODE);
}
