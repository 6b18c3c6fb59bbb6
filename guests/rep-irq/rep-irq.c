/* rep-irq (64-bit guest): interruptions in the middle of REP string instructions.
 * Part 1, faults: REP MOVSB / REP STOSQ / REP MOVSQ whose source or destination runs into a not-present 4 KiB page.
 * The #PF must arrive with RIP at the REP instruction, CR2 at the first byte of the missing page, and RCX, RSI, RDI
 * describing exactly the work left; the handler maps the page and returns, the REP resumes and the result must be
 * exact. Everything printed is fixed by the SDM, so the output is deterministic.
 * Part 2, interrupts: the same instructions on 64 KiB buffers under a fast periodic LAPIC timer; interrupts taken
 * inside a REP must show a consistent partial state and the results must be exact (counts are not printed: when
 * interrupts arrive is up to the platform). Self-checking. */
#include "rt.h"
#include "trap.h"

#define LAPIC 0xFEE00000u
#define LAPIC_EOI 0x0B0
#define LAPIC_SVR 0x0F0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_ICR 0x380
#define LAPIC_TIMER_DCR 0x3E0
#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define VEC_TIMER 0x40
#define PAGE 4096u
#define VA_WIN 0x40000000ull   /* 2 MiB window mapped with 4 KiB pages (PD entry 512 of the runtime tables) */
#define WIN_PAGES 8
#define BUF (64u << 10)
#define ATTEMPTS 8

extern uint64_t boot_pd[];
static uint64_t win_pt[512] ALIGNED(4096);
static uint8_t win_frames[WIN_PAGES][PAGE] ALIGNED(4096);
static uint8_t src[BUF] ALIGNED(4096), dst[BUF] ALIGNED(4096);
extern char site_movsb[], site_stosq[], site_movsq[], site_t_movsb[], site_t_movsq[], site_t_stosq[];

static int failures;
static void check(const char *what, int ok) {
  kprintf("rep-irq: %-56s %s\n", what, ok ? "ok" : "FAIL");
  failures += !ok;
}

/* ---- part 1: page faults inside REP ---- */
static volatile uint64_t pf_rip, pf_rcx, pf_rsi, pf_rdi, pf_cr2, pf_err;
static volatile uint32_t pf_count;
static void on_pf(struct trap_frame *f) {
  pf_count++;
  pf_rip = f->ip; pf_rcx = f->rcx; pf_rsi = f->rsi; pf_rdi = f->rdi; pf_err = f->error;
  pf_cr2 = READ_CR(2);
  uint64_t page = (pf_cr2 - VA_WIN) / PAGE;
  if (pf_cr2 < VA_WIN || page >= WIN_PAGES || pf_count > 4) { kprintf("rep-irq: FAIL: stray #PF at 0x%llx\n", (unsigned long long)pf_cr2); debug_exit(EXIT_FAILURE_CODE); }
  win_pt[page] |= 1; /* present: the REP resumes when the handler returns */
  invlpg((uintptr_t)pf_cr2);
}

static void window_reset(int missing_page) {
  for (unsigned i = 0; i < WIN_PAGES; i++) {
    win_pt[i] = (uintptr_t)win_frames[i] | 0x3; /* P | W */
    invlpg(VA_WIN + i * PAGE);
  }
  if (missing_page >= 0) { win_pt[missing_page] &= ~1ull; invlpg(VA_WIN + (unsigned)missing_page * PAGE); }
  pf_count = 0;
}

static void report(const char *name, const char *site, uint64_t count, uint64_t unit, uint64_t src_base, uint64_t dst_base,
                   uint64_t fault_addr, uint64_t done_units, uint32_t err) {
  int ok = pf_count == 1 && pf_rip == (uintptr_t)site && pf_cr2 == fault_addr && pf_err == err &&
           pf_rcx == count - done_units && pf_rdi == dst_base + done_units * unit &&
           (src_base == 0 || pf_rsi == src_base + done_units * unit);
  kprintf("rep-irq: %s: #PF error=0x%llx at window+0x%llx, RCX=%llu of %llu, RDI=+0x%llx%s\n", name,
          (unsigned long long)pf_err, (unsigned long long)(pf_cr2 - VA_WIN), (unsigned long long)pf_rcx,
          (unsigned long long)count, (unsigned long long)(pf_rdi - dst_base), ok ? "" : "  FAIL");
  failures += !ok;
}

static void part_faults(void) {
  boot_pd[512] = (uintptr_t)win_pt | 0x7; /* P | W | U: the window now uses win_pt */
  WRITE_CR(3, READ_CR(3));

  /* REP MOVSB into the window: destination page 2 missing -> write fault after 2 pages */
  for (unsigned i = 0; i < 4 * PAGE; i++) src[i] = (uint8_t)(i * 7 + 3);
  window_reset(2);
  {
    void *d = (void *)(uintptr_t)VA_WIN; const void *s = src; uint64_t n = 4 * PAGE;
    __asm__ volatile("site_movsb: rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  }
  report("rep movsb, destination page 2 missing", site_movsb, 4 * PAGE, 1, (uintptr_t)src, VA_WIN, VA_WIN + 2 * PAGE, 2 * PAGE, 0x2);
  check("rep movsb resumed and copied everything", !memcmp((void *)(uintptr_t)VA_WIN, src, 4 * PAGE));

  /* REP STOSQ starting 16 bytes before page 1, page 1 missing: fault after 2 quadwords */
  window_reset(1);
  {
    void *d = (void *)(uintptr_t)(VA_WIN + PAGE - 16); uint64_t n = 512;
    __asm__ volatile("site_stosq: rep stosq" : "+D"(d), "+c"(n) : "a"(0x0123456789ABCDEFull) : "memory");
  }
  report("rep stosq, page 1 missing", site_stosq, 512, 8, 0, VA_WIN + PAGE - 16, VA_WIN + PAGE, 2, 0x2);
  int all = 1;
  for (unsigned i = 0; i < 512; i++)
    if (((uint64_t *)(uintptr_t)(VA_WIN + PAGE - 16))[i] != 0x0123456789ABCDEFull) all = 0;
  check("rep stosq resumed and stored everything", all);

  /* REP MOVSQ out of the window: source page 3 missing -> read fault */
  for (unsigned i = 0; i < WIN_PAGES * PAGE / 8; i++) ((uint64_t *)win_frames)[i] = 0xFEED000000000000ull + i;
  window_reset(3);
  {
    void *d = dst; const void *s = (const void *)(uintptr_t)(VA_WIN + PAGE); uint64_t n = 3 * PAGE / 8;
    __asm__ volatile("site_movsq: rep movsq" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  }
  /* source-side fault: RSI is the base that reaches the missing page */
  int ok = pf_count == 1 && pf_rip == (uintptr_t)site_movsq && pf_cr2 == VA_WIN + 3 * PAGE && pf_err == 0 &&
           pf_rcx == 3 * PAGE / 8 - 2 * PAGE / 8 && pf_rsi == VA_WIN + 3 * PAGE && pf_rdi == (uintptr_t)dst + 2 * PAGE;
  kprintf("rep-irq: rep movsq, source page 3 missing: #PF error=0x%llx at window+0x%llx, RCX=%llu of %u, RSI=window+0x%llx%s\n",
          (unsigned long long)pf_err, (unsigned long long)(pf_cr2 - VA_WIN), (unsigned long long)pf_rcx, 3 * PAGE / 8,
          (unsigned long long)(pf_rsi - VA_WIN), ok ? "" : "  FAIL");
  failures += !ok;
  check("rep movsq resumed and copied everything", !memcmp(dst, (void *)(uintptr_t)(VA_WIN + PAGE), 3 * PAGE));
}

/* ---- part 2: timer interrupts inside REP ---- */
static volatile uintptr_t rep_site, rep_src, rep_dst;
static volatile uint64_t rep_count, rep_unit;
static volatile uint32_t ticks, inside, bad_state;
static void on_timer(struct trap_frame *f) {
  ticks++;
  if (rep_site && f->ip == rep_site) {
    /* An interrupt may arrive before the first iteration (RCX = the full count); this host's KVM may also report
     * one at the REP with RCX = 0 after the last iteration (hardware would have moved on; harmless). */
    uint64_t done = rep_count - f->rcx;
    int consistent = f->rcx <= rep_count && f->rdi == rep_dst + done * rep_unit &&
                     (rep_src == 0 || f->rsi == rep_src + done * rep_unit);
    if (!consistent) bad_state++;
    else if (done && f->rcx) inside++;
  }
  mmio_write32(LAPIC + LAPIC_EOI, 0);
}

static int debug; /* "debug" on the cmdline: print how many interrupts landed inside each REP (not deterministic) */

static void part_interrupts(void) {
  for (unsigned i = 0; i < BUF / 8; i++) ((uint64_t *)src)[i] = 0x9E3779B97F4A7C15ull * (i + 1);
  mmio_write32(LAPIC + LAPIC_SVR, 0x1FF);
  mmio_write32(LAPIC + LAPIC_TIMER_DCR, 0xB); /* divide by 1 */
  mmio_write32(LAPIC + LAPIC_LVT_TIMER, LVT_PERIODIC | VEC_TIMER);
  mmio_write32(LAPIC + LAPIC_TIMER_ICR, 5000);
  static const char *const names[3] = {"rep movsb", "rep movsq", "rep stosq"};
  const char *sites[3] = {site_t_movsb, site_t_movsq, site_t_stosq};
  for (int kind = 0; kind < 3; kind++) {
    int exact = 1;
    bad_state = 0;
    for (uint32_t a = 0; a < ATTEMPTS && exact; a++) {
      rep_dst = (uintptr_t)dst; rep_src = kind == 2 ? 0 : (uintptr_t)src;
      rep_unit = kind == 0 ? 1 : 8; rep_count = BUF / rep_unit;
      rep_site = (uintptr_t)sites[kind];
      void *d = dst; const void *s = src; uint64_t n = rep_count;
      sti();
      if (kind == 0) __asm__ volatile("site_t_movsb: rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
      if (kind == 1) __asm__ volatile("site_t_movsq: rep movsq" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
      if (kind == 2) __asm__ volatile("site_t_stosq: rep stosq" : "+D"(d), "+c"(n) : "a"(0x5A5A000000000000ull + a) : "memory");
      cli();
      rep_site = 0;
      if (kind == 2) {
        for (unsigned i = 0; i < BUF / 8; i++)
          if (((uint64_t *)dst)[i] != 0x5A5A000000000000ull + a) { exact = 0; break; }
      } else if (memcmp(dst, src, BUF)) {
        exact = 0;
      }
      if (bad_state) exact = 0;
      memset(dst, 0, 64);
    }
    if (debug) kprintf("rep-irq: debug: %s: %u timer interrupts taken inside the REP\n", names[kind], inside);
    inside = 0;
    char what[80];
    ksnprintf(what, sizeof what, "%s under timer interrupts: state consistent, results exact", names[kind]);
    check(what, exact);
  }
  mmio_write32(LAPIC + LAPIC_LVT_TIMER, LVT_MASKED);
  check("timer interrupts were taken", ticks > 0);
}

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  debug = cmdline_has_word(mb_cmdline(magic, info), "debug");
  outb(0x21, 0xFF);
  outb(0xA1, 0xFF);
  trap_init();
  trap_set_handler(14, on_pf);
  trap_set_handler(VEC_TIMER, on_timer);
  kprintf("rep-irq: page faults and timer interrupts inside REP string instructions (64-bit)\n");
  part_faults();
  part_interrupts();
  kprintf("rep-irq: %s\n", failures ? "FAIL" : "all as expected");
  debug_exit(failures ? EXIT_FAILURE_CODE : EXIT_SUCCESS_CODE);
}
