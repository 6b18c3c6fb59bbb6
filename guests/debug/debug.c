/* debug (64-bit guest): the debug architecture a kernel debugger relies on, each case a fixed ok/FAIL line
 * checked against the SDM (chapter 18, "Debug, Branch Profile, TSC ..."):
 * TF single-step traps (DR6.BS, one per instruction, the POPF that clears TF included), the MOV SS shadow holding
 * the trap back one instruction, ICEBP (F1) as a #DB trap, DR0 instruction breakpoints (fault, RIP at the
 * instruction, RF in the frame lets it run once), DR1 data write and read/write breakpoints (traps after the
 * access), DR2 I/O breakpoints with CR4.DE, DR7.GD (#DB fault with BD on MOV DR, GD cleared on entry), RFLAGS.RF
 * set in the frames of faults (#UD) and not of traps (#BP), and CR4 bits of absent features (SMEP, LA57) refused. */
#include "rt.h"
#include "trap.h"

#define RF (1u << 16)
#define TF (1u << 8)
#define DR6_MASK 0xe00fu /* B0-B3, BD, BS, BT */

static int failures;
static void check(const char *what, int ok) {
  kprintf("debug: %-62s %s\n", what, ok ? "ok" : "FAIL");
  failures += !ok;
}

#define READ_DR(n) ({ uint64_t _v; __asm__ volatile("mov %%dr" #n ", %0" : "=r"(_v)); _v; })
#define WRITE_DR(n, v) __asm__ volatile("mov %0, %%dr" #n ::"r"((uint64_t)(v)) : "memory")

/* What the #DB handler saw, in order. */
#define MAX_EVENTS 16
static volatile unsigned n_db;
static volatile uint64_t db_ip[MAX_EVENTS], db_dr6[MAX_EVENTS], db_dr7[MAX_EVENTS];
/* The #DB handler sets RF in the frame (to restart past an instruction breakpoint) when asked. */
static volatile int db_set_rf;
/* Where to resume after a fault-class #DB of MOV DR (GD), 0 = return to the faulting IP. */
static volatile uint64_t db_resume;

static void on_db(struct trap_frame *f) {
  unsigned i = n_db;
  if (i < MAX_EVENTS) {
    db_ip[i] = f->ip;
    db_dr6[i] = READ_DR(6) & DR6_MASK;
    db_dr7[i] = READ_DR(7);
  }
  n_db = i + 1;
  WRITE_DR(6, 0);
  if (db_set_rf) f->flags |= RF;
  if (db_resume) {
    f->ip = db_resume;
    db_resume = 0;
  }
}

static volatile uint64_t fault_flags;
static volatile uint64_t fault_vec;
static void on_fault_skip2(struct trap_frame *f) { /* #UD of UD2: note the frame, skip the 2 bytes */
  fault_flags = f->flags;
  fault_vec = f->vector;
  f->ip += 2;
}
static void on_bp(struct trap_frame *f) { fault_flags = f->flags; fault_vec = f->vector; }
static volatile uint64_t gp_ip;
static volatile uint64_t gp_skip;
static void on_gp(struct trap_frame *f) { gp_ip = f->ip; f->ip += gp_skip; }

static void reset_db(void) {
  n_db = 0;
  db_set_rf = 0;
  db_resume = 0;
  for (unsigned i = 0; i < MAX_EVENTS; i++) db_ip[i] = db_dr6[i] = db_dr7[i] = 0;
  WRITE_DR(7, 0);
  WRITE_DR(6, 0);
}

/* Labels of the instruction sequences below (global symbols from the asm). */
extern char ss_a[], ss_b[], ss_c[], ss_d[], ss_e[], ss_end[];
extern char ms_a[], ms_b[], ms_c[];
extern char ice_after[];
extern char bp_fn[];
extern char dw_write_after[], dw_read_after[];
extern char io_after[];
extern char gd_insn[], gd_after[];
extern char ud_insn[];
static volatile uint32_t watched ALIGNED(8);

__asm__(".text\n"
        ".globl bp_fn\nbp_fn:\n nop\n ret\n");

void kmain(uint32_t magic, uint32_t info) {
  serial_init();
  const char *cl = mb_cmdline(magic, info);
  trap_init();
  trap_set_handler(1, on_db);
  kprintf("debug: 64-bit guest\n");

  /* 1. TF: a trap after each instruction that starts with TF set, the POPF that clears TF included; the POPF that
   * sets it does not trap (TF was clear when it started). */
  reset_db();
  __asm__ volatile("pushfq\n orq $0x100, (%%rsp)\n popfq\n"
                   ".globl ss_a\nss_a: nop\n"
                   ".globl ss_b\nss_b: nop\n"
                   ".globl ss_c\nss_c: pushfq\n"
                   ".globl ss_d\nss_d: andq $~0x100, (%%rsp)\n"
                   ".globl ss_e\nss_e: popfq\n"
                   ".globl ss_end\nss_end:\n" ::: "memory", "cc");
  check("TF: five #DB traps after NOP, NOP, PUSHF, AND, POPF (clearing TF)", n_db == 5);
  check("TF: trap IPs are the next instructions", db_ip[0] == (uint64_t)ss_b && db_ip[1] == (uint64_t)ss_c && db_ip[2] == (uint64_t)ss_d &&
                                                      db_ip[3] == (uint64_t)ss_e && db_ip[4] == (uint64_t)ss_end);
  check("TF: DR6.BS set (and no B0-B3) in each", db_dr6[0] == 0x4000 && db_dr6[4] == 0x4000);

  /* 2. MOV SS holds the single-step trap back to the end of the next instruction. */
  reset_db();
  __asm__ volatile("mov %%ss, %%eax\n pushfq\n orq $0x100, (%%rsp)\n popfq\n"
                   ".globl ms_a\nms_a: mov %%eax, %%ss\n"
                   ".globl ms_b\nms_b: nop\n"
                   ".globl ms_c\nms_c: pushfq\n andq $~0x100, (%%rsp)\n popfq\n" ::: "rax", "memory", "cc");
  check("MOV SS shadow: the first trap comes after the next instruction", n_db >= 1 && db_ip[0] == (uint64_t)ms_c);

  /* 3. ICEBP (F1): a #DB trap, IP after it (both vendors; QEMU 7.2 TCG raises #UD, hence `no-icebp`). */
  if (!cmdline_has_word(cl, "no-icebp")) {
    reset_db();
    __asm__ volatile(".byte 0xf1\n.globl ice_after\nice_after:\n" ::: "memory");
    check("ICEBP: one #DB, IP after the F1 byte", n_db == 1 && db_ip[0] == (uint64_t)ice_after);
  }

  /* 4. DR0 instruction breakpoint: a fault before the instruction; RF in the frame lets it run. */
  reset_db();
  db_set_rf = 1;
  WRITE_DR(0, (uint64_t)bp_fn);
  WRITE_DR(7, 0x1); /* L0, R/W0 = 00 (execute), LEN0 = 00 */
  __asm__ volatile("call bp_fn" ::: "memory");
  __asm__ volatile("call bp_fn" ::: "memory");
  WRITE_DR(7, 0);
  check("DR0 execute: one #DB per call, IP at the breakpoint", n_db == 2 && db_ip[0] == (uint64_t)bp_fn && db_ip[1] == (uint64_t)bp_fn);
  check("DR0 execute: DR6.B0", db_dr6[0] == 0x1);

  /* 5. DR1 data breakpoints: write-only (01) ignores reads; read/write (11) traps on both; after the access. */
  reset_db();
  WRITE_DR(1, (uint64_t)&watched);
  WRITE_DR(7, (1u << 2) | (1u << 20) | (3u << 22)); /* L1, R/W1 = 01, LEN1 = 11 (4 bytes) */
  uint32_t v;
  __asm__ volatile("movl %1, %0\n" : "=r"(v) : "m"(watched));
  unsigned after_read = n_db;
  __asm__ volatile("movl $5, %0\n.globl dw_write_after\ndw_write_after:\n" : "=m"(watched));
  check("DR1 write: a read does not trap", after_read == 0);
  check("DR1 write: the write traps once, IP after it, DR6.B1", n_db == 1 && db_ip[0] == (uint64_t)dw_write_after && db_dr6[0] == 0x2);
  reset_db();
  WRITE_DR(1, (uint64_t)&watched + 2); /* inside the 4 bytes: aligned down by the length */
  WRITE_DR(7, (1u << 2) | (3u << 20) | (3u << 22)); /* R/W1 = 11 */
  __asm__ volatile("movl %1, %0\n.globl dw_read_after\ndw_read_after:\n" : "=r"(v) : "m"(watched));
  WRITE_DR(7, 0);
  check("DR1 read/write: a read traps, IP after it", n_db == 1 && db_ip[0] == (uint64_t)dw_read_after && db_dr6[0] == 0x2);

  /* 6. DR2 I/O breakpoint (CR4.DE): OUT to port 0x80 traps after it. */
  uint32_t r[4];
  cpuid(1, 0, r);
  if (r[3] & (1u << 2)) {
    reset_db();
    WRITE_CR(4, READ_CR(4) | (1u << 3));
    WRITE_DR(2, 0x80);
    WRITE_DR(7, (1u << 4) | (2u << 24)); /* L2, R/W2 = 10 (I/O), LEN2 = 00 */
    __asm__ volatile("outb %%al, $0x80\n.globl io_after\nio_after:\n" ::"a"(0) : "memory");
    __asm__ volatile("outb %%al, $0x81\n" ::"a"(0) : "memory");
    WRITE_DR(7, 0);
    WRITE_CR(4, READ_CR(4) & ~(1u << 3));
    check("DR2 I/O (CR4.DE): OUT 0x80 traps once, IP after it, DR6.B2", n_db == 1 && db_ip[0] == (uint64_t)io_after && db_dr6[0] == 0x4);
  } else {
    check("DR2 I/O: CPUID.01H:EDX.DE absent, not tested", 1);
  }

  /* 7. DR7.GD: MOV DR faults with #DB (BD), IP at the MOV; GD is clear in the handler. (QEMU 7.2 TCG ignores GD.) */
  if (!cmdline_has_word(cl, "no-gd")) {
  reset_db();
  db_resume = (uint64_t)gd_after;
  WRITE_DR(7, 1u << 13);
  __asm__ volatile(".globl gd_insn\ngd_insn: mov %%dr0, %%rax\n.globl gd_after\ngd_after:\n" ::: "rax", "memory");
  check("DR7.GD: MOV DR is a #DB fault at the MOV with DR6.BD", n_db == 1 && db_ip[0] == (uint64_t)gd_insn && db_dr6[0] == 0x2000);
  check("DR7.GD: cleared on entry to the handler", (db_dr7[0] & (1u << 13)) == 0 && (READ_DR(7) & (1u << 13)) == 0);
  }

  /* 8. RF in frames: set for a fault (#UD), clear for a trap (#BP). (QEMU 7.2 TCG pushes RF = 0 for faults.) */
  if (!cmdline_has_word(cl, "no-rf")) {
    trap_set_handler(6, on_fault_skip2);
    fault_flags = 0;
    __asm__ volatile(".globl ud_insn\nud_insn: ud2\n" ::: "memory");
    check("#UD frame has RFLAGS.RF = 1 (fault)", fault_vec == 6 && (fault_flags & RF) != 0);
    trap_set_handler(6, 0);
  }
  trap_set_handler(3, on_bp);
  fault_flags = RF;
  __asm__ volatile("int3" ::: "memory");
  check("#BP frame has RFLAGS.RF = 0 (trap)", fault_vec == 3 && (fault_flags & RF) == 0);
  trap_set_handler(3, 0);

  /* 9. CR4 bits of features CPUID does not report are refused with #GP. (QEMU 7.2 TCG accepts CR4.SMEP under its
   * qemu64 model, which does not report SMEP, and the guest then faults on its own supervisor pages.) */
  if (!cmdline_has_word(cl, "no-cr4")) {
  cpuid(0, 0, r);
  uint32_t max = r[0];
  uint32_t b7 = 0, c7 = 0;
  if (max >= 7) {
    cpuid(7, 0, r);
    b7 = r[1];
    c7 = r[2];
  }
  trap_set_handler(13, on_gp);
  gp_skip = 3; /* mov %rax, %cr4 = 0f 22 e0 */
  if (!(b7 & (1u << 7))) {
    gp_ip = 0;
    uint64_t cr4 = READ_CR(4) | (1u << 20);
    __asm__ volatile("mov %0, %%cr4" ::"a"(cr4) : "memory");
    check("CR4.SMEP without CPUID SMEP: #GP", gp_ip != 0 && (READ_CR(4) & (1u << 20)) == 0);
  } else {
    check("CR4.SMEP: CPUID reports SMEP, not tested", 1);
  }
  if (!(c7 & (1u << 16))) {
    gp_ip = 0;
    uint64_t cr4 = READ_CR(4) | (1u << 12);
    __asm__ volatile("mov %0, %%cr4" ::"a"(cr4) : "memory");
    check("CR4.LA57 without CPUID LA57: #GP", gp_ip != 0 && (READ_CR(4) & (1u << 12)) == 0);
  } else {
    check("CR4.LA57: CPUID reports LA57, not tested", 1);
  }
  trap_set_handler(13, 0);
  }
  (void)v;

  if (failures) {
    kprintf("debug: %d FAILED\n", failures);
    debug_exit(EXIT_FAILURE_CODE);
  }
  kprintf("debug: all as expected\n");
  debug_exit(EXIT_SUCCESS_CODE);
}
