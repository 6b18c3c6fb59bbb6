/* exceptions (32-bit) / exceptions64 (64-bit): raises #DE, #UD, #GP, #PF, #BP, #OF, #BR, a software interrupt
 * and a double fault, and prints for each the vector, error code, faulting IP (as an offset from the labelled
 * instruction) and CR2. Traps (#BP, #OF, INT n) and the first #UD return with IRET; the others resume through
 * longjmp. Every result is checked against the SDM's expectation; any mismatch prints FAIL and exits with code 1.
 * "no-int" on the cmdline skips INT3, INT n, INTO and BOUND: this host's KVM runs ring 0 in a software emulator
 * that implements software interrupts only in real mode (the guest would stop with an emulation failure); it also
 * skips the segment-load checks (#NP, #SS, RPL > DPL, MOV CS), which that emulator does not do as the SDM says
 * (it faults an RPL-3 load of a DPL-0 data segment at CPL 0 only if CPL > DPL as well).
 * Handlers return without IRET (see lib/trap-stubs.S) for the same reason. */
#include "rt.h"
#include "trap.h"
#include "gdt.h"
#ifndef __x86_64__
#include "user.h"
#endif

#define NO_ERR 0xFFFFFFFFu
#define FAULT_ADDR 0x40001234u      /* not mapped: 1 GiB and up */
#define RO_ADDR 0x3FF00010u         /* mapped read-only (top 2/4 MiB below 1 GiB) */
#define GP_SELECTOR 0x1238          /* beyond the GDT limit */
#define CR0_WP (1u << 16)

#ifdef __x86_64__
#define W "64"
#else
#define W "32"
#endif

static jmp_buf jb;
static volatile uint32_t t_vec, t_err, t_cs;
static volatile uintptr_t t_ip, t_cr2, t_sp;
static volatile int resume_ud;
static uint8_t ist_stack[4096] ALIGNED(16);
#ifdef __x86_64__
static uint8_t rsp0_stack[4096] ALIGNED(16);
#endif
static int failures;

static int has_error_code(uint32_t v) {
  return v == 8 || v == 10 || v == 11 || v == 12 || v == 13 || v == 14 || v == 17 || v == 21 || v == 29 || v == 30;
}

static void on_trap(struct trap_frame *f) {
  t_vec = (uint32_t)f->vector;
  t_err = has_error_code(t_vec) ? (uint32_t)f->error : NO_ERR;
  t_ip = f->ip;
  t_cs = (uint32_t)f->cs;
  uintptr_t sp;
  __asm__ volatile("mov %%" 
#ifdef __x86_64__
                   "rsp"
#else
                   "esp"
#endif
                   ", %0" : "=r"(sp));
  t_sp = sp;
  if (t_vec == 14) t_cr2 = READ_CR(2);
  if (t_vec == 3 || t_vec == 4 || t_vec == 0x40) return; /* traps: IRET continues after the instruction */
  if (t_vec == 6 && resume_ud) { f->ip += 2; return; }   /* skip the 2-byte UD2 and IRET */
  if (t_vec == 8) idt_reset_vector(13);                  /* undo the not-present #GP gate of the #DF test */
  longjmp(jb, 1);
}

/* ---- triggers: each labels the instruction that faults ---- */
#define NOINLINE __attribute__((noinline, noclone))
extern char site_de[], site_de_ovf[], site_ud[], site_ud_lock[], site_gp_sel[], site_pf_read[], site_pf_write[],
    site_pf_ro[], site_bp[], site_int[], site_df[], site_into[];
static NOINLINE void t_de(void) { __asm__ volatile("xor %%ecx, %%ecx\n site_de: div %%ecx" : : "a"(1), "d"(0) : "ecx", "cc"); }
static NOINLINE void t_de_ovf(void) { __asm__ volatile("site_de_ovf: idiv %%ecx" : : "a"(0x80000000u), "d"(0xFFFFFFFFu), "c"(-1) : "cc"); }
static NOINLINE void t_ud(void) { __asm__ volatile("site_ud: ud2"); }
static NOINLINE void t_ud_lock(void) { __asm__ volatile("site_ud_lock: lock; nop"); }
static NOINLINE void t_gp_sel(void) { __asm__ volatile("site_gp_sel: mov %0, %%ds" : : "r"(GP_SELECTOR)); }
static NOINLINE void t_pf_read(void) { uint32_t v; __asm__ volatile("site_pf_read: mov (%1), %0" : "=r"(v) : "r"((uintptr_t)FAULT_ADDR) : "memory"); }
static NOINLINE void t_pf_write(void) { __asm__ volatile("site_pf_write: movl $1, (%0)" : : "r"((uintptr_t)FAULT_ADDR + 8) : "memory"); }
static NOINLINE void t_pf_ro(void) { __asm__ volatile("site_pf_ro: movl $1, (%0)" : : "r"((uintptr_t)RO_ADDR) : "memory"); }
static NOINLINE void t_bp(void) { __asm__ volatile("site_bp: int3"); }
static NOINLINE void t_int(void) { __asm__ volatile("site_int: int $0x40"); }
/* Segment-load checks. NP_SEL is a not-present writable data descriptor installed at run time. */
#ifdef __x86_64__
#define NP_SEL SEL_DATA16 /* unused by this guest */
#else
#define NP_SEL 0x48       /* the runtime GDT's spare entry */
#endif
extern char site_np[], site_ss_np[], site_rpl[], site_ss_rpl[], site_mov_cs[];
static NOINLINE void t_np(void) { __asm__ volatile("site_np: mov %0, %%ds" : : "r"(NP_SEL)); }
static NOINLINE void t_ss_np(void) { __asm__ volatile("site_ss_np: mov %0, %%ss" : : "r"(NP_SEL)); }
static NOINLINE void t_rpl(void) { __asm__ volatile("site_rpl: mov %0, %%ds" : : "r"(SEL_KDATA | 3)); }
static NOINLINE void t_ss_rpl(void) { __asm__ volatile("site_ss_rpl: mov %0, %%ss" : : "r"(SEL_KDATA | 3)); }
static NOINLINE void t_mov_cs(void) { __asm__ volatile("site_mov_cs: .byte 0x8e, 0xc8"); } /* mov %ax, %cs: #UD */
static void install_np_descriptor(void) {
  extern uint64_t gdt[];
  gdt[NP_SEL / 8] = 0x00CF12000000FFFFull; /* like the flat data segment, P = 0 */
}
static NOINLINE void t_df(void) { __asm__ volatile("site_df: mov %0, %%ds" : : "r"(GP_SELECTOR + 8)); }
#ifdef __x86_64__
extern char site_gp_noncanon[];
static NOINLINE void t_gp_noncanon(void) { uint64_t v; __asm__ volatile("site_gp_noncanon: mov (%1), %0" : "=r"(v) : "r"(0x8000000000000000ull) : "memory"); }
/* INTO (0xCE) is invalid in 64-bit mode: #UD */
static NOINLINE void t_into(void) { __asm__ volatile("site_into: .byte 0xce"); }
#else
extern char site_of[], site_br[], site_gp_user[];
static NOINLINE void t_of(void) { __asm__ volatile("mov $0x7fffffff, %%eax\n add $1, %%eax\n site_of: into" : : : "eax", "cc"); }
static int32_t bounds[2] = {10, 20};
static NOINLINE void t_br(void) { __asm__ volatile("site_br: bound %0, %1" : : "r"(25), "m"(bounds)); }
static NOINLINE void t_into(void) { __asm__ volatile("xor %%eax, %%eax\n site_into: into" : : : "eax", "cc"); } /* OF=0: no trap */
static uintptr_t user_hlt(uintptr_t a) { __asm__ volatile(".globl site_gp_user\n site_gp_user: hlt"); return a; }
static NOINLINE void t_gp_user(void) { run_user(user_hlt, 0); }
#endif

struct test { const char *name; void (*fn)(void); const char *site; uint32_t vec, err; int ip_off; int resume_ud; };

static void run(const struct test *t) {
  t_vec = 0xFFFFFFFFu;
  t_err = NO_ERR;
  t_ip = 0;
  t_cr2 = 0;
  resume_ud = t->resume_ud;
  if (setjmp(jb) == 0) {
    t->fn();
    __asm__ volatile("" ::: "memory");
  }
#ifndef __x86_64__
  __asm__ volatile("mov %0, %%ds\n mov %0, %%es" ::"r"((uint32_t)SEL_KDATA)); /* after a ring-3 fault */
#endif
  if (t->vec == NO_ERR) { /* expects no exception */
    int ok = t_vec == 0xFFFFFFFFu;
    kprintf("[" W "] %-10s no exception%s\n", t->name, ok ? "" : "  FAIL");
    failures += !ok;
    return;
  }
  long off = (long)(t_ip - (uintptr_t)t->site);
  kprintf("[" W "] %-10s %-3s vector=%2u error=", t->name, exception_name(t_vec), t_vec);
  if (t_err == NO_ERR) kprintf("none  "); else kprintf("0x%04x", t_err);
  if (t_vec == 8) kprintf(" ip=(undefined)"); else kprintf(" ip=site%c%ld", off < 0 ? '-' : '+', off < 0 ? -off : off);
  if (t_vec == 14) kprintf(" cr2=0x%08lx", (unsigned long)t_cr2);
  if (t_vec == 13 && (t_cs & 3) == 3) kprintf(" cs=0x%x", t_cs);
  int ok = t_vec == t->vec && t_err == t->err && (t_vec == 8 || off == t->ip_off);
  if (t_vec == 14) ok &= t_cr2 == (t->fn == t_pf_ro ? RO_ADDR : t->fn == t_pf_write ? FAULT_ADDR + 8 : FAULT_ADDR);
#ifdef __x86_64__
  if (t_vec == 8) {
    int on_ist = t_sp > (uintptr_t)ist_stack && t_sp <= (uintptr_t)ist_stack + sizeof ist_stack;
    kprintf(" stack=%s", on_ist ? "IST1" : "not-IST1");
    ok &= on_ist;
  }
#endif
  kprintf("%s\n", ok ? "" : "  FAIL");
  failures += !ok;
}

/* ---- page tables: identity map of the first 1 GiB; the last large page below 1 GiB read-only ---- */
#ifdef __x86_64__
extern uint64_t boot_pd[];
static void setup_paging(void) {
  boot_pd[511] &= ~2ull;                           /* 0x3FE00000..0x3FFFFFFF read-only */
  boot_pd[512] = 0;                                /* 0x40000000..0x401FFFFF not present */
  WRITE_CR(3, READ_CR(3));                         /* flush */
  WRITE_CR(0, READ_CR(0) | CR0_WP);
}
#else
/* PAE (this host's KVM refuses 32-bit non-PAE paging): PDPT[0] -> 512 x 2 MiB pages, PDPT[1..3] not present. */
static uint64_t pdpt[4] ALIGNED(32);
static uint64_t pd0[512] ALIGNED(4096);
static void setup_paging(void) {
  for (uint32_t i = 0; i < 512; i++) pd0[i] = ((uint64_t)i << 21) | 0x87; /* P | W | U | PS */
  pd0[511] &= ~2ull;                                                      /* 0x3FE00000..0x3FFFFFFF read-only */
  pdpt[0] = (uintptr_t)pd0 | 1;
  WRITE_CR(4, READ_CR(4) | (1u << 5));                                    /* CR4.PAE */
  WRITE_CR(3, (uintptr_t)pdpt);
  WRITE_CR(0, READ_CR(0) | 0x80000000u | CR0_WP);                         /* PG | WP */
}
#endif

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  const char *cl = mb_cmdline(magic, info);
  int no_int = cmdline_has_word(cl, "no-int");
  int no_paging = cmdline_has_word(cl, "no-paging"); /* 32-bit: this host's KVM refuses paging outside long mode */
  trap_init();
  for (unsigned v = 0; v < 32; v++) trap_set_handler(v, on_trap);
  trap_set_handler(0x40, on_trap);
#ifdef __x86_64__
  no_paging = 0;
#endif
  if (!no_paging) setup_paging();
#ifdef __x86_64__
  tss_init((uintptr_t)rsp0_stack + sizeof rsp0_stack, (uintptr_t)ist_stack + sizeof ist_stack);
  idt_set(8, trap_stubs[8], SEL_KCODE64, IDT_INTERRUPT_GATE, 0, 1, 1); /* #DF on IST1 */
  kprintf("exceptions: 64-bit long mode%s\n", no_int ? " (INT3/INT n skipped)" : "");
#else
  (void)ist_stack;
  kprintf("exceptions: 32-bit protected mode, %s%s\n", no_paging ? "paging off (#PF skipped)" : "PAE paging",
          no_int ? " (INTO/BOUND/INT3/INT n skipped)" : "");
#endif
  const struct test tests[] = {
    {"div0", t_de, site_de, 0, NO_ERR, 0, 0},
    {"idiv-ovf", t_de_ovf, site_de_ovf, 0, NO_ERR, 0, 0},
    {"ud2", t_ud, site_ud, 6, NO_ERR, 0, 1},
    {"lock-nop", t_ud_lock, site_ud_lock, 6, NO_ERR, 0, 0},
    {"bad-sel", t_gp_sel, site_gp_sel, 13, GP_SELECTOR, 0, 0},
#ifdef __x86_64__
    {"noncanon", t_gp_noncanon, site_gp_noncanon, 13, 0, 0, 0},
#else
    {"user-hlt", t_gp_user, site_gp_user, 13, 0, 0, 0},
#endif
    {"pf-read", t_pf_read, site_pf_read, 14, 0x0, 0, 0},
    {"pf-write", t_pf_write, site_pf_write, 14, 0x2, 0, 0},
    {"pf-ro", t_pf_ro, site_pf_ro, 14, 0x3, 0, 0},
#ifdef __x86_64__
    {"into", t_into, site_into, 6, NO_ERR, 0, 0},
#endif
  };
  for (unsigned i = 0; i < sizeof tests / sizeof tests[0]; i++)
    if (!(no_paging && tests[i].vec == 14)) run(&tests[i]);
  if (!no_int) { /* software interrupts, BOUND and segment checks this host's KVM does not emulate faithfully */
    install_np_descriptor();
    const struct test soft[] = {
      {"np-ds", t_np, site_np, 11, NP_SEL, 0, 0},
      {"np-ss", t_ss_np, site_ss_np, 12, NP_SEL, 0, 0},
      {"rpl-ds", t_rpl, site_rpl, 13, SEL_KDATA, 0, 0},
      {"rpl-ss", t_ss_rpl, site_ss_rpl, 13, SEL_KDATA, 0, 0},
      {"mov-cs", t_mov_cs, site_mov_cs, 6, NO_ERR, 0, 0},
#ifndef __x86_64__
      {"into-of1", t_of, site_of, 4, NO_ERR, 1, 0},
      {"into-of0", t_into, site_into, NO_ERR, NO_ERR, 0, 0},
      {"bound", t_br, site_br, 5, NO_ERR, 0, 0},
#endif
      {"int3", t_bp, site_bp, 3, NO_ERR, 1, 0},
      {"int-0x40", t_int, site_int, 0x40, NO_ERR, 2, 0},
    };
    for (unsigned i = 0; i < sizeof soft / sizeof soft[0]; i++) run(&soft[i]);
  }
  /* Double fault: #GP's gate is made not present, so delivering #GP raises #NP (both contributory) -> #DF. */
#ifdef __x86_64__
  idt_set(13, trap_stubs[13], SEL_KCODE64, IDT_INTERRUPT_GATE, 0, 0, 0);
#else
  idt_set(13, trap_stubs[13], SEL_KCODE32, IDT_INTERRUPT_GATE, 0, 0, 0);
#endif
  const struct test df = {"double", t_df, site_df, 8, 0, 0, 0};
  run(&df);
  kprintf("exceptions: %s\n", failures ? "FAIL" : "all as expected");
  debug_exit(failures ? EXIT_FAILURE_CODE : EXIT_SUCCESS_CODE);
}
